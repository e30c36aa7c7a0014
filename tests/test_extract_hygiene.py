"""Text a report cannot hold never reaches one, and an extract entry that is not a file is named.

A control character in an id or a place passed validation, then crashed the refresh in the
workbook writer with a traceback printing the raw value; a population file that was a FIFO or a
broken link was taken as absent, losing the audit's resident baseline without a word.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from cli import main
from hkc.extract.contract import CONTRACT, FILE_ERRORS, RULES
from tests.test_extract_integrity import CONTROL, PROPERTY, event, load, person, refused, write

# --------------------------------------------------------------------------------------------
# Control characters

TEXT_COLUMNS = [(file, col.name) for file, spec in CONTRACT.items() if file != "population"
                for col in spec if col.kind in ("id", "text")]
C0 = [chr(c) for c in range(1, 32) if c not in (9, 10, 13)]


@pytest.mark.parametrize(("file", "column"), TEXT_COLUMNS)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_control_character_in_a_text_field_is_quarantined_shown_escaped(tmp_path, write_extract, catalogue, file,
                                                                         column, fmt):
    people, events = [person("P1"), person("P2")], [event("E1", "P1"), event("E2", "P2")]
    rows = people if file == "people" else events
    rows[1][column] = rows[1][column] + "\x01x"
    extract = load(write_extract(tmp_path, people, events, fmt), catalogue)
    rejects = extract.rejects[extract.rejects["rule"] == "control_character"]
    shown = rows[1][column].replace("\x01", "\\x01")
    assert rejects[["file", "row", "column", "value"]].values.tolist() == [
        [f"{file}.{fmt}", 3 if fmt == "csv" else 2, column, shown]]
    assert rejects["message"].tolist() == [RULES["control_character"].format(value=shown)]
    assert not any(CONTROL.search(v) for v in extract.rejects["value"].tolist() + extract.rejects["message"].tolist())
    used = extract.people if file == "people" else extract.events
    assert len(used) == 1


@PROPERTY
@given(char=st.sampled_from(C0 + ["\0"]), where=st.sampled_from(["start", "middle", "end"]))
def test_any_unwritable_control_character_is_quarantined_in_parquet(write_extract, catalogue, char, where):
    """Parquet values bypass the CSV pass, so a NUL reaches the row checks too."""
    value = {"start": char + "North", "middle": "No" + char + "rth", "end": "North" + char}[where]
    with tempfile.TemporaryDirectory() as tmp:
        extract = load(write_extract(Path(tmp), [person("P1"), person("P2", area=value)], [event()], "parquet"),
                       catalogue)
    trimmed = value.strip()  # what is checked is the value with surrounding whitespace removed
    expected = [] if trimmed == "North" else [[2, "area", "control_character"]]
    got = extract.rejects[extract.rejects["rule"] == "control_character"]
    assert got[["row", "column", "rule"]].values.tolist() == expected


def test_tab_and_line_breaks_inside_a_value_are_not_control_character_problems(tmp_path, write_extract, catalogue):
    extract = load(write_extract(tmp_path, [person(area="North\tSide")], [event(location_id="a\nb\r\nc")]),
                   catalogue)
    assert extract.rejects.empty


def test_refresh_with_a_control_character_succeeds_and_quarantines_the_row(tmp_path):
    """`hkc synth` then one edited row: the refresh used to crash in the workbook writer (openpyxl
    refuses these characters) with a traceback printing the raw value."""
    runner = CliRunner()
    data = tmp_path / "ex"
    assert runner.invoke(main, ["synth", "--out", str(data), "--people", "300", "--seed", "1",
                                "--until", "2026-09-30"]).exit_code == 0
    people = (data / "people.csv").read_text().splitlines(keepends=True)
    fields = people[1].split(",")
    area = fields[5]
    assert len(area) > 2
    fields[5] = f"{area[:2]}\x01{area[2:]}"
    people[1] = ",".join(fields)
    (data / "people.csv").write_text("".join(people))
    result = runner.invoke(main, ["refresh", str(data), "--as-of", "2026-09-30", "--out", str(tmp_path / "out"),
                                  "--db", f"sqlite:///{tmp_path / 'h.db'}", "--no-partner-pack"])
    assert result.exit_code == 0, result.output
    rejects = (tmp_path / "out" / "rejects.csv").read_text()
    shown = f"{area[:2]}\\x01{area[2:]}"
    assert f"people.csv,2,area,{shown},control_character," in rejects
    assert "\x01" not in result.output
    text = [path for path in (tmp_path / "out").rglob("*") if path.suffix in (".csv", ".html", ".json")]
    assert text and not any("\x01" in path.read_text(encoding="utf-8") for path in text)


@PROPERTY
@given(file=st.sampled_from(["people", "events"]), column=st.sampled_from(range(6)), char=st.sampled_from(C0),
       where=st.integers(0, 3), fmt=st.sampled_from(["csv", "parquet"]))
def test_no_value_a_workbook_refuses_is_ever_used(write_extract, catalogue, file, column, char, where, fmt):
    """What openpyxl refuses (its own pattern, a second definition) never reaches the used rows."""
    people, events = [person("P1"), person("P2")], [event("E1", "P1"), event("E2", "P2")]
    rows = people if file == "people" else events
    names = [c.name for c in CONTRACT[file] if c.kind in ("id", "text")]
    name = names[column % len(names)]
    value = rows[1][name]
    rows[1][name] = value[:where] + char + value[where:]
    with tempfile.TemporaryDirectory() as tmp:
        extract = load(write_extract(Path(tmp), people, events, fmt), catalogue)
    for name, frame in (("people", extract.people), ("events", extract.events)):
        for col in (c.name for c in CONTRACT[name] if c.kind in ("id", "text")):
            assert not any(ILLEGAL_CHARACTERS_RE.search(v) for v in frame[col].dropna())


# --------------------------------------------------------------------------------------------
# A population file that is not a regular file


def _dangling(path: Path) -> str:
    path.symlink_to(path.parent / "nowhere.csv")
    return "a link to nothing (what it points to does not exist)"


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a named pipe (FIFO)"


def _device(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "a link to a device"


NOT_REGULAR = {"dangling link": _dangling, "fifo": _fifo, "link to /dev/zero": _device}


@pytest.mark.parametrize("case", NOT_REGULAR)
@pytest.mark.parametrize("name", ["population", "events"])
def test_a_file_that_is_not_a_regular_file_is_refused_without_opening_it(tmp_path, catalogue, case, name):
    folder = write(tmp_path, [person()], [event()])
    path = folder / f"{name}.csv"
    path.unlink(missing_ok=True)
    kind = NOT_REGULAR[case](path)
    err = refused(folder, catalogue)
    assert err == FILE_ERRORS["not_regular"].format(folder=folder, file=f"{name}.csv", kind=kind, name=name)


def test_a_folder_named_population_csv_is_refused(tmp_path, catalogue):
    folder = write(tmp_path, [person()], [event()])
    (folder / "population.csv").mkdir()
    err = refused(folder, catalogue)
    assert err == FILE_ERRORS["not_a_file"].format(folder=folder, file="population.csv", name="population")


def test_a_link_to_a_regular_population_file_is_read(tmp_path, catalogue):
    folder = write(tmp_path, [person()], [event()])
    real = tmp_path / "elsewhere.csv"
    real.write_text("area,age_band,sex,ethnicity,count\nNorth,10-14,M,White,120\n")
    (folder / "population.csv").symlink_to(real)
    assert load(folder, catalogue).counts["population"] == {"read": 1, "used": 1, "rejected": 0}
