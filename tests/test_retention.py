"""Retention: old runs and person-level history are erased in one transaction, logged without ids."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from hkc.errors import HistoryError
from hkc.history.retention import purge
from hkc.history.store import open_store
from hkc.partnership.decisions import import_decisions
from tests.test_decisions import decide
from tests.test_partner import KEY, Q2, Q3, force, refresh, write_pack

TODAY = dt.date(2026, 10, 15)  # with 90 days' retention the cut-off is 2026-07-17: Q2 goes, Q3 stays
ONLY_IN_Q2 = "NOMINAL-20001"  # listed in Q2; the Q3 run (kept) records that they left the list
SCORED_ONLY_IN_Q2 = "NOMINAL-20002"  # a victim scored in Q2 only: nothing about them survives the purge


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retention")
    q2_force = force(Q2).person(ONLY_IN_Q2, age=16).event(ONLY_IN_Q2, "knife_violence", days_ago=9, outcome="convicted")
    q2_force.person(SCORED_ONLY_IN_Q2, age=12).event(SCORED_ONLY_IN_Q2, "knife_victim", days_ago=30)
    q2 = refresh(tmp, Q2, builder=q2_force)
    store = open_store(f"sqlite:///{tmp / 'history.db'}")
    pack = write_pack(q2)
    store.log_disclosure(q2.run_id, "partner", pack["files"], pack["person_ids"], by="analyst",
                         when="2026-07-02T10:00:00+00:00")
    import_decisions(store, decide(q2.out / "partner" / "cohort.xlsx", tmp / "filled.xlsx",
                                   {ONLY_IN_Q2: ("monitor", "mentoring for " + ONLY_IN_Q2)}),  # no open case
                     key=KEY, meeting_date="2026-07-10", by="Chair", today=TODAY)
    refresh(tmp, Q3)  # the refresh logs its own police-pack disclosure
    store.engine.dispose()
    return tmp


@pytest.fixture
def store(tmp_path, template):
    shutil.copy(template / "history.db", tmp_path / "history.db")
    return open_store(f"sqlite:///{tmp_path / 'history.db'}")


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_purge_removes_old_runs_and_their_person_level_rows(store, tmp_path):
    q3_cohort = store.cohort(store.find_run(Q3).run_id)
    result = purge(store, older_than_days=90, today=TODAY, by="records officer")
    assert (result["cutoff"], result["runs"], result["first_as_of"], result["last_as_of"]) == \
        ("2026-07-17", 1, "2026-06-30", "2026-06-30")
    assert result["rows"]["scores"] > 0 and result["rows"]["evidence"] > 0 and result["rows"]["decisions"] == 1
    assert [r.as_of for r in store.list_runs()] == [Q3]
    assert store.cohort(store.find_run(Q3).run_id).equals(q3_cohort)
    assert store.decisions().empty
    assert all(frame.empty for frame in store.person_history(SCORED_ONLY_IN_Q2).values())
    held = store.person_history(ONLY_IN_Q2)
    assert list(held["removed"]["as_of"]) == ["2026-09-30"]  # the kept run's own record of the exit
    # the Q3 police pack names them among the removed, so that disclosure is theirs and stays
    assert list(held["disclosures"]["as_of"]) == ["2026-09-30"]
    assert list(held["disclosures"]["audience"]) == ["police"]
    assert all(frame.empty for name, frame in held.items() if name not in ("removed", "disclosures"))
    with sqlite3.connect(tmp_path / "history.db") as conn:
        for table in ("scores", "contributions", "evidence", "removed"):
            runs = {r for (r,) in conn.execute(f"select distinct run_id from {table}")}
            assert runs == {store.find_run(Q3).run_id}, table


def test_the_purge_is_logged_with_counts_and_dates_but_no_ids_or_content(store, tmp_path):
    result = purge(store, older_than_days=90, today=TODAY, by="records officer")
    (log,) = store.purges().to_dict("records")
    assert (log["purged_by"], log["cutoff"], log["runs"], log["older_than_days"]) == \
        ("records officer", "2026-07-17", 1, 90)
    assert log["rows"] == result["rows"] and log["purge_id"] == result["purge_id"]
    assert "NOMINAL" not in repr(log)
    disclosures = store.disclosures()
    kept = disclosures[disclosures["as_of"] == "2026-06-30"].iloc[0]
    assert kept["people_purged"] and pd.isna(kept["run_id"])
    assert kept["people"] > 0 and kept["files"]  # what was sent and when stays; to whom it related does not
    q3_run = store.find_run(Q3).run_id
    # the Q3 police pack names its cohort and the people removed since Q2
    assert store.disclosed_people(run_id=q3_run) == (set(store.cohort(q3_run)["person_id"])
                                                     | set(store.removed(q3_run)["person_id"]))
    raw = (tmp_path / "history.db").read_bytes()
    assert SCORED_ONLY_IN_Q2.encode() not in raw and b"mentoring for" not in raw


def test_a_dry_run_counts_without_changing_anything(store, tmp_path):
    before = dump(tmp_path / "history.db")
    counted = purge(store, older_than_days=90, today=TODAY, by="records officer", dry_run=True)
    assert counted["dry_run"] and counted["purge_id"] is None and counted["runs"] == 1
    assert dump(tmp_path / "history.db") == before
    done = purge(store, older_than_days=90, today=TODAY, by="records officer")
    assert done["rows"] == counted["rows"]


def test_nothing_older_than_the_period_purges_nothing_but_is_still_logged(store):
    result = purge(store, older_than_days=730, today=TODAY, by="records officer")
    assert result["runs"] == 0 and sum(result["rows"].values()) == 0
    assert [r.as_of for r in store.list_runs()] == [Q2, Q3]
    assert len(store.purges()) == 1


def test_a_purge_that_fails_half_way_deletes_nothing(store, tmp_path):
    before = dump(tmp_path / "history.db")

    def fail_on_log(conn, cursor, statement, *_args):
        if statement.startswith("INSERT INTO purges"):
            raise sa.exc.OperationalError(statement, {}, Exception("disk full"))

    sa.event.listen(store.engine, "before_cursor_execute", fail_on_log)
    try:
        with pytest.raises(HistoryError, match="purge failed .* nothing was deleted"):
            purge(store, older_than_days=90, today=TODAY, by="records officer")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail_on_log)
    assert dump(tmp_path / "history.db") == before


@pytest.mark.parametrize("days, by, message", [(0, "x", "must be at least 1"), (90, " ", "needs the name")])
def test_purge_arguments_are_checked(store, days, by, message):
    with pytest.raises(HistoryError, match=message):
        purge(store, older_than_days=days, today=TODAY, by=by)


def test_purge_check_exits_1_when_anything_is_overdue_and_0_when_not_and_changes_nothing(store, tmp_path):
    """``hkc purge --check`` for a scheduled job: the real today, a retention period just short of the Q2 run's
    age (overdue) and just past it (not), one line each, nothing erased or logged."""
    from click.testing import CliRunner

    from cli import main

    db = f"sqlite:///{tmp_path / 'history.db'}"
    before = dump(tmp_path / "history.db")
    age = (dt.date.today() - Q2).days
    overdue = CliRunner().invoke(main, ["purge", "--check", "--older-than-days", str(age - 1), "--db", db])
    assert overdue.exit_code == 1, overdue.output
    assert overdue.stdout.startswith("purge overdue: 1 run(s) (2026-06-30 to 2026-06-30) and ")
    assert "run hkc purge --by NAME" in overdue.stdout and ONLY_IN_Q2 not in overdue.stdout
    fine = CliRunner().invoke(main, ["purge", "--check", "--older-than-days", str(age + 1), "--db", db, "--json"])
    assert fine.exit_code == 0, fine.output
    assert '"overdue": false' in fine.stdout
    assert dump(tmp_path / "history.db") == before and store.purges().empty
    refused = CliRunner().invoke(main, ["purge", "--db", db])
    assert refused.exit_code == 2 and "--by" in refused.output
