"""The optional model: scikit-learn pipelines on the matrix's features, calibrated on a later snapshot.

>>> fitted = fit_model(spec, train_rows, calibration_rows, catalogue=defs.catalogue)   # doctest: +SKIP
>>> calibrated, uncalibrated = fitted.predict(test_rows)                                # doctest: +SKIP

Two estimators (``models/*.toml`` ``[estimator] kind``):

* ``logistic`` (default): ``StandardScaler`` → ``LogisticRegression``.  Interpretable: a person's
  contribution from a feature is ``coefficient × standardised value``, the change in log-odds
  against a person with average values; :func:`explain` names the largest in plain words.
* ``boosted``: ``HistGradientBoostingClassifier``; no per-person explanation.

Both are :class:`~sklearn.pipeline.Pipeline` objects fitted on the training snapshots, then
calibrated with ``CalibratedClassifierCV(FrozenEstimator(fitted), method=...)`` on the
calibration snapshot: the base model is frozen, so calibration never refits it (scikit-learn 1.9
has no ``cv="prefit"``).  Categorical people columns (``area``, only when the spec allows) are
one-hot encoded inside the pipeline, so a logged model carries everything it needs.

The model's input columns name themselves (``knife_possession_points``, ``age``, ``in_care``,
``area``), so a model loaded from the registry rebuilds its inputs from its own
``feature_names_in_`` with :func:`model_inputs`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from hkc.definitions import ESTIMATORS, Catalogue, ModelSpec
from hkc.errors import ConfigError, HkcError

__all__ = ["FittedModel", "feature_columns", "model_inputs", "build_pipeline", "fit_model", "base_pipeline",
           "explain", "feature_words", "CATEGORICAL_COLUMNS", "ONE_CLASS", "NO_EXPLANATION"]

CATEGORICAL_COLUMNS = ("area",)
ONE_CLASS = ("the {part} snapshot(s) {dates} have {count} people with the outcome out of {n}: a model needs both "
             "outcomes to learn from; use a longer extract or more {part} snapshots")
NO_EXPLANATION = "gradient-boosted model: no per-person breakdown (see the model card)"
MEASURE_WORDS = {"points": "points", "count": "number of events"}
# OpenMP threads for fitting and predicting (HistGradientBoosting).  One: on a 2-core machine shared
# with other work, OpenMP's spinning threads made a 60,000-row fit 4-40 times slower than one thread.
OPENMP_THREADS = 1


def _threads():
    return threadpool_limits(limits=OPENMP_THREADS, user_api="openmp")


def feature_columns(spec: ModelSpec, catalogue: Catalogue) -> list[str]:
    """The model's input columns for ``spec``: indicator measures, then age, then people columns."""
    f = spec.features
    codes = [c for c, ind in catalogue.indicators.items() if ind.axis in f.axes and c not in f.exclude]
    columns = [f"{c}_{m}" for c in codes for m in f.measures]
    return columns + (["age"] if f.age else []) + list(f.people_columns)


def model_inputs(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame``'s model columns with the dtypes the pipeline expects (numbers as float, area as text)."""
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ConfigError(f"the model needs the feature {missing[0]!r}, which these rows do not have; "
                          "is the indicator catalogue the one the model was trained with?", key=missing[0])
    out = {c: (frame[c].astype(object).fillna("").astype(str) if c in CATEGORICAL_COLUMNS
               else frame[c].astype(np.float64)) for c in columns}
    return pd.DataFrame(out, index=frame.index)


def build_pipeline(spec: ModelSpec, columns: list[str]) -> Pipeline:
    """An unfitted pipeline: column preparation, then the spec's estimator with its parameters."""
    numeric = [c for c in columns if c not in CATEGORICAL_COLUMNS]
    categorical = [c for c in columns if c in CATEGORICAL_COLUMNS]
    scale = StandardScaler() if spec.estimator.kind == "logistic" else "passthrough"
    parts = [("numeric", scale, numeric)]
    if categorical:
        parts.append(("area", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    prepare = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    estimator = ESTIMATORS[spec.estimator.kind](**dict(spec.estimator.params))
    return Pipeline([("prepare", prepare), ("model", estimator)])


@dataclass
class FittedModel:
    """A fitted and calibrated model with the rows it learnt from (counts only)."""

    spec: ModelSpec
    columns: list[str]
    base: Pipeline
    calibrated: CalibratedClassifierCV
    train_rows: int
    train_positives: int
    calibration_rows: int
    calibration_positives: int
    seconds: dict[str, float] = field(default_factory=dict)  # "fit", "calibrate"

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated and uncalibrated probabilities of the outcome for each row of ``frame``."""
        X = model_inputs(frame, self.columns)
        with _threads():
            return self.calibrated.predict_proba(X)[:, 1], self.base.predict_proba(X)[:, 1]


def _check_classes(y: np.ndarray, part: str, dates: object) -> None:
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise HkcError(ONE_CLASS.format(part=part, dates=dates, count=positives, n=len(y)))


def fit_model(spec: ModelSpec, train: pd.DataFrame, calibration: pd.DataFrame, *,
              catalogue: Catalogue) -> FittedModel:
    """Fit the spec's pipeline on ``train`` and calibrate it, frozen, on ``calibration``.

    Both frames are snapshot rows (:mod:`hkc.model.snapshots`) with a 0/1 ``label``.
    """
    columns = feature_columns(spec, catalogue)
    y_train = train["label"].to_numpy(dtype=int)
    y_cal = calibration["label"].to_numpy(dtype=int)
    _check_classes(y_train, "training", sorted({str(d) for d in train.get("snapshot", [])}))
    _check_classes(y_cal, "calibration", sorted({str(d) for d in calibration.get("snapshot", [])}))
    with _threads():
        start = time.perf_counter()
        base = build_pipeline(spec, columns).fit(model_inputs(train, columns), y_train)
        fitted_at = time.perf_counter()
        calibrated = CalibratedClassifierCV(FrozenEstimator(base), method=spec.calibration.method)
        calibrated.fit(model_inputs(calibration, columns), y_cal)
        seconds = {"fit": round(fitted_at - start, 3), "calibrate": round(time.perf_counter() - fitted_at, 3)}
    return FittedModel(spec=spec, columns=columns, base=base, calibrated=calibrated, train_rows=len(y_train),
                       train_positives=int(y_train.sum()), calibration_rows=len(y_cal),
                       calibration_positives=int(y_cal.sum()), seconds=seconds)


def base_pipeline(calibrated: CalibratedClassifierCV) -> Pipeline:
    """The frozen base pipeline inside a calibrated model (also one loaded from the registry)."""
    inner = calibrated.estimator
    return inner.estimator if isinstance(inner, FrozenEstimator) else inner


def feature_words(name: str, catalogue: Catalogue) -> str:
    """Plain words for a model input (after encoding): "possession of a bladed article (points)"."""
    for measure, words in MEASURE_WORDS.items():
        code = name.removesuffix(f"_{measure}")
        if code != name and code in catalogue.indicators:
            return f"{catalogue.indicators[code].label} ({words})"
    if name.startswith("area_"):
        return f"area {name[len('area_'):]}"
    return {"age": "age", "in_care": "in care", "open_to_social_care": "open to social care"}.get(name, name)


def explain(calibrated: CalibratedClassifierCV, frame: pd.DataFrame, *, catalogue: Catalogue,
            top: int = 3) -> list[str]:
    """A short explanation per row: the ``top`` largest contributions to the log-odds, in words.

    For the logistic model, contribution = coefficient × standardised value, against a person
    with average values ("possession of a bladed article (points) +1.21; age −0.30").  The
    boosted model has no per-person breakdown and says so.
    """
    pipeline = base_pipeline(calibrated)
    model = pipeline.named_steps["model"]
    if not isinstance(model, LogisticRegression):
        return [NO_EXPLANATION] * len(frame)
    prepare = pipeline.named_steps["prepare"]
    Z = prepare.transform(model_inputs(frame, list(calibrated.feature_names_in_)))
    contrib = np.asarray(Z, dtype=np.float64) * model.coef_[0]
    words = np.array([feature_words(n, catalogue) for n in prepare.get_feature_names_out()], dtype=object)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
    out = []
    for row, picks in zip(contrib, order, strict=True):
        parts = [f"{words[j]} {'+' if row[j] >= 0 else '−'}{abs(row[j]):.2f}" for j in picks if abs(row[j]) >= 0.005]
        out.append("; ".join(parts) + " (log-odds against an average person)" if parts
                   else "close to the average person on every feature")
    return out
