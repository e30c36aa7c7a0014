"""Upgrading older history stores in place, inside the opening transaction."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from hkc.history.detail import _chunks
from hkc.history.schema import DETAIL_TABLES, OLD_INDEXES, ROW_TABLES, decisions, periphery

CASEWORK_COLUMNS = ("intervention", "lead_agency", "owner_role", "review_date", "engagement", "actions")

__all__ = []


def _add_disclosure_state(engine: sa.Engine) -> None:
    """A disclosures table from before pending disclosures gains ``folder`` and ``published``
    (every entry it holds was logged after its pack was published), and one from before agency packs
    were named gains ``agency`` (empty in every older entry: which agency had a pack was not kept)."""
    inspector = sa.inspect(engine)
    if "disclosures" not in inspector.get_table_names():
        return
    present = {c["name"] for c in inspector.get_columns("disclosures")}
    with engine.begin() as conn:
        if "folder" not in present:
            conn.execute(sa.text("ALTER TABLE disclosures ADD COLUMN folder TEXT"))
        if "published" not in present:
            conn.execute(sa.text("ALTER TABLE disclosures ADD COLUMN published BOOLEAN NOT NULL DEFAULT TRUE"))
        if "agency" not in present:
            conn.execute(sa.text("ALTER TABLE disclosures ADD COLUMN agency VARCHAR(128)"))


def _add_periphery(engine: sa.Engine) -> None:
    """A store from before the periphery list was kept gains its (empty) ``periphery`` table: its runs
    did not record who was on their periphery, and subject access says so only for runs that did."""
    if "runs" in sa.inspect(engine).get_table_names():
        periphery.create(engine, checkfirst=True)


def _add_decision_casework(engine: sa.Engine) -> None:
    """A decisions table from before decisions as casework gains its nullable casework columns
    (intervention, lead_agency, owner_role, review_date, engagement, actions), empty in every older decision."""
    inspector = sa.inspect(engine)
    if "decisions" not in inspector.get_table_names():
        return
    present = {c["name"] for c in inspector.get_columns("decisions")}
    missing = [decisions.c[name] for name in CASEWORK_COLUMNS if name not in present]
    if not missing:
        return
    with engine.begin() as conn:
        for column in missing:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE decisions ADD COLUMN {column.name} {kind}"))


def _older_layout(engine: sa.Engine) -> dict[str, list[str]]:
    """What a store written by an older hkc still has: ``{table: [its old indexes]}`` for ``scores``
    and ``removed``, ``{table: []}`` for ``contributions`` and ``evidence`` kept row by row."""
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    older = {t.name: [] for t in DETAIL_TABLES
             if t.name in present and "parquet" not in {c["name"] for c in inspector.get_columns(t.name)}}
    for table in ROW_TABLES:
        if table.name in present:
            indexes = [i["name"] for i in inspector.get_indexes(table.name) if i["name"] in OLD_INDEXES]
            if indexes:
                older[table.name] = indexes
    return older


def _upgrade(engine: sa.Engine, older: dict[str, list[str]]) -> None:
    """Bring an older store to this layout in ONE transaction: each run's contributions and evidence
    rows become its Parquet, and scores and removed get the (run_id, person_id) index instead of the
    single-column ones."""
    with engine.begin() as conn:
        for table in DETAIL_TABLES:
            if table.name not in older:
                continue
            rows_table = sa.Table(table.name, sa.MetaData(), autoload_with=conn)
            stored = []
            for (run_id,) in conn.execute(sa.select(rows_table.c.run_id).distinct()).all():
                result = conn.execute(sa.select(rows_table).where(rows_table.c.run_id == run_id))
                chunks = _chunks(table, pd.DataFrame(result.fetchall(), columns=list(result.keys())))
                stored += [c | {"run_id": run_id} for c in chunks]
            rows_table.drop(conn)
            table.create(conn)
            if stored:
                conn.execute(table.insert(), stored)
        for table in ROW_TABLES:
            if older.get(table.name):
                for index in sa.Table(table.name, sa.MetaData(), autoload_with=conn).indexes:
                    if index.name in older[table.name]:
                        index.drop(conn)
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
