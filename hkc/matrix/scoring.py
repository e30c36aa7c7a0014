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
    # position of each person_idx in this frame (-1 = not in it), so row order never matters
    position = np.full(int(max(person_idx.max(initial=-1), events["person_idx"].max() if len(events) else -1)) + 1,
                       -1, dtype=np.int64)
    position[person_idx] = np.arange(n)
    # the whole extract in its own order (a refresh): positions are the indexes already
    if not (len(position) == n and np.array_equal(position, np.arange(n))):
        local = position[events["person_idx"].to_numpy()] if len(events) else np.array([], dtype=np.int64)
        if (local < 0).any():
            events, local = events.iloc[np.flatnonzero(local >= 0)], local[local >= 0]
        events = events.assign(person_idx=local)
    points = event_points(events, catalogue=catalogue, as_of=as_of)
    contrib = indicator_contributions(points)
    risk = np.zeros(n)
    vuln = np.zeros(n)
    for axis, target in (("risk", risk), ("vulnerability", vuln)):
        part = contrib[contrib["axis"] == axis]
        np.add.at(target, part["person_idx"].to_numpy(), part["points"].to_numpy())
    risk, vuln = np.round(risk, 1), np.round(vuln, 1)

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
    intel_reports = np.bincount(intel_frame["person_idx"].to_numpy(), minlength=n)
    hard_n, qualifying_n = per_person(hard), per_person(qualifying_hard)
    any_risk = per_person(points["axis"].cat.codes.to_numpy() == AXES.index("risk")) > 0
    dates = points["date"].to_numpy()
    latest = np.full(n, np.iinfo(np.int64).min)  # NaT's integer: no weapon event
    np.maximum.at(latest, pidx[weapon], dates[weapon].view(np.int64))
    latest_weapon = latest.view(dates.dtype)

    age = ages_at(people["date_of_birth"], as_of)
    born = people["date_of_birth"].to_numpy() <= np.datetime64(as_of.isoformat(), "s")
    ok_age = born & (age >= e.min_age) & (age <= e.max_age)
    corroborated = intel_reports >= e.min_intelligence_reports
    ok_weapon = (qualifying_n > 0) | corroborated
    ok_score = risk >= e.min_risk_score
    eligible = ok_age & ok_weapon & ok_score

    texts: dict[str, int] = {"": 0}  # each distinct reason once; people carry its code

    def code_of(text: str) -> int:
        return texts.setdefault(text, len(texts))

    def per_value(values: np.ndarray, template) -> np.ndarray:  # format each distinct value once
        uniques, inverse = np.unique(values, return_inverse=True)
        return np.array([code_of(template(v)) for v in uniques], dtype=np.int64)[inverse]

    reason = np.zeros(n, dtype=np.int64)
    days = e.review_window_days
    rules = [
        (~born, REASONS["not_born"]),
        (~ok_age, None),  # filled below with the age
        (~any_risk & (vuln > 0), REASONS["vulnerability_only"]),
        (~any_risk, REASONS["no_events"]),
        ((hard_n > 0) & (qualifying_n == 0) & ~corroborated,
         REASONS["weapon_not_qualifying"].format(days=days, outcomes="/".join(e.non_qualifying_outcomes))),
        ((intel_reports > 0) & (hard_n == 0) & ~corroborated, None),  # filled below with the count
        (~ok_weapon, REASONS["no_weapon"].format(days=days)),
        (~ok_score, None),
    ]
    unset = np.ones(n, dtype=bool)
    for i, (mask, text) in enumerate(rules):
        hit = mask & unset
        if not hit.any():
            continue
        if text is not None:
            reason[hit] = code_of(text)
        elif i == 1:
            reason[hit] = per_value(age[hit], lambda a: REASONS["age"].format(
                age=a, min_age=e.min_age, max_age=e.max_age))
        elif i == 5:
            reason[hit] = per_value(intel_reports[hit], lambda k: REASONS["intel_uncorroborated"].format(
                n=k, days=days, need=e.min_intelligence_reports))
        else:
            reason[hit] = per_value(risk[hit], lambda s: REASONS["low_score"].format(
                score=format_points(s), minimum=e.min_risk_score))
        unset &= ~hit
    reason[eligible] = 0
    reason_text = pd.array(pa.array(list(texts), type=pa.string()).take(pa.array(reason)), dtype="str")

    scores = pd.DataFrame({
        "person_idx": person_idx,
        "person_id": people["person_id"].array,
        "age": age,
        "sex": people["sex"].array,
        "ethnicity": people["ethnicity"].array,
        "area": people["area"].array if "area" in people else None,
        "risk_score": risk,
        "vulnerability_score": vuln,
        "eligible": eligible,
        "reason": reason_text,
        "latest_weapon_date": latest_weapon,
        "weapon_events": hard_n,
        "intelligence_reports": intel_reports,
    })
    ids = people["person_id"].array
    for frame in (contrib, points):  # back from positions in this frame to the extract's person_idx
        positions = frame["person_idx"].to_numpy()
        frame.insert(1, "person_id", ids.take(positions))
        frame["person_idx"] = person_idx[positions]
    return ScoreResult(as_of=as_of, scores=scores, contributions=contrib, points=points)


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
