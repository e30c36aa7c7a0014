"""Why someone moved down or off the list: one cause per person, the same in ``removed.csv`` and ``hkc movement``.

>>> movement_causes(earlier, later, earlier_evidence, later_evidence, earlier_as_of=date(2026, 6, 30),
...                 later_as_of=date(2026, 9, 30), catalogue=defs.catalogue)          # doctest: +SKIP

Why: "the share whose RAG reduced or who left the list" counts the clock as success.  On an
extract where nobody had a new event it still came out at about a third: scores decay with time,
lookback windows expire, and others overtake people at the cut-off.  So every earlier cohort member
whose RAG band fell or who left the list gets ONE cause.  First what moved them: an age rule (the
record cannot explain it), a weapon-evidence rule, the score (below the minimum, nothing counting,
below the cut-off, or a lower RAG band).  Then the causes, in this order of evidence, each only
where it can explain that move (:mod:`hkc.matrix.corrections` says what changed in the record):

``id_change``
    their id was re-keyed or merged (only with an alias map ``{old_id: new_id}``);
``review_decision``
    a meeting decided to remove them (a ``remove`` decision on a run from the earlier one on);
``record_correction``
    a correction of the past weakened their record (an event gone, an outcome or grade weakened, …):
    on a weapon-related event when a weapon-evidence rule moved them, on any risk event when the
    score did; never when they aged out;
``new_events``
    risk events dated after the earlier as-of date count for them now, and the score moved them
    (new events that scored less than what decayed included: their record has something new);
``no_longer_eligible``
    an eligibility rule other than the score (age; weapon-related evidence out of the review window,
    not qualifying or police-generated only; intelligence not corroborated), with its words;
``decay``
    nothing new or weakened, and their own risk score fell with time (half-life, events leaving
    their lookback windows): a lower RAG band, below the cut-off, below the minimum score;
``cutoff``
    still eligible and their score did not fall: others overtook them.

A person with no row in the later scores has a risk score of 0 and no counting events: the history
keeps only people with a non-zero score or a listing, and :func:`removal_causes` (the refresh)
keeps the same rows, so ``removed.csv`` and ``hkc movement`` between the same two runs agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from hkc.definitions import Catalogue, CohortSettings
from hkc.matrix.cohort import RAG_ORDER, cut_off_reason
from hkc.matrix.corrections import RecordChanges, record_changes, risk_evidence, text_column
from hkc.matrix.scoring import REASONS, ScoreResult, format_points

__all__ = ["CAUSES", "NOT_EVIDENCE", "CAUSE_WORDS", "REMOVING_DECISIONS", "movement_causes", "removal_causes",
           "later_rows"]

CAUSES = ("id_change", "review_decision", "record_correction", "new_events", "decay", "cutoff", "no_longer_eligible")
NOT_EVIDENCE = ("id_change", "decay", "cutoff")  # causes that would happen if nothing had been done
CAUSE_WORDS = {  # each cause in a few plain words, for tables and headlines
    "id_change": "re-keyed (an identity change)",
    "review_decision": "removed on review",
    "record_correction": "a correction weakened the record",
    "new_events": "new events after the earlier run",
    "decay": "time alone (scores decay)",
    "cutoff": "overtaken by others (cut-off)",
    "no_longer_eligible": "no longer eligible",
}
REMOVING_DECISIONS = ("remove", "remove_on_review")
NO_SCORE_REASON = REASONS["no_events"]
_SCORE_RULES = (REASONS["no_events"], REASONS["vulnerability_only"])
_AGE_RULE = re.compile(r"^(born \d+ days? after|age \d+ is .* (minimum|maximum) age)")


def _rule(reason: str) -> str:
    """Which kind of eligibility rule a stored reason names: ``age``, ``score`` or ``weapon``."""
    if _AGE_RULE.match(reason):
        return "age"
    if reason in _SCORE_RULES or (reason.startswith("risk score ") and "below the minimum" in reason):
        return "score"
    return "weapon"


def _decided(decisions: pd.DataFrame | None, earlier_as_of: dt.date, later_as_of: dt.date) -> dict[str, str]:
    """Per person: the words of a removing decision on a run from the earlier one up to before the later one."""
    if decisions is None or decisions.empty:
        return {}
    d = decisions[text_column(decisions["decision"]).str.strip().str.lower().isin(REMOVING_DECISIONS)]
    if "as_of" in d:
        as_of = text_column(d["as_of"]).str.slice(0, 10)
        d = d[(as_of >= earlier_as_of.isoformat()) & (as_of < later_as_of.isoformat())]
    out = {}
    for row in d.sort_values("meeting_date", kind="stable").itertuples(index=False):
        reason = str(getattr(row, "reason", "") or "").strip()
        out[str(row.person_id)] = (f"removed on review at the meeting of {row.meeting_date}"
                                   + (f" ({reason})" if reason else ""))
    return out


def movement_causes(earlier_scores: pd.DataFrame, later_scores: pd.DataFrame, earlier_evidence: pd.DataFrame,
                    later_evidence: pd.DataFrame, *, earlier_as_of: dt.date, later_as_of: dt.date,
                    catalogue: Catalogue, non_qualifying_outcomes: Sequence[str] = ("nfa",),
                    aliases: Mapping[str, str] | None = None, decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """``person_id, movement, cause, text, rule`` for every earlier cohort member whose RAG band fell or who left.

    ``earlier_scores``: the earlier run's rows (``person_id, risk_score, rank, rag`` and, optionally,
    ``in_cohort``: without it every row is a cohort member).  ``later_scores``: the later run's
    stored rows (``person_id, risk_score, eligible, in_cohort, rank, rag, reason``); a person with
    no row has a risk score of 0 and no counting events.  The evidence frames hold the counting
    events (``person_id, event_id, date, indicator, axis, role, outcome, grade``) of at least the
    people concerned.  ``catalogue`` (the later run's) gives lookback windows and multipliers;
    ``non_qualifying_outcomes`` the eligibility setting.  ``aliases``: ``{old_id: new_id}`` re-keys
    and merges.  ``decisions``: stored decisions (``person_id, as_of, meeting_date, decision,
    reason``).  ``movement`` is ``removed`` or ``rag reduced``; ``rule`` what moved them: ``listed`` (a
    lower band), ``cut-off``, or the eligibility rule they fail, ``age``, ``weapon`` or ``score``.
    Rows come in the earlier rank order.
    """
    columns = ["person_id", "movement", "cause", "text", "rule"]
    before = earlier_scores[earlier_scores["in_cohort"].astype(bool)] if "in_cohort" in earlier_scores \
        else earlier_scores
    before = before.assign(person_id=text_column(before["person_id"]))
    now = later_scores.assign(person_id=text_column(later_scores["person_id"])).drop_duplicates("person_id") \
        .set_index("person_id")
    listed = now[now["in_cohort"].astype(bool)] if len(now) else now
    moved = []
    for row in before.sort_values("rank", kind="stable").itertuples(index=False):
        if row.person_id not in listed.index:
            moved.append((row, "removed"))
        elif RAG_ORDER.get(str(listed.at[row.person_id, "rag"]), 0) < RAG_ORDER.get(str(row.rag), 0):
            moved.append((row, "rag reduced"))
    if not moved:
        return pd.DataFrame(columns=columns)
    ids = {row.person_id for row, _ in moved}
    e0, e1 = risk_evidence(earlier_evidence), risk_evidence(later_evidence)
    changes = record_changes(e0[e0["person_id"].isin(ids)], e1[e1["person_id"].isin(ids)],
                             earlier_as_of=earlier_as_of, later_as_of=later_as_of, catalogue=catalogue,
                             non_qualifying=non_qualifying_outcomes)
    decided = _decided(decisions, earlier_as_of, later_as_of)
    aliases = {str(k): str(v) for k, v in (aliases or {}).items()}
    rows = []
    for row, movement in moved:
        after = now.loc[row.person_id] if row.person_id in now.index else None
        rows.append((row.person_id, movement, *_cause(row, after, movement, aliases=aliases, decided=decided,
                                                      changes=changes)))
    return pd.DataFrame(rows, columns=columns)


def _cause(before, after: pd.Series | None, movement: str, *, aliases: dict[str, str], decided: dict[str, str],
           changes: RecordChanges) -> tuple[str, str, str]:
    """One person's cause, its text and what moved them (see the module docstring for the order)."""
    rule = _moved_by(movement, after)
    return (*_explained(before, after, movement, rule, aliases=aliases, decided=decided, changes=changes), rule)


def _moved_by(movement: str, after: pd.Series | None) -> str:
    """``listed`` (a lower RAG band), ``cut-off``, or the kind of eligibility rule they fail now."""
    if movement == "rag reduced":
        return "listed"
    if after is not None and bool(after["eligible"]):
        return "cut-off"
    return _rule(NO_SCORE_REASON if after is None else ("" if pd.isna(after["reason"]) else str(after["reason"])))


def _explained(before, after: pd.Series | None, movement: str, rule: str, *, aliases: dict[str, str],
               decided: dict[str, str], changes: RecordChanges) -> tuple[str, str]:
    """The cause and its text, given what moved them (``rule``)."""
    person = before.person_id
    score0, score1 = float(before.risk_score), float(after["risk_score"]) if after is not None else 0.0
    eligible = bool(after["eligible"]) if after is not None else False
    reason = NO_SCORE_REASON if after is None else ("" if pd.isna(after["reason"]) else str(after["reason"]))
    s0, s1 = format_points(score0), format_points(score1)
    scores = f"risk score {s0} at the earlier run, {s1} now"
    if rule == "listed":
        now = f"RAG {before.rag} to {after['rag']} (rank {int(before.rank)} to {int(after['rank'])})"
    else:
        now = (reason or "still eligible but below the cohort cut-off") if eligible else f"not eligible: {reason}"
    corrected = changes.corrections.get(person)
    other = f"; the record also changed between the extracts: {corrected}" if corrected else ""
    weakened = person in (changes.weapon_weakened if rule == "weapon" else changes.weakened) and rule != "age"

    if person in aliases:
        return "id_change", (f"re-keyed: the record {person} is now {aliases[person]} (an identity change, not a "
                             "change in behaviour)")
    if person in decided:
        return "review_decision", decided[person]
    if weakened:
        return "record_correction", f"a correction of the past weakened the record: {corrected}; {scores}; {now}"
    if person in changes.new_events and rule not in ("age", "weapon"):
        return "new_events", f"{changes.new_events[person]}; {scores}; {now}{other}"
    if rule in ("age", "weapon"):
        return "no_longer_eligible", f"{reason}{other}"
    if score1 < score0:
        return "decay", (f"no new events and no correction weakened the record: the risk score fell from {s0} to {s1} "
                         f"with time alone (events age and leave their lookback windows); {now}{other}")
    if eligible:
        return "cutoff", (f"no new events and no correction weakened the record, and the risk score did not fall "
                          f"({s0} to {s1}): others overtook them; {now}{other}")
    return "no_longer_eligible", f"{reason}{other}"


def later_rows(scored: ScoreResult, members: pd.DataFrame, ranked: pd.DataFrame, *, cohort: CohortSettings,
               person_ids=None) -> pd.DataFrame:
    """The rows the history keeps of a refresh (``person_id, risk_score, vulnerability_score, eligible,
    in_cohort, rank, rag, reason``) for ``person_ids`` (default everyone), as :mod:`hkc.refresh.frames`
    stores them: people with a non-zero score or a listing; an eligible person who is not listed
    carries the cut-off reason."""
    s = scored.scores
    if person_ids is not None:
        s = s[text_column(s["person_id"]).isin({str(p) for p in person_ids})]
    out = pd.DataFrame({"person_id": text_column(s["person_id"]).to_numpy(), "risk_score": s["risk_score"].to_numpy(),
                        "vulnerability_score": s["vulnerability_score"].to_numpy(),
                        "eligible": s["eligible"].astype(bool).to_numpy(),
                        "reason": text_column(s["reason"]).to_numpy()})
    listed = members.assign(person_id=text_column(members["person_id"])).set_index("person_id")
    out["in_cohort"] = out["person_id"].isin(listed.index)
    out["rank"] = out["person_id"].map(listed["rank"]).astype("Int64")
    out["rag"] = out["person_id"].map(listed["rag"])
    ranks = ranked.assign(person_id=text_column(ranked["person_id"])).set_index("person_id")["priority_rank"]
    cut = out["eligible"] & ~out["in_cohort"]
    out.loc[cut, "reason"] = [cut_off_reason(int(ranks[p]), float(r), cohort=cohort)
                              for p, r in zip(out.loc[cut, "person_id"], out.loc[cut, "risk_score"], strict=True)]
    keep = (out["risk_score"] > 0) | (out["vulnerability_score"] > 0) | out["in_cohort"]
    return out[keep].reset_index(drop=True)


def removal_causes(gone: pd.DataFrame, *, previous: pd.DataFrame, previous_evidence: pd.DataFrame,
                   scored: ScoreResult, members: pd.DataFrame, ranked: pd.DataFrame, cohort: CohortSettings,
                   previous_as_of: dt.date, as_of: dt.date, catalogue: Catalogue,
                   non_qualifying_outcomes: Sequence[str] = ("nfa",), aliases: Mapping[str, str] | None = None,
                   decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """``gone`` (:func:`hkc.matrix.removed_people`) with each person's ``cause`` and ``cause_text``.

    The refresh's side of :func:`movement_causes`: ``previous`` is the previous stored cohort
    (``person_id, rank, rag, risk_score``), ``previous_evidence`` its stored evidence of (at least)
    the people in ``gone``; the later side is this refresh's scores and counting events, kept as the
    history keeps them (:func:`later_rows`), so ``hkc movement`` between the two runs says the same.
    ``reason`` stays the listing rule they fail now (partners see it, without its amount); the cause
    text names scores and event ids, for the police view only.
    """
    out = gone.copy()
    out["cause"], out["cause_text"] = pd.Series(dtype=object), pd.Series(dtype=object)
    if gone.empty:
        return out
    ids = set(text_column(gone["person_id"]))
    later = later_rows(scored, members, ranked, cohort=cohort, person_ids=ids)
    points = scored.points[text_column(scored.points["person_id"]).isin(set(later["person_id"]))]
    earlier = previous[text_column(previous["person_id"]).isin(ids)]
    found = movement_causes(earlier, later, previous_evidence, points, earlier_as_of=previous_as_of, later_as_of=as_of,
                            catalogue=catalogue, non_qualifying_outcomes=non_qualifying_outcomes, aliases=aliases,
                            decisions=decisions).set_index("person_id")
    key = text_column(out["person_id"])
    out["cause"] = key.map(found["cause"]).to_numpy()
    out["cause_text"] = key.map(found["text"]).to_numpy()
    return out
