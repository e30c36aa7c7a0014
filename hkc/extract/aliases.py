"""The aliases file: ids the source system re-keyed or merged, checked against each other and against people.

>>> extract = load_extract("extract/", catalogue=defs.catalogue)             # doctest: +SKIP
>>> extract.aliases[["old_id", "new_id", "date", "reason"]]                 # doctest: +SKIP

Why: police systems merge and re-key nominal records routinely.  An extract may say so in an
optional ``aliases.csv`` (or ``.parquet``) with the columns ``old_id, new_id, date, reason``
(:data:`hkc.extract.contract.ALIAS_COLUMNS`), so that the history can follow the person rather
than the key.  A wrong alias joins two people's histories, so every row must make sense on its
own and with the others before it is used; a row that does not is quarantined into the rejects
with its reason, like any other row (the single-row rules — a missing id, a bad or future date,
a control character — come first, from :mod:`hkc.extract.checks`):

``alias_to_itself``     old_id and new_id are the same id;
``duplicate_alias``     the same (old_id, new_id) again: the first copy is used;
``alias_conflict``      one old_id linked to two different new ids: every such row (which is right
                        cannot be told);
``alias_cycle``         following the rows leads an old_id back to itself (A → B, B → A);
``alias_chain``         the new_id is itself re-keyed further in the file (A → B and B → C): the
                        row must give the latest id (A → C);
``alias_new_rejected``  the new_id's people row was quarantined;
``alias_unknown_new``   the new_id is not in people: an alias leads to a person in this extract;
``alias_old_in_use``    the old_id still holds events in this extract, so it is not an old id.

The rules run in that order and each sees only the rows that passed the ones before, so a row
has the first reason that applies.  A wrong header (a missing ``old_id``, ``new_id`` or ``date``
column) is refused in one line by the loader, as for any file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from hkc.extract.checks import CheckedFile, index_in

__all__ = ["check_aliases"]


def _texts(checked: CheckedFile, column: str) -> list[str]:
    """Each row's trimmed value of an id column, as Python strings."""
    values = checked.columns[column].values
    text = values.values.to_pylist()
    return text if values.idx is None else [text[i] for i in values.idx]


def check_aliases(aliases: CheckedFile, alias_rows: np.ndarray, *, people: CheckedFile, people_rows: np.ndarray,
                  people_keep: np.ndarray, kept_ids: pa.Array, events: CheckedFile, events_rows: np.ndarray) -> None:
    """Quarantine the alias rows that break a rule of the module docstring (added to ``aliases.problems``).

    ``alias_rows``, ``people_rows``, ``events_rows``: each file's source rows; ``people_keep``: which
    people rows are used, ``kept_ids`` their ids; ``events``: the events file as checked so far (its
    problems say which rows are used).  Only the ids the aliases file names are looked up
    (vectorised), so a large extract costs one pass over its ids.
    """
    in_people, rejected_people, holding = _lookups(aliases, people=people, people_rows=people_rows,
                                                   people_keep=people_keep, kept_ids=kept_ids, events=events,
                                                   events_rows=events_rows)
    problems = aliases.problems
    old, new = _texts(aliases, "old_id"), _texts(aliases, "new_id")
    old_values, new_values = aliases.columns["old_id"].values, aliases.columns["new_id"].values
    n = len(old)

    def flag(rule: str, column: str, rows: dict[int, dict[str, str]]) -> None:
        """Quarantine ``rows`` (position -> the message's other values) under ``rule``."""
        if not rows:
            return
        mask = np.zeros(n, dtype=bool)
        mask[list(rows)] = True
        keys = sorted({k for extra in rows.values() for k in extra})
        params: dict[str, Callable[[np.ndarray], list[str]]] = {
            k: (lambda pos, k=k: [rows[int(p)].get(k, "") for p in pos]) for k in keys}
        problems.add(mask, rule, column, old_values if column == "old_id" else new_values, **params)

    def live() -> list[int]:
        return [i for i in range(n) if not problems.bad[i]]

    flag("alias_to_itself", "old_id", {i: {} for i in live() if old[i] == new[i]})

    first: dict[tuple[str, str], int] = {}
    copies: dict[int, dict[str, str]] = {}
    for i in live():
        pair = (old[i], new[i])
        if pair in first:
            copies[i] = {"new_id": new[i], "first_row": str(alias_rows[first[pair]])}
        else:
            first[pair] = i
    flag("duplicate_alias", "old_id", copies)

    targets: dict[str, list[int]] = {}
    for i in live():
        targets.setdefault(old[i], []).append(i)
    conflicts: dict[int, dict[str, str]] = {}
    for rows in targets.values():
        if len(rows) > 1:
            for i in rows:
                other = next(j for j in rows if j != i)
                conflicts[i] = {"other_id": new[other], "other_row": str(alias_rows[other])}
    flag("alias_conflict", "old_id", conflicts)

    step = {old[i]: i for i in live()}  # old_id -> its one row, now that each old_id has one
    flag("alias_cycle", "old_id", _cycles(step, old, new))

    chains = {i: {"next_id": new[step[new[i]]], "next_row": str(alias_rows[step[new[i]]]), "old_id": old[i]}
              for i in live() if new[i] in step}
    flag("alias_chain", "new_id", chains)

    flag("alias_new_rejected", "new_id", {i: {"first_row": str(rejected_people[new[i]])} for i in live()
                                          if new[i] not in in_people and new[i] in rejected_people})
    flag("alias_unknown_new", "new_id", {i: {} for i in live() if new[i] not in in_people})
    flag("alias_old_in_use", "old_id", {i: {"first_row": str(holding[old[i]])} for i in live() if old[i] in holding})


def _unique(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The distinct values of a text column, as one array."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return values.unique()


def _lookups(aliases: CheckedFile, *, people: CheckedFile, people_rows: np.ndarray, people_keep: np.ndarray,
             kept_ids: pa.Array, events: CheckedFile,
             events_rows: np.ndarray) -> tuple[set[str], dict[str, int], dict[str, int]]:
    """The file's ids that are people used; ``{id: people row}`` of the people quarantined; and
    ``{old id: events row}`` of the file's old ids that hold an event used (its first row)."""
    named = _unique(pa.chunked_array([aliases.columns[c].values.values for c in ("old_id", "new_id")]))
    in_people = {str(v) for v in named.filter(pa.array(index_in(named, kept_ids) >= 0)).to_pylist()}
    pid = people.columns["person_id"]
    rejected = ~people_keep & pid.present
    rejected_people: dict[str, int] = {}
    for person, row in zip(pid.values.at(np.flatnonzero(rejected)).to_pylist(), people_rows[rejected], strict=True):
        rejected_people.setdefault(person, int(row))
    olds = _unique(aliases.columns["old_id"].values.values)
    at = index_in(events.columns["person_id"].values.values, olds)
    hit = np.flatnonzero((at >= 0) & ~events.problems.bad)
    _, first = np.unique(at[hit], return_index=True)  # each old id's first event used, in file order
    names = olds.to_pylist()
    holding = {names[at[hit[i]]]: int(events_rows[hit[i]]) for i in first}
    return in_people, rejected_people, holding


def _cycles(step: dict[str, int], old: list[str], new: list[str]) -> dict[int, dict[str, str]]:
    """The rows on a cycle of ``old_id -> new_id`` links (each old_id has one row), each with the cycle in words."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: dict[int, dict[str, str]] = {}
    for start in step:
        path: list[str] = []
        at = start
        while at in step and state.get(at) is None:
            state[at] = 1
            path.append(at)
            at = new[step[at]]
        if state.get(at) == 1:  # the path came back to an id on it: the ids from there on are a cycle
            loop = path[path.index(at):]
            words = " → ".join([*loop, loop[0]])
            for pid in loop:
                found[step[pid]] = {"cycle": words}
        for pid in path:
            state[pid] = 2
    return found
