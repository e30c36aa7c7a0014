"""Peer mapping: who is involved in incidents together, the peer groups and the periphery.

>>> peer_map = map_peers(extract, scored, cohort_ids, settings=defs.settings.peers,     # doctest: +SKIP
...                      places=defs.settings.places, catalogue=defs.catalogue, as_of=date(2026, 9, 30))
>>> peer_map.periphery[["person_id", "reason"]].head(1)                                # doctest: +SKIP
  person_id                                                     reason
0   P004711  co-involved with 2 cohort members in 3 incidents since March 2026; a child (age 15)

**The network.**  Two people are linked when they are involved in the same incident (the same
``occurrence_id``) dated within ``lookback_days`` before ``as_of`` (on or before it, never after), in
any role: a victim or witness is co-involved as much as an offender, so every text here says
"co-involved", never "offended with".  One incident adds ``0.5 ** (age_days / half_life_days)`` to the
link's weight, ``age_days`` counted from the later of the two people's dates in that incident.
Links lighter than ``min_edge_weight`` are dropped.  An incident with more than
:data:`MAX_OCCURRENCE_PEOPLE` people (a festival, a mass disorder, a data-entry default) would add a
link between every pair of them and is left out; ``diagnostics`` counts what was left out.

**Peer groups** are Louvain communities (networkx ``louvain_communities``, weighted, seeded with
``community_seed``) kept when they hold two or more cohort members.  Louvain runs on the cohort's
neighbourhood (everyone within :data:`COMMUNITY_HOPS` links of a cohort member), one connected
piece at a time, and stops after its first level (:data:`COMMUNITY_LEVELS`): tight groups of
people who are repeatedly involved together, not the district-sized blocks its later levels build.
Groups are labelled ``G01, G02, …`` by size, then cohort members, then internal weight.

**The periphery** are the people directly linked to a cohort member who are not in the cohort:
children (age at most ``child_max_age``) first, then people with a vulnerability score above 0, then
by the weight of their links to the cohort; at most ``max_periphery``.

**Each link says its role** (the ICO criticised the Gangs Matrix for listing victims as gang
associates).  A shared incident is *co-offending* when the person and a cohort member were both
recorded as offender or suspect in it; *victim or witness* when the person was recorded only as
victim or witness; *other* otherwise (both victims, a subject, no role).  ``link_type`` sorts the
person: ``co_offending`` with any co-offending incident; ``at_risk`` when linked, beyond that, only
as a victim or witness in at least one incident ("possibly at risk from cohort members": a
safeguarding entry, never an associate); ``other`` when linked only in other roles.  The
``reason`` names each kind of link with its counts, co-offending first.

Everything is vectorised (the pairs of people in an incident come from one numpy self-join, not a
loop over incidents) and deterministic: row order never changes a number, a label or an order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from hkc.definitions import Catalogue, PeerSettings, PlaceSettings
from hkc.extract import Extract
from hkc.matrix.network import (
    HARMED,
    MAX_OCCURRENCE_PEOPLE,
    OFFENDING,
    CoInvolvement,
    as_datetime,
    co_involvement,
    weighted_edges,
)
from hkc.matrix.places import MONTHS, rank_places
from hkc.matrix.scoring import ScoreResult

__all__ = ['PeerMap', 'map_peers', 'link_reason', 'COMMUNITY_LEVELS', 'COMMUNITY_HOPS', 'LINK_TEMPLATE', 'LINK_TEMPLATES',
           'LINK_KINDS', 'LINK_TYPES', 'CHILD_NOTE', 'VULNERABILITY_NOTE', 'ASSOCIATE_COLUMNS', 'PEER_GROUP_COLUMNS',
           'PERIPHERY_COLUMNS']

# Louvain levels kept.  The first level (each person moved to the neighbouring community that
# gains most modularity) gives tight groups of people linked by repeated co-involvement; later
# levels merge them into blocks of 50-160 people that no meeting can do group work with.  On
# synthetic forces of 20,000 people (10 seeds) the adjusted Rand index against the planted groups
# is 0.63-1.0 at one level and 0.2-0.3 at all levels (tests/test_peers.py asserts the floor).
COMMUNITY_LEVELS = 1

# Louvain runs on the people within this many links of a cohort member (None: on the whole
# connected components holding one).  A force-sized network has one giant component (240,000
# people in a synthetic force of a million) whose far side changes little near the cohort (on
# 20,000-person forces the groups agree with the whole-component ones, ARI 0.82-1.0, in 12 of 13
# comparisons) but makes Louvain take 20 s instead of under 1 s.
COMMUNITY_HOPS: int | None = 4

LINK_TEMPLATE = "co-involved with {members} in {incidents} {when}"

# The kinds of shared incident, in the order a reason names them, and the words for each.
LINK_KINDS = ("co_offending", "victim_witness", "other")
LINK_TEMPLATES = {
    "any": LINK_TEMPLATE,
    "co_offending": "co-offending or co-suspect with {members} in {incidents} {when}",
    "victim_witness": "victim or witness in {incidents} involving {members} {when}",
    "other": "co-involved in other roles with {members} in {incidents} {when}",
}
# What a periphery person is, from their kinds of link (see the module docstring).
LINK_TYPES = ("co_offending", "at_risk", "other")

CHILD_NOTE = "a child (age {age})"

VULNERABILITY_NOTE = "vulnerability score {score}"

ASSOCIATE_COLUMNS = ["person_id", "associate", "shared_occurrences", "weight", "last", "associate_in_cohort"]

PEER_GROUP_COLUMNS = ["peer_group", "person_id", "in_cohort", "role", "size", "cohort_members", "in_periphery"]

PERIPHERY_COLUMNS = ["person_id", "linked_to", "cohort_links", "shared_occurrences", "weight", "first_shared",
                     "last_shared", "age", "is_child", "vulnerability_score", "peer_group", "priority", "reason",
                     "link_type", "co_offending_incidents", "victim_witness_incidents", "other_incidents"]


@dataclass
class PeerMap:
    """The peer map of one refresh; every frame has the fixed columns named in this module.

    ``edges``: one row per linked pair (``person_a < person_b``). ``associates``: one row per cohort
    member and person linked to them (cohort members appear as each other's associates).
    ``peer_groups``: one row per person in a peer group; ``role`` is ``member`` for a cohort
    member and ``periphery`` for anyone else in the group (``in_periphery``: also on the periphery
    list). ``periphery``: in ``priority`` order.  ``places``: see :mod:`hkc.matrix.places` (activity of
    the cohort and of the periphery *as listed*, i.e. after ``max_periphery``).
    Dates (``first``, ``last``, ``first_shared``, ``last_shared``, ``latest``) are ``datetime64[s]``.
    ``diagnostics``: counts of what went in and what was left out.
    """

    edges: pd.DataFrame
    associates: pd.DataFrame
    peer_groups: pd.DataFrame
    periphery: pd.DataFrame
    places: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)


def _communities(edges: pd.DataFrame, people: int, cohort: np.ndarray, seed: int, diagnostics: dict,
                 hops: int | None = COMMUNITY_HOPS) -> list[np.ndarray]:
    """Louvain communities around the cohort (sorted positions): of each connected piece of the
    cohort's neighbourhood (everyone within ``hops`` links of a cohort member; ``None``: the whole
    connected components holding a cohort member)."""
    keys = ("components_with_cohort", "largest_component_with_cohort", "people_near_cohort")
    diagnostics.update(dict.fromkeys(keys, 0))
    if edges.empty or not len(cohort):
        return []
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    links = coo_matrix((np.ones(len(a), dtype=np.int32), (a, b)), shape=(people, people)).tocsr()
    links = (links + links.T).tocsr()
    _, component = connected_components(links, directed=False)
    sizes = np.bincount(component)
    touched = np.unique(component[cohort])
    touched = touched[sizes[touched] > 1]  # a cohort member with no links is a component of one
    near = np.isin(component, touched)
    if hops is not None:
        reach = np.zeros(people, dtype=bool)
        reach[cohort] = True
        for _ in range(hops):
            reach |= (links @ reach.astype(np.int32)) > 0
        near &= reach
    diagnostics.update(dict(zip(keys, (int(len(touched)), int(sizes[touched].max(initial=0)), int(near.sum())),
                            strict=True)))
    inside = near[a] & near[b]
    a, b, weight = a[inside], b[inside], edges["weight"].to_numpy()[inside]
    _, piece = connected_components(coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)),
                                               shape=(people, people)), directed=False)
    out = []
    for p in np.unique(piece[a]):  # pieces in the order of their first (smallest) edge
        in_piece = piece[a] == p
        g = nx.Graph()
        g.add_nodes_from(np.unique(np.r_[a[in_piece], b[in_piece]]).tolist())
        g.add_weighted_edges_from(zip(a[in_piece].tolist(), b[in_piece].tolist(), weight[in_piece].tolist(),
                                      strict=True))
        for found in nx.community.louvain_communities(g, weight="weight", seed=seed, max_level=COMMUNITY_LEVELS):
            out.append(np.array(sorted(found), dtype=np.int64))
    return out


def _peer_groups(communities: list[np.ndarray], edges: pd.DataFrame, is_cohort: np.ndarray) -> list[np.ndarray]:
    """Communities with two or more cohort members, in label order."""
    groups = [c for c in communities if is_cohort[c].sum() >= 2]
    a, b, w = edges["a"].to_numpy(), edges["b"].to_numpy(), edges["weight"].to_numpy()
    group_of = np.full(len(is_cohort), -1)
    for g, members in enumerate(groups):
        group_of[members] = g
    inside = (group_of[a] >= 0) & (group_of[a] == group_of[b])
    internal = np.bincount(group_of[a][inside], weights=w[inside], minlength=len(groups))
    keys = [(-len(m), -int(is_cohort[m].sum()), -round(internal[g], 9), int(m[0])) for g, m in enumerate(groups)]
    return [groups[g] for g in sorted(range(len(groups)), key=keys.__getitem__)]


def link_reason(*, members: int, incidents: int, first: dt.date, last: dt.date, kind: str = "any") -> str:
    """"co-involved with 2 cohort members in 3 incidents since March 2026" (``kind`` "any": neutral about
    roles); with a ``kind`` of :data:`LINK_KINDS`, the words of :data:`LINK_TEMPLATES` for it."""
    month = f"{MONTHS[first.month - 1]} {first.year}"
    same_month = (first.year, first.month) == (last.year, last.month)
    return LINK_TEMPLATES[kind].format(
        members=f"{members} cohort member{'s' if members != 1 else ''}",
        incidents=f"{incidents} incident{'s' if incidents != 1 else ''}",
        when=f"in {month}" if same_month else f"since {month}")


def _periphery(net: CoInvolvement, edges: pd.DataFrame, is_cohort: np.ndarray, scores: pd.DataFrame,
               group_label: np.ndarray, *, settings: PeerSettings) -> pd.DataFrame:
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    ca, cb = is_cohort[a], is_cohort[b]
    one = ca ^ cb
    links = pd.DataFrame({"p": np.where(ca, b, a)[one], "c": np.where(ca, a, b)[one],
                          "weight": edges["weight"].to_numpy()[one]})
    if links.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PERIPHERY_COLUMNS})
    kinds = _link_kinds(net, edges[one], is_cohort)
    per = links.groupby("p").agg(cohort_links=("c", "size"), weight=("weight", "sum")).join(
        kinds.groupby("p").agg(shared_occurrences=("occurrence", "size"), first=("day", "min"), last=("day", "max")))
    per = per.join(_by_kind(kinds))
    per["linked_to"] = links.sort_values("c").groupby("p")["c"].agg(lambda c: ";".join(net.people[c]))
    per = per.reset_index()
    per["person_id"] = net.people[per["p"].to_numpy()]
    info = scores.set_index("person_id").reindex(per["person_id"])
    per["age"] = info["age"].astype("Int64").to_numpy()
    per["vulnerability_score"] = info["vulnerability_score"].fillna(0.0).to_numpy()
    per["is_child"] = ((per["age"] >= 0) & (per["age"] <= settings.child_max_age)).fillna(False).astype(bool)
    per["peer_group"] = group_label[per["p"].to_numpy()]
    per["weight"] = per["weight"].round(6)
    per = per.sort_values(["is_child", "vulnerability_score", "weight", "last", "person_id"],
                          ascending=[False, False, False, False, True], key=_positive_vulnerability,
                          kind="stable").head(settings.max_periphery).reset_index(drop=True)
    per["priority"] = np.arange(1, len(per) + 1)
    per["first_shared"] = as_datetime(per["first"].to_numpy())
    per["last_shared"] = as_datetime(per["last"].to_numpy())
    per["link_type"] = np.where(per["co_offending_incidents"] > 0, "co_offending",
                                np.where(per["victim_witness_incidents"] > 0, "at_risk", "other"))
    per["reason"] = [_periphery_reason(r) for r in per.itertuples(index=False)]
    return per[PERIPHERY_COLUMNS]


def _link_kinds(net: CoInvolvement, edges: pd.DataFrame, is_cohort: np.ndarray) -> pd.DataFrame:
    """One row per periphery person and incident shared with a cohort member over the kept links:
    ``p``, ``occurrence``, ``day`` (the latest), ``kind`` (0 co-offending, 1 victim or witness, 2 other)
    and ``members`` (the cohort members in it, as a tuple of positions)."""
    n = max(len(net.people), 1)
    kept = np.sort(edges["a"].to_numpy().astype(np.int64) * n + edges["b"].to_numpy())
    hit = np.isin(net.a.astype(np.int64) * n + net.b, kept)
    a_in = is_cohort[net.a[hit]]
    role_a = net.role_a[hit] if net.role_a is not None else np.zeros(int(hit.sum()), dtype=np.int8)
    role_b = net.role_b[hit] if net.role_b is not None else np.zeros(int(hit.sum()), dtype=np.int8)
    p_role, c_role = np.where(a_in, role_b, role_a), np.where(a_in, role_a, role_b)
    pairs = pd.DataFrame({"p": np.where(a_in, net.b[hit], net.a[hit]), "c": np.where(a_in, net.a[hit], net.b[hit]),
                          "occurrence": net.occurrence[hit], "day": net.day[hit],
                          "co": (p_role & OFFENDING).astype(bool) & (c_role & OFFENDING).astype(bool),
                          "harmed": (p_role & HARMED).astype(bool) & ~(p_role & OFFENDING).astype(bool)})
    out = pairs.groupby(["p", "occurrence"]).agg(day=("day", "max"), co=("co", "any"), harmed=("harmed", "any"),
                                                 members=("c", lambda c: tuple(sorted(set(c)))))
    out["kind"] = np.where(out["co"], 0, np.where(out["harmed"], 1, 2))
    return out.reset_index()[["p", "occurrence", "day", "kind", "members"]]


def _by_kind(kinds: pd.DataFrame) -> pd.DataFrame:
    """Per periphery person (index ``p``) and kind of link: incidents, cohort members, first and last day."""
    out = pd.DataFrame(index=pd.Index(np.unique(kinds["p"].to_numpy()), name="p"))
    for k, name in enumerate(LINK_KINDS):
        part = kinds[kinds["kind"] == k].groupby("p")
        out[f"{name}_incidents"] = part.size().reindex(out.index, fill_value=0).astype(int)
        out[f"{name}_members"] = part["members"].agg(lambda m: len(set().union(*m))).reindex(out.index,
                                                                                          fill_value=0).astype(int)
        out[f"{name}_first"] = part["day"].min().reindex(out.index)
        out[f"{name}_last"] = part["day"].max().reindex(out.index)
    return out


def _positive_vulnerability(column: pd.Series) -> pd.Series:
    """Sort key: any vulnerability score above 0 ranks alike; the weight then decides."""
    return column > 0 if column.name == "vulnerability_score" else column


def _day_date(day: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _periphery_reason(row) -> str:
    parts = [link_reason(members=getattr(row, f"{kind}_members"), incidents=getattr(row, f"{kind}_incidents"),
                         first=_day_date(getattr(row, f"{kind}_first")), last=_day_date(getattr(row, f"{kind}_last")),
                         kind=kind)
             for kind in LINK_KINDS if getattr(row, f"{kind}_incidents") > 0]
    if row.is_child:
        parts.append(CHILD_NOTE.format(age=row.age))
    if row.vulnerability_score > 0:
        parts.append(VULNERABILITY_NOTE.format(score=f"{row.vulnerability_score:g}"))
    return "; ".join(parts)


def map_peers(extract: Extract, scored: ScoreResult, cohort_ids: Sequence[str], *, settings: PeerSettings,
              places: PlaceSettings, catalogue: Catalogue, as_of: dt.date,
              max_occurrence_people: int = MAX_OCCURRENCE_PEOPLE) -> PeerMap:
    """Map the cohort's peers as of ``as_of``: edges, associates, peer groups, periphery and places.

    ``extract`` needs ``events`` (``person_id, date, type, role, occurrence_id, location_id``);
    ``scored`` gives each person's ``age`` and ``vulnerability_score``; ``cohort_ids`` are the
    listed person ids.  See the module docstring for the rules.
    """
    events = extract.events
    net = co_involvement(events, as_of=as_of, lookback_days=settings.lookback_days,
                         max_occurrence_people=max_occurrence_people)
    edges = weighted_edges(net, as_of=as_of, half_life_days=settings.half_life_days)
    light = edges["weight"] < settings.min_edge_weight
    edges = edges[~light].reset_index(drop=True)
    cohort_set = set(map(str, cohort_ids))
    is_cohort = _flags(net.people, cohort_set)
    cohort_pos = np.flatnonzero(is_cohort)

    network: dict = {}
    groups = _peer_groups(_communities(edges, len(net.people), cohort_pos, settings.community_seed, network),
                          edges, is_cohort)
    width = max(2, len(str(len(groups))))
    group_label = np.full(len(net.people), "", dtype=object)
    for g, members in enumerate(groups):
        group_label[members] = f"G{g + 1:0{width}d}"
    periphery = _periphery(net, edges, is_cohort, scored.scores, group_label, settings=settings)

    ids = net.people
    edge_out = pd.DataFrame({"person_a": ids[edges["a"].to_numpy()], "person_b": ids[edges["b"].to_numpy()],
                             "shared_occurrences": edges["shared_occurrences"].to_numpy(),
                             "weight": edges["weight"].round(6).to_numpy(), "first": edges["first"].to_numpy(),
                             "last": edges["last"].to_numpy()})
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    both = pd.concat([edge_out[is_cohort[a]].rename(columns={"person_a": "person_id", "person_b": "associate"}),
                      edge_out[is_cohort[b]].rename(columns={"person_b": "person_id", "person_a": "associate"})])
    both["associate_in_cohort"] = np.r_[is_cohort[b][is_cohort[a]], is_cohort[a][is_cohort[b]]]
    associates = both.sort_values(["person_id", "weight", "associate"], ascending=[True, False, True],
                                  kind="stable")[ASSOCIATE_COLUMNS].reset_index(drop=True)

    listed = set(periphery["person_id"])
    rows = [(group_label[m[0]], ids[p], bool(is_cohort[p]), len(m), int(is_cohort[m].sum()))
            for m in groups for p in m]
    peer_groups = pd.DataFrame(rows, columns=["peer_group", "person_id", "in_cohort", "size", "cohort_members"])
    peer_groups["role"] = np.where(peer_groups["in_cohort"].astype(bool), "member", "periphery")
    peer_groups["in_periphery"] = peer_groups["person_id"].isin(listed)
    peer_groups = peer_groups.sort_values(["peer_group", "in_cohort", "person_id"], ascending=[True, False, True],
                                          kind="stable")[PEER_GROUP_COLUMNS].reset_index(drop=True)

    place_table = rank_places(events, cohort_ids=cohort_set, periphery_ids=listed,
                              peer_group_of=dict(zip(ids[group_label != ""], group_label[group_label != ""],
                                                     strict=True)),
                              settings=places, catalogue=catalogue, as_of=as_of)
    diagnostics = net.diagnostics | network | {
        "edges": int(len(edge_out)), "edges_below_min_weight": int(light.sum()),
        "cohort_members_linked": int(associates["person_id"].nunique()), "peer_groups": len(groups),
        "periphery_candidates": _candidates(edges, is_cohort)}
    return PeerMap(edges=edge_out.reset_index(drop=True), associates=associates, peer_groups=peer_groups,
                   periphery=periphery, places=place_table, diagnostics=diagnostics)


def _flags(people: np.ndarray, wanted: set[str]) -> np.ndarray:
    """``people`` (sorted ids) that are in ``wanted``, by binary search."""
    keys = np.array(sorted(wanted), dtype=object)
    at = np.searchsorted(people, keys)
    hit = at < len(people)
    hit[hit] = people[at[hit]] == keys[hit]
    flags = np.zeros(len(people), dtype=bool)
    flags[at[hit]] = True
    return flags


def _candidates(edges: pd.DataFrame, is_cohort: np.ndarray) -> int:
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    return int(len(np.unique(np.r_[b[is_cohort[a] & ~is_cohort[b]], a[is_cohort[b] & ~is_cohort[a]]])))
