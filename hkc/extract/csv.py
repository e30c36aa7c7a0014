"""Reading a CSV file as text: header checks, encoding errors, malformed lines with their line numbers."""

from __future__ import annotations

import codecs
import contextlib
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from hkc.errors import ExtractError
from hkc.extract.raw import (
    _HEADER_LIMIT,
    _NO_MALFORMED,
    VALUE_SHOWN,
    HeaderCheck,
    RawFile,
    ReadLimits,
    escape,
    file_error,
)
from hkc.extract.records import Layout, count_lines, file_blocks, reconcile, scan_records

__all__ = ['read_csv', 'first_line', 'data_start']


def _breaks(text: str) -> int:
    """Line breaks in ``text`` as a CSV reader counts them (``\\r\\n``, ``\\r`` or ``\\n``)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _breaks_in(data: bytes) -> int:
    """Line breaks in ``data`` as :func:`_breaks` counts them."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


# Files that are not text at all, by their first bytes: (magic, what it is, what to do)
_NOT_CSV = (
    (b"PK\x03\x04", "an Excel workbook or another zip file", "in Excel: Save As, 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook", "in Excel: Save As, 'CSV UTF-8'"),
    (b"PAR1", "a Parquet file", "rename it {stem}.parquet"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first"),
)

_QUOTED = re.compile(rb'"((?:[^"]|"")*)"([^,\r\n]*)')

_PLAIN = re.compile(rb"[^,\r\n]*")


def _csv_header(path: Path) -> tuple[list[str], int, int]:
    """Parse the header record as pyarrow does.  Returns names, byte offset of the data, lines used."""
    with path.open("rb") as fh:
        head = fh.read(_HEADER_LIMIT)
    name = path.name
    for magic, kind, advice in _NOT_CSV:
        if head.startswith(magic):
            raise file_error("not_csv", file=name, kind=kind, advice=advice.format(stem=path.stem))
    if b"\0\0" in (head[0:4:2], head[1:4:2]) and head[:4] != b"\0\0\0\0" \
            or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # text with every other byte 0
        raise file_error("utf16", file=name)
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    if not head[start:].strip():
        raise file_error("empty_file", file=name)
    fields: list[bytes] = []
    pos = start
    while True:
        if head.startswith(b'"', pos):
            m = _QUOTED.match(head, pos)
            if m is None:
                problem = ("is longer than 1 MiB" if len(head) == _HEADER_LIMIT
                           else "has a '\"' that is never closed")
                raise file_error("header_unreadable", file=name, problem=problem)
            if m.group(2) and _breaks_in(m.group(1)):  # a stray '"' swallowing data lines into the header
                opened = 1 + _breaks_in(head[start:pos])
                closed = opened + _breaks_in(m.group(1))
                raise file_error("stray_quote", file=name, line=opened, end=closed, lines=f"{closed - opened + 1:,}")
            fields.append(m.group(1).replace(b'""', b'"') + m.group(2))
        else:
            m = _PLAIN.match(head, pos)
            fields.append(m.group(0))
        pos = m.end()
        if pos >= len(head):
            if len(head) == _HEADER_LIMIT:
                raise file_error("header_unreadable", file=name, problem="is longer than 1 MiB")
            end = pos
            break
        if head[pos:pos + 1] == b",":
            pos += 1
            continue
        end = pos + (2 if head.startswith(b"\r\n", pos) else 1)
        break
    if b"\0" in head[start:pos]:
        raise file_error("not_text", file=name)
    try:
        names = [f.decode("utf-8").strip() for f in fields]
    except UnicodeDecodeError:
        raise file_error("not_utf8", file=name, line=1, byte=_first_bad_byte(head[start:pos])) from None
    return names, end, 1 + _breaks(head[start:pos].decode("utf-8"))


def data_start(path: Path) -> tuple[int, int]:
    """Where a CSV's data starts: the byte offset after its header, and the line number there."""
    _names, offset, header_lines = _csv_header(path)
    return offset, header_lines + 1


def _first_bad_byte(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{data[exc.start]:02x}"
    return "??"


def _bad_utf8_at(path: Path) -> tuple[int, str] | None:
    """Line number and hex byte of the first invalid UTF-8 in a file (reads it in blocks)."""
    line, pending = 1, b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            data, pending = pending + block, b""
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.reason != "unexpected end of data":
                    return line + data.count(b"\n", 0, exc.start), f"{data[exc.start]:02x}"
                data, pending = data[:exc.start], data[exc.start:]  # a character cut by the block end
            line += data.count(b"\n")
    return (line, f"{pending[0]:02x}") if pending else None


@contextlib.contextmanager
def _quiet(handler: Callable) -> Iterator[None]:
    """Silence pyarrow's "Exception ignored" report when it cannot decode a bad line for ``handler``
    (the read then fails, and the caller reports the file as not UTF-8)."""
    previous = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if not (unraisable.object is handler and isinstance(unraisable.exc_value, UnicodeDecodeError)):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def read_csv(path: Path, on_header: HeaderCheck | None = None, *, limits: ReadLimits | None = None,
             sample: bool = False) -> RawFile:
    """Read a CSV as text: pyarrow in parallel blocks; malformed lines are kept aside with their line.

    With ``sample``, read only about the first ``limits.sample_rows`` records (at most
    ``limits.block_size`` bytes), so that a file can be judged before all of it is read; the
    result is ``complete`` when that was the whole file.  A sample's records are numbered exactly
    as in a full read; its last record, which the cut may have split, is left out.

    The parser's records are held to the file's own count (:mod:`hkc.extract.records`): a NUL byte,
    a '"' that swallows lines, or records missing from the count raise :class:`ExtractError`.
    """
    limits = limits or ReadLimits()
    names, offset, header_lines = _csv_header(path)
    if on_header is not None:
        on_header(names)
    head = _csv_sample(path, offset, limits) if sample else None
    data = _Data(path, offset, head[0] if head is not None else None, header_lines + 1,
                 complete=head is None or head[1])
    # the file's own count of its lines, before the parser (a NUL is refused here, naming its line)
    physical = count_lines(data.blocks(), file=path.name, first_line=data.first_line, complete=data.complete)
    bad = _BadLines(limits)
    table = _parse(data, len(names), bad, limits)
    if not data.complete:
        table = bad.drop_last(table)
    rows, malformed = _csv_lines(table, bad, header_lines, quoted=physical.quoted)
    reconcile(path.name, physical, complete=data.complete, parsed=np.concatenate([rows, malformed["row"].to_numpy()]),
              malformed_rows=malformed["row"].to_numpy(), malformed_breaks=np.frombuffer(bad.breaks, dtype=np.int64),
              expected=len(names), scan=data.scan)
    return RawFile(names, table, rows, malformed, complete=data.complete)


class _Data(NamedTuple):
    """The data of a CSV (the bytes after its header): the file from ``offset``, or a sample of it."""

    path: Path
    offset: int
    head: bytes | None  # a sample's bytes
    first_line: int
    complete: bool

    def blocks(self) -> Iterable[bytes]:
        return [self.head] if self.head is not None else file_blocks(self.path, self.offset)

    def scan(self, *, starts: bool = False) -> Layout:
        """The exact pass over the quoting (:func:`~hkc.extract.records.scan_records`)."""
        return scan_records(self.blocks(), file=self.path.name, first_line=self.first_line, complete=self.complete,
                            starts=starts)


def _parse(data: _Data, n: int, bad: _BadLines, limits: ReadLimits) -> pa.Table:
    """pyarrow's reading of the data as ``n`` text columns, in parallel blocks unless a malformed
    line needs its number; a file it cannot read raises the matching :class:`ExtractError`."""
    col_names = [f"c{i}" for i in range(n)]
    path = data.path

    def read(threads: bool) -> pa.Table:
        bad.clear()
        with (pa.BufferReader(data.head) if data.head is not None else pa.OSFile(str(path))) as source:
            if data.head is None:
                source.seek(data.offset)
            return pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(use_threads=threads, column_names=col_names, block_size=limits.block_size),
                parse_options=pacsv.ParseOptions(invalid_row_handler=bad, ignore_empty_lines=False,
                                                 newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(col_names, pa.string()),
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )

    try:
        with _quiet(bad):
            try:
                return read(threads=data.head is None)
            except pa.ArrowInvalid:
                if not bad.unnumbered:
                    raise
                return read(threads=False)  # slower, but it numbers each malformed line
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if text.strip() == "Empty CSV file":  # nothing after the header
            return pa.table({c: pa.array([], pa.string()) for c in col_names})
        if bad.mostly:
            raise file_error("mostly_malformed", file=path.name, bad=f"{bad.mostly[0]:,}", seen=f"{bad.mostly[1]:,}",
                             expected=n, example=escape(bad.text[0][:VALUE_SHOWN])) from None
        if "straddling" in text:  # a '"' never closed is named with its line, not as a long line
            data.scan()
        raise _csv_error(path, text, limits.block_size) from None
    except OSError as exc:
        raise file_error("unreadable_csv", file=path.name, reason=first_line(str(exc))) from None


def _csv_sample(path: Path, offset: int, limits: ReadLimits) -> tuple[bytes, bool] | None:
    """The data from ``offset`` up to the line break after about ``limits.sample_rows`` lines (at
    most ``limits.block_size`` bytes), and whether that is the whole file; None when no line break
    falls within those bytes (the full read then says why)."""
    wanted = limits.sample_rows + 1  # one more: the last record of a sample is left out
    chunks: list[bytes] = []
    size = lines = 0
    with path.open("rb") as fh:
        fh.seek(offset)
        while lines < wanted and size < limits.block_size:
            chunk = fh.read(min(1 << 20, limits.block_size - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        at_end = not fh.read(1)
    data = b"".join(chunks)
    codes = np.frombuffer(data, dtype=np.uint8)
    cr = codes == 13
    cr[:-1] &= codes[1:] != 10  # a CR ends a line unless an LF follows
    ends = np.flatnonzero((codes == 10) | cr)
    if at_end and len(ends) < wanted:
        return data, True
    return (data[:int(ends[min(wanted, len(ends)) - 1]) + 1], False) if len(ends) else None


class _BadLines:
    """pyarrow's handler for malformed lines: keeps where each is, compactly.

    A parallel read cannot number lines, so at the first malformed line it stops the read
    (``unnumbered``) and the caller reads again in order.  The start of the text is kept for the
    first ``limits.text_kept`` lines, so a file of garbage costs a few numbers per line; and once
    at least ``limits.malformed_limit`` lines, half of those read, are malformed it stops (``mostly``): the
    file does not have the header's layout, which is a file-level problem.
    """

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.clear()

    def clear(self) -> None:
        self.number, self.fields, self.breaks = array("q"), array("q"), array("q")
        self.blank = array("b")
        self.text: list[str] = []
        self.unnumbered = False
        self.mostly: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.number)

    def drop_last(self, table: pa.Table) -> pa.Table:
        """Leave out the last record read (a malformed line kept here, or the table's last row)."""
        total = table.num_rows + len(self)
        if len(self) and self.number[-1] == total:
            if len(self.text) == len(self):
                self.text.pop()
            for values in (self.number, self.fields, self.breaks, self.blank):
                values.pop()
            return table
        return table.slice(0, max(table.num_rows - 1, 0))

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if row.number is None:
            self.unnumbered = True
            return "error"
        text = row.text
        if len(self) + 1 >= self.limits.malformed_limit and (len(self) + 1) * 2 >= row.number:
            self.mostly = (len(self) + 1, row.number)  # not this file's layout: stop, don't quarantine it all
            self.text.append(text[:VALUE_SHOWN + 1])
            return "error"
        self.number.append(row.number)
        self.fields.append(row.actual_columns)
        self.breaks.append(_breaks(text))
        self.blank.append(not text.strip())
        if len(self.text) < self.limits.text_kept:
            self.text.append(text[:VALUE_SHOWN + 1])
        return "skip"


def _csv_error(path: Path, text: str, block_size: int) -> ExtractError:
    """The file-level error for a CSV that pyarrow could not read."""
    bad_utf8 = _bad_utf8_at(path)  # invalid UTF-8 can surface as any of several pyarrow errors
    if bad_utf8 is not None:
        return file_error("not_utf8", file=path.name, line=bad_utf8[0], byte=bad_utf8[1])
    if "straddling" in text:
        limit = f"{block_size >> 20} MiB" if block_size >= 1 << 20 else f"{block_size >> 10} KiB"
        return file_error("long_record", file=path.name, limit=limit)
    return file_error("unreadable_csv", file=path.name, reason=first_line(text))


def first_line(text: str) -> str:
    """The first line of an error text, at most 200 characters, for a one-line message."""
    lines = text.strip().splitlines()
    return (lines[0] if lines else "unknown error")[:200]


def _csv_lines(table: pa.Table, bad: _BadLines, header_lines: int, *,
               quoted: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Line where each parsed row and each malformed line starts.

    pyarrow numbers records 1, 2, … from the start of the data (malformed ones included); a
    record starts on the line after the previous record ends, so the line of record ``r`` is
    ``header_lines + r`` plus the line breaks inside quoted values of the records before it.
    """
    total = table.num_rows + len(bad)
    bad_rec = np.frombuffer(bad.number, dtype=np.int64)
    is_bad = np.zeros(total, dtype=bool)
    is_bad[bad_rec - 1] = True
    good_rec = np.flatnonzero(~is_bad) + 1
    lines = header_lines + np.arange(1, total + 1, dtype=np.int64)
    bad_breaks = np.frombuffer(bad.breaks, dtype=np.int64)
    multi_line = [c for c in table.columns if quoted and (pc.any(pc.match_substring(c, "\n")).as_py()
                                                          or pc.any(pc.match_substring(c, "\r")).as_py())]
    if multi_line or bad_breaks.any():
        breaks = np.zeros(total, dtype=np.int64)
        for col in multi_line:
            breaks[good_rec - 1] += (pc.count_substring(col, "\n").to_numpy() + pc.count_substring(col, "\r").to_numpy()
                                     - pc.count_substring(col, "\r\n").to_numpy())
        breaks[bad_rec - 1] = bad_breaks
        lines += np.cumsum(breaks) - breaks
    malformed = _NO_MALFORMED
    if len(bad):
        text = np.full(len(bad), "", dtype=object)
        text[:len(bad.text)] = bad.text
        malformed = pd.DataFrame({"row": lines[bad_rec - 1], "fields": np.frombuffer(bad.fields, dtype=np.int64),
                                  "text": text, "blank": np.frombuffer(bad.blank, dtype=np.int8).astype(bool)})
    return lines[good_rec - 1], malformed
