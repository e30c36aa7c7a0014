"""Driver decomposition: which indicators a group's risk points come from, and its gap to the reference.

An auditor can see, for example, that one group's higher scores come from intelligence reports
rather than convictions: mean points per person by indicator and group, the shares of points from
intelligence and from proactive (police-generated) indicators, and the gap to the reference group
split by indicator, each with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hkc.audit.bootstrap import bootstrap_draws, finite_or_none, interval_or_none, percentile_interval
from hkc.audit.columns import UNKNOWN_REFERENCE, group_labels, require_column
from hkc.definitions import AuditSpec, flag_raised
from hkc.errors import HkcError
from hkc.frames import index_in

__all__ = ["UNFLAGGED_INDICATOR", "MAX_EXACT_CELLS", "driver_decomposition"]

MAX_EXACT_CELLS = 20_000  # above this many bootstrap cells, resample at whole-point resolution

UNFLAGGED_INDICATOR = ("indicator_flags has no row for indicator {indicator!r}; add it with its intelligence and "
                       "proactive flags (indicators present: {present})")


@dataclass(frozen=True)
class _Points:
    """Risk points of the people with any, by indicator, and each indicator's kind."""

    indicators: list[str]
    intel: np.ndarray  # per indicator: from intelligence
    proactive: np.ndarray  # per indicator: police-generated
    nonzero: np.ndarray  # positions (among the people studied) of those with points
    points: np.ndarray  # (people with points, indicators)
    ignored: int  # contributions of people outside the population studied


@dataclass(frozen=True)
class _Estimates:
    """Point estimates and bootstrap intervals of every statistic, per group."""

    point: dict[str, np.ndarray]
    ci: dict[str, np.ndarray]
    adjusted: dict[str, np.ndarray]  # Bonferroni-adjusted intervals of the two share ratios
    adjusted_level: float
    cells: int
    resolution: str


def _check_columns(contributions: pd.DataFrame, groups: pd.DataFrame, indicator_flags: pd.DataFrame,
                   attribute: str) -> None:
    for frame, name, cols in ((contributions, "contributions", ("person_id", "axis", "indicator", "points")),
                              (groups, "groups", ("person_id", attribute)),
                              (indicator_flags, "indicator_flags", ("indicator", "intelligence", "proactive"))):
        for col in cols:
            require_column(frame, col, f"{name} column", name)


def _risk_points(contributions: pd.DataFrame, people: pd.DataFrame, indicator_flags: pd.DataFrame) -> _Points:
    """Sum the risk contributions of the people studied by person and indicator."""
    risk = contributions[contributions["axis"] == "risk"]
    pos = index_in(risk["person_id"], people["person_id"])
    ignored = int((pos < 0).sum())
    risk = risk[pos >= 0]
    pos = pos[pos >= 0]
    indicators = sorted(risk["indicator"].astype(str).unique())
    flags = indicator_flags.assign(indicator=indicator_flags["indicator"].astype(str)).set_index("indicator")
    missing = [i for i in indicators if i not in flags.index]
    if missing:
        raise HkcError(UNFLAGGED_INDICATOR.format(indicator=missing[0], present=", ".join(indicators)))
    intel = np.array([bool(flags.loc[i, "intelligence"]) for i in indicators], dtype=bool)
    proactive = np.array([bool(flags.loc[i, "proactive"]) for i in indicators], dtype=bool)
    ind_code = pd.Index(indicators).get_indexer(risk["indicator"].astype(str))
    nonzero, person = np.unique(pos, return_inverse=True)
    points = np.zeros((len(nonzero), len(indicators)))
    np.add.at(points, (person, ind_code), risk["points"].to_numpy(dtype=float))
    return _Points(indicators, intel, proactive, nonzero, points, ignored)


def _statistic(draws: np.ndarray, design: np.ndarray, g: int, ref: int) -> dict[str, np.ndarray]:
    """Every group's means, shares, ratios and gaps to the reference ``ref`` from resampled cell counts."""
    s = draws @ design
    n, total, itl, pro = s[:, :g], s[:, g:2 * g], s[:, 2 * g:3 * g], s[:, 3 * g:]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean, mean_i, mean_p = total / n, itl / n, pro / n
        return {"mean": mean, "intel_share": itl / total, "proactive_share": pro / total,
                "ratio": mean / mean[:, [ref]], "gap": mean - mean[:, [ref]],
                "mean_intel": mean_i, "mean_proactive": mean_p,
                "intel_ratio": (itl / total) / (itl / total)[:, [ref]],
                "proactive_ratio": (pro / total) / (pro / total)[:, [ref]],
                "gap_intel": mean_i - mean_i[:, [ref]], "gap_proactive": mean_p - mean_p[:, [ref]]}


def _estimates(pts: _Points, codes: np.ndarray, n_g: np.ndarray, ref: int, spec: AuditSpec) -> _Estimates:
    """Bootstrap the statistics over cells of people alike (see the comment inside)."""
    g = len(n_g)
    # Bootstrap categories: each person with points, plus one "no points" category per group.
    cat_group = np.concatenate([codes[pts.nonzero], np.arange(g)])
    cat_count = np.concatenate([np.ones(len(pts.nonzero), np.int64),
                                n_g - np.bincount(codes[pts.nonzero], minlength=g)])
    cat_points = np.vstack([pts.points, np.zeros((g, len(pts.indicators)))])
    # The statistics need only each person's group, total, intelligence and proactive points, so
    # people alike in all four are one category (their counts summed): the same multinomial
    # bootstrap, over far fewer cells (points are in tenths, so many people coincide).  At force
    # scale even that leaves ~150,000 cells per attribute; then the resamples are drawn over
    # people alike to the nearest whole point and re-centred on the exact estimate (the rounding
    # moves a person by at most half a point, which barely changes the spread being estimated).
    sums = np.column_stack([cat_points.sum(1), cat_points[:, pts.intel].sum(1), cat_points[:, pts.proactive].sum(1)])
    exact = _cells(cat_group, sums, cat_count, g, decimals=6)
    cells = exact if len(exact[0]) <= MAX_EXACT_CELLS else _cells(cat_group, sums, cat_count, g, decimals=0)
    resolution = "exact" if cells is exact else "nearest whole point, re-centred on the exact estimate"
    b = spec.bootstrap
    point = {k: v[0] for k, v in _statistic(exact[1][None].astype(float), exact[2], g, ref).items()}
    counts, design = cells[1], cells[2]
    draws = bootstrap_draws(counts, lambda d: _statistic(d, design, g, ref), resamples=b.resamples, seed=b.seed)
    if cells is not exact:
        coarse = _statistic(counts[None].astype(float), design, g, ref)
        with np.errstate(invalid="ignore"):
            draws = {k: v + (point[k] - coarse[k][0]) for k, v in draws.items()}
        for values in draws.values():
            values[~np.isfinite(values)] = np.nan
    ci = {name: percentile_interval(values, b.confidence) for name, values in draws.items()}
    # The recording flags compare every group with the reference on two shares: Bonferroni-adjust
    # their intervals for those comparisons, so a force with many groups does not flag by chance.
    comparisons = max(1, 2 * (g - 1))
    adjusted_level = 1 - (1 - b.confidence) / comparisons
    adjusted = {name: percentile_interval(draws[name], adjusted_level) for name in ("intel_ratio", "proactive_ratio")}
    return _Estimates(point, ci, adjusted, adjusted_level, int(len(counts)), resolution)


def _group_entry(gi: int, group: str, *, est: _Estimates, pts: _Points, codes: np.ndarray, n_g: np.ndarray,
                 by_indicator: np.ndarray, ref: int, spec: AuditSpec) -> dict[str, Any]:
    """One group's row: its points, shares and, against the reference, ratio, gap and recording flags."""
    def val(key: str) -> float | None:
        return finite_or_none(est.point[key][gi])

    def interval(key: str) -> list[float] | None:
        return interval_or_none(est.ci[key][gi]) if val(key) is not None else None

    indicators = pts.indicators
    entry: dict[str, Any] = {
        "group": group, "n": int(n_g[gi]), "reference": gi == ref,
        "small": bool(n_g[gi] < spec.disclosure.small_cell),
        "mean_points": val("mean"), "mean_points_ci": interval("mean"),
        "by_indicator": {ind: float(by_indicator[gi, j]) for j, ind in enumerate(indicators)},
        "intelligence_share": val("intel_share"), "intelligence_share_ci": interval("intel_share"),
        "proactive_share": val("proactive_share"), "proactive_share_ci": interval("proactive_share"),
        "mean_intelligence_points": val("mean_intel"), "mean_proactive_points": val("mean_proactive"),
    }
    if gi == ref:
        return entry
    ratio = val("ratio")
    gap = val("gap")
    gap_by = {ind: float(by_indicator[gi, j] - by_indicator[ref, j]) for j, ind in enumerate(indicators)}
    entry |= {"ratio": ratio, "ratio_ci": interval("ratio"),
              "flag": flag_raised(ratio, interval("ratio"), spec),
              "gap": gap, "gap_ci": interval("gap"), "gap_by_indicator": gap_by,
              "gap_intelligence": val("gap_intel"), "gap_intelligence_ci": interval("gap_intel"),
              "gap_proactive": val("gap_proactive"), "gap_proactive_ci": interval("gap_proactive")}
    # The share of risk points from intelligence (and from proactive indicators) against the
    # reference's share: a recording-driven disparity that a total-points ratio can hide, and
    # that differences in how much each group offends do not explain.  It rests on the people
    # with such points, so it is flagged only when both groups have enough of them.
    for key, name, mask in (("intel_ratio", "intelligence", pts.intel), ("proactive_ratio", "proactive", pts.proactive)):
        r, r_ci = val(key), interval(key)
        r_adjusted = interval_or_none(est.adjusted[key][gi]) if r is not None else None
        with_points = np.bincount(codes[pts.nonzero][pts.points[:, mask].sum(1) > 0], minlength=len(n_g))
        enough = min(with_points[gi], with_points[ref]) >= spec.disclosure.small_cell
        entry |= {f"{name}_share_ratio": r, f"{name}_share_ratio_ci": r_ci,
                  f"{name}_share_ratio_adjusted_ci": r_adjusted,
                  f"people_with_{name}_points": int(with_points[gi]),
                  f"{name}_flag": bool(enough and flag_raised(r, r_adjusted, spec))}
    entry |= _drivers(gap, gap_by, entry["gap_intelligence"], entry["gap_proactive"])
    gap_ci = entry["gap_ci"]
    if gap_ci is None or gap_ci[0] <= 0 <= gap_ci[1]:
        entry["driven_by"] = None  # no gap beyond chance: nothing to attribute
    return entry


def driver_decomposition(contributions: pd.DataFrame, groups: pd.DataFrame, *, attribute: str, reference: str,
                         indicator_flags: pd.DataFrame, spec: AuditSpec | None = None,
                         among: str = "everyone scored") -> dict:
    """Which indicators drive each group's risk points, and the gap to the reference group.

    Parameters
    ----------
    contributions : DataFrame
        ``person_id, axis, indicator, count, latest, points``; only ``axis == "risk"`` rows count.
    groups : DataFrame
        ``person_id`` and the ``attribute`` column, one row per person in the population studied
        (people without contributions have zero points).
    attribute, reference : str
        The attribute and its reference group.
    indicator_flags : DataFrame
        ``indicator, intelligence, proactive`` (bools), optionally ``label``.
    spec : AuditSpec, optional
        Bootstrap settings and the flag rule.
    among : str
        Words naming the population studied, for the findings.

    Returns
    -------
    dict
        Per group: ``n``, mean risk points overall (``mean_points`` with interval) and by
        indicator, shares of points from intelligence and from proactive indicators (with
        intervals), the ratio of mean points to the reference (interval, ``flag``), the gap to
        the reference split by indicator (sums to the gap), its intelligence and proactive parts
        (with intervals), the ``drivers`` (indicators carrying at least a quarter of the gap),
        ``driven_by`` ("intelligence", "proactive" or "other"), and the ratio of the group's share of
        points from intelligence (and from proactive indicators) to the reference's share, with its
        interval and flag (``intelligence_share_ratio``, ``intelligence_flag``, ``proactive_…``); the
        flag uses a Bonferroni-adjusted interval (``…_adjusted_ci``) for the 2 × (groups − 1)
        comparisons.
    """
    spec = spec or AuditSpec()
    _check_columns(contributions, groups, indicator_flags, attribute)
    people = groups[["person_id", attribute]].drop_duplicates("person_id")
    codes, names = pd.factorize(group_labels(people[attribute]), sort=True)
    names = [str(v) for v in names]
    if reference not in names:
        raise HkcError(UNKNOWN_REFERENCE.format(group=reference, attribute=attribute, groups=", ".join(names),
                                                fix="; pass a reference that is present"))
    ref = names.index(reference)
    g = len(names)
    pts = _risk_points(contributions, people, indicator_flags)
    n_g = np.bincount(codes, minlength=g)
    est = _estimates(pts, codes, n_g, ref, spec)
    by_indicator = np.zeros((g, len(pts.indicators)))
    np.add.at(by_indicator, codes[pts.nonzero], pts.points)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_indicator = by_indicator / n_g[:, None]
    rows = [_group_entry(gi, group, est=est, pts=pts, codes=codes, n_g=n_g, by_indicator=by_indicator, ref=ref,
                         spec=spec) for gi, group in enumerate(names)]
    labels = (indicator_flags.assign(indicator=indicator_flags["indicator"].astype(str))
              .set_index("indicator")["label"].to_dict() if "label" in indicator_flags.columns else {})
    b = spec.bootstrap
    return {
        "attribute": attribute, "reference": reference, "among": among, "n": int(len(people)),
        "indicators": [{"indicator": ind, "label": str(labels.get(ind, ind)), "intelligence": bool(pts.intel[j]),
                        "proactive": bool(pts.proactive[j])} for j, ind in enumerate(pts.indicators)],
        "groups": rows,
        "ignored_contributions": pts.ignored,
        "provenance": {"resamples": b.resamples, "seed": b.seed, "confidence": b.confidence,
                       "recording_flag_confidence": est.adjusted_level, "bootstrap_cells": est.cells,
                       "bootstrap_resolution": est.resolution},
    }


def _cells(group: np.ndarray, sums: np.ndarray, count: np.ndarray, g: int,
           *, decimals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge people alike in group and (total, intelligence, proactive) points to ``decimals``.

    Returns (cell group, cell count, design) where ``draws @ design`` gives per group the count
    and the three sums of points.
    """
    # One integer key per person, built column by column and re-numbered after each so it never
    # exceeds the number of people; numbering in sorted order keeps the cells in (group, points)
    # order whatever the row order.  Integers sort many times faster than np.unique over rows.
    key = np.zeros(len(group), dtype=np.int64)
    for column in (group, *np.round(sums, decimals).T):
        codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=False)  # NaN: a value of its own
        key = np.unique(key * len(uniques) + codes, return_inverse=True)[1].astype(np.int64)
    cells, first, where = np.unique(key, return_index=True, return_inverse=True)
    merged = np.bincount(where.ravel(), weights=count, minlength=len(cells)).astype(np.int64)
    cell_group, cell_sums = group[first].astype(np.int64), np.round(sums, decimals)[first]
    onehot = np.zeros((len(cell_group), g))
    onehot[np.arange(len(cell_group)), cell_group] = 1.0
    design = np.hstack([onehot, onehot * cell_sums[:, [0]], onehot * cell_sums[:, [1]], onehot * cell_sums[:, [2]]])
    return cell_group, merged, design


def _drivers(gap: float | None, gap_by: Mapping[str, float], gap_intel: float | None,
             gap_proactive: float | None) -> dict[str, Any]:
    if gap is None or gap == 0:
        return {"intelligence_share_of_gap": None, "drivers": [], "driven_by": None}
    shares = {ind: v / gap for ind, v in gap_by.items()}
    ranked = sorted(shares, key=shares.get, reverse=True)
    drivers = [ind for ind in ranked if shares[ind] >= 0.25] or ranked[:1]
    intel_share = (gap_intel or 0.0) / gap
    proactive_share = (gap_proactive or 0.0) / gap
    driven_by = "intelligence" if intel_share > 0.5 else "proactive" if proactive_share > 0.5 else "other"
    return {"intelligence_share_of_gap": intel_share, "proactive_share_of_gap": proactive_share,
            "drivers": drivers, "driven_by": driven_by}
