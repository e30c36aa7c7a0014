"""``--out`` never destroys what hkc did not write, through every command that writes a folder or a file.

A folder is refused (one line, exit code 2, nothing touched) when it is the current folder, the
extract (or the audited file's folder), inside it or containing it, the history database's folder,
or an existing folder holding files hkc did not write; an earlier output of the same command is
accepted.  A single file (``sar --out``, ``transparency --out``) is never written over the history
database, nor over an existing file without ``--force``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from hkc.outputs import FILE_EXISTS, FILE_IS_DATABASE
from hkc.outputs.folder import MARKER, OUT_REFUSED
from tests.builders import ExtractBuilder, quick_deployment

AS_OF = dt.date(2026, 9, 30)
NOTES = "my notes: not hkc's\n"


@dataclasses.dataclass
class Site:
    root: Path
    extract: Path
    config: Path
    db: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"


@pytest.fixture
def site(tmp_path) -> Site:
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=10, outcome="convicted")
    b.person("P2", age=15).event("P2", "knife_intel", days_ago=3, grade="B2").event("P2", "knife_intel", days_ago=40,
                                                                                    grade="B3")
    extract = b.write(tmp_path / "site" / "extract")
    (extract / "scored.csv").write_text("score,group\n1,a\n2,b\n3,a\n0,b\n")
    from hkc.definitions import init_deployment

    init_deployment(tmp_path / "force")
    config = tmp_path / "force" / "config" / "hkc.toml"
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text(NOTES)
    return Site(root=tmp_path, extract=extract, config=config, db=tmp_path / "dbdir" / "h.db")


# The command line of each command that writes a folder, writing to `out`.
FOLDER_COMMANDS: dict[str, Callable[[Site, object], list]] = {
    "validate": lambda s, out: ["validate", s.extract, "--out", out, "--config", s.config],
    "audit": lambda s, out: ["audit", "--input", s.extract / "scored.csv", "--score", "score", "--threshold", 1,
                             "--by", "group", "--out", out, "--config", s.config],
    "backtest": lambda s, out: ["backtest", s.extract, "--as-of", AS_OF, "--out", out, "--config", s.config],
    "train": lambda s, out: ["train", s.extract, "--as-of", AS_OF, "--out", out, "--config", s.config],
    "refresh": lambda s, out: ["refresh", s.extract, "--as-of", AS_OF, "--out", out, "--db", s.url,
                               "--extract-date", AS_OF, "--config", s.config],
    "synth": lambda s, out: ["synth", "--out", out, "--people", 10],
    "demo": lambda s, out: ["demo", "--out", out, "--people", 500],
}
READS_THE_EXTRACT = ["validate", "backtest", "train", "refresh"]  # audit reads one file: see its own test


def run(*args, cwd: Path | None = None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(main, [str(a) for a in args], env={"HKC_PSEUDONYM_KEY": ""}, catch_exceptions=False)


def refused(result, out, why: str) -> None:
    """Exit code 2 and exactly the one line saying why ``out`` is refused."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {OUT_REFUSED.format(out=out, why=why)}"], result.stderr
    assert result.stdout == ""


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/" for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_a_folder_holding_a_users_file_is_refused_and_left_alone(command, site, monkeypatch):
    out = site.root / "mine"
    refused(run(*FOLDER_COMMANDS[command](site, out)), out, "already holds files hkc did not write")
    assert tree(out) == {"notes.txt": NOTES.encode()}


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_the_current_folder_is_refused(command, site, monkeypatch):
    refused(run(*FOLDER_COMMANDS[command](site, "."), cwd=site.root / "mine", monkeypatch=monkeypatch), Path("."),
            "is the current folder")
    assert tree(site.root / "mine") == {"notes.txt": NOTES.encode()}


def _inside(s: Site) -> tuple[Path, str]:
    return s.extract / "out", f"is inside the input folder {s.extract}"


def _itself(s: Site) -> tuple[Path, str]:
    return s.extract, "is the input folder"


def _containing(s: Site) -> tuple[Path, str]:
    return s.extract.parent, f"contains the input folder {s.extract}"


@pytest.mark.parametrize("where", [_inside, _itself, _containing], ids=["inside", "itself", "containing"])
@pytest.mark.parametrize("command", READS_THE_EXTRACT)
def test_the_extract_is_never_an_output_folder(command, where, site, monkeypatch):
    before = tree(site.extract)
    out, why = where(site)
    refused(run(*FOLDER_COMMANDS[command](site, out)), out, why)
    assert tree(site.extract) == before  # no marker, no subfolder, nothing replaced


def test_audit_protects_the_audited_file_not_the_folder_around_it(site):
    """`hkc audit` reads one file: its output may sit beside it, never on it or around it."""
    scored = next(p for p in site.extract.iterdir() if p.name == "scored.csv")
    beside = site.extract / "audit-out"
    assert run(*FOLDER_COMMANDS["audit"](site, beside)).exit_code == 0 and (beside / "audit.json").is_file()
    for out in (site.extract, site.extract.parent):
        refused(run(*FOLDER_COMMANDS["audit"](site, out)), out, f"contains the input {scored}")


def test_refresh_refuses_the_history_databases_folder(site):
    site.db.parent.mkdir()
    (site.db.parent / "notes.txt").write_text(NOTES)
    refused(run(*FOLDER_COMMANDS["refresh"](site, site.db.parent)), site.db.parent,
            f"holds the history database {site.db}")
    assert tree(site.db.parent) == {"notes.txt": NOTES.encode()}


@pytest.mark.parametrize("command", ["validate", "audit", "refresh", "synth"])
def test_rerunning_into_its_own_earlier_output_works(command, site):
    out = site.root / "again"
    first = run(*FOLDER_COMMANDS[command](site, out))
    assert first.exit_code == 0, first.output
    assert (out / MARKER).is_file()
    earlier = set(tree(out))
    second = run(*FOLDER_COMMANDS[command](site, out))
    assert second.exit_code == 0, second.output
    assert set(tree(out)) == earlier


def test_train_reruns_into_its_own_model_card_folder(tmp_path):
    config, data = quick_deployment(tmp_path, people=1500, seed=1, until=AS_OF)
    spec = tmp_path / "force" / "models" / "logistic.toml"
    spec.write_text(spec.read_text().replace("resamples = 1000", "resamples = 200"))
    args = ["train", data, "--as-of", AS_OF, "--extract-date", AS_OF, "--out", tmp_path / "card", "--config", config]
    assert run(*args).exit_code == 0
    (tmp_path / "card" / "model_card.md").write_text("stale")
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "card" / "model_card.md").read_text().startswith("# ")


# -- commands that write one file ------------------------------------------------------------------

@pytest.fixture
def stored(site):
    result = run(*FOLDER_COMMANDS["refresh"](site, site.root / "q3"))
    assert result.exit_code == 0, result.output
    return site


FILE_COMMANDS = {
    "sar": lambda s, out: ["sar", "P1", "--purpose", "audit", "--db", s.url, "--out", out, "--config", s.config],
    "transparency": lambda s, out: ["transparency", "--db", s.url, "--out", out, "--config", s.config],
}


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_an_existing_file_is_not_replaced_without_force(command, stored):
    mine = stored.root / "mine" / "notes.txt"
    result = run(*FILE_COMMANDS[command](stored, mine))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"error: {FILE_EXISTS.format(out=mine)}"
    assert mine.read_text() == NOTES
    forced = run(*FILE_COMMANDS[command](stored, mine), "--force")
    assert forced.exit_code == 0, forced.output
    assert mine.read_text().startswith("# ")


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_the_history_database_is_never_written_over_even_with_force(command, stored):
    before = stored.db.read_bytes()
    result = run(*FILE_COMMANDS[command](stored, stored.db), "--force")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"error: {FILE_IS_DATABASE.format(out=stored.db)}"
    assert stored.db.read_bytes() == before


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_new_file_is_written(command, stored):
    out = stored.root / "answers" / f"{command}.md"
    result = run(*FILE_COMMANDS[command](stored, out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# ")
