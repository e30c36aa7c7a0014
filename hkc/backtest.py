"""Temporal backtests: does a ranking pick out who goes on to be involved, and is the model any better?

>>> result = run_backtest(extract, definitions=defs, as_of=date(2026, 9, 30), out=Path("bt"))  # doctest: +SKIP
>>> result["rankers"]["matrix"]["precision_at_k"], result["rankers"]["matrix"]["ci"]["precision_at_k"]  # doctest: +SKIP

Rankers, each scoring the snapshot population (:mod:`hkc.snapshots`) as of the snapshot only:

* ``matrix`` — the risk score; its top k is the cohort the matrix would have listed (eligible
  people in priority order: risk score, latest weapon-related event, person id);
* ``model_<name>`` — every spec in ``models/`` (``logistic``, ``boosted``): fitted on the training
  snapshots, calibrated on the calibration snapshot, ranked by calibrated probability (ties by
  the base model's score);
* ``prior_knife_count`` — outcome events (the label's types and roles) on or before the snapshot;
* ``random`` — seeded uniform scores: the floor.

Measures on the test snapshot: ROC AUC and average precision (ranking), Brier score and expected
calibration error (probabilities only, else null), and precision and recall in the top k (k =
the cohort size), each with a percentile bootstrap interval over people resampled with
replacement.  Every ranker is measured on the same resamples, so the model's margin over the
matrix has a paired interval (:func:`compare_to_matrix`).  Top k is drawn from the people the
eligibility rules allow to be listed (``[evaluation] pool``); recall divides by every positive in
the population.  Rolling origins repeat the point estimates at every eligible earlier snapshot,
refitting the models where their training snapshots fit in the history.  Label, snapshots and
measures come from the primary spec; each model keeps its own features, estimator and calibration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from hkc import __version__
from hkc.audit import AuditSpec, audit_selection
from hkc.audit_bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit_table import score_bands
from hkc.cohort_audit import refresh_audit_spec
from hkc.definitions import Definitions
from hkc.errors import ExtractError
from hkc.extract import Extract
from hkc.model import FittedModel, fit_model
from hkc.model_spec import ModelSpec, load_model_spec, model_spec_names
from hkc.snapshots import SnapshotCache, SnapshotPlan, eligible_snapshots, history_window, plan_snapshots

__all__ = ["METRICS", "Ranker", "rankers_for", "ranking_metrics", "evaluate_snapshot", "compare_to_matrix",
           "fit_for", "run_backtest", "BASELINES", "context", "reliability", "group_reliability", "DESCRIPTIONS"]

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


# --------------------------------------------------------------------------------------------
# Measures on weighted rows.  A bootstrap resample is a row of counts per person (W, shape (r, n));
# the sample itself is one row of ones.  Every measure except the top k is a sum of weights over a
# few "cells": per ranker, the positives at each distinct score held by a positive and the
# negatives strictly between or equal to those scores; per calibration bin, the outcome minus the
# probability.  So one sparse product W @ cells gives them all for every ranker at once, and ROC AUC
# and average precision follow by cumulative sums over those cells (exactly, ties included).


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


# --------------------------------------------------------------------------------------------
# Curves, reliability and groups on the test snapshot


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
    """Per ranker and group (via :func:`hkc.audit.audit_selection`): error rates of the top k, and
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


def evaluate_snapshot(frame: pd.DataFrame, rankers: list[Ranker], *, spec: ModelSpec,
                      audit_spec: AuditSpec | None = None, bootstrap: bool = True) -> dict:
    """Every measure on one labelled snapshot; with ``audit_spec`` also curves, reliability and groups."""
    e = spec.evaluation
    y = frame["label"].to_numpy(dtype=np.float64)
    result = ranking_metrics(y, rankers, k=e.k, ece_bins=e.ece_bins, resamples=e.resamples if bootstrap else 0,
                             seed=e.seed, confidence=e.confidence)
    result |= {"n": int(len(frame)), "positives": int(y.sum()), "pool_size": int(len(rankers[0].order))}
    if audit_spec is not None:
        max_k = e.curve_max_k or 4 * e.k
        result["precision_curve"] = {r.name: _precision_curve(y, r, max_k) for r in rankers}
        result["reliability"] = {r.name: {"calibrated": reliability(y, r.probability, e.ece_bins),
                                          "uncalibrated": reliability(y, r.uncalibrated, e.ece_bins)}
                                 for r in rankers if r.probability is not None}
        result["groups"] = group_reliability(frame, rankers, k=e.k, audit_spec=audit_spec)
    return result


# --------------------------------------------------------------------------------------------
# The whole backtest


def fit_for(cache: SnapshotCache, plan: SnapshotPlan, spec: ModelSpec, definitions: Definitions) -> FittedModel:
    """Fit and calibrate ``spec`` on ``plan``'s training and calibration snapshots."""
    return fit_model(spec, cache.rows(plan.train), cache.rows(plan.calibration), catalogue=definitions.catalogue)


def _model_specs(primary: ModelSpec, definitions: Definitions) -> list[ModelSpec]:
    names = model_spec_names(definitions) or [primary.name]
    specs = [primary if n == primary.name else load_model_spec(n, definitions=definitions) for n in names]
    return [dataclasses.replace(s, label=primary.label, snapshots=primary.snapshots, evaluation=primary.evaluation)
            for s in specs]


def _rolling(cache: SnapshotCache, window, primary: ModelSpec, specs: list[ModelSpec], test_models: dict,
             plan: SnapshotPlan, definitions: Definitions, say: Callable[[str], None]) -> list[dict]:
    out = []
    for snapshot in eligible_snapshots(window, primary):
        models, skipped = {}, {}
        for s in specs:
            if snapshot == plan.test:
                models[s.ranker] = test_models[s.ranker]
                continue
            try:
                origin = plan_snapshots(window, spec=s, test=snapshot, min_train=s.snapshots.min_train)
                models[s.ranker] = fit_for(cache, origin, s, definitions)
            except ExtractError:
                skipped[s.ranker] = f"fewer than {s.snapshots.min_train} training snapshots fit before it"
        frame = cache(snapshot).frame
        metrics = ranking_metrics(frame["label"].to_numpy(), rankers_for(frame, spec=primary, snapshot=snapshot,
                                                                         models=models),
                                  k=primary.evaluation.k, ece_bins=primary.evaluation.ece_bins)
        say(f"rolling origin {snapshot}: matrix precision@{primary.evaluation.k} "
            f"{metrics['rankers']['matrix']['precision_at_k']:.2f}")
        out.append({"snapshot": snapshot.isoformat(), "n": int(len(frame)), "positives": int(frame["label"].sum()),
                    "rankers": metrics["rankers"], "skipped": skipped})
    return out


def run_backtest(extract: Extract, *, definitions: Definitions, as_of: dt.date, out: Path,
                 spec: ModelSpec | str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Backtest the matrix, every model in ``models/`` and the baselines; write ``out/backtest.json``
    and ``out/backtest.html``; log aggregates to MLflow.  Returns the ``backtest.json`` dictionary
    plus ``tracking`` (``{"logged", "run_id", "error"}``).

    ``spec`` is the primary spec (default config ``[model] spec``): its label, snapshots and
    evaluation settings apply to every ranker.  Events after ``as_of`` are never used; every
    snapshot's features pass :func:`hkc.snapshots.check_no_leakage` (the latest event behind them is
    recorded under ``leakage_check``).
    """
    from hkc.backtest_report import write_backtest
    from hkc.registry import log_backtest

    say = progress or (lambda _m: None)
    started = time.perf_counter()
    primary = load_model_spec(spec, definitions=definitions)
    specs = _model_specs(primary, definitions)
    window = history_window(extract, as_of)
    plan = plan_snapshots(window, spec=primary)
    cache = SnapshotCache(extract, definitions=definitions, label=primary.label, window=window)
    say(f"backtest: test snapshot {plan.test}, calibration {', '.join(map(str, plan.calibration))}, "
        f"training {plan.train[0]} to {plan.train[-1]}")
    models = {}
    for s in specs:
        say(f"fitting {s.ranker} on {len(plan.train)} training snapshots")
        models[s.ranker] = fit_for(cache, plan, s, definitions)
    frame = cache(plan.test).frame
    say(f"measuring {len(models) + len(BASELINES)} rankers on {len(frame):,} people "
        f"({primary.evaluation.resamples:,} bootstrap resamples)")
    rankers = rankers_for(frame, spec=primary, snapshot=plan.test, models=models)
    test = evaluate_snapshot(frame, rankers, spec=primary, audit_spec=refresh_audit_spec(definitions))
    rolling = (_rolling(cache, window, primary, specs, models, plan, definitions, say)
               if primary.snapshots.rolling else [])
    result = {
        "schema": "hkc.backtest/1",
        "as_of": as_of.isoformat(), "test_snapshot": plan.test.isoformat(),
        "horizon_days": primary.label.horizon_days, "k": primary.evaluation.k, "n": test.pop("n"),
        "positives": test.pop("positives"), **test, "rolling": rolling,
        "descriptions": DESCRIPTIONS | {s.ranker: s.description for s in specs},
        **context(primary, plan, window, definitions, models),
        "leakage_check": {"passed": True, "latest_feature_event": cache.latest_feature_events()},
    }
    result["seconds"] = round(time.perf_counter() - started, 2)
    write_backtest(result, Path(out))
    result["tracking"] = log_backtest(result, definitions=definitions)
    return result


def context(spec: ModelSpec, plan: SnapshotPlan, window, definitions: Definitions,
            models: dict[str, FittedModel]) -> dict:
    """What was measured and how: label, population, split, features and provenance."""
    e, lab = definitions.settings.eligibility, spec.label
    return {
        "label": {"types": list(lab.types), "roles": list(lab.roles), "horizon_days": lab.horizon_days,
                  "description": f"{' or '.join(lab.types)} as {' or '.join(lab.roles)} within "
                                 f"{lab.horizon_days} days after the snapshot"},
        "population": f"everyone aged {e.min_age}-{e.max_age} at the snapshot with at least one event on or "
                      "before it",
        "pool": spec.evaluation.pool, "confidence": spec.evaluation.confidence,
        "resamples": spec.evaluation.resamples, "data_window": {"start": window.start.isoformat(),
                                                                "end": window.end.isoformat()},
        "split": plan.describe(),
        "models": {name: {"spec": m.spec.name, "spec_sha256": m.spec.sha256, "estimator": m.spec.estimator.kind,
                          "params": {k: str(v) for k, v in m.spec.estimator.params.items()},
                          "calibration": m.spec.calibration.method, "features": m.columns,
                          "area_features": [c for c in m.columns if c == "area"],
                          "train_rows": m.train_rows, "train_positives": m.train_positives,
                          "calibration_rows": m.calibration_rows,
                          "calibration_positives": m.calibration_positives}
                   for name, m in models.items()},
        "provenance": {"hkc_version": __version__, "catalogue_version": definitions.catalogue.version,
                       "catalogue_sha256": definitions.catalogue.sha256, "settings_sha256": definitions.settings.sha256,
                       "spec": spec.name, "spec_sha256": spec.sha256},
    }

