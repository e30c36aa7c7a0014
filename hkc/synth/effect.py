"""A synthetic force with a known effect: at each quarter end the matrix lists, the meeting adopts,
and the programme lowers the adopted people's knife offending by a known share — so an evaluation
(``hkc evaluate``, ``benchmarks/evaluation.py``) has a truth to find.

>>> effect = Effect(size=0.3, lister=my_lister, outcome_types=("knife_possession", "knife_violence"),
...                 outcome_roles=("offender", "suspect"))                              # doctest: +SKIP
>>> force = generate_quarters(..., effect=effect); write_quarters(force, out)          # doctest: +SKIP

What happens at each quarter end, as :func:`hkc.synth.write_quarters` writes the extracts in order:

* **The list.**  ``lister(folder, date)`` is called on the extract just written and returns the ids
  of the people listed, as that extract holds them.  The caller injects it (the CLI builds it from
  ``hkc.matrix``: score and the configured cohort rule), because synth may not import the matrix.
* **The meeting.**  Each listed person is adopted with probability ``adopt_rate``: one coin per
  person and quarter (stream ``effect:adopt:<date>``), whatever the effect and whoever else is
  listed.  So two forces of one seed that differ only in ``size`` adopt the same people at the first
  quarter end and make the same decision about anyone both list later.  Their later lists differ,
  and should: the effect lowers the treated people's scores, as a working programme would.
* **The effect.**  Each adopted person's true *outcome events* (the ``[outcome]`` types in the
  ``[outcome]`` roles: knife offending as offender or suspect) dated in the ``months`` after the
  quarter end are removed from the simulated history with probability ``size``, before any later
  extract is cut.  One coin per event (stream ``effect:thin``), drawn once: an event covered by two
  adoptions is removed at most once, and a larger ``size`` removes a superset of a smaller one's.
  Nothing an extract already holds changes: the events removed are all dated after its date.
* **The record.**  ``interventions.csv`` holds one row per adoption in the format ``hkc
  interventions import`` reads: the listed id, ``start_date`` the day after the quarter end,
  ``end_date`` the effect's last day (cut to the day before a later adoption of the same person
  starts, so one person's rows never overlap; empty when it runs past the last extract), a ``type``
  and ``lead_agency`` drawn per adoption, and ``engagement`` ``engaged``.

The ground truth (:func:`effect_tables`) names every listing and adoption and every removed event,
so the events that would have happened without the programme (the counterfactual) are exactly the
observed events plus the removed ones, and :func:`true_effect` gives the effect on the treated (and
on everyone listed) over any cohorts and window.  ``size`` 0 is the null: the same meetings, nothing
removed.  What it does not model: the removed offence's linked rows of other people (a victim's
record of it, a co-offender's) stay; so do the person's other events (intelligence, victimisation);
the effect is the same for everyone adopted and lasts exactly ``months``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.extract import ROLE_CODES
from hkc.synth.dates import add_months, day_number
from hkc.synth.events import Chunk
from hkc.synth.sampling import stream

__all__ = ["Lister", "Effect", "Treatment", "EFFECT_MONTHS", "ADOPT_RATE", "INTERVENTION_TYPES", "LEAD_AGENCIES",
           "INTERVENTION_COLUMNS", "EFFECT_TRUTH", "effect_tables", "outcome_counts", "true_effect"]

Lister = Callable[[Path, dt.date], Sequence[str]]   # (extract folder, its date) -> ids of the people listed

EFFECT_MONTHS = 12       # how long an adoption lowers the person's knife offending
ADOPT_RATE = 0.7         # share of the listed the meeting adopts
INTERVENTION_TYPES = ("one_to_one", "detached_outreach", "peer_group", "family_support", "education", "disruption")
LEAD_AGENCIES = ("Youth Justice Service", "Children's Services", "Community Safety Partnership", "Education Welfare")
INTERVENTION_COLUMNS = ["person_id", "start_date", "end_date", "type", "lead_agency", "engagement"]
EFFECT_TRUTH = ("treatment", "removed_events", "interventions")   # the truth tables of a programme


@dataclass(frozen=True)
class Effect:
    """What the programme does: ``size`` (the share of outcome events removed while it works, 0 to 1),
    for ``months`` after each adoption, of the listed people adopted with probability ``adopt_rate``;
    the outcome is the events of ``outcome_types`` in ``outcome_roles``; ``lister`` makes the list."""

    size: float
    lister: Lister
    outcome_types: tuple[str, ...]
    outcome_roles: tuple[str, ...]
    months: int = EFFECT_MONTHS
    adopt_rate: float = ADOPT_RATE
    intervention_types: tuple[str, ...] = INTERVENTION_TYPES

    def check(self, codes: Sequence[str]) -> Effect:
        """This effect, checked against the catalogue's ``codes``; :class:`ValueError` (one line) if not."""
        for name in ("size", "adopt_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"effect {name} must be a fraction from 0 to 1, not {value!r}")
        if isinstance(self.months, bool) or not isinstance(self.months, int) or not 1 <= self.months <= 120:
            raise ValueError(f"effect months must be a whole number from 1 to 120, not {self.months!r}")
        if not callable(self.lister):
            raise ValueError("an effect needs a lister: a function of (extract folder, date) naming the listed")
        unknown = [t for t in self.outcome_types if t not in codes] + [r for r in self.outcome_roles
                                                                          if r not in ROLE_CODES]
        if unknown or not self.outcome_types or not self.outcome_roles:
            raise ValueError(f"effect outcome: unknown type or role {unknown[0]!r}" if unknown else
                             "effect outcome: name at least one type and one role")
        if not self.intervention_types:
            raise ValueError("effect: name at least one intervention type")
        return self

    def settings(self) -> dict[str, object]:
        """The settings recorded in the truth's ``settings`` table."""
        return {"effect": float(self.size), "effect_months": int(self.months), "adopt_rate": float(self.adopt_rate),
                "outcome_types": ";".join(self.outcome_types), "outcome_roles": ";".join(self.outcome_roles)}


@dataclass
class Treatment:
    """The programme's state as the extracts are written: who was listed and adopted at each quarter
    end (``listings``) and which true events it removed (``removed``; ``removed_by`` the index of the
    quarter whose adoption removed it, -1 for none).  :meth:`reset` starts it again, so writing a
    force twice gives the same extracts."""

    effect: Effect
    seed: int
    ev: Chunk
    people: int                      # true people simulated
    record_person: np.ndarray        # the true person of each nominal record
    record_ids: pa.Array
    codes: tuple[str, ...]
    outcome: np.ndarray = field(init=False)      # bool per event: an outcome event
    removed: np.ndarray = field(init=False)
    removed_by: np.ndarray = field(init=False)
    listings: list[pd.DataFrame] = field(init=False)

    def __post_init__(self) -> None:
        ev, eff = self.ev, self.effect
        types = [self.codes.index(t) for t in eff.outcome_types]
        roles = [ROLE_CODES.index(r) for r in eff.outcome_roles]
        self.outcome = np.isin(ev.type, types) & np.isin(ev.role, roles)
        rows = np.flatnonzero(self.outcome)
        self._rows = rows[np.lexsort((ev.day[rows], ev.person[rows]))]       # by person, then date
        self._ptr = np.r_[0, np.cumsum(np.bincount(ev.person[rows], minlength=self.people))]
        self._index = pd.Index(self.record_ids.to_numpy(zero_copy_only=False))
        self.reset()

    def reset(self) -> None:
        """Forget every meeting: nothing removed, nobody listed."""
        n = len(self.ev.day)
        self._coins = stream(self.seed, "effect:thin").random(n)
        self.removed = np.zeros(n, dtype=bool)
        self.removed_by = np.full(n, -1, dtype=np.int64)
        self.listings = []

    def meet(self, j: int, date: dt.date, listed: Sequence[str]) -> dict[str, int]:
        """The meeting after the ``j``-th quarter end (``date``) on the ``listed`` ids: adopt, then remove
        each adopted person's outcome events in the effect's months with probability ``size``.
        Returns counts for the progress line (listed, adopted, removed, ids not found)."""
        eff, ev = self.effect, self.ev
        ids = pd.unique(np.asarray([str(i) for i in listed], dtype=object))
        at = self._index.get_indexer(ids)
        unknown = int((at < 0).sum())
        ids, at = ids[at >= 0], at[at >= 0]
        person = self.record_person[at]
        _, first = np.unique(person, return_index=True)       # one row per person (a merged pair listed twice)
        first = np.sort(first)
        ids, person = ids[first], person[first]
        coin = stream(self.seed, f"effect:adopt:{date.isoformat()}").random(self.people)
        adopted = coin[person] < eff.adopt_rate
        day, end = day_number(date), day_number(add_months(date, eff.months))
        removed = 0
        for p in person[adopted]:
            rows = self._rows[self._ptr[p]:self._ptr[p + 1]]
            rows = rows[(ev.day[rows] > day) & (ev.day[rows] <= end)]
            hit = rows[(self._coins[rows] < eff.size) & ~self.removed[rows]]
            self.removed[hit] = True
            self.removed_by[hit] = j
            removed += len(hit)
        meeting = stream(self.seed, f"effect:meeting:{date.isoformat()}")
        kind = meeting.integers(len(eff.intervention_types), size=self.people)[person]
        agency = meeting.integers(len(LEAD_AGENCIES), size=self.people)[person]
        self.listings.append(pd.DataFrame({
            "quarter": date.isoformat(), "person": person, "listed_id": ids, "adopted": adopted, "start": day + 1,
            "end": end, "type": np.asarray(eff.intervention_types, dtype=object)[kind],
            "lead_agency": np.asarray(LEAD_AGENCIES, dtype=object)[agency]}))
        return {"listed": len(ids), "adopted": int(adopted.sum()), "removed": removed, "unknown": unknown}

    def listing_frame(self) -> pd.DataFrame:
        """Every listing so far: ``quarter, person, listed_id, adopted, start, end, type, lead_agency``."""
        columns = ["quarter", "person", "listed_id", "adopted", "start", "end", "type", "lead_agency"]
        return pd.concat(self.listings, ignore_index=True) if self.listings else pd.DataFrame(columns=columns)


def _date_text(days: np.ndarray) -> np.ndarray:
    return np.array([(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).isoformat() for d in days], dtype=object)


def interventions(treatment: Treatment, last_day: int) -> pd.DataFrame:
    """The adoptions as ``hkc interventions import`` reads them (see the module docstring)."""
    rows = treatment.listing_frame()
    rows = rows[rows["adopted"].astype(bool)].sort_values(["person", "start"], kind="stable").reset_index(drop=True)
    following = rows.groupby("person")["start"].shift(-1)
    end = np.where(following.notna(), np.minimum(rows["end"], following.fillna(0) - 1), rows["end"]).astype(np.int64)
    end_text = _date_text(end)
    end_text[end > last_day] = ""                                  # still running at the last extract
    out = pd.DataFrame({"person_id": rows["listed_id"].to_numpy(), "start_date": _date_text(rows["start"]),
                        "end_date": end_text, "type": rows["type"].to_numpy(),
                        "lead_agency": rows["lead_agency"].to_numpy(), "engagement": "engaged"},
                       columns=INTERVENTION_COLUMNS)
    return out.sort_values(["start_date", "person_id"], kind="stable").reset_index(drop=True)


def effect_tables(treatment: Treatment, events: pd.DataFrame, true_ids: np.ndarray, quarters: Sequence[dt.date],
                  last_day: int) -> dict[str, pd.DataFrame]:
    """The truth of the programme, by name (each written to ``_truth/<name>.csv``).

    ``events`` is the truth's table of *every* simulated event, in simulation order (removed ones
    included).  ``treatment``: per listing, ``quarter``, the true ``person_id``, the ``listed_id``,
    ``adopted``, and the effect's ``effect_start``/``effect_end`` (blank when not adopted);
    ``removed_events``: the removed events, as in ``events`` plus ``removed_after`` (the quarter
    end of the adoption that removed it); ``interventions``: the import file."""
    rows = treatment.listing_frame()
    adopted = rows["adopted"].astype(bool).to_numpy()
    start, end = _date_text(rows["start"]), _date_text(rows["end"])
    start[~adopted], end[~adopted] = "", ""
    table = pd.DataFrame({"quarter": rows["quarter"].to_numpy(), "person_id": true_ids[rows["person"].to_numpy(int)],
                          "listed_id": rows["listed_id"].to_numpy(), "adopted": np.where(adopted, "true", "false"),
                          "effect_start": start, "effect_end": end})
    gone = np.flatnonzero(treatment.removed)
    labels = np.array([d.isoformat() for d in quarters], dtype=object)
    removed = events.iloc[gone].assign(removed_after=labels[treatment.removed_by[gone]]).reset_index(drop=True)
    return {"treatment": table, "removed_events": removed, "interventions": interventions(treatment, last_day)}


def _counts(treatment: Treatment, person: np.ndarray, day: np.ndarray, window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the true ``person``'s outcome events dated in ``(day, day + window_days]`` that happened
    (observed) and that would have happened without any programme (counterfactual: observed + removed)."""
    ev, rows = treatment.ev, treatment._rows
    key = ev.person[rows].astype(np.int64) * (1 << 32) + ev.day[rows]        # sorted: by person, then date
    kept = np.r_[0, np.cumsum(~treatment.removed[rows])]
    base = np.asarray(person, dtype=np.int64) * (1 << 32)
    lo = np.searchsorted(key, base + np.asarray(day, dtype=np.int64), side="right")
    hi = np.searchsorted(key, base + np.asarray(day, dtype=np.int64) + window_days, side="right")
    return kept[hi] - kept[lo], hi - lo


def outcome_counts(treatment: Treatment, ids: Sequence[str], cohorts: Sequence[dt.date],
                   window_days: int = 365) -> tuple[np.ndarray, np.ndarray]:
    """Per row (a person's id in any extract, and a cohort date): the observed and counterfactual outcome
    events in the ``window_days`` after the date — the truth for any panel's rows.  An id no extract
    used counts nothing."""
    at = treatment._index.get_indexer(np.asarray([str(i) for i in ids], dtype=object))
    person = np.where(at >= 0, treatment.record_person[np.maximum(at, 0)], -1)
    day = np.array([day_number(d) for d in cohorts], dtype=np.int64)
    observed, counterfactual = _counts(treatment, np.maximum(person, 0), day, window_days)
    return np.where(at >= 0, observed, 0), np.where(at >= 0, counterfactual, 0)


def true_effect(treatment: Treatment, cohorts: Sequence[dt.date], window_days: int = 365) -> dict[str, dict]:
    """The programme's true effect over ``cohorts`` (quarter ends at which people were listed).

    For each group — ``treated`` (adopted at the cohort date) and ``listed`` (everyone listed then,
    intention to treat) — over its (person, cohort) rows: the outcome events dated in the
    ``window_days`` after the cohort date that happened (``observed``) and that would have happened
    without any programme (``counterfactual`` = observed + removed, whichever adoption removed them),
    and ``effect`` = observed / counterfactual - 1 (None without counterfactual events).  The same
    pooling as the evaluation's panel: a person listed at two cohorts counts in both."""
    rows = treatment.listing_frame()
    rows = rows[rows["quarter"].isin({d.isoformat() for d in cohorts})]
    day = np.array([day_number(dt.date.fromisoformat(q)) for q in rows["quarter"]], dtype=np.int64)
    observed, counterfactual = _counts(treatment, rows["person"].to_numpy(np.int64), day, window_days)
    out: dict[str, dict] = {}
    for group in ("treated", "listed"):
        mine = rows["adopted"].to_numpy(bool) if group == "treated" else np.ones(len(rows), dtype=bool)
        seen, would = int(observed[mine].sum()), int(counterfactual[mine].sum())
        out[group] = {"rows": int(mine.sum()), "observed": seen, "counterfactual": would,
                      "effect": seen / would - 1 if would else None}
    return out
