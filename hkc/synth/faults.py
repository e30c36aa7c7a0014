"""Faults and noise: the validator's row-level rules, injected into ``people`` and ``events``.

``dirty`` puts one fault into about that fraction of the rows of each file, cycling through
:data:`PEOPLE_FAULT_RULES` and :data:`EVENT_FAULT_RULES`, and records each (file, row, column,
rule, value).  Duplicates, blank and malformed lines are *inserted* rows (copies go after their
original); the other faults edit a row in place.  An in-place fault in a ``people`` row
quarantines that person, so all of that person's events are rejected with ``person_rejected``:
people faults go on people with the fewest events, to keep that cascade small, and no event of
such a person carries a fault of its own, so every rejected row has exactly one reason.  Benign
noise (surrounding spaces, mixed case) goes on other rows and must be accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hkc.extract import (
    ETHNICITY_CODES,
    OFFICER_ETHNICITY_CODES,
    OUTCOME_CODES,
    ROLE_CODES,
    SEX_CODES,
    SOURCE_CODES,
)
from hkc.synth.arrow import as_text, scalar
from hkc.synth.columns import Column, date_text, numbered
from hkc.synth.dates import Calendar
from hkc.synth.events import Chunk
from hkc.synth.people import People

# The validator's row-level rules, as injected into each file (cycled in this order)
PEOPLE_FAULT_RULES = ("missing_value", "bad_date", "future_date", "unknown_code", "bad_bool",
                      "duplicate_person_id", "blank_row")
EVENT_FAULT_RULES = ("missing_value", "bad_date", "future_date", "before_birth", "unknown_code", "bad_grade",
                     "unknown_person", "duplicate_event", "blank_row", "malformed_row")
INSERTED_RULES = ("duplicate_person_id", "duplicate_event", "blank_row", "malformed_row")
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


@dataclass
class FaultPlan:
    """Faults for one file: in-place edits (row, column, rule, value) and inserted rows."""

    rows: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    rules: list[np.ndarray] = field(default_factory=list)
    values: list[pa.Array] = field(default_factory=list)
    insert_src: list[np.ndarray] = field(default_factory=list)   # source row, -1 for a blank row
    insert_after: list[np.ndarray] = field(default_factory=list)
    insert_rule: list[np.ndarray] = field(default_factory=list)

    def edit(self, cols: dict[str, Column], rows: np.ndarray, column: str | np.ndarray, rule: str,
             values: pa.Array | Sequence[str]) -> None:
        """Set ``column`` (one name, or one per row) of ``rows`` to ``values``, and record the faults."""
        if not len(rows):
            return
        names = np.broadcast_to(np.asarray(column, dtype=object), rows.shape)
        values = as_text(values)
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
    return as_text(out)


def _unknown_codes(file: str, n: int, catalogue_codes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    valid = {c.casefold() for c in catalogue_codes} | {c.casefold() for c in SEX_CODES + ETHNICITY_CODES
                                                       + OFFICER_ETHNICITY_CODES + ROLE_CODES + SOURCE_CODES
                                                       + OUTCOME_CODES}
    pairs = [(col, v) for col, values in _UNKNOWN_CODES[file] for v in values if v.casefold() not in valid]
    pairs = pairs or [("type" if file == "events" else "sex", "not_a_code")]
    chosen = _cycle(pairs, n)
    return chosen[:, 0], chosen[:, 1]


def inject_people(rng: np.random.Generator, cols: dict[str, Column], pop: People, n_events: np.ndarray,
                   total: int, cal: Calendar) -> tuple[FaultPlan, np.ndarray, np.ndarray]:
    """People faults.  Returns the plan, the people quarantined in place, and rows kept clean."""
    plan, n = FaultPlan(), pop.n
    if total == 0:
        return plan, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = _rule_counts(PEOPLE_FAULT_RULES, total)
    in_place = [r for r in PEOPLE_FAULT_RULES if r not in INSERTED_RULES]
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
            plan.edit(cols, rows, "date_of_birth", rule, date_text(cal.until + rng.integers(1, 400, len(rows))))
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


def inject_events(rng: np.random.Generator, cols: dict[str, Column], ev: Chunk, pop: People,
                   quarantined: np.ndarray, total: int, cal: Calendar, codes: Sequence[str],
                   ids_width: int, first_unknown: int | None = None) -> tuple[FaultPlan, np.ndarray]:
    """Event faults, never on events of ``quarantined`` people.  Returns the plan and rows kept clean.

    ``unknown_person`` faults get ids numbered from ``first_unknown`` (default: just after ``pop``)."""
    plan, n = FaultPlan(), len(ev.person)
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
            plan.edit(cols, rows, "date", rule, date_text(cal.until + rng.integers(1, 400, k)))
        elif rule == "before_birth":
            plan.edit(cols, rows, "date", rule, date_text(pop.dob[ev.person[rows]] - rng.integers(1, 1500, k)))
        elif rule == "unknown_code":
            names, values = _unknown_codes("events", k, codes)
            plan.edit(cols, rows, names, rule, values)
        elif rule == "bad_grade":
            plan.edit(cols, rows, "grade", rule, _cycle(_BAD_GRADES, k))
        elif rule == "unknown_person":
            start = pop.n + 1 if first_unknown is None else first_unknown
            plan.edit(cols, rows, "person_id", rule, numbered("P", start + np.arange(k), ids_width))
    return plan, eligible[at:]


def add_noise(rng: np.random.Generator, cols: dict[str, Column], rows: np.ndarray, file: str) -> None:
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
                new = pc.binary_join_element_wise(scalar(" "), current, scalar(" "), scalar(""))
            elif kind == 1:
                new = pc.utf8_upper(current)
            else:
                new = pc.utf8_capitalize(pc.utf8_lower(current))
            cols[name].put(sel, new)


def assemble(cols: dict[str, Column], plan: FaultPlan, file: str) -> tuple[pa.Table, pd.DataFrame]:
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
            col.put(rows, pc.binary_join_element_wise(col.values(rows), scalar("rear car park"), scalar(", ")))
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

