"""The model through the command line: backtest, train, and the champion beside the matrix."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from hkc.definitions.deployment import init_deployment
from hkc.synth import generate_force, write_force
from tests.builders import offline_definitions

UNTIL = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model-cli")
    force = generate_force(people=6000, seed=3, until=UNTIL, catalogue=offline_definitions().catalogue)
    write_force(force, tmp / "extract")
    init_deployment(tmp / "force")
    settings = tmp / "force" / "config" / "hkc.toml"
    settings.write_text(settings.read_text().replace("enabled = false", "enabled = true"))  # the model
    return tmp, settings


def cli(tmp: Path, *args):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "HKC_PSEUDONYM_KEY": ""}
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def backtested(setup):
    tmp, settings = setup
    return cli(tmp, "backtest", tmp / "extract", "--as-of", UNTIL, "--out", tmp / "bt", "--config", settings,
               "--extract-date", UNTIL)


def test_backtest_reports_the_matrix_against_baselines_with_intervals(setup, backtested):
    tmp, _settings = setup
    result = backtested
    assert result.exit_code == 0, result.output
    data = json.loads((tmp / "bt" / "backtest.json").read_text())
    assert {"matrix", "model_logistic", "prior_knife_count", "random"} <= set(data["rankers"])
    matrix = data["rankers"]["matrix"]
    assert 0.5 < matrix["roc_auc"] < 1 and matrix["ci"]["roc_auc"][0] <= matrix["roc_auc"] <= matrix["ci"]["roc_auc"][1]
    assert matrix["brier"] is None and data["rankers"]["model_logistic"]["brier"] is not None
    assert f"precision@{data['k']}" in result.output
    assert (tmp / "bt" / "backtest.html").is_file()


def test_train_then_refresh_shows_the_model_only_if_it_earned_champion(setup):
    import pandas as pd

    tmp, settings = setup
    trained = cli(tmp, "train", tmp / "extract", "--as-of", UNTIL, "--out", tmp / "card", "--config", settings,
                  "--extract-date", UNTIL)
    assert trained.exit_code == 0, trained.output
    assert "reason: " in trained.output
    assert (tmp / "card" / "model_card.md").is_file()
    champion = ": champion" in trained.output
    refreshed = cli(tmp, "refresh", tmp / "extract", "--as-of", UNTIL, "--out", tmp / "out", "--config", settings,
                    "--db", f"sqlite:///{tmp / 'h.db'}", "--extract-date", UNTIL)
    assert refreshed.exit_code == 0, refreshed.output
    cohort = pd.read_csv(tmp / "out" / "cohort.csv")
    assert cohort["risk_score"].is_monotonic_decreasing  # the matrix decides the order either way
    if champion:
        assert "shown beside the matrix; the ranking is the matrix's" in refreshed.stderr
        assert cohort["model_probability"].between(0, 1).all()
    else:
        assert "holds the alias champion: run `hkc train`; the list is the matrix's alone" in refreshed.stderr
        assert "model_probability" not in cohort.columns


def test_a_second_backtest_into_the_first_ones_folder_gets_past_the_folder_check(setup, backtested):
    tmp, settings = setup
    assert backtested.exit_code == 0, backtested.output
    earlier = (tmp / "bt" / "backtest.json").read_bytes()
    again = cli(tmp, "backtest", tmp / "extract", "--as-of", "2026Q3", "--out", tmp / "bt", "--config", settings,
                "--extract-date", "2026Q3", "--spec", "no-such-spec")  # fails on the spec, after the check
    assert again.exit_code == 2
    assert again.stderr.splitlines()[-1].startswith("error: model specification 'no-such-spec' not found")
    assert (tmp / "bt" / "backtest.json").read_bytes() == earlier
