"""Nothing lost: the CSV reader's count is held to the file's own.

A stray '"' or a NUL byte used to make the CSV parser read whole rows as one value (or drop them
between blocks) while the counts still "reconciled"; now such a file is refused with one line
naming the file, the line and the fix, and a file that loads has every record used or rejected.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hkc.extract.load as load_module
import hkc.extract.records as records_module
from hkc.errors import ExtractError
from hkc.extract.contract import FILE_ERRORS
from hkc.extract.load import Extract, load_extract
from hkc.extract.records import Layout, count_lines, reconcile, scan_records

AS_OF = dt.date(2026, 3, 31)
PROPERTY = settings(max_examples=int(os.environ.get("HKC_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def person(pid: str = "P1", **values: str) -> dict[str, str]:
    return {"person_id": pid, "date_of_birth": "2008-05-01", "sex": "M", "ethnicity": "White",
            "officer_ethnicity": "IC1", "area": "North", "in_care": "false", "open_to_social_care": "true", **values}


def event(eid: str = "E1", pid: str = "P1", **values: str) -> dict[str, str]:
    return {"event_id": eid, "person_id": pid, "date": "2025-06-01", "type": "knife_possession", "role": "offender",
            "source": "police", "outcome": "charged", "grade": "B2", "occurrence_id": "O1", "location_id": "L1",
            **values}


def csv_line(fields) -> str:
    """One CSV record (RFC 4180): a field holding a comma, quote or line break is quoted."""
    return ",".join('"' + f.replace('"', '""') + '"' if re.search(r'[",\r\n]', f) else f for f in fields) + "\n"


def csv_text(rows: list[dict[str, str]]) -> str:
    return "".join(csv_line(r) for r in [list(rows[0]), *[list(r.values()) for r in rows]])


def write(folder: Path, people: list[dict], events: list[dict] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "people.csv").write_text(csv_text(people), encoding="utf-8", newline="")
    text = events if isinstance(events, str) else csv_text(events)
    (folder / "events.csv").write_bytes(text.encode("utf-8"))
    return folder


def load(folder: Path, catalogue) -> Extract:
    return load_extract(folder, catalogue=catalogue, extract_date=AS_OF)


def refused(folder: Path, catalogue) -> str:
    with pytest.raises(ExtractError) as info:
        load(folder, catalogue)
    assert not CONTROL.search(str(info.value))  # one line
    return str(info.value)


def start_lines(rows: list[dict[str, str]]) -> list[int]:
    """The line where each data row starts, from the values (a second way to count lines)."""
    out, line = [], 2
    for row in rows:
        out.append(line)
        text = "".join(row.values())
        line += 1 + text.count("\n") + text.count("\r") - text.count("\r\n")
    return out


@pytest.fixture(params=[10_000, 1], ids=["one_read", "sample_then_full_read"])
def both_reads(request, monkeypatch) -> int:
    monkeypatch.setattr(load_module, "_SAMPLE_ROWS", request.param)
    return request.param


# --------------------------------------------------------------------------------------------
# A stray quote


def test_stray_quote_in_events_is_refused_naming_the_line(tmp_path, catalogue, both_reads):
    events = [event(f"E{i}") for i in range(200)]
    text = csv_text(events).splitlines(keepends=True)
    text[101] = text[101].replace(",offender,", ',"offender,')  # line 102, as `sed 102s/…/` does
    err = refused(write(tmp_path, [person()], "".join(text)), catalogue)
    assert err == FILE_ERRORS["unclosed_quote"].format(file="events.csv", line=102, last=201)


def test_stray_quote_after_the_first_parallel_block_is_refused(tmp_path, catalogue, monkeypatch):
    """The 40,000-person case in small: a quote just after the first block used to lose the rest of
    the file into one 'malformed' row while the counts reconciled."""
    monkeypatch.setattr(load_module, "_BLOCK", 1 << 12)
    monkeypatch.setattr(records_module, "SCAN_BLOCK", 1 << 10)
    events = [event(f"E{i}") for i in range(400)]
    lines = csv_text(events).splitlines(keepends=True)
    at = next(i for i in range(len(lines)) if sum(map(len, lines[:i])) > 1 << 12)
    lines[at] = lines[at].replace(",police,", ',"police,')
    err = refused(write(tmp_path, [person()], "".join(lines)), catalogue)
    assert err == FILE_ERRORS["unclosed_quote"].format(file="events.csv", line=at + 1, last=401)


def test_stray_quote_closed_by_a_later_quote_is_refused_naming_both_lines(tmp_path, catalogue, both_reads):
    events = [event(f"E{i}") for i in range(10)] + [event("E10", location_id="a,b")]
    lines = csv_text(events).splitlines(keepends=True)
    lines[3] = lines[3].replace(",O1,", ',"O1,')  # line 4; the next '"' opens "a,b" on line 12
    err = refused(write(tmp_path, [person()], "".join(lines)), catalogue)
    assert err == FILE_ERRORS["stray_quote"].format(file="events.csv", line=4, end=12, lines="9")


def test_row_of_the_wrong_width_spanning_lines_is_refused_not_quarantined(tmp_path, catalogue, both_reads):
    """Properly quoted, but the row has one field too many: its line break might hold whole rows."""
    text = csv_text([event("E1")]) + 'E2,P1,2025-06-01,knife_possession,offender,police,,,"O\n2",L1,extra\n' \
        + csv_line(event("E3").values())
    err = refused(write(tmp_path, [person()], text), catalogue)
    assert err == FILE_ERRORS["merged_lines"].format(file="events.csv", line=3, end=4, lines="2", expected=10)


def test_quoted_values_spanning_lines_and_closed_properly_still_load(tmp_path, catalogue, both_reads):
    events = [event("E1", location_id="two\nlines"), event("E2", occurrence_id='say "hi",\r\nthen'), event("E3")]
    extract = load(write(tmp_path, [person()], events), catalogue)
    assert extract.events["row"].tolist() == start_lines(events) == [2, 4, 6]
    assert extract.events["location_id"][0] == "two\nlines"
    assert extract.counts["events"] == {"read": 3, "used": 3, "rejected": 0}


def test_a_parser_count_that_differs_from_the_files_names_the_line_where_they_part():
    def scan(starts: bool = False) -> Layout:
        return Layout(records=4, quoted=True, starts=np.array([2, 3, 4, 6]) if starts else None)

    def check(parsed: list[int]) -> None:
        reconcile("events.csv", Layout(records=5, quoted=True), complete=True, parsed=np.array(parsed),
                  malformed_rows=np.array([], dtype=np.int64), malformed_breaks=np.array([], dtype=np.int64),
                  expected=10, scan=scan)

    with pytest.raises(ExtractError) as info:
        check([6, 2, 3])
    assert str(info.value) == FILE_ERRORS["uncounted_rows"].format(file="events.csv", line=4, parsed="3",
                                                                   physical="4")
    check([2, 3, 4, 6])


def test_stray_quote_closed_by_a_value_starting_with_a_line_break_is_refused(tmp_path, catalogue):
    """The stray '"' before `true` closes at the opening '"' of "\\nlead" as RFC 4180 allows, giving a
    row of the right width that swallows the next one; the closing '"' of "\\nlead" is left over."""
    people = [person("P0"), person("P1", area="\nlead"), person("P2")]
    lines = csv_text(people).splitlines(keepends=True)
    lines[1] = lines[1].replace(",true\n", ',"true\n')
    (tmp_path / "people.csv").write_text("".join(lines))
    (tmp_path / "events.csv").write_text(csv_text([event("E1", "P2")]))
    err = refused(tmp_path, catalogue)
    assert err == FILE_ERRORS["ambiguous_quotes"].format(file="people.csv", line=2, literal=4, multi=2)


def test_a_quote_inside_an_unquoted_value_is_refused_only_where_values_span_lines(tmp_path, catalogue):
    plain = [event("E1", location_id='O"Brien'), event("E2")]
    text = csv_text(plain).replace('"O""Brien"', 'O"Brien')  # as a careless export writes it
    extract = load(write(tmp_path / "a", [person()], text), catalogue)
    assert extract.events["location_id"].tolist() == ['O"Brien', "L1"]
    spanning = text + csv_line(event("E3", location_id="two\nlines").values())
    err = refused(write(tmp_path / "b", [person()], spanning), catalogue)
    assert err == FILE_ERRORS["ambiguous_quotes"].format(file="events.csv", line=2, literal=2, multi=4)


# --------------------------------------------------------------------------------------------
# NUL bytes


def test_nul_after_a_long_quoted_value_is_refused_naming_its_line(tmp_path, catalogue, monkeypatch):
    """It used to join the next seven valid events into one malformed line, used nowhere and
    rejected nowhere, with the counts still reconciling (a 4,000-byte value and 4 KiB blocks here;
    10 MB and the default 16 MiB blocks in a real file)."""
    monkeypatch.setattr(load_module, "_BLOCK", 1 << 12)
    events = [event(f"E{i}", location_id=("x," + "y" * 4000) if i == 1 else ("a,b" if i % 7 == 0 else "L1"))
              for i in range(53)]
    text = csv_text(events)
    at = text.index('"a,b"\n', text.index("\nE42,")) + len('"a,b')  # inside the value on line 44
    err = refused(write(tmp_path, [person()], text[:at] + "\0" + text[at:]), catalogue)
    assert err == FILE_ERRORS["nul_byte"].format(file="events.csv", line=44)


@PROPERTY
@given(position=st.integers(0, 10_000), crlf=st.booleans())
def test_a_nul_anywhere_in_the_data_is_refused_naming_its_line(catalogue, position, crlf):
    events = [event(f"E{i}", location_id=["L1", "a,b", "two\nlines"][i % 3]) for i in range(12)]
    text = csv_text(events).replace("\n", "\r\n") if crlf else csv_text(events)
    header = len(text.splitlines(keepends=True)[0])
    at = header + position % (len(text) - header + 1)
    before = text[:at]
    line = 1 + before.count("\n") + before.count("\r") - before.count("\r\n")
    with tempfile.TemporaryDirectory() as tmp:
        err = refused(write(Path(tmp), [person()], before + "\0" + text[at:]), catalogue)
    assert err == FILE_ERRORS["nul_byte"].format(file="events.csv", line=line)


# --------------------------------------------------------------------------------------------
# The property: refused, or every row accounted for

VALUES = st.sampled_from(["L1", "L1", "L1", "a,b", 'say "hi"', "two\nlines", "x\r\ny", "", " spaced ", "\nlead",
                          ",lead", "x\n"])


@st.composite
def small_extracts(draw) -> tuple[list[dict], list[dict]]:
    people = [person(f"P{i}", area=draw(VALUES)) for i in range(draw(st.integers(1, 5)))]
    events = [event(f"E{i}", f"P{draw(st.integers(0, len(people) - 1))}", occurrence_id=draw(VALUES),
                    location_id=draw(VALUES)) for i in range(draw(st.integers(1, 12)))]
    return people, events


@PROPERTY
@given(data=small_extracts(), file=st.sampled_from(["people", "events"]), position=st.integers(0, 5_000),
       char=st.sampled_from(['"', "\0"]))
def test_a_stray_quote_or_nul_never_loses_a_row_silently(catalogue, data, file, position, char):
    people, events = data
    rows = {"people": people, "events": events}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp), people, events)
        path = folder / f"{file}.csv"
        text = path.read_bytes()
        at = position % (len(text) + 1)
        path.write_bytes(text[:at] + char.encode() + text[at:])
        try:
            extract = load(folder, catalogue)
        except ExtractError as err:
            assert not CONTROL.search(str(err))
            return
    assert char == '"'  # a NUL is always refused
    assert extract.reconciles()
    for name, frame in (("people", extract.people), ("events", extract.events)):
        counts = extract.counts[name]
        accounted = set(frame["row"]) | set(extract.rejects.loc[extract.rejects["file"] == f"{name}.csv", "row"])
        assert counts["used"] + counts["rejected"] >= len(rows[name])
        assert set(start_lines(rows[name])) <= accounted


@PROPERTY
@given(data=st.lists(st.sampled_from(["a", "b", ",", '"', "\n", "\r", "\r\n", '""', " ", "\0"]), max_size=40),
       width=st.integers(1, 4), cuts=st.lists(st.integers(0, 60), max_size=4))
def test_the_files_count_is_the_parsers_count_in_any_blocks(data, width, cuts):
    """The pass counts records as pyarrow does (a second, independent count), whatever the blocks."""
    raw = "".join(data).encode()
    pieces, last = [], 0
    for cut in sorted(c % (len(raw) + 1) for c in cuts):
        pieces.append(raw[last:cut])
        last = cut
    pieces.append(raw[last:])

    def count(blocks):
        try:
            return scan_records(blocks, file="f.csv", first_line=2).records
        except ExtractError as err:
            return str(err)

    whole = count([raw])
    assert count(pieces) == whole
    if "\0" not in data:  # the cheap pass counts every line end, CR LF as one, wherever the blocks cut
        lines = raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n") + (bool(raw) and raw[-1:] not in b"\r\n")
        assert count_lines(pieces, file="f.csv", first_line=2).records == lines
    if isinstance(whole, str):
        assert ("\0" in data) or '"' in raw.decode()
        return
    names = [f"c{i}" for i in range(width)]
    bad = []
    try:
        table = pacsv.read_csv(pa.BufferReader(raw), read_options=pacsv.ReadOptions(column_names=names),
                               parse_options=pacsv.ParseOptions(invalid_row_handler=lambda r: bad.append(r) or "skip",
                                                                ignore_empty_lines=False, newlines_in_values=True))
        parsed = table.num_rows + len(bad)
    except pa.ArrowInvalid as exc:
        assert "Empty CSV" in str(exc)
        parsed = 0
    assert whole == parsed


def test_the_passes_read_a_file_in_blocks_with_the_same_verdict():
    rng = random.Random(3)
    rows = [event(f"E{i}", location_id=rng.choice(["L1", "a,b", "two\nlines", "x\r\ny"])) for i in range(300)]
    data = "".join(csv_line(r.values()) for r in rows).encode()
    physical = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    for size in (1, 7, 64, 1000, len(data)):
        blocks = [data[i:i + size] for i in range(0, len(data), size)]
        layout = scan_records(blocks, file="events.csv", first_line=2, starts=True)
        assert layout.records == 300
        assert layout.starts.tolist() == start_lines(rows)
        assert count_lines(blocks, file="events.csv", first_line=2).records == physical


def test_stray_quote_in_the_header_is_refused_not_swallowing_rows_into_a_name(tmp_path, catalogue):
    """`…,occurrence_id,"location_id` used to make the next 11 rows part of one column name."""
    events = [event(f"E{i}") for i in range(10)] + [event("E10", location_id="a,b"), event("E11")]
    text = csv_text(events).replace(",location_id", ',"location_id', 1)
    err = refused(write(tmp_path, [person()], text), catalogue)
    assert err == FILE_ERRORS["stray_quote"].format(file="events.csv", line=1, end=12, lines="12")
