"""Reading the audited columns: presence, numbers, 0/1 flags and group names, with row-level errors.

Messages name the input, the row (a CSV line number when ``row_of`` gives one) and the column, and
say what to do.  A missing group value is its own group, :data:`MISSING_GROUP`, never dropped.
:func:`poolings` names the pooled comparisons (``[pooled]`` in the spec) an input allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hkc.definitions import AuditSpec
from hkc.errors import ExtractError, HkcError
from hkc.messages import did_you_mean

__all__ = [
    "MISSING_GROUP",
    "NO_COLUMN",
    "NOT_NUMERIC",
    "NOT_BINARY",
    "EMPTY_VALUE",
    "UNKNOWN_REFERENCE",
    "POOLED_SUFFIX",
    "POOLED_NAME_TAKEN",
    "Pooling",
    "poolings",
    "NO_ROWS",
    "group_labels",
    "read_audit_columns",
    "require_column",
    "numeric_column",
    "binary_column",
]

MISSING_GROUP = "(missing)"

# Message templates (tests import and compare them)
NO_COLUMN = "{where}: no column '{column}' (the {role}){hint}; available columns: {available}"
NOT_NUMERIC = "{where}, {row}, column '{column}': {value!r} is not a number; the {role} must be numeric"
NOT_BINARY = "{where}, {row}, column '{column}': {value!r} is not 0 or 1; the {role} must be 0/1 or true/false"
EMPTY_VALUE = "{where}, {row}, column '{column}' is empty; the {role} must be filled in every row (fill or drop those rows)"
UNKNOWN_REFERENCE = ("reference group {group!r} for '{attribute}' is not in the data; groups present: {groups}"
                     "{fix}")
NO_ROWS = "{where}: no rows to audit"
POOLED_NAME_TAKEN = ("the pooled group's name {name!r} for '{attribute}' is also a group in the data that is not "
                     "pooled; choose another [pooled.{attribute}] name")
POOLED_SUFFIX = " (pooled)"  # the pooled attribute of ``ethnicity`` is ``ethnicity (pooled)``


@dataclass(frozen=True)
class Pooling:
    """One pooled comparison: the groups of ``attribute`` present in the data, taken together as ``name``."""

    key: str                   # the pooled attribute, e.g. "ethnicity (pooled)"
    attribute: str             # the attribute pooled, e.g. "ethnicity"
    name: str                  # the pooled group's name
    members: tuple[str, ...]   # the pooled groups present, in the spec's order
    label: str                 # how findings name the pooled group

    def relabel(self, labels: np.ndarray) -> np.ndarray:
        """Group labels of ``attribute`` with every pooled group replaced by :attr:`name`."""
        labels = np.asarray(labels, dtype=object)
        return np.where(np.isin(labels, list(self.members)), self.name, labels).astype(object)

    def describe(self) -> dict[str, Any]:
        """What the result records of the pooling (``attributes[key]["pooled"]``)."""
        return {"attribute": self.attribute, "group": self.name, "members": list(self.members)}


def poolings(present: Mapping[str, Iterable[str]], spec: AuditSpec) -> list[Pooling]:
    """The spec's pooled comparisons for the attributes in ``present`` (attribute → groups in the data).

    A pooling needs at least one of its groups present; its name may not be a group that is not pooled.
    """
    out = []
    for attribute, groups in present.items():
        entry = spec.pooled.get(attribute)
        if entry is None:
            continue
        groups = {str(g) for g in groups}
        members = tuple(g for g in entry.groups if g in groups)
        if not members:
            continue
        if entry.name in groups:
            raise HkcError(POOLED_NAME_TAKEN.format(name=entry.name, attribute=attribute))
        noun = entry.label or f"{entry.name} people"
        out.append(Pooling(key=f"{attribute}{POOLED_SUFFIX}", attribute=attribute, name=entry.name, members=members,
                           label=f"{noun} ({', '.join(members)})"))
    return out


def group_labels(series: pd.Series) -> np.ndarray:
    """Group names as strings; a missing value is its own group, never dropped."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = np.array([str(u) for u in uniques] + [MISSING_GROUP], dtype=object)
    return names[codes]  # code -1 (missing) picks the last name


def _shown(value: Any) -> Any:
    """A value as the user wrote it (numpy scalars as plain Python) for messages."""
    return value.item() if hasattr(value, "item") else value


def _row_name(position: int, row_of: Callable[[int], str] | None, index: pd.Index) -> str:
    return row_of(position) if row_of is not None else f"row {index[position]!r}"


def require_column(frame: pd.DataFrame, column: str, role: str, where: str) -> None:
    """Raise :class:`ExtractError` naming the closest column when ``column`` is absent."""
    if column not in frame.columns:
        names = [str(c) for c in frame.columns]
        hint = did_you_mean(str(column), names)
        raise ExtractError(NO_COLUMN.format(where=where, column=column, role=role, hint=hint,
                                            available=", ".join(names)), file=where, column=str(column))


def numeric_column(frame: pd.DataFrame, column: str, role: str, where: str, row_of=None) -> np.ndarray:
    """The column as floats; the first empty or non-numeric row is an :class:`ExtractError`."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = _row_name(pos, row_of, frame.index)
        if pd.isna(raw.iloc[pos]) or str(raw.iloc[pos]).strip() == "":
            raise ExtractError(EMPTY_VALUE.format(where=where, row=row, column=column, role=role),
                               file=where, column=column)
        raise ExtractError(NOT_NUMERIC.format(where=where, row=row, column=column, value=_shown(raw.iloc[pos]), role=role),
                           file=where, column=column)
    return values.to_numpy(dtype=np.float64)


def binary_column(frame: pd.DataFrame, column: str, role: str, where: str, row_of=None) -> np.ndarray:
    """The column as 0/1 (accepts bools, 0/1 numbers and "true"/"false"/"0"/"1" text)."""
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw.dtype) and not raw.isna().any():
        return raw.to_numpy(dtype=np.int8)
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = (values == 0) | (values == 1)
        if ok.all():
            return values.astype(np.int8)
    # True == 1 and 1.0 == 1 as dictionary keys, so numbers and bools share the first two entries
    lowered = raw.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    mapped = lowered.map({1: 1, 0: 0, "1": 1, "0": 0, "true": 1, "false": 0})
    bad = mapped.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = _row_name(pos, row_of, frame.index)
        if pd.isna(raw.iloc[pos]):
            raise ExtractError(EMPTY_VALUE.format(where=where, row=row, column=column, role=role),
                               file=where, column=column)
        raise ExtractError(NOT_BINARY.format(where=where, row=row, column=column, value=_shown(raw.iloc[pos]), role=role),
                           file=where, column=column)
    return mapped.to_numpy(dtype=np.int8)


def read_audit_columns(frame: pd.DataFrame, *, by: list[str], selected: str, score: str | None,
                       outcome: str | None, where: str,
                       row_of: Callable[[int], str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The selected flags, the outcome (zeros without one) and the scores, each column checked first."""
    if not by:
        raise HkcError(f"{where}: give at least one attribute to audit by (--by COLUMN)")
    for col in by:
        require_column(frame, col, "--by column", where)
    require_column(frame, selected, "selected column", where)
    if score is not None:
        require_column(frame, score, "score column", where)
    if outcome is not None:
        require_column(frame, outcome, "outcome column", where)
    if len(frame) == 0:
        raise HkcError(NO_ROWS.format(where=where))
    sel = binary_column(frame, selected, "selected column", where, row_of)
    out = (binary_column(frame, outcome, "outcome column", where, row_of) if outcome is not None
           else np.zeros(len(frame), np.int8))
    scores = numeric_column(frame, score, "score column", where, row_of) if score is not None else None
    return sel, out, scores
