"""The refresh on a synthetic force with planted people: the issue's "done when" on realistic data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from hkc.definitions.catalogue import AXES
from hkc.matrix.scoring import REASONS
from hkc.refresh import run_refresh
from hkc.synth import generate_force, write_force
from tests.builders import ExtractBuilder, offline_definitions

Q2 = dt.date(2026, 6, 30)
Q3 = dt.date(2026, 9, 30)
WEAPON_TYPES = ("knife_violence", "knife_possession", "search_weapon_found", "knife_intel")


@pytest.fixture(scope="module")
def definitions():
    return offline_definitions()


def planted(definitions, *, as_of: dt.date) -> ExtractBuilder:
    """PLANT-n: every weapon-related type at its frequency cap, convicted (intelligence graded A1),
    in the last fortnight.  STALE-n: the same, 280 days before Q2 (so more than 365 before Q3)."""
    b = ExtractBuilder(as_of)
    for n in range(3):
        b.person(f"PLANT-{n}", age=15 + n)
        b.person(f"STALE-{n}", age=15 + n)  # 15-17: inside the default ages 10-17
        for code in WEAPON_TYPES:
            ind = definitions.catalogue.indicators[code]
            evidence = {"outcome": "convicted"} if ind.evidence == "outcome" else \
                {"grade": "A1"} if ind.evidence == "grade" else {}
            for k in range(ind.frequency_cap):
                b.event(f"PLANT-{n}", code, days_ago=k + n, event_id=f"PL-{n}-{code}-{k}", **evidence)
                b.event(f"STALE-{n}", code, days_ago=(as_of - Q2).days + 280 + k, event_id=f"ST-{n}-{code}-{k}",
                        **evidence)
    return b


@pytest.fixture(scope="module")
def two_refreshes(tmp_path_factory, definitions):
    tmp = tmp_path_factory.mktemp("synthetic")
    force = generate_force(people=5000, seed=11, until=Q3, catalogue=definitions.catalogue)
    extra_people, extra_events = planted(definitions, as_of=Q3).frames()
    force.people = pd.concat([force.people, extra_people[force.people.columns]], ignore_index=True)
    force.events = pd.concat([force.events, extra_events[force.events.columns]], ignore_index=True)
    data = tmp / "extract"
    write_force(force, data)
    db = f"sqlite:///{tmp / 'history.db'}"
    results = {as_of: run_refresh(data, as_of=as_of, out=tmp / str(as_of), definitions=definitions, db_url=db,
                                  extract_date=Q3) for as_of in (Q2, Q3)}
    return force, results


def test_planted_recent_convicted_carriers_rank_above_everyone_else(two_refreshes):
    _, results = two_refreshes
    members = results[Q3].members
    assert set(members["person_id"].head(3)) == {"PLANT-0", "PLANT-1", "PLANT-2"}
    scores = results[Q3].scored.scores
    others = scores[~scores["person_id"].str.startswith("PLANT-")]
    assert members["risk_score"].head(3).min() > others["risk_score"].max()


def test_victim_only_people_score_zero_risk_and_are_never_listed(two_refreshes, definitions):
    _, results = two_refreshes
    for result in results.values():
        scores = result.scored.scores
        contrib = result.scored.contributions
        risk_people = set(contrib.loc[contrib["axis"] == AXES[0], "person_id"])
        vulnerability_only = scores[~scores["person_id"].isin(risk_people) & (scores["vulnerability_score"] > 0)]
        assert len(vulnerability_only) > 100  # the synthetic force has many such people
        assert (vulnerability_only["risk_score"] == 0).all()
        assert not vulnerability_only["person_id"].isin(result.members["person_id"]).any()
        assert not vulnerability_only["eligible"].any()
        e = definitions.settings.eligibility
        in_age = vulnerability_only["age"].between(e.min_age, e.max_age)
        assert in_age.sum() > 50
        assert (vulnerability_only.loc[in_age, "reason"] == REASONS["vulnerability_only"]).all()


def test_stale_weapon_history_is_removed_with_the_reason(two_refreshes, definitions):
    _, results = two_refreshes
    listed_before = set(results[Q2].members["person_id"])
    assert {"STALE-0", "STALE-1", "STALE-2"} <= listed_before
    assert not set(results[Q3].members["person_id"]) & {"STALE-0", "STALE-1", "STALE-2"}
    removed = results[Q3].removed.set_index("person_id")
    labels = {i.label for code, i in definitions.catalogue.indicators.items() if code in WEAPON_TYPES}
    for n in range(3):  # every weapon type's first event is (Q3 - Q2) + 280 days old: any may be named
        age = (Q3 - Q2).days + 280
        assert removed.loc[f"STALE-{n}", "reason"] in {
            REASONS["stale_weapon"].format(age=age, days=365, event=f"{label}{note}")
            for label in labels for note in ("", ", convicted", ", A1")}


def test_every_cohort_member_has_contributions_summing_to_the_score(two_refreshes, definitions):
    _, results = two_refreshes
    result = results[Q3]
    contrib = result.scored.contributions
    risk = contrib[contrib["axis"] == "risk"]
    for row in result.members.itertuples():
        mine = risk[(risk["person_id"] == row.person_id) & (risk["points"] > 0)]
        assert row.risk_score == pytest.approx(mine["points"].sum(), abs=1e-6)
        named = {part.split(" ×")[0].lower() for part in row.rationale.split("; ")}
        assert named == {definitions.catalogue.indicators[c].label.lower() for c in mine["indicator"].astype(str)}


def test_movement_is_computed_against_the_previous_quarter(two_refreshes):
    _, results = two_refreshes
    movement = results[Q3].members["movement"]
    assert set(movement) <= {"new", "up", "down", "same"}
    carried = set(results[Q3].members["person_id"]) & set(results[Q2].members["person_id"])
    assert (results[Q3].members.loc[~results[Q3].members["person_id"].isin(carried), "movement"] == "new").all()
    assert len(results[Q3].removed) == len(results[Q2].members) - len(carried)


def test_the_pack_draws_each_peer_group_and_lists_periphery_and_places(tmp_path_factory, definitions):
    tmp = tmp_path_factory.mktemp("groups")
    force = generate_force(people=20000, seed=6, until=Q3, catalogue=definitions.catalogue)
    write_force(force, tmp / "extract")
    result = run_refresh(tmp / "extract", as_of=Q3, out=tmp / "out", definitions=definitions,
                         db_url=f"sqlite:///{tmp / 'h.db'}", extract_date=Q3)
    groups = result.peers.peer_groups["peer_group"].nunique()
    assert groups >= 1
    html = (tmp / "out" / "cohort.html").read_text()
    assert html.count('role="img" aria-label="peer group') == min(groups, 12)
    assert len(pd.read_csv(tmp / "out" / "periphery.csv")) == len(result.peers.periphery) > 0
    assert len(pd.read_csv(tmp / "out" / "places.csv")) > 0
