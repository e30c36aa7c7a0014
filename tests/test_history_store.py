"""The history store on SQLite and on PostgreSQL: what goes in comes out, atomically, and can be erased.

Every test runs once per backend (the ``store_url`` fixture; PostgreSQL needs ``HKC_TEST_PG_URL``,
see ``tests/pg.py``), so the SQLAlchemy path is proven on a real server rather than assumed.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from hkc.errors import HistoryError
from hkc.history.retention import purge
from hkc.history.review import explain_person
from hkc.history.store import open_store
from hkc.history.subject_access import render_subject_access, subject_access
from hkc.partnership.decisions import import_decisions
from hkc.refresh import run_refresh
from tests.builders import offline_definitions
from tests.test_decisions import decide
from tests.test_partner import KEY, Q2, Q3, force, write_pack

AS_OF = dt.date(2026, 9, 30)
AWKWARD = ["tab\there", "line\nbreak", "back\\slash", 'quote " and \'', "comma, semi; pipe |", "Zoë Ødegård 🔪",
           "", "\\N", "NULL"]


def manifest(as_of: dt.date = AS_OF, **extra) -> dict:
    return {"started_at": "2026-10-01T08:00:00+00:00", "finished_at": "2026-10-01T08:01:00+00:00",
            "hkc_version": "test", "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "cohort_size": 2,
            "eligible": 3, "scored": 4, "as_of": as_of.isoformat()} | extra


def frames(n: int = 4, *, tag: str = "") -> dict[str, pd.DataFrame]:
    """A run's frames as a refresh hands them over: missing values, awkward text, nullable ranks."""
    ids = [f"P{i:06d}" for i in range(n)]
    text = [AWKWARD[i % len(AWKWARD)] + tag for i in range(n)]
    scores = pd.DataFrame({
        "person_id": ids, "risk_score": np.linspace(0, 99.125, n), "vulnerability_score": np.linspace(7.5, 0, n),
        "eligible": [i % 2 == 0 for i in range(n)], "in_cohort": [i < 2 for i in range(n)],
        "rank": pd.array([1, 2] + [None] * (n - 2), "Int64"), "rag": ["red", "amber"] + [None] * (n - 2),
        "movement": ["new", "up"] + [None] * (n - 2), "reason": text,
        "rationale": ["Knife possession ×1 " + t for t in text[:2]] + [None] * (n - 2)})
    contributions = pd.DataFrame({
        "person_id": np.repeat(ids, 2), "axis": pd.Categorical(["risk", "vulnerability"] * n),
        "indicator": pd.Categorical(["knife_possession", "knife_victim"] * n), "count": np.arange(2 * n) % 5 + 1,
        "latest": ["2026-09-01", "2026-08-15"] * n, "points": np.arange(2 * n) / 3})
    evidence = pd.DataFrame({
        "person_id": np.repeat(ids, 3), "event_id": [f"E{i}{tag}" for i in range(3 * n)],
        "date": ["2026-09-01", "2026-08-15", "2025-12-31"] * n,
        "indicator": ["knife_possession", "knife_victim", "knife_possession"] * n,
        "axis": ["risk", "vulnerability", "risk"] * n, "role": ["offender", "victim", "offender"] * n,
        "outcome": ["convicted", None, np.nan] * n, "grade": [None, None, "B2"] * n,
        "points": np.arange(3 * n) / 7, "age_days": np.arange(3 * n)})  # a column the store does not keep
    removed = pd.DataFrame({"person_id": ["GONE-1", "GONE-2"], "previous_rank": pd.array([3, 5], "Int64"),
                            "previous_rag": ["green", None], "reason": ["risk score fell below the cut-off", "aged out"]})
    return {"scores_frame": scores, "contributions_frame": contributions, "evidence_frame": evidence,
            "removed_frame": removed}


def save(store, as_of: dt.date = AS_OF, **kw) -> tuple[int, bool]:
    return store.save_run(as_of=as_of, manifest=manifest(as_of), audit={"flags": []}, **(frames() | kw))


def plain(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


@pytest.fixture
def store(store_url):
    return open_store(store_url)


def test_every_value_of_a_run_comes_back_as_it_went_in(store):
    sent = frames()
    run_id, replaced = save(store)
    assert not replaced and [r.run_id for r in store.list_runs()] == [run_id]
    cols = list(sent["scores_frame"].columns)
    assert plain(store.person_scores(run_id)[cols]) == plain(sent["scores_frame"])
    assert plain(store.removed(run_id)[list(sent["removed_frame"].columns)]) == plain(sent["removed_frame"])
    assert list(store.cohort(run_id)["person_id"]) == ["P000000", "P000001"]
    for pid in sent["scores_frame"]["person_id"]:
        row, contrib, events = store.person(run_id, pid)
        assert plain(row.drop(columns="run_id")) == plain(sent["scores_frame"][sent["scores_frame"]["person_id"] == pid])
        want = sent["contributions_frame"][sent["contributions_frame"]["person_id"] == pid]
        assert list(contrib.columns) == ["run_id", "person_id", "axis", "indicator", "count", "latest", "points"]
        assert sorted(map(str, plain(contrib.drop(columns="run_id")))) == sorted(map(str, plain(want)))
        want = sent["evidence_frame"][sent["evidence_frame"]["person_id"] == pid].drop(columns="age_days")
        assert list(events.columns) == ["run_id", "person_id", *want.columns[1:]]
        assert sorted(map(str, plain(events.drop(columns="run_id")))) == sorted(map(str, plain(want)))
        assert (events["run_id"] == run_id).all() and (contrib["run_id"] == run_id).all()
    assert store.manifest(run_id)["as_of"] == "2026-09-30" and store.audit(run_id) == {"flags": []}


def test_explain_orders_a_persons_indicators_by_points_and_events_newest_first(store):
    run_id, _ = save(store)
    _row, contrib, events = store.person(run_id, "P000002")
    assert list(contrib["axis"]) == ["risk", "vulnerability"]
    assert list(events["date"]) == ["2026-09-01", "2025-12-31", "2026-08-15"]  # by axis, indicator, newest first
    assert all(frame.empty for frame in store.person(run_id, "NOBODY"))


def test_rerunning_an_as_of_date_replaces_the_run_and_keeps_other_runs(store):
    earlier, _ = save(store, dt.date(2026, 6, 30))
    save(store)
    again, replaced = store.save_run(as_of=AS_OF, manifest=manifest(), audit=None, **frames(3, tag="-rerun"))
    assert replaced and [r.as_of for r in store.list_runs()] == [dt.date(2026, 6, 30), AS_OF]
    assert len(store.person_scores(again)) == 3
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scores")).scalar() == 4 + 3
    _row, _contrib, events = store.person(again, "P000000")
    assert set(events["event_id"]) == {"E0-rerun", "E1-rerun", "E2-rerun"}
    held = store.person_history("P000000")
    assert list(held["scores"]["as_of"]) == ["2026-06-30", "2026-09-30"]
    assert list(held["evidence"]["as_of"]) == ["2026-06-30"] * 3 + ["2026-09-30"] * 3
    assert list(held["contributions"]["run_id"]) == [earlier] * 2 + [again] * 2
    assert store.person_history("P000003")["evidence"]["as_of"].tolist() == ["2026-06-30"] * 3


def test_a_database_error_part_way_through_a_rerun_leaves_the_previous_run_intact(store):
    run_id, _ = save(store)
    before = {pid: store.person(run_id, pid) for pid in ("P000000", "P000003")}
    broken = frames(tag="-new")["removed_frame"].assign(reason=None)  # NOT NULL: refused after the other tables
    with pytest.raises(HistoryError, match="could not store the run .*nothing was changed"):
        store.save_run(as_of=AS_OF, manifest=manifest(), audit=None, **(frames(tag="-new") | {"removed_frame": broken}))
    assert [r.run_id for r in store.list_runs()] == [run_id]
    for pid, (row, contrib, events) in before.items():
        after = store.person(run_id, pid)
        assert after[0].equals(row) and after[1].equals(contrib) and after[2].equals(events)
    assert len(store.removed(run_id)) == 2


def test_reading_one_person_searches_the_run_and_person_index_and_never_scans_a_table(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    run_id, _ = save(store)
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda _conn, _cursor, sql, params, *_: statements.append((sql, params)))
    store.person_history("P000001")
    store.person(run_id, "P000001")
    store.cohort(run_id)
    plans = []
    with sqlite3.connect(tmp_path / "history.db") as conn:
        for sql, params in statements:
            if any(f" {t}" in sql for t in ("scores", "removed", "contributions", "evidence")):
                plans += [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert plans and not [p for p in plans if p.startswith("SCAN") and "runs" not in p], plans
    assert any("ix_scores_run_person (run_id=? AND person_id=?)" in p for p in plans)


def test_a_run_with_no_contributions_evidence_or_removals_is_stored(store):
    run_id, _ = save(store, contributions_frame=pd.DataFrame(), evidence_frame=pd.DataFrame(),
                     removed_frame=pd.DataFrame())
    row, contrib, events = store.person(run_id, "P000000")
    assert len(row) == 1 and contrib.empty and events.empty and store.removed(run_id).empty
    assert store.person_history("P000000")["evidence"].empty


def test_a_force_sized_run_is_stored_whole(store):
    sent = frames(20_000)
    run_id, _ = save(store, **sent)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scores")).scalar() == 20_000
    assert len(store.person_scores(run_id)) == 20_000
    _row, contrib, events = store.person(run_id, "P012345")
    assert len(contrib) == 2 and list(events["event_id"]) == ["E37035", "E37037", "E37036"]
    assert events["points"].tolist() == pytest.approx([37035 / 7, 37037 / 7, 37036 / 7], rel=0, abs=0)


def test_decisions_about_the_same_person_and_meeting_replace_the_earlier_ones(store):
    run_id, _ = save(store)
    decision = {"run_id": run_id, "as_of": "2026-09-30", "person_id": "P000000", "meeting_date": "2026-10-10",
                "decision": "adopt", "reason": "mentoring", "recorded_by": "Chair", "recorded_at": "2026-10-10T12:00",
                "source_file": "cohort.xlsx", "source_sha256": "0" * 64, "sheet": "Cohort", "row": 2}
    assert store.record_decisions([decision]) == (1, 0)
    assert store.record_decisions([decision | {"decision": "decline", "reason": None}]) == (1, 1)
    assert plain(store.decisions()[["person_id", "decision", "reason"]]) == \
        [{"person_id": "P000000", "decision": "decline", "reason": None}]


# -- the whole loop on each backend: two refreshes, a partner pack, a decision, explain, subject access, purge --

def refresh(tmp_path, url: str, as_of: dt.date):
    return run_refresh(force(as_of).write(tmp_path / f"data-{as_of}"), as_of=as_of, out=tmp_path / f"out-{as_of}",
                       definitions=offline_definitions(), db_url=url, extract_date=Q3 + dt.timedelta(days=1))


def test_refresh_explain_subject_access_and_purge_work_on_the_backend(tmp_path, store_url):
    q2, q3 = refresh(tmp_path, store_url, Q2), refresh(tmp_path, store_url, Q3)
    store = open_store(store_url, create=False)
    partner = write_pack(q3)
    store.log_disclosure(q3.run_id, "partner", partner["files"], partner["person_ids"], by="analyst",
                         when="2026-10-05T09:00:00+00:00")
    import_decisions(store, decide(q3.out / "partner" / "cohort.xlsx", tmp_path / "filled.xlsx",
                                   {"NOMINAL-10001": ("adopt", "mentoring")}),
                     key=KEY, meeting_date="2026-10-14", by="Chair", today=dt.date(2026, 12, 1))

    explained = explain_person(store, "NOMINAL-10001")
    assert explained["as_of"] == "2026-09-30" and explained["score"]["rank"] == 1
    assert {e["indicator"] for e in explained["evidence"]} == {"knife_possession", "knife_violence", "missing_episode"}
    assert sum(c["points"] for c in explained["contributions"] if c["axis"] == "risk") == \
        pytest.approx(explained["score"]["risk_score"])

    report = subject_access(store, "NOMINAL-10001")
    assert report["listed_on"] == ["2026-06-30", "2026-09-30"]
    assert [len(r["evidence"]) for r in report["runs"]] == [3, 3]
    assert sorted(d["audience"] for d in report["disclosures"]) == ["partner", "police", "police"]
    assert [d["decision"] for d in report["decisions"]] == ["adopt"]
    assert "### Evidence as of 2026-06-30" in render_subject_access(report)

    counted = purge(store, older_than_days=90, today=dt.date(2026, 10, 15), by="records officer", dry_run=True)
    done = purge(store, older_than_days=90, today=dt.date(2026, 10, 15), by="records officer")
    assert done["rows"] == counted["rows"] and done["runs"] == 1
    assert done["rows"]["scores"] == len(q2.scored.scores[(q2.scored.scores["risk_score"] > 0)
                                                           | (q2.scored.scores["vulnerability_score"] > 0)])
    assert done["rows"]["evidence"] == len(q2.scored.points) and done["rows"]["contributions"] > 0
    assert [r.as_of for r in store.list_runs()] == [Q3]
    after = subject_access(store, "NOMINAL-10001")
    assert after["listed_on"] == ["2026-09-30"] and [len(r["evidence"]) for r in after["runs"]] == [3]
    assert [d["decision"] for d in after["decisions"]] == ["adopt"]  # made on the kept run


def test_detail_split_into_chunks_reads_back_whole_for_people_spanning_two(store, monkeypatch):
    import hkc.history.detail

    monkeypatch.setattr(hkc.history.detail, "CHUNK_ROWS", 5)  # evidence has 3 rows a person: most span two chunks
    sent = frames(20)
    run_id, _ = save(store, **sent)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM evidence")).scalar() == 12
    for pid in sent["scores_frame"]["person_id"]:
        _row, contrib, events = store.person(run_id, pid)
        want = sent["evidence_frame"][sent["evidence_frame"]["person_id"] == pid].drop(columns="age_days")
        assert sorted(map(str, plain(events.drop(columns="run_id")))) == sorted(map(str, plain(want)))
        assert len(contrib) == 2
    counted = purge(store, older_than_days=1, today=dt.date(2027, 1, 1), by="records officer", dry_run=True)
    assert (counted["rows"]["evidence"], counted["rows"]["contributions"]) == (60, 40)


def test_row_order_does_not_matter(store):
    sent = frames(50)
    shuffled = {name: frame.sample(frac=1, random_state=7) for name, frame in sent.items()}
    first, _ = save(store, **sent)
    second, _ = save(store, dt.date(2026, 12, 31), **shuffled)
    for pid in ("P000000", "P000017", "P000049"):
        for a, b in zip(store.person(first, pid), store.person(second, pid), strict=True):
            assert plain(a.drop(columns="run_id")) == plain(b.drop(columns="run_id"))


def test_evidence_missing_a_required_value_is_refused_and_nothing_is_stored(store):
    broken = frames()["evidence_frame"]
    broken.loc[4, "date"] = None
    with pytest.raises(HistoryError, match=r"could not store the run \(evidence column 'date' is missing in 1 row"):
        save(store, evidence_frame=broken)
    assert store.list_runs() == []


# -- a store written before contributions and evidence moved into one Parquet file per run ---------------

def older_store(url: str) -> None:
    """The layout hkc wrote before: detail one row per indicator or event, single-column indexes."""
    from hkc.history.schema import RECORD_TABLES, runs

    old = sa.MetaData()
    runs.to_metadata(old)
    for table in RECORD_TABLES:
        table.to_metadata(old)
    def person(name: str) -> list[sa.Column]:
        return [sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
                sa.Column("person_id", sa.String(64), nullable=False, index=name != "removed")]

    types = {"float": sa.Float, "int": sa.Integer, "bool": sa.Boolean, "text": sa.Text}
    layout = {"scores": "risk_score:float vulnerability_score:float eligible:bool in_cohort:bool rank:int? rag:text? "
                        "movement:text? reason:text rationale:text?",
              "contributions": "axis:text indicator:text count:int latest:text points:float",
              "evidence": "event_id:text date:text indicator:text axis:text role:text outcome:text? grade:text? "
                          "points:float",
              "removed": "previous_rank:int? previous_rag:text? reason:text"}
    for name, spec in layout.items():
        columns = [sa.Column(c.split(":")[0], types[c.split(":")[1].rstrip("?")], nullable=c.endswith("?"))
                   for c in spec.split()]
        sa.Table(name, old, *person(name), *columns)
    engine = sa.create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:
        for as_of, tag in ((dt.date(2026, 6, 30), "-q2"), (AS_OF, "")):
            run_id = conn.execute(old.tables["runs"].insert().values(
                as_of=as_of.isoformat(), started_at="x", finished_at="x", hkc_version="old", config_sha256="c",
                inputs_sha256="i", cohort_size=2, eligible=3, scored=4, manifest="{}")).inserted_primary_key[0]
            for name, frame in frames(tag=tag).items():
                name = name.removesuffix("_frame")
                frame = frame[[c.name for c in old.tables[name].columns if c.name != "run_id"]].astype(object)
                conn.execute(old.tables[name].insert(),
                             [r | {"run_id": run_id} for r in plain(frame)])
    engine.dispose()


def test_a_store_written_by_an_older_hkc_is_upgraded_in_place_when_opened(store_url):
    older_store(store_url)
    store = open_store(store_url, create=False)
    inspector = sa.inspect(store.engine)
    assert {c["name"] for c in inspector.get_columns("evidence")} == \
        {"run_id", "chunk", "first_person_id", "last_person_id", "rows", "parquet"}
    assert {i["name"] for i in inspector.get_indexes("scores")} == {"ix_scores_run_person"}
    assert {i["name"] for i in inspector.get_indexes("removed")} == {"ix_removed_run_person"}
    run_id = store.find_run(AS_OF).run_id
    sent = frames()
    _row, contrib, events = store.person(run_id, "P000002")
    want = sent["evidence_frame"][sent["evidence_frame"]["person_id"] == "P000002"].drop(columns="age_days")
    assert sorted(map(str, plain(events.drop(columns="run_id")))) == sorted(map(str, plain(want)))
    assert len(contrib) == 2
    held = store.person_history("P000002")
    assert list(held["evidence"]["as_of"]) == ["2026-06-30"] * 3 + ["2026-09-30"] * 3
    assert set(held["evidence"]["event_id"]) == {"E6-q2", "E7-q2", "E8-q2", "E6", "E7", "E8"}
    result = purge(store, older_than_days=30, today=dt.date(2026, 9, 30), by="records officer", dry_run=True)
    assert result["rows"] | {"decisions": 0, "disclosure_people": 0, "runs": 1} == \
        {"scores": 4, "contributions": 8, "evidence": 12, "removed": 2, "decisions": 0, "disclosure_people": 0,
         "runs": 1, "interventions": 0, "consultations": 0, "aliases": 0, "member_identities": 0, "periphery": 0,
         "referrals": 0}
    save(store)  # and a rerun replaces the upgraded run
    assert open_store(store_url, create=False).person_history("P000002")["evidence"]["run_id"].nunique() == 2
