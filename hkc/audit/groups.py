"""Group metrics: who is selected, by group, with intervals — :func:`audit_selection`.

Per sensitive attribute, per intersection (``ethnicity*sex``, groups ``Black*M``) and per pooled
comparison (``ethnicity (pooled)``: the spec's ``[pooled]`` groups taken together): counts,
selection rate and mean score, and with an outcome the base rate, error rates, precision and
calibration by score band, computed with fairlearn's ``MetricFrame`` on the frequency table
(:mod:`hkc.audit.table`).  On top of fairlearn: ratios and differences to a reference group, an
interval for every rate and ratio (the bootstrap's, or an exact one where a count is small:
:mod:`hkc.audit.exact`), undefined rates (an empty denominator) reported as ``null`` and left out
of ratios, small groups, what cannot be assessed at this size, and the flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fairlearn
import numpy as np
import pandas as pd

from hkc.audit.attributes import attribute_keys, group_label, pooled_for, references
from hkc.audit.bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit.columns import NO_ROWS, read_audit_columns
from hkc.audit.exact import EXACT_METHODS, difference_interval, rate_interval, ratio_interval
from hkc.audit.summaries import QUANTILES, calibration_by_band, disparity_measures, score_summary
from hkc.audit.table import (
    FrequencyTable,
    bootstrap_statistic,
    cell_counts,
    confusion_cells,
    frequency_table,
    metric_frames,
    rates_from_cells,
)
from hkc.definitions import METRICS, OUTCOME_METRICS, AuditSpec, flag_raised

__all__ = ["DENOMINATORS", "NUMERATORS", "RATE_COUNTS", "QUANTILES", "NO_ROWS", "audit_selection"]


# The count each rate divides by, and why the rate is undefined when that count is zero.
DENOMINATORS = {
    "selection_rate": ("n", "the group is empty"),
    "mean_score": ("n", "the group is empty"),
    "base_rate": ("n", "the group is empty"),
    "true_positive_rate": ("positives", "no one in the group had the outcome"),
    "false_negative_rate": ("positives", "no one in the group had the outcome"),
    "false_positive_rate": ("negatives", "everyone in the group had the outcome"),
    "true_negative_rate": ("negatives", "everyone in the group had the outcome"),
    "precision": ("selected", "no one in the group was selected"),
}
# The count each proportion counts (the mean score is not a proportion).
NUMERATORS = {
    "selection_rate": "selected", "base_rate": "positives", "true_positive_rate": "true_positives",
    "false_negative_rate": "false_negatives", "false_positive_rate": "false_positives",
    "true_negative_rate": "true_negatives", "precision": "true_positives",
}
# The counts each rate rests on (denominator, numerator, complement).  When any of them, for the
# group or (for its ratio) the reference, is under the small-cell threshold, the percentile
# bootstrap is unreliable (0 of 58 gives [0, 0]) and the rate, ratio and difference get exact
# intervals instead.  A ratio can then still be flagged; but when the group or the reference has
# fewer than small_cell people behind the rate (its denominator), it raises no flag and is
# `indicative` at most.  A ratio resting on small counts that is not flagged "cannot be assessed at
# this size" (`unassessed`) unless its interval lies within the flag band.
RATE_COUNTS = {
    "selection_rate": ("n", "selected", "not_selected"),
    "mean_score": ("n",),
    "base_rate": ("n", "positives", "negatives"),
    "true_positive_rate": ("positives", "true_positives", "false_negatives"),
    "false_negative_rate": ("positives", "true_positives", "false_negatives"),
    "false_positive_rate": ("negatives", "false_positives", "true_negatives"),
    "true_negative_rate": ("negatives", "false_positives", "true_negatives"),
    "precision": ("selected", "true_positives", "false_positives"),
}


def _compare(t: _Tables, attr: str, gi: int, values: Mapping[str, float | None],
             ref_values: Mapping[str, float | None], counts: Mapping[str, int], ref_counts: Mapping[str, int],
             exact: Sequence[str]) -> dict[str, Any]:
    """Ratios and differences of one group's rates to the reference group's, with intervals.

    The intervals of the metrics in ``exact`` (a count behind them, on either side, is small) are
    Katz's log interval for the ratio and Newcombe's for the difference; the rest are bootstrap
    intervals.  An undefined rate on either side, or a reference rate of 0, gives no ratio; the
    reason is returned under ``_reasons`` for the ``undefined`` list.
    """
    conf = t.spec.bootstrap.confidence
    out: dict[str, Any] = {"ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "_reasons": {}}
    for m in t.metrics:
        value, ref = values[m], ref_values[m]
        ratio = difference = None
        if value is not None and ref is None:
            out["_reasons"][m] = f"the reference group's {m.replace('_', ' ')} is undefined"
        elif value is not None:
            difference = value - ref
            ratio = value / ref if ref != 0 else None
            if ref == 0:
                out["_reasons"][m] = "the reference group's rate is 0"
        out["ratio"][m], out["difference"][m] = ratio, difference
        if m in exact:
            x1, n1 = counts[NUMERATORS[m]], counts[DENOMINATORS[m][0]]
            x2, n2 = ref_counts[NUMERATORS[m]], ref_counts[DENOMINATORS[m][0]]
            out["ratio_ci"][m] = ratio_interval(x1, n1, x2, n2, conf) if ratio is not None else None
            out["difference_ci"][m] = difference_interval(x1, n1, x2, n2, conf) if difference is not None else None
            continue
        out["ratio_ci"][m] = interval_or_none(t.intervals[f"{attr}|{m}|ratio"][gi]) if ratio is not None else None
        out["difference_ci"][m] = (interval_or_none(t.intervals[f"{attr}|{m}|difference"][gi])
                                   if difference is not None else None)
    return out


def _small_metrics(counts: Mapping[str, int], metrics: Sequence[str], threshold: int) -> list[str]:
    sizes = dict(counts) | {"not_selected": counts["n"] - counts["selected"]}
    return [m for m in metrics if any(sizes.get(k, threshold) < threshold for k in RATE_COUNTS[m])]


def _exact(metrics: Sequence[str]) -> list[str]:
    """The metrics among ``metrics`` (small ones) whose intervals are exact: the proportions."""
    return [m for m in metrics if m in NUMERATORS]


@dataclass(frozen=True)
class _Tables:
    """What every attribute's metrics read: the frequency table, its cells, intervals and settings."""

    table: FrequencyTable
    cells: dict[str, np.ndarray]
    intervals: dict[str, np.ndarray]
    metrics: list[str]
    has_outcome: bool
    spec: AuditSpec
    scores: np.ndarray | None
    outcome: np.ndarray

    @property
    def size_metrics(self) -> list[str]:
        """The metrics whose denominators decide whether a group is ``small``: selection and the flagged ones."""
        return [m for m in dict.fromkeys(("selection_rate", *self.spec.flags.metrics)) if m in self.metrics]

    def rate_ci(self, key: str, gi: int | None, counts: Mapping[str, int], m: str,
                exact: Sequence[str]) -> list[float] | None:
        """A rate's interval: Clopper–Pearson when it rests on a small count, else the bootstrap's."""
        if m in exact:
            return rate_interval(counts[NUMERATORS[m]], counts[DENOMINATORS[m][0]], self.spec.bootstrap.confidence)
        return interval_or_none(self.intervals[key] if gi is None else self.intervals[key][gi])


def _point_values(t: _Tables, attr: str) -> dict[str, dict[str, float | None]]:
    """Each group's rates from fairlearn's ``MetricFrame``; ``None`` where the denominator is 0."""
    by_group, _ = metric_frames(t.table, attr, t.has_outcome)
    point: dict[str, dict[str, float | None]] = {}
    for gi, group in enumerate(t.table.groups[attr]):
        counts = cell_counts(t.cells[attr][gi], t.has_outcome)
        if int(round(by_group.loc[group, "n"])) != counts["n"]:  # the two ways of counting must agree
            raise AssertionError(f"MetricFrame count differs from the frequency table for {attr}={group}")
        point[group] = {m: None if counts[DENOMINATORS[m][0]] == 0 else finite_or_none(by_group.loc[group, m])
                        for m in t.metrics}
    return point


def _judge(t: _Tables, entry: Mapping[str, Any], m: str, too_few: bool, exact: Sequence[str]) -> str | None:
    """``flag``, ``indicative`` (meets the rule, but a group has too few people behind the rate),
    ``unassessed`` (rests on small counts and its interval is too wide to tell), or ``None``."""
    ratio, ci = entry["ratio"][m], entry["ratio_ci"][m]
    if ratio is None:
        return None
    if flag_raised(ratio, ci, t.spec):
        return "indicative" if too_few else "flag"
    if m in exact or too_few:
        f = t.spec.flags
        inside = ci is not None and f.ratio_low <= ci[0] and ci[1] <= f.ratio_high
        return None if inside else "unassessed"
    return None


def _add_comparison(t: _Tables, attr: str, gi: int, entry: dict[str, Any], point: Mapping, ref_name: str,
                    counts: Mapping[str, int], ref_counts: Mapping[str, int]) -> tuple[list[dict], list[dict]]:
    """Put the ratios and differences to the reference into ``entry``; return its flags and undefined ratios.

    A ratio resting on a small count (either side) has exact intervals and can still be flagged;
    one whose group or reference has fewer than ``small_cell`` people behind the rate never is: it
    is ``indicative`` when it meets the rule, and ``unassessed`` (cannot be assessed at this size)
    when its counts are small and its interval neither meets the rule nor lies within the band.
    """
    group = entry["group"]
    threshold = t.spec.disclosure.small_cell
    exact = _exact(sorted({*entry["small_metrics"], *_small_metrics(ref_counts, t.metrics, threshold)},
                          key=t.metrics.index))
    entry["exact"]["ratio"] = exact
    entry |= _compare(t, attr, gi, point[group], point[ref_name], counts, ref_counts, exact)
    undefined = [{"attribute": attr, "group": group, "metric": m, "kind": "ratio", "reason": reason}
                 for m, reason in entry.pop("_reasons").items()]
    flags = []
    for m in t.spec.flags.metrics:
        if m not in entry["ratio"]:
            continue
        den = DENOMINATORS[m][0]
        verdict = _judge(t, entry, m, min(counts[den], ref_counts[den]) < threshold, exact)
        if verdict == "flag":
            entry["flags"].append(m)
            flags.append({"attribute": attr, "group": group, "reference": ref_name, "metric": m,
                          "ratio": entry["ratio"][m], "ci": entry["ratio_ci"][m], "small": entry["small"],
                          "exact": m in exact})
        elif verdict is not None:
            entry[verdict].append(m)
    return flags, undefined


def _group_entry(t: _Tables, attr: str, gi: int, point: Mapping, ref_name: str,
                 ref_counts: Mapping[str, int]) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One group's row of ``groups``, with its flags and its undefined rates and ratios."""
    group = t.table.groups[attr][gi]
    counts = cell_counts(t.cells[attr][gi], t.has_outcome)
    values = point[group]
    threshold = t.spec.disclosure.small_cell
    small_counts = [k for k, v in counts.items() if v < threshold]
    small_metrics = _small_metrics(counts, t.metrics, threshold)
    exact = _exact(small_metrics)
    undefined = [m for m in t.metrics if values[m] is None]
    entry: dict[str, Any] = {"group": group, **counts}
    entry |= {m: values.get(m) for m in METRICS}
    entry |= {"reference": group == ref_name,
              "small": any(counts[DENOMINATORS[m][0]] < threshold for m in t.size_metrics),
              "small_counts": small_counts, "small_metrics": small_metrics, "undefined": undefined,
              "ci": {m: (t.rate_ci(f"{attr}|{m}", gi, counts, m, exact) if values[m] is not None else None)
                     for m in t.metrics},
              "exact": {"rate": exact, "ratio": []},
              "ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "flags": [],
              "indicative": [], "unassessed": []}
    undefined_out = [{"attribute": attr, "group": group, "metric": m, "kind": "rate", "reason": DENOMINATORS[m][1]}
                     for m in undefined]
    flags: list[dict] = []
    if group != ref_name:
        flags, ratios = _add_comparison(t, attr, gi, entry, point, ref_name, counts, ref_counts)
        undefined_out += ratios
    return entry, flags, undefined_out


def _attribute_disparities(table: FrequencyTable, attr: str, groups_out: list[dict], has_outcome: bool) -> dict:
    """fairlearn's disparity measures over the groups with defined error rates, and again without small ones."""
    defined = [g["group"] for g in groups_out
               if not any(m in g["undefined"] for m in ("true_positive_rate", "false_positive_rate"))]
    disparities = disparity_measures(table, attr, defined, has_outcome)
    disparities["excluded_groups"] = [g for g in table.groups[attr] if g not in defined]
    large = [g["group"] for g in groups_out if g["group"] in defined and not g["small"]]
    disparities["excluding_small"] = disparity_measures(table, attr, large, has_outcome)
    return disparities


def _attribute_result(t: _Tables, attr: str, parts: tuple[str, ...], ref_name: str, source: str,
                      ref_gi: int) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One attribute's entry of ``attributes``, with its flags and undefined rates and ratios."""
    table = t.table
    point = _point_values(t, attr)
    quantiles = score_summary(t.scores, table.index[attr][table.row_key], len(table.groups[attr])) \
        if t.scores is not None else None
    ref_counts = cell_counts(t.cells[attr][ref_gi], t.has_outcome)
    groups_out, flags, undefined = [], [], []
    for gi in range(len(table.groups[attr])):
        entry, group_flags, group_undefined = _group_entry(t, attr, gi, point, ref_name, ref_counts)
        if quantiles is not None:
            entry["score_quantiles"] = quantiles[gi]
        groups_out.append(entry)
        flags += group_flags
        undefined += group_undefined
    attr_entry: dict[str, Any] = {"reference": ref_name, "reference_source": source, "parts": list(parts),
                                  "groups": groups_out,
                                  "disparities": _attribute_disparities(table, attr, groups_out, t.has_outcome)}
    if t.scores is not None and t.has_outcome:
        attr_entry["calibration"] = calibration_by_band(t.scores, t.outcome, table.index[attr][table.row_key],
                                                 table.groups[attr], t.spec.calibration.bands)
    return attr_entry, flags, undefined


def _overall(t: _Tables, first: str) -> dict[str, Any]:
    """Counts, rates and intervals over everyone audited (the cells of any one attribute, summed)."""
    total = t.cells[first].sum(0)
    counts = cell_counts(total, t.has_outcome)
    rates = rates_from_cells(total.astype(float), None if t.scores is None else np.array(t.scores.sum()),
                             t.has_outcome)
    values = {m: (None if counts[DENOMINATORS[m][0]] == 0 else finite_or_none(rates[m])) for m in t.metrics}
    exact = _exact(_small_metrics(counts, t.metrics, t.spec.disclosure.small_cell))
    return {**counts, **{m: values.get(m) for m in METRICS},
            "ci": {m: t.rate_ci(f"|{m}", None, counts, m, exact) if values[m] is not None else None
                   for m in t.metrics}}


def _provenance(spec: AuditSpec, table: FrequencyTable, n: int) -> dict[str, Any]:
    """What the figures rest on: the spec's hash, the interval methods, the table's size, fairlearn's version."""
    b = spec.bootstrap
    return {
        "spec_sha256": spec.digest(), "spec_path": str(spec.path) if spec.path else None,
        "n": n, "resamples": b.resamples, "seed": b.seed, "confidence": b.confidence,
        "interval_method": "percentile bootstrap; rows resampled with replacement (multinomial draws of "
                           "the distinct-row counts)",
        "exact_interval_method": (f"{EXACT_METHODS['rate']} for rates, {EXACT_METHODS['ratio']} for ratios, "
                                  f"{EXACT_METHODS['difference']} for differences"),
        "exact_interval_when": (f"a count behind the rate (the group's or, for a ratio, the reference's) is under "
                                f"{spec.disclosure.small_cell}"),
        "mean_score_interval": ("exact score values" if table.score_bins is None
                                else f"scores grouped into {table.score_bins} quantile bins"),
        "distinct_rows": int(len(table.weight)), "fairlearn": fairlearn.__version__,
    }


def audit_selection(frame: pd.DataFrame, *, selected: str, by: Sequence[str], score: str | None = None,
                    outcome: str | None = None, spec: AuditSpec, reference: Mapping[str, str] | None = None,
                    intersections: bool = True, selection_label: str = "selected",
                    population_label: str = "the scored population", where: str = "input",
                    row_of: Callable[[int], str] | None = None) -> dict:
    """Audit who is selected, by group, with intervals: the ``audit.json`` dictionary.

    Parameters
    ----------
    frame : DataFrame
        One row per scored person (or case).
    selected : str
        0/1 or boolean column: in the cohort / rated high.
    by : sequence of str
        Sensitive attribute columns, each audited on its own; with ``intersections`` also together
        (the spec's intersections among ``by``, else every pair), keyed ``a*b`` with groups ``v1*v2``;
        and for each column with a ``[pooled]`` entry in the spec, its pooled comparison, keyed
        ``<column> (pooled)`` (left out when the reference group is one of the groups pooled).
    score, outcome : str, optional
        Numeric score (mean score, score distribution, calibration) and 0/1 outcome (error rates).
    spec : AuditSpec
        Reference groups, pooled groups, bootstrap settings, small-cell threshold and flag rule.
    reference : mapping, optional
        Reference group per attribute, overriding the spec.
    selection_label, population_label : str
        Words for the findings: "to be {selection_label}", "in {population_label}".
    where, row_of
        How error messages name the input and a row position (``run_file_audit`` passes the file).

    Returns
    -------
    dict
        ``n``, ``selection``, ``overall``, ``attributes`` (per attribute: ``reference``,
        ``groups`` with counts, rates, ``ci``, ratios/differences to the reference with intervals,
        ``exact`` (the metrics whose intervals are exact), ``undefined``, ``small``, ``flags``,
        ``indicative``, ``unassessed``; ``disparities`` from fairlearn; ``calibration``; for a
        pooled attribute ``pooled``), top-level ``flags`` and ``undefined`` lists, ``labels`` and
        ``provenance``.
    """
    by = list(by)
    sel, out, scores = read_audit_columns(frame, by=by, selected=selected, score=score, outcome=outcome,
                                          where=where, row_of=row_of)
    has_outcome = outcome is not None
    b = spec.bootstrap
    pools = {p.key: p for p in pooled_for(frame, by, spec)}
    attrs = attribute_keys(by, spec, intersections) + [(p.key, (p.attribute,)) for p in pools.values()]
    table = frequency_table(frame, attrs, by, sel, out, scores, b.score_bins, pooled=list(pools.values()))
    cells = {a: confusion_cells(table, a) for a, _ in attrs}
    refs, sources = references(table, attrs, cells, dict(reference or {}), spec, pools)
    names = [a for a, _ in attrs if a in refs]
    ref_index = {a: table.groups[a].index(refs[a]) for a in names}
    intervals = bootstrap_intervals(table.weight, bootstrap_statistic(table, names, ref_index, has_outcome),
                                    resamples=b.resamples, seed=b.seed, confidence=b.confidence)
    metrics = [m for m in METRICS if (m != "mean_score" or scores is not None)
               and (m not in OUTCOME_METRICS or has_outcome)]
    t = _Tables(table=table, cells=cells, intervals=intervals, metrics=metrics, has_outcome=has_outcome,
                spec=spec, scores=scores, outcome=out)

    result_attrs: dict[str, Any] = {}
    all_flags: list[dict] = []
    all_undefined: list[dict] = []
    for attr in names:
        result_attrs[attr], flags, undefined = _attribute_result(t, attr, dict(attrs)[attr], refs[attr],
                                                                 sources[attr], ref_index[attr])
        if attr in pools:
            result_attrs[attr]["pooled"] = pools[attr].describe()
        all_flags += flags
        all_undefined += undefined
    labels = {attr: {g: pools[attr].label if attr in pools and g == pools[attr].name
                     else group_label(spec, pools[attr].attribute if attr in pools else attr, g)
                     for g in table.groups[attr]} for attr in names}
    return {
        "schema": "hkc.audit/1",
        "n": int(len(frame)),
        "selection": {"column": selected, "label": selection_label, "population": population_label},
        "score": score,
        "outcome": outcome,
        "by": by,
        "thresholds": {"ratio_low": spec.flags.ratio_low, "ratio_high": spec.flags.ratio_high,
                       "require_interval": spec.flags.require_interval, "flag_metrics": list(spec.flags.metrics),
                       "small_cell": spec.disclosure.small_cell, "confidence": b.confidence},
        "overall": _overall(t, names[0]),
        "attributes": result_attrs,
        "flags": all_flags,
        "undefined": all_undefined,
        "labels": labels,
        "provenance": _provenance(spec, table, int(len(frame))),
    }
