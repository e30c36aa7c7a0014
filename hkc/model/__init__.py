"""The optional model: pipelines, training snapshots, backtests, training and the champion.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

==========================  ============================================================
:mod:`hkc.model.backtest`   Temporal backtests: does a ranking pick out who goes on to be involved, and is the model any better?
:mod:`hkc.model.chance`     The list against chance: would the matrix's recent lists have beaten a random draw?
:mod:`hkc.model.champion`   The champion model: loading the registered version that earned the alias, and scoring with it.
:mod:`hkc.model.pipeline`   The optional model: scikit-learn pipelines on the matrix's features, calibrated on a later snapshot.
:mod:`hkc.model.ranking`    Ranking measures: how well a score picks out who goes on to be involved, with paired intervals.
:mod:`hkc.model.report`     Backtest and model reports: ``backtest.json``, a self-contained ``backtest.html`` and the model card.
:mod:`hkc.model.snapshots`  Training rows: one per (person, snapshot), with features as of that snapshot only.
:mod:`hkc.model.tracking`   MLflow plumbing for the model: the client, flattened metrics and the backtest's run.
:mod:`hkc.model.training`   Training, MLflow tracking and the model registry: the model is offered only when it earns it.
==========================  ============================================================
"""

from hkc.model.backtest import evaluate_snapshot, fit_for, run_backtest
from hkc.model.champion import load_champion, score_with_model
from hkc.model.chance import chance_line
from hkc.model.pipeline import base_pipeline, explain, feature_columns, fit_model, model_inputs
from hkc.model.ranking import Ranker, compare_to_matrix, rankers_for, ranking_metrics
from hkc.model.report import backtest_facts, write_backtest
from hkc.model.snapshots import (
    HistoryWindow,
    LeakageError,
    SnapshotCache,
    build_snapshot,
    check_no_leakage,
    eligible_snapshots,
    history_window,
    plan_snapshots,
    quarter_ends,
    score_snapshot,
)
from hkc.model.training import train_model

__all__ = [
    "HistoryWindow",
    "LeakageError",
    "Ranker",
    "SnapshotCache",
    "backtest_facts",
    "base_pipeline",
    "build_snapshot",
    "chance_line",
    "check_no_leakage",
    "compare_to_matrix",
    "eligible_snapshots",
    "evaluate_snapshot",
    "explain",
    "feature_columns",
    "fit_for",
    "fit_model",
    "history_window",
    "load_champion",
    "model_inputs",
    "plan_snapshots",
    "quarter_ends",
    "rankers_for",
    "ranking_metrics",
    "run_backtest",
    "score_snapshot",
    "score_with_model",
    "train_model",
    "write_backtest",
]
