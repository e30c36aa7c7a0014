"""Scores, eligibility and rationale (hkc.matrix.scoring).

Expected scores are recomputed by hand from the formula in ``hkc/features.py``; reason texts are
compared with the templates in :data:`hkc.matrix.scoring.REASONS`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkc.definitions.catalogue import load_catalogue
from hkc.definitions.settings import load_settings
from hkc.extract.contract import OUTCOME_CODES, ROLE_CODES
from hkc.extract.load import load_extract
from hkc.matrix.cohort import select_cohort
from hkc.matrix.scoring import REASONS, ScoreResult, ages_at, format_points, rationale, score_people
from tests.builders import ExtractBuilder

ROOT = Path(__file__).parents[1]
AS_OF = dt.date(2026, 9, 30)
CATALOGUE = load_catalogue(ROOT / "features" / "indicators.toml")
SETTINGS = load_settings(ROOT / "config" / "hkc.toml")
ELIGIBILITY = SETTINGS.eligibility
PTS = re.compile(r"(\d+(?:\.\d)?) pts")


def score(builder: ExtractBuilder, *, eligibility=ELIGIBILITY, as_of: dt.date = AS_OF,
          extract_date: dt.date | None = None) -> ScoreResult:
    """Write the builder's extract, load it back validated, and score it."""
    with tempfile.TemporaryDirectory() as folder:
        extract = load_extract(builder.write(Path(folder)), catalogue=CATALOGUE,
                               extract_date=extract_date or builder.as_of)
    assert extract.rejects.empty, extract.rejects.to_dict("records")
    return score_people(extract.people, extract.events, catalogue=CATALOGUE, eligibility=eligibility,
                        as_of=as_of)


def row(result: ScoreResult, person_id: str) -> pd.Series:
    return result.scores.set_index("person_id").loc[person_id]


def eligibility(**changes):
    return dataclasses.replace(ELIGIBILITY, **changes)


# Intelligence and stop-search finds alone list nobody by default (police-generated, and below the
# minimum score): these rules let them, to test corroboration and outcomes on their own.
INTEL_ALONE = eligibility(allow_police_generated_only=True, min_risk_score=0.1)


def uncorroborated(reports: int, usable: int, sources: int, credible: int, *, days: int = 365, need: int = 2) -> str:
    return REASONS["intel_uncorroborated"].format(
        reports=f"{reports} report{'s' * (reports != 1)}", days=days, usable=usable, usable_grades="A-D/1-3",
        sources=f"{sources} source{'s' * (sources != 1)}", credible=credible, credible_grades="A-C/1-3", need=need)


def by_hand(code: str, *, age_days: int, evidence: float = 1.0, k: int = 0) -> float:
    ind = CATALOGUE.indicators[code]
    if k >= ind.frequency_cap:
        return 0.0
    return ind.gravity * evidence * 0.5 ** (age_days / ind.half_life_days) * ind.frequency_decay ** k


@pytest.fixture
def builder():
    """An empty extract as of AS_OF; a bystander keeps events.csv non-empty."""
    b = ExtractBuilder(AS_OF).person("BYSTANDER", age=30)
    b.event("BYSTANDER", "robbery", days_ago=10, outcome="convicted")
    return b


# --------------------------------------------------------------------------------------------
# Scores


def test_risk_and_vulnerability_scores_are_sums_of_rounded_indicator_points(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=0, outcome="convicted")
    builder.event("P1", "knife_possession", days_ago=270, outcome="convicted")
    builder.event("P1", "knife_intel", days_ago=0, grade="B2")
    builder.event("P1", "robbery", days_ago=365, outcome="charged")
    builder.event("P1", "knife_victim", days_ago=0)
    builder.event("P1", "missing_episode", days_ago=180)
    p1 = row(score(builder), "P1")
    possession = 40 + 40 * 0.5 * 0.6       # 52: the second-strongest gets decay 0.6
    intel = 12 * 0.8 * 0.8                 # 7.68 -> 7.7
    robbery = 25 * 0.8 * 0.5               # 10
    assert p1["risk_score"] == round(round(possession, 1) + round(intel, 1) + round(robbery, 1), 1) == 69.7
    assert p1["vulnerability_score"] == round(30 + 10 * 0.5, 1) == 35.0


def test_victim_role_never_adds_risk_points(builder):
    builder.person("V")
    builder.event("V", "violence", days_ago=3, role="victim", outcome="convicted")
    builder.event("V", "knife_violence", days_ago=3, role="victim", outcome="convicted")
    builder.event("V", "knife_victim", days_ago=3)
    builder.event("V", "ae_assault", days_ago=3, role="victim")
    result = score(builder)
    v = row(result, "V")
    assert v["risk_score"] == 0
    assert v["vulnerability_score"] == round(round(by_hand("knife_victim", age_days=3), 1)
                                             + round(by_hand("ae_assault", age_days=3), 1), 1)
    assert not v["eligible"]
    assert v["reason"] == REASONS["vulnerability_only"] == "vulnerability only: no risk event counts, so the risk score is 0"
    mine = result.contributions[result.contributions["person_id"] == "V"]
    assert set(mine["axis"].astype(str)) == {"vulnerability"}


def test_vulnerability_points_are_never_added_to_the_risk_score(builder):
    builder.person("A").person("B")
    for pid in ("A", "B"):
        builder.event(pid, "knife_possession", days_ago=30, outcome="convicted")
    for code in ("knife_victim", "exploitation_concern", "ae_assault", "missing_episode", "exclusion"):
        builder.event("B", code, days_ago=30)
    result = score(builder)
    assert row(result, "A")["risk_score"] == row(result, "B")["risk_score"]
    assert row(result, "B")["vulnerability_score"] > 0 == row(result, "A")["vulnerability_score"]


def test_scores_use_only_events_on_or_before_the_as_of_date(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=0, outcome="convicted")
    builder.event("P1", "knife_violence", days_ago=-1, outcome="convicted")
    result = score(builder, extract_date=AS_OF + dt.timedelta(days=20))
    assert row(result, "P1")["risk_score"] == 40.0
    assert row(result, "P1")["latest_weapon_date"] == pd.Timestamp(AS_OF)


def test_scores_frame_has_one_row_per_person_in_people_order(builder):
    builder.person("Z").person("A")
    result = score(builder)
    assert result.scores["person_id"].tolist() == ["BYSTANDER", "Z", "A"]
    assert result.scores["person_idx"].tolist() == [0, 1, 2]
    for column in ("person_id", "age", "risk_score", "vulnerability_score", "eligible", "reason",
                   "latest_weapon_date"):
        assert column in result.scores


# --------------------------------------------------------------------------------------------
# Eligibility: who may be listed, and why not


def test_recent_convicted_weapon_offence_makes_a_person_eligible(builder):
    builder.person("P1").event("P1", "knife_possession", days_ago=30, outcome="convicted")
    p1 = row(score(builder), "P1")
    assert p1["eligible"]
    assert p1["reason"] == ""
    assert p1["weapon_events"] == 1


def age_reason(age: int) -> str:
    """The reason the default age range (10-17) gives, with the gap worked out by hand."""
    if age < 10:
        return REASONS["age_under"].format(age=age, gap="1 year" if age == 9 else f"{10 - age} years", min_age=10)
    return REASONS["age_over"].format(age=age, gap="1 year" if age == 18 else f"{age - 17} years", max_age=17)


@pytest.mark.parametrize(("age", "eligible"), [(9, False), (10, True), (16, True), (17, True), (18, False),
                                               (24, False), (40, False)])
def test_age_must_be_within_the_configured_range(builder, age, eligible):
    builder.person("P1", age=age).event("P1", "knife_possession", days_ago=30, outcome="convicted")
    p1 = row(score(builder), "P1")
    assert p1["age"] == age
    assert p1["eligible"] == eligible
    assert p1["reason"] == ("" if eligible else age_reason(age))


def test_age_reasons_name_the_limit_and_the_gap(builder):
    builder.person("OLD", age=24).person("YOUNG", age=8)
    for pid in ("OLD", "YOUNG"):
        builder.event(pid, "knife_possession", days_ago=30, outcome="convicted")
    result = score(builder)
    assert row(result, "OLD")["reason"] == "age 24 is 7 years above the maximum age 17 at the as-of date"
    assert row(result, "YOUNG")["reason"] == "age 8 is 2 years below the minimum age 10 at the as-of date"


def test_a_young_adults_programme_lists_up_to_its_own_maximum_age(builder):
    builder.person("P1", age=24).event("P1", "knife_possession", days_ago=30, outcome="convicted")
    assert row(score(builder, eligibility=eligibility(max_age=24)), "P1")["eligible"]


@pytest.mark.parametrize(("born", "age", "eligible"), [
    (dt.date(2008, 9, 30), 18, False),   # 18th birthday on the as-of date: too old from that day
    (dt.date(2008, 10, 1), 17, True),    # 18th birthday the day after
    (dt.date(2016, 9, 30), 10, True),    # 10th birthday on the as-of date: old enough that day
    (dt.date(2016, 10, 1), 9, False),    # 10th birthday the day after
])
def test_a_birthday_on_the_as_of_date_counts(builder, born, age, eligible):
    builder.person("P1", date_of_birth=born.isoformat())
    builder.event("P1", "knife_possession", days_ago=30, outcome="convicted")
    p1 = row(score(builder), "P1")
    assert p1["age"] == age
    assert p1["eligible"] == eligible
    assert p1["reason"] == ("" if eligible else age_reason(age))


def test_ages_at_counts_whole_years_with_the_birthday_inclusive():
    dob = pd.Series(pd.to_datetime(["2010-09-30", "2010-10-01", "2010-09-29", "2008-02-29"]))
    assert ages_at(dob, AS_OF).tolist() == [16, 15, 16, 18]


def test_person_born_after_the_as_of_date_is_not_eligible(builder):
    builder.person("UNBORN", date_of_birth=(AS_OF + dt.timedelta(days=1)).isoformat())
    result = score(builder, extract_date=AS_OF + dt.timedelta(days=5))
    assert not row(result, "UNBORN")["eligible"]
    assert row(result, "UNBORN")["reason"] == REASONS["not_born"].format(days="1 day") == \
        "born 1 day after the as-of date"


def test_vulnerability_only_person_is_not_eligible(builder):
    builder.person("P1").event("P1", "exploitation_concern", days_ago=10)
    p1 = row(score(builder), "P1")
    assert (p1["eligible"], p1["reason"], p1["risk_score"]) == (False, REASONS["vulnerability_only"], 0)


def test_person_with_no_events_is_not_eligible(builder):
    builder.person("P1")
    p1 = row(score(builder), "P1")
    assert (p1["eligible"], p1["reason"], p1["risk_score"]) == (False, REASONS["no_events"], 0)


def test_person_whose_events_are_all_outside_the_lookback_has_no_counting_events(builder):
    builder.person("P1", age=16).event("P1", "knife_violence", days_ago=1200, outcome="convicted")
    p1 = row(score(builder), "P1")
    assert (p1["eligible"], p1["reason"], p1["risk_score"]) == (False, REASONS["no_events"], 0)


def test_weapon_event_dated_after_the_as_of_date_does_not_qualify(builder):
    builder.person("P1").event("P1", "knife_possession", days_ago=-1, outcome="convicted")
    p1 = row(score(builder, extract_date=AS_OF + dt.timedelta(days=10)), "P1")
    assert (p1["eligible"], p1["reason"]) == (False, REASONS["no_events"])


def test_stale_weapon_history_older_than_the_review_window_is_not_eligible(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=400, outcome="convicted")  # lookback 730
    builder.event("P1", "knife_violence", days_ago=600, outcome="convicted")    # lookback 1095
    p1 = row(score(builder), "P1")
    assert p1["risk_score"] > 0  # the history still scores ...
    assert not p1["eligible"]    # ... but lists nobody, naming the latest weapon event and its age
    assert p1["reason"] == REASONS["stale_weapon"].format(event="possession of a bladed article, convicted",
                                                          age=400, days=365)
    assert p1["reason"] == ("latest weapon-related event is 400 days old; the review window is 365 days: "
                            "possession of a bladed article, convicted")


def test_no_weapon_event_in_any_lookback_says_so(builder):
    builder.person("P1").event("P1", "robbery", days_ago=5, outcome="convicted")
    assert row(score(builder), "P1")["reason"] == "no weapon-related risk event in the last 365 days"


@pytest.mark.parametrize(("days_ago", "eligible"), [(100, True), (101, False)])
def test_review_window_includes_an_event_exactly_review_window_days_old(builder, days_ago, eligible):
    builder.person("P1").event("P1", "knife_possession", days_ago=days_ago, outcome="convicted")
    p1 = row(score(builder, eligibility=eligibility(review_window_days=100)), "P1")
    assert p1["eligible"] == eligible
    assert p1["reason"] == ("" if eligible else REASONS["stale_weapon"].format(
        event="possession of a bladed article, convicted", age=101, days=100))


@pytest.mark.parametrize("codes", [("robbery",), ("robbery", "violence", "drug_supply")])
def test_non_weapon_risk_events_alone_are_not_eligible(builder, codes):
    builder.person("P1")
    for code in codes:
        builder.event("P1", code, days_ago=5, outcome="convicted")
    p1 = row(score(builder), "P1")
    assert p1["risk_score"] > 0
    assert (p1["eligible"], p1["reason"]) == (False, REASONS["no_weapon"].format(days=365))


def test_weapon_events_in_the_window_that_were_all_nfa_do_not_qualify(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=20, outcome="nfa")
    builder.event("P1", "knife_violence", days_ago=40, outcome="nfa")
    builder.event("P1", "knife_violence", days_ago=500, outcome="convicted")  # stale: does not rescue
    p1 = row(score(builder), "P1")
    assert p1["risk_score"] > 0
    assert not p1["eligible"]
    assert p1["reason"] == REASONS["weapon_not_qualifying"].format(count="2 reported weapon-related events",
                                                                   days=365, outcomes="nfa")
    assert p1["reason"] == "2 reported weapon-related events in the last 365 days, all with outcome nfa: none qualifies"


def test_one_qualifying_weapon_event_beside_nfa_ones_makes_a_person_eligible(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=20, outcome="nfa")
    builder.event("P1", "knife_possession", days_ago=40, outcome="charged")
    assert row(score(builder), "P1")["eligible"]


def test_configured_non_qualifying_outcomes_are_named_in_the_reason(builder):
    builder.person("P1").event("P1", "knife_possession", days_ago=20, outcome="pending")
    rules = eligibility(non_qualifying_outcomes=("nfa", "pending"))
    p1 = row(score(builder, eligibility=rules), "P1")
    assert p1["reason"] == REASONS["weapon_not_qualifying"].format(count="1 reported weapon-related event",
                                                                   days=365, outcomes="nfa/pending")


@pytest.mark.parametrize(("code", "outcome"), [("search_weapon_found", ""), ("knife_possession", ""),
                                               ("knife_violence", "cautioned"), ("knife_violence", "charged")])
def test_weapon_events_without_an_nfa_outcome_qualify(builder, code, outcome):
    builder.person("P1").event("P1", code, days_ago=20, outcome=outcome)
    assert row(score(builder, eligibility=INTEL_ALONE), "P1")["eligible"]


def test_a_single_intelligence_report_is_not_corroboration(builder):
    builder.person("P1").event("P1", "knife_intel", days_ago=10, grade="A1")
    p1 = row(score(builder, eligibility=INTEL_ALONE), "P1")
    assert p1["risk_score"] > 0
    assert not p1["eligible"]
    assert p1["reason"] == uncorroborated(reports=1, usable=1, sources=1, credible=1)


def test_two_intelligence_reports_on_the_same_date_are_not_corroboration(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=10, grade="A1")
    builder.event("P1", "knife_intel", days_ago=10, grade="B2")
    p1 = row(score(builder, eligibility=INTEL_ALONE), "P1")
    assert not p1["eligible"]
    assert p1["intelligence_reports"] == 1
    assert p1["reason"] == uncorroborated(reports=1, usable=1, sources=1, credible=1)


def test_two_intelligence_reports_on_different_dates_are_corroboration(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=10, grade="C3")
    builder.event("P1", "knife_intel", days_ago=11, grade="C3")
    p1 = row(score(builder, eligibility=INTEL_ALONE), "P1")
    assert p1["eligible"]
    assert p1["reason"] == ""
    assert p1["intelligence_reports"] == 2


def test_same_date_reports_corroborate_when_distinct_dates_are_not_required(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=10, grade="A1")
    builder.event("P1", "knife_intel", days_ago=10, grade="B2")
    rules = dataclasses.replace(INTEL_ALONE, intelligence_distinct_dates=False)
    assert row(score(builder, eligibility=rules), "P1")["eligible"]


def test_corroboration_needs_the_configured_number_of_reports(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=10, grade="A1")
    builder.event("P1", "knife_intel", days_ago=20, grade="A1")
    rules = dataclasses.replace(INTEL_ALONE, min_intelligence_reports=3)
    p1 = row(score(builder, eligibility=rules), "P1")
    assert p1["reason"] == uncorroborated(reports=2, usable=2, sources=1, credible=2, need=3)


def test_intelligence_reports_older_than_the_review_window_do_not_corroborate(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=10, grade="A1")
    builder.event("P1", "knife_intel", days_ago=200, grade="A1")
    p1 = row(score(builder, eligibility=dataclasses.replace(INTEL_ALONE, review_window_days=100)), "P1")
    assert p1["reason"] == uncorroborated(reports=1, usable=1, sources=1, credible=1, days=100)


def test_corroborated_intelligence_qualifies_beside_nfa_weapon_events(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=20, outcome="nfa")
    builder.event("P1", "knife_intel", days_ago=10, grade="B2")
    builder.event("P1", "knife_intel", days_ago=30, grade="B2")
    assert row(score(builder, eligibility=INTEL_ALONE), "P1")["eligible"]


def test_risk_score_below_the_minimum_is_not_eligible(builder):
    builder.person("P1").event("P1", "knife_possession", days_ago=0, outcome="pending")  # 20 points
    p1 = row(score(builder, eligibility=eligibility(min_risk_score=50.0)), "P1")
    assert not p1["eligible"]
    assert p1["reason"] == REASONS["low_score"].format(score="20", gap="30", minimum="50")
    assert p1["reason"] == "risk score 20 is 30 points below the minimum 50"


def test_latest_weapon_date_is_the_newest_weapon_event_in_the_review_window(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=40, outcome="convicted")
    builder.event("P1", "knife_intel", days_ago=15, grade="B2")
    builder.event("P1", "robbery", days_ago=2, outcome="convicted")  # not weapon-related
    assert row(score(builder), "P1")["latest_weapon_date"] == pd.Timestamp(AS_OF - dt.timedelta(days=15))


def test_every_ineligible_person_has_a_reason_and_no_eligible_person_has_one():
    result = score(mixed_population(np.random.default_rng(7), n_background=40))
    s = result.scores
    assert (s.loc[s["eligible"], "reason"] == "").all()
    assert (s.loc[~s["eligible"], "reason"] != "").all()
    templates = [re.escape(t).replace(r"\{", "{").replace(r"\}", "}") for t in REASONS.values()]
    patterns = [re.compile("^" + re.sub(r"\{[a-z_]+\}", ".+", t) + "$") for t in templates]
    for reason in s.loc[~s["eligible"], "reason"]:
        assert any(p.match(reason) for p in patterns), reason


# --------------------------------------------------------------------------------------------
# A mixed population: planted people rank first


LESSER_EVENTS = [  # (type, days_ago range, outcomes or grades)
    ("robbery", (0, 1000), OUTCOME_CODES),
    ("violence", (0, 700), OUTCOME_CODES),
    ("drug_supply", (0, 700), OUTCOME_CODES),
    ("knife_intel", (0, 360), ("A1", "B2", "C3", "D4", "")),
    ("knife_possession", (200, 700), ("pending", "nfa", "cautioned")),
    ("search_weapon_found", (100, 700), ("",)),
    ("knife_victim", (0, 1000), ("",)),
    ("missing_episode", (0, 360), ("",)),
]
PLANTED = ["PLANT1", "PLANT2", "PLANT3", "PLANT4"]


def mixed_population(rng: np.random.Generator, *, n_background: int = 50) -> ExtractBuilder:
    """Background people with one to four random lesser events; planted recent convicted carriers;
    victims only; stale weapon history only."""
    b = ExtractBuilder(AS_OF)
    for i in range(n_background):
        pid = f"BG{i:03d}"
        b.person(pid, age=int(rng.integers(12, 24)))
        for _ in range(int(rng.integers(1, 5))):
            code, (lo, hi), evidence = LESSER_EVENTS[rng.integers(len(LESSER_EVENTS))]
            value = str(evidence[rng.integers(len(evidence))])
            kind = CATALOGUE.indicators[code].evidence
            b.event(pid, code, days_ago=int(rng.integers(lo, hi + 1)),
                    outcome=value if kind == "outcome" else "", grade=value if kind == "grade" else "")
    for pid in PLANTED:
        b.person(pid, age=int(rng.integers(14, 18)))  # children: the default age range is 10-17
        b.event(pid, "knife_violence", days_ago=int(rng.integers(5, 60)), outcome="convicted")
        b.event(pid, "knife_possession", days_ago=int(rng.integers(5, 60)), outcome="convicted")
    for i in range(3):
        b.person(f"VICTIM{i}").event(f"VICTIM{i}", "knife_victim", days_ago=10 + i)
        b.event(f"VICTIM{i}", "violence", days_ago=10 + i, role="victim", outcome="convicted")
    for i in range(3):
        b.person(f"STALE{i}").event(f"STALE{i}", "knife_violence", days_ago=400 + 50 * i, outcome="convicted")
    return b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_recent_convicted_weapon_offenders_rank_above_everyone_else(seed):
    # The default evidence floor leaves the background little competition (none for seeds 1 and 3);
    # under looser rules (police-generated evidence alone, any score) they compete, and the planted
    # still rank first.
    result = score(mixed_population(np.random.default_rng(seed)), eligibility=INTEL_ALONE)
    cohort = select_cohort(result.scores, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    ranked = cohort.ranked["person_id"].tolist()
    assert set(ranked[: len(PLANTED)]) == set(PLANTED)
    assert len(ranked) > len(PLANTED)  # there was competition
    s = result.scores.set_index("person_id")
    assert s.loc[PLANTED, "risk_score"].min() > s.drop(index=PLANTED)["risk_score"].max()
    listed = set(cohort.members["person_id"])
    for pid in ("VICTIM0", "VICTIM1", "VICTIM2"):
        assert s.loc[pid, "risk_score"] == 0
        assert pid not in listed
    for i, pid in enumerate(("STALE0", "STALE1", "STALE2")):
        assert pid not in listed
        assert s.loc[pid, "reason"] == REASONS["stale_weapon"].format(
            age=400 + 50 * i, days=365, event="knife violence (assault or wounding with a blade), convicted")


# --------------------------------------------------------------------------------------------
# Properties: contributions add up; row order does not matter


@st.composite
def event_rows(draw):
    rows = []
    for _ in range(draw(st.integers(1, 16))):
        code = draw(st.sampled_from(CATALOGUE.codes))
        roles = CATALOGUE.indicators[code].roles
        rows.append({
            "person": draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
            "type": code,
            "role": draw(st.one_of(st.sampled_from(roles), st.sampled_from(ROLE_CODES))),
            "days_ago": draw(st.integers(0, 900)),
            "outcome": draw(st.sampled_from(("",) + OUTCOME_CODES)),
            "grade": draw(st.sampled_from(["", "A1", "B2", "C3", "E5"])),
        })
    return rows


def build(rows: list[dict], order: list[int] | None = None, people_order: list[str] | None = None
          ) -> ExtractBuilder:
    b = ExtractBuilder(AS_OF)
    for pid in people_order or ["P1", "P2", "P3", "P4"]:
        b.person(pid, age=18)
    for i in order if order is not None else range(len(rows)):
        r = rows[i]
        b.event(r["person"], r["type"], days_ago=r["days_ago"], role=r["role"], outcome=r["outcome"],
                grade=r["grade"], event_id=f"E{i:03d}")
    return b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows())
def test_contributions_sum_to_the_score_for_every_person(rows):
    result = score(build(rows))
    contrib = result.contributions
    for person in result.scores.itertuples():
        for axis, total in (("risk", person.risk_score), ("vulnerability", person.vulnerability_score)):
            mine = contrib[(contrib["person_id"] == person.person_id) & (contrib["axis"] == axis)]
            assert total == round(sum(round(p, 1) for p in mine["points"]), 1)
            assert (mine["points"] == mine["points"].round(1)).all()
    pts = result.points
    for c in contrib.itertuples():
        events = pts[(pts["person_id"] == c.person_id) & (pts["indicator"] == c.indicator)]
        assert c.count == len(events)
        assert c.points == pytest.approx(events["points"].sum(), abs=0.05 + 1e-9)
    texts = rationale(result.scores["person_id"].tolist(), result, catalogue=CATALOGUE)
    for person in result.scores.itertuples():
        named = [float(x) for x in PTS.findall(texts[person.person_id])]
        assert round(sum(named), 1) == person.risk_score


def _comparable(result: ScoreResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = (result.scores.drop(columns="person_idx").sort_values("person_id").reset_index(drop=True))
    contrib = (result.contributions.drop(columns="person_idx").astype({"indicator": str, "axis": str})
               .sort_values(["person_id", "axis", "indicator"]).reset_index(drop=True))
    return scores, contrib


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows(), seed=st.integers(0, 2**32 - 1))
def test_shuffling_rows_does_not_change_scores_or_contributions(rows, seed):
    rng = np.random.default_rng(seed)
    first = score(build(rows))
    second = score(build(rows, order=rng.permutation(len(rows)).tolist(),
                         people_order=rng.permutation(["P1", "P2", "P3", "P4"]).tolist()))
    for a, b in zip(_comparable(first), _comparable(second), strict=True):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("seed", [11, 12])
def test_shuffling_a_population_does_not_change_scores_contributions_or_cohort_ranks(seed):
    original = mixed_population(np.random.default_rng(5), n_background=40)
    shuffled = ExtractBuilder(AS_OF)
    rng = np.random.default_rng(seed)
    shuffled.people = [original.people[i] for i in rng.permutation(len(original.people))]
    shuffled.events = [original.events[i] for i in rng.permutation(len(original.events))]
    first, second = score(original), score(shuffled)
    for a, b in zip(_comparable(first), _comparable(second), strict=True):
        pd.testing.assert_frame_equal(a, b)
    ranks = [select_cohort(r.scores, cohort=SETTINGS.cohort, rag=SETTINGS.rag).ranked
             [["person_id", "priority_rank"]] for r in (first, second)]
    pd.testing.assert_frame_equal(ranks[0], ranks[1])


def _load(builder: ExtractBuilder):
    with tempfile.TemporaryDirectory() as folder:
        return load_extract(builder.write(Path(folder)), catalogue=CATALOGUE, extract_date=builder.as_of)


def _small_population() -> ExtractBuilder:
    b = ExtractBuilder(AS_OF).person("A").person("B").person("C")
    b.event("A", "knife_possession", days_ago=0, outcome="convicted")
    b.event("B", "robbery", days_ago=0, outcome="convicted")
    b.event("C", "knife_victim", days_ago=0)
    return b


def test_row_order_of_the_events_frame_does_not_change_scores():
    extract = _load(_small_population())
    first = score_people(extract.people, extract.events, catalogue=CATALOGUE, eligibility=ELIGIBILITY,
                         as_of=AS_OF)
    second = score_people(extract.people, extract.events.iloc[::-1], catalogue=CATALOGUE,
                          eligibility=ELIGIBILITY, as_of=AS_OF)
    for a, b in zip(_comparable(first), _comparable(second), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_row_order_of_the_people_frame_does_not_change_anyones_scores():
    # score_people(people, events, ...) is the notebook entry point: people in another row order
    # (sorted, say) must not move one person's evidence onto another.
    extract = _load(_small_population())
    first = score_people(extract.people, extract.events, catalogue=CATALOGUE, eligibility=ELIGIBILITY,
                         as_of=AS_OF)
    second = score_people(extract.people.iloc[::-1], extract.events, catalogue=CATALOGUE,
                          eligibility=ELIGIBILITY, as_of=AS_OF)
    assert row(second, "A")["risk_score"] == row(first, "A")["risk_score"] == 40.0
    assert row(second, "C")["risk_score"] == row(first, "C")["risk_score"] == 0.0
    for a, b in zip(_comparable(first), _comparable(second), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_extract_with_no_counting_events_scores_everyone_zero_and_lists_nobody():
    b = ExtractBuilder(AS_OF).person("A").person("B")
    b.event("A", "knife_possession", days_ago=3000, outcome="convicted")
    result = score(b)
    assert result.points.empty and result.contributions.empty
    assert result.scores["risk_score"].tolist() == [0.0, 0.0]
    assert result.scores["reason"].tolist() == [REASONS["no_events"]] * 2
    assert rationale(["A", "B"], result, catalogue=CATALOGUE) == {"A": "", "B": ""}
    assert select_cohort(result.scores, cohort=SETTINGS.cohort, rag=SETTINGS.rag).members.empty


def test_the_same_extract_scored_twice_gives_identical_frames():
    b = mixed_population(np.random.default_rng(9), n_background=20)
    first, second = score(b), score(b)
    pd.testing.assert_frame_equal(first.scores, second.scores)
    pd.testing.assert_frame_equal(first.contributions, second.contributions)
    pd.testing.assert_frame_equal(first.points, second.points)


# --------------------------------------------------------------------------------------------
# Rationale


def test_rationale_reads_as_one_sentence_per_person(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=0, outcome="convicted")
    builder.event("P1", "knife_possession", days_ago=270, outcome="convicted")
    builder.event("P1", "knife_intel", days_ago=10, grade="B2")
    builder.event("P1", "knife_intel", days_ago=20)
    result = score(builder)
    intel = round(by_hand("knife_intel", age_days=10, evidence=0.64)
                  + by_hand("knife_intel", age_days=20, evidence=0.3, k=1), 1)
    assert intel == 9.7
    assert rationale(["P1"], result, catalogue=CATALOGUE) == {"P1": (
        "Possession of a bladed article ×2, latest 30 Sep 2026 (convicted), 52 pts; "
        "intelligence: carrying a knife ×2, latest 20 Sep 2026 (B2, ungraded), 9.7 pts")}
    assert row(result, "P1")["risk_score"] == 61.7


def test_rationale_names_every_contributing_risk_indicator_with_its_label(builder):
    builder.person("P1")
    codes = [i.code for i in CATALOGUE.on_axis("risk")]
    for code in codes:
        builder.event("P1", code, days_ago=30, outcome="charged", grade="B2")
    result = score(builder)
    text = rationale(["P1"], result, catalogue=CATALOGUE)["P1"].lower()
    for code in codes:
        assert CATALOGUE.indicators[code].label.lower() in text, code
    assert text.count(" pts") == len(codes)
    for ind in CATALOGUE.on_axis("vulnerability"):
        assert ind.label.lower() not in text


def test_rationale_points_add_up_to_the_risk_score_for_every_cohort_member():
    result = score(mixed_population(np.random.default_rng(4)))
    members = select_cohort(result.scores, cohort=SETTINGS.cohort, rag=SETTINGS.rag).members
    texts = rationale(members["person_id"].tolist(), result, catalogue=CATALOGUE)
    contrib = result.contributions
    for m in members.itertuples():
        named = [float(x) for x in PTS.findall(texts[m.person_id])]
        assert round(sum(named), 1) == m.risk_score, texts[m.person_id]
        mine = contrib[(contrib["person_id"] == m.person_id) & (contrib["axis"] == "risk")
                       & (contrib["points"] > 0)]
        assert len(named) == len(mine)
        for code in mine["indicator"].astype(str):
            assert CATALOGUE.indicators[code].label.lower() in texts[m.person_id].lower()


def test_rationale_lists_the_strongest_indicator_first(builder):
    builder.person("P1")
    builder.event("P1", "robbery", days_ago=5, outcome="convicted")           # ~25
    builder.event("P1", "knife_violence", days_ago=5, outcome="convicted")    # ~60
    builder.event("P1", "search_weapon_found", days_ago=5)                   # ~30
    text = rationale(["P1"], score(builder), catalogue=CATALOGUE)["P1"]
    named = [float(x) for x in PTS.findall(text)]
    assert named == sorted(named, reverse=True)
    assert text.startswith("Knife violence (assault or wounding with a blade) ×1")


def test_rationale_shows_the_outcome_mix_strongest_first(builder):
    builder.person("P1")
    builder.event("P1", "knife_possession", days_ago=5, outcome="charged")
    builder.event("P1", "knife_possession", days_ago=6, outcome="nfa")
    builder.event("P1", "knife_possession", days_ago=7, outcome="charged")
    builder.event("P1", "knife_possession", days_ago=8, outcome="convicted")
    builder.event("P1", "knife_possession", days_ago=9, outcome="")
    text = rationale(["P1"], score(builder), catalogue=CATALOGUE)["P1"]
    assert "(convicted ×1, charged ×2, nfa ×1, no outcome ×1)" in text
    assert "×5, latest 25 Sep 2026" in text


def test_rationale_shows_distinct_grades_and_no_note_for_unevidenced_types(builder):
    builder.person("P1")
    builder.event("P1", "knife_intel", days_ago=5, grade="C3")
    builder.event("P1", "knife_intel", days_ago=6, grade="B2")
    builder.event("P1", "knife_intel", days_ago=7, grade="B2")
    builder.event("P1", "search_weapon_found", days_ago=5)
    text = rationale(["P1"], score(builder), catalogue=CATALOGUE)["P1"]
    search = round(by_hand("search_weapon_found", age_days=5), 1)
    intel = round(by_hand("knife_intel", age_days=6, evidence=0.64)
                  + by_hand("knife_intel", age_days=7, evidence=0.64, k=1)
                  + by_hand("knife_intel", age_days=5, evidence=0.36, k=2), 1)
    assert (search, intel) == (29.4, 14.8)
    assert text == ("Weapon found in a stop and search ×1, latest 25 Sep 2026, 29.4 pts; "
                    "intelligence: carrying a knife ×3, latest 25 Sep 2026 (B2, C3), 14.8 pts")


def test_rationale_on_the_vulnerability_axis_names_vulnerability_indicators_only(builder):
    builder.person("P1")
    builder.event("P1", "knife_victim", days_ago=0)
    builder.event("P1", "knife_possession", days_ago=0, outcome="convicted")
    result = score(builder)
    assert rationale(["P1"], result, catalogue=CATALOGUE, axis="vulnerability") == {
        "P1": "Victim of knife crime ×1, latest 30 Sep 2026, 30 pts"}


def test_rationale_is_empty_for_a_person_without_risk_points(builder):
    builder.person("V").event("V", "knife_victim", days_ago=3)
    assert rationale(["V"], score(builder), catalogue=CATALOGUE) == {"V": ""}


@pytest.mark.parametrize(("value", "text"), [(52.0, "52"), (9.7, "9.7"), (0.0, "0"), (100.04, "100")])
def test_format_points_drops_a_trailing_zero_decimal(value, text):
    assert format_points(value) == text
