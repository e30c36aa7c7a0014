"""Random streams and the few vectorised sampling steps every part of the generator uses."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of a force: ``default_rng([seed, crc32(name)])``.

    Each component draws from its own stream, so changing one never shifts another."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def choice(rng: np.random.Generator, shares: Sequence[float], size: int) -> np.ndarray:
    """``size`` indices drawn with probabilities proportional to ``shares``."""
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum())


def choice_by_row(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each entry of ``rows``, an index drawn from that row of the probability ``table``."""
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(rows))
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), table.shape[1] - 1)


def segment_rank(segment: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``segment`` values (input sorted by segment)."""
    n = len(segment)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)
