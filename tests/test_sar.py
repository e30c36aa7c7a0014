"""Subject access: every list a person was on, their evidence, and everyone who received their data."""

from __future__ import annotations

import datetime as dt

import pytest

from hkc.history.store import open_store
from hkc.history.subject_access import render_subject_access, subject_access
from hkc.partnership.decisions import import_decisions
from tests.test_decisions import decide
from tests.test_partner import KEY, Q2, Q3, refresh, write_pack

POLICE_FILES = ["cohort.csv", "cohort.html", "cohort.xlsx"]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two quarterly refreshes (each logs its police pack), one partner pack (Q3) logged, one decision."""
    tmp = tmp_path_factory.mktemp("sar")
    q2, q3 = refresh(tmp, Q2), refresh(tmp, Q3)
    store = open_store(f"sqlite:///{tmp / 'history.db'}")
    partner = write_pack(q3)
    store.log_disclosure(q3.run_id, "partner", partner["files"], partner["person_ids"], by="analyst",
                         when="2026-10-05T09:00:00+00:00")
    import_decisions(store, decide(q3.out / "partner" / "cohort.xlsx", tmp / "filled.xlsx",
                                   {"NOMINAL-10001": ("adopt", "mentoring")}),
                     key=KEY, meeting_date="2026-10-14", by="Chair", today=dt.date(2026, 12, 1))
    return store, q2, q3, partner


def test_a_person_on_two_lists_and_one_partner_pack_gets_both_runs_and_the_disclosure(history):
    store, q2, q3, partner = history
    report = subject_access(store, "NOMINAL-10001")
    assert report["listed"] and report["listed_on"] == ["2026-06-30", "2026-09-30"]
    assert [r["as_of"] for r in report["runs"]] == ["2026-06-30", "2026-09-30"]
    for run, result in zip(report["runs"], (q2, q3), strict=True):
        member = result.members.set_index("person_id").loc["NOMINAL-10001"]
        assert (run["rank"], run["rag"]) == (member["rank"], member["rag"])
        assert run["risk_score"] == pytest.approx(member["risk_score"])
        assert run["vulnerability_score"] == pytest.approx(member["vulnerability_score"])
        assert {e["indicator"] for e in run["evidence"]} == {"knife_possession", "knife_violence", "missing_episode"}
        assert sum(c["points"] for c in run["contributions"] if c["axis"] == "risk") == pytest.approx(run["risk_score"])
    partner_disclosures = [d for d in report["disclosures"] if d["audience"] == "partner"]
    assert partner_disclosures == [{"disclosed_at": "2026-10-05T09:00:00+00:00", "audience": "partner",
                                    "by": "analyst", "as_of": "2026-09-30", "people": partner["people"],
                                    "files": partner["files"], "agency": None,
                                    "released_at": "2026-10-05T09:00:00+00:00"}]
    assert sorted(d["audience"] for d in report["disclosures"]) == ["partner", "police", "police"]
    assert [(d["decision"], d["meeting_date"], d["reason"]) for d in report["decisions"]] == \
        [("adopt", "2026-10-14", "mentoring")]


def test_the_markdown_answer_names_each_run_each_recipient_and_each_file(history):
    store, _q2, _q3, partner = history
    text = render_subject_access(subject_access(store, "NOMINAL-10001"))
    assert text.startswith("# Subject access: NOMINAL-10001\n")
    assert "Listed on 2 quarterly list(s): 2026-06-30, 2026-09-30." in text
    assert "### Evidence as of 2026-06-30" in text and "### Evidence as of 2026-09-30" in text
    assert "| 2026-10-05T09:00:00+00:00 | partner | analyst | 2026-09-30 |" in text
    assert partner["files"]["partner/cohort.xlsx"][:16] in text
    assert "| 2026-10-14 | 2026-09-30 | adopt | mentoring | Chair |" in text


def test_a_person_scored_but_never_listed_is_told_so_and_who_received_their_data(history):
    store, *_ = history
    report = subject_access(store, "NOMINAL-10004")  # a victim: on the periphery of the partner pack
    assert report["held"] and not report["listed"]
    assert all(not r["listed"] and r["reason"] for r in report["runs"])
    assert [d["audience"] for d in report["disclosures"]] == ["partner"]
    assert "Scored, but never on any list." in render_subject_access(report)


def test_a_person_not_held_gets_a_plain_no(history):
    store, *_ = history
    report = subject_access(store, "NOMINAL-99999")
    assert not report["held"] and not report["runs"] and not report["disclosures"]
    text = render_subject_access(report)
    assert "holds no score, listing, decision or disclosure" in text
    assert "No pack including this person is recorded as sent." in text
