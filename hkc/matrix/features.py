"""Features as of a date: the points every event earns, and their sum per person and indicator.

>>> pts = event_points(extract.events, catalogue=defs.catalogue, as_of=date(2026, 9, 30))   # doctest: +SKIP
>>> contributions = indicator_contributions(pts)                                               # doctest: +SKIP

Only events dated on or before ``as_of`` and within their indicator's lookback count.  For one
event (see ``features/indicators.toml``)::

    points = gravity × evidence × 0.5 ** (age_days / half_life_days) × frequency_decay ** k

where ``k`` ranks the person's counting events of the same type from strongest to weakest, and
the factor is 0 from ``k = frequency_cap`` on.  Everything is vectorised over events: there is no
loop over people.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from hkc.definitions import AXES, Catalogue
from hkc.extract import OUTCOME_CODES, ROLE_CODES
from hkc.frames import PARALLEL_ROWS, THREADS, sort_rows

__all__ = ["event_points", "indicator_contributions", "EVENT_POINT_COLUMNS", "CONTRIBUTION_COLUMNS",
           "POINTS_DECIMALS"]

POINTS_DECIMALS = 1
EVENT_POINT_COLUMNS = ["person_idx", "event_id", "date", "indicator", "axis", "role", "outcome", "grade",
                       "age_days", "gravity", "evidence", "recency", "frequency_rank", "frequency_factor",
                       "points"]
CONTRIBUTION_COLUMNS = ["person_idx", "axis", "indicator", "count", "latest", "points"]


def _as_datetime64(day: dt.date) -> np.datetime64:
    return np.datetime64(day.isoformat(), "s")


def _lookup_tables(catalogue: Catalogue) -> dict[str, np.ndarray]:
    """Per-type arrays indexed by the categorical code of ``events['type']``."""
    inds = list(catalogue.indicators.values())
    allowed = np.zeros((len(inds), len(ROLE_CODES)), dtype=bool)
    for t, ind in enumerate(inds):
        for role in ind.roles:
            allowed[t, ROLE_CODES.index(role)] = True
    return {
        "gravity": np.array([i.gravity for i in inds], dtype=np.float64),
        "half_life": np.array([i.half_life_days for i in inds], dtype=np.float64),
        "lookback": np.array([i.lookback_days for i in inds], dtype=np.int64),
        "cap": np.array([i.frequency_cap for i in inds], dtype=np.int64),
        "decay": np.array([i.frequency_decay for i in inds], dtype=np.float64),
        "axis": np.array([AXES.index(i.axis) for i in inds], dtype=np.int8),
        "evidence": np.array([("outcome", "grade", "none").index(i.evidence) for i in inds], dtype=np.int8),
        "allowed": allowed,
    }


def _codes(series: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Integer codes of a column against fixed categories (-1 for missing)."""
    if isinstance(series.dtype, pd.CategoricalDtype) and tuple(series.cat.categories) == tuple(categories):
        return series.cat.codes.to_numpy()
    return pd.Categorical(series, categories=list(categories)).codes


def _grade_multiplier(grades: pd.Series, catalogue: Catalogue) -> np.ndarray:
    table = {f"{s}{a}": catalogue.grade_source[s] * catalogue.grade_assessment[a]
             for s in catalogue.grade_source for a in catalogue.grade_assessment}
    codes, uniques = pd.factorize(grades, use_na_sentinel=True)
    values = np.array([table.get(u, catalogue.grade_missing) for u in uniques] + [catalogue.grade_missing])
    return values[codes]  # code -1 (missing) picks the appended grade_missing


def _take(series: pd.Series, idx: np.ndarray):
    """Rows ``idx`` of a column without converting Arrow strings or categoricals to Python objects."""
    return series.array.take(idx)


def _strength_order(person: np.ndarray, tc: np.ndarray, base: np.ndarray, age: np.ndarray, event_ids, *,
                    types: int):
    """The order that puts each (person, type)'s events strongest first, and each event's rank in it.

    Ties are broken by newer date, then event id, so the result never depends on row order; event
    ids are compared only where everything else ties.  Returns ``(order, person, type, -points
    before the frequency factor, age in days, rank)``, all in that order.
    """
    group = person.astype(np.int64) * types + tc  # (person, type) as one integer: one sort pass fewer
    order, (g_sorted, neg_base, age_sorted) = sort_rows([group, -base, age], tiebreak=event_ids)
    p_sorted, t_sorted = (g_sorted // types).astype(person.dtype), g_sorted % types
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (p_sorted[1:] != p_sorted[:-1]) | (t_sorted[1:] != t_sorted[:-1])
    starts = np.flatnonzero(new_group)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    return order, p_sorted, t_sorted, neg_base, age_sorted, rank


def _gather(gathers: dict, *, rows: int) -> dict:
    """Run the column gathers; they release the GIL, so on two threads when there are enough rows."""
    if THREADS > 1 and rows >= PARALLEL_ROWS:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = {name: pool.submit(fn) for name, fn in gathers.items()}
            return {name: f.result() for name, f in futures.items()}
    return {name: fn() for name, fn in gathers.items()}


def event_points(events: pd.DataFrame, *, catalogue: Catalogue, as_of: dt.date) -> pd.DataFrame:
    """Points earned by each counting event as of ``as_of`` (one row per counting event).

    ``events`` is the validated events table from :func:`hkc.extract.load.load_extract` (it needs
    ``person_idx, event_id, date, type, role, outcome, grade``).  Events after ``as_of``, older
    than their lookback, or with a role the indicator does not count, are left out.  Rows come
    out ordered by person, indicator and strength (the order the frequency decay is applied in).
    """
    tables = _lookup_tables(catalogue)
    type_code = _codes(events["type"], catalogue.codes)
    role_code = _codes(events["role"], ROLE_CODES)
    days = events["date"].to_numpy().astype("datetime64[D]")  # a time of day never moves an event's day
    age_days = (np.datetime64(as_of.isoformat(), "D") - days).astype(np.int64)

    valid = (type_code >= 0) & (role_code >= 0)
    tc, rc = np.where(valid, type_code, 0), np.where(valid, role_code, 0)
    keep = valid & (age_days >= 0) & (age_days <= tables["lookback"][tc]) & tables["allowed"][tc, rc]
    idx = np.flatnonzero(keep)
    tc, rc, age = tc[idx], rc[idx], age_days[idx]

    role_mult = np.array([catalogue.role_multipliers[r] for r in ROLE_CODES])[rc]
    outcome_code = _codes(events["outcome"], OUTCOME_CODES)[idx]
    outcome_mult = np.array([catalogue.outcome_multipliers[o] for o in OUTCOME_CODES]
                            + [catalogue.outcome_multipliers["none"]])[outcome_code]  # -1 -> "none"
    kind = tables["evidence"][tc]
    grade = _take(events["grade"], idx)
    grade_mult = _grade_multiplier(pd.Series(grade), catalogue) if (kind == 1).any() else 1.0
    evidence = role_mult * np.where(kind == 0, outcome_mult, np.where(kind == 1, grade_mult, 1.0))
    recency = np.power(0.5, age / tables["half_life"][tc])
    base = tables["gravity"][tc] * evidence * recency

    person = events["person_idx"].to_numpy()[idx]
    event_ids = _take(events["event_id"], idx)
    order, p_sorted, t_sorted, neg_base, age_sorted, rank = _strength_order(person, tc, base, age, event_ids,
                                                                            types=len(catalogue.codes))
    t_cap, t_decay = tables["cap"][t_sorted], tables["decay"][t_sorted]
    factor = np.where(rank < t_cap, np.power(t_decay, rank), 0.0)
    rows = idx[order]
    # The remaining columns are gathers into the sorted order.
    gathers = {
        "event_id": lambda: event_ids.take(order),
        "date": lambda: events["date"].to_numpy()[rows],
        "role": lambda: _take(events["role"], rows),
        "outcome": lambda: _take(events["outcome"], rows),
        "grade": lambda: grade.take(order),
        "evidence": lambda: evidence[order],
        "recency": lambda: recency[order],
    }
    column = _gather(gathers, rows=len(order))

    return pd.DataFrame({
        "person_idx": p_sorted,
        "event_id": column["event_id"],
        "date": column["date"],
        "indicator": pd.Categorical.from_codes(t_sorted, categories=list(catalogue.codes)),
        "axis": pd.Categorical.from_codes(tables["axis"][t_sorted], categories=list(AXES)),
        "role": column["role"],
        "outcome": column["outcome"],
        "grade": column["grade"],
        "age_days": age_sorted,
        "gravity": tables["gravity"][t_sorted],
        "evidence": column["evidence"],
        "recency": column["recency"],
        "frequency_rank": rank,
        "frequency_factor": factor,
        "points": -neg_base * factor,
    }, columns=EVENT_POINT_COLUMNS, copy=False)


def indicator_contributions(points: pd.DataFrame) -> pd.DataFrame:
    """Per person and indicator: counting events, latest date, and points (rounded to 0.1).

    The rounded indicator points are the unit of account: a person's score is their sum, so the
    points shown in a rationale always add up to the score shown beside it.  Rows are ordered by
    person and indicator (catalogue order).
    """
    person = points["person_idx"].to_numpy()
    indicator = points["indicator"]
    codes = indicator.cat.codes.to_numpy()
    key = person.astype(np.int64) * (len(indicator.cat.categories) + 1) + codes
    # event_points' rows are already in (person, indicator) order: then there is nothing to sort
    order = np.arange(len(key)) if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")
    p, c = person[order], codes[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (p[1:] != p[:-1]) | (c[1:] != c[:-1])
    starts = np.flatnonzero(new_group)
    dates = points["date"].to_numpy()
    if len(order):
        total = np.add.reduceat(points["points"].to_numpy()[order], starts)
        latest = np.maximum.reduceat(dates[order].view(np.int64), starts).view(dates.dtype)
    else:
        total, latest = np.zeros(0), dates[:0]
    axis_codes = points["axis"].cat.codes.to_numpy()[order][starts]
    return pd.DataFrame({
        "person_idx": p[starts],
        "axis": pd.Categorical.from_codes(axis_codes, categories=list(AXES)),
        "indicator": pd.Categorical.from_codes(c[starts], dtype=indicator.dtype),
        "count": np.diff(np.append(starts, len(order))),
        "latest": latest,
        "points": np.round(total, POINTS_DECIMALS),
    })[CONTRIBUTION_COLUMNS]
