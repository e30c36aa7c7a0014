"""The rate model: each person's expected number of events of each type in each quarter.

For person ``i``, type ``t`` and quarter ``q``::

    rate = min(base[t] × age_table[t](age) × drive[t](q) × sex, weapon and care multipliers, cap[t, i])

where ``drive`` mixes the risk and vulnerability propensities by the profile's ``risk_mix``.

* **Caps** (behaviour has limits): the profile's ``cap`` is the most events of the type anyone
  can expect in a quarter.  The propensities are heavy-tailed, so without caps the most prolific
  person would have hundreds of events; with them, the top of a knife-carrier matrix holds people
  with a handful of knife events in three years, as in a real force.  For offending the cap is
  scaled by :data:`CAP_SEX_FACTOR` (by ``risk_mix``), so that the most prolific offenders stay
  mostly male rather than every capped person counting the same.
* **Base rates**: the per-type ``base`` is solved, caps included, so that the types have their
  profile shares of :data:`OWN_EVENTS_PER_PERSON_YEAR` (:func:`capped_scale`).
* The recording bias of ``intel_bias`` multiplies intelligence rates after the cap: recording,
  not behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from hkc.definitions import Catalogue, Indicator
from hkc.extract import ETHNICITY_CODES, SEX_CODES
from hkc.synth.dates import Calendar, age_quarters
from hkc.synth.people import WEAPON_SIGMA, Latent, People
from hkc.synth.profiles import Profile, age_table, profile_for

OWN_EVENTS_PER_PERSON_YEAR = 1.5    # before group incidents, linked victims and first contacts
CALIBRATION_PEOPLE = 20_000         # base rates are estimated on the first this many people
CAP_SEX_FACTOR = {"F": 0.2, "M": 1.0, "X": 0.45, "U": 0.45}  # cap multiplier for offending (risk_mix = 1)


class Rates:
    """Per-type profiles, age tables, person multipliers and caps, and :meth:`rate` by quarter."""

    def __init__(self, pop: People, latent: Latent, cal: Calendar, catalogue: Catalogue,
                 bias: Mapping[str, float]):
        self.pop, self.latent, self.cal = pop, latent, cal
        self.codes = catalogue.codes
        self.indicators = list(catalogue.indicators.values())
        self.profiles = [profile_for(ind) for ind in self.indicators]
        self.tables = [age_table(p) for p in self.profiles]
        self.static = [self._static(ind, p) for ind, p in zip(self.indicators, self.profiles, strict=True)]
        self.caps = [self._caps(p) for p in self.profiles]
        factor = np.array([bias.get(e, 1.0) for e in ETHNICITY_CODES], dtype=np.float32)
        self.recording = [factor[pop.eth] if ind.intelligence and bias else None for ind in self.indicators]
        self.base = self._calibrate()
        for t, base in enumerate(self.base):
            self.static[t] *= np.float32(base)

    def _static(self, ind: Indicator, profile: Profile) -> np.ndarray:
        pop = self.pop
        sex = np.array([{"M": profile.male, "F": 1.0}.get(s, math.sqrt(profile.male)) for s in SEX_CODES])
        mult = sex[pop.sex].astype(np.float32)
        if ind.weapon:
            mult *= np.exp(WEAPON_SIGMA * pop.z_weapon - WEAPON_SIGMA ** 2 / 2).astype(np.float32)
        if profile.care != 1.0:
            mult *= np.where(pop.in_care == 1, profile.care, 1.0).astype(np.float32)
        return mult

    def _caps(self, profile: Profile) -> np.float32 | np.ndarray:
        """The cap of each person (one number when it does not depend on sex)."""
        if profile.risk_mix == 0:
            return np.float32(profile.cap)
        by_sex = np.array([profile.cap * (1 - profile.risk_mix + profile.risk_mix * CAP_SEX_FACTOR[s])
                           for s in SEX_CODES], dtype=np.float32)
        return by_sex[self.pop.sex]

    def _drive(self, t: int, q: int, rows: slice | np.ndarray) -> np.ndarray:
        mix = self.profiles[t].risk_mix
        lat = self.latent
        if mix == 1:
            return lat.risk[q, rows]
        if mix == 0:
            return lat.vuln[q, rows]
        return mix * lat.risk[q, rows] + (1 - mix) * lat.vuln[q, rows]

    def rate(self, t: int, q: int, ages: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Expected type-``t`` events in quarter ``q`` for ``rows`` (whose ages in quarter-years are ``ages``),
        recording bias included."""
        rate = self.tables[t][ages] * self._drive(t, q, rows) * self.static[t][rows]
        cap = self.caps[t]
        np.minimum(rate, cap if np.ndim(cap) == 0 else cap[rows], out=rate)
        return rate if self.recording[t] is None else rate * self.recording[t][rows]

    def _calibrate(self) -> np.ndarray:
        """Per-type base rates so that types have their profile shares of OWN_EVENTS_PER_PERSON_YEAR.

        Solved with the caps in place, so a cap moves events to people below it rather than losing
        them.  Estimated on the first CALIBRATION_PEOPLE people, before any recording bias."""
        cal, sub = self.cal, slice(0, min(self.pop.n, CALIBRATION_PEOPLE))
        ages = [age_quarters(int(cal.edges[q]), self.pop.dob[sub]) for q in range(cal.quarters)]
        shares = np.array([p.share for p in self.profiles])
        years = (cal.until + 1 - cal.start) / 365.25
        targets = shares / shares.sum() * OWN_EVENTS_PER_PERSON_YEAR * years * sub.stop
        base = np.zeros(len(self.codes))
        for t, cap in enumerate(self.caps):
            shape = np.concatenate([self.tables[t][ages[q]] * self._drive(t, q, sub) * self.static[t][sub]
                                    for q in range(cal.quarters)])
            caps = np.full(len(shape), cap) if np.ndim(cap) == 0 else np.tile(cap[sub], cal.quarters)
            base[t] = capped_scale(shape, caps, float(targets[t]))
        return base


def capped_scale(rates: np.ndarray, caps: np.ndarray | float, target: float) -> float:
    """The factor ``b`` with ``sum(minimum(b * rates, caps)) == target`` (0 if every rate is 0).

    The sum grows continuously with ``b``; between the breakpoints ``caps / rates`` the set of
    capped entries is fixed, so ``b`` is found exactly from the sorted breakpoints.  A target of
    the sum of the caps (of non-zero rates) or more puts everyone at the cap.

    >>> capped_scale(np.array([1.0, 1.0, 8.0]), 2.0, target=4.0)
    1.0
    >>> capped_scale(np.array([1.0, 1.0, 8.0]), np.array([2.0, 2.0, 1.0]), target=3.0)
    1.0
    """
    rates = np.asarray(rates, dtype=np.float64)
    caps = np.broadcast_to(np.asarray(caps, dtype=np.float64), rates.shape)
    keep = rates > 0
    if not keep.any() or target <= 0:
        return 0.0
    r, c = rates[keep], caps[keep]
    order = np.argsort(c / r, kind="stable")
    r, c = r[order], c[order]
    breaks = c / r                                    # ascending: entry k is capped once b >= breaks[k]
    capped = np.cumsum(c)                             # capped[k]: sum of the caps of entries 0..k
    free = np.r_[np.cumsum(r[::-1])[::-1], 0.0]       # free[k]: sum of the rates of entries k..
    reached = capped + breaks * free[1:] >= target    # the total at each breakpoint
    if not reached.any():
        return float(breaks[-1])
    j = int(np.argmax(reached))                       # entries 0..j-1 capped at the answer
    return float((target - (capped[j - 1] if j else 0.0)) / free[j])
