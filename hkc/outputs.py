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
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hkc.errors import OutputError
from hkc.locks import output_lock

__all__ = ["replace_atomically", "write_text_atomic", "atomic_folder", "clear_interrupted", "neutralise", "neutralise_frame", "write_csv", "write_json", "sha256_file", "file_hashes",
           "FORMULA_PREFIXES"]

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


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


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
    """Write ``text`` to ``path`` atomically (see :func:`replace_atomically`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(data: Any, path: Path) -> Path:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")
    return path


def _backup(target: Path) -> Path:
    return target.parent / f".{target.name}.previous"


def _temporaries(target: Path) -> list[Path]:
    """The temporary folders :func:`atomic_folder` makes beside ``target`` (``.NAME.tmp-1a2b3c4d``)."""
    name = re.compile(rf"\.{re.escape(target.name)}\.tmp-[0-9a-f]{{8}}")
    return sorted(p for p in target.parent.iterdir() if name.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def clear_interrupted(target: Path, *, temporaries: bool = True) -> list[Path]:
    """Put right what a killed :func:`atomic_folder` left beside ``target``; returns the paths it
    restored or removed.  Call it only holding ``hkc.locks.output_lock(target)`` (which does).

    * killed between the swap's two renames (``target`` gone, the old folder in the backup): the
      old folder is put back;
    * killed after them: the backup (the old outputs) is removed;
    * killed while writing (``temporaries``): its temporary folder of half-written outputs, with
      children's data in it, is removed.  Every writer of one holds the lock, so while we hold
      it, any that exists belongs to a process that is gone.
    """
    target = Path(target).resolve()
    backup, done = _backup(target), []
    try:
        if backup.is_dir() and not target.exists():
            os.replace(backup, target)
            done.append(target)
        elif backup.is_dir():
            shutil.rmtree(backup)
            done.append(backup)
        for tmp in _temporaries(target) if temporaries else []:
            shutil.rmtree(tmp)
            done.append(tmp)
    except OSError as exc:
        raise OutputError(f"--out {target}: cannot clear {exc.filename or backup}, left by an interrupted run "
                          f"({exc.strerror}); remove it by hand (it holds personal data)") from None
    return done


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot flush a directory; the files are flushed regardless
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then each folder's entries, to disk."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(root))


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target``; on error it is removed.

    Holds ``hkc.locks.output_lock(target)`` throughout (re-entrant: a refresh already holds it),
    so taking it first clears what a killed run left (:func:`clear_interrupted`).  The swap is two
    renames (old → backup, new → target), each atomic; a run killed between them leaves the old
    folder in the backup, which the next holder of the lock puts back.
    """
    target = Path(target).resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {target}: cannot create the folder ({exc.strerror})") from None
    with output_lock(target):
        if target.exists() and not target.is_dir():
            raise OutputError(f"--out {target}: exists and is not a folder; choose another path")
        backup = _backup(target)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
            _sync_tree(tmp)  # on disk before it is published: a power cut cannot swap in empty files
            if target.exists():
                os.replace(target, backup)
            try:
                os.replace(tmp, target)
            except BaseException:
                if backup.exists() and not target.exists():
                    os.replace(backup, target)
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _sync_dir(target.parent)  # the renames themselves
        shutil.rmtree(backup, ignore_errors=True)
