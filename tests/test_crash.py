"""Crash safety: what the next holder of an output folder's lock clears after a killed refresh."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hkc.locks import output_lock
from hkc.outputs import atomic_folder


def leftovers(site: Path) -> list[str]:
    """What a refresh may leave beside the output folder: only its lock file."""
    return sorted(p.name for p in site.iterdir() if p.name.startswith(".out") and p.name != ".out.lock")


# -- the pieces: what the next holder of the lock clears, and what it leaves alone -------------------
def test_taking_the_lock_removes_temporary_folders_of_dead_runs_and_nothing_else(tmp_path):
    for name in (".out.tmp-0123abcd", ".out.tmp-89efcdab"):  # a killed run's half-written outputs
        (tmp_path / name / "partner").mkdir(parents=True)
        (tmp_path / name / "cohort.csv").write_text("person_id\nP1\n")
    keep = [tmp_path / ".out2.tmp-0123abcd", tmp_path / ".out.tmp-0123abcd.tmp-0123abcd", tmp_path / "out.tmp-0123abcd"]
    for path in keep:  # another folder's temporaries, and names that only look alike
        path.mkdir()
    (tmp_path / ".out.tmp-deadbeef").write_text("a file, not one of ours")
    keep.append(tmp_path / ".out.tmp-deadbeef")
    with output_lock(tmp_path / "out"):
        assert not (tmp_path / ".out.tmp-0123abcd").exists() and not (tmp_path / ".out.tmp-89efcdab").exists()
    assert all(path.exists() for path in keep)


def test_taking_the_lock_puts_back_a_folder_a_killed_swap_had_moved_aside(tmp_path):
    (tmp_path / ".out.previous").mkdir()
    (tmp_path / ".out.previous" / "cohort.csv").write_text("A")
    with output_lock(tmp_path / "out"):
        assert (tmp_path / "out" / "cohort.csv").read_text() == "A"
    assert leftovers(tmp_path) == []


def test_taking_the_lock_removes_the_backup_a_finished_swap_had_not_yet_removed(tmp_path):
    (tmp_path / ".out.previous").mkdir()
    (tmp_path / ".out.previous" / "cohort.csv").write_text("A")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cohort.csv").write_text("B")
    with output_lock(tmp_path / "out"):
        assert leftovers(tmp_path) == []
    assert (tmp_path / "out" / "cohort.csv").read_text() == "B"


def test_output_lock_is_reentrant_in_its_thread_and_exclusive_to_other_threads(tmp_path):
    import threading

    from hkc.locks import RefreshLocked

    refused = []

    def other():
        try:
            with output_lock(tmp_path / "out"):
                pass
        except RefreshLocked as exc:
            refused.append(exc)

    with output_lock(tmp_path / "out"), output_lock(tmp_path / "out"):
        with atomic_folder(tmp_path / "out") as folder:  # the refresh's own writer, inside its lock
            (folder / "cohort.csv").write_text("B")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and (tmp_path / "out" / "cohort.csv").read_text() == "B"
    with output_lock(tmp_path / "out"):  # released when the outermost block ends
        pass


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cohort.csv").write_text("A")
    real = os.replace

    def refuse_the_new_folder(src, dst):
        if Path(dst) == (tmp_path / "out").resolve() and Path(src).name.startswith(".out.tmp-"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", refuse_the_new_folder)
    with pytest.raises(OSError, match="No space left"), atomic_folder(tmp_path / "out") as folder:
        (folder / "cohort.csv").write_text("B")
    assert (tmp_path / "out" / "cohort.csv").read_text() == "A"
    assert leftovers(tmp_path) == []
