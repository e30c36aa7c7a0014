"""Partners' referrals: a partner asks the partnership to look at a child, by police id, pseudonym or its own
reference; imported all or nothing, shown in both packs (the reason in the police view only), never scored,
and erased by the purge once older than the retention period."""

from __future__ import annotations

import datetime as dt
import html
import re
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from cli import main
from hkc.history import open_store, purge, stored_referrals
from hkc.partnership import ReferralImportError, import_referrals, pseudonym, pseudonymise
from hkc.partnership.pseudonyms import DEMO_KEY
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder
from tests.test_history_store import save
from tests.test_movement_causes import T0, dated, days, filler, pinned

TODAY = dt.date(2026, 12, 1)
KEY = b"k" * 32
HEADER = "person_id,pseudonym,referral_ref,agency,reason,referred_on\n"
GOOD = "P000001,,,Youth Justice Service,missing school,2026-10-01\n"


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    run_id, _ = save(s)  # people P000000..P000003 scored
    s.log_disclosure(run_id, "partner", {"cohort.xlsx": "0" * 64}, ["P000000", "P000001"], by="test")
    return s


def _write(tmp_path, text: str, name: str = "referrals.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_file_by_id_pseudonym_and_reference_is_stored_whole_and_reimporting_it_replaces(store, tmp_path):
    alias = pseudonymise(["P000000"], KEY)["P000000"]
    path = _write(tmp_path, HEADER + GOOD + f",{alias},,School,seen with a knife,2026-09-15\n"
                  ",,YJS-0042,Early Help,worried parent,2026-11-30\n")
    report = import_referrals(store, path, by="analyst", today=TODAY, key=KEY)
    assert (report.imported, report.replaced) == (3, 0)
    assert report.by_identity == {"person_id": 1, "pseudonym": 1, "referral_ref": 1}
    rows = stored_referrals(store)
    assert list(rows["referred_on"]) == ["2026-09-15", "2026-10-01", "2026-11-30"]
    assert rows["person_id"].tolist()[:2] == ["P000000", "P000001"] and pd.isna(rows["person_id"].iloc[2])
    assert rows["referral_ref"].tolist()[2] == "YJS-0042" and rows["row"].tolist() == [3, 2, 4]
    assert set(rows["source_file"]) == {"referrals.csv"} and set(rows["recorded_by"]) == {"analyst"}
    # the partner's updated list, under the same file name, replaces what the first one stored
    _write(tmp_path, HEADER + GOOD)
    again = import_referrals(store, path, by="analyst", today=TODAY, key=KEY)
    assert (again.imported, again.replaced) == (1, 3)
    assert stored_referrals(store)["person_id"].tolist() == ["P000001"]
    assert stored_referrals(store, ["P000000"]).empty


def test_an_xlsx_file_reads_like_a_csv(store, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["referral_ref", "agency", "reason", "referred_on"])
    ws.append(["SCH-7", "School", "exclusion", dt.datetime(2026, 10, 2)])
    wb.save(tmp_path / "r.xlsx")
    assert import_referrals(store, tmp_path / "r.xlsx", by="analyst", today=TODAY).imported == 1
    assert stored_referrals(store)["referred_on"].tolist() == ["2026-10-02"]


@pytest.mark.parametrize(("line", "column", "words"), [
    ("NOBODY,,,YJS,reason,2026-10-01", "person_id", "unknown person"),
    (",HKC-0000000000000000,,YJS,reason,2026-10-01", "pseudonym", "unknown pseudonym"),
    ("P000001,,,YJS,reason,01/10/2026", "referred_on", "not a date"),
    ("P000001,,,YJS,reason,2026-12-02", "referred_on", "in the future"),
    ("P000001,,,,reason,2026-10-01", "agency", "referring agency"),
    ("P000001,,,YJS,,2026-10-01", "reason", "give the reason"),
    (",,,YJS,reason,2026-10-01", "person_id", "name the child"),
    ("P000001,,REF-1,YJS,reason,2026-10-01", "referral_ref", "give one of them"),
])
def test_each_bad_cell_is_named_by_row_and_column_and_nothing_is_stored(store, tmp_path, line, column, words):
    path = _write(tmp_path, HEADER + GOOD + line + "\n")
    with pytest.raises(ReferralImportError) as caught:
        import_referrals(store, path, by="analyst", today=TODAY, key=KEY)
    problems = caught.value.problems
    assert len(problems) == 1 and problems[0].row == 3 and problems[0].column == column, problems
    assert words in problems[0].problem and "nothing was imported" in caught.value.message
    assert stored_referrals(store).empty  # the good row was not stored either


def test_a_file_without_a_person_column_or_a_pseudonym_without_the_key_is_refused(store, tmp_path):
    path = _write(tmp_path, "agency,reason,referred_on\nYJS,reason,2026-10-01\n")
    with pytest.raises(ReferralImportError, match="no person_id, pseudonym or referral_ref column"):
        import_referrals(store, path, by="analyst", today=TODAY)
    path = _write(tmp_path, "pseudonym,agency,referred_on\nHKC-1,YJS,2026-10-01\n")
    with pytest.raises(ReferralImportError, match="no column reason"):
        import_referrals(store, path, by="analyst", today=TODAY)
    path = _write(tmp_path, HEADER + ",HKC-1,,YJS,reason,2026-10-01\n")
    with pytest.raises(ReferralImportError, match="HKC_PSEUDONYM_KEY"):
        import_referrals(store, path, by="analyst", today=TODAY, key=None)
    assert stored_referrals(store).empty


def test_the_command_prints_every_problem_then_one_error_line_and_exits_2(store, tmp_path):
    path = _write(tmp_path, HEADER + "NOBODY,,,YJS,reason,2026-10-01\nP000001,,,YJS,reason,soon\n")
    result = CliRunner().invoke(main, ["referrals", "import", str(path), "--by", "analyst", "--db", store.url])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and "2 problem(s)" in lines[-1] and "nothing was imported" in lines[-1]
    assert sum(line.startswith("error: ") for line in lines) == 1
    assert any("row 2, column 'person_id'" in line for line in lines)
    assert any("row 3, column 'referred_on'" in line for line in lines)
    assert stored_referrals(store).empty
    good = _write(tmp_path, HEADER + GOOD, "good.csv")
    result = CliRunner().invoke(main, ["referrals", "import", str(good), "--by", "analyst", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "good.csv: 1 referrals recorded by analyst (by person_id 1)" in result.output
    assert len(stored_referrals(store)) == 1


def test_purge_erases_referrals_made_before_the_cut_off_and_keeps_recent_ones(store, tmp_path):
    path = _write(tmp_path, HEADER + "P000000,,,YJS,old,2024-01-01\n" + GOOD + ",,REF-9,School,old too,2025-11-30\n")
    import_referrals(store, path, by="analyst", today=TODAY)
    cut = dict(older_than_days=365, today=TODAY, by="records officer")  # cut-off 2025-12-01
    assert purge(store, **cut, dry_run=True)["rows"]["referrals"] == 2
    assert len(stored_referrals(store)) == 3  # a dry run deletes nothing
    assert purge(store, **cut)["rows"]["referrals"] == 2
    assert stored_referrals(store)["referred_on"].tolist() == ["2026-10-01"]


def test_a_store_made_before_referrals_gains_the_table_when_opened(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    save(open_store(url))
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("DROP TABLE referrals")
    assert stored_referrals(open_store(url, create=False)).empty


# -- the packs: a refresh without, then with, the referrals ------------------------------------------------

LISTED, UNLISTED = "C1", "OLDIE"  # C1 is in the cohort; OLDIE is scored but never eligible
REASON = "seen with older boys at the park by a named neighbour"


def _extract() -> ExtractBuilder:
    b = ExtractBuilder(as_of=T0)
    for person in ("C1", "C2", "C3"):
        b.person(person, age=15)
        dated(b, person, "knife_possession", days(40), outcome="convicted", event_id=f"{person}1")
    filler(b, T0)
    return b


def _section(page: str) -> str:
    start = page.index(">Referred by partners</h2>")
    return html.unescape(page[start:page.index("<h2", start)])


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("referrals")
    folder = _extract().write(tmp / "q2")
    db = f"sqlite:///{tmp / 'history.db'}"

    def refresh(out: str):
        return run_refresh(folder, as_of=T0, out=tmp / out, definitions=pinned(size=3), db_url=db, extract_date=T0,
                           partner_pack="yes", demo_key=True)

    before = refresh("before")
    store = open_store(db, create=False)
    path = tmp / "referrals.csv"
    path.write_text(HEADER + f",{pseudonym(LISTED, DEMO_KEY)},,Youth Justice Service,{REASON},2026-06-01\n"
                    f"{UNLISTED},,,School,persistent absence,2026-05-20\n"
                    ",,YJS-0042,Early Help,a worried parent called,2026-06-30\n"
                    f"{UNLISTED},,,School,more than a year before the refresh,2025-06-29\n", encoding="utf-8")
    import_referrals(store, path, by="analyst", today=T0, key=DEMO_KEY)
    after = refresh("after")
    return {"tmp": tmp, "before": before, "after": after, "store": store}


def test_the_scenario_is_what_it_claims(refreshed):
    assert set(refreshed["before"].members["person_id"]) == {"C1", "C2", "C3"}
    assert "OLDIE" not in set(refreshed["after"].members["person_id"])


def test_a_referral_adds_no_risk_points(refreshed):
    tmp = refreshed["tmp"]
    before, after = (pd.read_parquet(tmp / d / "scores.parquet").sort_values("person_id").reset_index(drop=True)
                     for d in ("before", "after"))
    assert len(after) == len(before) > 0
    pd.testing.assert_frame_equal(before, after)


def test_the_police_pack_lists_each_referral_of_the_last_year_with_its_reason(refreshed):
    section = _section((refreshed["tmp"] / "after" / "cohort.html").read_text())
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>\s*<td>([^<]+)</td></tr>",
                      section)
    assert rows == [("ref YJS-0042", "Early Help", "a worried parent called", "2026-06-30", "cannot tell (no police id)"),
                    ("C1", "Youth Justice Service", REASON, "2026-06-01", "yes"),
                    ("OLDIE", "School", "persistent absence", "2026-05-20", "no")]  # not the one over a year old
    assert "No partner referral" in _section((refreshed["tmp"] / "before" / "cohort.html").read_text())


def test_the_partner_pack_shows_referrals_by_pseudonym_without_the_reason(refreshed):
    page = (refreshed["tmp"] / "after" / "partner" / "cohort.html").read_text()
    section = _section(page)
    assert set(re.findall(r'<td class="pseudonym">([^<]+)</td>', section)) == {pseudonym(LISTED, DEMO_KEY),
                                                                               pseudonym(UNLISTED, DEMO_KEY)}
    row = re.search(rf"{pseudonym(LISTED, DEMO_KEY)}.*?</tr>", section, re.S).group(0)
    assert "Youth Justice Service" in row and "2026-06-01" in row and "yes" in row
    assert "ref YJS-0042" in section
    for text in (REASON, "persistent absence", "a worried parent called"):
        assert text not in page
    body = section[section.index("<tbody>"):]
    assert not re.search(r"\b(C1|OLDIE)\b", body) and "score" not in body.lower()
    logged = refreshed["store"].disclosed_people(run_id=refreshed["after"].run_id)
    assert {LISTED, UNLISTED} <= set(logged)  # shown, so logged as disclosed


def test_subject_access_shows_the_referrals_naming_the_person_and_no_one_elses(store, tmp_path):
    from hkc.history.subject_access import render_subject_access, subject_access

    path = _write(tmp_path, HEADER + GOOD + "P000002,,,School,another child,2026-10-02\n")
    import_referrals(store, path, by="analyst", today=TODAY, key=KEY)
    report = subject_access(store, "P000001")
    assert [(r["referred_on"], r["agency"], r["reason"]) for r in report["referrals"]] == \
        [("2026-10-01", "Youth Justice Service", "missing school")]
    text = render_subject_access(report)
    assert "## Referrals by partners" in text and "missing school" in text and "another child" not in text
    assert "No referral naming this person" in render_subject_access(subject_access(store, "P000003"))
