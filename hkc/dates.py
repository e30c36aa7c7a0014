"""Dates and quarters: quarter ends, shifting by quarters, and reading a date or a quarter.

The one home of quarter arithmetic: the model's snapshots, the demo, the synthetic force and
every command-line date option use these.

>>> quarter_end(dt.date(2026, 11, 22))
datetime.date(2026, 9, 30)
>>> previous_quarter_end(dt.date(2026, 9, 30))
datetime.date(2026, 6, 30)
>>> parse_day("2026Q3"), parse_day("2026-08-01")
(datetime.date(2026, 9, 30), datetime.date(2026, 8, 1))
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["quarter_end", "previous_quarter_end", "shift_quarters", "quarter_ends", "quarter_of",
           "parse_day", "QUARTER_RE", "NOT_A_DAY"]

QUARTER_RE = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
NOT_A_DAY = "{value!r} is not a date (YYYY-MM-DD) or a quarter (e.g. 2026Q3)"
_QUARTER_END = {3: 31, 6: 30, 9: 30, 12: 31}


def quarter_end(day: dt.date) -> dt.date:
    """The last quarter end on or before ``day``."""
    for month in (12, 9, 6, 3):
        q = dt.date(day.year, month, _QUARTER_END[month])
        if q <= day:
            return q
    return dt.date(day.year - 1, 12, 31)


def previous_quarter_end(day: dt.date) -> dt.date:
    """The end of the quarter before the one that contains ``day`` (on a quarter's last day, the one before).

    >>> previous_quarter_end(dt.date(2026, 3, 31))
    datetime.date(2025, 12, 31)
    """
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1) - dt.timedelta(days=1)


def shift_quarters(day: dt.date, quarters: int) -> dt.date:
    """The quarter end ``quarters`` quarters after (negative: before) the quarter end ``day``."""
    months = day.year * 12 + day.month - 1 + 3 * quarters
    year, month = divmod(months, 12)
    return dt.date(year, month + 1, _QUARTER_END[month + 1])


def quarter_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every quarter end in ``[start, end]``, ascending."""
    out, q = [], quarter_end(end)
    while q >= start:
        out.append(q)
        q = shift_quarters(q, -1)
    return out[::-1]


def quarter_of(year: int, quarter: int) -> dt.date:
    """The last day of ``quarter`` (1-4) of ``year``."""
    return shift_quarters(dt.date(year - 1, 12, 31), quarter)


def parse_day(value: str) -> dt.date:
    """``YYYY-MM-DD``, or a quarter such as ``2026Q3`` / ``2026-Q3`` (its last day).

    Raises :class:`ValueError` with :data:`NOT_A_DAY` for anything else.
    """
    text = value.strip()
    m = QUARTER_RE.match(text)
    if m:
        return quarter_of(int(m.group(1)), int(m.group(2)))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(NOT_A_DAY.format(value=value)) from None
