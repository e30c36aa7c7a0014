"""The co-involvement network: who was involved in the same incidents, and the weighted links between them.

A link says two people were recorded in one incident (``occurrence_id``) in the lookback window,
whatever their roles: "co-involved", never "offended with". Each incident adds
``0.5 ** (age_days / half_life_days)`` to the link's weight. :mod:`hkc.matrix.peers` builds the
peer groups and the periphery on it.

Each pair also carries both people's roles in that incident, as bits (:data:`OFFENDING` for offender
or suspect, :data:`HARMED` for victim or witness, :data:`OTHER_ROLE` for any other or no role; a
person recorded in several roles in one incident has several bits), so the periphery can tell a
co-offender from a victim of a cohort member.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ['CoInvolvement', 'co_involvement', 'weighted_edges', 'as_datetime', 'role_bits', 'MAX_OCCURRENCE_PEOPLE',
           'EDGE_COLUMNS', 'OFFENDING', 'HARMED', 'OTHER_ROLE']

MAX_OCCURRENCE_PEOPLE = 50

EDGE_COLUMNS = ["person_a", "person_b", "shared_occurrences", "weight", "first", "last"]

OFFENDING, HARMED, OTHER_ROLE = 1, 2, 4  # role bits: offender or suspect; victim or witness; anything else
_ROLE_BITS = {"offender": OFFENDING, "suspect": OFFENDING, "victim": HARMED, "witness": HARMED}


@dataclass
class CoInvolvement:
    """The network in integer form: ``people`` (ids, sorted) and per pair of a shared incident
    ``a < b`` (positions in ``people``), ``occurrence`` (a code), ``day`` (days since 1970) and
    ``role_a``, ``role_b``: each one's role bits in that incident (see the module docstring)."""

    people: np.ndarray
    a: np.ndarray
    b: np.ndarray
    occurrence: np.ndarray
    day: np.ndarray
    diagnostics: dict
    role_a: np.ndarray | None = None
    role_b: np.ndarray | None = None


def role_bits(roles: pd.Series | None, n: int) -> np.ndarray:
    """The role bits of each event: :data:`OFFENDING`, :data:`HARMED` or :data:`OTHER_ROLE` (also for no role)."""
    if roles is None:
        return np.full(n, OTHER_ROLE, dtype=np.int8)
    if isinstance(roles.dtype, pd.CategoricalDtype):  # the loaded extract's: look up each category once
        names = pd.Series(roles.cat.categories, dtype=object)
        table = np.append(_bits(names), OTHER_ROLE).astype(np.int8)
        return table[roles.cat.codes.to_numpy()]  # code -1 (missing) takes the last entry
    return _bits(pd.Series(roles.to_numpy(dtype=object)))


def _bits(roles: pd.Series) -> np.ndarray:
    text = roles.where(roles.notna(), "").astype(str).str.strip().str.lower()
    return text.map(_ROLE_BITS).fillna(OTHER_ROLE).to_numpy(dtype=np.int8)


def _days(dates: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(dates).astype("datetime64[s]").astype("datetime64[D]").astype(np.int64)


def _day(as_of: dt.date) -> int:
    return int(np.datetime64(as_of.isoformat(), "D").astype(np.int64))


def as_datetime(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[s]")


def co_involvement(events: pd.DataFrame, *, as_of: dt.date, lookback_days: int,
                   max_occurrence_people: int = MAX_OCCURRENCE_PEOPLE) -> CoInvolvement:
    """Every pair of people sharing an incident in the window, by a vectorised self-join."""
    occ = events["occurrence_id"]
    day = _days(events["date"])
    age = _day(as_of) - day
    rows = np.flatnonzero(occ.notna().to_numpy() & (age >= 0) & (age <= lookback_days))
    rows = rows[(occ.iloc[rows].astype(str).str.strip() != "").to_numpy()]
    occ_code, occ_names = pd.factorize(occ.iloc[rows], sort=False)
    code, names = _person_codes(events, rows)
    by_id = pc.sort_indices(pa.array(names, type=pa.large_string())).to_numpy()  # faster than numpy on text
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_id] = np.arange(len(names))
    people, person = names[by_id], rank[code]  # a person's position is the rank of their id
    day = day[rows]
    bits = role_bits(events["role"].iloc[rows] if "role" in events.columns else None, len(rows))
    # One row per (incident, person), at that person's earliest date in it, with every role they had in it.
    order = np.lexsort((day, person, occ_code))
    occ_code, person, day, bits = occ_code[order], person[order], day[order], bits[order]
    first = _run_starts(occ_code, person)
    bits = np.bitwise_or.reduceat(bits, first) if len(first) else bits[:0]
    occ_code, person, day = occ_code[first], person[first], day[first]
    # Incident sizes; the giant ones are left out.
    starts = _run_starts(occ_code)
    sizes = np.diff(np.r_[starts, len(occ_code)])
    giant = sizes > max_occurrence_people
    size_of = np.repeat(sizes, sizes)
    ok = ~np.repeat(giant, sizes)
    # Self-join: the row at position p of an incident of size k pairs with positions p+1 … k-1.
    position = np.arange(len(occ_code)) - np.repeat(starts, sizes)
    later = np.where(ok, size_of - 1 - position, 0)
    left = np.repeat(np.arange(len(occ_code)), later)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(later) - later, later)
    right = left + 1 + offset
    a, b = np.minimum(person[left], person[right]), np.maximum(person[left], person[right])
    diagnostics = {
        "involvements": int(len(occ_code)),
        "occurrences": int(len(sizes)),
        "occurrences_shared": int(((sizes >= 2) & ~giant).sum()),
        "occurrences_skipped_giant": int(giant.sum()),
        "people_in_skipped_occurrences": int(sizes[giant].sum()),
        "largest_occurrence": int(sizes.max(initial=0)),
        "max_occurrence_people": int(max_occurrence_people),
        "pairs": int(len(left)),
    }
    if giant.any():
        diagnostics["skipped_occurrence_ids"] = sorted(map(str, occ_names[np.flatnonzero(giant)]))[:20]
    left_first = person[left] < person[right]
    return CoInvolvement(people=people, a=a, b=b, occurrence=occ_code[left],
                         day=np.maximum(day[left], day[right]), diagnostics=diagnostics,
                         role_a=np.where(left_first, bits[left], bits[right]),
                         role_b=np.where(left_first, bits[right], bits[left]))


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where a run of equal (sorted) keys starts."""
    new = np.zeros(len(keys[0]), dtype=bool)
    new[:1] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(new)


def _person_codes(events: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A code per row (0 … n-1) and the person id of each code, from ``person_idx`` when the
    extract has it (no hashing of text), else from ``person_id``."""
    if "person_idx" not in events:
        code, names = pd.factorize(events["person_id"].iloc[rows], sort=False)
        return code, np.asarray(names, dtype=object)
    idx = events["person_idx"].to_numpy()[rows].astype(np.int64)
    present = np.zeros(int(idx.max(initial=-1)) + 1, dtype=bool)
    present[idx] = True
    row_of = np.zeros(len(present), dtype=np.int64)
    row_of[idx] = rows  # any one row of each person
    names = events["person_id"].iloc[row_of[present]].to_numpy(dtype=object)
    return (np.cumsum(present) - 1)[idx], names


def weighted_edges(net: CoInvolvement, *, as_of: dt.date, half_life_days: float) -> pd.DataFrame:
    """One row per linked pair.  Pairs are sorted by (a, b, age) so the weights add up in the same
    order whatever the input order (equal ages add equal terms)."""
    n = max(len(net.people), 1)
    key = net.a.astype(np.int64) * n + net.b
    age = _day(as_of) - net.day
    order = np.lexsort((age, key))
    key, age = key[order], age[order]
    starts = _run_starts(key)
    weight = np.add.reduceat(np.power(0.5, age / half_life_days), starts) if len(key) else np.zeros(0)
    return pd.DataFrame({
        "a": key[starts] // n, "b": key[starts] % n,
        "shared_occurrences": np.diff(np.r_[starts, len(key)]),
        "weight": weight,
        "first": as_datetime(_day(as_of) - np.maximum.reduceat(age, starts) if len(key) else age),
        "last": as_datetime(_day(as_of) - np.minimum.reduceat(age, starts) if len(key) else age),
    })
