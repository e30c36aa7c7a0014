"""Time the fairness audit with its bootstrap on a large synthetic scored population.

    python -m benchmarks.audit_bootstrap --rows 1000000 --resamples 1000

Random groups (6 ethnicities × 4 sexes), a continuous score, selection = the top 5% of scores,
and a 0/1 outcome that depends weakly on the score.  Times :func:`hkc.audit.groups.audit_selection`
(MetricFrame per attribute and for the intersection, calibration, fairlearn disparities and the
bootstrap intervals for every rate and ratio) and prints one JSON object: seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import time

import numpy as np
import pandas as pd

from hkc.audit import audit_selection
from hkc.definitions import AuditSpec
from hkc.extract import ETHNICITY_CODES, SEX_CODES


def synthetic(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ethnicity = rng.choice(np.array(ETHNICITY_CODES, dtype=object), rows, p=[0.09, 0.04, 0.03, 0.8, 0.02, 0.02])
    sex = rng.choice(np.array(SEX_CODES, dtype=object), rows, p=[0.49, 0.49, 0.01, 0.01])
    score = rng.gamma(2.0, 10.0, rows)
    outcome = (rng.random(rows) < 1 / (1 + np.exp(-(score - 40) / 10))).astype(np.int8)
    return pd.DataFrame({"ethnicity": ethnicity, "sex": sex, "risk_score": score,
                         "selected": score >= np.quantile(score, 0.95), "outcome": outcome})


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    frame = synthetic(args.rows, args.seed)
    spec = AuditSpec()
    spec = dataclasses.replace(spec, bootstrap=dataclasses.replace(spec.bootstrap, resamples=args.resamples))
    start = time.perf_counter()
    result = audit_selection(frame, selected="selected", by=["ethnicity", "sex"], score="risk_score",
                             outcome="outcome", spec=spec)
    seconds = time.perf_counter() - start
    figures = {"benchmark": "audit_bootstrap", "rows": args.rows, "resamples": args.resamples,
               "groups": {a: len(v["groups"]) for a, v in result["attributes"].items()},
               "distinct_rows": result["provenance"]["distinct_rows"], "seconds": round(seconds, 2),
               "peak_rss_mb": peak_rss_mb(), "python": platform.python_version(), "machine": platform.machine()}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
