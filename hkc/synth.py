"""Synthetic forces: realistic extracts with known ground truth, for tests, backtests and demos.

>>> from hkc.synth import generate_force, write_force                       # doctest: +SKIP
>>> force = generate_force(people=20_000, seed=1, until=dt.date(2026, 9, 30),
...                        catalogue=defs.catalogue)                        # doctest: +SKIP
>>> write_force(force, Path("demo-extract"), fmt="parquet")                 # doctest: +SKIP

The model, in short (every constant is named below):

* **People** of an English county: ~12 districts of different sizes, ages 10-30 at ``until``,
  sex roughly balanced, ethnicity from the 2021 census high-level groups (more diverse in the
  larger towns), officer-defined IC codes mostly consistent with it, care flags that follow
  vulnerability.  ``population`` holds resident counts with the same mix, several times larger.
* **Latent propensities**: a heavy-tailed risk propensity (lognormal, x4 for males), a correlated
  vulnerability propensity and a weapon affinity; each person's level drifts quarter by quarter
  (AR(1)), so past involvement predicts future involvement, noisily (onset and desistance happen).
* **Events**: for every catalogue type, quarterly Poisson counts with an age curve (none below
  age 9, offences from 10, peaking in the mid to late teens), plus peer-group incidents (2-4
  members of a group share an occurrence, a date, a type and one of the group's hotspot
  locations), victims linked to knife violence, violence and robbery by a shared occurrence,
  and one first-contact event for anyone who would otherwise have none.  Locations are
  Zipf-distributed within each district (hotspots).
* ``intel_bias`` multiplies the recording rate of intelligence reports (``intelligence = true``
  types) for people of the given ethnicities; every other event keeps its person, date, type,
  role, source, outcome, occurrence and location (only ``event_id`` numbers shift).
* ``dirty`` injects one fault into about that fraction of the rows of ``people`` and ``events``,
  cycling through the validator's row-level rules (:data:`PEOPLE_FAULT_RULES`,
  :data:`EVENT_FAULT_RULES`; ``population`` is left clean), and records each in ``faults``
  (file, row, column, rule, value).  Duplicates, blank and malformed lines are *inserted* rows
  (copies go after their original); the other faults edit a row in place.  An in-place fault in
  a ``people`` row quarantines that person, so **all of that
  person's events are rejected with** ``person_rejected``; that cascade is expected and is not
  listed in ``faults`` (:func:`expected_rejects` adds it).  People faults are put on people with
  the fewest events to keep the cascade small, and no event of such a person carries a fault of
  its own, so every rejected row has exactly one reason.  Benign noise (surrounding spaces,
  mixed case) is added to other rows and must be accepted; CSVs get a UTF-8 BOM and CRLF.

``malformed_row`` exists only in CSV (a line with one field too many): ``force.events`` holds it
as a row whose ``location_id`` contains a comma, and :func:`write_force` leaves it out of Parquet
files and renumbers the faults.  ``force.faults`` describes the CSV layout; use
:func:`faults_for` for another format.

Everything is vectorised numpy/pyarrow and deterministic for a seed: each component draws from
its own stream ``numpy.random.default_rng([seed, stream])``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import numbers
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hkc.contract import (
    ETHNICITY_CODES,
    OFFICER_ETHNICITY_CODES,
    OUTCOME_CODES,
    ROLE_CODES,
    SEX_CODES,
    SOURCE_CODES,
)
from hkc.definitions import Catalogue, Indicator
from hkc.errors import OutputError

__all__ = [
    "SyntheticForce",
    "generate_force",
    "write_force",
    "last_quarter_end",
    "faults_for",
    "expected_rejects",
    "AREAS",
    "ETHNIC_MIX",
    "AGE_BANDS",
    "PEOPLE_FAULT_RULES",
    "EVENT_FAULT_RULES",
]

# --------------------------------------------------------------------------------------------
# The county

AREAS: tuple[tuple[str, str, float, float], ...] = (
    # district, location-id prefix, share of residents, diversity (non-White share vs county)
    ("Kingsbridge", "KB", 0.16, 2.2),
    ("Northgate", "NG", 0.12, 1.3),
    ("Riverside", "RS", 0.11, 1.2),
    ("Southbourne", "SB", 0.10, 0.9),
    ("Eastholm", "EH", 0.09, 0.8),
    ("Westmere", "WM", 0.08, 0.7),
    ("Hillcrest", "HC", 0.07, 0.6),
    ("Marshfield", "MF", 0.06, 0.5),
    ("Oakley", "OK", 0.06, 0.5),
    ("Stonebury", "ST", 0.05, 0.45),
    ("Fairhaven", "FH", 0.05, 0.45),
    ("Brookdale", "BD", 0.05, 0.4),
)
ETHNIC_MIX = {"White": 0.83, "Asian": 0.07, "Black": 0.035, "Mixed": 0.035, "Other": 0.015}
NOT_STATED_SHARE = 0.015            # people records with ethnicity 'Not stated'
SEX_SHARES = {"F": 0.495, "M": 0.495, "X": 0.002, "U": 0.008}
AGE_BANDS = (("10-14", 10), ("15-19", 15), ("20-24", 20), ("25-29", 25))
AGE_BAND_SHARES = (0.26, 0.25, 0.24, 0.25)
RESIDENTS_PER_PERSON = 6.0          # census residents aged 10-29 per person in the extract
AGE_RANGE = (10.0, 31.0)            # ages at `until`, uniform
LOCATIONS_PER_PERSON = 0.1          # distinct places per person living in a district
ZIPF_EXPONENT = 1.0
HOME_AREA_SHARE = 0.85              # events in the person's own district

# Officer-defined IC code given the self-defined ethnicity: IC1..IC6, IC9, then blank.
IC_GIVEN_ETHNICITY = {
    "Asian": (0.02, 0.01, 0.01, 0.72, 0.06, 0.05, 0.02, 0.11),
    "Black": (0.01, 0.005, 0.83, 0.01, 0.005, 0.01, 0.02, 0.11),
    "Mixed": (0.25, 0.04, 0.38, 0.08, 0.02, 0.04, 0.07, 0.12),
    "White": (0.80, 0.07, 0.002, 0.003, 0.002, 0.003, 0.01, 0.11),
    "Other": (0.08, 0.08, 0.06, 0.15, 0.20, 0.25, 0.06, 0.12),
    "Not stated": (0.55, 0.05, 0.08, 0.08, 0.02, 0.03, 0.07, 0.12),
}

# --------------------------------------------------------------------------------------------
# Latent propensities and peer groups

RISK_SIGMA = 1.8                    # lognormal sigma of the risk propensity
RISK_SEX_FACTOR = {"F": 1.0, "M": 4.0, "X": 2.0, "U": 2.0}
VULNERABILITY_SIGMA = 1.3
RISK_VULNERABILITY_CORR = 0.5
STATIC_SHARE = 0.6                  # share of log-propensity variance that never changes
QUARTERLY_PERSISTENCE = 0.85        # AR(1) coefficient of the changing part
WEAPON_SIGMA = 0.6                  # weapon affinity: lognormal multiplier on weapon types
GROUP_AGE = (12.0, 24.0)            # ages at `until` of people who can be in a peer group
GROUP_SIZE = (3, 8)
GROUP_MIN_AGE = 11                  # members take part in incidents from this age
GROUP_JOIN_RATE = 0.06              # x exp(0.9 z_risk) x sex weight
GROUP_SHARED = 0.4                  # share of a member's propensity that is the group's
GROUP_INCIDENTS_PER_QUARTER = 0.35  # per group, x its current level
OWN_EVENTS_PER_PERSON_YEAR = 1.95   # before group incidents, linked victims and first contacts
CRIMINAL_AGE = 10.0


@dataclass(frozen=True)
class _Profile:
    """How often, at what ages, from which source and where events of one type happen."""

    share: float                                  # share of individual events
    age: tuple[float, float, float, float, float]  # peak, left sd, right sd, min age, max age
    risk_mix: float                               # rate ~ mix * risk + (1 - mix) * vulnerability
    male: float = 1.0                             # extra multiplier for males (F = 1)
    care: float = 1.0                             # multiplier for children in care
    sources: Mapping[str, float] = field(default_factory=lambda: {"police": 1.0})
    roles: Mapping[str, float] | None = None      # for types without outcome evidence
    occurrence: float = 1.0                       # share with an occurrence_id
    location: float = 0.9                         # share with a location_id
    group: float = 0.0                            # weight among peer-group incident types
    victim: tuple[str, float] | None = None       # (victim event type, share of incidents)
    cap: float = 1.5                              # most events a person can expect in a quarter


_OFFENCE_AGE = (17.0, 2.0, 4.5, CRIMINAL_AGE, 70.0)
PROFILES: dict[str, _Profile] = {
    "knife_violence": _Profile(0.022, (17.5, 2.0, 4.5, CRIMINAL_AGE, 70.0), 1.0, male=1.3, location=0.95,
                               group=0.10, victim=("knife_victim", 0.85)),
    "knife_possession": _Profile(0.055, _OFFENCE_AGE, 1.0, male=1.3, location=0.95, group=0.15),
    "search_weapon_found": _Profile(0.035, (17.0, 2.0, 4.0, CRIMINAL_AGE, 70.0), 1.0, male=1.4,
                                    roles={"subject": 1.0}, location=1.0),
    "knife_intel": _Profile(0.12, (17.0, 2.2, 4.5, CRIMINAL_AGE, 70.0), 0.95, male=1.2,
                            roles={"subject": 1.0}, occurrence=0.0, location=0.5, cap=2.25),
    "robbery": _Profile(0.05, (16.5, 2.0, 4.0, CRIMINAL_AGE, 70.0), 1.0, male=1.5, location=0.95,
                        group=0.25, victim=("robbery", 0.45)),
    "violence": _Profile(0.19, (18.0, 2.5, 6.0, CRIMINAL_AGE, 80.0), 0.9, location=0.9, group=0.35,
                         victim=("violence", 0.3), cap=2.25),
    "drug_supply": _Profile(0.07, (18.0, 2.5, 5.0, CRIMINAL_AGE, 70.0), 0.7, male=1.3, location=0.9,
                            group=0.15),
    "knife_victim": _Profile(0.03, (18.0, 3.0, 5.0, 9.0, 80.0), 0.5, male=1.5,
                             sources={"police": 0.8, "health": 0.2}, roles={"victim": 1.0}),
    "exploitation_concern": _Profile(0.05, (15.5, 2.0, 2.0, 9.0, 21.0), 0.2, male=0.9, care=2.0,
                                     sources={"social_care": 0.75, "police": 0.25},
                                     roles={"subject": 0.6, "victim": 0.4}, occurrence=0.05, location=0.4),
    "ae_assault": _Profile(0.06, (19.0, 3.0, 5.0, 9.0, 80.0), 0.4, male=1.3, sources={"health": 1.0},
                           roles={"victim": 0.85, "subject": 0.15}, occurrence=0.0, location=0.0),
    "missing_episode": _Profile(0.14, (15.0, 2.0, 1.5, 9.0, 18.0), 0.0, male=0.8, care=3.0,
                                sources={"police": 0.6, "social_care": 0.4}, roles={"subject": 1.0},
                                occurrence=0.1, location=0.3, cap=6.0),
    "exclusion": _Profile(0.09, (14.0, 1.8, 1.2, 9.0, 16.0), 0.2, male=1.6, care=1.5,
                          sources={"education": 1.0}, roles={"subject": 1.0}, occurrence=0.0, location=0.0, cap=1.2),
}
# First contact for people who would otherwise have no event: (type, role, share).
FIRST_CONTACT = (("violence", "victim", 0.45), ("violence", "witness", 0.2), ("ae_assault", "victim", 0.2),
                 ("robbery", "victim", 0.15))

# Outcomes of offender/suspect events by time before `until`: (< 120 days, < 365, older).
OUTCOME_SHARES = {
    "convicted": (0.03, 0.23, 0.38), "charged": (0.08, 0.10, 0.03), "cautioned": (0.04, 0.12, 0.17),
    "pending": (0.75, 0.25, 0.04), "nfa": (0.10, 0.30, 0.38),
}
NO_OUTCOME_SHARE = 0.04
GRADE_SOURCE = {"A": 0.06, "B": 0.38, "C": 0.34, "D": 0.14, "E": 0.08}
GRADE_ASSESSMENT = {"1": 0.05, "2": 0.32, "3": 0.35, "4": 0.18, "5": 0.10}
NO_GRADE_SHARE = 0.04

# --------------------------------------------------------------------------------------------
# Faults: the validator's row-level rules, as injected into each file (cycled in this order)

PEOPLE_FAULT_RULES = ("missing_value", "bad_date", "future_date", "unknown_code", "bad_bool",
                      "duplicate_person_id", "blank_row")
EVENT_FAULT_RULES = ("missing_value", "bad_date", "future_date", "before_birth", "unknown_code", "bad_grade",
                     "unknown_person", "duplicate_event", "blank_row", "malformed_row")
_INSERTED = ("duplicate_person_id", "duplicate_event", "blank_row", "malformed_row")
_BAD_DATE_FORMATS = ("%d/%m/%Y", "31/02/%Y", "%Y-13-01", "yesterday", "%Y-02-30", "%d.%m.%Y")
_UNKNOWN_CODES = {
    "people": (("sex", ("Male", "unknown", "Female")), ("ethnicity", ("White British", "Unknown", "Caucasian")),
               ("officer_ethnicity", ("IC7", "IC0"))),
    "events": (("type", ("knife_posession", "knife crime", "asb")), ("role", ("perpetrator", "informant")),
               ("source", ("school", "probation")), ("outcome", ("acquitted", "no further action"))),
}
_MISSING_COLUMNS = {"people": ("date_of_birth", "sex", "ethnicity"),
                    "events": ("event_id", "person_id", "date", "type", "role", "source")}
_BAD_GRADES = ("Z9", "B6", "AA", "2B")
_BAD_BOOLS = (("in_care", "maybe"), ("open_to_social_care", "unknown"), ("in_care", "2"))
_NOISE_COLUMNS = {"people": ("sex", "ethnicity", "date_of_birth", "officer_ethnicity", "in_care"),
                  "events": ("type", "role", "source", "date", "person_id")}

_EPOCH = dt.date(1970, 1, 1)
_MAX_AGE_QUARTERS = 4 * 130


@dataclass
class SyntheticForce:
    """A generated extract and the truth behind it.

    ``people``, ``events``
        the contract columns as text, exactly as they will be written (faults and noise
        included); people by ``person_id``, events by ``date`` then ``event_id``.
    ``population``
        census-style resident counts: ``area, age_band, sex, ethnicity, count``.
    ``faults``
        one row per injected fault, ``file, row, column, rule, value``, as the validator reports
        it for CSV (:func:`faults_for` converts; :func:`expected_rejects` adds the cascade).
    ``truth_people``
        per person: clean ``date_of_birth, sex, ethnicity, area``; ``risk_propensity`` and
        ``vulnerability_propensity`` (the lasting part of each rate multiplier, sex included for
        risk), ``risk_now``/``vulnerability_now`` (in the last quarter), ``weapon_affinity``,
        ``peer_group`` ("" if none) and ``events`` (clean events generated).
    ``groups``
        peer-group membership: ``peer_group, person_id, area``.
    ``locations``
        every place: ``location_id, area, hotspot_rank`` (1 = busiest) and its ``weight``.
    """

    people: pd.DataFrame
    events: pd.DataFrame
    population: pd.DataFrame
    faults: pd.DataFrame
    truth_people: pd.DataFrame
    until: dt.date
    seed: int
    dirty: float = 0.0
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    locations: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------------------------
# Small helpers


def last_quarter_end(today: dt.date) -> dt.date:
    """The end of the last complete quarter before ``today`` (on a quarter's last day, the one before).

    >>> last_quarter_end(dt.date(2026, 11, 22))
    datetime.date(2026, 9, 30)
    >>> last_quarter_end(dt.date(2026, 3, 31))
    datetime.date(2025, 12, 31)
    """
    start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return start - dt.timedelta(days=1)


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


def _add_months(d: dt.date, months: int) -> dt.date:
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(d.day, last))


def _ls(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _text(values: Sequence[str] | np.ndarray | pa.Array) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.large_string())
    return pa.array(np.asarray(values, dtype=object), pa.large_string())


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.large_string()), width, "0")
    return pc.binary_join_element_wise(_ls(prefix), digits, _ls(""))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.large_string())


def _choice(rng: np.random.Generator, shares: Sequence[float], size: int) -> np.ndarray:
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _choice_by_row(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each entry of ``rows``, an index drawn from that row of the probability ``table``."""
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(rows))
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), table.shape[1] - 1)


def _segment_rank(segment: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``segment`` values (input sorted by segment)."""
    n = len(segment)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _check_intel_bias(intel_bias: Mapping[str, float] | None) -> dict[str, float]:
    bias = {}
    for key, factor in (intel_bias or {}).items():
        if key not in ETHNICITY_CODES:
            close = difflib.get_close_matches(str(key), ETHNICITY_CODES, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"intel_bias: '{key}' is not an ethnicity code; expected one of: "
                             f"{', '.join(ETHNICITY_CODES)}{hint}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) \
                or factor <= 0:
            raise ValueError(f"intel_bias: the factor for '{key}' must be a number above 0, not {factor!r}")
        bias[key] = float(factor)
    return bias


# --------------------------------------------------------------------------------------------
# People, peer groups, places and propensities


@dataclass
class _Calendar:
    until: int            # day numbers (days since 1970-01-01)
    edges: np.ndarray     # quarter starts, then until + 1

    @property
    def start(self) -> int:
        return int(self.edges[0])

    @property
    def quarters(self) -> int:
        return len(self.edges) - 1


def _calendar(until: dt.date, years: int) -> _Calendar:
    after = until + dt.timedelta(days=1)
    edges = [_day(_add_months(after, -3 * k)) for k in range(4 * years, -1, -1)]
    return _Calendar(until=_day(until), edges=np.array(edges, dtype=np.int64))


@dataclass
class _People:
    dob: np.ndarray
    sex: np.ndarray       # index into SEX_CODES
    eth: np.ndarray       # index into ETHNICITY_CODES
    area: np.ndarray
    ic: np.ndarray        # index into OFFICER_ETHNICITY_CODES, -1 blank
    in_care: np.ndarray   # 1 true, 0 false, -1 blank
    open_sc: np.ndarray
    z_risk: np.ndarray
    z_vuln: np.ndarray
    z_weapon: np.ndarray

    @property
    def n(self) -> int:
        return len(self.dob)


def _area_mix() -> np.ndarray:
    """Per-district shares of the five census groups (rows: districts; columns: ETHNIC_MIX)."""
    base = np.array(list(ETHNIC_MIX.values()))
    base = base / base.sum()
    sizes = np.array([a[2] for a in AREAS])
    diversity = np.array([a[3] for a in AREAS])
    diversity = diversity / (sizes @ diversity) * sizes.sum()
    white = list(ETHNIC_MIX).index("White")
    nonwhite = 1 - base[white]
    mix = np.tile(base, (len(AREAS), 1))
    others = np.arange(len(base)) != white
    mix[:, others] = base[others] * diversity[:, None]
    mix[:, white] = 1 - nonwhite * diversity
    return mix


def _make_people(rng: np.random.Generator, n: int, cal: _Calendar) -> _People:
    sizes = np.array([a[2] for a in AREAS])
    area = _choice(rng, sizes, n).astype(np.int16)
    eth_five = _choice_by_row(rng, _area_mix(), area)
    to_code = np.array([ETHNICITY_CODES.index(e) for e in ETHNIC_MIX])
    eth = to_code[eth_five]
    eth[rng.random(n) < NOT_STATED_SHARE] = ETHNICITY_CODES.index("Not stated")
    sex = np.array([SEX_CODES.index(s) for s in SEX_SHARES])[_choice(rng, list(SEX_SHARES.values()), n)]
    lo, hi = (math.ceil(AGE_RANGE[0] * 365.25) + 1, math.floor(AGE_RANGE[1] * 365.25))
    dob = cal.until - rng.integers(lo, hi, size=n)
    ic_table = np.array([IC_GIVEN_ETHNICITY[e] for e in ETHNICITY_CODES])
    ic = _choice_by_row(rng, ic_table, eth)
    ic = np.where(ic == len(OFFICER_ETHNICITY_CODES), -1, ic)
    z_risk = rng.standard_normal(n)
    z_vuln = RISK_VULNERABILITY_CORR * z_risk + math.sqrt(1 - RISK_VULNERABILITY_CORR ** 2) * rng.standard_normal(n)
    z_weapon = rng.standard_normal(n)
    child = (cal.until - dob) < 18 * 365.25
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    in_care = child & (rng.random(n) < sigmoid(-3.3 + 1.3 * z_vuln))
    open_sc = in_care | (rng.random(n) < np.where(child, sigmoid(-1.7 + 1.1 * z_vuln), sigmoid(-3.2 + 0.9 * z_vuln)))
    in_care = np.where(rng.random(n) < 0.04, -1, in_care).astype(np.int8)
    open_sc = np.where(rng.random(n) < 0.04, -1, open_sc).astype(np.int8)
    return _People(dob=dob, sex=sex.astype(np.int8), eth=eth.astype(np.int8), area=area, ic=ic.astype(np.int8),
                   in_care=in_care, open_sc=open_sc, z_risk=z_risk, z_vuln=z_vuln, z_weapon=z_weapon)


@dataclass
class _Groups:
    of: np.ndarray        # per person: group number or -1
    members: np.ndarray   # people sorted by group
    ptr: np.ndarray       # members of group g: members[ptr[g]:ptr[g + 1]]
    area: np.ndarray
    static: np.ndarray
    hotspots: np.ndarray  # (groups, 2) location numbers, filled in by _make_places

    @property
    def count(self) -> int:
        return len(self.area)


def _make_groups(rng: np.random.Generator, pop: _People, cal: _Calendar) -> _Groups:
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
    return _Groups(of=of, members=cand, ptr=ptr, area=pop.area[cand[ptr[:-1]]] if g else np.zeros(0, np.int16),
                   static=static, hotspots=np.zeros((g, 2), dtype=np.int64))


@dataclass
class _Places:
    area: np.ndarray
    rank: np.ndarray
    weight: np.ndarray
    number: np.ndarray
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
        return pc.binary_join_element_wise(_text(prefix), digits, _ls(""))


def _make_places(rng: np.random.Generator, pop: _People, groups: _Groups) -> _Places:
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
    places = _Places(area=area, rank=rank, weight=weight, number=number, cum=cum,
                     lo=np.r_[0.0, cum[first[1:] - 1]], hi=cum[first + count - 1], first=first,
                     last=first + count - 1)
    if groups.count:
        groups.hotspots[:] = places.sample(rng, np.repeat(groups.area, 2)).reshape(-1, 2)
    return places


@dataclass
class _Latent:
    risk: np.ndarray        # (quarters, people) rate multiplier, mean 1
    vuln: np.ndarray
    group_level: np.ndarray  # (quarters, groups)
    truth: dict[str, np.ndarray]


def _make_latent(rng: np.random.Generator, pop: _People, groups: _Groups, quarters: int) -> _Latent:
    n, g = pop.n, groups.count
    rho, w = QUARTERLY_PERSISTENCE, STATIC_SHARE
    sex_log = np.log(np.array([RISK_SEX_FACTOR[s] for s in SEX_CODES]))[pop.sex]
    static_r = RISK_SIGMA * math.sqrt(w) * pop.z_risk + sex_log
    static_v = VULNERABILITY_SIGMA * math.sqrt(w) * pop.z_vuln
    members, gm = groups.members, groups.of[groups.members]
    risk = np.empty((quarters, n), dtype=np.float32)
    vuln = np.empty((quarters, n), dtype=np.float32)
    level = np.empty((quarters, g), dtype=np.float32)
    x = np.zeros(n)
    y = np.zeros(n)
    gp = np.zeros(g)
    for q in range(quarters):
        e = rng.standard_normal(n)
        f = 0.4 * e + math.sqrt(1 - 0.16) * rng.standard_normal(n)
        eta = rng.standard_normal(g)
        e[members] = math.sqrt(0.5) * e[members] + math.sqrt(0.5) * eta[gm]
        keep = rho if q else 0.0
        x = keep * x + math.sqrt(1 - keep ** 2) * e
        y = keep * y + math.sqrt(1 - keep ** 2) * f
        gp = keep * gp + math.sqrt(1 - keep ** 2) * eta
        risk[q] = static_r + RISK_SIGMA * math.sqrt(1 - w) * x
        vuln[q] = static_v + VULNERABILITY_SIGMA * math.sqrt(1 - w) * y
        level[q] = gp
    truth = {"risk_now": np.exp(risk[-1]), "vulnerability_now": np.exp(vuln[-1]),
             "risk_propensity": np.exp(static_r), "vulnerability_propensity": np.exp(static_v),
             "weapon_affinity": np.exp(WEAPON_SIGMA * pop.z_weapon)}
    np.exp(risk, out=risk)
    np.exp(vuln, out=vuln)
    risk /= risk.mean(dtype=np.float64)
    vuln /= vuln.mean(dtype=np.float64)
    return _Latent(risk=risk, vuln=vuln, group_level=level, truth=truth)


# --------------------------------------------------------------------------------------------
# Events


def _profile(ind: Indicator) -> _Profile:
    if ind.code in PROFILES:
        return PROFILES[ind.code]
    if ind.axis == "risk":
        return _Profile(0.03, _OFFENCE_AGE, 1.0)
    return _Profile(0.03, (16.0, 2.5, 4.0, 9.0, 80.0), 0.0, sources={"social_care": 1.0}, occurrence=0.05,
                    location=0.2)


def _age_table(profile: _Profile) -> np.ndarray:
    """Relative rate by age in quarter-years at the start of a quarter (0 outside the age range)."""
    peak, left, right, lo, hi = profile.age
    age = np.arange(_MAX_AGE_QUARTERS) / 4
    mid = age + 0.125
    sd = np.where(mid < peak, left, right)
    table = np.exp(-0.5 * ((mid - peak) / sd) ** 2)
    return np.where((age >= lo) & (age < hi), table, 0.0).astype(np.float32)


def _age_quarters(day: int, dob: np.ndarray) -> np.ndarray:
    return np.clip(((day - dob) * 16) // 1461, 0, _MAX_AGE_QUARTERS - 1)


@dataclass
class _Chunk:
    """Events from one stream.  ``inc`` numbers incidents within the chunk."""

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


_CHUNK_GROUP, _CHUNK_FIRST = 48, 60  # chunk numbers of group incidents and first contacts (types: 0, 1, ...)


@dataclass
class _Incidents:
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
    def none(cls, first: int) -> _Incidents:
        empty = np.zeros(0, dtype=np.int64)
        return cls(first=first, group=empty, type=empty, day=empty, rows=(empty,) * 5)


class _Simulation:
    def __init__(self, seed: int, pop: _People, groups: _Groups, latent: _Latent, places: _Places,
                 cal: _Calendar, catalogue: Catalogue, bias: Mapping[str, float]):
        self.seed, self.pop, self.groups, self.latent, self.places, self.cal = seed, pop, groups, latent, places, cal
        self.codes = catalogue.codes
        self.indicators = list(catalogue.indicators.values())
        self.profiles = [_profile(ind) for ind in self.indicators]
        self.tables = [_age_table(p) for p in self.profiles]
        self.bias = bias
        self.static = [self._static(ind, p) for ind, p in zip(self.indicators, self.profiles, strict=True)]
        self.caps = [np.float32(p.cap) for p in self.profiles]
        self.capped = False
        self._scale()
        self.capped = True
        self.area_order = np.argsort(pop.area, kind="stable")
        bounds = np.searchsorted(pop.area[self.area_order], np.arange(len(AREAS) + 1))
        self.area_first, self.area_stop = bounds[:-1], bounds[1:]

    def _static(self, ind: Indicator, profile: _Profile) -> np.ndarray:
        pop = self.pop
        sex = np.array([{"M": profile.male, "F": 1.0}.get(s, math.sqrt(profile.male)) for s in SEX_CODES])
        mult = sex[pop.sex].astype(np.float32)
        if ind.weapon:
            mult *= np.exp(WEAPON_SIGMA * pop.z_weapon - WEAPON_SIGMA ** 2 / 2).astype(np.float32)
        if profile.care != 1.0:
            mult *= np.where(pop.in_care == 1, profile.care, 1.0).astype(np.float32)
        return mult

    def _rate(self, t: int, q: int, ages: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        mix = self.profiles[t].risk_mix
        lat = self.latent
        drive = lat.risk[q, rows] if mix == 1 else lat.vuln[q, rows] if mix == 0 else \
            mix * lat.risk[q, rows] + (1 - mix) * lat.vuln[q, rows]
        rate = self.tables[t][ages] * drive * self.static[t][rows]
        if not self.capped:
            return rate
        np.minimum(rate, self.caps[t], out=rate)  # behaviour has limits; recording bias comes on top
        return rate if self.recording[t] is None else rate * self.recording[t][rows]

    def _scale(self) -> None:
        """Per-type base rates so that types have their profile shares of OWN_EVENTS_PER_PERSON_YEAR.

        Estimated on the first 20,000 people (before any intelligence recording bias)."""
        cal, sub = self.cal, slice(0, min(self.pop.n, 20_000))
        totals = np.zeros(len(self.codes))
        for q in range(cal.quarters):
            ages = _age_quarters(int(cal.edges[q]), self.pop.dob[sub])
            for t in range(len(self.codes)):
                totals[t] += float(self._rate(t, q, ages, sub).sum(dtype=np.float64))
        shares = np.array([p.share for p in self.profiles])
        years = (cal.until + 1 - cal.start) / 365.25
        people = sub.stop
        self.base = np.where(totals > 0, shares / shares.sum() * OWN_EVENTS_PER_PERSON_YEAR * years * people
                             / np.maximum(totals, 1e-12), 0.0)
        factor = np.array([self.bias.get(e, 1.0) for e in ETHNICITY_CODES], dtype=np.float32)
        self.recording = [factor[self.pop.eth] if ind.intelligence and self.bias else None
                          for ind in self.indicators]
        for t in range(len(self.indicators)):
            self.static[t] *= np.float32(self.base[t])

    # -- the quarterly loop --------------------------------------------------------------------

    def run(self) -> list[_Chunk]:
        """Draw every event, quarter by quarter.  Returns one chunk per random stream."""
        cal, types = self.cal, len(self.codes)
        streams = [_rng(self.seed, f"events:{code}") for code in self.codes]
        group_rng = _rng(self.seed, "events:peer groups")
        links = [(t, p.victim) for t, p in enumerate(self.profiles) if p.victim is not None]
        link_rngs = [_rng(self.seed, f"victims:{self.codes[t]}") for t, _ in links]
        own: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(types)]
        own_count = [0] * types
        grp: list[_Incidents] = []
        vic: list[list[tuple[np.ndarray, ...]]] = [[] for _ in links]
        linked: list[list[np.ndarray]] = [[] for _ in range(types)]
        for q in range(cal.quarters):
            lo, span = int(cal.edges[q]), int(cal.edges[q + 1] - cal.edges[q])
            ages = _age_quarters(lo, self.pop.dob)
            first_row = list(own_count)
            for t in range(types):
                counts = streams[t].poisson(self._rate(t, q, ages))
                who = np.flatnonzero(counts)
                person = np.repeat(who, counts[who]).astype(np.int32)
                own[t].append((person, lo + streams[t].integers(0, span, size=len(person))))
                own_count[t] += len(person)
            incidents = self._group_incidents(group_rng, q, ages, lo, span,
                                              first=grp[-1].first + grp[-1].count if grp else 0)
            grp.append(incidents)
            for k, (t, (victim_code, share)) in enumerate(links):
                person, day = own[t][-1]
                rows, own_linked = self._victims(link_rngs[k], t, victim_code, share, q, ages,
                                                 person, day, first_row[t], incidents)
                vic[k].append(rows)
                linked[t].append(own_linked)
        chunks = [self._own_chunk(t, streams[t], own[t], linked[t]) for t in range(types)]
        chunks.append(self._group_chunk(group_rng, grp))
        for k, (t, _) in enumerate(links):
            chunks.append(self._victim_chunk(vic[k], chunks, t))
        chunks.append(self._first_contacts(chunks))
        return chunks

    def _group_incidents(self, rng: np.random.Generator, q: int, ages: np.ndarray, lo: int, span: int, *,
                         first: int) -> _Incidents:
        """Peer-group incidents of one quarter: 2-4 members old enough, weighted by current propensity."""
        groups = self.groups
        types = np.array([t for t, p in enumerate(self.profiles) if p.group > 0], dtype=np.int64)
        if not groups.count or not len(types):
            return _Incidents.none(first)
        old = ages[groups.members] >= GROUP_MIN_AGE * 4
        able = np.bincount(groups.of[groups.members], weights=old, minlength=groups.count).astype(np.int64)
        mu = GROUP_INCIDENTS_PER_QUARTER * np.exp(0.8 * groups.static + 0.7 * self.latent.group_level[q] - 0.5)
        group = np.repeat(np.arange(groups.count), rng.poisson(mu * (able >= 2)))
        typ = types[_choice(rng, [self.profiles[t].group for t in types], len(group))]
        day = lo + rng.integers(0, span, size=len(group))
        want = np.minimum(rng.integers(2, 5, size=len(group)), able[group])
        # Every (incident, member) pair; members drawn by weighted sampling without replacement.
        sizes = np.diff(groups.ptr)[group]
        pair = np.repeat(np.arange(len(group)), sizes)
        slot = groups.ptr[group][pair] + np.arange(len(pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        member = groups.members[slot]
        key = np.where(old[slot], np.log(rng.random(len(member))) / self.latent.risk[q, member], -np.inf)
        order = np.lexsort((-key, pair))
        pick = order[_segment_rank(pair[order]) < want[pair[order]]]
        inc = pair[pick]
        return _Incidents(first=first, group=group, type=typ, day=day,
                          rows=(member[pick].astype(np.int32), day[inc], typ[inc], first + inc, group[inc]))

    def _victims(self, rng: np.random.Generator, t: int, victim_code: str, share: float, q: int,
                 ages: np.ndarray, person: np.ndarray, day: np.ndarray, first: int, incidents: _Incidents
                 ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Victims for a ``share`` of this quarter's type-``t`` incidents, linked by a shared occurrence.

        Returns the victim rows and the own-chunk rows of type ``t`` that now have a victim."""
        groups = self.groups
        sel = np.flatnonzero(incidents.type == t)
        src_chunk = np.r_[np.full(len(person), t), np.full(len(sel), _CHUNK_GROUP)]
        src_inc = np.r_[first + np.arange(len(person)), incidents.first + sel].astype(np.int64)
        day = np.r_[day, incidents.day[sel]]
        area = np.r_[self.pop.area[person], groups.area[incidents.group[sel]]].astype(np.int64)
        offender = np.r_[person, np.full(len(sel), -1)].astype(np.int64)
        offender_group = np.r_[np.full(len(person), -1), incidents.group[sel]].astype(np.int64)
        go = np.flatnonzero(rng.random(len(day)) < share)
        vt = self.codes.index(victim_code) if victim_code in self.codes else t
        victim = self._sample_victims(rng, vt, q, ages, area[go])
        # Never the offender, nor a member of the offending group.
        ok = (victim >= 0) & (victim != offender[go])
        ok &= (offender_group[go] < 0) | (groups.of[np.maximum(victim, 0)] != offender_group[go])
        idx = go[ok]
        rows = (victim[ok].astype(np.int32), day[idx], np.full(len(idx), vt), src_chunk[idx], src_inc[idx])
        return rows, src_inc[idx[src_chunk[idx] == t]]

    def _sample_victims(self, rng: np.random.Generator, t: int, q: int, ages: np.ndarray,
                        areas: np.ndarray) -> np.ndarray:
        """A victim for each incident: 80% from the incident's district, weighted by age, sex and (the square
        root of) current propensity."""
        drive = np.sqrt(0.5 * self.latent.risk[q] + 0.5 * self.latent.vuln[q])
        weight = (self.tables[t][ages] * drive * self.static[t])[self.area_order]
        cum = np.cumsum(weight, dtype=np.float64)
        if len(areas) == 0 or cum[-1] <= 0:
            return np.full(len(areas), -1, dtype=np.int64)
        before = np.r_[0.0, cum][self.area_first]
        after = np.r_[0.0, cum][self.area_stop]
        local = (rng.random(len(areas)) < 0.8) & (after[areas] > before[areas])
        lo = np.where(local, before[areas], 0.0)
        hi = np.where(local, after[areas], cum[-1])
        pos = np.searchsorted(cum, lo + rng.random(len(areas)) * (hi - lo), side="right")
        return self.area_order[np.minimum(pos, len(cum) - 1)].astype(np.int64)

    # -- attributes ----------------------------------------------------------------------------

    def _roles(self, rng: np.random.Generator, t: int, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Roles and outcomes (index into OUTCOME_CODES, -1 none) for own events of type ``t``."""
        ind, prof, n = self.indicators[t], self.profiles[t], len(day)
        allowed = [ROLE_CODES.index(r) for r in ind.roles]
        if ind.evidence == "outcome" and {"offender", "suspect"} & set(ind.roles):
            return self._offences(rng, day, allowed)
        weights = {r: w for r, w in (prof.roles or {}).items() if r in ind.roles} or {r: 1.0 for r in ind.roles}
        roles = np.array([ROLE_CODES.index(r) for r in weights])[_choice(rng, list(weights.values()), n)]
        return roles.astype(np.int8), np.full(n, -1, dtype=np.int8)

    def _offences(self, rng: np.random.Generator, day: np.ndarray, allowed: list[int]
                  ) -> tuple[np.ndarray, np.ndarray]:
        n = len(day)
        ago = self.cal.until - day
        period = np.where(ago < 120, 0, np.where(ago < 365, 1, 2))
        table = np.array([OUTCOME_SHARES[o] for o in OUTCOME_CODES]).T
        outcome = _choice_by_row(rng, table, period).astype(np.int8)
        outcome[rng.random(n) < NO_OUTCOME_SHARE] = -1
        proven = np.isin(outcome, [OUTCOME_CODES.index(o) for o in ("convicted", "charged", "cautioned")])
        p_offender = np.where(outcome < 0, 0.5, np.where(proven, 0.95, 0.15))
        role = np.where(rng.random(n) < p_offender, ROLE_CODES.index("offender"), ROLE_CODES.index("suspect"))
        role = np.where(np.isin(role, allowed), role, allowed[0])
        return role.astype(np.int8), outcome

    def _grades(self, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
        if self.indicators[t].evidence != "grade":
            return np.full(n, -1, dtype=np.int8)
        grade = _choice(rng, list(GRADE_SOURCE.values()), n) * 5 + _choice(rng, list(GRADE_ASSESSMENT.values()), n)
        return np.where(rng.random(n) < NO_GRADE_SHARE, -1, grade).astype(np.int8)

    def _sources(self, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
        sources = self.profiles[t].sources
        codes = np.array([SOURCE_CODES.index(s) for s in sources], dtype=np.int8)
        return codes[_choice(rng, list(sources.values()), n)]

    def _places(self, rng: np.random.Generator, person: np.ndarray, share: float) -> np.ndarray:
        n = len(person)
        sizes = np.array([a[2] for a in AREAS])
        area = np.where(rng.random(n) < HOME_AREA_SHARE, self.pop.area[person], _choice(rng, sizes, n))
        place = self.places.sample(rng, area)
        return np.where(rng.random(n) < share, place, -1)

    def _own_chunk(self, t: int, rng: np.random.Generator, parts: list[tuple[np.ndarray, np.ndarray]],
                   linked: list[np.ndarray]) -> _Chunk:
        person = np.concatenate([p for p, _ in parts])
        day = np.concatenate([d for _, d in parts])
        n = len(person)
        role, outcome = self._roles(rng, t, day)
        occurrence = rng.random(n) < self.profiles[t].occurrence
        occurrence[np.concatenate(linked or [np.zeros(0, np.int64)]).astype(np.int64)] = True
        return _Chunk(person=person, day=day, type=np.full(n, t, dtype=np.int16), role=role,
                      source=self._sources(rng, t, n), outcome=outcome, grade=self._grades(rng, t, n),
                      occurrence=occurrence, location=self._places(rng, person, self.profiles[t].location),
                      key=(np.int64(t) << 40) | np.arange(n, dtype=np.int64))

    def _group_chunk(self, rng: np.random.Generator, quarters: list[_Incidents]) -> _Chunk:
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
        return _Chunk(person=person.astype(np.int32), day=day, type=typ.astype(np.int16), role=role,
                      source=np.full(n, SOURCE_CODES.index("police"), dtype=np.int8), outcome=outcome,
                      grade=np.full(n, -1, dtype=np.int8), occurrence=np.ones(n, dtype=bool),
                      location=inc_place[inc] if n else np.zeros(0, np.int64),
                      key=(np.int64(_CHUNK_GROUP) << 40) | inc.astype(np.int64))

    def _victim_chunk(self, parts: list[tuple[np.ndarray, ...]], chunks: list[_Chunk], t: int) -> _Chunk:
        """Victim rows share the date, place and occurrence of the incident they are linked to."""
        person, day, typ, src_chunk, src_inc = (np.concatenate([p[i] for p in parts]) for i in range(5))
        n = len(person)
        location = np.full(n, -1, dtype=np.int64)
        own = src_chunk == t
        location[own] = chunks[t].location[src_inc[own]]
        location[~own] = self.group_places[src_inc[~own]]
        return _Chunk(person=person, day=day, type=typ.astype(np.int16),
                      role=np.full(n, ROLE_CODES.index("victim"), dtype=np.int8),
                      source=np.full(n, SOURCE_CODES.index("police"), dtype=np.int8),
                      outcome=np.full(n, -1, dtype=np.int8), grade=np.full(n, -1, dtype=np.int8),
                      occurrence=np.ones(n, dtype=bool), location=location,
                      key=(src_chunk.astype(np.int64) << 40) | src_inc.astype(np.int64))

    def _first_contacts(self, chunks: list[_Chunk]) -> _Chunk:
        """One event for each person with no other (non-intelligence) event: how they became known."""
        rng = _rng(self.seed, "events:first contact")
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
        pick = _choice(rng, [s for _, _, s in options], n)
        typ = np.array([t for t, _, _ in options])[pick]
        role = np.array([r for _, r, _ in options], dtype=np.int8)[pick]
        lo = np.maximum(cal.start, pop.dob[person] + math.ceil(CRIMINAL_AGE * 365.25))
        day = lo + (rng.random(n) * (cal.until + 1 - lo)).astype(np.int64)
        source = np.zeros(n, dtype=np.int8)
        location = np.full(n, -1, dtype=np.int64)
        occurrence = np.zeros(n, dtype=bool)
        for t in np.unique(typ):
            sel = typ == t
            source[sel] = self._sources(rng, t, int(sel.sum()))
            location[sel] = self._places(rng, person[sel], self.profiles[t].location)
            occurrence[sel] = self.indicators[t].axis == "risk"
        return _Chunk(person=person, day=day, type=typ.astype(np.int16), role=role, source=source,
                      outcome=np.full(n, -1, dtype=np.int8), grade=np.full(n, -1, dtype=np.int8),
                      occurrence=occurrence, location=location,
                      key=(np.int64(_CHUNK_FIRST) << 40) | np.arange(n, dtype=np.int64))


def _merge(chunks: list[_Chunk], cal: _Calendar) -> _Chunk:
    """All events in date order; rows of one incident together, offenders before victims."""
    day = np.concatenate([c.day for c in chunks])
    order = np.argsort(((day - cal.start).astype(np.int64) << 46) | np.concatenate([c.key for c in chunks]),
                       kind="stable")
    del day
    small = {"day": np.int32, "location": np.int32}
    out = {}
    for name in _Chunk.__dataclass_fields__:  # one column at a time, freeing the parts as we go
        col = np.concatenate([getattr(c, name) for c in chunks])
        for c in chunks:
            setattr(c, name, None)
        out[name] = col[order].astype(small.get(name, col.dtype), copy=False)
        del col
    return _Chunk(**out)


# --------------------------------------------------------------------------------------------
# Text columns: integer codes into a growing list of strings (cheap to edit, copy and decode)


class _Column:
    def __init__(self, values: pa.Array, codes: np.ndarray):
        self.parts = [_text(values)]
        self.size = len(values)
        self.codes = np.array(codes, dtype=np.int32)
        self._blank: int | None = None

    def add(self, values: Sequence[str] | pa.Array) -> np.ndarray:
        arr = _text(values)
        self.parts.append(arr)
        self.size += len(arr)
        return np.arange(self.size - len(arr), self.size)

    @property
    def blank(self) -> int:
        if self._blank is None:
            self._blank = int(self.add([""])[0])
        return self._blank

    def values(self, rows: np.ndarray) -> pa.Array:
        codes = self.codes[rows]
        codes = np.where(codes < 0, self.blank, codes)
        return pc.take(pa.concat_arrays(self.parts), pa.array(codes))

    def put(self, rows: np.ndarray, values: Sequence[str] | pa.Array) -> None:
        if len(rows):
            self.codes[rows] = self.add(values)

    def decode(self) -> pa.Array:
        first = self.parts[0]
        if len(self.codes) == len(first) and np.array_equal(self.codes, np.arange(len(first), dtype=np.int32)):
            return first  # unchanged ids: nothing to look up
        codes = np.where(self.codes < 0, self.blank, self.codes)
        return pc.take(pa.concat_arrays(self.parts), pa.array(codes))


def _code_column(codes_list: Sequence[str], idx: np.ndarray) -> _Column:
    return _Column(_text(codes_list), idx)


def _people_columns(pop: _People, ids: pa.Array) -> dict[str, _Column]:
    dmin = int(pop.dob.min())
    dob_values = _dates(np.arange(dmin, int(pop.dob.max()) + 1))
    bools = _text(["false", "true"])
    return {
        "person_id": _Column(ids, np.arange(pop.n)),
        "date_of_birth": _Column(dob_values, pop.dob - dmin),
        "sex": _code_column(SEX_CODES, pop.sex),
        "ethnicity": _code_column(ETHNICITY_CODES, pop.eth),
        "officer_ethnicity": _code_column(OFFICER_ETHNICITY_CODES, pop.ic),
        "area": _code_column([a[0] for a in AREAS], pop.area),
        "in_care": _Column(bools, pop.in_care),
        "open_to_social_care": _Column(bools, pop.open_sc),
    }


def _event_columns(ev: _Chunk, ids: pa.Array, codes: Sequence[str], places: pa.Array) -> dict[str, _Column]:
    n = len(ev.person)
    width = max(7, len(str(n)))
    dmin, dmax = int(ev.day.min()) if n else 0, int(ev.day.max()) if n else 0
    occ = np.full(n, -1, dtype=np.int64)
    has = np.flatnonzero(ev.occurrence)
    # Rows of one occurrence share a day and a key, so they are adjacent: number them in order.
    keys = ev.key[has]
    new = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    occ[has] = np.cumsum(new) - 1
    n_occ = int(new.sum())
    grades = [a + b for a in GRADE_SOURCE for b in GRADE_ASSESSMENT]
    return {
        "event_id": _Column(_numbered("E", np.arange(1, n + 1), width), np.arange(n)),
        "person_id": _Column(ids, ev.person),
        "date": _Column(_dates(np.arange(dmin, dmax + 1)), ev.day - dmin),
        "type": _code_column(codes, ev.type),
        "role": _code_column(ROLE_CODES, ev.role),
        "source": _code_column(SOURCE_CODES, ev.source),
        "outcome": _code_column(OUTCOME_CODES, ev.outcome),
        "grade": _code_column(grades, ev.grade),
        "occurrence_id": _Column(_numbered("OC", np.arange(1, n_occ + 1), max(7, len(str(n_occ)))), occ),
        "location_id": _Column(places, ev.location),
    }


# --------------------------------------------------------------------------------------------
# Faults and noise


@dataclass
class _Plan:
    """Faults for one file: in-place edits (row, column, rule, value) and inserted rows."""

    rows: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    rules: list[np.ndarray] = field(default_factory=list)
    values: list[pa.Array] = field(default_factory=list)
    insert_src: list[np.ndarray] = field(default_factory=list)   # source row, -1 for a blank row
    insert_after: list[np.ndarray] = field(default_factory=list)
    insert_rule: list[np.ndarray] = field(default_factory=list)

    def edit(self, cols: dict[str, _Column], rows: np.ndarray, column: str | np.ndarray, rule: str,
             values: pa.Array | Sequence[str]) -> None:
        """Set ``column`` (one name, or one per row) of ``rows`` to ``values``, and record the faults."""
        if not len(rows):
            return
        names = np.broadcast_to(np.asarray(column, dtype=object), rows.shape)
        values = _text(values)
        for name in np.unique(names):
            sel = np.flatnonzero(names == name)
            cols[name].put(rows[sel], values.take(pa.array(sel)))
        self.rows.append(rows)
        self.columns.append(names)
        self.rules.append(np.full(len(rows), rule, dtype=object))
        self.values.append(values)

    def insert(self, src: np.ndarray, after: np.ndarray, rule: str) -> None:
        self.insert_src.append(src)
        self.insert_after.append(after)
        self.insert_rule.append(np.full(len(src), rule, dtype=object))


def _rule_counts(rules: Sequence[str], total: int) -> dict[str, int]:
    """``total`` faults cycled through ``rules``."""
    return {r: total // len(rules) + (i < total % len(rules)) for i, r in enumerate(rules)}


def _cycle(options: Sequence, n: int) -> np.ndarray:
    """``n`` items taken from ``options`` in turn (pairs come back as the rows of a 2-d array)."""
    return np.array(options, dtype=object)[np.arange(n) % len(options)]


def _bad_dates(days: np.ndarray) -> pa.Array:
    stamps = pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.timestamp("s"))
    fmts = _cycle(_BAD_DATE_FORMATS, len(days))
    out = np.empty(len(days), dtype=object)
    for fmt in _BAD_DATE_FORMATS:
        sel = np.flatnonzero(fmts == fmt)
        if len(sel):
            out[sel] = pc.strftime(stamps.take(pa.array(sel)), format=fmt).to_numpy(zero_copy_only=False)
    return _text(out)


def _unknown_codes(file: str, n: int, catalogue_codes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    valid = {c.casefold() for c in catalogue_codes} | {c.casefold() for c in SEX_CODES + ETHNICITY_CODES
                                                       + OFFICER_ETHNICITY_CODES + ROLE_CODES + SOURCE_CODES
                                                       + OUTCOME_CODES}
    pairs = [(col, v) for col, values in _UNKNOWN_CODES[file] for v in values if v.casefold() not in valid]
    pairs = pairs or [("type" if file == "events" else "sex", "not_a_code")]
    chosen = _cycle(pairs, n)
    return chosen[:, 0], chosen[:, 1]


def _inject_people(rng: np.random.Generator, cols: dict[str, _Column], pop: _People, n_events: np.ndarray,
                   total: int, cal: _Calendar) -> tuple[_Plan, np.ndarray, np.ndarray]:
    """People faults.  Returns the plan, the people quarantined in place, and rows kept clean."""
    plan, n = _Plan(), pop.n
    if total == 0:
        return plan, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = _rule_counts(PEOPLE_FAULT_RULES, total)
    in_place = [r for r in PEOPLE_FAULT_RULES if r not in _INSERTED]
    n_in_place = sum(counts[r] for r in in_place)
    # In-place faults quarantine the person: choose people with the fewest events.
    by_events = np.lexsort((rng.random(n), n_events))
    faulty = by_events[:n_in_place]
    faulty = faulty[rng.permutation(len(faulty))]
    is_faulty = np.zeros(n, dtype=bool)
    is_faulty[faulty] = True
    others = np.flatnonzero(~is_faulty)
    others = others[rng.permutation(len(others))]
    at = 0
    for rule in in_place:
        rows = faulty[at:at + counts[rule]]
        at += counts[rule]
        if rule == "missing_value":
            plan.edit(cols, rows, _cycle(_MISSING_COLUMNS["people"], len(rows)), rule,
                      np.full(len(rows), "", dtype=object))
        elif rule == "bad_date":
            plan.edit(cols, rows, "date_of_birth", rule, _bad_dates(pop.dob[rows]))
        elif rule == "future_date":
            plan.edit(cols, rows, "date_of_birth", rule, _dates(cal.until + rng.integers(1, 400, len(rows))))
        elif rule == "unknown_code":
            names, values = _unknown_codes("people", len(rows), ())
            plan.edit(cols, rows, names, rule, values)
        elif rule == "bad_bool":
            chosen = _cycle(_BAD_BOOLS, len(rows))
            plan.edit(cols, rows, chosen[:, 0], rule, chosen[:, 1])
    dup = others[:counts["duplicate_person_id"]]
    plan.insert(dup, rng.integers(dup, n) if len(dup) else dup, "duplicate_person_id")
    plan.insert(np.full(counts["blank_row"], -1), rng.integers(0, n, counts["blank_row"]), "blank_row")
    return plan, faulty, others[counts["duplicate_person_id"]:]


def _inject_events(rng: np.random.Generator, cols: dict[str, _Column], ev: _Chunk, pop: _People,
                   quarantined: np.ndarray, total: int, cal: _Calendar, codes: Sequence[str],
                   ids_width: int) -> tuple[_Plan, np.ndarray]:
    plan, n = _Plan(), len(ev.person)
    if total == 0:
        return plan, np.zeros(0, dtype=np.int64)
    counts = _rule_counts(EVENT_FAULT_RULES, total)
    bad_person = np.zeros(pop.n, dtype=bool)
    bad_person[quarantined] = True
    eligible = np.flatnonzero(~bad_person[ev.person])
    eligible = eligible[rng.permutation(len(eligible))]
    at = 0

    def take(k: int) -> np.ndarray:
        nonlocal at
        rows = eligible[at:at + k]
        at += k
        return rows

    for rule in EVENT_FAULT_RULES:
        k = counts[rule]
        if rule in ("duplicate_event", "malformed_row"):
            src = take(k)
            plan.insert(src, rng.integers(src, n) if len(src) else src, rule)
            continue
        if rule == "blank_row":
            plan.insert(np.full(k, -1), rng.integers(0, n, k), rule)
            continue
        rows = take(k)
        k = len(rows)  # fewer than asked only when nearly every row already has a fault
        if rule == "missing_value":
            plan.edit(cols, rows, _cycle(_MISSING_COLUMNS["events"], k), rule, np.full(k, "", dtype=object))
        elif rule == "bad_date":
            plan.edit(cols, rows, "date", rule, _bad_dates(ev.day[rows]))
        elif rule == "future_date":
            plan.edit(cols, rows, "date", rule, _dates(cal.until + rng.integers(1, 400, k)))
        elif rule == "before_birth":
            plan.edit(cols, rows, "date", rule, _dates(pop.dob[ev.person[rows]] - rng.integers(1, 1500, k)))
        elif rule == "unknown_code":
            names, values = _unknown_codes("events", k, codes)
            plan.edit(cols, rows, names, rule, values)
        elif rule == "bad_grade":
            plan.edit(cols, rows, "grade", rule, _cycle(_BAD_GRADES, k))
        elif rule == "unknown_person":
            plan.edit(cols, rows, "person_id", rule, _numbered("P", pop.n + 1 + np.arange(k), ids_width))
    return plan, eligible[at:]


def _add_noise(rng: np.random.Generator, cols: dict[str, _Column], rows: np.ndarray, file: str) -> None:
    """Benign noise the validator must accept: surrounding spaces and mixed case."""
    names_arr = _cycle(_NOISE_COLUMNS[file], len(rows))
    kinds = rng.integers(0, 3, len(rows))
    for name in _NOISE_COLUMNS[file]:
        for kind in range(3):
            sel = rows[(names_arr == name) & (kinds == kind)]
            if not len(sel):
                continue
            current = cols[name].values(sel)
            if kind == 0 or name in ("date", "date_of_birth", "person_id"):
                new = pc.binary_join_element_wise(_ls(" "), current, _ls(" "), _ls(""))
            elif kind == 1:
                new = pc.utf8_upper(current)
            else:
                new = pc.utf8_capitalize(pc.utf8_lower(current))
            cols[name].put(sel, new)


def _assemble(cols: dict[str, _Column], plan: _Plan, file: str) -> tuple[pa.Table, pd.DataFrame]:
    """Apply inserted rows; return the table and the faults with CSV row numbers."""
    n = len(next(iter(cols.values())).codes)
    src = np.concatenate(plan.insert_src or [np.zeros(0, np.int64)]).astype(np.int64)
    after = np.concatenate(plan.insert_after or [np.zeros(0, np.int64)]).astype(np.int64)
    ins_rule = np.concatenate(plan.insert_rule or [np.zeros(0, dtype=object)])
    keys = np.r_[2 * np.arange(n, dtype=np.int64), 2 * after + 1]
    order = np.argsort(keys, kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    source = np.r_[np.arange(n), src][order]
    malformed = ins_rule == "malformed_row"
    arrays = {}
    for name, col in cols.items():
        if len(src):
            codes = col.codes[np.maximum(source, 0)]
            codes[source < 0] = col.blank
            col.codes = codes
        if name == "location_id" and malformed.any():
            rows = position[n:][malformed]
            col.put(rows, pc.binary_join_element_wise(col.values(rows), _ls("rear car park"), _ls(", ")))
        arrays[name] = col.decode()
    table = pa.table(arrays)
    edit_rows = np.concatenate(plan.rows or [np.zeros(0, np.int64)]).astype(np.int64)
    ins_column = np.where(np.isin(ins_rule, ["malformed_row", "blank_row"]), "",
                          np.where(ins_rule == "duplicate_event", "event_id", "person_id"))
    values = pa.concat_arrays(plan.values).to_numpy(zero_copy_only=False) if plan.values else np.zeros(0, object)
    faults = pd.DataFrame({
        "file": f"{file}.csv",
        "row": np.r_[position[edit_rows], position[n:]] + 2,
        "column": np.r_[np.concatenate(plan.columns or [np.zeros(0, object)]), ins_column].astype(str),
        "rule": np.r_[np.concatenate(plan.rules or [np.zeros(0, object)]), ins_rule].astype(str),
        "value": np.r_[values, np.full(len(src), "", dtype=object)].astype(str),
    })
    return table, faults


# --------------------------------------------------------------------------------------------
# Population and truth


def _population(n_people: int) -> pd.DataFrame:
    mix = _area_mix()
    sizes = np.array([a[2] for a in AREAS])
    residents = n_people * RESIDENTS_PER_PERSON
    sex_share = np.array([SEX_SHARES["M"], SEX_SHARES["F"]]) / (SEX_SHARES["M"] + SEX_SHARES["F"])
    expected = (residents * sizes[:, None, None, None] * np.array(AGE_BAND_SHARES)[None, :, None, None]
                * sex_share[None, None, :, None] * mix[:, None, None, :])
    a, b, s, e = np.indices(expected.shape).reshape(4, -1)
    return pd.DataFrame({
        "area": np.array([x[0] for x in AREAS])[a],
        "age_band": np.array([x[0] for x in AGE_BANDS])[b],
        "sex": np.array(["M", "F"])[s],
        "ethnicity": np.array(list(ETHNIC_MIX))[e],
        "count": np.round(expected.reshape(-1)).astype(np.int64),
    })


# --------------------------------------------------------------------------------------------
# The public functions


def generate_force(*, people: int = 5000, seed: int = 0, until: dt.date, dirty: float = 0.0,
                   intel_bias: Mapping[str, float] | None = None, catalogue: Catalogue,
                   years: int = 5) -> SyntheticForce:
    """Generate a synthetic force: people, events and population with known ground truth.

    Parameters
    ----------
    people : number of people in the extract (the ``people`` file has this many clean rows).
    seed : the same arguments give the same force, byte for byte.
    until : the extract date; events run for ``years`` years up to and including it.
    dirty : fraction (0 to 0.5) of people and event rows given one fault each (see the module
        docstring for the rules and the ``person_rejected`` cascade).
    intel_bias : ``{ethnicity: factor}``: multiply the recording rate of intelligence reports for
        people of that (self-defined) ethnicity; behaviour and every other event are unchanged.
    catalogue : the indicator catalogue; events of every type in it are generated.
    years : years of history.
    """
    def whole(x: object) -> bool:
        return isinstance(x, numbers.Integral) and not isinstance(x, bool)

    if not whole(people) or people < 1:
        raise ValueError(f"people must be a whole number of at least 1, not {people!r}")
    if not whole(seed) or seed < 0:
        raise ValueError(f"seed must be a whole number of at least 0, not {seed!r}")
    if not whole(years) or not 1 <= years <= 20:
        raise ValueError(f"years must be a whole number from 1 to 20, not {years!r}")
    if not isinstance(dirty, numbers.Real) or isinstance(dirty, bool) or not 0 <= dirty <= 0.5:
        raise ValueError(f"dirty must be a fraction from 0 to 0.5, not {dirty!r}")
    if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
        raise ValueError(f"until must be a date, not {until!r}")
    bias = _check_intel_bias(intel_bias)
    people, seed, years, dirty = int(people), int(seed), int(years), float(dirty)
    cal = _calendar(until, years)
    pop = _make_people(_rng(seed, "people"), people, cal)
    groups = _make_groups(_rng(seed, "groups"), pop, cal)
    places = _make_places(_rng(seed, "places"), pop, groups)
    latent = _make_latent(_rng(seed, "latent"), pop, groups, cal.quarters)
    sim = _Simulation(seed, pop, groups, latent, places, cal, catalogue, bias)
    ev = _merge(sim.run(), cal)
    latent_truth = latent.truth
    del sim, latent

    width = max(6, len(str(people)))
    person_ids = _numbered("P", np.arange(1, people + 1), width)
    place_ids = places.ids()
    pcols = _people_columns(pop, person_ids)
    ecols = _event_columns(ev, person_ids, catalogue.codes, place_ids)
    rng = _rng(seed, "faults")
    n_events = np.bincount(ev.person, minlength=people)
    pplan, quarantined, clean_people = _inject_people(rng, pcols, pop, n_events, round(dirty * people), cal)
    eplan, clean_events = _inject_events(rng, ecols, ev, pop, quarantined, round(dirty * len(ev.person)), cal,
                                         catalogue.codes, width)
    if dirty > 0:
        _add_noise(rng, pcols, clean_people[:round(dirty * people)], "people")
        _add_noise(rng, ecols, clean_events[:round(dirty * len(ev.person))], "events")
    del ev
    people_table, people_faults = _assemble(pcols, pplan, "people")
    events_table, event_faults = _assemble(ecols, eplan, "events")
    del pcols, ecols
    faults = (pd.concat([people_faults, event_faults], ignore_index=True)
              .sort_values(["file", "row"], kind="stable").reset_index(drop=True))

    ids = person_ids.to_numpy(zero_copy_only=False)
    group_ids = _numbered("G", np.arange(1, groups.count + 1), 5).to_numpy(zero_copy_only=False)
    peer_group = np.where(groups.of >= 0, group_ids[np.maximum(groups.of, 0)] if groups.count else "", "")
    truth = pd.DataFrame({
        "person_id": ids,
        "date_of_birth": _dates(pop.dob).to_numpy(zero_copy_only=False),
        "sex": np.array(SEX_CODES)[pop.sex],
        "ethnicity": np.array(ETHNICITY_CODES)[pop.eth],
        "area": np.array([a[0] for a in AREAS])[pop.area],
        **{k: np.round(v.astype(np.float64), 6) for k, v in latent_truth.items()},
        "peer_group": peer_group,
        "events": n_events,
    })
    members = groups.members
    group_table = pd.DataFrame({"peer_group": peer_group[members], "person_id": ids[members],
                                "area": np.array([a[0] for a in AREAS])[pop.area[members]]})
    locations = pd.DataFrame({"location_id": place_ids.to_numpy(zero_copy_only=False),
                              "area": np.array([a[0] for a in AREAS])[places.area],
                              "hotspot_rank": places.rank,
                              "weight": np.round(places.weight / places.weight.sum(), 9)})
    return SyntheticForce(people=people_table.to_pandas(), events=events_table.to_pandas(),
                          population=_population(people), faults=faults, truth_people=truth, until=until,
                          seed=seed, dirty=float(dirty), groups=group_table, locations=locations)


_Format = Literal["csv", "parquet"]


def _renumber(faults: pd.DataFrame, fmt: _Format) -> pd.DataFrame:
    """Faults given for CSV, as the validator reports them for ``fmt``."""
    faults = faults.copy()
    if fmt == "csv":
        return faults.reset_index(drop=True)
    malformed = np.sort(faults.loc[faults["rule"] == "malformed_row", "row"].to_numpy())
    faults = faults[faults["rule"] != "malformed_row"].copy()
    events = (faults["file"] == "events.csv").to_numpy()
    rows = faults["row"].to_numpy()
    faults["row"] = rows - 1 - np.where(events, np.searchsorted(malformed, rows), 0)
    faults["file"] = faults["file"].str.replace(".csv", f".{fmt}", regex=False)
    return faults.reset_index(drop=True)


def faults_for(force: SyntheticForce, fmt: _Format = "csv") -> pd.DataFrame:
    """The injected faults as the validator reports them for files written in ``fmt``.

    Parquet has no malformed lines: those rows are left out of the file, later rows move up, and
    rows are 1-based positions instead of CSV line numbers."""
    return _renumber(force.faults, fmt)


def expected_rejects(force: SyntheticForce, fmt: _Format = "csv") -> pd.DataFrame:
    """Every row the validator should reject, columns ``file, row, column, rule``: the injected
    faults plus the ``person_rejected`` cascade (every event of a person whose own ``people`` row
    has a fault)."""
    faults = force.faults
    people_faults = faults[(faults["file"] == "people.csv") & ~faults["rule"].isin(_INSERTED)]
    ids = force.people["person_id"].str.strip().to_numpy()
    quarantined = pd.Index(ids[people_faults["row"].to_numpy() - 2])
    person = force.events["person_id"].str.strip()
    cascade = np.flatnonzero(person.isin(quarantined).to_numpy())
    extra = pd.DataFrame({"file": "events.csv", "row": cascade + 2, "column": "person_id",
                          "rule": "person_rejected", "value": person.to_numpy()[cascade]})
    out = _renumber(pd.concat([faults, extra], ignore_index=True), fmt)
    return (out[["file", "row", "column", "rule"]].sort_values(["file", "row", "rule"], kind="stable")
            .reset_index(drop=True))


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _csv_writer(table: pa.Table, *, bom: bool, crlf: bool):
    """Write ``table`` as CSV without quoting (values never hold quotes, commas or newlines, except the
    deliberate malformed lines)."""
    eol = "\r\n" if crlf else "\n"

    def write(path: Path) -> None:
        with path.open("wb") as fh:
            fh.write(("\ufeff" if bom else "").encode() + (",".join(table.column_names) + eol).encode())
            for start in range(0, table.num_rows, 1 << 20):
                part = table.slice(start, 1 << 20)
                cols = [c.cast(pa.large_string()).combine_chunks() if isinstance(c, pa.ChunkedArray)
                        else c.cast(pa.large_string()) for c in part.columns]
                cols = [pc.fill_null(c, _ls("")) for c in cols]
                line = pc.binary_join_element_wise(*cols, _ls(","))
                line = pc.binary_join_element_wise(line, _ls(""), _ls(eol))
                offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[line.offset:line.offset + len(line) + 1]
                data = line.buffers()[2]
                if data is not None and len(line):
                    fh.write(memoryview(data)[int(offsets[0]):int(offsets[-1])])
    return write


def _arrow(frame: pd.DataFrame, *, text: bool = False) -> pa.Table:
    """``frame`` as an Arrow table without pandas metadata; with ``text``, every column as text."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    if text:
        table = pa.table({name: pc.cast(col, pa.large_string()) for name, col in
                          zip(table.column_names, table.columns, strict=True)})
    return table


def write_force(force: SyntheticForce, out: Path, *, fmt: _Format = "csv") -> dict[str, Path]:
    """Write ``people``, ``events`` and ``population`` into ``out``, and the truth into ``out/_truth/``.

    Each file is written to a temporary name and renamed into place.  CSVs of a dirty force get a
    UTF-8 BOM and CRLF line endings.  Returns the path of every file written, by name:
    ``people, events, population, faults, truth_people, groups, locations``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out)
    other = "parquet" if fmt == "csv" else "csv"
    clash = [out / f"{name}.{other}" for name in ("people", "events", "population") if (out / f"{name}.{other}").exists()]
    if clash:
        raise OutputError(f"{clash[0]} exists; remove it or write --format {other}, so the folder holds one extract")
    try:
        (out / "_truth").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc.strerror}); choose another --out") from None
    dirty = force.dirty > 0
    faults = faults_for(force, fmt)
    events = force.events
    if fmt == "parquet":
        malformed = force.faults.loc[(force.faults["rule"] == "malformed_row"), "row"].to_numpy() - 2
        if len(malformed):
            keep = np.ones(len(events), dtype=bool)
            keep[malformed] = False
            events = events[keep]
    population = force.population.assign(count=force.population["count"].astype(str))
    paths: dict[str, Path] = {}
    for name, frame in (("people", force.people), ("events", events), ("population", population)):
        path = out / f"{name}.{fmt}"
        table = _arrow(frame)
        if fmt == "csv":
            _write_atomic(path, _csv_writer(table, bom=dirty, crlf=dirty))
        else:
            _write_atomic(path, lambda tmp, table=table: pq.write_table(table, tmp))
        paths[name] = path
    truth = {"faults": faults, "truth_people": force.truth_people, "groups": force.groups,
             "locations": force.locations}
    for name, frame in truth.items():
        path = out / "_truth" / ("people.csv" if name == "truth_people" else f"{name}.csv")
        table = _arrow(frame, text=True)
        _write_atomic(path, _csv_writer(table, bom=False, crlf=False))
        paths[name] = path
    return paths
