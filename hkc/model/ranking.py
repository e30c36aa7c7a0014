"""Ranking measures: how well a score picks out who goes on to be involved, with paired intervals.

The rankers (the matrix, the models, prior knife events, random), their top-k precision and recall,
AUC, average precision, Brier score and calibration, by group as well as overall.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from hkc.audit import audit_selection, bootstrap_intervals, finite_or_none, interval_or_none, score_bands
from hkc.definitions import AuditSpec, ModelSpec
from hkc.model.pipeline import FittedModel

__all__ = ['METRICS', 'Ranker', 'rankers_for', 'ranking_metrics', 'compare_to_matrix', 'BASELINES', 'reliability', 'group_reliability', 'DESCRIPTIONS']


METRICS = ("roc_auc", "average_precision", "brier", "ece", "precision_at_k", "recall_at_k")

PROBABILITY_METRICS = ("brier", "ece")

BASELINES = ("matrix", "prior_knife_count", "random")

DESCRIPTIONS = {
    "matrix": "the matrix's risk score; its top k is the cohort the matrix would have listed",
    "prior_knife_count": "count of earlier outcome events (the label's types and roles)",
    "random": "seeded random scores: what no information achieves",
}


@dataclass
class Ranker:
    """Scores for the rows of one snapshot and the order its top k is taken in."""

    name: str
    score: np.ndarray                       # per row, higher = more likely (ROC AUC, AP)
    order: np.ndarray                       # row positions of the top-k pool, best first
    probability: np.ndarray | None = None   # calibrated probability (Brier, ECE)
    uncalibrated: np.ndarray | None = None  # the base model's probability


def _tiebreak(frame: pd.DataFrame) -> np.ndarray:
    """A stable pseudo-random key per person: ties never depend on row order or id order."""
    return pd.util.hash_array(frame["person_id"].to_numpy(dtype=object))


def _pool(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.evaluation.pool == "eligible":
        return np.flatnonzero(frame["eligible"].to_numpy(dtype=bool))
    return np.arange(len(frame))


def _order(pool: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """``pool`` sorted by ``keys`` descending, the first key deciding first."""
    return pool[np.lexsort(tuple(-np.asarray(k, dtype=np.float64)[pool] for k in reversed(keys)))]


def rankers_for(frame: pd.DataFrame, *, spec: ModelSpec, snapshot: dt.date,
                models: dict[str, FittedModel]) -> list[Ranker]:
    """The matrix, each fitted model and the baselines on one snapshot's rows."""
    pool = _pool(frame, spec)
    latest = pd.to_datetime(frame["latest_weapon_date"]).fillna(pd.Timestamp("1900-01-01"))
    latest_days = latest.to_numpy().astype("datetime64[D]").astype(np.int64)
    ids = frame["person_id"].to_numpy(dtype=object)
    id_rank = np.empty(len(frame), dtype=np.int64)
    id_rank[np.argsort(ids, kind="stable")] = np.arange(len(frame))
    tie = _tiebreak(frame).astype(np.float64)
    risk = frame["risk_score"].to_numpy(dtype=np.float64)
    out = [Ranker("matrix", risk, _order(pool, risk, latest_days, -id_rank))]
    for name, fitted in models.items():
        calibrated, uncalibrated = fitted.predict(frame)
        out.append(Ranker(name, calibrated, _order(pool, calibrated, uncalibrated, tie), calibrated, uncalibrated))
    count = frame["prior_knife_count"].to_numpy(dtype=np.float64)
    out.append(Ranker("prior_knife_count", count, _order(pool, count, tie)))
    rng = np.random.default_rng([spec.evaluation.random_seed, snapshot.toordinal()])
    noise = rng.random(len(frame))
    out.append(Ranker("random", noise, _order(pool, noise)))
    return out


@dataclass
class _Cells:
    ranker: Ranker
    probability: np.ndarray | None
    start: int                 # first column of this ranker's cells
    levels: int                # m: distinct scores among positives
    brier: int | None = None   # column of (p - y)², followed by one column per ECE bin
    bins: int = 0


def _cell_matrix(scored: list[tuple[Ranker, np.ndarray | None]], y: np.ndarray,
                 ece_bins: int) -> tuple[sparse.csr_matrix, list[_Cells]]:
    """The (columns × rows) indicator matrix; columns 0 and 1 are all rows and the positives."""
    n = len(y)
    positive = y == 1
    npos = int(positive.sum())
    rows = [np.arange(n), np.flatnonzero(positive)]
    cols = [np.zeros(n, dtype=np.int64), np.ones(npos, dtype=np.int64)]
    vals = [np.ones(n), np.ones(npos)]
    cells, start = [], 2
    for ranker, probability in scored:
        s = ranker.score
        levels = np.unique(s[positive])
        m = len(levels)
        col = np.empty(n, dtype=np.int64)
        col[positive] = np.searchsorted(levels, s[positive])
        b = np.searchsorted(levels, s[~positive], side="left")
        equal = (b < m) & (levels[np.minimum(b, max(m - 1, 0))] == s[~positive]) if m else np.zeros(len(b), bool)
        col[~positive] = np.where(equal, 2 * m + 1 + b, m + b)  # strictly below levels[b], or equal to it
        rows.append(np.arange(n)), cols.append(start + col), vals.append(np.ones(n))
        c = _Cells(ranker, probability, start, m)
        start += 3 * m + 1
        if probability is not None:
            codes, labels = score_bands(probability, ece_bins)
            c.brier, c.bins = start, len(labels)
            rows += [np.arange(n), np.arange(n)]
            cols += [np.full(n, start), start + 1 + codes]
            vals += [(probability - y) ** 2, y - probability]
            start += 1 + len(labels)
        cells.append(c)
    matrix = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(cols), np.concatenate(rows))),
                               shape=(start, n)).tocsr()
    return matrix, cells


def _top_k(W: np.ndarray, y: np.ndarray, order: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes among the first k units of ``order`` in each resample (a person drawn twice counts twice)."""
    if not len(order):
        return np.zeros(len(W)), np.zeros(len(W))
    for length in (min(len(order), 4 * k + 200), len(order)):
        Wo = W[:, order[:length]]
        cum = np.cumsum(Wo, axis=1)
        if length == len(order) or (cum[:, -1] >= k).all():
            break
    taken = np.clip(k - (cum - Wo), 0, Wo)
    return taken @ y[order[:length]], np.minimum(k, cum[:, -1])


def _measures(S: np.ndarray, W: np.ndarray, y: np.ndarray, c: _Cells, k: int) -> dict[str, np.ndarray]:
    total, positives = S[:, 0], S[:, 1]
    negatives = total - positives
    m, o = c.levels, c.start
    pos, between, equal = S[:, o:o + m], S[:, o + m:o + 2 * m + 1], S[:, o + 2 * m + 1:o + 3 * m + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        below = np.cumsum(between, axis=1)[:, :m] + np.cumsum(equal, axis=1) - equal  # negatives below each level
        out = {"roc_auc": (pos * (below + 0.5 * equal)).sum(1) / (positives * negatives)}
        tp = positives[:, None] - (np.cumsum(pos, axis=1) - pos)   # positives at or above each level
        fp = negatives[:, None] - below                           # negatives at or above it
        precision = np.where(pos > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        out["average_precision"] = (pos * precision).sum(1) / positives
        if c.brier is not None:
            out["brier"] = S[:, c.brier] / total
            out["ece"] = np.abs(S[:, c.brier + 1:c.brier + 1 + c.bins]).sum(1) / total
        hits, listed = _top_k(W, y, c.ranker.order, k)
        out["precision_at_k"] = hits / listed
        out["recall_at_k"] = hits / positives
    return out


def ranking_metrics(y: np.ndarray, rankers: list[Ranker], *, k: int, ece_bins: int = 10,
                    resamples: int = 0, seed: int = 0, confidence: float = 0.95) -> dict:
    """Point measures per ranker; with ``resamples``, intervals and paired model − matrix margins.

    Returns ``{"rankers": {name: {metric: value, "ci": {...}, "uncalibrated": {...}}},
    "comparisons": {model: {"precision_at_k": {"difference", "ci"}, ...}}}``.  Brier and ECE are
    ``None`` for rankers that are not probabilities; a measure undefined on the sample (one
    class only) is ``None``.
    """
    y = np.asarray(y, dtype=np.float64)
    scored = [(r, r.probability) for r in rankers]
    scored += [(Ranker(f"{r.name}|uncalibrated", r.uncalibrated, r.order), r.uncalibrated)
               for r in rankers if r.uncalibrated is not None]
    matrix, cells = _cell_matrix(scored, y, ece_bins)
    models = [r.name for r in rankers if r.probability is not None]
    compared = ("precision_at_k", "recall_at_k", "roc_auc", "average_precision")

    def statistic(W: np.ndarray) -> dict[str, np.ndarray]:
        S = (matrix @ np.ascontiguousarray(W.T)).T
        out = {f"{c.ranker.name}|{m}": v for c in cells for m, v in _measures(S, W, y, c, k).items()}
        if "matrix|precision_at_k" in out:
            out |= {f"{name}|minus_matrix|{m}": out[f"{name}|{m}"] - out[f"matrix|{m}"]
                    for name in models for m in compared}
        return out

    point = {key: finite_or_none(v[0]) for key, v in statistic(np.ones((1, len(y)))).items()}
    ci = bootstrap_intervals(np.ones(len(y), dtype=np.int64), statistic, resamples=resamples, seed=seed,
                             confidence=confidence) if resamples else {}

    def interval(key: str) -> list[float] | None:
        return interval_or_none(ci[key]) if key in ci and point.get(key) is not None else None

    result: dict = {"rankers": {}, "comparisons": {}}
    for r in rankers:
        entry = {m: point.get(f"{r.name}|{m}") for m in METRICS}
        entry["top_k_positives"] = int(round((entry["precision_at_k"] or 0) * min(k, len(r.order))))
        if resamples:
            entry["ci"] = {m: interval(f"{r.name}|{m}") for m in METRICS if entry[m] is not None}
        if r.uncalibrated is not None:
            raw = {m: point.get(f"{r.name}|uncalibrated|{m}") for m in PROBABILITY_METRICS}
            if resamples:
                raw["ci"] = {m: interval(f"{r.name}|uncalibrated|{m}") for m in PROBABILITY_METRICS}
            entry["uncalibrated"] = raw
        result["rankers"][r.name] = entry
    for name in models:
        result["comparisons"][name] = {m: {"difference": point.get(f"{name}|minus_matrix|{m}"),
                                           "ci": interval(f"{name}|minus_matrix|{m}")} for m in compared}
    return result


def compare_to_matrix(metrics: dict, model: str, *, margin: float = 0.0) -> tuple[bool, dict]:
    """Does ``model`` beat the matrix's precision in the top k by an interval above ``margin``?"""
    c = metrics["comparisons"][model]["precision_at_k"]
    lo = c["ci"][0] if c["ci"] else None
    beats = c["difference"] is not None and lo is not None and lo > margin
    return beats, {"difference": c["difference"], "ci": c["ci"], "margin": margin,
                   "model": metrics["rankers"][model]["precision_at_k"],
                   "matrix": metrics["rankers"]["matrix"]["precision_at_k"]}


def _precision_curve(y: np.ndarray, ranker: Ranker, max_k: int) -> list[list[float]]:
    hits = np.cumsum(y[ranker.order[:max_k]])
    ks = np.arange(1, len(hits) + 1)
    step = max(1, len(ks) // 200)
    keep = np.unique(np.r_[ks[::step] - 1, len(ks) - 1]) if len(ks) else np.array([], dtype=int)
    return [[int(ks[i]), float(hits[i] / ks[i])] for i in keep]


def reliability(y: np.ndarray, probability: np.ndarray, bins: int) -> list[dict]:
    """Equal-count bins: rows, mean predicted probability, observed rate."""
    codes, labels = score_bands(probability, bins)
    frame = pd.DataFrame({"b": codes, "p": probability, "y": y})
    table = frame.groupby("b").agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    return [{"bin": labels[b], "n": int(r.n), "predicted": float(r.predicted), "observed": float(r.observed)}
            for b, r in table.iterrows()]


def _group_summary(audit: dict, *, with_rates: bool) -> dict:
    """Per attribute and group: counts, ECE from the audit's calibration bands, and (optionally)
    error rates of the top k with intervals."""
    out = {}
    for attr, a in audit["attributes"].items():
        bands: dict[str, list] = {}
        for band in a.get("calibration", []):
            bands.setdefault(band["group"], []).append(band)
        rows = []
        for g in a["groups"]:
            gb = bands.get(g["group"], [])
            n = sum(b["n"] for b in gb)
            ece = sum(b["n"] * abs(b["observed_rate"] - b["mean_score"]) for b in gb) / n if n else None
            row = {"group": g["group"], "n": g["n"], "positives": g.get("positives"), "base_rate": g.get("base_rate"),
                   "mean_score": g.get("mean_score"), "ece": ece, "small": g["small"],
                   "bands": [{k: b[k] for k in ("band", "n", "observed_rate", "mean_score")} for b in gb]}
            if with_rates:
                row |= {m: g.get(m) for m in ("selected", "selection_rate", "true_positive_rate",
                                              "false_positive_rate", "false_negative_rate", "precision")}
                row["ci"] = {m: g["ci"].get(m) for m in ("selection_rate", "true_positive_rate",
                                                         "false_positive_rate", "precision") if m in g["ci"]}
                row["small_metrics"] = list(g.get("small_metrics", []))
            rows.append(row)
        out[attr] = rows
    return out


def group_reliability(frame: pd.DataFrame, rankers: list[Ranker], *, k: int, audit_spec: AuditSpec) -> dict:
    """Per ranker and group (via :func:`hkc.audit.groups.audit_selection`): error rates of the top k, and
    for models the calibrated and uncalibrated reliability by group."""
    y = frame["label"].to_numpy(dtype=int)
    by = [c for c in audit_spec.attributes.columns if c in frame]
    quick = dataclasses.replace(audit_spec, bootstrap=dataclasses.replace(audit_spec.bootstrap, resamples=10))
    out = {}
    for r in rankers:
        if r.name != "matrix" and r.probability is None:
            continue
        selected = np.zeros(len(frame), dtype=int)
        selected[r.order[:k]] = 1
        base = frame[by].astype(str).assign(selected=selected, label=y)
        label = f"in the top {k} of {r.name}"
        audit = audit_selection(base.assign(score=r.score), selected="selected", by=by, score="score",
                                outcome="label", spec=audit_spec, selection_label=label,
                                population_label="the snapshot population")
        entry = {"error_rates_and_calibration": _group_summary(audit, with_rates=True)}
        if r.uncalibrated is not None:
            raw = audit_selection(base.assign(score=r.uncalibrated), selected="selected", by=by, score="score",
                                  outcome="label", spec=quick, selection_label=label)
            entry["uncalibrated"] = _group_summary(raw, with_rates=False)
        out[r.name] = entry
    return out
