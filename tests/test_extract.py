"""The extract loader: every row is used or quarantined, file-level problems stop with one line."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hkc.extract.load as extract_module
from hkc.errors import ExtractError
from hkc.extract.contract import CONTRACT, FILE_ERRORS, ROLE_CODES, RULES
from hkc.extract.csv import read_csv
from hkc.extract.load import REJECT_COLUMNS, Extract, load_extract
from hkc.extract.raw import ReadLimits
from hkc.extract.readers import find_files

AS_OF = dt.date(2026, 3, 31)
FORMATS = pytest.mark.parametrize("fmt", ["csv", "parquet"])
# write_extract is a pure function, so sharing it across examples is safe; HKC_EXAMPLES=2000 fuzzes harder
PROPERTY = settings(max_examples=int(os.environ.get("HKC_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(params=[10_000, 1], ids=["one_read", "sample_then_full_read"])
def both_reads(request, monkeypatch) -> int:
    """Run a test with the sample read being the whole file, and with a full read after a 1-row sample."""
    monkeypatch.setattr(extract_module, "_SAMPLE_ROWS", request.param)
    return request.param


def person(pid: str = "P1", **values: object) -> dict[str, object]:
    return {"person_id": pid, "date_of_birth": "2008-05-01", "sex": "M", "ethnicity": "White",
            "officer_ethnicity": "IC1", "area": "North", "in_care": "false", "open_to_social_care": "true",
            **values}


def event(eid: str = "E1", pid: str = "P1", **values: object) -> dict[str, object]:
    return {"event_id": eid, "person_id": pid, "date": "2025-06-01", "type": "knife_possession",
            "role": "offender", "source": "police", "outcome": "charged", "grade": "B2",
            "occurrence_id": "O1", "location_id": "L1", **values}


def three_people() -> list[dict[str, object]]:
    return [person("P1"), person("P2"), person("P3")]


def three_events() -> list[dict[str, object]]:
    return [event("E1", "P1"), event("E2", "P2"), event("E3", "P3")]


def row_of(position: int, fmt: str) -> int:
    """Source row of the data row at 0-based ``position`` in a file without multi-line values."""
    return position + 2 if fmt == "csv" else position + 1


def load(folder: Path, catalogue, **kwargs) -> Extract:
    return load_extract(folder, catalogue=catalogue, extract_date=AS_OF, **kwargs)


def used_people(extract: Extract) -> list[str]:
    return extract.people["person_id"].tolist()


def used_events(extract: Extract) -> list[str]:
    return extract.events["event_id"].tolist()


def rejects_of(extract: Extract, file: str) -> pd.DataFrame:
    return extract.rejects[extract.rejects["file"] == file].reset_index(drop=True)


def assert_accounted(extract: Extract) -> None:
    """read = used + rejected per file, and used rows and rejected rows never overlap."""
    assert extract.reconciles()
    for name, path in extract.files.items():
        frame = {"people": extract.people, "events": extract.events}.get(name, extract.population)
        used = set(frame["row"])
        rejected = set(extract.rejects.loc[extract.rejects["file"] == path.name, "row"])
        assert not used & rejected
        assert len(used) == extract.counts[name]["used"] == len(frame)
        assert len(rejected) == extract.counts[name]["rejected"]


# --------------------------------------------------------------------------------------------
# A clean extract


@FORMATS
def test_clean_extract_loads_every_row_with_typed_columns(tmp_path, write_extract, catalogue, fmt):
    folder = write_extract(tmp_path, three_people(), three_events(), fmt)
    extract = load(folder, catalogue)
    assert used_people(extract) == ["P1", "P2", "P3"]
    assert used_events(extract) == ["E1", "E2", "E3"]
    assert extract.rejects.empty and list(extract.rejects.columns) == REJECT_COLUMNS
    assert extract.counts == {"people": {"read": 3, "used": 3, "rejected": 0},
                              "events": {"read": 3, "used": 3, "rejected": 0}}
    assert extract.people["row"].tolist() == [row_of(i, fmt) for i in range(3)]
    assert extract.people["date_of_birth"].dtype == "datetime64[s]"
    assert extract.events["date"].dtype == "datetime64[s]"
    assert list(extract.events["type"].cat.categories) == list(catalogue.codes)
    assert extract.people["in_care"].dtype == "boolean"
    assert extract.events["person_idx"].tolist() == [0, 1, 2]
    assert extract.people["person_idx"].tolist() == [0, 1, 2]
    assert set(extract.sha256) == {"people", "events"}
    assert extract.extra_columns == {}


def test_population_file_is_optional_and_checked(tmp_path, write_extract, catalogue):
    population = [{"area": "North", "age_band": "10-14", "sex": "M", "ethnicity": "White", "count": "120"},
                  {"area": "North", "age_band": "25 +", "sex": "F", "ethnicity": "Black", "count": "7.0"},
                  {"area": "North", "age_band": "teen", "sex": "F", "ethnicity": "Black", "count": "-3"}]
    folder = write_extract(tmp_path, three_people(), three_events(), population_rows=population)
    extract = load(folder, catalogue)
    assert extract.population["count"].tolist() == [120, 7]
    assert extract.population["age_band"].tolist() == ["10-14", "25+"]
    assert rejects_of(extract, "population.csv")[["row", "column", "rule"]].values.tolist() == [
        [4, "age_band", "bad_age_band"], [4, "count", "bad_count"]]
    assert extract.counts["population"] == {"read": 3, "used": 2, "rejected": 1}


# --------------------------------------------------------------------------------------------
# Row-level rules: the row is quarantined, every other row loads

ROW_RULES = {
    "not_a_date": ("events", {"date": "31/02/2026"}, "date", "bad_date"),
    "impossible_date": ("events", {"date": "2025-02-31"}, "date", "bad_date"),
    "future_event": ("events", {"date": "2026-04-01"}, "date", "future_date"),
    "future_birth": ("people", {"date_of_birth": "2027-01-01"}, "date_of_birth", "future_date"),
    "birth_not_a_date": ("people", {"date_of_birth": "May 2008"}, "date_of_birth", "bad_date"),
    "unknown_type": ("events", {"type": "knife"}, "type", "unknown_code"),
    "unknown_role": ("events", {"role": "bystander"}, "role", "unknown_code"),
    "unknown_source": ("events", {"source": "press"}, "source", "unknown_code"),
    "unknown_outcome": ("events", {"outcome": "acquitted?"}, "outcome", "unknown_code"),
    "unknown_sex": ("people", {"sex": "male"}, "sex", "unknown_code"),
    "unknown_ethnicity": ("people", {"ethnicity": "Martian"}, "ethnicity", "unknown_code"),
    "unknown_officer_ethnicity": ("people", {"officer_ethnicity": "IC7"}, "officer_ethnicity", "unknown_code"),
    "malformed_grade": ("events", {"grade": "F9"}, "grade", "bad_grade"),
    "bad_bool": ("people", {"in_care": "maybe"}, "in_care", "bad_bool"),
    "unknown_person": ("events", {"person_id": "P9"}, "person_id", "unknown_person"),
    "born_after_event": ("events", {"date": "2001-01-01"}, "date", "before_birth"),
    **{f"missing_{c.name}": (file, {c.name: "  "}, c.name, "missing_value")
       for file in ("people", "events") for c in CONTRACT[file] if c.required},
}


@FORMATS
@pytest.mark.parametrize("case", ROW_RULES)
def test_row_rule_quarantines_only_that_row(tmp_path, write_extract, catalogue, fmt, case):
    file, change, column, rule = ROW_RULES[case]
    people, events = three_people(), three_events()
    (people if file == "people" else events)[1].update(change)
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    rejects = rejects_of(extract, f"{file}.{fmt}")
    assert rejects[["row", "column", "rule"]].values.tolist() == [[row_of(1, fmt), column, rule]]
    if file == "people":
        assert used_people(extract) == ["P1", "P3"]
        assert used_events(extract) == ["E1", "E3"]  # E2's person was quarantined
        assert rejects_of(extract, f"events.{fmt}")["rule"].tolist() == ["person_rejected"]
    else:
        assert used_people(extract) == ["P1", "P2", "P3"]
        assert used_events(extract) == ["E1", "E3"]
    assert_accounted(extract)


@FORMATS
def test_duplicate_person_id_rejects_later_copy_only(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1", area="first"), person("P2"), person("P1", area="second"), person(" P1 ", area="third")]
    extract = load(write_extract(tmp_path, people, [event("E1", "P1")], fmt), catalogue)
    assert used_people(extract) == ["P1", "P2"]
    assert extract.people["area"].tolist() == ["first", "North"]
    rejects = rejects_of(extract, f"people.{fmt}")
    assert rejects[["row", "column", "rule"]].values.tolist() == [
        [row_of(2, fmt), "person_id", "duplicate_person_id"], [row_of(3, fmt), "person_id", "duplicate_person_id"]]
    assert rejects["message"][0] == RULES["duplicate_person_id"].format(value="P1", first_row=row_of(0, fmt))
    assert used_events(extract) == ["E1"]


@FORMATS
def test_broken_first_copy_does_not_displace_a_valid_later_copy(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1", sex="?"), person("P1", area="good")]
    events = [event("E1", "P1", date="2001-01-01"), event("E1", "P1", role="victim")]
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    assert extract.people["area"].tolist() == ["good"]
    assert rejects_of(extract, f"people.{fmt}")["rule"].tolist() == ["unknown_code"]
    assert extract.events["role"].tolist() == ["victim"]
    assert rejects_of(extract, f"events.{fmt}")["rule"].tolist() == ["before_birth"]


@FORMATS
def test_broken_later_copy_is_rejected_for_its_own_problem(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1"), person("P1", sex="?")]
    extract = load(write_extract(tmp_path, people, [event("E1", "P1")], fmt), catalogue)
    assert rejects_of(extract, f"people.{fmt}")["rule"].tolist() == ["unknown_code"]
    assert used_people(extract) == ["P1"]


@FORMATS
def test_duplicate_event_person_pair_rejects_later_copy_only(tmp_path, write_extract, catalogue, fmt):
    events = [event("E1", "P1"), event("E1", "P2"), event("E1", "P1", role="victim"), event("E2", "P1")]
    extract = load(write_extract(tmp_path, three_people(), events, fmt), catalogue)
    assert extract.events[["event_id", "person_id"]].values.tolist() == [["E1", "P1"], ["E1", "P2"], ["E2", "P1"]]
    assert extract.events["role"].tolist() == ["offender", "offender", "offender"]
    rejects = rejects_of(extract, f"events.{fmt}")
    assert rejects[["row", "column", "rule"]].values.tolist() == [[row_of(2, fmt), "event_id", "duplicate_event"]]
    assert rejects["message"][0] == RULES["duplicate_event"].format(value="E1", person_id="P1",
                                                                    first_row=row_of(0, fmt))


@FORMATS
def test_events_of_a_quarantined_person_point_to_the_people_row(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1"), person("P2", sex="Q"), person("P2", date_of_birth="bad")]
    events = [event("E1", "P2"), event("E2", "P1"), event("E3", "P2")]
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    rejects = rejects_of(extract, f"events.{fmt}")
    assert rejects["row"].tolist() == [row_of(0, fmt), row_of(2, fmt)]
    assert rejects["rule"].tolist() == ["person_rejected"] * 2
    assert rejects["message"][0] == RULES["person_rejected"].format(value="P2", first_row=row_of(1, fmt))
    assert used_events(extract) == ["E2"]


@FORMATS
def test_event_before_birth_names_the_date_of_birth(tmp_path, write_extract, catalogue, fmt):
    extract = load(write_extract(tmp_path, [person("P1")], [event("E1", "P1", date="2008-04-30")], fmt), catalogue)
    assert rejects_of(extract, f"events.{fmt}")["message"].tolist() == [
        RULES["before_birth"].format(value="2008-04-30", date_of_birth="2008-05-01")]


@FORMATS
def test_row_with_several_problems_has_a_reject_line_each_but_counts_once(tmp_path, write_extract, catalogue, fmt):
    events = [event("E1", "P1"), event("E2", "P9", date="2030-01-01", type="?", grade="Z")]
    extract = load(write_extract(tmp_path, [person("P1")], events, fmt), catalogue)
    rejects = rejects_of(extract, f"events.{fmt}")
    assert rejects["column"].tolist() == ["date", "type", "grade", "person_id"]
    assert set(rejects["row"]) == {row_of(1, fmt)}
    assert extract.counts["events"] == {"read": 2, "used": 1, "rejected": 1}


@FORMATS
def test_row_of_empty_fields_is_one_blank_row_problem(tmp_path, write_extract, catalogue, fmt):
    blank = dict.fromkeys(event(), "")
    extract = load(write_extract(tmp_path, [person("P1")], [event("E1"), blank, event("E2")], fmt), catalogue)
    rejects = rejects_of(extract, f"events.{fmt}")
    assert rejects[["row", "column", "rule", "message"]].values.tolist() == [
        [row_of(1, fmt), "", "blank_row", RULES["blank_row"]]]
    assert used_events(extract) == ["E1", "E2"]


def test_reject_messages_fill_the_rule_templates(tmp_path, write_extract, catalogue):
    people = [person("P1", sex="q"), person("P2", in_care="maybe")]
    events = [event("E1", "P2", type="Knife", date="2027-01-01", grade="x1")]
    extract = load(write_extract(tmp_path, people, events), catalogue)
    messages = extract.rejects["message"].tolist()
    assert messages == [
        RULES["unknown_code"].format(value="q", column="sex", codes="F, M, X, U"),
        RULES["bad_bool"].format(value="maybe"),
        RULES["future_date"].format(value="2027-01-01", extract_date="2026-03-31"),
        RULES["unknown_code"].format(value="Knife", column="type", codes=", ".join(catalogue.codes)),
        RULES["bad_grade"].format(value="x1"),
        RULES["person_rejected"].format(value="P2", first_row=3),
    ]
    assert extract.rejects["value"].tolist() == ["q", "maybe", "2027-01-01", "Knife", "x1", "P2"]


def test_rejects_cut_long_values_and_escape_control_characters(tmp_path, write_extract, catalogue):
    events = [event("E1", type="x" * 500), event("E2", type="a\nb\x01c\td")]
    extract = load(write_extract(tmp_path, [person("P1")], events), catalogue)
    values = extract.rejects["value"].tolist()
    assert values == ["x" * 60 + "…", "a\\nb\\x01c\\td"]
    assert not any("\n" in m or "\x01" in m for m in extract.rejects["message"])


# --------------------------------------------------------------------------------------------
# CSV lines: malformed and blank lines, quoted line breaks, line numbers

HEADER = ",".join(event()) + "\n"


def csv_line(fields) -> str:
    """One CSV record as the ``write_extract`` fixture writes it (RFC 4180 quoting)."""
    return ",".join('"' + f.replace('"', '""') + '"' if re.search(r'[",\r\n]', f) else f for f in fields) + "\n"


def event_line(eid: str, pid: str = "P1", **values: object) -> str:
    return csv_line(str(v) for v in event(eid, pid, **values).values())


def write_csv_extract(folder: Path, events_text: str, people: list | None = None, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = people or [person("P1")]
    (folder / "people.csv").write_text("".join(csv_line(map(str, r)) for r in [rows[0].keys(), *[r.values() for r in rows]]),
                                       encoding="utf-8", newline="")
    (folder / "events.csv").write_bytes(events_text.encode(encoding))
    return folder


def test_malformed_lines_are_quarantined_at_their_line(tmp_path, catalogue, both_reads):
    text = HEADER + event_line("E1") + "E2,P1,too,few\n" + event_line("E3") + event_line("E4").rstrip() + ",extra\n"
    extract = load(write_csv_extract(tmp_path, text), catalogue)
    rejects = extract.rejects
    assert rejects[["row", "column", "rule"]].values.tolist() == [[3, "", "malformed_row"], [5, "", "malformed_row"]]
    assert rejects["message"].tolist() == [RULES["malformed_row"].format(fields=4, expected=10),
                                           RULES["malformed_row"].format(fields=11, expected=10)]
    assert rejects["value"][0] == "E2,P1,too,few"
    assert extract.events["row"].tolist() == [2, 4]
    assert extract.counts["events"] == {"read": 4, "used": 2, "rejected": 2}


def test_blank_lines_are_blank_rows_and_later_lines_keep_their_numbers(tmp_path, catalogue, both_reads):
    text = HEADER + event_line("E1") + "\n" + "   \n" + event_line("E2") + "\n"
    extract = load(write_csv_extract(tmp_path, text), catalogue)
    assert extract.rejects[["row", "rule"]].values.tolist() == [[3, "blank_row"], [4, "blank_row"], [6, "blank_row"]]
    assert extract.events["row"].tolist() == [2, 5]
    assert_accounted(extract)


def test_quoted_line_break_is_kept_and_later_rows_keep_their_line_numbers(tmp_path, catalogue, both_reads):
    """A quoted value may hold line breaks (RFC 4180): the row is where it starts, as an editor shows."""
    text = (HEADER + event_line("E1", location_id="two\nlines") + event_line("E2", type="knife\r\npossession")
            + "E3,P1,short\n" + event_line("E4", location_id="a\rb") + event_line("E5"))
    extract = load(write_csv_extract(tmp_path, text), catalogue)
    assert extract.events[["event_id", "row"]].values.tolist() == [["E1", 2], ["E4", 7], ["E5", 9]]
    assert extract.events["location_id"][0] == "two\nlines"
    assert extract.rejects[["row", "column", "rule", "value"]].values.tolist() == [
        [4, "type", "unknown_code", "knife\\r\\npossession"], [6, "", "malformed_row", "E3,P1,short"]]
    assert_accounted(extract)


def test_only_the_first_malformed_lines_keep_their_text(tmp_path, catalogue, monkeypatch):
    monkeypatch.setattr(extract_module, "_TEXT_KEPT", 1)
    text = HEADER + "E1,broken\n" + event_line("E2") + "E3,broken\n"
    extract = load(write_csv_extract(tmp_path, text), catalogue)
    assert extract.rejects[["row", "value"]].values.tolist() == [[2, "E1,broken"], [4, ""]]
    assert extract.rejects["message"].tolist() == [RULES["malformed_row"].format(fields=2, expected=10)] * 2


def test_file_mostly_of_malformed_lines_is_a_file_level_error(tmp_path, catalogue, monkeypatch):
    monkeypatch.setattr(extract_module, "_MALFORMED_LIMIT", 10)
    text = HEADER + event_line("E0") + "".join(f"E{i};P1;2025-01-01\n" for i in range(1, 40))
    err = extract_error(write_csv_extract(tmp_path, text), catalogue)
    assert str(err) == FILE_ERRORS["mostly_malformed"].format(file="events.csv", bad=10, seen=11, expected=10,
                                                              example="E1;P1;2025-01-01")


def test_a_few_malformed_lines_among_many_good_ones_are_row_level(tmp_path, catalogue, both_reads, monkeypatch):
    monkeypatch.setattr(extract_module, "_MALFORMED_LIMIT", 10)
    text = HEADER + "".join(event_line(f"E{i}") if i % 3 else f"E{i},bad\n" for i in range(60))
    extract = load(write_csv_extract(tmp_path, text), catalogue)
    assert extract.counts["events"] == {"read": 60, "used": 40, "rejected": 20}


def test_unclosed_quote_is_refused_naming_its_line_not_read_as_one_malformed_row(tmp_path, catalogue, both_reads):
    text = HEADER + event_line("E1") + 'E2,"P1,2025-01-01\n' + event_line("E3") + event_line("E4")
    err = extract_error(write_csv_extract(tmp_path, text), catalogue)
    assert str(err) == FILE_ERRORS["unclosed_quote"].format(file="events.csv", line=3, last=5)


def test_line_numbers_stay_exact_across_parallel_blocks(tmp_path, catalogue, both_reads, monkeypatch):
    """Small blocks force many parallel blocks and the single-threaded re-read for bad lines."""
    monkeypatch.setattr(extract_module, "_BLOCK", 1 << 12)
    rng = random.Random(7)
    lines, expected_used, expected_bad, line = [HEADER], [], [], 2
    for i in range(1500):
        kind = rng.random()
        if kind < 0.05:
            lines.append(f"E{i},broken\n")
            expected_bad.append(line)
            line += 1
        elif kind < 0.15:
            lines.append(event_line(f"E{i}", location_id="x\n" * (i % 3 + 1)))
            expected_used.append(line)
            line += i % 3 + 2
        else:
            lines.append(event_line(f"E{i}"))
            expected_used.append(line)
            line += 1
    extract = load(write_csv_extract(tmp_path, "".join(lines)), catalogue)
    assert extract.events["row"].tolist() == expected_used
    assert extract.rejects["row"].tolist() == expected_bad
    assert set(extract.rejects["rule"]) == {"malformed_row"}


# --------------------------------------------------------------------------------------------
# A file that is mostly rejected is refused as a whole


@pytest.fixture
def small_limits(monkeypatch) -> None:
    """Check 50 rows before reading the rest; 10 rejected rows, half of those checked, refuse a file."""
    monkeypatch.setattr(extract_module, "_SAMPLE_ROWS", 50)
    monkeypatch.setattr(extract_module, "_REJECTED_LIMIT", 10)


@FORMATS
def test_file_of_bad_rows_is_refused_from_its_first_rows(tmp_path, write_extract, catalogue, small_limits, fmt):
    folder = write_extract(tmp_path, [person()], [event(f"E{i}", type="knife") for i in range(400)], fmt)
    if fmt == "csv":
        with (folder / "events.csv").open("ab") as fh:
            fh.write(b"\xff\n")  # not UTF-8, but after the rows checked first, so never read
    err = extract_error(folder, catalogue)
    message = RULES["unknown_code"].format(value="knife", column="type", codes=", ".join(catalogue.codes))
    assert str(err) == FILE_ERRORS["mostly_rejected"].format(
        file=f"events.{fmt}", rejected="50", scope="first 50", rule="unknown_code", where=" in column 'type'",
        times="50", row=row_of(0, fmt), message=message)
    assert (err.file, err.column) == (f"events.{fmt}", "type")


@FORMATS
def test_rows_bad_after_good_ones_are_refused_on_the_whole_file(tmp_path, write_extract, catalogue, small_limits,
                                                                 fmt):
    events = [event(f"E{i}") for i in range(60)] + [event(f"E{i}", role="boss") for i in range(60, 200)]
    err = extract_error(write_extract(tmp_path, [person()], events, fmt), catalogue)
    assert str(err) == FILE_ERRORS["mostly_rejected"].format(
        file=f"events.{fmt}", rejected="140", scope="200", rule="unknown_code", where=" in column 'role'",
        times="140", row=row_of(60, fmt),
        message=RULES["unknown_code"].format(value="boss", column="role", codes=", ".join(ROLE_CODES)))


def test_events_of_people_missing_from_people_count_towards_the_whole_file(tmp_path, write_extract, catalogue,
                                                                           small_limits):
    events = [event(f"E{i}", "P9") for i in range(30)] + [event("E99")]
    err = extract_error(write_extract(tmp_path, [person()], events), catalogue)
    assert str(err).startswith("events.csv: 30 of the 31 rows are rejected, so the file is not usable; the "
                               "commonest problem is unknown_person in column 'person_id' (30 rows), e.g. row 2: ")


def test_commonest_problem_of_a_refused_file_may_be_malformed_lines(tmp_path, catalogue, small_limits):
    text = HEADER + event_line("E0") + "".join(f"E{i},P1,2025-01-01,,\n" for i in range(1, 30))
    err = extract_error(write_csv_extract(tmp_path, text), catalogue)
    assert str(err) == FILE_ERRORS["mostly_rejected"].format(
        file="events.csv", rejected="29", scope="30", rule="malformed_row", where="", times="29", row=3,
        message=RULES["malformed_row"].format(fields=5, expected=10))


def test_file_under_half_rejected_loads_with_every_reject_listed(tmp_path, write_extract, catalogue, small_limits):
    events = [event(f"E{i}", type="knife" if i % 3 == 0 else "violence", grade="Z9" if i % 3 == 0 else "B2")
              for i in range(300)]
    extract = load(write_extract(tmp_path, [person()], events), catalogue)
    assert extract.counts["events"] == {"read": 300, "used": 200, "rejected": 100}
    assert len(extract.rejects) == 200  # two problems per rejected row, every one listed
    assert_accounted(extract)


def test_file_with_more_problems_than_can_be_listed_is_refused(tmp_path, write_extract, catalogue, monkeypatch):
    monkeypatch.setattr(extract_module, "_PROBLEM_LIMIT", 5)
    events = [event(f"E{i}", grade="Z9", outcome="guilty" if i < 2 else "charged") for i in range(4)]
    folder = write_extract(tmp_path, [person()], events + [event(f"E{i}") for i in range(4, 10)])
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["too_many_problems"].format(
        file="events.csv", rejected="4", scope="10", problems="6", limit="5", rule="bad_grade",
        where=" in column 'grade'", times="4", row=2, message=RULES["bad_grade"].format(value="Z9"))
    monkeypatch.setattr(extract_module, "_PROBLEM_LIMIT", 6)
    assert len(load(folder, catalogue).rejects) == 6


# --------------------------------------------------------------------------------------------
# What real exports contain


def test_bom_crlf_and_whitespace_are_tolerated(tmp_path, catalogue):
    people = "\ufeff Person_ID , date_of_birth ,SEX,ethnicity\r\n  P1 , 2008-05-01 , m ,  white \r\n"
    events = ("event_id,person_id,date,type,role,source\r\n"
              " E1 ,P1 ,2025-06-01 ,  KNIFE_possession,Offender , POLICE\r\n")
    tmp_path.joinpath("people.csv").write_bytes(people.encode("utf-8"))
    tmp_path.joinpath("events.csv").write_bytes(events.encode("utf-8"))
    extract = load(tmp_path, catalogue)
    assert extract.rejects.empty
    assert extract.people[["person_id", "sex", "ethnicity"]].values.tolist() == [["P1", "M", "White"]]
    assert extract.events[["event_id", "person_id", "type", "role", "source"]].values.tolist() == [
        ["E1", "P1", "knife_possession", "offender", "police"]]
    assert extract.people["row"].tolist() == [2]


@FORMATS
def test_mixed_case_codes_are_canonicalised(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1", sex="f", ethnicity="NOT STATED", officer_ethnicity="ic3", in_care="YES",
                     open_to_social_care="No")]
    events = [event("E1", type="Knife_Intel", role="SUBJECT", source="Social_Care", outcome="NFA", grade="b2")]
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    assert extract.rejects.empty
    assert extract.people[["sex", "ethnicity", "officer_ethnicity"]].values.tolist() == [["F", "Not stated", "IC3"]]
    assert extract.people[["in_care", "open_to_social_care"]].values.tolist() == [[True, False]]
    assert extract.events[["type", "role", "source", "outcome", "grade"]].values.tolist() == [
        ["knife_intel", "subject", "social_care", "nfa", "B2"]]


@FORMATS
def test_empty_optional_values_load_as_missing(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1", officer_ethnicity="", area=" ", in_care="", open_to_social_care=None)]
    events = [event("E1", outcome="", grade="", occurrence_id="", location_id=None)]
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    assert extract.rejects.empty
    assert extract.people[["officer_ethnicity", "area", "in_care", "open_to_social_care"]].isna().all(axis=None)
    assert extract.events[["outcome", "grade", "occurrence_id", "location_id"]].isna().all(axis=None)


@FORMATS
def test_missing_optional_columns_are_added_empty(tmp_path, write_extract, catalogue, fmt):
    required = {c.name for cols in CONTRACT.values() for c in cols if c.required}
    people = [{k: v for k, v in person("P1").items() if k in required}]
    events = [{k: v for k, v in event("E1").items() if k in required}]
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    assert extract.rejects.empty
    assert list(extract.people.columns) == [c.name for c in CONTRACT["people"]] + ["row", "person_idx"]
    assert list(extract.events.columns) == [c.name for c in CONTRACT["events"]] + ["row", "person_idx"]
    assert extract.events["outcome"].isna().all()


@FORMATS
def test_extra_columns_are_ignored_and_listed_once(tmp_path, write_extract, catalogue, fmt):
    people = [person("P1", notes="x", row="99"), person("P2", notes="y", row="98")]
    extract = load(write_extract(tmp_path, people, [event("E1", source_file="a")], fmt), catalogue)
    assert extract.extra_columns == {f"people.{fmt}": ["notes", "row"], f"events.{fmt}": ["source_file"]}
    assert extract.people["row"].tolist() == [row_of(0, fmt), row_of(1, fmt)]
    assert "notes" not in extract.people


def test_parquet_typed_columns_load_like_text(tmp_path, catalogue):
    london = pa.timestamp("us", tz="Europe/London")
    people = pa.table({
        "person_id": pa.array([1, 2], pa.int64()),
        "date_of_birth": pa.array([dt.date(2008, 5, 1), dt.date(2009, 1, 2)], pa.date32()),
        "sex": pa.array(["M", "F"]).dictionary_encode(),
        "ethnicity": pa.array(["White", "Asian"]),
        "in_care": pa.array([True, None]),
    })
    events = pa.table({
        "event_id": ["E1", "E2"], "person_id": ["1", "2"],
        # midnight on 1 June in London is 23:00 on 31 May in UTC: the local day counts
        "date": pa.array([dt.datetime(2025, 5, 31, 23, 0), dt.datetime(2025, 6, 1, 10, 0)],
                         pa.timestamp("us", tz="UTC")).cast(london),
        "type": ["knife_intel", "violence"], "role": ["subject", "victim"], "source": ["police", "health"],
    })
    pq.write_table(people, tmp_path / "people.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    extract = load(tmp_path, catalogue)
    assert extract.rejects.empty
    assert extract.people["person_id"].tolist() == ["1", "2"]
    assert extract.people["in_care"].tolist() == [True, pd.NA]
    assert extract.events["date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-06-01", "2025-06-01"]


# --------------------------------------------------------------------------------------------
# File-level problems: one line naming the file (and column) and what to do


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def extract_error(folder: Path, catalogue) -> ExtractError:
    with pytest.raises(ExtractError) as info:
        load(folder, catalogue)
    assert not CONTROL.search(str(info.value))  # one line, nothing that garbles a terminal
    return info.value


def good_folder(tmp_path: Path, write_extract, fmt: str = "csv") -> Path:
    return write_extract(tmp_path / "x", three_people(), three_events(), fmt)


def test_missing_folder_is_a_file_level_error(tmp_path, catalogue):
    err = extract_error(tmp_path / "nope", catalogue)
    assert str(err) == FILE_ERRORS["no_folder"].format(folder=tmp_path / "nope")


def test_empty_folder_is_a_file_level_error(tmp_path, catalogue):
    err = extract_error(tmp_path, catalogue)
    assert str(err) == FILE_ERRORS["empty_folder"].format(
        folder=tmp_path, expected="people.csv, people.parquet, events.csv, events.parquet")


@pytest.mark.parametrize("name", ["people", "events"])
def test_missing_required_file_is_a_file_level_error(tmp_path, write_extract, catalogue, name):
    folder = good_folder(tmp_path, write_extract)
    (folder / f"{name}.csv").unlink()
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["missing_file"].format(folder=folder, name=name,
                                                          expected=f"{name}.csv or {name}.parquet")
    assert err.file == f"{name}.*"


def test_unsupported_format_names_the_file_found(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").rename(folder / "events.xlsx")
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["unsupported_file"].format(
        folder=folder, found="events.xlsx", name="events", expected="events.csv or events.parquet")


def test_both_csv_and_parquet_of_one_file_is_a_file_level_error(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    write_extract(tmp_path / "p", three_people(), three_events(), "parquet")
    (tmp_path / "p" / "people.parquet").rename(folder / "people.parquet")
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["both_formats"].format(folder=folder, first="people.csv",
                                                          second="people.parquet")


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf"], ids=["zero_bytes", "blank", "bom_only"])
def test_empty_file_is_a_file_level_error(tmp_path, write_extract, catalogue, content):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_bytes(content)
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["empty_file"].format(file="events.csv")
    assert err.file == "events.csv"


@FORMATS
def test_header_without_rows_is_a_file_level_error(tmp_path, write_extract, catalogue, fmt):
    folder = write_extract(tmp_path, three_people(), pd.DataFrame(columns=list(event())), fmt)
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["no_rows"].format(file=f"events.{fmt}")


def test_csv_header_without_final_newline_and_no_rows_is_no_rows(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text(HEADER.strip())
    assert str(extract_error(folder, catalogue)) == FILE_ERRORS["no_rows"].format(file="events.csv")


@FORMATS
def test_missing_required_column_lists_the_columns_found(tmp_path, write_extract, catalogue, fmt):
    events = [{k: v for k, v in event().items() if k != "source"}]
    err = extract_error(write_extract(tmp_path, three_people(), events, fmt), catalogue)
    found = ", ".join(repr(k) for k in event() if k != "source")
    assert str(err) == FILE_ERRORS["missing_column"].format(file=f"events.{fmt}", column="source", found=found)
    assert (err.file, err.column) == (f"events.{fmt}", "source")


def test_misspelt_required_column_suggests_the_rename(tmp_path, write_extract, catalogue):
    people = [{("date_of_brith" if k == "date_of_birth" else k): v for k, v in person().items()}]
    err = extract_error(write_extract(tmp_path, people, three_events()), catalogue)
    assert str(err) == FILE_ERRORS["misnamed_column"].format(file="people.csv", column="date_of_birth",
                                                             found="date_of_brith")


@pytest.mark.parametrize(("delimiter", "label"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_wrong_delimiter_is_named(tmp_path, write_extract, catalogue, delimiter, label):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text(delimiter.join(event()) + "\n" + delimiter.join(event().values()) + "\n")
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["wrong_delimiter"].format(file="events.csv", column="event_id", delimiter=label)


def test_required_column_twice_is_a_file_level_error(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text(HEADER.strip() + ", Date\n" + event_line("E1").strip() + ",2025-01-01\n")
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["duplicate_column"].format(file="events.csv", column="date", times=2)


def test_quoted_header_name_with_a_comma_is_one_name(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text('"notes, free text",' + HEADER + '"a, b",' + event_line("E1", "P1"))
    extract = load(folder, catalogue)
    assert extract.extra_columns == {"events.csv": ["notes, free text"]}
    assert used_events(extract) == ["E1"]


def test_quoted_header_name_with_a_line_break_shifts_the_line_numbers(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text('"two\nline notes",' + HEADER + "x," + event_line("E1", "P1"))
    extract = load(folder, catalogue)
    assert extract.events["row"].tolist() == [3]


def test_unclosed_quote_in_header_is_a_file_level_error(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text('"event_id,person_id\nE1,P1\n')
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["header_unreadable"].format(file="events.csv",
                                                               problem="has a '\"' that is never closed")


def test_not_utf8_names_the_line_and_byte(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    text = (HEADER + event_line("E1") + event_line("E2", location_id="Caf\u00e9")).encode("latin-1")
    (folder / "events.csv").write_bytes(text)
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["not_utf8"].format(file="events.csv", line=3, byte="e9")


def test_not_utf8_header_names_line_one(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_bytes(b"\xa3" + (HEADER + event_line("E1")).encode())
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["not_utf8"].format(file="events.csv", line=1, byte="a3")


def test_utf16_file_is_named_as_such(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_bytes((HEADER + event_line("E1")).encode("utf-16"))
    assert str(extract_error(folder, catalogue)) == FILE_ERRORS["utf16"].format(file="events.csv")


def test_line_longer_than_a_block_is_a_file_level_error(tmp_path, write_extract, catalogue, monkeypatch):
    monkeypatch.setattr(extract_module, "_BLOCK", 1 << 12)
    folder = good_folder(tmp_path, write_extract)
    (folder / "events.csv").write_text(HEADER + event_line("E1") + 'E2,"' + "x" * 10_000 + '"\n')
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["long_record"].format(file="events.csv", limit="4 KiB")


@pytest.mark.parametrize("keep", [0, 4, 100, -8, -1], ids=["empty", "magic_only", "head", "no_footer", "cut_end"])
def test_truncated_parquet_is_a_file_level_error(tmp_path, write_extract, catalogue, keep):
    folder = good_folder(tmp_path, write_extract, "parquet")
    path = folder / "events.parquet"
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    err = extract_error(folder, catalogue)
    if data[:keep if keep >= 0 else len(data) + keep].startswith(b"PAR1"):  # a cut copy: the footer is missing
        assert str(err) == FILE_ERRORS["truncated_parquet"].format(file="events.parquet")
    else:
        assert str(err).startswith("events.parquet is not a readable Parquet file (")
        assert str(err).endswith("); re-export it")


def test_csv_text_named_parquet_is_a_file_level_error(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract, "parquet")
    (folder / "events.parquet").write_text(HEADER + event_line("E1"))
    assert str(extract_error(folder, catalogue)).startswith("events.parquet is not a readable Parquet file")


def test_parquet_column_hkc_cannot_read_names_the_column(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract, "parquet")
    table = pq.read_table(folder / "events.parquet")
    table = table.set_column(table.schema.get_field_index("grade"), "grade", pa.array([["B2"], [], None]))
    pq.write_table(table, folder / "events.parquet")
    err = extract_error(folder, catalogue)
    written = pq.read_schema(folder / "events.parquet").field("grade").type
    assert str(err) == FILE_ERRORS["bad_type"].format(file="events.parquet", column="grade", type=written)
    assert err.column == "grade"


def test_parquet_binary_column_not_utf8_names_the_column(tmp_path, write_extract, catalogue):
    folder = good_folder(tmp_path, write_extract, "parquet")
    table = pq.read_table(folder / "events.parquet")
    table = table.set_column(table.schema.get_field_index("location_id"), "location_id",
                             pa.array([b"ok", b"\xff\xfe", b"x"], pa.binary()))
    pq.write_table(table, folder / "events.parquet")
    err = extract_error(folder, catalogue)
    assert str(err) == FILE_ERRORS["not_utf8_column"].format(file="events.parquet", column="location_id")


def test_extract_date_may_be_a_datetime(tmp_path, write_extract, catalogue):
    folder = write_extract(tmp_path, [person("P1")], [event("E1", date="2026-03-31")])
    extract = load_extract(folder, catalogue=catalogue, extract_date=dt.datetime(2026, 3, 31, 9, 0))
    assert extract.extract_date == AS_OF
    assert used_events(extract) == ["E1"]


def test_progress_reports_each_file(tmp_path, write_extract, catalogue):
    messages: list[str] = []
    load(write_extract(tmp_path, three_people(), three_events()), catalogue, progress=messages.append)
    assert messages[0] == "reading people.csv"
    assert "checking events.csv (3 rows)" in messages
    assert messages[-1] == "checked 6 rows, quarantined 0"


def test_find_files_maps_each_contract_file(tmp_path, write_extract):
    folder = write_extract(tmp_path, three_people(), three_events(), "parquet",
                           population_rows=[{"area": "a"}])
    assert find_files(folder) == {n: folder / f"{n}.parquet" for n in ("people", "events", "population")}


# --------------------------------------------------------------------------------------------
# Properties

GARBAGE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(',"\r\n\x00 \t;|é€\u2028\ufeff'), max_size=20),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(1_000, 30_000)),
    st.sampled_from(["", " ", '"', '""', "\n", "\r", "\r\n", ",", "2025-02-29", "9999-12-31", "0000-01-01",
                     "nan", "None", "NULL", "true", "P1", "E1"]),
)


def expected_rows(rows: list[dict[str, object]], fmt: str) -> list[int]:
    """Where each written row starts, computed from the values (a second way to count lines)."""
    if fmt == "parquet":
        return list(range(1, len(rows) + 1))
    out, line = [], 2
    for r in rows:
        out.append(line)
        text = "".join(str(v) for v in r.values())
        line += 1 + text.count("\n") + text.count("\r") - text.count("\r\n")
    return out


def check_accounts_for_every_row(extract: Extract, people: list, events: list, fmt: str) -> None:
    assert_accounted(extract)
    assert not any(CONTROL.search(m) for m in extract.rejects["message"])
    assert not any(CONTROL.search(v) for v in extract.rejects["value"])
    for name, rows in (("people", people), ("events", events)):
        frame = extract.people if name == "people" else extract.events
        rejected = set(extract.rejects.loc[extract.rejects["file"] == f"{name}.{fmt}", "row"])
        assert set(frame["row"]) | rejected == set(expected_rows(rows, fmt))
        assert extract.counts[name]["read"] == len(rows)


@PROPERTY
@given(fmt=st.sampled_from(["csv", "parquet"]), file=st.sampled_from(["people", "events"]),
       column=st.integers(0, 9), position=st.integers(0, 2), garbage=GARBAGE, extra=st.booleans())
def test_garbage_in_any_value_never_crashes_and_never_loses_a_row(write_extract, catalogue, fmt, file, column,
                                                                   position, garbage, extra):
    people, events = three_people(), three_events()
    rows = people if file == "people" else events
    names = list(rows[0]) + (["notes"] if extra else [])
    rows[position][names[column % len(names)]] = garbage
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_extract(Path(tmp), people, events, fmt)
        try:
            extract = load(folder, catalogue)
        except ExtractError as err:
            assert "\n" not in str(err)
            return
        check_accounts_for_every_row(extract, people, events, fmt)
        prefix = "P" if file == "people" else "E"
        clean = {f"{prefix}{i + 1}" for i in range(3) if i != position} - {str(garbage).strip()}
        assert clean <= set(used_people(extract) if file == "people" else used_events(extract))


@PROPERTY
@given(cut=st.integers(0, 2_000), junk=st.binary(max_size=30))
def test_raw_byte_damage_to_a_csv_only_raises_extract_error(write_extract, catalogue, cut, junk):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_extract(Path(tmp), three_people(), three_events())
        data = (folder / "events.csv").read_bytes()
        at = cut % (len(data) + 1)
        (folder / "events.csv").write_bytes(data[:at] + junk + data[at:])
        try:
            extract = load(folder, catalogue)
        except ExtractError as err:
            assert "\n" not in str(err)
            return
        assert_accounted(extract)
        assert extract.rejects["row"].between(2, 10 + len(junk)).all()


CSV_PIECES = st.lists(st.one_of(
    st.builds(lambda i: event_line(f"E{i}"), st.integers(0, 99)),
    st.builds(lambda i, text: event_line(f"E{i}", location_id=text), st.integers(0, 99),
              st.sampled_from(["two\nlines", "x\r\ny", "a\rb", 'say "hi"', "a,b", "\n\n"])),
    st.sampled_from(["E1,short\n", "\n", "   \n", "\r\n", 'E2,"P1,never closed\n', ",,,,,,,,,\n"]),
), max_size=60)


@PROPERTY
@given(pieces=CSV_PIECES, sample_rows=st.integers(1, 30), crlf=st.booleans())
def test_a_sample_read_is_the_start_of_the_full_read(pieces, sample_rows, crlf):
    text = HEADER + "".join(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        path.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode())
        try:
            full = read_csv(path)
        except ExtractError:
            return
        sample = read_csv(path, sample=True, limits=ReadLimits(sample_rows=sample_rows))
    rows, bad = len(sample.rows), len(sample.malformed)
    assert sample.rows.tolist() == full.rows[:rows].tolist()
    assert sample.table.equals(full.table.slice(0, rows))
    assert sample.malformed.to_dict("list") == full.malformed.head(bad).to_dict("list")
    if sample.complete:
        assert (rows, bad) == (len(full.rows), len(full.malformed))
    else:
        assert rows + bad <= sample_rows
        later = [*full.rows[rows:], *full.malformed["row"][bad:]]
        assert max([*sample.rows, *sample.malformed["row"]], default=0) < min(later)


IDS = st.sampled_from(["P1", "P2", "P3", "P4", " P2", "p1"])
DIRT = st.sampled_from([{}, {}, {}, {"sex": "?"}, {"date_of_birth": "2030-01-01"}, {"ethnicity": ""}])
EVENT_DIRT = st.sampled_from([{}, {}, {}, {"type": "knife"}, {"date": "2001-01-01"}, {"grade": "Z9"},
                              {"date": "2025-13-01"}])


@st.composite
def dirty_extracts(draw):
    people = [person(draw(IDS), **draw(DIRT)) for _ in range(draw(st.integers(1, 8)))]
    events = [event(draw(st.sampled_from(["E1", "E2", "E3"])), draw(IDS), **draw(EVENT_DIRT))
              for _ in range(draw(st.integers(1, 12)))]
    return people, events


def accepted(extract: Extract) -> tuple[list, list]:
    people = sorted(extract.people["person_id"])
    events = sorted(map(tuple, extract.events[["event_id", "person_id"]].values.tolist()))
    return people, events


def expected_accepted(people: list[dict], events: list[dict]) -> tuple[list, list]:
    """The same, worked out a second way: an id is used when at least one of its rows is clean."""
    def clean(row: dict, default: dict) -> bool:
        return all(row[k] == v for k, v in default.items() if k not in ("event_id", "person_id"))

    used_ids = {str(p["person_id"]).strip() for p in people if clean(p, person())}
    pairs = {(e["event_id"], str(e["person_id"]).strip()) for e in events if clean(e, event())}
    return sorted(used_ids), sorted(p for p in pairs if p[1] in used_ids)


@PROPERTY
@given(data=dirty_extracts(), seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(["csv", "parquet"]))
def test_shuffling_rows_does_not_change_which_ids_are_used(write_extract, catalogue, data, seed, fmt):
    people, events = data
    rng = random.Random(seed)
    shuffled = (rng.sample(people, len(people)), rng.sample(events, len(events)))
    with tempfile.TemporaryDirectory() as tmp:
        a = load(write_extract(Path(tmp) / "a", people, events, fmt), catalogue)
        b = load(write_extract(Path(tmp) / "b", *shuffled, fmt), catalogue)
    assert accepted(a) == accepted(b) == expected_accepted(people, events)
    assert a.counts == b.counts
    assert_accounted(a)
    assert_accounted(b)


@PROPERTY
@given(data=dirty_extracts())
def test_csv_and_parquet_of_the_same_data_accept_the_same_rows(write_extract, catalogue, data):
    people, events = data
    with tempfile.TemporaryDirectory() as tmp:
        csv = load(write_extract(Path(tmp) / "c", people, events, "csv"), catalogue)
        parquet = load(write_extract(Path(tmp) / "p", people, events, "parquet"), catalogue)
    assert accepted(csv) == accepted(parquet)
    assert (csv.rejects["row"] - 1).tolist() == parquet.rejects["row"].tolist()
    assert csv.rejects[["column", "value", "rule"]].equals(parquet.rejects[["column", "value", "rule"]])
    assert (csv.people["row"] - 1).tolist() == parquet.people["row"].tolist()


def test_ten_thousand_dirty_rows_reconcile(tmp_path, write_extract, catalogue, both_reads):
    rng = np.random.default_rng(0)
    people = [person(f"P{i}") for i in range(2_000)]
    events = [event(f"E{i}", f"P{rng.integers(0, 2_100)}", type=rng.choice([*catalogue.codes, "bad"]))
              for i in range(10_000)]
    folder = write_extract(tmp_path, people, events)
    extract = load(folder, catalogue)
    assert_accounted(extract)
    assert extract.counts["events"]["read"] == 10_000


def test_events_of_a_person_on_a_malformed_people_line_say_the_person_was_quarantined(tmp_path, catalogue):
    (tmp_path / "people.csv").write_text("person_id,date_of_birth,sex,ethnicity\n"
                                         "P1,2010-01-01,M,White\nP2,2010-01-01,M,White,extra\n")
    (tmp_path / "events.csv").write_text("event_id,person_id,date,type,role,source\n"
                                         "E1,P1,2024-01-01,violence,offender,police\n"
                                         "E2,P2,2024-01-01,violence,offender,police\n"
                                         "E3,P9,2024-01-01,violence,offender,police\n")
    extract = load_extract(tmp_path, catalogue=catalogue, extract_date=dt.date(2026, 9, 30))
    events = extract.rejects[extract.rejects["file"] == "events.csv"].set_index("row")
    assert events.loc[3, "rule"] == "person_rejected"
    assert "row 3" in events.loc[3, "message"]
    assert events.loc[4, "rule"] == "unknown_person"
