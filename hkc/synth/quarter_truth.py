"""The ground truth of a force that lives through quarters: what really happened, and what each
extract got wrong or late, so that tests and benchmarks can reconcile what hkc reports with it.

:func:`truth_tables` gives, by name (each is written to ``DIR/_truth/<name>.csv``):

``people``
    every person simulated, by their own id (as ``truth_people`` of a single extract: latent
    propensities, peer group, clean demographics with the district *before* any move) and the date
    their first event was recorded (``first_recorded``).
``records``
    every nominal record: ``person_id`` (the id in the extracts), ``true_person_id``, and ``kind``
    (``own``; ``new id`` after a re-key; ``duplicate``, merged later into the person's own).
``events``
    every true event: ``event_id``, the true ``person_id``, ``date``, ``recorded`` (its recording
    date) and ``delay_days``, ``late`` (recorded 30 days or more after it happened), the contract
    columns, and its outcome path: ``decision`` (charged, cautioned, nfa) on ``decision_date``,
    ``result`` (convicted, acquitted) on ``result_date``, and ``final_outcome`` (the contract code it
    ends with: an acquittal is recorded as ``nfa``).
``late_records``
    events that first appear in an extract later than the first one dated on or after them:
    ``due_in`` (that extract) and ``first_in`` (blank: recorded after the last extract).  By
    recording date only; an event is in an extract only while its person is aged 10-30.
``outcome_changes``
    every outcome that differs between two consecutive extracts holding the event: ``quarter``
    (the later extract), ``previous``, ``old_outcome``, ``new_outcome`` and the ``step``.
``id_changes``
    every re-key and merge: ``old_id, new_id, date``, ``quarter`` (the first extract with the new
    id), ``reason``, ``announced`` (listed in ``aliases``) and the true ``person_id``.
``moves``
    ``person_id, date, old_area, new_area``.
``extracts``
    per extract: ``people`` (ids) and ``events`` (clean rows), ``joined`` (ids not in the previous
    extract, new ids of re-keys included) and ``aged_out`` (people in the previous extract who
    turned 31), late records first appearing, outcome changes, id changes (and how many announced),
    moves of people in the extract, aliases rows, and injected faults.
``settings``
    the arguments the force was generated with (``setting, value``) and each extract's date.
``groups``, ``locations``
    as for a single extract.
``treatment``, ``removed_events``, ``interventions``
    only for a force with a programme of known effect (:mod:`hkc.synth.effect`): who was listed and
    adopted at each quarter end, the true events the programme removed (``events`` holds what
    happened, so the counterfactual is ``events`` plus ``removed_events``), and the import file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hkc.extract import OUTCOME_CODES
from hkc.synth.columns import date_text
from hkc.synth.effect import effect_tables
from hkc.synth.force import truth_tables as person_truth
from hkc.synth.people import AREAS
from hkc.synth.quarters import QuarterlyForce
from hkc.synth.timeline import MAX_AGE_DAYS, MERGED, NEVER, REASONS, REKEYED, in_age

_CODE = {o: i for i, o in enumerate(OUTCOME_CODES)}
_KINDS = {0: "own", REKEYED: "new id", MERGED: "duplicate"}


def _text(codes: np.ndarray, names) -> np.ndarray:
    """Codes as text from ``names`` ('' for -1)."""
    names = np.array([*names, ""], dtype=object)
    return names[np.where(codes < 0, len(names) - 1, codes)]


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as YYYY-MM-DD text ('' for a step that never comes)."""
    days = np.asarray(days, dtype=np.int64)
    never = days >= NEVER
    text = date_text(np.where(never, 0, days)).to_numpy(zero_copy_only=False).astype(object)
    text[never] = ""
    return text


def _step(old: np.ndarray, new: np.ndarray, acquitted: np.ndarray) -> np.ndarray:
    """The name of each outcome change."""
    c = _CODE
    conditions = [(old == c["pending"]) & (new == c["charged"]), (old == c["pending"]) & (new == c["cautioned"]),
                  (old == c["pending"]) & (new == c["nfa"]) & acquitted, (old == c["pending"]) & (new == c["nfa"]),
                  (old == c["pending"]) & (new == c["convicted"]), (old == c["charged"]) & (new == c["convicted"]),
                  (old == c["charged"]) & (new == c["nfa"])]
    names = ["charged", "cautioned", "charged and acquitted", "no further action", "charged and convicted",
             "convicted", "acquitted"]
    return np.select(conditions, names, default="other")


def _events(force: QuarterlyForce, true_ids: np.ndarray) -> pd.DataFrame:
    ev, out = force.world.ev, force.outcomes
    text = {name: col.decode().to_numpy(zero_copy_only=False) for name, col in force.columns.items()}
    delay = force.recorded - ev.day
    decided = out.first_day < NEVER
    result = np.where(out.second_day < NEVER, np.where(out.acquitted, "acquitted", "convicted"), "")
    return pd.DataFrame({
        "event_id": text["event_id"], "person_id": true_ids[ev.person], "date": text["date"],
        "recorded": _dates(force.recorded), "delay_days": delay, "late": np.where(delay >= 30, "true", "false"),
        **{name: text[name] for name in ("type", "role", "source", "grade", "occurrence_id", "location_id")},
        "decision": np.where(decided, _text(out.first, OUTCOME_CODES), ""), "decision_date": _dates(out.first_day),
        "result": result, "result_date": _dates(out.second_day), "final_outcome": _text(out.second, OUTCOME_CODES),
    })


def _late(force: QuarterlyForce, events: pd.DataFrame) -> pd.DataFrame:
    ends = np.array(force.ends)
    labels = np.array([d.isoformat() for d in force.quarters] + [""], dtype=object)
    due = np.searchsorted(ends, force.world.ev.day, side="left")
    first = np.searchsorted(ends, force.recorded, side="left")
    late = np.flatnonzero((first > due) & ~force.removed)
    return events.loc[late, ["event_id", "person_id", "date", "recorded", "delay_days"]].assign(
        due_in=labels[due[late]], first_in=labels[first[late]]).reset_index(drop=True)


def _outcome_changes(force: QuarterlyForce, events: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    parts, counts = [], [0]
    for j in range(1, len(force.quarters)):
        both = np.intersect1d(force.rows_in(j - 1), force.rows_in(j), assume_unique=True)
        old = force.outcomes.at(force.ends[j - 1])[both]
        new = force.outcomes.at(force.ends[j])[both]
        rows = both[old != new]
        old, new = old[old != new], new[old != new]
        counts.append(len(rows))
        parts.append(pd.DataFrame({
            "event_id": events["event_id"].to_numpy()[rows], "person_id": events["person_id"].to_numpy()[rows],
            "quarter": force.quarters[j].isoformat(), "previous": force.quarters[j - 1].isoformat(),
            "old_outcome": _text(old, OUTCOME_CODES), "new_outcome": _text(new, OUTCOME_CODES),
            "step": _step(old, new, force.outcomes.acquitted[rows])}))
    columns = ["event_id", "person_id", "quarter", "previous", "old_outcome", "new_outcome", "step"]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)), counts


def _id_changes(force: QuarterlyForce, ids: np.ndarray) -> pd.DataFrame:
    changes = force.ids
    who = changes.changed()
    old, new = changes.old_new(who)
    labels = np.array([d.isoformat() for d in force.quarters], dtype=object)
    return pd.DataFrame({"old_id": ids[old], "new_id": ids[new], "date": _dates(changes.day[who]),
                         "quarter": labels[changes.extract[who]] if len(who) else [],
                         "reason": [REASONS[k] for k in changes.kind[who]],
                         "announced": np.where(changes.announced[who], "true", "false"), "person_id": ids[who]})


def _moves(force: QuarterlyForce, ids: np.ndarray) -> pd.DataFrame:
    who = np.flatnonzero(force.move_day < NEVER)
    who = who[np.lexsort((who, force.move_day[who]))]
    names = np.array([a[0] for a in AREAS], dtype=object)
    return pd.DataFrame({"person_id": ids[who], "date": _dates(force.move_day[who]),
                         "old_area": names[force.world.pop.area[who]], "new_area": names[force.new_area[who]]})


def _extracts(force: QuarterlyForce, late: pd.DataFrame, changes: list[int]) -> pd.DataFrame:
    ev, dob = force.world.ev, force.world.pop.dob
    rows_before: list[dict] = []
    previous = np.zeros(0, dtype=np.int64)
    people_before = np.zeros(len(dob), dtype=bool)
    for j, d in enumerate(force.quarters):
        rows = force.rows_in(j)
        records = np.unique(force.ids.records(ev.person, rows, j))
        people = np.zeros(len(dob), dtype=bool)
        people[ev.person[rows]] = True
        aged_out = people_before & ~people & (force.ends[j] - dob >= MAX_AGE_DAYS)
        at_j = force.ids.extract == j
        start = force.ends[j - 1] if j else -NEVER
        rows_before.append({
            "extract": d.isoformat(), "people": len(records), "events": len(rows),
            "joined": int(np.setdiff1d(records, previous).size) if j else len(records),
            "aged_out": int(aged_out.sum()),
            "late_records": int(((late["first_in"] == d.isoformat()) & (late["due_in"] != d.isoformat())).sum()),
            "outcome_changes": changes[j], "id_changes": int(at_j.sum()),
            "announced": int((at_j & force.ids.announced).sum()),
            "moves": int(((force.move_day > start) & (force.move_day <= force.ends[j]) & in_age(dob, force.ends[j])
                          ).sum()),
            "aliases": len(force.aliases(j, records)),
        })
        previous, people_before = records, people
    return pd.DataFrame(rows_before)


def _settings(force: QuarterlyForce) -> pd.DataFrame:
    rows = [*force.settings.items(), ("quarters", ";".join(d.isoformat() for d in force.quarters))]
    return pd.DataFrame(rows, columns=["setting", "value"]).astype(str)


def truth_tables(force: QuarterlyForce) -> dict[str, pd.DataFrame]:
    """The ground truth of ``force`` by name (see the module docstring)."""
    world, changes = force.world, force.ids
    ids = force.record_ids.to_numpy(zero_copy_only=False)
    true_ids = ids[: world.pop.n]
    kept = ~force.removed                     # the events that happened (a programme may have removed some)
    n_events = np.bincount(world.ev.person[kept], minlength=world.pop.n)
    people, groups, locations = person_truth(world.person_ids, world.pop, world.groups, world.places,
                                             world.place_ids, world.latent_truth, n_events)
    first = np.full(world.pop.n, NEVER, dtype=np.int64)
    np.minimum.at(first, world.ev.person[kept], force.recorded[kept])
    people["first_recorded"] = _dates(first)
    kind = np.zeros(len(ids), dtype=np.int8)
    changed = changes.kind > 0
    kind[changes.other[changed]] = changes.kind[changed]
    records = pd.DataFrame({"person_id": ids, "true_person_id": true_ids[changes.person],
                            "kind": [_KINDS[k] for k in kind]})
    every = _events(force, true_ids)
    late = _late(force, every)
    outcome_changes, counts = _outcome_changes(force, every)
    tables = {"people": people, "records": records, "events": every[kept].reset_index(drop=True), "late_records": late,
              "outcome_changes": outcome_changes, "id_changes": _id_changes(force, ids),
              "moves": _moves(force, true_ids), "extracts": _extracts(force, late, counts), "groups": groups,
              "locations": locations, "settings": _settings(force)}
    if force.treatment is not None:
        tables |= effect_tables(force.treatment, every, true_ids, force.quarters, force.ends[-1])
    return tables
