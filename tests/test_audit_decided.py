"""What is decided, audited: the periphery, the meeting's decisions, referrals, additions and removals, and who
was ever listed or adopted over the last four runs (issue #16, part 2 and the cumulative audits of part 1).

Planted truths: a county of 600 eligible people with a cohort of 50, where three small minority
groups (1% each) are over-selected 3 times in every quarter — one quarter's comparison cannot be
assessed (too few people), the cumulative "ever listed" comparison finds the bias, and the same
county without the bias is not flagged; a group declined at a planted higher rate is flagged and
one declined at the same rate is not; additions and removals by group counted a second way.  The
history queries run on a real SQLite store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from hkc.audit.decided import (
    NO_EARLIER_RUN,
    NOT_IN_EXTRACT,
    attach_groups,
    changes_audit,
    cumulative_audit,
    decided_audits,
    decisions_audit,
    periphery_audit,
)
from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.audit.sections import decided_sections, map_sections, selected_shares
from hkc.definitions.audit_spec import AuditSpec
from hkc.history.listings import decisions_for_runs, recent_listings, recent_runs
from hkc.history.store import open_store

POOLED = "ethnicity (pooled)"
MINORITY = "Minority ethnic (pooled)"
QUARTERS = ["2025-12-31", "2026-03-31", "2026-06-30", "2026-09-30"]


def spec(resamples: int = 50) -> AuditSpec:
    base = AuditSpec()
    return dataclasses.replace(base, bootstrap=dataclasses.replace(base.bootstrap, resamples=resamples, seed=3))


SPEC = spec()


def row(result: dict, attr: str, group: str) -> dict:
    return next(g for g in result["attributes"][attr]["groups"] if g["group"] == group)


def county(seed: int, bias: float, *, eligible: int = 600, cohort: int = 50,
           shares: tuple[float, ...] = (0.97, 0.01, 0.01, 0.01)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four quarters of a county: ``eligible`` people eligible each quarter (a tenth new each quarter), a
    cohort of ``cohort`` drawn each quarter, each minority person ``bias`` times as likely as a White one.

    Returns the current extract's groups (``person_id, ethnicity``) and the listings
    (``as_of, person_id, eligible, in_cohort``)."""
    rng = np.random.default_rng(seed)
    total = int(eligible * 1.4)
    ethnicity = rng.choice(["White", "Asian", "Black", "Mixed"], total, p=list(shares))
    ids = np.array([f"P{i:05d}" for i in range(total)], dtype=object)
    weight = np.where(ethnicity == "White", 1.0, bias)
    rows = []
    for q, as_of in enumerate(QUARTERS):
        pool = np.arange(q * eligible // 10, q * eligible // 10 + eligible)
        chosen = rng.choice(pool, cohort, replace=False, p=weight[pool] / weight[pool].sum())
        rows.append(pd.DataFrame({"as_of": as_of, "person_id": ids[pool], "eligible": True,
                                  "in_cohort": np.isin(pool, chosen)}))
    return pd.DataFrame({"person_id": ids, "ethnicity": ethnicity}), pd.concat(rows, ignore_index=True)


def one_quarter(groups: pd.DataFrame, listings: pd.DataFrame) -> dict:
    """The cohort's own audit of the last quarter alone (as the refresh audits it, among the eligible)."""
    last = listings[listings["as_of"] == QUARTERS[-1]].merge(groups, on="person_id")
    return audit_selection(last, selected="in_cohort", by=["ethnicity"], spec=SPEC, selection_label="in the cohort")


def raised(result: dict) -> list[dict]:
    """Selection flags of minority groups (one by one or pooled) that say they are selected more often."""
    return [f for f in result["flags"] if f["metric"] == "selection_rate" and f["ratio"] > 1
            and f["attribute"] in ("ethnicity", POOLED)]


# --------------------------------------------------------------------------------------------
# Cumulative: ever listed over four quarters


def test_a_bias_one_quarter_cannot_assess_is_flagged_by_ever_listed():
    groups, listings = county(seed=0, bias=3.0)
    single = one_quarter(groups, listings)
    for g in ("Asian", "Black", "Mixed"):
        assert row(single, "ethnicity", g)["selected"] < 10 and row(single, "ethnicity", g)["flags"] == []
    pooled = row(single, POOLED, MINORITY)
    assert pooled["flags"] == [] and pooled["unassessed"] == ["selection_rate"]  # 4 of 23: cannot be assessed

    result = cumulative_audit(groups, listings, None, SPEC)
    assert result["runs"] == QUARTERS
    section = result["ever_listed"]
    assert section["available"] is True and section["not_in_extract"] == {"n": 0, "selected": 0}
    audit = section["audit"]
    ever = row(audit, POOLED, MINORITY)
    assert "selection_rate" in ever["flags"] and ever["ratio_ci"]["selection_rate"][0] > 1
    # counted a second way: everyone eligible in any quarter, listed in any quarter
    people = listings.groupby("person_id")["in_cohort"].any().rename("ever").reset_index().merge(groups)
    minority = people[people["ethnicity"] != "White"]
    assert (ever["n"], ever["selected"]) == (len(minority), int(minority["ever"].sum()))
    assert audit["n"] == len(people)
    assert any(s.startswith("People of all minority ethnic groups together") and "listed at least once" in s
               and "the eligible population of the 4 runs from 2025-12-31 to 2026-09-30" in s
               for s in audit["findings"])


def test_the_same_county_without_the_bias_is_not_flagged():
    groups, listings = county(seed=0, bias=1.0)
    audit = cumulative_audit(groups, listings, None, SPEC)["ever_listed"]["audit"]
    assert audit["flags"] == []


def test_over_ten_counties_ever_listed_finds_the_bias_more_often_than_one_quarter_and_invents_none():
    found = single = invented = 0
    for seed in range(10):
        groups, listings = county(seed, 3.0)
        found += bool(raised(cumulative_audit(groups, listings, None, SPEC)["ever_listed"]["audit"]))
        single += bool(raised(one_quarter(groups, listings)))
        unbiased = county(seed, 1.0)
        invented += bool(cumulative_audit(*unbiased, None, SPEC)["ever_listed"]["audit"]["flags"])
    assert found >= 8  # 9 of these 10 (17 of 20 seeds)
    assert single <= found - 3  # one quarter: 4 of these 10
    assert invented <= 1  # none of these 10


def test_with_the_age_range_population_unequal_eligibility_is_seen_when_everyone_eligible_is_listed():
    # 2,000 people in the age range, 200 of minority ethnic groups; each quarter a minority person is three
    # times as likely to be eligible, and everyone eligible is listed (the cap is not reached)
    rng = np.random.default_rng(5)
    ids = np.array([f"P{i:04d}" for i in range(2000)], dtype=object)
    ethnicity = np.where(np.arange(2000) < 200, rng.choice(["Asian", "Black", "Mixed"], 2000), "White")
    chance = np.where(ethnicity == "White", 0.02, 0.06)
    listings = pd.concat([pd.DataFrame({"as_of": q, "person_id": ids[e], "eligible": True, "in_cohort": True})
                          for q in QUARTERS for e in [rng.random(2000) < chance]], ignore_index=True)
    groups = pd.DataFrame({"person_id": ids, "ethnicity": ethnicity})
    among_eligible = cumulative_audit(groups, listings, None, SPEC)["ever_listed"]["audit"]
    assert among_eligible["flags"] == [] and among_eligible["overall"]["selection_rate"] == 1
    whole = cumulative_audit(groups, listings, None, SPEC, population_ids=ids)["ever_listed"]
    assert whole["audit"]["n"] == 2000
    assert "selection_rate" in row(whole["audit"], POOLED, MINORITY)["flags"]
    assert whole["description"].startswith("the population in the age range at any of the 4 runs")


def test_ever_adopted_counts_an_adopt_decision_about_any_run_in_the_window():
    groups, listings = county(seed=1, bias=1.0)
    listed = listings[listings["in_cohort"]]
    early = listed[listed["as_of"] == QUARTERS[0]]["person_id"].tolist()
    late = listed[listed["as_of"] == QUARTERS[2]]["person_id"].tolist()
    decisions = pd.DataFrame({"as_of": [QUARTERS[0]] * 20 + [QUARTERS[2]] * 20 + ["2025-09-30"] * 5,
                              "person_id": early[:20] + late[:20] + early[20:25],
                              "decision": ["adopt"] * 10 + ["decline"] * 10 + ["adopt"] * 15 + ["refer"] * 5
                              + ["adopt"] * 5})  # the last five are about a run outside the window
    section = cumulative_audit(groups, listings, decisions, SPEC)["ever_adopted"]
    expected = set(early[:10]) | set(late[:15])
    assert section["available"] is True
    assert section["audit"]["overall"]["selected"] == len(expected)
    assert section["outside_population"] == 0


def test_one_run_or_none_is_no_cumulative_audit():
    groups, listings = county(seed=2, bias=1.0)
    only = cumulative_audit(groups, listings[listings["as_of"] == QUARTERS[-1]], None, SPEC)
    assert only["ever_listed"] == {"available": False, "reason": NO_EARLIER_RUN, "title": "ever listed",
                                   "description": only["ever_listed"]["description"]}
    assert only["ever_adopted"]["available"] is False
    empty = cumulative_audit(groups, listings.iloc[0:0], None, SPEC)
    assert empty["ever_listed"]["reason"] == "no run in the history"
    # without decisions the cohort can be audited, adoption cannot
    two = cumulative_audit(groups, listings[listings["as_of"] >= QUARTERS[2]], None, SPEC)
    assert two["runs"] == QUARTERS[2:] and two["ever_listed"]["available"] is True
    assert two["ever_adopted"]["reason"] == "no decisions recorded for these runs"


def test_people_of_earlier_runs_not_in_this_extract_are_counted_not_dropped():
    groups, listings = county(seed=3, bias=1.0)
    first = listings[listings["as_of"] == QUARTERS[0]]
    gone = first["person_id"].iloc[:40].tolist()  # the first 40 eligible in the oldest quarter left the extract
    kept = groups[~groups["person_id"].isin(gone)]
    section = cumulative_audit(kept, listings, None, SPEC)["ever_listed"]
    listed_gone = int(listings[listings["person_id"].isin(gone)].groupby("person_id")["in_cohort"].any().sum())
    assert section["not_in_extract"] == {"n": 40, "selected": listed_gone}
    population = listings["person_id"].nunique()
    assert section["audit"]["n"] + 40 == population
    for a in section["audit"]["attributes"].values():
        assert NOT_IN_EXTRACT not in {g["group"] for g in a["groups"]}
    frame = attach_groups(["P00000", "nobody"], kept)
    assert frame.loc[frame["person_id"] == "nobody", "ethnicity"].item() == NOT_IN_EXTRACT


# --------------------------------------------------------------------------------------------
# The meeting's decisions, referrals


def decided_people(decline: dict[str, int], sizes: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People of each group, ``decline[group]`` of them declined, the rest adopted (a few monitored)."""
    groups, decisions = [], []
    for ethnicity, n in sizes.items():
        for i in range(n):
            pid = f"{ethnicity[0]}{i:04d}"
            groups.append({"person_id": pid, "ethnicity": ethnicity})
            value = "decline" if i < decline[ethnicity] else "monitor" if i % 7 == 0 else "adopt"
            decisions.append({"person_id": pid, "decision": value, "meeting_date": "2026-07-14", "decision_id": i})
    return pd.DataFrame(groups), pd.DataFrame(decisions)


def test_a_group_declined_at_a_planted_higher_rate_is_flagged():
    groups, decisions = decided_people({"Black": 40, "White": 30}, {"Black": 100, "White": 200})
    result = decisions_audit(groups, decisions, SPEC, listed_ids=groups["person_id"], as_of="2026-06-30")
    assert result["values_present"] == ["adopt", "monitor", "decline"]
    declined = result["by_decision"]["decline"]["audit"]
    black = row(declined, "ethnicity", "Black")
    assert black["selection_rate"] == pytest.approx(0.4)
    assert black["ratio"]["selection_rate"] == pytest.approx((40 / 100) / (30 / 200))
    assert "selection_rate" in black["flags"]
    assert any(s.startswith("Black people in the list of 2026-06-30 (those the meeting decided about) were 2.67 "
                            "times") and s.endswith("as likely as White people to be declined at the meeting.")
               for s in declined["findings"])


def test_a_group_declined_at_the_same_rate_is_not_flagged():
    groups, decisions = decided_people({"Black": 20, "White": 40}, {"Black": 100, "White": 200})
    result = decisions_audit(groups, decisions, SPEC, listed_ids=groups["person_id"])
    declined = result["by_decision"]["decline"]["audit"]
    assert row(declined, "ethnicity", "Black")["ratio"]["selection_rate"] == pytest.approx(1.0)
    assert declined["flags"] == []


def test_every_decision_value_present_is_audited_and_the_latest_decision_counts():
    groups, decisions = decided_people({"Black": 5, "White": 5}, {"Black": 30, "White": 60})
    later = pd.DataFrame({"person_id": ["B0010", "W0011", "W0012", "nobody-listed"],
                          "decision": ["Remove_On_Review", "remove_on_review", "refer", "adopt"],
                          "meeting_date": "2026-08-01", "decision_id": 1000})
    # the later meeting's rows come first: the latest decision is found by date, not by position
    result = decisions_audit(groups, pd.concat([later, decisions]), SPEC, listed_ids=groups["person_id"])
    assert result["values_present"] == ["adopt", "monitor", "decline", "refer", "remove_on_review"]
    assert result["not_listed"] == 1
    removed = result["by_decision"]["remove_on_review"]
    assert removed["audit"]["overall"]["selected"] == 2 and removed["audit"]["overall"]["n"] == 90
    assert removed["audit"]["selection"]["label"] == "removed on review"
    assert decisions_audit(groups, decisions.iloc[0:0], SPEC)["available"] is False


def history(groups: pd.DataFrame, *, as_of: str = "2026-06-30") -> pd.DataFrame:
    """Listings of one earlier run in which everyone in ``groups`` was listed."""
    return pd.DataFrame({"as_of": as_of, "person_id": groups["person_id"], "eligible": True, "in_cohort": True})


def test_referrals_are_their_own_section_and_no_flag_is_counted_twice():
    groups, decisions = decided_people({"Black": 30, "White": 20}, {"Black": 100, "White": 200})
    decisions.loc[decisions["decision"] == "decline", "decision"] = "refer"  # the planted rate, now referrals
    listings = history(groups)
    result = decided_audits(groups, spec=SPEC, as_of="2026-09-30", population_ids=groups["person_id"],
                            eligible_ids=groups["person_id"], cohort_ids=groups["person_id"][:50], periphery_ids=[],
                            listings=listings, decisions=decisions.assign(as_of="2026-06-30"))
    assert "refer" in result["decisions"]["values_present"]
    assert "refer" not in result["decisions"]["by_decision"]
    referrals = result["referrals"]
    assert referrals["title"] == "referrals" and "selection_rate" in row(referrals["audit"], "ethnicity",
                                                                          "Black")["flags"]
    paths = [p for p, _ in decided_sections(result)]
    assert len(paths) == len(set(paths))
    assert paths == ["decided:periphery", "decided:decisions:by_decision:adopt",
                     "decided:decisions:by_decision:monitor", "decided:referrals", "decided:changes:additions",
                     "decided:changes:removals", "decided:cumulative:ever_listed", "decided:cumulative:ever_adopted"]
    assert result["periphery"] == {"available": False, "reason": "nobody is on the periphery list this run",
                                   "title": "the periphery list", "description": result["periphery"]["description"]}


# --------------------------------------------------------------------------------------------
# Additions and removals, the periphery


def lists() -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """400 eligible (300 White, 100 Black); last run listed 30 White and 10 Black; this run keeps 20 White
    and 5 Black of them and adds 10 White and 15 Black."""
    white = [f"W{i:03d}" for i in range(300)]
    black = [f"B{i:03d}" for i in range(100)]
    groups = pd.DataFrame({"person_id": white + black, "ethnicity": ["White"] * 300 + ["Black"] * 100})
    previous = white[:30] + black[:10]
    current = white[:20] + black[:5] + white[100:110] + black[50:65]
    return groups, white + black, previous, current


def test_additions_and_removals_by_group_are_counted_a_second_way():
    groups, eligible, previous, current = lists()
    result = changes_audit(groups, current, previous, SPEC, eligible_ids=eligible, as_of="2026-09-30",
                           previous_as_of="2026-06-30")
    added = result["additions"]["audit"]
    frame = groups.assign(candidate=~groups["person_id"].isin(previous),
                          added=groups["person_id"].isin(current) & ~groups["person_id"].isin(previous))
    by = frame[frame["candidate"]].groupby("ethnicity")["added"].agg(["size", "sum"])
    for g in ("White", "Black"):
        assert (row(added, "ethnicity", g)["n"], row(added, "ethnicity", g)["selected"]) == tuple(by.loc[g])
    black = row(added, "ethnicity", "Black")
    assert black["ratio"]["selection_rate"] == pytest.approx((15 / 90) / (10 / 270))
    assert "selection_rate" in black["flags"]
    shares = {s["group"]: s for s in selected_shares(added)["ethnicity"]}
    assert shares["Black"]["share"] == pytest.approx(15 / 25)
    ci = binomtest(15, 25).proportion_ci(confidence_level=0.95, method="exact")
    assert shares["Black"]["ci"] == pytest.approx([ci.low, ci.high])
    removed = result["removals"]["audit"]
    assert (row(removed, "ethnicity", "White")["selected"], row(removed, "ethnicity", "White")["n"]) == (10, 30)
    assert (row(removed, "ethnicity", "Black")["selected"], row(removed, "ethnicity", "Black")["n"]) == (5, 10)
    assert result["removals"]["description"] == ("the list of the run of 2026-06-30; selected: not listed now "
                                                 "(a removal)")


def test_without_an_earlier_run_there_are_no_changes_decisions_or_cumulative_audit():
    groups, eligible, _, current = lists()
    result = decided_audits(groups, spec=SPEC, as_of="2026-09-30", population_ids=groups["person_id"],
                            eligible_ids=eligible, cohort_ids=current, periphery_ids=eligible[200:260])
    for section in (result["changes"]["additions"], result["changes"]["removals"], result["decisions"],
                    result["referrals"], result["cumulative"]["ever_listed"], result["cumulative"]["ever_adopted"]):
        assert section["available"] is False and section["reason"] == NO_EARLIER_RUN
    assert result["periphery"]["available"] is True
    assert changes_audit(groups, current, [], SPEC, eligible_ids=eligible)["removals"]["reason"] == \
        "the previous run listed nobody"


def test_the_periphery_is_audited_outside_the_cohort_and_a_planted_over_selection_is_flagged():
    groups, eligible, _, current = lists()
    periphery = [f"B{i:03d}" for i in range(70, 100)] + [f"W{i:03d}" for i in range(200, 230)] + ["adult-1"]
    result = periphery_audit(groups, groups["person_id"], periphery, SPEC, cohort_ids=current, as_of="2026-09-30")
    audit = result["audit"]
    assert audit["n"] == 400 - len(current) and result["outside_population"] == 1
    black = row(audit, "ethnicity", "Black")
    assert (black["selected"], black["n"]) == (30, 80)
    assert "selection_rate" in black["flags"] and black["ratio"]["selection_rate"] == pytest.approx(
        (30 / 80) / (30 / 270))
    fair = [f"B{i:03d}" for i in range(70, 78)] + [f"W{i:03d}" for i in range(200, 230)]
    assert periphery_audit(groups, groups["person_id"], fair, SPEC, cohort_ids=current)["audit"]["flags"] == []


# --------------------------------------------------------------------------------------------
# The partner copy


def test_each_section_is_suppressed_as_a_result_of_its_own_in_the_partner_copy():
    groups, listings = county(seed=0, bias=3.0)
    groups = groups.assign(sex=np.where(np.arange(len(groups)) % 2, "F", "M"))
    current = listings[listings["as_of"] == QUARTERS[-1]]
    result = decided_audits(groups, spec=SPEC, as_of=QUARTERS[-1], population_ids=groups["person_id"],
                            eligible_ids=current["person_id"], cohort_ids=current.loc[current["in_cohort"], "person_id"],
                            periphery_ids=groups["person_id"][::20], listings=listings[listings["as_of"] < QUARTERS[-1]])
    partner = map_sections(result, lambda a: suppress_small_cells(a, threshold=10))
    audit, original = partner["cumulative"]["ever_listed"]["audit"], result["cumulative"]["ever_listed"]["audit"]
    for g in ("Asian", "Mixed"):
        hidden = row(audit, "ethnicity", g)
        assert hidden["withheld"] is True and hidden["selection_rate"] == "withheld" and hidden["flags"] == []
        assert hidden["selected"] == "<10" and isinstance(row(original, "ethnicity", g)["selected"], int)
    assert "Asian" in audit["suppression"]["withheld_groups"]["ethnicity"]
    assert not any("Asian people (n =" in s or "Asian people in" in s for s in findings(audit))
    for path, section in decided_sections(partner):
        if not section.get("available"):
            continue
        for attr, a in section["audit"]["attributes"].items():
            for g in a["groups"]:
                small = [k for k in ("n", "selected") if isinstance(g[k], int) and g[k] < 10]
                assert not small, f"{path} {attr} {g['group']}: {small}"
                if g.get("withheld"):
                    ratios = g["ratio"].values() if isinstance(g["ratio"], dict) else [g["ratio"]]
                    assert g["selection_rate"] == "withheld" and not any(isinstance(v, float) for v in ratios)
    # the original is untouched
    assert row(original, "ethnicity", "Asian")["selection_rate"] != "withheld"


# --------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_person_of_the_window_is_audited_or_counted_as_not_in_this_extract(data):
    n = data.draw(st.integers(20, 60))
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    ids = [f"P{i:03d}" for i in range(n)]
    rows = [{"as_of": q, "person_id": p, "eligible": bool(rng.random() < 0.7), "in_cohort": False}
            for q in QUARTERS for p in ids]
    listings = pd.DataFrame(rows)
    listings["in_cohort"] = listings["eligible"] & (rng.random(len(listings)) < 0.3)
    known = [p for p in ids if rng.random() < 0.8]
    groups = pd.DataFrame({"person_id": known, "ethnicity": rng.choice(["White", "Black"], len(known))})
    section = cumulative_audit(groups, listings, None, SPEC)["ever_listed"]
    eligible = set(listings.loc[listings["eligible"], "person_id"])
    listed = set(listings.loc[listings["in_cohort"], "person_id"])
    missing = eligible - set(known)
    assert section["not_in_extract"] == {"n": len(missing), "selected": len(missing & listed)}
    if section["available"]:
        assert section["audit"]["n"] == len(eligible) - len(missing)
        assert section["audit"]["overall"]["selected"] == len((listed & eligible) - missing)


# --------------------------------------------------------------------------------------------
# The history: recent listings and decisions, on a real store


def manifest(as_of: str) -> dict:
    return {"started_at": f"{as_of}T08:00:00+00:00", "finished_at": f"{as_of}T08:01:00+00:00", "hkc_version": "test",
            "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "cohort_size": 2, "eligible": 3, "scored": 4,
            "as_of": as_of}


def run_frames(listed: list[str], eligible: list[str], scored_only: list[str]) -> dict[str, pd.DataFrame]:
    people = listed + eligible + scored_only
    n = len(people)
    scores = pd.DataFrame({
        "person_id": people, "risk_score": np.linspace(9, 1, n), "vulnerability_score": 0.0,
        "eligible": [p not in scored_only for p in people], "in_cohort": [p in listed for p in people],
        "rank": pd.array([i + 1 if p in listed else None for i, p in enumerate(people)], "Int64"),
        "rag": None, "movement": None, "reason": "", "rationale": None})
    empty = pd.DataFrame()
    removed = pd.DataFrame({"person_id": pd.Series([], dtype=object), "previous_rank": pd.array([], "Int64"),
                            "previous_rag": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object)})
    return {"scores_frame": scores, "contributions_frame": empty, "evidence_frame": empty, "removed_frame": removed}


def decision_rows(run_id: int, as_of: str, choices: dict[str, str], meeting: str) -> list[dict]:
    return [{"run_id": run_id, "as_of": as_of, "person_id": p, "meeting_date": meeting, "decision": d,
             "reason": "a reason" if d == "decline" else None, "recorded_by": "chair",
             "recorded_at": f"{meeting}T12:00:00", "source_file": "cohort.xlsx", "source_sha256": "s" * 64,
             "sheet": "Cohort", "row": i + 2} for i, (p, d) in enumerate(choices.items())]


@pytest.fixture
def store(tmp_path):
    """Five quarterly runs: in run q, A{q} and A{q+1} are listed, E{q} eligible, S{q} only scored."""
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    dates = ["2025-09-30", *QUARTERS]
    for q, as_of in enumerate(dates):
        run_id, _ = store.save_run(as_of=dt.date.fromisoformat(as_of), manifest=manifest(as_of), audit=None,
                                   **run_frames([f"A{q}", f"A{q + 1}"], [f"E{q}"], [f"S{q}"]))
        store.record_decisions(decision_rows(run_id, as_of, {f"A{q}": "adopt", f"A{q + 1}": "decline"},
                                             meeting=f"{as_of[:4]}-12-0{q + 1}"))
    yield store
    store.engine.dispose()


def test_recent_listings_are_the_eligible_and_listed_of_the_runs_before_this_one(store):
    as_of = dt.date(2026, 9, 30)
    assert [r.as_of.isoformat() for r in recent_runs(store, as_of)] == QUARTERS[:3]
    assert [r.as_of.isoformat() for r in recent_runs(store, as_of, include_as_of=True)] == QUARTERS
    assert recent_runs(store, as_of, quarters=1) == []
    listings = recent_listings(store, as_of)
    assert list(listings.columns) == ["as_of", "person_id", "eligible", "in_cohort"]
    assert set(listings["as_of"]) == set(QUARTERS[:3])
    assert not listings["person_id"].str.startswith("S").any()  # scored but neither eligible nor listed
    q1 = listings[listings["as_of"] == QUARTERS[1]].set_index("person_id")
    assert q1["in_cohort"].to_dict() == {"A2": True, "A3": True, "E2": False}
    assert listings["eligible"].dtype == bool and listings["in_cohort"].dtype == bool
    assert recent_listings(store, dt.date(2025, 9, 30)).empty


def test_decisions_are_found_by_date_or_run_and_survive_a_re_run(store):
    runs = {r.as_of.isoformat(): r for r in store.list_runs()}
    by_date = decisions_for_runs(store, [QUARTERS[1], dt.date.fromisoformat(QUARTERS[2])])
    assert set(zip(by_date["as_of"], by_date["person_id"], by_date["decision"], strict=True)) == {
        (QUARTERS[1], "A2", "adopt"), (QUARTERS[1], "A3", "decline"),
        (QUARTERS[2], "A3", "adopt"), (QUARTERS[2], "A4", "decline")}
    assert "reason" not in by_date.columns
    by_id = decisions_for_runs(store, [runs[QUARTERS[1]].run_id, runs[QUARTERS[2]]])
    assert by_id.sort_values("decision_id").equals(by_date.sort_values("decision_id"))
    assert decisions_for_runs(store, []).empty
    # re-running a quarter gives it a new run id; its decisions follow it, found by date as by id
    store.save_run(as_of=dt.date.fromisoformat(QUARTERS[1]), manifest=manifest(QUARTERS[1]), audit=None,
                   **run_frames(["A2", "A3"], ["E2"], []))
    new_id = next(r.run_id for r in store.list_runs() if r.as_of.isoformat() == QUARTERS[1])
    assert new_id != runs[QUARTERS[1]].run_id
    assert len(decisions_for_runs(store, [new_id])) == len(decisions_for_runs(store, [QUARTERS[1]])) == 2


def test_the_history_feeds_the_decided_audits(store):
    as_of = dt.date(2026, 9, 30)
    earlier = recent_runs(store, as_of)
    listings = recent_listings(store, as_of)
    decisions = decisions_for_runs(store, earlier)
    people = [f"{k}{q}" for k in "AES" for q in range(6)]
    groups = pd.DataFrame({"person_id": people, "ethnicity": ["White", "Black"] * 9})
    result = decided_audits(groups, spec=SPEC, as_of=as_of, population_ids=people, eligible_ids=["A4", "A5", "E4"],
                            cohort_ids=["A4", "A5"], periphery_ids=["S4"], listings=listings, decisions=decisions,
                            earlier_runs=[r.as_of for r in earlier])
    assert result["cumulative"]["runs"] == QUARTERS
    ever = result["cumulative"]["ever_listed"]["audit"]
    assert (ever["n"], ever["overall"]["selected"]) == (9, 5)  # A1-A5 listed (A1 in the window's first run), E1-E4
    adopted = result["cumulative"]["ever_adopted"]["audit"]["overall"]["selected"]
    assert adopted == 3  # A1, A2, A3: adopted about the runs of the window's first three quarters
    decided = result["decisions"]["by_decision"]
    assert set(decided) == {"adopt", "decline"} and decided["adopt"]["audit"]["n"] == 2  # the run of 2026-06-30
    removals = result["changes"]["removals"]["audit"]
    assert (removals["n"], removals["overall"]["selected"]) == (2, 1)  # A3, A4 listed before; A3 is not now
    additions = result["changes"]["additions"]["audit"]
    assert additions["overall"]["selected"] == 1  # A5
