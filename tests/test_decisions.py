"""The decisions loop: fill the workbook, import all or nothing, see the decisions next quarter."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from hkc.errors import HistoryError
from hkc.history.store import open_store
from hkc.partnership.decisions import (
    PROBLEMS,
    DecisionImportError,
    RowProblem,
    decision_history,
    import_decisions,
)
from hkc.partnership.pseudonyms import PseudonymKeyError, pseudonym
from tests.test_partner import KEY, Q2, Q3, force, peer_frames, refresh, write_pack

MEETING = dt.date(2026, 7, 14)
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def q2_history(tmp_path_factory):
    """The Q2 refresh and its partner pack, logged as disclosed (built once, copied per test)."""
    folder = tmp_path_factory.mktemp("q2")
    result = refresh(folder, Q2)
    info = write_pack(result)
    store = open_store(f"sqlite:///{folder / 'history.db'}")
    store.log_disclosure(result.run_id, "partner", info["files"], info["person_ids"], by="analyst")
    store.engine.dispose()
    return folder, result


@pytest.fixture
def q2(tmp_path, q2_history):
    """A private copy of the Q2 history: (refresh result, the pack's workbook, the store)."""
    folder, result = q2_history
    shutil.copy(folder / "history.db", tmp_path / "history.db")
    xlsx = shutil.copy(result.out / "partner" / "cohort.xlsx", tmp_path / "cohort.xlsx")
    return result, Path(xlsx), open_store(f"sqlite:///{tmp_path / 'history.db'}")


def decide(src: Path, dst: Path, choices: dict[str, tuple], *, edits: dict | None = None) -> Path:
    """Fill Decision/Reason for source ids (found by pseudonym) and apply raw cell ``edits``."""
    wb = openpyxl.load_workbook(src)
    for sheet in ("Cohort", "Periphery"):
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            for person, (decision, reason) in choices.items():
                if row[0].value == pseudonym(person, KEY):
                    row[headers.index("Decision")].value = decision
                    row[headers.index("Reason")].value = reason
    for (sheet, coordinate), value in (edits or {}).items():
        wb[sheet][coordinate] = value
    wb.save(dst)
    return dst


def dump(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "history.db") as conn:
        return list(conn.iterdump())


def run_import(store, path, **kw):
    return import_decisions(store, path, key=kw.pop("key", KEY), meeting_date=kw.pop("meeting_date", MEETING),
                            by=kw.pop("by", "Chair, Oct meeting"), today=TODAY, **kw)


def test_round_trip_decisions_are_stored_and_shown_in_the_next_quarters_pack(tmp_path, q2):
    result, xlsx, store = q2
    filled = decide(xlsx, tmp_path / "filled.xlsx", {
        "NOMINAL-10001": ("adopt", "one-to-one mentoring"),
        "NOMINAL-10002": ("Decline", "<b>moved</b> out of area =HYPERLINK(\"x\")"),
        "NOMINAL-10004": ("refer", "early help"),
    })
    report = run_import(store, filled)
    assert (report.imported, report.replaced, report.blank) == (3, 0, 2)
    assert report.by_decision == {"adopt": 1, "decline": 1, "refer": 1}
    assert report.by_sheet == {"Cohort": 2, "Periphery": 1}
    history = decision_history(store, ["NOMINAL-10001", "NOMINAL-10002", "NOMINAL-10003", "NOMINAL-10004"])
    assert list(history["decisions"]) == [1, 1, 0, 1]
    assert list(history["latest_decision"].fillna("")) == ["adopt", "decline", "", "refer"]
    assert list(history["declined"]) == [False, True, False, False]
    assert history.loc[1, "latest_meeting_date"] == "2026-07-14" and history.loc[1, "latest_by"] == "Chair, Oct meeting"

    again = run_import(store, filled)  # the same meeting imported twice is not double counted
    assert (again.imported, again.replaced) == (3, 3)
    assert len(store.decisions()) == 3

    q3 = refresh(tmp_path, Q3)
    ids = list(q3.members["person_id"]) + list(peer_frames()["periphery"]["person_id"])
    write_pack(q3, tmp_path / "q3", decisions_history=decision_history(store, ids))
    csv = pd.read_csv(tmp_path / "q3" / "partner" / "cohort.csv", keep_default_na=False).set_index("pseudonym")
    declined = csv.loc[pseudonym("NOMINAL-10002", KEY), "decision_history"]
    assert declined.startswith("DECLINED \u2014 still listed; decline on 2026-07-14: <b>moved</b> out of area")
    assert csv.loc[pseudonym("NOMINAL-10001", KEY), "decision_history"] == "adopt on 2026-07-14: one-to-one mentoring"
    assert csv.loc[pseudonym("NOMINAL-10003", KEY), "decision_history"] == ""
    html = (tmp_path / "q3" / "partner" / "cohort.html").read_text()
    assert html.count('class="declined"') == 1 and "declined, still listed" in html
    assert "&lt;b&gt;moved&lt;/b&gt;" in html and "<b>moved</b>" not in html
    assert "refer on 2026-07-14: early help" in html


def test_a_later_meeting_adds_to_the_history(tmp_path, q2):
    _result, xlsx, store = q2
    run_import(store, decide(xlsx, tmp_path / "a.xlsx", {"NOMINAL-10001": ("monitor", "")}))
    run_import(store, decide(xlsx, tmp_path / "b.xlsx", {"NOMINAL-10001": ("adopt", "escalated")}),
               meeting_date="2026-08-11")
    row = decision_history(store, ["NOMINAL-10001"]).iloc[0]
    assert (row["decisions"], row["latest_decision"], row["latest_meeting_date"]) == (2, "adopt", "2026-08-11")


def _malformed(xlsx: Path, tmp_path: Path, case: str) -> tuple[Path, list[tuple]]:
    """A filled workbook with one kind of fault, and the (sheet, row, column, value, problem, cell) expected."""
    ok = {"NOMINAL-10001": ("adopt", "fine")}  # a valid row that must not be imported either
    p1, p3 = pseudonym("NOMINAL-10002", KEY), pseudonym("NOMINAL-10003", KEY)
    cases = {
        "bad decision": ({"NOMINAL-10002": ("maybe", "")}, {},
                         [("Cohort", 4, "Decision", "maybe", PROBLEMS["invalid"], None)]),
        "decline without reason": ({"NOMINAL-10003": ("decline", None)}, {},
                                   [("Cohort", 3, "Reason", "", PROBLEMS["decline_reason"], None)]),
        "reason without decision": ({"NOMINAL-10002": (None, "why not")}, {},
                                    [("Cohort", 4, "Reason", "why not", PROBLEMS["reason_only"], None)]),
        "edited locked cell": ({}, {("Cohort", "E2"): "Somewhere else"},
                               [("Cohort", 2, "Area", "Somewhere else", PROBLEMS["edited"], "E2")]),
        # the seal is checked before any row is read: the unknown pseudonym is never looked up
        "edited pseudonym": ({}, {("Cohort", "A4"): "HKC-0000000000000000", ("Cohort", "K4"): "adopt"},
                             [("Cohort", 4, "Pseudonym", "HKC-0000000000000000", PROBLEMS["edited"], "A4")]),
        "row added": ({}, {("Cohort", "A9"): p1, ("Cohort", "K9"): "adopt"},
                      [("Cohort", 9, None, p1, PROBLEMS["added"], "A9"),
                       ("Cohort", 9, None, "adopt", PROBLEMS["added"], "K9")]),
        "column added": ({}, {("Removed", "Z1"): "note " + p3},
                         [("Removed", 1, None, "note " + p3, PROBLEMS["added"], "Z1")]),
    }
    choices, edits, expected = cases[case]
    return decide(xlsx, tmp_path / "bad.xlsx", ok | choices, edits=edits), expected


def _problems(err) -> list[tuple]:
    return [(p.sheet, p.row, p.column, p.value, p.problem, p.cell) for p in err.value.problems]


@pytest.mark.parametrize("case", ["bad decision", "decline without reason", "reason without decision"])
def test_a_malformed_sheet_is_reported_row_by_row_and_changes_nothing(tmp_path, q2, case):
    _result, xlsx, store = q2
    bad, expected = _malformed(xlsx, tmp_path, case)
    before = dump(tmp_path)
    with pytest.raises(DecisionImportError) as err:
        run_import(store, bad)
    assert _problems(err) == expected
    assert "nothing was imported" in str(err.value) and str(err.value).startswith("bad.xlsx: 1 problem(s)")
    assert dump(tmp_path) == before


@pytest.mark.parametrize("case", ["edited locked cell", "edited pseudonym", "row added", "column added"])
def test_a_broken_seal_is_refused_in_one_line_naming_sheet_and_cell_before_any_row_is_read(tmp_path, q2, case):
    _result, xlsx, store = q2
    bad, expected = _malformed(xlsx, tmp_path, case)
    before = dump(tmp_path)
    with pytest.raises(DecisionImportError) as err:
        run_import(store, bad)
    assert _problems(err) == expected
    sheet, _row, column, _value, problem, cell = expected[0]
    more = f" (and {len(expected) - 1} more)" if len(expected) > 1 else ""
    label = f" ({column})" if column else ""
    assert str(err.value) == f"bad.xlsx sheet '{sheet}' cell {cell}{label}: {problem}{more}; nothing was imported"
    assert dump(tmp_path) == before


def test_a_pseudonym_from_an_unlogged_pack_is_unknown(tmp_path, q2):
    result, _xlsx, store = q2
    write_pack(result, tmp_path / "unlogged", peers=peer_frames(extra_periphery=("NOMINAL-19999",)))
    bad = decide(tmp_path / "unlogged" / "partner" / "cohort.xlsx", tmp_path / "bad.xlsx",
                 {"NOMINAL-19999": ("refer", "youth service"), "NOMINAL-10001": ("adopt", "")})
    before = dump(tmp_path)
    with pytest.raises(DecisionImportError) as err:
        run_import(store, bad)
    (problem,) = err.value.problems
    assert problem == RowProblem("Periphery", 4, "Pseudonym", pseudonym("NOMINAL-19999", KEY),
                                 PROBLEMS["unknown"].format(as_of=Q2))
    assert dump(tmp_path) == before


def test_row_problem_reads_as_sheet_row_column_value_problem():
    problem = RowProblem("Cohort", 3, "Decision", "maybe", PROBLEMS["invalid"])
    assert str(problem) == ("sheet 'Cohort' row 3, column 'Decision': 'maybe': not a decision; choose adopt, monitor, "
                            "decline, refer, close or remove")


def test_whole_file_problems_are_one_clear_line(tmp_path, q2):
    result, xlsx, store = q2
    filled = decide(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ("adopt", "")})
    with pytest.raises(DecisionImportError, match="written with a different pseudonym key; set HKC_PSEUDONYM_KEY"):
        run_import(store, filled, key=b"another key entirely: 9876543210 ZYXWVUTSRQ")
    with pytest.raises(PseudonymKeyError, match="set HKC_PSEUDONYM_KEY"):
        run_import(store, filled, key=None)
    with pytest.raises(DecisionImportError, match="not an hkc partner pack .* not the police view"):
        run_import(store, result.out / "cohort.xlsx")
    with pytest.raises(DecisionImportError, match="is before the pack's as-of date 2026-06-30"):
        run_import(store, filled, meeting_date="2026-06-01")
    with pytest.raises(DecisionImportError, match="is in the future"):
        run_import(store, filled, meeting_date="2027-01-01")
    with pytest.raises(DecisionImportError, match="'14/07/2026' is not a date"):
        run_import(store, filled, meeting_date="14/07/2026")
    with pytest.raises(DecisionImportError, match="no such file"):
        run_import(store, tmp_path / "missing.xlsx")
    with pytest.raises(DecisionImportError, match="--by"):
        run_import(store, filled, by="  ")
    (tmp_path / "text.xlsx").write_text("not a workbook")
    with pytest.raises(DecisionImportError, match="not a readable XLSX workbook"):
        run_import(store, tmp_path / "text.xlsx")
    wb = openpyxl.load_workbook(filled)
    wb["_hkc"]["B2"] = "2026-09-30"
    wb.save(tmp_path / "moved.xlsx")
    with pytest.raises(DecisionImportError, match="hidden run record was edited"):
        run_import(store, tmp_path / "moved.xlsx")
    assert store.decisions().empty


def test_a_pack_from_a_run_since_replaced_with_other_data_is_refused(tmp_path, q2):
    _result, xlsx, store = q2
    shutil.copy(xlsx, tmp_path / "old.xlsx")
    refresh(tmp_path, Q2, builder=force(Q2).person("NOMINAL-10009", age=15)
            .event("NOMINAL-10009", "knife_violence", days_ago=3, outcome="convicted"))
    with pytest.raises(DecisionImportError, match="re-run with different data or settings"):
        run_import(store, decide(tmp_path / "old.xlsx", tmp_path / "f.xlsx", {"NOMINAL-10001": ("adopt", "")}))


def test_a_database_failure_half_way_leaves_the_earlier_decisions(tmp_path, q2):
    _result, xlsx, store = q2
    filled = decide(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ("adopt", "a"), "NOMINAL-10002": ("monitor", "")})
    run_import(store, filled)
    before = dump(tmp_path)

    def fail_on_insert(conn, cursor, statement, *_args):
        if statement.startswith("INSERT INTO decisions"):
            raise sa.exc.OperationalError(statement, {}, Exception("disk I/O error"))

    sa.event.listen(store.engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(HistoryError, match="nothing was imported"):
            run_import(store, filled)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail_on_insert)
    assert dump(tmp_path) == before
    assert len(store.decisions()) == 2


def test_decision_history_has_fixed_columns_with_or_without_decisions(q2):
    _result, _xlsx, store = q2
    empty = decision_history(store, ["NOBODY"])
    assert list(empty.columns) == ["person_id", "decisions", "latest_decision", "latest_meeting_date",
                                   "latest_reason", "latest_by", "declined"]
    assert empty.iloc[0]["decisions"] == 0 and not empty.iloc[0]["declined"]
    assert decision_history(store).empty
