"""Identity across extracts (issue 12, part 2): the aliases file, ``hkc ids link``, a history that follows the
person through re-keyed ids, and the probable re-key a refresh reports instead of counting a removal."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from hkc.errors import ExtractError, HistoryError
from hkc.extract import load_extract
from hkc.extract.contract import RULES
from hkc.history import (
    Identities,
    alias_map,
    canonical_ids,
    compare_runs,
    explain_person,
    identities,
    link_ids,
    open_store,
    purge,
    purge_identities,
    record_extract_aliases,
    remember_members,
    subject_access,
    vanished_members,
)
from hkc.history.subject_access import render_subject_access
from hkc.matrix import probable_rekeys
from hkc.partnership import decision_history, import_decisions, pseudonym, pseudonymise, with_identities
from hkc.partnership.pseudonyms import DEMO_KEY, key_fingerprint
from hkc.refresh import run_refresh
from hkc.synth import extract_folder, generate_quarters, parse_quarters, write_quarters
from tests.builders import ExtractBuilder
from tests.test_movement_causes import T0, T1, dated, days, filler, pinned

KEY = b"aliases-test-key: 0123456789 abcdefghij KLMNOPQRST"
PEOPLE = [{"person_id": p, "date_of_birth": "2010-01-01", "sex": "M", "ethnicity": "White"} for p in
          ("P1", "P2", "P3", "P4", "OLD")]
EVENTS = [{"event_id": f"E{p}", "person_id": p, "date": "2026-01-01", "type": "knife_possession", "role": "offender",
           "source": "police"} for p in ("P1", "P2", "P3")]


def alias_rows(*rows: tuple[str, str, str, str]) -> list[dict]:
    return [dict(zip(("old_id", "new_id", "date", "reason"), r, strict=True)) for r in rows]


def write_aliases(folder: Path, rows, fmt: str) -> None:
    frame = pd.DataFrame(rows).astype(str)
    if fmt == "csv":
        frame.to_csv(folder / "aliases.csv", index=False)
    else:
        frame.to_parquet(folder / "aliases.parquet", index=False)


# --------------------------------------------------------------------------------------------
# The aliases file: every row used or quarantined with its reason


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_each_broken_alias_row_is_quarantined_with_its_reason_and_the_rest_are_used(tmp_path, write_extract,
                                                                                   catalogue, fmt):
    folder = write_extract(tmp_path, PEOPLE + [{"person_id": "BAD", "date_of_birth": "x", "sex": "M",
                                                "ethnicity": "White"}], EVENTS, fmt)
    write_aliases(folder, alias_rows(
        ("A", "P1", "2026-02-01", "re-keyed"),      # row 2: used
        ("A", "P1", "2026-02-01", "again"),         # 3: the same link again
        ("B", "P2", "2026-02-01", ""),              # 4: B linked twice, to different ids
        ("B", "P3", "2026-02-01", ""),              # 5
        ("C", "C", "2026-02-01", ""),               # 6: to itself
        ("X", "Y", "2026-02-01", ""),               # 7: a cycle
        ("Y", "X", "2026-02-01", ""),               # 8
        ("K", "L", "2026-02-01", ""),               # 9: a chain: L is re-keyed further
        ("L", "P4", "2026-02-01", "merged"),        # 10: used
        ("M", "NOBODY", "2026-02-01", ""),          # 11: unknown new id
        ("N", "BAD", "2026-02-01", ""),             # 12: new id quarantined in people
        ("P3", "P1", "2026-02-01", ""),             # 13: the old id still holds events
        ("Z", "P4", "2026-13-01", ""),              # 14: not a date
        ("Q", "P4", "2027-01-01", ""),              # 15: after the extract date
    ), fmt)
    extract = load_extract(folder, catalogue=catalogue, extract_date=dt.date(2026, 6, 30))
    assert extract.counts["aliases"] == {"read": 14, "used": 2, "rejected": 12} and extract.reconciles()
    assert extract.aliases[["old_id", "new_id"]].values.tolist() == [["A", "P1"], ["L", "P4"]]
    assert extract.aliases["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-02-01", "2026-02-01"]
    rejects = extract.rejects[extract.rejects["file"] == f"aliases.{fmt}"]
    got = {int(r): (rule, message) for r, rule, message in rejects[["row", "rule", "message"]].itertuples(index=False)}
    at = (lambda line: line) if fmt == "csv" else (lambda line: line - 1)  # Parquet rows count from 1, no header
    assert got == {
        at(3): ("duplicate_alias", RULES["duplicate_alias"].format(value="A", new_id="P1", first_row=at(2))),
        at(4): ("alias_conflict", RULES["alias_conflict"].format(value="B", other_id="P3", other_row=at(5))),
        at(5): ("alias_conflict", RULES["alias_conflict"].format(value="B", other_id="P2", other_row=at(4))),
        at(6): ("alias_to_itself", RULES["alias_to_itself"].format(value="C")),
        at(7): ("alias_cycle", RULES["alias_cycle"].format(value="X", cycle="X → Y → X")),
        at(8): ("alias_cycle", RULES["alias_cycle"].format(value="Y", cycle="X → Y → X")),
        at(9): ("alias_chain", RULES["alias_chain"].format(value="L", next_id="P4", next_row=at(10), old_id="K")),
        at(11): ("alias_unknown_new", RULES["alias_unknown_new"].format(value="NOBODY")),
        at(12): ("alias_new_rejected", RULES["alias_new_rejected"].format(value="BAD", first_row=at(7))),
        at(13): ("alias_old_in_use", RULES["alias_old_in_use"].format(value="P3", first_row=at(4))),
        at(14): ("bad_date", RULES["bad_date"].format(value="2026-13-01")),
        at(15): ("future_date", RULES["future_date"].format(value="2027-01-01", extract_date="2026-06-30")),
    }


def test_an_aliases_file_with_a_wrong_header_is_refused_in_one_line(tmp_path, write_extract, catalogue):
    folder = write_extract(tmp_path, PEOPLE, EVENTS)
    (folder / "aliases.csv").write_text("old_id,newid,date,reason\nA,P1,2026-01-01,x\n")
    with pytest.raises(ExtractError) as err:
        load_extract(folder, catalogue=catalogue, extract_date=dt.date(2026, 6, 30))
    assert err.value.message == "aliases.csv: missing required column 'new_id'; found 'newid': rename it to 'new_id'"
    assert "\n" not in err.value.message


def test_an_extract_without_aliases_loads_as_before(tmp_path, write_extract, catalogue):
    extract = load_extract(write_extract(tmp_path, PEOPLE, EVENTS), catalogue=catalogue,
                           extract_date=dt.date(2026, 6, 30))
    assert extract.aliases is None and "aliases" not in extract.counts


def test_hkc_validate_counts_the_aliases_file_like_any_other(tmp_path, write_extract):
    folder = write_extract(tmp_path / "x", PEOPLE, EVENTS)
    write_aliases(folder, alias_rows(("A", "P1", "2026-02-01", "re-keyed"), ("B", "NOBODY", "2026-02-01", "")), "csv")
    result = CliRunner().invoke(main, ["validate", str(folder), "--extract-date", "2026-06-30"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("aliases.csv"))
    assert row.split() == ["aliases.csv", "2", "1", "1", "yes"]
    assert "aliases.csv row 3, column 'new_id': new_id 'NOBODY' is not in people" in result.stdout


# --------------------------------------------------------------------------------------------
# Links in the history


def run_frames(listed: list[str], scored: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """A run's frames: ``listed`` in rank order (all amber), ``scored`` besides them not listed."""
    ids = listed + (scored or [])
    n = len(ids)
    scores = pd.DataFrame({"person_id": ids, "risk_score": np.linspace(60, 30, n), "vulnerability_score": 0.0,
                           "eligible": True, "in_cohort": [p in listed for p in ids],
                           "rank": pd.array([i + 1 if p in listed else None for i, p in enumerate(ids)], "Int64"),
                           "rag": ["amber" if p in listed else None for p in ids],
                           "movement": [None] * n, "reason": ["" if p in listed else "below the cut-off" for p in ids],
                           "rationale": [None] * n})
    evidence = pd.DataFrame({"person_id": ids, "event_id": [f"E-{p}" for p in ids], "date": "2026-05-01",
                             "indicator": "knife_possession", "axis": "risk", "role": "offender",
                             "outcome": "convicted", "grade": None, "points": 30.0})
    contributions = pd.DataFrame({"person_id": ids, "axis": "risk", "indicator": "knife_possession", "count": 1,
                                  "latest": "2026-05-01", "points": 30.0})
    removed = pd.DataFrame(columns=["person_id", "previous_rank", "previous_rag", "reason"])
    return {"scores_frame": scores, "contributions_frame": contributions, "evidence_frame": evidence,
            "removed_frame": removed}


def save_run(store, as_of: dt.date, listed: list[str], scored: list[str] | None = None, **manifest) -> int:
    base = {"started_at": "2026-10-01T08:00:00+00:00", "finished_at": "2026-10-01T08:01:00+00:00",
            "hkc_version": "test", "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "cohort_size": len(listed),
            "eligible": len(listed), "scored": len(listed), "as_of": as_of.isoformat()}
    return store.save_run(as_of=as_of, manifest=base | manifest, audit=None, **run_frames(listed, scored))[0]


@pytest.fixture
def store(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'history.db'}")


def test_a_link_is_refused_in_one_line_when_it_could_join_the_wrong_people(store):
    save_run(store, T0, ["A", "B"])
    link_ids(store, "A", "A9", reason="re-keyed", by="analyst")
    for (old, new, reason, by), message in [
            (("A", "A", "r", "x"), "OLD and NEW are both 'A'"),
            (("A", "A8", "r", "x"), "'A' is already linked to 'A9'"),
            (("A9", "A", "r", "x"), "'A' already leads to 'A9'"),
            (("NOBODY", "B", "r", "x"), "the history holds nothing under 'NOBODY'"),
            (("B", "B9", " ", "x"), "--reason"), (("B", "B9", "r", ""), "--by"), ((" ", "B9", "r", "x"), "OLD is empty")]:
        with pytest.raises(HistoryError, match=message):
            link_ids(store, old, new, reason=reason, by=by)
    assert link_ids(store, "A", "A9", reason="again", by="x")["stored"] is False  # the same link: nothing changes
    assert alias_map(store) == {"A": "A9"}


def test_chains_are_followed_and_a_re_keyed_person_keeps_the_pseudonym_partners_saw(store):
    save_run(store, T0, ["A", "B", "D"])
    save_run(store, T1, ["A", "B9", "D"])
    link_ids(store, "A", "A1", reason="re-keyed", by="x")     # A1 unknown: carries on A's pseudonym
    link_ids(store, "A1", "A2", reason="re-keyed", by="x")    # A2 unknown: carries on A1's, so A's
    link_ids(store, "B", "B9", reason="re-keyed", by="x")     # B9 already stored: keeps its own
    link_ids(store, "D", "B9", reason="merged", by="x")       # a duplicate merged into B9
    assert alias_map(store) == {"A": "A2", "A1": "A2", "B": "B9", "D": "B9"}
    assert canonical_ids(store) == {"A1": "A", "A2": "A"}
    ids = identities(store)
    assert ids.ids_of(["A2"]) == {"A2": "A2", "A": "A2", "A1": "A2"}
    assert ids.ids_of(["D"]) == {"D": "D", "B": "D", "B9": "D"}
    assert pseudonym("A2", with_identities(KEY, ids.canonical)) == pseudonym("A", KEY)
    assert pseudonymise(["A", "A1", "A2", "B9"], KEY, canonical=ids.canonical) == {
        "A": pseudonym("A", KEY), "A1": pseudonym("A", KEY), "A2": pseudonym("A", KEY), "B9": pseudonym("B9", KEY)}
    assert key_fingerprint(with_identities(KEY, ids.canonical)) == key_fingerprint(KEY)  # the same key


def test_an_extracts_aliases_are_stored_once_and_a_disagreeing_row_is_said_not_lost(store):
    save_run(store, T0, ["A", "B", "C"])
    link_ids(store, "B", "B7", reason="merged", by="analyst")
    rows = pd.DataFrame({"old_id": ["A", "B", "C"], "new_id": ["A9", "B9", "C9"],
                         "date": pd.to_datetime(["2026-07-01"] * 3), "reason": ["re-keyed", "re-keyed", None]})
    first = record_extract_aliases(store, rows, source="extract q3 as of 2026-09-30", by="analyst")
    assert (first.stored, first.known) == (2, 0)
    assert first.skipped == ["'B' to 'B9' not recorded: 'B' is already linked to 'B7' in the history; correct the "
                             "extract or the earlier link"]
    again = record_extract_aliases(store, rows, source="extract q4", by="analyst")
    assert (again.stored, again.known, len(again.skipped)) == (0, 2, 1)
    back = record_extract_aliases(store, pd.DataFrame({"old_id": ["A9"], "new_id": ["A"]}), source="q5", by="x")
    assert back.stored == 0 and "'A' already leads to 'A9'" in back.skipped[0]
    assert alias_map(store) == {"B": "B7", "A": "A9", "C": "C9"}


@st.composite
def link_lists(draw) -> list[tuple[str, str]]:
    """Links as the store accepts them: each old id once, never one that would lead back to itself."""
    names = [f"I{i}" for i in range(8)]
    links: dict[str, str] = {}
    for old, new in draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=12)):
        if old == new or old in links or Identities(links).latest_id(new) == old:
            continue
        links[old] = new
    return list(links.items())


@settings(max_examples=200, deadline=None)
@given(link_lists())
def test_following_ids_agrees_with_a_union_find_of_the_links(links):
    ids = Identities.of(pd.DataFrame(links, columns=["old_id", "new_id"]).assign(new_known=True))
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for old, new in links:
        parent[root(old)] = root(new)
    every = {p for link in links for p in link}
    for p in every:
        latest = ids.latest_id(p)
        assert latest not in ids.links  # where links lead, no link leaves
        assert root(p) == root(latest)
        assert set(ids.ids_of([p])) == {q for q in every if root(q) == root(p)}


# --------------------------------------------------------------------------------------------
# The history follows the person: movement, decisions and subject access


def test_movement_follows_a_linked_member_and_counts_only_real_exits(store, catalogue):
    save_run(store, T0, ["A", "B", "C", "D"])
    save_run(store, T1, ["A9", "B"], scored=["C", "D9"])
    link_ids(store, "A", "A9", reason="nominal records merged", by="analyst")
    link_ids(store, "D", "D9", reason="re-keyed", by="analyst")
    change = compare_runs(store, T0, T1, catalogue=catalogue)
    assert [e["person_id"] for e in change["exits"]] == ["C", "D9"] and change["removed"] == 2
    assert change["entries"] == [] and change["probable_rekeys"] == []
    assert change["followed"] == [{"person_id": "A9", "earlier_id": "A"}, {"person_id": "D9", "earlier_id": "D"}]
    assert {c["person_id"]: c["change"] for c in change["rag_changes"]} == {"A9": "same", "B": "same"}
    # D left for real under its new id: the cause its record gives, not the re-key
    assert {p["person_id"] for p in change["causes"]["people"]["id_change"]} == set()
    assert change["share_reduced_or_removed"] == pytest.approx(2 / 4)


def test_subject_access_for_either_id_is_the_one_history_holding_both(store):
    save_run(store, T0, ["A", "B"])
    run1 = save_run(store, T1, ["A9", "B"])
    link_ids(store, "A", "A9", reason="nominal records merged", by="analyst")
    store.record_decisions([{"run_id": run1, "as_of": T1.isoformat(), "person_id": "A9", "meeting_date": "2026-10-10",
                             "decision": "adopt", "reason": None, "recorded_by": "chair",
                             "recorded_at": "2026-10-10T10:00:00", "source_file": "p.xlsx", "source_sha256": "0" * 64}])
    by_old, by_new = subject_access(store, "A"), subject_access(store, "A9")
    for answer in (by_old, by_new):
        assert sorted(answer["ids"]) == ["A", "A9"]
        assert [(r["as_of"], r["stored_as"]) for r in answer["runs"]] == [("2026-06-30", "A"), ("2026-09-30", "A9")]
        assert answer["listed_on"] == ["2026-06-30", "2026-09-30"]
        assert [d["decision"] for d in answer["decisions"]] == ["adopt"]
        assert [(a["old_id"], a["new_id"]) for a in answer["aliases"]] == [("A", "A9")]
    text = render_subject_access(by_old)
    assert "The history knows this person under 2 ids: A, A9" in text and "A is now A9" in text
    assert "### Evidence as of 2026-09-30 (as A9)" in text
    assert subject_access(store, "B")["ids"] == ["B"] and "stored_as" not in subject_access(store, "B")["runs"][0]
    assert explain_person(store, "A", as_of=T1)["stored_as"] == "A9"  # hkc explain with the old id
    assert "stored_as" not in explain_person(store, "A9", as_of=T1)
    history = decision_history(store, ["A", "B"]).set_index("person_id")
    assert history.loc["A", "latest_decision"] == "adopt" and history.loc["B", "decisions"] == 0


# --------------------------------------------------------------------------------------------
# Probable re-keys: the pure function


def identity(person: str, dob: str = "2010-01-01", sex: str = "M", events=(), occurrences=()) -> dict:
    return {"person_id": person, "date_of_birth": dob, "sex": sex, "event_ids": list(events),
            "occurrence_ids": list(occurrences)}


def test_a_new_id_with_the_birth_date_sex_and_events_of_a_vanished_member_is_a_probable_re_key():
    vanished = pd.DataFrame([identity("U", events=["E1", "E2"], occurrences=["O1"]), identity("X", events=["E9"]),
                             identity("T", dob="2011-05-05", sex="F", occurrences=["O7"])])
    people = pd.DataFrame({"person_id": ["U9", "N", "CO", "TWIN", "T9"],
                           "date_of_birth": pd.to_datetime(["2010-01-01", "2010-01-01", "2012-03-03", "2011-05-05",
                                                            "2011-05-05"]),
                           "sex": ["M", "M", "M", "F", "M"]})
    events = pd.DataFrame({"person_id": ["U9", "U9", "N", "CO", "TWIN", "T9"],
                           "event_id": ["E1", "E3", "E4", "E9", "E5", "E6"],
                           "occurrence_id": ["O1", None, "O2", "O9", "O7", "O7"]})
    found = probable_rekeys(vanished, people, events, earlier_ids={"TWIN", "S"})
    # U: re-keyed to U9.  X: its event is now held by CO, of another birth date: a co-offender, not X.
    # T: its occurrence is shared by TWIN (known before: not new) and T9 (another sex): neither.
    assert found[["old_id", "new_id", "shared_events", "shared_occurrences", "candidates"]].values.tolist() == \
        [["U", "U9", 1, 1, 1]]
    assert found["evidence"][0] == ("the same date of birth (2010-01-01) and sex (M), and holds 1 event (E1) and "
                                    "1 occurrence (O1) that U held")
    assert probable_rekeys(vanished.iloc[1:], people, events, earlier_ids={"TWIN"}).empty  # real exits are not
    assert list(probable_rekeys(vanished.iloc[2:], people, events, earlier_ids=set())["new_id"]) == ["TWIN"]


def test_on_the_quarterly_force_the_probable_re_keys_are_exactly_the_unannounced_ones(tmp_path, catalogue):
    t0, t1 = parse_quarters("2026Q2..2026Q3")
    force = generate_quarters(people=2000, seed=3, quarters=[t0, t1], catalogue=catalogue, rekey_share=0.05,
                              unannounced_share=0.5)
    write_quarters(force, tmp_path)
    before = load_extract(extract_folder(tmp_path, t0), catalogue=catalogue, extract_date=t0)
    after = load_extract(extract_folder(tmp_path, t1), catalogue=catalogue, extract_date=t1)
    assert after.counts["aliases"]["rejected"] == 0 and len(after.aliases)
    announced = dict(zip(after.aliases["old_id"], after.aliases["new_id"], strict=True))
    gone = set(before.people["person_id"]) - set(after.people["person_id"]) - set(announced)
    ev = before.events[before.events["person_id"].isin(gone)]
    vanished = before.people[before.people["person_id"].isin(gone)].assign(
        event_ids=lambda f: f["person_id"].map(ev.groupby("person_id")["event_id"].agg(list)),
        occurrence_ids=lambda f: f["person_id"].map(ev.groupby("person_id")["occurrence_id"].agg(
            lambda s: list(s.dropna()))))
    found = probable_rekeys(vanished, after.people, after.events,
                            earlier_ids=set(before.people["person_id"]) | set(announced.values()))
    truth = pd.read_csv(tmp_path / "_truth" / "id_changes.csv", dtype=str, keep_default_na=False)
    truth = truth[(truth["quarter"] == t1.isoformat()) & (truth["announced"] == "false")
                  & truth["old_id"].isin(gone) & (truth["reason"] == "re-keyed")]
    assert len(truth) >= 10
    assert set(zip(found["old_id"], found["new_id"], strict=True)) == set(zip(truth["old_id"], truth["new_id"],
                                                                              strict=True))
    assert (found["candidates"] == 1).all()
    # everyone else who vanished (aged out, or a duplicate merged into a record the earlier extract held) is not one
    assert not set(found["old_id"]) & (gone - set(truth["old_id"]))


# --------------------------------------------------------------------------------------------
# End to end: two quarters' refreshes (needs the refresh's wiring, hkc/refresh/run.py)


def quarter(day: dt.date) -> ExtractBuilder:
    b = ExtractBuilder(as_of=day)
    later = day == T1
    for old, new in (("A", "A9"), ("K", "K9"), ("U", "U9")):  # re-keyed by an aliases row, by hkc ids link, unsaid
        person = new if later else old
        b.person(person, age=15)
        dated(b, person, "knife_possession", days(40), outcome="convicted", event_id=f"{old}1", occurrence_id=f"O{old}")
    b.person("S", age=15)  # stays
    dated(b, "S", "knife_possession", days(50), outcome="convicted", event_id="S1")
    if not later:  # X's records are deleted before the second extract: a real exit
        b.person("X", age=15)
        dated(b, "X", "knife_possession", days(45), outcome="convicted", event_id="X1", occurrence_id="OX")
    else:  # a newcomer with X's birth date and sex, and nothing of X's
        b.person("N", age=15)
        dated(b, "N", "knife_possession", days(20, T1), outcome="convicted", event_id="N1")
    filler(b, day)
    return b


def refresh(folder: Path, day: dt.date, tmp: Path, lines: list[str]):
    return run_refresh(folder, as_of=day, out=tmp / f"out-{day}", definitions=pinned(size=10),
                       db_url=f"sqlite:///{tmp / 'history.db'}", extract_date=day, partner_pack="yes", demo_key=True,
                       progress=lines.append)


def decide(pack: Path, choices: dict[str, str], dst: Path) -> Path:
    wb = openpyxl.load_workbook(pack)
    ws = wb["Cohort"]
    headers = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[0].value in choices:
            row[headers.index("Decision")].value = choices[row[0].value]
    wb.save(dst)
    return dst


@pytest.fixture(scope="module")
def quarters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quarters")
    first_lines: list[str] = []
    first = refresh(quarter(T0).write(tmp / "q2"), T0, tmp, first_lines)
    store = open_store(f"sqlite:///{tmp / 'history.db'}", create=False)
    adopt = {pseudonym(p, DEMO_KEY): "adopt" for p in ("A", "K", "U")}
    import_decisions(store, decide(tmp / f"out-{T0}" / "partner" / "cohort.xlsx", adopt, tmp / "decided.xlsx"),
                     key=DEMO_KEY, meeting_date=dt.date(2026, 7, 10), by="chair", today=dt.date(2026, 7, 10))
    linked = CliRunner().invoke(main, ["ids", "link", "K", "K9", "--reason", "nominal records merged", "--by",
                                       "analyst", "--db", f"sqlite:///{tmp / 'history.db'}"])
    assert linked.exit_code == 0, linked.output
    folder = quarter(T1).write(tmp / "q3")
    pd.DataFrame({"old_id": ["A"], "new_id": ["A9"], "date": ["2026-08-01"], "reason": ["re-keyed"]}).to_csv(
        folder / "aliases.csv", index=False)
    lines: list[str] = []
    second = refresh(folder, T1, tmp, lines)
    return {"tmp": tmp, "store": store, "first": first, "second": second, "lines": lines, "linked": linked.output}


def test_a_re_keyed_member_is_not_counted_as_removed_and_a_real_exit_is(quarters):
    assert set(quarters["first"].members["person_id"]) == {"A", "K", "U", "S", "X"}
    assert list(quarters["second"].removed["person_id"]) == ["X"]
    removed = pd.read_csv(quarters["tmp"] / f"out-{T1}" / "removed.csv", dtype=str)
    assert list(removed["person_id"]) == ["X"]
    run = json.loads((quarters["tmp"] / f"out-{T1}" / "run.json").read_text())
    assert run["removed"] == 1
    assert [(r["old_id"], r["new_id"]) for r in run["probable_rekeys"]] == [("U", "U9")]


def test_the_probable_re_key_warning_fires_for_the_unannounced_one_only(quarters):
    warned = [line for line in quarters["lines"] if line.startswith("probable re-key")]
    assert warned == [("probable re-key: U, listed in the run of 2026-06-30, is not in this extract, and U9, new in "
                       "it, has the same date of birth (2011-01-01) and sex (M), and holds 1 event (U1) and 1 "
                       "occurrence (OU) that U held; U is not counted as removed.  If they are the same person, "
                       "record it: hkc ids link U U9 --reason TEXT --by NAME")]
    assert not [line for line in quarters["lines"] if "re-key" in line and ("X" in line.split() or "N," in line)]


def test_a_re_keyed_member_keeps_movement_decisions_and_pseudonym(quarters):
    members = quarters["second"].members.set_index("person_id")
    assert {members.loc["A9", "movement"], members.loc["K9", "movement"]} <= {"same", "up", "down"}  # not new
    assert members.loc["U9", "movement"] == "new"  # unconfirmed: a newcomer until someone links it
    assert members.loc["A9", "latest_decision"] == members.loc["K9", "latest_decision"] == "adopt"
    assert pd.isna(members.loc["U9", "latest_decision"])
    partner = pd.read_csv(quarters["tmp"] / f"out-{T1}" / "partner" / "cohort.csv", dtype=str)
    shown = set(partner["pseudonym"])
    assert {pseudonym("A", DEMO_KEY), pseudonym("K", DEMO_KEY), pseudonym("U9", DEMO_KEY)} <= shown
    assert not {pseudonym("A9", DEMO_KEY), pseudonym("K9", DEMO_KEY)} & shown
    assert "their partner pseudonym stays the one made for K" in quarters["linked"]


def test_a_decision_on_the_later_pack_reaches_the_new_id_through_the_kept_pseudonym(quarters, tmp_path):
    store = quarters["store"]
    pack = quarters["tmp"] / f"out-{T1}" / "partner" / "cohort.xlsx"
    report = import_decisions(store, decide(pack, {pseudonym("A", DEMO_KEY): "monitor"}, tmp_path / "d.xlsx"),
                              key=DEMO_KEY, meeting_date=dt.date(2026, 10, 12), by="chair",
                              today=dt.date(2026, 10, 12))
    assert report.imported == 1
    stored = store.decisions(["A9"])
    assert list(stored["decision"]) == ["monitor"]
    assert decision_history(store, ["A9"]).loc[0, "decisions"] == 2  # adopt (as A), monitor (as A9)


def test_hkc_movement_follows_the_re_keyed_and_splits_off_the_probable_one(quarters):
    db = f"sqlite:///{quarters['tmp'] / 'history.db'}"
    result = CliRunner().invoke(main, ["movement", "--from", str(T0), "--to", str(T1), "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)
    assert [e["person_id"] for e in change["exits"]] == ["X"] and change["removed"] == 1
    assert sorted((f["person_id"], f["earlier_id"]) for f in change["followed"]) == [("A9", "A"), ("K9", "K")]
    assert [(p["person_id"], p["new_id"]) for p in change["probable_rekeys"]] == [("U", "U9")]
    assert [p["person_id"] for p in change["causes"]["people"]["id_change"]] == ["U"]
    assert "id_change" in change["causes"]["not_evidence"]


def test_hkc_movement_in_words_names_the_followed_and_the_probable_re_key(quarters):
    db = f"sqlite:///{quarters['tmp'] / 'history.db'}"
    result = CliRunner().invoke(main, ["movement", "--from", str(T0), "--to", str(T1), "--db", db])
    assert result.exit_code == 0, result.output
    text = result.stdout
    followed = text.split("followed across an id change")[1].split("\n\n")[0]
    assert re.search(r"A9\s+A\b", followed) and re.search(r"K9\s+K\b", followed) and "U" not in followed.split()
    probable = text.split("probable re-keys")[1].split("\n\n")[0]
    assert re.search(r"\bU\s+U9\s+the same date of birth", probable) and "hkc ids link OLD NEW" in probable


def test_the_police_pack_names_the_probable_re_key_and_the_partner_pack_only_counts_it(quarters):
    out = quarters["tmp"] / f"out-{T1}"
    police = html.unescape((out / "cohort.html").read_text())
    warning = [line for line in quarters["lines"] if line.startswith("probable re-key")][0]
    assert "Probable re-keys (1)" in police and warning in police
    sheet = openpyxl.load_workbook(out / "cohort.xlsx")["Run"]
    assert [r[1] for r in sheet.iter_rows(values_only=True) if r[0] == "Probable re-key 1"] == [warning]
    partner = html.unescape((out / "partner" / "cohort.html").read_text())
    assert "1 person listed last quarter may have been re-keyed" in partner
    for police_id in ("U9", "U,", "U1", "OU"):
        assert police_id not in partner
    earlier = html.unescape((quarters["tmp"] / f"out-{T0}" / "cohort.html").read_text())
    assert "Probable re-keys" not in earlier            # nothing to check on a first run


def test_the_next_pack_shows_the_running_intervention_under_the_new_id(quarters, tmp_path):
    """An intervention recorded for A (before the re-key) is running at the next quarter: both packs show it
    beside A9's decision; a declined one and one that ended are not shown."""
    from hkc.definitions import InterventionSettings
    from hkc.partnership import import_interventions

    shutil.copy(quarters["tmp"] / "history.db", tmp_path / "history.db")
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}", create=False)
    (tmp_path / "iv.csv").write_text("person_id,start_date,end_date,type,lead_agency,engagement\n"
                                     "A,2026-07-15,,one_to_one,Youth Justice Service,engaged\n"
                                     "K,2026-07-15,,peer_group,Early Help,declined\n"
                                     "S,2026-07-01,2026-08-31,education,Education Welfare,engaged\n")
    import_interventions(store, tmp_path / "iv.csv", settings=InterventionSettings(), by="analyst",
                         today=dt.date(2026, 9, 1))
    lines: list[str] = []
    run_refresh(quarters["tmp"] / "q3", as_of=T1, out=tmp_path / "out", definitions=pinned(size=10),
                db_url=f"sqlite:///{tmp_path / 'history.db'}", extract_date=T1, partner_pack="yes", demo_key=True,
                progress=lines.append)
    shown = "intervention: one to one (Youth Justice Service) since 2026-07-15"
    cohort = pd.read_csv(tmp_path / "out" / "cohort.csv", dtype=str).set_index("person_id")
    assert cohort.loc["A9", "intervention"] == shown.removeprefix("intervention: ")
    assert cohort["intervention"].notna().sum() == 1                 # not K's (declined), not S's (ended)
    police = html.unescape((tmp_path / "out" / "cohort.html").read_text())
    partner = html.unescape((tmp_path / "out" / "partner" / "cohort.html").read_text())
    assert f"); {shown}" in police and shown in partner            # beside the latest decision
    assert "peer group (Early Help)" not in police + partner and "education (" not in police + partner


@pytest.mark.parametrize("asked", ["A", "A9", "K", "K9"])
def test_subject_access_after_the_re_key_is_one_history_with_both_ids(quarters, asked):
    old, new = asked[0], asked[0] + "9"
    answer = subject_access(quarters["store"], asked)
    assert sorted(answer["ids"]) == [old, new] and answer["listed_on"] == ["2026-06-30", "2026-09-30"]
    assert [(r["as_of"], r["stored_as"]) for r in answer["runs"]] == [("2026-06-30", old), ("2026-09-30", new)]
    assert "adopt" in [d["decision"] for d in answer["decisions"]]
    assert {(d["audience"], d["stored_as"]) for d in answer["disclosures"]} >= {("partner", old), ("partner", new)}
    assert [(k["as_of"], k["person_id"], k["event_ids"]) for k in answer["identities"]] == \
        [("2026-06-30", old, [f"{old}1"]), ("2026-09-30", new, [f"{old}1"])]


def test_confirming_the_probable_re_key_later_follows_it_and_keeps_the_pseudonym_partners_saw(quarters, tmp_path):
    shutil.copy(quarters["tmp"] / "history.db", tmp_path / "copy.db")  # the other tests see the history as it was
    store = open_store(f"sqlite:///{tmp_path / 'copy.db'}", create=False)
    link = link_ids(store, "U", "U9", reason="confirmed", by="analyst")
    assert link["canonical"] == "U9"  # U9 was shown to partners as itself: it keeps that pseudonym
    change = compare_runs(store, T0, T1)
    assert change["probable_rekeys"] == [] and ("U9", "U") in {(f["person_id"], f["earlier_id"])
                                                               for f in change["followed"]}
    vanished, _earlier = vanished_members(store, store.find_run(T0), identities(store), ["A9", "K9", "U9", "S", "N"])
    assert list(vanished["person_id"]) == ["X"]


def test_remember_members_replaces_a_re_run(store):
    people = pd.DataFrame({"person_id": ["A"], "date_of_birth": pd.to_datetime(["2010-01-01"]), "sex": ["M"]})
    events = pd.DataFrame({"person_id": ["A", "A"], "event_id": ["E2", "E1"], "occurrence_id": ["O1", None]})
    assert remember_members(store, T0, ["A", "B"], people, events) == 1
    assert remember_members(store, T0, ["A"], people, events.iloc[:1]) == 1
    kept = subject_access(store, "A")["identities"]
    assert kept == [{"as_of": "2026-06-30", "person_id": "A", "date_of_birth": "2010-01-01", "sex": "M",
                     "event_ids": ["E2"], "occurrence_ids": ["O1"]}]


def test_retention_erases_old_identities_and_the_links_that_no_longer_join_anything(store):
    save_run(store, T0, ["A", "B"])
    people = pd.DataFrame({"person_id": ["A"], "date_of_birth": pd.to_datetime(["2010-01-01"]), "sex": ["M"]})
    remember_members(store, T0, ["A"], people, pd.DataFrame({"person_id": ["A"], "event_id": ["E1"]}))
    link_ids(store, "A", "A9", reason="re-keyed", by="analyst")
    run_id = store.find_run(T0).run_id
    with store.engine.begin() as conn:  # the run is kept: its identities go, the link stays
        assert purge_identities(conn, "2026-07-01", []) == {"member_identities": 1, "aliases": 0}
    remember_members(store, T0, ["A"], people, pd.DataFrame({"person_id": ["A"], "event_id": ["E1"]}))
    with store.engine.begin() as conn:  # the run goes too: so does the link, counted the same before and after
        assert purge_identities(conn, "2099-12-31", [run_id], dry_run=True) == {"member_identities": 1, "aliases": 1}
    purge(store, older_than_days=1, today=dt.date(2100, 1, 1), by="records officer")
    with store.engine.begin() as conn:  # what the purge's transaction runs (see the report to the lead)
        purge_identities(conn, "2099-12-31", [run_id])
    assert alias_map(store) == {} and subject_access(store, "A")["identities"] == []
