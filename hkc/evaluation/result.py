"""The shape every design returns, and the count model most of them fit.

Every design gives one dictionary with the same keys (``estimate``, ``ci_low``, ``ci_high``, the
rates per person-year before and after for the treated and the comparison, ``n_treated``,
``n_comparison``, ``mde``, ``sms_level``, ``label``, ``available`` and ``reason``) plus its own
extras, so the report, the CSV and the verdict read them alike.  A design that cannot be computed
says why in words (``available`` False) and carries no numbers that could be mistaken for a finding.

:func:`poisson_contrast` is the count model: a Poisson GLM (statsmodels) with log link, the log of
the exposure as offset, and cluster-robust (sandwich) standard errors by person, because the same
person appears in several quarters and their counts are not independent; the quasi-likelihood
sandwich also absorbs over-dispersion.  With few people the interval uses Student's t with one
degree of freedom fewer than the number of people (clusters), not the normal.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.genmod.families import Poisson
from statsmodels.genmod.generalized_linear_model import GLM

from hkc.evaluation.power import critical_value, mde_log_ratio

__all__ = ["base_result", "unavailable", "Contrast", "poisson_contrast", "rates", "MIN_PEOPLE", "MIN_EVENTS"]

MIN_PEOPLE = 10   # fewer people than this in a group: too small to tell
MIN_EVENTS = 5    # fewer events than this in a group and period: the count model gives no honest interval


def base_result(design: str, *, sms_level: int, label: str, group: str) -> dict[str, Any]:
    """The keys every design returns, empty; ``group`` is ``listed`` or ``treated``."""
    return {"design": design, "available": True, "reason": None, "estimate": None, "ci_low": None,
            "ci_high": None, "rate_per_person_year_before_treated": None,
            "rate_per_person_year_after_treated": None, "rate_per_person_year_before_comparison": None,
            "rate_per_person_year_after_comparison": None, "n_treated": None, "n_comparison": None,
            "mde": None, "sms_level": sms_level, "label": label, "group": group}


def unavailable(result: dict[str, Any], reason: str) -> dict[str, Any]:
    """``result`` marked as not computed, with ``reason`` in words and no estimate."""
    result.update(available=False, reason=reason, estimate=None, ci_low=None, ci_high=None, mde=None)
    return result


def rates(rows: pd.DataFrame, outcome: str = "events") -> tuple[float | None, float | None]:
    """Events per person-year before and after, over ``rows`` (``None`` without exposure)."""
    before = rows["pre_years"].sum()
    after = rows["post_years"].sum()
    return (float(rows[f"pre_{outcome}"].sum() / before) if before > 0 else None,
            float(rows[f"post_{outcome}"].sum() / after) if after > 0 else None)


@dataclass
class Contrast:
    """One coefficient of the count model: a log rate ratio with its clustered standard error."""

    log_ratio: float
    se: float
    df: float          # degrees of freedom of the interval (clusters - 1)
    clusters: int
    confidence: float

    @property
    def estimate(self) -> float:
        """The relative change: ``exp(log ratio) - 1`` (-0.30 = 30% fewer events)."""
        return math.expm1(self.log_ratio)

    @property
    def interval(self) -> tuple[float, float]:
        q = critical_value(self.confidence, self.df)
        return math.expm1(self.log_ratio - q * self.se), math.expm1(self.log_ratio + q * self.se)

    def mde(self, power: float = 0.8) -> float | None:
        return mde_log_ratio(self.se, confidence=self.confidence, power=power, df=self.df)

    def fill(self, result: dict[str, Any], power: float = 0.8) -> dict[str, Any]:
        """``result`` with the estimate, its interval and the MDE."""
        low, high = self.interval
        result.update(estimate=self.estimate, ci_low=low, ci_high=high, mde=self.mde(power),
                      log_rate_ratio=self.log_ratio, se_log_rate_ratio=self.se, clusters=self.clusters)
        return result


def poisson_contrast(design: pd.DataFrame, counts: np.ndarray, years: np.ndarray, people: np.ndarray,
                     term: str, *, weights: np.ndarray | None = None, confidence: float = 0.95) -> Contrast:
    """Fit ``log E[count] = design @ beta + log(years)`` and return the coefficient ``term``.

    ``design`` holds the regressors as columns (no formula: the designs build their own dummies);
    ``people`` the person each row belongs to (the clusters); ``weights`` optional analytic weights
    (matched controls).  Raises :class:`ValueError` when the fit does not converge or the term's
    standard error is not finite.
    """
    groups = pd.factorize(people)[0]
    clusters = int(groups.max()) + 1
    with warnings.catch_warnings():
        # statsmodels warns that cluster-robust errors are "not fully supported" with var_weights; the
        # sandwich it computes with them matches the hand-computed one (tests/test_evaluation_designs.py)
        warnings.simplefilter("ignore")
        model = GLM(counts.astype(float), design.to_numpy(dtype=float), family=Poisson(),
                       offset=np.log(years.astype(float)), var_weights=weights)
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, maxiter=200)
    position = list(design.columns).index(term)
    log_ratio, se = float(fit.params[position]), float(fit.bse[position])
    if not fit.converged or not math.isfinite(log_ratio) or not math.isfinite(se) or se <= 0:
        raise ValueError("the count model did not converge")
    return Contrast(log_ratio=log_ratio, se=se, df=float(clusters - 1), clusters=clusters, confidence=confidence)
