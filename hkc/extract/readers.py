"""Read an extract's files as text: every column a string, every row with its source line.

>>> from hkc.extract.readers import READERS, find_files                            # doctest: +SKIP
>>> files = find_files(Path("extract/"))                                  # doctest: +SKIP
>>> raw = READERS[files["events"].suffix](files["events"])                # doctest: +SKIP
>>> raw.names[:3], raw.table.num_rows, len(raw.malformed)                 # doctest: +SKIP
(['event_id', 'person_id', 'date'], 10431, 1)

This module only reads; :mod:`hkc.extract.load` validates what it reads.  A problem with a whole file
(missing, empty, not UTF-8, an unreadable header or Parquet footer, a Parquet column of a type
with no text form) raises :class:`~hkc.errors.ExtractError` with one line built from
:data:`hkc.extract.contract.FILE_ERRORS`.  A problem with one line does not: the line is kept aside in
:attr:`RawFile.malformed` for the validation stage to quarantine.

``rows`` holds the line number in a CSV file (header = line 1) where each row starts, so a quoted
value holding a line break makes the next row start further down, as an editor shows it; in a
Parquet file it is the 1-based position.  Blank lines are kept (as rows whose fields are all empty,
or as malformed lines marked ``blank``) so that validation can reject them as ``blank_row``.  A
line with the wrong number of fields is malformed; and a file where at least 1,000 lines, half of
those read, are malformed is not in the header's layout at all (file-level: wrong delimiter, or a
header from another file).  Every CSV is also counted a second way, from its bytes
(:mod:`hkc.extract.records`): a NUL byte, a '"' that is never closed or that swallows lines, a
malformed line spanning several lines, or a parser count that differs from the file's is a
file-level error naming the line, never rows lost inside one "malformed" line.

A file that exists but is not a regular file (a FIFO, a device, a link to nothing) is refused by
:func:`find_files` without being opened, whether it is required or optional.

CSV files are read with pyarrow in parallel blocks, falling back to one ordered pass when a
malformed line needs its number.  A *sample* read (``sample=True``) reads only the first
``ReadLimits.sample_rows`` records, numbered as in a full read, so the caller can judge a file
before reading all of it.  Parquet columns are cast to text as a CSV export would write
them (dates as YYYY-MM-DD, nulls empty).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from hkc.extract.contract import OPTIONAL_FILES, REQUIRED_FILES
from hkc.extract.csv import first_line, read_csv
from hkc.extract.parquet import read_parquet
from hkc.extract.raw import RawFile, file_error

__all__ = ['READERS', 'find_files']


# ``READERS[suffix](path, on_header=None, *, limits=None, sample=False) -> RawFile``; ``on_header(names)`` is
# called with the header names before the rows are read, so a missing column stops a large file at once.
READERS: dict[str, Callable[..., RawFile]] = {
    ".csv": read_csv,
    ".parquet": read_parquet,
}


def find_files(data_dir: Path) -> dict[str, Path]:
    """Map each contract file name to its path in ``data_dir``; raise if required ones are missing."""
    data_dir = Path(data_dir)
    folder = str(data_dir)
    if not data_dir.is_dir():
        raise file_error("no_folder", file=folder, folder=folder)
    try:
        empty = not any(data_dir.iterdir())
    except OSError as exc:
        raise file_error("unreadable_file", file=folder, reason=first_line(str(exc))) from None
    if empty:
        raise file_error("empty_folder", file=folder, folder=folder,
                         expected=", ".join(f"{n}{ext}" for n in REQUIRED_FILES for ext in READERS))
    found: dict[str, Path] = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        candidates = []
        for ext in READERS:
            kind = _entry_kind(data_dir / f"{name}{ext}")
            if kind == "folder":
                raise file_error("not_a_file", file=f"{name}{ext}", folder=folder, name=name)
            if kind not in (None, "file"):  # never opened: reading a FIFO or a device can block or never end
                raise file_error("not_regular", file=f"{name}{ext}", folder=folder, name=name, kind=kind)
            if kind == "file":
                candidates.append(data_dir / f"{name}{ext}")
        if len(candidates) > 1:
            raise file_error("both_formats", file=candidates[0].name, folder=folder, first=candidates[0].name,
                             second=candidates[1].name)
        if candidates:
            found[name] = candidates[0]
        elif name in REQUIRED_FILES:
            expected = " or ".join(f"{name}{ext}" for ext in READERS)
            others = sorted(p.name for p in data_dir.glob(f"{name}.*"))
            if others:
                raise file_error("unsupported_file", file=others[0], folder=folder, found=others[0], name=name,
                                 expected=expected)
            raise file_error("missing_file", file=f"{name}.*", folder=folder, name=name, expected=expected)
    return found


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
          (stat.S_ISSOCK, "a socket"))


def _entry_kind(path: Path) -> str | None:
    """What is at ``path``, looked at without opening it: None (nothing), ``"file"`` (a regular file,
    or a link to one), ``"folder"``, or what else it is ("a named pipe (FIFO)", "a link to nothing", …)."""
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise file_error("unreadable_file", file=path.name, reason=first_line(str(exc))) from None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a link to nothing (what it points to does not exist)"
    except OSError as exc:  # a loop of links, or a folder on the way that may not be read
        return f"a link that cannot be followed ({first_line(exc.strerror or str(exc))})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    kind = next((text for test, text in _KINDS if test(mode)), "an unusual kind of file")
    return f"a link to {kind}" if link and kind.startswith("a ") else kind
