"""Per-group summaries beside the rates: fairlearn's disparity measures, score quantiles, calibration.

Helpers of :func:`hkc.audit.groups.audit_selection`: each reads the frequency table
(:mod:`hkc.audit.table`) or the score and outcome columns and returns plain numbers.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)

from hkc.audit.bootstrap import finite_or_none
from hkc.audit.table import FrequencyTable, score_bands

__all__ = ["QUANTILES", "calibration_by_band", "disparity_measures", "score_summary"]

QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}


def disparity_measures(table: FrequencyTable, attr: str, include: list[str], has_outcome: bool) -> dict[str, Any]:
    """fairlearn's disparity measures over the groups in ``include`` (weighted frequency table).

    Returns ``groups`` (``include``) and each measure (demographic parity; with an outcome also
    equalized odds and equal opportunity), ``None`` with fewer than two groups or a non-finite value.
    """
    names = np.asarray(table.groups[attr], dtype=object)
    keep = np.isin(names[table.index[attr]], include)
    out: dict[str, Any] = {"groups": list(include)}
    measures = {"demographic_parity_difference": demographic_parity_difference,
                "demographic_parity_ratio": demographic_parity_ratio}
    if has_outcome:
        measures |= {"equalized_odds_difference": equalized_odds_difference,
                     "equalized_odds_ratio": equalized_odds_ratio,
                     "equal_opportunity_difference": equal_opportunity_difference,
                     "equal_opportunity_ratio": equal_opportunity_ratio}
    for name, fn in measures.items():
        if len(include) < 2:
            out[name] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(table.outcome[keep], table.selected[keep], sensitive_features=names[table.index[attr]][keep],
                       sample_weight=table.weight[keep])
        out[name] = finite_or_none(value)
    return out


def score_summary(score: np.ndarray, codes: np.ndarray, g: int) -> list[dict[str, float]]:
    """Per group code ``0 … g-1``: the score's ``min``, :data:`QUANTILES` and ``max`` (``{}`` for an empty group)."""
    frame = pd.DataFrame({"g": codes, "s": score})
    grouped = frame.groupby("g")["s"]
    q = grouped.quantile(list(QUANTILES.values())).unstack()
    low, high = grouped.min(), grouped.max()
    out = []
    for i in range(g):
        if i not in q.index:
            out.append({})
            continue
        row = {"min": float(low[i])} | {k: float(q.loc[i, v]) for k, v in QUANTILES.items()}
        out.append(row | {"max": float(high[i])})
    return out


def calibration_by_band(score: np.ndarray, outcome: np.ndarray, codes: np.ndarray, names: list[str],
                        bands: int) -> list[dict[str, Any]]:
    """Per group and score band (:func:`~hkc.audit.table.score_bands`): ``n``, observed outcome rate, mean score."""
    band, labels = score_bands(score, bands)
    frame = pd.DataFrame({"g": codes, "b": band, "y": outcome, "s": score})
    table = frame.groupby(["g", "b"]).agg(n=("y", "size"), observed=("y", "mean"), mean_score=("s", "mean"))
    return [{"group": names[g], "band": labels[b], "band_index": int(b), "n": int(row.n),
             "observed_rate": float(row.observed), "mean_score": float(row.mean_score)}
            for (g, b), row in table.iterrows()]
