"""A small person-level panel simulator with a planted effect, for the evaluation designs' tests.

Why: the designs of :mod:`hkc.evaluation` must be held to account on data whose truth is known,
fast enough for unit tests and a benchmark (the full synthetic force of the quarters issue is too
slow to run twenty times in a test).  What it simulates, one quarter at a time:

* every person has a stable knife-event rate (gamma-distributed between people) times a
  *transient* factor that wanders (a log-AR(1) over quarters), so a person seen at a peak of events
  would fall back towards their own level anyway — **regression to the mean**, the trap the naive
  before/after falls into;
* at each cohort quarter end, the eligible (aged 10-24 with at least one knife event in the last
  four quarters) are scored by a noisy function of their recent events (knife events with a decay,
  intelligence reports, violence), ranked, and listed by the ``threshold_capped`` rule (every
  eligible person at or above ``threshold``, at most ``cohort_size``; ties broken at random, as
  ties at the cut-off are in any real list);
* a listed person is treated with probability ``adopt_rate``; a treated person's rate is
  multiplied by ``1 - effect`` for the ``effect_quarters`` after the cohort date (not compounded
  when treated again).

The truth is computed from the expected (not the drawn) events: over the treated rows, the post-window
expected events with the effect divided by those without it, minus 1 (``-effect`` exactly when the
effect lasts the whole window); the same over the listed rows is the truth for intention to treat.

>>> sim = simulate_panel(1, n_people=1500, quarters=4, cohort_size=30, effect=0.3)
>>> round(sim.true_effect_treated, 2)
-0.3
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedPanel", "simulate_panel"]

FIRST_COHORT = dt.date(2025, 3, 31)
QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))


@dataclass
class SimulatedPanel:
    """The panel (the columns :mod:`hkc.evaluation` reads), and the truth it was drawn from."""

    panel: pd.DataFrame
    true_effect_treated: float   # relative change in the treated's post-window rate caused by treatment
    true_effect_listed: float    # the same over every listed row (intention to treat)


def _quarter_date(index: int) -> dt.date:
    """The end of the quarter ``index`` quarters after :data:`FIRST_COHORT` (negative: before)."""
    months = FIRST_COHORT.year * 4 + (FIRST_COHORT.month - 3) // 3 + index
    year, q = divmod(months, 4)
    month, day = QUARTER_ENDS[q]
    return dt.date(year, month, day)


def simulate_panel(seed: int, n_people: int = 3000, quarters: int = 4, cohort_size: int = 50,
                   effect: float = 0.0, *, adopt_rate: float = 1.0, effect_quarters: int | None = None,
                   threshold: float = 30.0, window_quarters: int = 4, mean_rate: float = 0.25,
                   heterogeneity: float = 2.0, persistence: float = 0.8, transient_sd: float = 0.3,
                   secondary: bool = True) -> SimulatedPanel:
    """Simulate a panel: one row per (person, cohort quarter) for everyone eligible at that quarter.

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same panel.
    n_people, quarters, cohort_size
        People in the force, cohort quarters (consecutive, from 2025Q1), and the list's cap.
    effect : float
        The treatment's multiplicative effect on the rate: ``0.3`` lowers it by 30%.
    adopt_rate : float
        The chance that a listed person is treated (1: every listed person).
    effect_quarters : int, optional
        How long the effect lasts after the cohort date (default: the outcome window).
    threshold : float
        The lowest score listed (``threshold_capped``).
    window_quarters : int
        The outcome window before and after each cohort date, in quarters.
    mean_rate, heterogeneity, persistence, transient_sd
        Knife events per person-quarter on average; the gamma shape's inverse (between-person
        spread); the AR(1) coefficient and the standard deviation of the transient log-factor.
    secondary : bool
        Add a secondary outcome pair (``pre_violence``, ``post_violence``), unaffected by treatment.
    """
    rng = np.random.default_rng(seed)
    effect_quarters = window_quarters if effect_quarters is None else effect_quarters
    burn = window_quarters + 8
    span = burn + quarters + window_quarters          # simulated quarters; cohort q sits at burn + q
    stable = rng.gamma(1.0 / heterogeneity, mean_rate * heterogeneity, n_people)
    age0 = rng.uniform(6.0, 25.0, n_people) - 0.25 * burn   # age at the first cohort date minus the burn-in
    sex = rng.choice(np.array(["F", "M"]), n_people, p=[0.2, 0.8])
    transient = rng.normal(0.0, transient_sd, n_people)
    innovation_sd = transient_sd * np.sqrt(1.0 - persistence ** 2)
    base = np.empty((span, n_people))                     # expected events without any treatment
    multiplier = np.ones((span, n_people))
    events = np.zeros((span, n_people), dtype=np.int64)
    violence = np.zeros((span, n_people), dtype=np.int64)
    ages = age0[None, :] + 0.25 * np.arange(span)[:, None]
    in_range = (ages >= 10.0) & (ages < 25.0)
    frames = []
    for t in range(span):
        transient = persistence * transient + rng.normal(0.0, innovation_sd, n_people)
        base[t] = stable * np.exp(transient - transient_sd ** 2 / 2) * in_range[t]
        events[t] = rng.poisson(base[t] * multiplier[t])
        violence[t] = rng.poisson(1.5 * base[t] + 0.05 * in_range[t])
        q = t - burn
        if 0 <= q < quarters:
            frames.append(_cohort(rng, t, q, events, violence, multiplier, in_range, ages, sex,
                                  cohort_size=cohort_size, threshold=threshold, window=window_quarters,
                                  adopt_rate=adopt_rate, effect=effect, effect_quarters=effect_quarters))
    rows = []
    for t, eligible, frame in frames:                     # the post windows, now that they have happened
        post = slice(t + 1, t + 1 + window_quarters)
        frame["post_events"] = events[post][:, eligible].sum(axis=0)
        frame["post_years"] = 0.25 * in_range[post][:, eligible].sum(axis=0)
        frame["post_violence"] = violence[post][:, eligible].sum(axis=0)
        frame["_expected_base"] = base[post][:, eligible].sum(axis=0)
        frame["_expected_actual"] = (base[post] * multiplier[post])[:, eligible].sum(axis=0)
        rows.append(frame)
    panel = pd.concat(rows, ignore_index=True)
    truth = {}
    for column in ("treated", "listed"):
        chosen = panel[panel[column]]
        truth[column] = (float(chosen["_expected_actual"].sum() / chosen["_expected_base"].sum() - 1.0)
                         if len(chosen) and chosen["_expected_base"].sum() > 0 else 0.0)
    panel = panel.drop(columns=["_expected_actual", "_expected_base"])
    if not secondary:
        panel = panel.drop(columns=["pre_violence", "post_violence"])
    return SimulatedPanel(panel=panel, true_effect_treated=truth["treated"], true_effect_listed=truth["listed"])


def _cohort(rng: np.random.Generator, t: int, q: int, events: np.ndarray, violence: np.ndarray,
            multiplier: np.ndarray, in_range: np.ndarray, ages: np.ndarray, sex: np.ndarray,
            *, cohort_size: int, threshold: float, window: int, adopt_rate: float, effect: float,
            effect_quarters: int) -> tuple[int, np.ndarray, pd.DataFrame]:
    """Score, rank and list the eligible at quarter ``t`` and treat the listed: ``(t, eligible, rows)``.

    The rows have no post-window columns yet (those quarters have not been drawn).
    """
    pre = slice(t - window + 1, t + 1)
    recent = events[pre].sum(axis=0)
    eligible = np.flatnonzero(in_range[t] & (recent > 0))
    decay = np.linspace(0.4, 1.0, window)[:, None]        # the latest quarter counts most
    knife_points = 10.0 * (decay * events[pre][:, eligible]).sum(axis=0)
    n_intel = rng.poisson(1.0 + 2.0 * recent[eligible] * rng.uniform(0.3, 1.0, len(eligible)))
    n_violence = violence[pre][:, eligible].sum(axis=0)
    score = np.round(knife_points + 3.0 * n_intel + 2.0 * n_violence)
    order = np.lexsort((rng.random(len(eligible)), -score))      # score high first, ties at random
    rank = np.empty(len(eligible), dtype=np.int64)
    rank[order] = np.arange(1, len(eligible) + 1)
    listed = (score >= threshold) & (rank <= cohort_size)
    cutoff = float(score[listed].min()) if listed.sum() >= cohort_size else float(threshold)
    treated = listed & (rng.random(len(eligible)) < adopt_rate)
    stop = min(t + 1 + effect_quarters, multiplier.shape[0])
    multiplier[t + 1:stop, eligible[treated]] = 1.0 - effect
    frame = pd.DataFrame({
        "person_id": [f"P{i:05d}" for i in eligible],
        "cohort": _quarter_date(q), "listed": listed, "rank": rank, "score": score, "cutoff": cutoff,
        "pre_events": recent[eligible], "pre_years": 0.25 * in_range[pre][:, eligible].sum(axis=0),
        "age": np.floor(ages[t, eligible]).astype(int), "sex": sex[eligible],
        "n_knife": recent[eligible], "n_intel": n_intel, "n_violence": n_violence,
        "treated": treated, "pre_violence": n_violence,
    })
    return t, eligible, frame
