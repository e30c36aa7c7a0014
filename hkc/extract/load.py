"""Validate an extract: every row is used or quarantined with a reason.

>>> from hkc.extract.load import load_extract                                   # doctest: +SKIP
>>> extract = load_extract("extract/", catalogue=defs.catalogue)           # doctest: +SKIP
>>> extract.counts["events"]                                               # doctest: +SKIP
{'read': 10432, 'used': 10398, 'rejected': 34}

This is the loading-and-validation stage.  :mod:`hkc.extract.readers` finds and reads the files as text
(and numbers each row by its source line); this module matches each header to
:data:`hkc.extract.contract.CONTRACT`, applies the single-row rules of :mod:`hkc.extract.checks`, then the rules
that compare rows (duplicates) and files (an event's person), and assembles :class:`Extract`.

File-level problems (a missing file or column, an unreadable file) raise
:class:`~hkc.errors.ExtractError` with one line built from :data:`hkc.extract.contract.FILE_ERRORS`.
Row-level problems never do: the row is written to ``rejects`` with ``file, row, column, value,
rule, message`` (templates in :data:`hkc.extract.contract.RULES`) and the rest load.  A row with several
problems has one reject line per problem but counts once, so per file ``read = used + rejected``.
Lines the reader could not split are rejected as ``malformed_row`` (or ``blank_row``), and count
as read.  ``read`` is the file's own count of its records, not only the parser's: the reader
refuses a CSV whose bytes hold more records than the parser returned (see
:mod:`hkc.extract.records`), so a file that loads has every record used or rejected.

A file that is mostly rejected is not an extract with a few bad rows but the wrong file or a
broken export, and is refused as a whole (``mostly_rejected``: at least 1,000 rows, half of those
checked, rejected) with one line naming the commonest problem and its first row.  Each file's
first 10,000 rows are read and checked before the rest, so a file of garbage is refused in the
memory those rows take, however large it is.  A file with more than 1,000,000 problems is
refused too (``too_many_problems``), so the rejects of a usable file always fit in memory and
every one of them is listed.

Duplicates: of the rows sharing a ``person_id`` (people) or an ``(event_id, person_id)`` pair
(events), the first row that passes every other rule is used and the copies after it are
quarantined; a broken copy never displaces a good one.  An event whose person is in people but
was quarantined there is rejected as ``person_rejected``, pointing at that people row.

:class:`RawFile`, :data:`READERS` and :func:`find_files` are re-exported from :mod:`hkc.extract.readers`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.definitions import Catalogue
from hkc.extract.aliases import check_aliases
from hkc.extract.checks import CheckedFile, Problems, check_file, index_in, kept_frame, malformed_rejects
from hkc.extract.contract import FILE_COLUMNS, REQUIRED_FILES, Column
from hkc.extract.csv import first_line
from hkc.extract.raw import RawFile, ReadLimits, file_error
from hkc.extract.readers import READERS, find_files
from hkc.messages import closest
from hkc.outputs import sha256_file

__all__ = ["Extract", "RawFile", "load_extract", "probe_extract", "find_files", "READERS", "REJECT_COLUMNS"]

REJECT_COLUMNS = ["file", "row", "column", "value", "rule", "message"]
# How load_extract reads CSV text (see hkc.extract.raw.ReadLimits); module constants so a test can lower them.
_BLOCK = ReadLimits.block_size  # CSV block size: a single line may not be longer than this
_TEXT_KEPT = ReadLimits.text_kept  # malformed lines whose start is kept to show in rejects
_MALFORMED_LIMIT = ReadLimits.malformed_limit  # this many malformed lines, half of those read, make a file unreadable
_SAMPLE_ROWS = ReadLimits.sample_rows  # rows checked before the rest of a file is read
_REJECTED_LIMIT = 1_000  # this many rejected rows, half of those checked, make a file unusable
_PROBLEM_LIMIT = 1_000_000  # a file with more problems (reject lines) than this is refused, not listed


@dataclass
class Extract:
    """A validated extract.

    ``people`` and ``events`` hold only rows that passed every rule, with typed columns (dates
    as ``datetime64[s]``, codes as categoricals in contract order, flags as ``boolean``, empty
    optional values as missing), ``row`` (the source row number) and an integer ``person_idx``
    (position in ``people``) used internally in place of the string id.  ``extra_columns`` maps a
    file name to the columns it has beyond the contract, which are ignored.  ``aliases`` holds the
    optional aliases file's used rows (``old_id, new_id, date, reason, row``; :mod:`hkc.extract.aliases`),
    None when the extract has no such file.
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
    excluded_events: int = 0  # events left out by the refresh as shown to be wrong (hkc person rectify)
    aliases: pd.DataFrame | None = None  # the optional aliases file's used rows (hkc.extract.aliases)

    def reconciles(self) -> bool:
        return all(c["read"] == c["used"] + c["rejected"] for c in self.counts.values())


def _resolve_columns(file_name: str, names: list[str], spec: tuple[Column, ...]) -> tuple[dict[str, int], list[str]]:
    """Match header names to contract columns (case and surrounding whitespace ignored)."""
    keys = [n.lstrip("\ufeff").strip().lower() for n in names]
    wanted = {c.name for c in spec}
    for col in spec:
        times = keys.count(col.name)
        if times > 1:
            raise file_error("duplicate_column", file=file_name, column=col.name, times=times)
    for col in spec:
        if col.required and col.name not in keys:
            found = [n for n in keys if n]
            delimiters = [(d, label) for d, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'")) if d in "".join(found)]
            if len(found) == 1 and delimiters:
                raise file_error("wrong_delimiter", file=file_name, column=col.name, delimiter=delimiters[0][1])
            close = closest(col.name, [n for n in found if n not in wanted], cutoff=0.7)
            if close:
                raise file_error("misnamed_column", file=file_name, column=col.name, found=close)
            shown = ", ".join(repr(n) for n in found[:20]) + (", …" if len(found) > 20 else "")
            raise file_error("missing_column", file=file_name, column=col.name, found=shown or "(none)")
    positions = {k: i for i, k in enumerate(keys) if k in wanted}
    extra = list(dict.fromkeys(n or f"(unnamed column {i + 1})" for i, (n, k) in enumerate(zip(names, keys, strict=True))
                               if k not in wanted))
    return positions, extra


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


def _refuse_unusable(path: Path, raw: RawFile, problems: Problems, *, sample: bool) -> None:
    """Refuse a file whose rows are mostly rejected, or whose problems are too many to list.

    ``mostly_rejected``: at least ``_REJECTED_LIMIT`` rows, and half of those checked, are
    rejected.  ``too_many_problems``: more than ``_PROBLEM_LIMIT`` reject lines.  Either way the
    message names the commonest problem with its first row, which is what the analyst fixes first;
    and it comes before any message is rendered, so memory stays that of the rows read.
    """
    malformed = raw.malformed
    read = problems.n + len(malformed)
    rejected = int(problems.bad.sum()) + len(malformed)
    lines = problems.count + len(malformed)
    mostly = rejected >= _REJECTED_LIMIT and rejected * 2 >= read
    if not mostly and lines <= _PROBLEM_LIMIT:
        return
    # (rule, column) -> rows, first line, and how to render the first one's message
    tally: dict[tuple[str, str], tuple[int, int, Callable[[], str]]] = {}
    for (rule, column), (count, first) in problems.tally().items():
        tally[(rule, column)] = (count, int(raw.rows[first]),
                                 lambda r=rule, c=column, f=first: problems.message_at(r, c, f))
    if len(malformed):
        blank = malformed["blank"].to_numpy(dtype=bool)
        for rule, sel in (("malformed_row", ~blank), ("blank_row", blank)):
            if not sel.any():
                continue
            first = malformed[sel].head(1)
            entry = (int(sel.sum()), int(first["row"].iloc[0]),
                     lambda f=first: malformed_rejects(path, f, len(raw.names))["message"][0].as_py())
            if (rule, "") in tally:  # blank lines can be in both
                other = tally[(rule, "")]
                earlier = other if other[1] < entry[1] else entry
                entry = (other[0] + entry[0], earlier[1], earlier[2])
            tally[(rule, "")] = entry
    (rule, column), (times, row, render) = max(tally.items(), key=lambda kv: (kv[1][0], -kv[1][1]))
    raise file_error("mostly_rejected" if mostly else "too_many_problems", file=path.name, column=column or None,
                     rejected=f"{rejected:,}", scope=f"first {read:,}" if sample else f"{read:,}",
                     problems=f"{lines:,}", limit=f"{_PROBLEM_LIMIT:,}", rule=rule,
                     where=f" in column '{column}'" if column else "", times=f"{times:,}", row=row,
                     message=render())


def probe_extract(data_dir: str | Path, *, catalogue: Catalogue, extract_date: dt.date | None = None) -> None:
    """Refuse an unusable extract from the first rows of each file, reading nothing else.

    The same sample check :func:`load_extract` starts with (a few milliseconds a file), for callers
    that must judge the extract before deciding anything else — the memory check, whose verdict on
    a gigabyte of garbage would otherwise be about the wrong problem.  Raises :class:`ExtractError`.
    """
    if isinstance(extract_date, dt.datetime):
        extract_date = extract_date.date()
    extract_date = extract_date or dt.date.today()
    limits = ReadLimits(block_size=_BLOCK, text_kept=_TEXT_KEPT, malformed_limit=_MALFORMED_LIMIT,
                        sample_rows=_SAMPLE_ROWS)
    for name, path in find_files(Path(data_dir)).items():
        resolved: dict[str, int] = {}

        def on_header(names: list[str], name: str = name, path: Path = path, into: dict = resolved) -> None:
            into.update(_resolve_columns(path.name, names, FILE_COLUMNS[name])[0])

        try:
            raw = READERS[path.suffix](path, on_header, limits=limits, sample=True)
        except OSError as exc:
            raise file_error("unreadable_file", file=path.name, reason=first_line(str(exc))) from None
        if not raw.complete:  # a file that fits in the sample is judged whole by load_extract
            sample = check_file(name, raw, resolved, codes=catalogue.codes, extract_date=extract_date)
            _refuse_unusable(path, raw, sample.problems, sample=True)


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
        for a file-level problem (message from :data:`hkc.extract.contract.FILE_ERRORS`).
    """
    if isinstance(extract_date, dt.datetime):
        extract_date = extract_date.date()
    extract_date = extract_date or dt.date.today()
    files = find_files(Path(data_dir))
    say = progress or (lambda _msg: None)
    read = _ReadFiles(files)
    for name, path in files.items():
        read.read(name, path, codes=catalogue.codes, extract_date=extract_date, say=say)
    people_keep, kept_ids, kept_dob = _check_people(read)
    say("checking events against people")
    person_idx = _check_events(read, people_keep, kept_ids, kept_dob)
    if "aliases" in read.checked:  # each alias against the others, the people used and the events used
        say("checking aliases against people and events")
        check_aliases(read.checked["aliases"], read.raws["aliases"].rows, people=read.checked["people"],
                      people_rows=read.raws["people"].rows, people_keep=people_keep, kept_ids=kept_ids,
                      events=read.checked["events"], events_rows=read.raws["events"].rows)
    for name, path in files.items():  # before any message is rendered
        _refuse_unusable(path, read.raws[name], read.checked[name].problems, sample=False)
    return _assemble(read, person_idx, codes=catalogue.codes, extract_date=extract_date, say=say)


class _ReadFiles:
    """The files of one extract as they are read and given their single-row checks."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.raws: dict[str, RawFile] = {}
        self.checked: dict[str, CheckedFile] = {}
        self.resolved: dict[str, dict[str, int]] = {}
        self.extra_columns: dict[str, list[str]] = {}
        self.limits = ReadLimits(block_size=_BLOCK, text_kept=_TEXT_KEPT, malformed_limit=_MALFORMED_LIMIT,
                                 sample_rows=_SAMPLE_ROWS)

    def read(self, name: str, path: Path, *, codes: tuple[str, ...], extract_date: dt.date,
             say: Callable[[str], None]) -> None:
        """Read one file (its first rows alone first: a file of garbage is refused before the rest is
        read) and apply the single-row rules."""
        say(f"reading {path.name}")

        def on_header(names: list[str]) -> None:
            self.resolved[name], extra = _resolve_columns(path.name, names, FILE_COLUMNS[name])
            if extra:
                self.extra_columns[path.name] = extra

        try:
            raw = READERS[path.suffix](path, on_header, limits=self.limits, sample=True)
            if not raw.complete:
                sample = check_file(name, raw, self.resolved[name], codes=codes, extract_date=extract_date)
                _refuse_unusable(path, raw, sample.problems, sample=True)
                del sample
                raw = READERS[path.suffix](path, None, limits=self.limits)
        except OSError as exc:  # permissions, a file that vanished, a device error
            raise file_error("unreadable_file", file=path.name, reason=first_line(str(exc))) from None
        if raw.table.num_rows + len(raw.malformed) == 0 and name in REQUIRED_FILES:
            raise file_error("no_rows", file=path.name)
        self.raws[name] = raw
        say(f"checking {path.name} ({raw.table.num_rows + len(raw.malformed):,} rows)")
        self.checked[name] = check_file(name, raw, self.resolved[name], codes=codes, extract_date=extract_date)


def _check_people(read: _ReadFiles) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """People: the first row of each person_id that passes every rule is used; later copies are not.
    Returns which rows are kept, their ids and their dates of birth."""
    people_cols, people_problems = read.checked["people"]
    people_rows = read.raws["people"].rows
    pid = people_cols["person_id"]
    dup, first = _later_copies(~people_problems.bad, [pid.values.keys()])
    people_problems.add(dup, "duplicate_person_id", "person_id", pid.values, first_row=lambda p: people_rows[first[p]])
    people_keep = ~people_problems.bad
    kept_ids = pid.values.at(np.flatnonzero(people_keep))
    dob = people_cols["date_of_birth"]
    return people_keep, kept_ids, dob.values.spread(dob.out)[people_keep]


def _check_events(read: _ReadFiles, people_keep: np.ndarray, kept_ids: pa.Array, kept_dob: np.ndarray) -> np.ndarray:
    """Events: the person must be in people, used there, and born by the event date; later copies of
    an (event_id, person_id) pair are not used.  Returns each event's position in the kept people."""
    events_cols, events_problems = read.checked["events"]
    events_rows = read.raws["events"].rows
    epid = events_cols["person_id"]
    person_idx = epid.values.spread(index_in(epid.values.values, kept_ids))
    unknown = epid.present & (person_idx < 0)
    if unknown.any():
        _unknown_people(read, people_keep, unknown)
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
    return person_idx


def _unknown_people(read: _ReadFiles, people_keep: np.ndarray, unknown: np.ndarray) -> None:
    """Events whose person is not among the kept people: ``person_rejected`` (pointing at the
    quarantined people row, or the malformed line likely holding it) or ``unknown_person``."""
    pid = read.checked["people"].columns["person_id"]
    people_rows = read.raws["people"].rows
    epid = read.checked["events"].columns["person_id"]
    events_problems = read.checked["events"].problems
    rejected = ~people_keep & pid.present
    quarantined = pd.DataFrame({"id": pid.values.at(np.flatnonzero(rejected)).to_pandas(),
                                "row": people_rows[rejected]})
    rej = pd.concat([quarantined, _malformed_person_ids(read.raws["people"], read.resolved["people"])],
                    ignore_index=True).groupby("id", sort=False)["row"].min()
    rej_ids = pa.array(rej.index.to_numpy(dtype=object), pa.large_string())
    rej_pos = epid.values.spread(index_in(epid.values.values, rej_ids))
    rej_rows = rej.to_numpy()
    events_problems.add(unknown & (rej_pos >= 0), "person_rejected", "person_id", epid.values,
                        first_row=lambda p: rej_rows[rej_pos[p]])
    events_problems.add(unknown & (rej_pos < 0), "unknown_person", "person_id", epid.values)


def _assemble(read: _ReadFiles, person_idx: np.ndarray, *, codes: tuple[str, ...], extract_date: dt.date,
              say: Callable[[str], None]) -> Extract:
    """The used rows as typed frames, the rejects in file and row order, and the counts."""
    frames: dict[str, pd.DataFrame] = {}
    reject_parts: list[pa.Table] = []
    counts: dict[str, dict[str, int]] = {}
    for order, (name, path) in enumerate(read.files.items()):
        raw, (cols, problems) = read.raws[name], read.checked[name]
        keep = ~problems.bad
        frames[name] = kept_frame(name, cols, keep, raw.rows, codes)
        for part in (problems.table(path.name, raw.rows), malformed_rejects(path, raw.malformed, len(raw.names))):
            reject_parts.append(part.append_column("order", pa.repeat(pa.scalar(order, pa.int8()), len(part))))
        counts[name] = {"read": len(keep) + len(raw.malformed), "used": int(keep.sum()),
                        "rejected": int((~keep).sum()) + len(raw.malformed)}
    people, events = frames["people"], frames["events"]
    people["person_idx"] = np.arange(len(people), dtype=np.int32)
    events["person_idx"] = person_idx[~read.checked["events"].problems.bad].astype(np.int32)
    # files in contract order, rows in file order, a row's problems in the order found (a stable sort)
    rejects = pa.concat_tables(reject_parts).sort_by([("order", "ascending"), ("row", "ascending")])
    rejects = rejects.drop_columns(["order"]).to_pandas()
    say(f"checked {sum(c['read'] for c in counts.values()):,} rows, quarantined "
        f"{sum(c['rejected'] for c in counts.values()):,}")
    files = read.files
    return Extract(
        people=people, events=events, population=frames.get("population"), rejects=rejects,
        counts=counts, files=files, sha256={n: sha256_file(p) for n, p in files.items()},
        extra_columns=read.extra_columns, extract_date=extract_date, aliases=frames.get("aliases"),
    )
