"""The meeting loop end to end through the command line: refresh with a key, pack, decisions, SAR."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from hkc.history.store import open_store
from hkc.partnership.sealing import NOT_READABLE, SEAL_PROBLEMS
from tests.test_decisions import decide
from tests.test_partner import KEY as PACK_KEY
from tests.test_partner import Q2, Q3, force
from tests.test_sealing import damaged

KEY = PACK_KEY.decode()  # the key tests.test_decisions.decide finds pseudonyms with


@pytest.fixture
def offline_config(tmp_path) -> Path:
    from hkc.definitions.deployment import init_deployment

    init_deployment(tmp_path / "force")
    settings = tmp_path / "force" / "config" / "hkc.toml"
    settings.write_text(settings.read_text().replace("enabled = true", "enabled = false"))
    return settings


def cli(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env or {}, catch_exceptions=False)
    return result


def refresh(tmp_path, as_of, config, *extra, env=None):
    data = force(as_of).write(tmp_path / f"data-{as_of}")
    return cli("refresh", data, "--as-of", as_of, "--out", tmp_path / str(as_of), "--db",
               f"sqlite:///{tmp_path / 'h.db'}", "--extract-date", "2026-10-01", "--config", config, *extra, env=env)


def all_bytes(folder: Path) -> bytes:
    out = b""
    for path in folder.rglob("*"):
        if path.is_file():
            out += path.read_bytes()
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as z:
                    out += b"".join(z.read(name) for name in z.namelist())
    return out


def test_refresh_without_the_key_writes_no_partner_pack_and_says_why(tmp_path, offline_config):
    result = refresh(tmp_path, Q3, offline_config, env={"HKC_PSEUDONYM_KEY": ""})
    assert result.exit_code == 0, result.output
    assert "partner outputs not written: set HKC_PSEUDONYM_KEY" in result.stderr
    assert not (tmp_path / str(Q3) / "partner").exists()
    required = refresh(tmp_path, Q3, offline_config, "--partner-pack", env={"HKC_PSEUDONYM_KEY": ""})
    assert required.exit_code == 2
    assert required.stderr.splitlines()[-1].startswith("error: partner outputs not written: set HKC_PSEUDONYM_KEY")


def test_partner_pack_from_a_refresh_holds_no_source_id_and_decisions_come_back(tmp_path, offline_config):
    env = {"HKC_PSEUDONYM_KEY": KEY}
    assert refresh(tmp_path, Q2, offline_config, "--by", "analyst", env=env).exit_code == 0
    pack = tmp_path / str(Q2) / "partner"
    assert {"cohort.html", "cohort.xlsx", "cohort.csv"} <= {p.name for p in pack.iterdir()}
    assert b"NOMINAL-" not in all_bytes(pack)
    filled = decide(pack / "cohort.xlsx", tmp_path / "filled.xlsx",
                    {"NOMINAL-10001": ("decline", "already supported by youth justice")})
    db = f"sqlite:///{tmp_path / 'h.db'}"
    imported = cli("decisions", "import", filled, "--meeting-date", "2026-07-14", "--by", "Chair", "--db", db,
                   "--config", offline_config, env=env)
    assert imported.exit_code == 0, imported.output
    assert "1 decisions" in imported.output
    assert refresh(tmp_path, Q3, offline_config, env=env).exit_code == 0
    police = (tmp_path / str(Q3) / "cohort.csv").read_text()
    row = next(line for line in police.splitlines() if line.startswith("1,") or "NOMINAL-10001" in line)
    assert "NOMINAL-10001" in row and "decline" in row  # declined, still listed, marked
    sar = cli("sar", "NOMINAL-10001", "--purpose", "subject access request", "--db", db, "--config", offline_config)
    assert sar.exit_code == 0
    assert "2026-06-30" in sar.output and "2026-09-30" in sar.output and "partner" in sar.output


def test_a_malformed_decision_sheet_changes_nothing(tmp_path, offline_config):
    env = {"HKC_PSEUDONYM_KEY": KEY}
    refresh(tmp_path, Q3, offline_config, env=env)
    bad = decide(tmp_path / str(Q3) / "partner" / "cohort.xlsx", tmp_path / "bad.xlsx",
                 {"NOMINAL-10001": ("banish", "not a decision")})
    db = f"sqlite:///{tmp_path / 'h.db'}"
    result = cli("decisions", "import", bad, "--meeting-date", "2026-10-14", "--by", "Chair", "--db", db,
                 "--config", offline_config, env=env)
    assert result.exit_code == 2
    assert "banish" in result.stderr
    assert open_store(db).decisions().empty


def _import(pack: Path, tmp_path: Path, config: Path):
    return cli("decisions", "import", pack, "--meeting-date", "2026-07-14", "--by", "Chair", "--db",
               f"sqlite:///{tmp_path / 'h.db'}", "--config", config, env={"HKC_PSEUDONYM_KEY": KEY})


def _errors(result) -> list[str]:
    """Standard error without the definitions line every command prints first."""
    return [line for line in result.stderr.splitlines() if not line.startswith("definitions:")]


def test_a_damaged_or_edited_workbook_is_refused_by_the_cli_in_one_line_and_nothing_is_stored(tmp_path, offline_config):
    assert refresh(tmp_path, Q2, offline_config, env={"HKC_PSEUDONYM_KEY": KEY}).exit_code == 0
    good = tmp_path / str(Q2) / "partner" / "cohort.xlsx"
    for name, data in damaged(good.read_bytes()).items():
        bad = tmp_path / f"{name.replace(' ', '-')}.xlsx"
        bad.write_bytes(data)
        result = _import(bad, tmp_path, offline_config)  # catch_exceptions=False: a traceback fails the test
        assert result.exit_code == 2, (name, result.output)
        (line,) = _errors(result)
        head, tail = NOT_READABLE.format(path=bad, reason="\0").split("\0")
        assert line.startswith("error: " + head) and line.endswith(tail), (name, line)
        assert "Traceback" not in result.output
    edited = decide(good, tmp_path / "edited.xlsx", {"NOMINAL-10001": ("decline", "already supported")},
                    edits={("Cohort", "B2"): "green"})
    result = _import(edited, tmp_path, offline_config)
    assert result.exit_code == 2
    assert _errors(result)[-1] == (f"error: edited.xlsx sheet 'Cohort' cell B2 (RAG): {SEAL_PROBLEMS['changed']}; "
                                   "nothing was imported")
    assert open_store(f"sqlite:///{tmp_path / 'h.db'}").decisions().empty
