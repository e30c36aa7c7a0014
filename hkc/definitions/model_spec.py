"""Model specifications: ``models/<name>.toml`` as a frozen, documented :class:`ModelSpec`.

>>> spec = load_model_spec("logistic", definitions=defs)          # doctest: +SKIP
>>> spec.label.horizon_days, spec.evaluation.k                      # doctest: +SKIP
(365, 50)

A specification names the label (which events, in which roles, how many days after a snapshot),
the quarterly snapshots and the temporal split, the estimator and its parameters, the
calibration method, the feature set, and how the backtest measures it.  Every key is documented
in its field's ``doc`` metadata (a test checks this); an unknown or misspelt key is an error
naming the closest valid key.  Values left empty inherit the run settings: label types, roles and
horizon from ``config/hkc.toml`` ``[outcome]``, ``k`` from ``[cohort] size``.

Protected characteristics are never features: a spec naming ``ethnicity``, ``officer_ethnicity``
or ``sex`` (or anything that reads like a protected characteristic) is refused when it is
loaded.  Area-like columns are refused unless ``area_features = true``, and are then reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from hkc.definitions.catalogue import AXES, ROLES
from hkc.definitions.deployment import Definitions, packaged_defaults
from hkc.definitions.fields import DAYS_MAX, build_section, doc, one_line, read_toml, unknown_key
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = [
    "ModelSpec", "LabelSpec", "SnapshotSpec", "EstimatorSpec", "CalibrationSpec", "FeatureSpec",
    "EvaluationSpec", "ExplanationSpec", "SPEC_SECTIONS", "ESTIMATORS", "PROTECTED_COLUMNS",
    "FEATURE_PEOPLE_COLUMNS", "load_model_spec", "model_spec_names", "PROTECTED_FEATURE",
    "AREA_FEATURE_OFF", "UNKNOWN_SPEC",
]

ESTIMATORS = {"logistic": LogisticRegression, "boosted": HistGradientBoostingClassifier}
MEASURES = ("points", "count")
PROTECTED_COLUMNS = ("ethnicity", "officer_ethnicity", "sex")
# Words that make a column read like a protected characteristic (Equality Act 2010 and the audit's
# attributes) or an identifier; such a column is never a feature.
PROTECTED_WORDS = ("ethnic", "sex", "gender", "race", "religio", "belief", "nationality", "disab", "pregnan",
                   "orientation", "marital", "person_id", "date_of_birth")
AREA_WORDS = ("area", "location", "postcode", "district", "neighbourhood", "ward", "beat", "lsoa", "msoa")
FEATURE_PEOPLE_COLUMNS = ("in_care", "open_to_social_care", "area")  # contract columns a spec may use

PROTECTED_FEATURE = ("{file} [features] people_columns: {column!r} is a protected characteristic or an "
                     "identifier and is never a model feature; remove it")
AREA_FEATURE_OFF = ("{file} [features] people_columns: {column!r} is area-like; set area_features = true to use "
                    "it (area features are then reported in the backtest and the model card)")
NOT_A_FEATURE = ("{file} [features] people_columns: {column!r} is not a people column a model can use; "
                 "valid: {valid}")
UNKNOWN_SPEC = "model specification {name!r} not found in {folders}; available: {available}"
BAD_PARAM = "{file} [estimator.params] {key} = {value!r}: {problem}"


@dataclass(frozen=True)
class LabelSpec:
    types: tuple[str, ...] = field(
        default=(), metadata=doc("event types that count as the outcome; empty = config [outcome] types"))
    roles: tuple[str, ...] = field(
        default=(), metadata=doc("roles that count as the outcome; empty = config [outcome] roles"))
    horizon_days: int = field(
        default=0, metadata=doc("days after a snapshot in which the outcome is looked for; "
                                 "0 = config [outcome] horizon_days", min=0, max=DAYS_MAX))


@dataclass(frozen=True)
class SnapshotSpec:
    cadence: Literal["quarterly"] = field(
        default="quarterly", metadata=doc("snapshots fall on quarter ends (31 Mar, 30 Jun, 30 Sep, 31 Dec)",
                                           choices=("quarterly",)))
    train: int = field(default=6, metadata=doc("training snapshots, the quarters before the calibration ones",
                                                min=1, max=40))
    calibration: int = field(
        default=1, metadata=doc("calibration snapshots: the latest whose outcome window ends on or before the "
                                 "test snapshot", min=1, max=8))
    min_train: int = field(
        default=2, metadata=doc("rolling origins refit the model when at least this many training snapshots "
                                 "fit in the history (up to `train`)", min=1, max=40))
    min_history_days: int = field(
        default=365, metadata=doc("a snapshot is used only when the extract holds this many days of events "
                                   "before it (features need history)", min=0, max=DAYS_MAX))
    rolling: bool = field(default=True, metadata=doc("also evaluate at every earlier eligible snapshot"))


@dataclass(frozen=True)
class EstimatorSpec:
    kind: Literal["logistic", "boosted"] = field(
        default="logistic", metadata=doc("`logistic`: StandardScaler + LogisticRegression (per-person "
                                          "explanations); `boosted`: HistGradientBoostingClassifier",
                                          choices=tuple(ESTIMATORS)))
    params: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata=doc("[estimator.params]: keyword arguments of the scikit-learn estimator, checked against "
                      "its parameters when the spec is loaded"))


@dataclass(frozen=True)
class CalibrationSpec:
    method: Literal["sigmoid", "isotonic", "temperature"] = field(
        default="sigmoid", metadata=doc("CalibratedClassifierCV method, fitted on the calibration snapshot with "
                                         "the base model frozen", choices=("sigmoid", "isotonic", "temperature")))


@dataclass(frozen=True)
class FeatureSpec:
    axes: tuple[str, ...] = field(
        default=("risk",), metadata=doc("indicators on these axes give features (`risk`, `vulnerability`)"))
    measures: tuple[str, ...] = field(
        default=("points", "count"),
        metadata=doc("per indicator: `points` (the matrix's recency- and evidence-weighted points) and/or "
                      "`count` (counting events in its lookback)"))
    exclude: tuple[str, ...] = field(default=(), metadata=doc("indicator codes left out"))
    age: bool = field(default=True, metadata=doc("age in whole years at the snapshot"))
    people_columns: tuple[str, ...] = field(
        default=(), metadata=doc("people-file columns used as features: `in_care`, `open_to_social_care`, "
                                  "`area` (area-like: needs area_features); protected characteristics never"))
    area_features: bool = field(default=False, metadata=doc("allow area-like columns (reported when on)"))


@dataclass(frozen=True)
class EvaluationSpec:
    k: int = field(default=0, metadata=doc("top-k size for precision and recall; 0 = config [cohort] size", min=0))
    pool: Literal["eligible", "population"] = field(
        default="eligible", metadata=doc("who a ranker's top k is drawn from: people the matrix's eligibility "
                                          "rules allow to be listed, or the whole snapshot population",
                                          choices=("eligible", "population")))
    resamples: int = field(default=1000, metadata=doc("bootstrap resamples for intervals", min=10, max=100_000))
    seed: int = field(default=20261101, metadata=doc("bootstrap seed: the same seed gives the same intervals",
                                                      min=0))
    confidence: float = field(default=0.95, metadata=doc("interval level", min=0.5, max=0.999))
    ece_bins: int = field(default=10, metadata=doc("equal-count bins for expected calibration error and "
                                                    "reliability diagrams", min=2, max=100))
    curve_max_k: int = field(default=0, metadata=doc("the precision-at-k curve runs to this k; 0 = 4 × k",
                                                      min=0))
    random_seed: int = field(default=7, metadata=doc("seed of the random baseline ranker", min=0))
    champion_margin: float = field(
        default=0.0, metadata=doc("the lower end of the interval of (model − matrix) precision in the top k "
                                   "must exceed this for the alias `champion`", min=0, max=1))


@dataclass(frozen=True)
class ExplanationSpec:
    top: int = field(default=3, metadata=doc("contributions named in a person's model explanation", min=1,
                                              max=10))


SPEC_SECTIONS = {"label": LabelSpec, "snapshots": SnapshotSpec, "estimator": EstimatorSpec,
                 "calibration": CalibrationSpec, "features": FeatureSpec, "evaluation": EvaluationSpec,
                 "explanation": ExplanationSpec}


@dataclass(frozen=True)
class ModelSpec:
    """One model specification (``models/<name>.toml``), with inherited values filled in."""

    name: str = field(metadata=doc("the file's stem; the ranker is called `model_<name>` (not a key)"))
    description: str = field(default="", metadata=doc("one line on what this model is for"))
    label: LabelSpec = field(default_factory=LabelSpec, metadata=doc("the outcome"))
    snapshots: SnapshotSpec = field(default_factory=SnapshotSpec, metadata=doc("snapshots and temporal split"))
    estimator: EstimatorSpec = field(default_factory=EstimatorSpec, metadata=doc("the estimator"))
    calibration: CalibrationSpec = field(default_factory=CalibrationSpec, metadata=doc("calibration"))
    features: FeatureSpec = field(default_factory=FeatureSpec, metadata=doc("the feature set"))
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec, metadata=doc("backtest measures"))
    explanation: ExplanationSpec = field(default_factory=ExplanationSpec, metadata=doc("explanations"))
    path: Path | None = field(default=None, compare=False, metadata=doc("file loaded (not a key)"))
    sha256: str = field(default="", compare=False, metadata=doc("hash of the file (not a key)"))

    @property
    def ranker(self) -> str:
        return f"model_{self.name}"

    def params(self) -> dict[str, str]:
        """The effective specification flattened for MLflow parameters (``section.key``)."""
        out = {"spec.name": self.name, "spec.sha256": self.sha256}
        for name in SPEC_SECTIONS:
            section = getattr(self, name)
            for key in (f.name for f in dataclasses.fields(section)):
                value = getattr(section, key)
                if isinstance(value, Mapping):
                    out |= {f"{name}.{key}.{k}": str(v) for k, v in sorted(value.items())}
                else:
                    out[f"{name}.{key}"] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out


def _estimator_params(kind: str, table: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [estimator.params] must be a table", file=str(path), key="params")
    cls = ESTIMATORS[kind]
    valid = sorted(set(cls().get_params()) - {"verbose", "warm_start", "n_jobs"})
    params: dict[str, Any] = {}
    for key, value in table.items():
        if key not in valid:
            raise unknown_key(key, valid, path, f"estimator.params ({cls.__name__})")
        if key == "class_weight" and isinstance(value, dict):  # TOML keys are text: {"0" = 1, "1" = 9}
            try:
                value = {int(k): float(v) for k, v in value.items()}
            except (TypeError, ValueError):
                raise ConfigError(BAD_PARAM.format(file=path, key=key, value=value,
                                                   problem="use \"balanced\" or a table like { 0 = 1, 1 = 9 }"),
                                  file=str(path), key=key) from None
        params[key] = value
    try:
        cls(**params)._validate_params()
    except (TypeError, ValueError) as exc:
        key = next((k for k in params if f"'{k}'" in str(exc)), next(iter(params), "params"))
        problem = str(exc).split(". Got")[0].replace("\n", " ")
        raise ConfigError(BAD_PARAM.format(file=path, key=key, value=params.get(key), problem=problem),
                          file=str(path), key=key) from None
    return MappingProxyType(params)


def _check_features(f: FeatureSpec, path: Path) -> None:
    for column in f.people_columns:
        lowered = column.lower()
        if lowered in PROTECTED_COLUMNS or any(w in lowered for w in PROTECTED_WORDS):
            raise ConfigError(PROTECTED_FEATURE.format(file=path, column=column), file=str(path),
                              key="people_columns")
        if any(w in lowered for w in AREA_WORDS) and not f.area_features:
            raise ConfigError(AREA_FEATURE_OFF.format(file=path, column=column), file=str(path),
                              key="people_columns")
        if column not in FEATURE_PEOPLE_COLUMNS:
            raise ConfigError(NOT_A_FEATURE.format(file=path, column=column,
                                                   valid=", ".join(FEATURE_PEOPLE_COLUMNS)),
                              file=str(path), key="people_columns")
    for key, values, allowed in (("axes", f.axes, AXES), ("measures", f.measures, MEASURES)):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            hint = did_you_mean(bad[0], allowed) if bad else ""
            raise ConfigError(one_line(f"{path} [features] {key}: {bad[0] if bad else 'empty'!r} is not valid; "
                                       f"choose from {', '.join(allowed)}{hint}"), file=str(path), key=key)


def read_model_spec(path: Path) -> ModelSpec:
    """Load one spec file as written (inherited values still empty); see :func:`load_model_spec`."""
    path = Path(path)
    data, digest = read_toml(path)
    valid = ["description", *SPEC_SECTIONS]
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in valid:
            raise unknown_key(name, valid, path, "top level")
        if name == "description":
            if not isinstance(table, str):
                raise ConfigError(f"{path}: description must be a string", file=str(path), key=name)
            built[name] = table
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table", file=str(path), key=name)
        if name == "estimator":
            for key in table:
                if key not in ("kind", "params"):
                    raise unknown_key(key, ["kind", "params"], path, name)
            kind_table = {k: v for k, v in table.items() if k != "params"}
            kind = build_section(EstimatorSpec, kind_table, path, name, params={}).kind
            params = _estimator_params(kind, table.get("params", {}), path)
            built[name] = build_section(EstimatorSpec, kind_table, path, name, params=params)
        else:
            built[name] = build_section(SPEC_SECTIONS[name], table, path, name)
    spec = ModelSpec(name=path.stem, **built, path=path, sha256=digest)
    _check_features(spec.features, path)
    if spec.snapshots.min_train > spec.snapshots.train:
        raise ConfigError(f"{path} [snapshots]: min_train {spec.snapshots.min_train} is above train "
                          f"{spec.snapshots.train}", file=str(path), key="min_train")
    return spec


def _folders(definitions: Definitions) -> list[Path]:
    folders = [definitions.root / "models", packaged_defaults() / "models"]
    return list(dict.fromkeys(f.resolve() for f in folders if f.is_dir()))


def model_spec_names(definitions: Definitions) -> list[str]:
    """Names of the specs a deployment can use: its ``models/*.toml``, else the packaged ones."""
    for folder in _folders(definitions):
        names = sorted(p.stem for p in folder.glob("*.toml"))
        if names:
            return names
    return []


def _resolve(spec: ModelSpec, definitions: Definitions) -> ModelSpec:
    """Fill inherited values from the run settings and check codes against the catalogue."""
    s = definitions.settings
    where = spec.path or f"models/{spec.name}.toml"
    label = dataclasses.replace(spec.label, types=spec.label.types or s.outcome.types,
                                roles=spec.label.roles or s.outcome.roles,
                                horizon_days=spec.label.horizon_days or s.outcome.horizon_days)
    codes = definitions.catalogue.codes
    for key, values, allowed in (("types", label.types, codes), ("roles", label.roles, ROLES)):
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ConfigError(one_line(f"{where} [label] {key}: {bad[0]!r} is not valid; valid: {', '.join(allowed)}"
                                       f"{did_you_mean(bad[0], allowed)}"), file=str(where), key=key)
    bad = [c for c in spec.features.exclude if c not in codes]
    if bad:
        raise ConfigError(one_line(f"{where} [features] exclude: {bad[0]!r} is not in the indicator catalogue; "
                                   f"valid: {', '.join(codes)}{did_you_mean(bad[0], codes)}"),
                          file=str(where), key="exclude")
    evaluation = dataclasses.replace(spec.evaluation, k=spec.evaluation.k or s.cohort.size)
    return dataclasses.replace(spec, label=label, evaluation=evaluation)


def load_model_spec(spec: str | Path | ModelSpec | None = None, *, definitions: Definitions) -> ModelSpec:
    """The effective model specification.

    ``spec`` is a name (``"logistic"``: ``models/logistic.toml`` in the deployment folder, else the
    packaged one), a path to a TOML file, a :class:`ModelSpec`, or ``None`` for config
    ``[model] spec``.  Label types, roles and horizon left empty come from ``[outcome]``; ``k``
    left at 0 comes from ``[cohort] size``.
    """
    if isinstance(spec, ModelSpec):
        return _resolve(spec, definitions)
    spec = definitions.settings.model.spec if spec is None else spec
    if isinstance(spec, Path) or str(spec).endswith(".toml") or "/" in str(spec):
        return _resolve(read_model_spec(Path(spec)), definitions)
    for folder in _folders(definitions):
        candidate = folder / f"{spec}.toml"
        if candidate.is_file():
            return _resolve(read_model_spec(candidate), definitions)
    folders = " or ".join(str(f) for f in _folders(definitions)) or "models/"
    raise ConfigError(UNKNOWN_SPEC.format(name=str(spec), folders=folders,
                                          available=", ".join(model_spec_names(definitions)) or "none"),
                      key="spec")
