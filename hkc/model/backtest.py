"""Temporal backtests: does a ranking pick out who goes on to be involved, and is the model any better?

>>> result = run_backtest(extract, definitions=defs, as_of=date(2026, 9, 30), out=Path("bt"))  # doctest: +SKIP
>>> result["rankers"]["matrix"]["precision_at_k"], result["rankers"]["matrix"]["ci"]["precision_at_k"]  # doctest: +SKIP

Rankers, each scoring the snapshot population (:mod:`hkc.model.snapshots`) as of the snapshot only:

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
from pathlib import Path

import numpy as np
import pandas as pd

from hkc import __version__
from hkc.definitions import (
    AuditSpec,
    Definitions,
    ModelSpec,
    load_model_spec,
    model_spec_names,
    refresh_audit_spec,
)
from hkc.errors import ExtractError
from hkc.extract import Extract
from hkc.model.pipeline import FittedModel, fit_model
from hkc.model.ranking import (
    BASELINES,
    DESCRIPTIONS,
    Ranker,
    _precision_curve,
    group_reliability,
    rankers_for,
    ranking_metrics,
    reliability,
)
from hkc.model.report import write_backtest
from hkc.model.snapshots import (
    SnapshotCache,
    SnapshotPlan,
    eligible_snapshots,
    history_window,
    plan_snapshots,
)
from hkc.model.tracking import log_backtest

__all__ = ['evaluate_snapshot', 'fit_for', 'run_backtest', 'context']


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
    snapshot's features pass :func:`hkc.model.snapshots.check_no_leakage` (the latest event behind them is
    recorded under ``leakage_check``).
    """
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
        "schema": "hkc.model.backtest/1",
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
