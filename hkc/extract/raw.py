"""The raw-file vocabulary shared by the readers: limits, escaping, file errors and the ``RawFile``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.errors import ExtractError
from hkc.extract.contract import FILE_ERRORS

__all__ = ['RawFile', 'ReadLimits', 'HeaderCheck', 'VALUE_SHOWN', 'file_error', 'escape']


VALUE_SHOWN = 60  # characters of an offending value kept in rejects

_HEADER_LIMIT = 1 << 20  # bytes in which the header line must end


@dataclass(frozen=True)
class ReadLimits:
    """How far the CSV reader goes before it stops keeping detail or gives up on a file.

    ``block_size`` : bytes per parallel block; a single line may not be longer than this.
    ``text_kept`` : malformed lines whose start is kept to show in rejects.
    ``malformed_limit`` : this many malformed lines, half of those read, make a file unreadable.
    ``sample_rows`` : rows a sample read returns (see :func:`read_csv`); a CSV sample reads at most
    ``block_size`` bytes.
    """

    block_size: int = 1 << 24
    text_kept: int = 100_000
    malformed_limit: int = 1_000
    sample_rows: int = 10_000


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """Control characters (line breaks included) as escapes, so a message stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def file_error(key: str, *, file: str | None = None, column: str | None = None, **params: object) -> ExtractError:
    """The :class:`~hkc.errors.ExtractError` for template ``FILE_ERRORS[key]``, on one line."""
    message = FILE_ERRORS[key].format(file=file, column=column, **params)
    return ExtractError(escape(message), file=file, column=column)


class RawFile(NamedTuple):
    """A file read as text.

    ``names`` are the header names as written (surrounding whitespace removed); ``table`` holds
    one string column per name, called ``c0, c1, …`` by position (so repeated names are safe);
    ``rows`` is the source row of each table row; ``malformed`` lists the lines that could not
    be split into the header's number of fields (columns ``row, fields, text, blank``).
    ``complete`` is False for a sample read that stopped before the end of the file.
    """

    names: list[str]
    table: pa.Table
    rows: np.ndarray
    malformed: pd.DataFrame
    complete: bool = True


HeaderCheck = Callable[[list[str]], None]

_NO_MALFORMED = pd.DataFrame({"row": pd.Series([], dtype=np.int64), "fields": pd.Series([], dtype=np.int64),
                              "text": pd.Series([], dtype=object), "blank": pd.Series([], dtype=bool)})

