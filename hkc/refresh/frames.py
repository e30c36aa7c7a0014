"""The refresh's tables: the cohort and scores as published, and the rows kept in the history.

Each takes the matrix's results and returns one frame with fixed columns (:data:`COHORT_COLUMNS`,
:data:`SCORES_COLUMNS`, :data:`OPEN_CASE_COLUMNS`); :func:`rules_text` says in words which rules made the list.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from hkc.definitions import CohortSettings, Definitions
from hkc.history import REVIEW_REMOVED
from hkc.matrix import PeerMap, ScoreResult, cut_off_reason, movement, rationale, vulnerability_bands

__all__ = ["apply_reviews", "COHORT_COLUMNS", "SCORES_COLUMNS", "cohort_frame", "scores_frame", "with_peers_and_decisions",
           "stored_scores", "dates_as_text", "rules_text", "OPEN_CASE_COLUMNS", "open_cases_frame"]

COHORT_COLUMNS = ["rank", "person_id", "risk_score", "rag", "vulnerability_score", "age", "sex", "ethnicity", "area",
                  "movement", "rationale", "vulnerability_band", "vulnerability_rationale", "latest_weapon_date",
                  "peer_group", "decisions", "latest_decision", "latest_meeting_date", "latest_reason", "declined",
                  "under_challenge", "intervention"]
# an open case (hkc.history.open_cases) whose person is not listed this quarter, and why (status, reason)
OPEN_CASE_COLUMNS = ["person_id", "status", "reason", "opened", "latest_decision", "latest_meeting_date",
                     "lead_agency", "intervention", "review_date", "review_overdue"]
SCORES_COLUMNS = ["person_id", "risk_score", "vulnerability_score", "eligible", "in_cohort", "priority_rank",
                  "reason", "age", "sex", "ethnicity", "area"]


def cohort_frame(scored: ScoreResult, members: pd.DataFrame, previous: pd.DataFrame | None,
                 definitions: Definitions) -> pd.DataFrame:
    """The listed people with their movement, rationales and vulnerability band."""
    members = members.copy()
    members["movement"] = movement(members, previous)
    ids = members["person_id"].tolist()
    members["rationale"] = members["person_id"].map(rationale(ids, scored, catalogue=definitions.catalogue))
    members["vulnerability_rationale"] = members["person_id"].map(
        rationale(ids, scored, catalogue=definitions.catalogue, axis="vulnerability"))
    members["vulnerability_band"] = vulnerability_bands(members["vulnerability_score"].to_numpy(),
                                                        settings=definitions.settings.vulnerability)
    members["latest_weapon_date"] = pd.to_datetime(members["latest_weapon_date"]).dt.strftime("%Y-%m-%d")
    return members[COHORT_COLUMNS[:COHORT_COLUMNS.index("peer_group")]]


def scores_frame(scored: ScoreResult, ranked: pd.DataFrame, members: pd.DataFrame, *,
                 cohort: CohortSettings | None = None) -> pd.DataFrame:
    """Everyone scored, with whether they are listed, their priority rank and why not if not.

    An eligible person who is not listed gets :func:`hkc.matrix.cut_off_reason`: the cohort
    minimum and by how much their score misses it, or their rank beyond the cohort's size.
    Without ``cohort`` (the settings are unknown) the reason names the priority rank only.
    """
    frame = scored.scores.copy()
    frame["in_cohort"] = frame["person_id"].isin(members["person_id"])
    rank = ranked.set_index("person_id")["priority_rank"]
    frame["priority_rank"] = frame["person_id"].map(rank).astype("Int64")
    cut = frame["eligible"] & ~frame["in_cohort"]
    if cohort is None:
        frame.loc[cut, "reason"] = "eligible; below the cohort cut-off (priority rank " + \
            frame.loc[cut, "priority_rank"].astype(str) + ")"
    else:
        frame.loc[cut, "reason"] = [cut_off_reason(int(r), float(s), cohort=cohort) for r, s in
                                    zip(frame.loc[cut, "priority_rank"], frame.loc[cut, "risk_score"], strict=True)]
    for col in ("sex", "ethnicity"):
        frame[col] = frame[col].astype(str)
    return frame.sort_values("person_id", kind="stable")[SCORES_COLUMNS].reset_index(drop=True)


def with_peers_and_decisions(members: pd.DataFrame, peer_map: PeerMap, decisions: pd.DataFrame,
                             challenged: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """Each member's peer group and decision history (a declined member stays listed, marked), and whether
    their listing is under an open challenge (``hkc person challenge``)."""
    members = members.copy()
    groups = peer_map.peer_groups.drop_duplicates("person_id").set_index("person_id")["peer_group"]
    members["peer_group"] = members["person_id"].map(groups).astype(object).fillna("")
    history = decisions.set_index("person_id")
    for col in ("decisions", "latest_decision", "latest_meeting_date", "latest_reason", "declined", "intervention"):
        members[col] = members["person_id"].map(history[col]) if col in history else None
    members["decisions"] = members["decisions"].fillna(0).astype(int)
    members["declined"] = members["declined"].fillna(False).astype(bool)
    members["under_challenge"] = members["person_id"].astype(str).isin(set(challenged))
    return members[COHORT_COLUMNS]


def open_cases_frame(cases: pd.DataFrame, members: pd.DataFrame, scores: pd.DataFrame, ranked: pd.DataFrame, *,
                     cohort: CohortSettings, as_of: dt.date) -> pd.DataFrame:
    """The open cases (:func:`hkc.history.open_cases`) of people not listed this quarter (:data:`OPEN_CASE_COLUMNS`).

    ``status``: ``cutoff`` (eligible, overtaken at the cut-off), ``no_longer_eligible`` or
    ``not_in_extract``; ``reason``: the police view's detail (the cut-off or eligibility rule with its
    amount; partners see it through :func:`hkc.partnership.partner_text.partner_reason`).
    ``review_overdue``: the review date is before ``as_of`` (False when there is none).
    """
    cases = cases[~cases["person_id"].astype(str).isin(set(members["person_id"].astype(str)))]
    now = scores.assign(person_id=scores["person_id"].astype(str)).set_index("person_id")
    ranks = ranked.assign(person_id=ranked["person_id"].astype(str)).set_index("person_id")["priority_rank"]
    rows = []
    for case in cases.to_dict("records"):
        pid = str(case["person_id"])
        if pid not in now.index:
            status, reason = "not_in_extract", "not in this extract"
        elif bool(now.at[pid, "eligible"]):
            status = "cutoff"
            reason = cut_off_reason(int(ranks[pid]), float(now.at[pid, "risk_score"]), cohort=cohort) \
                if pid in ranks.index else "still eligible but below the cohort cut-off"
        else:
            status, reason = "no_longer_eligible", str(now.at[pid, "reason"])
        review = case.get("review_date")
        overdue = bool(isinstance(review, str) and review[:10] < as_of.isoformat())
        rows.append({**case, "person_id": pid, "status": status, "reason": reason, "review_overdue": overdue})
    return pd.DataFrame(rows, columns=OPEN_CASE_COLUMNS).sort_values("opened", kind="stable").reset_index(drop=True)


def stored_scores(scores_out: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The people kept in history: anyone with a non-zero score, and every cohort member."""
    keep = (scores_out["risk_score"] > 0) | (scores_out["vulnerability_score"] > 0) | scores_out["in_cohort"]
    stored = scores_out.loc[keep, ["person_id", "risk_score", "vulnerability_score", "eligible", "in_cohort",
                                   "reason"]].copy()
    m = members.set_index("person_id")
    for col in ("rank", "rag", "movement", "rationale"):
        stored[col] = stored["person_id"].map(m[col])
    stored["rank"] = stored["rank"].astype("Int64")
    return stored


def dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every date column as ``YYYY-MM-DD`` text (for CSV outputs)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out


def rules_text(definitions: Definitions) -> dict:
    """The listing rules in words, for the packs.

    ``eligibility`` is the whole rule as one sentence list (``weapon``, ``corroboration`` and
    ``score`` are its parts); the number keys stay for templates that print them.
    """
    s = definitions.settings
    e = s.eligibility
    rag = (f"red at {s.rag.red:g}+, amber at {s.rag.amber:g}+, green below" if s.rag.method == "fixed"
           else f"red = top {s.rag.red_share:.0%} of the cohort, amber = next {s.rag.amber_share:.0%}")
    weapon, corroboration = _weapon_rule(definitions), _corroboration_rule(definitions)
    score = f"a risk score of at least {e.min_risk_score:g}"
    eligibility = (f"age {e.min_age}\u2013{e.max_age} at the as-of date; {weapon}; {corroboration}; {score}; "
                   f"nobody is listed on vulnerability alone")
    return {"min_age": e.min_age, "max_age": e.max_age, "review_window_days": e.review_window_days,
            "min_intelligence_reports": e.min_intelligence_reports,
            "intelligence_distinct_dates": e.intelligence_distinct_dates, "min_risk_score": e.min_risk_score,
            "allow_police_generated_only": e.allow_police_generated_only, "weapon": weapon,
            "corroboration": corroboration, "score": score, "eligibility": eligibility,
            "cohort": definitions.settings.cohort.describe(), "rag": rag,
            "catalogue_version": definitions.catalogue.version, "definitions": definitions.describe()}



def _weapon_rule(definitions: Definitions) -> str:
    """The weapon-evidence rule, naming the police-generated types from the catalogue."""
    e = definitions.settings.eligibility
    police = [i.label for i in definitions.catalogue.indicators.values() if i.weapon and i.proactive]
    outcomes = "/".join(e.non_qualifying_outcomes) or "none"
    if e.allow_police_generated_only:
        return (f"at least one weapon-related risk event in the last {e.review_window_days} days whose outcome is "
                f"not {outcomes}, or corroborated intelligence")
    return (f"at least one reported weapon-related risk event in the last {e.review_window_days} days whose "
            f"outcome is not {outcomes}: police-generated evidence ({', '.join(police) or 'none'}) never lists "
            f"anyone alone")


def _corroboration_rule(definitions: Definitions) -> str:
    e = definitions.settings.eligibility
    u, c = e.usable_grade, e.credible_grade
    return (f"intelligence is corroborated only by {e.min_intelligence_reports} or more reports graded {u} or better "
            f"(source A\u2013{u[0]}, assessment 1\u2013{u[1]}) from different sources, or with one graded {c} or "
            f"better (A\u2013{c[0]}, 1\u2013{c[1]}); ungraded reports, source E and assessments 4\u20135 never "
            f"corroborate" + ("; a source's reports on one date count once" if e.intelligence_distinct_dates else ""))


def apply_reviews(scores: pd.DataFrame, points: pd.DataFrame, removals: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """``scores`` with each person a meeting removed on review (``removals``: ``person_id, meeting_date``, from
    :func:`hkc.history.removed_on_review`) made not eligible — reason "removed by partnership review on DATE" —
    unless a risk event dated after that meeting has arrived (``points``: the matrix's counting events), which
    puts them back in the ranking, where their rationale shows it.  Returns the scores, how many were kept off
    and how many came back."""
    if removals.empty or scores.empty:
        return scores, 0, 0
    ids = scores["person_id"].astype(str).to_numpy()
    risk = points[(points["axis"].astype(str) == "risk") & (points["points"] > 0)]
    newest = pd.Series(pd.to_datetime(risk["date"]).dt.date.to_numpy(), index=ids[risk["person_idx"].to_numpy()])
    newest = newest.groupby(level=0).max()
    out, kept, back = scores.copy(), 0, 0
    for person, meeting in removals[["person_id", "meeting_date"]].itertuples(index=False):
        here = ids == str(person)
        if not here.any():
            continue
        meeting = dt.date.fromisoformat(str(meeting)[:10])
        if person in newest.index and newest[person] > meeting:
            back += 1
            continue
        kept += 1
        out.loc[here, "eligible"] = False
        out.loc[here, "reason"] = REVIEW_REMOVED.format(date=meeting.isoformat())
    return out, kept, back
