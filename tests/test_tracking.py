"""MLflow receives aggregate figures only: never a person id, never a small cell."""

from __future__ import annotations

import datetime as dt
import json

from hkc.definitions.deployment import load_definitions
from hkc.refresh import run_refresh
from tests.builders import ROOT, ExtractBuilder


def test_refresh_logs_aggregates_and_no_person_level_data_to_mlflow(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    as_of = dt.date(2026, 9, 30)
    b = ExtractBuilder(as_of)
    ids = [f"PERSON-{i:03d}" for i in range(30)]
    for i, pid in enumerate(ids):
        b.person(pid, age=14 + i % 8, sex="MF"[i % 2], ethnicity=["White", "Black", "Asian"][i % 3])
        b.event(pid, "knife_possession", days_ago=5 + i, outcome="convicted")
    defs = load_definitions(cwd=ROOT)
    assert defs.settings.tracking.enabled
    result = run_refresh(b.write(tmp_path / "x"), as_of=as_of, out=tmp_path / "out", definitions=defs,
                         db_url=f"sqlite:///{tmp_path / 'h.db'}")
    assert result.tracking["logged"], result.tracking
    mlflow.set_tracking_uri(uri)
    run = MlflowClient().get_run(result.tracking["run_id"])
    assert run.data.params["as_of"] == "2026-09-30"
    assert run.data.metrics["cohort_size"] == 30
    assert run.data.metrics["rows/events/read"] == 30
    logged = json.dumps({"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags})
    assert not any(pid in logged for pid in ids)
    assert not MlflowClient().list_artifacts(run.info.run_id)
    # small cells are suppressed before logging: no group of fewer than 10 people has a logged rate
    small = [g["group"] for g in result.audit["attributes"]["ethnicity*sex"]["groups"] if g["n"] < 10]
    assert small
    assert not [k for k in run.data.metrics if any(f"/{g.replace('*', '_x_')}/" in k for g in small)]


def test_tracking_failure_does_not_sink_the_refresh(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "notascheme://nowhere")
    as_of = dt.date(2026, 9, 30)
    b = ExtractBuilder(as_of).person("A").event("A", "knife_possession", days_ago=3, outcome="convicted")
    defs = load_definitions(cwd=ROOT)
    result = run_refresh(b.write(tmp_path / "x"), as_of=as_of, out=tmp_path / "out", definitions=defs,
                         db_url=f"sqlite:///{tmp_path / 'h.db'}")
    assert not result.tracking["logged"]
    assert result.tracking["error"]
    assert (tmp_path / "out" / "cohort.csv").is_file()
