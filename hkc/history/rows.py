"""Bulk rows into the history tables: a frame's columns as plain values, inserted in batches
(PostgreSQL's COPY where the driver has it, ``executemany`` elsewhere).
"""

from __future__ import annotations

from itertools import islice, repeat

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from hkc.history.detail import _unsorted

__all__ = ['table_columns', 'insert_rows', 'BATCH']

BATCH = 200_000  # rows per executemany call


def table_columns(table: sa.Table, frame: pd.DataFrame) -> dict[str, list]:
    """The frame's values for ``table`` (all its columns but ``run_id``), column by column, sorted by
    person (index pages are then appended, not split); None for missing.  Column-wise to Python
    values is many times faster than row-wise."""
    if frame.empty:
        return {}
    if _unsorted(pa.array(frame["person_id"], from_pandas=True).cast(pa.string())):
        frame = frame.sort_values("person_id", kind="stable")
    out = {}
    for column in table.columns:
        if column.name == "run_id":
            continue
        values = frame[column.name]
        if values.isna().any():
            values = values.astype(object).where(values.notna(), None)
        out[column.name] = values.tolist()
    return out


def insert_rows(conn: sa.Connection, table: sa.Table, columns: dict[str, list], run_id: int) -> None:
    """Bulk insert in the open transaction: COPY on PostgreSQL (psycopg), positional tuples straight
    to the driver where its paramstyle allows (SQLite, MySQL), SQLAlchemy's executemany otherwise."""
    names = ["run_id", *columns]
    count = len(next(iter(columns.values()), []))
    if not count:
        return
    rows = zip(repeat(run_id, count), *columns.values(), strict=False)
    quote = conn.dialect.identifier_preparer.quote
    target = f"{conn.dialect.identifier_preparer.format_table(table)} ({', '.join(quote(n) for n in names)})"
    if conn.dialect.driver == "psycopg":
        with conn.connection.driver_connection.cursor() as cursor, \
                cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
    elif conn.dialect.paramstyle in ("qmark", "format"):
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {target} VALUES ({', '.join([mark] * len(names))})"
        cursor = conn.connection.driver_connection.cursor()
        while batch := list(islice(rows, BATCH)):
            cursor.executemany(sql, batch)
        cursor.close()
    else:
        while batch := list(islice(rows, BATCH)):
            conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in batch])
