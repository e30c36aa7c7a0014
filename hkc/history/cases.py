"""Case states: a person adopted by the partnership meeting is an open case until a meeting closes it.

>>> open_cases(store, dt.date(2026, 9, 30))                                        # doctest: +SKIP

Why: the list churns.  A child the meeting adopted can fall below next quarter's cut-off, or stop
being eligible, while the partnership is still working with them; the refresh must not count them
as "removed" nor let their case drop out of view.  A case opens at the meeting that records
``adopt`` and stays open until a later meeting records ``close`` (with its reason); a second
``adopt`` after a close opens a new case.  Only decisions from meetings on or before ``as_of``
count, so re-running an old quarter gives the answer it gave then.  Decisions follow the person
through re-keyed ids (:mod:`hkc.history.aliases`), as the decision history does.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from hkc.history.aliases import Identities, identities
from hkc.history.store import HistoryStore

__all__ = ["open_cases", "case_states", "removed_on_review", "CASE_COLUMNS", "OPENING", "CLOSING", "NOT_LISTED",
           "REMOVING", "REVIEW_REMOVED"]

OPENING, CLOSING = "adopt", "close"
REMOVING = ("remove", "remove_on_review")   # a meeting took the person off future lists
REVIEW_REMOVED = "removed by partnership review on {date}"   # the eligibility reason while it holds
# why an open case's person is not listed this quarter, in words (the refresh decides which applies)
NOT_LISTED = {"cutoff": "overtaken at the cut-off", "no_longer_eligible": "no longer eligible",
              "not_in_extract": "not in the extract"}
CASE_COLUMNS = ["person_id", "opened", "latest_decision", "latest_meeting_date", "review_date", "lead_agency",
                "intervention"]


def _latest_given(rows: pd.DataFrame, column: str) -> str | None:
    """The last non-blank value of ``column`` in ``rows`` (already in meeting order), or None."""
    given = rows[column].dropna().astype(str).str.strip()
    given = given[given != ""]
    return given.iloc[-1] if len(given) else None


def open_cases(store: HistoryStore, as_of: dt.date, ids: Identities | None = None) -> pd.DataFrame:
    """Everyone whose case is open on ``as_of`` (:data:`CASE_COLUMNS`), one row each under their latest id.

    ``opened``: the meeting date of the adopt that opened the case; ``latest_decision`` and
    ``latest_meeting_date``: their latest decision since; ``review_date``, ``lead_agency`` and
    ``intervention``: the latest given with any decision since the case opened (None when none was).
    ``ids``: the resolved identities (read from the store when None).
    """
    stored = store.decisions()
    if stored.empty:
        return pd.DataFrame(columns=CASE_COLUMNS)
    known = ids if ids is not None else identities(store)
    return case_states(known.follow(stored).drop(columns="stored_id"), as_of)


def case_states(decisions: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The open cases (:data:`CASE_COLUMNS`) in rows of the ``decisions`` table whose ``person_id`` is already
    each person's latest id: only meetings on or before ``as_of`` count, in meeting order."""
    stored = decisions[decisions["meeting_date"].astype(str).str.slice(0, 10) <= as_of.isoformat()]
    stored = stored.assign(decision=stored["decision"].astype(str).str.strip().str.lower())
    rows = []
    for person, part in stored.sort_values(["meeting_date", "decision_id"], kind="stable").groupby(
            "person_id", sort=True):
        states = part["decision"].tolist()
        opening = max((i for i, d in enumerate(states) if d == OPENING), default=None)
        if opening is None or CLOSING in states[opening + 1:]:
            continue
        since = part.iloc[opening:]
        rows.append({"person_id": str(person), "opened": str(since["meeting_date"].iloc[0])[:10],
                     "latest_decision": states[-1], "latest_meeting_date": str(part["meeting_date"].iloc[-1])[:10],
                     **{c: _latest_given(since, c) for c in ("review_date", "lead_agency", "intervention")}})
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def removed_on_review(store: HistoryStore, as_of: dt.date, ids: Identities | None = None) -> pd.DataFrame:
    """People whose latest decision on or before ``as_of`` is ``remove`` (``person_id`` under their latest id,
    ``meeting_date``, ``reason``): the meeting took them off future lists.  The refresh keeps them off until a
    risk event dated after that meeting arrives (:func:`hkc.refresh.frames.apply_reviews`)."""
    stored = store.decisions()
    columns = ["person_id", "meeting_date", "reason"]
    if stored.empty:
        return pd.DataFrame(columns=columns)
    known = ids if ids is not None else identities(store)
    stored = known.follow(stored).drop(columns="stored_id")
    stored = stored[stored["meeting_date"].astype(str).str.slice(0, 10) <= as_of.isoformat()]
    last = stored.sort_values(["meeting_date", "decision_id"], kind="stable").groupby("person_id", sort=True).tail(1)
    last = last[last["decision"].astype(str).str.strip().str.lower().isin(REMOVING)]
    return pd.DataFrame({"person_id": last["person_id"].astype(str).to_numpy(),
                         "meeting_date": last["meeting_date"].astype(str).str.slice(0, 10).to_numpy(),
                         "reason": last["reason"].to_numpy()}, columns=columns)
