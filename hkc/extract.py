"""Load and validate an extract: every row is used or quarantined with a reason.

>>> from hkc.extract import load_extract                                   # doctest: +SKIP
>>> extract = load_extract("extract/", catalogue=defs.catalogue)           # doctest: +SKIP
>>> extract.counts["events"]                                               # doctest: +SKIP
{'read': 10432, 'used': 10398, 'rejected': 34}

File-level problems (a missing file or column, an unreadable file) raise
:class:`~hkc.errors.ExtractError`.  Row-level problems never do: the row is written to
``rejects`` with ``file, row, column, value, rule, message`` and the rest load.  ``row`` is the
line number in a CSV file (header = line 1) or the 1-based position in a Parquet file.

Validation works on the distinct values of each column (``pandas.factorize``), so a column of
ten million dates with a few thousand distinct days is parsed a few thousand times, not ten
million.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hkc.contract import (
    AGE_BAND_PATTERN,
    CONTRACT,
    GRADE_PATTERN,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    RULES,
    Column,
)
from hkc.definitions import Catalogue
from hkc.errors import ExtractError

__all__ = ["Extract", "load_extract", "find_files", "READERS", "REJECT_COLUMNS"]

REJECT_COLUMNS = ["file", "row", "column", "value", "rule", "message"]
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_DATE_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_VALUE_SHOWN = 60  # characters of an offending value kept in rejects


@dataclass
class Extract:
    """A validated extract.

    ``people`` and ``events`` hold only rows that passed every rule, with typed columns,
    ``row`` (the source row number) and an integer ``person_idx`` (position in ``people``)
    used internally in place of the string id.
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


# --------------------------------------------------------------------------------------------
# Reading files: everything as text, with the source row number


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    if not first.strip():
        raise ExtractError(f"{path.name} is empty (no header line); re-export it with a header row",
                           file=path.name)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractError(f"{path.name} is not UTF-8 text (header line); re-export it as UTF-8",
                           file=path.name) from None
    return [c.strip().strip('"').strip() for c in text.rstrip("\r\n").split(",")]


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[tuple[int, int, int]]]:
    """Read a CSV as text.  Returns the frame with a ``row`` column, and the malformed lines."""
    names = _header(path)
    bad: list[tuple[int | None, int, int]] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    def read(threads: bool) -> pa.Table:
        bad.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=threads, column_names=[f"c{i}" for i in range(len(names))],
                                           skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(len(names))},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    try:
        table = read(threads=True)
        if bad and any(number is None for number, _, _ in bad):
            table = read(threads=False)  # slower, but it reports the line number of each bad row
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "utf8" in text.lower():
            raise ExtractError(f"{path.name} is not UTF-8 text; re-export it as UTF-8", file=path.name) from None
        raise ExtractError(f"{path.name} cannot be read as CSV ({text.splitlines()[0]})", file=path.name) from None
    frame = table.to_pandas()
    frame.columns = names
    # Line numbers: the header is line 1; every later line is either a row or a malformed line.
    if bad:
        bad_lines = np.array(sorted(number for number, _, _ in bad), dtype=np.int64)
        lines = np.setdiff1d(np.arange(2, len(frame) + len(bad_lines) + 2, dtype=np.int64), bad_lines)
    else:
        lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    frame["row"] = lines
    return frame, [(int(n), e, a) for n, e, a in bad]


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[tuple[int, int, int]]]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ExtractError(f"{path.name} is not a readable Parquet file ({str(exc).splitlines()[0]}); "
                           f"re-export it", file=path.name) from None
    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.date32())
        try:
            text = col.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ExtractError(f"{path.name}: column '{name}' has type {col.type}, which hkc cannot read; "
                               f"export it as text", file=path.name, column=name) from None
        columns[str(name).strip()] = text.fill_null("")
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame()
    frame["row"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame, []


READERS: dict[str, Callable[[Path], tuple[pd.DataFrame, list[tuple[int, int, int]]]]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def find_files(data_dir: Path) -> dict[str, Path]:
    """Map each contract file name to its path in ``data_dir``; raise if required ones are missing."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ExtractError(f"{data_dir}: no such folder; pass the folder holding people.csv and events.csv",
                           file=str(data_dir))
    found: dict[str, Path] = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        candidates = [data_dir / f"{name}{ext}" for ext in READERS if (data_dir / f"{name}{ext}").is_file()]
        if len(candidates) > 1:
            raise ExtractError(f"{data_dir}: both {candidates[0].name} and {candidates[1].name} exist; "
                               f"keep one", file=candidates[0].name)
        if candidates:
            found[name] = candidates[0]
        elif name in REQUIRED_FILES:
            others = sorted(p.name for p in data_dir.glob(f"{name}.*"))
            hint = (f" ({others[0]} is not a supported format)" if others else "")
            raise ExtractError(
                f"{data_dir}: {name} file not found{hint}; expected "
                + " or ".join(f"{name}{ext}" for ext in READERS),
                file=f"{name}.*",
            )
    return found


# --------------------------------------------------------------------------------------------
# Checking columns: each check returns a boolean "bad" mask over rows and may normalise values


class _Problems:
    """Collects row-level problems for one file as small frames, rendered at the end."""

    def __init__(self, file: str, frame: pd.DataFrame):
        self.file = file
        self.frame = frame
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray | pd.Series, column: str, rule: str, **extra: pd.Series | str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        value = (self.frame[column].iloc[idx].astype(str) if column in self.frame
                 else pd.Series([""] * len(idx)))
        value = value.str.slice(0, _VALUE_SHOWN).reset_index(drop=True)
        template = RULES[rule]
        params = {"value": value, "column": column}
        for key, val in extra.items():
            params[key] = val.iloc[idx].reset_index(drop=True).astype(str) if isinstance(val, pd.Series) else val
        message = _render(template, params, len(idx))
        self.parts.append(pd.DataFrame({"pos": idx, "column": column, "value": value, "rule": rule,
                                        "message": message}))

    def result(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"pos": pd.Series([], dtype=np.int64), "column": [], "value": [], "rule": [],
                                 "message": []})
        return pd.concat(self.parts, ignore_index=True)


def _render(template: str, params: Mapping[str, pd.Series | str], n: int) -> pd.Series:
    """Fill a message template with per-row values, vectorised."""
    out = pd.Series([""] * n, dtype=object)
    rest = template
    while rest:
        start = rest.find("{")
        if start < 0:
            out = out + rest
            break
        end = rest.index("}", start)
        out = out + rest[:start]
        val = params[rest[start + 1:end]]
        out = out + (val.astype(str).to_numpy(dtype=object) if isinstance(val, pd.Series) else str(val))
        rest = rest[end + 1:]
    return out.astype(str)


def _by_distinct(series: pd.Series, fn: Callable[[pd.Index], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to the distinct values of ``series`` and spread the result back to rows."""
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return np.asarray(fn(pd.Index(uniques)))[codes]


def _check_column(frame: pd.DataFrame, col: Column, problems: _Problems, *, type_codes: tuple[str, ...],
                  extract_date: dt.date) -> None:
    """Validate and normalise one column in place."""
    name = col.name
    if name not in frame:
        frame[name] = ""
    values = frame[name]
    empty = _by_distinct(values, lambda u: u.str.strip() == "")
    if col.required:
        problems.add(empty, name, "missing_value")
    present = ~empty

    if col.kind in ("id", "text"):
        stripped = values.str.strip()
        frame[name] = stripped.where(present, None) if not col.required else stripped
    elif col.kind == "date":
        def parse(u: pd.Index) -> np.ndarray:
            s = u.str.strip()
            ok = s.str.match(_DATE_RE)
            return pd.to_datetime(s.str.slice(0, 10).where(ok), format="%Y-%m-%d", errors="coerce").to_numpy()
        parsed = _by_distinct(values, parse).astype("datetime64[s]")
        bad = present & np.isnat(parsed)
        problems.add(bad, name, "bad_date")
        future = present & ~bad & (parsed > np.datetime64(extract_date, "s"))
        problems.add(future, name, "future_date", extract_date=extract_date.isoformat())
        frame[name] = parsed
    elif col.kind == "code":
        codes = col.codes if col.codes is not None else type_codes
        canon = {c.casefold(): c for c in codes}
        mapped = _by_distinct(values, lambda u: np.array([canon.get(v.strip().casefold()) for v in u], dtype=object))
        bad = present & pd.isna(mapped)
        problems.add(bad, name, "unknown_code", codes=", ".join(codes))
        frame[name] = pd.Categorical(mapped, categories=list(codes))
    elif col.kind == "bool":
        mapped = _by_distinct(values, lambda u: np.array(
            [True if v.strip().casefold() in _TRUE else False if v.strip().casefold() in _FALSE else None
             for v in u], dtype=object))
        bad = present & pd.isna(mapped)
        problems.add(bad, name, "bad_bool")
        frame[name] = pd.array(mapped, dtype="boolean")
    elif col.kind == "grade":
        norm = values.str.strip().str.upper()
        bad = present & ~_by_distinct(norm, lambda u: np.asarray(u.str.match(GRADE_PATTERN), dtype=bool))
        problems.add(bad, name, "bad_grade")
        frame[name] = norm.where(present & ~bad, None)
    elif col.kind == "count":
        num = pd.to_numeric(values.str.strip(), errors="coerce")
        bad = present & ~(num.notna() & (num >= 0) & (num == np.floor(num))).to_numpy()
        problems.add(bad, name, "bad_count")
        frame[name] = num.where(~bad).fillna(0).astype(np.int64)
    elif col.kind == "age_band":
        norm = values.str.strip().str.replace(" ", "", regex=False)
        bad = present & ~norm.str.match(AGE_BAND_PATTERN).to_numpy(dtype=bool)
        problems.add(bad, name, "bad_age_band")
        frame[name] = norm


def _normalise_columns(frame: pd.DataFrame, file_name: str, spec: tuple[Column, ...]) -> tuple[pd.DataFrame, list[str]]:
    names = [str(c).strip().lstrip("\ufeff").strip().lower() for c in frame.columns]
    seen = set()
    for n in names:
        if n in seen and n != "row":
            raise ExtractError(f"{file_name}: column '{n}' appears twice in the header; keep one",
                               file=file_name, column=n)
        seen.add(n)
    frame.columns = names
    expected = [c.name for c in spec]
    for col in spec:
        if col.required and col.name not in frame.columns:
            found = [n for n in names if n != "row"]
            close = difflib.get_close_matches(col.name, found, n=1, cutoff=0.7)
            if len(found) == 1 and any(d in found[0] for d in ";\t|"):
                hint = "; the header is one column: is the file delimited by ';', tab or '|'? hkc reads comma-separated files"
            elif close:
                hint = f"; found '{close[0]}': rename it to '{col.name}'"
            else:
                hint = f"; found columns: {', '.join(found) or '(none)'}"
            raise ExtractError(f"{file_name}: missing required column '{col.name}'{hint}",
                               file=file_name, column=col.name)
    extra = [n for n in names if n not in expected and n != "row"]
    return frame.drop(columns=extra), extra


def _first_rows(key: pd.DataFrame | pd.Series, rows: pd.Series) -> pd.Series:
    """For each row, the source row of the first row with the same key."""
    if isinstance(key, pd.Series):
        codes = pd.factorize(key)[0]
    else:
        codes = key.groupby(list(key.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = pd.Series(rows.to_numpy()).groupby(codes).transform("first")
    return first


def _validate(file: str, path: Path, frame: pd.DataFrame, malformed: list[tuple[int, int, int]],
              *, type_codes: tuple[str, ...], extract_date: dt.date
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], pd.DataFrame]:
    """Check one file.  Returns accepted rows, rejects, extra columns and the rejected rows."""
    spec = CONTRACT[file]
    frame, extra = _normalise_columns(frame, path.name, spec)
    problems = _Problems(file, frame)
    blank = np.ones(len(frame), dtype=bool)
    for col in spec:
        if col.name in frame:
            blank &= _by_distinct(frame[col.name], lambda u: u.str.strip() == "")
    problems.add(blank, spec[0].name, "blank_row")
    for col in spec:
        _check_column(frame, col, problems, type_codes=type_codes, extract_date=extract_date)
    rows = frame["row"]
    if file == "people":
        dup = frame["person_id"].duplicated(keep="first").to_numpy() & (frame["person_id"] != "").to_numpy()
        problems.add(dup, "person_id", "duplicate_person_id", first_row=_first_rows(frame["person_id"], rows))
    elif file == "events":
        key = frame[["event_id", "person_id"]]
        dup = key.duplicated(keep="first").to_numpy() & (frame["event_id"] != "").to_numpy()
        problems.add(dup, "event_id", "duplicate_event", person_id=frame["person_id"],
                     first_row=_first_rows(key, rows))
    found = problems.result()
    if blank.any():  # a blank line is one problem, not one per required column
        found = found[~(np.isin(found["pos"], np.flatnonzero(blank)) & (found["rule"] != "blank_row"))]
    rejects = found.assign(file=path.name, row=rows.to_numpy()[found["pos"].to_numpy()])
    if malformed:
        rejects = pd.concat([rejects, pd.DataFrame({
            "pos": -1, "file": path.name, "row": [n for n, _, _ in malformed], "column": "",
            "value": [str(a) for _, _, a in malformed], "rule": "malformed_row",
            "message": [RULES["malformed_row"].format(value=a, expected=e) for _, e, a in malformed],
        })], ignore_index=True)
    keep = np.ones(len(frame), dtype=bool)
    keep[found["pos"].to_numpy()] = False
    return frame[keep].reset_index(drop=True), rejects, extra, frame[~keep]


def load_extract(data_dir: str | Path, *, catalogue: Catalogue, extract_date: dt.date | None = None,
                 progress: Callable[[str], None] | None = None) -> Extract:
    """Load, validate and quarantine an extract folder.

    Parameters
    ----------
    data_dir : folder holding ``people.*``, ``events.*`` and optionally ``population.*``.
    catalogue : the indicator catalogue; event ``type`` must be one of its codes.
    extract_date : no date may be after it (default: today).
    progress : called with a short message as each file is read and checked.
    """
    extract_date = extract_date or dt.date.today()
    files = find_files(Path(data_dir))
    say = progress or (lambda _msg: None)
    type_codes = catalogue.codes
    loaded: dict[str, pd.DataFrame] = {}
    reject_parts: list[pd.DataFrame] = []
    counts: dict[str, dict[str, int]] = {}
    extra_columns: dict[str, list[str]] = {}
    for name, path in files.items():
        say(f"reading {path.name}")
        frame, malformed = READERS[path.suffix](path)
        read = len(frame) + len(malformed)
        if read == 0 and name in REQUIRED_FILES:
            raise ExtractError(f"{path.name} has a header but no rows; check the export", file=path.name)
        say(f"checking {path.name} ({read:,} rows)")
        good, rejects, extra, bad_rows = _validate(name, path, frame, malformed, type_codes=type_codes,
                                         extract_date=extract_date)
        loaded[name] = good
        if name == "people":
            rejected_people = bad_rows.groupby("person_id", sort=False)["row"].min()
        reject_parts.append(rejects)
        counts[name] = {"read": read, "used": len(good), "rejected": 0}
        if extra:
            extra_columns[path.name] = extra

    people, events = loaded["people"], loaded["events"]
    events_path = files["events"]
    # Cross-file rules on events: the person must exist, have been accepted, and be born.
    person_index = pd.Index(people["person_id"])
    idx = person_index.get_indexer(events["person_id"])
    cross = _Problems("events", events)
    missing = idx < 0
    if missing.any():
        was_rejected = missing & events["person_id"].isin(rejected_people.index).to_numpy()
        first_row = events["person_id"].map(rejected_people).astype("Int64")
        cross.add(was_rejected, "person_id", "person_rejected", first_row=first_row)
        cross.add(missing & ~was_rejected, "person_id", "unknown_person")
    dob = people["date_of_birth"].to_numpy()[np.where(missing, 0, idx)] if len(people) else np.full(len(events), np.datetime64("NaT"))
    before = ~missing & (events["date"].to_numpy() < dob)
    cross.add(before, "date", "before_birth",
              date_of_birth=pd.Series(pd.to_datetime(dob).strftime("%Y-%m-%d")))
    found = cross.result()
    if len(found):
        reject_parts.append(found.assign(file=events_path.name, row=events["row"].to_numpy()[found["pos"].to_numpy()]))
        keep = np.ones(len(events), dtype=bool)
        keep[found["pos"].to_numpy()] = False
        events, idx = events[keep].reset_index(drop=True), idx[keep]
    people["person_idx"] = np.arange(len(people), dtype=np.int32)
    events["person_idx"] = idx.astype(np.int32)

    rejects = pd.concat(reject_parts, ignore_index=True)
    rejects = (rejects.sort_values(["file", "row", "column", "rule"], kind="stable")
               [REJECT_COLUMNS].reset_index(drop=True))
    for name, path in files.items():
        counts[name]["used"] = len(people if name == "people" else events if name == "events" else loaded[name])
        counts[name]["rejected"] = int(rejects.loc[rejects["file"] == path.name, "row"].nunique())
    say(f"checked {sum(c['read'] for c in counts.values()):,} rows, quarantined "
        f"{sum(c['rejected'] for c in counts.values()):,}")
    return Extract(
        people=people, events=events, population=loaded.get("population"), rejects=rejects,
        counts=counts, files=files, sha256={n: _sha256(p) for n, p in files.items()},
        extra_columns=extra_columns, extract_date=extract_date,
    )
