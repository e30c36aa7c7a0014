"""A refresh that cannot finish says so in one line, loses nothing and stores nothing it did not publish."""

from __future__ import annotations

import datetime as dt
import errno
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

import hkc.outputs.folder as folder_module
import hkc.refresh.publish as publish
from hkc.errors import HistoryError, HkcError, OutputError
from hkc.history import open_store
from hkc.history.retention import purge
from hkc.refresh import run_refresh
from hkc.refresh.run import AS_OF_AFTER_EXTRACT, AS_OF_BEFORE_EVENTS, AS_OF_IN_FUTURE
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def extract(tmp_path) -> Path:
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=20, outcome="convicted")
    b.person("P2", age=15).event("P2", "knife_possession", days_ago=400, outcome="charged")
    return b.write(tmp_path / "extract")


def refresh(extract: Path, tmp_path: Path, *, as_of=AS_OF, extract_date=dt.date(2026, 10, 1), out=None):
    return run_refresh(extract, as_of=as_of, out=out or tmp_path / "out", definitions=offline_definitions(),
                       db_url=f"sqlite:///{tmp_path / 'h.db'}", extract_date=extract_date, partner_pack="yes",
                       demo_key=True)


def counts(tmp_path: Path) -> tuple[int, int]:
    """(runs, disclosures) in the test's history database."""
    db = tmp_path / "h.db"
    if not db.exists():
        return 0, 0
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        got = tuple(conn.execute(sa.text(f"select count(*) from {t}")).scalar_one() if t in names else 0
                    for t in ("runs", "disclosures"))
    engine.dispose()
    return got


def test_as_of_after_the_extract_date_is_refused_before_any_work(tmp_path, extract):
    with pytest.raises(HkcError) as err:
        refresh(extract, tmp_path, as_of=dt.date(2026, 12, 31), extract_date=dt.date(2026, 10, 1))
    assert err.value.message == AS_OF_AFTER_EXTRACT.format(as_of="2026-12-31", extract_date="2026-10-01")
    assert counts(tmp_path) == (0, 0) and not (tmp_path / "out").exists()


def test_an_as_of_after_today_without_an_extract_date_is_refused(tmp_path, extract):
    far = dt.date(9999, 12, 31)
    with pytest.raises(HkcError) as err:
        refresh(extract, tmp_path, as_of=far, extract_date=None)
    assert err.value.message == AS_OF_IN_FUTURE.format(as_of=far, today=dt.date.today())
    assert counts(tmp_path) == (0, 0) and not (tmp_path / "out").exists()


def test_an_as_of_before_every_event_names_the_date_and_the_first_event(tmp_path, extract):
    with pytest.raises(HkcError) as err:
        refresh(extract, tmp_path, as_of=dt.date(1, 1, 1))
    first = (AS_OF - dt.timedelta(days=400)).isoformat()
    assert err.value.message == AS_OF_BEFORE_EVENTS.format(as_of="0001-01-01", first=first)
    assert counts(tmp_path) == (0, 0) and not (tmp_path / "out").exists()


def test_disk_full_while_writing_the_partner_workbook_is_one_line_and_publishes_nothing(tmp_path, extract,
                                                                                       monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x" / "cohort.xlsx"))

    monkeypatch.setattr(publish, "write_partner_pack", full)
    with pytest.raises(OutputError) as err:
        refresh(extract, tmp_path)
    assert err.value.message == (f"--out {(tmp_path / 'out').resolve()}: could not write cohort.xlsx "
                                 "(No space left on device); nothing was published")
    assert counts(tmp_path) == (0, 0) and not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []  # no half-written folder


def test_a_folder_that_cannot_be_swapped_in_leaves_the_run_unpublished_and_says_so(tmp_path, extract, monkeypatch):
    refresh(extract, tmp_path)  # an earlier, published run of the same date: two packs logged
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert counts(tmp_path) == (1, 2)
    real = os.replace

    def busy(src, dst):
        if Path(src).name.startswith(".out.tmp"):
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real(src, dst)

    monkeypatch.setattr(folder_module.os, "replace", busy)
    with pytest.raises(OutputError, match=r"the outputs could not replace the folder \(Device or resource busy\).*"
                                          r"stored in the history as run \d+ .* its outputs were not published, so "
                                          r"none of its packs is logged as disclosed"):
        refresh(extract, tmp_path)
    monkeypatch.setattr(folder_module.os, "replace", real)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == before  # old outputs back
    # The failed run replaced the earlier one in the history (as its message says); the disclosure log
    # still holds only the earlier run's two packs, which did go out, and nothing of the failed run's.
    assert counts(tmp_path) == (1, 2)
    log = open_store(f"sqlite:///{tmp_path / 'h.db'}").disclosures()
    assert log["published"].all()


def test_an_unwritable_place_for_out_is_one_line(tmp_path, extract):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"cannot create its parent folder"):
        refresh(extract, tmp_path, out=blocker / "out")
    assert counts(tmp_path) == (0, 0)


def test_a_read_only_file_system_is_one_line(tmp_path, extract, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(folder_module.Path, "mkdir", read_only)
    with pytest.raises(OutputError, match=r"\(Read-only file system\); choose a writable place"):
        refresh(extract, tmp_path, out=tmp_path / "ro" / "out")


def test_a_purge_reaching_before_the_year_1_is_one_line(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    with pytest.raises(HistoryError, match=r"retention of 99,999,999 days reaches back before the year 1; use at most "):
        purge(store, older_than_days=99_999_999, today=dt.date(2026, 12, 3), by="dpo", dry_run=True)
