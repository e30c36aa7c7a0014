"""One refresh at a time per output folder: an advisory lock held for the whole run.

A second refresh aimed at the same ``--out`` while one is running exits at once with a clear
message instead of interleaving its outputs.  The lock is released by the operating system when
the process ends, however it ends, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from hkc.errors import HkcError

try:  # POSIX; elsewhere refreshes are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

__all__ = ["RefreshLocked", "output_lock", "LOCKED"]

LOCKED = ("another refresh is writing {target} ({holder}); wait for it to finish, or choose another --out")


class RefreshLocked(HkcError):
    """Another process holds the lock on this output folder."""


@contextlib.contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (an output folder) for the duration of the block."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    if fcntl is None:  # pragma: no cover
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
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
