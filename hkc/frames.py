"""Column operations on Arrow-backed frames that pandas does slowly at force scale.

pandas' ``Series.isin`` on Arrow strings turns the lookup values into Python scalars one by one,
and sorting by a string column factorizes it first; at a million people each took seconds.  These
do the same in Arrow compute (or on integer codes) and give the same answers.

>>> import pandas as pd
>>> isin(pd.Series(["a", "b", "c"], dtype="str"), ["c", "a"]).tolist()
[True, False, True]
>>> text_rank(pd.Series(["b", "a", "c", "a"], dtype="str")).tolist()
[2, 0, 3, 1]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin", "index_in", "iso_dates", "text_rank", "sort_order", "sort_rows", "THREADS"]

THREADS = min(2, os.cpu_count() or 1)  # the heavy sorts and gathers use at most two threads
PARALLEL_ROWS = 1_000_000  # below this, one thread is as fast


def _arrow(values) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, (set, frozenset)):
        values = list(values)
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    if isinstance(values, pd.Categorical):
        values = np.asarray(values, dtype=object)
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(np.asarray(values, dtype=object).astype(str), type=pa.string())


def isin(values: pd.Series, wanted) -> np.ndarray:
    """``values.isin(wanted)`` for text ids, as a boolean array (missing values are never in it)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    value_set = _arrow(wanted)
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    found = pc.is_in(_arrow(values), value_set=value_set, skip_nulls=True)
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def index_in(values: pd.Series, lookup: pd.Series) -> np.ndarray:
    """Position of each value in ``lookup`` (its first occurrence), or -1: ``Index.get_indexer`` for text."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    table = _arrow(lookup)
    if isinstance(table, pa.ChunkedArray):
        table = table.combine_chunks()
    found = pc.index_in(_arrow(values), value_set=table, skip_nulls=True)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def text_rank(values: pd.Series) -> np.ndarray:
    """Each value's position in sorted (code point) order, ties broken by row: a sort key as integers."""
    order = pc.sort_indices(_arrow(values)).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def sort_order(keys: list[np.ndarray], tiebreak=None) -> np.ndarray:
    """Row order sorting by ``keys`` (most significant first), then by the text ``tiebreak``.

    The text is compared only within runs of rows equal on every key, so a unique id as the
    last key costs almost nothing when it rarely decides.  See :func:`sort_rows`.
    """
    return sort_rows(keys, tiebreak)[0]


def sort_rows(keys: list[np.ndarray], tiebreak=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`sort_order`, and each key in that order (so callers need not gather them again).

    Above :data:`PARALLEL_ROWS` rows the rows are split at the first key's midpoint and the two
    halves sorted at once on two threads (NumPy's sorts release the GIL); every row of the first
    half precedes every row of the second, so the halves concatenate to the same order.
    """
    n = len(keys[0])
    if n >= max(PARALLEL_ROWS, 2) and THREADS > 1:
        first = keys[0]
        pivot = first.min() + (first.max() - first.min()) / 2
        low = first < pivot
        halves = [np.flatnonzero(low), np.flatnonzero(~low)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(lambda rows: _sort_part([k[rows] for k in keys], rows), halves))
        order = np.concatenate([p[0] for p in parts])
        ordered = [np.concatenate([p[1][i] for p in parts]) for i in range(len(keys))]
    else:
        order, ordered = _sort_part(keys, None)
    if tiebreak is None or n < 2:
        return order, ordered
    same = np.logical_and.reduce([k[1:] == k[:-1] for k in ordered])
    if not same.any():
        return order, ordered
    equal_prev = np.concatenate([[False], same])
    where = np.flatnonzero(equal_prev | np.concatenate([same, [False]]))
    block = np.cumsum(~equal_prev[where])
    ids = text_rank(_arrow(tiebreak).take(pa.array(order[where])))
    fix = np.lexsort((ids, block))  # tied rows are equal on every key: only the order changes
    order = order.copy()
    order[where] = order[where][fix]
    return order, ordered


def _sort_part(keys: list[np.ndarray], rows: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray]]:
    order = np.lexsort(tuple(reversed(keys)))
    ordered = [k[order] for k in keys]
    return (order if rows is None else rows[order]), ordered


def iso_dates(values: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Dates as ``YYYY-MM-DD`` text (missing stays missing), without a Python call per value."""
    days = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    return pd.array(pa.array(days).cast(pa.string()), dtype="str")
