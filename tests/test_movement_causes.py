"""Movement that says why: one cause per person who moved down or off the list, the same in the refresh's
``removed.csv`` and ``hkc movement`` (hkc.matrix.causes, hkc.history.compare_runs, issue 12 part 4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.movement_causes import reconcile
from cli import main
from hkc.errors import HistoryError
from hkc.history import compare_runs, open_store, run_evidence
from hkc.history import detail as detail_codec
from hkc.matrix import CAUSES, movement_causes, removal_causes, select_cohort
from hkc.refresh import run_refresh
from hkc.report_text import movement_report
from hkc.synth import extract_folder, generate_quarters, parse_quarters, write_quarters
from tests.builders import ExtractBuilder, offline_definitions

T0, T1 = dt.date(2026, 6, 30), dt.date(2026, 9, 30)
AGE_OVER = "age 18 is 1 year above the maximum age 17 at the as-of date"
STALE = "latest weapon-related event is 380 days old; the review window is 365 days: knife possession, convicted"
CUT = "still eligible but below the cohort cut-off (rank 51; cohort is top 50)"


# --------------------------------------------------------------------------------------------
# The pure function, one minimal case per cause


def earlier(*rows) -> pd.DataFrame:
    """(person_id, risk_score, rank, rag) of the earlier cohort."""
    return pd.DataFrame(rows, columns=["person_id", "risk_score", "rank", "rag"]).assign(in_cohort=True)


def later(*rows) -> pd.DataFrame:
    """(person_id, risk_score, eligible, rank, rag, reason) of the later run; rank None = not listed."""
    frame = pd.DataFrame(rows, columns=["person_id", "risk_score", "eligible", "rank", "rag", "reason"])
    return frame.assign(in_cohort=frame["rank"].notna())


def ev(person: str, event_id: str, date: str, indicator: str = "knife_possession", outcome: str = "convicted",
       grade: str = "", role: str = "offender", axis: str = "risk") -> dict:
    return {"person_id": person, "event_id": event_id, "date": date, "indicator": indicator, "axis": axis,
            "role": role, "outcome": outcome, "grade": grade, "points": 1.0}


def causes(before, after, e0, e1, catalogue, **options) -> dict[str, tuple[str, str]]:
    found = movement_causes(before, after, pd.DataFrame(e0), pd.DataFrame(e1), earlier_as_of=T0, later_as_of=T1,
                            catalogue=catalogue, **options)
    return {p: (c, t) for p, c, t in found[["person_id", "cause", "text"]].itertuples(index=False)}


def test_a_re_keyed_id_is_an_id_change_and_without_the_alias_its_events_are_gone(catalogue):
    before, after = earlier(("A", 60.0, 1, "amber")), later(("A9", 58.0, True, 1, "amber", ""))
    e0, e1 = [ev("A", "E1", "2026-05-01")], [ev("A9", "E1", "2026-05-01")]
    cause, text = causes(before, after, e0, e1, catalogue, aliases={"A": "A9"})["A"]
    assert cause == "id_change" and "A9" in text
    cause, text = causes(before, after, e0, e1, catalogue)["A"]
    assert cause == "record_correction" and "1 event that would still count no longer held under this id (E1)" in text


def test_a_remove_decision_from_the_earlier_run_on_is_a_review_decision(catalogue):
    before = earlier(("A", 60.0, 1, "amber"), ("B", 59.0, 2, "amber"), ("C", 58.0, 3, "amber"))
    after = later(*[(p, 50.0, True, None, None, CUT) for p in "ABC"])
    e = [ev(p, f"E{p}", "2026-05-01") for p in "ABC"]
    decisions = pd.DataFrame({"person_id": ["A", "B", "C"], "as_of": [T0.isoformat(), "2026-03-31", T0.isoformat()],
                              "meeting_date": ["2026-07-10"] * 3, "decision": ["remove", "remove", "adopt"],
                              "reason": ["moved out of area", "", ""]})
    found = causes(before, after, e, e, catalogue, decisions=decisions)
    assert found["A"] == ("review_decision", "removed on review at the meeting of 2026-07-10 (moved out of area)")
    assert found["B"][0] == found["C"][0] == "decay"  # a decision on an older run, or one that keeps them


@pytest.mark.parametrize(("old", "new"), [
    (ev("A", "E1", "2026-05-01", outcome="charged"), ev("A", "E1", "2026-05-01", outcome="nfa")),
    (ev("A", "E1", "2026-05-01", outcome="convicted"), ev("A", "E1", "2026-05-01", outcome="pending")),
    (ev("A", "E1", "2026-05-01", "knife_intel", "", "B2", "subject"),
     ev("A", "E1", "2026-05-01", "knife_intel", "", "E5", "subject")),
    (ev("A", "E1", "2026-05-01"), ev("A", "E1", "2026-05-01", role="suspect")),
    (ev("A", "E1", "2026-05-01"), ev("A", "E1", "2025-12-01")),
    (ev("A", "E1", "2026-05-01", "knife_violence"), ev("A", "E1", "2026-05-01", "violence")),
    (ev("A", "E1", "2026-05-01"), None),
])
def test_a_correction_that_weakens_the_record_is_a_record_correction(catalogue, old, new):
    before, after = earlier(("A", 60.0, 1, "amber")), later(("A", 30.0, True, None, None, CUT))
    keep = ev("A", "E0", "2026-04-01", "robbery")
    cause, text = causes(before, after, [keep, old], [keep] + ([new] if new else []), catalogue)["A"]
    assert cause == "record_correction", text
    assert text.startswith("a correction of the past weakened the record: 1 ") and "E1" in text


def test_corrections_that_do_not_weaken_the_record_do_not_explain_a_fall(catalogue):
    before, after = earlier(("A", 60.0, 1, "amber")), later(("A", 50.0, True, None, None, CUT))
    e0 = [ev("A", "E1", "2026-05-01", outcome="pending")]
    e1 = [ev("A", "E1", "2026-05-01", outcome="convicted"), ev("A", "LATE", "2026-06-01", "violence")]
    cause, text = causes(before, after, e0, e1, catalogue)["A"]
    assert cause == "decay"
    assert "the record also changed between the extracts: 1 outcome changed (E1: pending to convicted); " \
           f"1 event dated on or before {T0} recorded late (LATE)" in text


def test_an_event_that_aged_out_of_its_lookback_window_is_time_not_a_correction(catalogue):
    window = catalogue.indicators["knife_possession"].lookback_days
    expired = (T1 - dt.timedelta(days=window + 1)).isoformat()  # inside the window at T0, outside at T1
    inside = (T1 - dt.timedelta(days=window)).isoformat()
    before, after = earlier(("A", 60.0, 1, "amber"), ("B", 60.0, 2, "amber")), \
        later(("A", 30.0, True, None, None, CUT), ("B", 30.0, True, None, None, CUT))
    e0 = [ev("A", "E1", expired), ev("A", "E2", "2026-05-01"), ev("B", "E3", inside), ev("B", "E4", "2026-05-01")]
    e1 = [ev("A", "E2", "2026-05-01"), ev("B", "E4", "2026-05-01")]
    found = causes(before, after, e0, e1, catalogue)
    assert found["A"][0] == "decay"
    assert found["B"][0] == "record_correction"  # on its last day in the window it still counts: it was removed


def test_new_events_are_the_cause_even_when_the_score_fell(catalogue):
    before = earlier(("A", 80.5, 1, "red"), ("B", 60.0, 2, "amber"))
    after = later(("A", 73.0, True, 1, "amber", ""), ("B", 20.0, False, None, None,
                                                       "risk score 20 is 5 points below the minimum 25"))
    e0 = [ev("A", "E1", "2026-03-01"), ev("B", "E2", "2026-03-01")]
    e1 = e0 + [ev("A", "NEW", "2026-08-01", "violence", "pending"), ev("B", "NEW2", "2026-07-02", "robbery")]
    found = causes(before, after, e0, e1, catalogue)
    assert found["A"] == ("new_events", "1 new event dated after 2026-06-30, the latest on 2026-08-01 (violence); "
                                        "risk score 80.5 at the earlier run, 73 now; RAG red to amber (rank 1 to 1)")
    assert found["B"][0] == "new_events"
    e1_vulnerability = e0 + [ev("A", "V", "2026-08-01", "knife_victim", "", role="victim", axis="vulnerability")]
    assert causes(before, after, e0, e1_vulnerability, catalogue)["A"][0] == "decay"  # only the risk axis lists


def test_time_alone_is_decay_and_a_score_that_did_not_fall_is_overtaken(catalogue):
    before = earlier(("FELL", 60.0, 1, "amber"), ("SAME", 50.0, 2, "amber"), ("RAG", 85.0, 3, "red"),
                     ("NONE", 30.0, 4, "green"), ("BAND", 90.0, 5, "red"))
    after = later(("FELL", 40.0, True, None, None, CUT), ("SAME", 50.0, True, None, None, CUT),
                  ("RAG", 79.0, True, 3, "amber", ""), ("BAND", 90.0, True, 7, "amber", ""))  # quantile bands
    e = [ev(p, f"E{p}", "2026-05-01") for p in ("FELL", "SAME", "RAG", "BAND")] + [ev("NONE", "EN", "2023-10-01")]
    found = causes(before, after, e, [x for x in e if x["person_id"] != "NONE"], catalogue)
    assert found["FELL"][0] == found["RAG"][0] == "decay"
    assert found["BAND"][0] == "cutoff" and found["BAND"][1].endswith("RAG red to amber (rank 5 to 7)")
    assert found["SAME"] == ("cutoff", "no new events and no correction weakened the record, and the risk score did "
                                       f"not fall (50 to 50): others overtook them; {CUT}")
    assert found["NONE"] == ("decay", "no new events and no correction weakened the record: the risk score fell from "
                                      "30 to 0 with time alone (events age and leave their lookback windows); not "
                                      "eligible: no counting events in the lookback windows")


def test_an_eligibility_rule_other_than_the_score_is_no_longer_eligible(catalogue):
    before = earlier(("AGED", 60.0, 1, "amber"), ("STALE", 55.0, 2, "amber"), ("NFA", 50.0, 3, "amber"))
    after = later(("AGED", 40.0, False, None, None, AGE_OVER), ("STALE", 30.0, False, None, None, STALE),
                  ("NFA", 30.0, False, None, None,
                   "1 reported weapon-related event in the last 365 days, all with outcome nfa: none qualifies"))
    e0 = [ev("AGED", "A1", "2026-05-01", outcome="charged"), ev("STALE", "S1", "2025-09-15"),
          ev("STALE", "S2", "2026-05-01", "violence", "charged"), ev("NFA", "N1", "2026-05-01", outcome="charged")]
    e1 = [ev("AGED", "A1", "2026-05-01", outcome="nfa"), ev("AGED", "A2", "2026-08-01"),  # age says it all
          ev("STALE", "S1", "2025-09-15"), ev("STALE", "S2", "2026-05-01", "violence", "nfa"),  # not a weapon event
          ev("STALE", "S3", "2026-08-01", "violence"), ev("NFA", "N1", "2026-05-01", outcome="nfa")]
    found = causes(before, after, e0, e1, catalogue)
    assert found["AGED"][0] == found["STALE"][0] == "no_longer_eligible"
    assert found["AGED"][1].startswith(f"{AGE_OVER}; the record also changed between the extracts: ")
    assert found["STALE"][1].startswith(f"{STALE}; the record also changed between the extracts: ")
    assert found["NFA"][0] == "record_correction"  # charged to nfa on the weapon event broke the weapon rule


def test_only_people_who_moved_down_or_off_the_list_get_a_cause(catalogue):
    before = earlier(("UP", 50.0, 3, "amber"), ("SAME", 85.0, 1, "red"), ("DOWN", 60.0, 2, "amber"))
    after = later(("UP", 90.0, True, 1, "red", ""), ("SAME", 84.0, True, 5, "red", ""),
                  ("DOWN", 40.0, True, 6, "green", ""))
    found = movement_causes(before, after, pd.DataFrame(), pd.DataFrame(), earlier_as_of=T0, later_as_of=T1,
                            catalogue=catalogue)
    assert found[["person_id", "movement", "cause"]].values.tolist() == [["DOWN", "rag reduced", "decay"]]


# The order of evidence, as a property: each cause wins over every later one it co-occurs with.
SCENARIO = st.fixed_dictionaries({
    "alias": st.booleans(), "decision": st.booleans(), "weakened": st.booleans(), "new": st.booleans(),
    "late": st.booleans(), "rule": st.sampled_from(["listed", "cut-off", "score", "age", "weapon"]),
    "fell": st.booleans()})


@settings(max_examples=50, deadline=None)
@given(SCENARIO)
def test_the_first_cause_that_can_explain_the_move_wins(catalogue, s):
    score1 = 50.0 if s["fell"] else 70.0
    reason = {"listed": "", "cut-off": CUT, "score": "risk score 20 is 5 points below the minimum 25",
              "age": AGE_OVER, "weapon": STALE}[s["rule"]]
    after = later(("A", score1, s["rule"] in ("listed", "cut-off"), 1 if s["rule"] == "listed" else None,
                   "amber" if s["rule"] == "listed" else None, reason))
    e0 = [ev("A", "W", "2026-05-01", outcome="charged")]
    e1 = [ev("A", "W", "2026-05-01", outcome="nfa" if s["weakened"] else "charged")]
    e1 += [ev("A", "N", "2026-08-01", "violence")] if s["new"] else []
    e1 += [ev("A", "L", "2026-06-01", "violence")] if s["late"] else []
    decisions = pd.DataFrame({"person_id": ["A"], "as_of": [T0.isoformat()], "meeting_date": ["2026-07-01"],
                              "decision": ["remove" if s["decision"] else "monitor"], "reason": [""]})
    cause, _ = causes(earlier(("A", 60.0, 1, "red")), after, e0, e1, catalogue,
                      aliases={"A": "B"} if s["alias"] else None, decisions=decisions)["A"]
    expected = ("id_change" if s["alias"] else "review_decision" if s["decision"]
                else "record_correction" if s["weakened"] and s["rule"] != "age"
                else "new_events" if s["new"] and s["rule"] not in ("age", "weapon")
                else "no_longer_eligible" if s["rule"] in ("age", "weapon")
                else "decay" if s["fell"] else "cutoff" if s["rule"] != "score" else "no_longer_eligible")
    assert cause == expected


# --------------------------------------------------------------------------------------------
# Two refreshes into a history: the same extract re-scored, and two extracts built for the causes


def dated(b: ExtractBuilder, person: str, type_: str, day: dt.date, **kw) -> None:
    b.event(person, type_, days_ago=(b.as_of - day).days, **kw)


def days(n: int, before: dt.date = T0) -> dt.date:
    return before - dt.timedelta(days=n)


def filler(b: ExtractBuilder, latest: dt.date) -> None:
    """Someone never eligible whose events span the longest lookback and reach the extract date."""
    b.person("OLDIE", age=15)
    dated(b, "OLDIE", "robbery", days(1200), outcome="convicted", event_id="OLD1")
    dated(b, "OLDIE", "violence", latest, outcome="pending", event_id=f"OLD-{latest}")


def pinned(size: int = 50):
    """The repository's definitions (MLflow off) with the listing rules these cases are built on pinned,
    so a change of the shipped defaults does not move them: fixed RAG thresholds 80/45, a cohort of
    ``size`` at or above 25, ages 10-17, a 365-day review window, nfa not qualifying."""
    defs = offline_definitions()
    s = defs.settings
    return dataclasses.replace(defs, settings=dataclasses.replace(
        s, rag=dataclasses.replace(s.rag, method="fixed", red=80.0, amber=45.0),
        cohort=dataclasses.replace(s.cohort, method="threshold_capped", size=size, min_score=25.0),
        eligibility=dataclasses.replace(s.eligibility, min_age=10, max_age=17, review_window_days=365,
                                        min_risk_score=25.0, non_qualifying_outcomes=("nfa",),
                                        allow_police_generated_only=False)))


def refresh(folder: Path, day: dt.date, tmp: Path, definitions, *, extract_date: dt.date | None = None):
    return run_refresh(folder, as_of=day, out=tmp / f"out-{day}", definitions=definitions,
                       db_url=f"sqlite:///{tmp / 'history.db'}", extract_date=extract_date or day, partner_pack="no")


def refresh_causes(store, result, definitions, previous_as_of: dt.date) -> pd.DataFrame:
    """What the refresh writes to removed.csv once it calls removal_causes (see the report to the lead)."""
    s = definitions.settings
    chosen = select_cohort(result.scored.scores, cohort=s.cohort, rag=s.rag)
    previous = store.find_run(previous_as_of)
    gone = result.removed[[c for c in result.removed.columns if c not in ("cause", "cause_text")]]
    return removal_causes(gone, previous=store.cohort(previous.run_id),
                          previous_evidence=run_evidence(store, previous.run_id, gone["person_id"]),
                          scored=result.scored, members=chosen.members, ranked=chosen.ranked, cohort=s.cohort,
                          previous_as_of=previous_as_of, as_of=result.as_of, catalogue=definitions.catalogue,
                          non_qualifying_outcomes=s.eligibility.non_qualifying_outcomes,
                          decisions=store.decisions(gone["person_id"]))


def movement_json(db: Path, start: dt.date, end: dt.date) -> dict:
    result = CliRunner().invoke(main, ["movement", "--from", str(start), "--to", str(end), "--db", f"sqlite:///{db}",
                                       "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def by_person(change: dict) -> dict[str, str]:
    return {p["person_id"]: cause for cause, people in change["causes"]["people"].items() for p in people}


@pytest.fixture(scope="module")
def rescored(tmp_path_factory):
    """One extract (nothing recorded after T0) refreshed as of T0 and 30 days later."""
    tmp, later_day = tmp_path_factory.mktemp("rescored"), T0 + dt.timedelta(days=30)
    b = ExtractBuilder(as_of=T0)
    b.person("LOW", age=15)
    dated(b, "LOW", "knife_possession", days(170), outcome="convicted")  # 25.8 then 23.9: below the minimum 25
    b.person("STALE", age=15)
    dated(b, "STALE", "knife_possession", days(350), outcome="convicted")  # leaves the 365-day review window
    dated(b, "STALE", "violence", days(10), outcome="convicted")
    b.person("AGED", age=17, date_of_birth="2008-07-15")  # 18 on 2026-07-15
    dated(b, "AGED", "knife_possession", days(30), outcome="convicted")
    b.person("RED", age=15)  # 80.6 (red) then 75.6 (amber)
    dated(b, "RED", "knife_violence", days(100), outcome="convicted")
    dated(b, "RED", "knife_possession", days(100), outcome="convicted")
    b.person("STAY", age=15)
    dated(b, "STAY", "knife_violence", days(5), outcome="convicted")
    dated(b, "STAY", "knife_possession", days(5), outcome="convicted")
    filler(b, T0)
    folder = b.write(tmp / "extract")
    defs = pinned()
    first = refresh(folder, T0, tmp, defs, extract_date=later_day)
    second = refresh(folder, later_day, tmp, defs)
    return {"db": tmp / "history.db", "later": later_day, "first": first, "second": second, "defs": defs}


def test_an_extract_re_scored_with_no_new_events_moves_people_only_by_decay_or_eligibility(rescored):
    change = movement_json(rescored["db"], T0, rescored["later"])
    assert {p["person_id"] for p in change["entries"]} == set()
    causes_now = by_person(change)
    assert causes_now == {"LOW": "decay", "RED": "decay", "STALE": "no_longer_eligible", "AGED": "no_longer_eligible"}
    counts = change["causes"]["counts"]
    assert counts["decay"] + counts["no_longer_eligible"] == change["causes"]["total"] == 4  # 100% of reductions
    assert change["share_reduced_or_removed"] == pytest.approx(4 / 5)  # the old figure called all four a success
    assert change["causes"]["shares"]["decay"] == pytest.approx(2 / 5)


def test_the_movement_report_splits_the_headline_and_labels_the_old_figure(rescored):
    store = open_store(f"sqlite:///{rescored['db']}", create=False)
    text = movement_report(compare_runs(store, T0, rescored["later"], catalogue=rescored["defs"].catalogue))
    rows = [" ".join(line.split()) for line in text.splitlines()]
    assert "why 4 of the 5 people listed on 2026-06-30 had their RAG reduced or left the list" in text
    assert "time alone (scores decay) 2 40% not evidence that anything worked" in rows
    assert "no longer eligible 2 40%" in rows
    assert "2 of the 4 moved through time alone (scores decay), being overtaken at the cut-off, or an identity " \
           "change: those would happen if nothing had been done, so they are not evidence that anything worked." in text
    assert "of the 2 no longer eligible, 1 passed the age limit: that too would happen if nothing had been done." \
        in text
    assert "the old single figure, which counts decay and overtaking as success (share of the earlier cohort whose " \
           "RAG reduced or who were removed): 80% (4 of 5)" in text


@pytest.fixture(scope="module")
def two_extracts(tmp_path_factory):
    """Two quarters' extracts, each person built for one cause; a cohort of six."""
    tmp = tmp_path_factory.mktemp("two")
    defs = pinned(size=6)
    builders = {}
    for day in (T0, T1):
        b = builders[day] = ExtractBuilder(as_of=day)
        for person in ("FIXED", "GONE", "CUT", "RED", "DECIDED"):
            b.person(person, age=15)
        b.person("ALIAS" if day == T0 else "ALIAS2", age=15)
        dated(b, "FIXED", "knife_possession", days(40), outcome="charged" if day == T0 else "nfa", event_id="F1")
        if day == T0:
            dated(b, "GONE", "knife_possession", days(50), outcome="convicted", event_id="G1")
        dated(b, "CUT", "knife_possession", days(60), outcome="convicted", event_id="C1")
        dated(b, "RED", "knife_violence", days(100), outcome="convicted", event_id="R1")
        dated(b, "RED", "knife_possession", days(100), outcome="convicted", event_id="R2")
        dated(b, "DECIDED", "knife_possession", days(30), outcome="convicted", event_id="D1")
        dated(b, "ALIAS" if day == T0 else "ALIAS2", "knife_possession", days(45), outcome="convicted", event_id="A1")
        if day == T1:
            dated(b, "CUT", "violence", days(20), outcome="convicted", event_id="C2")  # recorded late
            dated(b, "RED", "violence", days(30, T1), outcome="pending", event_id="R3")  # new, scores little
            for k in range(6):  # newcomers who overtake everyone but RED
                b.person(f"NEW{k}", age=15)
                dated(b, f"NEW{k}", "knife_violence", days(10 + k, T1), outcome="convicted", event_id=f"N{k}")
        filler(b, day)
    first = refresh(builders[T0].write(tmp / "q2"), T0, tmp, defs)
    store = open_store(f"sqlite:///{tmp / 'history.db'}", create=False)
    store.record_decisions([{"run_id": first.run_id, "as_of": T0.isoformat(), "person_id": "DECIDED",
                             "meeting_date": "2026-07-14", "decision": "remove", "reason": "moved out of the area",
                             "recorded_by": "test", "recorded_at": "2026-07-14T10:00:00", "source_file": "pack.xlsx",
                             "source_sha256": "0" * 64}])
    second = refresh(builders[T1].write(tmp / "q3"), T1, tmp, defs)
    return {"db": tmp / "history.db", "store": store, "first": first, "second": second, "defs": defs, "tmp": tmp}


def test_two_extracts_give_each_person_the_cause_built_for_them(two_extracts):
    assert set(two_extracts["first"].members["person_id"]) == {"FIXED", "GONE", "CUT", "RED", "DECIDED", "ALIAS"}
    change = movement_json(two_extracts["db"], T0, T1)
    # ALIAS vanished while ALIAS2 (new, same birth date and sex) holds its event: a probable re-key, not an exit
    assert by_person(change) == {"FIXED": "record_correction", "GONE": "record_correction", "CUT": "cutoff",
                                 "RED": "new_events", "DECIDED": "review_decision", "ALIAS": "id_change"}
    assert "ALIAS" not in {e["person_id"] for e in change["exits"]}
    assert change["causes"]["not_evidence_count"] == 2  # the re-key and the overtaken
    aliased = compare_runs(two_extracts["store"], T0, T1, catalogue=two_extracts["defs"].catalogue,
                           aliases={"ALIAS": "ALIAS2"})  # once linked, followed: the cause their record gives
    assert by_person(aliased)["ALIAS2"] == "decay" and "ALIAS" not in by_person(aliased)
    exits = {e["person_id"]: e for e in change["exits"]}
    assert exits["FIXED"]["cause_text"].startswith("a correction of the past weakened the record: 1 outcome changed "
                                               "(F1: charged to nfa)")
    assert "1 event that would still count no longer held under this id (G1)" in exits["GONE"]["cause_text"]
    assert "1 event dated on or before 2026-06-30 recorded late (C2)" in exits["CUT"]["cause_text"]
    assert exits["CUT"]["reason"] == "still eligible but below the cohort cut-off (rank 8; cohort is top 6)"
    reds = [c for c in change["rag_changes"] if c["person_id"] == "RED"]
    assert reds[0]["change"] == "reduced" and reds[0]["cause_text"].startswith("1 new event dated after 2026-06-30")


def test_the_refresh_and_hkc_movement_give_the_same_cause_and_text(two_extracts, rescored):
    for case, start, end in ((two_extracts, T0, T1), (rescored, T0, rescored["later"])):
        store = open_store(f"sqlite:///{case['db']}", create=False)
        removed = refresh_causes(store, case["second"], case["defs"], start).set_index("person_id")
        exits = pd.DataFrame(movement_json(case["db"], start, end)["exits"]).set_index("person_id")
        assert len(exits) and set(removed.index) == set(exits.index)
        assert removed["cause"].to_dict() == exits["cause"].to_dict()
        assert removed["cause_text"].to_dict() == exits["cause_text"].to_dict()
        assert removed["reason"].to_dict() == exits["reason"].to_dict()  # the listing rule, as before


def test_removed_csv_carries_the_cause_hkc_movement_gives(two_extracts):
    removed = pd.read_csv(two_extracts["tmp"] / f"out-{T1}" / "removed.csv", dtype=str, keep_default_na=False)
    exits = pd.DataFrame(movement_json(two_extracts["db"], T0, T1)["exits"])
    assert dict(zip(removed["person_id"], removed["reason"], strict=True)) == \
        dict(zip(exits["person_id"], exits["reason"], strict=True))
    assert "cause" in removed.columns, "the refresh does not call removal_causes yet"
    for column in ("cause", "cause_text"):
        assert dict(zip(removed["person_id"], removed[column], strict=True)) == \
            dict(zip(exits["person_id"], exits[column], strict=True))


def test_the_catalogue_defaults_to_the_one_the_later_run_used_and_a_different_one_is_said(two_extracts, tmp_path):
    store, catalogue = two_extracts["store"], two_extracts["defs"].catalogue
    recorded = compare_runs(store, T0, T1)
    assert by_person(recorded) == by_person(compare_runs(store, T0, T1, catalogue=catalogue))
    assert recorded["catalogue"]["same_as_later_run"] and not recorded["catalogue"]["text"]
    other = dataclasses.replace(catalogue, sha256="f" * 64)
    note = compare_runs(store, T0, T1, catalogue=other)["catalogue"]
    assert not note["same_as_later_run"] and "is not the one the run of 2026-09-30 used" in note["text"]


def test_run_evidence_reads_many_people_at_once_as_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setattr(detail_codec, "CHUNK_ROWS", 7)  # many chunks, people split across them
    b = ExtractBuilder(as_of=T0)
    for k in range(12):
        b.person(f"P{k:02d}", age=15)
        for j in range(k % 4 + 1):
            dated(b, f"P{k:02d}", "knife_possession", days(20 + 30 * j), outcome="convicted")
    filler(b, T0)
    result = refresh(b.write(tmp_path / "x"), T0, tmp_path, pinned())
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}", create=False)
    wanted = ["P11", "P00", "P05", "P06", "NOBODY"]
    batch = run_evidence(store, result.run_id, wanted)
    one_by_one = pd.concat([store.person(result.run_id, p)[2].drop(columns="run_id") for p in wanted],
                           ignore_index=True)
    key = ["person_id", "event_id"]
    assert len(batch) == len(one_by_one) == 4 + 1 + 2 + 3
    pd.testing.assert_frame_equal(batch.sort_values(key, ignore_index=True),
                                  one_by_one[batch.columns].sort_values(key, ignore_index=True), check_dtype=False)
    assert run_evidence(store, result.run_id, []).empty


# --------------------------------------------------------------------------------------------
# The quarterly synthetic force: the causes reconcile with its ground truth


@pytest.fixture(scope="module")
def quarters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quarters")
    defs = pinned()
    days_ = parse_quarters("2026Q2..2026Q3")
    # re-keys common and half of them unannounced, so that the cohort holds some of each
    force = generate_quarters(people=3000, seed=7, quarters=days_, catalogue=defs.catalogue, rekey_share=0.05,
                              unannounced_share=0.5)
    write_quarters(force, tmp / "q")
    results = [refresh(extract_folder(tmp / "q", d), d, tmp, defs) for d in days_]
    return {"folder": tmp / "q", "db": tmp / "history.db", "days": days_, "defs": defs, "results": results}


def test_causes_reconcile_exactly_with_the_synthetic_forces_ground_truth(quarters):
    store = open_store(f"sqlite:///{quarters['db']}", create=False)
    t0, t1 = quarters["days"]
    found = reconcile(store, quarters["folder"], t0, t1, quarters["defs"])
    moved = found["moved"]
    assert len(moved) >= 10
    assert (moved["cause"] == moved["expected"]).all(), moved[moved["cause"] != moved["expected"]]
    flags = found["flags"].set_index("person_id")
    by_cause = moved.set_index("person_id")["cause"]
    assert {"id_change", "no_longer_eligible"} <= set(by_cause)
    unannounced = flags.index[flags["rekeyed_unannounced"]]  # probable re-keys the refresh reported
    assert len(unannounced) and set(by_cause[by_cause == "id_change"].index) == set(unannounced)
    announced = flags.index[flags["rekeyed_announced"]]  # followed through the aliases file: the re-key moves no one
    assert not (by_cause[announced] == "id_change").any()
    corrected = by_cause[by_cause == "record_correction"].index
    assert (flags.loc[corrected, "outcome_weakened"]).all()


def test_the_synthetic_refresh_and_hkc_movement_agree_person_by_person(quarters):
    t0, t1 = quarters["days"]
    store = open_store(f"sqlite:///{quarters['db']}", create=False)
    removed = refresh_causes(store, quarters["results"][1], quarters["defs"], t0).set_index("person_id")
    exits = pd.DataFrame(compare_runs(store, t0, t1, catalogue=quarters["defs"].catalogue)["exits"]) \
        .set_index("person_id")
    assert len(removed) and removed["cause"].to_dict() == exits["cause"].to_dict()
    assert set(removed["cause"]) <= set(CAUSES)


def test_a_missing_catalogue_file_is_refused_with_a_line(two_extracts, monkeypatch):
    store = two_extracts["store"]
    real = store.manifest
    monkeypatch.setattr(store, "manifest", lambda run_id: real(run_id) | {
        "config_files": {"catalogue": {"path": "/nowhere/indicators.toml", "sha256": "0" * 64}}})
    with pytest.raises(HistoryError, match="is not there to tell an event that aged out from one that was removed"):
        compare_runs(store, T0, T1)
