"""Dates of a synthetic force: day numbers, the quarters simulated, ages in quarter-years, and the
quarter ends of a force that lives through quarters (``2024Q1..2026Q3``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from hkc.dates import QUARTER_RE, previous_quarter_end, quarter_end, quarter_of, shift_quarters

EPOCH = dt.date(1970, 1, 1)
MAX_AGE_QUARTERS = 4 * 130  # age tables run to 130 years, in quarter-years
MAX_EXTRACTS = 40           # quarterly extracts of one force: ten years
QUARTERS_EXAMPLE = "2024Q1..2026Q3"


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


def make_calendar(until: dt.date, years: int, extra_quarters: int = 0) -> Calendar:
    """``4 * years + extra_quarters`` quarters ending on ``until`` (inclusive)."""
    after = until + dt.timedelta(days=1)
    edges = [day_number(add_months(after, -3 * k)) for k in range(4 * years + extra_quarters, -1, -1)]
    return Calendar(until=day_number(until), edges=np.array(edges, dtype=np.int64))


def age_quarters(day: int, dob: np.ndarray) -> np.ndarray:
    """Age in whole quarter-years on ``day`` (an index into the age tables)."""
    return np.clip(((day - dob) * 16) // 1461, 0, MAX_AGE_QUARTERS - 1)


def _one_quarter(text: str, whole: str) -> dt.date:
    m = QUARTER_RE.match(text.strip())
    if not m:
        where = "" if text.strip() == whole.strip() else f" in {whole.strip()!r}"
        raise ValueError(f"{text.strip()!r}{where} is not a quarter (expected a year then Q1 to Q4, "
                         f"e.g. {QUARTERS_EXAMPLE})")
    return quarter_of(int(m.group(1)), int(m.group(2)))


def parse_quarters(text: str) -> list[dt.date]:
    """The quarter ends of ``FIRST..LAST`` (e.g. ``2024Q1..2026Q3``, both included), or of one quarter.

    Raises :class:`ValueError` with one line for anything else: a bad quarter, LAST before FIRST,
    or more than :data:`MAX_EXTRACTS` quarters.

    >>> [d.isoformat() for d in parse_quarters("2025Q4..2026Q1")]
    ['2025-12-31', '2026-03-31']
    """
    first_text, sep, last_text = str(text).partition("..")
    first = _one_quarter(first_text, text)
    last = _one_quarter(last_text, text) if sep else first
    if last < first:
        raise ValueError(f"{text!r}: {last_text.strip()} is before {first_text.strip()}; give the earlier quarter "
                         f"first, e.g. {QUARTERS_EXAMPLE}")
    ends = [first]
    while ends[-1] < last:
        ends.append(shift_quarters(ends[-1], 1))
    if len(ends) > MAX_EXTRACTS:
        raise ValueError(f"{text!r} is {len(ends)} quarters; at most {MAX_EXTRACTS} (ten years) can be generated")
    return ends


def check_quarters(quarters: object) -> list[dt.date]:
    """``quarters`` checked: one or more quarter ends (dates), strictly ascending, at most MAX_EXTRACTS."""
    ends = list(quarters) if isinstance(quarters, (list, tuple)) else None
    if not ends or len(ends) > MAX_EXTRACTS:
        raise ValueError(f"quarters must be a list of 1 to {MAX_EXTRACTS} quarter ends, not {quarters!r}")
    for d in ends:
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime) or quarter_end(d) != d:
            raise ValueError(f"quarters: {d!r} is not the last day of a quarter")
    if any(b <= a for a, b in pairwise(ends)):
        raise ValueError("quarters must be in ascending order, each once")
    return ends
