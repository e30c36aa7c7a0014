"""A county's cohort of about 50 people: the audit must be able to fire, and must say when it cannot.

Issue #16: at 50 every minority group's selected count is under the small-cell threshold (10), so no
group could raise a flag and the headline said "No ethnicity group's chance of being in the cohort
raised a flag" while every minority group was selected at 2-4 times the White rate; 0 of 58 got
the interval 0.00-0.00, a group of 2 people "2.05 [1.91-2.21]", and "small" was printed beside a
group of 7,061.  Planted truths: three small minority groups over-selected 3 times are found by the
pooled comparison; the same population without the bias is not flagged.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from hkc.audit.baselines import composition_baselines
from hkc.audit.columns import POOLED_NAME_TAKEN
from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.exact import difference_interval, rate_interval, ratio_interval
from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.definitions.audit_spec import AuditSpec, PooledSettings
from hkc.errors import HkcError

POOLED = "ethnicity (pooled)"
MINORITY = "Minority ethnic (pooled)"
Z95 = 1.959963984540054


def spec(resamples: int = 50, seed: int = 3) -> AuditSpec:
    base = AuditSpec()
    return dataclasses.replace(base, bootstrap=dataclasses.replace(base.bootstrap, resamples=resamples, seed=seed))


def population(seed: int, bias: float, *, n: int = 5000, cohort: int = 50) -> pd.DataFrame:
    """``n`` scored people, 90% White and three small minority groups, with ``cohort`` of them selected;
    each minority person is ``bias`` times as likely to be chosen as a White person."""
    rng = np.random.default_rng(seed)
    ethnicity = rng.choice(["White", "Asian", "Black", "Mixed"], n, p=[0.9, 0.035, 0.035, 0.03])
    weight = np.where(ethnicity == "White", 1.0, bias)
    chosen = rng.choice(n, cohort, replace=False, p=weight / weight.sum())
    selected = np.zeros(n, dtype=bool)
    selected[chosen] = True
    return pd.DataFrame({"ethnicity": ethnicity, "sex": rng.choice(["F", "M"], n), "selected": selected})


def audit(frame: pd.DataFrame, **kwargs) -> dict:
    return audit_selection(frame, selected="selected", by=["ethnicity"], spec=kwargs.pop("spec", spec()),
                           selection_label="in the cohort", **kwargs)


def row(result: dict, attr: str, group: str) -> dict:
    return next(g for g in result["attributes"][attr]["groups"] if g["group"] == group)


def katz(x1: int, n1: int, x2: int, n2: int) -> list[float]:
    """Katz's log interval, written out again from the textbook formula (no count is empty here)."""
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return [ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se)]


# --------------------------------------------------------------------------------------------
# Planted truths


def test_three_small_groups_over_selected_three_times_flag_the_pooled_comparison():
    result = audit(population(seed=0, bias=3.0))
    pooled = row(result, POOLED, MINORITY)
    assert pooled["selected"] < 20 and all(row(result, "ethnicity", g)["selected"] < 10
                                           for g in ("Asian", "Black", "Mixed"))
    assert "selection_rate" in pooled["flags"] and pooled["ratio_ci"]["selection_rate"][0] > 1
    assert result["attributes"][POOLED]["pooled"] == {"attribute": "ethnicity", "group": MINORITY,
                                                      "members": ["Asian", "Black", "Mixed"]}
    assert {"attribute": POOLED, "group": MINORITY, "metric": "selection_rate"}.items() <= next(
        f for f in result["flags"] if f["attribute"] == POOLED).items()
    sentence = next(s for s in findings(result) if s.startswith("People of all minority ethnic groups together"))
    assert "(Asian, Black, Mixed) in the scored population were" in sentence
    assert "as likely as White people to be in the cohort" in sentence


def test_the_same_population_without_the_bias_raises_no_flag():
    result = audit(population(seed=0, bias=1.0))
    assert result["flags"] == []
    pooled = row(result, POOLED, MINORITY)
    assert pooled["flags"] == [] and pooled["ratio_ci"]["selection_rate"][0] < 1


def test_over_twenty_seeds_the_bias_is_found_mostly_and_invented_rarely():
    found = sum("selection_rate" in row(audit(population(s, 3.0)), POOLED, MINORITY)["flags"] for s in range(20))
    invented = sum("selection_rate" in row(audit(population(s, 1.0)), POOLED, MINORITY)["flags"] for s in range(20))
    assert found >= 14  # about 84% power over 200 seeds
    assert invented <= 2  # 95% intervals: about 1 in 20 at most (1.5% over 200 seeds)


# --------------------------------------------------------------------------------------------
# What a small cohort's findings say


@pytest.fixture(scope="module")
def county() -> dict:
    """55 listed of 1,930: Asian 3 of 40, Black 4 of 60, Mixed 2 of 30 (all under 10) against White 46 of 1,800."""
    rows = []
    for ethnicity, n, chosen in (("Asian", 40, 3), ("Black", 60, 4), ("Mixed", 30, 2), ("White", 1800, 46)):
        rows += [{"ethnicity": ethnicity, "selected": i < chosen} for i in range(n)]
    return audit(pd.DataFrame(rows))


def test_a_small_group_cannot_be_assessed_and_the_finding_gives_its_figures(county):
    asian = row(county, "ethnicity", "Asian")
    assert asian["flags"] == [] and asian["unassessed"] == ["selection_rate"]
    assert asian["ratio_ci"]["selection_rate"] == pytest.approx(katz(3, 40, 46, 1800), rel=1e-9)
    lo, hi = katz(3, 40, 46, 1800)
    ratio = (3 / 40) / (46 / 1800)
    text = " ".join(findings(county))
    assert (f"Asian people (n = 40): 3 of 40 in the cohort, ratio {ratio:.2f} (95% CI {lo:.2f}–{hi:.2f})"
            in text)
    assert "cannot be assessed at this size" in text


def test_the_headline_never_says_no_group_raised_a_flag_when_groups_could_not_be_assessed(county):
    sentences = findings(county)
    assert not any("group's chance of being in the cohort raised a flag" in s for s in sentences)
    headline = next(s for s in sentences if s.startswith("Of 3 ethnicity groups compared with White people, 3 "
                                                          "could not be assessed at this size (counts under 10)"))
    assert "the absence of a flag is not evidence of fairness at this size" in headline
    # the partner copy withholds them: it says so, and does not call them unassessed (one may be flagged)
    partner = findings(suppress_small_cells(county, threshold=10))
    assert not any("raised a flag (" in s and s.startswith("No ") for s in partner)
    assert any(s.startswith("Of 3 ethnicity groups compared with White people, 3 are withheld from this copy")
               for s in partner)


def test_the_pooled_comparison_of_a_county_cohort_is_assessed_with_its_counts(county):
    pooled = row(county, POOLED, MINORITY)
    assert (pooled["n"], pooled["selected"]) == (130, 9)
    # 9 selected: under 10, so the interval is Katz's, and it excludes 1 (2.71 times the White rate)
    assert pooled["exact"]["ratio"] == ["selection_rate"]
    assert pooled["ratio_ci"]["selection_rate"] == pytest.approx(katz(9, 130, 46, 1800), rel=1e-9)
    assert pooled["ratio_ci"]["selection_rate"][0] > 1 and "selection_rate" in pooled["flags"]
    assert any("(9 of 130 against 46 of 1,800: a count is under 10, so the interval is exact)" in s
               for s in findings(county))


def test_small_marks_only_a_group_with_too_few_people_behind_a_rate():
    # the demo's females: 1 of 7,061 listed against 49 of 7,000 males
    frame = pd.DataFrame({"sex": ["F"] * 7061 + ["M"] * 7000 + ["X"] * 6,
                          "selected": [True] + [False] * 7060 + [True] * 49 + [False] * 6951 + [False] * 6})
    result = audit_selection(frame, selected="selected", by=["sex"], spec=spec(), reference={"sex": "M"})
    females, x = row(result, "sex", "F"), row(result, "sex", "X")
    assert females["small"] is False and females["small_counts"] == ["selected"]
    assert x["small"] is True  # 6 people
    # one listed female is a small count: an exact interval, which here does exclude 1
    lo, hi = females["ratio_ci"]["selection_rate"]
    assert lo > 0 and hi < 0.8 and "selection_rate" in females["flags"]
    assert x["flags"] == [] and x["unassessed"] == ["selection_rate"]


# --------------------------------------------------------------------------------------------
# Intervals of small counts: never of zero width


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 400), data=st.data())
def test_a_rate_interval_is_clopper_pearson_and_never_of_zero_width(n, data):
    x = data.draw(st.integers(0, n))
    low, high = rate_interval(x, n, 0.95)
    expected = binomtest(x, n).proportion_ci(confidence_level=0.95, method="exact")
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-9)
    assert high - low > 0 and low <= x / n <= high


@settings(max_examples=300, deadline=None)
@given(n1=st.integers(1, 300), n2=st.integers(1, 3000), data=st.data())
def test_a_ratio_or_difference_interval_is_never_of_zero_width_and_holds_the_estimate(n1, n2, data):
    x1, x2 = data.draw(st.integers(0, n1)), data.draw(st.integers(1, n2))
    ratio = (x1 / n1) / (x2 / n2)
    low, high = ratio_interval(x1, n1, x2, n2, 0.95)
    assert high - low > 0 and low <= ratio <= high
    if x1 == 0:
        assert low == 0 and high > 0
    d_low, d_high = difference_interval(x1, n1, x2, n2, 0.95)
    assert d_high - d_low > 0 and d_low <= x1 / n1 - x2 / n2 <= d_high
    assert ratio_interval(x1, n1, 0, n2, 0.95) is None  # the reference's rate is 0: no ratio


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 80), others=st.integers(10, 300))
def test_a_group_with_nobody_selected_gets_an_interval_of_non_zero_width(n, others):
    # the percentile bootstrap gave 0 of n the interval [0, 0]: every resample has nobody selected
    frame = pd.DataFrame({"grp": ["a"] * n + ["b"] * 3 * others,
                          "selected": [False] * n + [True, False, False] * others})
    result = audit_selection(frame, selected="selected", by=["grp"], spec=spec(resamples=20),
                             reference={"grp": "b"})
    a = row(result, "grp", "a")
    low, high = a["ci"]["selection_rate"]
    assert a["selection_rate"] == 0 and low == 0 and high > 0
    r_low, r_high = a["ratio_ci"]["selection_rate"]
    assert r_low == 0 and r_high > 0
    d_low, d_high = a["difference_ci"]["selection_rate"]
    assert d_high - d_low > 0


def test_a_group_of_two_no_longer_gets_a_narrow_interval():
    # COMPAS: Asian women, 2 people, 1 of 1 with the outcome not rated high; the bootstrap said 2.05 [1.91-2.21]
    frame = pd.DataFrame({"grp": ["a", "a"] + ["b"] * 400, "high": [0, 0] + [1, 0] * 200,
                          "y": [1, 0] + [1, 1, 0, 0] * 100})
    result = audit_selection(frame, selected="high", by=["grp"], outcome="y", spec=spec(), reference={"grp": "b"})
    low, high = row(result, "grp", "a")["ratio_ci"]["false_negative_rate"]
    assert high / low > 3


# --------------------------------------------------------------------------------------------
# The MOPAC test: above every baseline


@pytest.fixture(scope="module")
def composition() -> dict:
    """1,000 scored: Black 100 (12 listed of a cohort of 60), White 900 (48 listed); Black people are
    10% of everyone scored, 8% of the resident population and 15% of those convicted."""
    rows = [{"ethnicity": "Black", "in": i < 12} for i in range(100)] + \
           [{"ethnicity": "White", "in": i < 48} for i in range(900)]
    scored = pd.DataFrame(rows)
    convicted = pd.Series([i < 15 for i in range(100)] + [i < 85 for i in range(900)])
    resident = pd.DataFrame({"ethnicity": ["Black", "White"], "count": [8000, 92000]})
    base = composition_baselines(scored["in"], scored[["ethnicity"]], spec=spec(),
                                 baselines={"population": resident, "convicted": convicted})
    return {"attributes": {}, "thresholds": {"confidence": 0.95, "small_cell": 10}, "baselines": base,
            "labels": {"ethnicity": {"Black": "Black people", "White": "White people"}}}


def test_a_share_above_every_baseline_is_a_finding_even_unflagged(composition):
    black = next(g for g in composition["baselines"]["attributes"]["ethnicity"]["groups"] if g["group"] == "Black")
    assert black["cohort_share"] == pytest.approx(0.2)
    assert all(black["cohort_share"] > e["share"] for e in black["baselines"].values())
    sentence = next(s for s in findings(composition) if s.startswith("Black people made up 20.00% of the cohort"))
    assert "more than its share of every baseline (the MOPAC test)" in sentence
    for label in ("everyone scored (10.00%)", "the resident population (age-matched) (8.00%)",
                  "people convicted of a weapon offence in the window (15.00%)"):
        assert f"against {label}" in sentence


def test_a_share_below_one_baseline_fails_the_mopac_test(composition):
    white = next(g for g in composition["baselines"]["attributes"]["ethnicity"]["groups"] if g["group"] == "White")
    assert white["cohort_share"] < white["baselines"]["scored"]["share"]
    assert not any("White people made up" in s for s in findings(composition))


# --------------------------------------------------------------------------------------------
# Pooling: settings, names and the partner copy


def test_a_pooled_name_that_is_also_a_group_is_refused():
    bad = dataclasses.replace(spec(), pooled={"ethnicity": PooledSettings(groups=("Asian", "Black"), name="White")})
    with pytest.raises(HkcError) as err:
        audit(population(seed=1, bias=1.0), spec=bad)
    assert str(err.value) == POOLED_NAME_TAKEN.format(name="White", attribute="ethnicity")


def test_no_pooled_comparison_when_the_reference_is_pooled_or_no_group_is_present():
    result = audit(population(seed=1, bias=1.0), reference={"ethnicity": "Black"})
    assert POOLED not in result["attributes"]
    frame = population(seed=1, bias=1.0).assign(ethnicity="White")
    assert POOLED not in audit(frame)["attributes"]


def test_the_partner_copy_never_lets_a_hidden_member_be_worked_out_from_the_pooled_count():
    # Asian (3 listed), Not stated (4) and Unknown (5) are hidden; Black, Mixed and Other are not. Each
    # attribute's total has two or more hidden groups, so only the pooled relation is left: without it,
    # Asian = pooled - Black - Mixed - Other.
    rows = []
    for ethnicity, n, chosen in (("Asian", 300, 3), ("Black", 300, 15), ("Mixed", 300, 12), ("Other", 300, 11),
                                 ("Not stated", 300, 4), ("Unknown", 300, 5), ("White", 3000, 60)):
        rows += [{"ethnicity": ethnicity, "selected": i < chosen} for i in range(n)]
    frame = pd.DataFrame(rows)
    result = audit(frame)
    result["baselines"] = composition_baselines(frame["selected"], frame[["ethnicity"]], baselines={}, spec=spec())
    partner = suppress_small_cells(result, threshold=10)
    members = ["Asian", "Black", "Mixed", "Other"]
    for table in ("attributes", "baselines"):
        source = partner[table]["attributes"] if table == "baselines" else partner["attributes"]
        key = "cohort_count" if table == "baselines" else "selected"
        known = {(attr, g["group"]): g[key] for attr, a in source.items() for g in a["groups"]
                 if isinstance(g[key], int)}
        relation = [(POOLED, MINORITY)] + [("ethnicity", m) for m in members]
        unknown = [node for node in relation if node not in known]
        assert len(unknown) != 1, f"{table}: {unknown} can be worked out from {relation}"
        assert ("ethnicity", "Asian") not in known


def test_the_pooled_groups_calibration_bands_are_withheld_when_a_member_is():
    # Asian people (about 30) have bands of a few people each: withheld; the pooled bands would give them away
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"ethnicity": rng.choice(["White", "Asian", "Black", "Mixed", "Other"], n,
                                                  p=[0.85, 0.01, 0.06, 0.05, 0.03]),
                          "score": rng.integers(1, 11, n), "y": rng.random(n) < 0.3})
    result = audit_selection(frame.assign(selected=frame["score"] >= 7), selected="selected", by=["ethnicity"],
                             score="score", outcome="y", spec=spec())
    partner = suppress_small_cells(result, threshold=10)
    assert "Asian" in partner["suppression"]["withheld_groups"]["ethnicity"]
    pooled_bands = [b for b in partner["attributes"][POOLED]["calibration"] if b["group"] == MINORITY]
    assert pooled_bands and all(b["n"] == "withheld" and b["observed_rate"] == "withheld" for b in pooled_bands)
    assert all(isinstance(b["n"], int) for b in result["attributes"][POOLED]["calibration"])  # the auditor's copy
