"""``evaluate_panel``: every design on the main outcome and the secondary ones, in the shape of ``evaluation.json``.

One call runs the four designs — the naive before/after (labelled as not an effect estimate), the
difference-in-differences against the near miss, the matched comparison and the regression
discontinuity — on the main outcome (``pre_events``/``post_events``) and on every secondary pair
(``pre_<name>``/``post_<name>``), for the listed (intention to treat) and, when the panel records
interventions that differ from the listing, for those who received one (treatment on the treated).
It gathers the warnings a reader must see beside the figures and writes the verdict sentences.
Deterministic: the same panel gives the same result, whatever its row order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from hkc.errors import HkcError
from hkc.evaluation.did import did_near_miss
from hkc.evaluation.discontinuity import rd_cutoff
from hkc.evaluation.matched import matched
from hkc.evaluation.naive import naive_prepost
from hkc.evaluation.panel import check_panel, secondary_outcomes
from hkc.evaluation.verdict import verdict

__all__ = ["evaluate_panel", "DESIGNS"]

DESIGNS: dict[str, Callable[..., dict[str, Any]]] = {
    "naive_prepost": naive_prepost, "did_near_miss": did_near_miss, "matched": matched, "rd_cutoff": rd_cutoff,
}


def _run(panel: pd.DataFrame, outcome: str, group: str, options: Mapping[str, Mapping[str, Any]],
         names: Sequence[str], confidence: float, power: float) -> dict[str, dict[str, Any]]:
    return {name: DESIGNS[name](panel, outcome=outcome, group=group, confidence=confidence, power=power,
                                **options.get(name, {})) for name in names}


def _warnings(designs: Mapping[str, Mapping[str, Any]], primary: str, panel: pd.DataFrame,
              secondary: Sequence[str]) -> list[str]:
    """What a reader must see beside the figures, in words."""
    out = []
    chosen = designs.get(primary, {})
    if not chosen.get("available"):
        out.append(f"The main design ({primary}) could not be computed: {chosen.get('reason')}.")
    did = designs.get("did_near_miss", {})
    later = did.get("comparison_in_group_later")
    if later:
        out.append(f"{round(100 * later)}% of the near-miss comparison rows belong to people listed themselves within "
                   "the following window; their later listing pulls the difference-in-differences towards no effect.")
    rd = designs.get("rd_cutoff", {})
    density = rd.get("density") or {}
    if density.get("p_value") is not None and density["p_value"] < 0.05:
        out.append(f"Regression discontinuity: {density['text']}.")
    if rd.get("available") and not rd.get("sharp"):
        out.append(f"Regression discontinuity: the group is not decided by the cut-off alone (a fuzzy design was used; "
                   f"the share in the group jumps by {rd.get('first_stage', 0):.2f} at the cut-off).")
    stray = int((panel["treated"] & ~panel["listed"]).sum())
    if stray:
        out.append(f"{stray} row(s) record an intervention for a person not listed in that quarter.")
    if secondary:
        out.append(f"{len(secondary)} secondary outcome(s) are each tested by every design: with many intervals, about "
                   "one in twenty excludes no change by chance alone.")
    return out


def evaluate_panel(panel: pd.DataFrame, *, primary: str = "did_near_miss", outcome_words: str = "knife offending",
                   window_days: int = 365, width: float = 1.0, k: int = 1, caliper: float | None = None,
                   max_smd: float = 0.1, confidence: float = 0.95, power: float = 0.8,
                   designs: Sequence[str] = tuple(DESIGNS)) -> dict[str, Any]:
    """Run the designs on ``panel`` and return the ``evaluation.json`` shape.

    ``primary`` names the design the verdict leads with (never ``naive_prepost``); ``width`` is
    the near-miss width, ``k``/``caliper``/``max_smd`` the matching's settings, ``window_days`` the
    outcome window (for the diagnostics of overlapping listings).  Returns ``cohorts``,
    ``window_days``, ``outcome``, ``primary``, ``designs`` (main outcome, intention to treat),
    ``secondary`` (``{name: {design: result}}``), ``treatment_on_treated`` (the designs for those
    who received an intervention, or None when that is everyone listed), ``warnings`` and
    ``verdict``.
    """
    if primary == "naive_prepost":
        raise HkcError("evaluation: the naive before/after is not an effect estimate and cannot be the main design")
    unknown = [d for d in (primary, *designs) if d not in DESIGNS]
    if unknown:
        raise HkcError(f"evaluation: unknown design(s) {', '.join(unknown)}; known: {', '.join(DESIGNS)}")
    if primary not in designs:
        raise HkcError(f"evaluation: the main design {primary} is not among the designs run")
    panel = check_panel(panel)
    options = {"did_near_miss": {"width": width, "window_days": window_days},
               "matched": {"k": k, "caliper": caliper, "max_smd": max_smd}}
    main = _run(panel, "events", "listed", options, designs, confidence, power)
    others = secondary_outcomes(panel)
    secondary = {name: _run(panel, name, "listed", options, designs, confidence, power) for name in others}
    on_treated = None
    if not panel["treated"].equals(panel["listed"]):
        on_treated = _run(panel, "events", "treated", options, designs, confidence, power)
    result = {
        "cohorts": sorted(str(c) for c in panel["cohort"].unique()), "window_days": window_days,
        "outcome": {"column": "events", "words": outcome_words}, "primary": primary, "confidence": confidence,
        "power": power, "designs": main, "secondary": secondary, "treatment_on_treated": on_treated,
        "warnings": _warnings(main, primary, panel, others),
    }
    result["verdict"] = verdict(result, outcome_words=outcome_words)
    return result
