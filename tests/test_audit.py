"""Tests for the fairness audit (hkc/audit.py and the hkc/audit_*.py modules it re-exports)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, true_positive_rate
from scipy.stats import beta
from sklearn.metrics import confusion_matrix

from hkc.audit.baselines import age_matched_population, composition_baselines
from hkc.audit.bootstrap import bootstrap_intervals
from hkc.audit.columns import NO_COLUMN
from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.drivers import driver_decomposition
from hkc.audit.file import run_file_audit
from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.audit.report import audit_metrics, write_audit
from hkc.definitions.audit_spec import (
    AttributeSettings,
    AuditSpec,
    BootstrapSettings,
    CalibrationSettings,
    DisclosureSettings,
    FlagSettings,
    PooledSettings,
    load_audit_spec,
)
from hkc.errors import ConfigError, ExtractError, HkcError

# ProPublica's COMPAS data, kept in the repository with its provenance (tests/data/compas/README.md)
COMPAS = Path(__file__).resolve().parent / "data" / "compas" / "compas-scores-two-years.csv.gz"

# ProPublica's published tables (tests/data/compas/README.md): n, selection rate, FPR, FNR.
PUBLISHED = {
    ("race", "African-American"): (3696, 0.5882, 0.4485, 0.2799),
    ("race", "Caucasian"): (2454, 0.3480, 0.2345, 0.4772),
    ("sex", "Female"): (1395, 0.4237, 0.3211, 0.3916),
    ("sex", "Male"): (5819, 0.4685, 0.3242, 0.3709),
}
FILTERED = {
    ("race", "African-American"): (3175, 0.5761, 0.4234, 0.2848),
    ("race", "Caucasian"): (2103, 0.3310, 0.2201, 0.4964),
    ("sex", "Female"): (1175, 0.4051, 0.3018, 0.4044),
    ("sex", "Male"): (4997, 0.4553, 0.3030, 0.3794),
}


def fast_spec(resamples: int = 400, seed: int = 7, **flags) -> AuditSpec:
    spec = AuditSpec()
    return dataclasses.replace(spec, bootstrap=dataclasses.replace(spec.bootstrap, resamples=resamples, seed=seed),
                               flags=dataclasses.replace(spec.flags, **flags))


def group(result: dict, attr: str, name: str) -> dict:
    return next(g for g in result["attributes"][attr]["groups"] if g["group"] == name)


def walk(node, key=None):
    """Yield (key, value) for every leaf of a nested dict/list."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    else:
        yield key, node


@pytest.fixture(scope="module")
def compas_frame() -> pd.DataFrame:
    return pd.read_csv(COMPAS)


@pytest.fixture(scope="module")
def compas_audit(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("compas")
    result = run_file_audit(COMPAS, score="decile_score", threshold=5, selected=None, outcome="two_year_recid",
                            by=["race", "sex"], out=out, spec=AuditSpec(), reference={"race": "Caucasian"})
    return result, out


@pytest.fixture
def tiny_scored() -> pd.DataFrame:
    """A small scored population in the extract's codes: 40 people in 3 ethnicities × 2 sexes."""
    rng = np.random.default_rng(3)
    eth = np.repeat(["Black", "White", "Asian"], [12, 20, 8])
    sex = np.tile(["F", "M"], 20)
    return pd.DataFrame({"person_id": [f"p{i}" for i in range(40)], "ethnicity": eth, "sex": sex,
                         "risk_score": rng.gamma(2, 10, 40).round(1),
                         "in_cohort": [True, False] * 20})


# --------------------------------------------------------------------------------------------
# The specification


def test_every_audit_spec_key_is_documented():
    for cls in (AttributeSettings, BootstrapSettings, DisclosureSettings, FlagSettings, CalibrationSettings,
                PooledSettings, AuditSpec):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no description"


def test_shipped_audit_spec_loads_with_the_documented_defaults():
    spec = load_audit_spec()
    default = AuditSpec()
    assert spec.bootstrap == default.bootstrap and spec.bootstrap.resamples == 1000
    assert spec.disclosure.small_cell == 10
    assert (spec.flags.ratio_low, spec.flags.ratio_high) == (0.8, 1.25)
    assert spec.attributes.intersections == ("ethnicity*sex",)
    assert dict(spec.reference) == dict(default.reference) == {"ethnicity": "White", "sex": "M"}
    assert {k: dict(v) for k, v in spec.labels.items()} == {k: dict(v) for k, v in default.labels.items()}
    assert dict(spec.pooled) == dict(default.pooled) == {"ethnicity": PooledSettings(
        groups=("Asian", "Black", "Mixed", "Other"), name="Minority ethnic (pooled)",
        label="people of all minority ethnic groups together")}
    assert len(spec.sha256) == 64 and spec.digest() == spec.sha256


def test_audit_spec_unknown_key_names_the_closest(tmp_path):
    path = tmp_path / "fairness.toml"
    path.write_text("[bootstrap]\nresample = 100\n")
    with pytest.raises(ConfigError) as err:
        load_audit_spec(path)
    assert str(err.value) == f"unknown key 'resample' in {path} [bootstrap]; did you mean 'resamples'?"


@pytest.mark.parametrize("text, words", [
    ('[attributes]\ncolumns = ["ethnicity"]\nintersections = ["ethnicity*sex"]\n', "must join listed columns"),
    ('[flags]\nmetrics = ["selection_rte"]\n', "unknown metric 'selection_rte'"),
    ('[bootstrap]\nconfidence = 1.5\n', "must be at most 0.999"),
    ('[reference]\nethnicty = "White"\n', "did you mean 'ethnicity'?"),
    ('[pooled.ethnicity]\ngroups = ["Black", "White"]\n', "groups may not include the reference group 'White'"),
    ('[pooled.ethnicity]\ngroups = ["Black"]\n', "groups must list two or more different groups"),
    ('[pooled.ethnicty]\ngroups = ["Asian", "Black"]\n', "did you mean 'ethnicity'?"),
    ('[pooled.ethnicity]\ngroups = ["Asian", "Black"]\nlable = "x"\n', "did you mean 'label'?"),
])
def test_audit_spec_bad_values_are_one_line_errors(tmp_path, text, words):
    path = tmp_path / "fairness.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_audit_spec(path)
    assert words in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------
# COMPAS: ProPublica's published figures, exactly


@pytest.mark.parametrize("key", list(PUBLISHED))
def test_compas_unfiltered_reproduces_propublica(compas_audit, key):
    result, _ = compas_audit
    n, rate, fpr, fnr = PUBLISHED[key]
    g = group(result, *key)
    assert result["n"] == 7214
    assert g["n"] == n
    assert round(g["selection_rate"], 4) == rate
    assert round(g["false_positive_rate"], 4) == fpr
    assert round(g["false_negative_rate"], 4) == fnr


def test_compas_filtered_reproduces_propublica(compas_frame):
    d = compas_frame
    kept = d[d["days_b_screening_arrest"].between(-30, 30) & (d["is_recid"] != -1)
             & (d["c_charge_degree"] != "O") & (d["score_text"] != "N/A")]
    assert len(kept) == 6172
    result = audit_selection(kept.assign(high=kept["decile_score"] >= 5), selected="high", by=["race", "sex"],
                             score="decile_score", outcome="two_year_recid", spec=fast_spec())
    for key, (n, rate, fpr, fnr) in FILTERED.items():
        g = group(result, *key)
        assert (g["n"], round(g["selection_rate"], 4), round(g["false_positive_rate"], 4),
                round(g["false_negative_rate"], 4)) == (n, rate, fpr, fnr), key


def test_compas_intervals_contain_point_estimates(compas_audit):
    result, _ = compas_audit
    checked = 0
    for attr in result["attributes"].values():
        for g in attr["groups"]:
            for metric, ci in g["ci"].items():
                if g[metric] is not None and ci is not None:
                    assert ci[0] - 1e-12 <= g[metric] <= ci[1] + 1e-12, (g["group"], metric)
                    checked += 1
            for metric, ci in g["ratio_ci"].items():
                if g["ratio"][metric] is not None and ci is not None:
                    assert ci[0] - 1e-12 <= g["ratio"][metric] <= ci[1] + 1e-12, (g["group"], metric)
                    checked += 1
    assert checked > 200


def test_compas_small_groups_have_visibly_wider_intervals_and_are_flagged_small(compas_audit):
    result, _ = compas_audit

    def width(name: str, metric: str = "selection_rate") -> float:
        lo, hi = group(result, "race", name)["ci"][metric]
        return hi - lo

    for small in ("Asian", "Native American"):
        assert width(small) > 4 * width("African-American")
        assert width(small, "false_positive_rate") > 4 * width("African-American", "false_positive_rate")
        assert group(result, "race", small)["small"] is True
    assert group(result, "race", "African-American")["small"] is False
    assert group(result, "race", "Caucasian")["small"] is False


def test_compas_flags_propublicas_disparity_and_says_so_with_interval_and_baseline(compas_audit):
    result, _ = compas_audit
    aa = group(result, "race", "African-American")
    assert {"selection_rate", "false_positive_rate", "false_negative_rate"} <= set(aa["flags"])
    assert group(result, "sex", "Female")["flags"] == []
    text = " ".join(findings(result))
    assert re.search(r"false positive rate for African-American people was 44\.85% \(95% CI [\d.]+%–[\d.]+%\) "
                     r"against 23\.45%", text)
    assert "who did not have the outcome (two_year_recid)" in text
    # Native American people: 12 of 18 rated high against 854 of 2,454 Caucasian people.  Six were not
    # rated high (under the small-cell threshold of 10), so the ratio's interval is Katz's exact-count
    # interval, computed here by hand; it excludes 1, and 18 people are enough to flag it.
    native = group(result, "race", "Native American")
    assert native["exact"]["ratio"][:1] == ["selection_rate"] and "selection_rate" in native["flags"]
    se = np.sqrt(1 / 12 - 1 / 18 + 1 / 854 - 1 / 2454)
    ratio = (12 / 18) / (854 / 2454)
    assert native["ratio_ci"]["selection_rate"] == pytest.approx([ratio * np.exp(-1.959964 * se),
                                                                  ratio * np.exp(1.959964 * se)], rel=1e-6)
    assert "(12 of 18 against 854 of 2,454: a count is under 10, so the interval is exact)" in text
    # ... but its false positive rate rests on fewer than 10 people without the outcome: never flagged
    assert native["negatives"] < 10 and native["small"] is True
    assert "false_positive_rate" not in native["flags"]


def test_compas_group_rates_agree_with_sklearn_confusion_matrix(compas_frame, compas_audit):
    result, _ = compas_audit
    d = compas_frame
    for attr, name in (("race", "African-American"), ("race", "Asian"), ("sex", "Female")):
        rows = d[d[attr] == name]
        tn, fp, fn, tp = confusion_matrix(rows["two_year_recid"], rows["decile_score"] >= 5, labels=[0, 1]).ravel()
        g = group(result, attr, name)
        assert (g["true_positives"], g["false_positives"], g["false_negatives"], g["true_negatives"]) == (tp, fp, fn, tn)
        assert g["false_positive_rate"] == pytest.approx(fp / (fp + tn), abs=1e-12)
        assert g["false_negative_rate"] == pytest.approx(fn / (fn + tp), abs=1e-12)
        assert g["precision"] == pytest.approx(tp / (tp + fp), abs=1e-12)
        assert g["selection_rate"] == pytest.approx((tp + fp) / len(rows), abs=1e-12)


def test_compas_outputs_and_calibration(compas_audit):
    result, out = compas_audit
    names = {p.name for p in out.iterdir()}
    assert {"audit.json", "audit.html", "groups.csv", "ratios.csv", "disparities.csv", "calibration.csv"} <= names
    data = json.loads((out / "audit.json").read_text())
    assert data["attributes"]["race*sex"]["groups"][0]["group"].count("*") == 1
    assert data["provenance"]["resamples"] == 1000 and len(data["provenance"]["spec_sha256"]) == 64
    calibration = pd.read_csv(out / "calibration.csv")
    aa = calibration[(calibration["attribute"] == "race") & (calibration["group"] == "African-American")]
    assert sorted(aa["band"]) == list(range(1, 11)) and aa["n"].sum() == 3696


# --------------------------------------------------------------------------------------------
# Undefined rates: fairlearn's silent 0.0


def test_group_with_no_positive_outcomes_has_null_tpr_listed_and_left_out_of_ratios():
    frame = pd.DataFrame({
        "grp": ["a"] * 30 + ["b"] * 30,
        "sel": [1, 0, 0] * 10 + [1, 0] * 15,
        "out": [1, 0] * 15 + [0] * 30,  # group b: nobody had the outcome
    })
    # fairlearn on its own reports 0.0 for b's true positive rate:
    silent = MetricFrame(metrics=true_positive_rate, y_true=frame["out"], y_pred=frame["sel"],
                         sensitive_features=frame["grp"]).by_group
    assert silent["b"] == 0.0
    result = audit_selection(frame, selected="sel", by=["grp"], outcome="out", spec=fast_spec(),
                             reference={"grp": "a"})
    b = group(result, "grp", "b")
    assert b["true_positive_rate"] is None and b["false_negative_rate"] is None
    assert b["false_positive_rate"] == pytest.approx(0.5)
    assert {"true_positive_rate", "false_negative_rate"} <= set(b["undefined"])
    assert b["ratio"]["true_positive_rate"] is None and b["ratio_ci"]["true_positive_rate"] is None
    assert b["ci"]["true_positive_rate"] is None
    listed = {(u["group"], u["metric"]) for u in result["undefined"]}
    assert {("b", "true_positive_rate"), ("b", "false_negative_rate")} <= listed
    disparities = result["attributes"]["grp"]["disparities"]
    assert disparities["excluded_groups"] == ["b"]
    assert disparities["equalized_odds_difference"] is None  # one group left: nothing to compare
    assert any("undefined because no one in the group had the outcome" in s for s in findings(result))
    out = json.dumps(result, allow_nan=False)  # nulls, never NaN
    assert '"true_positive_rate": null' in out


# --------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_is_reproducible_for_a_seed_and_moves_with_another_seed(tiny_scored):
    a = audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity"], score="risk_score", spec=fast_spec(seed=1))
    b = audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity"], score="risk_score", spec=fast_spec(seed=1))
    c = audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity"], score="risk_score", spec=fast_spec(seed=2))
    ci = [group(r, "ethnicity", "White")["ci"]["selection_rate"] for r in (a, b, c)]  # 10 of 20: bootstrap
    assert ci[0] == ci[1]
    assert ci[0] != ci[2] and ci[0] == pytest.approx(ci[2], abs=0.15)
    # 6 of 12 Black people: counts under 10, so an exact interval, the same for every seed
    exact = [group(r, "ethnicity", "Black")["ci"]["selection_rate"] for r in (a, c)]
    assert exact[0] == exact[1] == pytest.approx(list(beta.ppf([0.025, 0.975], [6, 7], [7, 6])))


def test_bootstrap_intervals_match_resampling_rows_and_narrow_with_size():
    def share(draws):
        return {"share": draws[:, 0] / draws.sum(1)}

    small = bootstrap_intervals(np.array([3, 7]), share, resamples=2000, seed=5)["share"]
    large = bootstrap_intervals(np.array([3000, 7000]), share, resamples=2000, seed=5)["share"]
    assert small[0] < 0.3 < small[1] and large[0] < 0.3 < large[1]
    assert (small[1] - small[0]) > 10 * (large[1] - large[0])
    # the 95% interval of a share from 10,000 rows is about ±1.96 * sqrt(p(1-p)/n)
    assert large[1] - large[0] == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 10_000), rel=0.1)


def test_row_order_does_not_change_the_audit(tiny_scored):
    spec = fast_spec()
    a = audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score", spec=spec)
    shuffled = tiny_scored.sample(frac=1, random_state=4).reset_index(drop=True)
    b = audit_selection(shuffled, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score", spec=spec)
    assert a["attributes"] == b["attributes"]


def test_no_false_flag_when_selection_ignores_group():
    rng = np.random.default_rng(11)
    n = 20_000
    frame = pd.DataFrame({"ethnicity": rng.choice(["Asian", "Black", "White"], n, p=[0.1, 0.2, 0.7]),
                          "sex": rng.choice(["F", "M"], n), "sel": rng.random(n) < 0.05,
                          "out": rng.random(n) < 0.2})
    result = audit_selection(frame, selected="sel", by=["ethnicity", "sex"], outcome="out", spec=fast_spec())
    assert result["flags"] == []
    assert any(s.startswith("No ethnicity group's chance of being selected raised a flag") for s in
               findings(result))


def test_refresh_style_finding_names_groups_interval_and_baseline():
    rng = np.random.default_rng(2)
    n = 6000
    eth = rng.choice(["Black", "White"], n, p=[0.2, 0.8])
    p = np.where(eth == "Black", 0.10, 0.05)
    frame = pd.DataFrame({"ethnicity": eth, "sex": rng.choice(["F", "M"], n), "in_cohort": rng.random(n) < p})
    result = audit_selection(frame, selected="in_cohort", by=["ethnicity", "sex"], spec=fast_spec(),
                             selection_label="in the cohort")
    assert result["attributes"]["ethnicity"]["reference"] == "White"
    assert result["attributes"]["ethnicity*sex"]["reference"] == "White*M"
    sentence = next(s for s in findings(result) if s.startswith("Black people in the scored population were"))
    assert re.search(r"were \d\.\d\d times \(95% CI \d\.\d\d–\d\.\d\d\) as likely as White people to be in the "
                     r"cohort\.$", sentence)


# --------------------------------------------------------------------------------------------
# Composition baselines and drivers


@pytest.fixture
def driver_case():
    """Black people's extra points come from intelligence reports; convictions are alike."""
    people = pd.DataFrame({"person_id": [f"p{i}" for i in range(100)],
                           "ethnicity": ["Black"] * 40 + ["White"] * 60})
    rows = []
    for i in range(100):
        black = i < 40
        rows.append((f"p{i}", "risk", "knife_possession", 1, "2026-01-01", 10.0 + (i % 3)))
        rows.append((f"p{i}", "risk", "knife_intel", 2, "2026-02-01", (12.0 if black else 3.0) + (i % 4)))
        rows.append((f"p{i}", "risk", "stop_search_find", 1, "2026-02-01", 2.0 + (i % 2)))
        rows.append((f"p{i}", "vulnerability", "missing_episode", 1, "2026-02-01", 50.0))  # never counts
    contributions = pd.DataFrame(rows, columns=["person_id", "axis", "indicator", "count", "latest", "points"])
    flags = pd.DataFrame({"indicator": ["knife_possession", "knife_intel", "stop_search_find"],
                          "intelligence": [False, True, False], "proactive": [False, False, True],
                          "label": ["knife possession", "knife intelligence reports", "weapon found on search"]})
    return contributions, people, flags


def test_intelligence_driven_gap_is_named_as_such(driver_case):
    contributions, people, flags = driver_case
    d = driver_decomposition(contributions, people, attribute="ethnicity", reference="White", indicator_flags=flags,
                             spec=fast_spec())
    black = next(g for g in d["groups"] if g["group"] == "Black")
    white = next(g for g in d["groups"] if g["group"] == "White")
    assert black["driven_by"] == "intelligence" and black["drivers"] == ["knife_intel"]
    assert sum(black["gap_by_indicator"].values()) == pytest.approx(black["gap"])
    assert black["gap"] == pytest.approx(black["mean_points"] - white["mean_points"])
    assert black["gap_ci"][0] > 0 and black["flag"] is True
    assert black["intelligence_share"] > white["intelligence_share"]
    assert black["mean_points_ci"][0] <= black["mean_points"] <= black["mean_points_ci"][1]
    result = {"attributes": {}, "thresholds": {"confidence": 0.95}, "labels": {}, "drivers": {"ethnicity": d}}
    sentences = findings(result)
    sentence = next(s for s in sentences if s.startswith("Among everyone scored, Black people had"))
    assert "than White people (95% CI" in sentence
    assert black["intelligence_flag"]
    assert any("of the risk points of Black people came from intelligence reports" in s for s in sentences)
    assert "driven by intelligence reports, chiefly knife intelligence reports" in sentence


def test_selection_finding_carries_the_intelligence_share_with_intervals(driver_case):
    contributions, people, flags = driver_case
    scored = people.assign(in_cohort=[True] * 24 + [False] * 16 + [True] * 12 + [False] * 48)
    spec = fast_spec(ratio_high=1.2)
    result = audit_selection(scored, selected="in_cohort", by=["ethnicity"], spec=spec, reference={"ethnicity": "White"},
                             selection_label="in the cohort")
    result["drivers"] = {"ethnicity": driver_decomposition(contributions, people, attribute="ethnicity",
                                                           reference="White", indicator_flags=flags, spec=spec)}
    sentence = next(s for s in findings(result) if s.startswith("Black people in the scored population"))
    assert re.search(r"were 3\.00 times \(95% CI [\d.]+–[\d.]+\) as likely as White people to be in the cohort; "
                     r"[\d.]+% \(95% CI [\d.]+%–[\d.]+%\) of their risk points came from intelligence reports against "
                     r"[\d.]+% \(95% CI [\d.]+%–[\d.]+%\) for White people\.$", sentence)


def test_composition_against_several_baselines(tiny_scored):
    scored = pd.concat([tiny_scored] * 5, ignore_index=True)  # 200 people, 100 in the cohort
    convicted = pd.Series([True, True, False, False] * 50)
    population = pd.DataFrame({"ethnicity": ["Black", "White", "Asian", "Mixed"], "sex": ["M"] * 4,
                               "count": [1000, 8000, 800, 200]})
    base = composition_baselines(scored["in_cohort"], scored[["ethnicity", "sex"]],
                                 baselines={"population": population, "convicted": convicted}, spec=fast_spec())
    assert set(base["baselines"]) == {"scored", "population", "convicted"}
    eth = {g["group"]: g for g in base["attributes"]["ethnicity"]["groups"]}
    assert set(eth) == {"Asian", "Black", "Mixed", "White"}  # population-only groups are kept
    black = eth["Black"]
    assert black["cohort_count"] == 30 and black["cohort_share"] == pytest.approx(30 / 100)
    assert black["baselines"]["scored"]["ratio"] == pytest.approx((30 / 100) / (60 / 200))
    assert black["baselines"]["scored"]["flag"] is False
    assert black["baselines"]["population"]["ratio"] == pytest.approx((30 / 100) / 0.1)
    assert black["baselines"]["population"]["flag"] is True
    lo, hi = black["baselines"]["population"]["ratio_ci"]
    assert lo <= black["baselines"]["population"]["ratio"] <= hi
    # nobody Mixed in the cohort: a ratio of 0, whose exact interval (Clopper-Pearson's 0 of 100, over the
    # population's 2%) is not of zero width and reaches past 1, so it cannot be assessed at this size
    mixed = eth["Mixed"]["baselines"]["population"]
    assert mixed["ratio"] == 0.0 and mixed["flag"] is False and mixed["indicative"] is False
    assert mixed["unassessed"] is True and mixed["exact"] is True
    assert mixed["ratio_ci"] == pytest.approx([0.0, (1 - 0.025 ** (1 / 100)) / 0.02])
    assert "sex" in base["attributes"] and "ethnicity*sex" in base["attributes"]
    assert base["attributes"]["sex"]["groups"][0]["baselines"]["population"]["share"] is not None
    sentences = findings({"attributes": {}, "thresholds": {"confidence": 0.95}, "baselines": base,
                          "labels": {"ethnicity": {"Black": "Black people"}}})
    text = next(s for s in sentences if s.startswith("Black people made up"))
    for label in ("everyone scored", "the resident population (age-matched)",
                  "people convicted of a weapon offence in the window"):
        assert f"against {label}" in text  # every baseline reported, none privileged
    assert "95% CI" in text


def test_age_matched_population_takes_the_scored_age_mix():
    population = pd.DataFrame({"area": ["x"] * 4, "age_band": ["10-17", "10-17", "18-64", "18-64"],
                               "sex": ["M"] * 4, "ethnicity": ["Black", "White", "Black", "White"],
                               "count": [100, 900, 1000, 1000]})
    matched = age_matched_population(population, pd.Series([12, 13, 15, 16]))  # all children
    shares = matched.groupby("ethnicity")["count"].sum() / matched["count"].sum()
    assert shares["Black"] == pytest.approx(0.1)


# --------------------------------------------------------------------------------------------
# Partner copies: statistical disclosure control


NOT_COUNTS = {"seed", "resamples", "small_cell", "band_index", "distinct_rows"}


def test_partner_copy_has_no_count_under_the_threshold_anywhere(compas_audit, driver_case, tmp_path):
    result, _ = compas_audit
    contributions, people, flags = driver_case
    full = dict(result)
    full["drivers"] = {"ethnicity": driver_decomposition(contributions.assign(
        person_id=contributions["person_id"]), people, attribute="ethnicity", reference="White",
        indicator_flags=flags, spec=fast_spec())}
    scored = people.assign(in_cohort=[True] * 5 + [False] * 35 + [True] * 30 + [False] * 30)
    full["baselines"] = composition_baselines(scored["in_cohort"], scored[["ethnicity"]], baselines={},
                                              spec=fast_spec())
    partner = suppress_small_cells(full, threshold=10)
    counts = {"n", "selected", "positives", "negatives", "true_positives", "false_positives", "false_negatives",
              "true_negatives", "count", "cohort_count", "cohort_n", "scored_n", "size"}
    leaks = [(k, v) for k, v in walk(partner) if not isinstance(v, bool) and (
        (isinstance(v, int) and k not in NOT_COUNTS) or (k in counts and isinstance(v, float))) and v < 10]
    assert leaks == []
    asian = group(partner, "race", "Asian")
    assert asian["selected"] == "<10" and asian["selection_rate"] == "withheld"
    assert asian["ci"]["selection_rate"] == "withheld"
    assert group(partner, "race", "African-American")["selection_rate"] == pytest.approx(0.5882, abs=1e-4)
    assert "findings" not in partner and partner["suppression"]["threshold"] == 10
    # the auditor's copy is untouched
    assert group(result, "race", "Asian")["selected"] == 8
    written = write_audit(partner, tmp_path / "partner", title="Partner copy")
    text = "".join(p.read_text() for p in written)
    assert "Asian" in text and "withheld" in text


def test_partner_copy_suppresses_a_nested_retrospective_audit_as_its_own_result():
    frame = pd.DataFrame({"sex": ["F"] * 6 + ["M"] * 300 + ["X"] * 40, "sel": [1, 0] * 3 + [1, 0] * 150 + [1, 0] * 20,
                          "y": [1, 0, 0] * 2 + [1, 0, 0] * 100 + [1, 0] * 20})
    past = audit_selection(frame, selected="sel", by=["sex"], outcome="y", spec=fast_spec(), reference={"sex": "M"})
    past["findings"] = findings(past)
    assert any("n = 6" in s for s in past["findings"])
    result = audit_selection(frame, selected="sel", by=["sex"], spec=fast_spec(), reference={"sex": "M"})
    result["retrospective"] = {"available": True, "as_of": "2025-09-30", "audit": past}
    partner = suppress_small_cells(result, threshold=10)
    nested = partner["retrospective"]["audit"]
    rows = {g["group"]: g for g in nested["attributes"]["sex"]["groups"]}
    assert rows["F"]["n"] == "<10" and rows["F"]["selection_rate"] == "withheld"
    assert rows["F"]["false_positive_rate"] == "withheld" and rows["X"]["selection_rate"] == "withheld"
    assert "findings" not in nested and nested["suppression"]["threshold"] == 10
    assert past["attributes"]["sex"]["groups"][0]["n"] == 6  # the auditor's copy is untouched


def test_one_hidden_group_is_never_recoverable_from_the_total():
    frame = pd.DataFrame({"sex": ["F"] * 6 + ["M"] * 300 + ["X"] * 40, "sel": [1, 0] * 3 + [1, 0] * 150 + [1, 0] * 20})
    result = audit_selection(frame, selected="sel", by=["sex"], spec=fast_spec(), reference={"sex": "M"})
    partner = suppress_small_cells(result, threshold=10)
    rows = {g["group"]: g for g in partner["attributes"]["sex"]["groups"]}
    assert rows["F"]["n"] == "<10"
    assert rows["X"]["n"] == "withheld" and rows["X"]["selection_rate"] == "withheld"  # secondary suppression
    assert rows["M"]["n"] == 300


def test_no_hidden_cohort_count_can_be_worked_out_from_totals_margins_or_other_tables():
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"ethnicity": rng.choice(["Asian", "Black", "Mixed", "White"], n, p=[.1, .15, .05, .7]),
                          "sex": rng.choice(["F", "M"], n)})
    frame["in_cohort"] = rng.random(n) < np.where(frame["ethnicity"] == "Black", 0.08, 0.02)
    spec = fast_spec(resamples=100)
    result = audit_selection(frame, selected="in_cohort", by=["ethnicity", "sex"], spec=spec)
    result["baselines"] = composition_baselines(frame["in_cohort"], frame[["ethnicity", "sex"]], baselines={},
                                                spec=spec)
    partner = suppress_small_cells(result, threshold=10)
    known: dict[tuple[str, str], int] = {}  # cohort counts published anywhere
    for attr, a in partner["attributes"].items():
        for g in a["groups"]:
            if isinstance(g["selected"], int):
                known[(attr, g["group"])] = g["selected"]
    for attr, a in partner["baselines"]["attributes"].items():
        for g in a["groups"]:
            if isinstance(g["cohort_count"], int):
                known[(attr, g["group"])] = g["cohort_count"]
    groups = {attr: [g["group"] for g in a["groups"]] for attr, a in result["attributes"].items()}
    relations = [[None] + [(attr, g) for g in names] for attr, names in groups.items()]
    for pos, part in enumerate(["ethnicity", "sex"]):
        for value in groups[part]:
            relations.append([(part, value)] + [("ethnicity*sex", g) for g in groups["ethnicity*sex"]
                                                if g.split("*")[pos] == value])
    hidden_somewhere = 0
    for relation in relations:
        unknown = [node for node in relation if node is not None and node not in known]
        assert len(unknown) != 1, f"{unknown[0]} can be worked out from {relation}"
        hidden_somewhere += len(unknown)
    assert hidden_somewhere > 0  # the case does exercise suppression


# --------------------------------------------------------------------------------------------
# Files


def test_html_is_autoescaped_and_self_contained(tmp_path):
    evil = "<script>alert(1)</script>"
    frame = pd.DataFrame({"grp": [evil] * 30 + ["=HYPERLINK(\"x\")"] * 30, "sel": [1, 0, 0] * 20,
                          "score": np.arange(60.0), "out": [0, 1] * 30})
    result = audit_selection(frame, selected="sel", by=["grp"], score="score", outcome="out", spec=fast_spec())
    paths = write_audit(result, tmp_path, title=f"Audit {evil}")
    html = (tmp_path / "audit.html").read_text()
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<svg" in html
    assert {p.name for p in paths} >= {"audit.json", "audit.html", "groups.csv"}
    groups_csv = (tmp_path / "groups.csv").read_text()
    assert "'=HYPERLINK" in groups_csv and ",=HYPERLINK" not in groups_csv


# --------------------------------------------------------------------------------------------
# The generic file audit: inputs and errors


@pytest.fixture
def scored_file(tmp_path):
    def make(ext: str, **columns) -> Path:
        frame = pd.DataFrame({"score": [1, 5, 7, 9] * 10, "group": ["a", "b"] * 20, "y": [0, 1] * 20} | columns)
        path = tmp_path / f"scored{ext}"
        frame.to_csv(path, index=False) if ext == ".csv" else frame.to_parquet(path, index=False)
        return path
    return make


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_file_audit_reads_csv_and_parquet(scored_file, tmp_path, ext):
    result = run_file_audit(scored_file(ext), score="score", threshold=5, selected=None, outcome="y", by=["group"],
                            out=tmp_path / "out", spec=fast_spec())
    assert group(result, "group", "a")["selection_rate"] == pytest.approx(0.5)
    assert (tmp_path / "out" / "audit.html").is_file()


def test_file_audit_missing_by_column_names_it_and_lists_the_available(scored_file, tmp_path):
    with pytest.raises(ExtractError) as err:
        run_file_audit(scored_file(".csv"), score="score", threshold=5, selected=None, outcome=None, by=["grup"],
                       out=tmp_path, spec=fast_spec())
    assert str(err.value) == NO_COLUMN.format(where="scored.csv", column="grup", role="--by column",
                                              hint="; did you mean 'group'?", available="score, group, y")


@pytest.mark.parametrize("columns, kwargs, words", [
    ({"score": ["1", "x"] * 20}, {"outcome": None}, "scored.csv, line 3, column 'score': 'x' is not a number"),
    ({"y": [0, 2] * 20}, {"outcome": "y"}, "scored.csv, line 3, column 'y': 2 is not 0 or 1"),
    ({}, {"outcome": "nope"}, "scored.csv: no column 'nope' (the --outcome column); available columns: score, group, y"),
])
def test_file_audit_bad_input_is_a_one_line_error(scored_file, tmp_path, columns, kwargs, words):
    with pytest.raises(HkcError) as err:
        run_file_audit(scored_file(".csv", **columns), score="score", threshold=5, selected=None, by=["group"],
                       out=tmp_path, spec=fast_spec(), **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_file_audit_needs_exactly_one_of_threshold_and_selected(scored_file, tmp_path):
    with pytest.raises(HkcError, match="not both"):
        run_file_audit(scored_file(".csv"), score="score", threshold=5, selected="y", outcome=None, by=["group"],
                       out=tmp_path, spec=fast_spec())
    with pytest.raises(HkcError, match="not neither"):
        run_file_audit(scored_file(".csv"), score="score", threshold=None, selected=None, outcome=None, by=["group"],
                       out=tmp_path, spec=fast_spec())


def test_tracking_metrics_are_flat_aggregates_with_valid_names(tiny_scored):
    result = audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score",
                             spec=fast_spec())
    metrics = audit_metrics(suppress_small_cells(result, threshold=10))
    assert metrics["audit/n"] == 40 and "audit/flags" in metrics
    assert all(re.fullmatch(r"[\w.\-/ ]+", k) for k in metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert not any(k.endswith(("/n", "/selected")) and k != "audit/n" for k in metrics)  # rates, not counts


def test_unknown_reference_lists_the_groups(tiny_scored):
    with pytest.raises(HkcError) as err:
        audit_selection(tiny_scored, selected="in_cohort", by=["ethnicity"], spec=fast_spec(),
                        reference={"ethnicity": "Whte"})
    assert "reference group 'Whte' for 'ethnicity' is not in the data; groups present: Asian, Black, White" \
        in str(err.value)
