"""One refresh at a time per output folder: an advisory lock held for the whole run.

A second refresh aimed at the same ``--out`` while one is running exits at once with a clear
message instead of interleaving its outputs.  The lock is released by the operating system when
the process ends, however it ends, so a killed run never leaves a stale lock behind.

Whoever takes the lock first clears what a killed holder left beside the folder (see
:func:`hkc.outputs.folder.clear_interrupted`): a temporary folder of half-written outputs, or a swap
stopped between its two renames.  Only a holder of the lock writes there, so while we hold it
anything left belongs to a process that is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from hkc.errors import HkcError, OutputError

try:  # POSIX; elsewhere refreshes are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

__all__ = ["RefreshLocked", "output_lock", "LOCKED", "atomic_folder", "clear_interrupted", "check_output_folder",
           "mark_output_folder", "prepare_output_folder", "check_output_file", "MARKER", "OUT_REFUSED",
           "FILE_EXISTS", "FILE_IS_DATABASE", "SwapError"]

# The file that says "hkc made this folder": hkc replaces or writes into only folders that hold it
# (or an older hkc refresh's run.json), so it never destroys what it did not write.
MARKER = ".hkc-output"
OUT_REFUSED = "--out {out}: {why}; choose an empty or new folder (hkc never replaces a folder it did not make)"
# `--out FILE` of a command that writes one file (a subject-access answer, a transparency record).
FILE_EXISTS = "--out {out}: already exists; pass --force to replace it, or choose another file"
FILE_IS_DATABASE = "--out {out}: is the history database; choose another file"

LOCKED = ("another refresh is writing {target} ({holder}); wait for it to finish, or choose another --out")

_held: dict[tuple[Path, int], int] = {}  # (folder, thread) -> how deeply this thread holds its lock


class RefreshLocked(HkcError):
    """Another process holds the lock on this output folder."""


@contextlib.contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (an output folder) for the duration of the block.

    Re-entrant within a thread (a refresh holds it for the whole run, and
    :func:`hkc.outputs.folder.atomic_folder` inside the run takes it again); another thread or process
    gets :class:`RefreshLocked`.  On first taking it, clears what a killed holder left behind.
    """
    target = Path(target).resolve()
    key = (target, threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {target}: cannot create its parent folder ({exc.strerror}); "
                          "choose a writable place") from None
    path = target.parent / f".{target.name}.lock"
    if fcntl is None:  # pragma: no cover
        clear_interrupted(target, temporaries=False)  # unlocked: another run's temporaries may be live
        yield
        return
    try:  # never follow a planted symlink: its target would be truncated and overwritten
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise OutputError(f"--out {target}: the lock file {path} is a symbolic link; remove it "
                              "(hkc makes its own)") from None
        raise OutputError(f"--out {target}: cannot create the lock file {path} ({exc.strerror}); "
                          "choose a writable place") from None
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



def _backup(target: Path) -> Path:
    return target.parent / f".{target.name}.previous"


def _temporaries(target: Path) -> list[Path]:
    """The temporary folders :func:`atomic_folder` makes beside ``target`` (``.NAME.tmp-1a2b3c4d``)."""
    name = re.compile(rf"\.{re.escape(target.name)}\.tmp-[0-9a-f]{{8}}")
    return sorted(p for p in target.parent.iterdir() if name.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def clear_interrupted(target: Path, *, temporaries: bool = True) -> list[Path]:
    """Put right what a killed :func:`atomic_folder` left beside ``target``; returns the paths it
    restored or removed.  Call it only holding ``hkc.outputs.folder.output_lock(target)`` (which does).

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


class SwapError(OutputError):
    """The outputs were written but could not replace ``--out`` (a mount point, a busy folder)."""


def _swap(tmp: Path, target: Path, backup: Path) -> None:
    """Publish ``tmp`` as ``target``: flush it, move the old folder to ``backup``, rename it in."""
    try:
        _sync_tree(tmp)  # on disk before it is published: a power cut cannot swap in empty files
        if target.exists():
            os.replace(target, backup)
        try:
            os.replace(tmp, target)
        except BaseException:
            if backup.exists() and not target.exists():
                os.replace(backup, target)
            raise
    except OSError as exc:
        raise SwapError(f"--out {target}: the outputs could not replace the folder ({exc.strerror or exc}); "
                        "choose a folder hkc can rename (not a mount point)") from None


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

    Holds ``hkc.outputs.folder.output_lock(target)`` throughout (re-entrant: a refresh already holds it),
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
        try:
            tmp.mkdir()
        except OSError as exc:
            raise OutputError(f"--out {target}: cannot write beside it ({exc.strerror}); choose a writable place") from None
        try:
            mark_output_folder(tmp)
            try:
                yield tmp
            except OSError as exc:  # a writer failed: disk full, permissions, a file system limit
                raise OutputError(f"--out {target}: could not write {Path(exc.filename or tmp).name} "
                                  f"({exc.strerror or exc}); nothing was published") from None
            _swap(tmp, target, backup)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _sync_dir(target.parent)  # the renames themselves
        shutil.rmtree(backup, ignore_errors=True)


def _made_by_hkc(folder: Path) -> bool:
    if (folder / MARKER).is_file():
        return True
    run = folder / "run.json"  # a refresh written before the marker existed
    try:
        return run.is_file() and '"hkc_version"' in run.read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return False


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_folder(out: Path, *, inputs: tuple[Path, ...] | list[Path] = (),
                        database: Path | None = None) -> Path:
    """Refuse an output folder hkc could destroy something in; return it resolved.

    Refused (:class:`~hkc.errors.OutputError`, one line, exit code 2): the current folder; an input
    folder (the extract), any folder containing it or inside it; the folder holding the history
    database, or one containing it; a file; and an existing folder with anything in it that hkc did
    not make (no :data:`MARKER`).  An empty folder, a new path or an earlier hkc output is accepted.
    """
    target = Path(out).expanduser().resolve()

    def refuse(why: str) -> OutputError:
        return OutputError(OUT_REFUSED.format(out=out, why=why))

    if target == Path.cwd().resolve():
        raise refuse("is the current folder")
    for given in inputs:
        source = Path(given).expanduser().resolve()
        kind = "input folder" if source.is_dir() else "input"
        if _within(target, source):
            raise refuse(f"is inside the {kind} {given}" if target != source else f"is the {kind}")
        if _within(source, target):
            raise refuse(f"contains the {kind} {given}")
    if database is not None:
        db = Path(database).expanduser().resolve()
        if _within(db, target) or target == db.parent:
            raise refuse(f"holds the history database {database}")
    if target.exists() and not target.is_dir():
        raise refuse("exists and is not a folder")
    if target.is_dir() and os.path.ismount(target):
        raise refuse("is a mount point, which hkc cannot replace; choose a folder inside it")
    if target.is_dir() and not _made_by_hkc(target):
        try:
            empty = next(target.iterdir(), None) is None
        except OSError as exc:
            raise refuse(f"cannot be read ({exc.strerror})") from None
        if not empty:
            raise refuse("already holds files hkc did not write")
    return target


def check_output_file(out: Path | None, *, force: bool, database: Path | None = None) -> None:
    """Refuse to write ``--out FILE`` over the history database, or over any existing file without ``force``."""
    if out is None:
        return
    if database is not None and Path(out).resolve() == Path(database).resolve():
        raise OutputError(FILE_IS_DATABASE.format(out=out))
    if Path(out).exists() and not force:
        raise OutputError(FILE_EXISTS.format(out=out))


def mark_output_folder(folder: Path) -> None:
    """Write :data:`MARKER` into ``folder``: hkc made it, and may replace it next time."""
    try:
        (Path(folder) / MARKER).write_text("written by hkc; hkc replaces only folders holding this file\n",
                                            encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"--out {folder}: cannot write ({exc.strerror}); choose a writable folder") from None


def prepare_output_folder(out: Path, *, inputs: tuple[Path, ...] | list[Path] = (),
                          database: Path | None = None) -> Path:
    """:func:`check_output_folder`, then create the folder and mark it as hkc's."""
    target = check_output_folder(out, inputs=inputs, database=database)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot create the folder ({exc.strerror}); choose a writable path") from None
    mark_output_folder(target)
    return target
