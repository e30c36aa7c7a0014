"""The interventions record: what the partnership did, for whom, from when, kept with the history.

One row per intervention (person, start and end dates, type, lead agency, engagement), with who
recorded it and the file it came from.  The import is all or nothing
(:func:`hkc.partnership.import_interventions`); re-importing the same file replaces what it stored
before, so a file imported twice is not counted twice.  ``hkc evaluate`` reads the record to tell
the people who received an intervention from those who were only listed; subject access shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.aliases import Identities
from hkc.history.schema import disclosure_people, disclosures, interventions, scores
from hkc.history.store import HistoryStore

__all__ = ["record_interventions", "stored_interventions", "known_person_ids", "partner_person_ids",
           "running_interventions", "INTERVENTION_COLUMNS", "NOT_RECEIVED"]

NOT_RECEIVED = ("declined", "not_reached")   # engagement values for an intervention the person did not receive

INTERVENTION_COLUMNS = ["person_id", "start_date", "end_date", "type", "lead_agency", "engagement"]


def record_interventions(store: HistoryStore, rows: list[dict], *, source_sha256: str) -> tuple[int, int]:
    """Store ``rows`` in one transaction, replacing whatever the same file (by SHA-256) stored before;
    returns (inserted, replaced)."""
    try:
        with store.engine.begin() as conn:
            replaced = conn.execute(interventions.delete().where(
                interventions.c.source_sha256 == source_sha256)).rowcount
            if rows:
                conn.execute(interventions.insert(), rows)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not store the interventions "
                           f"({str(exc).splitlines()[0]}); nothing was imported") from None
    return len(rows), replaced


def stored_interventions(store: HistoryStore, person_ids=None) -> pd.DataFrame:
    """Stored interventions, by start date (optionally only about ``person_ids``)."""
    query = sa.select(interventions).order_by(interventions.c.start_date, interventions.c.intervention_id)
    if person_ids is not None:
        query = query.where(interventions.c.person_id.in_([str(p) for p in person_ids]))
    return store.frame(query)


def known_person_ids(store: HistoryStore, person_ids) -> set[str]:
    """Which of ``person_ids`` the history has scored in any stored run."""
    wanted = sorted({str(p) for p in person_ids})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start:start + 500]
        frame = store.frame(sa.select(scores.c.person_id).where(scores.c.person_id.in_(chunk)).distinct())
        found |= set(frame["person_id"].astype(str))
    return found


def partner_person_ids(store: HistoryStore) -> list[str]:
    """Everyone the disclosure log says went to partners: the only people a partner can name by pseudonym."""
    query = (sa.select(disclosure_people.c.person_id).distinct()
             .join(disclosures, disclosures.c.disclosure_id == disclosure_people.c.disclosure_id)
             .where(disclosures.c.audience.like("partner%")))  # every partner pack, per agency too
    return sorted(store.frame(query)["person_id"].astype(str))


def running_interventions(store: HistoryStore, person_ids: Iterable[object], as_of: dt.date,
                          ids: Identities) -> pd.DataFrame:
    """Per id asked about: the interventions running on ``as_of`` (started by then, not ended before it, and
    received: not declined or not reached), as one text — ``"one to one (Youth Justice Service) since
    2026-07-10"``, several joined by ``"; "`` — for the next pack (``person_id, intervention``; only people
    with one).  They follow the person through re-keyed ids, as decisions do."""
    of = ids.ids_of([str(p) for p in person_ids])    # {stored id: the id asked about}
    if not of:
        return pd.DataFrame(columns=["person_id", "intervention"])
    stored = stored_interventions(store, list(of))
    day = as_of.isoformat()
    running = stored[(stored["start_date"].astype(str) <= day)
                     & (stored["end_date"].isna() | (stored["end_date"].astype(str) >= day))
                     & ~stored["engagement"].astype(str).isin(NOT_RECEIVED)]
    if running.empty:
        return pd.DataFrame(columns=["person_id", "intervention"])
    text = (running["type"].astype(str).str.replace("_", " ") + " (" + running["lead_agency"].astype(str)
            + ") since " + running["start_date"].astype(str))
    frame = pd.DataFrame({"person_id": running["person_id"].astype(str).map(of).to_numpy(), "text": text.to_numpy()})
    joined = frame.groupby("person_id", sort=True)["text"].agg(lambda t: "; ".join(dict.fromkeys(t)))
    return joined.rename("intervention").reset_index()
