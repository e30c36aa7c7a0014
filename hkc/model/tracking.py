"""MLflow plumbing for the model: the client, flattened metrics and the backtest's run.

Only aggregate figures reach MLflow, never a person-level row.  Every use of MLflow goes through
:func:`_mlflow`, which holds :func:`hkc.tracking.quiet_mlflow` for the block: MLflow's own log
lines and messages never interleave with hkc's progress.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hkc.definitions import Definitions
from hkc.model.report import calibration_svg
from hkc.tracking import quiet_mlflow, tracking_uri

__all__ = ['log_backtest', 'MLFLOW_FAILED']


CHAMPION_ALIAS = "champion"
MODEL_GROUPS_ARTIFACT = "model_groups.json"  # the per-group figures logged beside a registered model

MLFLOW_FAILED = "MLflow at {uri}: {error}; check [tracking] uri in config/hkc.toml or MLFLOW_TRACKING_URI"


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]) if uri.startswith(prefix) and uri != prefix + ":memory:" else None


@contextlib.contextmanager
def _mlflow(definitions: Definitions) -> Iterator[tuple[Any, Any, str]]:
    """``(mlflow, client, uri)`` for the configured store, with the experiment set; MLflow is quiet
    (:func:`hkc.tracking.quiet_mlflow`) for the whole block."""
    with quiet_mlflow() as mlflow:
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
        yield mlflow, mlflow.MlflowClient(uri), uri


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
