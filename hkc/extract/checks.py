"""Check single rows: the per-column rules of :data:`hkc.extract.contract.CONTRACT`, and the rejects they make.

>>> checked = check_file("events", raw, positions, codes=catalogue.codes,   # doctest: +SKIP
...                      extract_date=dt.date(2026, 3, 31))
>>> checked.problems.bad.sum(), checked.problems.table("events.csv", raw.rows).num_rows  # doctest: +SKIP
(33, 35)

:func:`check_file` takes a file as :mod:`hkc.extract.readers` read it (every column text) and applies
every rule that needs only the row itself: required values present (``missing_value``), dates
real and not after the extract date, codes, flags, grades, counts and age bands well formed, ids
and text free of the control characters no report or workbook can hold (``control_character``:
C0 controls other than tab and line breaks, NUL included), and rows not wholly empty
(``blank_row``).  It returns each column's trimmed values with the typed
value they stand for, and the :class:`Problems` found.  Rules that compare rows (duplicates, an
event's person) live in :mod:`hkc.extract.load`, which adds them to the same :class:`Problems`.

A problem is one reject line ``file, row, column, value, rule, message`` (templates in
:data:`hkc.extract.contract.RULES`); a row with several problems has several lines but is rejected once.
The work is vectorised with pyarrow: columns with few distinct values (dates, codes, flags) are
checked once per distinct value, not once per row, and messages are rendered as whole arrays.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hkc.extract.contract import AGE_BAND_PATTERN, FILE_COLUMNS, GRADE_PATTERN, RULES, Column
from hkc.extract.raw import VALUE_SHOWN, RawFile, escape

__all__ = ["Values", "Problems", "Checked", "CheckedFile", "check_file", "check_column", "index_in",
           "malformed_rejects", "kept_frame"]

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DATE_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?)?$"
_COUNT_RE = r"^\d{1,15}(?:\.0*)?$"
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]"  # what readers.escape escapes, in pyarrow's regex dialect
# C0 control characters a report or workbook cannot hold (openpyxl refuses exactly these); tab and
# line breaks are text a CSV value may quote
_UNWRITABLE_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_TEXT_CONTROLS = np.array([9, 10, 13], dtype=np.uint8)


class Values:
    """One column's trimmed text, either per row (``idx`` is None) or per distinct value with
    ``idx`` giving each row's position among them."""

    def __init__(self, values: pa.Array | pa.ChunkedArray, idx: np.ndarray | None):
        self.values = values
        self.idx = idx
        self.present_v = _mask(pc.not_equal(values, ""))  # per value: not empty
        self.present = self.spread(self.present_v)  # per row

    @classmethod
    def of(cls, col: pa.ChunkedArray | None, n: int, *, distinct: bool) -> Values:
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


def index_in(values: pa.Array | pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
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
    long = _mask(pc.greater(pc.utf8_length(values), VALUE_SHOWN))
    if long.any():
        values = pc.if_else(pa.array(long), pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, VALUE_SHOWN), "…", ""), values)
    control = _mask(pc.match_substring_regex(values, _CONTROL_RE2))
    if control.any():
        py = values.to_pylist()
        for i in np.flatnonzero(control):
            py[i] = escape(py[i])
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


class Problems:
    """Row-level problems of one file.

    Each :meth:`add` keeps only the rows' positions and what their message needs; values and
    messages are rendered by :meth:`table`, so that a file refused as a whole (after a look at
    :meth:`tally`) never renders millions of messages.
    """

    def __init__(self, n: int, *, blank: np.ndarray | None = None):
        self.n = n
        self.blank = np.zeros(n, dtype=bool) if blank is None else blank
        self.bad = self.blank.copy()
        self.parts: list[_Part] = []
        if self.blank.any():
            self.parts.append(_Part(np.flatnonzero(self.blank), "", None, "blank_row", {}))

    def add(self, mask: np.ndarray, rule: str, column: str, values: Values | None,
            **params: str | Callable[[np.ndarray], np.ndarray | pa.Array]) -> None:
        """Quarantine rows where ``mask``; ``params`` are constants or functions of row positions."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.blank)
        if not len(pos):
            return
        self.bad[pos] = True
        filled = {key: val if isinstance(val, str) else pa.array(val(pos)) for key, val in params.items()}
        self.parts.append(_Part(pos, column, values, rule, filled))

    @property
    def count(self) -> int:
        """Reject lines: a row with several problems has one line for each."""
        return sum(len(p.pos) for p in self.parts)

    def tally(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Per ``(rule, column)``: how many rows it rejects and the position of the first."""
        tally: dict[tuple[str, str], tuple[int, int]] = {}
        for p in self.parts:
            count, first = tally.get((p.rule, p.column), (0, self.n))
            tally[(p.rule, p.column)] = (count + len(p.pos), min(first, int(p.pos[0])))
        return tally

    def message_at(self, rule: str, column: str, position: int) -> str:
        """The reject message of one row for one rule and column."""
        for p in self.parts:
            if p.rule == rule and p.column == column and position in p.pos:
                return p.render(np.flatnonzero(p.pos == position))[1][0].as_py()
        raise KeyError((rule, column, position))

    def table(self, file: str, rows: np.ndarray) -> pa.Table:
        tables = []
        for p in self.parts:
            value, message = p.render()
            tables.append(_reject_table(file, rows[p.pos], p.column, value, p.rule, message))
        return pa.concat_tables(tables or [_REJECTS.empty_table()])


class _Part(NamedTuple):
    """Rows rejected by one rule in one column, not yet rendered."""

    pos: np.ndarray
    column: str
    values: Values | None
    rule: str
    params: dict[str, pa.Array | str]

    def render(self, which: np.ndarray | None = None) -> tuple[pa.Array, pa.Array]:
        """Values as shown and messages, for all the rows or those at ``which`` (indices into pos)."""
        pos = self.pos if which is None else self.pos[which]
        take = (lambda a: a) if which is None else (lambda a: a.take(pa.array(which)))
        shown = _shown(self.values.at(pos)) if self.values is not None else pa.array([""] * len(pos), pa.string())
        filled = {k: v if isinstance(v, str) else _shown(take(v).cast(pa.string())) for k, v in self.params.items()}
        message = _render(RULES[self.rule], len(pos), {"value": shown, "column": self.column, **filled})
        return shown, message


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


class Checked(NamedTuple):
    values: Values
    out: np.ndarray | pa.Array | None  # per value (or per row): the typed, canonical value
    present: np.ndarray  # per row: a non-empty value


def _text_out(values: Values, present_v: np.ndarray, required: bool) -> pa.Array | pa.ChunkedArray:
    return values.values if required else pc.if_else(pa.array(present_v), values.values, pa.scalar(None, pa.string()))


def check_column(col: Column, values: Values, problems: Problems, *, codes: tuple[str, ...],
                 extract_date: dt.date) -> Checked:
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
        flag(_unwritable(v), "control_character")
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
    return Checked(values, out, present)


def _unwritable(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value: holds a control character no report can hold.  The text bytes are looked at first
    (one vectorised comparison), so a clean column costs no regular expression."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = chunk.buffers()[-1] if len(chunk) else None
        if data is None:
            continue
        low = np.frombuffer(data, dtype=np.uint8)
        low = low[low < 32]
        if len(low) and not np.isin(low, _TEXT_CONTROLS).all():
            return _mask(pc.match_substring_regex(values, _UNWRITABLE_RE2))
    return np.zeros(len(values), dtype=bool)


def _materialise(col: Column, checked: Checked, keep: np.ndarray, codes: tuple[str, ...]) -> pd.Series | np.ndarray:
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



class CheckedFile(NamedTuple):
    """One file's checked columns (by contract name) and the problems of its rows."""

    columns: dict[str, Checked]
    problems: Problems


def check_file(file: str, raw: RawFile, positions: dict[str, int], *, codes: tuple[str, ...],
               extract_date: dt.date) -> CheckedFile:
    """Single-row rules for every contract column of one file."""
    n = raw.table.num_rows
    values = {col.name: Values.of(raw.table.column(positions[col.name]) if col.name in positions else None,
                                  n, distinct=col.kind not in ("id", "text"))
              for col in FILE_COLUMNS[file]}
    blank = np.ones(n, dtype=bool)  # every field empty, extra columns included
    for name in positions:
        blank &= ~values[name].present
    maybe = np.flatnonzero(blank)
    for i in set(range(raw.table.num_columns)) - set(positions.values()):
        field_ = pc.utf8_trim_whitespace(raw.table.column(i).take(pa.array(maybe)))
        blank[maybe[_mask(pc.not_equal(field_, ""))]] = False
    problems = Problems(n, blank=blank)
    checked = {col.name: check_column(col, values[col.name], problems, codes=codes, extract_date=extract_date)
               for col in FILE_COLUMNS[file]}
    return CheckedFile(checked, problems)


def malformed_rejects(path: Path, malformed: pd.DataFrame, expected: int) -> pa.Table:
    """Rejects for the lines that could not be split into fields (whitespace-only ones are blank)."""
    n = len(malformed)
    blank = pa.array(malformed["blank"].to_numpy(dtype=bool))
    shown = _shown(pa.array(malformed["text"].to_numpy(), pa.string()))
    message = _render(RULES["malformed_row"], n, {"value": shown, "expected": str(expected),
                                                  "fields": pa.array(malformed["fields"].to_numpy()).cast(pa.string())})
    return _reject_table(path.name, malformed["row"].to_numpy(), "", pc.if_else(blank, "", shown),
                         pc.if_else(blank, "blank_row", "malformed_row"), pc.if_else(blank, RULES["blank_row"], message))


def kept_frame(file: str, checked: dict[str, Checked], keep: np.ndarray, rows: np.ndarray,
               codes: tuple[str, ...]) -> pd.DataFrame:
    """The rows where ``keep``, with typed contract columns and their source ``row``."""
    data = {col.name: _materialise(col, checked[col.name], keep, codes) for col in FILE_COLUMNS[file]}
    data["row"] = rows[keep]
    return pd.DataFrame(data)
