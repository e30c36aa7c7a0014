"""Children's data readable by nobody else: what a refresh writes is private whatever the umask, and
the lock never follows a planted symlink."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

from hkc.definitions import OutputSettings
from hkc.errors import OutputError
from hkc.outputs import output_lock, private_files
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # what most accounts have: new files world-readable
    try:
        yield
    finally:
        os.umask(old)


def refresh(tmp_path: Path, definitions=None):
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=20, outcome="convicted")
    extract = b.write(tmp_path / "extract")
    return run_refresh(extract, as_of=AS_OF, out=tmp_path / "out", definitions=definitions or offline_definitions(),
                       db_url=f"sqlite:///{tmp_path / 'db' / 'h.db'}", extract_date=dt.date(2026, 10, 1),
                       partner_pack="yes", demo_key=True)


def modes(root: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {"folders": set(), "files": set()}
    for p in [root, *root.rglob("*")]:
        found["folders" if p.is_dir() else "files"].add(stat.S_IMODE(p.stat().st_mode))
    return found


def test_a_refresh_under_a_world_readable_umask_writes_only_owner_readable_files(tmp_path, loose_umask):
    result = refresh(tmp_path)
    assert (tmp_path / "out" / "partner" / "cohort.csv").is_file()  # the partner pack too
    assert modes(tmp_path / "out") == {"folders": {0o700}, "files": {0o600}}
    assert stat.S_IMODE((tmp_path / "db" / "h.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "db").stat().st_mode) == 0o700
    assert json.loads((tmp_path / "out" / "run.json").read_text())["permissions"] == {"folders": "0700",
                                                                                     "files": "0600"}
    assert result.manifest["permissions"] == {"folders": "0700", "files": "0600"}
    assert os.umask(0o022) == 0o022  # the caller's umask is given back


def test_the_group_readable_setting_widens_to_the_group_and_is_recorded(tmp_path, loose_umask):
    defs = offline_definitions()
    settings = dataclasses.replace(defs.settings, outputs=OutputSettings(group_readable=True))
    refresh(tmp_path, dataclasses.replace(defs, settings=settings))
    assert modes(tmp_path / "out") == {"folders": {0o750}, "files": {0o640}}
    assert json.loads((tmp_path / "out" / "run.json").read_text())["permissions"] == {"folders": "0750",
                                                                                     "files": "0640"}


def test_private_files_restores_the_umask_after_an_error(loose_umask):
    with pytest.raises(RuntimeError), private_files():
        raise RuntimeError("boom")
    assert os.umask(0o022) == 0o022


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate")
    (tmp_path / ".out.lock").symlink_to(victim)
    with pytest.raises(OutputError, match=r"the lock file .*\.out\.lock is a symbolic link"):
        with output_lock(tmp_path / "out"):
            pass
    assert victim.read_text() == "do not truncate"


def test_every_command_writes_privately_a_subject_access_answer_and_an_audit(tmp_path, loose_umask):
    from click.testing import CliRunner

    from cli import main

    refresh(tmp_path)
    runner = CliRunner()
    answer = tmp_path / "answers" / "P1.txt"
    sar = runner.invoke(main, ["sar", "P1", "--purpose", "audit", "--db", f"sqlite:///{tmp_path / 'db' / 'h.db'}", "--out", str(answer)])
    assert sar.exit_code == 0, sar.output
    assert stat.S_IMODE(answer.stat().st_mode) == 0o600
    scored = tmp_path / "scored.csv"
    scored.write_text("score,group\n1,a\n0,b\n1,b\n0,a\n")
    audit = runner.invoke(main, ["audit", "--input", str(scored), "--score", "score", "--threshold", "1",
                                 "--by", "group", "--out", str(tmp_path / "audit")])
    assert audit.exit_code == 0, audit.output
    assert modes(tmp_path / "audit") == {"folders": {0o700}, "files": {0o600}}
    assert os.umask(0o022) == 0o022  # the command gave the umask back
