"""Subject access: everything the history holds about one person, and everyone it went to.

The 2022 settlement over the Gangs Matrix required the Met to tell people, on request, whether they
were listed and who their data had gone to.  :func:`subject_access` answers both from the history
store: every run that scored the person (listed or not, with rank, RAG, scores and the reason),
their evidence and indicator points per run, removals, every disclosure that included them
(audience, date, by whom, files and their SHA-256), and the partnership's decisions about them.
:func:`render_subject_access` turns the answer into Markdown for the response letter.

>>> report = subject_access(store, "P000123")                   # doctest: +SKIP
>>> print(render_subject_access(report))                         # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from hkc.history.consultations import consultation_log
from hkc.history.interventions import stored_interventions
from hkc.history.rights import person_rights, rights_lines
from hkc.history.store import HistoryStore

__all__ = ["subject_access", "render_subject_access"]


def _records(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    frame = frame.drop(columns=[c for c in drop if c in frame.columns]).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def subject_access(store: HistoryStore, person_id: str, *, generated_at: dt.datetime | None = None) -> dict:
    """Everything stored about ``person_id`` (see the module docstring), as plain data.

    ``listed`` says whether the person was on any stored list; ``runs`` has one entry per stored run
    that holds a score for them, oldest first, each with its ``evidence`` and ``contributions``.
    ``purges`` lists retention purges (dates and counts only) so the answer can say that older
    history no longer exists; ``disclosures_without_people`` counts the disclosures whose list of
    people was erased by a purge.
    """
    person_id = str(person_id)
    held = store.person_history(person_id)
    runs = []
    evidence = held["evidence"]
    contributions = held["contributions"]
    for r in _records(held["scores"], drop=("person_id",)):
        as_of = r["as_of"]
        runs.append({
            "as_of": as_of, "listed": bool(r["in_cohort"]), "eligible": bool(r["eligible"]), "rank": r["rank"],
            "rag": r["rag"], "movement": r["movement"], "risk_score": r["risk_score"],
            "vulnerability_score": r["vulnerability_score"],
            "reason": r["reason"] or ("listed" if r["in_cohort"] else ""), "rationale": r["rationale"],
            "contributions": _records(contributions[contributions["as_of"] == as_of], ("run_id", "person_id", "as_of")),
            "evidence": _records(evidence[evidence["as_of"] == as_of], ("run_id", "person_id", "as_of")),
        })
    removals = [{"as_of": r["as_of"], "previous_rank": r["previous_rank"], "previous_rag": r["previous_rag"],
                 "reason": r["reason"]} for r in _records(held["removed"])]
    disclosures = [{"disclosed_at": r["disclosed_at"], "audience": r["audience"], "by": r["disclosed_by"],
                    "as_of": r["as_of"], "people": r["people"], "files": r["files"]}
                   for r in _records(held["disclosures"])]
    decisions = [{"meeting_date": r["meeting_date"], "as_of": r["as_of"], "decision": r["decision"],
                  "reason": r["reason"], "recorded_by": r["recorded_by"], "recorded_at": r["recorded_at"]}
                 for r in _records(held["decisions"])]
    done = [{"start_date": r["start_date"], "end_date": r["end_date"], "type": r["type"],
             "lead_agency": r["lead_agency"], "engagement": r["engagement"], "recorded_by": r["recorded_by"],
             "recorded_at": r["recorded_at"], "source_file": r["source_file"]}
            for r in _records(stored_interventions(store, [person_id]))]
    consulted = [{"consulted_at": r["consulted_at"], "by": r["consulted_by"], "action": r["action"],
                  "purpose": r["purpose"], "run_as_of": r["run_as_of"]}
                 for r in _records(consultation_log(store, person_id=person_id))]
    rights = person_rights(store, person_id)
    log = store.disclosures()
    unknowable = int(log["people_purged"].astype(bool).sum()) if len(log) else 0
    purges = [{"purged_at": r["purged_at"], "cutoff": r["cutoff"], "runs": r["runs"]} for r in _records(store.purges())]
    listed_on = [r["as_of"] for r in runs if r["listed"]]
    return {
        "person_id": person_id,
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "database": store.url,
        "held": bool(runs or removals or disclosures or decisions or done or rights["challenges"]
                     or rights["exclusions"]),
        "listed": bool(listed_on),
        "listed_on": listed_on,
        "runs": runs, "removals": removals, "disclosures": disclosures, "decisions": decisions, "interventions": done,
        "consultations": consulted, "challenges": rights["challenges"], "exclusions": rights["exclusions"],
        "purges": purges,
        "disclosures_without_people": unknowable,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + \
        ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]


def render_subject_access(report: dict) -> str:
    """The subject-access answer as Markdown (plain text that also reads well unrendered)."""
    pid = report["person_id"]
    out = [f"# Subject access: {pid}", "", f"Produced {report['generated_at']} from {report['database']}.", ""]
    if not report["held"]:
        out += ["The history holds no score, listing, decision or disclosure about this person."]
    elif report["listed"]:
        out += [f"Listed on {len(report['listed_on'])} quarterly list(s): {', '.join(report['listed_on'])}."]
    else:
        out += ["Scored, but never on a list."]
    if report["purges"]:
        last = report["purges"][-1]
        out += ["", f"History before {last['cutoff']} has been erased under the retention policy "
                    f"(last purge {last['purged_at'][:10]}); nothing from before then is held."]
    if report["runs"]:
        out += ["", "## Each refresh", ""]
        out += _table(["As of", "On the list", "Rank", "RAG", "Risk score", "Vulnerability score", "Reason"],
                      [[r["as_of"], "yes" if r["listed"] else "no", r["rank"], r["rag"], r["risk_score"],
                        r["vulnerability_score"], r["reason"] if not r["listed"] else r["rationale"] or "listed"]
                       for r in report["runs"]])
        for r in report["runs"]:
            out += ["", f"### Evidence as of {r['as_of']}", ""]
            out += _table(["Date", "Indicator", "Axis", "Role", "Outcome", "Grade", "Points", "Event"],
                          [[e["date"], e["indicator"], e["axis"], e["role"], e["outcome"], e["grade"], e["points"],
                            e["event_id"]] for e in r["evidence"]]) if r["evidence"] else ["No counting events held."]
    if report["removals"]:
        out += ["", "## Removed from a list", ""]
        out += _table(["As of", "Previous rank", "Previous RAG", "Reason"],
                      [[r["as_of"], r["previous_rank"], r["previous_rag"], r["reason"]] for r in report["removals"]])
    out += ["", "## Who received this person's data", ""]
    if report["disclosures"]:
        out += _table(["Date", "Audience", "By", "Pack as of", "People in the pack", "Files (SHA-256)"],
                      [[d["disclosed_at"], d["audience"], d["by"], d["as_of"], d["people"],
                        "; ".join(f"{name} {sha[:16]}" for name, sha in d["files"].items())]
                       for d in report["disclosures"]])
    else:
        out += ["No pack including this person is recorded as sent."]
    if report["disclosures_without_people"]:
        out += ["", f"{report['disclosures_without_people']} earlier disclosure(s) had their list of people erased "
                    "under the retention policy; whether this person was in them can no longer be told."]
    out += ["", "## Partnership decisions", ""]
    if report["decisions"]:
        out += _table(["Meeting", "Pack as of", "Decision", "Reason", "Recorded by"],
                      [[d["meeting_date"], d["as_of"], d["decision"], d["reason"], d["recorded_by"]]
                       for d in report["decisions"]])
    else:
        out += ["No decisions recorded."]
    out += ["", "## Challenges and corrections", ""]
    if report.get("challenges") or report.get("exclusions"):
        out += [f"- {line}" for line in rights_lines(report)[1:]]
    else:
        out += ["No challenge or correction recorded."]
    out += ["", "## Who consulted this record", ""]
    if report.get("consultations"):
        out += _table(["When", "By", "Action", "Purpose", "Run"],
                      [[c["consulted_at"], c["by"], c["action"], c["purpose"], c["run_as_of"] or ""]
                       for c in report["consultations"]])
    else:
        out += ["No consultation of this record is logged."]
    out += ["", "## Interventions", ""]
    if report.get("interventions"):
        out += _table(["From", "To", "Type", "Lead agency", "Engagement", "Recorded by"],
                      [[d["start_date"], d["end_date"] or "(running)", d["type"], d["lead_agency"], d["engagement"],
                        d["recorded_by"]] for d in report["interventions"]])
    else:
        out += ["No interventions recorded."]
    return "\n".join(out) + "\n"
