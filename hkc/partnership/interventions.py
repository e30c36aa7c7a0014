"""Importing what the partnership did: an interventions file (CSV or XLSX), all rows or none.

>>> report = import_interventions(store, "interventions.csv", key=key,                # doctest: +SKIP
...                               settings=defs.settings.interventions, by="J. Analyst")

One row per intervention with the columns ``person_id`` *or* ``pseudonym`` (a partner knows people
only by the pseudonym of their pack), ``start_date``, ``end_date`` (empty while it runs), ``type``
and ``engagement`` (code lists in ``[interventions]``) and ``lead_agency``.  Every row is checked —
who (a person the history has scored; a pseudonym of someone sent to partners), dates (ISO, the end
not before the start, not in the future), codes, and no two interventions of the same type for the
same person overlapping (in the file or against what other files stored) — and every problem is
reported with file, line, column and value.  Only a file without problems is stored, in one
transaction; importing the same file again replaces what it stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from hkc.definitions import InterventionSettings
from hkc.errors import HkcError
from hkc.history import (
    HistoryStore,
    identities,
    known_person_ids,
    partner_person_ids,
    record_interventions,
    stored_interventions,
)
from hkc.manifest import now
from hkc.outputs import sha256_file
from hkc.partnership.pseudonyms import pseudonymise

__all__ = ["import_interventions", "InterventionImportError", "InterventionProblem", "InterventionReport"]

MAX_AGENCY = 128
REQUIRED = ("start_date", "type", "lead_agency", "engagement")
OPTIONAL = ("end_date",)
IDENTITY = ("person_id", "pseudonym")
NOT_READABLE = "{path}: cannot read the interventions file ({reason}); give a CSV or an XLSX workbook"
MISSING_COLUMNS = ("{path}: no column {columns}; an interventions file has person_id or pseudonym, start_date, "
                   "end_date, type, lead_agency, engagement")
BOTH_IDENTITIES = "{path}: both person_id and pseudonym columns; give one of them"
NO_IDENTITY = "{path}: no person_id or pseudonym column; name each person by one of them"
REFUSED = "{path}: {n} problem(s) in the interventions file; nothing was imported (first: {first})"
EMPTY = "{path}: no interventions in the file; nothing was imported"


@dataclass(frozen=True)
class InterventionProblem:
    """One problem in the file: its line (CSV) or row (XLSX), column and value."""

    row: int
    column: str
    value: str
    problem: str

    def __str__(self) -> str:
        value = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"row {self.row}, column '{self.column}': {value!r}: {self.problem}"


class InterventionImportError(HkcError):
    """The file cannot be imported; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list[InterventionProblem] | tuple = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class InterventionReport:
    file: Path
    sha256: str
    by: str
    imported: int
    replaced: int
    by_type: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_type.items())) or "none"
        return [f"{self.file.name}: {self.imported} interventions recorded by {self.by} ({counts})",
                f"{self.replaced} stored earlier from the same file were replaced"]


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """The file's rows as text, and the number of the first data row (2 for both: the header is row 1)."""
    try:
        if path.suffix.lower() == ".xlsx":
            ws = load_workbook(path, read_only=True, data_only=True).worksheets[0]
            rows = [["" if v is None else (v.date().isoformat() if isinstance(v, dt.datetime) else
                                            v.isoformat() if isinstance(v, dt.date) else str(v)) for v in r]
                    for r in ws.iter_rows(values_only=True)]
            if not rows:
                return pd.DataFrame(), 2
            header = [str(h).strip().lower() for h in rows[0]]
            return pd.DataFrame(rows[1:], columns=header, dtype=str).fillna(""), 2
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        return frame, 2
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        raise InterventionImportError(NOT_READABLE.format(path=path, reason=str(exc).splitlines()[0])) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise InterventionImportError(NOT_READABLE.format(path=path, reason=type(exc).__name__)) from None


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _identity(frame: pd.DataFrame, path: Path) -> str:
    present = [c for c in IDENTITY if c in frame.columns]
    if len(present) == 2:
        raise InterventionImportError(BOTH_IDENTITIES.format(path=path))
    if not present:
        raise InterventionImportError(NO_IDENTITY.format(path=path))
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InterventionImportError(MISSING_COLUMNS.format(path=path, columns=", ".join(missing)))
    return present[0]


def _people(store: HistoryStore, column: str, values: list[str], key: bytes | None) -> dict[str, str]:
    """``{value in the file: person_id}`` for the values the history knows.

    Ids follow re-keys (:mod:`hkc.history.aliases`): a person_id is known when the history scored it
    or another id of the same person; a pseudonym (made from the canonical id, as the packs made it)
    names the latest id of the people sent to partners under it."""
    ids = identities(store)
    if column == "person_id":
        # known: any id of the person was scored (a file may name one person by an old and a new id)
        scored = {ids.latest_id(p) for p in known_person_ids(store, ids.ids_of(values))}
        return {v: v for v in values if ids.latest_id(v) in scored}
    if key is None:
        raise InterventionImportError("the file names people by pseudonym: set the pseudonym key "
                                      "(HKC_PSEUDONYM_KEY) that wrote the partner packs")
    sent = pseudonymise(partner_person_ids(store), key, canonical=ids.canonical)
    return {pseudo: ids.latest_id(person) for person, pseudo in sent.items()}


def _check_rows(frame: pd.DataFrame, column: str, people: dict[str, str], settings: InterventionSettings,
                first_row: int, today: dt.date) -> tuple[list[dict], list[InterventionProblem]]:
    rows, problems = [], []
    for i, r in enumerate(frame.to_dict("records")):
        line = first_row + i
        values = {c: str(r.get(c, "")).strip() for c in (column, *REQUIRED, *OPTIONAL)}
        if not any(values.values()):
            continue  # a blank line
        found = len(problems)
        who = values[column]
        if who not in people:
            problems.append(InterventionProblem(line, column, who, "unknown person: nobody the history scored has "
                                                "this id" if column == "person_id" else
                                                "unknown pseudonym: nobody sent to partners has it under this key"))
        start, end = _day(values["start_date"]), _day(values["end_date"]) if values["end_date"] else None
        if start is None:
            problems.append(InterventionProblem(line, "start_date", values["start_date"], "not a date (YYYY-MM-DD)"))
        elif start > today:
            problems.append(InterventionProblem(line, "start_date", values["start_date"], "in the future"))
        if values["end_date"] and end is None:
            problems.append(InterventionProblem(line, "end_date", values["end_date"],
                                                "not a date (YYYY-MM-DD); leave it empty while the intervention runs"))
        elif end is not None and start is not None and end < start:
            problems.append(InterventionProblem(line, "end_date", values["end_date"], "before the start date"))
        for name, allowed in (("type", settings.types), ("engagement", settings.engagement)):
            if values[name].lower() not in allowed:
                problems.append(InterventionProblem(line, name, values[name], f"choose one of {', '.join(allowed)}"))
        if not values["lead_agency"] or len(values["lead_agency"]) > MAX_AGENCY:
            problems.append(InterventionProblem(line, "lead_agency", values["lead_agency"],
                                                f"name the lead agency (at most {MAX_AGENCY} characters)"))
        if len(problems) == found:
            rows.append({"row": line, "person_id": people[who], "start_date": start.isoformat(),
                         "end_date": end.isoformat() if end else None, "type": values["type"].lower(),
                         "lead_agency": values["lead_agency"], "engagement": values["engagement"].lower()})
    return rows, problems


def _overlaps(rows: list[dict], earlier: pd.DataFrame, column: str, names: dict[str, str]) -> list[InterventionProblem]:
    """Two interventions of the same type for the same person whose dates overlap (in the file, or against
    what other files stored)."""
    far = "9999-12-31"
    spans = [(r["person_id"], r["type"], r["start_date"], r["end_date"] or far, f"row {r['row']}", r["row"])
             for r in rows]
    spans += [(e["person_id"], e["type"], e["start_date"], e["end_date"] or far, f"{e['source_file']} row {e['row']}",
               None) for e in earlier.to_dict("records")]
    spans.sort(key=lambda s: (s[0], s[1], s[2]))
    problems = []
    for a, b in zip(spans, spans[1:], strict=False):
        if a[0] == b[0] and a[1] == b[1] and b[2] <= a[3]:
            mine = b if b[5] is not None else a
            other = a if mine is b else b
            if mine[5] is not None:
                problems.append(InterventionProblem(mine[5], "start_date", mine[2], f"overlaps another {mine[1]} "
                                                    f"intervention for {names.get(mine[0], 'this person')} "
                                                    f"({other[4]}, from {other[2]})"))
    return problems


def import_interventions(store: HistoryStore, path: str | Path, *, settings: InterventionSettings, by: str,
                         key: bytes | None = None, today: dt.date | None = None) -> InterventionReport:
    """Check every row of the interventions file at ``path`` and store them all, or none (see the module docstring)."""
    path = Path(path)
    frame, first = _read(path)
    if not len(frame.columns):
        raise InterventionImportError(EMPTY.format(path=path))
    column = _identity(frame, path)  # the file's shape first, then whether it has rows
    if frame.empty:
        raise InterventionImportError(EMPTY.format(path=path))
    values = sorted({str(v).strip() for v in frame[column]} - {""})
    people = _people(store, column, values, key)
    rows, problems = _check_rows(frame, column, people, settings, first, today or dt.date.today())
    sha = sha256_file(path)
    earlier = stored_interventions(store, {r["person_id"] for r in rows})
    earlier = earlier[earlier["source_sha256"] != sha]
    back = {person: who for who, person in people.items()}
    problems += _overlaps(rows, earlier, column, back)
    if problems:
        problems.sort(key=lambda p: p.row)
        raise InterventionImportError(REFUSED.format(path=path, n=len(problems), first=problems[0]), problems)
    if not rows:
        raise InterventionImportError(EMPTY.format(path=path))
    when = now()
    stored = [r | {"recorded_by": by, "recorded_at": when, "source_file": path.name, "source_sha256": sha}
              for r in rows]
    imported, replaced = record_interventions(store, stored, source_sha256=sha)
    by_type: dict[str, int] = {}
    for r in rows:
        by_type[r["type"]] = by_type.get(r["type"], 0) + 1
    return InterventionReport(file=path, sha256=sha, by=by, imported=imported, replaced=replaced, by_type=by_type)
