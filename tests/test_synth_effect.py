"""A synthetic force with a known effect (issue 13, part 4): the matrix lists on each extract, the meeting
adopts, and the adopted people's later knife offending is thinned before the next extract is cut — so the
truth (who was treated, which events were removed) accounts exactly for what the extracts show."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import _synth_effect, main
from hkc.history import open_store, stored_interventions
from hkc.synth import Effect, generate_quarters, outcome_counts, parse_quarters, true_effect, write_quarters
from tests.builders import offline_definitions
from tests.test_history_store import frames, save

QUARTERS = parse_quarters("2024Q3..2025Q4")
ARGS = ["--people", "4000", "--seed", "7", "--quarters", "2024Q3..2025Q4"]


@pytest.fixture(scope="module")
def definitions():
    return offline_definitions()


def _truth(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in (folder / "_truth").glob("*.csv")}


def _cli(out: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["synth", "--out", str(out), *args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory, definitions):
    """One force (seed 7) without a programme's effect (0), with 0.3, and with 1 adopting everyone listed
    (through the CLI)."""
    root = tmp_path_factory.mktemp("effect")
    _cli(root / "1", *ARGS, "--effect", "1", "--adopt-rate", "1")
    forces = {}
    for size in (0.0, 0.3):
        force = generate_quarters(people=4000, seed=7, quarters=QUARTERS, catalogue=definitions.catalogue,
                                  effect=_synth_effect(definitions, size, None, None))
        write_quarters(force, root / str(size))
        forces[size] = force
    return {"0": root / "0.0", "0.3": root / "0.3", "1": root / "1", "forces": forces}


def _windows(treatment: pd.DataFrame) -> pd.DataFrame:
    adopted = treatment[treatment["adopted"] == "true"]
    return adopted[["person_id", "quarter", "effect_start", "effect_end"]]


def _in_a_window(events: pd.DataFrame, windows: pd.DataFrame) -> pd.Series:
    pairs = events.reset_index().merge(windows, on="person_id")
    inside = (pairs["date"] >= pairs["effect_start"]) & (pairs["date"] <= pairs["effect_end"])
    hit = set(pairs.loc[inside, "index"])
    return pd.Series(events.index.isin(hit), index=events.index)


def _outcome(events: pd.DataFrame, definitions) -> pd.Series:
    o = definitions.settings.outcome
    return events["type"].isin(o.types) & events["role"].isin(o.roles)


def test_an_effect_of_one_removes_every_outcome_event_of_the_treated_in_their_windows_and_nothing_else(runs,
                                                                                                    definitions):
    truth, null = _truth(runs["1"]), _truth(runs["0"])
    events, removed = truth["events"], truth["removed_events"]
    windows = _windows(truth["treatment"])
    assert len(windows) > 20 and len(removed) > 10
    # counterfactual = observed + removed: together they are exactly the history without a programme
    assert set(events["event_id"]).isdisjoint(removed["event_id"])
    assert sorted([*events["event_id"], *removed["event_id"]]) == sorted(null["events"]["event_id"])
    # every removed event is an outcome event of a treated person inside one of their effect windows ...
    assert _outcome(removed, definitions).all() and _in_a_window(removed, windows).all()
    # ... and with effect 1 no such event is left
    assert not (_outcome(events, definitions) & _in_a_window(events, windows)).any()
    assert (truth["treatment"]["adopted"] == "true").all()  # --adopt-rate 1
    # so the effect on the treated is exactly -100% (12 months cover the 365-day window)
    observed, counterfactual = _from_files(truth, definitions)["treated"]
    assert observed == 0 and counterfactual >= len(removed)  # a person listed twice counts in both windows


def test_the_extracts_lose_the_removed_events_only_after_the_meeting_that_removed_them(runs):
    truth = _truth(runs["1"])
    removed = truth["removed_events"]
    assert (removed["date"] > removed["removed_after"]).all()
    gone = set(removed["event_id"])
    for d in QUARTERS:
        held = set(pd.read_csv(runs["1"] / d.isoformat() / "events.csv", dtype=str)["event_id"])
        null = set(pd.read_csv(runs["0"] / d.isoformat() / "events.csv", dtype=str)["event_id"])
        assert held == null - gone  # each extract is the history without a programme, less what it removed
        if d == QUARTERS[0]:
            assert held == null  # nothing is removed before the first meeting
    assert len(null & gone) > 0  # the last extract would have held some of them


def test_effect_zero_removes_nothing_and_meets_as_the_effect_does(runs):
    null, treated = _truth(runs["0"]), _truth(runs["0.3"])
    assert null["removed_events"].empty
    assert len(treated["removed_events"]) > 0
    first = QUARTERS[0].isoformat()
    a, b = (t["treatment"] for t in (null, treated))
    assert a[a["quarter"] == first].reset_index(drop=True).equals(
        b[b["quarter"] == first].reset_index(drop=True))  # the same first meeting
    both = a.merge(b, on=["quarter", "person_id"], suffixes=("_null", "_effect"))
    assert len(both) >= 0.8 * len(a)  # later lists differ a little: the effect lowers the treated's scores
    assert (both["adopted_null"] == both["adopted_effect"]).all()  # the same decision for anyone both list
    share = (a["adopted"] == "true").mean()
    assert 0.55 < share < 0.85  # the default adoption rate, 0.7
    settings = dict(zip(null["settings"]["setting"], null["settings"]["value"], strict=True))
    assert settings["effect"] == "0.0" and settings["adopt_rate"] == "0.7" and settings["effect_months"] == "12"


def test_an_effect_of_0_3_thins_about_that_share_of_the_window_events(runs, definitions):
    truth, null = _truth(runs["0.3"]), _truth(runs["0"])
    windows = _windows(truth["treatment"])
    every = pd.concat([truth["events"], truth["removed_events"].drop(columns="removed_after")], ignore_index=True)
    at_risk = every[_outcome(every, definitions) & _in_a_window(every, windows)]
    share = at_risk["event_id"].isin(truth["removed_events"]["event_id"]).mean()
    assert len(at_risk) > 25 and 0.1 < share < 0.55  # binomial(34, 0.3): 0.1 and 0.55 are 2.5 sd out
    assert _in_a_window(truth["removed_events"], windows).all()
    assert sorted(every["event_id"]) == sorted(null["events"]["event_id"])


def _from_files(truth: dict[str, pd.DataFrame], definitions) -> dict[str, tuple[int, int]]:
    """(observed, counterfactual) outcome events in the 365 days after each listing, by group, from the truth files."""
    every = pd.concat([truth["events"], truth["removed_events"].drop(columns="removed_after")], ignore_index=True)
    every = every[_outcome(every, definitions)]
    gone = set(truth["removed_events"]["event_id"])
    listings = truth["treatment"]
    out = {}
    for group, rows in (("treated", listings[listings["adopted"] == "true"]), ("listed", listings)):
        observed = counterfactual = 0
        for quarter, who in rows.groupby("quarter"):
            end = (dt.date.fromisoformat(quarter) + dt.timedelta(days=365)).isoformat()
            mine = every[every["person_id"].isin(who["person_id"]) & (every["date"] > quarter) & (every["date"] <= end)]
            counterfactual += len(mine)
            observed += int((~mine["event_id"].isin(gone)).sum())
        out[group] = (observed, counterfactual)
    return out


def test_the_true_effect_agrees_with_the_truth_files(runs, definitions):
    force = runs["forces"][0.3]
    expected = _from_files(_truth(runs["0.3"]), definitions)
    got = true_effect(force.treatment, QUARTERS)
    for group in ("treated", "listed"):
        assert (got[group]["observed"], got[group]["counterfactual"]) == expected[group]
        assert got[group]["effect"] == pytest.approx(expected[group][0] / expected[group][1] - 1)
    assert -0.6 < got["treated"]["effect"] < -0.1  # about -0.3: a planted truth, drawn event by event
    # the same by the ids the extracts held them under (how a benchmark finds the truth of a panel's rows)
    listings = _truth(runs["0.3"])["treatment"]
    observed, counterfactual = outcome_counts(force.treatment, listings["listed_id"],
                                              [dt.date.fromisoformat(q) for q in listings["quarter"]])
    assert (int(observed.sum()), int(counterfactual.sum())) == expected["listed"]
    assert outcome_counts(force.treatment, ["NOBODY"], [QUARTERS[0]]) == (0, 0)


def test_the_same_seed_and_effect_give_the_same_files(tmp_path):
    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".hkc-output"}

    small = ["--people", "2000", "--seed", "3", "--quarters", "2025Q1..2025Q2", "--effect", "0.5"]
    _cli(tmp_path / "a", *small)
    _cli(tmp_path / "b", *small)
    first, second = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert "interventions.csv" in first and "_truth/treatment.csv" in first
    assert first == second


def test_the_interventions_file_is_what_the_meeting_adopted_and_imports_cleanly(runs, tmp_path, definitions):
    folder = runs["0.3"]
    ivs = pd.read_csv(folder / "interventions.csv", dtype=str, keep_default_na=False)
    assert ivs.equals(_truth(folder)["interventions"])
    treatment = _truth(folder)["treatment"]
    adopted = treatment[treatment["adopted"] == "true"]
    assert sorted(ivs["person_id"]) == sorted(adopted["listed_id"])
    assert set(ivs["start_date"]) <= {(d + dt.timedelta(days=1)).isoformat() for d in QUARTERS}
    # one row per adoption, each to the effect's planned end (empty when that is after the last extract), cut
    # to the day before the same person's next adoption (under whichever id), so one person's rows never overlap
    last = QUARTERS[-1].isoformat()
    rows = ivs.merge(adopted.assign(start_date=[(dt.date.fromisoformat(q) + dt.timedelta(days=1)).isoformat()
                                                for q in adopted["quarter"]]),
                     left_on=["person_id", "start_date"], right_on=["listed_id", "start_date"], suffixes=("", "_true"))
    assert len(rows) == len(ivs)
    for _, mine in rows.groupby("person_id_true"):
        mine = mine.sort_values("start_date")
        following = [*mine["start_date"].iloc[1:], None]
        for (_, row), after in zip(mine.iterrows(), following, strict=True):
            planned = row["effect_end"]
            if after is not None and after <= planned:
                assert row["end_date"] == (dt.date.fromisoformat(after) - dt.timedelta(days=1)).isoformat()
            else:
                assert row["end_date"] == ("" if planned > last else planned)
    # a history that has scored those people takes the file whole
    url = f"sqlite:///{tmp_path / 'h.db'}"
    ids = sorted(set(ivs["person_id"]))
    sent = frames(len(ids))
    rename = {f"P{i:06d}": pid for i, pid in enumerate(ids)}
    save(open_store(url), **{name: frame.assign(person_id=frame["person_id"].replace(rename))
                             for name, frame in sent.items()})
    result = CliRunner().invoke(main, ["interventions", "import", str(folder / "interventions.csv"), "--by",
                                       "test", "--db", url])
    assert result.exit_code == 0, result.output
    stored = stored_interventions(open_store(url, create=False))
    assert len(stored) == len(ivs) and sorted(stored["person_id"]) == sorted(ivs["person_id"])


@pytest.mark.parametrize(("args", "words"), [
    (["--effect", "0.3"], "--effect works only with --quarters"),
    (["--quarters", "2025Q1", "--adopt-rate", "0.5"], "--adopt-rate works only with --effect"),
    (["--quarters", "2025Q1", "--effect-months", "6"], "--effect-months works only with --effect"),
    (["--quarters", "2025Q1", "--effect", "1.5"], "--effect"),
])
def test_the_effect_options_are_refused_where_they_mean_nothing(tmp_path, args, words):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "x"), "--people", "50", *args])
    assert result.exit_code == 2 and words in result.output


@pytest.mark.parametrize(("change", "words"), [
    ({"size": 1.5}, "effect size must be a fraction"), ({"adopt_rate": -0.1}, "adopt_rate must be a fraction"),
    ({"months": 0}, "months must be a whole number"), ({"outcome_types": ("knife_fight",)}, "unknown type"),
    ({"outcome_roles": ("bystander",)}, "unknown type or role 'bystander'"),
])
def test_a_bad_effect_is_refused_in_one_line(catalogue, change, words):
    effect = Effect(**({"size": 0.3, "lister": lambda folder, date: [], "outcome_types": ("knife_possession",),
                        "outcome_roles": ("offender",)} | change))
    with pytest.raises(ValueError, match=words):
        generate_quarters(people=50, seed=1, quarters=QUARTERS, catalogue=catalogue, effect=effect)


def test_without_an_effect_the_force_is_unchanged(catalogue, tmp_path):
    plain = generate_quarters(people=300, seed=2, quarters=QUARTERS[:2], catalogue=catalogue)
    nobody = generate_quarters(people=300, seed=2, quarters=QUARTERS[:2], catalogue=catalogue,
                               effect=Effect(size=1.0, lister=lambda folder, date: [], outcome_types=("knife_possession",),
                                             outcome_roles=("offender",)))
    write_quarters(plain, tmp_path / "plain")
    write_quarters(nobody, tmp_path / "nobody")
    for d in QUARTERS[:2]:
        for name in ("people.csv", "events.csv"):
            assert (tmp_path / "plain" / d.isoformat() / name).read_bytes() == \
                   (tmp_path / "nobody" / d.isoformat() / name).read_bytes()
    assert not (tmp_path / "plain" / "interventions.csv").exists()
    assert np.sum(nobody.treatment.removed) == 0
