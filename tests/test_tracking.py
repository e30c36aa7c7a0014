"""MLflow receives aggregate figures only: never a person id, never a small cell."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys

from hkc.definitions.deployment import init_deployment, load_definitions
from hkc.refresh import run_refresh
from hkc.synth import generate_force, write_force
from tests.builders import ROOT, ExtractBuilder

AS_OF = dt.date(2026, 9, 30)


def test_refresh_logs_aggregates_and_no_person_level_data_to_mlflow(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    as_of = dt.date(2026, 9, 30)
    b = ExtractBuilder(as_of)
    ids = [f"PERSON-{i:03d}" for i in range(30)]
    for i, pid in enumerate(ids):
        b.person(pid, age=14 + i % 4, sex="MF"[i % 2], ethnicity=["White", "Black", "Asian"][i % 3])  # 14-17
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


HKC_LINE = re.compile(r"^(  \d\d:\d\d:\d\d |definitions: )")  # a progress line, or the definitions in use
MLFLOW_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [A-Z]+ |Successfully registered|Created version|alembic|"
                         r"Warning", re.IGNORECASE)


def test_a_tracked_train_and_refresh_print_only_hkcs_lines(tmp_path):
    """MLflow's own log lines ("Creating initial MLflow database tables...", "Successfully registered
    model ...") never interleave with hkc's progress: run in fresh processes, as a user would."""
    import mlflow
    from mlflow.tracking import MlflowClient

    init_deployment(tmp_path / "force")  # tracking on, as shipped; fewer resamples, for speed
    config = tmp_path / "force" / "config" / "hkc.toml"
    for spec in ("audits/fairness.toml", "models/logistic.toml"):
        path = tmp_path / "force" / spec
        path.write_text(path.read_text().replace("resamples = 1000", "resamples = 200"))
    assert load_definitions(config=config).settings.tracking.enabled
    data = tmp_path / "data"
    write_force(generate_force(people=1500, seed=1, until=AS_OF, catalogue=load_definitions().catalogue), data)
    common = ["--as-of", AS_OF.isoformat(), "--extract-date", AS_OF.isoformat(), "--config", str(config)]
    outputs = {}
    for command, extra in (("train", ["--out", str(tmp_path / "card")]),
                           ("refresh", ["--out", str(tmp_path / "out"), "--db", f"sqlite:///{tmp_path / 'h.db'}"])):
        uri = f"sqlite:///{tmp_path / command}-mlflow.db"  # a new store: MLflow announces creating its tables
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HKC_PSEUDONYM_KEY": ""}
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), command, str(data), *common, *extra], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stderr.splitlines() if not HKC_LINE.match(line)] == []
        assert re.search(r"^  \d\d:\d\d:\d\d .*MLflow", done.stderr, re.MULTILINE)  # hkc's own line stays
        assert [line for line in done.stdout.splitlines() if MLFLOW_LINE.search(line)] == []
        mlflow.set_tracking_uri(uri)
        outputs[command] = (done.stdout, MlflowClient().search_runs(
            [e.experiment_id for e in MlflowClient().search_experiments()]))
    assert "model hkc-knife-involvement version 1" in outputs["train"][0]
    assert [len(runs) for _stdout, runs in outputs.values()] == [1, 1]  # both were tracked
