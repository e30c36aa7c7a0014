"""Difference-in-differences against the near miss: the listed against those ranked just below.

In each cohort quarter the comparison group is the eligible people ranked just below the cut-off
(ranks N+1..2N when N are listed; the width is configurable).  They were scored on the same
records at the same date and came close to being listed, so much of the fall that follows a peak
(regression to the mean) and anything that happened to everyone in the window shows in them too.
The estimate is the listed group's change in rate divided by the comparison group's change.

The model is a Poisson GLM (statsmodels) of the counts with the log exposure as offset: a level
for each group in each quarter, a before/after step for each quarter (so each quarter's listed
are compared with that quarter's near miss), and one after × group term, whose exponential is
the ratio of rate ratios.  Errors are clustered by person.  With one quarter the model is
saturated and the estimate is exactly the 2×2 table's ratio of rate ratios.

The near miss are often listed a quarter later themselves, and the listed were often listed a
quarter earlier too; both pull the estimate towards no effect (on the simulator's default panels,
``tests/evaluation_sim.py``, a planted 30% fall is estimated at about 22% on average).  The shares of rows affected are reported; they are not modelled,
because a later listing is caused by the events after the cohort date (adjusting for it made the
estimate worse, not better).

What it cannot rule out: the listed were selected at a *higher* peak than the near miss, so they
may fall further even with no effect (on a simulated force whose peaks are mostly passing, it
showed about -15% with no effect at all); and the two groups may have been on different paths.
Maryland Scientific Methods Scale level 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hkc.evaluation.panel import long_rows, near_miss, other_listings
from hkc.evaluation.result import MIN_EVENTS, MIN_PEOPLE, base_result, poisson_contrast, rates, unavailable

__all__ = ["did_near_miss", "did_design", "DID_LABEL"]

DID_LABEL = ("Difference-in-differences: the change in the {who} group's rate from the window before the cohort "
             "date to the window after, against the change over the same windows for people ranked just below the "
             "cut-off in the same quarter ({ranks}). It removes falls common to both groups, but cannot "
             "rule out that the listed, picked at a higher peak, would have fallen further anyway, or that the two "
             "groups were on different paths; and some of the near miss are listed later themselves, which pulls "
             "the estimate towards no effect.")


def did_design(long: pd.DataFrame, in_group: np.ndarray) -> pd.DataFrame:
    """Regressors for the pooled difference-in-differences on ``long`` rows (:func:`long_rows`):
    a level per quarter and group, a before/after step per quarter, and ``after_x_group``, whose
    coefficient is the log ratio of rate ratios."""
    cohort = long["cohort"].astype(str).to_numpy()
    in_group = np.asarray(in_group, dtype=bool)
    after = long["post"].to_numpy(dtype=float)
    columns = {}
    for q in sorted(set(cohort)):
        for g, name in ((True, "group"), (False, "comparison")):
            columns[f"level_{q}_{name}"] = ((cohort == q) & (in_group == g)).astype(float)
        columns[f"after_{q}"] = ((cohort == q) * after).astype(float)
    columns["after_x_group"] = after * in_group
    return pd.DataFrame(columns)


def _cells(treated: pd.DataFrame, comparison: pd.DataFrame, outcome: str) -> list[dict[str, Any]]:
    """The 2×2 table behind the estimate: people, events and person-years per group and window."""
    cells = []
    for name, rows in (("group", treated), ("comparison", comparison)):
        for window in ("pre", "post"):
            years = float(rows[f"{window}_years"].sum())
            events = int(rows[f"{window}_{outcome}"].sum())
            cells.append({"group": name, "window": "before" if window == "pre" else "after",
                          "people": int(rows["person_id"].nunique()), "events": events, "person_years": years,
                          "rate_per_person_year": events / years if years > 0 else None})
    return cells


def did_near_miss(panel: pd.DataFrame, *, outcome: str = "events", group: str = "listed", width: float = 1.0,
                  window_days: int = 365, confidence: float = 0.95,
                  power: float = 0.8) -> dict[str, Any]:
    """Difference-in-differences of ``group`` rows against the near miss (see the module docstring).

    ``width`` sets the comparison ranks: N+1 .. N+ceil(width·N).  ``window_days`` is the outcome
    window.  Extras: ``cells`` (the 2×2 table), ``comparison`` (who the comparison is, in words),
    ``quarters``, ``comparison_in_group_later`` (the share of comparison rows whose person is in the
    group at a later quarter within the window: they pull the estimate towards no effect) and
    ``group_in_group_before`` (the share of group rows whose person was in it at an earlier quarter
    within the window; see :func:`~hkc.evaluation.panel.other_listings`).
    """
    others = other_listings(panel, group, window_days=window_days)
    panel = panel.assign(_before=others["before"], _after=others["after"])
    ranks = "ranks N+1 to 2N, N the number listed" if width == 1 else f"ranks N+1 to N+{width:g}N, N the number listed"
    label = DID_LABEL.format(who="listed" if group == "listed" else "treated", ranks=ranks)
    result = base_result("did_near_miss", sms_level=3, label=label, group=group)
    treated = panel[panel[group]]
    comparison = near_miss(panel, group, width=width)
    treated = treated[treated["cohort"].isin(set(comparison["cohort"]))]   # a quarter needs both groups
    result.update(comparison=f"eligible people ranked just below the cut-off in the same quarter ({ranks})",
                  width=width, quarters=sorted(str(q) for q in treated["cohort"].unique()),
                  cells=_cells(treated, comparison, outcome), n_treated=int(treated["person_id"].nunique()),
                  n_comparison=int(comparison["person_id"].nunique()),
                  comparison_in_group_later=float(comparison["_after"].mean()) if len(comparison) else None,
                  group_in_group_before=float(treated["_before"].mean()) if len(treated) else None)
    for side, rows in (("treated", treated), ("comparison", comparison)):
        before, after = rates(rows, outcome)
        result[f"rate_per_person_year_before_{side}"], result[f"rate_per_person_year_after_{side}"] = before, after
    small = min(result["n_treated"], result["n_comparison"])
    if small < MIN_PEOPLE:
        return unavailable(result, f"too small to tell: {result['n_treated']} people in the group and "
                                   f"{result['n_comparison']} in the comparison (at least {MIN_PEOPLE} each needed)")
    if min(c["events"] for c in result["cells"]) < MIN_EVENTS:
        return unavailable(result, f"too small to tell: fewer than {MIN_EVENTS} events in a group before or after")
    rows = pd.concat([treated, comparison], ignore_index=True)
    long = long_rows(rows, outcome)
    in_group = long[group].to_numpy(dtype=bool)
    try:
        contrast = poisson_contrast(did_design(long, in_group), long["count"].to_numpy(), long["years"].to_numpy(),
                                    long["person_id"].to_numpy(), "after_x_group", confidence=confidence)
    except ValueError as error:
        return unavailable(result, f"not computed: {error}")
    return contrast.fill(result, power)
