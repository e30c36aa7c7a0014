"""Reading a Parquet file as text columns, with the same row numbering as the CSV reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hkc.extract.csv import first_line
from hkc.extract.raw import _NO_MALFORMED, HeaderCheck, RawFile, ReadLimits, file_error

__all__ = ['read_parquet']


def read_parquet(path: Path, on_header: HeaderCheck | None = None, *, limits: ReadLimits | None = None,
                 sample: bool = False) -> RawFile:
    """Read a Parquet file, casting every column to text (dates as YYYY-MM-DD).

    ``limits`` bound CSV parsing, except ``sample_rows``: with ``sample``, only that many rows are
    read (``complete`` says whether that was all of them).
    """
    limits = limits or ReadLimits()
    try:
        with path.open("rb") as fh:
            start, size = fh.read(4), fh.seek(0, 2)
            fh.seek(max(size - 4, 0))
            cut = start == b"PAR1" and (size < 12 or fh.read(4) != b"PAR1")  # 12: magic, footer length, magic
    except OSError as exc:
        raise file_error("unreadable_file", file=path.name, reason=first_line(str(exc))) from None
    if cut:
        raise file_error("truncated_parquet", file=path.name)
    try:
        with pq.ParquetFile(path) as parquet:
            names = [str(n).strip() for n in parquet.schema_arrow.names]
            if on_header is not None:
                on_header(names)
            complete = not sample or parquet.metadata.num_rows <= limits.sample_rows
            if complete:
                table = parquet.read()
            else:
                batch = next(parquet.iter_batches(batch_size=limits.sample_rows))
                table = pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # a damaged footer can hold bad names
        raise file_error("unreadable_parquet", file=path.name, reason=first_line(str(exc))) from None
    columns = {f"c{i}": _as_text(col, path.name, name)
               for i, (name, col) in enumerate(zip(names, table.columns, strict=True))}
    return RawFile(names, pa.table(columns), np.arange(1, table.num_rows + 1, dtype=np.int64), _NO_MALFORMED,
                   complete=complete)


def _as_text(col: pa.ChunkedArray, file: str, name: str) -> pa.ChunkedArray:
    """A Parquet column as text, as it would read in a CSV export; nulls become empty."""
    try:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_timestamp(col.type):
            if col.type.tz is not None:
                col = pc.local_timestamp(col)  # the local calendar day, not the UTC one
            col = col.cast(pa.date32())
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type) or pa.types.is_string(col.type) \
                or pa.types.is_large_string(col.type):
            try:
                col.validate(full=True)  # Parquet readers do not check that text is UTF-8
                return col.cast(pa.string()).fill_null("")
            except pa.ArrowInvalid:
                raise file_error("not_utf8_column", file=file, column=name) from None
        return col.cast(pa.string()).fill_null("")
    except (pa.ArrowException, ValueError):
        raise file_error("bad_type", file=file, column=name, type=col.type) from None
