"""The meeting loop end to end through the command line: refresh with a key, pack, decisions, SAR."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from tests.test_decisions import decide
from tests.test_partner import KEY as PACK_KEY
from tests.test_partner import Q2, Q3, force

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
    sar = cli("sar", "NOMINAL-10001", "--db", db, "--config", offline_config)
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
    from hkc.history.store import open_store

    assert open_store(db).decisions().empty
