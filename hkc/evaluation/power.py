"""Minimum detectable effects: the smallest change in the outcome rate a design could reliably see.

A partnership with 44 children on its list needs to know, before it reads an estimate, whether
its cohort could show an effect of any plausible size at all.  Every design reports its minimum
detectable effect (MDE) at 80% power in a two-sided test at the 5% level, from the standard error
the design actually achieved (Bloom 1995): on the log rate-ratio scale the MDE is
``(q(1 - alpha/2) + z(power)) * se``, where ``q`` is the critical value the interval used (a
t quantile when there are few people to cluster on); as a relative fall it is
``1 - exp(-MDE)``.  For the discontinuity, whose jump is on the rate scale, it is the same
multiple of the standard error divided by the rate just below the cut-off.

:func:`planned_mde` answers the same question before any outcome is seen, from counts alone.
"""

from __future__ import annotations

import math

from scipy.stats import norm
from scipy.stats import t as student_t

__all__ = ["critical_value", "mde_log_ratio", "mde_linear", "planned_mde"]


def critical_value(confidence: float = 0.95, df: float | None = None) -> float:
    """The two-sided critical value: the normal quantile, or Student's t with ``df`` degrees of freedom."""
    p = 0.5 + confidence / 2.0
    return float(norm.ppf(p) if df is None or not math.isfinite(df) else student_t.ppf(p, df))


def mde_log_ratio(se_log: float, *, confidence: float = 0.95, power: float = 0.8,
                  df: float | None = None) -> float | None:
    """The smallest relative fall (0.25 = 25% fewer events) detectable with ``power``, given the
    standard error of a log rate ratio; ``None`` when the standard error is not a positive number.

    >>> round(mde_log_ratio(0.1), 3)
    0.244
    """
    if se_log is None or not math.isfinite(se_log) or se_log <= 0:
        return None
    multiple = critical_value(confidence, df) + float(norm.ppf(power))
    return float(1.0 - math.exp(-multiple * se_log))


def mde_linear(se: float, baseline: float, *, confidence: float = 0.95, power: float = 0.8) -> float | None:
    """The smallest relative change detectable when the effect is estimated on the rate scale
    with standard error ``se`` against a ``baseline`` rate; ``None`` without a positive baseline."""
    if se is None or baseline is None or not math.isfinite(se) or se <= 0 or not baseline > 0:
        return None
    return float((critical_value(confidence) + float(norm.ppf(power))) * se / baseline)


def planned_mde(events_treated: float, events_comparison: float, *, periods: int = 2,
                overdispersion: float = 1.0, confidence: float = 0.95, power: float = 0.8) -> float | None:
    """The MDE of a rate-ratio comparison planned from expected event counts per group and period.

    The variance of a log rate ratio of Poisson counts is the sum of the reciprocal counts; a
    difference-in-differences (``periods`` 2) has four cells, a single comparison (``periods`` 1)
    two; ``overdispersion`` (variance over mean, 1 for Poisson) scales it.

    >>> round(planned_mde(200, 200, periods=1), 2)
    0.24
    """
    if events_treated <= 0 or events_comparison <= 0:
        return None
    variance = overdispersion * periods * (1.0 / events_treated + 1.0 / events_comparison)
    return mde_log_ratio(math.sqrt(variance), confidence=confidence, power=power)
