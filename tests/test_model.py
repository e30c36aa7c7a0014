"""Model specs, snapshots and the model: protected characteristics never features, no event after a
snapshot reaches its features, calibration works, explanations are coefficient × standardised value."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hkc.definitions.model_spec import (
    AREA_FEATURE_OFF,
    PROTECTED_FEATURE,
    SPEC_SECTIONS,
    ModelSpec,
    load_model_spec,
    model_spec_names,
    read_model_spec,
)
from hkc.errors import ConfigError, ExtractError, HkcError
from hkc.extract.load import load_extract
from hkc.model import snapshots
from hkc.model.backtest import fit_for
from hkc.model.pipeline import (
    NO_EXPLANATION,
    ONE_CLASS,
    base_pipeline,
    explain,
    feature_columns,
    fit_model,
    model_inputs,
)
from hkc.model.ranking import rankers_for, ranking_metrics
from hkc.model.snapshots import (
    NO_TEST_SNAPSHOT,
    HistoryWindow,
    LeakageError,
    SnapshotCache,
    build_snapshot,
    check_no_leakage,
    history_window,
    plan_snapshots,
    quarter_ends,
)
from hkc.synth import generate_force, write_force
from tests.builders import ROOT, ExtractBuilder, offline_definitions

UNTIL = dt.date(2026, 9, 30)
LOGISTIC = ROOT / "models" / "logistic.toml"


@pytest.fixture(scope="module")
def definitions():
    return offline_definitions()


@pytest.fixture(scope="module")
def spec(definitions) -> ModelSpec:
    return load_model_spec("logistic", definitions=definitions)


@pytest.fixture(scope="module")
def force_extract(tmp_path_factory, definitions):
    folder = tmp_path_factory.mktemp("force")
    write_force(generate_force(people=8000, seed=3, until=UNTIL, catalogue=definitions.catalogue), folder,
                fmt="parquet")
    return load_extract(folder, catalogue=definitions.catalogue, extract_date=UNTIL)


@pytest.fixture(scope="module")
def cache(force_extract, definitions, spec):
    return SnapshotCache(force_extract, definitions=definitions, label=spec.label,
                         window=history_window(force_extract, UNTIL))


def spec_file(tmp_path: Path, old: str, new: str, name: str = "variant") -> Path:
    text = LOGISTIC.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Specs


@pytest.mark.parametrize("cls", [ModelSpec, *SPEC_SECTIONS.values()])
def test_every_model_spec_key_is_documented(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"


def test_packaged_specs_inherit_the_outcome_settings_and_cohort_size(definitions):
    assert model_spec_names(definitions) == ["boosted", "logistic"]
    for name in ("logistic", "boosted"):
        spec = load_model_spec(name, definitions=definitions)
        assert spec.label.types == definitions.settings.outcome.types
        assert spec.label.roles == definitions.settings.outcome.roles
        assert spec.label.horizon_days == definitions.settings.outcome.horizon_days
        assert spec.evaluation.k == definitions.settings.cohort.size
        assert spec.ranker == f"model_{name}"


def test_unknown_spec_key_names_the_closest(tmp_path, definitions):
    path = spec_file(tmp_path, "horizon_days = 0", "horizon_day = 0")
    with pytest.raises(ConfigError, match=r"unknown key 'horizon_day' in .*variant.toml \[label\]; "
                                          r"did you mean 'horizon_days'\?"):
        load_model_spec(path, definitions=definitions)


def test_unknown_estimator_parameter_names_the_closest(tmp_path, definitions):
    path = spec_file(tmp_path, "C = 1.0", "Cc = 1.0")
    with pytest.raises(ConfigError, match=r"unknown key 'Cc' .*did you mean 'C'\?"):
        read_model_spec(path)
    with pytest.raises(ConfigError, match=r"\[estimator.params\] C = -1.0"):
        read_model_spec(spec_file(tmp_path, "C = 1.0", "C = -1.0"))


@pytest.mark.parametrize("column", ["ethnicity", "sex", "officer_ethnicity", "Ethnicity_self", "gender"])
def test_protected_characteristic_is_refused_as_a_feature(tmp_path, column):
    path = spec_file(tmp_path, "people_columns = []", f'people_columns = ["{column}"]')
    with pytest.raises(ConfigError) as err:
        read_model_spec(path)
    assert str(err.value) == PROTECTED_FEATURE.format(file=path, column=column)


def test_area_feature_needs_area_features_and_is_then_used(tmp_path, definitions):
    path = spec_file(tmp_path, "people_columns = []", 'people_columns = ["area"]')
    with pytest.raises(ConfigError) as err:
        read_model_spec(path)
    assert str(err.value) == AREA_FEATURE_OFF.format(file=path, column="area")
    path.write_text(path.read_text().replace("area_features = false", "area_features = true"))
    spec = load_model_spec(path, definitions=definitions)
    assert feature_columns(spec, definitions.catalogue)[-1] == "area"


def test_no_packaged_spec_uses_a_protected_characteristic_or_a_victim_indicator(definitions):
    for name in model_spec_names(definitions):
        columns = feature_columns(load_model_spec(name, definitions=definitions), definitions.catalogue)
        assert not {"ethnicity", "sex", "officer_ethnicity", "area"} & set(columns)
        assert not [c for c in columns if c.startswith(("knife_victim", "ae_assault", "missing_episode"))]


def test_unknown_spec_name_lists_the_available(definitions):
    with pytest.raises(ConfigError, match="model specification 'forest' not found.*available: boosted, logistic"):
        load_model_spec("forest", definitions=definitions)


# --------------------------------------------------------------------------------------------
# Snapshots and the split


def test_quarter_ends_are_the_four_calendar_quarter_ends():
    assert quarter_ends(dt.date(2025, 2, 1), dt.date(2026, 1, 15)) == [
        dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30), dt.date(2025, 12, 31)]


def test_every_training_and_calibration_label_is_known_by_the_test_snapshot(spec):
    window = HistoryWindow(start=dt.date(2019, 1, 1), end=UNTIL)
    plan = plan_snapshots(window, spec=spec)
    assert plan.test == dt.date(2025, 9, 30)
    assert plan.calibration == (dt.date(2024, 9, 30),)
    assert len(plan.train) == spec.snapshots.train and plan.train[-1] == dt.date(2024, 6, 30)
    horizon = dt.timedelta(days=spec.label.horizon_days)
    assert all(s + horizon <= plan.test for s in plan.train + plan.calibration)
    assert max(plan.train) < min(plan.calibration) < plan.test


def test_a_history_too_short_for_the_horizon_is_a_one_line_error(spec):
    window = HistoryWindow(start=dt.date(2025, 1, 1), end=UNTIL)
    with pytest.raises(ExtractError) as err:
        plan_snapshots(window, spec=spec)
    assert str(err.value) == NO_TEST_SNAPSHOT.format(end=UNTIL, horizon=365, latest=dt.date(2025, 9, 30),
                                                     start=dt.date(2025, 1, 1), min_history=365)


def tiny_extract(tmp_path, definitions):
    """A: possession 10 days before the snapshot; an outcome the day after it and one 366 days after.
    B: an event on the snapshot day.  OLD: too old for the age range.  LATER: first seen after it."""
    snapshot = dt.date(2025, 9, 30)
    b = ExtractBuilder(UNTIL)
    back = (UNTIL - snapshot).days
    b.person("A", age=17).person("B", age=15).person("OLD", age=40).person("LATER", age=16)
    b.event("A", "knife_possession", days_ago=back + 10, outcome="convicted")
    b.event("A", "knife_possession", days_ago=back - 1, outcome="charged")
    b.event("B", "violence", days_ago=back, outcome="convicted")
    b.event("B", "knife_violence", days_ago=back - 366, outcome="convicted")
    b.event("OLD", "knife_possession", days_ago=back + 5, outcome="convicted")
    b.event("LATER", "knife_possession", days_ago=back - 30, outcome="convicted")
    extract = load_extract(b.write(tmp_path / "tiny"), catalogue=definitions.catalogue, extract_date=UNTIL)
    return extract, snapshot


def test_population_label_and_features_at_a_snapshot(tmp_path, definitions, spec):
    extract, snapshot = tiny_extract(tmp_path, definitions)
    rows = build_snapshot(extract, definitions=definitions, label=spec.label, snapshot=snapshot, history_end=UNTIL)
    frame = rows.frame.set_index("person_id")
    assert sorted(frame.index) == ["A", "B"]  # OLD is too old, LATER has no event by then
    assert frame.loc["A", "label"] == 1 and frame.loc["B", "label"] == 0  # day 366 is outside the horizon
    assert frame.loc["A", "knife_possession_count"] == 1  # the later possession is the label, never a feature
    assert frame.loc["B", "violence_count"] == 1  # an event on the snapshot day is a feature, not a label
    assert frame.loc["A", "prior_knife_count"] == 1 and frame.loc["B", "prior_knife_count"] == 0
    assert rows.max_event_date == snapshot


def test_leakage_check_fails_when_features_use_a_later_as_of_date(tmp_path, definitions, spec, monkeypatch):
    extract, snapshot = tiny_extract(tmp_path, definitions)
    real = snapshots.score_snapshot

    def leaky(extract, *, definitions, snapshot):
        return real(extract, definitions=definitions, snapshot=snapshot + dt.timedelta(days=90))

    monkeypatch.setattr(snapshots, "score_snapshot", leaky)
    with pytest.raises(LeakageError, match=f"features for the snapshot {snapshot} used"):
        build_snapshot(extract, definitions=definitions, label=spec.label, snapshot=snapshot, history_end=UNTIL)


def test_leakage_check_names_an_event_after_the_snapshot(tmp_path, definitions):
    extract, snapshot = tiny_extract(tmp_path, definitions)
    later = snapshots.score_snapshot(extract, definitions=definitions, snapshot=snapshot + dt.timedelta(days=90))
    later.as_of = snapshot  # even a result that claims the right date is caught by its evidence
    with pytest.raises(LeakageError, match=r"used an event dated 2025-10-30"):
        check_no_leakage(later, snapshot)


def test_snapshot_features_equal_features_from_history_cut_at_the_snapshot(force_extract, definitions, spec):
    """A second way: drop every later event first; the rows must not change."""
    snapshot = dt.date(2024, 9, 30)
    full = build_snapshot(force_extract, definitions=definitions, label=spec.label, snapshot=snapshot)
    events = force_extract.events
    cut = dataclasses.replace(force_extract, events=events[events["date"] <= pd.Timestamp(snapshot)])
    alone = build_snapshot(cut, definitions=definitions, label=spec.label, snapshot=snapshot)
    pd.testing.assert_frame_equal(full.frame, alone.frame)
    assert full.max_event_date <= snapshot


def test_events_after_as_of_never_reach_a_run(force_extract, definitions, spec):
    window = history_window(force_extract, dt.date(2025, 12, 31))
    cache = SnapshotCache(force_extract, definitions=definitions, label=spec.label, window=window)
    assert cache.extract.events["date"].max() <= pd.Timestamp(window.end)
    assert cache(dt.date(2024, 9, 30)).labelled and not cache(dt.date(2025, 3, 31)).labelled


# --------------------------------------------------------------------------------------------
# The model


def test_calibration_lowers_the_ece_of_a_class_weighted_model(cache, definitions, spec):
    weighted = dataclasses.replace(spec, estimator=dataclasses.replace(
        spec.estimator, params={**spec.estimator.params, "class_weight": "balanced"}))
    plan = plan_snapshots(cache.window, spec=weighted)
    fitted = fit_for(cache, plan, weighted, definitions)
    frame = cache(plan.test).frame
    calibrated, uncalibrated = fitted.predict(frame)
    assert uncalibrated.mean() > 3 * frame["label"].mean()  # balanced weights inflate every probability
    metrics = ranking_metrics(frame["label"].to_numpy(), rankers_for(frame, spec=weighted, snapshot=plan.test,
                                                                     models={"m": fitted}), k=50)
    m = metrics["rankers"]["m"]
    assert m["ece"] < m["uncalibrated"]["ece"] / 3
    assert m["brier"] < m["uncalibrated"]["brier"]


def test_logistic_explanation_is_coefficient_times_standardised_value(cache, definitions, spec):
    plan = plan_snapshots(cache.window, spec=spec)
    fitted = fit_for(cache, plan, spec, definitions)
    frame = cache(plan.test).frame
    row = frame.sort_values("risk_score", ascending=False).head(1)
    words = explain(fitted.calibrated, row, catalogue=definitions.catalogue, top=2)[0]
    pipeline = base_pipeline(fitted.calibrated)
    scaler, model = pipeline.named_steps["prepare"].named_transformers_["numeric"], pipeline.named_steps["model"]
    x = model_inputs(row, fitted.columns).to_numpy()[0]
    contrib = (x - scaler.mean_) / scaler.scale_ * model.coef_[0]  # computed a second way
    top = np.argsort(-np.abs(contrib))[0]
    label = fitted.columns[top]
    code, measure = label.rsplit("_", 1)
    ind = definitions.catalogue.indicators[code].label
    sign = "+" if contrib[top] >= 0 else "−"
    assert words.startswith(f"{ind} ({'points' if measure == 'points' else 'number of events'}) "
                            f"{sign}{abs(contrib[top]):.2f}")
    assert words.endswith("(log-odds against an average person)")


def test_boosted_model_says_it_has_no_per_person_explanation(cache, definitions):
    spec = load_model_spec("boosted", definitions=definitions)
    spec = dataclasses.replace(spec, estimator=dataclasses.replace(spec.estimator,
                                                                   params={**spec.estimator.params, "max_iter": 5}))
    fitted = fit_for(cache, plan_snapshots(cache.window, spec=spec), spec, definitions)
    assert explain(fitted.calibrated, cache(dt.date(2025, 9, 30)).frame.head(2),
                   catalogue=definitions.catalogue) == [NO_EXPLANATION] * 2


def test_fitting_without_any_outcome_is_a_clear_error(cache, definitions, spec):
    rows = cache.rows([dt.date(2024, 6, 30)]).assign(label=0)
    with pytest.raises(HkcError) as err:
        fit_model(spec, rows, rows, catalogue=definitions.catalogue)
    assert str(err.value) == ONE_CLASS.format(part="training", dates=["2024-06-30"], count=0, n=len(rows))
