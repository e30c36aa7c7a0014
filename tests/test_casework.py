"""Decisions as casework: the meeting records what it will do with each decision, and an adopted
intervention becomes an intervention record — all or nothing, once, and shown on subject access."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from hkc.definitions import InterventionSettings
from hkc.errors import HistoryError
from hkc.history import subject_access
from hkc.history.store import open_store
from hkc.history.subject_access import render_subject_access
from hkc.partnership.decisions import PROBLEMS, DecisionImportError, import_decisions
from hkc.partnership.partner_pack import CASEWORK, CASEWORK_LABELS, MAX_ACTIONS
from hkc.partnership.pseudonyms import pseudonym
from hkc.partnership.sealing import locked_cells, open_sealed
from tests.test_decisions import MEETING, TODAY, dump
from tests.test_partner import KEY, Q2, refresh, write_pack

TYPES = ", ".join(InterventionSettings().types)
DECISION_SHEETS = ("Cohort", "Periphery")

# the decisions table as hkc created it before decisions as casework
OLD_DECISIONS = """CREATE TABLE decisions (
    decision_id INTEGER NOT NULL, run_id INTEGER NOT NULL, as_of VARCHAR(10) NOT NULL,
    person_id VARCHAR(64) NOT NULL, meeting_date VARCHAR(10) NOT NULL, decision VARCHAR(16) NOT NULL,
    reason TEXT, recorded_by VARCHAR(128) NOT NULL, recorded_at VARCHAR(32) NOT NULL,
    source_file VARCHAR(255) NOT NULL, source_sha256 VARCHAR(64) NOT NULL, sheet VARCHAR(64), "row" INTEGER,
    PRIMARY KEY (decision_id))"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One small Q2 refresh, its history and its partner pack (built once for the module)."""
    folder = tmp_path_factory.mktemp("casework")
    result = refresh(folder, Q2)
    write_pack(result)
    return folder, result


@pytest.fixture
def q2(tmp_path, built):
    """A private copy of the history: (refresh result, the pack's workbook, the store)."""
    folder, result = built
    shutil.copy(folder / "history.db", tmp_path / "history.db")
    xlsx = shutil.copy(result.out / "partner" / "cohort.xlsx", tmp_path / "cohort.xlsx")
    return result, Path(xlsx), open_store(f"sqlite:///{tmp_path / 'history.db'}")


def fill(src: Path, dst: Path, rows: dict[str, dict[str, object]]) -> Path:
    """Write ``{person id: {column header: value}}`` into the person's row (found by pseudonym)."""
    wb = openpyxl.load_workbook(src)
    for sheet in DECISION_SHEETS:
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            for person, values in rows.items():
                if row[0].value == pseudonym(person, KEY):
                    for header, value in values.items():
                        row[headers.index(header)].value = value
    wb.save(dst)
    return dst


def where(src: Path, person: str) -> tuple[str, int]:
    """The sheet and row of a person in the workbook."""
    wb = openpyxl.load_workbook(src, read_only=True)
    for sheet in DECISION_SHEETS:
        for r, row in enumerate(wb[sheet].iter_rows(min_row=2, max_col=1, values_only=True), start=2):
            if row[0] == pseudonym(person, KEY):
                return sheet, r
    raise AssertionError(f"{person} is not in the workbook")


def run(store, path, **kw):
    return import_decisions(store, path, key=KEY, meeting_date=kw.pop("meeting_date", MEETING), by="Chair",
                            today=TODAY, **kw)


def table(db: Path, name: str) -> list[dict]:
    """A table read back with sqlite3 (not through the store)."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY 1")]


ADOPTED = {"Decision": "adopt", "Reason": "mentoring agreed", "Intervention": "One_To_One",
           "Lead agency": "Youth Offending Service", "Owner (role)": "YOS case manager",
           "Review date": dt.datetime(2026, 9, 1), "Engagement": None, "Actions": "weekly sessions; school contact"}
MONITORED = {"Decision": "monitor", "Owner (role)": "school liaison officer", "Review date": "2026-10-01",
             "Engagement": "partial", "Actions": "x" * MAX_ACTIONS}  # exactly the longest allowed


def test_the_workbook_has_unlocked_casework_columns_with_drop_downs_and_seals_the_rest(q2):
    _result, xlsx, _store = q2
    wb = openpyxl.load_workbook(xlsx)
    layout = open_sealed(xlsx, key=KEY).layout
    for sheet in DECISION_SHEETS:
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        assert headers[-8:] == ["Decision", "Reason", *CASEWORK_LABELS.values()]
        assert layout[sheet]["editable"] == ["decision", "decision_reason", *CASEWORK]
        for row in ws.iter_rows(min_row=2):
            assert [c.protection.locked for c in row[-8:]] == [False] * 8
            assert all(c.protection.locked for c in row[:-8])
        lists = {str(dv.sqref)[0]: dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
        letter = {h: openpyxl.utils.get_column_letter(i) for i, h in enumerate(headers, start=1)}
        assert lists[letter["Intervention"]] == '"' + ",".join(InterventionSettings().types) + '"'
        assert lists[letter["Engagement"]] == '"engaged,partial,declined,not_reached"'
        n, width = layout[sheet]["rows"], len(layout[sheet]["columns"])
        sealed = {(s, r, c) for s, r, c in locked_cells(layout) if s == sheet}
        assert len(sealed) == width + n * (width - 8)  # the header and every cell but the eight editable ones
        assert not any(r > 1 and c > width - 8 for _s, r, c in sealed)


def test_an_adopted_intervention_is_stored_with_the_decision_and_once_as_an_intervention(tmp_path, q2):
    _result, xlsx, store = q2
    filled = fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED, "NOMINAL-10004": MONITORED})
    sheet, row = where(filled, "NOMINAL-10001")
    report = run(store, filled)
    assert (report.imported, report.interventions) == (2, 1)
    db = tmp_path / "history.db"
    decisions = {d["person_id"]: d for d in table(db, "decisions")}
    assert {k: decisions["NOMINAL-10001"][k] for k in ("decision", "reason", "sheet", "row", *CASEWORK)} == {
        "decision": "adopt", "reason": "mentoring agreed", "sheet": sheet, "row": row, "intervention": "one_to_one",
        "lead_agency": "Youth Offending Service", "owner_role": "YOS case manager", "review_date": "2026-09-01",
        "engagement": "engaged", "actions": "weekly sessions; school contact"}
    assert {k: decisions["NOMINAL-10004"][k] for k in ("decision", *CASEWORK)} == {
        "decision": "monitor", "intervention": None, "lead_agency": None, "owner_role": "school liaison officer",
        "review_date": "2026-10-01", "engagement": "partial", "actions": "x" * MAX_ACTIONS}
    (done,) = table(db, "interventions")
    assert {k: v for k, v in done.items() if k not in ("intervention_id", "recorded_at")} == {
        "person_id": "NOMINAL-10001", "start_date": MEETING.isoformat(), "end_date": None, "type": "one_to_one",
        "lead_agency": "Youth Offending Service", "engagement": "engaged", "recorded_by": "Chair",
        "source_file": "filled.xlsx", "source_sha256": hashlib.sha256(filled.read_bytes()).hexdigest(), "row": row}

    again = run(store, filled)  # the same workbook again: replaced, not doubled
    assert (again.replaced, len(table(db, "decisions")), len(table(db, "interventions"))) == (2, 2, 1)

    answer = subject_access(store, "NOMINAL-10001")
    (decided,) = answer["decisions"]
    assert (decided["intervention"], decided["review_date"], decided["owner_role"]) == (
        "one_to_one", "2026-09-01", "YOS case manager")
    text = render_subject_access(answer)
    assert "| Intervention | Lead agency | Owner (role) | Review date | Engagement | Actions |" in text
    assert "weekly sessions; school contact" in text and "| one_to_one | Youth Offending Service |" in text


def test_a_corrected_workbook_replaces_the_intervention_and_leaves_other_records(tmp_path, q2):
    _result, xlsx, store = q2
    db = tmp_path / "history.db"
    run(store, fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED}))
    with sqlite3.connect(db) as conn:  # an intervention from an interventions file, same person and day
        conn.execute("INSERT INTO interventions (person_id, start_date, type, lead_agency, engagement, recorded_by, "
                     "recorded_at, source_file, source_sha256) VALUES ('NOMINAL-10001', ?, 'education', 'School', "
                     "'engaged', 'analyst', '2026-07-14T10:00:00', 'interventions.csv', ?)", (MEETING.isoformat(),
                                                                                            "0" * 64))
    retyped = fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED | {"Intervention": "peer_group"}})
    run(store, retyped)  # the meeting's workbook corrected and imported again under the same name
    assert sorted(r["type"] for r in table(db, "interventions")) == ["education", "peer_group"]
    undone = fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": {"Decision": "monitor", "Reason": "not yet"}})
    report = run(store, undone)  # no longer adopted: its intervention goes with the decision it replaced
    assert report.interventions == 0
    assert [r["type"] for r in table(db, "interventions")] == ["education"]
    assert [d["decision"] for d in table(db, "decisions")] == ["monitor"]


BAD = {  # case: (the person's cells, the column named, the value named, the problem)
    "unknown intervention": ({"Intervention": "boxing"}, "Intervention", "boxing",
                             PROBLEMS["intervention_type"].format(types=TYPES)),
    "bad engagement": ({"Engagement": "keen"}, "Engagement", "keen",
                       PROBLEMS["engagement"].format(codes="engaged, partial, declined, not_reached")),
    "review date not a date": ({"Review date": "next month"}, "Review date", "next month", PROBLEMS["review_date"]),
    "review date before the meeting": ({"Review date": dt.datetime(2026, 7, 13)}, "Review date", "2026-07-13",
                                       PROBLEMS["review_early"].format(meeting=MEETING)),
    "actions too long": ({"Actions": "y" * (MAX_ACTIONS + 1)}, "Actions", "y" * (MAX_ACTIONS + 1),
                         PROBLEMS["long_actions"]),
    "intervention on monitor": ({"Decision": "monitor", "Lead agency": None}, "Intervention", "One_To_One",
                                PROBLEMS["not_adopted"]),
    "lead agency on refer": ({"Decision": "refer", "Intervention": None}, "Lead agency", "Youth Offending Service",
                             PROBLEMS["not_adopted"]),
    "intervention without its lead agency": ({"Lead agency": None}, "Lead agency", "", PROBLEMS["no_agency"]),
    "lead agency without an intervention": ({"Intervention": " "}, "Intervention", "",
                                            PROBLEMS["no_intervention"].format(types=TYPES)),
    "casework without a decision": ({"Decision": None, "Reason": None, "Intervention": None, "Lead agency": None,
                                     "Owner (role)": None, "Review date": None}, "Actions",
                                    "weekly sessions; school contact", PROBLEMS["casework_only"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_casework_cell_is_named_and_nothing_is_stored(tmp_path, q2, case):
    _result, xlsx, store = q2
    cells, column, value, problem = BAD[case]
    run(store, fill(xlsx, tmp_path / "first.xlsx", {"NOMINAL-10003": ADOPTED}))  # an earlier import stays as it is
    bad = fill(xlsx, tmp_path / "bad.xlsx", {"NOMINAL-10001": ADOPTED | cells, "NOMINAL-10004": MONITORED})
    sheet, row = where(bad, "NOMINAL-10001")
    before = dump(tmp_path)
    with pytest.raises(DecisionImportError) as err:
        run(store, bad)
    assert [(p.sheet, p.row, p.column, p.value, p.problem) for p in err.value.problems] == [
        (sheet, row, column, value, problem)]
    assert str(err.value).startswith("bad.xlsx: 1 problem(s), nothing was imported") and f"row {row}" in str(err.value)
    assert dump(tmp_path) == before
    assert (len(table(tmp_path / "history.db", "decisions")), len(table(tmp_path / "history.db", "interventions"))) \
        == (1, 1)


def test_a_pack_written_with_other_intervention_types_offers_and_accepts_them(tmp_path, q2):
    result, _xlsx, store = q2
    local = InterventionSettings(types=("mentoring", "sport"))
    write_pack(result, tmp_path / "local", interventions=local)
    xlsx = tmp_path / "local" / "partner" / "cohort.xlsx"
    ws = openpyxl.load_workbook(xlsx)["Cohort"]
    assert '"mentoring,sport"' in [dv.formula1 for dv in ws.data_validations.dataValidation]
    filled = fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED | {"Intervention": "sport"}})
    with pytest.raises(DecisionImportError) as err:
        run(store, filled)  # the default types do not have it
    assert [p.column for p in err.value.problems] == ["Intervention"]
    assert run(store, filled, interventions=local).interventions == 1
    assert [r["type"] for r in table(tmp_path / "history.db", "interventions")] == ["sport"]


def test_an_older_store_without_the_casework_columns_opens_and_gains_them(tmp_path, q2):
    _result, xlsx, store = q2
    store.engine.dispose()
    db = tmp_path / "history.db"
    with sqlite3.connect(db) as conn:  # the decisions table as an older hkc made it, with one decision in it
        conn.execute("DROP TABLE decisions")
        conn.execute(OLD_DECISIONS)
        conn.execute("INSERT INTO decisions (run_id, as_of, person_id, meeting_date, decision, reason, recorded_by, "
                     "recorded_at, source_file, source_sha256) VALUES (1, '2026-06-30', 'NOMINAL-10002', "
                     "'2026-07-01', 'refer', 'early help', 'Chair', '2026-07-01T10:00:00', 'old.xlsx', ?)",
                     ("1" * 64,))
    with sqlite3.connect(db) as conn:
        assert not {c[1] for c in conn.execute("PRAGMA table_info(decisions)")} & set(CASEWORK)
    upgraded = open_store(f"sqlite:///{db}", create=False)
    with sqlite3.connect(db) as conn:
        assert set(CASEWORK) <= {c[1] for c in conn.execute("PRAGMA table_info(decisions)")}
    (old,) = table(db, "decisions")
    assert old["decision"] == "refer" and all(old[c] is None for c in CASEWORK)
    assert "| Intervention |" not in render_subject_access(subject_access(upgraded, "NOMINAL-10002"))
    open_store(f"sqlite:///{db}", create=False).engine.dispose()  # a second opening finds nothing to add
    run(upgraded, fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED}))
    assert [d["intervention"] for d in table(db, "decisions")] == [None, "one_to_one"]
    assert len(table(db, "interventions")) == 1


def test_a_failure_storing_the_intervention_stores_no_decision_either(tmp_path, q2):
    _result, xlsx, store = q2
    filled = fill(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ADOPTED, "NOMINAL-10004": MONITORED})
    before = dump(tmp_path)

    def fail_on_insert(conn, cursor, statement, *_args):
        if statement.startswith("INSERT INTO interventions"):
            raise sa.exc.OperationalError(statement, {}, Exception("disk I/O error"))

    sa.event.listen(store.engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(HistoryError, match="nothing was imported"):
            run(store, filled)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail_on_insert)
    assert dump(tmp_path) == before
