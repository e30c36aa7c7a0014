"""The champion model: loading the registered version that earned the alias, and scoring with it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hkc.definitions import Definitions, LabelSpec
from hkc.errors import HkcError
from hkc.extract import Extract
from hkc.model.pipeline import OPENMP_THREADS, explain, model_inputs
from hkc.model.snapshots import SnapshotCache, build_snapshot, history_window
from hkc.model.tracking import CHAMPION_ALIAS, MLFLOW_FAILED, MODEL_GROUPS_ARTIFACT, _mlflow, _sqlite_path
from hkc.tracking import tracking_uri

__all__ = ['load_champion', 'score_with_model', 'ChampionModel', 'CHAMPION_ALIAS']




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

    The population is the snapshot population of :mod:`hkc.model.snapshots` (aged within the
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
