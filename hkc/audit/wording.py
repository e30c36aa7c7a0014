"""The words of the audit: metric names, numbers, percentages and intervals as the findings write them.

Shared by :mod:`hkc.audit.findings` (the sentences) and :mod:`hkc.audit.report` (the page).
Everything here reads plain values from a result dictionary, never person-level rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hkc.audit.groups import DENOMINATORS, NUMERATORS

__all__ = ["METRIC_WORDS", "NUMERATOR_DENOMINATOR", "is_number", "format_percent", "ci_text", "pct_ci_text",
           "sentence", "result_label", "listed", "compared_groups", "counts_text"]

METRIC_WORDS = {
    "selection_rate": "selection rate", "mean_score": "mean score", "base_rate": "base rate",
    "true_positive_rate": "true positive rate", "false_positive_rate": "false positive rate",
    "false_negative_rate": "false negative rate", "true_negative_rate": "true negative rate",
    "precision": "precision",
}

# The counts behind each proportion: (numerator, denominator).
NUMERATOR_DENOMINATOR = {m: (NUMERATORS[m], DENOMINATORS[m][0]) for m in NUMERATORS}


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (withheld values are strings, undefined ones ``None``)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_percent(x: float) -> str:
    """A rate as a percentage with two decimals: ``0.4485`` gives ``"44.85%"``."""
    return f"{100 * x:.2f}%"


def ci_text(ci: Any, confidence: float, fmt=lambda v: f"{v:.2f}") -> str | None:
    """``"95% CI 1.22–7.68"``; ``None`` unless ``ci`` holds two numbers."""
    if not isinstance(ci, list | tuple) or not all(is_number(v) for v in ci):
        return None
    return f"{round(100 * confidence):g}% CI {fmt(ci[0])}–{fmt(ci[1])}"


def pct_ci_text(ci: Any, confidence: float) -> str | None:
    """``"95% CI 42.65%–47.12%"``; ``None`` unless ``ci`` holds two numbers."""
    return ci_text(ci, confidence, format_percent)


def sentence(text: str) -> str:
    """``text`` with a capital first letter."""
    return text[0].upper() + text[1:]


def result_label(result: Mapping, attr: str, group: str) -> str:
    """The noun phrase naming ``group`` of ``attr`` in the findings (``labels`` of the result)."""
    return result.get("labels", {}).get(attr, {}).get(group, f"{group} people")


def listed(g: Mapping, key: str) -> list:
    """``g[key]`` when it is a list, else ``[]`` (partner copies hold ``"withheld"`` instead)."""
    value = g.get(key)
    return value if isinstance(value, list) else []


def compared_groups(a: Mapping) -> list[Mapping]:
    """The groups an attribute compares with its reference: all others, or for a pooled comparison the
    pooled group alone (its other groups repeat the attribute pooled)."""
    pooled = a.get("pooled")
    if isinstance(pooled, Mapping):
        return [g for g in a["groups"] if g["group"] == pooled.get("group")]
    return [g for g in a["groups"] if g["group"] != a["reference"]]


def counts_text(g: Mapping, ref: Mapping, metric: str) -> str:
    """``"5 of 189 against 39 of 4,513"``: the counts behind a rate and the reference's."""
    num, den = NUMERATOR_DENOMINATOR[metric]
    if not all(is_number(r.get(k)) for r in (g, ref) for k in (num, den)):
        return ""
    return f"{g[num]:,} of {g[den]:,} against {ref[num]:,} of {ref[den]:,}"
