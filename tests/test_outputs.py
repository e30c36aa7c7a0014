"""The output folder's swap: what is on disk before a new folder is published."""

from __future__ import annotations

import os

from hkc.outputs.folder import atomic_folder


def test_every_output_file_is_on_disk_before_the_folder_is_swapped_in(tmp_path, monkeypatch):
    """A power cut after the swap must not publish files still only in memory: each file is
    fsynced before the first rename, and the parent folder after the last."""

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.csv").write_text("old\n")
    with atomic_folder(tmp_path / "out") as folder:
        (folder / "cohort.csv").write_text("rank\n1\n")
        (folder / "partner").mkdir()
        (folder / "partner" / "cohort.csv").write_text("rank\n1\n")
    first_swap = next(i for i, e in enumerate(events) if e[0] == "replace")
    synced = [e[1] for e in events[:first_swap] if e[0] == "fsync"]
    assert any(p.endswith("/cohort.csv") and "/partner/" not in p for p in synced)
    assert any(p.endswith("/partner/cohort.csv") for p in synced)
    assert events[-1] == ("fsync", str(tmp_path.resolve()))
    assert (tmp_path / "out" / "cohort.csv").read_text() == "rank\n1\n"
