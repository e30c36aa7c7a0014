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
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import fairlearn
import numpy as np
import pandas as pd
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)

from hkc.audit.bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit.columns import UNKNOWN_REFERENCE, binary_column, numeric_column, require_column
from hkc.audit.table import (
    FrequencyTable,
    bootstrap_statistic,
    cell_counts,
    confusion_cells,
    frequency_table,
    metric_frames,
    rates_from_cells,
    score_bands,
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
QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}
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


def _disparities(table: FrequencyTable, attr: str, include: list[str], has_outcome: bool) -> dict[str, Any]:
    """fairlearn's disparity measures over the groups in ``include`` (weighted frequency table)."""
    names = np.asarray(table.groups[attr], dtype=object)
    keep = np.isin(names[table.index[attr]], include)
    out: dict[str, Any] = {"groups": list(include)}
    measures = {"demographic_parity_difference": demographic_parity_difference,
                "demographic_parity_ratio": demographic_parity_ratio}
    if has_outcome:
        measures |= {"equalized_odds_difference": equalized_odds_difference,
                     "equalized_odds_ratio": equalized_odds_ratio,
                     "equal_opportunity_difference": equal_opportunity_difference,
                     "equal_opportunity_ratio": equal_opportunity_ratio}
    for name, fn in measures.items():
        if len(include) < 2:
            out[name] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(table.outcome[keep], table.selected[keep], sensitive_features=names[table.index[attr]][keep],
                       sample_weight=table.weight[keep])
        out[name] = finite_or_none(value)
    return out


def _score_summary(score: np.ndarray, codes: np.ndarray, g: int) -> list[dict[str, float]]:
    frame = pd.DataFrame({"g": codes, "s": score})
    grouped = frame.groupby("g")["s"]
    q = grouped.quantile(list(QUANTILES.values())).unstack()
    low, high = grouped.min(), grouped.max()
    out = []
    for i in range(g):
        if i not in q.index:
            out.append({})
            continue
        row = {"min": float(low[i])} | {k: float(q.loc[i, v]) for k, v in QUANTILES.items()}
        out.append(row | {"max": float(high[i])})
    return out


def _calibration(score: np.ndarray, outcome: np.ndarray, codes: np.ndarray, names: list[str],
                 bands: int) -> list[dict[str, Any]]:
    band, labels = score_bands(score, bands)
    frame = pd.DataFrame({"g": codes, "b": band, "y": outcome, "s": score})
    table = frame.groupby(["g", "b"]).agg(n=("y", "size"), observed=("y", "mean"), mean_score=("s", "mean"))
    return [{"group": names[g], "band": labels[b], "band_index": int(b), "n": int(row.n),
             "observed_rate": float(row.observed), "mean_score": float(row.mean_score)}
            for (g, b), row in table.iterrows()]


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
    has_outcome = outcome is not None
    out = binary_column(frame, outcome, "outcome column", where, row_of) if has_outcome else np.zeros(len(frame), np.int8)
    scores = numeric_column(frame, score, "score column", where, row_of) if score is not None else None
    reference = dict(reference or {})
    b = spec.bootstrap
    threshold = spec.disclosure.small_cell

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

    result_attrs: dict[str, Any] = {}
    all_flags: list[dict] = []
    all_undefined: list[dict] = []
    labels: dict[str, dict[str, str]] = {}
    for attr in names:
        by_group, _ = metric_frames(table, attr, has_outcome)
        groups_out = []
        ref_name = refs[attr]
        point: dict[str, dict[str, float | None]] = {}
        for gi, group in enumerate(table.groups[attr]):
            counts = cell_counts(cells[attr][gi], has_outcome)
            if int(round(by_group.loc[group, "n"])) != counts["n"]:  # the two ways of counting must agree
                raise AssertionError(f"MetricFrame count differs from the frequency table for {attr}={group}")
            values = {}
            for m in metrics:
                denominator = DENOMINATORS[m][0]
                values[m] = None if counts[denominator] == 0 else finite_or_none(by_group.loc[group, m])
            point[group] = values
        ref_values = point[ref_name]
        quantiles = _score_summary(scores, table.index[attr][table.row_key], len(table.groups[attr])) \
            if scores is not None else None
        labels[attr] = {g: _label(spec, attr, g) for g in table.groups[attr]}
        for gi, group in enumerate(table.groups[attr]):
            counts = cell_counts(cells[attr][gi], has_outcome)
            values = point[group]
            small_counts = [k for k, v in counts.items() if v < threshold]
            small_metrics = _small_metrics(counts, metrics, threshold)
            ref_small = _small_metrics(cell_counts(cells[attr][ref_index[attr]], has_outcome), metrics, threshold)
            undefined = [m for m in metrics if values[m] is None]
            entry: dict[str, Any] = {"group": group, **counts}
            entry |= {m: values.get(m) for m in METRICS}
            entry |= {"reference": group == ref_name, "small": bool(small_counts), "small_counts": small_counts,
                      "small_metrics": small_metrics, "undefined": undefined,
                      "ci": {m: (interval_or_none(intervals[f"{attr}|{m}"][gi]) if values[m] is not None else None)
                             for m in metrics},
                      "ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "flags": [],
                      "indicative": []}
            for m in undefined:
                all_undefined.append({"attribute": attr, "group": group, "metric": m, "kind": "rate",
                                      "reason": DENOMINATORS[m][1]})
            if group != ref_name:
                entry |= _compare(values, ref_values, metrics, {k: v[gi] for k, v in intervals.items()
                                                               if k.startswith(f"{attr}|")}, attr)
                for m, reason in entry.pop("_reasons").items():
                    all_undefined.append({"attribute": attr, "group": group, "metric": m, "kind": "ratio",
                                          "reason": reason})
                for m in spec.flags.metrics:
                    if m not in entry["ratio"] or not flag_raised(entry["ratio"][m], entry["ratio_ci"][m], spec):
                        continue
                    if m in small_metrics or m in ref_small:  # rests on small counts: named, not flagged
                        entry["indicative"].append(m)
                        continue
                    entry["flags"].append(m)
                    all_flags.append({"attribute": attr, "group": group, "reference": ref_name, "metric": m,
                                      "ratio": entry["ratio"][m], "ci": entry["ratio_ci"][m],
                                      "small": entry["small"]})
            if quantiles is not None:
                entry["score_quantiles"] = quantiles[gi]
            groups_out.append(entry)

        defined = [g["group"] for g in groups_out
                   if not any(m in g["undefined"] for m in ("true_positive_rate", "false_positive_rate"))]
        disparities = _disparities(table, attr, defined, has_outcome)
        disparities["excluded_groups"] = [g for g in table.groups[attr] if g not in defined]
        large = [g["group"] for g in groups_out if g["group"] in defined and not g["small"]]
        disparities["excluding_small"] = _disparities(table, attr, large, has_outcome)
        attr_entry: dict[str, Any] = {"reference": ref_name, "reference_source": sources[attr],
                                      "parts": list(dict(attrs)[attr]), "groups": groups_out,
                                      "disparities": disparities}
        if scores is not None and has_outcome:
            attr_entry["calibration"] = _calibration(scores, out, table.index[attr][table.row_key],
                                                     table.groups[attr], spec.calibration.bands)
        result_attrs[attr] = attr_entry

    total = cells[names[0]].sum(0)
    overall_counts = cell_counts(total, has_outcome)
    overall_rates = rates_from_cells(total.astype(float), None if scores is None else np.array(scores.sum()),
                                     has_outcome)
    overall_values = {m: (None if overall_counts[DENOMINATORS[m][0]] == 0 else finite_or_none(overall_rates[m]))
                      for m in metrics}
    overall = {**overall_counts, **{m: overall_values.get(m) for m in METRICS},
               "ci": {m: interval_or_none(intervals[f"|{m}"]) if overall_values[m] is not None else None for m in metrics}}
    return {
        "schema": "hkc.audit/1",
        "n": int(len(frame)),
        "selection": {"column": selected, "label": selection_label, "population": population_label},
        "score": score,
        "outcome": outcome,
        "by": by,
        "thresholds": {"ratio_low": spec.flags.ratio_low, "ratio_high": spec.flags.ratio_high,
                       "require_interval": spec.flags.require_interval, "flag_metrics": list(spec.flags.metrics),
                       "small_cell": threshold, "confidence": b.confidence},
        "overall": overall,
        "attributes": result_attrs,
        "flags": all_flags,
        "undefined": all_undefined,
        "labels": labels,
        "provenance": {
            "spec_sha256": spec.digest(), "spec_path": str(spec.path) if spec.path else None,
            "n": int(len(frame)), "resamples": b.resamples, "seed": b.seed, "confidence": b.confidence,
            "interval_method": "percentile bootstrap; rows resampled with replacement (multinomial draws of "
                               "the distinct-row counts)",
            "mean_score_interval": ("exact score values" if table.score_bins is None
                                    else f"scores grouped into {table.score_bins} quantile bins"),
            "distinct_rows": int(len(table.weight)), "fairlearn": fairlearn.__version__,
        },
    }
