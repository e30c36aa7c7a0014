"""Questions asked of the history: what moved between two refreshes, and why one person scores.

>>> change = compare_runs(store, date(2026, 6, 30), date(2026, 9, 30))     # doctest: +SKIP
>>> change["share_reduced_or_removed"]                                       # doctest: +SKIP
0.31
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from hkc.errors import HistoryError
from hkc.history.store import HistoryStore
from hkc.matrix import rag_level

__all__ = ["compare_runs", "explain_person", "listing_status"]


def compare_runs(store: HistoryStore, from_as_of: dt.date, to_as_of: dt.date) -> dict:
    """Entries, exits (with reasons) and RAG changes from one stored cohort to a later one.

    ``share_reduced_or_removed`` is the share of the earlier cohort whose RAG fell or who left
    the list — the figure partnerships report ("31% saw their RAG rating reduce or were removed").
    """
    if from_as_of >= to_as_of:
        raise HistoryError(f"--from {from_as_of} must be before --to {to_as_of}")
    before_run, after_run = store.find_run(from_as_of), store.find_run(to_as_of)
    before, after = store.cohort(before_run.run_id), store.cohort(after_run.run_id)
    later_scores = store.person_scores(after_run.run_id)
    reasons = later_scores.set_index("person_id")["reason"]
    entries = after[~after["person_id"].isin(before["person_id"])]
    exits = before[~before["person_id"].isin(after["person_id"])].copy()
    exits["reason"] = exits["person_id"].map(reasons).fillna("no score in the later run (no counting events)")
    exits.loc[exits["reason"] == "", "reason"] = "eligible but below the cohort cut-off"
    both = before.merge(after, on="person_id", suffixes=("_before", "_after"))
    delta = rag_level(both["rag_after"]) - rag_level(both["rag_before"])
    both["change"] = pd.cut(delta, [-10, -0.5, 0.5, 10], labels=["reduced", "same", "raised"]).astype(str)
    reduced = int((both["change"] == "reduced").sum())
    n_before = len(before)
    return {
        "from": from_as_of.isoformat(), "to": to_as_of.isoformat(),
        "before_size": n_before, "after_size": len(after),
        "entries": entries[["person_id", "rank", "rag", "risk_score"]].to_dict("records"),
        "exits": exits[["person_id", "rank", "rag", "reason"]].to_dict("records"),
        "rag_changes": both[["person_id", "rag_before", "rag_after", "rank_before", "rank_after", "change"]]
        .to_dict("records"),
        "rag_reduced": reduced,
        "rag_raised": int((both["change"] == "raised").sum()),
        "rag_same": int((both["change"] == "same").sum()),
        "removed": len(exits),
        "share_reduced_or_removed": (reduced + len(exits)) / n_before if n_before else None,
    }


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
