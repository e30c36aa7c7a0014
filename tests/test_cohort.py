"""The ranked cohort: tie-break, cut-off, RAG and vulnerability bands, movement, removals (hkc.matrix.cohort)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hkc.definitions.catalogue import load_catalogue
from hkc.definitions.settings import load_settings
from hkc.extract.load import load_extract
from hkc.matrix.cohort import (
    MOVEMENTS,
    cut_off_reason,
    movement,
    rag_bands,
    removed_people,
    select_cohort,
    vulnerability_bands,
)
from hkc.matrix.scoring import REASONS, score_people
from tests.builders import ExtractBuilder

ROOT = Path(__file__).parents[1]
CATALOGUE = load_catalogue(ROOT / "features" / "indicators.toml")
SETTINGS = load_settings(ROOT / "config" / "hkc.toml")
Q2 = dt.date(2026, 6, 30)
Q3 = dt.date(2026, 9, 30)


def scores_frame(*people: tuple) -> pd.DataFrame:
    """A scores frame like :func:`hkc.matrix.scoring.score_people` makes, from
    ``(person_id, risk_score, latest_weapon_date[, eligible[, reason]])`` tuples."""
    rows = []
    for p in people:
        person_id, risk, latest, *rest = p
        eligible = rest[0] if rest else True
        reason = rest[1] if len(rest) > 1 else ("" if eligible else "no counting events in the lookback windows")
        rows.append({"person_id": person_id, "risk_score": float(risk), "vulnerability_score": 0.0,
                     "eligible": eligible, "reason": reason,
                     "latest_weapon_date": pd.Timestamp(latest) if latest else pd.NaT})
    frame = pd.DataFrame(rows)
    frame["latest_weapon_date"] = frame["latest_weapon_date"].astype("datetime64[s]")
    return frame


def cohort_settings(**changes):
    return dataclasses.replace(SETTINGS.cohort, **changes)


def rag_settings(**changes):
    return dataclasses.replace(SETTINGS.rag, **changes)


def listed(*people: tuple[str, int, str]) -> pd.DataFrame:
    """A cohort as stored: ``(person_id, rank, rag)`` rows."""
    return pd.DataFrame(people, columns=["person_id", "rank", "rag"])


# --------------------------------------------------------------------------------------------
# Ranking and cut-off


def test_ranking_is_by_risk_score_high_first():
    frame = scores_frame(("A", 50, "2026-09-01"), ("B", 90, "2026-01-01"), ("C", 70, "2026-05-01"))
    cohort = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    assert cohort.ranked["person_id"].tolist() == ["B", "C", "A"]
    assert cohort.ranked["priority_rank"].tolist() == [1, 2, 3]


def test_equal_scores_rank_the_later_latest_weapon_date_first_then_person_id():
    frame = scores_frame(("P2", 60, "2026-08-01"), ("P10", 60, "2026-08-01"), ("P1", 60, "2026-09-01"),
                         ("P3", 60, "2026-07-01"), ("P0", 61, "2025-01-01"))
    cohort = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    # P0 has the highest score; P1 the latest weapon date; P10 and P2 tie on both: by person_id text.
    assert cohort.ranked["person_id"].tolist() == ["P0", "P1", "P10", "P2", "P3"]


def test_ranking_does_not_depend_on_the_row_order_of_scores():
    rng = np.random.default_rng(3)
    ids = [f"P{i:02d}" for i in range(30)]
    frame = scores_frame(*[(pid, float(rng.choice([40, 55.5, 70])), f"2026-0{rng.integers(1, 10)}-15")
                           for pid in ids])
    expected = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    for seed in range(5):
        shuffled = frame.sample(frac=1, random_state=seed)
        got = select_cohort(shuffled, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
        pd.testing.assert_frame_equal(got.ranked, expected.ranked)
        pd.testing.assert_frame_equal(got.members, expected.members)


def test_ineligible_people_are_never_ranked_whatever_their_score():
    frame = scores_frame(("HIGH", 300, "2026-09-01", False), ("LOW", 30, "2026-09-01"))
    cohort = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    assert cohort.ranked["person_id"].tolist() == ["LOW"]
    assert cohort.members["person_id"].tolist() == ["LOW"]


def test_top_n_lists_the_size_highest_and_ranks_everyone_eligible():
    frame = scores_frame(*[(f"P{i}", 10 * i, "2026-09-01") for i in range(1, 6)])
    cohort = select_cohort(frame, cohort=cohort_settings(method="top_n", size=2), rag=SETTINGS.rag)
    assert cohort.members["person_id"].tolist() == ["P5", "P4"]
    assert cohort.members["rank"].tolist() == [1, 2]
    assert cohort.ranked["person_id"].tolist() == ["P5", "P4", "P3", "P2", "P1"]
    assert cohort.ranked["priority_rank"].tolist() == [1, 2, 3, 4, 5]


def test_top_n_larger_than_the_eligible_population_lists_everyone_eligible():
    frame = scores_frame(("A", 50, "2026-09-01"), ("B", 20, "2026-09-01"), ("C", 99, "2026-09-01", False))
    cohort = select_cohort(frame, cohort=cohort_settings(method="top_n", size=50), rag=SETTINGS.rag)
    assert cohort.members["person_id"].tolist() == ["A", "B"]


def test_threshold_lists_everyone_at_or_above_the_minimum_score():
    frame = scores_frame(("A", 60.0, "2026-09-01"), ("B", 59.9, "2026-09-01"), ("C", 75, "2026-09-01"),
                         ("D", 60.1, "2026-09-01"))
    cohort = select_cohort(frame, cohort=cohort_settings(method="threshold", min_score=60.0, size=1),
                           rag=SETTINGS.rag)
    assert cohort.members["person_id"].tolist() == ["C", "D", "A"]  # `size` is ignored
    assert cohort.members["rank"].tolist() == [1, 2, 3]
    assert cohort.ranked["person_id"].tolist() == ["C", "D", "A", "B"]


def test_no_eligible_people_give_an_empty_cohort():
    frame = scores_frame(("A", 50, None, False))
    cohort = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    assert cohort.members.empty and cohort.ranked.empty
    assert {"rank", "rag", "priority_rank", "person_id"} <= set(cohort.members.columns)


def test_selecting_twice_gives_identical_frames():
    frame = scores_frame(*[(f"P{i}", (i * 37) % 100, f"2026-0{1 + i % 9}-01") for i in range(40)])
    first = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    second = select_cohort(frame, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    pd.testing.assert_frame_equal(first.members, second.members)
    pd.testing.assert_frame_equal(first.ranked, second.ranked)


# --------------------------------------------------------------------------------------------
# RAG bands


@pytest.mark.parametrize(("score", "band"), [
    (120.0, "red"), (80.0, "red"), (79.9, "amber"), (45.0, "amber"), (44.9, "green"), (0.1, "green"),
])
def test_fixed_rag_bands_include_the_threshold_value(score, band):
    assert rag_bands(np.array([score]), settings=rag_settings(method="fixed")).tolist() == [band]
    assert (SETTINGS.rag.red, SETTINGS.rag.amber) == (80.0, 45.0)


def test_select_cohort_applies_fixed_rag_to_members():
    frame = scores_frame(("R", 80, "2026-09-01"), ("A", 45, "2026-09-01"), ("G", 44.9, "2026-09-01"))
    cohort = select_cohort(frame, cohort=SETTINGS.cohort, rag=rag_settings(method="fixed"))
    assert dict(zip(cohort.members["person_id"], cohort.members["rag"], strict=True)) == {
        "R": "red", "A": "amber", "G": "green"}


@pytest.mark.parametrize(("n", "red_share", "amber_share", "counts"), [
    (10, 0.2, 0.3, (2, 3, 5)),
    (7, 0.2, 0.3, (2, 2, 3)),    # ceil(1.4) = 2 red; ceil(3.5) = 4 red or amber
    (1, 0.2, 0.3, (1, 0, 0)),
    (20, 0.0, 0.5, (0, 10, 10)),
    (4, 0.25, 0.75, (1, 3, 0)),
    (50, 0.1, 0.2, (5, 10, 35)),  # 10% and 20% of 50 people
    (10, 0.1, 0.2, (1, 2, 7)),
])
def test_quantile_rag_gives_the_top_shares_of_the_cohort(n, red_share, amber_share, counts):
    rag = rag_settings(method="quantile", red_share=red_share, amber_share=amber_share)
    bands = rag_bands(np.linspace(100, 1, n), settings=rag).tolist()
    assert (bands.count("red"), bands.count("amber"), bands.count("green")) == counts
    assert bands == sorted(bands, key=["red", "amber", "green"].index)  # in rank order


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 120), red=st.integers(0, 100), amber=st.integers(0, 100))
def test_quantile_rag_counts_are_the_ceilings_of_the_exact_shares(n, red, amber):
    assume(red + amber <= 100)
    rag = rag_settings(method="quantile", red_share=red / 100, amber_share=amber / 100)
    bands = rag_bands(np.arange(n, 0, -1, dtype=float), settings=rag).tolist()
    red_n = math.ceil(Fraction(red, 100) * n)
    amber_n = math.ceil(Fraction(red + amber, 100) * n) - red_n
    assert bands.count("red") == red_n
    assert bands.count("amber") == amber_n
    assert bands.count("green") == n - red_n - amber_n


def test_quantile_rag_bands_follow_rank_even_with_equal_scores():
    rag = rag_settings(method="quantile", red_share=0.2, amber_share=0.3)
    frame = scores_frame(*[(f"P{i}", 50, f"2026-09-{10 + i}") for i in range(10)])
    members = select_cohort(frame, cohort=SETTINGS.cohort, rag=rag).members
    assert members["person_id"].tolist()[:2] == ["P9", "P8"]  # latest weapon date first
    assert members["rag"].tolist() == ["red"] * 2 + ["amber"] * 3 + ["green"] * 5


def test_quantile_rag_on_an_empty_cohort_is_empty():
    rag = rag_settings(method="quantile")
    assert rag_bands(np.array([]), settings=rag).tolist() == []


# --------------------------------------------------------------------------------------------
# Vulnerability bands


@pytest.mark.parametrize(("score", "band"), [
    (100.0, "high"), (40.0, "high"), (39.9, "medium"), (15.0, "medium"), (14.9, "low"), (0.0, "low"),
])
def test_vulnerability_bands_include_the_threshold_value(score, band):
    assert vulnerability_bands(np.array([score]), settings=SETTINGS.vulnerability).tolist() == [band]


# --------------------------------------------------------------------------------------------
# Movement against the previous cohort


def test_everyone_is_new_without_a_previous_cohort():
    members = listed(("A", 1, "red"), ("B", 2, "green"))
    assert movement(members, None).tolist() == ["new", "new"]
    assert movement(members, listed()).tolist() == ["new", "new"]


@pytest.mark.parametrize(("now", "before", "expected"), [
    ((3, "red"), None, "new"),
    ((3, "red"), (1, "amber"), "up"),      # RAG first: amber -> red is up even at a worse rank
    ((5, "amber"), (9, "green"), "up"),
    ((1, "amber"), (4, "red"), "down"),    # red -> amber is down even at a better rank
    ((2, "green"), (1, "amber"), "down"),
    ((2, "amber"), (5, "amber"), "up"),    # same RAG: better rank is up
    ((6, "amber"), (5, "amber"), "down"),  # same RAG: worse rank is down
    ((4, "green"), (4, "green"), "same"),
])
def test_movement_compares_rag_first_then_rank(now, before, expected):
    members = listed(("X", *now), ("OTHER", 99, "green"))
    previous = listed(("OTHER", 50, "green"), *([("X", *before)] if before else []))
    result = movement(members, previous)
    assert result.tolist() == [expected, "down"]
    assert set(result) <= set(MOVEMENTS)


def test_movement_keeps_the_members_order():
    members = listed(("C", 1, "red"), ("A", 2, "amber"), ("B", 3, "green"), ("D", 4, "green"))
    previous = listed(("A", 1, "red"), ("B", 3, "green"), ("C", 2, "amber"))
    assert movement(members, previous).tolist() == ["up", "down", "same", "new"]


# --------------------------------------------------------------------------------------------
# People removed since the previous cohort


def test_removed_people_carry_the_reason_they_are_no_longer_listed():
    scores = scores_frame(
        ("STAY", 90, "2026-09-01"),
        ("CUT", 40, "2026-09-01"),
        ("STALE", 20, "2025-01-01", False, REASONS["no_weapon"].format(days=365)),
        ("AGED", 70, "2026-09-01", False, REASONS["age_over"].format(age=18, gap="1 year", max_age=17)),
        ("NEWCOMER", 85, "2026-09-01"),
    )
    cut = cohort_settings(method="top_n", size=2)
    chosen = select_cohort(scores, cohort=cut, rag=SETTINGS.rag)
    assert chosen.members["person_id"].tolist() == ["STAY", "NEWCOMER"]
    previous = listed(("AGED", 1, "red"), ("STAY", 2, "red"), ("GONE", 3, "amber"),
                              ("STALE", 4, "green"), ("CUT", 5, "green"))
    removed = removed_people(chosen.members, previous, scores, chosen.ranked, cohort=cut)
    assert list(removed.columns) == ["person_id", "previous_rank", "previous_rag", "risk_score",
                                     "vulnerability_score", "reason"]
    assert removed["person_id"].tolist() == ["AGED", "GONE", "STALE", "CUT"]  # by previous rank
    reasons = dict(zip(removed["person_id"], removed["reason"], strict=True))
    assert reasons == {
        "AGED": "age 18 is 1 year above the maximum age 17 at the as-of date",
        "GONE": "not in this extract",
        "STALE": "no weapon-related risk event in the last 365 days",
        "CUT": "still eligible but below the cohort cut-off (rank 3; cohort is top 2)",
    }
    by_person = removed.set_index("person_id")
    assert pd.isna(by_person.loc["GONE", "risk_score"])
    assert by_person.loc["STALE", "risk_score"] == 20
    assert removed["previous_rag"].tolist() == ["red", "amber", "green", "green"]


def test_removed_below_a_threshold_cut_off_names_the_minimum_score():
    scores = scores_frame(("KEPT", 70, "2026-09-01"), ("LOW", 59.9, "2026-09-01"))
    rule = cohort_settings(method="threshold", min_score=60.0)
    chosen = select_cohort(scores, cohort=rule, rag=SETTINGS.rag)
    removed = removed_people(chosen.members, listed(("LOW", 1, "red")), scores, chosen.ranked,
                             cohort=rule)
    assert removed["reason"].tolist() == [
        "still eligible but below the cohort cut-off (risk score 59.9 is 0.1 points below the cohort minimum 60)"]


@pytest.mark.parametrize(("rank", "score", "reason"), [
    (51, 90.0, "still eligible but below the cohort cut-off (rank 51; cohort is top 50)"),
    (7, 38.5, "still eligible but below the cohort cut-off (risk score 38.5 is 6.5 points below the cohort "
              "minimum 45)"),
    (60, 30.0, "still eligible but below the cohort cut-off (risk score 30 is 15 points below the cohort "
               "minimum 45)"),  # both: the score is named first
])
def test_threshold_capped_cut_off_names_the_rule_and_the_amount(rank, score, reason):
    rule = cohort_settings(method="threshold_capped", min_score=45.0, size=50)
    assert cut_off_reason(rank, score, cohort=rule) == reason


def test_removed_below_a_capped_threshold_names_whichever_cut_applied():
    scores = scores_frame(("TOP", 90, "2026-09-01"), ("OVER_CAP", 80, "2026-09-01"), ("LOW", 30, "2026-09-01"))
    rule = cohort_settings(method="threshold_capped", min_score=45.0, size=1)
    chosen = select_cohort(scores, cohort=rule, rag=SETTINGS.rag)
    assert chosen.members["person_id"].tolist() == ["TOP"]
    removed = removed_people(chosen.members, listed(("OVER_CAP", 1, "red"), ("LOW", 2, "green")), scores,
                             chosen.ranked, cohort=rule)
    assert removed["reason"].tolist() == [
        "still eligible but below the cohort cut-off (rank 2; cohort is top 1)",
        "still eligible but below the cohort cut-off (risk score 30 is 15 points below the cohort minimum 45)"]


def test_nobody_is_removed_without_a_previous_cohort_or_when_everyone_stays():
    scores = scores_frame(("A", 70, "2026-09-01"))
    chosen = select_cohort(scores, cohort=SETTINGS.cohort, rag=SETTINGS.rag)
    for previous in (None, listed(), listed(("A", 1, "red"))):
        removed = removed_people(chosen.members, previous, scores, chosen.ranked, cohort=SETTINGS.cohort)
        assert removed.empty
        assert "reason" in removed.columns


# --------------------------------------------------------------------------------------------
# Two quarters end to end: scores from hand-made events, then cohort, movement and removals


def quarter(builder: ExtractBuilder, as_of: dt.date):
    with tempfile.TemporaryDirectory() as folder:
        extract = load_extract(builder.write(Path(folder)), catalogue=CATALOGUE, extract_date=builder.as_of)
    assert extract.rejects.empty
    scored = score_people(extract.people, extract.events, catalogue=CATALOGUE,
                          eligibility=SETTINGS.eligibility, as_of=as_of)
    return scored.scores, select_cohort(scored.scores, cohort=SETTINGS.cohort, rag=rag_settings(method="fixed"))


def test_two_quarters_classify_movement_and_list_stale_people_as_removed():
    before_q2 = (Q3 - Q2).days  # events are dated in days before Q3
    b = ExtractBuilder(Q3)
    # Red last quarter (recent convictions), nothing new: decays to amber.
    b.person("DOWN").event("DOWN", "knife_violence", days_ago=before_q2 + 30, outcome="convicted")
    b.event("DOWN", "knife_possession", days_ago=before_q2 + 30, outcome="convicted")
    # Green last quarter; a new conviction this quarter makes them red.
    b.person("UP").event("UP", "knife_possession", days_ago=before_q2 + 20, outcome="charged")
    b.event("UP", "knife_violence", days_ago=5, outcome="convicted")
    # First weapon event this quarter.
    b.person("NEW").event("NEW", "knife_possession", days_ago=10, outcome="convicted")
    # Eligible last quarter (300 days old, 34 points); 392 days old now: stale history.
    b.person("STALE").event("STALE", "knife_violence", days_ago=before_q2 + 300, outcome="convicted")
    # Victim only throughout: never listed.
    b.person("VICTIM").event("VICTIM", "knife_victim", days_ago=before_q2 + 10)
    b.event("VICTIM", "violence", days_ago=5, role="victim", outcome="convicted")

    _, q2 = quarter(b, Q2)
    q2_rag = dict(zip(q2.members["person_id"], q2.members["rag"], strict=True))
    assert q2_rag == {"DOWN": "red", "UP": "green", "STALE": "green"}

    q3_scores, q3 = quarter(b, Q3)
    q3_rag = dict(zip(q3.members["person_id"], q3.members["rag"], strict=True))
    assert q3_rag == {"UP": "red", "DOWN": "amber", "NEW": "green"}
    moves = dict(zip(q3.members["person_id"], movement(q3.members, q2.members), strict=True))
    assert moves == {"UP": "up", "DOWN": "down", "NEW": "new"}

    removed = removed_people(q3.members, q2.members, q3_scores, q3.ranked, cohort=SETTINGS.cohort)
    assert removed["person_id"].tolist() == ["STALE"]
    assert removed["reason"].tolist() == [REASONS["stale_weapon"].format(
        age=before_q2 + 300, days=365, event="knife violence (assault or wounding with a blade), convicted")]
    assert removed["previous_rag"].tolist() == ["green"]
    assert removed["risk_score"].iloc[0] > 0
