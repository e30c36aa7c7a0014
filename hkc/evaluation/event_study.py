"""Outcome rates quarter by quarter around the cohort date, for the listed and the near miss.

Why: the report's event-study chart shows *why* the naive before/after misleads.  The listed are
picked at a peak of recorded events, so their rate climbs into the quarter before the cohort date
and falls after it whatever is done; the near miss (ranked just below the cut-off in the same
quarter) show how much of that fall happens without a listing.  Each quarter's rate is the events
in it over the person-years observed in it (the panel's exposure), pooled over the cohorts: an
aggregate, never a person's row.  It is a picture of the data, not an estimate: no interval is
drawn, and the designs' figures are the ones to quote.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from hkc.evaluation.build import YEAR_DAYS, Outcome, outcome_events
from hkc.evaluation.panel import near_miss
from hkc.extract import Extract

__all__ = ["event_study", "QUARTER_DAYS"]

QUARTER_DAYS = YEAR_DAYS / 4
EPOCH = dt.date(1970, 1, 1)


def _days(values: pd.Series) -> np.ndarray:
    return np.array([(pd.Timestamp(v).date() - EPOCH).days for v in values], dtype=np.int64)


def _bins(window_days: int) -> list[tuple[int, int, int]]:
    """``(quarter, low, high)`` offsets from the cohort date: events with low < offset <= high."""
    n = max(1, round(window_days / QUARTER_DAYS))
    edges = [min(round(k * QUARTER_DAYS), window_days) for k in range(n + 1)]
    before = [(-k, -edges[k], -edges[k - 1]) for k in range(n, 0, -1)]
    after = [(k, edges[k - 1], edges[k]) for k in range(1, n + 1)]
    return before + after


def _group(rows: pd.DataFrame, events: pd.DataFrame, bins: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Events, person-years and the rate per bin over ``rows``."""
    c = _days(rows["cohort"])
    low_exposed = _days(rows["window_start"]) - 1 - c          # exposure runs (low_exposed, high_exposed]
    high_exposed = _days(rows["window_end"]) - c
    frame = pd.DataFrame({"person_idx": rows["person_idx"].to_numpy(), "c": c}).rename_axis("row").reset_index()
    joined = frame.merge(events, on="person_idx")
    offset = (joined["day"] - joined["c"]).to_numpy()
    row = joined["row"].to_numpy()
    out = []
    for quarter, low, high in bins:
        lo = np.maximum(low, low_exposed)
        hi = np.minimum(high, high_exposed)
        years = float(np.maximum(hi - lo, 0).sum() / YEAR_DAYS)
        inside = (offset > np.maximum(low, low_exposed[row])) & (offset <= np.minimum(high, high_exposed[row]))
        count = int(inside.sum())
        out.append({"quarter": quarter, "events": count, "person_years": years,
                    "rate_per_person_year": count / years if years > 0 else None})
    return out


def event_study(panel: pd.DataFrame, extract: Extract, *, outcome: Outcome, window_days: int,
                width: float = 1.0) -> dict[str, Any]:
    """Quarterly rates of ``outcome`` for the listed rows and the near miss of :func:`build_panel`'s panel.

    Returns ``{"quarters": [...], "listed": [...], "comparison": [...], "people_listed",
    "people_comparison", "comparison_words"}``; quarter -1 ends on the cohort date, quarter 1 starts
    the day after.
    """
    index = pd.Series(extract.people["person_idx"].to_numpy(), index=extract.people["person_id"].astype(str).to_numpy())
    rows = panel.assign(person_idx=index.loc[panel["person_id"].astype(str)].to_numpy())
    bins = _bins(window_days)
    events = outcome_events(extract, outcome.types, outcome.roles)
    listed = rows[rows["listed"]]
    comparison = near_miss(rows, "listed", width=width)
    return {"quarters": [b[0] for b in bins], "listed": _group(listed, events, bins),
            "comparison": _group(comparison, events, bins),
            "people_listed": int(listed["person_id"].nunique()),
            "people_comparison": int(comparison["person_id"].nunique()),
            "comparison_words": "people ranked just below the cut-off in the same quarter (ranks N+1 to 2N)"}
