"""The consultation log: who consulted whose record, when and why (DPA 2018 s.62).

``hkc explain`` and ``hkc sar`` write one entry before they answer, with a purpose from the
configured list (``[consultation] purposes``); ``hkc log`` reads the log back by person or by who
consulted.  An entry holds ids, the action, the purpose and times — never what was shown.  A
subject-access answer is also logged as a disclosure to the person (audience ``subject``), with the
answer's SHA-256, so the next answer can say it was given.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError, HkcError
from hkc.history.schema import consultations
from hkc.history.store import HistoryStore
from hkc.messages import did_you_mean

__all__ = ["log_consultation", "consultation_log", "check_purpose", "ACTIONS"]

ACTIONS = ("explain", "sar")
NO_PURPOSE = ("say why you are consulting this record: --purpose, one of {choices} (the consultation log keeps who, "
              "when, which person and why)")
UNKNOWN_PURPOSE = "--purpose {purpose!r} is not an allowed purpose{hint}; choose one of {choices} ([consultation] purposes)"


def check_purpose(purpose: str | None, allowed: tuple[str, ...]) -> str:
    """The purpose as configured, or one clear line saying which purposes are allowed."""
    choices = ", ".join(repr(p) for p in allowed)
    if not purpose or not purpose.strip():
        raise HkcError(NO_PURPOSE.format(choices=choices))
    folded = {p.casefold(): p for p in allowed}
    found = folded.get(" ".join(purpose.split()).casefold())
    if found is None:
        raise HkcError(UNKNOWN_PURPOSE.format(purpose=purpose, hint=did_you_mean(purpose, list(allowed)),
                                              choices=choices))
    return found


def log_consultation(store: HistoryStore, *, person_id: str, action: str, purpose: str, by: str,
                     run_as_of: dt.date | str | None = None, when: dt.datetime | None = None) -> int:
    """Record one consultation; returns its id.  Written before the answer is shown, so an answer is never
    given without its entry."""
    if action not in ACTIONS:
        raise ValueError(f"unknown consultation action {action!r}")
    row = {"consulted_at": (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
           "consulted_by": by, "person_id": str(person_id), "action": action, "purpose": purpose,
           "run_as_of": str(run_as_of)[:10] if run_as_of else None}
    try:
        with store.engine.begin() as conn:
            return int(conn.execute(consultations.insert().values(**row)).inserted_primary_key[0])
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not log the consultation "
                           f"({str(exc).splitlines()[0]}); nothing was shown") from None


def consultation_log(store: HistoryStore, *, person_id: str | None = None, by: str | None = None) -> pd.DataFrame:
    """The log, oldest first, optionally for one person or one consulter."""
    query = sa.select(consultations).order_by(consultations.c.consulted_at, consultations.c.consultation_id)
    if person_id is not None:
        query = query.where(consultations.c.person_id == str(person_id))
    if by is not None:
        query = query.where(consultations.c.consulted_by == by)
    return store.frame(query)
