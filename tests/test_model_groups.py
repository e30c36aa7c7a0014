"""The model's per-group figures that reach MLflow withhold every group resting on a small count."""

from __future__ import annotations

from hkc.model.training import model_group_audit
from tests.builders import offline_definitions


def facts(row: dict) -> dict:
    return {"test_snapshot": "2025-09-30", "groups": {"model_logistic": {"error_rates_and_calibration": {
        "ethnicity": [{"group": "Big", "n": 5000, "selected": 40, "positives": 300, "small": False, "ece": 0.01},
                      row]}}}}


def shown(row: dict) -> list[dict]:
    out = model_group_audit(facts(row), "model_logistic", offline_definitions())
    return out["groups"]["error_rates_and_calibration"]["ethnicity"]


def test_a_group_of_many_people_with_few_selected_is_withheld():
    rows = shown({"group": "Few selected", "n": 500, "selected": 3, "positives": 40, "small": False, "ece": 0.2})
    assert rows[1] == {"group": "Few selected", "small": True, "withheld": True}
    assert rows[0]["ece"] == 0.01  # the large group keeps its figures


def test_a_group_with_few_positives_or_a_small_metric_is_withheld():
    assert shown({"group": "x", "n": 500, "selected": 30, "positives": 4, "small": False})[1]["withheld"]
    assert shown({"group": "y", "n": 500, "selected": 30, "positives": 40, "small": False,
                  "small_metrics": ["precision"]})[1]["withheld"]


def test_a_group_with_every_count_at_the_threshold_keeps_its_figures():
    row = {"group": "z", "n": 10, "selected": 10, "positives": 10, "small": False, "ece": 0.3}
    assert shown(row)[1] == row
