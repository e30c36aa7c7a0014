"""``--out`` never destroys what hkc did not write: the output-folder checks, in the library and the refresh.

Each refusal is one :class:`OutputError` (one line, exit code 2 at the command line), leaves the
user's files as they were, and — for a refresh — stores nothing in the history and logs no disclosure.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from hkc.errors import OutputError
from hkc.outputs import MARKER, atomic_folder, check_output_folder, prepare_output_folder
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def extract(tmp_path) -> Path:
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=20, outcome="convicted")
    b.person("P2", age=15).event("P2", "knife_possession", days_ago=40, outcome="charged")
    return b.write(tmp_path / "extract")


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refresh(extract: Path, out: Path, db: Path):
    return run_refresh(extract, as_of=AS_OF, out=out, definitions=offline_definitions(), db_url=f"sqlite:///{db}",
                       extract_date=dt.date(2026, 10, 1), partner_pack="no")


def stored_runs(db: Path) -> int:
    if not db.exists():
        return 0
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        runs = conn.execute(sa.text("select count(*) from runs")).scalar_one() if "runs" in names else 0
        logged = conn.execute(sa.text("select count(*) from disclosures")).scalar_one() if "disclosures" in names else 0
    engine.dispose()
    return runs + logged


def test_refresh_refuses_a_folder_holding_a_users_file_and_keeps_it(tmp_path, extract):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "notes.txt").write_text("my meeting notes")
    with pytest.raises(OutputError, match=r"already holds files hkc did not write") as err:
        refresh(extract, out, tmp_path / "h.db")
    assert "\n" not in err.value.message
    assert (out / "notes.txt").read_text() == "my meeting notes" and tree(out) == {"notes.txt": b"my meeting notes"}
    assert stored_runs(tmp_path / "h.db") == 0


def test_refresh_out_dot_inside_the_extract_folder_is_refused_and_the_extract_survives(tmp_path, extract,
                                                                                      monkeypatch):
    before = tree(extract)
    monkeypatch.chdir(extract)
    with pytest.raises(OutputError, match=r"--out \.: is the current folder"):
        refresh(Path("."), Path("."), tmp_path / "h.db")
    assert tree(extract) == before
    assert stored_runs(tmp_path / "h.db") == 0


@pytest.mark.parametrize(("where", "why"), [
    (lambda tmp, ex: ex, "is the input folder"),
    (lambda tmp, ex: ex / "out", "is inside the input folder"),
    (lambda tmp, ex: tmp, "contains the input folder"),
])
def test_refresh_refuses_the_extract_folder_inside_it_or_around_it(tmp_path, extract, where, why):
    before = tree(extract)
    with pytest.raises(OutputError, match=why):
        refresh(extract, where(tmp_path, extract), tmp_path / "db" / "h.db")
    assert tree(extract) == before
    assert stored_runs(tmp_path / "db" / "h.db") == 0


def test_refresh_refuses_the_history_databases_folder(tmp_path, extract):
    db = tmp_path / "store" / "h.db"
    db.parent.mkdir()
    refresh(extract, tmp_path / "q3", db)  # a first run creates the database
    with pytest.raises(OutputError, match=r"holds the history database"):
        refresh(extract, db.parent, db)
    assert db.is_file() and stored_runs(db) == 2  # one run and its police pack, nothing more


def test_refresh_replaces_its_own_earlier_output_of_the_same_date(tmp_path, extract):
    out = tmp_path / "q3"
    first = refresh(extract, out, tmp_path / "h.db")
    assert (out / MARKER).is_file() and (out / "cohort.csv").is_file()
    second = refresh(extract, out, tmp_path / "h.db")
    assert second.replaced and (out / "cohort.csv").read_bytes() == (first.out / "cohort.csv").read_bytes()


def test_an_older_hkc_refresh_without_the_marker_may_be_replaced(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"hkc_version": "0.1.0", "as_of": "2026-06-30"}))
    (out / "cohort.csv").write_text("rank,person_id\n")
    assert check_output_folder(out) == out.resolve()


def test_a_json_file_that_only_looks_like_a_run_is_not_enough(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"as_of": "2026-06-30"}))
    with pytest.raises(OutputError, match="hkc did not write"):
        check_output_folder(out)


def test_new_and_empty_folders_are_accepted_and_a_file_is_refused(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").resolve()
    (tmp_path / "empty").mkdir()
    assert check_output_folder(tmp_path / "empty") == (tmp_path / "empty").resolve()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_output_folder(tmp_path / "afile")


def test_prepare_marks_the_folder_so_the_next_run_may_write_into_it(tmp_path):
    out = prepare_output_folder(tmp_path / "audit")
    (out / "audit.json").write_text("{}")
    assert (out / MARKER).is_file()
    assert check_output_folder(out) == out


def test_atomic_folder_marks_what_it_publishes(tmp_path):
    with atomic_folder(tmp_path / "published") as folder:
        (folder / "a.csv").write_text("x\n")
    assert sorted(tree(tmp_path / "published")) == [MARKER, "a.csv"]


def test_a_refused_folder_message_names_the_folder_and_what_to_do(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(OutputError) as err:
        check_output_folder(out)
    assert err.value.message == (f"--out {out}: already holds files hkc did not write; choose an empty or new "
                                 "folder (hkc never replaces a folder it did not make)")
