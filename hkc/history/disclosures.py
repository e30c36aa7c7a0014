"""The disclosure log: every pack that left the police, to which audience, with which people.

A refresh logs its packs with its run as *pending* and confirms them once its output folder is
published; the next refresh to that folder settles what a killed one left pending (kept if the files
are there byte for byte, dropped if they never went out), so subject access never reports a
disclosure that did not happen.  :class:`DisclosureLog` holds these methods for
:class:`hkc.history.store.HistoryStore`, which provides ``engine``, ``url`` and ``_frame``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.schema import AUDIENCES, disclosure_people, disclosures, runs
from hkc.outputs import sha256_file

__all__ = ["DisclosureLog"]


class DisclosureLog:
    """The disclosure log's methods, mixed into the history store."""

    engine: sa.Engine  # these three are the store's own (HistoryStore.__init__ and HistoryStore._frame)
    url: str
    _frame: Callable[[sa.Select], pd.DataFrame]

    def log_disclosure(self, run_id: int, audience: str, files: dict[str, str], person_ids, by: str,
                       when: dt.datetime | str | None = None, *, agency: str | None = None) -> int:
        """Record that a pack went to ``audience``: its files (name -> SHA-256) and WHICH people.

        Every pack is logged, the police view (``"police"``) as well as the partner pack
        (``"partner"``), so :func:`hkc.history.subject_access.subject_access` can say who received a
        person's data; ``agency``: the agency of an agency's own partner pack (None for the
        partnership-wide partner pack and the police pack).  Returns the ``disclosure_id``.  (A
        refresh logs its own packs with its run: see :meth:`save_run`.)
        """
        values, people = self._disclosure(audience, files, person_ids, by, when, agency=agency)
        try:
            with self.engine.begin() as conn:
                as_of = conn.execute(sa.select(runs.c.as_of).where(runs.c.run_id == run_id)).scalar()
                if as_of is None:
                    raise HistoryError(f"history database {self.url} has no run {run_id}; "
                                       "log a disclosure after the run is stored")
                disclosure_id = self._insert_disclosure(conn, values | {"run_id": run_id, "as_of": as_of}, people)
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not log the disclosure "
                               f"({str(exc).splitlines()[0]}); nothing was changed") from None
        return int(disclosure_id)

    def log_subject_answer(self, person_id: str, *, name: str, sha256: str, by: str) -> int:
        """Record that a subject-access answer (``name``, its SHA-256) was given to the person it is about
        (audience ``subject``, no run); returns the ``disclosure_id``."""
        values, people = self._disclosure("subject", {name: sha256}, [person_id], by, None)
        try:
            with self.engine.begin() as conn:
                return self._insert_disclosure(conn, values | {"run_id": None, "as_of": None}, people)
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not log the subject-access answer "
                               f"({str(exc).splitlines()[0]}); the answer was not given") from None

    @staticmethod
    def _disclosure(audience: str, files: dict[str, str], person_ids, by: str,
                    when: dt.datetime | str | None, *, agency: str | None = None) -> tuple[dict, list[str]]:
        if audience not in AUDIENCES:
            raise HistoryError(f"disclosure audience '{audience}' is not one of {', '.join(AUDIENCES)}")
        if not str(by or "").strip():
            raise HistoryError("a disclosure needs the name of who sent it (by=...)")
        if not files:
            raise HistoryError("a disclosure needs at least one file with its SHA-256")
        people = sorted({str(p) for p in person_ids})
        if isinstance(when, dt.datetime):
            when = when.isoformat(timespec="seconds")
        when = when or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if agency is not None and audience != "partner":
            raise HistoryError(f"only a partner pack goes to an agency; this disclosure is to '{audience}'")
        agency = (str(agency).strip() or None) if agency is not None else None
        return {"audience": audience, "disclosed_at": str(when), "disclosed_by": str(by).strip(),
                "people": len(people), "files": json.dumps(dict(sorted(files.items()))), "people_purged": False,
                "agency": agency}, people

    @staticmethod
    def _insert_disclosure(conn: sa.Connection, values: dict, people: list[str]) -> int:
        disclosure_id = conn.execute(disclosures.insert().values(**values)).inserted_primary_key[0]
        if people:
            conn.execute(disclosure_people.insert(), [{"disclosure_id": disclosure_id, "person_id": p} for p in people])
        return int(disclosure_id)

    def confirm_disclosures(self, run_id: int, folder: str | Path) -> int:
        """Mark the run's pending disclosures for ``folder`` published (the folder now holds the packs).

        Only this folder's: a refresh of the same as-of date to another folder, killed before its
        swap, may have left pending packs that this run's replacement re-pointed here; those are
        settled by the next refresh to their own folder.
        """
        try:
            with self.engine.begin() as conn:
                return conn.execute(disclosures.update().where(
                    (disclosures.c.run_id == run_id) & (disclosures.c.folder == str(Path(folder).resolve()))
                    & ~disclosures.c.published).values(published=True)).rowcount
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not confirm the disclosures "
                               f"({str(exc).splitlines()[0]}); the next refresh to this folder settles them") from None

    def settle_disclosures(self, folder: str | Path) -> tuple[int, int]:
        """Settle what a killed refresh to ``folder`` logged as pending; returns (confirmed, dropped).

        A pending pack whose files are in ``folder`` byte for byte was published (the run died after
        its folder swap) and is confirmed; any other never left the machine and is deleted, with
        its people, so subject access never reports a disclosure that did not happen.
        """
        where = Path(folder).resolve()
        confirmed, dropped = [], []
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(sa.select(disclosures.c.disclosure_id, disclosures.c.files).where(
                    (disclosures.c.folder == str(where)) & ~disclosures.c.published)).all()
                for disclosure_id, files in rows:
                    there = all((where / name).is_file() and sha256_file(where / name) == sha
                                for name, sha in json.loads(files).items())
                    (confirmed if there else dropped).append(disclosure_id)
                if confirmed:
                    conn.execute(disclosures.update().where(disclosures.c.disclosure_id.in_(confirmed))
                                 .values(published=True))
                if dropped:
                    conn.execute(disclosure_people.delete().where(disclosure_people.c.disclosure_id.in_(dropped)))
                    conn.execute(disclosures.delete().where(disclosures.c.disclosure_id.in_(dropped)))
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not settle the disclosures of an interrupted "
                               f"refresh ({str(exc).splitlines()[0]}); nothing was changed") from None
        return len(confirmed), len(dropped)

    def disclosures(self, *, person_id: str | None = None, run_id: int | None = None) -> pd.DataFrame:
        """The disclosure log (optionally only those including ``person_id`` or of ``run_id``)."""
        query = sa.select(disclosures).order_by(disclosures.c.disclosed_at, disclosures.c.disclosure_id)
        if person_id is not None:
            query = query.where(disclosures.c.disclosure_id.in_(
                sa.select(disclosure_people.c.disclosure_id).where(disclosure_people.c.person_id == str(person_id))))
        if run_id is not None:
            query = query.where(disclosures.c.run_id == run_id)
        frame = self._frame(query)
        frame["files"] = frame["files"].map(json.loads)
        return frame

    def disclosed_people(self, *, run_id: int, audience: str | None = None) -> set[str]:
        """Everyone included in any disclosure of ``run_id`` (optionally to one audience)."""
        query = (sa.select(disclosure_people.c.person_id).distinct()
                 .join(disclosures, disclosures.c.disclosure_id == disclosure_people.c.disclosure_id)
                 .where(disclosures.c.run_id == run_id))
        if audience is not None:
            query = query.where(disclosures.c.audience == audience)
        return set(self._frame(query)["person_id"])
