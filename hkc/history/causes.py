"""Reading what the movement causes need from the history: a run's evidence for some people, in one pass.

:func:`hkc.matrix.movement_causes` compares the counting events of the people who moved down or
off the list in two stored runs.  A run's evidence is kept as Parquet chunks sorted by person, each
naming the first and last person it holds (:mod:`hkc.history.detail`); :meth:`HistoryStore.person`
reads one person at a time, scanning the chunk list for each.  :func:`run_evidence` reads the chunk
list once, fetches only the chunks whose range holds one of the people, in one query, and filters
each with one ``person_id IN (…)`` predicate: a few hundred people cost what one costs.

The refresh reads the previous run's evidence of the people it removes with :func:`run_evidence`
too, so ``removed.csv`` and ``hkc movement`` start from the same rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.schema import DETAIL_COLUMNS, evidence
from hkc.history.store import HistoryStore

__all__ = ["run_evidence"]


def run_evidence(store: HistoryStore, run_id: int, person_ids: Iterable[str]) -> pd.DataFrame:
    """The stored evidence rows (``person_id, event_id, date, indicator, axis, role, outcome, grade,
    points``) of ``person_ids`` in run ``run_id``, sorted by person; people without stored evidence
    have no rows."""
    schema = DETAIL_COLUMNS[evidence.name]
    wanted = sorted({str(p) for p in person_ids})
    if not wanted:
        return schema.empty_table().to_pandas()
    try:
        with store.engine.connect() as conn:
            ranges = conn.execute(sa.select(evidence.c.chunk, evidence.c.first_person_id, evidence.c.last_person_id)
                                  .where(evidence.c.run_id == run_id).order_by(evidence.c.chunk)).all()
            # compared here, not in SQL: a server's collation may order text differently from Python
            chunks = [chunk for chunk, first, last in ranges if _holds_any(wanted, first, last)]
            blobs = conn.execute(sa.select(evidence.c.parquet).where(
                evidence.c.run_id == run_id, evidence.c.chunk.in_(chunks)).order_by(evidence.c.chunk)).scalars().all() \
                if chunks else []
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url} cannot be read ({str(exc).splitlines()[0]})") from None
    parts = [pq.read_table(pa.BufferReader(blob), schema=schema, filters=[("person_id", "in", wanted)])
             for blob in blobs]
    return pa.concat_tables(parts).to_pandas() if parts else schema.empty_table().to_pandas()


def _holds_any(sorted_ids: list[str], first: str, last: str) -> bool:
    """True when some id in ``sorted_ids`` lies between ``first`` and ``last`` (inclusive)."""
    at = bisect.bisect_left(sorted_ids, first)
    return at < len(sorted_ids) and sorted_ids[at] <= last
