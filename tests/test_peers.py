"""Peer mapping and places (hkc.matrix.peers, hkc.matrix.places): hand-made extracts with weights worked out by
hand, then synthetic forces whose planted peer groups must be recovered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from hkc.extract.load import load_extract
from hkc.matrix.cohort import select_cohort
from hkc.matrix.network import EDGE_COLUMNS, MAX_OCCURRENCE_PEOPLE
from hkc.matrix.peers import (
    ASSOCIATE_COLUMNS,
    PEER_GROUP_COLUMNS,
    PERIPHERY_COLUMNS,
    PeerMap,
    link_reason,
    map_peers,
)
from hkc.matrix.places import PLACE_COLUMNS
from hkc.matrix.scoring import score_people
from hkc.synth import generate_force, write_force
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)
DEFS = offline_definitions()
ROLE_WORDS = ("offend", "suspect", "perpetrat", "victim", "witness", "accused")


def day(days_ago: int) -> np.datetime64:
    return np.datetime64(AS_OF - dt.timedelta(days=days_ago), "s")


def decay(days_ago: int, half_life: float = 365.0) -> float:
    return 0.5 ** (days_ago / half_life)


def map_builder(b: ExtractBuilder, cohort, folder: Path, *, as_of: dt.date = AS_OF, peers: dict | None = None,
                places: dict | None = None, **options) -> PeerMap:
    extract = load_extract(b.write(folder), catalogue=DEFS.catalogue, extract_date=b.as_of)
    assert extract.counts["events"]["rejected"] == 0, extract.rejects
    scored = score_people(extract.people, extract.events, catalogue=DEFS.catalogue,
                          eligibility=DEFS.settings.eligibility, as_of=as_of)
    return map_peers(extract, scored, cohort, settings=dataclasses.replace(DEFS.settings.peers, **(peers or {})),
                     places=dataclasses.replace(DEFS.settings.places, **(places or {})), catalogue=DEFS.catalogue,
                     as_of=as_of, **options)


def together(b: ExtractBuilder, occurrence: str, people, *, days_ago: int, type_: str = "violence",
             location_id: str = "") -> None:
    for person in people:
        b.event(person, type_, days_ago=days_ago, occurrence_id=occurrence, location_id=location_id)


def edge_rows(peer_map: PeerMap) -> dict[tuple[str, str], tuple]:
    return {(r.person_a, r.person_b): (r.shared_occurrences, r.weight, r.first, r.last)
            for r in peer_map.edges.itertuples(index=False)}


# --------------------------------------------------------------------------------------------
# The network


@pytest.fixture
def small_network() -> ExtractBuilder:
    b = ExtractBuilder(AS_OF)
    for person in "ABCDE":
        b.person(person, age=16)
    together(b, "O1", "AB", days_ago=0)
    b.event("A", "knife_violence", days_ago=0, occurrence_id="O1")  # A twice in O1: one involvement
    together(b, "O2", "AB", days_ago=100)
    b.event("A", "violence", days_ago=50, occurrence_id="O6")  # dates differ within an incident:
    b.event("B", "violence", days_ago=52, occurrence_id="O6")  # the later one dates the link
    together(b, "O3", "AC", days_ago=730)  # the lookback's last day: counts
    together(b, "O4", "AD", days_ago=731)  # one day older: does not
    together(b, "O5", "BCD", days_ago=200)
    b.event("A", "violence", days_ago=5)  # no occurrence: links nobody
    b.event("E", "violence", days_ago=5)
    return b


def test_edge_weight_is_the_recency_weighted_count_of_shared_incidents(small_network, tmp_path):
    peer_map = map_builder(small_network, ["A"], tmp_path)
    w200 = round(decay(200), 6)
    assert edge_rows(peer_map) == {
        ("A", "B"): (3, round(1 + decay(100) + decay(50), 6), day(100), day(0)),
        ("A", "C"): (1, 0.25, day(730), day(730)),
        ("B", "C"): (1, w200, day(200), day(200)),
        ("B", "D"): (1, w200, day(200), day(200)),
        ("C", "D"): (1, w200, day(200), day(200)),
    }
    assert list(peer_map.edges.columns) == EDGE_COLUMNS
    assert peer_map.diagnostics["occurrences_shared"] == 5  # O1, O2, O3, O5, O6


def test_associates_list_each_cohort_member_and_everyone_linked_to_them(small_network, tmp_path):
    peer_map = map_builder(small_network, ["A", "B"], tmp_path)
    got = peer_map.associates
    assert list(got.columns) == ASSOCIATE_COLUMNS
    assert got[["person_id", "associate", "shared_occurrences", "associate_in_cohort"]].values.tolist() == [
        ["A", "B", 3, True], ["A", "C", 1, False],
        ["B", "A", 3, True], ["B", "C", 1, False], ["B", "D", 1, False]]


def test_an_occurrence_after_the_as_of_date_never_links(tmp_path):
    b = ExtractBuilder(AS_OF + dt.timedelta(days=10))  # the extract runs ten days past the as-of date
    for person in "ABCD":
        b.person(person)
    together(b, "ON", "AB", days_ago=10)  # on the as-of date: links
    together(b, "AFTER", "CD", days_ago=9)  # the day after: never
    b.event("A", "violence", days_ago=10, occurrence_id="MIXED")
    b.event("C", "violence", days_ago=9, occurrence_id="MIXED")  # C joins it after the as-of date
    peer_map = map_builder(b, ["A"], tmp_path)
    assert list(edge_rows(peer_map)) == [("A", "B")]
    assert peer_map.edges["last"].max() == day(0)


@pytest.mark.parametrize(("lookback", "shared"), [(99, 1), (100, 2)])
def test_lookback_boundary_day_counts(lookback, shared, small_network, tmp_path):
    peer_map = map_builder(small_network, ["A"], tmp_path, peers={"lookback_days": lookback})
    assert edge_rows(peer_map)[("A", "B")][0] == shared + 1  # O6 (50 days ago) always counts


def test_edges_lighter_than_the_minimum_weight_are_dropped(small_network, tmp_path):
    peer_map = map_builder(small_network, ["A"], tmp_path, peers={"min_edge_weight": 0.5})
    assert list(edge_rows(peer_map)) == [("A", "B"), ("B", "C"), ("B", "D"), ("C", "D")]
    assert peer_map.diagnostics["edges_below_min_weight"] == 1


def test_giant_occurrence_is_left_out_and_counted(tmp_path):
    b = ExtractBuilder(AS_OF)
    crowd = [f"X{i:02d}" for i in range(MAX_OCCURRENCE_PEOPLE + 10)]
    for person in ["A", "B", *crowd]:
        b.person(person)
    together(b, "FESTIVAL", ["A", *crowd], days_ago=20)
    together(b, "SMALL", "AB", days_ago=20)
    peer_map = map_builder(b, ["A"], tmp_path / "capped")
    assert list(edge_rows(peer_map)) == [("A", "B")]
    assert peer_map.diagnostics["occurrences_skipped_giant"] == 1
    assert peer_map.diagnostics["people_in_skipped_occurrences"] == len(crowd) + 1
    assert peer_map.diagnostics["skipped_occurrence_ids"] == ["FESTIVAL"]
    raised = map_builder(b, ["A"], tmp_path / "raised", max_occurrence_people=100)
    n = len(crowd) + 1
    assert len(raised.edges) == n * (n - 1) // 2 + 1  # the festival's pairs and A-B
    assert raised.diagnostics["occurrences_skipped_giant"] == 0


def test_empty_network_gives_empty_frames_with_fixed_columns(tmp_path):
    b = ExtractBuilder(AS_OF).person("A").event("A", "knife_possession", days_ago=3, outcome="convicted")
    peer_map = map_builder(b, ["A"], tmp_path)
    for frame, columns in ((peer_map.edges, EDGE_COLUMNS), (peer_map.associates, ASSOCIATE_COLUMNS),
                           (peer_map.peer_groups, PEER_GROUP_COLUMNS), (peer_map.periphery, PERIPHERY_COLUMNS)):
        assert frame.empty and list(frame.columns) == columns
    assert list(peer_map.places.columns) == PLACE_COLUMNS


# --------------------------------------------------------------------------------------------
# Peer groups and determinism


def cliques_extract(seed: int) -> tuple[ExtractBuilder, list[list[str]], list[str]]:
    """Six cliques of five who share four incidents each, weak bridges between cliques, and
    people linked once to one clique member (victims, witnesses)."""
    rng = random.Random(seed)
    b = ExtractBuilder(AS_OF)
    cliques = [[f"K{k}-{i}" for i in range(5)] for k in range(6)]
    for person in itertools.chain(*cliques):
        b.person(person, age=rng.randint(13, 22))
    occurrence = itertools.count()
    for clique in cliques:
        for _ in range(4):
            together(b, f"O{next(occurrence)}", rng.sample(clique, 4), days_ago=rng.randint(0, 700),
                     location_id=f"L{rng.randint(1, 8)}", type_=rng.choice(["violence", "knife_violence"]))
    for k in range(6):  # a bridge from each clique to the next
        together(b, f"O{next(occurrence)}", [rng.choice(cliques[k]), rng.choice(cliques[(k + 1) % 6])],
                 days_ago=rng.randint(0, 700))
    for n in range(30):
        b.person(f"V{n:02d}", age=rng.randint(11, 30))
        b.event(f"V{n:02d}", "knife_victim", days_ago=rng.randint(0, 700),
                occurrence_id=f"O{next(occurrence)}", location_id=f"L{rng.randint(1, 8)}")
        b.event(rng.choice(list(itertools.chain(*cliques))), "knife_violence", days_ago=rng.randint(0, 700),
                occurrence_id=b.events[-1]["occurrence_id"])
    cohort = cliques[0][:2] + cliques[1][:3] + cliques[2][:1] + cliques[3][:2]
    return b, cliques, cohort


def test_peer_groups_are_communities_holding_two_or_more_cohort_members(tmp_path):
    b, cliques, cohort = cliques_extract(1)
    peer_map = map_builder(b, cohort, tmp_path)
    groups = peer_map.peer_groups
    assert list(groups.columns) == PEER_GROUP_COLUMNS
    found = {g: set(f["person_id"]) for g, f in groups.groupby("peer_group")}
    assert len(found) == 3  # cliques 0, 1 and 3; clique 2 has one cohort member
    for k in (0, 1, 3):
        assert sum(set(cliques[k]) <= members for members in found.values()) == 1
    assert not set(cliques[2]) & set(groups["person_id"])
    assert (groups["role"] == np.where(groups["in_cohort"], "member", "periphery")).all()
    first = groups[groups["peer_group"] == "G01"]
    assert first["size"].iloc[0] == len(first) == groups.groupby("peer_group").size().max()


def test_row_order_never_changes_the_result(tmp_path):
    b, _, cohort = cliques_extract(2)
    first = map_builder(b, cohort, tmp_path / "as-built")
    rng = random.Random(7)
    shuffled = ExtractBuilder(AS_OF, people=rng.sample(b.people, len(b.people)),
                              events=rng.sample(b.events, len(b.events)))
    second = map_builder(shuffled, list(reversed(cohort)), tmp_path / "shuffled")
    for name in ("edges", "associates", "peer_groups", "periphery", "places"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name), check_exact=True)
    assert first.diagnostics == second.diagnostics
    assert first.peer_groups["peer_group"].nunique() >= 2


# --------------------------------------------------------------------------------------------
# The periphery and its wording


def test_periphery_lists_children_first_then_vulnerability_then_weight(tmp_path):
    b = ExtractBuilder(AS_OF)
    b.person("C", age=17)
    b.person("HEAVY", age=25).person("VULNERABLE", age=25).person("CHILD", age=15).person("CHILD2", age=17)
    b.person("ADULT18", age=18)
    for n, days_ago in enumerate((10, 20, 30)):
        together(b, f"H{n}", ["C", "HEAVY"], days_ago=days_ago)
    together(b, "V", ["C", "VULNERABLE"], days_ago=40)
    b.event("VULNERABLE", "missing_episode", days_ago=12)
    together(b, "K", ["C", "CHILD"], days_ago=300)
    together(b, "K2a", ["C", "CHILD2"], days_ago=300)
    together(b, "K2b", ["C", "CHILD2"], days_ago=200)
    together(b, "A18", ["C", "ADULT18"], days_ago=41)
    peer_map = map_builder(b, ["C"], tmp_path / "all")
    periphery = peer_map.periphery
    assert list(periphery.columns) == PERIPHERY_COLUMNS
    assert periphery["person_id"].tolist() == ["CHILD2", "CHILD", "VULNERABLE", "HEAVY", "ADULT18"]
    assert periphery["priority"].tolist() == [1, 2, 3, 4, 5]
    assert periphery["is_child"].tolist() == [True, True, False, False, False]
    capped = map_builder(b, ["C"], tmp_path / "capped", peers={"max_periphery": 2})
    assert capped.periphery["person_id"].tolist() == ["CHILD2", "CHILD"]
    assert capped.diagnostics["periphery_candidates"] == 5


def test_periphery_reason_names_the_cohort_links_and_incidents(tmp_path):
    b = ExtractBuilder(AS_OF)
    b.person("C1", age=16).person("C2", age=17).person("P", age=15).person("Q", age=20)
    ago = {name: (AS_OF - day_).days for name, day_ in
           {"O1": dt.date(2026, 3, 10), "O2": dt.date(2026, 5, 1), "O3": dt.date(2026, 8, 1),
            "O4": dt.date(2026, 6, 14)}.items()}
    together(b, "O1", ["P", "C1", "C2"], days_ago=ago["O1"])
    together(b, "O2", ["P", "C1"], days_ago=ago["O2"])
    together(b, "O3", ["P", "C2"], days_ago=ago["O3"])
    b.event("C1", "knife_violence", days_ago=ago["O4"], occurrence_id="O4")
    b.event("Q", "knife_victim", days_ago=ago["O4"], occurrence_id="O4")  # Q is the victim
    periphery = map_builder(b, ["C1", "C2"], tmp_path).periphery.set_index("person_id")
    assert periphery.loc["P", "reason"] == "co-offending or co-suspect with 2 cohort members in 3 incidents since " \
                                           "March 2026; a child (age 15)"
    assert periphery.loc["P", "linked_to"] == "C1;C2"
    assert (periphery.loc["P", "cohort_links"], periphery.loc["P", "shared_occurrences"]) == (2, 3)
    victim = periphery.loc["Q", "reason"]
    assert victim.startswith("victim or witness in 1 incident involving 1 cohort member in June 2026; "
                             "vulnerability score ")
    assert periphery["link_type"].to_dict() == {"P": "co_offending", "Q": "at_risk"}


@pytest.mark.parametrize(("members", "incidents", "first", "last", "text"), [
    (1, 1, dt.date(2026, 6, 1), dt.date(2026, 6, 30), "co-involved with 1 cohort member in 1 incident in June 2026"),
    (3, 2, dt.date(2025, 12, 31), dt.date(2026, 1, 1),
     "co-involved with 3 cohort members in 2 incidents since December 2025"),
])
def test_link_reason_wording(members, incidents, first, last, text):
    assert link_reason(members=members, incidents=incidents, first=first, last=last) == text


# --------------------------------------------------------------------------------------------
# Places


def test_places_ranked_by_recency_weighted_knife_activity_of_cohort_and_periphery(tmp_path):
    b = ExtractBuilder(AS_OF)
    for person in ("C1", "C2", "P", "X"):
        b.person(person)
    together(b, "O1", ["C1", "C2"], days_ago=0, type_="knife_possession", location_id="L1")
    b.event("C1", "knife_intel", days_ago=180, grade="B2", location_id="L1")
    together(b, "O2", ["C1", "P"], days_ago=10)  # puts P on the periphery
    b.event("P", "knife_victim", days_ago=0, location_id="L2")
    b.event("P", "violence", days_ago=0, location_id="L2")  # not knife-related
    b.event("X", "knife_possession", days_ago=0, location_id="L3")  # nobody on a list
    b.event("C1", "knife_possession", days_ago=366, location_id="L4")  # older than the lookback
    places = map_builder(b, ["C1", "C2"], tmp_path).places
    assert list(places.columns) == PLACE_COLUMNS
    assert places["location_id"].tolist() == ["L1", "L2"]
    l1, l2 = places.to_dict("records")
    assert (l1["activity"], l1["events"], l1["people"], l1["cohort_people"], l1["periphery_people"]) == \
        (2.5, 3, 2, 2, 0)
    assert (l2["activity"], l2["events"], l2["cohort_people"], l2["periphery_people"]) == (1.0, 1, 0, 1)
    assert l1["latest"] == day(0) and l1["peer_groups"] == "G01"
    assert l1["reason"] == "3 knife-related events involving 2 cohort members, latest 30 September 2026; " \
                           "peer group G01"
    assert l2["reason"].startswith("1 knife-related event involving 1 periphery person, latest 30 September 2026")
    top = map_builder(b, ["C1", "C2"], tmp_path / "top1", places={"top_n": 1}).places
    assert top["location_id"].tolist() == ["L1"]


# --------------------------------------------------------------------------------------------
# Synthetic forces: planted peer groups and their associates are found

SEEDS = (3, 6, 8)
ARI_FLOOR = 0.6


@pytest.fixture(scope="module", params=SEEDS)
def synthetic(request, tmp_path_factory):
    force = generate_force(people=20_000, seed=request.param, until=AS_OF, catalogue=DEFS.catalogue)
    folder = tmp_path_factory.mktemp(f"force{request.param}")
    write_force(force, folder, fmt="parquet")
    extract = load_extract(folder, catalogue=DEFS.catalogue, extract_date=AS_OF)
    scored = score_people(extract.people, extract.events, catalogue=DEFS.catalogue,
                          eligibility=DEFS.settings.eligibility, as_of=AS_OF)
    cohort = select_cohort(scored.scores, cohort=DEFS.settings.cohort, rag=DEFS.settings.rag)
    ids = cohort.members["person_id"].tolist()
    peer_map = map_peers(extract, scored, ids, settings=DEFS.settings.peers, places=DEFS.settings.places,
                         catalogue=DEFS.catalogue, as_of=AS_OF)
    return force, extract, scored, ids, peer_map


def test_synthetic_peer_groups_recover_the_planted_groups(synthetic):
    force, _, _, _, peer_map = synthetic
    planted = force.truth_people.set_index("person_id")["peer_group"]
    found = peer_map.peer_groups.set_index("person_id")["peer_group"]
    both = found.index.intersection(planted[planted != ""].index)
    assert found.nunique() >= 2 and len(both) >= 8  # not a trivial comparison
    assert adjusted_rand_score(planted.loc[both], found.loc[both]) >= ARI_FLOOR


def test_synthetic_periphery_holds_planted_associates_of_cohort_members(synthetic):
    force, _, _, cohort, peer_map = synthetic
    planted = force.truth_people.set_index("person_id")["peer_group"]
    cohort_groups = set(planted.loc[cohort]) - {""}
    associates = set(planted[planted.isin(cohort_groups)].index) - set(cohort)
    listed = set(peer_map.periphery["person_id"])
    assert len(listed) == DEFS.settings.peers.max_periphery
    assert len(listed & associates) >= 0.2 * len(listed)


def test_synthetic_edges_match_a_plain_pandas_self_join(synthetic):
    """The same network computed a second way, from the generated text with a pandas merge."""
    force, _, _, cohort, peer_map = synthetic
    window = AS_OF - dt.timedelta(days=DEFS.settings.peers.lookback_days)
    events = force.events[force.events["occurrence_id"] != ""]
    events = events.assign(date=pd.to_datetime(events["date"]).dt.date)
    events = events[(events["date"] >= window) & (events["date"] <= AS_OF)]
    inv = events.groupby(["occurrence_id", "person_id"])["date"].min().reset_index()
    pairs = inv.merge(inv, on="occurrence_id")
    pairs = pairs[pairs["person_id_x"] < pairs["person_id_y"]]
    age = [(AS_OF - max(x, y)).days for x, y in zip(pairs["date_x"], pairs["date_y"], strict=True)]
    pairs = pairs.assign(weight=np.power(0.5, np.array(age) / DEFS.settings.peers.half_life_days))
    expected = pairs.groupby(["person_id_x", "person_id_y"]).agg(n=("weight", "size"), w=("weight", "sum"))
    got = peer_map.edges.set_index(["person_a", "person_b"])
    assert len(got) == len(expected)
    assert (got["shared_occurrences"].to_numpy() == expected["n"].to_numpy()).all()
    assert np.allclose(got["weight"].to_numpy(), expected["w"].to_numpy(), atol=1e-6)
    linked = set(peer_map.associates["associate"])
    expected_linked = set(expected.reset_index().query("person_id_x in @cohort")["person_id_y"]) | \
        set(expected.reset_index().query("person_id_y in @cohort")["person_id_x"])
    assert linked == expected_linked


def test_synthetic_result_does_not_depend_on_event_order(synthetic):
    _, extract, scored, cohort, peer_map = synthetic
    shuffled = dataclasses.replace(extract, events=extract.events.sample(frac=1.0, random_state=3))
    again = map_peers(shuffled, scored, cohort[::-1], settings=DEFS.settings.peers, places=DEFS.settings.places,
                      catalogue=DEFS.catalogue, as_of=AS_OF)
    for name in ("edges", "associates", "peer_groups", "periphery", "places"):
        pd.testing.assert_frame_equal(getattr(peer_map, name), getattr(again, name), check_exact=True)
