"""A synthetic force that lives through quarters: one extract per quarter end, each holding only
what had been recorded by that date, with the ground truth of what changed between them.

>>> force = generate_quarters(people=5000, seed=1, quarters=parse_quarters("2024Q1..2026Q3"),
...                           catalogue=defs.catalogue)                          # doctest: +SKIP
>>> write_quarters(force, Path("quarters"), fmt="csv")                           # doctest: +SKIP

Why: a force runs the refresh every quarter on a new extract, and real extracts change the past
(late records, outcomes that progress, re-keyed people).  One history is simulated
(:func:`hkc.synth.force.simulate`) from ``years`` before the first quarter end to the last one, so
that every extract covers at least ``years`` of history (each holds all of it: no event leaves a
later extract); people are aged 10 to 31 *plus the span of the quarters* at the end, so that every
extract can hold people aged 10-30.  Each extract is then cut from that history with
:mod:`hkc.synth.timeline`: events recorded by its date, outcomes as they stood, districts as they
were, ids as they were.  A person is in it from their first recorded event (first contact, or
turning 10 with one) until they turn 31; first contacts fall anywhere in a person's ages 10-30, so
about the same share of each age is known at every date, and the last extract holds about 90% of
``people`` (the rest have not come to any agency's notice yet).  Events keep their ``event_id``
and ``occurrence_id`` in every extract.

Each extract folder holds ``people``, ``events``, ``population`` and, once some id change is
announced, ``aliases`` (``old_id, new_id, date, reason``: the announced re-keys and merges up to
its date whose new id is in the extract).  With ``dirty``, each extract gets its own faults
(:mod:`hkc.synth.faults`), recorded with the extract's date in ``_truth/faults.csv``.  The
ground truth (:mod:`hkc.synth.quarter_truth`) goes to ``DIR/_truth/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.definitions import Catalogue
from hkc.extract import OUTCOME_CODES
from hkc.synth.columns import Column, code_column, date_text, event_columns, numbered, people_columns
from hkc.synth.dates import Calendar, check_quarters, day_number, make_calendar
from hkc.synth.effect import Effect, Treatment
from hkc.synth.events import Chunk
from hkc.synth.force import World, check_arguments, check_intel_bias, faulty_tables, simulate
from hkc.synth.people import AGE_RANGE, People, population_table
from hkc.synth.sampling import stream
from hkc.synth.timeline import (
    LATE_SHARE,
    REASONS,
    REKEY_SHARE,
    UNANNOUNCED_SHARE,
    IdChanges,
    Outcomes,
    id_changes,
    in_age,
    moves,
    outcome_paths,
    recording,
)

ALIAS_COLUMNS = ["old_id", "new_id", "date", "reason"]


@dataclass
class QuarterExtract:
    """One quarter's extract as it is written: ``people`` and ``events`` (faults included),
    ``population``, ``aliases`` (may be empty: then no file is written) and the injected ``faults``
    (``file, row, column, rule, value``, rows as the validator reports them for CSV)."""

    date: dt.date
    people: pa.Table
    events: pa.Table
    population: pd.DataFrame
    aliases: pd.DataFrame
    faults: pd.DataFrame


@dataclass
class QuarterlyForce:
    """One simulated history and what each quarter's extract recorded of it.

    ``world`` is the simulation (every true event, in date order); ``recorded`` the day each event was
    recorded; ``outcomes`` each offence's outcome path; ``move_day``/``new_area`` each person's move;
    ``ids`` the nominal records and their changes; ``record_ids`` the id of every record (the first
    ``people`` are the people's own); ``columns`` the events' text columns other than ``person_id``
    and ``outcome`` (the same in every extract); ``settings`` the arguments it was generated with;
    ``treatment`` the programme with a known effect (:mod:`hkc.synth.effect`), if any: its meetings
    happen as :func:`hkc.synth.write_quarters` writes the extracts, and the events it removes are in
    no extract cut after them."""

    quarters: list[dt.date]
    seed: int
    dirty: float
    people: int
    world: World
    recorded: np.ndarray
    outcomes: Outcomes
    move_day: np.ndarray
    new_area: np.ndarray
    ids: IdChanges
    record_ids: pa.Array
    columns: dict[str, Column]
    codes: tuple[str, ...]
    population: pd.DataFrame
    settings: dict[str, object]
    treatment: Treatment | None = None

    @property
    def ends(self) -> list[int]:
        """The extracts' dates as day numbers."""
        return [day_number(d) for d in self.quarters]

    def area_on(self, day: int) -> np.ndarray:
        """Each person's district on ``day``."""
        return np.where(self.move_day <= day, self.new_area, self.world.pop.area)

    def rows_in(self, j: int) -> np.ndarray:
        """The events in extract ``j``: recorded by its date, of people of extract age on it, and not
        removed by the programme (if any)."""
        day, ev = self.ends[j], self.world.ev
        held = (self.recorded <= day) & in_age(self.world.pop.dob, day)[ev.person]
        return np.flatnonzero(held & ~self.removed)

    @property
    def removed(self) -> np.ndarray:
        """Per true event: removed by the programme's effect so far (all False without one)."""
        if self.treatment is None:
            return np.zeros(len(self.recorded), dtype=bool)
        return self.treatment.removed

    def extract(self, j: int) -> QuarterExtract:
        """The ``j``-th quarter's extract (0 = the first quarter end)."""
        d, day, ev, pop = self.quarters[j], self.ends[j], self.world.ev, self.world.pop
        rows = self.rows_in(j)
        held = self.ids.records(ev.person, rows, j)
        records = np.unique(held)
        pos = np.searchsorted(records, held).astype(np.int32)
        who = self.ids.person[records]
        area = self.area_on(day)
        sub_pop = People(**{name: getattr(pop, name)[who] for name in People.__dataclass_fields__})
        sub_pop.area = area[who]
        ids = self.record_ids.take(pa.array(records))
        pcols = people_columns(sub_pop, ids)
        state = self.outcomes.at(day)[rows]
        ecols = {"event_id": self.columns["event_id"].subset(rows), "person_id": Column(ids, pos),
                 **{name: self.columns[name].subset(rows) for name in ("date", "type", "role", "source")},
                 "outcome": code_column(OUTCOME_CODES, state),
                 **{name: self.columns[name].subset(rows) for name in ("grade", "occurrence_id", "location_id")}}
        sub_ev = Chunk(**{name: getattr(ev, name)[rows] for name in Chunk.__dataclass_fields__})
        sub_ev.person, sub_ev.outcome = pos, state
        cal = Calendar(until=day, edges=np.array([self.world.cal.start, day + 1], dtype=np.int64))
        people_table, events_table, faults = faulty_tables(
            stream(self.seed, f"faults:{d.isoformat()}"), pcols, ecols, sub_pop, sub_ev, self.dirty, cal, self.codes,
            self.world.width, first_unknown=len(self.record_ids) + 1)
        return QuarterExtract(date=d, people=people_table, events=events_table, population=self.population,
                              aliases=self.aliases(j, records), faults=faults)

    def aliases(self, j: int, records: np.ndarray | None = None) -> pd.DataFrame:
        """The announced id changes up to extract ``j`` whose new record is in it (``records``)."""
        if records is None:
            records = np.unique(self.ids.records(self.world.ev.person, self.rows_in(j), j))
        changed = self.ids.changed()
        changed = changed[(self.ids.extract[changed] <= j) & self.ids.announced[changed]]
        old, new = self.ids.old_new(changed)
        keep = np.isin(new, records)
        changed, old, new = changed[keep], old[keep], new[keep]
        ids = self.record_ids.to_numpy(zero_copy_only=False)
        table = pd.DataFrame({"old_id": ids[old], "new_id": ids[new],
                              "date": date_text(self.ids.day[changed]).to_numpy(zero_copy_only=False),
                              "reason": [REASONS[k] for k in self.ids.kind[changed]]}, columns=ALIAS_COLUMNS)
        return table.sort_values(["date", "old_id"], kind="stable").reset_index(drop=True)


def _check_shares(shares: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for name, value in shares.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a fraction from 0 to 1, not {value!r}")
        out[name] = float(value)
    return out


def generate_quarters(*, people: int = 5000, seed: int = 0, quarters: Sequence[dt.date], dirty: float = 0.0,
                      intel_bias: Mapping[str, float] | None = None, catalogue: Catalogue, years: int = 5,
                      late_share: float = LATE_SHARE, rekey_share: float = REKEY_SHARE,
                      unannounced_share: float = UNANNOUNCED_SHARE, effect: Effect | None = None) -> QuarterlyForce:
    """Simulate a force through ``quarters`` (quarter ends, ascending; see :func:`parse_quarters`).

    ``people``: people aged 10-30 at the last quarter end, known or not (about 90% are in the last
    extract); ``years``: history in the first extract (later ones hold it all);
    ``late_share``: events recorded 1-6 months late; ``rekey_share``: per quarter, share of the people
    in the extract whose record is re-keyed or merged; ``unannounced_share``: of those, the share left
    out of ``aliases``.  ``seed``, ``dirty`` and ``intel_bias`` as for
    :func:`hkc.synth.generate_force`.  ``effect``: a programme with a known effect
    (:class:`hkc.synth.effect.Effect`), run as the extracts are written.  The same arguments give the
    same extracts, byte for byte.
    """
    ends = check_quarters(quarters)
    check_arguments(people=people, seed=seed, years=years, dirty=dirty, until=ends[-1])
    shares = _check_shares({"late_share": late_share, "rekey_share": rekey_share,
                            "unannounced_share": unannounced_share})
    bias = check_intel_bias(intel_bias)
    if effect is not None:
        effect = effect.check(catalogue.codes)
    people, seed, dirty = int(people), int(seed), float(dirty)
    extra = ((ends[-1].year - ends[0].year) * 12 + ends[-1].month - ends[0].month) // 3  # quarters first to last
    span = extra / 4
    width = AGE_RANGE[1] - AGE_RANGE[0]
    total = max(1, round(people * (width + span) / width))
    cal = make_calendar(ends[-1], int(years), extra)
    world = simulate(people=total, seed=seed, cal=cal, bias=bias, catalogue=catalogue,
                     ages=(AGE_RANGE[0], AGE_RANGE[1] + span), quarterly=True)
    ev, pop, days = world.ev, world.pop, [day_number(d) for d in ends]
    recorded = recording(stream(seed, "quarters:recording"), ev.day, shares["late_share"])
    outcomes = outcome_paths(stream(seed, "quarters:outcomes"), ev)
    move_day, new_area = moves(stream(seed, "quarters:moves"), pop, days[0], days[-1])
    changes = id_changes(stream(seed, "quarters:ids"), ev.person, recorded, pop.dob, days, shares["rekey_share"],
                         shares["unannounced_share"])
    n_records = len(changes.person)
    world = replace(world, width=max(6, len(str(n_records))))
    record_ids = numbered("P", np.arange(1, n_records + 1), world.width)
    world = replace(world, person_ids=record_ids.slice(0, total))
    columns = event_columns(ev, world.person_ids, catalogue.codes, world.place_ids)
    del columns["person_id"], columns["outcome"]
    treatment = None if effect is None else Treatment(
        effect=effect, seed=seed, ev=ev, people=total, record_person=changes.person, record_ids=record_ids,
        codes=tuple(catalogue.codes))
    return QuarterlyForce(quarters=ends, seed=seed, dirty=dirty, people=people, world=world, recorded=recorded,
                          outcomes=outcomes, move_day=move_day, new_area=new_area, ids=changes,
                          record_ids=record_ids, columns=columns, codes=tuple(catalogue.codes),
                          population=population_table(people),
                          settings={"people": people, "seed": seed, "years": int(years), "dirty": dirty,
                                    "intel_bias": ";".join(f"{k}={v:g}" for k, v in sorted(bias.items())), **shares,
                                    **(effect.settings() if effect is not None else {})},
                          treatment=treatment)
