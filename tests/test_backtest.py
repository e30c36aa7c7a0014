"""The backtest: every ranking measured on the extract's own history, with intervals, against the matrix."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from hkc.audit.table import score_bands
from hkc.matrix.cohort import select_cohort
from hkc.model.backtest import run_backtest
from hkc.model.ranking import BASELINES, METRICS, Ranker, compare_to_matrix, rankers_for, ranking_metrics
from hkc.model.report import backtest_facts, write_backtest
from hkc.model.snapshots import build_snapshot, eligible_snapshots, history_window, score_snapshot
from tests.builders import offline_definitions, quick_model_spec, synthetic_extract

UNTIL = dt.date(2026, 9, 30)
RANKERS = {"matrix", "model_logistic", "model_boosted", "prior_knife_count", "random"}


@pytest.fixture(scope="module")
def definitions():
    return offline_definitions()


@pytest.fixture(scope="module")
def spec(definitions):
    return quick_model_spec(definitions)


@pytest.fixture(scope="module")
def extract(tmp_path_factory, definitions):
    return synthetic_extract(tmp_path_factory.mktemp("force"), definitions, people=8000, seed=3, until=UNTIL)


@pytest.fixture(scope="module")
def backtest(tmp_path_factory, extract, definitions, spec):
    out = tmp_path_factory.mktemp("backtest")
    messages: list[str] = []
    result = run_backtest(extract, definitions=definitions, as_of=UNTIL, out=out, spec=spec, progress=messages.append)
    return result, out, messages


def test_backtest_reports_matrix_auc_and_precision_at_k_with_intervals(backtest):
    result, _, messages = backtest
    matrix = result["rankers"]["matrix"]
    assert result["test_snapshot"] == "2025-09-30" and result["horizon_days"] == 365 and result["k"] == 50
    for metric in ("roc_auc", "precision_at_k", "recall_at_k", "average_precision"):
        lo, hi = matrix["ci"][metric]
        assert lo <= matrix[metric] <= hi and lo < hi
    assert 0.6 < matrix["roc_auc"] < 0.95  # the matrix ranks far better than chance on synthetic data
    assert abs(result["rankers"]["random"]["roc_auc"] - 0.5) < 0.05
    assert any("rolling origin" in m for m in messages)


def test_backtest_json_has_the_documented_schema(backtest, extract, spec):
    result, out, _ = backtest
    written = json.loads((out / "backtest.json").read_text())
    assert {"test_snapshot", "horizon_days", "k", "n", "positives", "rankers", "rolling"} <= set(written)
    assert set(written["rankers"]) == RANKERS
    assert written["n"] == result["n"] > written["positives"] > 0
    for name, r in written["rankers"].items():
        assert set(METRICS) <= set(r) and set(r["ci"]) <= set(METRICS)
        probability = name.startswith("model_")
        assert (r["brier"] is not None) == probability and (r["ece"] is not None) == probability
    window = history_window(extract, UNTIL)
    assert [r["snapshot"] for r in written["rolling"]] == [d.isoformat() for d in eligible_snapshots(window, spec)]
    last = written["rolling"][-1]
    assert last["rankers"]["matrix"]["precision_at_k"] == written["rankers"]["matrix"]["precision_at_k"]
    assert set(written["rolling"][0]["skipped"]) == {"model_logistic", "model_boosted"}  # too early to train
    latest = written["leakage_check"]["latest_feature_event"]
    assert written["test_snapshot"] in latest and all(day <= snapshot for snapshot, day in latest.items())


def test_reliability_is_reported_calibrated_and_uncalibrated_overall_and_by_group(backtest):
    result, _, _ = backtest
    for model in ("model_logistic", "model_boosted"):
        r = result["rankers"][model]
        assert r["uncalibrated"]["ece"] is not None and r["uncalibrated"]["ci"]["ece"]
        bins = result["reliability"][model]
        assert sum(b["n"] for b in bins["calibrated"]) == sum(b["n"] for b in bins["uncalibrated"]) == result["n"]
        groups = result["groups"][model]
        for attr in ("ethnicity", "sex"):
            calibrated = {g["group"]: g for g in groups["error_rates_and_calibration"][attr]}
            uncalibrated = {g["group"]: g for g in groups["uncalibrated"][attr]}
            assert set(calibrated) == set(uncalibrated)
            assert sum(g["n"] for g in calibrated.values()) == result["n"]
            assert all(g["ece"] is not None for g in calibrated.values() if g["n"])
    assert "true_positive_rate" in result["groups"]["matrix"]["error_rates_and_calibration"]["sex"][0]


def test_matrix_top_k_is_the_cohort_the_matrix_would_have_listed(extract, definitions, spec):
    snapshot = dt.date(2025, 9, 30)
    rows = build_snapshot(extract, definitions=definitions, label=spec.label, snapshot=snapshot, history_end=UNTIL)
    matrix = rankers_for(rows.frame, spec=spec, snapshot=snapshot, models={})[0]
    scored = score_snapshot(extract, definitions=definitions, snapshot=snapshot)
    cohort = select_cohort(scored.scores, cohort=definitions.settings.cohort, rag=definitions.settings.rag)
    assert rows.frame["person_id"].to_numpy()[matrix.order[:50]].tolist() == cohort.members["person_id"].tolist()


def random_rankers(seed: int = 1, n: int = 3000):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(float)
    matrix = np.round(rng.random(n) * 20 + 4 * y)  # ties on purpose
    probability = np.clip(0.05 + 0.3 * y * rng.random(n) + 0.1 * rng.random(n), 0, 1)
    pool = np.arange(n)
    return y, [Ranker("matrix", matrix, pool[np.lexsort((pool, -matrix))]),
               Ranker("model", probability, pool[np.argsort(-probability, kind="stable")], probability, probability)]


def test_ranking_metrics_match_scikit_learn_and_a_hand_count():
    y, rankers = random_rankers()
    result = ranking_metrics(y, rankers, k=100, ece_bins=10)
    for r in rankers:
        got = result["rankers"][r.name]
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y, r.score))
        assert got["average_precision"] == pytest.approx(average_precision_score(y, r.score))
        top = r.order[:100]
        assert got["precision_at_k"] == pytest.approx(y[top].mean())
        assert got["recall_at_k"] == pytest.approx(y[top].sum() / y.sum())
    model = result["rankers"]["model"]
    p = rankers[1].probability
    assert model["brier"] == pytest.approx(brier_score_loss(y, p))
    codes, _ = score_bands(p, 10)
    ece = sum(abs(y[codes == b].mean() - p[codes == b].mean()) * (codes == b).sum() for b in np.unique(codes))
    assert model["ece"] == pytest.approx(ece / len(y))
    assert result["rankers"]["matrix"]["brier"] is None and result["rankers"]["matrix"]["ece"] is None


def test_intervals_are_reproducible_for_a_seed():
    y, rankers = random_rankers()
    first = ranking_metrics(y, rankers, k=100, resamples=200, seed=5)
    again = ranking_metrics(y, rankers, k=100, resamples=200, seed=5)
    other = ranking_metrics(y, rankers, k=100, resamples=200, seed=6)
    assert first == again
    assert first["rankers"]["model"]["ci"] != other["rankers"]["model"]["ci"]


def test_a_model_ranking_like_the_matrix_never_beats_it():
    y, rankers = random_rankers()
    twin = Ranker("model", rankers[0].score, rankers[0].order, rankers[0].score / 30, rankers[0].score / 30)
    result = ranking_metrics(y, [rankers[0], twin], k=100, resamples=200, seed=1)
    beats, margin = compare_to_matrix(result, "model")
    assert not beats and margin["difference"] == 0 and margin["ci"] == [0.0, 0.0]


def test_a_model_that_lists_the_outcomes_first_beats_the_matrix_with_a_paired_interval():
    y, rankers = random_rankers()
    oracle = 0.5 * y + 0.01
    pool = np.arange(len(y))
    model = Ranker("model", oracle, pool[np.lexsort((pool, -oracle))], oracle, oracle)
    result = ranking_metrics(y, [rankers[0], model], k=100, resamples=200, seed=1)
    beats, margin = compare_to_matrix(result, "model")
    assert beats and margin["ci"][0] > 0
    assert not compare_to_matrix(result, "model", margin=0.99)[0]


def test_backtest_html_is_self_contained_and_escapes_text(backtest, tmp_path):
    result, out, _ = backtest
    html = (out / "backtest.html").read_text()
    assert html.count("<svg") == 3 and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    hostile = json.loads((out / "backtest.json").read_text())
    hostile["descriptions"]["matrix"] = "<script>alert(1)</script>"
    write_backtest(hostile, tmp_path)
    page = (tmp_path / "backtest.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_backtest_facts_draw_every_ranker_and_mark_k(backtest):
    result, _, _ = backtest
    facts = backtest_facts(json.loads(json.dumps(result, default=str)))
    assert {line["name"] for line in facts["precision_chart"]["lines"]} == RANKERS
    assert facts["precision_chart"]["marker"]["label"] == "k = 50"
    assert len(facts["reliability_chart"]["lines"]) == 4  # two models, calibrated and not
    assert set(BASELINES) <= {line["name"] for line in facts["rolling_chart"]["lines"]}
