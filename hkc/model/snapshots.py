"""Training rows: one per (person, snapshot), with features as of that snapshot only.

>>> plan = plan_snapshots(window, spec=spec)                                   # doctest: +SKIP
>>> rows = build_snapshot(extract, definitions=defs, spec=spec, snapshot=plan.test)   # doctest: +SKIP

**Snapshots** are quarter ends.  For a test snapshot ``T`` (the latest quarter end whose whole
outcome window ``(T, T + horizon]`` lies on or before the history's end), the calibration
snapshots are the latest quarter ends ``c`` with ``c + horizon <= T`` and the training snapshots
the quarters before them: every label the model learns from was known on ``T``, so the model
tested is one that could have been built on that date.  A snapshot is used only when the
extract holds ``min_history_days`` of events before it.

**Population** of a snapshot: everyone aged within the eligibility age range (``[eligibility]``
``min_age``-``max_age``) at the snapshot with at least one event, of any type or role, on or
before it — the people the matrix could have scored.  People first seen later are not in it.

**Features** are the matrix's own: :func:`score_snapshot` runs
:func:`hkc.matrix.scoring.score_people` with ``as_of`` = the snapshot, which counts only events dated on
or before it; each indicator gives ``<code>_points`` (rounded contribution) and ``<code>_count``.
:func:`check_no_leakage` then verifies that no event after the snapshot reached them and raises
:class:`LeakageError` (a bug, never a user error) if one did.

**Label**: 1 when the person has an outcome event (``[label]`` types and roles) dated in
``(snapshot, snapshot + horizon]`` (:func:`hkc.matrix.outcomes.knife_outcome`), else 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hkc.dates import quarter_end, quarter_ends, shift_quarters
from hkc.definitions import Definitions, LabelSpec, ModelSpec
from hkc.errors import ExtractError
from hkc.extract import Extract
from hkc.matrix import ScoreResult, knife_outcome, score_people

__all__ = ["LeakageError", "HistoryWindow", "SnapshotPlan", "SnapshotRows", "history_window", "quarter_ends",
           "latest_test_snapshot", "plan_snapshots", "score_snapshot", "check_no_leakage", "build_snapshot",
           "SnapshotCache", "indicator_columns", "LEAKAGE", "NO_TEST_SNAPSHOT", "SHORT_HISTORY"]

LEAKAGE = ("features for the snapshot {snapshot} used {what} dated {date}: no event after a snapshot may reach "
           "its features")
NO_TEST_SNAPSHOT = ("the extract's history ends {end}: a {horizon}-day horizon needs a test snapshot on or before "
                    "{latest}, but the history starts {start} and a snapshot needs {min_history} days before it; "
                    "use a later --as-of, a longer extract or a shorter horizon")
SHORT_HISTORY = ("the extract's history starts {start}: training {model} needs {needed} quarterly snapshots "
                 "({train} training, {calibration} calibration) before the test snapshot {test}, the first on "
                 "{first} with {min_history} days of history before it; use a longer extract, fewer training "
                 "snapshots ({file} [snapshots] train) or a smaller min_history_days")


class LeakageError(AssertionError):
    """An event dated after a snapshot reached that snapshot's features (a bug in hkc)."""


@dataclass(frozen=True)
class HistoryWindow:
    """The dated events a run may use: ``start`` (first event) to ``end`` (the as-of date)."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class SnapshotPlan:
    """The temporal split for one test snapshot (dates ascending within each part)."""

    test: dt.date
    calibration: tuple[dt.date, ...]
    train: tuple[dt.date, ...]
    horizon_days: int

    def dates(self) -> tuple[dt.date, ...]:
        return (*self.train, *self.calibration, self.test)

    def describe(self) -> dict[str, object]:
        return {"test": self.test.isoformat(), "calibration": [d.isoformat() for d in self.calibration],
                "train": [d.isoformat() for d in self.train], "horizon_days": self.horizon_days}


@dataclass
class SnapshotRows:
    """The rows of one snapshot: ``frame`` holds one row per person in its population.

    Columns: ``person_idx, person_id, age, sex, ethnicity, area, in_care, open_to_social_care,
    risk_score, vulnerability_score, eligible, latest_weapon_date, prior_knife_count, label`` and
    ``<code>_points, <code>_count`` for every catalogue indicator.  ``label`` is -1 when the
    outcome window is not wholly observed.  ``max_event_date`` is the latest event that reached
    the features (``None`` when none did).
    """

    snapshot: dt.date
    frame: pd.DataFrame
    max_event_date: dt.date | None
    label_end: dt.date | None

    @property
    def labelled(self) -> bool:
        return self.label_end is not None


def _day(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def history_window(extract: Extract, as_of: dt.date) -> HistoryWindow:
    """The window a run may use: the first event to the last event on or before ``as_of`` (and on or
    before the extract date): outcome windows must end inside the history actually recorded."""
    dates = extract.events["date"]
    if not len(dates) or _day(dates.min()) > as_of:
        raise ExtractError(f"the extract has no events on or before {as_of}; choose a later --as-of")
    end = min(as_of, extract.extract_date) if extract.extract_date else as_of
    last = _day(dates[dates <= pd.Timestamp(end)].max())
    return HistoryWindow(start=_day(dates.min()), end=last)



def _earliest_snapshot(window: HistoryWindow, spec: ModelSpec) -> dt.date:
    return window.start + dt.timedelta(days=spec.snapshots.min_history_days)


def latest_test_snapshot(window: HistoryWindow, spec: ModelSpec) -> dt.date:
    """The latest quarter end whose outcome window ends on or before the history's end."""
    horizon = spec.label.horizon_days
    test = quarter_end(window.end - dt.timedelta(days=horizon))
    if test < _earliest_snapshot(window, spec):
        raise ExtractError(NO_TEST_SNAPSHOT.format(end=window.end, horizon=horizon, latest=test,
                                                   start=window.start, min_history=spec.snapshots.min_history_days))
    return test


def plan_snapshots(window: HistoryWindow, *, spec: ModelSpec, test: dt.date | None = None,
                   min_train: int | None = None) -> SnapshotPlan:
    """The split for ``test`` (default: :func:`latest_test_snapshot`); see the module docstring.

    Uses ``spec.snapshots.train`` training snapshots, or as many as fit but at least
    ``min_train`` when it is given (rolling origins).  Raises :class:`ExtractError` when the
    history is too short.
    """
    test = test or latest_test_snapshot(window, spec)
    s, horizon = spec.snapshots, spec.label.horizon_days
    last_cal = quarter_end(test - dt.timedelta(days=horizon))
    calibration = tuple(shift_quarters(last_cal, -i) for i in range(s.calibration - 1, -1, -1))
    wanted = tuple(shift_quarters(calibration[0], -i) for i in range(s.train, 0, -1))
    earliest = _earliest_snapshot(window, spec)
    train = tuple(d for d in wanted if d >= earliest)
    need = s.train if min_train is None else min_train
    if calibration[0] < earliest or len(train) < need:
        first = shift_quarters(calibration[0], -need)
        raise ExtractError(SHORT_HISTORY.format(start=window.start, model=spec.ranker, needed=need + s.calibration,
                                                train=need, calibration=s.calibration, test=test, first=first,
                                                min_history=s.min_history_days,
                                                file=spec.path or f"models/{spec.name}.toml"))
    return SnapshotPlan(test=test, calibration=calibration, train=train, horizon_days=horizon)


def eligible_snapshots(window: HistoryWindow, spec: ModelSpec) -> list[dt.date]:
    """Every snapshot with enough history whose outcome window is wholly observed (rolling origins)."""
    return quarter_ends(_earliest_snapshot(window, spec), latest_test_snapshot(window, spec))


def score_snapshot(extract: Extract, *, definitions: Definitions, snapshot: dt.date) -> ScoreResult:
    """The matrix's scores and evidence as of ``snapshot`` (the feature function of every row)."""
    return score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                        eligibility=definitions.settings.eligibility, as_of=snapshot)


def check_no_leakage(scored: ScoreResult, snapshot: dt.date) -> None:
    """Raise :class:`LeakageError` if features for ``snapshot`` were computed later or used a later event."""
    if scored.as_of > snapshot:
        raise LeakageError(LEAKAGE.format(snapshot=snapshot, what="an as-of date", date=scored.as_of))
    if len(scored.points):
        latest = _day(scored.points["date"].max())
        if latest > snapshot:
            raise LeakageError(LEAKAGE.format(snapshot=snapshot, what="an event", date=latest))


def indicator_columns(codes: tuple[str, ...] | list[str]) -> list[str]:
    """``<code>_points`` and ``<code>_count`` for each indicator code."""
    return [f"{c}_{m}" for c in codes for m in ("points", "count")]


def _wide_contributions(scored: ScoreResult, positions: np.ndarray, codes: tuple[str, ...],
                        n_people: int) -> dict[str, np.ndarray]:
    contrib = scored.contributions
    out: dict[str, np.ndarray] = {}
    person = positions[contrib["person_idx"].to_numpy()]
    indicator = contrib["indicator"].astype(str).to_numpy()
    for code in codes:
        hit = indicator == code
        for measure in ("points", "count"):
            values = np.zeros(n_people)
            values[person[hit]] = contrib[measure].to_numpy()[hit]
            out[f"{code}_{measure}"] = values
    return out


def build_snapshot(extract: Extract, *, definitions: Definitions, label: LabelSpec, snapshot: dt.date,
                   history_end: dt.date | None = None) -> SnapshotRows:
    """The rows of one snapshot (see the module docstring); labelled when ``snapshot + horizon``
    is on or before ``history_end``."""
    people, events = extract.people, extract.events
    scored = score_snapshot(extract, definitions=definitions, snapshot=snapshot)
    check_no_leakage(scored, snapshot)
    scores = scored.scores
    n = len(people)
    positions = np.full(int(people["person_idx"].max()) + 1 if n else 0, -1, dtype=np.int64)
    positions[people["person_idx"].to_numpy()] = np.arange(n)
    idx = positions[scores["person_idx"].to_numpy()]
    if not np.array_equal(idx, np.arange(n)):
        scores = scores.iloc[np.argsort(idx)].reset_index(drop=True)

    ev_pos = positions[events["person_idx"].to_numpy()]
    on_or_before = events["date"].to_numpy() <= np.datetime64(snapshot.isoformat(), "s")
    seen = np.bincount(ev_pos[on_or_before], minlength=n) > 0
    prior = on_or_before & events["type"].isin(label.types).to_numpy() & events["role"].isin(label.roles).to_numpy()
    prior_count = np.bincount(ev_pos[prior], minlength=n)
    e = definitions.settings.eligibility
    age = scores["age"].to_numpy()
    in_population = seen & (age >= e.min_age) & (age <= e.max_age)

    frame = pd.DataFrame({
        "person_idx": people["person_idx"].to_numpy(),
        "person_id": people["person_id"].to_numpy(),
        "age": age,
        "sex": scores["sex"].astype(str).to_numpy(),
        "ethnicity": scores["ethnicity"].astype(str).to_numpy(),
        "area": (people["area"].astype(object).fillna("").astype(str).to_numpy()
                 if "area" in people else np.full(n, "")),
        **{col: (people[col].fillna(False).to_numpy(dtype=bool).astype(float)
                 if col in people else np.zeros(n)) for col in ("in_care", "open_to_social_care")},
        "risk_score": scores["risk_score"].to_numpy(),
        "vulnerability_score": scores["vulnerability_score"].to_numpy(),
        "eligible": scores["eligible"].to_numpy(dtype=bool),
        "latest_weapon_date": scores["latest_weapon_date"].to_numpy(),
        "prior_knife_count": prior_count.astype(float),
        **_wide_contributions(scored, positions, definitions.catalogue.codes, n),
    })
    frame = frame[in_population].reset_index(drop=True)
    label_end = snapshot + dt.timedelta(days=label.horizon_days)
    if history_end is not None and label_end <= history_end:
        frame["label"] = knife_outcome(events, people=frame, start=snapshot, days=label.horizon_days,
                                       types=label.types, roles=label.roles)
    else:
        frame["label"], label_end = -1, None
    latest = _day(scored.points["date"].max()) if len(scored.points) else None
    return SnapshotRows(snapshot=snapshot, frame=frame, max_event_date=latest, label_end=label_end)


class SnapshotCache:
    """Builds each snapshot once per run; events after ``window.end`` are dropped first."""

    def __init__(self, extract: Extract, *, definitions: Definitions, label: LabelSpec, window: HistoryWindow):
        end = np.datetime64(window.end.isoformat(), "s")
        events = extract.events
        if len(events) and events["date"].max() > end:
            extract = dataclasses.replace(extract, events=events[events["date"].to_numpy() <= end])
        self.extract, self.definitions, self.label, self.window = extract, definitions, label, window
        self._rows: dict[dt.date, SnapshotRows] = {}

    def __call__(self, snapshot: dt.date) -> SnapshotRows:
        if snapshot not in self._rows:
            self._rows[snapshot] = build_snapshot(self.extract, definitions=self.definitions, label=self.label,
                                                  snapshot=snapshot, history_end=self.window.end)
        return self._rows[snapshot]

    def latest_feature_events(self) -> dict[str, str | None]:
        """Per snapshot built: the latest event date behind its features (never after the snapshot)."""
        return {s.isoformat(): (r.max_event_date.isoformat() if r.max_event_date else None)
                for s, r in sorted(self._rows.items())}

    def rows(self, snapshots: tuple[dt.date, ...] | list[dt.date]) -> pd.DataFrame:
        """The labelled rows of several snapshots stacked, with a ``snapshot`` column."""
        parts = []
        for s in snapshots:
            rows = self(s)
            if not rows.labelled:
                raise AssertionError(f"snapshot {s} is not labelled: its outcome window is not observed")
            parts.append(rows.frame.assign(snapshot=s))
        return pd.concat(parts, ignore_index=True)
