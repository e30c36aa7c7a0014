"""The estimators of ``hkc evaluate`` on known answers and planted truths.

Known answers computed a second way: a 2×2 difference-in-differences and its clustered standard
error by hand; the naive ratio of pooled rates; a linear data set with a known jump at the cut-off
(and rdrobust's conventional jump against a hand-written local-linear fit at its bandwidth); an
exact-match case whose pairs are obvious; statsmodels' weighted cluster sandwich against numpy.
Planted truths over seeds (tests/evaluation_sim.py): with no effect the naive before/after falls by
15% or more on average while the near-miss difference-in-differences covers 0 in at least 18 of 20
seeds; with a 30% effect it covers the truth in at least 17 of 20; the minimum detectable effect
shrinks as the panel grows; a panel too small to tell says so in words.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkc.errors import HkcError
from hkc.evaluation import (
    check_panel,
    did_near_miss,
    evaluate_panel,
    matched,
    mde_log_ratio,
    naive_prepost,
    planned_mde,
    rd_cutoff,
    signed_percent,
    verdict,
)
from hkc.evaluation.matched import match_rows
from hkc.evaluation.result import poisson_contrast
from tests.evaluation_sim import simulate_panel

SEEDS = range(20)


def row(person: str, rank: int, listed: bool, pre: int, post: int, *, pre_years: float = 1.0,
        post_years: float = 1.0, score: float | None = None, cohort: str = "2025-03-31", cutoff: float = 0.0,
        **extra) -> dict:
    return {"person_id": person, "cohort": cohort, "listed": listed, "rank": rank,
            "score": float(100 - rank) if score is None else score, "cutoff": cutoff, "pre_events": pre,
            "post_events": post, "pre_years": pre_years, "post_years": post_years, "age": 16, "sex": "M",
            "treated": listed, **extra}


def two_by_two() -> pd.DataFrame:
    """10 listed (ranks 1-10), 10 near miss (11-20), and 5 ranked further down with wild counts
    that must not enter the comparison."""
    rng = np.random.default_rng(7)
    rows = []
    for rank in range(1, 26):
        listed = rank <= 10
        pre = int(rng.integers(3, 9)) if rank <= 20 else 50
        post = int(rng.integers(0, 6)) if rank <= 20 else 0
        rows.append(row(f"P{rank:02d}", rank, listed, pre, post, post_years=0.5 if rank in (4, 15) else 1.0))
    frame = pd.DataFrame(rows)
    frame["cutoff"] = frame.loc[9, "score"]
    return frame


# ---- known answers ------------------------------------------------------------------------------

def test_did_is_the_hand_computed_ratio_of_rate_ratios_with_its_clustered_error():
    panel = two_by_two()
    result = did_near_miss(check_panel(panel))
    t, c = panel[panel["rank"] <= 10], panel[(panel["rank"] > 10) & (panel["rank"] <= 20)]

    def ratio(g):
        return (g.post_events.sum() / g.post_years.sum()) / (g.pre_events.sum() / g.pre_years.sum())

    assert result["available"] and result["estimate"] == pytest.approx(ratio(t) / ratio(c) - 1, abs=1e-9)
    # the cluster-robust variance by hand: each person's influence on the four cells' log rates
    influence = []
    for g, sign in ((t, 1.0), (c, -1.0)):
        r_pre, r_post = g.pre_events.sum() / g.pre_years.sum(), g.post_events.sum() / g.post_years.sum()
        influence += list(sign * ((g.post_events - r_post * g.post_years) / g.post_events.sum()
                                  - (g.pre_events - r_pre * g.pre_years) / g.pre_events.sum()))
    n_obs, params, clusters = 40, 4, 20
    correction = clusters / (clusters - 1) * (n_obs - 1) / (n_obs - params)
    assert result["se_log_rate_ratio"] == pytest.approx(math.sqrt(correction * np.sum(np.square(influence))), rel=1e-6)
    assert result["ci_low"] < result["estimate"] < result["ci_high"]
    assert (result["n_treated"], result["n_comparison"], result["sms_level"]) == (10, 10, 3)
    assert result["rate_per_person_year_after_comparison"] == pytest.approx(c.post_events.sum() / c.post_years.sum())


def test_naive_is_the_ratio_of_pooled_rates_and_says_it_is_not_an_effect():
    panel = two_by_two()
    result = naive_prepost(check_panel(panel))
    t = panel[panel["listed"]]
    expected = (t.post_events.sum() / t.post_years.sum()) / (t.pre_events.sum() / t.pre_years.sum()) - 1
    assert result["estimate"] == pytest.approx(expected, abs=1e-9)
    assert result["n_comparison"] is None and result["sms_level"] == 1
    assert "NOT an effect estimate" in result["label"] and "regression to the mean" in result["label"]


def jump_panel(jump: float = -18.0) -> pd.DataFrame:
    """Two quarters (cut-offs 50 and 60); the rate after is 60 + x (+ ``jump`` at and above the
    cut-off) plus a small deterministic wobble, x the centred score, 4 people per score point."""
    rows = []
    for cohort, cutoff in (("2025-03-31", 50.0), ("2025-06-30", 60.0)):
        xs = [(x, j) for x in range(40, -41, -1) for j in range(4)]
        for rank, (x, j) in enumerate(xs, start=1):
            rate = 60 + x + (jump if x >= 0 else 0) + (j - 1.5) * 2
            rows.append(row(f"{cohort}-{x}-{j}", rank, x >= 0, 70, int(round(rate)), score=cutoff + x,
                            cohort=cohort, cutoff=cutoff))
    return pd.DataFrame(rows)


def test_rd_recovers_a_known_jump_and_matches_a_local_linear_fit_by_hand():
    panel = check_panel(jump_panel())
    result = rd_cutoff(panel)
    assert result["available"] and result["sharp"]
    assert result["estimate"] == pytest.approx(-0.30, abs=0.04)
    assert result["ci_low"] < -0.30 < result["ci_high"] and result["ci_high"] < 0
    # the conventional jump is a triangular-kernel local-linear fit either side at the reported bandwidth
    x = (panel["score"] - panel["cutoff"]).to_numpy()
    y = panel["post_events"].to_numpy(dtype=float)
    h = result["bandwidth"]["left"]
    ends = []
    for side in (x < 0, x >= 0):
        keep = side & (np.abs(x) <= h)
        w = 1 - np.abs(x[keep]) / h
        design = np.c_[np.ones(keep.sum()), x[keep]]
        ends.append(np.linalg.solve(design.T @ (w[:, None] * design), design.T @ (w * y[keep]))[0])
    assert result["jump_conventional"] == pytest.approx(ends[1] - ends[0], abs=1e-6)
    assert result["rate_below_cutoff"] == pytest.approx(ends[0], abs=1e-6)
    assert result["effective_n_left"] > 0 and result["effective_n_right"] > 0
    assert 0 <= result["density"]["p_value"] <= 1


def test_rd_with_no_jump_covers_zero():
    result = rd_cutoff(check_panel(jump_panel(jump=0.0)))
    assert result["ci_low"] < 0 < result["ci_high"]


def twins_panel() -> pd.DataFrame:
    """12 listed people, each with a never-listed twin (same quarter, sex, score, counts, age) and a
    never-listed decoy far from everyone."""
    rows = []
    for i in range(12):
        common = {"score": 40.0 + 3 * i, "n_knife": i % 4, "n_intel": i % 3}
        rows.append(row(f"L{i:02d}", i + 1, True, 4, 2, **common))
        rows.append(row(f"T{i:02d}", 20 + i, False, 4, 3, **common))
        rows.append(row(f"D{i:02d}", 40 + i, False, 1, 5, score=5.0, n_knife=9, n_intel=9))
    frame = pd.DataFrame(rows)
    frame.loc[frame["person_id"].str.startswith("L"), "age"] = 15 + np.arange(12) % 3
    frame.loc[frame["person_id"].str.startswith("T"), "age"] = 15 + np.arange(12) % 3
    return frame


def test_matching_pairs_each_listed_person_with_their_twin():
    panel = check_panel(twins_panel())
    listed, others = panel[panel["listed"]], panel[~panel["listed"]]
    covariates = ["score", "n_knife", "n_intel", "age"]
    pairs = match_rows(listed, others, covariates, k=1)
    names = dict(zip(panel.loc[pairs["treated_index"], "person_id"], panel.loc[pairs["control_index"], "person_id"],
                     strict=True))
    assert names == {f"L{i:02d}": f"T{i:02d}" for i in range(12)}
    result = matched(panel)
    assert result["available"] and result["balanced"]
    assert all(abs(r["smd_after"]) < 1e-12 for r in result["balance"] if r["decides_balance"])
    assert any(abs(r["smd_before"]) > 0.5 for r in result["balance"])
    assert result["estimate"] == pytest.approx((2 / 4) / (3 / 4) - 1, abs=1e-9)


def test_matching_refuses_an_estimate_when_balance_fails():
    panel = check_panel(simulate_panel(0, n_people=1500, cohort_size=25, secondary=False).panel)
    result = matched(panel)
    assert not result["available"] and result["estimate"] is None
    assert "balance does not hold" in result["reason"] and "score" in result["reason"]
    score = next(r for r in result["balance"] if r["covariate"] == "score")
    assert abs(score["smd_after"]) >= 0.1


def test_weighted_cluster_errors_match_a_sandwich_by_hand():
    rng = np.random.default_rng(3)
    n = 300
    people = rng.integers(0, 80, n)
    x = rng.integers(0, 2, n).astype(float)
    years = rng.uniform(0.5, 1.0, n)
    counts = rng.poisson(years * np.exp(0.3 + 0.4 * x))
    weights = rng.choice([1.0, 0.5, 1 / 3], n)
    design = pd.DataFrame({"constant": 1.0, "x": x})
    fit = poisson_contrast(design, counts, years, people, "x", weights=weights)
    beta = np.zeros(2)
    for _ in range(50):  # Newton steps for the weighted Poisson likelihood
        mu = years * np.exp(design.to_numpy() @ beta)
        beta += np.linalg.solve((design.to_numpy() * (weights * mu)[:, None]).T @ design.to_numpy(),
                                design.to_numpy().T @ (weights * (counts - mu)))
    mu = years * np.exp(design.to_numpy() @ beta)
    bread = np.linalg.inv((design.to_numpy() * (weights * mu)[:, None]).T @ design.to_numpy())
    scores = design.to_numpy() * (weights * (counts - mu))[:, None]
    meat = sum(np.outer(s, s) for s in pd.DataFrame(scores).groupby(people).sum().to_numpy())
    groups = len(set(people))
    variance = bread @ meat @ bread * groups / (groups - 1) * (n - 1) / (n - 2)
    assert fit.log_ratio == pytest.approx(beta[1], abs=1e-8)
    assert fit.se == pytest.approx(math.sqrt(variance[1, 1]), rel=1e-6)


# ---- planted truths over seeds ------------------------------------------------------------------

def covers(result: dict, value: float) -> bool:
    return result["available"] and result["ci_low"] <= value <= result["ci_high"]


def test_with_no_effect_the_naive_falls_but_the_near_miss_did_covers_zero():
    naive, did = [], []
    for seed in SEEDS:
        panel = check_panel(simulate_panel(seed, effect=0.0, secondary=False).panel)
        naive.append(naive_prepost(panel)["estimate"])
        did.append(covers(did_near_miss(panel), 0.0))
    assert np.mean(naive) <= -0.15, np.mean(naive)          # regression to the mean, with no effect at all
    assert sum(did) >= 18, sum(did)


def test_with_a_30_percent_effect_the_near_miss_did_covers_the_truth():
    hits = []
    for seed in SEEDS:
        sim = simulate_panel(seed, effect=0.3, secondary=False)
        result = did_near_miss(check_panel(sim.panel))
        hits.append(covers(result, sim.true_effect_listed))
    assert sim.true_effect_listed == pytest.approx(-0.3)
    assert sum(hits) >= 17, sum(hits)


def test_the_minimum_detectable_effect_shrinks_as_the_panel_grows():
    small = check_panel(simulate_panel(1, n_people=1200, cohort_size=20, secondary=False).panel)
    large = check_panel(simulate_panel(1, n_people=6000, cohort_size=100, secondary=False).panel)
    for design in (naive_prepost, did_near_miss, rd_cutoff):
        assert design(large)["mde"] < design(small)["mde"], design.__name__


@given(st.floats(0.001, 2.0), st.floats(0.001, 2.0))
def test_mde_grows_with_the_standard_error(a, b):
    low, high = sorted((a, b))
    assert mde_log_ratio(low) <= mde_log_ratio(high) < 1


def test_planned_mde_shrinks_with_more_events():
    assert planned_mde(400, 400) < planned_mde(100, 100) < planned_mde(25, 25)
    assert planned_mde(0, 10) is None


def test_a_panel_too_small_to_tell_says_so_and_claims_nothing():
    panel = simulate_panel(2, n_people=150, quarters=1, cohort_size=4, secondary=False).panel
    result = evaluate_panel(panel)
    for name, design in result["designs"].items():
        assert not design["available"] and design["estimate"] is None, name
        assert "too small to tell" in design["reason"], (name, design["reason"])
    words = " ".join(result["verdict"])
    assert "could not be computed" in words and "cannot say" in words
    assert "larger than chance" not in words and "no detectable effect" not in words


# ---- the whole evaluation -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def evaluation_pair() -> tuple[dict, dict]:
    sim = simulate_panel(5, n_people=2000, cohort_size=30, effect=0.3, adopt_rate=0.7)
    shuffled = sim.panel.sample(frac=1.0, random_state=1)
    return evaluate_panel(sim.panel), evaluate_panel(shuffled)


def test_evaluation_is_deterministic_whatever_the_row_order(evaluation_pair):
    first, second = evaluation_pair
    assert json.dumps(first, allow_nan=False, sort_keys=True) == json.dumps(second, allow_nan=False, sort_keys=True)


def test_evaluation_has_the_issue_shape_and_honest_words(evaluation_pair):
    result, _ = evaluation_pair
    assert set(result["designs"]) == {"naive_prepost", "did_near_miss", "matched", "rd_cutoff"}
    assert result["primary"] == "did_near_miss" and list(result["secondary"]) == ["violence"]
    assert len(result["cohorts"]) == 4 and result["window_days"] == 365
    for design in result["designs"].values():
        assert {"estimate", "ci_low", "ci_high", "n_treated", "n_comparison", "mde", "sms_level", "label",
                "available"} <= set(design)
    assert [result["designs"][d]["sms_level"] for d in ("naive_prepost", "did_near_miss", "rd_cutoff")] == [1, 3, 4]
    assert result["designs"]["rd_cutoff"]["sharp"]                  # ties at the cut-off are placed below it
    tot = result["treatment_on_treated"]
    assert tot is not None and not tot["rd_cutoff"]["sharp"] and tot["rd_cutoff"].get("first_stage") is not None
    assert tot["did_near_miss"]["n_treated"] < result["designs"]["did_near_miss"]["n_treated"]
    assert result["verdict"][0].startswith("Compared with similar young people ranked just below the cut-off")
    assert "regression to the mean" in result["verdict"][1] and "not an effect estimate" in result["verdict"][1]
    assert any("near-miss comparison rows" in w for w in result["warnings"])


def test_the_verdict_reads_like_the_issue():
    designs = {
        "did_near_miss": {"available": True, "estimate": -0.04, "ci_low": -0.20, "ci_high": 0.12, "mde": 0.3,
                          "sms_level": 3, "group": "listed"},
        "naive_prepost": {"available": True, "estimate": -0.31, "ci_low": -0.4, "ci_high": -0.2, "mde": 0.2,
                          "sms_level": 1, "group": "listed"},
        "rd_cutoff": {"available": False, "reason": "too small to tell: 3 people at or above the cut-off",
                      "estimate": None, "sms_level": 4},
    }
    first, naive, rd = verdict({"designs": designs, "primary": "did_near_miss"})
    assert "knife offending for the listed changed by −4% [−20%, +12%]" in first
    assert "no detectable effect at this size" in first and "about 30% or more" in first
    assert "The simple before/after shows −31%" in naive and "selection at a peak" in naive
    assert "could not be computed: too small to tell" in rd
    assert signed_percent(0.001) == "0%" and signed_percent(0.125) == "+12%"


def test_the_naive_design_cannot_be_primary():
    with pytest.raises(HkcError, match="not an effect estimate"):
        evaluate_panel(two_by_two(), primary="naive_prepost")


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.drop(columns=["cutoff"]), "missing column"),
    (lambda p: pd.concat([p, p.iloc[:1]]), "more than once"),
    (lambda p: p.assign(pre_events=p["pre_events"] - 100), "whole numbers of 0 or more"),
    (lambda p: p.assign(cutoff=np.arange(len(p))), "more than one cut-off"),
    (lambda p: p.assign(post_years=-1.0), "must not be negative"),
    (lambda p: p.assign(cohort="not a date"), "not dates"),
])
def test_a_bad_panel_is_one_clear_line(change, message):
    with pytest.raises(HkcError, match=message) as error:
        check_panel(change(two_by_two()))
    assert "\n" not in str(error.value)
