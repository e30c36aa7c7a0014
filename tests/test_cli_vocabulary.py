"""One command-line vocabulary: shared options, one date type, one error style, --json for scripts."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import sqlite3

import click
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from hkc.commandline import DAY, USAGE_ERROR, Day
from hkc.dates import NOT_A_DAY
from tests.builders import quick_deployment

UNTIL = dt.date(2026, 9, 30)
Q2 = dt.date(2026, 6, 30)

# Every option that takes a date, by command: each must read YYYY-MM-DD or a quarter.
DATE_OPTIONS = {
    ("validate", "extract_date"), ("synth", "until"), ("refresh", "as_of"), ("refresh", "extract_date"),
    ("movement", "from_"), ("movement", "to"), ("explain", "run"), ("transparency", "run"),
    ("backtest", "as_of"), ("backtest", "extract_date"), ("train", "as_of"), ("train", "extract_date"),
    ("decisions import", "meeting_date"), ("dpia", "run"), ("validate", "as_of"), ("evaluate", "extract_date"),
    ("ids link", "date"),
}


def commands(group: click.Group = main, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found |= commands(command, prefix + name + " ")
    return found


def run(*args, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def one_error_line(result) -> str:
    """The one line a failed command prints (nothing else on stderr but definitions; nothing on stdout)."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert [line for line in lines if not line.startswith("definitions:")] == [lines[-1]], result.stderr
    assert result.stdout == ""
    assert lines[-1].startswith("error: ")
    return lines[-1][len("error: "):]


# -- the date type -------------------------------------------------------------------------------

def test_every_date_option_reads_a_day_or_a_quarter():
    typed = {(path, p.name) for path, command in commands().items() for p in command.params
             if isinstance(p.type, Day)}
    assert typed == DATE_OPTIONS
    named_like_dates = {(path, p.name) for path, command in commands().items() for p in command.params
                        if "date" in p.name or p.name in ("as_of", "until", "from_", "to", "run")}
    assert named_like_dates <= typed


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2999, 12, 31)))
def test_a_date_option_reads_any_iso_day(day):
    assert DAY.convert(day.isoformat(), None, None) == day


@given(st.integers(1900, 2999), st.integers(1, 4), st.sampled_from(["{y}Q{q}", "{y}-Q{q}", "{y}q{q}"]))
def test_a_date_option_reads_a_quarter_as_its_last_day(year, quarter, form):
    last_month = 3 * quarter
    expected = dt.date(year, last_month, calendar.monthrange(year, last_month)[1])
    assert DAY.convert(form.format(y=year, q=quarter), None, None) == expected


@given(st.text(max_size=12).filter(lambda s: not s.strip()[:1].isdigit()))
def test_text_that_is_not_a_day_is_refused_naming_the_value(text):
    with pytest.raises(click.BadParameter, match="is not a date"):
        DAY.convert(text, None, None)


def test_a_quarter_reaches_the_library(tmp_path):
    result = run("synth", "--out", tmp_path / "x", "--people", 10, "--seed", 1, "--until", "2026Q2")
    assert result.exit_code == 0, result.output
    assert "up to 2026-06-30" in result.stdout
    events = pd.read_csv(tmp_path / "x" / "events.csv", dtype=str)
    assert events["date"].max() <= "2026-06-30"


# -- one error style -----------------------------------------------------------------------------

USAGE_CASES = {
    "missing option": (["refresh", "extract", "--out", "o"], "missing option '--as-of'", "hkc refresh"),
    "missing argument": (["validate"], "missing argument 'DATA_DIR'", "hkc validate"),
    "bad choice": (["synth", "--out", "o", "--format", "xls"],
                   "invalid value for '--format': 'xls' is not one of 'csv', 'parquet'", "hkc synth"),
    "bad date": (["movement", "--from", "2026Q5", "--to", "2026Q3"],
                 "invalid value for '--from': " + NOT_A_DAY.format(value="2026Q5"), "hkc movement"),
    "impossible day": (["synth", "--out", "o", "--until", "2026-02-30"],
                       "invalid value for '--until': " + NOT_A_DAY.format(value="2026-02-30"), "hkc synth"),
    "unknown option": (["history", "--dbb", "x"], "no such option '--dbb'; did you mean '--db'?", "hkc history"),
    "unknown option of hkc": (["--bogus", "history"], "no such option '--bogus'", "hkc"),
    "no such command": (["rfresh"], "no such command 'rfresh'; did you mean 'refresh'?", "hkc"),
    "no such command, two close": (["refres"], "no such command 'refres'; did you mean one of 'referrals', "
                                               "'refresh'?", "hkc"),
    "no such subcommand": (["decisions", "export"], "no such command 'export'; did you mean 'import'?",
                           "hkc decisions"),
    "option without its value": (["explain", "P1", "--run"], "option '--run' requires an argument", "hkc explain"),
    "extra argument": (["history", "extra"], "got unexpected extra argument (extra)", "hkc history"),
    "bad pair": (["synth", "--out", "o", "--intel-bias", "Black"],
                 "invalid value for '--intel-bias': 'Black': expected GROUP=FACTOR, e.g. Black=2", "hkc synth"),
    "command's own usage rule": (["audit", "--input", "f.csv", "--score", "s", "--by", "g", "--out", "o"],
                                 "give exactly one of --threshold T or --selected COL", "hkc audit"),
}


@pytest.mark.parametrize("case", USAGE_CASES)
def test_a_usage_error_is_one_line_and_exit_code_2(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, problem, command = USAGE_CASES[case]
    assert one_error_line(run(*args)) == USAGE_ERROR.format(problem=problem, command=command)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_usage_error_is_one_line_under_debug_too(tmp_path):
    result = run("--debug", "synth", "--out", tmp_path / "o", "--until", "soon")
    assert one_error_line(result).startswith("invalid value for '--until': 'soon' is not a date")


@pytest.mark.parametrize("path", ["", *commands()])
def test_help_still_works_for_every_command(path):
    result = run(*path.split(), "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ") and result.stderr == ""


# -- --json --------------------------------------------------------------------------------------

KEY = "cli-vocabulary-test-key-0123456789-abcdefghijklmnop"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two stored refreshes (2026Q2, 2026Q3) of a small synthetic force, and their output folders."""
    root = tmp_path_factory.mktemp("json")
    config, data = quick_deployment(root, people=1500, seed=5, until=UNTIL)
    db = root / "h.db"
    for as_of in (Q2, UNTIL):
        result = run("refresh", data, "--as-of", as_of, "--out", root / str(as_of), "--db", f"sqlite:///{db}",
                     "--extract-date", UNTIL, "--config", config, env={"HKC_PSEUDONYM_KEY": KEY})
        assert result.exit_code == 0, result.output
    return {"root": root, "config": config, "data": data, "db": db, "url": f"sqlite:///{db}"}


def cohort(stored, as_of: dt.date) -> pd.DataFrame:
    return pd.read_csv(stored["root"] / str(as_of) / "cohort.csv", dtype={"person_id": str})


def as_json(*args) -> dict:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert all(line.startswith("definitions:") for line in result.stderr.splitlines()), result.stderr
    return json.loads(result.stdout)


def test_history_json_lists_the_stored_runs(stored):
    data = as_json("history", "--db", stored["url"], "--json")
    with sqlite3.connect(stored["db"]) as conn:
        rows = conn.execute("SELECT run_id, as_of, cohort_size, scored FROM runs ORDER BY as_of").fetchall()
    assert [(r["run_id"], r["as_of"], r["cohort_size"], r["scored"]) for r in data["runs"]] == rows
    assert [r["cohort_size"] for r in data["runs"]] == [len(cohort(stored, d)) for d in (Q2, UNTIL)]


def test_movement_json_holds_the_entries_exits_and_rag_changes_of_the_two_lists(stored):
    data = as_json("movement", "--from", "2026Q2", "--to", "2026Q3", "--db", stored["url"], "--json")
    before, after = cohort(stored, Q2), cohort(stored, UNTIL)
    entries = set(after["person_id"]) - set(before["person_id"])
    exits = set(before["person_id"]) - set(after["person_id"])
    assert {e["person_id"] for e in data["entries"]} == entries
    assert {e["person_id"] for e in data["exits"]} == exits and data["removed"] == len(exits)
    level = {"green": 1, "amber": 2, "red": 3}
    both = before.merge(after, on="person_id", suffixes=("_before", "_after"))
    reduced = int((both["rag_after"].map(level) < both["rag_before"].map(level)).sum())
    assert data["rag_reduced"] == reduced
    assert data["share_reduced_or_removed"] == pytest.approx((reduced + len(exits)) / len(before))
    assert (data["from"], data["to"]) == ("2026-06-30", "2026-09-30")


def test_explain_json_holds_the_score_and_every_point_behind_it(stored):
    top = cohort(stored, UNTIL).iloc[0]
    data = as_json("explain", top["person_id"], "--run", "2026Q3", "--purpose", "audit", "--db", stored["url"], "--json")
    assert data["score"]["risk_score"] == pytest.approx(top["risk_score"])
    risk = [c["points"] for c in data["contributions"] if c["axis"] == "risk"]
    assert round(sum(risk), 1) == pytest.approx(top["risk_score"])
    events = pd.read_csv(stored["data"] / "events.csv", dtype=str)
    theirs = set(events.loc[events["person_id"] == top["person_id"], "event_id"])
    assert data["evidence"] and {e["event_id"] for e in data["evidence"]} <= theirs


def test_sar_json_lists_every_run_that_listed_the_person(stored):
    before, after = cohort(stored, Q2), cohort(stored, UNTIL)
    leaver = sorted(set(before["person_id"]) - set(after["person_id"]))[0]
    data = as_json("sar", leaver, "--purpose", "subject access request", "--db", stored["url"], "--json")
    assert data["person_id"] == leaver and data["listed"]
    assert data["listed_on"] == ["2026-06-30"]
    scores = pd.read_parquet(stored["root"] / str(Q2) / "scores.parquet")
    expected = scores.loc[scores["person_id"] == leaver, "risk_score"].item()
    assert [r["risk_score"] for r in data["runs"] if r["as_of"] == "2026-06-30"] == [pytest.approx(expected)]
    assert data["disclosures"], "the partner pack that listed them is recorded as sent"


def test_purge_dry_run_json_counts_what_would_go_and_changes_nothing(stored):
    days = (dt.date.today() - dt.date(2026, 7, 1)).days  # the cut-off falls between the two runs
    data = as_json("purge", "--by", "records officer", "--older-than-days", days, "--dry-run",
                   "--db", stored["url"], "--json")
    with sqlite3.connect(stored["db"]) as conn:
        q2_run = conn.execute("SELECT run_id FROM runs WHERE as_of = '2026-06-30'").fetchone()[0]
        scores = conn.execute("SELECT count(*) FROM scores WHERE run_id = ?", (q2_run,)).fetchone()[0]
        runs_left = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        purges = conn.execute("SELECT count(*) FROM purges").fetchone()[0]
    assert data["dry_run"] is True and data["runs"] == 1 and data["cutoff"] == "2026-07-01"
    assert data["rows"]["scores"] == scores > 0
    assert (runs_left, purges) == (2, 0)
