"""One refresh at a time per output folder: an advisory lock held for the whole run.

A second refresh aimed at the same ``--out`` while one is running exits at once with a clear
message instead of interleaving its outputs.  The lock is released by the operating system when
the process ends, however it ends, so a killed run never leaves a stale lock behind.

Whoever takes the lock first clears what a killed holder left beside the folder (see
:func:`hkc.outputs.clear_interrupted`): a temporary folder of half-written outputs, or a swap
stopped between its two renames.  Only a holder of the lock writes there, so while we hold it
anything left belongs to a process that is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from hkc.errors import HkcError

try:  # POSIX; elsewhere refreshes are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

__all__ = ["RefreshLocked", "output_lock", "LOCKED"]

LOCKED = ("another refresh is writing {target} ({holder}); wait for it to finish, or choose another --out")

_held: dict[tuple[Path, int], int] = {}  # (folder, thread) -> how deeply this thread holds its lock


class RefreshLocked(HkcError):
    """Another process holds the lock on this output folder."""


@contextlib.contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (an output folder) for the duration of the block.

    Re-entrant within a thread (a refresh holds it for the whole run, and
    :func:`hkc.outputs.atomic_folder` inside the run takes it again); another thread or process
    gets :class:`RefreshLocked`.  On first taking it, clears what a killed holder left behind.
    """
    from hkc.outputs import clear_interrupted  # here: hkc.outputs takes this lock itself

    target = Path(target).resolve()
    key = (target, threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    if fcntl is None:  # pragma: no cover
        clear_interrupted(target, temporaries=False)  # unlocked: another run's temporaries may be live
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise RefreshLocked(LOCKED.format(target=target, holder=holder)) from None
        os.ftruncate(fd, 0)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()}, started {started}".encode(), 0)
        _held[key] = 1
        try:
            clear_interrupted(target)
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock
