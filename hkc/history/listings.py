"""Who was eligible, listed and decided about in recent runs: the history the audit of what is decided reads.

The refresh audits the periphery, the meeting's decisions, additions and removals, and who was
ever listed or adopted over the last four runs (:mod:`hkc.audit.decided`).  The audit may not read
the history itself, so the refresh asks these read-only questions and passes plain frames on:

* :func:`recent_runs` — the last runs before (or up to) an as-of date;
* :func:`recent_listings` — their ``as_of, person_id, eligible, in_cohort`` rows, only of people
  eligible or listed (a run stores everyone with a non-zero score, about two thirds of a big
  extract; the audit needs the few eligible), read run by run through the scores table's
  ``(run_id, person_id)`` index;
* :func:`decisions_for_runs` — the decisions recorded about given runs (never their free-text reasons).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from hkc.history.schema import decisions, runs, scores
from hkc.history.store import HistoryStore, StoredRun

__all__ = ["LISTING_COLUMNS", "DECISION_COLUMNS", "recent_runs", "recent_listings", "decisions_for_runs"]

LISTING_COLUMNS = ["as_of", "person_id", "eligible", "in_cohort"]
DECISION_COLUMNS = ["as_of", "run_id", "person_id", "meeting_date", "decision", "decision_id"]


def recent_runs(store: HistoryStore, as_of: dt.date, quarters: int = 4, *,
                include_as_of: bool = False) -> list[StoredRun]:
    """The stored runs the last ``quarters`` runs up to ``as_of`` are made of, oldest first.

    By default the run of ``as_of`` itself is excluded (a refresh is writing it, perhaps replacing a
    stored one, and adds its own rows), so ``quarters - 1`` earlier runs are returned; with
    ``include_as_of`` (auditing a stored run after the fact) the run of ``as_of`` counts as one of
    the ``quarters``.
    """
    if quarters < 1:
        return []
    if include_as_of:
        stored = [r for r in store.list_runs() if r.as_of <= as_of]
        return stored[-quarters:]
    stored = [r for r in store.list_runs() if r.as_of < as_of]
    return stored[-(quarters - 1):] if quarters > 1 else []


def recent_listings(store: HistoryStore, as_of: dt.date, quarters: int = 4, *,
                    include_as_of: bool = False) -> pd.DataFrame:
    """``as_of`` (text), ``person_id``, ``eligible``, ``in_cohort`` of the people eligible or listed in
    :func:`recent_runs`, oldest run first; empty (with those columns) when there is none."""
    chosen = recent_runs(store, as_of, quarters, include_as_of=include_as_of)
    parts = []
    for run in chosen:  # one run at a time: each reads only its own stretch of the (run_id, person_id) index
        query = (sa.select(runs.c.as_of, scores.c.person_id, scores.c.eligible, scores.c.in_cohort)
                 .join(runs, runs.c.run_id == scores.c.run_id)
                 .where(scores.c.run_id == run.run_id, sa.or_(scores.c.eligible, scores.c.in_cohort))
                 .order_by(scores.c.person_id))
        parts.append(store.frame(query))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=bool if c in ("eligible", "in_cohort") else object)
                             for c in LISTING_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["as_of"] = out["as_of"].astype(str)
    out["person_id"] = out["person_id"].astype(str)
    for col in ("eligible", "in_cohort"):
        out[col] = out[col].astype(bool)
    return out[LISTING_COLUMNS]


def _keys(items: Iterable[int | str | dt.date | StoredRun]) -> tuple[list[int], list[str]]:
    ids, dates = [], []
    for item in items:
        if isinstance(item, StoredRun):
            dates.append(item.as_of.isoformat())
        elif isinstance(item, dt.date):
            dates.append(item.isoformat())
        elif isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        else:
            dates.append(dt.date.fromisoformat(str(item)).isoformat())
    return ids, dates


def decisions_for_runs(store: HistoryStore, which: Iterable[int | str | dt.date | StoredRun]) -> pd.DataFrame:
    """The decisions recorded about the given runs, by run id (int) or as-of date (date, ``StoredRun`` or
    ``YYYY-MM-DD``), oldest meeting first: ``as_of, run_id, person_id, meeting_date, decision, decision_id``.

    Runs are matched on their as-of date as well as their id: re-running an as-of date re-points its
    decisions to the new run, and the date is what stays.
    """
    ids, dates = _keys(which)
    if not ids and not dates:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})
    match = sa.or_(decisions.c.run_id.in_(ids) if ids else sa.false(),
                   decisions.c.as_of.in_(dates) if dates else sa.false())
    query = (sa.select(*(decisions.c[c] for c in DECISION_COLUMNS)).where(match)
             .order_by(decisions.c.as_of, decisions.c.meeting_date, decisions.c.decision_id))
    out = store.frame(query)
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})
    out["person_id"] = out["person_id"].astype(str)
    return out[DECISION_COLUMNS]
