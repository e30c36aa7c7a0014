"""Did it work? The estimators of ``hkc evaluate``: the naive before/after beside honest comparison designs.

The face of the package: other packages import from here; modules inside it import each other
directly.  The input is a person-level panel (one row per eligible person and cohort quarter; see
:mod:`hkc.evaluation.panel`); each design returns one dictionary of the same shape (see
:mod:`hkc.evaluation.result`); :func:`evaluate_panel` runs them all.  What each module does:

=====================================  ============================================================
:mod:`hkc.evaluation.panel`            The panel's columns and checks, and the samples designs draw (near miss, never listed).
:mod:`hkc.evaluation.result`           The shape every design returns; the Poisson count model with person-clustered errors.
:mod:`hkc.evaluation.power`            Minimum detectable effects at 80% power, from a design's standard error or planned counts.
:mod:`hkc.evaluation.naive`            The naive before/after for the listed — labelled NOT an effect estimate (level 1).
:mod:`hkc.evaluation.did`              Difference-in-differences against the near miss ranked just below the cut-off (level 3).
:mod:`hkc.evaluation.matched`          Nearest-neighbour matching to never-listed people, balance table, estimate only when balanced (level 3).
:mod:`hkc.evaluation.discontinuity`    Regression discontinuity at the cut-off score with ``rdrobust``, density check with ``rddensity`` (level 4).
:mod:`hkc.evaluation.verdict`          The plain-English verdict: the primary design's figure, the naive one beside it, explained.
:mod:`hkc.evaluation.evaluate`         ``evaluate_panel``: every design, main and secondary outcomes, warnings and verdict.
:mod:`hkc.evaluation.build`            ``build_panel``: the panel from the history's stored runs and a later extract.
:mod:`hkc.evaluation.event_study`      Outcome rates quarter by quarter around the cohort date, listed and near miss.
:mod:`hkc.evaluation.report`           ``evaluation.json``, ``evaluation.csv`` and the one-page ``evaluation.html``.
:mod:`hkc.evaluation.runner`           ``hkc evaluate``: the input checks, the panel, the designs, the three files.
=====================================  ============================================================

Libraries: statsmodels (Poisson GLM, cluster-robust errors), rdrobust and rddensity (the
discontinuity and its density test), scikit-learn (matching).  ``rdrobust`` and ``rddensity``
pull in matplotlib and plotnine (seconds to import), so :mod:`hkc.evaluation.discontinuity`
imports them only when a discontinuity is run.
"""

from hkc.evaluation.build import SECONDARY, Outcome, build_panel, main_outcome, parse_cohorts, read_aliases
from hkc.evaluation.did import did_near_miss
from hkc.evaluation.discontinuity import rd_cutoff
from hkc.evaluation.evaluate import DESIGNS, evaluate_panel
from hkc.evaluation.event_study import event_study
from hkc.evaluation.matched import balance_table, matched
from hkc.evaluation.naive import naive_prepost
from hkc.evaluation.panel import (
    REQUIRED,
    check_panel,
    near_miss,
    never_listed,
    other_listings,
    secondary_outcomes,
)
from hkc.evaluation.power import mde_linear, mde_log_ratio, planned_mde
from hkc.evaluation.report import csv_rows, write_evaluation
from hkc.evaluation.runner import run_evaluation
from hkc.evaluation.verdict import design_sentence, signed_percent, verdict

__all__ = [
    "DESIGNS",
    "Outcome",
    "REQUIRED",
    "SECONDARY",
    "balance_table",
    "build_panel",
    "check_panel",
    "csv_rows",
    "design_sentence",
    "did_near_miss",
    "evaluate_panel",
    "event_study",
    "main_outcome",
    "matched",
    "mde_linear",
    "mde_log_ratio",
    "naive_prepost",
    "near_miss",
    "never_listed",
    "other_listings",
    "parse_cohorts",
    "planned_mde",
    "rd_cutoff",
    "read_aliases",
    "run_evaluation",
    "secondary_outcomes",
    "signed_percent",
    "verdict",
    "write_evaluation",
]
