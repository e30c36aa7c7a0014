"""``hkc demo``: four synthetic quarters, each refreshed from its own extract, interventions imported, evaluated.

One small demo (3,000 people, MLflow off, a 50-resample audit bootstrap) is run once for the module;
each test reads what it left: the quarter folders and their run.json, the history's runs and
interventions, the evaluation, and the report's lines against the figures in the files.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkc.dates import previous_quarter_end, quarter_end
from hkc.definitions import init_deployment, load_definitions
from hkc.demo import EARLIER_QUARTERS, WINDOW_DAYS, demo_quarters, earlier_quarters, evaluation_plan, run_demo
from hkc.errors import OutputError
from hkc.evaluation import signed_percent
from hkc.history import known_person_ids, open_store, stored_interventions

TODAY = dt.date(2026, 12, 3)
QUARTERS = [dt.date(2025, 12, 31), dt.date(2026, 3, 31), dt.date(2026, 6, 30), dt.date(2026, 9, 30)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("demo")
    init_deployment(root / "force")
    config = root / "force" / "config" / "hkc.toml"
    config.write_text(re.sub(r"(\[tracking\][^\[]*?)enabled = true", r"\1enabled = false", config.read_text(),
                             count=1))
    spec = root / "force" / "audits" / "fairness.toml"
    spec.write_text(re.sub(r"(?m)^resamples = \d+", "resamples = 50", spec.read_text()))
    definitions = load_definitions(config=config)
    assert not definitions.settings.tracking.enabled
    out = root / "out"
    lines = list(run_demo(out, people=3000, seed=7, today=TODAY, definitions=definitions))
    return out, lines


def _run_json(out: Path, day: dt.date) -> dict:
    return json.loads((out / day.isoformat() / "run.json").read_text())


def test_each_quarter_is_refreshed_from_its_own_extract(demo):
    out, _ = demo
    assert demo_quarters(TODAY) == QUARTERS
    runs = [_run_json(out, day) for day in QUARTERS]
    for day, run in zip(QUARTERS, runs, strict=True):
        assert run["as_of"] == run["extract_date"] == day.isoformat()
        assert Path(run["data_dir"]) == (out / "extracts" / day.isoformat()).resolve()
    assert len({run["inputs_sha256"] for run in runs}) == 4     # four different extracts, not one read four times
    assert [run["previous_as_of"] for run in runs] == [None, *(d.isoformat() for d in QUARTERS[:-1])]
    assert (out / "extracts" / "_truth" / "treatment.csv").is_file()
    assert (out / "extracts" / "_truth" / "people.csv").is_file()
    assert earlier_quarters(out / "extracts", QUARTERS) == []       # so the same demo can run again into it
    assert earlier_quarters(out / "extracts", QUARTERS[1:]) == ["2025-12-31"]


def test_the_history_holds_the_four_runs(demo):
    out, _ = demo
    stored = open_store(f"sqlite:///{out / 'history.db'}", create=False).list_runs()
    assert sorted(r.as_of for r in stored) == QUARTERS
    assert {r.as_of: r.cohort_size for r in stored} == {d: _run_json(out, d)["cohort_size"] for d in QUARTERS}


def test_interventions_are_imported_for_people_the_history_scored_and_listed(demo):
    out, lines = demo
    store = open_store(f"sqlite:///{out / 'history.db'}", create=False)
    stored = stored_interventions(store)
    assert len(stored) > 0
    assert set(stored["person_id"]) <= known_person_ids(store, stored["person_id"])
    source = pd.read_csv(out / "extracts" / "interventions.csv", dtype=str, keep_default_na=False)
    kept = source[source["person_id"].isin(known_person_ids(store, source["person_id"]))]
    assert len(stored) == len(kept)
    # the meeting adopted from the list the refresh of the quarter just ended made
    for start, rows in stored.groupby("start_date"):
        day = dt.date.fromisoformat(str(start)[:10]) - dt.timedelta(days=1)
        listed = set(pd.read_csv(out / day.isoformat() / "cohort.csv", dtype=str)["person_id"])
        assert set(rows["person_id"]) <= listed
    assert any(line.startswith(f"interventions: {len(stored):,} imported") for line in lines)


def test_the_evaluation_is_written_with_every_design(demo):
    out, _ = demo
    result = json.loads((out / "evaluation" / "evaluation.json").read_text())
    cohorts, window = evaluation_plan(QUARTERS)
    assert result["cohorts"] == [d.isoformat() for d in cohorts] == ["2025-12-31", "2026-03-31"]
    assert result["window_days"] == window == WINDOW_DAYS
    assert set(result["designs"]) == {"naive_prepost", "did_near_miss", "matched", "rd_cutoff"}
    assert (out / "evaluation" / "evaluation.html").is_file()


def test_the_report_says_the_figures_the_files_hold(demo):
    out, lines = demo
    text = "\n".join(lines)
    result = json.loads((out / "evaluation" / "evaluation.json").read_text())
    naive = result["designs"]["naive_prepost"]
    assert naive["available"]
    naive_line = next(line for line in lines if "simple before/after shows" in line)
    assert signed_percent(naive["estimate"]) in naive_line and "not an effect estimate" in naive_line
    assert result["verdict"][0] in text                          # the primary design in the verdict's own words
    for day in QUARTERS:
        run = _run_json(out, day)
        assert f"quarter {day}: {run['cohort_size']} listed of {run['eligible']:,} eligible" in text
    assert "synthetic" in text and "30%" in text and "12 months" in text
    assert str(out.resolve() / "evaluation" / "evaluation.html") in text
    assert (f"hkc evaluate {out.resolve() / 'extracts' / '2026-09-30'} --cohorts 2025Q4..2026Q1 --window 182 "
            f"--out {out.resolve() / 'evaluation'} --db sqlite:///{out.resolve() / 'history.db'} "
            f"--extract-date 2026-09-30") in text


@given(st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_the_quarters_are_the_last_four_before_today_and_the_window_fits(today):
    quarters = demo_quarters(today)
    assert quarters[-1] == previous_quarter_end(today) < today
    assert all(quarter_end(q) == q for q in quarters)
    assert [previous_quarter_end(q) for q in quarters[1:]] == quarters[:-1]
    cohorts, window = evaluation_plan(quarters)
    assert cohorts == quarters[:2]
    assert 181 <= window <= WINDOW_DAYS and cohorts[-1] + dt.timedelta(days=window) <= quarters[-1]


def test_an_earlier_demos_folder_of_other_quarters_is_refused_before_anything_is_replaced(tmp_path):
    out = tmp_path / "demo"
    (out / "extracts" / "2020-03-31").mkdir(parents=True)
    (out / "extracts" / "2020-03-31" / "people.csv").write_text("person_id\n")
    (out / "history.db").write_bytes(b"an earlier demo's history")
    with pytest.raises(OutputError) as refused:
        list(run_demo(out, people=3000, today=TODAY))
    assert str(refused.value) == EARLIER_QUARTERS.format(folder=out.resolve() / "extracts", stray="2020-03-31")
    assert (out / "history.db").read_bytes() == b"an earlier demo's history"
    assert not (out / "extracts" / "_truth").exists()
