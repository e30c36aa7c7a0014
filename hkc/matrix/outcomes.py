"""The outcome label: who had a knife-related event as offender or suspect in a window after a date.

Used by the refresh's retrospective audit and by the model's training snapshots, so both count the
same thing as an outcome.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ['knife_outcome']


def knife_outcome(events: pd.DataFrame, *, people: pd.DataFrame, start: dt.date, days: int,
                  types: tuple[str, ...], roles: tuple[str, ...]) -> np.ndarray:
    """1 for each person (rows of ``people``) with an outcome event in ``(start, start + days]``."""
    dates = events["date"].to_numpy()
    lo, hi = np.datetime64(start.isoformat(), "s"), np.datetime64((start + dt.timedelta(days=days)).isoformat(), "s")
    hit = (dates > lo) & (dates <= hi) & events["type"].isin(types).to_numpy() & events["role"].isin(roles).to_numpy()
    who = set(events.loc[hit, "person_idx"].to_numpy().tolist())
    return people["person_idx"].isin(who).to_numpy().astype(int)
