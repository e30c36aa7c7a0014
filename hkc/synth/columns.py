"""Text columns of the extract: integer codes into a growing list of strings.

Faults and noise edit a handful of cells in columns of millions; a :class:`Column` keeps the
strings once and each row as a code, so edits, copies and the final decode stay cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hkc.extract import (
    ETHNICITY_CODES,
    OFFICER_ETHNICITY_CODES,
    OUTCOME_CODES,
    ROLE_CODES,
    SEX_CODES,
    SOURCE_CODES,
)
from hkc.synth.arrow import as_text, scalar
from hkc.synth.events import Chunk
from hkc.synth.people import AREAS, People
from hkc.synth.profiles import GRADE_ASSESSMENT, GRADE_SOURCE


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers such as ``P000042``: ``prefix`` then each number zero-padded to ``width``."""
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.large_string()), width, "0")
    return pc.binary_join_element_wise(scalar(prefix), digits, scalar(""))


def date_text(days: np.ndarray) -> pa.Array:
    """Day numbers as ``YYYY-MM-DD`` text."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.large_string())


class Column:
    """A text column: ``codes`` (one per row, -1 for blank) into the strings added so far."""

    def __init__(self, values: pa.Array, codes: np.ndarray):
        self.parts = [as_text(values)]
        self.size = len(values)
        self.codes = np.array(codes, dtype=np.int32)
        self._blank: int | None = None

    def add(self, values: Sequence[str] | pa.Array) -> np.ndarray:
        """Add strings; return their codes."""
        arr = as_text(values)
        self.parts.append(arr)
        self.size += len(arr)
        return np.arange(self.size - len(arr), self.size)

    @property
    def blank(self) -> int:
        """The code of the empty string."""
        if self._blank is None:
            self._blank = int(self.add([""])[0])
        return self._blank

    def values(self, rows: np.ndarray) -> pa.Array:
        """The text of ``rows``."""
        codes = self.codes[rows]
        codes = np.where(codes < 0, self.blank, codes)
        return pc.take(pa.concat_arrays(self.parts), pa.array(codes))

    def put(self, rows: np.ndarray, values: Sequence[str] | pa.Array) -> None:
        """Set the text of ``rows``."""
        if len(rows):
            self.codes[rows] = self.add(values)

    def subset(self, rows: np.ndarray) -> Column:
        """A new column holding ``rows`` of this one (the strings are shared, edits are not)."""
        col = Column.__new__(Column)
        col.parts, col.size, col._blank = list(self.parts), self.size, self._blank
        col.codes = self.codes[rows]
        return col

    def decode(self) -> pa.Array:
        """The whole column as text."""
        first = self.parts[0]
        if len(self.codes) == len(first) and np.array_equal(self.codes, np.arange(len(first), dtype=np.int32)):
            return first  # unchanged ids: nothing to look up
        codes = np.where(self.codes < 0, self.blank, self.codes)
        return pc.take(pa.concat_arrays(self.parts), pa.array(codes))


def code_column(codes_list: Sequence[str], idx: np.ndarray) -> Column:
    """A column of codes from a fixed list (``idx`` indexes ``codes_list``; -1 is blank)."""
    return Column(as_text(codes_list), idx)


def people_columns(pop: People, ids: pa.Array) -> dict[str, Column]:
    """The ``people`` file's contract columns."""
    dmin = int(pop.dob.min())
    dob_values = date_text(np.arange(dmin, int(pop.dob.max()) + 1))
    bools = as_text(["false", "true"])
    return {
        "person_id": Column(ids, np.arange(pop.n)),
        "date_of_birth": Column(dob_values, pop.dob - dmin),
        "sex": code_column(SEX_CODES, pop.sex),
        "ethnicity": code_column(ETHNICITY_CODES, pop.eth),
        "officer_ethnicity": code_column(OFFICER_ETHNICITY_CODES, pop.ic),
        "area": code_column([a[0] for a in AREAS], pop.area),
        "in_care": Column(bools, pop.in_care),
        "open_to_social_care": Column(bools, pop.open_sc),
    }


def event_columns(ev: Chunk, ids: pa.Array, codes: Sequence[str], places: pa.Array) -> dict[str, Column]:
    """The ``events`` file's contract columns, numbering events and occurrences in row order."""
    n = len(ev.person)
    width = max(7, len(str(n)))
    dmin, dmax = int(ev.day.min()) if n else 0, int(ev.day.max()) if n else 0
    occ = np.full(n, -1, dtype=np.int64)
    has = np.flatnonzero(ev.occurrence)
    # Rows of one occurrence share a day and a key, so they are adjacent: number them in order.
    keys = ev.key[has]
    new = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    occ[has] = np.cumsum(new) - 1
    n_occ = int(new.sum())
    grades = [a + b for a in GRADE_SOURCE for b in GRADE_ASSESSMENT]
    return {
        "event_id": Column(numbered("E", np.arange(1, n + 1), width), np.arange(n)),
        "person_id": Column(ids, ev.person),
        "date": Column(date_text(np.arange(dmin, dmax + 1)), ev.day - dmin),
        "type": code_column(codes, ev.type),
        "role": code_column(ROLE_CODES, ev.role),
        "source": code_column(SOURCE_CODES, ev.source),
        "outcome": code_column(OUTCOME_CODES, ev.outcome),
        "grade": code_column(grades, ev.grade),
        "occurrence_id": Column(numbered("OC", np.arange(1, n_occ + 1), max(7, len(str(n_occ)))), occ),
        "location_id": Column(places, ev.location),
    }
