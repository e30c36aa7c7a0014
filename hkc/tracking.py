"""Experiment tracking in MLflow: aggregate figures only, never a person-level row.

A refresh logs its parameters (as-of date, hashes, version) and metrics (row counts, cohort size,
and the audit's group rates and ratios from the *partner* copy, where small cells are already
suppressed).  Tracking is a record, not a dependency of the list: if MLflow cannot be reached the
refresh still completes and says so.

Every call into MLflow runs inside :func:`quiet_mlflow`, so MLflow's own log lines ("Creating
initial MLflow database tables...", "Successfully registered model ..."), alembic's and Python
warnings never interleave with hkc's progress on standard error.  What went wrong, if anything, is
returned (or raised) and said by hkc in one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hkc.definitions import TrackingSettings, resolve_database_url

__all__ = ["tracking_uri", "log_run", "TrackingOutcome", "quiet_mlflow", "MLFLOW_LOGGERS"]

# The loggers MLflow configures to write to standard error itself (mlflow.utils.logging_utils).
MLFLOW_LOGGERS = ("mlflow", "alembic", "huey", "sqlalchemy.engine")


def tracking_uri(settings: TrackingSettings, root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the configured URI (relative SQLite under ``root``)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or resolve_database_url(settings.uri, root)


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[Any]:
    """Import MLflow and keep its own output off standard error for the block; yields the module.

    MLflow writes its log records and its ``eprint`` messages to one stream of its own, which it
    switches off for as long as any holder of its own counted switch (the one behind
    ``mlflow.autolog(silent=True)``) asks; this block is one such holder, so MLflow cannot switch the
    stream back on under it.  Its loggers (and alembic's) are raised above CRITICAL as well, in case
    a record reaches another handler, and warnings raised in the block are dropped.  Everything is
    put back on leaving; hkc's own messages are untouched.
    """
    import mlflow  # optional heavy dependency: MLflow loads for a second; only tracked runs pay for it
    from mlflow.utils.autologging_utils import MlflowEventsAndWarningsBehaviorGlobally  # optional (as above)

    loggers = [logging.getLogger(name) for name in MLFLOW_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings(), MlflowEventsAndWarningsBehaviorGlobally(
                disable_event_logs=True, disable_warnings=True, reroute_warnings=False):
            warnings.simplefilter("ignore")
            yield mlflow
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class TrackingOutcome(dict):
    """``{"logged": bool, "uri": str, "run_id": str | None, "error": str | None}``."""


def log_run(*, run_name: str, params: Mapping[str, object], metrics: Mapping[str, float],
            settings: TrackingSettings, root: Path, tags: Mapping[str, str] | None = None) -> TrackingOutcome:
    """Log one run; returns what happened instead of raising."""
    uri = tracking_uri(settings, root)
    if not settings.enabled:
        return TrackingOutcome(logged=False, uri=uri, run_id=None, error="tracking disabled in config")
    try:
        with quiet_mlflow() as mlflow:
            run_id = _log(mlflow, uri, run_name=run_name, params=params, metrics=metrics, settings=settings,
                          tags=tags)
    except Exception as exc:  # noqa: BLE001 - tracking must never sink a refresh
        return TrackingOutcome(logged=False, uri=uri, run_id=None, error=f"{type(exc).__name__}: {exc}"[:300])
    return TrackingOutcome(logged=True, uri=uri, run_id=run_id, error=None)


def _log(mlflow: Any, uri: str, *, run_name: str, params: Mapping[str, object], metrics: Mapping[str, float],
         settings: TrackingSettings, tags: Mapping[str, str] | None) -> str:
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(settings.experiment)
    clean = {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(float(v))}
    with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(clean)
        return run.info.run_id
