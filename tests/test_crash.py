"""Crash safety: a refresh killed (SIGKILL) at any point leaves the previous outputs and history intact.

Every killed run is a subprocess of :data:`DRIVER`, which arms ``os.kill(os.getpid(), SIGKILL)`` at
one seam of an ordinary ``hkc refresh`` (no hook in production code) and then runs the command line.
Each test checks the process really died of SIGKILL at its point, so it cannot pass vacuously.

The story of every test: quarter A (2026-06-30) was refreshed uninterrupted; the refresh of quarter
B (2026-09-30) is killed; then

1. the output folder and the history database are what the kill point allows (A's bytes and A's
   rows, or B stored but A still published, ...), and the database passes ``integrity_check``;
2. the next process to take the output folder's lock gets it at once, and clears what the killed
   run left beside the folder (temporary folders holding children's data, a half-done swap);
3. rerunning B succeeds and gives the outputs and history of a B run that was never interrupted
   (made once, from a copy of the same A state).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from cli import main
from hkc.outputs.folder import SwapError, atomic_folder, output_lock
from tests.builders import quick_deployment

ROOT = Path(__file__).resolve().parents[1]
QA, QB = dt.date(2026, 6, 30), dt.date(2026, 9, 30)
KEY = "crash-test-pseudonym-key-" + "k" * 32

DRIVER = r'''
"""Run the hkc command line with SIGKILL armed at one point: driver.py POINT OUT_FOLDER ARGS..."""
import os, re, signal, sqlite3, sys
from pathlib import Path

point, out, *argv = sys.argv[1:]
OUT = Path(out).resolve()


def die(where):
    print(f"SIGKILL at {point}: {where}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(owner, name, nth=1):
    """Kill just after the nth call of owner.name returns."""
    real = getattr(owner, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        value = real(*args, **kwargs)
        calls += 1
        if calls == nth:
            die(f"after call {calls} of {name}")
        return value

    setattr(owner, name, wrapper)


def ours(path):
    """The output folder itself or one of its temporary siblings."""
    path = Path(path).resolve()
    return path == OUT or (path.parent == OUT.parent and path.name.startswith(f".{OUT.name}.tmp-"))


def around_renames(before=lambda src, dst: False, after=lambda src, dst: False):
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def wrapper(src, dst, *args, _real=real, **kwargs):
            if before(src, dst):
                die(f"before os.{_real.__name__} {Path(src).name} -> {Path(dst).name}")
            value = _real(src, dst, *args, **kwargs)
            if after(src, dst):
                die(f"after os.{_real.__name__} {Path(src).name} -> {Path(dst).name}")
            return value

        setattr(os, name, wrapper)


PERSON_INSERT = re.compile(r"\s*INSERT\s+INTO\s+\W?(scores|contributions|evidence|removed)\b", re.IGNORECASE)


def kill_in_database_write():
    """Kill at the DB-API driver (below any SQLAlchemy or bulk-insert path): just before the second
    INSERT into a person table, i.e. with the run row and one person table written, uncommitted."""
    inserts = 0

    def check(connection, sql):
        nonlocal inserts
        if isinstance(sql, str) and PERSON_INSERT.match(sql):
            inserts += 1
            if inserts == 2:
                die(f"before {sql.split('(')[0].strip()!r}, in_transaction={connection.in_transaction}")

    class Cursor(sqlite3.Cursor):
        def execute(self, sql, *args):
            check(self.connection, sql)
            return super().execute(sql, *args)

        def executemany(self, sql, *args):
            check(self.connection, sql)
            return super().executemany(sql, *args)

    class Connection(sqlite3.Connection):
        def cursor(self, factory=Cursor):
            return super().cursor(factory)

        def execute(self, sql, *args):
            return self.cursor().execute(sql, *args)

        def executemany(self, sql, *args):
            return self.cursor().executemany(sql, *args)

    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        kwargs.setdefault("factory", Connection)
        return real_connect(*args, **kwargs)

    sqlite3.connect = sqlite3.dbapi2.connect = connect


if point == "features":
    import hkc.matrix.scoring
    kill_after(hkc.matrix.scoring, "event_points")
elif point == "outputs":
    import hkc.refresh.publish
    kill_after(hkc.refresh.publish, "write_csv", nth=3)
elif point == "database":
    kill_in_database_write()
elif point == "stored":
    from hkc.history import HistoryStore
    kill_after(HistoryStore, "save_run")
elif point == "before-swap":
    around_renames(before=lambda src, dst: ours(src))
elif point == "mid-swap":
    around_renames(after=lambda src, dst: Path(src).resolve() == OUT)
elif point == "after-swap":
    around_renames(after=lambda src, dst: Path(dst).resolve() == OUT)
else:
    raise SystemExit(f"unknown kill point {point!r}")

import cli  # noqa: E402  (on PYTHONPATH)

cli.main(argv)
'''


# -- helpers --------------------------------------------------------------------------------
def refresh_args(site: Path, world: dict, as_of: dt.date) -> list[str]:
    return ["refresh", str(world["data"]), "--as-of", as_of.isoformat(), "--out", str(site / "out"),
            "--db", f"sqlite:///{site / 'history.db'}", "--extract-date", "2026-10-01",
            "--config", str(world["config"]), "--partner-pack", "--by", "crash test"]


def refresh(site: Path, world: dict, as_of: dt.date) -> None:
    """An uninterrupted refresh, in process."""
    result = CliRunner().invoke(main, refresh_args(site, world, as_of), env={"HKC_PSEUDONYM_KEY": KEY},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def killed_refresh(site: Path, world: dict, as_of: dt.date, point: str) -> str:
    """A refresh in a subprocess, killed at ``point``; returns its stderr."""
    env = os.environ | {"HKC_PSEUDONYM_KEY": KEY, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(world["driver"]), point, str(site / "out"),
                           *refresh_args(site, world, as_of)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"not killed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    assert f"SIGKILL at {point}" in proc.stderr
    return proc.stderr


def folder_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?")


def _digest(data: bytes) -> str:
    return hashlib.sha256(CLOCK.sub("<clock>", data.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape")).hexdigest()


def _workbook(path: Path) -> str:
    """A workbook's cell values with times of day masked, and so the partner pack's seal of a cell
    holding one (a zip stamps its parts with the time, so its bytes always differ)."""
    book = openpyxl.load_workbook(path)
    clocked = {(sheet.title, cell.row) for sheet in book for row in sheet.iter_rows() for cell in row
               if isinstance(cell.value, str) and CLOCK.search(cell.value)}
    values = {}
    for sheet in book:
        rows = [[CLOCK.sub("<clock>", v) if isinstance(v, str) else v for v in row]
                for row in sheet.iter_rows(values_only=True)]
        # The one MAC covers every locked cell, a clock among them; each row's digests name its cells.
        values[sheet.title] = [row[:1] + ["<seal over a clock>"] if row[0] == "seal" and clocked
                               else row[:3] + ["<seals of a clock>"] if row[0] == "row" and (row[1], row[2]) in clocked
                               else row for row in rows]
    return _digest(repr(values).encode())


def published(folder: Path) -> dict[str, str]:
    """What two runs of the same quarter must publish alike: each file's bytes with times of day
    masked (when a pack was produced), a workbook by its cells, and the manifest without its
    timings and database path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".xlsx":
            out[name] = _workbook(path)
        elif name == "run.json":
            out[name] = json.dumps(_manifest(json.loads(path.read_text())), sort_keys=True)
        elif path.is_file():
            out[name] = _digest(path.read_bytes())
    return out


def _manifest(manifest: dict) -> dict:
    """A manifest without its clock, its database's path, and the commit of the code (other people
    commit while a test suite runs)."""
    return {k: v for k, v in manifest.items()
            if k not in ("started_at", "finished_at", "stages_seconds", "database", "git_commit")}


def db_dump(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's columns and rows, in a fixed order, after checking the file's integrity."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {"sqlite_master": (["type", "name", "sql"],
                                  conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall())}
        for table in tables:
            columns = [d[0] for d in conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description]
            order = ", ".join(str(i) for i in range(1, len(columns) + 1))
            dump[table] = (columns, conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall())
    finally:
        conn.close()
    return dump


# Columns that differ between two runs of the same quarter: ids, clocks (files: see `history`).
VOLATILE = {"run_id", "disclosure_id", "decision_id", "purge_id", "started_at", "finished_at", "disclosed_at",
            "folder"}


def history(dump: dict) -> dict[str, list[tuple]]:
    """The dump as comparable facts: each row tied to its run's as-of date instead of run_id, ids
    and clocks dropped, a disclosure's files by name (a workbook's bytes carry its creation time).
    Rows stay a multiset: a disclosure logged twice shows twice."""
    columns, rows = dump["runs"]
    as_of = {r[columns.index("run_id")]: r[columns.index("as_of")] for r in rows}
    columns, rows = dump["disclosures"]
    disclosure = {r[columns.index("disclosure_id")]: (as_of.get(r[columns.index("run_id")]),
                                                      r[columns.index("audience")]) for r in rows}
    facts = {}
    for table, (columns, rows) in dump.items():
        out = []
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            if "run_id" in record:
                record["run"] = as_of.get(record["run_id"])
            if table == "disclosure_people":
                record["disclosure"] = disclosure[record["disclosure_id"]]
            if table == "runs":
                record["manifest"] = _manifest(json.loads(record["manifest"]))
            if table == "disclosures":
                record["files"] = sorted(json.loads(record["files"]))
            out.append(repr(sorted((k, v) for k, v in record.items() if k not in VOLATILE)))
        facts[table] = sorted(out)
    return facts


def with_disclosures_of_b(facts: dict, times: int) -> dict:
    """``facts`` with quarter B's disclosures (and their people) counted ``times`` times."""
    def is_b(row: str) -> bool:
        return f"('run', '{QB}')" in row or f"('disclosure', ('{QB}'," in row

    out = dict(facts)
    for table in ("disclosures", "disclosure_people"):
        out[table] = sorted([r for r in facts[table] if not is_b(r)] + [r for r in facts[table] if is_b(r)] * times)
    return out


def pending(facts: dict) -> dict:
    """``facts`` with quarter B's disclosures still pending (logged with the run, not yet published)."""
    out = dict(facts)
    out["disclosures"] = sorted(r.replace("('published', 1)", "('published', 0)") if f"('run', '{QB}')" in r else r
                                for r in facts["disclosures"])
    return out


def leftovers(site: Path) -> list[str]:
    """What a refresh may leave beside the output folder: only its lock file."""
    return sorted(p.name for p in site.iterdir() if p.name.startswith(".out") and p.name != ".out.lock")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A deployment (tracking off, fewer bootstrap resamples), a synthetic extract, the A state
    (``before``) and an uninterrupted B run from a copy of it (``clean``)."""
    root = tmp_path_factory.mktemp("crash")
    config, data = quick_deployment(root, people=600, seed=3, until=QB)
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    world = {"config": config, "data": data, "driver": driver, "before": root / "before", "clean": root / "clean"}
    world["before"].mkdir()
    refresh(world["before"], world, QA)
    shutil.copytree(world["before"], world["clean"])
    refresh(world["clean"], world, QB)
    return world


def copy_of(world: dict, name: str, tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(world[name], site)
    return site


@dataclass(frozen=True)
class Kill:
    """Where a refresh of B is killed, and what it has done by then."""

    seam: str
    stored: bool = False     # B's run is committed to the history database
    logged: bool = False     # B's packs are in the disclosure log
    published: bool = False  # B's folder has been swapped in


KILLS = {
    "features": Kill("just after the events' points are computed (hkc.matrix.features.event_points)"),
    "outputs": Kill("after the third CSV of the output folder is written"),
    "database": Kill("inside the history transaction, before the second person table's INSERT (DB-API level)"),
    "stored": Kill("after the history transaction commits (the run and its packs, pending), before the folder swap",
                   stored=True, logged=True),
    "before-swap": Kill("after every database write, before the folder swap's first rename",
                        stored=True, logged=True),
    "mid-swap": Kill("between the swap's two renames (old -> backup done, new -> target not)",
                     stored=True, logged=True),
    "after-swap": Kill("after the swap, before the backup of A is removed", stored=True, logged=True,
                       published=True),
}


@pytest.mark.parametrize("point", list(KILLS))
def test_refresh_killed_at_any_point_leaves_a_consistent_state_and_a_rerun_matches(world, tmp_path, point):
    """Killed before its history commits, a refresh of B leaves A's outputs and rows exactly.

    Killed after the commit but before the folder swap (``stored``, ``before-swap``, ``mid-swap``)
    the right state is different: history holds B, with its packs logged as *pending*, while the
    published folder still shows A (a kill between the swap's renames leaves A in the backup,
    restored by the next lock holder).  Rerunning B drops the pending packs (their files are not
    in the folder: they never went out) and replaces the stored run cleanly.  Killed after the
    swap, B is published and stored, and only the backup of A is left behind, for the next lock
    holder to remove; the rerun finds the pending packs' files in the folder and confirms them.
    """
    kill = KILLS[point]
    site = copy_of(world, "before", tmp_path)
    out, db = site / "out", site / "history.db"
    a_out, a_db = folder_hashes(out), db_dump(db)
    b_out, b_history = published(world["clean"] / "out"), history(db_dump(world["clean"] / "history.db"))

    stderr = killed_refresh(site, world, QB, point)

    # 1. what the kill left
    if point == "database":  # really killed mid-transaction: a hot journal for SQLite to roll back
        assert "in_transaction=True" in stderr and (site / "history.db-journal").stat().st_size > 0
    if point == "mid-swap":
        assert not out.exists() and folder_hashes(site / ".out.previous") == a_out
    elif kill.published:
        assert published(out) == b_out
    else:
        assert folder_hashes(out) == a_out
    if not kill.stored:
        assert db_dump(db) == a_db
    else:  # B's run is stored with its packs logged as pending: not yet confirmed as published
        assert history(db_dump(db)) == pending(with_disclosures_of_b(b_history, 1))
    if point not in ("features", "after-swap"):  # a temporary folder of children's data is left behind
        assert any(name.startswith(".out.tmp-") for name in leftovers(site))

    # 2. the next process to take the lock gets it at once and clears up after the killed run
    with output_lock(out):
        pass
    assert leftovers(site) == []
    if kill.published:
        assert published(out) == b_out
    else:
        assert folder_hashes(out) == a_out

    # 3. a rerun of B succeeds and matches an uninterrupted B
    refresh(site, world, QB)
    assert leftovers(site) == []
    assert published(out) == b_out
    rerun = history(db_dump(db))
    if kill.published:  # the killed run's packs were out there: the rerun confirms them and logs its own
        assert rerun == with_disclosures_of_b(b_history, 2)
    else:  # a pending pack that never left the machine is dropped: only the rerun's packs are logged
        assert rerun == b_history


# -- the pieces: what the next holder of the lock clears, and what it leaves alone -------------------
def test_taking_the_lock_removes_temporary_folders_of_dead_runs_and_nothing_else(tmp_path):
    for name in (".out.tmp-0123abcd", ".out.tmp-89efcdab"):  # a killed run's half-written outputs
        (tmp_path / name / "partner").mkdir(parents=True)
        (tmp_path / name / "cohort.csv").write_text("person_id\nP1\n")
    keep = [tmp_path / ".out2.tmp-0123abcd", tmp_path / ".out.tmp-0123abcd.tmp-0123abcd", tmp_path / "out.tmp-0123abcd"]
    for path in keep:  # another folder's temporaries, and names that only look alike
        path.mkdir()
    (tmp_path / ".out.tmp-deadbeef").write_text("a file, not one of ours")
    keep.append(tmp_path / ".out.tmp-deadbeef")
    with output_lock(tmp_path / "out"):
        assert not (tmp_path / ".out.tmp-0123abcd").exists() and not (tmp_path / ".out.tmp-89efcdab").exists()
    assert all(path.exists() for path in keep)


def test_taking_the_lock_puts_back_a_folder_a_killed_swap_had_moved_aside(tmp_path):
    (tmp_path / ".out.previous").mkdir()
    (tmp_path / ".out.previous" / "cohort.csv").write_text("A")
    with output_lock(tmp_path / "out"):
        assert (tmp_path / "out" / "cohort.csv").read_text() == "A"
    assert leftovers(tmp_path) == []


def test_taking_the_lock_removes_the_backup_a_finished_swap_had_not_yet_removed(tmp_path):
    (tmp_path / ".out.previous").mkdir()
    (tmp_path / ".out.previous" / "cohort.csv").write_text("A")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cohort.csv").write_text("B")
    with output_lock(tmp_path / "out"):
        assert leftovers(tmp_path) == []
    assert (tmp_path / "out" / "cohort.csv").read_text() == "B"


def test_output_lock_is_reentrant_in_its_thread_and_exclusive_to_other_threads(tmp_path):
    import threading

    from hkc.outputs.folder import RefreshLocked

    refused = []

    def other():
        try:
            with output_lock(tmp_path / "out"):
                pass
        except RefreshLocked as exc:
            refused.append(exc)

    with output_lock(tmp_path / "out"), output_lock(tmp_path / "out"):
        with atomic_folder(tmp_path / "out") as folder:  # the refresh's own writer, inside its lock
            (folder / "cohort.csv").write_text("B")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and (tmp_path / "out" / "cohort.csv").read_text() == "B"
    with output_lock(tmp_path / "out"):  # released when the outermost block ends
        pass


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cohort.csv").write_text("A")
    real = os.replace

    def refuse_the_new_folder(src, dst):
        if Path(dst) == (tmp_path / "out").resolve() and Path(src).name.startswith(".out.tmp-"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", refuse_the_new_folder)
    with pytest.raises(SwapError, match="No space left"), atomic_folder(tmp_path / "out") as folder:
        (folder / "cohort.csv").write_text("B")
    assert (tmp_path / "out" / "cohort.csv").read_text() == "A"
    assert leftovers(tmp_path) == []
