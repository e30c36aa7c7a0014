"""Group metrics: who is selected, by group, with intervals — :func:`audit_selection`.

Per sensitive attribute and per intersection (``ethnicity*sex``, groups ``Black*M``): counts,
selection rate and mean score, and with an outcome the base rate, error rates, precision and
calibration by score band, computed with fairlearn's ``MetricFrame`` on the frequency table
(:mod:`hkc.audit.table`).  On top of fairlearn: ratios and differences to a reference group,
bootstrap intervals for every rate and ratio, undefined rates (an empty denominator) reported as
``null`` and left out of ratios, small cells, and the flags.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fairlearn
import numpy as np
import pandas as pd

from hkc.audit.bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit.columns import UNKNOWN_REFERENCE, binary_column, numeric_column, require_column
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
from hkc.errors import HkcError

__all__ = ["DENOMINATORS", "RATE_COUNTS", "QUANTILES", "NO_ROWS", "audit_selection"]


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
# The counts each rate rests on (numerator, denominator, complement): a rate is "small" when any is
# under the small-cell threshold.  A small rate can still be shown to the auditor with its
# interval, but it never raises a flag (its percentile interval is unreliable, e.g. 0/2 gives
# [0, 0]); it is listed as `indicative` instead.
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
NO_ROWS = "{where}: no rows to audit"


def _attribute_keys(by: Sequence[str], spec: AuditSpec, intersections: bool) -> list[tuple[str, tuple[str, ...]]]:
    keys = [(col, (col,)) for col in by]
    if intersections:
        wanted = [tuple(i.split("*")) for i in spec.attributes.intersections if all(p in by for p in i.split("*"))]
        if not wanted and len(by) >= 2:
            wanted = list(itertools.combinations(by, 2))
        keys += [("*".join(parts), parts) for parts in wanted]
    return keys


def _label(spec: AuditSpec, attr: str, group: str) -> str:
    table = spec.labels.get(attr, {})
    if group in table:
        return table[group]
    if "*" in attr:
        parts, values = attr.split("*"), group.split("*")
        if len(parts) == len(values):
            return _label(spec, parts[0], values[0]) + " (" + ", ".join(
                f"{p} {v}" for p, v in zip(parts[1:], values[1:], strict=True)) + ")"
    return f"{group} people"


def _resolve_reference(attr: str, parts: tuple[str, ...], groups: list[str], sizes: np.ndarray,
                       reference: Mapping[str, str], spec: AuditSpec, resolved: Mapping[str, str]) -> tuple[str, str]:
    """The reference group and where it came from.

    A reference passed by the caller must exist.  One from the spec that the data does not hold
    (e.g. the spec's ``sex = "M"`` on a file coded ``Male``) falls back to the largest group, and
    the source says so; findings repeat it.
    """
    largest = groups[int(np.argmax(sizes))]
    if attr in reference:
        group = str(reference[attr])
        if group not in groups:
            raise HkcError(UNKNOWN_REFERENCE.format(group=group, attribute=attr, groups=", ".join(groups),
                                                    fix="; pass a reference that is present"))
        return group, "argument"
    if attr in spec.reference:
        group = str(spec.reference[attr])
        if group in groups:
            return group, "spec"
        return largest, f"largest group (the spec's reference {group!r} is not in the data)"
    if len(parts) > 1 and all(p in resolved for p in parts):
        combined = "*".join(resolved[p] for p in parts)
        if combined in groups:
            return combined, "parts"
    return largest, "largest group"


def _compare(values: Mapping[str, float | None], ref_values: Mapping[str, float | None], metrics: Sequence[str],
             intervals: Mapping[str, np.ndarray], attr: str) -> dict[str, Any]:
    """Ratios and differences of one group's rates to the reference group's, with intervals.

    An undefined rate on either side, or a reference rate of 0, gives no ratio; the reason is
    returned under ``_reasons`` for the ``undefined`` list.
    """
    out: dict[str, Any] = {"ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "_reasons": {}}
    for m in metrics:
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
        out["ratio_ci"][m] = interval_or_none(intervals[f"{attr}|{m}|ratio"]) if ratio is not None else None
        out["difference_ci"][m] = interval_or_none(intervals[f"{attr}|{m}|difference"]) if difference is not None else None
    return out


def _small_metrics(counts: Mapping[str, int], metrics: Sequence[str], threshold: int) -> list[str]:
    sizes = dict(counts) | {"not_selected": counts["n"] - counts["selected"]}
    return [m for m in metrics if any(sizes.get(k, threshold) < threshold for k in RATE_COUNTS[m])]


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


def _read_columns(frame: pd.DataFrame, *, by: list[str], selected: str, score: str | None, outcome: str | None,
                  where: str, row_of: Callable[[int], str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The selected flags, the outcome (zeros without one) and the scores, each column checked first."""
    if not by:
        raise HkcError(f"{where}: give at least one attribute to audit by (--by COLUMN)")
    for col in by:
        require_column(frame, col, "--by column", where)
    require_column(frame, selected, "selected column", where)
    if score is not None:
        require_column(frame, score, "score column", where)
    if outcome is not None:
        require_column(frame, outcome, "outcome column", where)
    if len(frame) == 0:
        raise HkcError(NO_ROWS.format(where=where))
    sel = binary_column(frame, selected, "selected column", where, row_of)
    out = (binary_column(frame, outcome, "outcome column", where, row_of) if outcome is not None
           else np.zeros(len(frame), np.int8))
    scores = numeric_column(frame, score, "score column", where, row_of) if score is not None else None
    return sel, out, scores


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


def _add_comparison(t: _Tables, attr: str, gi: int, entry: dict[str, Any], point: Mapping, ref_name: str,
                    not_flagged: set[str]) -> tuple[list[dict], list[dict]]:
    """Put the ratios and differences to the reference into ``entry``; return its flags and undefined ratios.

    A ratio that meets the flag rule but rests on small counts (``not_flagged``) is ``indicative``.
    """
    group = entry["group"]
    entry |= _compare(point[group], point[ref_name], t.metrics,
                      {k: v[gi] for k, v in t.intervals.items() if k.startswith(f"{attr}|")}, attr)
    undefined = [{"attribute": attr, "group": group, "metric": m, "kind": "ratio", "reason": reason}
                 for m, reason in entry.pop("_reasons").items()]
    flags = []
    for m in t.spec.flags.metrics:
        if m not in entry["ratio"] or not flag_raised(entry["ratio"][m], entry["ratio_ci"][m], t.spec):
            continue
        if m in not_flagged:  # rests on small counts: named, not flagged
            entry["indicative"].append(m)
            continue
        entry["flags"].append(m)
        flags.append({"attribute": attr, "group": group, "reference": ref_name, "metric": m,
                      "ratio": entry["ratio"][m], "ci": entry["ratio_ci"][m], "small": entry["small"]})
    return flags, undefined


def _group_entry(t: _Tables, attr: str, gi: int, point: Mapping, ref_name: str,
                 ref_small: list[str]) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One group's row of ``groups``, with its flags and its undefined rates and ratios."""
    group = t.table.groups[attr][gi]
    counts = cell_counts(t.cells[attr][gi], t.has_outcome)
    values = point[group]
    threshold = t.spec.disclosure.small_cell
    small_counts = [k for k, v in counts.items() if v < threshold]
    small_metrics = _small_metrics(counts, t.metrics, threshold)
    undefined = [m for m in t.metrics if values[m] is None]
    entry: dict[str, Any] = {"group": group, **counts}
    entry |= {m: values.get(m) for m in METRICS}
    entry |= {"reference": group == ref_name, "small": bool(small_counts), "small_counts": small_counts,
              "small_metrics": small_metrics, "undefined": undefined,
              "ci": {m: (interval_or_none(t.intervals[f"{attr}|{m}"][gi]) if values[m] is not None else None)
                     for m in t.metrics},
              "ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "flags": [],
              "indicative": []}
    undefined_out = [{"attribute": attr, "group": group, "metric": m, "kind": "rate", "reason": DENOMINATORS[m][1]}
                     for m in undefined]
    flags: list[dict] = []
    if group != ref_name:
        flags, ratios = _add_comparison(t, attr, gi, entry, point, ref_name, {*small_metrics, *ref_small})
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
    ref_small = _small_metrics(cell_counts(t.cells[attr][ref_gi], t.has_outcome), t.metrics,
                               t.spec.disclosure.small_cell)
    groups_out, flags, undefined = [], [], []
    for gi in range(len(table.groups[attr])):
        entry, group_flags, group_undefined = _group_entry(t, attr, gi, point, ref_name, ref_small)
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
    return {**counts, **{m: values.get(m) for m in METRICS},
            "ci": {m: interval_or_none(t.intervals[f"|{m}"]) if values[m] is not None else None for m in t.metrics}}


def _provenance(spec: AuditSpec, table: FrequencyTable, n: int) -> dict[str, Any]:
    """What the figures rest on: the spec's hash, the bootstrap settings, the table's size, fairlearn's version."""
    b = spec.bootstrap
    return {
        "spec_sha256": spec.digest(), "spec_path": str(spec.path) if spec.path else None,
        "n": n, "resamples": b.resamples, "seed": b.seed, "confidence": b.confidence,
        "interval_method": "percentile bootstrap; rows resampled with replacement (multinomial draws of "
                           "the distinct-row counts)",
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
        (the spec's intersections among ``by``, else every pair), keyed ``a*b`` with groups ``v1*v2``.
    score, outcome : str, optional
        Numeric score (mean score, score distribution, calibration) and 0/1 outcome (error rates).
    spec : AuditSpec
        Reference groups, bootstrap settings, small-cell threshold and flag rule.
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
        ``undefined``, ``small``, ``flags``; ``disparities`` from fairlearn; ``calibration``),
        top-level ``flags`` and ``undefined`` lists, ``labels`` and ``provenance``.
    """
    by = list(by)
    sel, out, scores = _read_columns(frame, by=by, selected=selected, score=score, outcome=outcome, where=where,
                                     row_of=row_of)
    has_outcome = outcome is not None
    reference = dict(reference or {})
    b = spec.bootstrap
    attrs = _attribute_keys(by, spec, intersections)
    table = frequency_table(frame, attrs, by, sel, out, scores, b.score_bins)
    names = [a for a, _ in attrs]
    cells = {a: confusion_cells(table, a) for a in names}
    refs: dict[str, str] = {}
    sources: dict[str, str] = {}
    for attr, parts in attrs:
        refs[attr], sources[attr] = _resolve_reference(attr, parts, table.groups[attr], cells[attr].sum(1),
                                                       reference, spec, refs)
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
        all_flags += flags
        all_undefined += undefined
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
        "labels": {attr: {g: _label(spec, attr, g) for g in table.groups[attr]} for attr in names},
        "provenance": _provenance(spec, table, int(len(frame))),
    }
