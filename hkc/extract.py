"""Load and validate an extract: every row is used or quarantined with a reason.

>>> from hkc.extract import load_extract                                   # doctest: +SKIP
>>> extract = load_extract("extract/", catalogue=defs.catalogue)           # doctest: +SKIP
>>> extract.counts["events"]                                               # doctest: +SKIP
{'read': 10432, 'used': 10398, 'rejected': 34}

File-level problems (a missing file or column, an unreadable file) raise
:class:`~hkc.errors.ExtractError` with one line built from :data:`hkc.contract.FILE_ERRORS`.
Row-level problems never do: the row is written to ``rejects`` with ``file, row, column, value,
rule, message`` (templates in :data:`hkc.contract.RULES`) and the rest load.  A row with several
problems has one reject line per problem but counts once, so per file ``read = used + rejected``.

``row`` is the line number in a CSV file (header = line 1) where the row starts, so a quoted
value holding a line break makes the next row start further down, as an editor shows it; in a
Parquet file it is the 1-based position.  Blank lines are rows too (rule ``blank_row``).  A
line with the wrong number of fields is a ``malformed_row``; a '"' that is never closed makes
the rest of the file one malformed row (or, past 16 MiB, a file-level error); and a file where at
least 1,000 lines, half of those read, are malformed is not in the header's layout at all
(file-level: wrong delimiter, or a header from another file).

Duplicates: of the rows sharing a ``person_id`` (people) or an ``(event_id, person_id)`` pair
(events), the first row that passes every other rule is used and the copies after it are
quarantined; a broken copy never displaces a good one.  An event whose person is in people but
was quarantined there is rejected as ``person_rejected``, pointing at that people row.

The work is vectorised with pyarrow: files are read as text in parallel blocks, and columns with
few distinct values (dates, codes, flags) are checked once per distinct value, not once per row.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import difflib
import hashlib
import re
import string
import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hkc.contract import (
    AGE_BAND_PATTERN,
    CONTRACT,
    FILE_ERRORS,
    GRADE_PATTERN,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    RULES,
    Column,
)
from hkc.definitions import Catalogue
from hkc.errors import ExtractError

__all__ = ["Extract", "RawFile", "load_extract", "find_files", "READERS", "REJECT_COLUMNS"]

REJECT_COLUMNS = ["file", "row", "column", "value", "rule", "message"]
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DATE_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?)?$"
_COUNT_RE = r"^\d{1,15}(?:\.0*)?$"
_VALUE_SHOWN = 60  # characters of an offending value kept in rejects
_BLOCK = 1 << 24  # CSV block size: a single line may not be longer than this
_HEADER_LIMIT = 1 << 20  # bytes in which the header line must end
_TEXT_KEPT = 100_000  # malformed lines whose start is kept to show in rejects
_MALFORMED_LIMIT = 1_000  # this many malformed lines, half of those read, make a file unreadable


@dataclass
class Extract:
    """A validated extract.

    ``people`` and ``events`` hold only rows that passed every rule, with typed columns (dates
    as ``datetime64[s]``, codes as categoricals in contract order, flags as ``boolean``, empty
    optional values as missing), ``row`` (the source row number) and an integer ``person_idx``
    (position in ``people``) used internally in place of the string id.  ``extra_columns`` maps a
    file name to the columns it has beyond the contract, which are ignored.
    """

    people: pd.DataFrame
    events: pd.DataFrame
    population: pd.DataFrame | None
    rejects: pd.DataFrame
    counts: dict[str, dict[str, int]]
    files: dict[str, Path]
    sha256: dict[str, str]
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    extract_date: dt.date | None = None

    def reconciles(self) -> bool:
        return all(c["read"] == c["used"] + c["rejected"] for c in self.counts.values())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]"  # the same, in pyarrow's regex dialect


def _escape(text: str) -> str:
    """Control characters (line breaks included) as escapes, so a message stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _error(key: str, *, file: str | None = None, column: str | None = None, **params: object) -> ExtractError:
    message = FILE_ERRORS[key].format(file=file, column=column, **params)
    return ExtractError(_escape(message), file=file, column=column)


# --------------------------------------------------------------------------------------------
# Reading files: every column as text, with the source row number of each row


class RawFile(NamedTuple):
    """A file read as text.

    ``names`` are the header names as written (surrounding whitespace removed); ``table`` holds
    one string column per name, called ``c0, c1, …`` by position (so repeated names are safe);
    ``rows`` is the source row of each table row; ``malformed`` lists the lines that could not
    be split into the header's number of fields (columns ``row, fields, text, blank``).
    """

    names: list[str]
    table: pa.Table
    rows: np.ndarray
    malformed: pd.DataFrame


HeaderCheck = Callable[[list[str]], None]
_NO_MALFORMED = pd.DataFrame({"row": pd.Series([], dtype=np.int64), "fields": pd.Series([], dtype=np.int64),
                              "text": pd.Series([], dtype=object), "blank": pd.Series([], dtype=bool)})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _breaks(text: str) -> int:
    """Line breaks in ``text`` as a CSV reader counts them (``\\r\\n``, ``\\r`` or ``\\n``)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


_QUOTED = re.compile(rb'"((?:[^"]|"")*)"([^,\r\n]*)')
_PLAIN = re.compile(rb"[^,\r\n]*")


def _csv_header(path: Path) -> tuple[list[str], int, int]:
    """Parse the header record as pyarrow does.  Returns names, byte offset of the data, lines used."""
    with path.open("rb") as fh:
        head = fh.read(_HEADER_LIMIT)
    name = path.name
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[1:4:2] == b"\0\0":
        raise _error("utf16", file=name)
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    if not head[start:].strip():
        raise _error("empty_file", file=name)
    fields: list[bytes] = []
    pos = start
    while True:
        if head.startswith(b'"', pos):
            m = _QUOTED.match(head, pos)
            if m is None:
                problem = ("is longer than 1 MiB" if len(head) == _HEADER_LIMIT
                           else "has a '\"' that is never closed")
                raise _error("header_unreadable", file=name, problem=problem)
            fields.append(m.group(1).replace(b'""', b'"') + m.group(2))
        else:
            m = _PLAIN.match(head, pos)
            fields.append(m.group(0))
        pos = m.end()
        if pos >= len(head):
            if len(head) == _HEADER_LIMIT:
                raise _error("header_unreadable", file=name, problem="is longer than 1 MiB")
            end = pos
            break
        if head[pos:pos + 1] == b",":
            pos += 1
            continue
        end = pos + (2 if head.startswith(b"\r\n", pos) else 1)
        break
    try:
        names = [f.decode("utf-8").strip() for f in fields]
    except UnicodeDecodeError:
        raise _error("not_utf8", file=name, line=1, byte=_first_bad_byte(head[start:pos])) from None
    return names, end, 1 + _breaks(head[start:pos].decode("utf-8"))


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


def _read_csv(path: Path, on_header: HeaderCheck | None = None) -> RawFile:
    """Read a CSV as text: pyarrow in parallel blocks; malformed lines are kept aside with their line."""
    names, offset, header_lines = _csv_header(path)
    if on_header is not None:
        on_header(names)
    n = len(names)
    col_names = [f"c{i}" for i in range(n)]
    bad = _BadLines()

    def read(threads: bool) -> pa.Table:
        bad.clear()
        with pa.OSFile(str(path)) as source:
            source.seek(offset)
            return pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(use_threads=threads, column_names=col_names, block_size=_BLOCK),
                parse_options=pacsv.ParseOptions(invalid_row_handler=bad, ignore_empty_lines=False,
                                                 newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(col_names, pa.string()),
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )

    try:
        with _quiet(bad):
            try:
                table = read(threads=True)
            except pa.ArrowInvalid:
                if not bad.unnumbered:
                    raise
                table = read(threads=False)  # slower, but it numbers each malformed line
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if text.strip() == "Empty CSV file":  # nothing after the header
            table = pa.table({c: pa.array([], pa.string()) for c in col_names})
        elif bad.mostly:
            raise _error("mostly_malformed", file=path.name, bad=f"{bad.mostly[0]:,}", seen=f"{bad.mostly[1]:,}",
                         expected=n, example=_escape(bad.text[0][:_VALUE_SHOWN])) from None
        else:
            raise _csv_error(path, text) from None
    except OSError as exc:
        raise _error("unreadable_csv", file=path.name, reason=_first_line(str(exc))) from None
    return RawFile(names, table, *_csv_lines(table, bad, header_lines, quoted=_has_quote(path, offset)))


class _BadLines:
    """pyarrow's handler for malformed lines: keeps where each is, compactly.

    A parallel read cannot number lines, so at the first malformed line it stops the read
    (``unnumbered``) and the caller reads again in order.  The start of the text is kept for the
    first ``_TEXT_KEPT`` lines, so a file of garbage costs a few numbers per line; and once at
    least ``_MALFORMED_LIMIT`` lines, half of those read, are malformed it stops (``mostly``): the
    file does not have the header's layout, which is a file-level problem.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.number, self.fields, self.breaks = array("q"), array("q"), array("q")
        self.blank = array("b")
        self.text: list[str] = []
        self.unnumbered = False
        self.mostly: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.number)

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if row.number is None:
            self.unnumbered = True
            return "error"
        text = row.text
        if len(self) + 1 >= _MALFORMED_LIMIT and (len(self) + 1) * 2 >= row.number:
            self.mostly = (len(self) + 1, row.number)  # not this file's layout: stop, don't quarantine it all
            self.text.append(text[:_VALUE_SHOWN + 1])
            return "error"
        self.number.append(row.number)
        self.fields.append(row.actual_columns)
        self.breaks.append(_breaks(text))
        self.blank.append(not text.strip())
        if len(self.text) < _TEXT_KEPT:
            self.text.append(text[:_VALUE_SHOWN + 1])
        return "skip"


def _csv_error(path: Path, text: str) -> ExtractError:
    """The file-level error for a CSV that pyarrow could not read."""
    bad_utf8 = _bad_utf8_at(path)  # invalid UTF-8 can surface as any of several pyarrow errors
    if bad_utf8 is not None:
        return _error("not_utf8", file=path.name, line=bad_utf8[0], byte=bad_utf8[1])
    if "straddling" in text:
        limit = f"{_BLOCK >> 20} MiB" if _BLOCK >= 1 << 20 else f"{_BLOCK >> 10} KiB"
        return _error("long_record", file=path.name, limit=limit)
    return _error("unreadable_csv", file=path.name, reason=_first_line(text))


def _has_quote(path: Path, offset: int) -> bool:
    """Whether the data has a '"': without one, no value can hold a line break."""
    with path.open("rb") as fh:
        fh.seek(offset)
        return any(b'"' in block for block in iter(lambda: fh.read(1 << 20), b""))


def _first_line(text: str) -> str:
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


def _read_parquet(path: Path, on_header: HeaderCheck | None = None) -> RawFile:
    """Read a Parquet file, casting every column to text (dates as YYYY-MM-DD)."""
    try:
        with pq.ParquetFile(path) as parquet:
            names = [str(n).strip() for n in parquet.schema_arrow.names]
            if on_header is not None:
                on_header(names)
            table = parquet.read()
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # a damaged footer can hold bad names
        raise _error("unreadable_parquet", file=path.name, reason=_first_line(str(exc))) from None
    columns = {f"c{i}": _as_text(col, path.name, name)
               for i, (name, col) in enumerate(zip(names, table.columns, strict=True))}
    return RawFile(names, pa.table(columns), np.arange(1, table.num_rows + 1, dtype=np.int64), _NO_MALFORMED)


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
                raise _error("not_utf8_column", file=file, column=name) from None
        return col.cast(pa.string()).fill_null("")
    except (pa.ArrowException, ValueError):
        raise _error("bad_type", file=file, column=name, type=col.type) from None


# ``READERS[suffix](path, on_header=None) -> RawFile``; ``on_header(names)`` is called with the
# header names before the rows are read, so a missing column stops a large file at once.
READERS: dict[str, Callable[..., RawFile]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def find_files(data_dir: Path) -> dict[str, Path]:
    """Map each contract file name to its path in ``data_dir``; raise if required ones are missing."""
    data_dir = Path(data_dir)
    folder = str(data_dir)
    if not data_dir.is_dir():
        raise _error("no_folder", file=folder, folder=folder)
    try:
        empty = not any(data_dir.iterdir())
    except OSError as exc:
        raise _error("unreadable_file", file=folder, reason=_first_line(str(exc))) from None
    if empty:
        raise _error("empty_folder", file=folder, folder=folder,
                     expected=", ".join(f"{n}{ext}" for n in REQUIRED_FILES for ext in READERS))
    found: dict[str, Path] = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        candidates = [data_dir / f"{name}{ext}" for ext in READERS if (data_dir / f"{name}{ext}").is_file()]
        if len(candidates) > 1:
            raise _error("both_formats", file=candidates[0].name, folder=folder, first=candidates[0].name,
                         second=candidates[1].name)
        if candidates:
            found[name] = candidates[0]
        elif name in REQUIRED_FILES:
            expected = " or ".join(f"{name}{ext}" for ext in READERS)
            others = sorted(p.name for p in data_dir.glob(f"{name}.*"))
            if others:
                raise _error("unsupported_file", file=others[0], folder=folder, found=others[0], name=name,
                             expected=expected)
            raise _error("missing_file", file=f"{name}.*", folder=folder, name=name, expected=expected)
    return found


def _resolve_columns(file_name: str, names: list[str], spec: tuple[Column, ...]) -> tuple[dict[str, int], list[str]]:
    """Match header names to contract columns (case and surrounding whitespace ignored)."""
    keys = [n.lstrip("\ufeff").strip().lower() for n in names]
    wanted = {c.name for c in spec}
    for col in spec:
        times = keys.count(col.name)
        if times > 1:
            raise _error("duplicate_column", file=file_name, column=col.name, times=times)
    for col in spec:
        if col.required and col.name not in keys:
            found = [n for n in keys if n]
            delimiters = [(d, label) for d, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'")) if d in "".join(found)]
            if len(found) == 1 and delimiters:
                raise _error("wrong_delimiter", file=file_name, column=col.name, delimiter=delimiters[0][1])
            close = difflib.get_close_matches(col.name, [n for n in found if n not in wanted], n=1, cutoff=0.7)
            if close:
                raise _error("misnamed_column", file=file_name, column=col.name, found=close[0])
            shown = ", ".join(repr(n) for n in found[:20]) + (", …" if len(found) > 20 else "")
            raise _error("missing_column", file=file_name, column=col.name, found=shown or "(none)")
    positions = {k: i for i, k in enumerate(keys) if k in wanted}
    extra = list(dict.fromkeys(n or f"(unnamed column {i + 1})" for i, (n, k) in enumerate(zip(names, keys, strict=True))
                               if k not in wanted))
    return positions, extra


# --------------------------------------------------------------------------------------------
# Checking columns


class _Values:
    """One column's trimmed text, either per row (``idx`` is None) or per distinct value with
    ``idx`` giving each row's position among them."""

    def __init__(self, values: pa.Array | pa.ChunkedArray, idx: np.ndarray | None):
        self.values = values
        self.idx = idx
        self.present_v = _mask(pc.not_equal(values, ""))  # per value: not empty
        self.present = self.spread(self.present_v)  # per row

    @classmethod
    def of(cls, col: pa.ChunkedArray | None, n: int, *, distinct: bool) -> _Values:
        if col is None:  # an optional column the file does not have: every value is empty
            return cls(pa.array([""], pa.string()), np.zeros(n, dtype=np.int32))
        if not distinct:
            return cls(pc.utf8_trim_whitespace(col), None)
        enc = pc.dictionary_encode(_one_array(col))
        return cls(pc.utf8_trim_whitespace(enc.dictionary), enc.indices.to_numpy(zero_copy_only=False))

    def spread(self, per_value: np.ndarray) -> np.ndarray:
        return per_value if self.idx is None else per_value[self.idx]

    def at(self, pos: np.ndarray) -> pa.Array:
        taken = self.values.take(pa.array(pos if self.idx is None else self.idx[pos]))
        return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken

    def keys(self) -> tuple[np.ndarray, int]:
        """Per-row integer codes, equal exactly when the trimmed values are equal."""
        enc = pc.dictionary_encode(_one_array(self.values))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        return self.spread(codes), len(enc.dictionary)


def _one_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (hash kernels are much faster on one array than on many chunks)."""
    if isinstance(col, pa.Array):
        return col
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.nbytes >= (1 << 31) - (1 << 24):  # offsets of one string array must fit in int32
        col = col.cast(pa.large_string())
    return col.combine_chunks()


def _index_in(values: pa.Array | pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (-1 when absent)."""
    values = _one_array(values)
    if values.type != value_set.type:
        values, value_set = values.cast(pa.large_string()), value_set.cast(pa.large_string())
    return _np(pc.index_in(values, value_set=value_set).fill_null(-1)).astype(np.int64)


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return _np(arr.fill_null(False)).astype(bool)


def _shown(values: pa.Array) -> pa.Array:
    """Values as rejects show them: cut to 60 characters, control characters escaped."""
    long = _mask(pc.greater(pc.utf8_length(values), _VALUE_SHOWN))
    if long.any():
        values = pc.if_else(pa.array(long), pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, _VALUE_SHOWN), "…", ""), values)
    control = _mask(pc.match_substring_regex(values, _CONTROL_RE2))
    if control.any():
        py = values.to_pylist()
        for i in np.flatnonzero(control):
            py[i] = _escape(py[i])
        values = pa.array(py, pa.string())
    return values.cast(pa.string())


def _render(template: str, n: int, params: dict[str, pa.Array | str]) -> pa.Array:
    """Fill a message template with per-row values (arrays of length ``n``) or constants."""
    parts: list[pa.Array | str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(params[name])
    if not any(isinstance(p, pa.Array) for p in parts):
        return pa.array(["".join(parts)] * n, pa.string())  # type: ignore[arg-type]
    return pc.binary_join_element_wise(*parts, "")


class _Problems:
    """Row-level problems of one file, collected as arrays and rendered once."""

    def __init__(self, n: int, *, blank: np.ndarray | None = None):
        self.n = n
        self.blank = np.zeros(n, dtype=bool) if blank is None else blank
        self.bad = self.blank.copy()
        self.parts: list[dict[str, object]] = []
        if self.blank.any():
            self._append(np.flatnonzero(self.blank), "", pa.array([""] * int(self.blank.sum())), "blank_row", {})

    def add(self, mask: np.ndarray, rule: str, column: str, values: _Values | None,
            **params: str | Callable[[np.ndarray], np.ndarray | pa.Array]) -> None:
        """Quarantine rows where ``mask``; ``params`` are constants or functions of row positions."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.blank)
        if not len(pos):
            return
        self.bad[pos] = True
        shown = _shown(values.at(pos)) if values is not None else pa.array([""] * len(pos), pa.string())
        filled: dict[str, pa.Array | str] = {}
        for key, val in params.items():
            filled[key] = val if isinstance(val, str) else _shown(pa.array(val(pos)).cast(pa.string()))
        self._append(pos, column, shown, rule, filled)

    def _append(self, pos: np.ndarray, column: str, shown: pa.Array, rule: str, params: dict) -> None:
        message = _render(RULES[rule], len(pos), {"value": shown, "column": column, **params})
        self.parts.append({"pos": pos, "column": column, "value": shown, "rule": rule, "message": message})

    def table(self, file: str, rows: np.ndarray) -> pa.Table:
        return pa.concat_tables([_reject_table(file, rows[p["pos"]], p["column"], p["value"], p["rule"], p["message"])
                                 for p in self.parts] or [_REJECTS.empty_table()])


# large_string: millions of messages may hold more than the 2 GiB one string array can
_STRING = pa.string()
_REJECTS = pa.schema([("file", pa.string()), ("row", pa.int64()), ("column", pa.string()),
                      ("value", pa.large_string()), ("rule", pa.string()), ("message", pa.large_string())])


def _reject_table(file: str, rows: np.ndarray, column: str, value: pa.Array | str, rule: pa.Array | str,
                  message: pa.Array) -> pa.Table:
    n = len(rows)

    def text(x: pa.Array | str, kind: pa.DataType = _STRING) -> pa.Array:
        return x.cast(kind) if isinstance(x, pa.Array) else pa.repeat(pa.scalar(x, kind), n)

    large = pa.large_string()
    return pa.Table.from_arrays([text(file), pa.array(rows, pa.int64()), text(column), text(value, large), text(rule),
                                 text(message, large)], schema=_REJECTS)


class _Checked(NamedTuple):
    values: _Values
    out: np.ndarray | pa.Array | None  # per value (or per row): the typed, canonical value
    present: np.ndarray  # per row: a non-empty value


def _text_out(values: _Values, present_v: np.ndarray, required: bool) -> pa.Array | pa.ChunkedArray:
    return values.values if required else pc.if_else(pa.array(present_v), values.values, pa.scalar(None, pa.string()))


def _check_column(col: Column, values: _Values, problems: _Problems, *, codes: tuple[str, ...],
                  extract_date: dt.date) -> _Checked:
    """Validate one column; returns its trimmed values and the typed output per value."""
    name = col.name
    v = values.values
    present_v, present = values.present_v, values.present
    if col.required:
        problems.add(~present, "missing_value", name, values)

    def flag(bad_v: np.ndarray, rule: str, **params: str) -> None:
        problems.add(present & values.spread(bad_v), rule, name, values, **params)

    out: np.ndarray | pa.Array | pa.ChunkedArray
    if col.kind in ("id", "text"):
        out = _text_out(values, present_v, col.required)
    elif col.kind == "date":
        ok = pc.match_substring_regex(v, _DATE_RE)
        day = pc.utf8_slice_codeunits(v, 0, 10)
        parsed = pc.strptime(pc.if_else(ok, day, pa.scalar(None, pa.string())), format="%Y-%m-%d", unit="s",
                             error_is_null=True)
        valid = pc.and_(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day),  # no 31 February
                        pc.greater_equal(parsed, pa.scalar(dt.datetime(1, 1, 1), pa.timestamp("s"))))
        out = _np(pc.if_else(valid, parsed, pa.scalar(None, pa.timestamp("s")))).astype("datetime64[s]")
        bad_v = np.isnat(out)
        flag(bad_v, "bad_date")
        flag(~bad_v & (out > np.datetime64(extract_date, "s")), "future_date", extract_date=extract_date.isoformat())
    elif col.kind == "code":
        allowed = col.codes if col.codes is not None else codes
        out = _np(pc.index_in(pc.utf8_lower(v), value_set=pa.array([c.lower() for c in allowed])).fill_null(-1))
        flag(out < 0, "unknown_code", codes=", ".join(allowed))
    elif col.kind == "bool":
        pos = _np(pc.index_in(pc.utf8_lower(v), value_set=pa.array(_TRUE + _FALSE)).fill_null(-1))
        flag(pos < 0, "bad_bool")
        out = np.where(pos < 0, None, pos < len(_TRUE))
    elif col.kind == "grade":
        upper = pc.utf8_upper(v)
        good = _mask(pc.match_substring_regex(upper, GRADE_PATTERN))
        flag(~good, "bad_grade")
        out = pc.if_else(pa.array(good & present_v), upper, pa.scalar(None, pa.string()))
    elif col.kind == "count":
        good = _mask(pc.match_substring_regex(v, _COUNT_RE))
        flag(~good, "bad_count")
        digits = pc.replace_substring_regex(pc.if_else(pa.array(good), v, "0"), r"\..*$", "")
        out = _np(pc.cast(digits, pa.int64()))
    elif col.kind == "age_band":
        norm = pc.replace_substring(v, " ", "")
        good = _mask(pc.match_substring_regex(norm, AGE_BAND_PATTERN))
        flag(~good, "bad_age_band")
        out = norm
    else:  # pragma: no cover - the contract only uses the kinds above
        raise AssertionError(col.kind)
    return _Checked(values, out, present)


def _materialise(col: Column, checked: _Checked, keep: np.ndarray, codes: tuple[str, ...]) -> pd.Series | np.ndarray:
    """The typed output column for the kept rows."""
    values, out = checked.values, checked.out
    sel = np.flatnonzero(keep)
    if isinstance(out, pa.Array | pa.ChunkedArray):
        taken = out.take(pa.array(sel if values.idx is None else values.idx[sel]))
        return taken.to_pandas()
    per_row = out[values.idx[sel]] if values.idx is not None else out[sel]
    if col.kind == "code":
        return pd.Categorical.from_codes(per_row.astype(np.int64),
                                         categories=list(col.codes if col.codes is not None else codes))
    if col.kind == "bool":
        return pd.array(per_row, dtype="boolean")
    return per_row


def _later_copies(ok: np.ndarray, keys: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Which ``ok`` rows repeat the keys of an earlier ``ok`` row, and (per row) that earlier row.

    Each key is per-row integer codes in ``[0, n)``.  Rows whose first key is unique are dropped
    at once (``bincount``), so only the few candidates are sorted.
    """
    pos = np.flatnonzero(ok)
    group = np.zeros(len(pos), dtype=np.int64)
    n_groups = 1
    for i, (codes, n) in enumerate(keys):
        group = group * max(n, 1) + codes[pos].astype(np.int64)
        if i:
            _, group = np.unique(group, return_inverse=True)
        n_groups = int(group.max()) + 1 if len(group) else 0
        repeated = np.bincount(group, minlength=n_groups)[group] > 1
        pos, group = pos[repeated], group[repeated]
    _, first_at, inverse = np.unique(group, return_index=True, return_inverse=True)
    first = pos[first_at][inverse]
    later = pos > first
    dup = np.zeros(len(ok), dtype=bool)
    dup[pos[later]] = True
    first_of = np.full(len(ok), -1, dtype=np.int64)
    first_of[pos[later]] = first[later]
    return dup, first_of


class _Checkedfile(NamedTuple):
    columns: dict[str, _Checked]
    problems: _Problems


def _check_file(file: str, raw: RawFile, positions: dict[str, int], *, codes: tuple[str, ...],
                extract_date: dt.date) -> _Checkedfile:
    """Single-row rules for every contract column of one file."""
    n = raw.table.num_rows
    values = {col.name: _Values.of(raw.table.column(positions[col.name]) if col.name in positions else None,
                                   n, distinct=col.kind not in ("id", "text"))
              for col in CONTRACT[file]}
    blank = np.ones(n, dtype=bool)  # every field empty, extra columns included
    for name in positions:
        blank &= ~values[name].present
    maybe = np.flatnonzero(blank)
    for i in set(range(raw.table.num_columns)) - set(positions.values()):
        field_ = pc.utf8_trim_whitespace(raw.table.column(i).take(pa.array(maybe)))
        blank[maybe[_mask(pc.not_equal(field_, ""))]] = False
    problems = _Problems(n, blank=blank)
    checked = {col.name: _check_column(col, values[col.name], problems, codes=codes, extract_date=extract_date)
               for col in CONTRACT[file]}
    return _Checkedfile(checked, problems)


def _malformed_table(path: Path, malformed: pd.DataFrame, expected: int) -> pa.Table:
    """Rejects for the lines that could not be split into fields (whitespace-only ones are blank)."""
    n = len(malformed)
    blank = pa.array(malformed["blank"].to_numpy(dtype=bool))
    shown = _shown(pa.array(malformed["text"].to_numpy(), pa.string()))
    message = _render(RULES["malformed_row"], n, {"value": shown, "expected": str(expected),
                                                  "fields": pa.array(malformed["fields"].to_numpy()).cast(pa.string())})
    return _reject_table(path.name, malformed["row"].to_numpy(), "", pc.if_else(blank, "", shown),
                         pc.if_else(blank, "blank_row", "malformed_row"), pc.if_else(blank, RULES["blank_row"], message))


def _frame(file: str, checked: dict[str, _Checked], keep: np.ndarray, rows: np.ndarray,
           codes: tuple[str, ...]) -> pd.DataFrame:
    data = {col.name: _materialise(col, checked[col.name], keep, codes) for col in CONTRACT[file]}
    data["row"] = rows[keep]
    return pd.DataFrame(data)


def _malformed_person_ids(raw, columns: dict[str, int]) -> pd.DataFrame:
    """The person_id a malformed people line most likely carries (its field in the header's
    position), so that person's events say the person was quarantined rather than unknown."""
    bad = raw.malformed
    position = columns.get("person_id")
    if not len(bad) or position is None or "text" not in bad:
        return pd.DataFrame({"id": pd.Series([], dtype=object), "row": pd.Series([], dtype=np.int64)})
    text = bad["text"].fillna("").astype(str)
    fields = text.str.split(",")
    ids = fields.map(lambda f: f[position].strip().strip('"').strip() if len(f) > position else "")
    keep = ids != ""
    return pd.DataFrame({"id": ids[keep].to_numpy(dtype=object), "row": bad["row"][keep].to_numpy()})


def load_extract(data_dir: str | Path, *, catalogue: Catalogue, extract_date: dt.date | None = None,
                 progress: Callable[[str], None] | None = None) -> Extract:
    """Load, validate and quarantine an extract folder.

    Parameters
    ----------
    data_dir : folder holding ``people.*``, ``events.*`` and optionally ``population.*``.
    catalogue : the indicator catalogue; event ``type`` must be one of its codes.
    extract_date : no date may be after it (default: today).
    progress : called with a short message as each file is read and checked.

    Raises
    ------
    ExtractError
        for a file-level problem (message from :data:`hkc.contract.FILE_ERRORS`).
    """
    if isinstance(extract_date, dt.datetime):
        extract_date = extract_date.date()
    extract_date = extract_date or dt.date.today()
    files = find_files(Path(data_dir))
    say = progress or (lambda _msg: None)
    codes = catalogue.codes
    raws: dict[str, RawFile] = {}
    checked: dict[str, _Checkedfile] = {}
    extra_columns: dict[str, list[str]] = {}
    resolved: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        say(f"reading {path.name}")

        def on_header(names: list[str], name: str = name, path: Path = path) -> None:
            resolved[name], extra = _resolve_columns(path.name, names, CONTRACT[name])
            if extra:
                extra_columns[path.name] = extra

        try:
            raw = READERS[path.suffix](path, on_header)
        except OSError as exc:  # permissions, a file that vanished, a device error
            raise _error("unreadable_file", file=path.name, reason=_first_line(str(exc))) from None
        if raw.table.num_rows + len(raw.malformed) == 0 and name in REQUIRED_FILES:
            raise _error("no_rows", file=path.name)
        raws[name] = raw
        say(f"checking {path.name} ({raw.table.num_rows + len(raw.malformed):,} rows)")
        checked[name] = _check_file(name, raw, resolved[name], codes=codes, extract_date=extract_date)

    # people: the first row of each person_id that passes every rule is used; later copies are not
    people_cols, people_problems = checked["people"]
    people_rows = raws["people"].rows
    pid = people_cols["person_id"]
    dup, first = _later_copies(~people_problems.bad, [pid.values.keys()])
    people_problems.add(dup, "duplicate_person_id", "person_id", pid.values, first_row=lambda p: people_rows[first[p]])
    people_keep = ~people_problems.bad
    kept_ids = pid.values.at(np.flatnonzero(people_keep))
    dob = people_cols["date_of_birth"]
    kept_dob = dob.values.spread(dob.out)[people_keep]

    # events: the person must be in people, used there, and born by the event date
    say("checking events against people")
    events_cols, events_problems = checked["events"]
    events_rows = raws["events"].rows
    epid = events_cols["person_id"]
    person_idx = epid.values.spread(_index_in(epid.values.values, kept_ids))
    unknown = epid.present & (person_idx < 0)
    if unknown.any():
        rejected = ~people_keep & pid.present
        quarantined = pd.DataFrame({"id": pid.values.at(np.flatnonzero(rejected)).to_pandas(),
                                    "row": people_rows[rejected]})
        rej = pd.concat([quarantined, _malformed_person_ids(raws["people"], resolved["people"])],
                        ignore_index=True).groupby("id", sort=False)["row"].min()
        rej_ids = pa.array(rej.index.to_numpy(dtype=object), pa.large_string())
        rej_pos = epid.values.spread(_index_in(epid.values.values, rej_ids))
        rej_rows = rej.to_numpy()
        events_problems.add(unknown & (rej_pos >= 0), "person_rejected", "person_id", epid.values,
                            first_row=lambda p: rej_rows[rej_pos[p]])
        events_problems.add(unknown & (rej_pos < 0), "unknown_person", "person_id", epid.values)
    date = events_cols["date"]
    event_date = date.values.spread(date.out)
    birth = np.where(person_idx >= 0, kept_dob[np.maximum(person_idx, 0)] if len(kept_dob) else np.datetime64("NaT"),
                     np.datetime64("NaT")).astype("datetime64[s]")
    before = (person_idx >= 0) & ~np.isnat(event_date) & (event_date < birth)
    events_problems.add(before, "before_birth", "date", date.values,
                        date_of_birth=lambda p: np.datetime_as_string(birth[p], unit="D"))
    eid = events_cols["event_id"]
    ok = ~events_problems.bad  # so every ok row has a person_idx
    dup, first = _later_copies(ok, [eid.values.keys(), (np.maximum(person_idx, 0), len(kept_ids))])
    events_problems.add(dup, "duplicate_event", "event_id", eid.values, person_id=epid.values.at,
                        first_row=lambda p: events_rows[first[p]])

    # assemble
    frames: dict[str, pd.DataFrame] = {}
    reject_parts: list[pa.Table] = []
    counts: dict[str, dict[str, int]] = {}
    for order, (name, path) in enumerate(files.items()):
        raw, (cols, problems) = raws[name], checked[name]
        keep = ~problems.bad
        frames[name] = _frame(name, cols, keep, raw.rows, codes)
        for part in (problems.table(path.name, raw.rows), _malformed_table(path, raw.malformed, len(raw.names))):
            reject_parts.append(part.append_column("order", pa.repeat(pa.scalar(order, pa.int8()), len(part))))
        counts[name] = {"read": len(keep) + len(raw.malformed), "used": int(keep.sum()),
                        "rejected": int((~keep).sum()) + len(raw.malformed)}
    people, events = frames["people"], frames["events"]
    people["person_idx"] = np.arange(len(people), dtype=np.int32)
    events["person_idx"] = person_idx[~events_problems.bad].astype(np.int32)
    # files in contract order, rows in file order, a row's problems in the order found (a stable sort)
    rejects = pa.concat_tables(reject_parts).sort_by([("order", "ascending"), ("row", "ascending")])
    rejects = rejects.drop_columns(["order"]).to_pandas()
    say(f"checked {sum(c['read'] for c in counts.values()):,} rows, quarantined "
        f"{sum(c['rejected'] for c in counts.values()):,}")
    return Extract(
        people=people, events=events, population=frames.get("population"), rejects=rejects,
        counts=counts, files=files, sha256={n: _sha256(p) for n, p in files.items()},
        extra_columns=extra_columns, extract_date=extract_date,
    )
