"""The detail codec: a run's contributions and evidence as zstd Parquet chunks inside the database."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from hkc.errors import HistoryError
from hkc.history.schema import DETAIL_COLUMNS

__all__ = []


CHUNK_ROWS = 100_000  # detail rows per Parquet chunk (about 1.5 MB of evidence)


def _unsorted(person_ids: pa.Array | pa.ChunkedArray) -> bool:
    return len(person_ids) > 1 and pc.any(pc.less(person_ids[1:], person_ids[:-1])).as_py()


def _chunks(table: sa.Table, frame: pd.DataFrame) -> list[dict]:
    """A run's detail as Parquet chunks sorted by person: ``chunk, first_person_id, last_person_id, rows, parquet``."""
    if frame.empty:
        return []
    schema = DETAIL_COLUMNS[table.name]
    arrays = []
    for field in schema:
        try:
            array = pa.array(frame[field.name], from_pandas=True).cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise HistoryError(f"{table.name} column '{field.name}': {exc}") from None
        if not field.nullable and array.null_count:
            raise HistoryError(f"{table.name} column '{field.name}' is missing in {array.null_count} row(s)")
        arrays.append(array)
    detail = pa.Table.from_arrays(arrays, schema=schema)
    if _unsorted(detail["person_id"]):
        detail = detail.take(pc.sort_indices(detail["person_id"]))  # a stable sort
    chunks = []
    for number, start in enumerate(range(0, len(detail), CHUNK_ROWS)):
        part = detail.slice(start, CHUNK_ROWS)
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, compression="zstd")
        chunks.append({"chunk": number, "first_person_id": part["person_id"][0].as_py(),
                       "last_person_id": part["person_id"][-1].as_py(), "rows": len(part),
                       "parquet": sink.getvalue().to_pybytes()})
    return chunks


def _read_chunk(data: bytes, table: sa.Table, person_id: str) -> pd.DataFrame:
    return pq.read_table(pa.BufferReader(data), filters=[("person_id", "==", person_id)],
                         schema=DETAIL_COLUMNS[table.name]).to_pandas()
