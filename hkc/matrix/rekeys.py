"""Probable re-keys: a cohort member who vanished while a new id with their date of birth, sex and events appeared.

>>> probable_rekeys(vanished, extract.people, extract.events, earlier_ids=stored_ids)   # doctest: +SKIP
  old_id new_id  shared_events  shared_occurrences  candidates  evidence
0   P123   P987              3                   1           1  same date of birth (2010-03-04) and sex (M); …

Why: a source system that re-keys or merges a record without an ``aliases`` row makes the old id
vanish and a new one appear.  Counted naively, the person is "removed" (the success the list is
judged by) and a newcomer; so at each refresh every earlier cohort member who is not in the
extract is compared with the ids the earlier run did not know: one with the same date of birth
and the same sex, now holding some of the member's events (the same ``event_id``) or occurrences
(the same ``occurrence_id``), is a *probable* re-key.  It is said, never acted on silently: the
refresh warns, records it in ``run.json`` and does not count the member as removed, and an analyst
who confirms it records the link (``hkc ids link``).  A real exit — the member aged out, or their
records were deleted — has no such new id, so it is not reported.

Date of birth and sex alone would match strangers; shared events alone would match co-offenders
(an event or occurrence can hold several people); together, and only against ids the earlier run
did not know, they match the same person under a new key.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from hkc.messages import REKEY_WARNING

__all__ = ["probable_rekeys", "rekey_lines", "REKEY_COLUMNS", "REKEY_WARNING"]

REKEY_COLUMNS = ["old_id", "new_id", "shared_events", "shared_occurrences", "candidates", "evidence"]
_SHOWN = 3  # ids named in the evidence; the rest are counted


def _day(value: object) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _key(frame: pd.DataFrame) -> pd.Series:
    """Date of birth and sex as one text key (empty when either is missing: such a row matches nothing)."""
    dob = frame["date_of_birth"].map(_day)
    sex = frame["sex"].astype(object).map(lambda s: "" if s is None or pd.isna(s) else str(s))
    return pd.Series([f"{d}|{s}" if d and s else "" for d, s in zip(dob, sex, strict=True)], index=frame.index)


def _exploded(vanished: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    """(old_id, ``name``) for every id in the lists of ``column``."""
    pairs = [(str(p), str(v)) for p, values in zip(vanished["person_id"], vanished[column], strict=True)
             for v in (values if isinstance(values, (list, tuple, set)) else []) if v is not None and str(v) != ""]
    return pd.DataFrame(pairs, columns=["old_id", name])


def probable_rekeys(vanished: pd.DataFrame, people: pd.DataFrame, events: pd.DataFrame, *,
                    earlier_ids: Iterable[object]) -> pd.DataFrame:
    """Every (vanished member, new id) pair that looks like one person re-keyed (see the module docstring).

    ``vanished``: the earlier cohort members not in this extract, with ``person_id, date_of_birth, sex,
    event_ids, occurrence_ids`` (lists) as the earlier run kept them.  ``people`` and ``events``: this
    extract's (``person_id, date_of_birth, sex``; ``person_id, event_id`` and, if any, ``occurrence_id``).
    ``earlier_ids``: every id the earlier run knew (scored, listed or linked); only other ids are new.
    Returns :data:`REKEY_COLUMNS`, one row per pair, by old id then the most shared; ``candidates`` is how
    many new ids match the same member (more than one: the evidence says so).
    """
    empty = pd.DataFrame(columns=REKEY_COLUMNS)
    if not len(vanished) or not len(people):
        return empty
    known = {str(p) for p in earlier_ids}
    new = people[~people["person_id"].astype(str).isin(known)]
    new = pd.DataFrame({"new_id": new["person_id"].astype(str).to_numpy(), "key": _key(new).to_numpy()})
    new = new[new["key"] != ""]
    old = pd.DataFrame({"old_id": vanished["person_id"].astype(str).to_numpy(), "key": _key(vanished).to_numpy(),
                        "dob": vanished["date_of_birth"].map(_day).to_numpy(), "sex": vanished["sex"].to_numpy()})
    pairs = old[old["key"] != ""].merge(new, on="key")  # same date of birth and sex, new in this extract
    if pairs.empty:
        return empty
    held = events.assign(new_id=events["person_id"].astype(str))
    held = held[held["new_id"].isin(set(pairs["new_id"]))]
    shared = []
    for column, name in (("event_ids", "event_id"), ("occurrence_ids", "occurrence_id")):
        if name not in held or column not in vanished:
            shared.append(pd.DataFrame(columns=["old_id", "new_id", name]))
            continue
        listed = _exploded(vanished, column, name)
        now = held[["new_id", name]].dropna().astype(str).drop_duplicates()
        shared.append(listed.merge(now, on=name).merge(pairs[["old_id", "new_id"]], on=["old_id", "new_id"]))
    by_event, by_occurrence = shared
    found = pairs[["old_id", "new_id", "dob", "sex"]].copy()
    for frame, name, col in ((by_event, "event_id", "shared_events"), (by_occurrence, "occurrence_id",
                                                                         "shared_occurrences")):
        ids = frame.groupby(["old_id", "new_id"])[name].agg(lambda s: sorted(set(s)))
        found[col + "_ids"] = [ids.get((o, n), []) for o, n in zip(found["old_id"], found["new_id"], strict=True)]
        found[col] = found[col + "_ids"].map(len)
    found = found[(found["shared_events"] > 0) | (found["shared_occurrences"] > 0)]
    if found.empty:
        return empty
    found["candidates"] = found.groupby("old_id")["new_id"].transform("size")
    found["evidence"] = [_evidence(r) for r in found.to_dict("records")]
    found = found.sort_values(["old_id", "shared_events", "shared_occurrences", "new_id"],
                              ascending=[True, False, False, True], kind="stable")
    return found[REKEY_COLUMNS].reset_index(drop=True)


def _named(ids: list[str], what: str) -> str:
    shown = ", ".join(ids[:_SHOWN]) + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")
    return f"{len(ids)} {what}{'s' if len(ids) != 1 else ''} ({shown})"


def _evidence(r: dict) -> str:
    parts = [_named(r["shared_events_ids"], "event")] if r["shared_events"] else []
    if r["shared_occurrences"]:
        parts.append(_named(r["shared_occurrences_ids"], "occurrence"))
    text = (f"the same date of birth ({r['dob']}) and sex ({r['sex']}), and holds {' and '.join(parts)} "
            f"that {r['old_id']} held")
    if r["candidates"] > 1:
        text += f" (one of {r['candidates']} new ids that match)"
    return text


def rekey_lines(rekeys: pd.DataFrame, *, earlier: object) -> list[str]:
    """One warning line per probable re-key (:data:`REKEY_WARNING`), for the terminal and the packs."""
    return [REKEY_WARNING.format(old_id=r["old_id"], new_id=r["new_id"], evidence=r["evidence"], earlier=earlier)
            for r in rekeys.to_dict("records")]
