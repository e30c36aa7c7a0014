"""What tells a re-keyed cohort member from one who left: each run's members' date of birth, sex and events.

>>> remember_members(store, date(2026, 6, 30), members, extract.people, extract.events)   # doctest: +SKIP
>>> member_identities(store, date(2026, 6, 30))                                          # doctest: +SKIP

Why: a source system that re-keys a record without saying so makes a cohort member vanish from the
next extract while a new id appears holding their events.  The history keeps scores, not people, so
the next refresh could not tell that from a real exit.  For each run's cohort (a few hundred people
at most) it keeps the date of birth, sex and the ids of their events and occurrences, so the next
refresh can look for a new id with the same date of birth and sex holding some of them
(:func:`hkc.matrix.probable_rekeys`).  They are person-level data: subject access shows them and
retention erases them with their run (:func:`purge_identities`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.aliases import Identities
from hkc.history.schema import (
    aliases,
    challenges,
    consultations,
    decisions,
    disclosure_people,
    disclosures,
    exclusions,
    interventions,
    member_identities,
    removed,
    scores,
)
from hkc.history.store import HistoryStore, StoredRun

__all__ = ["member_rows", "remember_members", "member_identities_of", "identity_rows", "purge_identities", "vanished_members",
           "IDENTITY_COLUMNS"]

IDENTITY_COLUMNS = ["person_id", "date_of_birth", "sex", "event_ids", "occurrence_ids"]


def _texts(values: Iterable[object]) -> list[str]:
    return sorted({str(v) for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))
                   and str(v) != "" and v is not pd.NA})


def member_rows(as_of: dt.date, person_ids: Iterable[object], people: pd.DataFrame,
                events: pd.DataFrame) -> list[dict]:
    """The identity rows of ``person_ids`` (a run's cohort) as the extract shows them, for ``as_of``:
    ``people`` holds ``person_id, date_of_birth, sex``; ``events`` ``person_id, event_id`` and
    ``occurrence_id`` when there is one.  :meth:`HistoryStore.save_run` stores them with the run, in
    its one transaction (``identities=``), so a run killed after its commit never lacks them."""
    wanted = {str(p) for p in person_ids}
    who = people[people["person_id"].astype(str).isin(wanted)]
    mine = events[events["person_id"].astype(str).isin(wanted)]
    occurrences = mine["occurrence_id"] if "occurrence_id" in mine else pd.Series([None] * len(mine), index=mine.index)
    by_person = {str(p): (g["event_id"], occurrences.loc[g.index]) for p, g in mine.groupby(
        mine["person_id"].astype(str), sort=False)}
    rows = []
    for pid, dob, sex in who[["person_id", "date_of_birth", "sex"]].itertuples(index=False):
        pid = str(pid)
        held, occ = by_person.get(pid, ((), ()))
        rows.append({"as_of": as_of.isoformat(), "person_id": pid,
                     "date_of_birth": None if pd.isna(dob) else pd.Timestamp(dob).date().isoformat(),
                     "sex": None if pd.isna(sex) else str(sex), "event_ids": json.dumps(_texts(held)),
                     "occurrence_ids": json.dumps(_texts(occ))})
    return rows


def remember_members(store: HistoryStore, as_of: dt.date, person_ids: Iterable[object], people: pd.DataFrame,
                     events: pd.DataFrame) -> int:
    """Keep the identity of ``person_ids`` (:func:`member_rows`) on their own, replacing what was kept for
    ``as_of`` (a re-run).  Returns the rows kept.  A refresh stores them with its run instead."""
    rows = member_rows(as_of, person_ids, people, events)
    try:
        with store.engine.begin() as conn:
            conn.execute(member_identities.delete().where(member_identities.c.as_of == as_of.isoformat()))
            if rows:
                conn.execute(member_identities.insert(), rows)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not keep the cohort's identities "
                           f"({str(exc).splitlines()[0]})") from None
    return len(rows)


def member_identities_of(store: HistoryStore, as_of: dt.date) -> pd.DataFrame:
    """The identities kept for the cohort of ``as_of`` (:data:`IDENTITY_COLUMNS`, ids as lists); empty when none were."""
    return _decoded(store.frame(sa.select(member_identities).where(member_identities.c.as_of == as_of.isoformat())
                                .order_by(member_identities.c.person_id)))


def identity_rows(store: HistoryStore, person_ids: Iterable[object]) -> pd.DataFrame:
    """Every identity kept under ``person_ids`` (``as_of`` and :data:`IDENTITY_COLUMNS`), oldest run first."""
    wanted = sorted({str(p) for p in person_ids})
    if not wanted:
        return _decoded(pd.DataFrame(columns=["as_of", *IDENTITY_COLUMNS]))
    return _decoded(store.frame(sa.select(member_identities).where(member_identities.c.person_id.in_(wanted))
                                .order_by(member_identities.c.as_of, member_identities.c.person_id)))


def _decoded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=["as_of", *IDENTITY_COLUMNS]).copy()
    for col in ("event_ids", "occurrence_ids"):
        out[col] = [json.loads(v) if isinstance(v, str) else [] for v in out[col]]
    return out


def vanished_members(store: HistoryStore, previous: StoredRun, ids: Identities,
                     present: Iterable[object]) -> tuple[pd.DataFrame, set[str]]:
    """What :func:`hkc.matrix.probable_rekeys` needs from the history for a refresh after ``previous``.

    Returns the identities kept for ``previous``'s cohort members who are not in this extract
    (``present``: its person ids), each under its latest id (:meth:`Identities.follow`), and every id
    the earlier run knew — scored, listed or linked, before and after following — which are not new.
    """
    here = {str(p) for p in present}
    kept = member_identities_of(store, previous.as_of)
    followed = ids.follow(kept, unique=True) if len(kept) else kept.assign(stored_id=kept["person_id"])
    cohort = ids.follow(store.cohort(previous.run_id))
    gone = set(cohort["person_id"]) - here
    vanished = followed[followed["person_id"].isin(gone)].drop(columns="stored_id").reset_index(drop=True)
    scored = store.person_scores(previous.run_id)["person_id"].astype(str)
    earlier = set(scored) | {ids.latest_id(p) for p in scored} | set(kept["person_id"].astype(str)) \
        | set(followed["person_id"]) | set(ids.links) | set(ids.links.values())
    return vanished, earlier

def purge_identities(conn: sa.Connection, cutoff: str, run_ids: Iterable[int], *, dry_run: bool = False) -> dict[str, int]:
    """In a retention purge's transaction (:func:`hkc.history.purge`, purging ``run_ids`` and what is older than
    ``cutoff``): erase the identities kept for runs before ``cutoff``, and the links between ids recorded before
    it that will join nothing once the purge is done (neither id held by anything the purge keeps).

    What the purge keeps is judged by its own rules, so a dry run counts what the purge erases, and the
    result is the same whether this runs before or after the purge's other deletions.  Returns rows per table.
    """
    runs_purged = list(run_ids)
    old = member_identities.c.as_of < cutoff
    out = {"member_identities": int(conn.execute(sa.select(sa.func.count()).select_from(member_identities)
                                                 .where(old)).scalar_one())}
    gone_disclosures = sa.select(disclosures.c.disclosure_id).where(
        disclosures.c.run_id.in_(runs_purged) | (sa.func.substr(disclosures.c.disclosed_at, 1, 10) < cutoff))
    kept = [  # who the history still holds something about once the purge is done
        sa.select(scores.c.person_id).where(scores.c.run_id.not_in(runs_purged)),
        sa.select(removed.c.person_id).where(removed.c.run_id.not_in(runs_purged)),
        sa.select(decisions.c.person_id).where(decisions.c.run_id.not_in(runs_purged)
                                               & (decisions.c.meeting_date >= cutoff)),
        sa.select(interventions.c.person_id).where(interventions.c.end_date.is_(None)
                                                   | (interventions.c.end_date >= cutoff)),
        sa.select(challenges.c.person_id), sa.select(exclusions.c.person_id),
        sa.select(consultations.c.person_id).where(consultations.c.consulted_at >= cutoff),
        sa.select(disclosure_people.c.person_id).where(disclosure_people.c.disclosure_id.not_in(gone_disclosures)),
        sa.select(member_identities.c.person_id).where(member_identities.c.as_of >= cutoff),
    ]
    held = sa.union(*kept).subquery()
    still = sa.select(held.c.person_id)
    loose = (aliases.c.recorded_at < cutoff) & aliases.c.old_id.not_in(still) & aliases.c.new_id.not_in(still)
    out["aliases"] = int(conn.execute(sa.select(sa.func.count()).select_from(aliases).where(loose)).scalar_one())
    if not dry_run:
        conn.execute(aliases.delete().where(loose))
        conn.execute(member_identities.delete().where(old))
    return out
