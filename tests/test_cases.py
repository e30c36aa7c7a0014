"""Case states and continuity: an adopted person is an open case until a meeting closes it, so churn at the
cut-off does not throw them off the partnership's view, and they are not counted as removed."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkc.history import link_ids, open_cases, open_store
from hkc.history.cases import case_states
from hkc.partnership import DecisionImportError, import_decisions, pseudonym
from hkc.partnership.decisions import PROBLEMS
from hkc.partnership.pseudonyms import DEMO_KEY
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder
from tests.test_movement_causes import T0, T1, dated, days, filler, pinned

MEETING, LATER = dt.date(2026, 7, 10), dt.date(2026, 8, 20)
# T0's cohort (size 6): who the meetings decide about, and what becomes of them by T1
ADOPTED_CUT = "C1"      # adopted (review 2026-08-01, overdue at T1); overtaken at the cut-off at T1
ADOPTED_KEPT_REVIEW = "C4"  # adopted (review 2026-12-01, not overdue); overtaken at the cut-off
CLOSED = "C2"           # adopted, then closed with a reason; overtaken at the cut-off: removed
PLAIN = "C3"            # never adopted; overtaken at the cut-off: removed as today
REKEYED = "A"           # adopted; re-keyed to A9 by the extract's aliases; overtaken at the cut-off
STALE = "E"             # adopted; their only weapon event is corrected to nfa: no longer eligible
GONE = "G"              # adopted; not in the second extract
SIZE = 7


def quarter(day: dt.date) -> ExtractBuilder:
    b = ExtractBuilder(as_of=day)
    later = day == T1
    for person in (ADOPTED_CUT, ADOPTED_KEPT_REVIEW, CLOSED, PLAIN):
        b.person(person, age=15)
        dated(b, person, "knife_possession", days(40), outcome="convicted", event_id=f"{person}1")
    person = "A9" if later else REKEYED
    b.person(person, age=14)
    dated(b, person, "knife_possession", days(40), outcome="convicted", event_id="A1", occurrence_id="OA")
    b.person(STALE, age=16)  # the outcome is corrected to nfa before the second extract: no qualifying weapon event
    dated(b, STALE, "knife_possession", days(40), outcome="nfa" if later else "convicted", event_id="E1")
    if not later:
        b.person(GONE, age=13)
        dated(b, GONE, "knife_possession", days(45), outcome="convicted", event_id="G1", occurrence_id="OG")
    else:  # newcomers who outscore everyone at T1 and fill the cohort
        for i in range(SIZE):
            b.person(f"N{i}", age=16, sex="F")
            for k in range(3):
                dated(b, f"N{i}", "knife_possession", days(10 + k, T1), outcome="convicted", event_id=f"N{i}-{k}")
    filler(b, day)
    return b


def refresh(folder: Path, day: dt.date, tmp: Path):
    return run_refresh(folder, as_of=day, out=tmp / f"out-{day}", definitions=pinned(size=SIZE),
                       db_url=f"sqlite:///{tmp / 'history.db'}", extract_date=day, partner_pack="yes", demo_key=True)


def decide(pack: Path, choices: dict[str, dict[str, str]], dst: Path) -> Path:
    """The partner workbook with cells filled in by header, per person (by id: pseudonymised here)."""
    wb = openpyxl.load_workbook(pack)
    ws = wb["Cohort"]
    headers = [c.value for c in ws[1]]
    by_pseudonym = {pseudonym(p, DEMO_KEY): cells for p, cells in choices.items()}
    for row in ws.iter_rows(min_row=2):
        for header, value in by_pseudonym.get(row[0].value, {}).items():
            row[headers.index(header)].value = value
    wb.save(dst)
    return dst


def adopt(agency: str, review: str) -> dict[str, str]:
    return {"Decision": "adopt", "Intervention": "one_to_one", "Lead agency": agency, "Review date": review}


@pytest.fixture(scope="module")
def quarters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cases")
    first = refresh(quarter(T0).write(tmp / "q2"), T0, tmp)
    store = open_store(f"sqlite:///{tmp / 'history.db'}", create=False)
    pack = tmp / f"out-{T0}" / "partner" / "cohort.xlsx"
    import_decisions(store, decide(pack, {
        ADOPTED_CUT: adopt("Youth Offending Service", "2026-08-01"),
        ADOPTED_KEPT_REVIEW: adopt("Children's Services", "2026-12-01"),
        CLOSED: adopt("Youth Offending Service", "2026-09-01"),
        REKEYED: adopt("Early Help", "2026-11-01"), STALE: adopt("Early Help", ""), GONE: adopt("Early Help", ""),
        PLAIN: {"Decision": "monitor"}}, tmp / "first.xlsx"),
        key=DEMO_KEY, meeting_date=MEETING, by="chair", today=MEETING)
    import_decisions(store, decide(pack, {CLOSED: {"Decision": "close", "Reason": "family moved out of the area"}},
                                   tmp / "second.xlsx"), key=DEMO_KEY, meeting_date=LATER, by="chair", today=LATER)
    folder = quarter(T1).write(tmp / "q3")
    pd.DataFrame({"old_id": [REKEYED], "new_id": ["A9"], "date": ["2026-08-01"], "reason": ["re-keyed"]}).to_csv(
        folder / "aliases.csv", index=False)
    second = refresh(folder, T1, tmp)
    return {"tmp": tmp, "store": store, "first": first, "second": second, "out": tmp / f"out-{T1}"}


OPEN_AT_T1 = {ADOPTED_CUT, ADOPTED_KEPT_REVIEW, "A9", STALE, GONE}


def test_the_scenario_is_what_it_claims(quarters):
    assert set(quarters["first"].members["person_id"]) == {ADOPTED_CUT, ADOPTED_KEPT_REVIEW, CLOSED, PLAIN, REKEYED,
                                                           STALE, GONE}
    assert set(quarters["second"].members["person_id"]) == {f"N{i}" for i in range(SIZE)}


def test_open_cases_follow_the_decisions_through_close_and_re_keyed_ids(quarters):
    store = quarters["store"]
    cases = open_cases(store, T1).set_index("person_id")
    assert set(cases.index) == OPEN_AT_T1  # CLOSED was closed; PLAIN was only monitored; A is followed to A9
    assert cases.loc["A9", "lead_agency"] == "Early Help" and cases.loc["A9", "opened"] == MEETING.isoformat()
    assert cases.loc[ADOPTED_CUT, "review_date"] == "2026-08-01"
    assert cases.loc[ADOPTED_CUT, "intervention"] == "one_to_one"
    assert pd.isna(cases.loc[GONE, "review_date"])
    assert open_cases(store, T0).empty  # the meeting after T0 does not count for a re-run of T0
    # before the close was recorded, CLOSED's case was open
    assert CLOSED in set(open_cases(store, LATER - dt.timedelta(days=1))["person_id"])


def test_an_open_case_that_drops_off_is_not_removed_and_a_closed_or_plain_one_is(quarters):
    out = quarters["out"]
    assert set(quarters["second"].removed["person_id"]) == {CLOSED, PLAIN}
    removed = pd.read_csv(out / "removed.csv", dtype=str)
    assert set(removed["person_id"]) == {CLOSED, PLAIN}
    assert json.loads((out / "run.json").read_text())["removed"] == 2
    stored = quarters["store"].removed(quarters["second"].run_id)
    assert set(stored["person_id"]) == {CLOSED, PLAIN}


def test_hkc_movement_counts_the_same_exits_as_removed_csv_and_lists_the_open_cases(quarters):
    from click.testing import CliRunner

    from cli import main

    db = f"sqlite:///{quarters['tmp'] / 'history.db'}"
    result = CliRunner().invoke(main, ["movement", "--from", str(T0), "--to", str(T1), "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)
    assert {e["person_id"] for e in change["exits"]} == {CLOSED, PLAIN} and change["removed"] == 2
    assert {c["person_id"] for c in change["open_cases"]} == OPEN_AT_T1    # A followed to A9
    words = CliRunner().invoke(main, ["movement", "--from", str(T0), "--to", str(T1), "--db", db]).stdout
    assert "still open cases" in words and ADOPTED_CUT in words.split("still open cases")[1]


def test_open_cases_csv_says_why_each_is_not_listed_and_flags_an_overdue_review(quarters):
    cases = pd.read_csv(quarters["out"] / "open_cases.csv", dtype=str, keep_default_na=False).set_index("person_id")
    assert set(cases.index) == OPEN_AT_T1
    assert {p: cases.loc[p, "status"] for p in cases.index} == {
        ADOPTED_CUT: "cutoff", ADOPTED_KEPT_REVIEW: "cutoff", "A9": "cutoff", STALE: "no_longer_eligible",
        GONE: "not_in_extract"}
    assert cases.loc[ADOPTED_CUT, "reason"].startswith("still eligible but below the cohort cut-off")
    assert "nfa" in cases.loc[STALE, "reason"]
    assert cases.loc[GONE, "reason"] == "not in this extract"
    assert cases.loc[ADOPTED_CUT, "review_overdue"] == "True"  # 2026-08-01 < 2026-09-30
    assert cases.loc[ADOPTED_KEPT_REVIEW, "review_overdue"] == "False"
    assert cases.loc[GONE, "review_overdue"] == "False"  # no review date set: nothing to be overdue


def _section(page: str, title: str = "Open cases no longer in the top N") -> str:
    start = page.index(f">{title}</h2>")
    return page[start:page.index("<h2", start)]


def test_the_police_pack_lists_each_open_case_with_reason_agency_and_review(quarters):
    out = quarters["out"]
    section = html.unescape(_section((out / "cohort.html").read_text()))
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr><td>([A-Z0-9]+)</td>.*?</tr>", section, re.S)}
    assert set(rows) == OPEN_AT_T1
    assert "overtaken at the cut-off" in rows[ADOPTED_CUT] and "Youth Offending Service" in rows[ADOPTED_CUT]
    assert "2026-08-01" in rows[ADOPTED_CUT] and "review overdue" in rows[ADOPTED_CUT]
    assert "review overdue" not in rows[ADOPTED_KEPT_REVIEW] and "Children's Services" in rows[ADOPTED_KEPT_REVIEW]
    assert "no longer eligible" in rows[STALE] and "not in the extract" in rows[GONE]
    sheet = openpyxl.load_workbook(out / "cohort.xlsx")["Open cases"]
    listed = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(listed) == OPEN_AT_T1
    assert listed[ADOPTED_CUT][-1] == "2026-08-01 (review overdue)"


def test_the_partner_pack_shows_open_cases_by_pseudonym_with_bands_only(quarters):
    page = (quarters["out"] / "partner" / "cohort.html").read_text()
    section = html.unescape(_section(page))
    shown = set(re.findall(r'<td class="pseudonym">([^<]+)</td>', section))
    # a re-keyed person keeps the pseudonym partners saw (made from A)
    assert shown == {pseudonym(p, DEMO_KEY) for p in OPEN_AT_T1 - {"A9"} | {REKEYED}}
    body = section[section.index("<tbody>"):]
    assert not [p for p in OPEN_AT_T1 | {REKEYED} if re.search(rf"\b{p}\b", body)]  # no source id
    assert not re.search(r"score\W{0,4}-?\d", section, re.I) and "pts" not in section
    row = re.search(rf"{pseudonym(ADOPTED_CUT, DEMO_KEY)}.*?</tr>", section, re.S).group(0)
    assert "overtaken at the cut-off" in row and "Youth Offending Service" in row and "review overdue" in row
    logged = quarters["store"].disclosed_people(run_id=quarters["second"].run_id)
    assert OPEN_AT_T1 <= set(logged)  # shown, so logged as disclosed (and a close can be imported for them)


def test_a_close_without_a_reason_is_refused(quarters, tmp_path):
    pack = quarters["tmp"] / f"out-{T0}" / "partner" / "cohort.xlsx"
    with pytest.raises(DecisionImportError) as err:
        import_decisions(quarters["store"], decide(pack, {ADOPTED_CUT: {"Decision": "close"}}, tmp_path / "x.xlsx"),
                         key=DEMO_KEY, meeting_date=LATER, by="chair", today=LATER)
    assert [p.problem for p in err.value.problems] == [PROBLEMS["close_reason"]]


# --------------------------------------------------------------------------------------------
# open_cases against a second, plain reading of the decisions


def _row(person: str, meeting: dt.date, decision: str, n: int, review: str | None = None) -> dict:
    return {"run_id": 1, "as_of": "2026-06-30", "person_id": person, "meeting_date": meeting.isoformat(),
            "decision": decision, "reason": "r" if decision in ("close", "decline") else None, "recorded_by": "chair",
            "recorded_at": "2026-07-01T00:00:00+00:00", "source_file": "x.xlsx", "source_sha256": f"{n:064d}",
            "sheet": "Cohort", "row": n + 2, "intervention": None, "lead_agency": None, "owner_role": None,
            "review_date": review, "engagement": None, "actions": None}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r | {"decision_id": i} for i, r in enumerate(rows)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P", "Q"]), st.sampled_from(["adopt", "monitor", "decline", "refer",
                                                                        "close", " Adopt "])), max_size=12),
       st.integers(min_value=0, max_value=12))
def test_a_case_is_open_from_its_latest_adopt_until_a_close(decisions, cut):
    start = dt.date(2026, 7, 1)
    as_of = start + dt.timedelta(days=cut)
    # a second reading: walk the meetings on or before as_of in order, opening on adopt, closing on close
    expected: dict[str, dict] = {}
    for i, (p, d) in enumerate(decisions[:cut + 1]):
        d = d.strip().lower()
        if d == "adopt":
            expected[p] = {"opened": (start + dt.timedelta(days=i)).isoformat(), "latest": d}
        elif d == "close":
            expected.pop(p, None)
        elif p in expected:
            expected[p]["latest"] = d
    rows = [_row(p, start + dt.timedelta(days=i), d, i) for i, (p, d) in enumerate(decisions)]
    got = case_states(_frame(rows), as_of) if rows else pd.DataFrame(columns=["person_id"])
    assert {r.person_id: {"opened": r.opened, "latest": r.latest_decision} for r in got.itertuples()} == expected


def test_the_review_date_is_the_latest_given_since_the_case_opened():
    d = dt.date(2026, 7, 1)
    rows = _frame([_row("P", d, "adopt", 0, "2026-08-01"), _row("P", d + dt.timedelta(days=1), "close", 1),
                   _row("P", d + dt.timedelta(days=2), "adopt", 2),
                   _row("P", d + dt.timedelta(days=3), "monitor", 3, "2026-12-01"),
                   _row("P", d + dt.timedelta(days=4), "monitor", 4)])
    case = case_states(rows, d + dt.timedelta(days=10)).iloc[0]
    assert (case.opened, case.latest_decision, case.review_date) == ("2026-07-03", "monitor", "2026-12-01")
    before = case_states(rows, d + dt.timedelta(days=2)).iloc[0]
    assert pd.isna(before.review_date)  # the closed case's review date does not carry over to the new one


def test_open_cases_follow_a_link_recorded_after_the_decisions(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    d = dt.date(2026, 7, 1)
    store.record_decisions([_row("OLD", d, "adopt", 0), _row("Q", d + dt.timedelta(days=1), "close", 1),
                            _row("R", d, "adopt", 2)])
    assert set(open_cases(store, d + dt.timedelta(days=5))["person_id"]) == {"OLD", "R"}
    link_ids(store, "OLD", "Q", reason="records merged", by="analyst")  # OLD's adopt and Q's close: one person
    assert set(open_cases(store, d + dt.timedelta(days=5))["person_id"]) == {"R"}
