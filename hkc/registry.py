"""Training, MLflow tracking and the model registry: the model is offered only when it earns it.

>>> result = train_model(extract, definitions=defs, as_of=date(2026, 9, 30), out=Path("model"))  # doctest: +SKIP
>>> result["champion"], result["reason"]                                                           # doctest: +SKIP
>>> champion = load_champion(defs)                                                                 # doctest: +SKIP
>>> score_with_model(champion, extract, definitions=defs, as_of=date(2026, 12, 31))                # doctest: +SKIP

:func:`train_model` fits and calibrates the spec's model on the temporal split, measures it
against the matrix on the test snapshot (paired bootstrap), writes the model card, and logs to
MLflow — parameters, aggregate metrics, the calibration plot, the card, and the model in the
scikit-learn flavour with its signature — then registers it under ``[model] registered_name``.
The version gets the alias ``champion`` only if its precision in the top k beats the matrix's
by a margin whose interval lies above ``[evaluation] champion_margin`` (zero by default);
otherwise it is registered without the alias and the reason is returned, logged and tagged.  An
existing champion keeps its alias.

MLflow never receives a person-level row.  The signature is inferred from two synthetic rows
(zeros and ones; no input example is stored); the model (skops format) holds coefficients,
scaling constants, bin thresholds and area names, never a row; per-group figures reach MLflow
only inside the card, where groups under the small-cell threshold are withheld.  The tracking
URI is :func:`hkc.tracking.tracking_uri` (``MLFLOW_TRACKING_URI`` wins); a new experiment on a
SQLite store keeps its artifacts in ``mlartifacts/`` beside the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from hkc.backtest import compare_to_matrix, context, evaluate_snapshot, fit_for, rankers_for
from hkc.backtest_report import calibration_svg, jsonable, model_card, write_text
from hkc.cohort_audit import refresh_audit_spec
from hkc.definitions import Definitions
from hkc.errors import HkcError
from hkc.extract import Extract
from hkc.model import CATEGORICAL_COLUMNS, OPENMP_THREADS, FittedModel, explain, model_inputs
from hkc.model_spec import LabelSpec, ModelSpec, load_model_spec
from hkc.snapshots import SnapshotCache, build_snapshot, history_window, plan_snapshots
from hkc.tracking import tracking_uri

__all__ = ["train_model", "load_champion", "score_with_model", "ChampionModel", "log_backtest", "CHAMPION_ALIAS",
           "CHAMPION_EARNED", "CHAMPION_REFUSED", "MLFLOW_FAILED"]

CHAMPION_ALIAS = "champion"
CHAMPION_EARNED = ("{model} earns the alias champion: precision in the top {k} on {test} is {model_p:.2f} against the "
                   "matrix's {matrix_p:.2f}, a margin of {diff:+.2f} whose {conf}% interval {ci} lies above {margin:g}")
CHAMPION_REFUSED = ("{model} does not earn the alias champion: precision in the top {k} on {test} is {model_p:.2f} "
                    "against the matrix's {matrix_p:.2f}, a margin of {diff:+.2f} whose {conf}% interval {ci} does "
                    "not lie above {margin:g}; it is registered without the alias and the matrix stays the ranking")
MLFLOW_FAILED = "MLflow at {uri}: {error}; check [tracking] uri in config/hkc.toml or MLFLOW_TRACKING_URI"


# --------------------------------------------------------------------------------------------
# MLflow plumbing


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]) if uri.startswith(prefix) and uri != prefix + ":memory:" else None


@contextlib.contextmanager
def _mlflow(definitions: Definitions) -> Iterator[tuple[Any, Any, str]]:
    """``(mlflow, client, uri)`` for the configured store, with the experiment set."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(definitions.settings.tracking, definitions.base)
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    name = definitions.settings.tracking.experiment
    if mlflow.get_experiment_by_name(name) is None:
        location = (db.parent / "mlartifacts").resolve().as_uri() if db is not None else None
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    yield mlflow, MlflowClient(uri), uri


def _flat_metrics(evaluation: Mapping, prefix: str = "test") -> dict[str, float]:
    out: dict[str, float] = {f"{prefix}/n": evaluation["n"], f"{prefix}/positives": evaluation["positives"]}
    for name, r in evaluation["rankers"].items():
        for key, value in r.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{prefix}/{name}/{key}"] = value
        for metric, ci in r.get("ci", {}).items():
            if ci:
                out[f"{prefix}/{name}/{metric}_ci_low"], out[f"{prefix}/{name}/{metric}_ci_high"] = ci
        for key, value in r.get("uncalibrated", {}).items():
            if isinstance(value, float):
                out[f"{prefix}/{name}/uncalibrated_{key}"] = value
    for name, c in evaluation.get("comparisons", {}).items():
        for metric, d in c.items():
            if d["difference"] is not None:
                out[f"{prefix}/{name}/minus_matrix/{metric}"] = d["difference"]
            if d["ci"]:
                out[f"{prefix}/{name}/minus_matrix/{metric}_ci_low"], \
                    out[f"{prefix}/{name}/minus_matrix/{metric}_ci_high"] = d["ci"]
    return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(float(v))}


def _params(result: Mapping) -> dict[str, str]:
    p = result["provenance"]
    return {"as_of": result["as_of"], "test_snapshot": result["test_snapshot"],
            "horizon_days": str(result["horizon_days"]), "k": str(result["k"]), "pool": result["pool"],
            "resamples": str(result["resamples"]), "calibration_snapshots": ",".join(result["split"]["calibration"]),
            "train_snapshots": ",".join(result["split"]["train"]), "data_start": result["data_window"]["start"],
            "hkc_version": p["hkc_version"], "catalogue_sha256": p["catalogue_sha256"],
            "settings_sha256": p["settings_sha256"] or "", "spec_sha256": p["spec_sha256"]}


def log_backtest(result: Mapping, *, definitions: Definitions) -> dict:
    """Log a backtest's aggregates and plots; returns what happened instead of raising."""
    if not definitions.settings.tracking.enabled:
        return {"logged": False, "run_id": None, "error": "tracking disabled in config"}
    try:
        with _mlflow(definitions) as (mlflow, _client, _uri), \
                mlflow.start_run(run_name=f"backtest {result['test_snapshot']}", tags={"hkc.kind": "backtest"}) as run:
            mlflow.log_params(_params(result) | {"spec": result["provenance"]["spec"]})
            mlflow.log_metrics(_flat_metrics(result))
            for step, origin in enumerate(result.get("rolling", [])):
                flat = _flat_metrics(origin, prefix="rolling")
                mlflow.log_metrics({k: v for k, v in flat.items() if k.count("/") == 2}, step=step)
            mlflow.log_text(calibration_svg(result["reliability"], "Reliability on the test snapshot"),
                            "calibration.svg")
            return {"logged": True, "run_id": run.info.run_id, "error": None}
    except Exception as exc:  # noqa: BLE001 - a backtest's record must not sink the backtest
        return {"logged": False, "run_id": None, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _signature(fitted: FittedModel):
    from mlflow.models import infer_signature

    example = pd.DataFrame({c: (["", "example"] if c in CATEGORICAL_COLUMNS else [0.0, 1.0]) for c in fitted.columns})
    return infer_signature(model_inputs(example, fitted.columns), fitted.calibrated.predict_proba(example))


def _trusted_types(model: Any) -> list[str]:
    import skops.io as sio

    types = sio.get_untrusted_types(data=sio.dumps(model))
    foreign = [t for t in types if not t.startswith(("sklearn.", "numpy."))]
    if foreign:
        raise AssertionError(f"the model holds types that are not scikit-learn's: {foreign}")
    return types


def _register(fitted: FittedModel, facts: Mapping, card: str, svg: str, *, earned: bool, reason: str,
              definitions: Definitions) -> dict:
    name = definitions.settings.model.registered_name
    spec = fitted.spec
    try:
        with _mlflow(definitions) as (mlflow, client, uri):
            try:
                previous = client.get_model_version_by_alias(name, CHAMPION_ALIAS).version
            except Exception:  # noqa: BLE001 - no registered model or no champion yet
                previous = None
            tags = {"hkc.kind": "train", "hkc.champion": "earned" if earned else "refused"}
            with mlflow.start_run(run_name=f"train {spec.name} {facts['test_snapshot']}", tags=tags) as run:
                mlflow.log_params(_params(facts) | {k: v[:500] for k, v in spec.params().items()})
                mlflow.log_metrics(_flat_metrics(facts))
                mlflow.log_text(card, "model_card.md")
                mlflow.log_text(svg, "calibration.svg")
                mlflow.log_dict(model_group_audit(facts, spec.ranker, definitions), MODEL_GROUPS_ARTIFACT)
                if spec.path is not None:
                    mlflow.log_text(Path(spec.path).read_text(encoding="utf-8"), f"spec/{spec.name}.toml")
                mlflow.set_tag("hkc.champion_reason", reason[:5000])
                info = mlflow.sklearn.log_model(
                    fitted.calibrated, name="model", signature=_signature(fitted), registered_model_name=name,
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"], pyfunc_predict_fn="predict_proba",
                    skops_trusted_types=_trusted_types(fitted.calibrated))
            version = str(info.registered_model_version)
            for key, value in {"spec": spec.name, "test_snapshot": facts["test_snapshot"],
                               "explanation_top": str(spec.explanation.top),
                               "champion_decision": "earned" if earned else "refused",
                               "reason": reason[:5000]}.items():
                client.set_model_version_tag(name, version, key, value)
            client.update_model_version(name, version, description=card[:5000])
            if earned:
                client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
            return {"registered_version": int(version), "run_id": run.info.run_id, "model_uri": info.model_uri,
                    "registered_name": name, "previous_champion": int(previous) if previous else None,
                    "tracking_uri": uri}
    except (HkcError, AssertionError):
        raise
    except Exception as exc:  # noqa: BLE001 - shown as one line: the registry is what train is for
        uri = tracking_uri(definitions.settings.tracking, definitions.base)
        raise HkcError(MLFLOW_FAILED.format(uri=uri, error=f"{type(exc).__name__}: {exc}"[:300])) from exc


# --------------------------------------------------------------------------------------------
# Training


def _decision(evaluation: Mapping, spec: ModelSpec, test: dt.date) -> tuple[bool, str, dict]:
    earned, margin = compare_to_matrix(evaluation, spec.ranker, margin=spec.evaluation.champion_margin)
    ci = margin["ci"]
    words = dict(model=spec.ranker, k=spec.evaluation.k, test=test, model_p=margin["model"] or 0.0,
                 matrix_p=margin["matrix"] or 0.0, diff=margin["difference"] or 0.0,
                 conf=round(100 * spec.evaluation.confidence), margin=spec.evaluation.champion_margin,
                 ci=f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "(undefined)")
    return earned, (CHAMPION_EARNED if earned else CHAMPION_REFUSED).format(**words), margin


def train_model(extract: Extract, *, definitions: Definitions, as_of: dt.date, out: Path | None,
                spec: ModelSpec | str | Path | None = None,
                progress: Callable[[str], None] | None = None) -> dict:
    """Fit, calibrate, evaluate against the matrix, write the card, log and register the model.

    Returns ``{"registered_version", "champion", "beats_matrix", "reason", "metrics",
    "comparison", "test_snapshot", "split", "run_id", "model_uri", "card", ...}``.  With
    tracking disabled in config nothing is registered (``registered_version`` is ``None``).
    Writes ``out/model_card.md``, ``out/calibration.svg`` and ``out/train.json`` when ``out`` is given.
    """
    say = progress or (lambda _m: None)
    spec = load_model_spec(spec, definitions=definitions)
    window = history_window(extract, as_of)
    plan = plan_snapshots(window, spec=spec)
    cache = SnapshotCache(extract, definitions=definitions, label=spec.label, window=window)
    say(f"training {spec.ranker} on {len(plan.train)} snapshots ({plan.train[0]} to {plan.train[-1]}), "
        f"calibrating on {', '.join(map(str, plan.calibration))}, testing on {plan.test}")
    fitted = fit_for(cache, plan, spec, definitions)
    frame = cache(plan.test).frame
    audit_spec = refresh_audit_spec(definitions)
    say(f"measuring against the matrix on {len(frame):,} people ({spec.evaluation.resamples:,} resamples)")
    evaluation = evaluate_snapshot(frame, rankers_for(frame, spec=spec, snapshot=plan.test,
                                                      models={spec.ranker: fitted}),
                                   spec=spec, audit_spec=audit_spec)
    earned, reason, margin = _decision(evaluation, spec, plan.test)
    facts = jsonable({"model": spec.ranker, "description": spec.description, "as_of": as_of,
                       "test_snapshot": plan.test, "horizon_days": spec.label.horizon_days, "k": spec.evaluation.k,
                       "confidence_pct": round(100 * spec.evaluation.confidence),
                       **evaluation, **context(spec, plan, window, definitions, {spec.ranker: fitted}),
                       "decision": {"beats_matrix": earned, "reason": reason, **margin},
                       "leakage_check": {"passed": True, "latest_feature_event": cache.latest_feature_events()}})
    card = model_card(facts, small_cell=audit_spec.disclosure.small_cell)
    svg = calibration_svg(facts["reliability"], f"Reliability of {spec.ranker} on {plan.test}")
    written = None
    if out is not None:
        out = Path(out)
        written = write_text(out / "model_card.md", card)
        write_text(out / "calibration.svg", svg)
        write_text(out / "train.json", json.dumps(facts, indent=2, sort_keys=True) + "\n")
    say(reason)
    registration: dict[str, Any] = {"registered_version": None, "run_id": None, "model_uri": None,
                                    "registered_name": definitions.settings.model.registered_name,
                                    "previous_champion": None, "tracking_uri": None}
    if definitions.settings.tracking.enabled:
        say("logging to MLflow and registering the model")
        registration = _register(fitted, facts, card, svg, earned=earned, reason=reason, definitions=definitions)
    else:
        reason += " (not registered: tracking is disabled in config)"
    return {**registration, "champion": bool(earned and registration["registered_version"] is not None),
            "beats_matrix": earned, "reason": reason, "metrics": facts["rankers"], "comparison": margin,
            "test_snapshot": facts["test_snapshot"], "split": facts["split"], "card": written, "facts": facts}


# --------------------------------------------------------------------------------------------
# Using the champion


MODEL_GROUPS_ARTIFACT = "model_groups.json"


def model_group_audit(facts: Mapping, ranker: str, definitions: Definitions) -> dict:
    """The model's calibration and error rates by group on its test snapshot, safe to pass on:
    aggregates only, and a group resting on fewer people than the audit's small-cell threshold
    keeps its name and ``small`` flag but none of its figures."""
    from hkc.cohort_audit import refresh_audit_spec

    threshold = refresh_audit_spec(definitions).disclosure.small_cell
    groups = (facts.get("groups") or {}).get(ranker) or {}
    safe: dict = {}
    for part, attributes in groups.items():
        safe[part] = {attr: [row if not (row.get("small") or (row.get("n") or 0) < threshold)
                             else {"group": row["group"], "small": True, "withheld": True}
                             for row in rows] for attr, rows in attributes.items()}
    return {"test_snapshot": facts.get("test_snapshot"), "ranker": ranker, "small_cell": threshold,
            "groups": jsonable(safe)}


@dataclass
class ChampionModel:
    """The registered version holding the alias ``champion``, loaded for scoring."""

    name: str
    version: int
    run_id: str | None
    model: Any                       # CalibratedClassifierCV around the frozen base pipeline
    columns: list[str]
    spec: str | None
    test_snapshot: str | None
    explanation_top: int = 3
    group_audit: dict | None = None  # calibration and error rates by group on the test snapshot

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=OPENMP_THREADS, user_api="openmp"):
            return self.model.predict_proba(model_inputs(frame, self.columns))[:, 1]


def load_champion(definitions: Definitions) -> ChampionModel | None:
    """The champion of ``[model] registered_name``, or ``None`` when no version holds the alias."""
    uri = tracking_uri(definitions.settings.tracking, definitions.base)
    db = _sqlite_path(uri)
    if db is not None and not db.is_file():
        return None
    name = definitions.settings.model.registered_name
    try:
        with _mlflow(definitions) as (mlflow, client, _uri):
            try:
                version = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
            except mlflow.exceptions.MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
                    return None
                raise
            model = mlflow.sklearn.load_model(f"models:/{name}@{CHAMPION_ALIAS}")
            try:
                group_audit = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{MODEL_GROUPS_ARTIFACT}")
            except Exception:  # noqa: BLE001 - a version registered before this artifact existed
                group_audit = None
    except Exception as exc:  # noqa: BLE001 - one line for the analyst
        raise HkcError(MLFLOW_FAILED.format(uri=uri, error=f"{type(exc).__name__}: {exc}"[:300])) from exc
    tags = version.tags or {}
    return ChampionModel(name=name, version=int(version.version), run_id=version.run_id, model=model,
                         columns=[str(c) for c in model.feature_names_in_], spec=tags.get("spec"),
                         test_snapshot=tags.get("test_snapshot"), explanation_top=int(tags.get("explanation_top", 3)),
                         group_audit=group_audit)


def score_with_model(champion: ChampionModel, extract: Extract, *, definitions: Definitions,
                     as_of: dt.date) -> pd.DataFrame:
    """``person_id, model_probability, model_explanation`` for everyone in the population at ``as_of``.

    The population is the snapshot population of :mod:`hkc.snapshots` (aged within the
    eligibility range with an event on or before ``as_of``), which holds every cohort member.
    """
    o = definitions.settings.outcome
    label = LabelSpec(types=o.types, roles=o.roles, horizon_days=o.horizon_days)
    cache = SnapshotCache(extract, definitions=definitions, label=label, window=history_window(extract, as_of))
    rows = build_snapshot(cache.extract, definitions=definitions, label=label, snapshot=as_of)
    frame = rows.frame
    explanation = explain(champion.model, frame, catalogue=definitions.catalogue, top=champion.explanation_top)
    return pd.DataFrame({"person_id": frame["person_id"].to_numpy(), "model_probability": champion.predict(frame),
                         "model_explanation": explanation})
