"""Arrow text helpers for the synthetic force: scalars and arrays of large strings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["scalar", "as_text"]

def scalar(value: str) -> pa.Scalar:
    """``value`` as an Arrow large-string scalar (for element-wise joins)."""
    return pa.scalar(value, pa.large_string())


def as_text(values: Sequence[str] | np.ndarray | pa.Array) -> pa.Array:
    """``values`` as an Arrow large-string array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.large_string())
    return pa.array(np.asarray(values, dtype=object), pa.large_string())
