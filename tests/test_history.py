"""The history store's record tables: disclosures, decisions, purges; older stores gain them.

Every test taking ``store`` or ``store_url`` runs on SQLite and on PostgreSQL (``tests/pg.py``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from hkc.errors import HistoryError
from hkc.history.schema import RECORD_TABLES, metadata
from hkc.history.store import open_store

AS_OF = dt.date(2026, 9, 30)


def manifest(**extra) -> dict:
    return {"started_at": "2026-10-01T08:00:00+00:00", "finished_at": "2026-10-01T08:01:00+00:00",
            "hkc_version": "test", "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "cohort_size": 1,
            "eligible": 1, "scored": 2} | extra


def save(store, as_of: dt.date = AS_OF) -> int:
    scores = pd.DataFrame({"person_id": ["P1", "P2"], "risk_score": [50.0, 0.0], "vulnerability_score": [0.0, 9.0],
                           "eligible": [True, False], "in_cohort": [True, False], "rank": pd.array([1, None], "Int64"),
                           "rag": ["amber", None], "movement": ["new", None], "reason": ["", "vulnerability only"],
                           "rationale": ["Knife possession ×1", None]})
    empty = pd.DataFrame()
    run_id, _ = store.save_run(as_of=as_of, manifest=manifest(as_of=as_of.isoformat()), audit=None, scores_frame=scores,
                               contributions_frame=empty, evidence_frame=empty, removed_frame=empty)
    return run_id


@pytest.fixture
def store(store_url):
    return open_store(store_url)


def test_a_store_made_before_the_record_tables_gains_them_when_opened(store_url):
    engine = sa.create_engine(store_url)
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t not in RECORD_TABLES])
    assert not sa.inspect(engine).has_table("disclosures")
    engine.dispose()
    store = open_store(store_url, create=False)
    assert {t.name for t in RECORD_TABLES} <= set(sa.inspect(store.engine).get_table_names())
    assert store.disclosures().empty and store.decisions().empty and store.purges().empty


def test_log_disclosure_records_what_when_by_whom_for_whom_and_which_people(store):
    run_id = save(store)
    files = {"partner/cohort.xlsx": "a" * 64, "partner/cohort.csv": "b" * 64}
    first = store.log_disclosure(run_id, "partner", files, ["P1", "P2", "P1"], by=" analyst ",
                                 when=dt.datetime(2026, 10, 2, 9, 30, tzinfo=dt.UTC))
    second = store.log_disclosure(run_id, "police", {"cohort.csv": "c" * 64}, ["P1"], by="analyst")
    log = store.disclosures()
    assert list(log["disclosure_id"]) == [first, second]
    row = log.iloc[0]
    assert (row["audience"], row["disclosed_by"], row["people"], row["as_of"]) == ("partner", "analyst", 2,
                                                                                    "2026-09-30")
    assert row["disclosed_at"] == "2026-10-02T09:30:00+00:00" and row["files"] == dict(sorted(files.items()))
    assert list(store.disclosures(person_id="P2")["disclosure_id"]) == [first]
    assert store.disclosed_people(run_id=run_id) == {"P1", "P2"}
    assert store.disclosed_people(run_id=run_id, audience="police") == {"P1"}


@pytest.mark.parametrize("kwargs, message", [
    ({"audience": "press"}, "audience 'press' is not one of police, partner, subject"),
    ({"by": ""}, "needs the name of who sent it"),
    ({"files": {}}, "at least one file"),
    ({"run_id": 999}, "has no run 999"),
])
def test_log_disclosure_refuses_incomplete_entries(store, kwargs, message):
    run_id = save(store)
    args = {"run_id": run_id, "audience": "partner", "files": {"f": "0" * 64}, "person_ids": ["P1"], "by": "me"}
    with pytest.raises(HistoryError, match=message):
        store.log_disclosure(**(args | kwargs))
    assert store.disclosures().empty


def test_rerunning_an_as_of_date_keeps_its_decisions_and_disclosures(store):
    old = save(store)
    store.log_disclosure(old, "partner", {"f": "0" * 64}, ["P1"], by="me")
    store.record_decisions([{"run_id": old, "as_of": "2026-09-30", "person_id": "P1", "meeting_date": "2026-10-10",
                             "decision": "adopt", "reason": None, "recorded_by": "me",
                             "recorded_at": "2026-10-10T12:00:00", "source_file": "cohort.xlsx",
                             "source_sha256": "0" * 64, "sheet": "Cohort", "row": 2}])
    save(store, dt.date(2026, 12, 31))  # a later run, so the re-run cannot reuse the old row id
    new = save(store)
    assert new != old
    assert list(store.decisions()["run_id"]) == [new]
    assert list(store.disclosures()["run_id"]) == [new]
    assert store.disclosed_people(run_id=new) == {"P1"}


def test_person_history_gathers_every_row_about_one_person_with_its_as_of(store):
    run_id = save(store)
    store.log_disclosure(run_id, "police", {"f": "0" * 64}, ["P1"], by="me")
    held = store.person_history("P1")
    assert set(held) == {"scores", "contributions", "evidence", "removed", "decisions", "disclosures", "periphery"}
    assert list(held["scores"]["as_of"]) == ["2026-09-30"] and len(held["disclosures"]) == 1
    assert store.person_history("P2")["disclosures"].empty


def test_sqlite_stores_overwrite_deleted_rows(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_a_failure_part_way_through_storing_a_run_stores_nothing(store):
    manifest = {"started_at": "2026-10-01T00:00:00", "finished_at": "2026-10-01T00:01:00", "hkc_version": "t",
                "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "cohort_size": 1, "eligible": 1, "scored": 1}
    scores = pd.DataFrame({"person_id": ["P1"], "risk_score": [10.0], "vulnerability_score": [0.0], "eligible": [True],
                           "in_cohort": [True], "rank": [1], "rag": ["green"], "movement": ["new"], "reason": [""],
                           "rationale": ["x"]})
    contributions = pd.DataFrame({"person_id": ["P1"], "axis": ["risk"], "indicator": ["knife_possession"],
                                  "count": [1], "latest": ["2026-09-01"], "points": [10.0]})
    broken_removed = pd.DataFrame({"person_id": ["P9"]})  # lacks its columns: fails after the others went in
    with pytest.raises(KeyError):
        store.save_run(as_of=dt.date(2026, 9, 30), manifest=manifest, audit=None, scores_frame=scores,
                       contributions_frame=contributions, evidence_frame=contributions.iloc[0:0],
                       removed_frame=broken_removed)
    assert store.list_runs() == []
    assert store.person_scores(1).empty
