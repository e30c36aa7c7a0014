"""Subject access for people on the periphery list, and the agency that received each pack.

A child linked to a listed person but not listed goes out in the police pack and in partner packs;
subject access must say they were on the periphery list (which run, in what role, linked to how many
listed people), never "never on any list", and must name the agency whose own pack held them.  The
periphery rows go with their run when it is purged or re-run, and a store written before either was
kept gains the table and the column when opened.  The planted truths come from
:func:`tests.test_partner_minimal.force`: VIC, a 14-year-old knife victim of the listed C1 (North),
is on the periphery as possibly at risk, and in the North agency's own pack.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

from hkc.history.periphery import LINK_ROLES, periphery_rows
from hkc.history.retention import purge
from hkc.history.schema import metadata
from hkc.history.store import open_store
from hkc.history.subject_access import render_subject_access, subject_access
from hkc.refresh import run_refresh
from tests.test_history_store import frames, manifest
from tests.test_partner_minimal import AGENCIES, KEY, Q3, definitions, force

DEFS = definitions(agencies=AGENCIES)


def refresh(data, out, db) -> object:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DEFS.settings.partner.key_variable, KEY)
        return run_refresh(data, as_of=Q3, out=out, definitions=DEFS, db_url=f"sqlite:///{db}", extract_date=Q3,
                           partner_pack="yes")


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sar-periphery")
    data = force().write(tmp / "data")
    return refresh(data, tmp / "out", tmp / "h.db"), tmp


def expected_periphery(result) -> dict[str, tuple[str, int]]:
    """Each periphery person's role and number of listed people, read from the peer map a second way."""
    return {r.person_id: ({"co_offending": "co-offending", "at_risk": "possibly at risk from cohort members",
                           "other": "linked in other roles"}[r.link_type], len(set(r.linked_to.split(";"))))
            for r in result.peers.periphery.itertuples()}


def test_a_child_on_the_periphery_is_told_which_run_in_what_role_and_linked_to_how_many(refreshed):
    result, tmp = refreshed
    expected = expected_periphery(result)
    assert expected["VIC"] == ("possibly at risk from cohort members", 1)  # the planted truth
    store = open_store(f"sqlite:///{tmp / 'h.db'}", create=False)
    for person, (role, linked) in expected.items():
        report = subject_access(store, person)
        assert not report["listed"] and report["held"]
        assert report["periphery"] == [{"as_of": Q3.isoformat(), "link_role": role, "linked_to": linked}]
        assert report["on_periphery"] == [Q3.isoformat()]
    text = render_subject_access(subject_access(store, "VIC"))
    assert f"On the periphery list (linked to listed people, not listed) on 1 run(s): {Q3}." in text
    assert "never on any list" not in text and "never on a list" not in text
    assert "## On the periphery" in text
    assert f"| {Q3} | possibly at risk from cohort members | 1 |" in text


def test_a_listed_person_is_not_on_the_periphery_and_a_scored_outsider_is_never_on_any_list(refreshed):
    result, tmp = refreshed
    store = open_store(f"sqlite:///{tmp / 'h.db'}", create=False)
    listed = subject_access(store, "C1")
    assert listed["listed"] and listed["periphery"] == []
    scored = store.person_scores(result.run_id)
    outsiders = set(scored.loc[~scored["in_cohort"].astype(bool), "person_id"]) - set(expected_periphery(result))
    assert outsiders, "the planted force has someone scored who is neither listed nor on the periphery"
    for person in outsiders:
        text = render_subject_access(subject_access(store, person))
        assert "Scored, but never on any list." in text and "## On the periphery" not in text


def test_each_pack_names_the_agency_that_received_it(refreshed):
    result, tmp = refreshed
    store = open_store(f"sqlite:///{tmp / 'h.db'}", create=False)
    report = subject_access(store, "VIC")
    got = sorted((d["audience"], d["agency"] or "") for d in report["disclosures"])
    # a second way: which of the run's packs hold VIC (the police pack holds the periphery)
    want = sorted([("police", "")] + [("partner", p.get("agency") or "") for p in result.partner["packs"]
                                      if "VIC" in set(p["person_ids"])])
    assert got == want and ("partner", "north") in got
    assert all(d["released_at"] == d["disclosed_at"] for d in report["disclosures"])  # the folder was published
    text = render_subject_access(report)
    assert "| north |" in text
    if ("partner", "") in got:
        assert "| all partners |" in text
    c2 = {d["agency"] for d in subject_access(store, "C2")["disclosures"] if d["audience"] == "partner"}
    assert "north" not in c2  # C2 is in the South: not in the North pack


def test_a_pack_held_and_not_released_says_so(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.save_run(as_of=Q3, manifest=manifest(Q3), audit=None, **frames(), folder=tmp_path / "out",
                   disclosures_pending=[{"audience": "partner", "agency": "north", "files": {"a.csv": "0" * 64},
                                         "person_ids": ["P000001"], "by": "analyst"}])
    (pack,) = subject_access(store, "P000001")["disclosures"]
    assert (pack["agency"], pack["released_at"]) == ("north", None)
    assert "| north | held, not released |" in render_subject_access(subject_access(store, "P000001"))


def test_purge_removes_the_periphery_with_its_run_and_a_rerun_replaces_it(refreshed, tmp_path):
    result, tmp = refreshed
    shutil.copy(tmp / "h.db", tmp_path / "h.db")
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    count = sa.select(sa.func.count()).select_from(metadata.tables["periphery"])
    stored = int(store.frame(count).iloc[0, 0])
    assert stored == len(result.peers.periphery) > 0
    rerun = pd.DataFrame({"person_id": ["X1", "X2"], "link_type": ["other", "co_offending"],
                          "linked_to": ["P000000", "P000000;P000001"]})
    _run_id, replaced = store.save_run(as_of=Q3, manifest=manifest(Q3), audit=None, **frames(), periphery_frame=rerun)
    assert replaced and int(store.frame(count).iloc[0, 0]) == 2  # the re-run's periphery, not both
    assert subject_access(store, "VIC")["periphery"] == [] and len(subject_access(store, "X2")["periphery"]) == 1
    done = purge(store, older_than_days=30, today=Q3 + dt.timedelta(days=400), by="records officer")
    assert done["rows"]["periphery"] == 2 and int(store.frame(count).iloc[0, 0]) == 0
    assert subject_access(store, "X2")["periphery"] == []


def test_periphery_rows_count_distinct_listed_people_and_keep_unknown_roles_plain():
    frame = pd.DataFrame({"person_id": ["A", "B", "C"], "link_type": ["co_offending", "at_risk", None],
                          "linked_to": ["C1;C2;C2", "C9", None]})
    rows = periphery_rows(frame)
    assert rows.to_dict("records") == [
        {"person_id": "A", "link_role": LINK_ROLES["co_offending"], "linked_to": 2},
        {"person_id": "B", "link_role": LINK_ROLES["at_risk"], "linked_to": 1},
        {"person_id": "C", "link_role": "role not recorded", "linked_to": 0}]
    assert periphery_rows(None).empty and periphery_rows(frame.iloc[:0]).empty


@pytest.mark.parametrize("create", [True, False])
def test_an_older_store_gains_the_periphery_table_and_the_agency_column(tmp_path, create):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    run_id, _ = store.save_run(as_of=Q3, manifest=manifest(Q3), audit=None, **frames())
    store.log_disclosure(run_id, "partner", {"p.csv": "1" * 64}, ["P000002"], by="analyst",
                         when="2026-10-02T09:00:00+00:00")
    store.engine.dispose()
    with sqlite3.connect(path) as conn:  # as an hkc from before the periphery and agencies were kept wrote it
        conn.execute("DROP TABLE periphery")
        conn.execute("ALTER TABLE disclosures DROP COLUMN agency")
    with sqlite3.connect(path) as conn:
        assert "agency" not in {r[1] for r in conn.execute("PRAGMA table_info(disclosures)")}
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'periphery'").fetchall()
    old = open_store(f"sqlite:///{path}", create=create)
    inspector = sa.inspect(old.engine)
    assert "periphery" in inspector.get_table_names()
    assert "agency" in {c["name"] for c in inspector.get_columns("disclosures")}
    (before,) = subject_access(old, "P000002")["disclosures"]
    assert before["agency"] is None and before["released_at"] == "2026-10-02T09:00:00+00:00"
    peripheral = pd.DataFrame({"person_id": ["P000003"], "link_type": ["at_risk"], "linked_to": ["P000000;P000001"]})
    old.save_run(as_of=Q3, manifest=manifest(Q3), audit=None, **frames(), periphery_frame=peripheral)
    old.log_disclosure(old.find_run(Q3).run_id, "partner", {"n.csv": "2" * 64}, ["P000003"], by="analyst",
                       agency="north")
    report = subject_access(old, "P000003")
    assert report["periphery"] == [{"as_of": Q3.isoformat(), "link_role": LINK_ROLES["at_risk"], "linked_to": 2}]
    assert [d["agency"] for d in report["disclosures"]] == ["north"]
