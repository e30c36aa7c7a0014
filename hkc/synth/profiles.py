"""How often, at what ages, in which roles, from which source and where each event type happens.

One :class:`Profile` per catalogue type (types added to the catalogue get a default profile), plus
the outcome and intelligence-grade mixes.  The rate model in :mod:`hkc.synth.rates` turns these
shares into per-person quarterly rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hkc.definitions import Indicator
from hkc.synth.dates import MAX_AGE_QUARTERS

CRIMINAL_AGE = 10.0


@dataclass(frozen=True)
class Profile:
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
    cap: float = 0.5                              # most events a male can expect in a quarter


OFFENCE_AGE = (17.0, 2.0, 4.5, CRIMINAL_AGE, 70.0)
# Shares follow the rough mix of a county force's records for 10-30 year olds known to agencies:
# knife violence, possession and weapon finds are a small part of them (some 200, 700 and 550 a
# year for 20,000 people), and proactive work other than knife intelligence (drug supply, weapon
# finds) outweighs it, so biased intelligence recording shows as such in the audit.  Caps
# (expected events a quarter) keep the most prolific person's own record plausible: about one
# knife violence offence in four years, one possession and one weapon find in two and a half, up
# to four intelligence reports a year, plus the peer-group incidents they take part in.
# Offending caps are lower for females (rates.CAP_SEX_FACTOR).
PROFILES: dict[str, Profile] = {
    "knife_violence": Profile(0.005, (17.5, 2.0, 4.5, CRIMINAL_AGE, 70.0), 1.0, male=1.3, location=0.95,
                              group=0.06, victim=("knife_victim", 0.85), cap=0.06),
    "knife_possession": Profile(0.02, OFFENCE_AGE, 1.0, male=1.3, location=0.95, group=0.10, cap=0.1),
    "search_weapon_found": Profile(0.016, (17.0, 2.0, 4.0, CRIMINAL_AGE, 70.0), 1.0, male=1.4,
                                   roles={"subject": 1.0}, location=1.0, cap=0.1),
    "knife_intel": Profile(0.10, (17.0, 2.2, 4.5, CRIMINAL_AGE, 70.0), 0.95, male=1.2,
                           roles={"subject": 1.0}, occurrence=0.0, location=0.5, cap=1.0),
    "robbery": Profile(0.05, (16.5, 2.0, 4.0, CRIMINAL_AGE, 70.0), 1.0, male=1.5, location=0.95,
                       group=0.25, victim=("robbery", 0.45), cap=0.05),
    "violence": Profile(0.19, (18.0, 2.5, 6.0, CRIMINAL_AGE, 80.0), 0.9, location=0.9, group=0.35,
                        victim=("violence", 0.3), cap=0.5),
    "drug_supply": Profile(0.13, (18.0, 2.5, 5.0, CRIMINAL_AGE, 70.0), 0.7, male=1.3, location=0.9,
                           group=0.15, cap=0.18),
    "knife_victim": Profile(0.03, (18.0, 3.0, 5.0, 9.0, 80.0), 0.5, male=1.5,
                            sources={"police": 0.8, "health": 0.2}, roles={"victim": 1.0}, cap=0.2),
    "exploitation_concern": Profile(0.05, (15.5, 2.0, 2.0, 9.0, 21.0), 0.2, male=0.9, care=2.0,
                                    sources={"social_care": 0.75, "police": 0.25},
                                    roles={"subject": 0.6, "victim": 0.4}, occurrence=0.05, location=0.4,
                                    cap=0.6),
    "ae_assault": Profile(0.06, (19.0, 3.0, 5.0, 9.0, 80.0), 0.4, male=1.3, sources={"health": 1.0},
                          roles={"victim": 0.85, "subject": 0.15}, occurrence=0.0, location=0.0, cap=0.5),
    "missing_episode": Profile(0.14, (15.0, 2.0, 1.5, 9.0, 18.0), 0.0, male=0.8, care=3.0,
                               sources={"police": 0.6, "social_care": 0.4}, roles={"subject": 1.0},
                               occurrence=0.1, location=0.3, cap=2.0),
    "exclusion": Profile(0.09, (14.0, 1.8, 1.2, 9.0, 16.0), 0.2, male=1.6, care=1.5,
                         sources={"education": 1.0}, roles={"subject": 1.0}, occurrence=0.0, location=0.0, cap=0.6),
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


def profile_for(ind: Indicator) -> Profile:
    """The profile of a catalogue type; a default one for types not in :data:`PROFILES`."""
    if ind.code in PROFILES:
        return PROFILES[ind.code]
    if ind.axis == "risk":
        return Profile(0.03, OFFENCE_AGE, 1.0)
    return Profile(0.03, (16.0, 2.5, 4.0, 9.0, 80.0), 0.0, sources={"social_care": 1.0}, occurrence=0.05,
                   location=0.2)


def age_table(profile: Profile) -> np.ndarray:
    """Relative rate by age in quarter-years at the start of a quarter (0 outside the age range)."""
    peak, left, right, lo, hi = profile.age
    age = np.arange(MAX_AGE_QUARTERS) / 4
    mid = age + 0.125
    sd = np.where(mid < peak, left, right)
    table = np.exp(-0.5 * ((mid - peak) / sd) ** 2)
    return np.where((age >= lo) & (age < hi), table, 0.0).astype(np.float32)
