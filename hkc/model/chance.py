"""The list measured against chance: would the matrix's recent lists have beaten a random draw?

>>> line = chance_line(extract, definitions=defs, as_of=date(2026, 9, 30))   # doctest: +SKIP
>>> line["sentence"], line["no_better_than_chance"]                           # doctest: +SKIP

Every refresh backtests the matrix on the extract's own history.  The *origins* are the last
``quarters`` quarter ends whose outcome window (``[outcome] horizon_days``) has ended by the as-of
date (and the extract date); an origin with no event on or before it is skipped, because the
extract's history does not reach it.  At each origin, with events up to the origin only:

* **the matrix's list** — exactly the cohort the configured rule would have listed
  (``threshold_capped`` may list fewer than the cap); its precision is hits / list size, where a
  hit is an outcome event (``[outcome]`` types and roles) in the window after the origin;
* **a random draw** of the same size among the *eligible* (the people the eligibility rules allow
  to be listed): its expected precision is the outcome rate among the eligible, and its range the
  central 95% of the hypergeometric distribution of its hits;
* **prior knife events** — the same number of eligible people with the most outcome events on or
  before the origin (ties by ``person_id``), a ranking with no matrix in it.

Pooled figures sum hits and list sizes over the origins.  The pooled random range is the exact
distribution of the sum of the origins' independent hypergeometric draws.

**The difference (matrix − random) and its interval.**  Holding fixed who was eligible and who was
listed, the pooled difference is linear in the outcomes::

    D = Σ_i (hits_i − n_i K_i / N_i) / Σ_i n_i = Σ_people Σ_i c_pi y_pi / Σ_i n_i,
    c_pi = 1 − f_i when listed at origin i, −f_i when eligible but not listed, 0 otherwise,

with ``f_i = n_i / N_i`` (list size over eligible, ``K_i`` the eligible with the outcome).  At
one origin this is ``(1 − f_i)`` times the difference between the listed and the eligible who were
not listed — two disjoint groups.  The origins are not independent: a year's outcome windows
a quarter apart overlap by three quarters, and the same people are listed quarter after quarter.
So the variance is the cluster-robust (sandwich) estimate with each *person* a cluster — the
person's residuals at every origin summed before squaring, with the small-sample factor
G/(G − 1) and Student's t on G − 1 degrees of freedom (G: people eligible at any origin) — which
carries that correlation without modelling it.  The residuals are taken from the listed and
not-listed rates at each origin with one positive and one negative added to each (Agresti–Caffo),
and the variance is never below the independent-binomial variance of those rates: near zero
counts a plain sandwich claims a certainty the data do not give, and this never has zero width.
With a cap of 50, a year pools a few hundred listings and the normal approximation is sound;
below :data:`MIN_LISTED` pooled listings or :data:`MIN_POSITIVES` eligible people with the
outcome, the sample is *too small to tell*: the line says so, and the list counts as not shown to
be better than chance (``no_better_than_chance`` — the list has to earn its place).  When every
eligible person was listed at every origin the ranking chose no one: the difference is 0 by
construction and has no interval.  No seed is involved: the result is deterministic.

**Intervals for the precisions.**  One origin: Clopper–Pearson.  Pooled: Clopper–Pearson on the
effective sample size (Korn and Graubard, 1998) — the list size shrunk by the design effect that
the same person-as-cluster variance gives, never above the real list size — because a person
listed at four origins is not four independent trials.  (Clopper–Pearson is computed here, not
taken from :mod:`hkc.audit.exact`, because effective counts are fractional.)  In 150 simulated
forces with knife events at random among the eligible, the variance above matched the spread of
the estimate (standard error 0.042 against 0.043), and on the demo force it is 1.3 times the
standard error that treats every listing as independent.

What this does and does not show: police-recorded involvement after listing, not harm prevented;
a listed person may be recorded more often because they are watched more.  Nothing person-level
is returned.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.stats import beta, hypergeom, t

from hkc.dates import quarter_end, shift_quarters
from hkc.definitions import Definitions
from hkc.extract import Extract
from hkc.matrix import knife_outcome, score_people, select_cohort

__all__ = ["chance_line", "MIN_LISTED", "MIN_POSITIVES", "CONFIDENCE"]

CONFIDENCE = 0.95
MIN_LISTED = 20     # pooled listings below which the line says the sample is too small to tell
MIN_POSITIVES = 5   # pooled eligible people with the outcome below which, likewise
NO_CHOICE = ("every eligible person was listed at every origin: a random draw of the same size is the list "
             "itself, so the ranking chose no one and cannot be told from chance")


def _clopper_pearson(x: float, n: float) -> list[float] | None:
    """Clopper–Pearson interval of ``x`` of ``n``; fractional counts allowed (effective sample sizes)."""
    if n <= 0:
        return None
    alpha = 1.0 - CONFIDENCE
    low = 0.0 if x <= 0 else float(beta.ppf(alpha / 2, x, n - x + 1))
    high = 1.0 if x >= n else float(beta.ppf(1 - alpha / 2, x + 1, n - x))
    return [low, high]


def _ratio(x: float, n: float) -> float | None:
    return float(x / n) if n > 0 else None


def _origins(extract: Extract, *, horizon: int, as_of: dt.date, quarters: int) -> tuple[list[dt.date], dt.date]:
    """The last ``quarters`` quarter ends whose outcome window ends by the as-of (and extract) date."""
    end = min(as_of, extract.extract_date) if extract.extract_date else as_of
    latest = quarter_end(end - dt.timedelta(days=horizon))
    return [shift_quarters(latest, -k) for k in range(quarters - 1, -1, -1)], end


class _Origin:
    """One origin's arrays over the extract's people (row order): eligible, listed, outcome, prior top."""

    def __init__(self, extract: Extract, definitions: Definitions, origin: dt.date, positions: np.ndarray,
                 person_ids: np.ndarray):
        s, o = definitions.settings, definitions.settings.outcome
        people, events = extract.people, extract.events
        n = len(people)
        scored = score_people(people, events, catalogue=definitions.catalogue, eligibility=s.eligibility,
                              as_of=origin)
        chosen = select_cohort(scored.scores, cohort=s.cohort, rag=s.rag)
        self.origin = origin
        self.eligible = np.zeros(n, dtype=bool)
        self.eligible[positions[chosen.ranked["person_idx"].to_numpy()]] = True
        self.listed = np.zeros(n, dtype=bool)
        self.listed[positions[chosen.members["person_idx"].to_numpy()]] = True
        self.y = knife_outcome(events, people=people, start=origin, days=o.horizon_days, types=o.types,
                               roles=o.roles).astype(np.int64)
        prior = ((events["date"].to_numpy() <= np.datetime64(origin.isoformat(), "s"))
                 & events["type"].isin(o.types).to_numpy() & events["role"].isin(o.roles).to_numpy())
        count = np.bincount(positions[events["person_idx"].to_numpy()[prior]], minlength=n)
        pool = np.flatnonzero(self.eligible)
        top = pool[np.lexsort((person_ids[pool], -count[pool]))][: int(self.listed.sum())]
        self.prior_top = np.zeros(n, dtype=bool)
        self.prior_top[top] = True

    def facts(self) -> dict:
        big_n, n = int(self.eligible.sum()), int(self.listed.sum())
        k, hits = int(self.y[self.eligible].sum()), int(self.y[self.listed].sum())
        prior_hits = int(self.y[self.prior_top].sum())
        spread = None
        if n:
            lo, hi = hypergeom(big_n, k, n).ppf([(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
            spread = [float(lo) / n, float(hi) / n]
        return {"as_of": self.origin.isoformat(), "eligible": big_n, "eligible_positives": k, "listed": n,
                "hits": hits, "precision": _ratio(hits, n), "ci": _clopper_pearson(hits, n),
                "random_precision": _ratio(k, big_n) if n else None, "random_range": spread,
                "prior_knife_hits": prior_hits, "prior_knife_precision": _ratio(prior_hits, n),
                "prior_knife_ci": _clopper_pearson(prior_hits, n)}


def _pooled_rate(selected: np.ndarray, y: np.ndarray) -> tuple[int, int, list[float] | None]:
    """Hits, listings and the Korn–Graubard Clopper–Pearson interval of a list pooled over origins.

    ``selected`` and ``y`` are (origins, people); each person is a cluster."""
    a, m = (selected * y).sum(axis=0), selected.sum(axis=0)
    hits, n = int(a.sum()), int(m.sum())
    if n == 0:
        return hits, n, None
    p, clusters = hits / n, int((m > 0).sum())
    var = ((a - p * m) ** 2).sum() / n ** 2 * (clusters / (clusters - 1) if clusters > 1 else 1.0)
    n_eff = min(float(n), p * (1 - p) / var) if var > 0 else float(n)
    return hits, n, _clopper_pearson(p * n_eff, n_eff)


def _pooled_random_range(facts: list[dict]) -> list[float] | None:
    """The central 95% of the pooled precision of independent random draws, one per origin."""
    pmf, total = np.ones(1), 0
    for f in facts:
        if f["listed"]:
            pmf = np.convolve(pmf, hypergeom(f["eligible"], f["eligible_positives"], f["listed"]).pmf(
                np.arange(f["listed"] + 1)))
            total += f["listed"]
    if not total:
        return None
    cdf = np.cumsum(pmf)
    lo = int(np.searchsorted(cdf, (1 - CONFIDENCE) / 2 - 1e-12))
    hi = int(np.searchsorted(cdf, (1 + CONFIDENCE) / 2 - 1e-12))
    return [lo / total, min(hi, total) / total]


def _difference(origins: list[_Origin]) -> dict:
    """Matrix − random, pooled, with the person-clustered interval (see the module docstring)."""
    listed = np.array([o.listed for o in origins])
    eligible = np.array([o.eligible for o in origins])
    y = np.array([o.y for o in origins], dtype=np.float64)
    n_i, big_n = listed.sum(axis=1), eligible.sum(axis=1)
    h_i, k_i = (listed * y).sum(axis=1), (eligible * y).sum(axis=1)
    total = n_i.sum()
    f = np.divide(n_i, big_n, out=np.zeros(len(origins)), where=big_n > 0)
    if not ((n_i > 0) & (f < 1)).any():
        return {"estimate": 0.0, "ci": None, "method": NO_CHOICE}
    c = listed - f[:, None] * eligible
    estimate = float((h_i - f * k_i).sum() / total)
    rest_n, rest_k = big_n - n_i, k_i - h_i
    adj_list, adj_rest = (h_i + 1) / (n_i + 2), (rest_k + 1) / (rest_n + 2)  # Agresti–Caffo
    fitted = np.where(listed, adj_list[:, None], adj_rest[:, None])
    per_person = (c * (y - fitted) * eligible).sum(axis=0)
    clusters = int(eligible.any(axis=0).sum())
    sandwich = float((per_person ** 2).sum()) / total ** 2 * (clusters / (clusters - 1) if clusters > 1 else 1.0)
    floor = float(((1 - f) ** 2 * n_i * adj_list * (1 - adj_list)
                   + f ** 2 * rest_n * adj_rest * (1 - adj_rest)).sum()) / total ** 2
    half = float(t.ppf((1 + CONFIDENCE) / 2, max(clusters - 1, 1))) * max(sandwich, floor) ** 0.5
    return {"estimate": estimate, "ci": [float(estimate - half), float(estimate + half)], "method": (
        "pooled list precision minus the eligible outcome rate; 95% interval from a person-clustered sandwich "
        "variance (Agresti–Caffo-adjusted rates, never below their independent-binomial variance) and Student's t "
        "with one degree of freedom fewer than the people eligible")}


def _outcome_words(definitions: Definitions) -> str:
    o, inds = definitions.settings.outcome, definitions.catalogue.indicators
    kinds = " or ".join(inds[t].label.split(" (")[0] if t in inds else t for t in o.types)
    return f"recorded as {' or '.join(o.roles)} in {kinds} within {o.horizon_days} days"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _pct_ci(ci: list[float] | None) -> str:
    return f"[{100 * ci[0]:.0f}–{100 * ci[1]:.0f}%]" if ci else ""


def _range(spread: list[float] | None) -> str:
    return f"(95% of draws {100 * spread[0]:.0f}–{100 * spread[1]:.0f}%)" if spread else ""


def _sentence(result: dict, quarters: int) -> str:
    """The one plain line for a pack's first page."""
    if not result["available"]:
        return f"The list could not be measured against chance: {result['reason']}."
    p, origins = result["pooled"], result["origins"]
    used = len(origins)
    span = f"{origins[0]['as_of']} to {origins[-1]['as_of']}" if used > 1 else origins[0]["as_of"]
    if used < quarters:
        span += f"; the extract's history is too short for the other {quarters - used} of the last {quarters}"
    when = f"at the last {used} quarter end{'s' if used > 1 else ''} whose outcome is known ({span})"
    d = result["difference"]
    head = (f"Of the lists the matrix would have made {when}, {_pct(p['precision'])} {_pct_ci(p['ci'])} of "
            f"{p['listed']} listings were {result['outcome']}; a random draw of the same size from the eligible: "
            f"{_pct(p['random_precision'])} {_range(p['random_range'])}; the same number with the most prior "
            f"knife events: {_pct(p['prior_knife_precision'])} {_pct_ci(p['prior_knife_ci'])}")
    if d["ci"] is None:
        return head + f" — {NO_CHOICE}."
    if result["too_small"]:
        return (head + f" — too few to tell whether the ranking does better than chance ({p['listed']} listings, "
                f"{p['eligible_positives']} eligible with the outcome).")
    points = [round(100 * v) for v in (d["estimate"], *d["ci"])]
    gap = (f"{points[0]:+d} percentage point{'' if abs(points[0]) == 1 else 's'} "
           f"[{points[1]:+d} to {points[2]:+d}]")
    if d["ci"][1] < 0:
        verdict = f"the ranking did worse than a random draw ({gap})"
    elif result["no_better_than_chance"]:
        verdict = f"the ranking did no better than chance ({gap})"
    else:
        verdict = f"the ranking did better than a random draw ({gap})"
    return (head + f" — {verdict}; this measures police-recorded involvement, not harm prevented.")


def _unavailable(reason: str, base: dict, quarters: int) -> dict:
    result = base | {"available": False, "reason": reason, "origins": [], "pooled": None, "difference": None,
                     "no_better_than_chance": None, "too_small": None}
    return result | {"sentence": _sentence(result, quarters)}


def chance_line(extract: Extract, *, definitions: Definitions, as_of: dt.date, quarters: int = 4) -> dict:
    """The matrix's lists at the last ``quarters`` origins against chance (see the module docstring).

    A plain JSON-able dictionary: ``available`` (with ``reason`` when not), ``origins`` (one entry
    per usable origin: ``as_of, eligible, eligible_positives, listed, hits, precision, ci,
    random_precision, random_range, prior_knife_hits, prior_knife_precision, prior_knife_ci``),
    ``pooled`` (the same, summed over origins: ``eligible`` and ``listed`` count person-origins),
    ``difference`` (``estimate``, ``ci``, ``method``), ``no_better_than_chance``, ``too_small``,
    ``outcome`` in words, ``k`` (the cap), ``cohort_rule``, ``origins_considered``,
    ``origins_usable`` and ``sentence`` for a pack's first page.  Counts only: no person.
    """
    o = definitions.settings.outcome
    candidates, end = _origins(extract, horizon=o.horizon_days, as_of=as_of, quarters=quarters)
    base = {"as_of": as_of.isoformat(), "outcome": _outcome_words(definitions), "k": definitions.settings.cohort.size,
            "cohort_rule": definitions.settings.cohort.describe(), "quarters": quarters,
            "origins_considered": [c.isoformat() for c in candidates], "confidence": CONFIDENCE}
    events = extract.events
    first = events["date"].min().date() if len(events) else None
    usable = [c for c in candidates if first is not None and first <= c]
    base["origins_usable"] = len(usable)
    if not usable:
        start = "has no events" if first is None else f"starts on {first}"
        return _unavailable(f"the extract's history {start}, and a backtest needs events on or before "
                            f"{candidates[-1]} (a quarter end whose {o.horizon_days}-day outcome window ended "
                            f"by {end})", base, quarters)
    people = extract.people
    positions = np.full(int(people["person_idx"].max()) + 1, -1, dtype=np.int64)
    positions[people["person_idx"].to_numpy()] = np.arange(len(people))
    person_ids = people["person_id"].to_numpy().astype(str)
    origins = [_Origin(extract, definitions, c, positions, person_ids) for c in usable]
    facts = [x.facts() for x in origins]
    listed_total = sum(f["listed"] for f in facts)
    if not listed_total:
        return _unavailable(f"the cohort rule ({base['cohort_rule']}) would have listed nobody at "
                            f"{', '.join(f['as_of'] for f in facts)}", base | {"origins": facts}, quarters)
    hits, _, ci = _pooled_rate(np.array([x.listed for x in origins]), np.array([x.y for x in origins]))
    prior_hits, _, prior_ci = _pooled_rate(np.array([x.prior_top for x in origins]),
                                           np.array([x.y for x in origins]))
    expected = sum(f["random_precision"] * f["listed"] for f in facts if f["listed"])
    pooled = {"eligible": sum(f["eligible"] for f in facts),
              "eligible_positives": sum(f["eligible_positives"] for f in facts), "listed": listed_total,
              "hits": hits, "precision": hits / listed_total, "ci": ci, "random_precision": expected / listed_total,
              "random_range": _pooled_random_range(facts), "prior_knife_hits": prior_hits,
              "prior_knife_precision": prior_hits / listed_total, "prior_knife_ci": prior_ci}
    difference = _difference(origins)
    result = base | {"available": True, "origins": facts, "pooled": pooled, "difference": difference,
                     "too_small": bool(listed_total < MIN_LISTED or pooled["eligible_positives"] < MIN_POSITIVES)}
    result["no_better_than_chance"] = bool(result["too_small"] or difference["ci"] is None
                                           or difference["ci"][0] <= 0)
    return result | {"sentence": _sentence(result, quarters)}
