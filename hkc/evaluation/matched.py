"""Matched comparison: each listed person against never-listed eligible people who looked like them.

Each listed row is matched, with replacement, to its ``k`` nearest never-listed eligible rows
(scikit-learn ``NearestNeighbors``, Euclidean distance on standardised covariates) in the *same
quarter and of the same sex* (exact), on the pre-period score, the indicator counts (``n_``
columns) and age.  Ethnicity is never used.  A balance table gives each covariate's standardised
mean difference (the difference in means over the pooled standard deviation of the unmatched
groups, so before and after are on one scale) before and after matching, with the pre-period
outcome rate shown for information.  The estimate — a difference-in-differences on the matched
sample, each control weighted 1/k per match, errors clustered by person — is given **only when
every matched covariate's |difference| is under** ``max_smd`` (0.1); otherwise the result says the
design is not available and why, with the table.

On a list made by a score cut-off no one left off scored like the listed (everyone above the
cut-off is listed), so balance on the score usually fails: that is the honest answer, and the
regression discontinuity is the design for that case.  Maryland Scientific Methods Scale level 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from hkc.evaluation.did import did_design
from hkc.evaluation.panel import indicator_columns, long_rows, never_listed
from hkc.evaluation.result import MIN_EVENTS, MIN_PEOPLE, base_result, poisson_contrast, unavailable

__all__ = ["matched", "match_rows", "balance_table", "MATCHED_LABEL"]

MATCHED_LABEL = ("Matched comparison: the change in the {who} group's rate against the change for never-listed "
                 "eligible people of the same sex in the same quarter with similar scores, indicator counts and age "
                 "(ethnicity is never used). It cannot rule out differences the records do not show, and is given "
                 "only when the matched groups are alike on every matched measure.")


def match_rows(treated: pd.DataFrame, candidates: pd.DataFrame, covariates: list[str], *, k: int = 1,
               caliper: float | None = None, scale: pd.Series | None = None) -> pd.DataFrame:
    """Pairs ``(treated_index, control_index, distance, weight)``: each treated row's ``k`` nearest
    candidates in the same quarter and sex (weight 1/k each).  A treated row with fewer than ``k``
    candidates in its stratum, or none within ``caliper`` (standard deviations), is left out."""
    scale = scale if scale is not None else pd.Series(1.0, index=covariates)
    pairs = []
    for (cohort, sex), mine in treated.groupby(["cohort", "sex"], sort=True):
        pool = candidates[(candidates["cohort"] == cohort) & (candidates["sex"] == sex)]
        if len(pool) < k:
            continue
        finder = NearestNeighbors(n_neighbors=k, algorithm="brute")
        finder.fit(pool[covariates].to_numpy(dtype=float) / scale.to_numpy())
        distance, position = finder.kneighbors(mine[covariates].to_numpy(dtype=float) / scale.to_numpy())
        for row, (dist, pos) in enumerate(zip(distance, position, strict=True)):
            keep = dist <= caliper if caliper is not None else np.ones(k, dtype=bool)
            for d, p in zip(dist[keep], pos[keep], strict=True):
                pairs.append((mine.index[row], pool.index[p], float(d), 1.0 / keep.sum()))
    return pd.DataFrame(pairs, columns=["treated_index", "control_index", "distance", "weight"])


def _smd(treated: pd.Series, control: pd.Series, weights: np.ndarray, scale: float) -> float:
    """The standardised mean difference; a covariate constant in both groups is compared unscaled."""
    difference = float(treated.mean() - np.average(control, weights=weights))
    return difference / scale if scale > 0 else difference


def balance_table(treated: pd.DataFrame, candidates: pd.DataFrame, pairs: pd.DataFrame,
                  covariates: dict[str, str]) -> list[dict[str, Any]]:
    """One row per covariate: means and standardised differences before and after matching.

    ``covariates`` maps a column to its label; a column whose label starts with ``(shown only)``
    is reported but does not decide balance.
    """
    matched_t = treated.loc[pairs["treated_index"].unique()]
    controls = candidates.loc[pairs["control_index"]]
    weights = pairs["weight"].to_numpy()
    table = []
    for column, label in covariates.items():
        scale = float(np.sqrt((treated[column].var(ddof=1) + candidates[column].var(ddof=1)) / 2.0))
        scale = scale if np.isfinite(scale) else 0.0
        before = _smd(treated[column], candidates[column], np.ones(len(candidates)), scale)
        after = _smd(matched_t[column], controls[column], weights, scale) if len(pairs) else None
        table.append({"covariate": column, "label": label, "decides_balance": not label.startswith("(shown only)"),
                      "mean_treated": float(treated[column].mean()), "mean_comparison_before": float(
                          candidates[column].mean()), "mean_comparison_after": float(np.average(
                              controls[column], weights=weights)) if len(pairs) else None,
                      "smd_before": before, "smd_after": after})
    return table


def matched(panel: pd.DataFrame, *, outcome: str = "events", group: str = "listed", k: int = 1,
            caliper: float | None = None, max_smd: float = 0.1, confidence: float = 0.95,
            power: float = 0.8) -> dict[str, Any]:
    """The matched difference-in-differences (see the module docstring).  Extras: ``balance`` (the
    table), ``balanced``, ``k``, ``caliper``, ``unmatched`` (group rows with no match)."""
    label = MATCHED_LABEL.format(who="listed" if group == "listed" else "treated")
    result = base_result("matched", sms_level=3, label=label, group=group)
    treated = panel[panel[group]]
    candidates = never_listed(panel, group)
    covariates = {"score": "risk score at the cohort date",
                  **{c: f"indicator count {c[2:].replace('_', ' ')}" for c in indicator_columns(panel)},
                  "age": "age at the cohort date"}
    result.update(k=k, caliper=caliper, max_smd=max_smd, matched_on=[*covariates, "cohort (exact)", "sex (exact)"])
    if treated.empty or candidates.empty:
        return unavailable(result, "too small to tell: no never-listed eligible people to match with" if
                           candidates.empty else "too small to tell: no one in the group")
    both = pd.concat([treated, candidates])
    scale = both[list(covariates)].std(ddof=1).replace(0.0, 1.0).fillna(1.0)
    pairs = match_rows(treated, candidates, list(covariates), k=k, caliper=caliper, scale=scale)
    shown = {**covariates, "_pre_rate": f"(shown only) {outcome} per person-year before"}
    treated = treated.assign(_pre_rate=treated[f"pre_{outcome}"] / treated["pre_years"].where(treated["pre_years"] > 0))
    candidates = candidates.assign(_pre_rate=candidates[f"pre_{outcome}"]
                                   / candidates["pre_years"].where(candidates["pre_years"] > 0))
    treated["_pre_rate"] = treated["_pre_rate"].fillna(0.0)
    candidates["_pre_rate"] = candidates["_pre_rate"].fillna(0.0)
    table = balance_table(treated, candidates, pairs, shown)
    matched_t = treated.loc[pairs["treated_index"].unique()] if len(pairs) else treated.iloc[:0]
    controls = candidates.loc[pairs["control_index"]] if len(pairs) else candidates.iloc[:0]
    result.update(balance=table, unmatched=int(len(treated) - len(matched_t)),
                  n_treated=int(matched_t["person_id"].nunique()), n_comparison=int(controls["person_id"].nunique()))
    weights = pairs["weight"].to_numpy()
    for side, rows, w in (("treated", matched_t, np.ones(len(matched_t))), ("comparison", controls, weights)):
        for window, key in (("pre", "before"), ("post", "after")):
            years = float((rows[f"{window}_years"] * w).sum())
            result[f"rate_per_person_year_{key}_{side}"] = (
                float((rows[f"{window}_{outcome}"] * w).sum()) / years if years > 0 else None)
    worst = max((r for r in table if r["decides_balance"] and r["smd_after"] is not None),
                key=lambda r: abs(r["smd_after"]), default=None)
    result["balanced"] = worst is not None and abs(worst["smd_after"]) < max_smd
    if min(result["n_treated"], result["n_comparison"]) < MIN_PEOPLE:
        return unavailable(result, f"too small to tell: {result['n_treated']} matched people in the group and "
                                   f"{result['n_comparison']} matches (at least {MIN_PEOPLE} each needed)")
    if not result["balanced"]:
        return unavailable(result, (
            f"balance does not hold after matching: {worst['label']} differs by {abs(worst['smd_after']):.2f} "
            f"standard deviations (every matched measure must differ by less than {max_smd:g}). When the list is "
            "made by a score cut-off, no one left off scored like the listed, so there is no like-for-like "
            "comparison to make; the regression discontinuity at the cut-off is the design for that case"))
    rows = pd.concat([matched_t.assign(_w=1.0), controls.assign(_w=weights)], ignore_index=True)
    rows["_in_group"] = np.r_[np.ones(len(matched_t), dtype=bool), np.zeros(len(controls), dtype=bool)]
    long = long_rows(rows, outcome)
    cells = (long["count"] * long["_w"]).groupby([long["_in_group"], long["post"]]).sum()
    if len(cells) < 4 or cells.min() < MIN_EVENTS:
        return unavailable(result, f"too small to tell: fewer than {MIN_EVENTS} events in a group before or after")
    try:
        contrast = poisson_contrast(did_design(long, long["_in_group"].to_numpy()), long["count"].to_numpy(),
                                    long["years"].to_numpy(), long["person_id"].to_numpy(), "after_x_group",
                                    weights=long["_w"].to_numpy(), confidence=confidence)
    except ValueError as error:
        return unavailable(result, f"not computed: {error}")
    return contrast.fill(result, power)
