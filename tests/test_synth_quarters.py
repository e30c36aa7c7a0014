"""A synthetic force that lives through quarters: each extract holds what was recorded by its date,
and the ground truth under ``_truth/`` accounts for every difference between extracts."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from itertools import groupby, pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from hkc.definitions.catalogue import Catalogue
from hkc.extract.load import load_extract
from hkc.synth import (
    ALIAS_COLUMNS,
    LATE_SHARE,
    REKEY_SHARE,
    UNANNOUNCED_SHARE,
    extract_folder,
    generate_quarters,
    parse_quarters,
    write_quarters,
)

QUARTERS = parse_quarters("2025Q1..2026Q2")
LABELS = [d.isoformat() for d in QUARTERS]
# The allowed outcome paths (an acquittal is recorded as nfa: the contract has no 'acquitted').
PATHS = (("pending", "charged", "convicted"), ("pending", "charged", "nfa"), ("pending", "cautioned"),
         ("pending", "nfa"))


@pytest.fixture(scope="module")
def force(catalogue: Catalogue):
    # Many re-keys and a third of them unannounced, so that every kind of change is there to check.
    return generate_quarters(people=1_500, seed=3, quarters=QUARTERS, catalogue=catalogue, rekey_share=0.01,
                             unannounced_share=0.3)


@pytest.fixture(scope="module")
def folder(force, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quarters")
    write_quarters(force, out)
    return out


@pytest.fixture(scope="module")
def truth(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in (folder / "_truth").glob("*.csv")}


@pytest.fixture(scope="module")
def extracts(folder: Path, catalogue: Catalogue) -> dict[str, object]:
    """Each quarter's extract, validated (date -> Extract)."""
    return {d.isoformat(): load_extract(extract_folder(folder, d), catalogue=catalogue, extract_date=d)
            for d in QUARTERS}


def _events(folder: Path, label: str) -> pd.DataFrame:
    return pd.read_csv(folder / label / "events.csv", dtype=str, keep_default_na=False)


def _people(folder: Path, label: str) -> pd.DataFrame:
    return pd.read_csv(folder / label / "people.csv", dtype=str, keep_default_na=False)


def _aliases(folder: Path, label: str) -> pd.DataFrame:
    path = folder / label / "aliases.csv"
    return pd.read_csv(path, dtype=str) if path.exists() else pd.DataFrame(columns=ALIAS_COLUMNS)


def _age_days(dob: pd.Series, label: str) -> pd.Series:
    return (pd.Timestamp(label) - pd.to_datetime(dob)).dt.days


# --------------------------------------------------------------------------------------------
# Every extract is a clean extract of its date


def test_one_folder_per_quarter_each_validates_with_no_rejects(folder: Path, extracts):
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted([*LABELS, "_truth"])
    for label, extract in extracts.items():
        assert len(extract.rejects) == 0, label
        assert extract.reconciles()
        names = {p.name for p in (folder / label).iterdir()}
        assert {"people.csv", "events.csv", "population.csv"} <= names <= {"people.csv", "events.csv",
                                                                           "population.csv", "aliases.csv"}
        events = _events(folder, label)
        assert events["date"].max() <= label
        assert events.sort_values(["date", "event_id"]).index.equals(events.index)
        assert events["event_id"].is_unique
        assert _people(folder, label)["person_id"].is_monotonic_increasing


def test_each_extract_holds_exactly_what_was_recorded_by_its_date(folder: Path, truth):
    """The events of each extract, computed a second way from the truth: recorded by its date, of a
    person aged 10-30 on it; each under the id the person's record had then."""
    events, people = truth["events"], truth["people"].set_index("person_id")
    dob = people["date_of_birth"].reindex(events["person_id"]).to_numpy()
    for label in LABELS:
        age = _age_days(pd.Series(dob), label).to_numpy()
        expected = events.loc[(events["recorded"] <= label) & (age >= 3653) & (age < 11322), "event_id"]
        got = _events(folder, label)
        assert set(got["event_id"]) == set(expected), label
        held = got.merge(truth["records"], on="person_id").merge(events[["event_id", "person_id"]], on="event_id",
                                                                 suffixes=("", "_true"))
        assert len(held) == len(got) and (held["true_person_id"] == held["person_id_true"]).all()


def test_a_late_record_is_absent_until_it_is_recorded_then_present_with_the_same_id(folder: Path, truth):
    late = truth["late_records"]
    late = late[late["due_in"].isin(LABELS) & late["first_in"].isin(LABELS)]
    assert len(late) > 50
    seen = {label: _events(folder, label).set_index("event_id") for label in LABELS}
    checked = 0
    for row in late.itertuples():
        before, after = seen[row.due_in], seen[row.first_in]
        if row.event_id in after.index:  # absent only when the person is outside ages 10-30
            assert row.event_id not in before.index
            assert after.loc[row.event_id, "date"] == row.date
            checked += 1
    assert checked > 0.9 * len(late)
    ev = truth["events"]
    delay = ev["delay_days"].astype(int)
    assert delay.between(0, 183).all()
    assert abs((delay >= 30).mean() - LATE_SHARE) < 0.01
    assert (ev.loc[delay >= 30, "late"] == "true").all()


# --------------------------------------------------------------------------------------------
# Outcomes


def test_outcomes_move_only_along_the_allowed_paths(folder: Path):
    frames = [_events(folder, label)[["event_id", "outcome"]].assign(q=i) for i, label in enumerate(LABELS)]
    seq = pd.concat(frames).query("outcome != ''").sort_values(["event_id", "q"])
    paths = seq.groupby("event_id")["outcome"].agg(lambda s: tuple(k for k, _ in groupby(s)))  # runs, in order

    def allowed(path: tuple[str, ...]) -> bool:
        return any(all(o in p for o in path) and list(path) == sorted(path, key=p.index) for p in PATHS
                   if set(path) <= set(p))
    bad = paths[~paths.map(allowed)]
    assert bad.empty, bad.head()
    assert set(paths.map(len)) >= {1, 2, 3}  # some settle, some move once, some twice within the quarters


def test_the_truth_records_every_outcome_change_and_only_those(folder: Path, truth):
    changes = []
    for before, after in pairwise(LABELS):
        both = _events(folder, before)[["event_id", "outcome"]].merge(_events(folder, after)[["event_id", "outcome"]],
                                                                       on="event_id", suffixes=("_old", "_new"))
        moved = both[both["outcome_old"] != both["outcome_new"]]
        changes.append(pd.DataFrame({"event_id": moved["event_id"], "quarter": after,
                                     "old_outcome": moved["outcome_old"], "new_outcome": moved["outcome_new"]}))
    seen = pd.concat(changes).sort_values(["quarter", "event_id"]).reset_index(drop=True)
    recorded = truth["outcome_changes"]
    expected = recorded[seen.columns].sort_values(["quarter", "event_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(seen, expected)
    assert {"charged", "convicted", "acquitted", "cautioned", "no further action"} <= set(recorded["step"])
    assert not (recorded["step"] == "other").any()
    acquitted = recorded[recorded["step"] == "acquitted"]
    assert (acquitted[["old_outcome", "new_outcome"]] == ["charged", "nfa"]).all().all()


def test_outcome_dates_in_the_truth_give_each_extract_its_outcome(folder: Path, truth):
    ev = truth["events"].set_index("event_id")
    label = LABELS[2]
    got = _events(folder, label).set_index("event_id")
    got = got[got["outcome"] != ""]
    t = ev.loc[got.index]
    expected = np.where((t["result_date"] != "") & (t["result_date"] <= label), t["final_outcome"],
                        np.where((t["decision_date"] != "") & (t["decision_date"] <= label), t["decision"], "pending"))
    assert (got["outcome"].to_numpy() == expected).all()


# --------------------------------------------------------------------------------------------
# People and their ids


def test_a_changed_id_is_old_before_its_quarter_and_new_from_it(folder: Path, truth):
    changes = truth["id_changes"]
    assert {"re-keyed", "merged"} <= set(changes["reason"])
    assert {"true", "false"} <= set(changes["announced"])
    assert not set(changes["old_id"]) & set(changes["new_id"])  # never a chain
    assert changes["person_id"].is_unique
    true_of = truth["events"].set_index("event_id")["person_id"]
    held = {}  # (extract, true person) -> the ids their events carry
    for label in LABELS:
        events = _events(folder, label)
        held[label] = events.groupby(events["event_id"].map(true_of))["person_id"].agg(set)
    for row in changes.itertuples():
        for label in LABELS:
            ids = held[label].get(row.person_id, set())
            if label < row.quarter:  # a merge's new id is the person's own record, there all along
                assert ids <= ({row.old_id, row.new_id} if row.reason == "merged" else {row.old_id})
                if label == LABELS[LABELS.index(row.quarter) - 1]:  # both records in the extract before
                    assert ids == ({row.old_id, row.new_id} if row.reason == "merged" else {row.old_id})
            else:
                assert row.old_id not in ids and ids <= {row.new_id}
        assert row.date > LABELS[LABELS.index(row.quarter) - 1] and row.date <= row.quarter


def test_aliases_list_the_announced_changes_up_to_their_date_only(folder: Path, truth):
    changes = truth["id_changes"]
    listed_ever = set()
    for label in LABELS:
        aliases = _aliases(folder, label)
        assert list(aliases.columns) == ALIAS_COLUMNS
        people = set(_people(folder, label)["person_id"])
        due = changes[(changes["quarter"] <= label) & (changes["announced"] == "true")
                      & changes["new_id"].isin(people)]
        got = sorted(aliases.itertuples(index=False, name=None))
        assert got == sorted(due[ALIAS_COLUMNS].itertuples(index=False, name=None)), label
        assert not set(aliases["old_id"]) & people  # the old id has gone
        listed_ever |= set(aliases["old_id"])
    unannounced = changes.loc[changes["announced"] == "false", "old_id"]
    assert len(unannounced) > 0 and not set(unannounced) & listed_ever


def test_people_appear_age_out_and_move(folder: Path, truth):
    first, last = _people(folder, LABELS[0]), _people(folder, LABELS[-1])
    ages = {label: _age_days(_people(folder, label)["date_of_birth"], label) for label in LABELS}
    assert all(a.between(3653, 11321).all() for a in ages.values())
    gone = first[~first["person_id"].isin(last["person_id"])]
    aged = _age_days(gone["date_of_birth"], LABELS[-1]) >= 11322
    assert aged.sum() > 10
    joined = last[~last["person_id"].isin(first["person_id"]) & ~last["person_id"].isin(truth["id_changes"]["new_id"])]
    assert len(joined) > 20
    extracts = truth["extracts"].astype({"people": int, "joined": int, "aged_out": int})
    assert (extracts["people"].pct_change().abs().iloc[1:] < 0.05).all()  # a steady known population
    moves = truth["moves"]
    assert len(moves) > 20 and (moves["old_area"] != moves["new_area"]).all()
    for label in (LABELS[0], LABELS[-1]):
        area = _people(folder, label).set_index("person_id")["area"]
        done = moves[(moves["date"] <= label) & moves["person_id"].isin(area.index)]
        assert (area.reindex(done["person_id"]).to_numpy() == done["new_area"].to_numpy()).all()
        pending = moves[(moves["date"] > label) & moves["person_id"].isin(area.index)]
        assert (area.reindex(pending["person_id"]).to_numpy() == pending["old_area"].to_numpy()).all()


# --------------------------------------------------------------------------------------------
# Determinism, faults, the command line


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not(catalogue: Catalogue, tmp_path: Path):
    quarters = parse_quarters("2025Q4..2026Q2")
    args = dict(people=300, quarters=quarters, catalogue=catalogue, dirty=0.02, intel_bias={"Black": 2.0})
    for fmt in ("csv", "parquet"):
        write_quarters(generate_quarters(seed=5, **args), tmp_path / f"a-{fmt}", fmt=fmt)
        write_quarters(generate_quarters(seed=5, **args), tmp_path / f"b-{fmt}", fmt=fmt)
        a, b = _hashes(tmp_path / f"a-{fmt}"), _hashes(tmp_path / f"b-{fmt}")
        assert a == b and f"2026-06-30/events.{fmt}" in a
    write_quarters(generate_quarters(seed=6, **args), tmp_path / "c", fmt="csv")
    c = _hashes(tmp_path / "c")
    a = _hashes(tmp_path / "a-csv")
    assert all(a[name] != c[name] for name in ("2025-12-31/events.csv", "_truth/id_changes.csv", "_truth/events.csv"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_dirty_force_has_its_own_faults_in_each_extract_and_nothing_else(catalogue: Catalogue, tmp_path: Path,
                                                                           fmt: str):
    force = generate_quarters(people=600, seed=2, quarters=parse_quarters("2026Q1..2026Q2"), catalogue=catalogue,
                              dirty=0.03)
    write_quarters(force, tmp_path, fmt=fmt)
    faults = pd.read_csv(tmp_path / "_truth" / "faults.csv", dtype=str)
    assert set(faults["extract"]) == {"2026-03-31", "2026-06-30"}
    for d in force.quarters:
        extract = load_extract(extract_folder(tmp_path, d), catalogue=catalogue, extract_date=d)
        assert extract.reconciles()
        injected = faults[faults["extract"] == d.isoformat()].astype({"row": int})
        got = extract.rejects[["file", "row", "rule"]]
        found = injected.merge(got, on=["file", "row", "rule"])
        assert len(found) == len(injected) > 20
        extra = got.merge(injected, on=["file", "row", "rule"], how="left", indicator=True)
        assert set(extra.loc[extra["_merge"] == "left_only", "rule"]) <= {"person_rejected"}


def test_arguments_are_checked(catalogue: Catalogue):
    with pytest.raises(ValueError, match="rekey_share must be a fraction from 0 to 1"):
        generate_quarters(people=10, quarters=QUARTERS, catalogue=catalogue, rekey_share=2.0)
    with pytest.raises(ValueError, match="ascending"):
        generate_quarters(people=10, quarters=QUARTERS[::-1], catalogue=catalogue)
    with pytest.raises(ValueError, match="not the last day of a quarter"):
        generate_quarters(people=10, quarters=[dt.date(2026, 5, 1)], catalogue=catalogue)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024Q1..2026Q3", 11), ("2026Q3", 1), ("2025-Q4..2026Q1", 2), (" 2026q1 .. 2026q2 ", 2)])
def test_quarters_are_parsed(text: str, expected: int):
    ends = parse_quarters(text)
    assert len(ends) == expected and ends[-1] in (dt.date(2026, 9, 30), dt.date(2026, 3, 31), dt.date(2026, 6, 30))
    assert all(b > a for a, b in pairwise(ends))


@pytest.mark.parametrize(("args", "message"), [
    (["--quarters", "2026Q3..2024Q1"], "invalid value for '--quarters': '2026Q3..2024Q1': 2024Q1 is before 2026Q3; "
                                       "give the earlier quarter first, e.g. 2024Q1..2026Q3"),
    (["--quarters", "2026Q5"], "invalid value for '--quarters': '2026Q5' is not a quarter (expected a year then Q1 "
                               "to Q4, e.g. 2024Q1..2026Q3)"),
    (["--quarters", "2016Q1..2026Q3"], "invalid value for '--quarters': '2016Q1..2026Q3' is 43 quarters; at most 40"),
    (["--quarters", "2026Q1", "--until", "2026Q1"], "--until and --quarters cannot be used together"),
    (["--rekey-share", "0.1"], "--rekey-share works only with --quarters"),
])
def test_bad_quarters_are_one_line_and_exit_code_2(tmp_path: Path, args: list[str], message: str):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "o"), *args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + message) and lines[0].endswith("(see `hkc synth --help`)")
    assert not (tmp_path / "o").exists()


def test_the_command_writes_the_quarters_and_its_help_shows_the_defaults(tmp_path: Path):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "q"), "--people", "200", "--quarters",
                                       "2026Q1..2026Q2", "--format", "parquet", "--unannounced-share", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "through 2 quarters" in result.stdout
    assert {p.name for p in (tmp_path / "q" / "2026-06-30").iterdir()} >= {"people.parquet", "events.parquet"}
    changes = pd.read_csv(tmp_path / "q" / "_truth" / "id_changes.csv", dtype=str)
    assert (changes["announced"] == "false").all()
    assert not list((tmp_path / "q").glob("*/aliases.*"))  # nothing announced, no aliases file
    help_text = " ".join(CliRunner().invoke(main, ["synth", "--help"]).output.split())
    for option, value in (("--late-share", LATE_SHARE), ("--rekey-share", REKEY_SHARE),
                          ("--unannounced-share", UNANNOUNCED_SHARE)):
        assert re.search(rf"{option} FLOAT RANGE With --quarters: [^\[]*\[default: {value}\]", help_text), option
