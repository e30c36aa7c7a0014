"""Writing outputs safely: atomic folders, and cells that cannot run as formulas.

* :func:`atomic_folder` writes a whole output folder under a temporary name and swaps it in only
  when everything succeeded, so a failed or killed run never leaves half a pack.
* :func:`neutralise` makes text that a spreadsheet would read as a formula (``=``, ``+``, ``-``,
  ``@``, tab, carriage return at the start) inert by prefixing a single quote (OWASP's advice for
  CSV injection).  Every CSV and XLSX writer in hkc goes through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hkc.errors import OutputError

__all__ = ['private_files', 'permissions', 'replace_atomically', 'write_text_atomic', 'neutralise', 'neutralise_frame', 'write_csv', 'write_json', 'jsonable', 'json_text', 'sha256_file', 'file_hashes', 'FORMULA_PREFIXES']


@contextlib.contextmanager
def private_files(*, group_readable: bool = False) -> Iterator[dict[str, str]]:
    """Everything this process creates inside the block is private to its owner (folders 0700,
    files 0600) — or, with ``group_readable``, readable by the owner's group too (0750, 0640) —
    whatever the umask was.  Yields the modes, as the run manifest records them."""
    old = os.umask(0o027 if group_readable else 0o077)
    try:
        yield permissions(group_readable=group_readable)
    finally:
        os.umask(old)


def permissions(*, group_readable: bool = False) -> dict[str, str]:
    """The modes hkc gives what it writes, as octal text."""
    return {"folders": "0750", "files": "0640"} if group_readable else {"folders": "0700", "files": "0600"}


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix text that starts like a formula with ``'``; leave everything else alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _formula_like(values: pd.Series) -> np.ndarray:
    if values.dtype == object:  # mixed cells: only text can be a formula
        return values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES)).to_numpy(dtype=bool)
    return values.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell neutralised (numbers and dates untouched).

    Vectorised: Arrow text is tested in one pass per column, a categorical column through its
    categories, so a few million rows take well under a second.
    """
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = pd.Series(series.cat.categories)
            renamed = [neutralise(c) for c in categories]
            if len(set(renamed)) == len(renamed):
                out[col] = series.cat.rename_categories(renamed)
                continue
            series = series.astype(object)  # neutralising would merge two categories: cell by cell
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            mask = _formula_like(series)
            if mask.any():
                series = series.where(~mask, "'" + series.astype(str))
            out[col] = series
    out.columns = [neutralise(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    neutralise_frame(frame).to_csv(path, index=False, lineterminator="\n")
    return path


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(folder: Path, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{name: sha256}`` for files under ``folder`` — what a disclosure log entry records."""
    return {name: sha256_file(Path(folder) / name) for name in names}


def jsonable(node: Any) -> Any:
    """``node`` as plain JSON data: mappings with text keys, lists, numbers (numpy scalars unwrapped;
    NaN and infinities become ``None``), dates as ISO text, paths as text."""
    if isinstance(node, Mapping):
        return {str(k): jsonable(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [jsonable(v) for v in node]
    if hasattr(node, "item") and not isinstance(node, str):  # numpy scalars
        node = node.item()
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if hasattr(node, "isoformat"):
        return node.isoformat()
    return str(node) if isinstance(node, Path) else node


def json_text(data: Any, *, sort_keys: bool = True) -> str:
    """``data`` as indented JSON text (through :func:`jsonable`; never NaN), ending in a newline."""
    return json.dumps(jsonable(data), indent=2, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False) + "\n"


def replace_atomically(path: Path, write) -> Path:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place: a reader
    sees the old file or the new one, never half of one; a failed write leaves no temporary."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`replace_atomically`); a failure is an
    :class:`~hkc.errors.OutputError` naming the file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); choose another --out") from None


def write_json(data: Any, path: Path, *, sort_keys: bool = True) -> Path:
    """Write ``data`` as JSON (:func:`json_text`) to ``path`` atomically."""
    return write_text_atomic(json_text(data, sort_keys=sort_keys), path)
