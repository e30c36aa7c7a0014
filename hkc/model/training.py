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

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sklearn

from hkc.definitions import Definitions, ModelSpec, load_model_spec, refresh_audit_spec
from hkc.errors import HkcError
from hkc.extract import Extract
from hkc.model.backtest import context, evaluate_snapshot, fit_for
from hkc.model.pipeline import CATEGORICAL_COLUMNS, FittedModel, model_inputs
from hkc.model.ranking import compare_to_matrix, rankers_for
from hkc.model.report import calibration_svg, model_card
from hkc.model.snapshots import SnapshotCache, history_window, plan_snapshots
from hkc.model.tracking import (
    CHAMPION_ALIAS,
    MLFLOW_FAILED,
    MODEL_GROUPS_ARTIFACT,
    _flat_metrics,
    _mlflow,
    _params,
)
from hkc.outputs import jsonable, write_json, write_text_atomic
from hkc.tracking import tracking_uri

__all__ = ['train_model', 'CHAMPION_EARNED', 'CHAMPION_REFUSED']


CHAMPION_EARNED = ("{model} earns the alias champion: precision in the top {k} on {test} is {model_p:.2f} against the "
                   "matrix's {matrix_p:.2f}, a margin of {diff:+.2f} whose {conf}% interval {ci} lies above {margin:g}")

CHAMPION_REFUSED = ("{model} does not earn the alias champion: precision in the top {k} on {test} is {model_p:.2f} "
                    "against the matrix's {matrix_p:.2f}, a margin of {diff:+.2f} whose {conf}% interval {ci} does "
                    "not lie above {margin:g}; it is registered without the alias and the matrix stays the ranking")


def _signature(fitted: FittedModel):
    from mlflow.models import infer_signature  # optional heavy dependency: only when registering

    example = pd.DataFrame({c: (["", "example"] if c in CATEGORICAL_COLUMNS else [0.0, 1.0]) for c in fitted.columns})
    return infer_signature(model_inputs(example, fitted.columns), fitted.calibrated.predict_proba(example))


def _trusted_types(model: Any) -> list[str]:
    import skops.io as sio  # optional heavy dependency: only when registering

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
        written = write_text_atomic(card, out / "model_card.md")
        write_text_atomic(svg, out / "calibration.svg")
        write_json(facts, out / "train.json")
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




def model_group_audit(facts: Mapping, ranker: str, definitions: Definitions) -> dict:
    """The model's calibration and error rates by group on its test snapshot, safe to pass on:
    aggregates only, and a group with any count behind its figures (people, selected, positives) under
    the audit's small-cell threshold keeps its name and ``small`` flag but none of its figures."""
    threshold = refresh_audit_spec(definitions).disclosure.small_cell
    groups = (facts.get("groups") or {}).get(ranker) or {}
    safe: dict = {}
    def too_few(row: Mapping) -> bool:  # any count behind its figures under the threshold
        counts = [row.get(k) for k in ("n", "selected", "positives")]
        return bool(row.get("small") or row.get("small_metrics")
                    or min((c for c in counts if c is not None), default=0) < threshold)

    for part, attributes in groups.items():
        safe[part] = {attr: [row if not too_few(row) else {"group": row["group"], "small": True, "withheld": True}
                             for row in rows] for attr, rows in attributes.items()}
    return {"test_snapshot": facts.get("test_snapshot"), "ranker": ranker, "small_cell": threshold,
            "groups": jsonable(safe)}
