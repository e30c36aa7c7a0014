"""The list measured against chance (hkc.model.chance): planted truths, counts by hand, and no person data.

The forces here are hand-made: every person has one convicted knife-violence event in spring 2024
(before the first origin, so never an outcome, and inside the review window at all four origins,
so everyone is eligible), and 0–3 robberies that set their risk score.  Later knife possessions —
the outcome — are planted as a Poisson process over time, so a person's past outcome events say
nothing about their future ones unless the plant says so:

* *informative*: the 50 people with the most robberies (the ones the matrix ranks highest) offend
  at a high rate, everyone else at a low one;
* *chance*: everyone offends at the same rate, whatever their score.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hkc.extract import load_extract
from hkc.matrix import score_people, select_cohort
from hkc.model import chance_line
from hkc.model.chance import MIN_LISTED, _difference, _pooled_random_range
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 3, 31)
ORIGINS = [dt.date(2024, 6, 30), dt.date(2024, 9, 30), dt.date(2024, 12, 31), dt.date(2025, 3, 31)]
PLANT_FROM, PLANT_TO = dt.date(2024, 7, 1), AS_OF


@pytest.fixture(scope="module")
def definitions():
    """The repository's definitions with the evidence floor and cohort rule pinned, so config edits don't move the plant."""
    d = offline_definitions()
    s = d.settings
    settings = dataclasses.replace(
        s, eligibility=dataclasses.replace(s.eligibility, min_age=10, max_age=17, min_risk_score=25.0,
                                           review_window_days=365, allow_police_generated_only=False),
        cohort=dataclasses.replace(s.cohort, method="threshold_capped", size=50, min_score=25.0),
        outcome=dataclasses.replace(s.outcome, types=("knife_possession", "knife_violence"),
                                    roles=("offender", "suspect"), horizon_days=365))
    return dataclasses.replace(d, settings=settings)


def _days_ago(day: dt.date) -> int:
    return (AS_OF - day).days


def build_force(folder, definitions, *, seed: int, informative: bool, people: int = 300, top: int = 50,
                history_from: dt.date = dt.date(2024, 4, 1), base_rate: float = 0.3,
                top_rate: float = 1.5, low_rate: float = 0.05, plant_from: dt.date = PLANT_FROM):
    """A force as in the module docstring; returns (extract, planted outcome events as (person, date))."""
    rng = np.random.default_rng(seed)
    b = ExtractBuilder(as_of=AS_OF)
    robberies = np.concatenate([np.full(top, 3), rng.integers(0, 2, people - top)])
    span = (PLANT_TO - plant_from).days
    planted = []
    for j in range(people):
        pid = f"zq{seed}x{j:04d}"
        b.person(pid, age=int(rng.integers(15, 18)))
        first = history_from + dt.timedelta(days=int(rng.integers(0, 60)))
        b.event(pid, "knife_violence", days_ago=_days_ago(first), outcome="convicted")
        for _ in range(robberies[j]):
            b.event(pid, "robbery", days_ago=_days_ago(first) + int(rng.integers(1, 30)), outcome="convicted")
        rate = (top_rate if j < top else low_rate) if informative else base_rate
        for _ in range(rng.poisson(rate * span / 365)):
            day = plant_from + dt.timedelta(days=int(rng.integers(0, span)))
            b.event(pid, "knife_possession", days_ago=_days_ago(day))
            planted.append((pid, day))
    folder = b.write(folder)
    return load_extract(folder, catalogue=definitions.catalogue, extract_date=AS_OF), planted


@pytest.fixture(scope="module")
def informative(tmp_path_factory, definitions):
    extract, planted = build_force(tmp_path_factory.mktemp("informative"), definitions, seed=11, informative=True)
    return extract, planted, chance_line(extract, definitions=definitions, as_of=AS_OF)


@pytest.fixture(scope="module")
def by_chance(tmp_path_factory, definitions):
    extract, planted = build_force(tmp_path_factory.mktemp("chance"), definitions, seed=12, informative=False)
    return extract, planted, chance_line(extract, definitions=definitions, as_of=AS_OF)


def test_origins_are_the_last_four_quarter_ends_whose_outcome_is_known(informative):
    _, _, result = informative
    assert result["available"] and result["origins_usable"] == 4
    assert [o["as_of"] for o in result["origins"]] == [d.isoformat() for d in ORIGINS]
    assert all(o["listed"] == 50 for o in result["origins"])  # 300 eligible, the cap binds


def test_a_ranking_that_finds_the_later_knife_events_beats_chance(informative):
    _, _, result = informative
    d = result["difference"]
    assert d["ci"][0] > 0 and not result["no_better_than_chance"] and not result["too_small"]
    assert result["pooled"]["precision"] > result["pooled"]["random_range"][1]
    s = result["sentence"]
    assert "did better than a random draw" in s and "not harm prevented" in s and "no better" not in s


def test_knife_events_at_random_among_the_eligible_are_flagged(by_chance):
    _, _, result = by_chance
    d = result["difference"]
    assert d["ci"][0] <= 0 <= d["ci"][1] and d["ci"][1] - d["ci"][0] > 0
    assert result["no_better_than_chance"] is True
    assert "did no better than chance" in result["sentence"]


def test_flagged_in_most_seeds_by_chance_and_almost_never_when_informative(tmp_path, definitions):
    """The interval's coverage under the null (flagged ≈ 95%) and its power under the plant."""
    seeds = range(100, 116)
    flagged = {True: 0, False: 0}
    for seed in seeds:
        for informative in (True, False):
            extract, _ = build_force(tmp_path / f"{seed}-{informative}", definitions, seed=seed,
                                     informative=informative, people=200, top=50)
            flagged[informative] += chance_line(extract, definitions=definitions,
                                                as_of=AS_OF)["no_better_than_chance"]
    assert flagged[False] >= 13   # 16 seeds at 95% coverage: 13 or more with probability > 0.99
    assert flagged[True] == 0


def test_pooled_figures_equal_counts_made_by_hand(informative, definitions):
    """Lists from the matrix's public functions, outcomes from the planted events, pooled with plain sums."""
    extract, planted, result = informative
    s, horizon = definitions.settings, dt.timedelta(days=365)
    # every knife possession/violence as offender in the extract: the plant and the spring-2024 history
    knife = [(pid, day) for pid, day in planted]
    history = extract.events[extract.events["type"] == "knife_violence"]
    knife += [(p, d.date()) for p, d in zip(history["person_idx"].map(extract.people["person_id"]),
                                            history["date"], strict=True)]
    hits = listed = expected = 0.0
    for origin, row in zip(ORIGINS, result["origins"], strict=True):
        scored = score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                              eligibility=s.eligibility, as_of=origin)
        chosen = select_cohort(scored.scores, cohort=s.cohort, rag=s.rag)
        later = {p for p, d in knife if origin < d <= origin + horizon}
        members, pool = set(chosen.members["person_id"]), set(chosen.ranked["person_id"])
        h = len(members & later)
        assert (row["listed"], row["hits"], row["eligible"], row["eligible_positives"]) == \
            (len(members), h, len(pool), len(pool & later))
        hits, listed = hits + h, listed + len(members)
        expected += len(members) * len(pool & later) / len(pool)
    p = result["pooled"]
    assert (p["hits"], p["listed"]) == (hits, listed)
    assert p["precision"] == pytest.approx(hits / listed)
    assert p["random_precision"] == pytest.approx(expected / listed)
    assert result["difference"]["estimate"] == pytest.approx(hits / listed - expected / listed)
    assert p["random_range"][0] <= p["random_precision"] <= p["random_range"][1]
    assert p["ci"][0] < p["precision"] < p["ci"][1]
    # the pooled interval allows for the same people listed at four origins: no narrower than a
    # Clopper-Pearson interval that treats every listing as independent
    from scipy.stats import beta
    naive = beta.ppf(0.025, hits, listed - hits + 1), beta.ppf(0.975, hits + 1, listed - hits)
    assert p["ci"][0] <= naive[0] + 1e-12 and p["ci"][1] >= naive[1] - 1e-12


def test_prior_knife_comparator_takes_the_most_prior_events_among_the_eligible(tmp_path, definitions):
    """At one origin, 50 eligible people with two prior knife events and the rest with one: the
    comparator lists exactly the 50, so its hits are theirs."""
    b = ExtractBuilder(as_of=AS_OF)
    rng = np.random.default_rng(3)
    later = set()
    for j in range(120):
        pid = f"zq{j:04d}"
        b.person(pid, age=15)
        b.event(pid, "knife_violence", days_ago=_days_ago(dt.date(2025, 1, 10)), outcome="convicted")
        if j < 50:  # a second prior knife event, but weak: a pending possession two years back
            b.event(pid, "knife_possession", days_ago=_days_ago(dt.date(2023, 6, 1)), outcome="nfa")
        if rng.random() < 0.4:
            b.event(pid, "knife_possession", days_ago=_days_ago(dt.date(2025, 8, 1)))
            later.add(j)
    extract = load_extract(b.write(tmp_path / "prior"), catalogue=definitions.catalogue, extract_date=AS_OF)
    result = chance_line(extract, definitions=definitions, as_of=AS_OF, quarters=1)
    (row,) = result["origins"]
    assert row["as_of"] == "2025-03-31" and row["listed"] == 50
    assert row["prior_knife_hits"] == len([j for j in later if j < 50])


def test_too_little_history_is_unavailable_with_a_reason(tmp_path, definitions):
    b = ExtractBuilder(as_of=AS_OF)
    for j in range(30):
        b.person(f"zq{j:04d}", age=15)
        b.event(f"zq{j:04d}", "knife_violence", days_ago=40, outcome="convicted")
    extract = load_extract(b.write(tmp_path / "short"), catalogue=definitions.catalogue, extract_date=AS_OF)
    result = chance_line(extract, definitions=definitions, as_of=AS_OF)
    assert result["available"] is False and result["origins_usable"] == 0
    assert "2025-03-31" in result["reason"] and "starts on 2026-02-19" in result["reason"]
    assert result["sentence"].startswith("The list could not be measured against chance: the extract's history")
    json.dumps(result)


def test_a_history_that_reaches_only_some_origins_says_how_many(tmp_path, definitions):
    extract, _ = build_force(tmp_path / "part", definitions, seed=5, informative=True,
                             history_from=dt.date(2024, 11, 1), plant_from=dt.date(2025, 1, 1))
    result = chance_line(extract, definitions=definitions, as_of=AS_OF)
    assert result["origins_usable"] == 2
    assert [o["as_of"] for o in result["origins"]] == ["2024-12-31", "2025-03-31"]
    assert "too short for the other 2 of the last 4" in result["sentence"]


def test_tiny_lists_say_the_sample_is_too_small_to_tell(tmp_path, definitions):
    small = dataclasses.replace(definitions, settings=dataclasses.replace(
        definitions.settings, cohort=dataclasses.replace(definitions.settings.cohort, size=2)))
    extract, _ = build_force(tmp_path / "tiny", small, seed=9, informative=True, people=6, top=2)
    result = chance_line(extract, definitions=small, as_of=AS_OF)
    assert result["available"] and result["pooled"]["listed"] == 8 < MIN_LISTED
    assert result["too_small"] is True and result["no_better_than_chance"] is True
    assert "too few to tell" in result["sentence"] and "better than a random draw" not in result["sentence"]
    assert result["difference"]["ci"][1] - result["difference"]["ci"][0] > 0


def test_listing_every_eligible_person_is_no_choice_to_compare(tmp_path, definitions):
    extract, _ = build_force(tmp_path / "all", definitions, seed=9, informative=True, people=3, top=2)
    result = chance_line(extract, definitions=definitions, as_of=AS_OF)
    assert all(o["listed"] == o["eligible"] == 3 for o in result["origins"])
    assert result["difference"]["ci"] is None and result["no_better_than_chance"] is True
    assert "chose no one" in result["sentence"]


def test_the_result_is_json_and_holds_no_person(informative, by_chance):
    for extract, _, result in (informative, by_chance):
        text = json.dumps(result)
        assert json.loads(text) == result
        assert "zq" not in text
        assert not any(pid in text for pid in extract.people["person_id"])
        assert set(result) >= {"available", "origins", "pooled", "difference", "no_better_than_chance",
                               "outcome", "k", "sentence"}


def test_the_same_extract_gives_the_same_result(informative, definitions):
    extract, _, result = informative
    assert chance_line(extract, definitions=definitions, as_of=AS_OF) == result


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(2, 40), st.integers(0, 2**32 - 1))
def test_difference_identity_and_width_on_any_lists(origins, people, seed):
    """For any eligible pools, lists within them and outcomes: the estimate is the list's pooled
    precision minus the size-weighted eligible rate; the interval holds it and has width whenever
    some list is a real choice (neither empty nor the whole pool); the random range holds its mean."""
    rng = np.random.default_rng(seed)
    rows, facts = [], []
    for _ in range(origins):
        eligible = rng.random(people) < 0.7
        listed = eligible & (rng.random(people) < 0.5)
        y = (rng.random(people) < rng.random()).astype(np.int64)
        rows.append(SimpleNamespace(eligible=eligible, listed=listed, y=y))
        facts.append({"eligible": int(eligible.sum()), "eligible_positives": int(y[eligible].sum()),
                      "listed": int(listed.sum())})
    total = sum(f["listed"] for f in facts)
    assume(total > 0)
    hits = sum(int(r.y[r.listed].sum()) for r in rows)
    expected = sum(f["listed"] * f["eligible_positives"] / f["eligible"] for f in facts if f["listed"])
    d = _difference(rows)
    assert d["estimate"] == pytest.approx((hits - expected) / total, abs=1e-12)
    choice = any(0 < f["listed"] < f["eligible"] for f in facts)
    if choice:
        assert d["ci"][0] < d["estimate"] < d["ci"][1]
    else:
        assert d["ci"] is None and d["estimate"] == 0
    low, high = _pooled_random_range(facts)
    assert low - 1e-12 <= expected / total <= high + 1e-12
