"""Retention: erase runs and person-level history older than the retention period.

The Information Commissioner found no retention period for the Gangs Matrix, and informal lists
kept of people who had been removed.  :func:`purge` deletes, in ONE transaction, every run whose
as-of date is before ``today - older_than_days`` with all its person-level rows (scores,
contributions, evidence, removed), the decisions made on those runs or at meetings before the
cut-off, the interventions that ended before it, the partners' referrals made before it, the consultation log before it, and the list of people in disclosures of those runs or made before the cut-off.  The
disclosure entries themselves stay (when, to whom, how many people, file hashes) with their people
marked purged.  The purge is logged with counts and the date range only: no id and no content of
what was erased is kept.  On SQLite, deleted rows are overwritten (``secure_delete``) and the file
is vacuumed, so the erased content does not linger in free pages.

>>> purge(store, older_than_days=730, today=date(2026, 10, 1), by="records officer")   # doctest: +SKIP
{'runs': 1, 'first_as_of': '2024-06-30', 'last_as_of': '2024-06-30', 'rows': {...}, ...}
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.members import purge_identities
from hkc.history.schema import (
    DETAIL_TABLES,
    PERSON_TABLES,
    consultations,
    decisions,
    disclosure_people,
    disclosures,
    interventions,
    purges,
    referrals,
    runs,
)
from hkc.history.store import HistoryStore

__all__ = ["purge"]


def purge(store: HistoryStore, *, older_than_days: int, today: dt.date, by: str, dry_run: bool = False) -> dict:
    """Delete history older than ``older_than_days`` before ``today``; return what was (or would be) erased.

    Returns ``{"cutoff", "runs", "first_as_of", "last_as_of", "rows": {table: count}, "purge_id",
    "dry_run"}``.  ``dry_run=True`` counts without deleting or logging.
    """
    if older_than_days < 1:
        raise HistoryError(f"retention of {older_than_days} days: must be at least 1 ([retention] days)")
    by = str(by or "").strip()
    if not by:
        raise HistoryError("a purge needs the name of who ran it (by=...)")
    try:
        cutoff = (today - dt.timedelta(days=older_than_days)).isoformat()
    except OverflowError:
        raise HistoryError(f"retention of {older_than_days:,} days reaches back before the year 1; use at most "
                           f"{(today - dt.date(1, 1, 1)).days:,} days") from None
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        with store.engine.begin() as conn:
            old = conn.execute(sa.select(runs.c.run_id, runs.c.as_of).where(runs.c.as_of < cutoff)
                               .order_by(runs.c.as_of)).all()
            run_ids = [r.run_id for r in old]
            rows: dict[str, int] = {}
            old_runs = runs.c.run_id.in_(run_ids)
            for table in PERSON_TABLES:
                where = table.c.run_id.in_(run_ids)
                rows[table.name] = _count(conn, table, where)
                if not dry_run:
                    conn.execute(table.delete().where(where))
            where = decisions.c.run_id.in_(run_ids) | (decisions.c.meeting_date < cutoff)
            rows["decisions"] = _count(conn, decisions, where)
            if not dry_run:
                conn.execute(decisions.delete().where(where))
            where = consultations.c.consulted_at < cutoff  # the consultation log is kept as long as the runs
            rows["consultations"] = _count(conn, consultations, where)
            if not dry_run:
                conn.execute(consultations.delete().where(where))
            # an intervention that ended before the cut-off (one still running is kept)
            where = interventions.c.end_date.is_not(None) & (interventions.c.end_date < cutoff)
            rows["interventions"] = _count(conn, interventions, where)
            if not dry_run:
                conn.execute(interventions.delete().where(where))
            where = referrals.c.referred_on < cutoff  # a partner's referral made before the cut-off
            rows["referrals"] = _count(conn, referrals, where)
            if not dry_run:
                conn.execute(referrals.delete().where(where))
            gone = disclosures.c.run_id.in_(run_ids) | (sa.func.substr(disclosures.c.disclosed_at, 1, 10) < cutoff)
            purged_disclosures = sa.select(disclosures.c.disclosure_id).where(gone)
            where = disclosure_people.c.disclosure_id.in_(purged_disclosures)
            rows["disclosure_people"] = _count(conn, disclosure_people, where)
            rows.update(purge_identities(conn, cutoff, run_ids, dry_run=dry_run))  # re-key identities, loose links
            rows["runs"] = len(run_ids)
            result = {"cutoff": cutoff, "older_than_days": older_than_days, "runs": len(run_ids),
                      "first_as_of": old[0].as_of if old else None, "last_as_of": old[-1].as_of if old else None,
                      "rows": rows, "dry_run": dry_run, "purge_id": None}
            if dry_run:
                return result
            conn.execute(disclosure_people.delete().where(where))
            conn.execute(disclosures.update().where(gone).values(people_purged=True))
            conn.execute(disclosures.update().where(disclosures.c.run_id.in_(run_ids)).values(run_id=None))
            conn.execute(runs.delete().where(old_runs))
            result["purge_id"] = conn.execute(purges.insert().values(
                purged_at=now, purged_by=by, older_than_days=older_than_days, cutoff=cutoff, runs=len(run_ids),
                first_as_of=result["first_as_of"], last_as_of=result["last_as_of"],
                rows=json.dumps(rows, sort_keys=True))).inserted_primary_key[0]
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: purge failed ({str(exc).splitlines()[0]}); "
                           f"nothing was deleted") from None
    if store.engine.dialect.name == "sqlite" and any(rows.values()):
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")  # rebuild the file so no erased page survives
    return result


def _count(conn: sa.Connection, table: sa.Table, where) -> int:
    """Rows about people; a run's contributions and evidence count the rows inside its Parquet."""
    counted = sa.func.coalesce(sa.func.sum(table.c.rows), 0) if table in DETAIL_TABLES else sa.func.count()
    return int(conn.execute(sa.select(counted).select_from(table).where(where)).scalar_one())
