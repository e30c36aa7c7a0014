"""The memory check: an extract too big for the machine stops before any work, saying what it needs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import hkc.extract.capacity as capacity
from cli import main
from hkc.errors import HkcError
from hkc.extract.capacity import GB, CapacityError, check_capacity, extract_rows, memory_needed
from tests.builders import ExtractBuilder

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def small(tmp_path):
    b = ExtractBuilder(AS_OF)
    for i in range(30):
        b.person(f"P{i}", age=16).event(f"P{i}", "knife_possession", days_ago=10 + i, outcome="convicted")
    return b.write(tmp_path / "extract")


def _huge_parquet(path, rows: int, values: dict[str, str]) -> None:
    """A Parquet file of ``rows`` copies of one valid row, written a million rows at a time (only
    its metadata and first rows are ever read by the checks under test)."""
    block = min(rows, 1_000_000)
    table = pa.table({k: pa.DictionaryArray.from_arrays(pa.array(np.zeros(block, dtype=np.int8)), pa.array([v]))
                      for k, v in values.items()})
    with pq.ParquetWriter(path, table.schema) as writer:
        for _ in range(rows // block):
            writer.write_table(table)


def _national(folder):
    folder.mkdir()
    _huge_parquet(folder / "people.parquet", 10_000_000,
                  {"person_id": "P1", "date_of_birth": "2010-01-01", "sex": "M", "ethnicity": "White"})
    _huge_parquet(folder / "events.parquet", 100_000_000,
                  {"event_id": "E1", "person_id": "P1", "date": "2026-01-01", "type": "knife_possession",
                   "role": "offender", "source": "police"})
    return folder


def test_need_grows_linearly_with_people_and_events():
    one = memory_needed(people=1_000_000, events=10_000_000)
    ten = memory_needed(people=10_000_000, events=100_000_000)
    base = memory_needed(people=0, events=0)
    assert ten - base == pytest.approx(10 * (one - base))
    assert memory_needed(people=1, events=0) > base and memory_needed(people=0, events=1) > base


def test_parquet_rows_come_from_the_metadata_exactly(tmp_path):
    pq.write_table(pa.table({"person_id": [f"P{i}" for i in range(1234)]}), tmp_path / "people.parquet")
    pq.write_table(pa.table({"event_id": [f"E{i}" for i in range(5678)]}), tmp_path / "events.parquet")
    assert extract_rows(tmp_path) == (1234, 5678, False)


def test_csv_rows_are_estimated_from_the_size(tmp_path):
    rng = np.random.default_rng(1)
    lines = ["event_id,person_id,date,type"] + [
        f"E{i},P{rng.integers(1, 10**6)},2026-01-{rng.integers(10, 28)},knife_possession" for i in range(60_000)]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "people.csv").write_text("person_id\nP1\nP2\n")
    people, events, estimated = extract_rows(tmp_path)
    assert people == 2 and estimated
    assert events == pytest.approx(60_000, rel=0.1)


def test_a_machine_too_small_is_refused_with_the_memory_needed(small, monkeypatch):
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "1M")
    with pytest.raises(CapacityError) as err:
        check_capacity(small)
    message = str(err.value)
    assert "\n" not in message
    assert "30 people and 30 events" in message and "HKC_MEMORY_LIMIT has 0.0 GB available" in message
    assert f"need about {memory_needed(people=30, events=30) / GB:.1f} GB" in message
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "64G")
    assert check_capacity(small).needed == memory_needed(people=30, events=30)


def test_a_national_extract_is_refused_before_it_is_loaded(tmp_path, monkeypatch):
    """10M people / 100M events on a 24 GB machine: one line, exit 3, no output, no database."""
    data = _national(tmp_path / "national")
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "24G")
    out, db = tmp_path / "out", tmp_path / "h.db"
    result = CliRunner().invoke(main, ["refresh", str(data), "--as-of", "2026-09-30", "--out", str(out),
                                       "--db", f"sqlite:///{db}"])
    assert result.exit_code == 3, result.output
    line = result.output.strip().splitlines()[-1]
    assert "10,000,000 people and 100,000,000 events" in line and "24.0 GB available" in line
    need = memory_needed(people=10_000_000, events=100_000_000) / GB
    assert f"need about {need:.1f} GB" in line and "Traceback" not in result.output
    assert not out.exists() and not db.exists()


def test_available_memory_reads_the_machine_or_the_override(monkeypatch):
    monkeypatch.delenv("HKC_MEMORY_LIMIT", raising=False)
    free, source = capacity.available_memory()
    assert source in ("MemAvailable", "container limit") and (free is None or free > 0)
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "1.5G")
    assert capacity.available_memory() == (int(1.5 * GB), "HKC_MEMORY_LIMIT")
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "lots")
    with pytest.raises(HkcError, match="HKC_MEMORY_LIMIT='lots' is not a size"):
        capacity.available_memory()


def test_validate_checks_memory_too(tmp_path, monkeypatch):
    data = _national(tmp_path / "national")
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "24G")
    result = CliRunner().invoke(main, ["validate", str(data)])
    assert result.exit_code == 3 and "need about" in result.output.strip().splitlines()[-1]


def test_garbage_is_refused_as_garbage_before_the_memory_check(tmp_path, monkeypatch):
    """A big file of garbage on a small machine: the analyst needs to hear the file is wrong (exit 2),
    not that the machine is small (exit 3)."""
    data = tmp_path / "garbage"
    data.mkdir()
    (data / "people.csv").write_text("person_id,date_of_birth,sex,ethnicity\n" + "x,not a date,?,?\n" * 20_000)
    (data / "events.csv").write_text("event_id,person_id,date,type,role,source\n" + ",,,,,\n" * 20_000)
    monkeypatch.setenv("HKC_MEMORY_LIMIT", "1K")
    for args in (["validate", str(data)],
                 ["refresh", str(data), "--as-of", "2026-09-30", "--out", str(tmp_path / "out"),
                  "--db", f"sqlite:///{tmp_path / 'h.db'}"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args[0], result.output)
        assert "rows are rejected, so the file is not usable" in result.output.strip().splitlines()[-1]


def test_csv_with_old_mac_line_ends_is_counted(tmp_path):
    (tmp_path / "people.csv").write_bytes(b"person_id,date_of_birth\r" + b"P1234567,2010-01-01\r" * 200_000)
    (tmp_path / "events.csv").write_text("event_id\nE1\n")
    people, events, estimated = extract_rows(tmp_path)
    assert people == pytest.approx(200_000, rel=0.05) and events == 1 and estimated
