"""Extracts that cannot support the score (issue #12, part 3): refused in one line, or accepted with a named flag
that the run records."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from tests.builders import ROOT

CONFIG = str(ROOT / "config" / "hkc.toml")


def cli(*args):
    return CliRunner().invoke(main, [*args, "--config", CONFIG] if args[0] in ("refresh", "validate") else list(args))


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coverage")
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp / "full"), "--people", "1200", "--seed", "3",
                                       "--until", "2026-09-30"])
    assert result.exit_code == 0, result.output
    return tmp / "full"


def _copy(full, folder, *, events=None, people=None):
    folder.mkdir()
    (people if people is not None else pd.read_csv(full / "people.csv", dtype=str)).to_csv(folder / "people.csv",
                                                                                             index=False)
    (events if events is not None else pd.read_csv(full / "events.csv", dtype=str)).to_csv(folder / "events.csv",
                                                                                             index=False)
    return folder


def refresh(data, out, db, *flags, as_of="2026-09-30"):
    return cli("refresh", str(data), "--as-of", as_of, "--extract-date", as_of, "--out", str(out), "--db", db,
               "--no-partner-pack", *flags)


def test_a_delta_export_is_refused_in_one_line_and_runs_when_accepted(full, tmp_path):
    events = pd.read_csv(full / "events.csv", dtype=str)
    delta = _copy(full, tmp_path / "delta", events=events[events["date"] >= "2026-01-01"])  # nine months
    db = f"sqlite:///{tmp_path / 'h.db'}"
    refused = refresh(delta, tmp_path / "o1", db)
    assert refused.exit_code == 2
    last = refused.output.strip().splitlines()[-1]
    assert last.startswith("error: the extract's earliest event is on 2026-01-0") and "--accept-short-history" in last
    assert not (tmp_path / "o1" / "run.json").exists()  # nothing written, nothing stored
    assert json.loads(CliRunner().invoke(main, ["history", "--db", db, "--json"]).stdout)["runs"] == []
    ran = refresh(delta, tmp_path / "o2", db, "--accept-short-history")
    assert ran.exit_code == 0, ran.output
    checks = json.loads((tmp_path / "o2" / "run.json").read_text())["checks"]
    assert [a["check"] for a in checks["accepted"]] == ["short_history"]
    assert checks["accepted"][0]["flag"] == "--accept-short-history"


def test_an_as_of_date_long_after_the_last_event_is_refused_and_runs_when_accepted(full, tmp_path):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    refused = refresh(full, tmp_path / "o1", db, as_of="2027-03-31")
    assert refused.exit_code == 2 and "182 days after the extract's latest event (2026-09-30)" in refused.output
    ran = refresh(full, tmp_path / "o2", db, "--accept-stale", as_of="2027-03-31")
    assert ran.exit_code == 0, ran.output
    assert [a["check"] for a in json.loads((tmp_path / "o2" / "run.json").read_text())["checks"]["accepted"]] == \
        ["stale"]


def test_an_extract_that_lost_a_third_of_its_people_since_the_last_run_is_refused(full, tmp_path):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    assert refresh(full, tmp_path / "q2", db, as_of="2026-06-30").exit_code == 0
    people = pd.read_csv(full / "people.csv", dtype=str)
    events = pd.read_csv(full / "events.csv", dtype=str)
    kept = people.iloc[: int(len(people) * 0.65)]
    partial = _copy(full, tmp_path / "partial", people=kept, events=events[events["person_id"].isin(kept["person_id"])])
    refused = refresh(partial, tmp_path / "q3", db)
    assert refused.exit_code == 2
    assert "people fell from" in refused.output and "--accept-shrink" in refused.output
    ran = refresh(partial, tmp_path / "q3b", db, "--accept-shrink")
    assert ran.exit_code == 0, ran.output
    accepted = json.loads((tmp_path / "q3b" / "run.json").read_text())["checks"]["accepted"]
    assert {a["check"] for a in accepted} == {"shrunk"} and "people fell from" in accepted[0]["message"]


def test_a_full_extract_passes_every_check_and_validate_says_so(full, tmp_path):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    ran = refresh(full, tmp_path / "o", db)
    assert ran.exit_code == 0, ran.output
    assert json.loads((tmp_path / "o" / "run.json").read_text())["checks"] == {"accepted": [], "notes": []}
    said = cli("validate", str(full), "--extract-date", "2026-09-30")
    assert said.exit_code == 0 and "the extract covers the history the score needs and is not stale" in said.output


def test_a_handful_of_events_is_not_judged_for_coverage_and_the_run_says_so(tmp_path):
    import datetime as dt

    from tests.builders import ExtractBuilder

    b = ExtractBuilder(dt.date(2026, 9, 30))
    b.person("A").event("A", "knife_possession", days_ago=40, outcome="convicted")
    data = b.write(tmp_path / "tiny")
    ran = refresh(data, tmp_path / "o", f"sqlite:///{tmp_path / 'h.db'}")
    assert ran.exit_code == 0, ran.output
    notes = json.loads((tmp_path / "o" / "run.json").read_text())["checks"]["notes"]
    assert notes == ["coverage and freshness not judged: 1 events (fewer than 1,000) say nothing about the span an "
                     "extract covers"]
