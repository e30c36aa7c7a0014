"""Dates of a synthetic force: day numbers, the quarters simulated, and ages in quarter-years."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from hkc.dates import previous_quarter_end

EPOCH = dt.date(1970, 1, 1)
MAX_AGE_QUARTERS = 4 * 130  # age tables run to 130 years, in quarter-years


last_quarter_end = previous_quarter_end  # the synthetic force's default end: the last complete quarter


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01 (the day numbers every array of dates holds)."""
    return (d - EPOCH).days


def add_months(d: dt.date, months: int) -> dt.date:
    """``d`` moved by whole months, the day clipped to the month's length."""
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(d.day, last))


@dataclass
class Calendar:
    """The quarters simulated, as day numbers: quarter ``q`` runs from ``edges[q]`` to ``edges[q + 1] - 1``."""

    until: int
    edges: np.ndarray     # quarter starts, then until + 1

    @property
    def start(self) -> int:
        return int(self.edges[0])

    @property
    def quarters(self) -> int:
        return len(self.edges) - 1


def make_calendar(until: dt.date, years: int) -> Calendar:
    """``4 * years`` quarters ending on ``until`` (inclusive)."""
    after = until + dt.timedelta(days=1)
    edges = [day_number(add_months(after, -3 * k)) for k in range(4 * years, -1, -1)]
    return Calendar(until=day_number(until), edges=np.array(edges, dtype=np.int64))


def age_quarters(day: int, dob: np.ndarray) -> np.ndarray:
    """Age in whole quarter-years on ``day`` (an index into the age tables)."""
    return np.clip(((day - dob) * 16) // 1461, 0, MAX_AGE_QUARTERS - 1)
