"""Regression discontinuity at the cut-off: people just above it against people just below.

Just either side of the cut-off score, people were scored alike on the same records, and only the
list separates them; so whatever regression to the mean follows a peak is the same on both sides,
and a jump in the outcome at the cut-off is what listing did, for people near the cut-off.  hkc
centres each quarter's scores at that quarter's cut-off and pools the quarters.

* **Estimate**: ``rdrobust`` (Calonico, Cattaneo & Titiunik): local-linear fits either side of the
  cut-off with a triangular kernel, a data-driven (MSE-optimal) bandwidth, robust bias-corrected
  95% intervals, errors clustered by person (the same person is in several quarters; ``cr1``).
  The outcome is the rate per person-year after the cohort date, each row weighted by its exposure.
* **Ties**: a list breaks ties on the cut-off score by other rules (recency, then id), so a person
  on the cut-off score who was not listed lost the tie-break: they are placed just below the
  cut-off (by :data:`TIE_OFFSET`), as the list's own order places them.
* **Sharp or fuzzy**: when the group is then exactly the rows at or above the cut-off, the design
  is sharp.  When it is not (people listed but not treated when the group is ``treated``, or
  treated without being listed), ``rdrobust``'s fuzzy design is used: the jump in the outcome over
  the jump in the share in the group (reported as ``first_stage``); with a first stage under 0.5
  the result is not given.
* **Relative change**: the bias-corrected jump (the centre of the robust interval; the
  conventional one is kept as ``estimate_conventional``) divided by the rate just below the cut-off
  (the left-hand fit's intercept).  Its interval adds, when that widens it, the
  uncertainty of the rate below (a delta-method term) — never narrower than the robust interval
  divided by the rate below.
* **Manipulation check**: ``rddensity`` (Cattaneo, Jansson & Ma) tests whether the density of
  scores jumps at the cut-off — more people just above than the trend predicts is a sign of scores
  pushed over it.  It is reported, not acted on; on a capped list with whole-number scores it is
  only a rough check.

What it cannot rule out: it estimates the effect *for people near the cut-off* only, and it rests
on the outcome being smooth in the score apart from the list.  Maryland level 4.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from hkc.evaluation.power import critical_value, mde_linear
from hkc.evaluation.result import MIN_PEOPLE, base_result, rates, unavailable

__all__ = ["rd_cutoff", "RD_LABEL", "MIN_FIRST_STAGE"]

MIN_FIRST_STAGE = 0.5
TIE_OFFSET = 1e-6   # how far below the cut-off a person on the cut-off score who lost the tie-break is placed
RD_LABEL = ("Regression discontinuity: the outcome rate after the cohort date for people just above the cut-off "
            "score against people just below it, quarters pooled. People either side were scored alike, so the fall "
            "that follows a peak is the same on both sides. It shows the effect only for people near the cut-off, "
            "and rests on the outcome changing smoothly with the score apart from the list; people just below are "
            "often listed in a later quarter, which pulls the estimate towards no effect.")


def _quiet(function, *args, **kwargs):
    """Call ``function`` with its warnings and printed notes silenced (the result carries what matters)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def _density(x: np.ndarray) -> dict[str, Any]:
    """The ``rddensity`` manipulation test at 0: its p-value and a sentence."""
    import rddensity  # optional: heavy (imports matplotlib and plotnine); only when the RD runs

    try:
        test = _quiet(rddensity.rddensity, X=x, c=0.0)
        p = float(test.test["p_jk"])
    except Exception as error:  # noqa: BLE001 - the library raises bare Exceptions on small or lumpy data
        return {"p_value": None, "text": f"the density check could not be computed ({error})"}
    if not math.isfinite(p):
        return {"p_value": None, "text": "the density check could not be computed (too few distinct scores)"}
    text = ("no sign of people bunched on one side of the cut-off" if p >= 0.05 else
            "the number of people changes sharply at the cut-off: scores may have been pushed across it, and "
            "the discontinuity may be biased")
    return {"p_value": p, "text": f"{text} (density test p = {p:.2f})"}


def rd_cutoff(panel: pd.DataFrame, *, outcome: str = "events", group: str = "listed", confidence: float = 0.95,
              power: float = 0.8) -> dict[str, Any]:
    """The pooled regression discontinuity (see the module docstring).

    Extras: ``sharp``, ``first_stage`` (fuzzy only), ``bandwidth`` (left/right, in score points),
    ``effective_n_left``/``effective_n_right`` (rows within the bandwidth), ``jump`` (events per
    person-year) with ``jump_ci``, ``rate_below_cutoff`` and ``density``.
    """
    result = base_result("rd_cutoff", sms_level=4, label=RD_LABEL, group=group)
    rows = panel[panel["post_years"] > 0]
    x = (rows["score"] - rows["cutoff"]).to_numpy(dtype=float, copy=True)
    y = (rows[f"post_{outcome}"] / rows["post_years"]).to_numpy(dtype=float)
    d = rows[group].to_numpy(dtype=bool)
    ties = (x == 0) & ~rows["listed"].to_numpy(dtype=bool)   # on the cut-off score but lost the tie-break
    x[ties] = -TIE_OFFSET
    above = x >= 0
    sharp = bool(np.array_equal(d, above))
    result.update(sharp=sharp, share_off_rule=float(np.mean(d != above)) if len(d) else None,
                  density=_density(x) if len(x) >= 2 * MIN_PEOPLE else None)
    people_above = rows.loc[above, "person_id"].nunique()
    people_below = rows.loc[~above, "person_id"].nunique()
    if min(people_above, people_below) < MIN_PEOPLE:
        return unavailable(result, f"too small to tell: {people_above} people at or above the cut-off and "
                                   f"{people_below} below (at least {MIN_PEOPLE} each needed)")
    import rdrobust  # optional: heavy (imports matplotlib and plotnine); only when the RD runs

    kwargs = {"c": 0.0, "cluster": pd.factorize(rows["person_id"])[0], "weights": rows["post_years"].to_numpy(),
              "level": round(100 * confidence)}
    try:
        fuzzy = {} if sharp else {"fuzzy": d.astype(float)}
        fit = _quiet(rdrobust.rdrobust, y, x, **kwargs, **fuzzy)
    except Exception as error:  # noqa: BLE001 - rdrobust raises bare Exceptions on small or lumpy data
        return unavailable(result, f"too small to tell: the discontinuity could not be fitted ({error})")
    h_left, h_right = (float(v) for v in fit.bws.loc["h"])
    n_left, n_right = (int(v) for v in fit.N_h)
    within = np.abs(x) <= max(h_left, h_right)
    near_above, near_below = rows[within & above], rows[within & ~above]
    result.update(bandwidth={"left": h_left, "right": h_right}, effective_n_left=n_left, effective_n_right=n_right,
                  n_treated=int(near_above["person_id"].nunique()), n_comparison=int(near_below["person_id"].nunique()),
                  clusters=int(fit.n_clust) if fit.n_clust is not None else None)
    for side, near in (("treated", near_above), ("comparison", near_below)):
        before, after = rates(near, outcome)
        result[f"rate_per_person_year_before_{side}"], result[f"rate_per_person_year_after_{side}"] = before, after
    if not sharp:
        first = float(fit.tau_T.iloc[0, 0])
        result["first_stage"] = first
        if not first >= MIN_FIRST_STAGE:
            return unavailable(result, f"not computed: listing is not decided by the cut-off (the share in the group "
                                       f"jumps by only {first:.2f} there; at least {MIN_FIRST_STAGE} needed)")
    if min(n_left, n_right) < MIN_PEOPLE:
        return unavailable(result, f"too small to tell: {n_right} rows just above the cut-off and {n_left} just below "
                                   f"it within the bandwidth (at least {MIN_PEOPLE} each needed)")
    jump, jump_bc = float(fit.coef.iloc[0, 0]), float(fit.coef.iloc[1, 0])
    se = float(fit.se.iloc[2, 0])
    low, high = (float(v) for v in fit.ci.iloc[2])
    base = float(fit.beta_p_l[0, 0])                   # the outcome's fit at the cut-off, from below
    result.update(jump=jump_bc, jump_conventional=jump, jump_ci=[low, high], se_jump=se, rate_below_cutoff=base)
    if not base > 0:
        return unavailable(result, "not computed: the outcome rate just below the cut-off is estimated at zero or "
                                   "below, so a relative change has no meaning")
    relative = jump_bc / base
    var_base = float(fit.V_rb_l[0, 0]) if sharp else 0.0   # fuzzy: the library's matrix is not the rate's
    extra = max(0.0, relative ** 2 + 2.0 * relative) * var_base
    half = critical_value(confidence) * math.sqrt(se ** 2 + extra) / base
    result.update(estimate=relative, estimate_conventional=jump / base, ci_low=max(-1.0, relative - half),
                  ci_high=relative + half, mde=mde_linear(se, base, confidence=confidence, power=power))
    return result
