"""Scores, eligibility and rationale: who may be listed, and the evidence behind every point.

>>> result = score_people(extract.people, extract.events, catalogue=defs.catalogue,    # doctest: +SKIP
...                       eligibility=defs.settings.eligibility, as_of=date(2026, 9, 30))

Risk and vulnerability are separate axes: being a victim never adds a risk point (the catalogue
refuses a victim role on the risk axis).  A person is *eligible* for the cohort only when all of
these hold at the as-of date (settings in ``config/hkc.toml`` ``[eligibility]``):

* age within ``min_age``–``max_age``;
* at least one weapon-related risk event in the review window whose outcome qualifies — or, if
  the only weapon evidence is intelligence, at least ``min_intelligence_reports`` reports (on
  different dates by default): uncorroborated intelligence lists nobody;
* a risk score of at least ``min_risk_score``.

Every ineligible person carries the first reason that applies, in plain English.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.definitions import AXES, Catalogue, EligibilitySettings
from hkc.matrix.features import event_points, indicator_contributions

__all__ = ["ScoreResult", "score_people", "ages_at", "rationale", "format_points", "REASONS"]

REASONS = {
    "age": "age {age} is outside {min_age}-{max_age} at the as-of date",
    "not_born": "born after the as-of date",
    "vulnerability_only": "vulnerability only: no risk events count",
    "no_events": "no counting events in the lookback windows",
    "no_weapon": "no weapon-related risk event in the last {days} days",
    "weapon_not_qualifying": "weapon-related events in the last {days} days all had outcome {outcomes}",
    "intel_uncorroborated": ("intelligence only, not corroborated: {n} report(s) in the last {days} days, "
                             "{need} on different dates needed"),
    "low_score": "risk score {score} is below the minimum {minimum}",
}


@dataclass
class ScoreResult:
    """Scores for every person in the extract, plus the evidence behind them.

    ``scores``: one row per person (``person_idx`` order) with ``person_id, age, risk_score,
    vulnerability_score, eligible, reason, latest_weapon_date`` and the demographic columns.
    ``contributions``: one row per person, axis and indicator with points.
    ``points``: one row per counting event.
    """

    as_of: dt.date
    scores: pd.DataFrame
    contributions: pd.DataFrame
    points: pd.DataFrame


def ages_at(dob: pd.Series | np.ndarray, as_of: dt.date) -> np.ndarray:
    """Age in whole years at ``as_of`` (birthday on the as-of date counts)."""
    d = pd.DatetimeIndex(pd.to_datetime(dob))
    before_birthday = (d.month > as_of.month) | ((d.month == as_of.month) & (d.day > as_of.day))
    return (as_of.year - d.year - before_birthday.astype(int)).to_numpy()


def format_points(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def score_people(people: pd.DataFrame, events: pd.DataFrame, *, catalogue: Catalogue,
                 eligibility: EligibilitySettings, as_of: dt.date) -> ScoreResult:
    """Score everyone in ``people`` as of ``as_of`` and decide who is eligible.

    ``people`` may be any subset or order of the extract's people: events are matched on
    ``person_idx`` and events of people not in ``people`` are ignored.
    """
    n = len(people)
    person_idx = people["person_idx"].to_numpy()
    points = event_points(_local_events(events, person_idx), catalogue=catalogue, as_of=as_of)
    contrib = indicator_contributions(points)
    risk, vuln = (_axis_total(contrib, axis, n) for axis in ("risk", "vulnerability"))
    evidence = _weapon_evidence(points, catalogue=catalogue, eligibility=eligibility, n=n)
    age = ages_at(people["date_of_birth"], as_of)
    born = people["date_of_birth"].to_numpy() <= np.datetime64(as_of.isoformat(), "s")
    checks = _Checks(born=born, age=age, risk=risk, vuln=vuln, evidence=evidence, eligibility=eligibility)
    scores = pd.DataFrame({
        "person_idx": person_idx,
        "person_id": people["person_id"].array,
        "age": age,
        "sex": people["sex"].array,
        "ethnicity": people["ethnicity"].array,
        "area": people["area"].array if "area" in people else None,
        "risk_score": risk,
        "vulnerability_score": vuln,
        "eligible": checks.eligible,
        "reason": _reasons(checks),
        "latest_weapon_date": evidence.latest_weapon,
        "weapon_events": evidence.hard,
        "intelligence_reports": evidence.intel_reports,
    })
    ids = people["person_id"].array
    for frame in (contrib, points):  # back from positions in this frame to the extract's person_idx
        positions = frame["person_idx"].to_numpy()
        frame.insert(1, "person_id", ids.take(positions))
        frame["person_idx"] = person_idx[positions]
    return ScoreResult(as_of=as_of, scores=scores, contributions=contrib, points=points)


def _local_events(events: pd.DataFrame, person_idx: np.ndarray) -> pd.DataFrame:
    """``events`` of these people only, with ``person_idx`` as each one's position in ``person_idx``."""
    n = len(person_idx)
    # position of each person_idx in this frame (-1 = not in it), so row order never matters
    position = np.full(int(max(person_idx.max(initial=-1), events["person_idx"].max() if len(events) else -1)) + 1,
                       -1, dtype=np.int64)
    position[person_idx] = np.arange(n)
    if len(position) == n and np.array_equal(position, np.arange(n)):
        return events  # the whole extract in its own order (a refresh): positions are the indexes already
    local = position[events["person_idx"].to_numpy()] if len(events) else np.array([], dtype=np.int64)
    if (local < 0).any():
        events, local = events.iloc[np.flatnonzero(local >= 0)], local[local >= 0]
    return events.assign(person_idx=local)


def _axis_total(contrib: pd.DataFrame, axis: str, n: int) -> np.ndarray:
    """Each person's points on ``axis``, rounded to one decimal as shown."""
    total = np.zeros(n)
    part = contrib[contrib["axis"] == axis]
    np.add.at(total, part["person_idx"].to_numpy(), part["points"].to_numpy())
    return np.round(total, 1)


@dataclass(frozen=True)
class _Evidence:
    """Per person: weapon-related evidence in the review window, as the eligibility rules count it."""

    hard: np.ndarray            # weapon events that are not intelligence
    qualifying: np.ndarray      # ... whose outcome qualifies
    intel_reports: np.ndarray   # weapon intelligence reports (distinct dates when so configured)
    any_risk: np.ndarray        # any event on the risk axis at all
    latest_weapon: np.ndarray   # date of the latest weapon event (NaT: none)


def _weapon_evidence(points: pd.DataFrame, *, catalogue: Catalogue, eligibility: EligibilitySettings,
                     n: int) -> _Evidence:
    e = eligibility
    weapon_codes = [c for c, i in catalogue.indicators.items() if i.weapon]
    intel_codes = [c for c, i in catalogue.indicators.items() if i.intelligence]
    in_window = points["age_days"].to_numpy() <= e.review_window_days
    weapon = in_window & points["indicator"].isin(weapon_codes).to_numpy()
    intel = weapon & points["indicator"].isin(intel_codes).to_numpy()
    hard = weapon & ~intel
    qualifying_hard = hard & ~points["outcome"].isin(list(e.non_qualifying_outcomes)).to_numpy()
    pidx = points["person_idx"].to_numpy()

    def per_person(mask: np.ndarray) -> np.ndarray:
        return np.bincount(pidx[mask], minlength=n)

    intel_frame = points.loc[intel, ["person_idx", "date"]]
    if e.intelligence_distinct_dates:
        intel_frame = intel_frame.drop_duplicates()
    dates = points["date"].to_numpy()
    latest = np.full(n, np.iinfo(np.int64).min)  # NaT's integer: no weapon event
    np.maximum.at(latest, pidx[weapon], dates[weapon].view(np.int64))
    return _Evidence(hard=per_person(hard), qualifying=per_person(qualifying_hard),
                     intel_reports=np.bincount(intel_frame["person_idx"].to_numpy(), minlength=n),
                     any_risk=per_person(points["axis"].cat.codes.to_numpy() == AXES.index("risk")) > 0,
                     latest_weapon=latest.view(dates.dtype))


@dataclass(frozen=True)
class _Checks:
    """The eligibility rules, each as a per-person boolean array."""

    born: np.ndarray
    age: np.ndarray
    risk: np.ndarray
    vuln: np.ndarray
    evidence: _Evidence
    eligibility: EligibilitySettings

    @property
    def ok_age(self) -> np.ndarray:
        e = self.eligibility
        return self.born & (self.age >= e.min_age) & (self.age <= e.max_age)

    @property
    def corroborated(self) -> np.ndarray:
        return self.evidence.intel_reports >= self.eligibility.min_intelligence_reports

    @property
    def ok_weapon(self) -> np.ndarray:
        return (self.evidence.qualifying > 0) | self.corroborated

    @property
    def ok_score(self) -> np.ndarray:
        return self.risk >= self.eligibility.min_risk_score

    @property
    def eligible(self) -> np.ndarray:
        return self.ok_age & self.ok_weapon & self.ok_score


def _reasons(c: _Checks) -> pd.api.extensions.ExtensionArray:
    """Why each person is not eligible (the first rule they fail), as text; empty when eligible."""
    e, ev, n = c.eligibility, c.evidence, len(c.age)
    texts: dict[str, int] = {"": 0}  # each distinct reason once; people carry its code

    def code_of(text: str) -> int:
        return texts.setdefault(text, len(texts))

    def per_value(values: np.ndarray, template) -> np.ndarray:  # format each distinct value once
        uniques, inverse = np.unique(values, return_inverse=True)
        return np.array([code_of(template(v)) for v in uniques], dtype=np.int64)[inverse]

    days = e.review_window_days
    rules = [
        (~c.born, REASONS["not_born"]),
        (~c.ok_age, lambda hit: per_value(c.age[hit], lambda a: REASONS["age"].format(
            age=a, min_age=e.min_age, max_age=e.max_age))),
        (~ev.any_risk & (c.vuln > 0), REASONS["vulnerability_only"]),
        (~ev.any_risk, REASONS["no_events"]),
        ((ev.hard > 0) & (ev.qualifying == 0) & ~c.corroborated,
         REASONS["weapon_not_qualifying"].format(days=days, outcomes="/".join(e.non_qualifying_outcomes))),
        ((ev.intel_reports > 0) & (ev.hard == 0) & ~c.corroborated,
         lambda hit: per_value(ev.intel_reports[hit], lambda k: REASONS["intel_uncorroborated"].format(
             n=k, days=days, need=e.min_intelligence_reports))),
        (~c.ok_weapon, REASONS["no_weapon"].format(days=days)),
        (~c.ok_score, lambda hit: per_value(c.risk[hit], lambda s: REASONS["low_score"].format(
            score=format_points(s), minimum=e.min_risk_score))),
    ]
    reason = np.zeros(n, dtype=np.int64)
    unset = np.ones(n, dtype=bool)
    for mask, text in rules:
        hit = mask & unset
        if hit.any():
            reason[hit] = code_of(text) if isinstance(text, str) else text(hit)
            unset &= ~hit
    reason[c.eligible] = 0
    return pd.array(pa.array(list(texts), type=pa.string()).take(pa.array(reason)), dtype="str")


_OUTCOME_ORDER = ("convicted", "charged", "cautioned", "pending", "nfa")


def _evidence_note(group: pd.DataFrame, evidence: str) -> str:
    if evidence == "outcome":
        counts = group["outcome"].astype(object).fillna("no outcome").value_counts()
        order = [o for o in _OUTCOME_ORDER + ("no outcome",) if o in counts.index]
        if len(order) == 1:
            return order[0]
        return ", ".join(f"{o} ×{counts[o]}" for o in order)
    if evidence == "grade":
        grades = sorted(set(group["grade"].dropna().astype(str)))
        missing = group["grade"].isna().sum()
        parts = grades + (["ungraded"] if missing else [])
        return ", ".join(parts)
    return ""


def rationale(person_ids: list[str] | np.ndarray, result: ScoreResult, *, catalogue: Catalogue,
              axis: str = "risk") -> dict[str, str]:
    """A sentence per person naming each indicator behind their ``axis`` score.

    "Possession of a bladed article ×2, latest 14 Aug 2026 (convicted), 38 pts; …".  The points
    named are the person's rounded contributions, so they add up to the score.
    """
    wanted = set(person_ids)
    contrib = result.contributions
    contrib = contrib[contrib["person_id"].isin(wanted) & (contrib["axis"] == axis) & (contrib["points"] > 0)]
    pts = result.points
    pts = pts[pts["person_id"].isin(wanted) & (pts["axis"] == axis)]
    evidence_groups = {key: g for key, g in pts.groupby(["person_id", "indicator"], observed=True)}
    out: dict[str, list[tuple[float, str]]] = {p: [] for p in person_ids}
    for row in contrib.itertuples(index=False):
        ind = catalogue.indicators[row.indicator]
        note = _evidence_note(evidence_groups[(row.person_id, row.indicator)], ind.evidence)
        latest = pd.Timestamp(row.latest).strftime("%-d %b %Y")
        text = f"{ind.label} ×{row.count}, latest {latest}{f' ({note})' if note else ''}, " \
               f"{format_points(row.points)} pts"
        out[row.person_id].append((-row.points, text))
    sentences = {}
    for person, parts in out.items():
        parts.sort()
        text = "; ".join(t for _, t in parts)
        sentences[person] = text[:1].upper() + text[1:] if text else ""
    return sentences
