"""The history store: every refresh, its scores, evidence and cohort, in one database.

SQLite by default; any SQLAlchemy URL works (``--db``).  A refresh is stored in ONE transaction,
so a run killed half way leaves the previous history exactly as it was.  Re-running an as-of date
replaces that run (same transaction) instead of adding a second one.

Tables: ``runs`` (one per as-of date, with the manifest), ``scores`` (every person with a
non-zero score or a listing), ``contributions`` (per indicator), ``evidence`` (per counting
event), ``removed`` (previous members not listed, with the reason).

The record of what was done with a run: ``decisions`` (what the partnership meeting decided about a
person, who recorded it and from which pack), ``disclosures`` (every pack written: audience, when,
by whom, how many people, each file's SHA-256) with ``disclosure_people`` (WHICH people, for
subject access), and ``purges`` (each retention purge: counts and date range, never ids).

``decisions`` and ``disclosures`` carry the run's ``as_of`` and ``run_id`` without a foreign key:
re-running an as-of date re-points them to the new run instead of losing them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError

__all__ = ["HistoryStore", "StoredRun", "open_store", "AUDIENCES"]

metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.String(10), nullable=False, unique=True),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32), nullable=False),
    sa.Column("hkc_version", sa.String(32), nullable=False),
    sa.Column("config_sha256", sa.String(64), nullable=False),
    sa.Column("inputs_sha256", sa.String(64), nullable=False),
    sa.Column("cohort_size", sa.Integer, nullable=False),
    sa.Column("eligible", sa.Integer, nullable=False),
    sa.Column("scored", sa.Integer, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("audit", sa.Text),  # the partner copy of the audit (aggregates, small cells suppressed)
)
scores = sa.Table(
    "scores", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("vulnerability_score", sa.Float, nullable=False),
    sa.Column("eligible", sa.Boolean, nullable=False),
    sa.Column("in_cohort", sa.Boolean, nullable=False),
    sa.Column("rank", sa.Integer),
    sa.Column("rag", sa.String(8)),
    sa.Column("movement", sa.String(8)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rationale", sa.Text),
)
contributions = sa.Table(
    "contributions", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("axis", sa.String(16), nullable=False),
    sa.Column("indicator", sa.String(64), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("latest", sa.String(10), nullable=False),
    sa.Column("points", sa.Float, nullable=False),
)
evidence = sa.Table(
    "evidence", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("date", sa.String(10), nullable=False),
    sa.Column("indicator", sa.String(64), nullable=False),
    sa.Column("axis", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("grade", sa.String(4)),
    sa.Column("points", sa.Float, nullable=False),
)
removed = sa.Table(
    "removed", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("previous_rank", sa.Integer),
    sa.Column("previous_rag", sa.String(8)),
    sa.Column("reason", sa.Text, nullable=False),
)
decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("as_of", sa.String(10), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("meeting_date", sa.String(10), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("source_file", sa.String(255), nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("sheet", sa.String(64)),
    sa.Column("row", sa.Integer),
)
disclosures = sa.Table(
    "disclosures", metadata,
    sa.Column("disclosure_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, index=True),  # NULL once the run is purged
    sa.Column("as_of", sa.String(10)),
    sa.Column("audience", sa.String(32), nullable=False),
    sa.Column("disclosed_at", sa.String(32), nullable=False),
    sa.Column("disclosed_by", sa.String(128), nullable=False),
    sa.Column("people", sa.Integer, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # JSON {file name: sha256}
    sa.Column("people_purged", sa.Boolean, nullable=False, default=False),
)
disclosure_people = sa.Table(
    "disclosure_people", metadata,
    sa.Column("disclosure_id", sa.Integer, sa.ForeignKey("disclosures.disclosure_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
)
purges = sa.Table(
    "purges", metadata,
    sa.Column("purge_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("purged_at", sa.String(32), nullable=False),
    sa.Column("purged_by", sa.String(128), nullable=False),
    sa.Column("older_than_days", sa.Integer, nullable=False),
    sa.Column("cutoff", sa.String(10), nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("first_as_of", sa.String(10)),
    sa.Column("last_as_of", sa.String(10)),
    sa.Column("rows", sa.Text, nullable=False),  # JSON {table: rows deleted}
)
PERSON_TABLES = (scores, contributions, evidence, removed)
RECORD_TABLES = (decisions, disclosures, disclosure_people, purges)
AUDIENCES = ("police", "partner", "subject")


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


class HistoryStore:
    """Read and write refresh history.  Create with :func:`open_store`."""

    def __init__(self, engine: sa.Engine, url: str):
        self.engine = engine
        self.url = _redact(url)

    # -- writing ---------------------------------------------------------------------------
    def save_run(self, *, as_of: dt.date, manifest: dict, audit: dict | None, scores_frame: pd.DataFrame,
                 contributions_frame: pd.DataFrame, evidence_frame: pd.DataFrame,
                 removed_frame: pd.DataFrame) -> tuple[int, bool]:
        """Store one refresh atomically; returns (run_id, replaced_existing)."""
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
            with self.engine.begin() as conn:
                old = conn.execute(sa.select(runs.c.run_id).where(runs.c.as_of == row["as_of"])).scalar()
                if old is not None:
                    for table in PERSON_TABLES:
                        conn.execute(table.delete().where(table.c.run_id == old))
                    conn.execute(runs.delete().where(runs.c.run_id == old))
                run_id = conn.execute(runs.insert().values(**row)).inserted_primary_key[0]
                if old is not None:
                    for table in (decisions, disclosures):
                        conn.execute(table.update().where(table.c.run_id == old).values(run_id=run_id))
                for table, frame in ((scores, scores_frame), (contributions, contributions_frame),
                                     (evidence, evidence_frame), (removed, removed_frame)):
                    self._insert(conn, table, frame, run_id)
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not store the run "
                               f"({str(exc).splitlines()[0]}); nothing was changed") from None
        return int(run_id), old is not None

    @staticmethod
    def _insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, run_id: int) -> None:
        """Bulk insert: positional tuples straight to the driver where its paramstyle allows
        (SQLite, psycopg's format), which is many times faster than SQLAlchemy's dict rows."""
        if frame.empty:
            return
        cols = [c.name for c in table.columns if c.name != "run_id"]
        columns = [[run_id] * len(frame)]
        for col in cols:  # column-wise to Python values (None for missing): much faster than row-wise
            values = frame[col]
            missing = values.isna().to_numpy()
            as_list = values.astype(object).tolist()
            if missing.any():
                as_list = [None if m else v for v, m in zip(as_list, missing, strict=True)]
            columns.append(as_list)
        rows = list(zip(*columns, strict=True))
        paramstyle = conn.dialect.paramstyle
        if paramstyle in ("qmark", "format"):
            mark = "?" if paramstyle == "qmark" else "%s"
            names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in ["run_id", *cols])
            sql = f"INSERT INTO {conn.dialect.identifier_preparer.format_table(table)} ({names}) " \
                  f"VALUES ({', '.join([mark] * (len(cols) + 1))})"
            cursor = conn.connection.driver_connection.cursor()
            for start in range(0, len(rows), 200_000):
                cursor.executemany(sql, rows[start:start + 200_000])
            cursor.close()
            return
        names = ["run_id", *cols]
        for start in range(0, len(rows), 50_000):
            conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in rows[start:start + 50_000]])

    # -- the record of what was done with a run ----------------------------------------------
    def log_disclosure(self, run_id: int, audience: str, files: dict[str, str], person_ids, by: str,
                       when: dt.datetime | str | None = None) -> int:
        """Record that a pack went to ``audience``: its files (name -> SHA-256) and WHICH people.

        Every pack is logged, the police view (``"police"``) as well as the partner pack
        (``"partner"``), so :func:`hkc.subject_access.subject_access` can say who received a
        person's data.  Returns the ``disclosure_id``.
        """
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
        try:
            with self.engine.begin() as conn:
                as_of = conn.execute(sa.select(runs.c.as_of).where(runs.c.run_id == run_id)).scalar()
                if as_of is None:
                    raise HistoryError(f"history database {self.url} has no run {run_id}; "
                                       "log a disclosure after the run is stored")
                disclosure_id = conn.execute(disclosures.insert().values(
                    run_id=run_id, as_of=as_of, audience=audience, disclosed_at=str(when), disclosed_by=str(by).strip(),
                    people=len(people), files=json.dumps(dict(sorted(files.items()))), people_purged=False,
                )).inserted_primary_key[0]
                if people:
                    conn.execute(disclosure_people.insert(),
                                 [{"disclosure_id": disclosure_id, "person_id": p} for p in people])
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url}: could not log the disclosure "
                               f"({str(exc).splitlines()[0]}); nothing was changed") from None
        return int(disclosure_id)

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

    def record_decisions(self, rows: list[dict]) -> tuple[int, int]:
        """Store decisions in ONE transaction; returns (inserted, replaced).

        A decision about the same person from the same run at the same meeting replaces the one
        stored before (re-importing a pack is not double counting).
        """
        replaced = 0
        try:
            with self.engine.begin() as conn:
                for r in rows:
                    replaced += conn.execute(decisions.delete().where(
                        (decisions.c.run_id == r["run_id"]) & (decisions.c.person_id == r["person_id"])
                        & (decisions.c.meeting_date == r["meeting_date"]))).rowcount
                if rows:
                    conn.execute(decisions.insert(), rows)
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
            query = (sa.select(runs.c.as_of, table).join(runs, runs.c.run_id == table.c.run_id)
                     .where(table.c.person_id == person_id).order_by(runs.c.as_of))
            out[table.name] = self._frame(query)
        out["decisions"] = self.decisions([person_id])
        out["disclosures"] = self.disclosures(person_id=person_id)
        return out

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
        where = lambda t: (t.c.run_id == run_id) & (t.c.person_id == person_id)  # noqa: E731
        return (self._frame(sa.select(scores).where(where(scores))),
                self._frame(sa.select(contributions).where(where(contributions))
                            .order_by(contributions.c.axis, contributions.c.points.desc())),
                self._frame(sa.select(evidence).where(where(evidence))
                            .order_by(evidence.c.axis, evidence.c.indicator, evidence.c.date.desc())))

    def audit(self, run_id: int) -> dict | None:
        with self._read() as conn:
            text = conn.execute(sa.select(runs.c.audit).where(runs.c.run_id == run_id)).scalar_one()
        return json.loads(text) if text else None

    def manifest(self, run_id: int) -> dict:
        with self._read() as conn:
            text = conn.execute(sa.select(runs.c.manifest).where(runs.c.run_id == run_id)).scalar_one()
        return json.loads(text)

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        with self._read() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def _read(self) -> sa.Connection:
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {self.url} cannot be opened ({str(exc).splitlines()[0]})") from None


def open_store(url: str, *, create: bool = True) -> HistoryStore:
    """Open (and by default create) the history store at a SQLAlchemy URL."""
    try:
        engine = sa.create_engine(url, future=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise HistoryError(f"--db {_redact(url)}: not a usable database URL ({exc}); "
                           f"e.g. sqlite:///history.db or postgresql://user@host/db") from None
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
    if not create:
        try:  # a store made by an older hkc gains the record tables; a read-only one is read as it is
            metadata.create_all(engine, tables=list(RECORD_TABLES))
        except (SQLAlchemyError, OSError):
            pass
    if create:
        try:
            if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            metadata.create_all(engine)
        except (SQLAlchemyError, OSError) as exc:
            raise HistoryError(f"history database {store.url} cannot be opened or created "
                               f"({str(exc).splitlines()[0]}); check the path and permissions") from None
    return store
