"""Who offends together, where, and against whom: peer groups, places and linked victims.

* **Peer groups** of 3-8 young people in one district whose propensities are correlated (a shared
  lasting part and shared quarterly changes).  A group's incidents involve 2-4 members old enough,
  drawn by their current propensity, who share an occurrence, a date, a type and (mostly) one of
  the group's two hotspots.
* **Places**: each district has Zipf-weighted locations (a few hotspots, a long tail).
* **Victims** of knife violence, violence and robbery are other people, mostly from the
  incident's district, linked to it by a shared occurrence, date and place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hkc.extract import SEX_CODES
from hkc.synth.arrow import as_text, scalar
from hkc.synth.dates import Calendar
from hkc.synth.people import AREAS, Groups, People
from hkc.synth.rates import Rates
from hkc.synth.sampling import choice, segment_rank

GROUP_AGE = (12.0, 24.0)            # ages at `until` of people who can be in a peer group
GROUP_SIZE = (3, 8)
GROUP_MIN_AGE = 11                  # members take part in incidents from this age
GROUP_JOIN_RATE = 0.06              # x exp(0.9 z_risk) x sex weight
GROUP_SHARED = 0.4                  # share of a member's propensity that is the group's
GROUP_INCIDENTS_PER_QUARTER = 0.15  # per group, x exp(GROUP_ACTIVITY_SPREAD x its lasting + current level)
GROUP_ACTIVITY_SPREAD = 0.5
GROUP_INCIDENT_CAP = 0.4            # most incidents a group can expect in a quarter
LOCATIONS_PER_PERSON = 0.1          # distinct places per person living in a district
ZIPF_EXPONENT = 1.0
HOME_AREA_SHARE = 0.85              # events in the person's own district
VICTIM_LOCAL_SHARE = 0.8            # victims from the incident's own district




def make_groups(rng: np.random.Generator, pop: People, cal: Calendar) -> Groups:
    """Form groups of people of similar age in one district; pull members' propensities together."""
    age = (cal.until - pop.dob) / 365.25
    sex_weight = np.array([{"F": 0.4, "M": 1.6}.get(s, 1.0) for s in SEX_CODES])[pop.sex]
    p = np.clip(GROUP_JOIN_RATE * np.exp(0.9 * pop.z_risk) * sex_weight, 0, 0.7)
    join = (age >= GROUP_AGE[0]) & (age < GROUP_AGE[1]) & (rng.random(pop.n) < p)
    cand = np.flatnonzero(join)
    cand = cand[np.lexsort((age[cand] + rng.normal(0, 1.5, len(cand)), pop.area[cand]))]
    sizes = rng.integers(GROUP_SIZE[0], GROUP_SIZE[1] + 1, size=len(cand) // GROUP_SIZE[0] + 2)
    ends = np.cumsum(sizes)
    group = np.searchsorted(ends, np.arange(len(cand)), side="right")
    counts = np.bincount(group, minlength=len(sizes))
    keep = counts[group] >= GROUP_SIZE[0]
    cand, group = cand[keep], group[keep]
    _, group = np.unique(group, return_inverse=True)
    g = int(group.max()) + 1 if len(group) else 0
    of = np.full(pop.n, -1, dtype=np.int32)
    of[cand] = group
    ptr = np.r_[0, np.cumsum(np.bincount(group, minlength=g))]
    static = rng.normal(0.4, 0.8, size=g)
    # Shared group effect: members' propensities are correlated.
    pop.z_risk[cand] = math.sqrt(1 - GROUP_SHARED) * pop.z_risk[cand] + math.sqrt(GROUP_SHARED) * static[group]
    pop.z_weapon[cand] = math.sqrt(0.7) * pop.z_weapon[cand] + math.sqrt(0.3) * rng.standard_normal(g)[group]
    return Groups(of=of, members=cand, ptr=ptr, area=pop.area[cand[ptr[:-1]]] if g else np.zeros(0, np.int16),
                  static=static, hotspots=np.zeros((g, 2), dtype=np.int64))


@dataclass
class Places:
    """Every place, district by district, busiest first within each district."""

    area: np.ndarray
    rank: np.ndarray      # 1 = the district's busiest place
    weight: np.ndarray
    number: np.ndarray    # the number in the place's id
    cum: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def sample(self, rng: np.random.Generator, areas: np.ndarray) -> np.ndarray:
        """A Zipf-weighted place in each of ``areas``."""
        x = self.lo[areas] + rng.random(len(areas)) * (self.hi[areas] - self.lo[areas])
        return np.clip(np.searchsorted(self.cum, x, side="right"), self.first[areas], self.last[areas])

    def ids(self) -> pa.Array:
        prefix = np.array([a[1] + "-" for a in AREAS])[self.area]
        width = max(4, len(str(int(self.number.max()))))
        digits = pc.utf8_lpad(pa.array(self.number).cast(pa.large_string()), width, "0")
        return pc.binary_join_element_wise(as_text(prefix), digits, scalar(""))


def make_places(rng: np.random.Generator, pop: People, groups: Groups) -> Places:
    """Places in proportion to each district's people, and two hotspots for each group."""
    residents = np.bincount(pop.area, minlength=len(AREAS))
    count = np.maximum(8, np.round(residents * LOCATIONS_PER_PERSON)).astype(np.int64)
    area = np.repeat(np.arange(len(AREAS)), count)
    first = np.r_[0, np.cumsum(count)[:-1]]
    rank = np.arange(len(area)) - first[area] + 1
    weight = 1.0 / rank ** ZIPF_EXPONENT
    # Place numbers are shuffled within each district so the id does not give the rank away.
    number = np.empty(len(area), dtype=np.int64)
    order = np.lexsort((rng.random(len(area)), area))
    number[order] = rank
    cum = np.cumsum(weight)
    places = Places(area=area, rank=rank, weight=weight, number=number, cum=cum,
                    lo=np.r_[0.0, cum[first[1:] - 1]], hi=cum[first + count - 1], first=first,
                    last=first + count - 1)
    if groups.count:
        groups.hotspots[:] = places.sample(rng, np.repeat(groups.area, 2)).reshape(-1, 2)
    return places


@dataclass
class Incidents:
    """Peer-group incidents of one quarter (numbered from ``first``) and their member rows."""

    first: int
    group: np.ndarray
    type: np.ndarray
    day: np.ndarray
    rows: tuple[np.ndarray, ...]  # person, day, type, incident number, group

    @property
    def count(self) -> int:
        return len(self.group)

    @classmethod
    def none(cls, first: int) -> Incidents:
        empty = np.zeros(0, dtype=np.int64)
        return cls(first=first, group=empty, type=empty, day=empty, rows=(empty,) * 5)


def group_incidents(rng: np.random.Generator, groups: Groups, rates: Rates, q: int, ages: np.ndarray, lo: int,
                    span: int, *, first: int) -> Incidents:
    """Peer-group incidents of one quarter: 2-4 members old enough, weighted by current propensity."""
    profiles, risk = rates.profiles, rates.latent.risk
    types = np.array([t for t, p in enumerate(profiles) if p.group > 0], dtype=np.int64)
    if not groups.count or not len(types):
        return Incidents.none(first)
    old = ages[groups.members] >= GROUP_MIN_AGE * 4
    able = np.bincount(groups.of[groups.members], weights=old, minlength=groups.count).astype(np.int64)
    level = groups.static + rates.latent.group_level[q]
    mu = np.minimum(GROUP_INCIDENTS_PER_QUARTER * np.exp(GROUP_ACTIVITY_SPREAD * level), GROUP_INCIDENT_CAP)
    group = np.repeat(np.arange(groups.count), rng.poisson(mu * (able >= 2)))
    typ = types[choice(rng, [profiles[t].group for t in types], len(group))]
    day = lo + rng.integers(0, span, size=len(group))
    want = np.minimum(rng.integers(2, 5, size=len(group)), able[group])
    # Every (incident, member) pair; members drawn by weighted sampling without replacement.
    sizes = np.diff(groups.ptr)[group]
    pair = np.repeat(np.arange(len(group)), sizes)
    slot = groups.ptr[group][pair] + np.arange(len(pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    member = groups.members[slot]
    key = np.where(old[slot], np.log(rng.random(len(member))) / risk[q, member], -np.inf)
    order = np.lexsort((-key, pair))
    pick = order[segment_rank(pair[order]) < want[pair[order]]]
    inc = pair[pick]
    return Incidents(first=first, group=group, type=typ, day=day,
                     rows=(member[pick].astype(np.int32), day[inc], typ[inc], first + inc, group[inc]))


class Victims:
    """Draws victims for incidents: mostly local, weighted by age, sex and current propensity."""

    def __init__(self, rates: Rates, groups: Groups):
        self.rates, self.groups, self.pop = rates, groups, rates.pop
        self.area_order = np.argsort(self.pop.area, kind="stable")
        bounds = np.searchsorted(self.pop.area[self.area_order], np.arange(len(AREAS) + 1))
        self.area_first, self.area_stop = bounds[:-1], bounds[1:]

    def link(self, rng: np.random.Generator, t: int, victim_code: str, share: float, q: int, ages: np.ndarray,
             person: np.ndarray, day: np.ndarray, first: int, incidents: Incidents, *, group_chunk: int
             ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Victims for a ``share`` of this quarter's type-``t`` incidents, linked by a shared occurrence.

        ``person`` and ``day`` are this quarter's own type-``t`` events (numbered from ``first`` in
        chunk ``t``); ``incidents`` are the group incidents (chunk ``group_chunk``).  Returns the
        victim rows (person, day, type, source chunk, source incident) and the own-chunk rows of
        type ``t`` that now have a victim."""
        groups = self.groups
        sel = np.flatnonzero(incidents.type == t)
        src_chunk = np.r_[np.full(len(person), t), np.full(len(sel), group_chunk)]
        src_inc = np.r_[first + np.arange(len(person)), incidents.first + sel].astype(np.int64)
        day = np.r_[day, incidents.day[sel]]
        area = np.r_[self.pop.area[person], groups.area[incidents.group[sel]]].astype(np.int64)
        offender = np.r_[person, np.full(len(sel), -1)].astype(np.int64)
        offender_group = np.r_[np.full(len(person), -1), incidents.group[sel]].astype(np.int64)
        go = np.flatnonzero(rng.random(len(day)) < share)
        codes = self.rates.codes
        vt = codes.index(victim_code) if victim_code in codes else t
        victim = self.sample(rng, vt, q, ages, area[go])
        # Never the offender, nor a member of the offending group.
        ok = (victim >= 0) & (victim != offender[go])
        ok &= (offender_group[go] < 0) | (groups.of[np.maximum(victim, 0)] != offender_group[go])
        idx = go[ok]
        rows = (victim[ok].astype(np.int32), day[idx], np.full(len(idx), vt), src_chunk[idx], src_inc[idx])
        return rows, src_inc[idx[src_chunk[idx] == t]]

    def sample(self, rng: np.random.Generator, t: int, q: int, ages: np.ndarray, areas: np.ndarray) -> np.ndarray:
        """A victim for each incident: VICTIM_LOCAL_SHARE from the incident's district, weighted by age, sex
        and (the square root of) current propensity, up to the type's cap (repeat victims, not the same
        few people every time)."""
        rates = self.rates
        drive = 0.5 * rates.latent.risk[q] + 0.5 * rates.latent.vuln[q]
        weight = np.minimum(rates.tables[t][ages] * drive * rates.static[t], rates.caps[t])[self.area_order]
        cum = np.cumsum(weight, dtype=np.float64)
        if len(areas) == 0 or cum[-1] <= 0:
            return np.full(len(areas), -1, dtype=np.int64)
        before = np.r_[0.0, cum][self.area_first]
        after = np.r_[0.0, cum][self.area_stop]
        local = (rng.random(len(areas)) < VICTIM_LOCAL_SHARE) & (after[areas] > before[areas])
        lo = np.where(local, before[areas], 0.0)
        hi = np.where(local, after[areas], cum[-1])
        pos = np.searchsorted(cum, lo + rng.random(len(areas)) * (hi - lo), side="right")
        return self.area_order[np.minimum(pos, len(cum) - 1)].astype(np.int64)
