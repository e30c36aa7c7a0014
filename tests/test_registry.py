"""Training, the registry and MLflow: the alias `champion` only with a clear margin, no person-level data logged."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import pytest

from hkc.definitions.deployment import load_definitions
from hkc.errors import HkcError
from hkc.model import training as registry
from hkc.model.backtest import run_backtest
from hkc.model.champion import CHAMPION_ALIAS, load_champion, score_with_model
from hkc.model.snapshots import build_snapshot
from hkc.model.training import train_model
from tests.builders import ROOT, quick_model_spec, synthetic_extract

UNTIL = dt.date(2026, 9, 30)
PERSON_ID = re.compile(rb"P\d{6}")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One fresh MLflow SQLite store for the module (creating one takes seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        yield folder


@pytest.fixture(scope="module")
def definitions(tracking):
    defs = load_definitions(cwd=ROOT)
    assert defs.settings.tracking.enabled
    return defs


@pytest.fixture(scope="module")
def spec(definitions):
    return quick_model_spec(definitions)


@pytest.fixture(scope="module")
def extract(tmp_path_factory, definitions):
    return synthetic_extract(tmp_path_factory.mktemp("force"), definitions, people=8000, seed=3, until=UNTIL)


@pytest.fixture(scope="module")
def refused(tmp_path_factory, extract, definitions, spec):
    out = tmp_path_factory.mktemp("train")
    return train_model(extract, definitions=definitions, as_of=UNTIL, out=out, spec=spec), out


@pytest.fixture(scope="module")
def earned(refused, extract, definitions, spec):
    """The same training again, with the decision forced to 'earned' to exercise the alias."""
    real = registry.compare_to_matrix
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "compare_to_matrix", lambda *a, **kw: (True, real(*a, **kw)[1]))
        return train_model(extract, definitions=definitions, as_of=UNTIL, out=None, spec=spec)


@pytest.fixture(scope="module")
def backtest(tmp_path_factory, earned, extract, definitions, spec):
    quick = dataclasses.replace(spec, snapshots=dataclasses.replace(spec.snapshots, rolling=False),
                                evaluation=dataclasses.replace(spec.evaluation, resamples=50))
    return run_backtest(extract, definitions=definitions, as_of=UNTIL, out=tmp_path_factory.mktemp("bt"), spec=quick)


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def test_a_model_without_a_clear_margin_is_registered_without_the_alias(refused, definitions):
    result, out = refused
    c = result["comparison"]
    assert result["registered_version"] == 1
    assert not result["beats_matrix"] and not result["champion"]
    assert c["ci"][0] <= 0 < c["ci"][1] or c["difference"] <= 0
    assert result["reason"].startswith("model_logistic does not earn the alias champion: precision in the top 50 "
                                       f"on 2025-09-30 is {c['model']:.2f} against the matrix's {c['matrix']:.2f}")
    version = client().get_model_version(definitions.settings.model.registered_name, "1")
    assert version.tags["champion_decision"] == "refused" and version.tags["reason"] == result["reason"]
    run = client().get_run(result["run_id"])
    assert run.data.tags["hkc.champion"] == "refused" and run.data.tags["hkc.champion_reason"] == result["reason"]
    card = (out / "model_card.md").read_text()
    for heading in ("## Intended use", "## Label", "## Data window", "## Features", "## Metrics on the test snapshot",
                    "## Metrics by group", "## Limitations"):
        assert heading in card
    assert result["reason"] in card and (out / "calibration.svg").read_text().startswith("<?xml")


def test_the_decision_and_its_figures_are_reproducible_for_a_seed(refused, earned):
    assert earned["metrics"] == refused[0]["metrics"]
    assert earned["comparison"] == refused[0]["comparison"]


def test_an_earned_champion_holds_the_alias_and_scores_the_population(earned, extract, definitions, spec):
    assert earned["champion"] and earned["registered_version"] == 2 and earned["previous_champion"] is None
    name = definitions.settings.model.registered_name
    assert str(client().get_model_version_by_alias(name, CHAMPION_ALIAS).version) == "2"
    champion = load_champion(definitions)
    assert champion.version == 2 and champion.spec == "logistic" and champion.test_snapshot == "2025-09-30"
    scored = score_with_model(champion, extract, definitions=definitions, as_of=UNTIL)
    assert list(scored.columns) == ["person_id", "model_probability", "model_explanation"]
    population = build_snapshot(extract, definitions=definitions, label=spec.label, snapshot=UNTIL).frame
    assert scored["person_id"].tolist() == population["person_id"].tolist()
    assert scored["model_probability"].between(0, 1).all()
    assert scored["model_explanation"].str.endswith("(log-odds against an average person)").mean() > 0.5
    # the champion carries its calibration and error rates by group on the test snapshot, small groups withheld
    audit = champion.group_audit
    assert audit["test_snapshot"] == "2025-09-30" and audit["ranker"] == "model_logistic"
    rows = audit["groups"]["error_rates_and_calibration"]["sex"]
    shown = [r for r in rows if not r.get("withheld")]
    assert shown and all(r["n"] >= audit["small_cell"] and "false_positive_rate" in r for r in shown)
    assert all(set(r) == {"group", "small", "withheld"} for r in rows if r.get("withheld"))


def test_the_model_is_logged_in_the_sklearn_flavour_with_a_signature_and_no_example(earned):
    from mlflow.models import get_model_info

    info = get_model_info(earned["model_uri"])
    assert "sklearn" in info.flavors
    assert [c.name for c in info.signature.inputs.inputs][:2] == ["knife_violence_points", "knife_violence_count"]
    assert info.saved_input_example_info is None


def test_the_backtest_logs_aggregates_and_the_calibration_plot(backtest):
    assert backtest["tracking"]["logged"], backtest["tracking"]
    run = client().get_run(backtest["tracking"]["run_id"])
    assert run.data.tags["hkc.kind"] == "backtest"
    assert run.data.metrics["test/matrix/precision_at_k"] == backtest["rankers"]["matrix"]["precision_at_k"]
    assert "test/model_logistic/minus_matrix/precision_at_k_ci_low" in run.data.metrics
    assert [a.path for a in client().list_artifacts(run.info.run_id)] == ["calibration.svg"]


def _texts(folder: Path) -> list[tuple[str, bytes]]:
    out = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            out.append((str(path), data))
            if zipfile.is_zipfile(path):  # the skops model: look inside the archive too
                with zipfile.ZipFile(path) as z:
                    out += [(f"{path}!{n}", z.read(n)) for n in z.namelist()]
    return out


def test_mlflow_never_receives_person_level_data(refused, earned, backtest, extract, definitions, tmp_path):
    import mlflow

    ids = set(extract.people["person_id"])
    experiment = mlflow.get_experiment_by_name(definitions.settings.tracking.experiment)
    runs = client().search_runs([experiment.experiment_id])
    assert {r.data.tags["hkc.kind"] for r in runs} == {"train", "backtest"} and len(runs) == 3
    logged = []
    for run in runs:
        logged.append(("run", json.dumps([run.data.params, run.data.metrics, run.data.tags]).encode()))
        folder = tmp_path / run.info.run_id
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(folder))
        logged += _texts(folder)
    for version in client().search_model_versions(f"name='{definitions.settings.model.registered_name}'"):
        logged.append(("version", json.dumps([version.tags, version.description]).encode()))
        folder = tmp_path / f"model-{version.version}"
        mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(folder))
        logged += _texts(folder)
    assert any(name.endswith("model_card.md") for name, _ in logged)
    assert any(name.endswith(".skops") or "model.skops" in name for name, _ in logged)
    leaked = [(name, m.decode()) for name, data in logged for m in PERSON_ID.findall(data) if m.decode() in ids]
    assert not leaked
    assert all(len(run.data.params) < 100 for run in runs)


def test_no_champion_gives_none_and_an_unreachable_registry_is_one_line(definitions, monkeypatch, earned):
    other = dataclasses.replace(definitions, settings=dataclasses.replace(
        definitions.settings, model=dataclasses.replace(definitions.settings.model, registered_name="nobody")))
    assert load_champion(other) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "notascheme://nowhere")
    with pytest.raises(HkcError, match=r"^MLflow at notascheme://nowhere: .*; check \[tracking\] uri"):
        load_champion(definitions)
