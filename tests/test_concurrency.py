"""Two refreshes started at once: one proceeds, the other says why it stopped; nothing interleaves.

Each refresh is a real process running the command line, released at the same instant (a
shared start time), so the lock and the database are exercised as an analyst would by running the
same command twice by mistake.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.builders import quick_deployment

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 9, 30)

STARTER = r'''
import sys, time
start_at = float(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))
import cli
cli.main(sys.argv[2:])
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("concurrency")
    config, data = quick_deployment(root, people=600, seed=5, until=AS_OF)
    (root / "starter.py").write_text(STARTER)
    return {"root": root, "config": config, "data": data, "starter": root / "starter.py"}


def start_together(world: dict, runs: list[tuple[Path, str]]) -> list[subprocess.CompletedProcess]:
    """Start one `hkc refresh` per (out folder, database URL) at the same instant; wait for all."""
    # Imports take a second or two: release every process well after they have all started.
    start_at = time.time() + 4.0
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(
        [sys.executable, str(world["starter"]), str(start_at), "refresh", str(world["data"]),
         "--as-of", AS_OF.isoformat(), "--out", str(out), "--db", db, "--extract-date", "2026-10-01",
         "--config", str(world["config"]), "--no-partner-pack", "--by", "concurrency test"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for out, db in runs]
    done = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


def stored(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs with their stored score rows and listed people, the listed people in rank order)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").fetchall() == [("ok",)]
            runs = pd.read_sql(sa.text("SELECT run_id, as_of, cohort_size FROM runs"), conn)
            per_run = pd.read_sql(sa.text("SELECT run_id, COUNT(*) AS n, "
                                          "SUM(CASE WHEN in_cohort THEN 1 ELSE 0 END) AS listed "
                                          "FROM scores GROUP BY run_id"), conn)
            listed = pd.read_sql(sa.text("SELECT person_id, rank FROM scores WHERE in_cohort ORDER BY rank"), conn)
    finally:
        engine.dispose()
    return runs.merge(per_run, on="run_id", how="outer"), listed


def test_same_folder_and_database_one_proceeds_the_other_stops_with_a_clear_message(world, tmp_path):
    out, db = tmp_path / "out", f"sqlite:///{tmp_path / 'history.db'}"
    first, second = start_together(world, [(out, db), (out, db)])
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 2], (first.stderr[-2000:], second.stderr[-2000:])
    loser = first if first.returncode == 2 else second
    last_line = loser.stderr.strip().splitlines()[-1]
    assert "another refresh is writing" in last_line and "wait for it to finish" in last_line
    assert "Traceback" not in loser.stderr
    runs, _ = stored(db)
    assert len(runs) == 1 and runs.loc[0, "as_of"] == AS_OF.isoformat()
    assert runs.loc[0, "listed"] == runs.loc[0, "cohort_size"]  # the stored run is whole
    cohort = pd.read_csv(out / "cohort.csv")
    assert len(cohort) == runs.loc[0, "cohort_size"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == [".out.lock"]


def test_two_folders_one_database_both_finish_and_the_database_holds_one_whole_run(world, tmp_path, store_url):
    """Different --out folders do not share a lock; the database's write lock queues the two saves:
    the as-of date ends up stored once, whole, and identical to what either run published.  On
    SQLite and on PostgreSQL."""
    done = start_together(world, [(tmp_path / "a", store_url), (tmp_path / "b", store_url)])
    assert [p.returncode for p in done] == [0, 0], [line for p in done for line in p.stderr.splitlines()
                                                    if "error" in line]
    runs, listed = stored(store_url)
    assert len(runs) == 1 and runs.loc[0, "listed"] == runs.loc[0, "cohort_size"]
    for folder in ("a", "b"):
        published = pd.read_csv(tmp_path / folder / "cohort.csv", dtype={"person_id": str})
        assert published[["person_id", "rank"]].reset_index(drop=True).equals(listed), folder
