"""The people of a synthetic county: demographics, census population and latent propensities.

* ~12 districts of different sizes, ages 10-30 at ``until``, sex roughly balanced, ethnicity from
  the 2021 census high-level groups (more diverse in the larger towns), officer-defined IC codes
  mostly consistent with it, and care flags that follow vulnerability.  :func:`population_table`
  holds resident counts with the same mix, several times larger.
* Latent propensities: a heavy-tailed risk propensity (lognormal, higher for males), a correlated
  vulnerability propensity and a weapon affinity.  Each person's level drifts quarter by quarter
  (AR(1) around a lasting part), so past involvement predicts future involvement, noisily: onset
  and desistance happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hkc.extract import ETHNICITY_CODES, OFFICER_ETHNICITY_CODES, SEX_CODES
from hkc.synth.dates import Calendar
from hkc.synth.sampling import choice, choice_by_row

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

# Officer-defined IC code given the self-defined ethnicity: IC1..IC6, IC9, then blank.
IC_GIVEN_ETHNICITY = {
    "Asian": (0.02, 0.01, 0.01, 0.72, 0.06, 0.05, 0.02, 0.11),
    "Black": (0.01, 0.005, 0.83, 0.01, 0.005, 0.01, 0.02, 0.11),
    "Mixed": (0.25, 0.04, 0.38, 0.08, 0.02, 0.04, 0.07, 0.12),
    "White": (0.80, 0.07, 0.002, 0.003, 0.002, 0.003, 0.01, 0.11),
    "Other": (0.08, 0.08, 0.06, 0.15, 0.20, 0.25, 0.06, 0.12),
    "Not stated": (0.55, 0.05, 0.08, 0.08, 0.02, 0.03, 0.07, 0.12),
}

# Latent propensities
RISK_SIGMA = 2.6                    # lognormal sigma of the risk propensity (rates are capped)
RISK_SEX_FACTOR = {"F": 1.0, "M": 6.0, "X": 2.45, "U": 2.45}
VULNERABILITY_SIGMA = 2.3
RISK_VULNERABILITY_CORR = 0.5
STATIC_SHARE = 0.7                  # share of log-propensity variance that never changes
QUARTERLY_PERSISTENCE = 0.85        # AR(1) coefficient of the changing part
WEAPON_SIGMA = 0.6                  # weapon affinity: lognormal multiplier on weapon types


@dataclass
class People:
    """One entry per person (index = person number); codes index the contract's code lists."""

    dob: np.ndarray       # day number
    sex: np.ndarray       # index into SEX_CODES
    eth: np.ndarray       # index into ETHNICITY_CODES
    area: np.ndarray      # index into AREAS
    ic: np.ndarray        # index into OFFICER_ETHNICITY_CODES, -1 blank
    in_care: np.ndarray   # 1 true, 0 false, -1 blank
    open_sc: np.ndarray
    z_risk: np.ndarray    # standard normal scores behind the propensities
    z_vuln: np.ndarray
    z_weapon: np.ndarray

    @property
    def n(self) -> int:
        return len(self.dob)


def area_mix() -> np.ndarray:
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


def make_people(rng: np.random.Generator, n: int, cal: Calendar,
                ages: tuple[float, float] = AGE_RANGE) -> People:
    """``n`` people of the county: demographics, care flags and the scores behind their propensities.

    ``ages``: the range of ages at ``cal.until`` (uniform)."""
    sizes = np.array([a[2] for a in AREAS])
    area = choice(rng, sizes, n).astype(np.int16)
    eth_five = choice_by_row(rng, area_mix(), area)
    to_code = np.array([ETHNICITY_CODES.index(e) for e in ETHNIC_MIX])
    eth = to_code[eth_five]
    eth[rng.random(n) < NOT_STATED_SHARE] = ETHNICITY_CODES.index("Not stated")
    sex = np.array([SEX_CODES.index(s) for s in SEX_SHARES])[choice(rng, list(SEX_SHARES.values()), n)]
    lo, hi = (math.ceil(ages[0] * 365.25) + 1, math.floor(ages[1] * 365.25))
    dob = cal.until - rng.integers(lo, hi, size=n)
    ic_table = np.array([IC_GIVEN_ETHNICITY[e] for e in ETHNICITY_CODES])
    ic = choice_by_row(rng, ic_table, eth)
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
    return People(dob=dob, sex=sex.astype(np.int8), eth=eth.astype(np.int8), area=area, ic=ic.astype(np.int8),
                  in_care=in_care, open_sc=open_sc, z_risk=z_risk, z_vuln=z_vuln, z_weapon=z_weapon)


def population_table(n_people: int) -> pd.DataFrame:
    """Census-style resident counts ``area, age_band, sex, ethnicity, count`` with the county's mix."""
    mix = area_mix()
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


@dataclass
class Latent:
    """Propensities by quarter: rate multipliers with mean 1, and the truth recorded about them."""

    risk: np.ndarray        # (quarters, people)
    vuln: np.ndarray
    group_level: np.ndarray  # (quarters, groups): each peer group's changing activity level
    truth: dict[str, np.ndarray]


def make_latent(rng: np.random.Generator, pop: People, groups: Groups, quarters: int) -> Latent:
    """Lasting part plus an AR(1) changing part; peer-group members share part of their changes."""
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
    return Latent(risk=risk, vuln=vuln, group_level=level, truth=truth)


@dataclass
class Groups:
    """Peer groups: who is in which, where, and how active each is."""

    of: np.ndarray        # per person: group number or -1
    members: np.ndarray   # people sorted by group
    ptr: np.ndarray       # members of group g: members[ptr[g]:ptr[g + 1]]
    area: np.ndarray
    static: np.ndarray    # each group's lasting activity level
    hotspots: np.ndarray  # (groups, 2) location numbers, filled in by make_places

    @property
    def count(self) -> int:
        return len(self.area)
