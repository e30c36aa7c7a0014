"""Identity across extracts: the ids a person was re-keyed from, so the history follows the person, not the key.

>>> link_ids(store, "P000123", "P009876", reason="merged nominal records", by="J. Analyst")   # doctest: +SKIP
>>> ids = identities(store)                                                                    # doctest: +SKIP
>>> ids.latest_id("P000123"), ids.ids_of(["P009876"])                                          # doctest: +SKIP
('P009876', {'P000123': 'P009876', 'P009876': 'P009876'})

Why: police systems merge and re-key nominal records.  Without the link, a re-keyed cohort member
comes back as new, is counted as removed under the old id, loses the partnership's decisions, gets
another partner pseudonym, and their subject-access history splits in two.  The ``aliases`` table
holds every link ``old_id → new_id``: those an extract's ``aliases`` file carries
(:func:`record_extract_aliases`, called by the refresh) and those an analyst records for a merge
the extract does not carry (:func:`link_ids`, ``hkc ids link``).  An old id is linked once; a link
that would make ids lead back to themselves is refused.

Reading: :class:`Identities` (one read of the table, :func:`identities`) answers

* ``latest_id(id)`` — where an id's links lead (chains followed: A → B, B → C gives C); the id the
  person is known by now, in which movement, decisions and removals are compared;
* ``ids_of(ids)`` — every id of the same people (``{stored id: the id asked about}``), to read what
  the history holds under any of them (subject access, decisions);
* ``canonical_id(id)`` — the id the person's partner pseudonym is made from, so it stays the same
  after a re-key: a new id unknown to the history when linked carries on its old id's (recursively,
  back to the first id); a new id the history already knew (a duplicate merged into a record with
  its own past) keeps its own, which partners may already have seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.schema import aliases, decisions, disclosure_people, member_identities, removed, scores
from hkc.history.store import HistoryStore

__all__ = ["AliasReport", "Identities", "identities", "link_ids", "record_extract_aliases", "alias_map", "canonical_ids",
           "stored_aliases", "ALIAS_COLUMNS"]

ALIAS_COLUMNS = ["alias_id", "old_id", "new_id", "date", "reason", "source", "recorded_by", "recorded_at", "new_known"]
_MAX_ID = 64


@dataclass(frozen=True)
class Identities:
    """The stored links, resolved (see the module docstring).  ``links``: ``{old_id: new_id}`` as stored;
    ``takes_over``: the links whose new id carries on the old id's pseudonym."""

    links: dict[str, str] = field(default_factory=dict)
    takes_over: dict[str, str] = field(default_factory=dict)  # new_id -> old_id (the first such link)

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Identities:
        """From alias rows (``old_id, new_id, new_known``), in the order recorded."""
        links: dict[str, str] = {}
        takes_over: dict[str, str] = {}
        for old, new, known in rows[["old_id", "new_id", "new_known"]].itertuples(index=False):
            old, new = str(old), str(new)
            links.setdefault(old, new)
            if not bool(known):
                takes_over.setdefault(new, old)
        return cls(links=links, takes_over=takes_over)

    def latest_id(self, person_id: object) -> str:
        """Where ``person_id``'s links lead (itself when it has none)."""
        at, seen = str(person_id), set()
        while at in self.links and at not in seen:
            seen.add(at)
            at = self.links[at]
        return at

    def canonical_id(self, person_id: object) -> str:
        """The id the person's pseudonym is made from (see the module docstring)."""
        at, seen = str(person_id), set()
        while at in self.takes_over and at not in seen:
            seen.add(at)
            at = self.takes_over[at]
        return at

    @property
    def latest(self) -> dict[str, str]:
        """``{old_id: latest id}`` for every linked id."""
        return {old: self.latest_id(old) for old in self.links}

    @property
    def canonical(self) -> dict[str, str]:
        """``{id: canonical id}`` for every id whose pseudonym comes from another id."""
        return {new: self.canonical_id(new) for new in self.takes_over}

    def ids_of(self, person_ids: Iterable[object]) -> dict[str, str]:
        """``{id: asked id}``: every id of the same person as each id asked about (itself included)."""
        by_latest: dict[str, list[str]] = {}
        for pid in {*self.links, *self.links.values()}:
            by_latest.setdefault(self.latest_id(pid), []).append(pid)
        out: dict[str, str] = {}
        for asked in (str(p) for p in person_ids):
            out.setdefault(asked, asked)
            for pid in by_latest.get(self.latest_id(asked), ()):
                out.setdefault(pid, asked)
        return out

    def follow(self, frame: pd.DataFrame, column: str = "person_id", *, unique: bool = False) -> pd.DataFrame:
        """``frame`` with ``column`` replaced by each id's latest id (the stored id kept as ``stored_id``).

        ``unique``: keep the first row of each person (rows in the frame's order), e.g. a cohort in rank
        order in which a merged duplicate was listed as well as the record it merged into.
        """
        out = frame.copy()
        stored = out[column].astype(object).where(out[column].isna(), out[column].astype(str))
        out["stored_id"] = stored
        if self.links:  # only the linked ids change: one dictionary lookup per row
            out[column] = stored.map(self.latest).fillna(stored)
        if unique:
            out = out.drop_duplicates(column, keep="first")
        return out.reset_index(drop=True)

    def __bool__(self) -> bool:
        return bool(self.links)


def _frame(store: HistoryStore, query: sa.Select) -> pd.DataFrame:
    try:
        return store.frame(query)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url} cannot be read ({str(exc).splitlines()[0]})") from None


def stored_aliases(store: HistoryStore) -> pd.DataFrame:
    """Every stored link, in the order recorded (:data:`ALIAS_COLUMNS`)."""
    return _frame(store, sa.select(aliases).order_by(aliases.c.alias_id))[ALIAS_COLUMNS]


def identities(store: HistoryStore, extra: Mapping[str, str] | pd.DataFrame | None = None) -> Identities:
    """The stored links, resolved; ``extra`` adds links not stored — a caller's own ``{old_id: new_id}``, or
    an extract's aliases rows not recorded yet — after the stored ones (a stored link of the same old id
    wins).  Links added this way are followed, but do not change whose pseudonym anyone keeps."""
    rows = stored_aliases(store)
    if isinstance(extra, pd.DataFrame):
        extra = dict(zip(extra["old_id"].astype(str), extra["new_id"].astype(str), strict=True))
    if extra:
        more = pd.DataFrame({"old_id": [str(k) for k in extra], "new_id": [str(v) for v in extra.values()],
                             "new_known": True})
        rows = pd.concat([rows, more], ignore_index=True)
    return Identities.of(rows)


def alias_map(store: HistoryStore) -> dict[str, str]:
    """``{old_id: latest id}``: every stored link with its chain followed to the id the person has now."""
    return identities(store).latest


def canonical_ids(store: HistoryStore) -> dict[str, str]:
    """``{id: canonical id}`` for the ids whose partner pseudonym is made from an earlier id."""
    return identities(store).canonical


def _known(conn: sa.Connection, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the history holds anything under: scores, removals, decisions, disclosures, a
    stored cohort, or a link's new id."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    columns = (scores.c.person_id, removed.c.person_id, decisions.c.person_id, disclosure_people.c.person_id,
               member_identities.c.person_id, aliases.c.new_id)
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start:start + 500]
        for col in columns:
            found |= {str(v) for v in conn.execute(sa.select(col).where(col.in_(chunk)).distinct()).scalars()}
    return found


def _clean(value: object, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise HistoryError(f"{what} is empty; give it")
    if len(text) > _MAX_ID:
        raise HistoryError(f"{what} '{text[:20]}…' is longer than {_MAX_ID} characters; check it")
    return text


def link_ids(store: HistoryStore, old_id: str, new_id: str, *, reason: str, by: str, source: str = "hkc ids link",
             date: dt.date | None = None) -> dict:
    """Record that ``old_id`` is now ``new_id`` (a merge or re-key the extract does not carry).

    Refused in one line (:class:`~hkc.errors.HistoryError`), storing nothing, when: an id, the reason or
    who is empty; the two ids are the same; the history holds nothing under ``old_id`` (a typo would
    join no one, silently); ``old_id`` is already linked to another id; or ``new_id`` already leads to
    ``old_id`` (the ids would lead back to themselves).  Linking the same pair again changes nothing.
    Returns the link with ``latest`` (where ``old_id`` leads now), ``canonical`` (whose pseudonym the
    person keeps) and ``stored`` (False when it was already there).
    """
    old, new = _clean(old_id, "OLD"), _clean(new_id, "NEW")
    reason, by = str(reason or "").strip(), str(by or "").strip()
    if not reason:
        raise HistoryError("--reason: say why the two ids are the same person (e.g. 'nominal records merged')")
    if not by:
        raise HistoryError("--by: say who records the link (a name or role)")
    if old == new:
        raise HistoryError(f"OLD and NEW are both '{old}'; a link joins two different ids")
    try:
        with store.engine.begin() as conn:
            ids = Identities.of(pd.DataFrame(conn.execute(sa.select(aliases.c.old_id, aliases.c.new_id,
                                                                    aliases.c.new_known)
                                                          .order_by(aliases.c.alias_id)).all(),
                                             columns=["old_id", "new_id", "new_known"]))
            if ids.links.get(old) == new:
                stored = False
            else:
                if old in ids.links:
                    raise HistoryError(f"'{old}' is already linked to '{ids.links[old]}'; an id is re-keyed to one "
                                       f"id only")
                if ids.latest_id(new) == old:
                    raise HistoryError(f"'{new}' already leads to '{old}'; linking '{old}' to '{new}' would make "
                                       f"the ids lead back to themselves")
                known = _known(conn, [old, new])
                if old not in known:
                    raise HistoryError(f"the history holds nothing under '{old}'; check the id (a link joins the "
                                       f"history of an id the history holds to a new id)")
                conn.execute(aliases.insert().values(
                    old_id=old, new_id=new, date=date.isoformat() if date else None, reason=reason, source=source,
                    recorded_by=by, recorded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    new_known=new in known))
                stored = True
    except IntegrityError:
        raise HistoryError(f"'{old}' was linked by someone else at the same time; run the command again") from None
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not store the link "
                           f"({str(exc).splitlines()[0]}); nothing was changed") from None
    now = identities(store)
    return {"old_id": old, "new_id": new, "latest": now.latest_id(old), "canonical": now.canonical_id(new),
            "stored": stored}


@dataclass
class AliasReport:
    """What :func:`record_extract_aliases` did: links ``stored`` new, ``known`` already, and ``skipped``
    (each with the line saying why: the old id is linked to another id, or the ids would lead back to themselves)."""

    stored: int = 0
    known: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.stored:
            out.append(f"aliases: {self.stored} re-keyed or merged id(s) recorded; the history follows them")
        return out + [f"aliases: {line}" for line in self.skipped]


def record_extract_aliases(store: HistoryStore, rows: pd.DataFrame | None, *, source: str, by: str) -> AliasReport:
    """Store the links an extract's ``aliases`` file carries (``old_id, new_id, date, reason``), in one transaction.

    A link already stored is left as it is.  A row that disagrees with what is stored — its old id
    linked to another id (by an earlier extract or ``hkc ids link``), or ids that would lead back to
    themselves — is not stored, and said in :attr:`AliasReport.skipped` (no row of the file is lost
    silently).  Whether each new id was already known (:mod:`this module's docstring <hkc.history.aliases>`)
    is judged against the history before this call, so call it before the run that reads the extract is stored.
    """
    report = AliasReport()
    if rows is None or not len(rows):
        return report
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        with store.engine.begin() as conn:
            ids = Identities.of(pd.DataFrame(conn.execute(sa.select(aliases.c.old_id, aliases.c.new_id,
                                                                    aliases.c.new_known)
                                                          .order_by(aliases.c.alias_id)).all(),
                                             columns=["old_id", "new_id", "new_known"]))
            ordered = rows.sort_values(["date", "old_id"], kind="stable") if "date" in rows else rows
            known = _known(conn, [str(v) for v in ordered["new_id"]])
            links, takes = dict(ids.links), dict(ids.takes_over)
            insert = []
            for r in ordered.to_dict("records"):
                old, new = str(r["old_id"]), str(r["new_id"])
                if links.get(old) == new:
                    report.known += 1
                    continue
                if old in links:
                    report.skipped.append(f"'{old}' to '{new}' not recorded: '{old}' is already linked to "
                                          f"'{links[old]}' in the history; correct the extract or the earlier link")
                    continue
                if Identities(links, takes).latest_id(new) == old:
                    report.skipped.append(f"'{old}' to '{new}' not recorded: '{new}' already leads to '{old}' in the "
                                          f"history, so the ids would lead back to themselves")
                    continue
                links[old] = new
                if new not in known:
                    takes.setdefault(new, old)
                insert.append({"old_id": old, "new_id": new, "date": _day(r.get("date")),
                               "reason": _text(r.get("reason")), "source": source, "recorded_by": by,
                               "recorded_at": now, "new_known": new in known})
            if insert:
                conn.execute(aliases.insert(), insert)
            report.stored = len(insert)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not store the extract's aliases "
                           f"({str(exc).splitlines()[0]}); nothing was changed") from None
    return report


def _day(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date().isoformat()


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None
