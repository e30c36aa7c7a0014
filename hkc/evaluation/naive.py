"""The naive before/after: the listed group's outcome rate after the cohort date against before.

This is the seeds' design ("76% fewer offences, 12 months after against 12 months before") and it
is **not an effect estimate**: people are listed at a peak of their recorded events, and a peak
is followed by a fall whether or not anything is done (regression to the mean).  On a synthetic
force with no intervention at all it shows a fall of about 30%.  hkc computes it so that it can be
shown beside the honest designs, always labelled.

The figure is the ratio of the two pooled rates (events per person-year after over before), from
a Poisson model of the counts with the log exposure as offset and errors clustered by person (a
person listed in several quarters counts in each, and their windows overlap).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hkc.evaluation.panel import long_rows
from hkc.evaluation.result import MIN_EVENTS, MIN_PEOPLE, base_result, poisson_contrast, rates, unavailable

__all__ = ["naive_prepost", "NAIVE_LABEL"]

NAIVE_LABEL = ("NOT an effect estimate: the listed group's rate in the window after listing against the window "
               "before. People are listed at a peak of their recorded events and would fall anyway (regression to "
               "the mean), so a fall here is what selection at a peak produces even with no effect at all.")


def naive_prepost(panel: pd.DataFrame, *, outcome: str = "events", group: str = "listed",
                  confidence: float = 0.95, power: float = 0.8) -> dict[str, Any]:
    """After-versus-before for the rows in ``group`` (Maryland level 1); see the module docstring.

    ``panel`` is a checked panel (:func:`hkc.evaluation.check_panel`).  Returns the common result
    shape with ``n_comparison`` None (there is no comparison group).
    """
    result = base_result("naive_prepost", sms_level=1, label=NAIVE_LABEL, group=group)
    rows = panel[panel[group]]
    before, after = rates(rows, outcome)
    people = rows["person_id"].nunique()
    result.update(n_treated=int(people), n_rows_treated=len(rows), rate_per_person_year_before_treated=before,
                  rate_per_person_year_after_treated=after,
                  events_before=int(rows[f"pre_{outcome}"].sum()), events_after=int(rows[f"post_{outcome}"].sum()))
    if people < MIN_PEOPLE:
        return unavailable(result, f"too small to tell: {people} people in the group (at least {MIN_PEOPLE} needed)")
    if min(result["events_before"], result["events_after"]) < MIN_EVENTS:
        return unavailable(result, f"too small to tell: fewer than {MIN_EVENTS} events before or after")
    long = long_rows(rows, outcome)
    design = pd.DataFrame({"constant": 1.0, "after": long["post"].astype(float)})
    try:
        contrast = poisson_contrast(design, long["count"].to_numpy(), long["years"].to_numpy(),
                                    long["person_id"].to_numpy(), "after", confidence=confidence)
    except ValueError as error:
        return unavailable(result, f"not computed: {error}")
    return contrast.fill(result, power)
