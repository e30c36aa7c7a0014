"""The frequency table the group metrics run on, and the bootstrap statistic over it.

fairlearn's ``MetricFrame`` costs a Python step per row and metric (about 3 s per metric per
million rows), so it is given the table of distinct (groups, selected, outcome, score band) rows
with their counts as ``sample_weight``: rates and counts are identical, and the cost no longer
grows with the number of rows.  The bootstrap resamples the same table (one multinomial draw of
the counts is one resample of the rows), and :func:`bootstrap_statistic` turns a batch of
resampled counts into every group's rates, ratios and differences with one matrix product.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from hkc.audit.columns import Pooling, group_labels

__all__ = [
    "FrequencyTable",
    "frequency_table",
    "score_bands",
    "metric_frames",
    "rates_from_cells",
    "bootstrap_statistic",
    "confusion_cells",
    "cell_counts",
]


def score_bands(score: np.ndarray, bins: int) -> tuple[np.ndarray, list[str]]:
    """Band codes and labels: each distinct value when few, else quantile bands."""
    distinct = np.unique(score)
    if len(distinct) <= bins:
        labels = [f"{v:g}" for v in distinct]
        return np.searchsorted(distinct, score).astype(np.int64), labels
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges[1:-1], score, side="right"), 0, len(edges) - 2)
    labels = [f"{lo:.3g}–{hi:.3g}" for lo, hi in itertools.pairwise(edges)]
    return codes.astype(np.int64), labels


@dataclass
class FrequencyTable:
    """The frequency table of distinct (groups, selected, outcome, score bin) rows."""

    weight: np.ndarray            # (K,) rows per key
    selected: np.ndarray          # (K,)
    outcome: np.ndarray           # (K,) zeros when there is no outcome
    score: np.ndarray | None      # (K,) mean score of the rows in the key
    row_key: np.ndarray           # (n,) key of each row
    index: dict[str, np.ndarray]  # attribute -> group index per key
    groups: dict[str, list[str]]  # attribute -> group names (sorted)
    score_bins: int | None        # bins used (None: exact values)


def frequency_table(frame: pd.DataFrame, attrs: list[tuple[str, tuple[str, ...]]], by: Sequence[str],
                    sel: np.ndarray, out: np.ndarray, score: np.ndarray | None, score_bins: int, *,
                    pooled: Sequence[Pooling] = ()) -> FrequencyTable:
    """Compress the rows to distinct keys with counts (see :class:`FrequencyTable`).

    An attribute named by a :class:`~hkc.audit.columns.Pooling` in ``pooled`` has its pooled
    groups relabelled as the one pooled group.
    """
    relabel = {p.key: p.relabel for p in pooled}
    columns = {}
    uniques = {}
    for i, col in enumerate(by):
        code, values = pd.factorize(group_labels(frame[col]), sort=True)
        columns[f"c{i}"] = code
        uniques[col] = np.asarray(values, dtype=object)
    columns["sel"], columns["out"] = sel, out
    used_bins = None
    if score is not None:
        columns["bin"], labels = score_bands(score, score_bins)
        used_bins = None if len(labels) == len(np.unique(score)) else len(labels)
    parts = pd.DataFrame(columns)
    row_key = parts.groupby(list(parts.columns), sort=True).ngroup().to_numpy()
    k = int(row_key.max()) + 1
    first = np.empty(k, dtype=np.int64)
    first[row_key[::-1]] = np.arange(len(row_key) - 1, -1, -1)
    weight = np.bincount(row_key, minlength=k)
    index, groups = {}, {}
    for attr, cols in attrs:
        label = None
        for col in cols:
            values = uniques[col][columns[f"c{list(by).index(col)}"][first]]
            label = values if label is None else label + "*" + values
        if attr in relabel:
            label = relabel[attr](label)
        code, names = pd.factorize(label, sort=True)
        index[attr], groups[attr] = code, [str(v) for v in names]
    mean_score = None
    if score is not None:
        mean_score = np.bincount(row_key, weights=score, minlength=k) / weight
    return FrequencyTable(weight=weight, selected=sel[first].astype(np.int64), outcome=out[first].astype(np.int64),
                          score=mean_score, row_key=row_key, index=index, groups=groups, score_bins=used_bins)


def _weighted_count(y_true, y_pred, sample_weight):
    return float(np.sum(sample_weight))


def _base_rate(y_true, y_pred, sample_weight):
    return float(np.average(y_true, weights=sample_weight))


def metric_frames(table: FrequencyTable, attr: str, has_outcome: bool) -> tuple[pd.DataFrame, pd.Series]:
    """fairlearn MetricFrame per group and overall (undefined rates still read 0.0 here)."""
    metrics: dict[str, Callable] = {"n": _weighted_count, "selection_rate": selection_rate}
    if has_outcome:
        metrics |= {"base_rate": _base_rate, "true_positive_rate": true_positive_rate,
                    "false_positive_rate": false_positive_rate, "false_negative_rate": false_negative_rate,
                    "true_negative_rate": true_negative_rate,
                    "precision": functools.partial(precision_score, zero_division=0.0)}
    sf = pd.Series(np.asarray(table.groups[attr], dtype=object)[table.index[attr]], name=attr)
    weights = {name: {"sample_weight": table.weight} for name in metrics}
    frame = MetricFrame(metrics=metrics, y_true=table.outcome, y_pred=table.selected, sensitive_features=sf,
                        sample_params=weights)
    by_group, overall = frame.by_group.copy(), frame.overall.copy()
    if table.score is not None:
        scores = MetricFrame(metrics={"mean_score": mean_prediction}, y_true=table.score, y_pred=table.score,
                             sensitive_features=sf, sample_params={"mean_score": {"sample_weight": table.weight}})
        by_group["mean_score"] = scores.by_group["mean_score"]
        overall["mean_score"] = scores.overall["mean_score"]
    by_group.index = by_group.index.astype(str)
    return by_group, overall


def rates_from_cells(cells: np.ndarray, score_sum: np.ndarray | None, has_outcome: bool) -> dict[str, np.ndarray]:
    """Rates from confusion cells (..., 4) ordered TN, FN, FP, TP; 0/0 gives NaN (undefined)."""
    tn, fn, fp, tp = (cells[..., i] for i in range(4))
    n = cells.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"selection_rate": (fp + tp) / n}
        if score_sum is not None:
            out["mean_score"] = score_sum / n
        if has_outcome:
            out |= {"base_rate": (fn + tp) / n, "true_positive_rate": tp / (tp + fn),
                    "false_positive_rate": fp / (fp + tn), "false_negative_rate": fn / (tp + fn),
                    "true_negative_rate": tn / (fp + tn), "precision": tp / (tp + fp)}
    return out


def _design(table: FrequencyTable, attrs: list[str]) -> tuple[np.ndarray, dict[str, tuple[int, int, int]]]:
    """Matrix mapping key counts to (group, cell) counts and score sums for every attribute."""
    k = len(table.weight)
    layout, width = {}, 0
    for attr in attrs:
        g = len(table.groups[attr])
        layout[attr] = (width, width + 4 * g, g)
        width += 5 * g
    design = np.zeros((k, width))
    rows = np.arange(k)
    cell = 2 * table.selected + table.outcome
    for attr in attrs:
        cells_at, score_at, _ = layout[attr]
        design[rows, cells_at + 4 * table.index[attr] + cell] = 1.0
        if table.score is not None:
            design[rows, score_at + table.index[attr]] = table.score
    return design, layout


def bootstrap_statistic(table: FrequencyTable, attrs: list[str], refs: Mapping[str, int], has_outcome: bool):
    """The statistic for :func:`~hkc.audit.bootstrap.bootstrap_intervals`: from (r, K) resampled key
    counts, the overall rates (keys ``|metric``) and each attribute's group rates, ratios and
    differences to the reference group (``attr|metric``, ``…|ratio``, ``…|difference``)."""
    design, layout = _design(table, attrs)
    has_score = table.score is not None

    def statistic(draws: np.ndarray) -> dict[str, np.ndarray]:
        sums = draws @ design
        out = {}
        for attr in attrs:
            cells_at, score_at, g = layout[attr]
            cells = sums[:, cells_at:cells_at + 4 * g].reshape(-1, g, 4)
            score_sum = sums[:, score_at:score_at + g] if has_score else None
            if attr == attrs[0]:
                for name, value in rates_from_cells(cells.sum(1), None if score_sum is None else score_sum.sum(1),
                                                    has_outcome).items():
                    out[f"|{name}"] = value
            ref = refs[attr]
            for name, value in rates_from_cells(cells, score_sum, has_outcome).items():
                out[f"{attr}|{name}"] = value
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[f"{attr}|{name}|ratio"] = value / value[:, [ref]]
                out[f"{attr}|{name}|difference"] = value - value[:, [ref]]
        return out

    return statistic


def confusion_cells(table: FrequencyTable, attr: str) -> np.ndarray:
    """Counts per group and cell (TN, FN, FP, TP), shape (groups, 4)."""
    g = len(table.groups[attr])
    flat = np.bincount(4 * table.index[attr] + 2 * table.selected + table.outcome, weights=table.weight,
                       minlength=4 * g)
    return flat.reshape(g, 4).astype(np.int64)


def cell_counts(cells: np.ndarray, has_outcome: bool) -> dict[str, int]:
    """Named counts from one group's four cells."""
    tn, fn, fp, tp = (int(x) for x in cells)
    out = {"n": tn + fn + fp + tp, "selected": fp + tp}
    if has_outcome:
        out |= {"positives": fn + tp, "negatives": tn + fp, "true_positives": tp, "false_positives": fp,
                "false_negatives": fn, "true_negatives": tn}
    return out
