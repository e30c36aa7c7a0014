"""Experiment tracking in MLflow: aggregate figures only, never a person-level row.

A refresh logs its parameters (as-of date, hashes, version) and metrics (row counts, cohort size,
and the audit's group rates and ratios from the *partner* copy, where small cells are already
suppressed).  Tracking is a record, not a dependency of the list: if MLflow cannot be reached the
refresh still completes and says so.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

from hkc.definitions import TrackingSettings, resolve_database_url

__all__ = ["tracking_uri", "log_run", "TrackingOutcome"]


def tracking_uri(settings: TrackingSettings, root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the configured URI (relative SQLite under ``root``)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or resolve_database_url(settings.uri, root)


class TrackingOutcome(dict):
    """``{"logged": bool, "uri": str, "run_id": str | None, "error": str | None}``."""


def log_run(*, run_name: str, params: Mapping[str, object], metrics: Mapping[str, float],
            settings: TrackingSettings, root: Path, tags: Mapping[str, str] | None = None) -> TrackingOutcome:
    """Log one run; returns what happened instead of raising."""
    uri = tracking_uri(settings, root)
    if not settings.enabled:
        return TrackingOutcome(logged=False, uri=uri, run_id=None, error="tracking disabled in config")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        import mlflow  # optional heavy dependency: MLflow loads for a second; only tracked runs pay for it

        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(settings.experiment)
        clean = {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(float(v))}
        with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics(clean)
            run_id = run.info.run_id
    except Exception as exc:  # noqa: BLE001 - tracking must never sink a refresh
        return TrackingOutcome(logged=False, uri=uri, run_id=None, error=f"{type(exc).__name__}: {exc}"[:300])
    return TrackingOutcome(logged=True, uri=uri, run_id=run_id, error=None)
