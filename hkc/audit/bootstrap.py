"""Bootstrap percentile intervals, vectorised over resamples.

Every rate, share and ratio in the audit gets its interval here.  The audit compresses its rows
into a table of distinct cells with counts; one multinomial draw of those counts is exactly one
resample of the rows with replacement, so 1,000 resamples of a million rows cost 1,000 draws over
a few thousand cells (see ``benchmarks/audit_bootstrap.py``).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["bootstrap_intervals", "bootstrap_draws", "percentile_interval", "finite_or_none", "interval_or_none"]


def bootstrap_intervals(counts: np.ndarray, statistic: Callable[[np.ndarray], Mapping[str, np.ndarray]], *,
                        resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                        max_cells: int = 4_000_000) -> dict[str, np.ndarray]:
    """Percentile bootstrap intervals from a table of counts, vectorised over resamples.

    Resampling ``n`` rows with replacement from rows that fall into cells with ``counts`` is the
    same as one multinomial draw of ``n`` over the cells with probabilities ``counts / n``; so a
    million rows compressed to a few thousand distinct cells cost a few thousand numbers per
    resample, drawn in chunks of resamples.

    Parameters
    ----------
    counts : array of shape (K,)
        Rows per cell (e.g. per distinct group × selected × outcome).
    statistic : callable
        Maps an (r, K) array of resampled counts to ``{name: array of shape (r, ...)}``;
        ``statistic(counts[None])`` gives the point estimates.  Non-finite values (an empty
        denominator in a resample) are ignored.
    resamples, seed, confidence
        Number of resamples, random seed, and interval level.
    max_cells
        Memory bound: resamples are drawn in chunks of at most ``max_cells / K``.

    Returns
    -------
    dict
        ``{name: array of shape (..., 2)}`` holding [low, high]; NaN where no resample was defined.

    Examples
    --------
    >>> ci = bootstrap_intervals(np.array([30, 70]), lambda c: {"share": c[:, 0] / c.sum(1)}, seed=1)
    >>> bool(ci["share"][0] < 0.3 < ci["share"][1])
    True
    """
    draws = bootstrap_draws(counts, statistic, resamples=resamples, seed=seed, max_cells=max_cells)
    return {name: percentile_interval(values, confidence) for name, values in draws.items()}


def bootstrap_draws(counts: np.ndarray, statistic: Callable[[np.ndarray], Mapping[str, np.ndarray]], *,
                    resamples: int = 1000, seed: int = 0, max_cells: int = 4_000_000) -> dict[str, np.ndarray]:
    """The statistic on every resample (``{name: array of shape (resamples, ...)}``, non-finite → NaN).

    :func:`bootstrap_intervals` is this followed by :func:`percentile_interval`; call the two
    directly to read several interval levels off one set of resamples.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("bootstrap_intervals needs at least one row")
    pvals = counts / total
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, max_cells // max(1, len(counts))))
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for start in range(0, resamples, chunk):
        draws = rng.multinomial(total, pvals, size=min(chunk, resamples - start)).astype(np.float64)
        for name, value in statistic(draws).items():
            parts[name].append(np.asarray(value, dtype=np.float64))
    out = {}
    for name, chunks in parts.items():
        values = np.concatenate(chunks)
        values[~np.isfinite(values)] = np.nan
        out[name] = values
    return out


def percentile_interval(values: np.ndarray, confidence: float) -> np.ndarray:
    """[low, high] percentiles over the first axis of resampled ``values`` (NaN where none is defined)."""
    alpha = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no defined resample
        low, high = np.nanquantile(values, [alpha, 1.0 - alpha], axis=0)
    return np.stack([low, high], axis=-1)


def finite_or_none(value: Any) -> float | None:
    """A point estimate as a plain float, or ``None`` when it is missing or not finite."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def interval_or_none(pair: np.ndarray | None) -> list[float] | None:
    """An interval as ``[low, high]``, or ``None`` when either end is undefined."""
    if pair is None or not np.all(np.isfinite(pair)):
        return None
    return [float(pair[0]), float(pair[1])]
