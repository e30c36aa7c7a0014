"""Drawing the events: quarterly Poisson counts per person and type, group incidents, victims and
first contacts, each with a role, outcome, grade, source, occurrence and place.

Every random stream is its own (``events:<type>``, ``events:peer groups``, ``victims:<type>``,
``events:first contact``), so e.g. the intelligence recording bias changes intelligence events
only.  :func:`merge` puts all events in date order with the rows of one incident together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hkc.extract import OUTCOME_CODES, ROLE_CODES, SOURCE_CODES
from hkc.synth.dates import Calendar, age_quarters
from hkc.synth.network import HOME_AREA_SHARE, Incidents, Places, Victims, group_incidents
from hkc.synth.people import AREAS, Groups
from hkc.synth.profiles import (
    CRIMINAL_AGE,
    FIRST_CONTACT,
    GRADE_ASSESSMENT,
    GRADE_SOURCE,
    NO_GRADE_SHARE,
    NO_OUTCOME_SHARE,
    OUTCOME_SHARES,
)
from hkc.synth.rates import Rates
from hkc.synth.sampling import choice, choice_by_row, stream

CHUNK_GROUP, CHUNK_FIRST = 48, 60  # chunk numbers of group incidents and first contacts (types: 0, 1, ...)
LAST_AGE = 31.0                     # quarterly extracts hold people until this age


@dataclass
class Chunk:
    """Events from one stream.  ``key`` numbers incidents within the chunk."""

    person: np.ndarray
    day: np.ndarray
    type: np.ndarray
    role: np.ndarray
    source: np.ndarray
    outcome: np.ndarray
    grade: np.ndarray
    occurrence: np.ndarray   # bool: has an occurrence_id
    location: np.ndarray     # place number or -1
    key: np.ndarray          # (chunk << 40) | incident: sort and occurrence key


class Simulation:
    """Every event of a force, drawn quarter by quarter from the rate model."""

    def __init__(self, seed: int, rates: Rates, groups: Groups, places: Places, cal: Calendar, *,
                 quarterly: bool = False):
        self.seed, self.rates, self.groups, self.places, self.cal = seed, rates, groups, places, cal
        # For quarterly extracts: outcomes as they end up, not as they stand at `until`; first contacts
        # over each person's ages 10-30, not all before `until` (see _first_contacts).
        self.quarterly = quarterly
        self.pop = rates.pop
        self.codes, self.indicators, self.profiles = rates.codes, rates.indicators, rates.profiles
        self.victims = Victims(rates, groups)
        self.group_places = np.zeros(0, dtype=np.int64)  # place of each group incident, set by _group_chunk

    def run(self) -> list[Chunk]:
        """Draw every event, quarter by quarter.  Returns one chunk per random stream."""
        cal, types = self.cal, len(self.codes)
        streams = [stream(self.seed, f"events:{code}") for code in self.codes]
        group_rng = stream(self.seed, "events:peer groups")
        links = [(t, p.victim) for t, p in enumerate(self.profiles) if p.victim is not None]
        link_rngs = [stream(self.seed, f"victims:{self.codes[t]}") for t, _ in links]
        own: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(types)]
        own_count = [0] * types
        grp: list[Incidents] = []
        vic: list[list[tuple[np.ndarray, ...]]] = [[] for _ in links]
        linked: list[list[np.ndarray]] = [[] for _ in range(types)]
        for q in range(cal.quarters):
            lo, span = int(cal.edges[q]), int(cal.edges[q + 1] - cal.edges[q])
            ages = age_quarters(lo, self.pop.dob)
            first_row = list(own_count)
            for t in range(types):
                counts = streams[t].poisson(self.rates.rate(t, q, ages))
                who = np.flatnonzero(counts)
                person = np.repeat(who, counts[who]).astype(np.int32)
                own[t].append((person, lo + streams[t].integers(0, span, size=len(person))))
                own_count[t] += len(person)
            incidents = group_incidents(group_rng, self.groups, self.rates, q, ages, lo, span,
                                        first=grp[-1].first + grp[-1].count if grp else 0)
            grp.append(incidents)
            for k, (t, (victim_code, share)) in enumerate(links):
                person, day = own[t][-1]
                rows, own_linked = self.victims.link(link_rngs[k], t, victim_code, share, q, ages, person, day,
                                                     first_row[t], incidents, group_chunk=CHUNK_GROUP)
                vic[k].append(rows)
                linked[t].append(own_linked)
        chunks = [self._own_chunk(t, streams[t], own[t], linked[t]) for t in range(types)]
        chunks.append(self._group_chunk(group_rng, grp))
        for k, (t, _) in enumerate(links):
            chunks.append(self._victim_chunk(vic[k], chunks, t))
        chunks.append(self._first_contacts(chunks))
        return chunks

    # -- attributes ----------------------------------------------------------------------------

    def _roles(self, rng: np.random.Generator, t: int, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Roles and outcomes (index into OUTCOME_CODES, -1 none) for own events of type ``t``."""
        ind, prof, n = self.indicators[t], self.profiles[t], len(day)
        allowed = [ROLE_CODES.index(r) for r in ind.roles]
        if ind.evidence == "outcome" and {"offender", "suspect"} & set(ind.roles):
            return self._offences(rng, day, allowed)
        weights = {r: w for r, w in (prof.roles or {}).items() if r in ind.roles} or {r: 1.0 for r in ind.roles}
        roles = np.array([ROLE_CODES.index(r) for r in weights])[choice(rng, list(weights.values()), n)]
        return roles.astype(np.int8), np.full(n, -1, dtype=np.int8)

    def _offences(self, rng: np.random.Generator, day: np.ndarray, allowed: list[int]
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Outcomes by time before ``until`` (recent ones mostly pending; if ``quarterly``, as for old
        events, i.e. as they end up), and offender or suspect roles."""
        n = len(day)
        ago = self.cal.until - day
        period = np.where(ago < 120, 0, np.where(ago < 365, 1, 2))
        if self.quarterly:
            period = np.full(n, 2)
        table = np.array([OUTCOME_SHARES[o] for o in OUTCOME_CODES]).T
        outcome = choice_by_row(rng, table, period).astype(np.int8)
        outcome[rng.random(n) < NO_OUTCOME_SHARE] = -1
        proven = np.isin(outcome, [OUTCOME_CODES.index(o) for o in ("convicted", "charged", "cautioned")])
        p_offender = np.where(outcome < 0, 0.5, np.where(proven, 0.95, 0.15))
        role = np.where(rng.random(n) < p_offender, ROLE_CODES.index("offender"), ROLE_CODES.index("suspect"))
        role = np.where(np.isin(role, allowed), role, allowed[0])
        return role.astype(np.int8), outcome

    def _grades(self, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
        if self.indicators[t].evidence != "grade":
            return np.full(n, -1, dtype=np.int8)
        grade = choice(rng, list(GRADE_SOURCE.values()), n) * 5 + choice(rng, list(GRADE_ASSESSMENT.values()), n)
        return np.where(rng.random(n) < NO_GRADE_SHARE, -1, grade).astype(np.int8)

    def _sources(self, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
        sources = self.profiles[t].sources
        codes = np.array([SOURCE_CODES.index(s) for s in sources], dtype=np.int8)
        return codes[choice(rng, list(sources.values()), n)]

    def _places(self, rng: np.random.Generator, person: np.ndarray, share: float) -> np.ndarray:
        """A place for a ``share`` of events (-1 for none): mostly in the person's own district."""
        n = len(person)
        sizes = np.array([a[2] for a in AREAS])
        area = np.where(rng.random(n) < HOME_AREA_SHARE, self.pop.area[person], choice(rng, sizes, n))
        place = self.places.sample(rng, area)
        return np.where(rng.random(n) < share, place, -1)

    # -- chunks --------------------------------------------------------------------------------

    def _own_chunk(self, t: int, rng: np.random.Generator, parts: list[tuple[np.ndarray, np.ndarray]],
                   linked: list[np.ndarray]) -> Chunk:
        person = np.concatenate([p for p, _ in parts])
        day = np.concatenate([d for _, d in parts])
        n = len(person)
        role, outcome = self._roles(rng, t, day)
        occurrence = rng.random(n) < self.profiles[t].occurrence
        occurrence[np.concatenate(linked or [np.zeros(0, np.int64)]).astype(np.int64)] = True
        return Chunk(person=person, day=day, type=np.full(n, t, dtype=np.int16), role=role,
                     source=self._sources(rng, t, n), outcome=outcome, grade=self._grades(rng, t, n),
                     occurrence=occurrence, location=self._places(rng, person, self.profiles[t].location),
                     key=(np.int64(t) << 40) | np.arange(n, dtype=np.int64))

    def _group_chunk(self, rng: np.random.Generator, quarters: list[Incidents]) -> Chunk:
        person, day, typ, inc, group = (np.concatenate([q.rows[i] for q in quarters]).astype(np.int64)
                                        for i in range(5))
        n = len(person)
        role = np.zeros(n, dtype=np.int8)
        outcome = np.full(n, -1, dtype=np.int8)
        for t in np.unique(typ):
            sel = typ == t
            allowed = [ROLE_CODES.index(r) for r in self.indicators[t].roles]
            role[sel], outcome[sel] = self._offences(rng, day[sel], allowed)
            if self.indicators[t].evidence != "outcome":
                outcome[sel] = -1
        # One place per incident: one of the group's two hotspots (75%), else anywhere in its district.
        n_inc = int(inc.max()) + 1 if n else 0
        inc_group = np.zeros(n_inc, dtype=np.int64)
        inc_group[inc] = group
        hot = self.groups.hotspots[inc_group, rng.integers(0, 2, size=n_inc)] if n_inc else np.zeros(0, np.int64)
        anywhere = self.places.sample(rng, self.groups.area[inc_group]) if n_inc else hot
        inc_place = np.where(rng.random(n_inc) < 0.75, hot, anywhere)
        self.group_places = inc_place  # victims of a group incident are where it happened
        return Chunk(person=person.astype(np.int32), day=day, type=typ.astype(np.int16), role=role,
                     source=np.full(n, SOURCE_CODES.index("police"), dtype=np.int8), outcome=outcome,
                     grade=np.full(n, -1, dtype=np.int8), occurrence=np.ones(n, dtype=bool),
                     location=inc_place[inc] if n else np.zeros(0, np.int64),
                     key=(np.int64(CHUNK_GROUP) << 40) | inc.astype(np.int64))

    def _victim_chunk(self, parts: list[tuple[np.ndarray, ...]], chunks: list[Chunk], t: int) -> Chunk:
        """Victim rows share the date, place and occurrence of the incident they are linked to."""
        person, day, typ, src_chunk, src_inc = (np.concatenate([p[i] for p in parts]) for i in range(5))
        n = len(person)
        location = np.full(n, -1, dtype=np.int64)
        own = src_chunk == t
        location[own] = chunks[t].location[src_inc[own]]
        location[~own] = self.group_places[src_inc[~own]]
        return Chunk(person=person, day=day, type=typ.astype(np.int16),
                     role=np.full(n, ROLE_CODES.index("victim"), dtype=np.int8),
                     source=np.full(n, SOURCE_CODES.index("police"), dtype=np.int8),
                     outcome=np.full(n, -1, dtype=np.int8), grade=np.full(n, -1, dtype=np.int8),
                     occurrence=np.ones(n, dtype=bool), location=location,
                     key=(src_chunk.astype(np.int64) << 40) | src_inc.astype(np.int64))

    def _first_contacts(self, chunks: list[Chunk]) -> Chunk:
        """One event for each person with no other (non-intelligence) event: how they became known.

        In a single extract it falls before ``until``, so everyone in the extract is known.  If
        ``quarterly``, it falls anywhere in the person's ages 10-30, so that at every date the same
        share of each age is known: those it would put before the history starts get it in the
        history's first year (known already), and those it puts after ``until`` none (not known yet)."""
        rng = stream(self.seed, "events:first contact")
        pop, cal = self.pop, self.cal
        intel = np.array([ind.intelligence for ind in self.indicators])
        seen = np.zeros(pop.n, dtype=bool)
        for c in chunks:
            seen[c.person[~intel[c.type]]] = True
        person = np.flatnonzero(~seen).astype(np.int32)
        n = len(person)
        options = [(self.codes.index(c), ROLE_CODES.index(r), s) for c, r, s in FIRST_CONTACT if c in self.codes]
        if not options:
            options = [(0, ROLE_CODES.index("victim"), 1.0)]
        pick = choice(rng, [s for _, _, s in options], n)
        typ = np.array([t for t, _, _ in options])[pick]
        role = np.array([r for _, r, _ in options], dtype=np.int8)[pick]
        first_age = math.ceil(CRIMINAL_AGE * 365.25)
        if self.quarterly:
            day = pop.dob[person] + first_age + (rng.random(n) * (math.floor(LAST_AGE * 365.25) - first_age)
                                                 ).astype(np.int64)
            day = np.where(day < cal.start, cal.start + rng.integers(0, 365, size=n), day)
            known = day <= cal.until
            person, day, typ, role, n = person[known], day[known], typ[known], role[known], int(known.sum())
        else:
            lo = np.maximum(cal.start, pop.dob[person] + first_age)
            day = lo + (rng.random(n) * (cal.until + 1 - lo)).astype(np.int64)
        source = np.zeros(n, dtype=np.int8)
        location = np.full(n, -1, dtype=np.int64)
        occurrence = np.zeros(n, dtype=bool)
        for t in np.unique(typ):
            sel = typ == t
            source[sel] = self._sources(rng, t, int(sel.sum()))
            location[sel] = self._places(rng, person[sel], self.profiles[t].location)
            occurrence[sel] = self.indicators[t].axis == "risk"
        return Chunk(person=person, day=day, type=typ.astype(np.int16), role=role, source=source,
                     outcome=np.full(n, -1, dtype=np.int8), grade=np.full(n, -1, dtype=np.int8),
                     occurrence=occurrence, location=location,
                     key=(np.int64(CHUNK_FIRST) << 40) | np.arange(n, dtype=np.int64))


def merge(chunks: list[Chunk], cal: Calendar) -> Chunk:
    """All events in date order; rows of one incident together, offenders before victims."""
    day = np.concatenate([c.day for c in chunks])
    order = np.argsort(((day - cal.start).astype(np.int64) << 46) | np.concatenate([c.key for c in chunks]),
                       kind="stable")
    del day
    small = {"day": np.int32, "location": np.int32}
    out = {}
    for name in Chunk.__dataclass_fields__:  # one column at a time, freeing the parts as we go
        col = np.concatenate([getattr(c, name) for c in chunks])
        for c in chunks:
            setattr(c, name, None)
        out[name] = col[order].astype(small.get(name, col.dtype), copy=False)
        del col
    return Chunk(**out)
