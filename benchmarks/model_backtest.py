"""Time training, calibration and the backtest on a large synthetic force.

    python -m benchmarks.model_backtest --people 200000            # 8 snapshots: 6 train, 1 calibration, 1 test
    python -m benchmarks.model_backtest --people 200000 --full     # also `run_backtest` end to end (rolling)

Generates a synthetic force (5 years of events up to 30 Sep 2026), loads it, builds the 8
quarterly snapshots of the logistic spec's split (features as of each snapshot), fits and
calibrates both packaged models (logistic, boosted), and measures every ranker on the test
snapshot with bootstrap intervals and the by-group audit — the work of ``hkc train`` plus the test
part of ``hkc backtest``.  Prints one JSON object: seconds per stage, rows, peak RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from hkc.definitions import load_definitions, load_model_spec, refresh_audit_spec
from hkc.extract import load_extract
from hkc.model import (
    SnapshotCache,
    evaluate_snapshot,
    fit_for,
    history_window,
    plan_snapshots,
    rankers_for,
    run_backtest,
)
from hkc.synth import generate_force, write_force

UNTIL = dt.date(2026, 9, 30)
ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--full", action="store_true", help="also time run_backtest end to end (rolling origins)")
    args = parser.parse_args(argv)
    defs = load_definitions(cwd=ROOT)
    defs = dataclasses.replace(defs, settings=dataclasses.replace(
        defs.settings, tracking=dataclasses.replace(defs.settings.tracking, enabled=False)))
    seconds: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        start = time.perf_counter()
        value = fn(*a, **kw)
        seconds[name] = round(time.perf_counter() - start, 2)
        return value

    with tempfile.TemporaryDirectory() as tmp:
        force = timed("generate", generate_force, people=args.people, seed=args.seed, until=UNTIL,
                      catalogue=defs.catalogue)
        write_force(force, Path(tmp) / "extract", fmt="parquet")
        del force
        extract = timed("load", load_extract, Path(tmp) / "extract", catalogue=defs.catalogue, extract_date=UNTIL)
        started = time.perf_counter()
        specs = {}
        for name in ("logistic", "boosted"):
            spec = load_model_spec(name, definitions=defs)
            specs[name] = dataclasses.replace(spec, evaluation=dataclasses.replace(spec.evaluation,
                                                                                  resamples=args.resamples))
        window = history_window(extract, UNTIL)
        plan = plan_snapshots(window, spec=specs["logistic"])
        cache = SnapshotCache(extract, definitions=defs, label=specs["logistic"].label, window=window)
        timed("snapshots", lambda: [cache(d) for d in plan.dates()])
        models = {}
        for name, spec in specs.items():
            fitted = fit_for(cache, plan, spec, defs)
            seconds[f"train_{name}"], seconds[f"calibrate_{name}"] = fitted.seconds["fit"], fitted.seconds["calibrate"]
            models[spec.ranker] = fitted
        frame = cache(plan.test).frame
        rankers = timed("score_test_snapshot", rankers_for, frame, spec=specs["logistic"], snapshot=plan.test,
                        models=models)
        result = timed("backtest_test_snapshot", evaluate_snapshot, frame, rankers, spec=specs["logistic"],
                       audit_spec=refresh_audit_spec(defs))
        seconds["train_calibrate_backtest_total"] = round(time.perf_counter() - started, 2)
        if args.full:
            timed("run_backtest_with_rolling", run_backtest, extract, definitions=defs, as_of=UNTIL,
                  out=Path(tmp) / "bt", spec=specs["logistic"])
    figures = {
        "benchmark": "model_backtest", "people": args.people, "events": int(len(extract.events)),
        "snapshots": len(plan.dates()), "split": plan.describe(),
        "training_rows": models["model_logistic"].train_rows, "test_rows": int(len(frame)),
        "resamples": args.resamples, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
        "test": {name: {m: r[m] for m in ("roc_auc", "precision_at_k")} | {"precision_at_k_ci": r["ci"]["precision_at_k"]}
                 for name, r in result["rankers"].items()},
        "model_minus_matrix_precision_at_k": {name: c["precision_at_k"] for name, c in result["comparisons"].items()},
        "python": platform.python_version(), "machine": platform.machine(),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
