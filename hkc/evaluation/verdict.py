"""The verdict: plain-English sentences from an evaluation result, the naive figure beside the honest one.

The first sentence is the primary design's ("compared with similar young people ranked just below
the cut-off who were not listed, knife offending changed by −4% [−20%, +12%]: no detectable effect
at this size …"); the second always puts the simple before/after beside it with the
regression-to-the-mean explanation, so the naive figure is never read alone; then one sentence per
other design.  A design that could not be computed says why; an interval that includes no change
never becomes "it worked" or "it did not work"; a design too weak to see a plausible effect says
"too small to tell".  The sentences read the result dictionary only, never person-level rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["verdict", "design_sentence", "signed_percent", "DESIGN_NAMES", "COMPARED_WITH", "WEAK_MDE"]

DESIGN_NAMES = {"naive_prepost": "the simple before/after", "did_near_miss": "the difference-in-differences "
                "against the near miss", "matched": "the matched comparison", "rd_cutoff": "the regression "
                "discontinuity at the cut-off"}
COMPARED_WITH = {
    "did_near_miss": "similar young people ranked just below the cut-off who were not listed",
    "matched": "never-listed young people matched on score, indicator counts, age and sex",
    "rd_cutoff": "young people just below the cut-off score",
}
WEAK_MDE = 0.5   # a design that cannot detect a fall smaller than this is too small to tell
GROUP_WORDS = {"listed": "the listed", "treated": "those who received an intervention"}


def signed_percent(value: float) -> str:
    """``-0.04`` as ``"−4%"``, ``0.12`` as ``"+12%"`` (a true minus sign; 0 unsigned)."""
    rounded = round(100 * value)
    if rounded == 0:
        return "0%"
    return f"{'+' if rounded > 0 else '−'}{abs(rounded)}%"


def _figure(result: Mapping[str, Any]) -> str:
    """``"−4% [−20%, +12%]"``."""
    return (f"{signed_percent(result['estimate'])} [{signed_percent(result['ci_low'])}, "
            f"{signed_percent(result['ci_high'])}]")


def _reading(result: Mapping[str, Any]) -> str:
    """What the interval says, in words, with the minimum detectable effect when it includes 0."""
    mde = result.get("mde")
    if result["ci_low"] <= 0 <= result["ci_high"]:
        if mde is None:
            return "no detectable effect at this size"
        text = ("no detectable effect at this size (at this size no fall, however large, could be reliably "
                "detected)" if mde >= 1 else
                f"no detectable effect at this size (this design could reliably detect only a fall of about "
                f"{round(100 * mde)}% or more)")
        return text + ("; too small to tell" if mde >= WEAK_MDE else "")
    direction = "fall" if result["ci_high"] < 0 else "rise"
    return f"a {direction} larger than chance alone would give at this size"


def design_sentence(name: str, result: Mapping[str, Any], outcome_words: str) -> str:
    """One design's sentence: its figure and reading, or why it could not be computed."""
    label = DESIGN_NAMES.get(name, name)
    if not result.get("available") or result.get("estimate") is None:
        return f"{label[0].upper()}{label[1:]} could not be computed: {result.get('reason') or 'no reason given'}."
    if name == "naive_prepost":
        return (f"{label[0].upper()}{label[1:]} shows {outcome_words} changing by {_figure(result)} for "
                f"{GROUP_WORDS.get(result.get('group'), 'the listed')}; it is not an effect estimate (level "
                f"{result['sms_level']} on the Maryland scale).")
    return (f"{label[0].upper()}{label[1:]} (level {result['sms_level']} on the Maryland scale): {outcome_words} "
            f"changed by {_figure(result)}: {_reading(result)}.")


def _primary_sentence(name: str, result: Mapping[str, Any], outcome_words: str) -> str:
    if not result.get("available") or result.get("estimate") is None:
        reason = result.get("reason") or "no reason given"
        prefix = "" if reason.startswith("too small to tell") else "too small to tell or not computable: "
        return (f"Did it work? {DESIGN_NAMES.get(name, name)[0].upper()}{DESIGN_NAMES.get(name, name)[1:]}, the "
                f"main design, could not be computed ({prefix}{reason}), so this evaluation cannot say.")
    who = COMPARED_WITH.get(name, "the comparison group")
    return (f"Compared with {who}, {outcome_words} for {GROUP_WORDS.get(result.get('group'), 'the listed')} changed "
            f"by {_figure(result)} (95% interval): {_reading(result)}.")


def _naive_sentence(result: Mapping[str, Any] | None, outcome_words: str) -> str | None:
    if result is None or not result.get("available") or result.get("estimate") is None:
        return None
    figure = signed_percent(result["estimate"])
    tail = ("which is what selection at a peak produces without any effect" if result["estimate"] < 0 else
            "and even a fall there would be what selection at a peak produces without any effect")
    return (f"The simple before/after shows {figure} ({outcome_words}, the window after listing against the "
            f"window before), {tail}: people are listed at a peak of their recorded events and would fall anyway "
            f"(regression to the mean), so it is not an effect estimate.")


def verdict(evaluation: Mapping[str, Any], *, outcome_words: str = "knife offending") -> list[str]:
    """The verdict sentences for an :func:`~hkc.evaluation.evaluate_panel` result (main outcome)."""
    designs = evaluation.get("designs", {})
    primary = evaluation.get("primary", "did_near_miss")
    sentences = []
    if primary in designs:
        sentences.append(_primary_sentence(primary, designs[primary], outcome_words))
    naive = _naive_sentence(designs.get("naive_prepost"), outcome_words)
    if naive:
        sentences.append(naive)
    for name, result in designs.items():
        if name not in (primary, "naive_prepost"):
            sentences.append(design_sentence(name, result, outcome_words))
    return sentences
