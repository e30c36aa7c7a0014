"""What changed in a person's record between two extracts: events gone, changed, recorded late, or new.

:func:`record_changes` compares the counting risk events of the same people at two runs (the
history's stored evidence, or a refresh's scored points) and says, per person, in words:

* **corrections** — the record of the past changed: an event that counted at the earlier run and
  would still be inside its indicator's lookback window is no longer held under the id (deleted,
  or moved to another id); its date, type, role, outcome or grade changed; or an event dated on
  or before the earlier as-of date appears for the first time (recorded late);
* whether a correction **weakened** the record — counts for less, or no longer qualifies anyone:
  the event is gone; its outcome has a smaller multiplier (an outcome-evidenced type) or became a
  non-qualifying one (a weapon-related type); its grade, role or type has a smaller multiplier or
  gravity, or the type is no longer weapon-related; or it moved to an earlier date.  A late record
  never weakens (an added event never lowers a score), nor does an outcome that progressed to a
  stronger one;
* **new events** — risk events dated after the earlier as-of date.

An event absent from the later evidence only because it aged out of its lookback window is time,
not a correction; an indicator the catalogue no longer has is not judged.  Only the risk axis is
compared: the list and its RAG bands are drawn on the risk score alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hkc.definitions import Catalogue
from hkc.matrix.features import _grade_multiplier

__all__ = ["RecordChanges", "record_changes", "risk_evidence", "text_column"]

COMPARED = ("date", "indicator", "role", "outcome", "grade")
FIELD_WORDS = {"indicator": "type"}
LISTED_EVENTS = 3  # event ids named in a text before "and N more"


@dataclass
class RecordChanges:
    """Per person id: ``corrections`` (text), ``weakened`` and ``weapon_weakened`` (ids whose record a
    correction weakened, on any or on a weapon-related type), ``new_events`` (text)."""

    corrections: dict[str, str] = field(default_factory=dict)
    weakened: set[str] = field(default_factory=set)
    weapon_weakened: set[str] = field(default_factory=set)
    new_events: dict[str, str] = field(default_factory=dict)


def text_column(values: pd.Series) -> pd.Series:
    """Text with missing values as ''."""
    values = values.astype(object)
    return values.where(values.notna(), "").astype(str)


def risk_evidence(evidence: pd.DataFrame | None, risk_codes: Sequence[str] | None = None) -> pd.DataFrame:
    """``person_id, event_id`` and the compared fields as text (dates ``YYYY-MM-DD``), risk events only,
    one row per person and event.  ``risk_codes``: the risk indicators, when the frame has no ``axis``."""
    columns = ["person_id", "event_id", *COMPARED]
    if evidence is None or evidence.empty:
        return pd.DataFrame(columns=columns)
    if "axis" in evidence:
        evidence = evidence[text_column(evidence["axis"]) == "risk"]
    elif risk_codes is not None:
        evidence = evidence[text_column(evidence["indicator"]).isin(risk_codes)]
    out = pd.DataFrame({name: text_column(evidence[name]) for name in ("person_id", "event_id", "indicator", "role",
                                                                       "outcome", "grade")})
    dates = evidence["date"]
    out["date"] = (dates.dt.strftime("%Y-%m-%d") if pd.api.types.is_datetime64_any_dtype(dates)
                   else text_column(dates).str.slice(0, 10))
    return out[columns].drop_duplicates(["person_id", "event_id"]).reset_index(drop=True)


def _named(event_ids: list[str]) -> str:
    more = len(event_ids) - LISTED_EVENTS
    return ", ".join(event_ids[:LISTED_EVENTS]) + (f" and {more} more" if more > 0 else "")


def _counted(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def _weaker(field_name: str, old: pd.Series, new: pd.Series, indicator: pd.Series, *, catalogue: Catalogue,
            non_qualifying: Sequence[str]) -> np.ndarray:
    """Whether each change of ``field_name`` from ``old`` to ``new`` makes the event count for less."""
    inds = catalogue.indicators
    kind = indicator.map({c: i.evidence for c, i in inds.items()})
    weapon = indicator.map({c: i.weapon for c, i in inds.items()}).fillna(False).astype(bool)
    if field_name == "date":
        return (new < old).to_numpy()
    if field_name == "outcome":
        mult = dict(catalogue.outcome_multipliers)
        before, after = old.where(old != "", "none").map(mult), new.where(new != "", "none").map(mult)
        lost = weapon & new.isin(non_qualifying) & ~old.isin(non_qualifying)
        return (((kind == "outcome") & (after < before)) | lost).to_numpy()
    if field_name == "grade":
        before = _grade_multiplier(old.where(old != "", None), catalogue)
        after = _grade_multiplier(new.where(new != "", None), catalogue)
        return ((kind == "grade").to_numpy() & (after < before))
    if field_name == "role":
        mult = dict(catalogue.role_multipliers)
        return (new.map(mult).fillna(0) < old.map(mult).fillna(0)).to_numpy()
    gravity = {c: i.gravity for c, i in inds.items()}  # the type changed
    weapon_now = new.map({c: i.weapon for c, i in inds.items()}).fillna(False).astype(bool)
    return ((new.map(gravity).fillna(0) < old.map(gravity).fillna(0)) | (weapon & ~weapon_now)).to_numpy()


def record_changes(earlier: pd.DataFrame, later: pd.DataFrame, *, earlier_as_of: dt.date, later_as_of: dt.date,
                   catalogue: Catalogue, non_qualifying: Sequence[str] = ("nfa",)) -> RecordChanges:
    """Compare two :func:`risk_evidence` frames of the same people (see the module docstring)."""
    both = earlier.merge(later, on=["person_id", "event_id"], how="outer", suffixes=("_0", "_1"), indicator=True)
    t0, t1 = earlier_as_of.isoformat(), pd.Timestamp(later_as_of)
    weapons = {c for c, i in catalogue.indicators.items() if i.weapon}
    out = RecordChanges()
    notes: dict[str, list[str]] = {}

    gone = both[both["_merge"] == "left_only"]
    window = gone["indicator_0"].map({c: i.lookback_days for c, i in catalogue.indicators.items()}).astype(float)
    age = (t1 - pd.to_datetime(gone["date_0"])).dt.days.astype(float)
    gone = gone[(age <= window).to_numpy(dtype=bool)]  # still inside its window: removed, not aged out
    for person, rows in gone.groupby("person_id", sort=False):
        notes.setdefault(person, []).append(f"{_counted(len(rows), 'event')} that would still count no longer held "
                                            f"under this id ({_named(rows['event_id'].tolist())})")
        _weakened(out, person, rows["indicator_0"], weapons)

    kept = both[both["_merge"] == "both"]
    for name in COMPARED:
        moved = kept[kept[f"{name}_0"] != kept[f"{name}_1"]]
        if moved.empty:
            continue
        weaker = _weaker(name, moved[f"{name}_0"], moved[f"{name}_1"], moved["indicator_0"], catalogue=catalogue,
                         non_qualifying=non_qualifying)
        for person, rows in moved.assign(weaker=weaker).groupby("person_id", sort=False):
            shown = ", ".join(f"{e}: {a or 'none'} to {b or 'none'}" for e, a, b in
                              rows[["event_id", f"{name}_0", f"{name}_1"]].head(LISTED_EVENTS).itertuples(index=False))
            more = len(rows) - LISTED_EVENTS
            notes.setdefault(person, []).append(f"{_counted(len(rows), FIELD_WORDS.get(name, name))} changed "
                                                f"({shown}{f' and {more} more' if more > 0 else ''})")
            _weakened(out, person, rows.loc[rows["weaker"], "indicator_0"], weapons)

    added = both[both["_merge"] == "right_only"]
    for person, rows in added[added["date_1"] <= t0].groupby("person_id", sort=False):
        notes.setdefault(person, []).append(f"{_counted(len(rows), 'event')} dated on or before {t0} recorded late "
                                            f"({_named(rows['event_id'].tolist())})")
    for person, rows in added[added["date_1"] > t0].groupby("person_id", sort=False):
        last = rows.sort_values(["date_1", "event_id"]).iloc[-1]
        out.new_events[person] = (f"{_counted(len(rows), 'new event')} dated after {t0}, the latest on "
                                  f"{last['date_1']} ({last['indicator_1'].replace('_', ' ')})")
    out.corrections = {p: "; ".join(parts) for p, parts in notes.items()}
    return out


def _weakened(out: RecordChanges, person: str, indicators: pd.Series, weapons: set[str]) -> None:
    if len(indicators):
        out.weakened.add(person)
        if indicators.isin(weapons).any():
            out.weapon_weakened.add(person)
