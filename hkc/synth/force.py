"""Generating a synthetic force: the steps in order, and the force with its ground truth."""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.definitions import Catalogue
from hkc.extract import ETHNICITY_CODES, SEX_CODES
from hkc.messages import did_you_mean
from hkc.synth.columns import Column, date_text, event_columns, numbered, people_columns
from hkc.synth.dates import Calendar, make_calendar
from hkc.synth.events import Chunk, Simulation, merge
from hkc.synth.faults import add_noise, assemble, inject_events, inject_people
from hkc.synth.network import Places, make_groups, make_places
from hkc.synth.people import AGE_RANGE, AREAS, Groups, People, make_latent, make_people, population_table
from hkc.synth.rates import Rates
from hkc.synth.sampling import stream


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


def check_intel_bias(intel_bias: Mapping[str, float] | None) -> dict[str, float]:
    """``intel_bias`` checked: known ethnicity codes, finite factors above 0."""
    bias = {}
    for key, factor in (intel_bias or {}).items():
        if key not in ETHNICITY_CODES:
            hint = did_you_mean(str(key), ETHNICITY_CODES, cutoff=0.5)
            raise ValueError(f"intel_bias: '{key}' is not an ethnicity code; expected one of: "
                             f"{', '.join(ETHNICITY_CODES)}{hint}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) \
                or factor <= 0:
            raise ValueError(f"intel_bias: the factor for '{key}' must be a number above 0, not {factor!r}")
        bias[key] = float(factor)
    return bias


def check_arguments(*, people, seed, years, dirty, until) -> None:
    """ValueError naming the first argument out of range."""
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


def truth_tables(person_ids, pop, groups, places, place_ids, latent_truth: dict,
                  n_events: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The planted truth: each person's latent traits and group, the groups' members, the places."""
    ids = person_ids.to_numpy(zero_copy_only=False)
    group_ids = numbered("G", np.arange(1, groups.count + 1), 5).to_numpy(zero_copy_only=False)
    peer_group = np.where(groups.of >= 0, group_ids[np.maximum(groups.of, 0)] if groups.count else "", "")
    truth = pd.DataFrame({
        "person_id": ids,
        "date_of_birth": date_text(pop.dob).to_numpy(zero_copy_only=False),
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
    return truth, group_table, locations


@dataclass
class World:
    """A simulated force before it is written as text: the steps every extract is cut from.

    ``ev`` holds every event in date order (:func:`hkc.synth.events.merge`); ``person_ids`` and
    ``place_ids`` are the identifiers of people and places by number."""

    cal: Calendar
    pop: People
    groups: Groups
    places: Places
    latent_truth: dict[str, np.ndarray]
    ev: Chunk
    person_ids: pa.Array
    place_ids: pa.Array
    width: int


def simulate(*, people: int, seed: int, cal: Calendar, bias: Mapping[str, float], catalogue: Catalogue,
             ages: tuple[float, float] = AGE_RANGE, quarterly: bool = False) -> World:
    """People, groups, places, propensities and every event of a force over the quarters of ``cal``.

    ``ages``: ages at ``cal.until`` (uniform).  ``quarterly``: draw each offence's outcome as
    it ends up, not as it stands at ``cal.until`` (quarterly extracts derive the outcome at each
    date from it), and first contacts over each person's ages 10-30, so that some are not known
    by ``cal.until`` (see :meth:`hkc.synth.events.Simulation._first_contacts`)."""
    pop = make_people(stream(seed, "people"), people, cal, ages=ages)
    groups = make_groups(stream(seed, "groups"), pop, cal)
    places = make_places(stream(seed, "places"), pop, groups)
    latent = make_latent(stream(seed, "latent"), pop, groups, cal.quarters)
    rates = Rates(pop, latent, cal, catalogue, bias)
    ev = merge(Simulation(seed, rates, groups, places, cal, quarterly=quarterly).run(), cal)
    latent_truth = latent.truth
    del rates, latent
    width = max(6, len(str(people)))
    return World(cal=cal, pop=pop, groups=groups, places=places, latent_truth=latent_truth, ev=ev,
                 person_ids=numbered("P", np.arange(1, people + 1), width), place_ids=places.ids(), width=width)


def faulty_tables(rng: np.random.Generator, pcols: dict[str, Column], ecols: dict[str, Column], pop: People,
                  ev: Chunk, dirty: float, cal: Calendar, codes: Sequence[str], width: int,
                  first_unknown: int | None = None) -> tuple[pa.Table, pa.Table, pd.DataFrame]:
    """The ``people`` and ``events`` tables with ``dirty`` faults and noise injected (see
    :mod:`hkc.synth.faults`), and the faults as ``file, row, column, rule, value``.

    ``pop`` and ``ev`` are the rows of ``pcols`` and ``ecols`` (``ev.person`` indexes ``pop``);
    ``first_unknown`` numbers the ids of ``unknown_person`` faults (default: after ``pop``)."""
    n_people, n_events = pop.n, len(ev.person)
    per_person = np.bincount(ev.person, minlength=n_people)
    pplan, quarantined, clean_people = inject_people(rng, pcols, pop, per_person, round(dirty * n_people), cal)
    eplan, clean_events = inject_events(rng, ecols, ev, pop, quarantined, round(dirty * n_events), cal, codes,
                                        width, first_unknown=first_unknown)
    if dirty > 0:
        add_noise(rng, pcols, clean_people[:round(dirty * n_people)], "people")
        add_noise(rng, ecols, clean_events[:round(dirty * n_events)], "events")
    people_table, people_faults = assemble(pcols, pplan, "people")
    events_table, event_faults = assemble(ecols, eplan, "events")
    faults = (pd.concat([people_faults, event_faults], ignore_index=True)
              .sort_values(["file", "row"], kind="stable").reset_index(drop=True))
    return people_table, events_table, faults


def generate_force(*, people: int = 5000, seed: int = 0, until: dt.date, dirty: float = 0.0,
                   intel_bias: Mapping[str, float] | None = None, catalogue: Catalogue,
                   years: int = 5) -> SyntheticForce:
    """Generate a synthetic force: people, events and population with known ground truth.

    Parameters
    ----------
    people : number of people in the extract (the ``people`` file has this many clean rows).
    seed : the same arguments give the same force, byte for byte.
    until : the extract date; events run for ``years`` years up to and including it.
    dirty : fraction (0 to 0.5) of people and event rows given one fault each (see
        :mod:`hkc.synth.faults` for the rules and the ``person_rejected`` cascade).
    intel_bias : ``{ethnicity: factor}``: multiply the recording rate of intelligence reports for
        people of that (self-defined) ethnicity; behaviour and every other event are unchanged.
    catalogue : the indicator catalogue; events of every type in it are generated.
    years : years of history.
    """
    check_arguments(people=people, seed=seed, years=years, dirty=dirty, until=until)
    bias = check_intel_bias(intel_bias)
    people, seed, years, dirty = int(people), int(seed), int(years), float(dirty)
    world = simulate(people=people, seed=seed, cal=make_calendar(until, years), bias=bias, catalogue=catalogue)
    cal, pop, ev = world.cal, world.pop, world.ev
    pcols = people_columns(pop, world.person_ids)
    ecols = event_columns(ev, world.person_ids, catalogue.codes, world.place_ids)
    n_events = np.bincount(ev.person, minlength=people)
    people_table, events_table, faults = faulty_tables(stream(seed, "faults"), pcols, ecols, pop, ev, dirty, cal,
                                                       catalogue.codes, world.width)
    del pcols, ecols
    truth, group_table, locations = truth_tables(world.person_ids, pop, world.groups, world.places,
                                                   world.place_ids, world.latent_truth, n_events)
    return SyntheticForce(people=people_table.to_pandas(), events=events_table.to_pandas(),
                          population=population_table(people), faults=faults, truth_people=truth, until=until,
                          seed=seed, dirty=float(dirty), groups=group_table, locations=locations)
