"""The synthetic force generator: determinism, validity, planted patterns and injected faults."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hkc.definitions.catalogue import Catalogue, load_catalogue
from hkc.definitions.deployment import load_definitions
from hkc.errors import OutputError
from hkc.extract.contract import ETHNICITY_CODES, GRADE_PATTERN, ROLE_CODES, RULES, SOURCE_CODES
from hkc.extract.load import load_extract
from hkc.matrix.cohort import select_cohort
from hkc.matrix.scoring import score_people
from hkc.synth import (
    AGE_BANDS,
    ETHNIC_MIX,
    EVENT_FAULT_RULES,
    PEOPLE_FAULT_RULES,
    SyntheticForce,
    expected_rejects,
    faults_for,
    generate_force,
    last_quarter_end,
    write_force,
)
from hkc.synth.rates import capped_scale

ROOT = Path(__file__).resolve().parents[1]
UNTIL = dt.date(2026, 9, 30)
FORMATS = ("csv", "parquet")
ALL_FAULT_RULES = tuple(dict.fromkeys(PEOPLE_FAULT_RULES + EVENT_FAULT_RULES))
# Parquet has no lines, so no malformed ones: every other rule applies to both formats.
FAULT_CASES = [(fmt, rule) for fmt in FORMATS for rule in ALL_FAULT_RULES if rule != "malformed_row" or fmt == "csv"]
KNIFE = ["knife_possession", "knife_violence", "search_weapon_found", "knife_intel"]
KNIFE_EVENTS = ["knife_possession", "knife_violence", "search_weapon_found"]  # knife events other than intelligence


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue(ROOT / "features" / "indicators.toml")


@pytest.fixture(scope="module")
def small_force(cat: Catalogue) -> SyntheticForce:
    return generate_force(people=2_000, seed=7, until=UNTIL, catalogue=cat)


@pytest.fixture(scope="module")
def force(cat: Catalogue) -> SyntheticForce:
    """A clean 20,000-person force for the statistical properties."""
    return generate_force(people=20_000, seed=11, until=UNTIL, catalogue=cat)


@pytest.fixture(scope="module")
def dirty_force(cat: Catalogue) -> SyntheticForce:
    return generate_force(people=20_000, seed=5, until=UNTIL, dirty=0.02, catalogue=cat)


@pytest.fixture(scope="module")
def load_dirty(dirty_force: SyntheticForce, cat: Catalogue, tmp_path_factory):
    """The dirty force written in a format and loaded back (once per format)."""
    loaded = {}

    def load(fmt: str):
        if fmt not in loaded:
            out = tmp_path_factory.mktemp(f"dirty-{fmt}")
            write_force(dirty_force, out, fmt=fmt)
            loaded[fmt] = load_extract(out, catalogue=cat, extract_date=UNTIL)
        return loaded[fmt]
    return load


@pytest.fixture(scope="module", params=FORMATS)
def dirty_loaded(request, load_dirty):
    return request.param, load_dirty(request.param)


@pytest.fixture(scope="module")
def top_of_matrix(force: SyntheticForce, tmp_path_factory):
    """The clean force scored at ``UNTIL`` with the default definitions: (scores, cohort members)."""
    definitions = load_definitions(cwd=ROOT)
    out = tmp_path_factory.mktemp("matrix")
    write_force(force, out, fmt="parquet")
    extract = load_extract(out, catalogue=definitions.catalogue, extract_date=UNTIL)
    scored = score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                          eligibility=definitions.settings.eligibility, as_of=UNTIL)
    cohort = select_cohort(scored.scores, cohort=definitions.settings.cohort, rag=definitions.settings.rag)
    return scored, cohort.members


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.str.strip(), format="%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# Determinism and writing


def test_same_arguments_give_identical_frames_and_bytes(cat: Catalogue, tmp_path: Path):
    args = dict(people=2_000, seed=3, until=UNTIL, dirty=0.02, intel_bias={"Black": 1.5}, catalogue=cat)
    a, b = generate_force(**args), generate_force(**args)
    for name in ("people", "events", "population", "faults", "truth_people", "groups", "locations"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    for fmt in FORMATS:
        pa_, pb_ = write_force(a, tmp_path / f"a-{fmt}", fmt=fmt), write_force(b, tmp_path / f"b-{fmt}", fmt=fmt)
        for name, path in pa_.items():
            assert path.read_bytes() == pb_[name].read_bytes(), (fmt, name)


def test_different_seed_gives_a_different_force(cat: Catalogue, small_force: SyntheticForce):
    other = generate_force(people=2_000, seed=8, until=UNTIL, catalogue=cat)
    assert not other.events.equals(small_force.events)
    assert not other.people["date_of_birth"].equals(small_force.people["date_of_birth"])


def test_rows_are_in_a_deterministic_order(small_force: SyntheticForce):
    assert small_force.people["person_id"].is_monotonic_increasing
    ev = small_force.events
    assert ev.sort_values(["date", "event_id"]).index.equals(ev.index)
    assert ev["event_id"].is_unique


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_force_loads_with_no_rejects(small_force: SyntheticForce, cat: Catalogue, tmp_path: Path, fmt: str):
    paths = write_force(small_force, tmp_path, fmt=fmt)
    assert {p.name for p in tmp_path.iterdir()} == {f"people.{fmt}", f"events.{fmt}", f"population.{fmt}", "_truth"}
    assert {"faults", "truth_people", "groups", "locations"} <= set(paths)
    extract = load_extract(tmp_path, catalogue=cat, extract_date=UNTIL)
    assert len(extract.rejects) == 0
    assert extract.reconciles()
    assert extract.counts["people"] == {"read": 2_000, "used": 2_000, "rejected": 0}
    n = len(small_force.events)
    assert extract.counts["events"] == {"read": n, "used": n, "rejected": 0}
    assert extract.counts["population"]["used"] == len(small_force.population)


def test_clean_csv_is_plain_and_dirty_csv_has_bom_and_crlf(small_force, dirty_force, tmp_path: Path):
    clean = write_force(small_force, tmp_path / "clean")["events"].read_bytes()
    assert not clean.startswith(b"\xef\xbb\xbf") and b"\r\n" not in clean
    dirty = write_force(dirty_force, tmp_path / "dirty")["people"].read_bytes()
    assert dirty.startswith(b"\xef\xbb\xbfperson_id,") and dirty.count(b"\r\n") == dirty.count(b"\n")


def test_write_force_leaves_no_temporary_files_and_refuses_a_second_format(small_force, tmp_path: Path):
    write_force(small_force, tmp_path)
    write_force(small_force, tmp_path)  # rewriting the same format is fine
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    with pytest.raises(OutputError, match="people.csv exists"):
        write_force(small_force, tmp_path, fmt="parquet")


def test_truth_files_hold_people_groups_and_faults(force: SyntheticForce, tmp_path: Path):
    paths = write_force(force, tmp_path)
    truth = pd.read_csv(paths["truth_people"], keep_default_na=False)
    assert len(truth) == 20_000
    assert {"person_id", "risk_propensity", "vulnerability_propensity", "peer_group"} <= set(truth.columns)
    groups = pd.read_csv(paths["groups"])
    sizes = groups.groupby("peer_group").size()
    assert sizes.between(3, 8).all() and len(sizes) > 50
    assert pd.read_csv(paths["faults"]).empty


# --------------------------------------------------------------------------------------------
# Validity of a clean force


def test_every_catalogue_type_and_both_axes_appear(force: SyntheticForce, cat: Catalogue):
    types = set(force.events["type"])
    assert types == set(cat.codes)
    assert {cat.indicators[t].axis for t in types} == {"risk", "vulnerability"}


def test_roles_are_those_of_the_catalogue_or_victims_and_witnesses(force: SyntheticForce, cat: Catalogue):
    ev = force.events
    assert set(ev["role"]) <= set(ROLE_CODES)
    for code, ind in cat.indicators.items():
        roles = set(ev.loc[ev["type"] == code, "role"])
        assert roles - {"victim", "witness"} <= set(ind.roles), code
        assert roles & set(ind.roles), code
    assert set(ev.loc[ev["type"] == "knife_victim", "role"]) == {"victim"}
    for code in ("knife_intel", "search_weapon_found", "missing_episode", "exclusion"):
        assert set(ev.loc[ev["type"] == code, "role"]) == {"subject"}
    assert {"offender", "suspect", "victim"} <= set(ev.loc[ev["type"] == "violence", "role"])


def test_sources_are_plausible_for_each_type(force: SyntheticForce):
    ev = force.events
    assert set(ev["source"]) <= set(SOURCE_CODES)
    by_type = ev.groupby("type")["source"].agg(set)
    for code in ("knife_possession", "knife_violence", "knife_intel", "search_weapon_found", "robbery"):
        assert by_type[code] == {"police"}, code
    assert by_type["exclusion"] == {"education"}
    assert by_type["ae_assault"] == {"health"}
    assert by_type["missing_episode"] == {"police", "social_care"}
    assert "social_care" in by_type["exploitation_concern"]


def test_no_event_is_after_until_or_before_birth_and_offences_start_at_ten(force: SyntheticForce):
    ev = force.events
    date = _dates(ev["date"])
    assert date.max() <= pd.Timestamp(UNTIL)
    assert date.min() >= pd.Timestamp(UNTIL) - pd.Timedelta(days=5 * 366)
    dob = _dates(force.people.set_index("person_id")["date_of_birth"])
    age = (date - dob.reindex(ev["person_id"]).to_numpy()).dt.days / 365.25
    assert age.min() >= 9
    offender = ev["role"].isin(["offender", "suspect"]).to_numpy()
    assert age[offender].min() >= 10
    assert 14 <= age[offender].median() <= 20


def test_outcomes_are_on_offender_events_and_recent_ones_are_mostly_pending(force: SyntheticForce, cat):
    ev = force.events
    has = ev["outcome"] != ""
    assert ev.loc[has, "role"].isin(["offender", "suspect"]).all()
    assert {cat.indicators[t].evidence for t in ev.loc[has, "type"].unique()} == {"outcome"}
    recent = (pd.Timestamp(UNTIL) - _dates(ev["date"])).dt.days < 120
    assert (ev.loc[has & recent, "outcome"] == "pending").mean() > 0.6
    assert (ev.loc[has & ~recent, "outcome"] == "pending").mean() < 0.2
    assert set(ev.loc[has, "outcome"]) == {"convicted", "charged", "cautioned", "pending", "nfa"}


def test_intelligence_has_grades_and_a_few_blanks(force: SyntheticForce):
    ev = force.events
    grade = ev.loc[ev["type"] == "knife_intel", "grade"]
    assert 0.005 < (grade == "").mean() < 0.1
    assert grade[grade != ""].str.match(GRADE_PATTERN).all()
    assert (ev.loc[ev["type"] != "knife_intel", "grade"] == "").all()


def test_demographics_look_like_an_english_county(force: SyntheticForce):
    people, truth = force.people, force.truth_people
    age = (pd.Timestamp(UNTIL) - _dates(people["date_of_birth"])).dt.days / 365.25
    assert age.min() >= 10 and age.max() < 31 and (age >= 25).mean() > 0.15
    sex = people["sex"].value_counts(normalize=True)
    assert 0.45 < sex["M"] < 0.55 and 0.45 < sex["F"] < 0.55
    eth = people["ethnicity"].value_counts(normalize=True)
    assert 0.80 < eth["White"] < 0.86 and 0.025 < eth["Black"] < 0.05 and 0.008 < eth["Not stated"] < 0.025
    assert set(people["ethnicity"]) == set(ETHNICITY_CODES)
    black = people.loc[(people["ethnicity"] == "Black") & (people["officer_ethnicity"] != ""), "officer_ethnicity"]
    assert (black == "IC3").mean() > 0.7
    assert 0.05 < (people["officer_ethnicity"] == "").mean() < 0.2
    assert 10 <= people["area"].nunique() <= 15
    assert people["area"].value_counts().max() > 2 * people["area"].value_counts().min()
    offences = force.events[force.events["role"].isin(["offender", "suspect"])]
    assert (people.set_index("person_id")["sex"].reindex(offences["person_id"]) == "M").mean() > 0.7
    care = people["in_care"] == "true"
    assert truth.loc[care, "vulnerability_propensity"].median() > 2 * truth.loc[~care, "vulnerability_propensity"].median()


def test_population_matches_the_mix_and_is_several_times_larger(force: SyntheticForce):
    pop = force.population
    assert list(pop.columns) == ["area", "age_band", "sex", "ethnicity", "count"]
    assert set(pop["age_band"]) == {band for band, _ in AGE_BANDS} and set(pop["sex"]) == {"M", "F"}
    assert pop["count"].sum() >= 5 * len(force.people)
    shares = pop.groupby("ethnicity")["count"].sum() / pop["count"].sum()
    expected = pd.Series(ETHNIC_MIX) / sum(ETHNIC_MIX.values())
    assert np.allclose(shares[expected.index], expected, atol=0.005)
    resident = pop.groupby("area")["count"].sum() / pop["count"].sum()
    known = force.people["area"].value_counts(normalize=True)
    assert np.allclose(resident[known.index], known, atol=0.01)


def test_volume_is_about_ten_events_per_person_and_heavy_tailed(force: SyntheticForce):
    per_person = force.events["person_id"].value_counts().reindex(force.people["person_id"], fill_value=0)
    assert 8 <= per_person.mean() <= 12
    assert per_person.min() >= 1
    assert per_person.median() <= 4
    assert per_person.between(1, 3).mean() > 0.4
    assert 0.005 < (per_person >= 50).mean() < 0.06


def test_the_most_prolific_person_has_a_plausible_record(force: SyntheticForce):
    """Rates are capped: at most ~150 events in five years, and a handful of knife offences."""
    per_person = force.events["person_id"].value_counts()
    assert 60 <= per_person.max() <= 150
    offences = force.events[force.events["role"].isin(["offender", "suspect"])]
    knife = offences[offences["type"].isin(["knife_possession", "knife_violence"])]
    assert knife["person_id"].value_counts().max() <= 15
    assert (force.truth_people.set_index("person_id")["events"] == per_person.reindex(
        force.truth_people["person_id"], fill_value=0).to_numpy()).all()


def test_the_top_of_the_matrix_is_not_absurd(top_of_matrix):
    """The 50 people listed have a few knife events each in the lookback, not dozens, and a mix of RAG
    bands with the default thresholds."""
    scored, members = top_of_matrix
    assert len(members) == 50
    points = scored.points
    listed = points[points["person_id"].isin(members["person_id"]) & points["indicator"].isin(KNIFE_EVENTS)]
    knife_events = listed.groupby("person_id").size().reindex(members["person_id"], fill_value=0)
    assert 2 <= knife_events.median() <= 12
    assert knife_events.max() <= 20
    rag = members["rag"].value_counts()
    assert rag.get("red", 0) >= 1
    assert rag.get("amber", 0) + rag.get("green", 0) >= 5
    assert members["risk_score"].max() < 200
    # A matrix picks from more than it lists.  Under the evidence floor (children 10-17, a reported
    # weapon event in the review window, a risk score of at least 25) about three times the cohort's
    # 50 places are eligible in this force (ages 10-24 and any score above 0.1 once gave over ten times).
    assert scored.scores["eligible"].sum() > 2 * len(members)


# --------------------------------------------------------------------------------------------
# Planted patterns


def test_recent_knife_involvement_predicts_the_next_year(force: SyntheticForce):
    """Ranking by a recency-weighted count of knife events before S predicts knife offences after S."""
    ev = force.events
    date = _dates(ev["date"])
    snapshot = pd.Timestamp(UNTIL) - pd.Timedelta(days=365)
    dob = _dates(force.people.set_index("person_id")["date_of_birth"])
    age = (snapshot - dob).dt.days / 365.25
    seen = ev.loc[date <= snapshot, "person_id"].unique()
    cohort = age[(age >= 10) & (age < 25)].index.intersection(seen)
    past = (ev["type"].isin(KNIFE) & (date <= snapshot) & (date > snapshot - pd.Timedelta(days=730))).to_numpy()
    weight = 0.5 ** ((snapshot - date[past]).dt.days / 365)
    score = weight.groupby(ev.loc[past, "person_id"].to_numpy()).sum().reindex(cohort, fill_value=0)
    future = (ev["type"].isin(["knife_possession", "knife_violence"]) & ev["role"].isin(["offender", "suspect"])
              & (date > snapshot) & (date <= snapshot + pd.Timedelta(days=365)))
    label = cohort.isin(ev.loc[future, "person_id"].unique())
    assert 0.05 < label.mean() < 0.3
    assert 0.72 <= roc_auc_score(label, score) <= 0.88


def test_intel_bias_multiplies_recorded_intelligence_only(cat: Catalogue, force: SyntheticForce):
    biased = generate_force(people=20_000, seed=11, until=UNTIL, catalogue=cat, intel_bias={"Black": 2.0})
    ethnicity = force.people.set_index("person_id")["ethnicity"]

    def rate(f: SyntheticForce, code: str) -> pd.Series:
        ev = f.events[f.events["type"] == code]
        return ev.groupby(ethnicity.reindex(ev["person_id"]).to_numpy()).size() / ethnicity.value_counts()

    ratio = rate(biased, "knife_intel") / rate(force, "knife_intel")
    assert 1.5 <= ratio["Black"] <= 2.5
    assert ratio.drop("Black").between(0.8, 1.25).all()
    assert np.allclose(rate(biased, "knife_possession"), rate(force, "knife_possession"), rtol=0.1)
    columns = ["person_id", "date", "type", "role", "source", "outcome", "occurrence_id", "location_id"]
    other = [f.events.loc[f.events["type"] != "knife_intel", columns].reset_index(drop=True) for f in (force, biased)]
    pd.testing.assert_frame_equal(*other)  # true behaviour is unchanged, event for event
    pd.testing.assert_frame_equal(biased.people, force.people)


@pytest.mark.parametrize(("bias", "message"), [
    ({"black": 2.0}, "'black' is not an ethnicity code; expected one of: Asian, Black.*did you mean 'Black'"),
    ({"Green": 2.0}, "'Green' is not an ethnicity code"),
    ({"Black": 0}, "factor for 'Black' must be a number above 0"),
    ({"Black": -1.0}, "must be a number above 0"),
])
def test_intel_bias_is_checked(cat: Catalogue, bias, message):
    with pytest.raises(ValueError, match=message):
        generate_force(people=10, until=UNTIL, catalogue=cat, intel_bias=bias)


def test_peer_group_members_share_occurrences_far_more_than_random_pairs(force: SyntheticForce):
    ev = force.events[force.events["occurrence_id"] != ""]
    shared = ev.merge(ev, on="occurrence_id")
    shared = shared[shared["person_id_x"] < shared["person_id_y"]]
    pairs = set(zip(shared["person_id_x"], shared["person_id_y"], strict=True))
    groups = force.groups.merge(force.groups, on="peer_group")
    groups = groups[groups["person_id_x"] < groups["person_id_y"]]
    member_pairs = list(zip(groups["person_id_x"], groups["person_id_y"], strict=True))
    member_rate = np.mean([p in pairs for p in member_pairs])
    rng = np.random.default_rng(0)
    ids = force.people["person_id"].to_numpy()
    random_pairs = {tuple(sorted(rng.choice(ids, 2, replace=False))) for _ in range(20_000)}
    random_rate = np.mean([p in pairs for p in random_pairs])
    assert member_rate > 0.3
    assert member_rate > 50 * max(random_rate, 1e-4)
    in_group = force.truth_people["peer_group"] != ""
    assert force.truth_people.loc[in_group, "risk_propensity"].median() > \
        3 * force.truth_people.loc[~in_group, "risk_propensity"].median()


def test_group_incidents_share_date_type_and_place(force: SyntheticForce):
    ev = force.events[(force.events["occurrence_id"] != "") & force.events["role"].isin(["offender", "suspect"])]
    per = ev.groupby("occurrence_id").agg(n=("person_id", "size"), dates=("date", "nunique"),
                                          types=("type", "nunique"), places=("location_id", "nunique"))
    multi = per[per["n"] >= 2]
    assert len(multi) > 100 and multi["n"].max() <= 4
    assert (multi[["dates", "types", "places"]] == 1).all().all()


def test_knife_violence_links_an_offender_and_a_victim(force: SyntheticForce):
    ev = force.events
    offences = ev[(ev["type"] == "knife_violence") & (ev["role"] != "victim")]
    victims = ev[ev["type"] == "knife_victim"]
    linked = offences.merge(victims, on="occurrence_id", suffixes=("", "_victim"))
    assert linked["occurrence_id"].nunique() > 0.6 * offences["occurrence_id"].nunique()
    assert (linked["date"] == linked["date_victim"]).all()
    assert (linked["location_id"] == linked["location_id_victim"]).all()
    assert (linked["person_id"] != linked["person_id_victim"]).all()
    no_occurrence = ev.loc[ev["type"].isin(["exclusion", "ae_assault"]), "occurrence_id"]
    assert (no_occurrence == "").all()


def test_location_counts_are_heavy_tailed(force: SyntheticForce):
    counts = force.events.loc[force.events["location_id"] != "", "location_id"].value_counts()
    top = counts.head(max(1, len(counts) // 20)).sum() / counts.sum()
    assert top > 0.3
    assert counts.max() > 20 * counts.median()
    assert set(force.locations["location_id"]) >= set(counts.index)


# --------------------------------------------------------------------------------------------
# Dirty data: every injected fault is reported where it was put, and nothing else is


def test_dirty_force_injects_about_the_fraction_asked(dirty_force: SyntheticForce):
    faults = dirty_force.faults
    clean_events = dirty_force.truth_people["events"].sum()
    assert abs((faults["file"] == "people.csv").sum() - 400) <= 1
    assert abs((faults["file"] == "events.csv").sum() - 0.02 * clean_events) <= 1
    assert set(faults["rule"]) == set(ALL_FAULT_RULES) and set(faults["rule"]) <= set(RULES)
    assert not faults.duplicated(["file", "row"]).any()  # one fault per row


@pytest.mark.parametrize(("fmt", "rule"), FAULT_CASES)
def test_every_injected_fault_is_rejected_with_its_file_row_and_rule(load_dirty, dirty_force, fmt: str, rule: str):
    extract = load_dirty(fmt)
    faults = faults_for(dirty_force, fmt)
    injected = faults[faults["rule"] == rule]
    assert len(injected) > 20
    got = extract.rejects.merge(injected, on=["file", "row", "rule"], suffixes=("", "_injected"))
    assert len(got) == len(injected)
    assert (got["column"] == got["column_injected"]).all()


def test_every_reject_is_an_injected_fault_or_its_person_rejected_cascade(dirty_loaded, dirty_force):
    fmt, extract = dirty_loaded
    key = ["file", "row", "column", "rule"]
    expected = expected_rejects(dirty_force, fmt)
    got = extract.rejects[key].sort_values(["file", "row", "rule"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[key].sort_values(["file", "row", "rule"]).reset_index(drop=True))
    # The cascade, a second way: events of people whose own row has an in-place fault.
    faults = faults_for(dirty_force, "csv")
    in_place = faults[(faults["file"] == "people.csv") & ~faults["rule"].isin(["duplicate_person_id", "blank_row"])]
    quarantined = set(dirty_force.people["person_id"].str.strip().to_numpy()[in_place["row"].to_numpy() - 2])
    cascade = dirty_force.events["person_id"].str.strip().isin(quarantined)
    assert (extract.rejects["rule"] == "person_rejected").sum() == cascade.sum() > 0


def test_dirty_counts_reconcile_and_every_other_row_is_used(dirty_loaded, dirty_force):
    fmt, extract = dirty_loaded
    assert extract.reconciles()
    expected = expected_rejects(dirty_force, fmt)
    malformed = (dirty_force.faults["rule"] == "malformed_row").sum() if fmt == "parquet" else 0
    for name, frame in (("people", dirty_force.people), ("events", dirty_force.events)):
        counts = extract.counts[name]
        bad = expected.loc[expected["file"] == f"{name}.{fmt}", "row"].nunique()
        assert counts["read"] == len(frame) - (malformed if name == "events" else 0)
        assert counts["rejected"] == bad
        assert counts["used"] == counts["read"] - bad
    assert len(extract.people) == len(dirty_force.truth_people) - (
        (faults_for(dirty_force)["file"] == "people.csv")
        & ~faults_for(dirty_force)["rule"].isin(["duplicate_person_id", "blank_row"])).sum()


def test_benign_noise_is_present_and_accepted(dirty_force: SyntheticForce, cat: Catalogue):
    ev = dirty_force.events
    canonical = set(cat.codes)
    noisy_type = ~ev["type"].isin(canonical) & ev["type"].str.strip().str.lower().isin(canonical)
    noisy_date = ev["date"].str.match(r"^\s+\d{4}-\d{2}-\d{2}\s+$")
    assert noisy_type.sum() > 50 and noisy_date.sum() > 50
    faulty_rows = set(dirty_force.faults.loc[dirty_force.faults["file"] == "events.csv", "row"] - 2)
    assert not faulty_rows & set(np.flatnonzero(noisy_type | noisy_date))
    sex = dirty_force.people["sex"]
    assert (~sex.isin(["F", "M", "X", "U", ""]) & sex.str.strip().str.upper().isin(["F", "M", "X", "U"])).any()


def test_people_faults_fall_on_people_with_few_events(dirty_force: SyntheticForce):
    faults = dirty_force.faults
    in_place = faults[(faults["file"] == "people.csv") & ~faults["rule"].isin(["duplicate_person_id", "blank_row"])]
    ids = dirty_force.people["person_id"].str.strip().to_numpy()[in_place["row"].to_numpy() - 2]
    events = dirty_force.truth_people.set_index("person_id")["events"]
    assert events.reindex(ids).max() <= events.median()


def test_fault_values_break_exactly_their_rule(dirty_force: SyntheticForce):
    faults = dirty_force.faults
    bad_dates = faults.loc[faults["rule"] == "bad_date", "value"]
    assert not bad_dates.str.match(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d)$").any()
    assert {"yesterday"} <= set(bad_dates) and bad_dates.str.contains("/").any()
    future = pd.to_datetime(faults.loc[faults["rule"] == "future_date", "value"])
    assert (future > pd.Timestamp(UNTIL)).all()
    codes = faults.loc[faults["rule"] == "unknown_code"]
    assert {"type", "role", "source", "outcome", "sex", "ethnicity", "officer_ethnicity"} <= set(codes["column"])
    assert not faults.loc[faults["rule"] == "bad_grade", "value"].str.match(GRADE_PATTERN).any()


def test_parquet_leaves_malformed_lines_out(dirty_force: SyntheticForce, load_dirty):
    malformed = dirty_force.faults["rule"] == "malformed_row"
    assert malformed.sum() > 20
    assert "malformed_row" not in set(faults_for(dirty_force, "parquet")["rule"])
    assert load_dirty("parquet").counts["events"]["read"] == len(dirty_force.events) - malformed.sum()


# --------------------------------------------------------------------------------------------
# Arguments and small helpers


def test_capped_scale_meets_its_target_exactly():
    """The base rate solved with caps, checked against bisection on the capped total."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 400))
        rates = rng.lognormal(0, 2, n) * (rng.random(n) > 0.2)
        caps = rng.uniform(0.1, 3, n)
        reachable = caps[rates > 0].sum()
        target = rng.uniform(0.01, 0.99) * reachable
        if target == 0:
            continue
        b = capped_scale(rates, caps, target)
        assert np.minimum(b * rates, caps).sum() == pytest.approx(target, rel=1e-9)
        lo, hi = 0.0, 1.0
        while np.minimum(hi * rates, caps).sum() < target:
            hi *= 2
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.minimum(mid * rates, caps).sum() < target else (lo, mid)
        assert b == pytest.approx(hi, rel=1e-6)
    assert capped_scale(np.zeros(3), 1.0, 2.0) == 0.0
    assert capped_scale(np.array([1.0, 4.0]), 1.0, target=5.0) == 1.0  # beyond every cap: all capped


@pytest.mark.parametrize(("today", "expected"), [
    (dt.date(2026, 11, 22), dt.date(2026, 9, 30)),
    (dt.date(2026, 1, 1), dt.date(2025, 12, 31)),
    (dt.date(2026, 3, 31), dt.date(2025, 12, 31)),
    (dt.date(2026, 4, 1), dt.date(2026, 3, 31)),
])
def test_last_quarter_end(today: dt.date, expected: dt.date):
    assert last_quarter_end(today) == expected


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"people": 0}, "people must be a whole number of at least 1"),
    ({"dirty": 0.9}, "dirty must be a fraction from 0 to 0.5"),
    ({"years": 0}, "years must be a whole number from 1 to 20"),
    ({"seed": -1}, "seed must be a whole number of at least 0"),
])
def test_bad_arguments_are_refused(cat: Catalogue, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_force(**{"people": 10, "until": UNTIL, "catalogue": cat, **kwargs})


def test_types_added_to_the_catalogue_get_events(tmp_path: Path):
    text = (ROOT / "features" / "indicators.toml").read_text()
    extra = re.sub(r"\[types\.exclusion\]", "[types.weapon_sale]\n" + "\n".join([
        'label = "buying a knife online"', 'axis = "risk"', 'roles = ["subject"]', "gravity = 10.0",
        "half_life_days = 180", "lookback_days = 365", "frequency_cap = 3", "frequency_decay = 0.7",
        'evidence = "none"', "weapon = true", "intelligence = false", "proactive = true",
    ]) + "\n\n[types.exclusion]", text)
    path = tmp_path / "indicators.toml"
    path.write_text(extra)
    custom = load_catalogue(path)
    clean = generate_force(people=2_000, seed=1, until=UNTIL, catalogue=custom)
    sales = clean.events[clean.events["type"] == "weapon_sale"]
    assert len(sales) > 10 and set(sales["role"]) == {"subject"} and set(sales["source"]) == {"police"}
    dirty = generate_force(people=2_000, seed=1, until=UNTIL, catalogue=custom, dirty=0.01)
    write_force(dirty, tmp_path / "out")
    extract = load_extract(tmp_path / "out", catalogue=custom, extract_date=UNTIL)
    key = ["file", "row", "rule"]
    assert extract.reconciles()
    got = extract.rejects[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected_rejects(dirty)[key].sort_values(key).reset_index(drop=True))
