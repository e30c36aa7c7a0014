"""The referrals record: partners asking the partnership to look at a child, kept with the history.

One row per referral (the person's police id when the partner knows it, else the partner's own
reference for the child; the referring agency, its reason and the date), with who recorded it and
the file it came from.  The import is all or nothing (:func:`hkc.partnership.import_referrals`);
re-importing a file of the same name (or the same content) replaces what it stored before, so a
partner's updated list is not counted twice.  A referral is not an event: it never adds risk
points.  The refresh shows the last year's referrals in both packs (:func:`recent_referrals`), and
the purge erases those referred before its cut-off.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.aliases import Identities
from hkc.history.schema import referrals
from hkc.history.store import HistoryStore

__all__ = ["record_referrals", "stored_referrals", "recent_referrals", "REFERRAL_COLUMNS", "RECENT_DAYS"]

REFERRAL_COLUMNS = ["person_id", "referral_ref", "agency", "reason", "referred_on", "listed"]
RECENT_DAYS = 365  # how far back a pack shows referrals


def record_referrals(store: HistoryStore, rows: list[dict], *, source_sha256: str) -> tuple[int, int]:
    """Store ``rows`` in one transaction, replacing whatever the same file stored before (the same
    SHA-256, or the same ``source_file`` name as the rows'); returns (inserted, replaced)."""
    names = sorted({str(r["source_file"]) for r in rows if r.get("source_file")})
    same = referrals.c.source_sha256 == source_sha256
    if names:
        same = same | referrals.c.source_file.in_(names)
    try:
        with store.engine.begin() as conn:
            replaced = conn.execute(referrals.delete().where(same)).rowcount
            if rows:
                conn.execute(referrals.insert(), rows)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not store the referrals "
                           f"({str(exc).splitlines()[0]}); nothing was imported") from None
    return len(rows), replaced


def stored_referrals(store: HistoryStore, person_ids=None) -> pd.DataFrame:
    """Stored referrals, by date (optionally only those naming one of ``person_ids``)."""
    query = sa.select(referrals).order_by(referrals.c.referred_on, referrals.c.referral_id)
    if person_ids is not None:
        query = query.where(referrals.c.person_id.in_([str(p) for p in person_ids]))
    return store.frame(query)


def recent_referrals(store: HistoryStore, as_of: dt.date, ids: Identities, listed, *,
                     days: int = RECENT_DAYS) -> pd.DataFrame:
    """The referrals made on or before ``as_of`` and at most ``days`` before it (:data:`REFERRAL_COLUMNS`),
    newest first: ``person_id`` under the person's latest id (None when the partner gave only its
    reference), and ``listed``: "yes" / "no" for a known person against ``listed`` (the ids listed this
    quarter), "cannot tell" when no police id is known."""
    first = (as_of - dt.timedelta(days=days)).isoformat()
    query = (sa.select(referrals).where((referrals.c.referred_on <= as_of.isoformat())
                                        & (referrals.c.referred_on >= first))
             .order_by(referrals.c.referred_on.desc(), referrals.c.referral_id))
    stored = store.frame(query)
    if stored.empty:
        return pd.DataFrame(columns=REFERRAL_COLUMNS)
    on_list = {str(p) for p in listed}
    people = [None if pd.isna(p) or not str(p) else ids.latest_id(str(p)) for p in stored["person_id"]]
    return pd.DataFrame({
        "person_id": people,
        "referral_ref": [None if pd.isna(r) else str(r) for r in stored["referral_ref"]],
        "agency": stored["agency"].astype(str).to_numpy(),
        "reason": stored["reason"].astype(str).to_numpy(),
        "referred_on": stored["referred_on"].astype(str).to_numpy(),
        "listed": ["cannot tell (no police id)" if p is None else "yes" if p in on_list else "no" for p in people],
    }, columns=REFERRAL_COLUMNS)
