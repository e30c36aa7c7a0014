"""The sealed partner workbook: one format, written by the partner pack and checked by the decisions import.

A partner workbook goes to the meeting and comes back with decisions.  Every cell but Decision,
Reason and the casework columns after them is locked (sheet protection, which any spreadsheet
program can lift) and *sealed*, so the import can trust what it reads.  The very hidden sheet
:data:`META_SHEET` holds, row by row:

=======  ==========================================================================================
1 – 7    ``name | value | digest``: format, as_of, inputs_sha256, config_sha256, key_fingerprint,
         demo and the layout, each with a keyed digest of its own (to name an edited entry)
8        ``seal | MAC``: one HMAC (the pseudonym key, :func:`~hkc.partnership.pseudonyms.keyed_digest`)
         over rows 1 – 7 and the digest of **every** locked cell, in layout order
9 …      ``row | sheet | row number | digests``: the keyed digest of each locked cell of one row of
         a sheet, in column order, space-separated (to name an edited cell)
=======  ==========================================================================================

The layout (JSON ``{sheet: {"columns": [...], "rows": n, "editable": [...]}}``) alone says which
cells are locked: in each sheet the header row and every cell of the ``rows`` x ``columns`` table
except the ``editable`` columns below the header.  :func:`open_sealed` checks the whole seal before
anything is read: every locked cell of the layout must be present, sealed and unchanged; no seal
row may vanish or appear; nothing may be added outside a table; the record and the layout must be
as written.  A cell digest binds the run, the sheet and the coordinate, and the one MAC binds them
all together, so no value, digest or row can be moved between cells, rows or packs.

>>> seal_workbook(wb, key=key, record={"as_of": ..., "inputs_sha256": ..., "config_sha256": ...,
...               "demo": "no"}, layout=layout)                                   # doctest: +SKIP
>>> sealed = open_sealed(path, key=key)                                           # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Protection
from openpyxl.utils import get_column_letter

from hkc.errors import HkcError
from hkc.partnership.pseudonyms import key_fingerprint, keyed_digest

__all__ = ["META_SHEET", "PACK_FORMAT", "RECORD_NAMES", "SEAL_PROBLEMS", "NOT_READABLE", "NOT_A_PACK",
           "WRONG_FORMAT", "WRONG_KEY", "RowProblem", "SealError", "SealedWorkbook", "cell_text", "protect",
           "locked_cells", "seal_workbook", "open_sealed", "refusal"]

META_SHEET = "_hkc"
PACK_FORMAT = "hkc-partner-pack/2"  # /1 sealed cells one by one, and a deleted seal row went unnoticed
RECORD_NAMES = ("format", "as_of", "inputs_sha256", "config_sha256", "key_fingerprint", "demo", "layout")
SEAL_ROW = len(RECORD_NAMES) + 1  # the row of the one MAC; the cell digests follow it

NOT_READABLE = ("{path}: not a readable XLSX workbook ({reason}); import the cohort.xlsx from a partner/ folder "
                "as hkc wrote it")
NOT_A_PACK = ("{path}: not an hkc partner pack (no '{sheet}' sheet); import the cohort.xlsx from a partner/ "
              "folder, not the police view")
WRONG_FORMAT = "{path}: pack format {found!r} is not {expected!r}; write a fresh pack with this version of hkc"
WRONG_KEY = ("{path}: written with a different pseudonym key; set HKC_PSEUDONYM_KEY to the key used when the pack "
             "of {as_of} was written")
SEAL_PROBLEMS = {
    "changed": "a locked cell was changed (hkc sealed it when writing the pack); undo the edit or use a fresh pack",
    "unsealed": ("a locked cell's seal was removed from the pack's hidden sheet; use the workbook as hkc wrote it "
                 "or a fresh pack"),
    "record": "the pack's hidden run record was edited; use the workbook as hkc wrote it or a fresh pack",
    "seal": ("the pack's seal does not match its cells (the hidden sheet was edited); use the workbook as hkc "
             "wrote it or a fresh pack"),
    "added": ("content added outside the pack's table; remove it (only Decision, Reason and the casework columns "
              "after them may be filled in)"),
    "missing_sheet": "sheet is missing; import the workbook as hkc wrote it",
}
REFUSED = "{file} {where}: {problem}{more}; nothing was imported"


@dataclass(frozen=True)
class RowProblem:
    """One problem found in the workbook; ``row`` is the spreadsheet row number, ``cell`` its coordinate."""

    sheet: str
    row: int | None
    column: str | None
    value: str
    problem: str
    cell: str | None = None

    def where(self) -> str:
        """``sheet 'Cohort' cell E2`` for a cell, ``sheet 'Cohort' row 3, column 'Decision'`` otherwise."""
        if self.cell:
            return f"sheet '{self.sheet}' cell {self.cell}" + (f" ({self.column})" if self.column else "")
        return f"sheet '{self.sheet}'" + (f" row {self.row}" if self.row else "") + \
            (f", column '{self.column}'" if self.column else "")

    def __str__(self) -> str:
        value = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"{self.where()}: {value!r}: {self.problem}" if self.value else f"{self.where()}: {self.problem}"


class SealError(HkcError):
    """The workbook is not a readable, intact hkc partner pack; ``problems`` names every failing cell."""

    def __init__(self, message: str, problems: list[RowProblem] | tuple = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class SealedWorkbook:
    """A partner workbook whose seal held: its run record and layout can be trusted."""

    workbook: Workbook
    record: dict[str, str]
    layout: dict[str, dict]


def cell_text(value: Any) -> str:
    """The canonical text of a cell value, as sealed on writing and checked on import."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return format(float(value), ".10g")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).replace("\r\n", "\n").replace("\r", "\n")  # XML reads a lone CR back as LF


def protect(ws) -> None:
    """Lock a sheet (its unlocked cells stay editable); filtering, sorting and resizing stay possible."""
    ws.protection.sheet = True
    ws.protection.autoFilter = False
    ws.protection.sort = False
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def locked_cells(layout: Mapping[str, Mapping]) -> Iterator[tuple[str, int, int]]:
    """``(sheet, row, column)`` of every locked cell the layout describes, in layout order."""
    for sheet, spec in layout.items():
        columns, editable = spec["columns"], set(spec["editable"])
        for r in range(1, spec["rows"] + 2):
            for c, name in enumerate(columns, start=1):
                if r == 1 or name not in editable:
                    yield sheet, r, c


def refusal(file: str, problems: list[RowProblem]) -> str:
    """The one line that refuses a workbook: the first problem, with where it is, and how many more."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return REFUSED.format(file=file, where=first.where(), problem=first.problem, more=more)


# -- writing ------------------------------------------------------------------------------------
def _cell_digest(key: bytes, record: Mapping[str, str], sheet: str, coordinate: str, value: Any) -> str:
    return keyed_digest(key, record["as_of"], record["inputs_sha256"], sheet, coordinate, cell_text(value))


def _entry_digest(key: bytes, name: str, value: str) -> str:
    return keyed_digest(key, "record", name, value)


def _mac(key: bytes, entries: list[tuple[str, str]], digests: list[tuple[str, str, str]]) -> str:
    """The one seal: JSON keeps every part's boundaries, so no two contents share a message."""
    return keyed_digest(key, json.dumps([entries, digests], ensure_ascii=True), digits=64)


def _digests(wb: Workbook, layout: Mapping[str, Mapping], key: bytes, record: Mapping[str, str]):
    out = []
    for sheet, r, c in locked_cells(layout):
        coordinate = f"{get_column_letter(c)}{r}"
        out.append((sheet, coordinate, _cell_digest(key, record, sheet, coordinate, wb[sheet].cell(r, c).value)))
    return out


def _by_row(layout: Mapping[str, Mapping]) -> Iterator[tuple[str, int, list[int]]]:
    """``(sheet, row, [column, ...])``: the locked cells of each row, one seal row in the hidden sheet each."""
    for (sheet, r), cells in groupby(locked_cells(layout), key=lambda cell: cell[:2]):
        yield sheet, r, [c for _s, _r, c in cells]


def seal_workbook(wb: Workbook, *, key: bytes, record: Mapping[str, str], layout: Mapping[str, Mapping]) -> None:
    """Lock every sheet of ``layout`` (editable cells excepted), seal its locked cells, add :data:`META_SHEET`.

    ``record`` holds ``as_of``, ``inputs_sha256``, ``config_sha256`` and ``demo``; the format and
    the key's fingerprint are added here.  Call it once every sheet is written.
    """
    for sheet, spec in layout.items():
        ws = wb[sheet]
        protect(ws)
        for c, name in enumerate(spec["columns"], start=1):
            if name in spec["editable"]:
                for r in range(2, spec["rows"] + 2):
                    ws.cell(r, c).protection = Protection(locked=False)
    full = dict(record) | {"format": PACK_FORMAT, "key_fingerprint": key_fingerprint(key),
                           "layout": json.dumps(layout)}
    entries = [(name, str(full[name])) for name in RECORD_NAMES]
    digests = _digests(wb, json.loads(full["layout"]), key, full)  # in the order the import will read it
    meta = wb.create_sheet(META_SHEET)
    for name, value in entries:
        meta.append([name, value, _entry_digest(key, name, value)])
    meta.append(["seal", _mac(key, entries, digests)])
    at = 0
    for sheet, r, columns in _by_row(json.loads(full["layout"])):
        meta.append(["row", sheet, r, " ".join(d for _s, _c, d in digests[at:at + len(columns)])])
        at += len(columns)
    meta.sheet_state = "veryHidden"
    protect(meta)


# -- checking -----------------------------------------------------------------------------------
def _load(path: Path) -> Workbook:
    try:
        return load_workbook(path)
    except MemoryError:
        raise
    except Exception as exc:  # a damaged or hostile file can make the zip, zlib or XML parser raise anything
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SealError(NOT_READABLE.format(path=path, reason=reason)) from None


def _record(rows: list[tuple], path: Path, key: bytes) -> dict[str, str]:
    """The run record, once its format, key and every entry's digest are right (else :class:`SealError`)."""
    found = {str(row[0]): row[1] for row in rows[:len(RECORD_NAMES)] if row and row[0] is not None}
    if found.get("format") != PACK_FORMAT:
        raise SealError(WRONG_FORMAT.format(path=path, found=found.get("format"), expected=PACK_FORMAT))
    if found.get("key_fingerprint") != key_fingerprint(key):
        raise SealError(WRONG_KEY.format(path=path, as_of=found.get("as_of")))
    problems = []
    for r, name in enumerate(RECORD_NAMES, start=1):
        row = rows[r - 1] if len(rows) >= r else ()
        cells = [cell_text(v) for v in (*row, None, None, None)[:3]]
        if cells[0] != name or cells[2] != _entry_digest(key, name, cells[1]):
            problems.append(RowProblem(META_SHEET, r, None, "", SEAL_PROBLEMS["record"], cell=f"B{r}"))
    if len(rows) < SEAL_ROW or cell_text(rows[SEAL_ROW - 1][0]) != "seal":
        problems.append(RowProblem(META_SHEET, SEAL_ROW, None, "", SEAL_PROBLEMS["record"], cell=f"A{SEAL_ROW}"))
    if problems:
        raise SealError(refusal(path.name, problems), problems)
    return {name: cell_text(rows[r][1]) for r, name in enumerate(RECORD_NAMES)}


def _layout(text: str, path: Path) -> dict[str, dict]:
    """The layout, checked for shape (it is authentic already: its entry digest held)."""
    try:
        layout = json.loads(text)
        ok = isinstance(layout, dict) and all(
            isinstance(spec, dict) and isinstance(spec.get("rows"), int) and spec["rows"] >= 0
            and isinstance(spec.get("columns"), list) and isinstance(spec.get("editable"), list)
            for spec in layout.values())
    except ValueError:
        ok = False
    if not ok:
        problem = RowProblem(META_SHEET, RECORD_NAMES.index("layout") + 1, None, "", SEAL_PROBLEMS["record"],
                             cell=f"B{RECORD_NAMES.index('layout') + 1}")
        raise SealError(refusal(path.name, [problem]), [problem])
    return layout


def _stored_digests(rows: list[tuple]) -> tuple[dict[tuple[str, str], tuple[list[str], int]], list[RowProblem]]:
    """``{(sheet, row number): ([digest, ...], hidden row)}`` from the seal rows; a problem for any other row."""
    stored, problems = {}, []
    for r, row in enumerate(rows[SEAL_ROW:], start=SEAL_ROW + 1):
        cells = [cell_text(v) for v in (*row, None, None, None, None)[:4]]
        if not any(cells):
            continue  # a cleared row: the cells it sealed are reported as unsealed
        where = (cells[1], cells[2])
        if cells[0] != "row" or where in stored:
            problems.append(RowProblem(META_SHEET, r, None, "", SEAL_PROBLEMS["record"], cell=f"A{r}"))
        else:
            stored[where] = (cells[3].split(), r)
    return stored, problems


def _stored_cells(ws) -> Iterator[tuple[int, int, Any]]:
    """``(row, column, value)`` of the cells a sheet holds; ``iter_rows`` would make every cell of its
    whole range, and one stray value in the far corner of a hostile sheet is billions of them."""
    for (r, c), cell in sorted(ws._cells.items()):
        yield r, c, cell.value


def _meta_rows(ws) -> tuple[list[tuple], list[RowProblem]]:
    """The hidden sheet's rows (four columns), and a problem for anything written to its right."""
    by_row: dict[int, list] = {}
    problems = []
    for r, c, value in _stored_cells(ws):
        if c <= 4:
            by_row.setdefault(r, [None] * 4)[c - 1] = value
        elif cell_text(value).strip():
            problems.append(RowProblem(META_SHEET, r, None, cell_text(value), SEAL_PROBLEMS["added"],
                                       cell=f"{get_column_letter(c)}{r}"))
    last = max((r for r, row in by_row.items() if any(v is not None for v in row)), default=0)
    return [tuple(by_row.get(r, (None,) * 4)) for r in range(1, last + 1)], problems


def _added(ws, sheet: str, spec: Mapping) -> list[RowProblem]:
    last_row, last_col = spec["rows"] + 1, len(spec["columns"])
    return [RowProblem(sheet, r, None, cell_text(value), SEAL_PROBLEMS["added"], cell=f"{get_column_letter(c)}{r}")
            for r, c, value in _stored_cells(ws)
            if (r > last_row or c > last_col) and cell_text(value).strip()]


def _check_cells(wb: Workbook, layout: Mapping[str, Mapping], stored: dict, key: bytes, record: Mapping[str, str],
                 label: Callable[[str], str]) -> tuple[list[RowProblem], list[tuple[str, str, str]]]:
    """A problem for every locked cell missing, unsealed or changed and every addition; the cells' digests.

    ``stored`` (seal rows by ``(sheet, row number)``) loses each row it checks: what is left was never
    a row of the layout.
    """
    problems, digests = [], []
    for sheet, r, columns in _by_row(layout):
        if sheet not in wb.sheetnames:
            stored.pop((sheet, str(r)), None)
            continue  # reported once, below
        sealed, hidden_row = stored.pop((sheet, str(r)), ([], 0))
        ws, names = wb[sheet], layout[sheet]["columns"]
        for k, c in enumerate(columns):
            coordinate, value = f"{get_column_letter(c)}{r}", ws.cell(r, c).value
            digest = _cell_digest(key, record, sheet, coordinate, value)
            digests.append((sheet, coordinate, digest))
            if k >= len(sealed) or sealed[k] != digest:
                problems.append(RowProblem(sheet, r, label(names[c - 1]), cell_text(value),
                                           SEAL_PROBLEMS["unsealed" if k >= len(sealed) else "changed"],
                                           cell=coordinate))
        if len(sealed) > len(columns):
            problems.append(RowProblem(META_SHEET, hidden_row, None, "", SEAL_PROBLEMS["record"],
                                       cell=f"D{hidden_row}"))  # more seals than the row has locked cells
    for sheet, spec in layout.items():
        if sheet not in wb.sheetnames:
            problems.append(RowProblem(sheet, None, None, "", SEAL_PROBLEMS["missing_sheet"]))
        else:
            problems += _added(wb[sheet], sheet, spec)
    return problems, digests


def open_sealed(path: str | Path, *, key: bytes, label: Callable[[str], str] | None = None) -> SealedWorkbook:
    """Open a partner workbook and check its whole seal before anything in it is read.

    Raises :class:`SealError` — one line naming the first failing sheet and cell, with every
    problem in ``problems`` — for an unreadable file, a workbook that is not a partner pack of
    this format or key, or any change to a locked cell, the layout, the record or the seal rows.
    ``label`` names a layout column in problems (the column name by default).
    """
    path = Path(path)
    wb = _load(path)
    if META_SHEET not in wb.sheetnames:
        raise SealError(NOT_A_PACK.format(path=path, sheet=META_SHEET))
    rows, problems = _meta_rows(wb[META_SHEET])
    record = _record(rows, path, key)
    layout = _layout(record["layout"], path)
    stored, row_problems = _stored_digests(rows)
    unclaimed = dict(stored)
    cell_problems, digests = _check_cells(wb, layout, unclaimed, key, record, label or str)
    leftover = [RowProblem(META_SHEET, r, None, "", SEAL_PROBLEMS["record"], cell=f"A{r}")
                for _digests, r in unclaimed.values()]
    problems = cell_problems + row_problems + leftover + problems
    entries = [(name, record[name]) for name in RECORD_NAMES]
    if not problems and _mac(key, entries, digests) != cell_text(rows[SEAL_ROW - 1][1]):
        problems = [RowProblem(META_SHEET, SEAL_ROW, None, "", SEAL_PROBLEMS["seal"], cell=f"B{SEAL_ROW}")]
    if problems:
        raise SealError(refusal(path.name, problems), problems)
    return SealedWorkbook(workbook=wb, record=record, layout=layout)
