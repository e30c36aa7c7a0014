"""What a force's records do over time, beyond behaviour: when each event is recorded, how each
offence's outcome progresses, who moves district, and whose nominal record changes id.

Quarterly extracts (:mod:`hkc.synth.quarters`) are cut from one simulated history with these: the
extract dated ``d`` holds the events *recorded* by ``d``, each offence's outcome as it stood on
``d``, each person's district on ``d``, and each event under the id its person's record had on ``d``.

* **Recording**: most events are recorded within a week; :data:`LATE_SHARE` are recorded 1-6
  months late, so an event dated in one quarter can first appear in a later quarter's extract.
* **Outcomes** start ``pending`` and move along ``pending → charged → convicted``, ``pending →
  charged → nfa`` (an acquittal: the contract has no ``acquitted`` code), ``pending → cautioned``
  or ``pending → nfa``, with lognormal delays (the charging decision, then the court).  The end of
  the path is the outcome the simulation drew as it ends up (``simulate(quarterly=True)``); a few stay
  ``pending`` or ``charged`` for good.  Blank outcomes stay blank.
* **Moves**: about :data:`MOVE_SHARE_PER_YEAR` of people move to another district on a day
  within the extracts' span; their events keep the places they were drawn at.
* **Id changes**, at most one per person, and never a chain: in each quarter after the first, a
  ``rekey_share`` of the people in the extract, chosen in proportion to their recorded events (more
  records, more chances of a duplicate), either get a new id (``re-keyed``: from that extract on,
  every event carries the new id) or have a duplicate record that held some of their earlier
  events merged into their own (``merged``: the duplicate's id is the old one).  Both records are
  in the extract before the change, only the new one after.  A share ``unannounced_share`` is not
  listed in the extracts' ``aliases``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hkc.extract import OUTCOME_CODES
from hkc.synth.events import Chunk
from hkc.synth.people import AREAS, People
from hkc.synth.sampling import choice_by_row

LATE_SHARE = 0.08                  # events recorded 1-6 months late
LATE_DAYS = (30, 184)              # their delay in days, [30, 183]
PROMPT_DAYS = 8                    # the others are recorded 0-7 days after the event
DECISION_DAYS = (130.0, 0.9)       # event to charging decision: lognormal median (days), sigma
COURT_DAYS = (120.0, 0.7)          # charge to the court's result
ACQUITTED_SHARE = 0.25             # of offences that end nfa: charged first, then acquitted
MOVE_SHARE_PER_YEAR = 0.04         # people moving to another district in a year
REKEY_SHARE = 0.002                # per quarter: people in the extract whose record changes id
MERGE_FRACTION = 1 / 3             # of those: a duplicate record merged into theirs
DUPLICATE_SHARE = 0.4              # a merged person's earlier events held by the duplicate record
UNANNOUNCED_SHARE = 0.2            # id changes not listed in aliases
MIN_AGE_DAYS = math.ceil(10 * 365.25)    # people are in an extract from age 10 ...
MAX_AGE_DAYS = math.floor(31 * 365.25)   # ... until they turn 31 (the single extract's age range)
NEVER = np.iinfo(np.int64).max // 4      # the day of a step that never comes

PENDING, CHARGED, NFA = (OUTCOME_CODES.index(o) for o in ("pending", "charged", "nfa"))
REKEYED, MERGED = 1, 2
REASONS = {REKEYED: "re-keyed", MERGED: "merged"}


@dataclass
class Outcomes:
    """Each event's outcome path: ``base`` (pending, or -1 blank for good), then ``first`` from day
    ``first_day`` and ``second`` from day ``second_day`` (:data:`NEVER` when there is no such step)."""

    base: np.ndarray
    first: np.ndarray
    first_day: np.ndarray
    second: np.ndarray
    second_day: np.ndarray
    acquitted: np.ndarray   # bool: charged, then nfa at court

    def at(self, day: int) -> np.ndarray:
        """Each event's outcome code on ``day`` (-1 blank)."""
        return np.where(day >= self.second_day, self.second, np.where(day >= self.first_day, self.first, self.base))


@dataclass
class IdChanges:
    """Nominal records and their changes.  Record ``r`` (id number ``r + 1``) belongs to person
    ``person[r]``; records ``0..n-1`` are the people's own.  Per person: ``kind`` (0 none,
    :data:`REKEYED`, :data:`MERGED`), ``extract`` (index of the first extract after the change),
    ``day``, ``other`` (the new record of a re-key, the duplicate of a merge) and ``announced``;
    per event, ``on_duplicate`` (held by the duplicate until the merge)."""

    person: np.ndarray
    kind: np.ndarray
    extract: np.ndarray
    day: np.ndarray
    other: np.ndarray
    announced: np.ndarray
    on_duplicate: np.ndarray

    def records(self, ev_person: np.ndarray, rows: np.ndarray, j: int) -> np.ndarray:
        """The record each of the events ``rows`` is held under in extract ``j``."""
        person = ev_person[rows]
        kind, changed, other = self.kind[person], j >= self.extract[person], self.other[person]
        rec = np.where((kind == REKEYED) & changed, other, person)
        return np.where((kind == MERGED) & ~changed & self.on_duplicate[rows], other, rec)

    def changed(self) -> np.ndarray:
        """People whose record changes, in order of the change (extract, kind, person)."""
        who = np.flatnonzero(self.kind > 0)
        return who[np.lexsort((who, self.kind[who], self.extract[who]))]

    def old_new(self, who: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The old and the new record of each changed person in ``who``."""
        merged = self.kind[who] == MERGED
        return np.where(merged, self.other[who], who), np.where(merged, who, self.other[who])


def recording(rng: np.random.Generator, day: np.ndarray, late_share: float) -> np.ndarray:
    """The day each event is recorded: within a week, or (``late_share``) 1-6 months late."""
    n = len(day)
    late = rng.random(n) < late_share
    delay = np.where(late, rng.integers(*LATE_DAYS, size=n), rng.integers(0, PROMPT_DAYS, size=n))
    return day.astype(np.int64) + delay


def outcome_paths(rng: np.random.Generator, ev: Chunk) -> Outcomes:
    """Outcome paths ending in each event's settled outcome (see the module docstring)."""
    n, end = len(ev.day), ev.outcome.astype(np.int8)
    t1 = np.maximum(1, np.rint(rng.lognormal(math.log(DECISION_DAYS[0]), DECISION_DAYS[1], n))).astype(np.int64)
    t2 = np.maximum(1, np.rint(rng.lognormal(math.log(COURT_DAYS[0]), COURT_DAYS[1], n))).astype(np.int64)
    acquitted = (end == NFA) & (rng.random(n) < ACQUITTED_SHARE)
    codes = {o: OUTCOME_CODES.index(o) for o in OUTCOME_CODES}
    via_charge = np.isin(end, [codes["convicted"], codes["charged"]]) | acquitted
    decided = end >= 0
    decided &= end != PENDING
    first = np.where(via_charge, CHARGED, end).astype(np.int8)
    first_day = np.where(decided, ev.day + t1, NEVER)
    court = via_charge & (end != CHARGED)
    second_day = np.where(court, first_day + t2, NEVER)
    base = np.where(end >= 0, PENDING, -1).astype(np.int8)
    return Outcomes(base=base, first=first, first_day=first_day, second=end, second_day=second_day,
                    acquitted=acquitted)


def moves(rng: np.random.Generator, pop: People, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the day of a move to another district in ``(start, end]`` (:data:`NEVER` if none)
    and the district moved to (chosen by size among the others)."""
    years = max(0, end - start) / 365.25
    moving = rng.random(pop.n) < 1 - (1 - MOVE_SHARE_PER_YEAR) ** years
    day = np.where(moving, start + 1 + rng.integers(0, max(1, end - start), size=pop.n), NEVER)
    sizes = np.array([a[2] for a in AREAS])
    table = np.tile(sizes, (len(AREAS), 1))
    np.fill_diagonal(table, 0)
    new_area = choice_by_row(rng, table, pop.area).astype(pop.area.dtype)
    return day, new_area


def in_age(dob: np.ndarray, day: int) -> np.ndarray:
    """Whether each person is of extract age (10 to 30) on ``day``."""
    age = day - dob
    return (age >= MIN_AGE_DAYS) & (age < MAX_AGE_DAYS)


def id_changes(rng: np.random.Generator, ev_person: np.ndarray, recorded: np.ndarray, dob: np.ndarray,
               ends: list[int], rekey_share: float, unannounced_share: float) -> IdChanges:
    """Choose the re-keys and merges (see the module docstring); ``ends`` are the extracts' day numbers."""
    n = len(dob)
    kind = np.zeros(n, dtype=np.int8)
    extract = np.full(n, len(ends), dtype=np.int64)
    day = np.full(n, NEVER, dtype=np.int64)
    other = np.full(n, -1, dtype=np.int64)
    on_duplicate = np.zeros(len(ev_person), dtype=bool)
    order = np.argsort(ev_person, kind="stable")
    ptr = np.r_[0, np.cumsum(np.bincount(ev_person, minlength=n))]
    next_record = n
    for k in range(1, len(ends)):
        counts = np.bincount(ev_person[recorded <= ends[k - 1]], minlength=n)
        here = in_age(dob, ends[k]) & (np.bincount(ev_person[recorded <= ends[k]], minlength=n) > 0)
        both = here & in_age(dob, ends[k - 1]) & (counts > 0) & (kind == 0)
        total = round(rekey_share * here.sum())
        n_merge = round(total * MERGE_FRACTION)
        for what, wanted, fit in ((MERGED, n_merge, both & (counts >= 2)), (REKEYED, total - n_merge, both)):
            cand = np.flatnonzero(fit & (kind == 0))
            size = min(wanted, len(cand))
            if size == 0:
                continue
            who = np.sort(rng.choice(cand, size=size, replace=False, p=counts[cand] / counts[cand].sum()))
            kind[who], extract[who] = what, k
            day[who] = ends[k - 1] + 1 + rng.integers(0, ends[k] - ends[k - 1], size=size)
            other[who] = next_record + np.arange(size)
            next_record += size
            if what == MERGED:
                for person in who:
                    rows = order[ptr[person]:ptr[person + 1]]
                    rows = rows[recorded[rows] <= ends[k - 1]]
                    rows = rows[np.argsort(recorded[rows], kind="stable")]
                    flag = rng.random(len(rows)) < DUPLICATE_SHARE
                    flag[0], flag[-1] = False, flag[-1] or not flag[1:].any()  # each record keeps one event
                    on_duplicate[rows] = flag
    announced = rng.random(n) >= unannounced_share
    person = np.r_[np.arange(n), np.zeros(next_record - n, dtype=np.int64)]
    changed = kind > 0
    person[other[changed]] = np.flatnonzero(changed)
    return IdChanges(person=person, kind=kind, extract=extract, day=day, other=other,
                     announced=announced & changed, on_duplicate=on_duplicate)
