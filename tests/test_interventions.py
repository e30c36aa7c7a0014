"""The interventions record (issue #13): what the partnership did, imported all or nothing, shown in subject access."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from cli import main
from hkc.definitions import InterventionSettings
from hkc.history import open_store, stored_interventions
from hkc.history.subject_access import render_subject_access, subject_access
from hkc.partnership import InterventionImportError, import_interventions, pseudonymise
from tests.test_history_store import save

SETTINGS = InterventionSettings()
TODAY = dt.date(2026, 12, 1)
KEY = b"k" * 32
HEADER = "person_id,start_date,end_date,type,lead_agency,engagement\n"


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    run_id, _ = save(s)  # people P000000..P000003
    s.log_disclosure(run_id, "partner", {"cohort.xlsx": "0" * 64}, ["P000000", "P000001"], by="test")
    return s


def _write(tmp_path, text: str, name: str = "iv.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_file_is_stored_whole_and_reimporting_it_replaces_rather_than_doubles(store, tmp_path):
    path = _write(tmp_path, HEADER + "P000000,2026-10-01,,one_to_one,Youth Offending Service,engaged\n"
                                      "P000001,2026-07-01,2026-09-30,Family_Support,Children's Services,partial\n")
    report = import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    assert report.imported == 2 and report.replaced == 0 and report.by_type == {"family_support": 1, "one_to_one": 1}
    again = import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    assert again.replaced == 2
    rows = stored_interventions(store).sort_values("person_id")
    assert len(rows) == 2
    assert rows["end_date"].isna().tolist() == [True, False] and rows["type"].tolist() == ["one_to_one", "family_support"]
    assert set(rows["source_file"]) == {"iv.csv"} and set(rows["recorded_by"]) == {"analyst"}


def test_one_person_named_by_an_old_and_a_new_id_in_one_file_is_known_under_both(store, tmp_path):
    """P000002 was re-keyed to NEW2 after the run: a file naming the person once by each id imports both rows
    (an unknown id is still refused)."""
    from hkc.history import link_ids

    link_ids(store, "P000002", "NEW2", reason="records merged", by="analyst")
    path = _write(tmp_path, HEADER + "P000002,2026-07-01,2026-08-31,one_to_one,YOS,engaged\n"
                                      "NEW2,2026-10-01,,peer_group,YOS,engaged\n")
    report = import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    assert report.imported == 2
    assert sorted(stored_interventions(store)["person_id"]) == ["NEW2", "P000002"]
    bad = _write(tmp_path, HEADER + "NEW3,2026-10-01,,peer_group,YOS,engaged\n", "bad.csv")
    with pytest.raises(InterventionImportError):
        import_interventions(store, bad, settings=SETTINGS, by="analyst", today=TODAY)


@pytest.mark.parametrize(("line", "column", "words"), [
    ("NOBODY,2026-10-01,,one_to_one,YOS,engaged", "person_id", "unknown person"),
    ("P000000,01/10/2026,,one_to_one,YOS,engaged", "start_date", "not a date"),
    ("P000000,2027-01-01,,one_to_one,YOS,engaged", "start_date", "in the future"),
    ("P000000,2026-10-01,2026-09-01,one_to_one,YOS,engaged", "end_date", "before the start date"),
    ("P000000,2026-10-01,soon,one_to_one,YOS,engaged", "end_date", "not a date"),
    ("P000000,2026-10-01,,boot_camp,YOS,engaged", "type", "choose one of"),
    ("P000000,2026-10-01,,one_to_one,YOS,maybe", "engagement", "choose one of"),
    ("P000000,2026-10-01,,one_to_one,,engaged", "lead_agency", "name the lead agency"),
])
def test_each_bad_cell_is_named_by_row_and_column_and_nothing_is_stored(store, tmp_path, line, column, words):
    path = _write(tmp_path, HEADER + "P000001,2026-10-01,,one_to_one,YOS,engaged\n" + line + "\n")
    with pytest.raises(InterventionImportError) as caught:
        import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    problems = caught.value.problems
    assert len(problems) == 1 and problems[0].row == 3 and problems[0].column == column
    assert words in problems[0].problem and "nothing was imported" in caught.value.message
    assert stored_interventions(store).empty  # the good row was not stored either


def test_overlapping_interventions_of_one_type_are_refused_in_the_file_and_against_earlier_files(store, tmp_path):
    first = _write(tmp_path, HEADER + "P000000,2026-06-01,2026-08-31,one_to_one,YOS,engaged\n", "a.csv")
    import_interventions(store, first, settings=SETTINGS, by="analyst", today=TODAY)
    clash = _write(tmp_path, HEADER + "P000000,2026-08-01,,one_to_one,YOS,engaged\n"       # overlaps a.csv
                                      "P000000,2026-09-01,,peer_group,YOS,engaged\n"        # another type: fine
                                      "P000001,2026-01-01,2026-03-31,education,School,engaged\n"
                                      "P000001,2026-03-31,,education,School,partial\n", "b.csv")  # touches: overlaps
    with pytest.raises(InterventionImportError) as caught:
        import_interventions(store, clash, settings=SETTINGS, by="analyst", today=TODAY)
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(2, "start_date"), (5, "start_date")}
    assert "a.csv row 2" in str(caught.value.problems[0])
    assert len(stored_interventions(store)) == 1
    later = _write(tmp_path, HEADER + "P000000,2026-09-01,,one_to_one,YOS,engaged\n", "c.csv")  # after a.csv ends
    assert import_interventions(store, later, settings=SETTINGS, by="analyst", today=TODAY).imported == 1


def test_a_partner_names_people_by_the_pseudonym_of_their_pack_and_only_those_sent_to_partners(store, tmp_path):
    names = pseudonymise(["P000000", "P000001", "P000002"], KEY)
    wb = Workbook()
    ws = wb.active
    ws.append(["pseudonym", "start_date", "end_date", "type", "lead_agency", "engagement"])
    ws.append([names["P000000"], dt.date(2026, 10, 1), None, "detached_outreach", "Outreach team", "engaged"])
    ws.append([names["P000002"], dt.date(2026, 10, 1), None, "detached_outreach", "Outreach team", "engaged"])
    wb.save(tmp_path / "iv.xlsx")
    with pytest.raises(InterventionImportError) as caught:
        import_interventions(store, tmp_path / "iv.xlsx", settings=SETTINGS, by="p", key=KEY, today=TODAY)
    assert [(p.row, p.column) for p in caught.value.problems] == [(3, "pseudonym")]  # P000002 never went out
    ws.delete_rows(3)
    wb.save(tmp_path / "iv.xlsx")
    import_interventions(store, tmp_path / "iv.xlsx", settings=SETTINGS, by="p", key=KEY, today=TODAY)
    assert stored_interventions(store)["person_id"].tolist() == ["P000000"]
    with pytest.raises(InterventionImportError, match="pseudonym key"):
        import_interventions(store, tmp_path / "iv.xlsx", settings=SETTINGS, by="p", key=None, today=TODAY)


@pytest.mark.parametrize(("text", "words"), [
    ("start_date,type,lead_agency,engagement\n2026-10-01,one_to_one,YOS,engaged\n", "no person_id or pseudonym"),
    ("person_id,pseudonym,start_date,type,lead_agency,engagement\n", "both person_id and pseudonym"),
    ("person_id,start_date,type\nP000000,2026-10-01,one_to_one\n", "no column lead_agency, engagement"),
    (HEADER, "no interventions"),
])
def test_a_file_of_the_wrong_shape_is_refused_in_one_line(store, tmp_path, text, words):
    with pytest.raises(InterventionImportError, match=words):
        import_interventions(store, _write(tmp_path, text), settings=SETTINGS, by="a", today=TODAY)


def test_subject_access_shows_the_persons_interventions_and_no_one_elses(store, tmp_path):
    path = _write(tmp_path, HEADER + "P000000,2026-10-01,,one_to_one,Youth Offending Service,engaged\n"
                                      "P000001,2026-10-01,,education,School,partial\n")
    import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    answer = subject_access(store, "P000000")
    assert [i["type"] for i in answer["interventions"]] == ["one_to_one"]
    text = render_subject_access(answer)
    assert "## Interventions" in text and "Youth Offending Service" in text and "School" not in text
    assert json.loads(json.dumps(answer["interventions"]))[0]["end_date"] is None


def test_the_command_prints_every_problem_then_one_error_line_and_exits_2(store, tmp_path):
    path = _write(tmp_path, HEADER + "NOBODY,2026-10-01,,one_to_one,YOS,engaged\nP000000,x,,one_to_one,YOS,engaged\n")
    result = CliRunner().invoke(main, ["interventions", "import", str(path), "--by", "analyst", "--db", store.url])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and "2 problem(s)" in lines[-1] and "nothing was imported" in lines[-1]
    assert any("row 2, column 'person_id'" in line for line in lines)
    assert any("row 3, column 'start_date'" in line for line in lines)


def test_purge_erases_interventions_that_ended_before_the_cut_off_and_keeps_running_ones(store, tmp_path):
    from hkc.history import purge

    path = _write(tmp_path, HEADER + "P000000,2023-01-01,2023-06-30,one_to_one,YOS,engaged\n"
                                      "P000001,2023-01-01,,education,School,partial\n")
    import_interventions(store, path, settings=SETTINGS, by="analyst", today=TODAY)
    result = purge(store, older_than_days=730, today=TODAY, by="records officer")
    assert result["rows"]["interventions"] == 1
    assert stored_interventions(store)["person_id"].tolist() == ["P000001"]
