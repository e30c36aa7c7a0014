"""Subject access: everything the history holds about one person, and everyone it went to.

The 2022 settlement over the Gangs Matrix required the Met to tell people, on request, whether they
were listed and who their data had gone to.  :func:`subject_access` answers both from the history
store: every run that scored the person (listed or not, with rank, RAG, scores and the reason),
their evidence and indicator points per run, removals, each run that had them on its periphery list
(linked to listed people but not listed themselves: the role of the links and to how many listed
people), every disclosure that included them (audience, the agency for an agency's own pack, when
it was released or that it is held and not released, by whom, files and their SHA-256), and the
partnership's decisions about them with
the casework recorded with each (intervention, lead agency, owner's role, review date, engagement,
actions).
:func:`render_subject_access` turns the answer into Markdown for the response letter.

>>> report = subject_access(store, "P000123")                   # doctest: +SKIP
>>> print(render_subject_access(report))                         # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from hkc.history.aliases import identities, stored_aliases
from hkc.history.consultations import consultation_log
from hkc.history.interventions import stored_interventions
from hkc.history.members import identity_rows
from hkc.history.referrals import stored_referrals
from hkc.history.rights import person_rights, rights_lines
from hkc.history.store import HistoryStore

__all__ = ["subject_access", "render_subject_access"]

_NONE = pd.DataFrame(columns=["as_of", "link_role", "linked_to"])  # a store read as it is, without the periphery table

# the casework a decision may carry (hkc.partnership.decisions), with the headings subject access shows
DECISION_CASEWORK = {"intervention": "Intervention", "lead_agency": "Lead agency", "owner_role": "Owner (role)",
                     "review_date": "Review date", "engagement": "Engagement", "actions": "Actions"}


def _records(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    frame = frame.drop(columns=[c for c in drop if c in frame.columns]).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def subject_access(store: HistoryStore, person_id: str, *, generated_at: dt.datetime | None = None) -> dict:
    """Everything stored about ``person_id`` (see the module docstring), as plain data.

    ``listed`` says whether the person was on any stored list; ``runs`` has one entry per stored run
    that holds a score for them, oldest first, each with its ``evidence`` and ``contributions``;
    ``periphery`` one per run that had them on its periphery list (``as_of``, ``link_role``,
    ``linked_to``: how many cohort members), and ``on_periphery`` those runs' dates.  Each
    disclosure names its ``agency`` (None unless the pack was an agency's own) and ``released_at``
    (when it was published; None while it is held, not released).
    ``purges`` lists retention purges (dates and counts only) so the answer can say that older
    history no longer exists; ``disclosures_without_people`` counts the disclosures whose list of
    people was erased by a purge.

    A person re-keyed or merged (:mod:`hkc.history.aliases`) has one history: asked about any of
    their ids, the answer holds what is stored under every one of them (``ids``; each run, removal,
    decision and disclosure then says under which id it is ``stored_as``), the ``aliases`` that
    join them, and the ``identities`` kept for re-key detection (date of birth, sex, event ids).
    """
    person_id = str(person_id)
    ids = identities(store)
    all_ids = sorted(ids.ids_of([person_id]), key=lambda p: (p != person_id, p))
    held = {i: store.person_history(i) for i in all_ids}
    runs = []
    for pid in all_ids:
        evidence, contributions = held[pid]["evidence"], held[pid]["contributions"]
        for r in _records(held[pid]["scores"], drop=("person_id",)):
            as_of = r["as_of"]
            runs.append({
                "as_of": as_of, "person_id": pid, "listed": bool(r["in_cohort"]), "eligible": bool(r["eligible"]),
                "rank": r["rank"], "rag": r["rag"], "movement": r["movement"], "risk_score": r["risk_score"],
                "vulnerability_score": r["vulnerability_score"],
                "reason": r["reason"] or ("listed" if r["in_cohort"] else ""), "rationale": r["rationale"],
                "contributions": _records(contributions[contributions["as_of"] == as_of],
                                          ("run_id", "person_id", "as_of")),
                "evidence": _records(evidence[evidence["as_of"] == as_of], ("run_id", "person_id", "as_of")),
            })
    runs.sort(key=lambda r: (r["as_of"], r["person_id"]))
    peripheral = sorted(({"as_of": r["as_of"], "link_role": r["link_role"], "linked_to": r["linked_to"],
                          "person_id": pid} for pid in all_ids for r in _records(held[pid].get("periphery", _NONE))),
                        key=lambda r: (r["as_of"], r["person_id"]))
    removals = sorted(({"as_of": r["as_of"], "person_id": pid, "previous_rank": r["previous_rank"],
                        "previous_rag": r["previous_rag"], "reason": r["reason"]}
                       for pid in all_ids for r in _records(held[pid]["removed"])), key=lambda r: r["as_of"])
    seen: set[object] = set()
    disclosures = []
    for pid in all_ids:
        for r in _records(held[pid]["disclosures"]):
            if r["disclosure_id"] not in seen:
                seen.add(r["disclosure_id"])
                held_back = r.get("published") is not None and not r["published"]
                disclosures.append({"disclosed_at": r["disclosed_at"], "audience": r["audience"],
                                    "agency": r.get("agency"), "released_at": None if held_back else r["disclosed_at"],
                                    "by": r["disclosed_by"], "as_of": r["as_of"], "people": r["people"],
                                    "files": r["files"], "person_id": pid})
    disclosures.sort(key=lambda d: str(d["disclosed_at"]))
    decisions = [{"meeting_date": r["meeting_date"], "as_of": r["as_of"], "decision": r["decision"],
                  "reason": r["reason"], "recorded_by": r["recorded_by"], "recorded_at": r["recorded_at"],
                  **{c: r.get(c) for c in DECISION_CASEWORK}, "person_id": r["person_id"]}
                 for r in _records(store.decisions(all_ids))]
    done = [{"start_date": r["start_date"], "end_date": r["end_date"], "type": r["type"],
             "lead_agency": r["lead_agency"], "engagement": r["engagement"], "recorded_by": r["recorded_by"],
             "recorded_at": r["recorded_at"], "source_file": r["source_file"], "person_id": r["person_id"]}
            for r in _records(stored_interventions(store, all_ids))]
    referred = [{"referred_on": r["referred_on"], "agency": r["agency"], "reason": r["reason"],
                 "recorded_by": r["recorded_by"], "recorded_at": r["recorded_at"], "person_id": r["person_id"]}
                for r in _records(stored_referrals(store, all_ids))]
    consulted = sorted(({"consulted_at": r["consulted_at"], "by": r["consulted_by"], "action": r["action"],
                         "purpose": r["purpose"], "run_as_of": r["run_as_of"], "person_id": pid}
                        for pid in all_ids for r in _records(consultation_log(store, person_id=pid))),
                       key=lambda c: str(c["consulted_at"]))
    rights = {"challenges": [], "exclusions": []}
    for pid in all_ids:
        for kind, rows in person_rights(store, pid).items():
            rights[kind] += [r | {"person_id": pid} for r in rows]
    if len(all_ids) > 1:  # say under which id each entry is stored
        for entries in (runs, peripheral, removals, disclosures, decisions, done, referred, consulted, rights["challenges"],
                        rights["exclusions"]):
            for entry in entries:
                entry["stored_as"] = entry["person_id"]
    for entries in (runs, peripheral, removals, disclosures, decisions, done, referred, consulted, rights["challenges"],
                    rights["exclusions"]):
        for entry in entries:
            del entry["person_id"]
    links = stored_aliases(store)
    links = links[links["old_id"].isin(all_ids) | links["new_id"].isin(all_ids)]
    known = [{"old_id": r["old_id"], "new_id": r["new_id"], "date": r["date"], "reason": r["reason"],
              "source": r["source"], "recorded_by": r["recorded_by"], "recorded_at": r["recorded_at"]}
             for r in _records(links)]
    kept = [{"as_of": r["as_of"], "person_id": r["person_id"], "date_of_birth": r["date_of_birth"], "sex": r["sex"],
             "event_ids": list(r["event_ids"]), "occurrence_ids": list(r["occurrence_ids"])}
            for r in identity_rows(store, all_ids).to_dict("records")]
    log = store.disclosures()
    unknowable = int(log["people_purged"].astype(bool).sum()) if len(log) else 0
    purges = [{"purged_at": r["purged_at"], "cutoff": r["cutoff"], "runs": r["runs"]} for r in _records(store.purges())]
    listed_on = sorted({r["as_of"] for r in runs if r["listed"]})
    return {
        "person_id": person_id,
        "ids": all_ids,
        "aliases": known,
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "database": store.url,
        "held": bool(runs or peripheral or removals or disclosures or decisions or done or rights["challenges"]
                     or rights["exclusions"] or kept),
        "listed": bool(listed_on),
        "listed_on": listed_on,
        "on_periphery": sorted({r["as_of"] for r in peripheral}),
        "runs": runs, "periphery": peripheral, "removals": removals, "disclosures": disclosures,
        "decisions": decisions, "interventions": done, "referrals": referred,
        "consultations": consulted, "challenges": rights["challenges"], "exclusions": rights["exclusions"],
        "identities": kept,
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
    out += _headline(report)
    out += _identity_lines(report)
    if report["purges"]:
        last = report["purges"][-1]
        out += ["", f"History before {last['cutoff']} has been erased under the retention policy "
                    f"(last purge {last['purged_at'][:10]}); nothing from before then is held."]
    if report["runs"]:
        out += ["", "## Each refresh", ""]
        several = len(report.get("ids", [])) > 1
        out += _table(["As of", *(["Id"] if several else []), "On the list", "Rank", "RAG", "Risk score",
                       "Vulnerability score", "Reason"],
                      [[r["as_of"], *([r["stored_as"]] if several else []), "yes" if r["listed"] else "no", r["rank"],
                        r["rag"], r["risk_score"], r["vulnerability_score"],
                        r["reason"] if not r["listed"] else r["rationale"] or "listed"]
                       for r in report["runs"]])
        for r in report["runs"]:
            out += ["", f"### Evidence as of {r['as_of']}" + (f" (as {r['stored_as']})" if several else ""), ""]
            out += _table(["Date", "Indicator", "Axis", "Role", "Outcome", "Grade", "Points", "Event"],
                          [[e["date"], e["indicator"], e["axis"], e["role"], e["outcome"], e["grade"], e["points"],
                            e["event_id"]] for e in r["evidence"]]) if r["evidence"] else ["No counting events held."]
    if report.get("periphery"):
        several = len(report.get("ids", [])) > 1
        out += ["", "## On the periphery", "",
                "The periphery list names people linked to listed people through shared incidents who are not "
                "listed themselves; it goes out with the police and partner packs.", ""]
        out += _table(["As of", *(["Id"] if several else []), "Link role", "Linked to (listed people)"],
                      [[p["as_of"], *([p["stored_as"]] if several else []), p["link_role"], p["linked_to"]]
                       for p in report["periphery"]])
    if report["removals"]:
        out += ["", "## Removed from a list", ""]
        out += _table(["As of", "Previous rank", "Previous RAG", "Reason"],
                      [[r["as_of"], r["previous_rank"], r["previous_rag"], r["reason"]] for r in report["removals"]])
    out += ["", "## Who received this person's data", ""]
    if report["disclosures"]:
        out += _table(["Date", "Audience", "By", "Pack as of", "Agency", "Released", "People in the pack",
                       "Files (SHA-256)"],
                      [[d["disclosed_at"], d["audience"], d["by"], d["as_of"], _agency(d), _released(d), d["people"],
                        "; ".join(f"{name} {sha[:16]}" for name, sha in d["files"].items())]
                       for d in report["disclosures"]])
    else:
        out += ["No pack including this person is recorded as sent."]
    if report["disclosures_without_people"]:
        out += ["", f"{report['disclosures_without_people']} earlier disclosure(s) had their list of people erased "
                    "under the retention policy; whether this person was in them can no longer be told."]
    out += ["", "## Partnership decisions", ""]
    if report["decisions"]:
        casework = [c for c in DECISION_CASEWORK if any(d.get(c) for d in report["decisions"])]  # only what is held
        out += _table(["Meeting", "Pack as of", "Decision", "Reason", *(DECISION_CASEWORK[c] for c in casework),
                       "Recorded by"],
                      [[d["meeting_date"], d["as_of"], d["decision"], d["reason"], *(d.get(c) for c in casework),
                        d["recorded_by"]] for d in report["decisions"]])
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
    out += ["", "## Referrals by partners", ""]
    if report.get("referrals"):
        out += _table(["Referred on", "Agency", "Reason", "Recorded by"],
                      [[d["referred_on"], d["agency"], d["reason"], d["recorded_by"]] for d in report["referrals"]])
    else:
        out += ["No referral naming this person is recorded (a referral by the partner's own reference, without "
                "the police id, cannot be tied to them)."]
    return "\n".join(out) + "\n"


def _headline(report: dict) -> list[str]:
    """What the answer says first: listed, on the periphery list, both, or scored and neither."""
    if not report["held"]:
        return ["The history holds no score, listing, decision or disclosure about this person."]
    out = []
    if report["listed"]:
        out += [f"Listed on {len(report['listed_on'])} quarterly list(s): {', '.join(report['listed_on'])}."]
    if report.get("on_periphery"):
        dates = report["on_periphery"]
        out += [f"On the periphery list (linked to listed people, not listed) on {len(dates)} run(s): "
                f"{', '.join(dates)}."]
    if not out:
        out += ["Scored, but never on any list." if report["runs"] else "Never on any list."]
    return out


def _agency(disclosure: dict) -> str:
    """Which agency received a pack: the agency of an agency's own pack, "all partners" for the
    partnership-wide partner pack, nothing for the police or the person themselves."""
    if disclosure.get("agency"):
        return str(disclosure["agency"])
    return "all partners" if disclosure["audience"] == "partner" else ""


def _released(disclosure: dict) -> str:
    """When the pack was released, or that it is held and not released (a pending pack of a refresh
    whose output folder is not yet published)."""
    return str(disclosure["released_at"]) if disclosure.get("released_at") else "held, not released"


def _identity_lines(report: dict) -> list[str]:
    """The person's ids and what joins them, and the identity kept to recognise them under a new id."""
    out: list[str] = []
    if len(report.get("ids", [])) > 1:
        out += ["", "## The ids of this person", "",
                f"The history knows this person under {len(report['ids'])} ids: {', '.join(report['ids'])}. "
                "Everything below is held under one of them; the records were joined because:", ""]
        out += [f"- {a['old_id']} is now {a['new_id']}" + (f" since {a['date']}" if a.get("date") else "")
                + (f" ({a['reason']})" if a.get("reason") else "")
                + f"; recorded {str(a['recorded_at'])[:10]} by {a['recorded_by']} from {a['source']}"
                for a in report.get("aliases", [])]
    if report.get("identities"):
        out += ["", "## Identity kept for each list", "",
                "To recognise a listed person whose record is given a new id, the history keeps, for each list "
                "they were on, their date of birth, sex and the ids of their events.", ""]
        out += _table(["List as of", "Id", "Date of birth", "Sex", "Events", "Occurrences"],
                      [[k["as_of"], k["person_id"], k["date_of_birth"], k["sex"], ", ".join(k["event_ids"]),
                        ", ".join(k["occurrence_ids"])] for k in report["identities"]])
    return out
