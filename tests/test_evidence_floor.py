"""The evidence floor (issue #16): nobody is listed without recent, corroborated, reported weapon evidence.

A 17-year-old was listed on 0.3 points from two intelligence reports graded E5 a day apart;
"corroborated" meant two dates; ``top_n = 50`` listed 50 whoever they were; the age range 10-24
put adults on a children's list.  Each rule is tested on its own (other rules loosened), then
together with the shipped defaults, and each reason must name its rule and the amount.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkc.definitions.catalogue import load_catalogue
from hkc.definitions.settings import CohortSettings, EligibilitySettings, load_settings
from hkc.extract.load import load_extract
from hkc.history.review import explain_person
from hkc.history.store import open_store
from hkc.matrix.cohort import select_cohort
from hkc.matrix.scoring import REASONS, ScoreResult, score_people
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

ROOT = Path(__file__).parents[1]
AS_OF = dt.date(2026, 9, 30)
CATALOGUE = load_catalogue(ROOT / "features" / "indicators.toml")
SETTINGS = load_settings(ROOT / "config" / "hkc.toml")
DEFAULTS = SETTINGS.eligibility
# Police-generated evidence allowed and any score: only the corroboration rule stands between
# intelligence and a listing.
INTEL_ALONE = dataclasses.replace(DEFAULTS, allow_police_generated_only=True, min_risk_score=0.1)
GRADES = [f"{s}{a}" for s in "ABCDE" for a in "12345"]
SOURCES = ["police", "education", "social_care", "youth_justice"]


def score(builder: ExtractBuilder, *, eligibility: EligibilitySettings = DEFAULTS) -> ScoreResult:
    with tempfile.TemporaryDirectory() as folder:
        extract = load_extract(builder.write(Path(folder)), catalogue=CATALOGUE, extract_date=builder.as_of)
    assert extract.rejects.empty, extract.rejects.to_dict("records")
    return score_people(extract.people, extract.events, catalogue=CATALOGUE, eligibility=eligibility, as_of=AS_OF)


def person(result: ScoreResult, person_id: str = "P1") -> pd.Series:
    return result.scores.set_index("person_id").loc[person_id]


def listed(result: ScoreResult, cohort: CohortSettings = SETTINGS.cohort) -> list[str]:
    return select_cohort(result.scores, cohort=cohort, rag=SETTINGS.rag).members["person_id"].tolist()


def intel(*reports: tuple[str, str, int], age: int = 17) -> ExtractBuilder:
    """P1 with weapon intelligence reports ``(grade, source, days_ago)``."""
    b = ExtractBuilder(AS_OF).person("P1", age=age)
    for grade, source, days_ago in reports:
        b.event("P1", "knife_intel", days_ago=days_ago, grade=grade, source=source)
    return b


def fresh_points(code: str, *, outcome: str | None = None, grade: str | None = None, role: str = "offender") -> float:
    """Points of one event today, from the catalogue's weights (the formula in features/indicators.toml)."""
    ind = CATALOGUE.indicators[code]
    if ind.evidence == "outcome":
        evidence = CATALOGUE.outcome_multipliers[outcome or "none"]
    elif ind.evidence == "grade":
        evidence = CATALOGUE.grade_source[grade[0]] * CATALOGUE.grade_assessment[grade[1]]
    else:
        evidence = 1.0
    return ind.gravity * evidence * CATALOGUE.role_multipliers[role]


# --------------------------------------------------------------------------------------------
# 1. Corroboration: different sources, or one credible grade; E and 4-5 never count


def test_the_e5_pair_a_day_apart_lists_nobody():
    b = intel(("E5", "police", 3), ("E5", "police", 4))
    default, loose = person(score(b)), person(score(b, eligibility=INTEL_ALONE))
    assert default["age"] == 17 and default["intelligence_reports"] == 2
    assert not default["eligible"] and not loose["eligible"] and not loose["corroborated"]
    assert listed(score(b)) == [] and listed(score(b, eligibility=INTEL_ALONE)) == []
    assert loose["reason"] == ("intelligence only, not corroborated: 2 reports in the last 365 days, 0 graded "
                               "A-D/1-3 from 0 sources, 0 graded A-C/1-3; needs 2 graded A-D/1-3, from different "
                               "sources or with one graded A-C/1-3")
    assert default["reason"] == ("weapon-related evidence in the last 365 days is police-generated only "
                                 "(intelligence: carrying a knife ×2, not corroborated); at least 1 reported "
                                 "weapon-related event is needed")


@pytest.mark.parametrize(("reports", "corroborated"), [
    ((("D3", "police", 3), ("D3", "education", 40)), True),     # different sources, neither credible
    ((("D3", "police", 3), ("D3", "education", 3)), True),      # different sources on one day: two reports
    ((("B2", "police", 3), ("D3", "police", 40)), True),        # one B2 plus one other usable report
    ((("B2", "police", 3), ("B2", "police", 3)), False),        # one source, one date: one report
    ((("D3", "police", 3), ("D3", "police", 40)), False),       # one source, nothing credible
    ((("B2", "police", 3), ("E5", "police", 40)), False),       # E5 never corroborates
    ((("B2", "police", 3), ("E1", "education", 40)), False),    # source E never does
    ((("B2", "police", 3), ("A4", "education", 40)), False),    # nor assessment 4 ...
    ((("A1", "police", 3), ("B5", "police", 40)), False),       # ... or 5
    ((("B2", "police", 3), ("", "education", 40)), False),      # nor an ungraded report
    ((("C3", "police", 3), ("C3", "police", 400)), False),      # older than the review window
])
def test_corroboration_needs_different_sources_or_one_credible_grade(reports, corroborated):
    p1 = person(score(intel(*reports), eligibility=INTEL_ALONE))
    assert p1["corroborated"] == corroborated
    assert p1["eligible"] == corroborated


def corroborated_by_hand(reports: list[tuple[str, str, int]]) -> bool:
    """The rule as the issue states it, written with sets: copies from one source on one date are one
    report (usable or credible if any copy is); two usable reports, from two sources or one credible."""
    usable = {g for g in GRADES if g[0] in "ABCD" and g[1] in "123"}
    credible = {g for g in GRADES if g[0] in "ABC" and g[1] in "123"}
    merged: dict[tuple[str, int], set[str]] = {}
    for grade, source, days_ago in reports:
        if days_ago <= 365:
            merged.setdefault((source, days_ago), set()).add(grade)
    good = [(source, grades) for (source, _), grades in merged.items() if grades & usable]
    return len(good) >= 2 and (len({s for s, _ in good}) >= 2 or any(grades & credible for _, grades in good))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports=st.lists(st.tuples(st.sampled_from(GRADES + [""]), st.sampled_from(SOURCES[:3]),
                                  st.sampled_from([1, 2, 3, 200, 400])), min_size=1, max_size=5))
def test_corroboration_matches_the_rule_written_out_by_hand(reports):
    loose, default = (person(score(intel(*reports), eligibility=rules)) for rules in (INTEL_ALONE, DEFAULTS))
    expected = corroborated_by_hand(reports)
    assert loose["corroborated"] == default["corroborated"] == expected
    assert loose["eligible"] == expected     # nothing else stands in the way under the loose rules
    assert not default["eligible"]           # intelligence alone is police-generated: never by default


def test_two_reports_from_different_sources_or_one_b2_plus_one_other_corroborate_with_the_shipped_grades():
    assert (DEFAULTS.usable_grade, DEFAULTS.credible_grade, DEFAULTS.min_intelligence_reports) == ("D3", "C3", 2)
    for reports in ((("D3", "police", 3), ("D2", "education", 9)), (("B2", "police", 3), ("D1", "police", 9))):
        assert person(score(intel(*reports)))["corroborated"]


# --------------------------------------------------------------------------------------------
# 3. Police-generated evidence alone lists nobody unless a setting allows it


def test_a_single_stop_search_find_lists_nobody_by_default():
    b = ExtractBuilder(AS_OF).person("P1").event("P1", "search_weapon_found", days_ago=10)
    assert CATALOGUE.indicators["search_weapon_found"].proactive
    result = score(b)
    p1 = person(result)
    assert p1["risk_score"] == round(30 * 0.5 ** (10 / 180), 1) >= DEFAULTS.min_risk_score  # the score is enough
    assert not p1["eligible"] and listed(result) == []
    assert p1["reason"] == ("weapon-related evidence in the last 365 days is police-generated only (weapon found "
                            "in a stop and search ×1); at least 1 reported weapon-related event is needed")


def test_a_single_stop_search_find_lists_with_the_setting_on():
    b = ExtractBuilder(AS_OF).person("P1").event("P1", "search_weapon_found", days_ago=10)
    result = score(b, eligibility=dataclasses.replace(DEFAULTS, allow_police_generated_only=True))
    assert person(result)["eligible"]
    assert listed(result) == ["P1"]


def test_corroborated_intelligence_alone_lists_nobody_by_default_and_says_it_was_corroborated():
    result = score(intel(("B2", "police", 3), ("B2", "police", 30), ("A1", "police", 60)))
    p1 = person(result)
    assert p1["corroborated"] and not p1["eligible"]
    assert "(intelligence: carrying a knife ×3, corroborated)" in p1["reason"]


def test_police_generated_evidence_beside_a_reported_weapon_event_still_counts():
    b = ExtractBuilder(AS_OF).person("P1")
    b.event("P1", "knife_possession", days_ago=20, outcome="convicted")
    b.event("P1", "search_weapon_found", days_ago=5)
    p1 = person(score(b))
    assert p1["eligible"]
    assert p1["risk_score"] == round(round(40 * 0.5 ** (20 / 270), 1) + round(30 * 0.5 ** (5 / 180), 1), 1)


def test_a_reported_weapon_event_with_an_nfa_outcome_does_not_lift_a_stop_search_find():
    b = ExtractBuilder(AS_OF).person("P1")
    b.event("P1", "knife_possession", days_ago=20, outcome="nfa")
    b.event("P1", "search_weapon_found", days_ago=5)
    p1 = person(score(b))
    assert not p1["eligible"]
    assert p1["reason"] == REASONS["weapon_not_qualifying"].format(count="1 reported weapon-related event",
                                                                   days=365, outcomes="nfa")


# --------------------------------------------------------------------------------------------
# 2. A minimum score that a single weak event cannot reach


WEAK_EVENTS = [  # (type, outcome or grade, role): each alone must stay below the minimum score
    ("knife_possession", "pending", "offender"),
    ("knife_possession", "", "offender"),
    ("knife_possession", "convicted", "suspect"),
    ("knife_violence", "pending", "suspect"),
    *[("knife_intel", grade, "subject") for grade in GRADES],
]


@pytest.mark.parametrize(("code", "evidence", "role"), WEAK_EVENTS)
def test_a_single_weak_event_cannot_reach_the_minimum_score(code, evidence, role):
    kind = CATALOGUE.indicators[code].evidence
    by_hand = fresh_points(code, outcome=evidence if kind == "outcome" else None,
                           grade=evidence if kind == "grade" else None, role=role)
    assert by_hand < DEFAULTS.min_risk_score
    b = ExtractBuilder(AS_OF).person("P1").event("P1", code, days_ago=0, role=role,
                                                 outcome=evidence if kind == "outcome" else "",
                                                 grade=evidence if kind == "grade" else "")
    loose = dataclasses.replace(DEFAULTS, allow_police_generated_only=True)
    p1 = person(score(b, eligibility=loose))  # even with police-generated evidence allowed
    assert p1["risk_score"] == round(by_hand, 1)
    assert not p1["eligible"]


def test_the_minimum_score_lies_between_the_strongest_weak_event_and_a_possession_conviction():
    strongest_weak = max(fresh_points("knife_possession", outcome="pending"),
                         fresh_points("knife_intel", grade="A1"),
                         fresh_points("knife_possession", outcome="convicted", role="suspect"))
    assert strongest_weak == 24.0
    assert strongest_weak < DEFAULTS.min_risk_score <= fresh_points("knife_possession", outcome="convicted") == 40


def test_a_pending_possession_alone_is_below_the_minimum_and_says_by_how_much():
    b = ExtractBuilder(AS_OF).person("P1").event("P1", "knife_possession", days_ago=0, outcome="pending")
    p1 = person(score(b))
    assert (p1["risk_score"], p1["eligible"]) == (20.0, False)
    assert p1["reason"] == "risk score 20 is 5 points below the minimum 25"


@pytest.mark.parametrize(("days_ago", "eligible"), [(0, True), (183, True), (184, False)])
def test_a_conviction_for_possession_lists_while_it_is_recent(days_ago, eligible):
    # 40 x 0.5^(d/270) >= 25 while d <= 270 x log2(1.6) = 183.08 (the arithmetic in config/hkc.toml)
    assert (days_ago <= 270 * math.log2(40 / 25)) == eligible
    b = ExtractBuilder(AS_OF).person("P1").event("P1", "knife_possession", days_ago=days_ago, outcome="convicted")
    result = score(b)
    assert person(result)["eligible"] == eligible
    assert listed(result) == (["P1"] if eligible else [])


# --------------------------------------------------------------------------------------------
# 4. The cohort: everyone above a threshold, at most N


def scores_frame(risk: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": [f"P{i:03d}" for i in range(len(risk))], "risk_score": risk,
                         "vulnerability_score": 0.0, "eligible": True, "reason": "",
                         "latest_weapon_date": pd.Series([pd.Timestamp("2026-09-01")] * len(risk),
                                                         dtype="datetime64[s]")})


def test_the_default_cohort_is_threshold_capped():
    assert (SETTINGS.cohort.method, SETTINGS.cohort.size) == ("threshold_capped", 50)
    assert SETTINGS.cohort.min_score >= DEFAULTS.min_risk_score


def test_threshold_capped_lists_fewer_than_n_when_fewer_qualify():
    rule = CohortSettings(method="threshold_capped", size=5, min_score=45.0)
    members = select_cohort(scores_frame([90, 60, 45, 44.9, 30, 20]), cohort=rule, rag=SETTINGS.rag).members
    assert members["risk_score"].tolist() == [90, 60, 45]


def test_threshold_capped_lists_at_most_n_otherwise():
    rule = CohortSettings(method="threshold_capped", size=3, min_score=45.0)
    members = select_cohort(scores_frame([50, 90, 60, 70, 80, 20]), cohort=rule, rag=SETTINGS.rag).members
    assert members["risk_score"].tolist() == [90, 80, 70]


@settings(max_examples=200, deadline=None)
@given(risk=st.lists(st.integers(0, 1200).map(lambda x: x / 10), max_size=60), size=st.integers(1, 20),
       minimum=st.integers(0, 120).map(float))
def test_threshold_capped_lists_the_highest_qualifying_and_never_more_than_n(risk, size, minimum):
    rule = CohortSettings(method="threshold_capped", size=size, min_score=minimum)
    members = select_cohort(scores_frame(risk), cohort=rule, rag=SETTINGS.rag).members
    qualifying = sorted((r for r in risk if r >= minimum), reverse=True)
    assert members["risk_score"].tolist() == qualifying[:size]
    assert len(members) == min(size, len(qualifying))


def test_a_population_of_weak_cases_is_not_padded_out_to_fifty():
    """Three recent convictions among 60 weak cases: the defaults list the three; a top 50 with no
    evidence floor lists 43 of them, whoever they are."""
    b = ExtractBuilder(AS_OF)
    for i in range(3):
        b.person(f"STRONG{i}").event(f"STRONG{i}", "knife_possession", days_ago=10 + i, outcome="convicted")
    for i in range(20):
        b.person(f"PENDING{i}").event(f"PENDING{i}", "knife_possession", days_ago=5 + i, outcome="pending")
        b.person(f"SEARCH{i}").event(f"SEARCH{i}", "search_weapon_found", days_ago=5 + i)
        b.person(f"INTEL{i}").event(f"INTEL{i}", "knife_intel", days_ago=5, grade="E5") \
            .event(f"INTEL{i}", "knife_intel", days_ago=6 + i, grade="E5")
    assert sorted(listed(score(b))) == ["STRONG0", "STRONG1", "STRONG2"]
    no_floor = score(b, eligibility=INTEL_ALONE)
    top_50 = listed(no_floor, CohortSettings(method="top_n", size=50, min_score=0.0))
    assert len(top_50) == 43 and not any(p.startswith("INTEL") for p in top_50)  # E5 pairs: never corroborated
    capped = listed(no_floor)  # the searches (27.5-29.4 points) reach the cohort's 25; pending possessions do not
    assert sorted(capped) == sorted([f"STRONG{i}" for i in range(3)] + [f"SEARCH{i}" for i in range(20)])


# --------------------------------------------------------------------------------------------
# 5. The age range follows the programme: children by default


def test_an_18_year_old_is_not_eligible_by_default():
    b = ExtractBuilder(AS_OF).person("P1", age=18).event("P1", "knife_violence", days_ago=5, outcome="convicted")
    p1 = person(score(b))
    assert (DEFAULTS.min_age, DEFAULTS.max_age) == (10, 17)
    assert not p1["eligible"]
    assert p1["reason"] == "age 18 is 1 year above the maximum age 17 at the as-of date"
    assert person(score(b, eligibility=dataclasses.replace(DEFAULTS, max_age=24)))["eligible"]


# --------------------------------------------------------------------------------------------
# 6. Every reason names its rule and the amount


REASON_CASES = [
    ("age", lambda b: b.person("P1", age=19).event("P1", "knife_possession", days_ago=5, outcome="convicted"),
     "age 19 is 2 years above the maximum age 17 at the as-of date"),
    ("stale", lambda b: b.person("P1").event("P1", "knife_possession", days_ago=373, outcome="convicted"),
     "latest weapon-related event is 373 days old; the review window is 365 days: possession of a bladed "
     "article, convicted"),
    ("score", lambda b: b.person("P1").event("P1", "knife_possession", days_ago=120, outcome="charged"),
     "risk score 23.5 is 1.5 points below the minimum 25"),  # 40 x 0.8 x 0.5^(120/270) = 23.52
    ("outcome", lambda b: b.person("P1").event("P1", "knife_violence", days_ago=30, outcome="nfa")
     .event("P1", "knife_possession", days_ago=31, outcome="nfa"),
     "2 reported weapon-related events in the last 365 days, all with outcome nfa: none qualifies"),
    ("police", lambda b: b.person("P1").event("P1", "search_weapon_found", days_ago=30)
     .event("P1", "search_weapon_found", days_ago=60).event("P1", "knife_intel", days_ago=3, grade="C3"),
     "weapon-related evidence in the last 365 days is police-generated only (weapon found in a stop and search ×2; "
     "intelligence: carrying a knife ×1, not corroborated); at least 1 reported weapon-related event is needed"),
    ("vulnerability", lambda b: b.person("P1").event("P1", "knife_victim", days_ago=0),
     "vulnerability only: no risk event counts, so the risk score is 0"),
]


@pytest.mark.parametrize(("rule", "build", "reason"), REASON_CASES, ids=[c[0] for c in REASON_CASES])
def test_each_reason_names_the_rule_and_the_amount(rule, build, reason):
    p1 = person(score(build(ExtractBuilder(AS_OF))))
    assert not p1["eligible"]
    assert p1["reason"] == reason


def test_explain_says_which_rule_failed_and_by_how_much(tmp_path):
    b = ExtractBuilder(AS_OF)
    b.person("LISTED").event("LISTED", "knife_possession", days_ago=10, outcome="convicted")
    b.person("STALE").event("STALE", "knife_possession", days_ago=373, outcome="convicted")
    b.person("ADULT", age=18).event("ADULT", "knife_possession", days_ago=10, outcome="convicted")
    run_refresh(b.write(tmp_path / "data"), as_of=AS_OF, out=tmp_path / "out", definitions=offline_definitions(),
                db_url=f"sqlite:///{tmp_path / 'history.db'}", extract_date=AS_OF)
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    status = {pid: explain_person(store, pid)["status"] for pid in ("LISTED", "STALE", "ADULT")}
    assert status == {
        "LISTED": "listed: rank 1, red",
        "STALE": "not eligible: latest weapon-related event is 373 days old; the review window is 365 days: "
                 "possession of a bladed article, convicted",
        "ADULT": "not eligible: age 18 is 1 year above the maximum age 17 at the as-of date",
    }


def test_scores_carry_the_corroboration_flag_for_everyone():
    b = intel(("B2", "police", 3), ("D3", "police", 9))
    b.person("P2").event("P2", "knife_possession", days_ago=3, outcome="convicted")
    s = score(b).scores.set_index("person_id")
    assert s["corroborated"].dtype == np.bool_
    assert s["corroborated"].to_dict() == {"P1": True, "P2": False}
