"""The history store: every refresh, its scores, evidence and cohort, in one database.

SQLite by default; any SQLAlchemy URL works (``--db``).  A refresh is stored in ONE transaction,
so a run killed half way leaves the previous history exactly as it was.  Re-running an as-of date
replaces that run (same transaction) instead of adding a second one.

Tables: ``runs`` (one per as-of date, with the manifest), ``scores`` (one row per person with a
non-zero score or a listing), ``removed`` (previous members not listed, with the reason), and the
run's detail, ``contributions`` (per person and indicator) and ``evidence`` (per counting event),
kept as compressed Parquet, sorted by person, in chunks of 100,000 rows that name the first and
last person they hold (``hkc explain`` and subject access read only the chunks holding one
person): a force-sized run has millions of detail rows, and writing them row by row was most of a
refresh's time.  :func:`open_store` converts a store written by an older hkc (detail one row per
event) in one transaction.

The record of what was done with a run: ``decisions`` (what the partnership meeting decided about a
person, who recorded it and from which pack), ``disclosures`` (every pack written: audience, when,
by whom, how many people, each file's SHA-256) with ``disclosure_people`` (WHICH people, for
subject access), and ``purges`` (each retention purge: counts and date range, never ids).  A
refresh logs its packs in its run's transaction as *pending* and confirms them once its output
folder is published; the next refresh to that folder settles what a killed one left pending
(:meth:`HistoryStore.settle_disclosures`: kept if the files are there, dropped if they never went out).

``decisions`` and ``disclosures`` carry the run's ``as_of`` and ``run_id`` without a foreign key:
re-running an as-of date re-points them to the new run instead of losing them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.detail import _chunks, _read_chunk
from hkc.history.disclosures import DisclosureLog
from hkc.history.migrate import (
    _add_decision_casework,
    _add_disclosure_state,
    _add_periphery,
    _older_layout,
    _upgrade,
)
from hkc.history.periphery import periphery_rows
from hkc.history.rows import insert_rows, table_columns
from hkc.history.schema import (
    DETAIL_COLUMNS,
    DETAIL_TABLES,
    PERSON_TABLES,
    RECORD_TABLES,
    contributions,
    decisions,
    disclosures,
    evidence,
    member_identities,
    metadata,
    periphery,
    purges,
    removed,
    runs,
    scores,
)
from hkc.history.schema import interventions as interventions_table

__all__ = ['HistoryStore', 'StoredRun', 'open_store', 'database_file']


@dataclass(frozen=True)
class StoredRun:
    run_id: int
    as_of: dt.date
    started_at: str
    cohort_size: int
    eligible: int
    scored: int
    config_sha256: str
    inputs_sha256: str


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that will not parse is reported as given
        return url


class HistoryStore(DisclosureLog):
    """Read and write refresh history.  Create with :func:`open_store`.

    The disclosure log's methods (log, confirm, settle, read) come from :class:`DisclosureLog`.
    """

    def __init__(self, engine: sa.Engine, url: str):
        self.engine = engine
        self.url = _redact(url)

    # -- writing ---------------------------------------------------------------------------
    def save_run(self, *, as_of: dt.date, manifest: dict, audit: dict | None, scores_frame: pd.DataFrame,
                 contributions_frame: pd.DataFrame, evidence_frame: pd.DataFrame,
                 removed_frame: pd.DataFrame, disclosures_pending: list[dict] | None = None,
                 folder: str | Path | None = None, identities: list[dict] | None = None,
                 periphery_frame: pd.DataFrame | None = None) -> tuple[int, bool]:
        """Store one refresh atomically; returns (run_id, replaced_existing).

        ``identities``: the cohort members' identity rows (:func:`hkc.history.member_rows`), kept for
        the next refresh's re-key check; they replace those kept for the same as-of date.

        ``disclosures_pending``: the packs the run is about to publish in ``folder``, each
        ``{"audience", "files", "person_ids", "by"}``; they are logged in the same transaction as
        *pending*, to be confirmed by :meth:`confirm_disclosures` once the folder is published (or
        settled by :meth:`settle_disclosures` if the run is killed first); an agency's pack names its
        ``"agency"``.  ``periphery_frame``: the run's periphery list (:func:`hkc.history.periphery.periphery_rows`).
        """
        pending = [self._disclosure(d["audience"], d["files"], d["person_ids"], d["by"], None, agency=d.get("agency"))
                   for d in disclosures_pending or []]
        row = {
            "as_of": as_of.isoformat(),
            "started_at": manifest["started_at"],
            "finished_at": manifest["finished_at"],
            "hkc_version": manifest["hkc_version"],
            "config_sha256": manifest["config_sha256"],
            "inputs_sha256": manifest["inputs_sha256"],
            "cohort_size": manifest["cohort_size"],
            "eligible": manifest["eligible"],
            "scored": manifest["scored"],
            "manifest": json.dumps(manifest, sort_keys=True, default=str),
            "audit": json.dumps(audit, sort_keys=True, default=str) if audit is not None else None,
        }
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                # Parquet encoding releases the GIL: it runs while the score rows are built and written
                detail = pool.submit(lambda: {table: _chunks(table, frame) for table, frame in
                                              ((contributions, contributions_frame), (evidence, evidence_frame))})
                rows = {scores: table_columns(scores, scores_frame), removed: table_columns(removed, removed_frame),
                        periphery: table_columns(periphery, periphery_rows(periphery_frame))}
                run_id, old = self._write_run(row, rows, detail, pending, folder, identities)
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error, HistoryError) as exc:
            raise HistoryError(f"history database {self.url}: could not store the run "
                               f"({str(exc).splitlines()[0]}); nothing was changed") from None
        return int(run_id), old is not None

    def _write_run(self, row: dict, rows: dict[sa.Table, dict[str, list]], detail: Future, pending: list[tuple],
                   folder: str | Path | None, identities: list[dict] | None) -> tuple[int, int | None]:
        """The run's one transaction: replace the run of the same as-of date, write rows, detail and identities."""
        with self.engine.begin() as conn:
            _writer_lock(conn)
            old = conn.execute(sa.select(runs.c.run_id).where(runs.c.as_of == row["as_of"])).scalar()
            if old is not None:
                for table in PERSON_TABLES:
                    conn.execute(table.delete().where(table.c.run_id == old))
                conn.execute(runs.delete().where(runs.c.run_id == old))
            run_id = conn.execute(runs.insert().values(**row)).inserted_primary_key[0]
            if old is not None:
                for table in (decisions, disclosures):
                    conn.execute(table.update().where(table.c.run_id == old).values(run_id=run_id))
            for table, columns in rows.items():
                insert_rows(conn, table, columns, run_id)
            for table, chunks in detail.result().items():
                if chunks:
                    conn.execute(table.insert(), [c | {"run_id": run_id} for c in chunks])
            where = str(Path(folder).resolve()) if folder is not None else None
            for values, people in pending:
                self._insert_disclosure(conn, values | {"run_id": run_id, "as_of": row["as_of"], "folder": where,
                                                        "published": False}, people)
            if identities is not None:
                conn.execute(member_identities.delete().where(member_identities.c.as_of == row["as_of"]))
                if identities:
                    conn.execute(member_identities.insert(), identities)
        return run_id, old

    # -- decisions, purges and one person's record ----------------------------------------
    def record_decisions(self, rows: list[dict], interventions: list[dict] | tuple = ()) -> tuple[int, int]:
        """Store decisions, and the interventions they adopted, in ONE transaction; returns (inserted, replaced).

        A decision about the same person from the same run at the same meeting replaces the one
        stored before (re-importing a pack is not double counting), and so does its intervention:
        every intervention a replaced decision's import stored for that person (same person, start
        date = the meeting date, same source file and that import's workbook) goes with it, whether or
        not the new decision adopts one.  ``interventions``: rows of the ``interventions`` table.
        """
        replaced = 0
        try:
            with self.engine.begin() as conn:
                for r in rows:
                    same = ((decisions.c.run_id == r["run_id"]) & (decisions.c.person_id == r["person_id"])
                            & (decisions.c.meeting_date == r["meeting_date"]))
                    workbooks = {r["source_sha256"], *conn.execute(sa.select(decisions.c.source_sha256)
                                                                   .where(same)).scalars()}
                    conn.execute(interventions_table.delete().where(
                        (interventions_table.c.person_id == r["person_id"])
                        & (interventions_table.c.start_date == r["meeting_date"])
                        & (interventions_table.c.source_file == r["source_file"])
                        & interventions_table.c.source_sha256.in_(sorted(workbooks))))
                    replaced += conn.execute(decisions.delete().where(same)).rowcount
                if rows:
                    conn.execute(decisions.insert(), rows)
                if interventions:
                    conn.execute(interventions_table.insert(), list(interventions))
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not store the decisions "
                               f"({str(exc).splitlines()[0]}); nothing was imported") from None
        return len(rows), replaced

    def decisions(self, person_ids=None) -> pd.DataFrame:
        """Stored decisions, oldest first (optionally only about ``person_ids``)."""
        query = sa.select(decisions).order_by(decisions.c.meeting_date, decisions.c.decision_id)
        if person_ids is not None:
            query = query.where(decisions.c.person_id.in_([str(p) for p in person_ids]))
        return self._frame(query)

    def purges(self) -> pd.DataFrame:
        """The purge log: when, by whom, the cut-off and counts (never who was erased)."""
        frame = self._frame(sa.select(purges).order_by(purges.c.purge_id))
        frame["rows"] = frame["rows"].map(json.loads)
        return frame

    def person_history(self, person_id: str) -> dict[str, pd.DataFrame]:
        """Every stored row about one person, each with its run's ``as_of`` (for subject access)."""
        person_id = str(person_id)
        out = {}
        for table in PERSON_TABLES:
            if table in DETAIL_TABLES:
                out[table.name] = self._detail(table, person_id)
                continue
            # "run_id IN runs" lets SQLite search the (run_id, person_id) index run by run, not scan the table
            query = (sa.select(runs.c.as_of, table).join(runs, runs.c.run_id == table.c.run_id)
                     .where(table.c.run_id.in_(sa.select(runs.c.run_id)), table.c.person_id == person_id)
                     .order_by(runs.c.as_of))
            out[table.name] = self._frame(query)
        out["decisions"] = self.decisions([person_id])
        out["disclosures"] = self.disclosures(person_id=person_id)
        return out

    def _detail(self, table: sa.Table, person_id: str, run_id: int | None = None) -> pd.DataFrame:
        """One person's contributions or evidence: ``as_of, run_id`` and the detail columns, oldest run first."""
        columns = ["as_of", "run_id", *DETAIL_COLUMNS[table.name].names]
        query = (sa.select(runs.c.as_of, table.c.run_id, table.c.chunk, table.c.first_person_id, table.c.last_person_id)
                 .join(runs, runs.c.run_id == table.c.run_id).order_by(runs.c.as_of, table.c.chunk))
        if run_id is not None:
            query = query.where(table.c.run_id == run_id)
        parts = []
        with self._read() as conn:
            for as_of, stored_run, chunk, first, last in conn.execute(query).all():
                if first <= person_id <= last:  # compared here: a server's collation may order text differently
                    data = conn.execute(sa.select(table.c.parquet).where(
                        (table.c.run_id == stored_run) & (table.c.chunk == chunk))).scalar_one()
                    parts.append(_read_chunk(data, table, person_id).assign(as_of=as_of, run_id=stored_run))
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)

    # -- reading ---------------------------------------------------------------------------
    def list_runs(self) -> list[StoredRun]:
        with self._read() as conn:
            if not sa.inspect(conn).has_table("runs"):
                return []
            rows = conn.execute(sa.select(runs).order_by(runs.c.as_of)).mappings().all()
        return [StoredRun(run_id=r["run_id"], as_of=dt.date.fromisoformat(r["as_of"]), started_at=r["started_at"],
                          cohort_size=r["cohort_size"], eligible=r["eligible"], scored=r["scored"],
                          config_sha256=r["config_sha256"], inputs_sha256=r["inputs_sha256"]) for r in rows]

    def find_run(self, as_of: dt.date | None = None) -> StoredRun:
        """The run for ``as_of``, or the latest run."""
        stored = self.list_runs()
        if not stored:
            raise HistoryError(f"history database {self.url} holds no runs; run `hkc refresh` first")
        if as_of is None:
            return stored[-1]
        for run in stored:
            if run.as_of == as_of:
                return run
        raise HistoryError(f"no run with as-of date {as_of} in {self.url}; stored: "
                           + ", ".join(r.as_of.isoformat() for r in stored))

    def previous_run(self, as_of: dt.date) -> StoredRun | None:
        """The latest stored run with an as-of date before ``as_of``."""
        earlier = [r for r in self.list_runs() if r.as_of < as_of]
        return earlier[-1] if earlier else None

    def cohort(self, run_id: int) -> pd.DataFrame:
        query = (sa.select(scores.c.person_id, scores.c.rank, scores.c.rag, scores.c.risk_score,
                           scores.c.vulnerability_score, scores.c.movement, scores.c.rationale)
                 .where(scores.c.run_id == run_id, scores.c.in_cohort).order_by(scores.c.rank))
        return self._frame(query)

    def person_scores(self, run_id: int) -> pd.DataFrame:
        """Every stored score row of a run (people with a non-zero score or a listing)."""
        return self._frame(sa.select(scores).where(scores.c.run_id == run_id).order_by(scores.c.person_id))

    def removed(self, run_id: int) -> pd.DataFrame:
        return self._frame(sa.select(removed).where(removed.c.run_id == run_id).order_by(removed.c.previous_rank))

    def person(self, run_id: int, person_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(score row, contributions, evidence) for one person in one run."""
        person_id = str(person_id)
        row = self._frame(sa.select(scores).where((scores.c.run_id == run_id) & (scores.c.person_id == person_id)))
        contrib = self._detail(contributions, person_id, run_id).drop(columns="as_of")
        events = self._detail(evidence, person_id, run_id).drop(columns="as_of")
        return (row, contrib.sort_values(["axis", "points"], ascending=[True, False], kind="stable", ignore_index=True),
                events.sort_values(["axis", "indicator", "date"], ascending=[True, True, False], kind="stable",
                                   ignore_index=True))

    def audit(self, run_id: int) -> dict | None:
        with self._read() as conn:
            text = conn.execute(sa.select(runs.c.audit).where(runs.c.run_id == run_id)).scalar_one()
        return json.loads(text) if text else None

    def manifest(self, run_id: int) -> dict:
        with self._read() as conn:
            text = conn.execute(sa.select(runs.c.manifest).where(runs.c.run_id == run_id)).scalar_one()
        return json.loads(text)

    def frame(self, query: sa.Select) -> pd.DataFrame:
        """The rows of a read-only query over the store's tables (:mod:`hkc.history.schema`), as a frame."""
        return self._frame(query)

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        with self._read() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def _read(self) -> sa.Connection:
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url} cannot be opened ({str(exc).splitlines()[0]})") from None


def database_file(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL (None for an in-memory or server database)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix):] in ("", ":memory:"):
        return None
    return Path(url[len(prefix):].split("?", 1)[0])


def open_store(url: str, *, create: bool = True) -> HistoryStore:
    """Open (and by default create) the history store at a SQLAlchemy URL."""
    try:
        engine = sa.create_engine(url, future=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise HistoryError(f"--db {_redact(url)}: not a usable database URL ({exc}); "
                           f"e.g. sqlite:///history.db or postgresql+psycopg://user@host/db") from None
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA secure_delete=ON")  # purged rows are overwritten, not left in free pages
            cur.close()
    store = HistoryStore(engine, url)
    database = engine.url.database
    if not create and engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") \
            and not Path(database).exists():
        raise HistoryError(f"no history database at {database}; run `hkc refresh` first, or pass --db URL")
    try:
        if create and engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
            Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # children's data: owner only
        older = _older_layout(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise HistoryError(f"history database {store.url} cannot be opened or created "
                           f"({str(exc).splitlines()[0]}); check the path and permissions") from None
    try:
        _add_disclosure_state(engine)
        _add_decision_casework(engine)
        _add_periphery(engine)
    except (SQLAlchemyError, OSError):
        pass  # a read-only store is read as it is
    if older:
        try:
            _upgrade(engine, older)
        except (SQLAlchemyError, OSError, HistoryError, engine.dialect.loaded_dbapi.Error) as exc:
            raise HistoryError(f"history database {store.url} was written by an older hkc and could not be "
                               f"upgraded ({str(exc).splitlines()[0]}); nothing was changed: open it once with "
                               "write access") from None
    if not create:
        try:  # a store made by an older hkc gains the record tables; a read-only one is read as it is
            metadata.create_all(engine, tables=list(RECORD_TABLES))
        except (SQLAlchemyError, OSError):
            pass
    if create:
        for attempt in range(3):  # two refreshes creating the same new store race to CREATE TABLE:
            try:                  # the loser finds the tables made on its next look
                metadata.create_all(engine)
                break
            except (SQLAlchemyError, OSError) as exc:  # PostgreSQL may report the race as a duplicate key
                if attempt == 2 or isinstance(exc, OSError):
                    raise HistoryError(f"history database {store.url} cannot be opened or created "
                                       f"({str(exc).splitlines()[0]}); check the path and permissions") from None
                time.sleep(0.2)
    return store


def _writer_lock(conn: sa.Connection) -> None:
    """Take the store's write lock before reading what a run replaces, so two refreshes saving at
    once queue (the later then replaces the earlier's run) instead of both inserting the as-of date.

    PostgreSQL: an exclusive lock on ``runs`` (readers still read).  SQLite and others: a write
    statement that changes nothing starts the write transaction (SQLite's busy timeout queues the
    second writer).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE runs IN EXCLUSIVE MODE"))
    else:
        conn.execute(runs.delete().where(sa.false()))
