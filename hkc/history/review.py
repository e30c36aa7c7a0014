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
from hkc.history.aliases import Identities, identities
from hkc.history.cases import open_cases
from hkc.history.causes import run_evidence
from hkc.history.store import HistoryStore, StoredRun
from hkc.matrix import CAUSE_WORDS, CAUSES, NOT_EVIDENCE, movement_causes, rag_level

__all__ = ["compare_runs", "explain_person", "listing_status"]

NO_SCORE = "no score in the later run (no counting events)"
REKEYED = ("probably re-keyed: {old_id} is not in the later extract, and {new_id}, new in it, has {evidence}; "
           "not counted as removed (an identity change, not a change in behaviour) until someone confirms it with "
           "hkc ids link or says otherwise")


def compare_runs(store: HistoryStore, from_as_of: dt.date, to_as_of: dt.date, *, catalogue: Catalogue | None = None,
                 non_qualifying_outcomes: Sequence[str] = ("nfa",), aliases: Mapping[str, str] | None = None) -> dict:
    """Entries, exits and RAG changes from one stored cohort to a later one, each move down with its cause.

    Every earlier member whose RAG fell or who left gets ONE cause (:func:`hkc.matrix.movement_causes`:
    ``id_change``, ``review_decision``, ``record_correction``, ``new_events``, ``decay``, ``cutoff``,
    ``no_longer_eligible``) and its ``cause_text``, as the refresh writes them to ``removed.csv``; an
    exit's ``reason`` is the listing rule they fail now (for consecutive runs, ``removed.csv``'s).  ``causes`` holds the
    ``counts``, the ``shares`` of the earlier cohort and the ``people`` per cause, and which causes
    are ``not_evidence`` that anything worked (time alone, overtaking, re-keying).

    People are followed through their ids (:mod:`hkc.history.aliases`): both cohorts, the evidence
    and the decisions are compared under each id's latest id, so a member who was re-keyed or
    merged is the same person in both runs (``followed`` lists the earlier members now known by
    another id, with the id they had), never an exit and an entry.  A member the later run reported as a probable re-key (``run.json``'s
    ``probable_rekeys``: vanished while a new id with their date of birth, sex and events appeared)
    is not counted as an exit either: they are listed in ``probable_rekeys`` and get the cause
    ``id_change``, which is no evidence that anything worked.

    ``share_reduced_or_removed`` is the old single figure, the share of the earlier cohort whose RAG
    fell or who left ("31% saw their RAG rating reduce or were removed"): it counts decay and
    overtaking as success, so it is kept only beside the split.

    ``catalogue``: the indicator catalogue, whose lookback windows tell an event that aged out
    from one that was removed and whose multipliers tell a weakening correction; by default the one
    the later run recorded in its manifest (refused when that file is gone or changed).
    ``non_qualifying_outcomes``: the eligibility setting of that name.  ``aliases``:
    ``{old_id: new_id}`` re-keys and merges to follow besides the stored ones.
    """
    if from_as_of >= to_as_of:
        raise HistoryError(f"--from {from_as_of} must be before --to {to_as_of}")
    before_run, after_run = store.find_run(from_as_of), store.find_run(to_as_of)
    ids = identities(store, extra=aliases)
    before = ids.follow(store.cohort(before_run.run_id), unique=True)
    after = ids.follow(store.cohort(after_run.run_id), unique=True)
    earlier_id = dict(zip(before["person_id"], before.pop("stored_id"), strict=True))
    after = after.drop(columns="stored_id")
    catalogue, catalogue_note = _catalogue(store, after_run, catalogue)
    later_scores = _later_scores(ids, store.person_scores(after_run.run_id))
    rekeyed = _probable_rekeys(store, after_run, ids, set(before["person_id"]) - set(after["person_id"]))
    entries = after[~after["person_id"].isin(before["person_id"])]
    exits = before[~before["person_id"].isin(after["person_id"]) & ~before["person_id"].isin(rekeyed)].copy()
    # an adopted person whose case is still open is the partnership's case, not an exit (as in removed.csv)
    still_open = open_cases(store, to_as_of, ids)
    kept_open = exits[exits["person_id"].isin(set(still_open["person_id"]))]
    exits = exits[~exits["person_id"].isin(set(kept_open["person_id"]))]
    both = before.merge(after, on="person_id", suffixes=("_before", "_after"))
    delta = rag_level(both["rag_after"]) - rag_level(both["rag_before"])
    both["change"] = pd.cut(delta, [-10, -0.5, 0.5, 10], labels=["reduced", "same", "raised"]).astype(str)
    reduced = int((both["change"] == "reduced").sum())
    concerned = exits["person_id"].tolist() + both.loc[both["change"] == "reduced", "person_id"].tolist() \
        + list(rekeyed)
    stored_ids = ids.ids_of(concerned)  # every id each of them had: what the history holds is under those
    causes = movement_causes(before, later_scores, _followed(ids, run_evidence(store, before_run.run_id, stored_ids)),
                             _followed(ids, run_evidence(store, after_run.run_id, stored_ids)),
                             earlier_as_of=before_run.as_of, later_as_of=after_run.as_of, catalogue=catalogue,
                             non_qualifying_outcomes=non_qualifying_outcomes,
                             aliases={p: r["new_id"] for p, r in rekeyed.items()},
                             decisions=_followed(ids, store.decisions(list(stored_ids))) if concerned else None
                             ).set_index("person_id")
    for person, r in rekeyed.items():
        if person in causes.index:
            causes.loc[person, "text"] = r["text"]
    exits["reason"] = _exit_reasons(store, ids, exits["person_id"], later_scores, before_run, after_run)
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
        "open_cases": [{"person_id": p, "rank": r, "rag": g} for p, r, g in
                       kept_open[["person_id", "rank", "rag"]].itertuples(index=False)],
        "followed": [{"person_id": p, "earlier_id": e} for p, e in earlier_id.items() if p != e],
        "probable_rekeys": [{"person_id": p, "new_id": r["new_id"], "evidence": r["evidence"]}
                            for p, r in rekeyed.items()],
        "causes": _split(causes, n_before),
        "catalogue": catalogue_note,
        "share_reduced_or_removed": (reduced + len(exits)) / n_before if n_before else None,
    }


def _followed(ids: Identities, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of rows about people with each ``person_id`` replaced by its latest id."""
    return ids.follow(frame).drop(columns="stored_id") if len(frame) else frame


def _later_scores(ids: Identities, scores: pd.DataFrame) -> pd.DataFrame:
    """The later run's score rows under each id's latest id: a person listed under one of their ids first."""
    if not len(scores):
        return scores
    ordered = scores.sort_values(["in_cohort", "rank"], ascending=[False, True], na_position="last", kind="stable")
    return ids.follow(ordered, unique=True).drop(columns="stored_id")


def _probable_rekeys(store: HistoryStore, run: StoredRun, ids: Identities, gone: set[str]) -> dict[str, dict]:
    """The earlier members the later run reported as probable re-keys, still gone and not linked since (a link
    makes them followed, with the cause their record gives): ``{id: {"new_id", "evidence", "text"}}``."""
    found = {}
    for r in store.manifest(run.run_id).get("probable_rekeys") or []:
        person = str(r["old_id"])
        if ids.latest_id(person) == person and person in gone and person not in found:
            found[person] = {"new_id": r["new_id"], "evidence": r["evidence"],
                             "text": REKEYED.format(old_id=r["old_id"], new_id=r["new_id"], evidence=r["evidence"])}
    return found


def _exit_reasons(store: HistoryStore, ids: Identities, people: pd.Series, later_scores: pd.DataFrame,
                  before_run: StoredRun, after_run: StoredRun) -> pd.Series:
    """The listing rule each leaver fails in the later run: when the earlier run is the one before it,
    exactly what that refresh wrote to ``removed.csv``; otherwise from the later run's scores."""
    reasons = people.map(later_scores.set_index("person_id")["reason"]).fillna(NO_SCORE)
    reasons[reasons == ""] = "eligible but below the cohort cut-off"
    previous = store.previous_run(after_run.as_of)
    if previous is not None and previous.run_id == before_run.run_id:
        stored = _followed(ids, store.removed(after_run.run_id)).drop_duplicates("person_id")
        reasons = people.map(stored.set_index("person_id")["reason"]).astype(object).fillna(reasons)
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

    A person re-keyed or merged is found under whichever of their ids the run holds (``stored_as``).
    ``status`` says in one line whether the person was listed and, if not, exactly which rule
    they failed and by how much — the stored reason ("not eligible: latest weapon-related event
    is 373 days old; the review window is 365 days: …").
    """
    run = store.find_run(as_of)
    row, contrib, events = store.person(run.run_id, person_id)
    for other in sorted(identities(store).ids_of([person_id])):  # the run may hold them under another of their ids
        if not row.empty:
            break
        if other != str(person_id):
            row, contrib, events = store.person(run.run_id, other)
    if row.empty:
        raise HistoryError(f"person '{person_id}' has no score in the run of {run.as_of} "
                           f"(no counting events in the lookback windows, or not in that extract)")
    def records(frame: pd.DataFrame) -> list[dict]:
        frame = frame.drop(columns=["run_id"]).astype(object)
        return frame.where(frame.notna(), None).to_dict("records")

    score = records(row)[0]
    out = {"as_of": run.as_of.isoformat(), "person_id": person_id, "score": score, "status": listing_status(score),
           "contributions": records(contrib), "evidence": records(events)}
    if score["person_id"] != str(person_id):
        out["stored_as"] = score["person_id"]
    return out


def listing_status(score: dict) -> str:
    """'listed: rank 3, red', 'eligible, not listed: …' or 'not eligible: <the rule failed and by how much>'."""
    if score["in_cohort"]:
        return f"listed: rank {score['rank']}, {score['rag']}"
    reason = score.get("reason") or ""
    if score["eligible"]:  # a refresh stores "eligible; below the cohort cut-off (…)"
        reason = reason.removeprefix("eligible; ")
        return "eligible, not listed" + (f": {reason}" if reason else "")
    return f"not eligible: {reason}"
