"""Can this extract support a score as of this date?  Three checks, each one clear line and a named override.

A valid extract can still be the wrong one.  A delta export holding only the last quarter's events,
an as-of date months after the last recorded event, or an extract that has lost a fifth of its people
since last quarter each produce a plausible list with nothing wrong in any row.  So the refresh (and
``hkc validate``) checks:

* ``short_history`` — the earliest event is later than the as-of date minus the longest indicator
  lookback (with ``[data] coverage_tolerance_days``): the score cannot see the history it counts.
* ``stale`` — the as-of date is more than ``[data] max_days_after_latest_event`` after the latest event:
  whatever happened since is missing and scores fall as if nothing had (both judged only when the
  extract holds at least ``[data] coverage_min_events`` events: the span of a handful of events says
  nothing about what an extract covers, and the run says so);
* ``shrunk`` — people or events fell by more than ``[data] max_shrink`` against the previous stored
  run: a partial extract, or a filter gone wrong (judged when the previous run read at least
  ``coverage_min_events`` events).

A check the analyst has judged acceptable is passed with its flag (``--accept-short-history``,
``--accept-stale``, ``--accept-shrink``); the run records which were accepted and why they fired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from hkc.definitions import Catalogue, DataSettings
from hkc.errors import ExtractError

__all__ = ["CoverageProblem", "coverage_problems", "shrink_problems", "refuse_or_accept", "CHECKS"]

CHECKS = {"short_history": "--accept-short-history", "stale": "--accept-stale", "shrunk": "--accept-shrink"}


@dataclass(frozen=True)
class CoverageProblem:
    check: str      # a key of CHECKS
    message: str    # one line, saying what is wrong, why it matters and how to fix or accept it

    @property
    def flag(self) -> str:
        return CHECKS[self.check]

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "flag": self.flag, "message": self.message}


def _day(value) -> dt.date:
    return pd.Timestamp(value).date()


def coverage_problems(events: pd.DataFrame, *, as_of: dt.date, catalogue: Catalogue,
                      settings: DataSettings) -> tuple[list[CoverageProblem], list[str]]:
    """The short-history and stale checks on ``events`` (a loaded extract's); returns (problems, notes)."""
    problems, notes = [], []
    if not len(events):
        return problems, notes
    first, latest = _day(events["date"].min()), _day(events["date"].max())
    lookback = max(i.lookback_days for i in catalogue.indicators.values())
    start = as_of - dt.timedelta(days=lookback)
    if len(events) < settings.coverage_min_events:
        notes.append(f"coverage and freshness not judged: {len(events):,} events (fewer than "
                     f"{settings.coverage_min_events:,}) say nothing about the span an extract covers")
        return problems, notes
    if first > start + dt.timedelta(days=settings.coverage_tolerance_days):
        problems.append(CoverageProblem("short_history", (
            f"the extract's earliest event is on {first}, but the score looks back {lookback:,} days before the as-of "
            f"date {as_of} (to {start}): an extract starting later (a delta export?) cannot support the score; give an "
            f"extract covering {start} onward, or accept it with --accept-short-history")))
    gap = (as_of - latest).days
    if gap > settings.max_days_after_latest_event:
        problems.append(CoverageProblem("stale", (
            f"the as-of date {as_of} is {gap:,} days after the extract's latest event ({latest}): whatever happened "
            f"since is missing and scores would fall as if nothing had; score as of a date within "
            f"{settings.max_days_after_latest_event} days of {latest}, use a fresher extract, or accept it with "
            f"--accept-stale")))
    return problems, notes


def shrink_problems(now: dict[str, dict[str, int]], before: dict[str, dict[str, int]] | None, *,
                    before_as_of: dt.date | str | None, settings: DataSettings) -> list[CoverageProblem]:
    """People or events used fell by more than ``max_shrink`` against the previous run's manifest counts."""
    problems = []
    if ((before or {}).get("events", {}).get("used") or 0) < settings.coverage_min_events:
        return problems  # a handful of rows: a change in them says nothing about a partial extract
    for kind in ("people", "events"):
        was = (before or {}).get(kind, {}).get("used")
        is_ = now.get(kind, {}).get("used")
        if not was or is_ is None:
            continue
        fall = (was - is_) / was
        if fall > settings.max_shrink:
            problems.append(CoverageProblem("shrunk", (
                f"{kind} fell from {was:,} in the run of {before_as_of} to {is_:,} ({fall:.0%}, more than the "
                f"{settings.max_shrink:.0%} allowed by [data] max_shrink): a partial extract or a filter gone wrong "
                f"would list the wrong people; check the extract, or accept it with --accept-shrink")))
    return problems


def refuse_or_accept(problems: list[CoverageProblem], accept: frozenset[str] | set[str],
                     *, file: str | None = None) -> list[dict[str, str]]:
    """Raise the first problem not accepted (one line, exit 2); return the accepted ones for the run's record."""
    for p in problems:
        if p.check not in accept:
            raise ExtractError(p.message, file=file)
    return [p.as_dict() for p in problems]
