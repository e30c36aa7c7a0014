"""Scores, eligibility and rationale: who may be listed, and the evidence behind every point.

>>> result = score_people(extract.people, extract.events, catalogue=defs.catalogue,    # doctest: +SKIP
...                       eligibility=defs.settings.eligibility, as_of=date(2026, 9, 30))

Risk and vulnerability are separate axes: being a victim never adds a risk point (the catalogue
refuses a victim role on the risk axis).  A person is *eligible* for the cohort only when all of
these hold at the as-of date (settings in ``config/hkc.toml`` ``[eligibility]``):

* age within ``min_age``–``max_age``;
* at least one *reported* weapon-related risk event in the review window whose outcome
  qualifies.  Police-generated evidence (the catalogue's ``proactive`` types: stop-search finds,
  intelligence) lists nobody alone unless ``allow_police_generated_only``; then a qualifying
  stop-search find, or *corroborated* intelligence, is enough.  Intelligence is corroborated by
  ``min_intelligence_reports`` reports graded ``usable_grade`` or better (never source E or
  assessment 4–5, never ungraded) that come from different sources (the events' ``source``) or
  include one graded ``credible_grade`` or better; a source's reports on one date count once;
* a risk score of at least ``min_risk_score``.

Every ineligible person carries the first rule they fail, with the amount by which they fail it
("risk score 20 is 5 points below the minimum 25").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from hkc.definitions import AXES, Catalogue, EligibilitySettings
from hkc.matrix.features import event_points, indicator_contributions

__all__ = ["ScoreResult", "score_people", "ages_at", "rationale", "format_points", "REASONS"]

REASONS = {
    "not_born": "born {days} after the as-of date",
    "age_under": "age {age} is {gap} below the minimum age {min_age} at the as-of date",
    "age_over": "age {age} is {gap} above the maximum age {max_age} at the as-of date",
    "vulnerability_only": "vulnerability only: no risk event counts, so the risk score is 0",
    "no_events": "no counting events in the lookback windows",
    "no_weapon": "no weapon-related risk event in the last {days} days",
    "stale_weapon": "latest weapon-related event is {age} days old; the review window is {days} days: {event}",
    "weapon_not_qualifying": "{count} in the last {days} days, all with outcome {outcomes}: none qualifies",
    "police_generated_only": ("weapon-related evidence in the last {days} days is police-generated only ({found}); "
                              "at least 1 reported weapon-related event is needed"),
    "intel_uncorroborated": ("intelligence only, not corroborated: {reports} in the last {days} days, {usable} "
                             "graded {usable_grades} from {sources}, {credible} graded {credible_grades}; needs "
                             "{need} graded {usable_grades}, from different sources or with one graded "
                             "{credible_grades}"),
    "low_score": "risk score {score} is {gap} points below the minimum {minimum}",
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


def _counted(k: int, noun: str, plural: str | None = None) -> str:
    """'1 report', '2 reports'."""
    return f"{k} {noun if k == 1 else plural or noun + 's'}"


def _grades(grade: str) -> str:
    """The grades at least as good as ``grade``, as words: ``'C3'`` -> ``'A-C/1-3'``."""
    return f"A-{grade[0]}/1-{grade[1]}"


def score_people(people: pd.DataFrame, events: pd.DataFrame, *, catalogue: Catalogue,
                 eligibility: EligibilitySettings, as_of: dt.date) -> ScoreResult:
    """Score everyone in ``people`` as of ``as_of`` and decide who is eligible.

    ``people`` may be any subset or order of the extract's people: events are matched on
    ``person_idx`` and events of people not in ``people`` are ignored.
    """
    n = len(people)
    person_idx = people["person_idx"].to_numpy()
    events = _local_events(events, person_idx)
    points = event_points(events, catalogue=catalogue, as_of=as_of)
    contrib = indicator_contributions(points)
    risk, vuln = (_axis_total(contrib, axis, n) for axis in ("risk", "vulnerability"))
    evidence = _weapon_evidence(points, events, catalogue=catalogue, eligibility=eligibility, n=n)
    age = ages_at(people["date_of_birth"], as_of)
    dob = people["date_of_birth"].to_numpy().astype("datetime64[D]")
    unborn_days = (dob - np.datetime64(as_of.isoformat(), "D")).astype(np.int64)
    checks = _Checks(unborn_days=unborn_days, age=age, risk=risk, vuln=vuln, evidence=evidence,
                     eligibility=eligibility, catalogue=catalogue)
    scores = pd.DataFrame({
        "person_idx": person_idx, "person_id": people["person_id"].array, "age": age, "sex": people["sex"].array,
        "ethnicity": people["ethnicity"].array, "area": people["area"].array if "area" in people else None,
        "risk_score": risk, "vulnerability_score": vuln, "eligible": checks.eligible, "reason": _reasons(checks),
        "latest_weapon_date": evidence.latest_weapon, "weapon_events": evidence.hard,
        "intelligence_reports": evidence.intel_reports, "corroborated": checks.corroborated,
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
    reported_hard: np.ndarray   # ... of types that are not police-generated
    reported: np.ndarray        # ... of those, whose outcome qualifies
    police: np.ndarray          # (people, police-generated weapon types): events of each type
    intel_reports: np.ndarray   # weapon intelligence reports (a source's reports on one date once, when so set)
    intel_usable: np.ndarray    # ... graded usable_grade or better
    intel_credible: np.ndarray  # ... graded credible_grade or better
    intel_sources: np.ndarray   # distinct sources of the usable reports
    intel_reported: np.ndarray  # usable reports of intelligence types that are not police-generated
    any_risk: np.ndarray        # any event on the risk axis at all
    latest_weapon: np.ndarray   # date of the latest weapon event in the window (NaT: none)
    stale_age: np.ndarray       # age in days of the latest weapon event before the window (-1: none)
    stale_event: np.ndarray     # ... what it was, as a code into stale_names
    stale_names: tuple[str, ...]


def _weapon_evidence(points: pd.DataFrame, events: pd.DataFrame, *, catalogue: Catalogue,
                     eligibility: EligibilitySettings, n: int) -> _Evidence:
    e, inds = eligibility, catalogue.indicators
    police_codes = [c for c, i in inds.items() if i.weapon and i.proactive]
    indicator = points["indicator"]
    is_weapon = indicator.isin([c for c, i in inds.items() if i.weapon]).to_numpy()
    weapon = is_weapon & (points["age_days"].to_numpy() <= e.review_window_days)
    intel = weapon & indicator.isin([c for c, i in inds.items() if i.intelligence]).to_numpy()
    police = indicator.isin(police_codes).to_numpy()
    hard = weapon & ~intel
    qualifying_hard = hard & ~points["outcome"].isin(list(e.non_qualifying_outcomes)).to_numpy()
    pidx = points["person_idx"].to_numpy()

    def per_person(mask: np.ndarray) -> np.ndarray:
        return np.bincount(pidx[mask], minlength=n)

    dates = points["date"].to_numpy()
    latest = np.full(n, np.iinfo(np.int64).min)  # NaT's integer: no weapon event
    np.maximum.at(latest, pidx[weapon], dates[weapon].view(np.int64))
    stale_age, stale_event, stale_names = _stale(points, is_weapon & ~weapon, catalogue=catalogue, n=n)
    police_by_type = np.zeros((n, len(police_codes)), dtype=np.int64)
    for column, code in enumerate(police_codes):
        police_by_type[:, column] = per_person(weapon & (indicator == code).to_numpy())
    return _Evidence(hard=per_person(hard), qualifying=per_person(qualifying_hard),
                     reported_hard=per_person(hard & ~police), reported=per_person(qualifying_hard & ~police),
                     police=police_by_type,
                     **_intelligence(points[intel], events, catalogue=catalogue, eligibility=e, n=n),
                     any_risk=per_person(points["axis"].cat.codes.to_numpy() == AXES.index("risk")) > 0,
                     latest_weapon=latest.view(dates.dtype), stale_age=stale_age, stale_event=stale_event,
                     stale_names=stale_names)


def _intelligence(intel: pd.DataFrame, events: pd.DataFrame, *, catalogue: Catalogue,
                  eligibility: EligibilitySettings, n: int) -> dict[str, np.ndarray]:
    """Per person: weapon intelligence reports in the window, how many usable and credible, from how many sources."""
    e = eligibility
    sources = events.loc[events["type"].isin(intel["indicator"].unique()), ["person_idx", "event_id", "source"]]
    reports = intel[["person_idx", "event_id", "date", "indicator", "grade"]].merge(
        sources, on=["person_idx", "event_id"], how="left", validate="many_to_one")
    letter, digit = reports["grade"].str[0].fillna("Z"), reports["grade"].str[1].fillna("9")
    reports["usable"] = ((letter <= e.usable_grade[0]) & (digit <= e.usable_grade[1])).to_numpy(dtype=bool)
    reports["credible"] = ((letter <= e.credible_grade[0]) & (digit <= e.credible_grade[1])).to_numpy(dtype=bool)
    reported_types = [c for c, i in catalogue.indicators.items() if i.intelligence and not i.proactive]
    reports["reported"] = reports["usable"] & reports["indicator"].isin(reported_types).to_numpy()
    if e.intelligence_distinct_dates:  # one report per source and date: the best grade among its copies
        reports = (reports.groupby(["person_idx", "source", "date"], observed=True, dropna=False, sort=False)
                   [["usable", "credible", "reported"]].max().reset_index())
    usable = reports[reports["usable"]]
    sources_per_person = usable[["person_idx", "source"]].drop_duplicates()["person_idx"]

    def per_person(people: pd.Series) -> np.ndarray:
        return np.bincount(people.to_numpy(dtype=np.int64), minlength=n)

    return {"intel_reports": per_person(reports["person_idx"]), "intel_usable": per_person(usable["person_idx"]),
            "intel_credible": per_person(usable.loc[usable["credible"], "person_idx"]),
            "intel_sources": per_person(sources_per_person),
            "intel_reported": per_person(usable.loc[usable["reported"], "person_idx"])}


def _stale(points: pd.DataFrame, older: np.ndarray, *, catalogue: Catalogue,
           n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per person: the age in days (-1: none) and a description of the latest weapon event before the window."""
    rows = points.loc[older, ["person_idx", "age_days", "indicator", "outcome", "grade"]]
    rows = rows.sort_values(["person_idx", "age_days"], kind="stable").drop_duplicates("person_idx")
    labels = rows["indicator"].map({c: i.label for c, i in catalogue.indicators.items()}).astype(object)
    note = rows["outcome"].astype(object).fillna(rows["grade"].astype(object)).fillna("")
    codes, names = pd.factorize(labels + (", " + note).where(note != "", ""))
    age, event = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    people = rows["person_idx"].to_numpy(dtype=np.int64)
    age[people], event[people] = rows["age_days"].to_numpy(), codes
    return age, event, tuple(names)


@dataclass(frozen=True)
class _Checks:
    """The eligibility rules, each as a per-person boolean array."""

    unborn_days: np.ndarray     # days from the as-of date to the date of birth (> 0: not yet born)
    age: np.ndarray
    risk: np.ndarray
    vuln: np.ndarray
    evidence: _Evidence
    eligibility: EligibilitySettings
    catalogue: Catalogue

    @property
    def born(self) -> np.ndarray:
        return self.unborn_days <= 0

    @property
    def ok_age(self) -> np.ndarray:
        e = self.eligibility
        return self.born & (self.age >= e.min_age) & (self.age <= e.max_age)

    @property
    def corroborated(self) -> np.ndarray:
        ev = self.evidence
        return ((ev.intel_usable >= self.eligibility.min_intelligence_reports)
                & ((ev.intel_sources >= 2) | (ev.intel_credible >= 1)))

    @property
    def ok_weapon(self) -> np.ndarray:
        ev = self.evidence
        reported = (ev.reported > 0) | (self.corroborated & (ev.intel_reported > 0))
        if self.eligibility.allow_police_generated_only:
            return reported | (ev.qualifying > 0) | self.corroborated
        return reported

    @property
    def ok_score(self) -> np.ndarray:
        return self.risk >= self.eligibility.min_risk_score

    @property
    def eligible(self) -> np.ndarray:
        return self.ok_age & self.ok_weapon & self.ok_score


def _reasons(c: _Checks) -> pd.api.extensions.ExtensionArray:
    """Why each person is not eligible (the first rule they fail, and by how much), as text; empty when eligible."""
    n = len(c.age)
    texts: dict[str, int] = {"": 0}  # each distinct reason once; people carry its code

    def code_of(text: str) -> int:
        return texts.setdefault(text, len(texts))

    reason = np.zeros(n, dtype=np.int64)
    unset = ~c.eligible
    for mask, columns, template in _rules(c):
        hit = mask & unset
        if not hit.any():
            continue
        if not columns:
            reason[hit] = code_of(template())
        else:  # format each distinct combination of the numbers once, not once per person
            keys = np.column_stack([np.asarray(col)[hit] for col in columns])
            uniques, inverse = np.unique(keys, axis=0, return_inverse=True)
            reason[hit] = np.array([code_of(template(*u)) for u in uniques.tolist()], dtype=np.int64)[inverse.ravel()]
        unset &= ~hit
    return pd.array(pa.array(list(texts), type=pa.string()).take(pa.array(reason)), dtype="str")


_Rule = tuple[np.ndarray, list[np.ndarray], Callable[..., str]]


def _rules(c: _Checks) -> list[_Rule]:
    """The eligibility rules in the order a reason is given: (who fails, the numbers, the text from them)."""
    e, ev = c.eligibility, c.evidence
    days = e.review_window_days
    in_window = ev.hard + ev.intel_reports
    return [
        (~c.born, [c.unborn_days], lambda d: REASONS["not_born"].format(days=_counted(d, "day"))),
        (c.age < e.min_age, [c.age], lambda a: REASONS["age_under"].format(
            age=a, gap=_counted(e.min_age - a, "year"), min_age=e.min_age)),
        (c.age > e.max_age, [c.age], lambda a: REASONS["age_over"].format(
            age=a, gap=_counted(a - e.max_age, "year"), max_age=e.max_age)),
        (~ev.any_risk & (c.vuln > 0), [], lambda: REASONS["vulnerability_only"]),
        (~ev.any_risk, [], lambda: REASONS["no_events"]),
        (~c.ok_weapon & (in_window == 0) & (ev.stale_age >= 0), [ev.stale_age, ev.stale_event],
         lambda a, k: REASONS["stale_weapon"].format(event=ev.stale_names[k], age=a, days=days)),
        (~c.ok_weapon & (in_window == 0), [], lambda: REASONS["no_weapon"].format(days=days)),
        *_weapon_rules(c),  # they cover everyone else who fails the weapon rule
        (~c.ok_score, [c.risk], lambda s: REASONS["low_score"].format(
            score=format_points(s), gap=format_points(e.min_risk_score - s), minimum=format_points(e.min_risk_score))),
    ]


def _weapon_rules(c: _Checks) -> list[_Rule]:
    """Weapon evidence in the window that does not qualify: outcomes, police-generated only, uncorroborated."""
    e, ev = c.eligibility, c.evidence
    days, fails = e.review_window_days, ~c.ok_weapon
    outcomes = "/".join(e.non_qualifying_outcomes)
    police_types = [i for i in c.catalogue.indicators.values() if i.weapon and i.proactive]

    def found(corroborated: int, *counts: int) -> str:
        parts = [f"{ind.label} ×{k}" + ("" if not ind.intelligence else ", corroborated" if corroborated
                                        else ", not corroborated")
                 for ind, k in zip(police_types, counts, strict=True) if k]
        return "; ".join(parts)

    def uncorroborated(reports: int, usable: int, sources: int, credible: int) -> str:
        return REASONS["intel_uncorroborated"].format(
            reports=_counted(reports, "report"), days=days, usable=usable, usable_grades=_grades(e.usable_grade),
            sources=_counted(sources, "source"), credible=credible, credible_grades=_grades(e.credible_grade),
            need=e.min_intelligence_reports)

    intel = [ev.intel_reports, ev.intel_usable, ev.intel_sources, ev.intel_credible]
    if e.allow_police_generated_only:
        return [(fails & (ev.hard > 0), [ev.hard], lambda k: REASONS["weapon_not_qualifying"].format(
                    count=_counted(k, "weapon-related event"), days=days, outcomes=outcomes)),
                (fails & (ev.intel_reports > 0), intel, uncorroborated)]
    return [
        (fails & (ev.reported_hard > 0), [ev.reported_hard], lambda k: REASONS["weapon_not_qualifying"].format(
            count=_counted(k, "reported weapon-related event"), days=days, outcomes=outcomes)),
        (fails & (ev.intel_reported == 0) & (ev.police.sum(axis=1) > 0), [c.corroborated, *ev.police.T],
         lambda corroborated, *counts: REASONS["police_generated_only"].format(
             days=days, found=found(corroborated, *counts))),
        (fails & (ev.intel_reports > 0), intel, uncorroborated),
    ]


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
