"""Exact and score intervals for small counts, where the bootstrap says nothing true.

A percentile bootstrap of 0 selected out of 58 gives the interval 0.00–0.00: every resample has
no one selected, and the interval claims a certainty the data cannot give.  Wherever a count behind
a rate is under the small-cell threshold, the audit uses these instead:

* :func:`rate_interval` — Clopper–Pearson (the exact binomial interval) for a proportion;
* :func:`ratio_interval` — Katz's log method for the ratio of two proportions, with 0.5 added to
  every cell of both 2×2 tables when one of them is empty (so a count of 0, or a group in which
  everyone was selected, still gives an interval of non-zero width; the lower end of a zero ratio
  is 0);
* :func:`difference_interval` — Newcombe's hybrid score method (his method 10) for the difference
  of two proportions, from Wilson score intervals.

None of them ever gives an interval of zero width (a test checks this over every count).
"""

from __future__ import annotations

import math

from scipy.stats import beta, norm

__all__ = ["EXACT_METHODS", "z_value", "rate_interval", "wilson_interval", "ratio_interval",
           "difference_interval"]

# How the provenance and the report name the methods.
EXACT_METHODS = {"rate": "Clopper–Pearson", "ratio": "Katz log (0.5 added to every cell when one is empty)",
                 "difference": "Newcombe hybrid score"}


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.96 for 0.95)."""
    return float(norm.ppf(0.5 + confidence / 2.0))


def rate_interval(x: int, n: int, confidence: float) -> list[float] | None:
    """Clopper–Pearson interval of ``x`` out of ``n``; ``None`` when ``n`` is 0.

    Examples
    --------
    >>> [round(v, 4) for v in rate_interval(0, 58, 0.95)]
    [0.0, 0.0616]
    """
    if n <= 0:
        return None
    alpha = 1.0 - confidence
    low = 0.0 if x <= 0 else float(beta.ppf(alpha / 2, x, n - x + 1))
    high = 1.0 if x >= n else float(beta.ppf(1 - alpha / 2, x + 1, n - x))
    return [low, high]


def wilson_interval(x: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of ``x`` out of ``n`` (``n`` at least 1)."""
    z = z_value(confidence)
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(x * (n - x) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio_interval(x1: int, n1: int, x2: int, n2: int, confidence: float) -> list[float] | None:
    """Katz log interval of ``(x1/n1) / (x2/n2)``; ``None`` when the ratio is undefined (``x2`` is 0).

    When a cell of either 2×2 table is empty (``x`` is 0 or ``n``), 0.5 is added to every cell
    (``x + 0.5`` of ``n + 1``), so the interval never has zero width.  The interval always holds
    the observed ratio; a ratio of 0 has 0 as its lower end.

    Examples
    --------
    >>> [round(v, 2) for v in ratio_interval(3, 40, 46, 1800, 0.95)]
    [0.95, 9.04]
    """
    if n1 <= 0 or n2 <= 0 or x2 <= 0:
        return None
    observed = (x1 / n1) / (x2 / n2)
    a1, m1, a2, m2 = float(x1), float(n1), float(x2), float(n2)
    if x1 in (0, n1) or x2 == n2:
        a1, m1, a2, m2 = a1 + 0.5, m1 + 1.0, a2 + 0.5, m2 + 1.0
    se = math.sqrt(1 / a1 - 1 / m1 + 1 / a2 - 1 / m2)
    centre = math.log((a1 / m1) / (a2 / m2))
    z = z_value(confidence)
    low, high = math.exp(centre - z * se), math.exp(centre + z * se)
    if x1 == 0:
        low = 0.0
    return [min(low, observed), max(high, observed)]


def difference_interval(x1: int, n1: int, x2: int, n2: int, confidence: float) -> list[float] | None:
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2``; ``None`` when either ``n`` is 0."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    return [d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]
