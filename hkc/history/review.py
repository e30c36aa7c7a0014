"""Questions asked of the history: what moved between two refreshes, and why one person scores.

>>> change = compare_runs(store, date(2026, 6, 30), date(2026, 9, 30))     # doctest: +SKIP
>>> change["causes"]["counts"]["decay"], change["share_reduced_or_removed"]   # doctest: +SKIP
(9, 0.31)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from hkc.definitions import Catalogue, load_catalogue
from hkc.errors import HistoryError
from hkc.history.causes import run_evidence
from hkc.history.store import HistoryStore, StoredRun
from hkc.matrix import CAUSE_WORDS, CAUSES, NOT_EVIDENCE, movement_causes, rag_level

__all__ = ["compare_runs", "explain_person", "listing_status"]

NO_SCORE = "no score in the later run (no counting events)"


def compare_runs(store: HistoryStore, from_as_of: dt.date, to_as_of: dt.date, *, catalogue: Catalogue | None = None,
                 non_qualifying_outcomes: Sequence[str] = ("nfa",), aliases: Mapping[str, str] | None = None) -> dict:
    """Entries, exits and RAG changes from one stored cohort to a later one, each move down with its cause.

    Every earlier member whose RAG fell or who left gets ONE cause (:func:`hkc.matrix.movement_causes`:
    ``id_change``, ``review_decision``, ``record_correction``, ``new_events``, ``decay``, ``cutoff``,
    ``no_longer_eligible``) and its ``cause_text``, as the refresh writes them to ``removed.csv``; an
    exit's ``reason`` is the listing rule they fail now (for consecutive runs, ``removed.csv``'s).  ``causes`` holds the
    ``counts``, the ``shares`` of the earlier cohort and the ``people`` per cause, and which causes
    are ``not_evidence`` that anything worked (time alone, overtaking, re-keying).

    ``share_reduced_or_removed`` is the old single figure, the share of the earlier cohort whose RAG
    fell or who left ("31% saw their RAG rating reduce or were removed"): it counts decay and
    overtaking as success, so it is kept only beside the split.

    ``catalogue``: the indicator catalogue, whose lookback windows tell an event that aged out
    from one that was removed and whose multipliers tell a weakening correction; by default the one
    the later run recorded in its manifest (refused when that file is gone or changed).
    ``non_qualifying_outcomes``: the eligibility setting of that name.  ``aliases``:
    ``{old_id: new_id}`` re-keys and merges.
    """
    if from_as_of >= to_as_of:
        raise HistoryError(f"--from {from_as_of} must be before --to {to_as_of}")
    before_run, after_run = store.find_run(from_as_of), store.find_run(to_as_of)
    before, after = store.cohort(before_run.run_id), store.cohort(after_run.run_id)
    catalogue, catalogue_note = _catalogue(store, after_run, catalogue)
    later_scores = store.person_scores(after_run.run_id)
    entries = after[~after["person_id"].isin(before["person_id"])]
    exits = before[~before["person_id"].isin(after["person_id"])].copy()
    both = before.merge(after, on="person_id", suffixes=("_before", "_after"))
    delta = rag_level(both["rag_after"]) - rag_level(both["rag_before"])
    both["change"] = pd.cut(delta, [-10, -0.5, 0.5, 10], labels=["reduced", "same", "raised"]).astype(str)
    reduced = int((both["change"] == "reduced").sum())
    concerned = exits["person_id"].tolist() + both.loc[both["change"] == "reduced", "person_id"].tolist()
    causes = movement_causes(before, later_scores, run_evidence(store, before_run.run_id, concerned),
                             run_evidence(store, after_run.run_id, concerned), earlier_as_of=before_run.as_of,
                             later_as_of=after_run.as_of, catalogue=catalogue,
                             non_qualifying_outcomes=non_qualifying_outcomes, aliases=aliases,
                             decisions=store.decisions(concerned) if concerned else None).set_index("person_id")
    exits["reason"] = _exit_reasons(store, exits["person_id"], later_scores, before_run, after_run)
    exits["cause"] = exits["person_id"].map(causes["cause"])
    exits["cause_text"] = exits["person_id"].map(causes["text"])
    both["cause"] = both["person_id"].map(causes["cause"]).astype(object)
    both["cause_text"] = both["person_id"].map(causes["text"]).astype(object)
    both = both.astype(object).where(both.notna(), None)
    n_before = len(before)
    return {
        "from": from_as_of.isoformat(), "to": to_as_of.isoformat(),
        "before_size": n_before, "after_size": len(after),
        "entries": entries[["person_id", "rank", "rag", "risk_score"]].to_dict("records"),
        "exits": exits[["person_id", "rank", "rag", "reason", "cause", "cause_text"]].to_dict("records"),
        "rag_changes": both[["person_id", "rag_before", "rag_after", "rank_before", "rank_after", "change", "cause",
                             "cause_text"]].to_dict("records"),
        "rag_reduced": reduced,
        "rag_raised": int((both["change"] == "raised").sum()),
        "rag_same": int((both["change"] == "same").sum()),
        "removed": len(exits),
        "causes": _split(causes, n_before),
        "catalogue": catalogue_note,
        "share_reduced_or_removed": (reduced + len(exits)) / n_before if n_before else None,
    }


def _exit_reasons(store: HistoryStore, people: pd.Series, later_scores: pd.DataFrame, before_run: StoredRun,
                  after_run: StoredRun) -> pd.Series:
    """The listing rule each leaver fails in the later run: when the earlier run is the one before it,
    exactly what that refresh wrote to ``removed.csv``; otherwise from the later run's scores."""
    reasons = people.map(later_scores.set_index("person_id")["reason"]).fillna(NO_SCORE)
    reasons[reasons == ""] = "eligible but below the cohort cut-off"
    previous = store.previous_run(after_run.as_of)
    if previous is not None and previous.run_id == before_run.run_id:
        stored = store.removed(after_run.run_id).set_index("person_id")["reason"]
        reasons = people.map(stored).fillna(reasons)
    return reasons


def _split(causes: pd.DataFrame, n_before: int) -> dict:
    """Counts, shares of the earlier cohort and people per cause, with which causes are no evidence."""
    counts = {c: int((causes["cause"] == c).sum()) for c in CAUSES}
    people = {c: [{"person_id": p, "movement": r["movement"], "cause_text": r["text"]}
                  for p, r in causes[causes["cause"] == c].iterrows()] for c in CAUSES}
    not_evidence = sum(counts[c] for c in NOT_EVIDENCE)
    ineligible = causes.loc[causes["cause"] == "no_longer_eligible", "rule"]
    return {"order": list(CAUSES), "words": dict(CAUSE_WORDS), "counts": counts,
            "no_longer_eligible_by_rule": {r: int((ineligible == r).sum()) for r in ("age", "weapon", "score")},
            "shares": {c: (k / n_before if n_before else None) for c, k in counts.items()},
            "people": people, "total": int(len(causes)), "not_evidence": list(NOT_EVIDENCE),
            "not_evidence_count": not_evidence,
            "not_evidence_share": not_evidence / n_before if n_before else None}


def _catalogue(store: HistoryStore, run: StoredRun, given: Catalogue | None) -> tuple[Catalogue, dict]:
    """The catalogue to judge lookback windows by, and a note of whether it is the one the run used."""
    recorded = store.manifest(run.run_id).get("config_files", {}).get("catalogue", {})
    if given is None:
        path = Path(recorded.get("path") or "")
        if not path.is_file() or not recorded.get("sha256"):
            raise HistoryError(f"the indicator catalogue the run of {run.as_of} used ({path or 'not recorded'}) is not "
                               "there to tell an event that aged out from one that was removed; pass --config "
                               "with the deployment's settings")
        given = load_catalogue(path)
        if given.sha256 != recorded["sha256"]:
            raise HistoryError(f"the indicator catalogue at {path} changed since the run of {run.as_of} used it; "
                               "pass --config with the deployment's settings")
    same = recorded.get("sha256") in (None, given.sha256)
    note = {"sha256": given.sha256, "same_as_later_run": same,
            "text": "" if same else (f"the indicator catalogue given is not the one the run of {run.as_of} used: "
                                     "lookback windows are judged by the one given")}
    return given, note


def explain_person(store: HistoryStore, person_id: str, *, as_of: dt.date | None = None) -> dict:
    """Everything behind one person's scores in a stored run: score, status, indicators, events.

    ``status`` says in one line whether the person was listed and, if not, exactly which rule
    they failed and by how much — the stored reason ("not eligible: latest weapon-related event
    is 373 days old; the review window is 365 days: …").
    """
    run = store.find_run(as_of)
    row, contrib, events = store.person(run.run_id, person_id)
    if row.empty:
        raise HistoryError(f"person '{person_id}' has no score in the run of {run.as_of} "
                           f"(no counting events in the lookback windows, or not in that extract)")
    def records(frame: pd.DataFrame) -> list[dict]:
        frame = frame.drop(columns=["run_id"]).astype(object)
        return frame.where(frame.notna(), None).to_dict("records")

    score = records(row)[0]
    return {"as_of": run.as_of.isoformat(), "person_id": person_id, "score": score, "status": listing_status(score),
            "contributions": records(contrib), "evidence": records(events)}


def listing_status(score: dict) -> str:
    """'listed: rank 3, red', 'eligible, not listed: …' or 'not eligible: <the rule failed and by how much>'."""
    if score["in_cohort"]:
        return f"listed: rank {score['rank']}, {score['rag']}"
    reason = score.get("reason") or ""
    if score["eligible"]:  # a refresh stores "eligible; below the cohort cut-off (…)"
        reason = reason.removeprefix("eligible; ")
        return "eligible, not listed" + (f": {reason}" if reason else "")
    return f"not eligible: {reason}"
