"""The readable pack for the partnership meeting: ``cohort.html`` and ``cohort.xlsx``.

The facts are gathered into a plain dictionary first (:func:`pack_facts`, unit-tested), then
rendered: HTML with Jinja2 (autoescaping on, one self-contained file, no script) and XLSX with
openpyxl.  The first page says what the list is, with small charts of the RAG split, movement and
decisions, and the two checks (fairness audit, against chance).  The HTML prints on A4 landscape
with the protective marking and page numbers on every page (:mod:`hkc.partnership.printing`); in
print each rationale is cut to its top drivers and each periphery section to ``[outputs]
print_periphery`` people (the screen and the workbook keep everything).  Ethnicity is not printed
per person here: it stays in the fairness audit and the police ``cohort.csv``.

The periphery says each link's role when peer mapping recorded it (``link_type``): co-offending
links under "associates", people linked only as a victim or witness in a safeguarding section of
their own ("possibly at risk from cohort members"), other links apart.  Every text cell in the
workbook is neutralised against formula injection; numbers are stored as numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import PatternFill

from hkc.definitions import OutputSettings
from hkc.history import NOT_LISTED
from hkc.messages import movement_words
from hkc.outputs import environment, neutralise
from hkc.partnership.checks import pack_checks
from hkc.partnership.drawing import network_drawing, pack_charts
from hkc.partnership.partner_text import top_drivers
from hkc.partnership.printing import print_facts
from hkc.partnership.sheets import fit_columns, print_marking

__all__ = ["pack_facts", "write_html", "write_xlsx", "COHORT_HEADERS", "PERIPHERY_SECTIONS"]

COHORT_HEADERS = ["Rank", "Person", "RAG", "Risk", "Vulnerability", "Age", "Sex", "Area", "Movement",
                  "Peer group", "Last decision", "Rationale"]
PERIPHERY_HEADERS = ["Person", "Age", "Linked as", "Linked to", "Incidents shared", "Peer group", "Why listed"]
GROUP_HEADERS = ["Peer group", "People", "Cohort members", "Members (cohort first)"]
OPEN_CASE_HEADERS = ["Person", "Why not listed", "Detail", "Adopted", "Latest decision", "Lead agency",
                     "Intervention", "Review date"]
REFERRAL_HEADERS = ["Person or referral ref", "Agency", "Reason", "Referred on", "Listed this quarter"]
PLACE_HEADERS = ["Rank", "Place", "Activity", "Events", "People", "Peer groups", "Why listed"]
# The periphery's sections by link type (hkc.matrix.peers): title, and what it holds.
PERIPHERY_SECTIONS = {
    "co_offending": ("Associates: co-offending or co-suspect links, not on the list",
                     "Recorded as offender or suspect in the same incident as a cohort member."),
    "at_risk": ("Possibly at risk from cohort members (safeguarding)",
                "Linked to cohort members only as a victim or witness: listed for safeguarding, never as an "
                "associate."),
    "other": ("Other co-involvement, not on the list",
              "In the same incidents as cohort members in other roles (both victims, a subject, no role recorded)."),
    "": ("Periphery: linked to the cohort, not on it",
         "Co-involved in incidents with cohort members; roles were not recorded, so victims and witnesses are "
         "linked too. Co-involvement is not wrongdoing."),
}
LINK_WORDS = {"co_offending": "co-offender or co-suspect", "at_risk": "victim or witness", "other": "other roles",
              "": ""}
_RAG_FILL = {"red": "F4C7C3", "amber": "FCE8B2", "green": "B7E1CD"}
_HEADER_FILL = PatternFill("solid", fgColor="EEF0F3")

_env = environment()


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value)


def _number(value: Any) -> int | float | None:
    """A number for the workbook (an int when whole), or None when blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _decision_text(r: dict) -> str:
    decision = _text(r.get("latest_decision"))
    running = _text(r.get("intervention"))
    running = f"intervention: {running}" if running else ""
    if not decision:
        return running
    when = _text(r.get("latest_meeting_date"))[:10]
    reason = _text(r.get("latest_reason"))
    return f"{decision} ({when})" + (f": {reason}" if reason else "") + (f"; {running}" if running else "")


def _periphery_sections(rows: list[dict]) -> list[dict]:
    """The periphery split by link type, in the order of :data:`PERIPHERY_SECTIONS` (only those with people,
    and always the co-offending and safeguarding ones when roles are known)."""
    roles = any(r["link_type"] for r in rows)
    kinds = ("co_offending", "at_risk", "other") if roles else ("",)
    out = []
    for kind in kinds:
        part = [r for r in rows if r["link_type"] == kind]
        if part or kind in ("co_offending", "at_risk", ""):
            title, note = PERIPHERY_SECTIONS[kind]
            out.append({"kind": kind, "title": title, "note": note, "rows": part})
    return out


def _peer_facts(periphery: pd.DataFrame | None, peer_groups: pd.DataFrame | None,
                places: pd.DataFrame | None, peer_edges: pd.DataFrame | None = None) -> dict:
    out: dict = {"periphery_rows": [], "group_rows": [], "place_rows": [], "drawings": [],
                 "peers_available": periphery is not None}
    if periphery is not None:
        out["periphery_rows"] = [{
            "person": _text(r["person_id"]), "age": _number(r.get("age")),
            "link_type": _text(r.get("link_type")), "linked_as": LINK_WORDS.get(_text(r.get("link_type")), ""),
            "linked_to": _text(r["linked_to"]).replace(";", ", "), "shared": _number(r.get("shared_occurrences")),
            "peer_group": _text(r.get("peer_group")), "reason": _text(r.get("reason")),
        } for r in periphery.to_dict("records")]
    out["periphery_sections"] = _periphery_sections(out["periphery_rows"])
    if peer_groups is not None and len(peer_groups):
        for label, g in peer_groups.groupby("peer_group", sort=True):
            g = g.sort_values(["in_cohort", "person_id"], ascending=[False, True])
            out["group_rows"].append({"peer_group": label, "size": int(len(g)),
                                      "cohort_members": int(g["in_cohort"].sum()),
                                      "members": ", ".join(g["person_id"].astype(str))})
            if len(out["drawings"]) < 12:  # a small ring drawing per group: filled = on the list
                cohort = set(g.loc[g["in_cohort"].astype(bool), "person_id"].astype(str))
                out["drawings"].append({"label": label, **network_drawing(
                    g["person_id"].astype(str).tolist(), cohort, str, peer_edges)})
    if places is not None:
        out["place_rows"] = [{
            "rank": int(r["rank"]), "place": _text(r["location_id"]), "activity": round(float(r["activity"]), 1),
            "events": _number(r.get("events")), "people": _number(r.get("people")),
            "peer_groups": _text(r.get("peer_groups")), "reason": _text(r.get("reason")),
        } for r in places.to_dict("records")]
    return out


def _cohort_rows(members: pd.DataFrame, person_column: str, drivers: int) -> list[dict]:
    rows = []
    for r in members.to_dict("records"):
        rationale = _text(r["rationale"])
        rows.append({
            "rank": int(r["rank"]), "person": _text(r[person_column]), "rag": r["rag"],
            "risk_score": float(r["risk_score"]), "vulnerability_score": float(r["vulnerability_score"]),
            "vulnerability_band": _text(r.get("vulnerability_band")), "age": int(r["age"]), "sex": _text(r["sex"]),
            "area": _text(r.get("area")), "movement": movement_words(r["movement"]), "rationale": rationale,
            "rationale_print": top_drivers(rationale, drivers), "peer_group": _text(r.get("peer_group")),
            "decision": _decision_text(r), "declined": bool(r.get("declined") is True),
            "vulnerability_rationale": _text(r.get("vulnerability_rationale")),
        })
    return rows


def _open_case_rows(cases: pd.DataFrame | None) -> list[dict]:
    """The open cases whose person is not listed now (:func:`hkc.refresh.frames.open_cases_frame`), as the
    pack shows them: why not listed, the lead agency and the review date, flagged when overdue."""
    if cases is None:
        return []
    return [{"person": _text(r["person_id"]), "status": NOT_LISTED.get(_text(r["status"]), _text(r["status"])),
             "reason": _text(r.get("reason")), "opened": _text(r.get("opened")),
             "decision": f"{_text(r.get('latest_decision'))} ({_text(r.get('latest_meeting_date'))})",
             "lead_agency": _text(r.get("lead_agency")) or "not recorded",
             "intervention": _text(r.get("intervention")),
             "review_date": _text(r.get("review_date")) or "none set",
             "overdue": bool(r.get("review_overdue") is True)} for r in cases.to_dict("records")]


def _referral_rows(referrals: pd.DataFrame | None) -> list[dict]:
    """Partners' referrals of the last year (:func:`hkc.history.recent_referrals`): the person id, or the
    partner's reference when the police id is not known, the agency, its reason, the date, and whether listed."""
    if referrals is None:
        return []
    return [{"person": _text(r["person_id"]) or f"ref {_text(r['referral_ref'])}", "agency": _text(r["agency"]),
             "reason": _text(r["reason"]), "referred_on": _text(r["referred_on"]), "listed": _text(r["listed"])}
            for r in referrals.to_dict("records")]


def pack_facts(*, members: pd.DataFrame, removed: pd.DataFrame, manifest: dict, rules: dict,
               previous_as_of: dt.date | None, person_column: str = "person_id",
               periphery: pd.DataFrame | None = None, peer_groups: pd.DataFrame | None = None,
               places: pd.DataFrame | None = None, peer_edges: pd.DataFrame | None = None,
               outputs: OutputSettings | None = None, open_cases: pd.DataFrame | None = None,
               referrals: pd.DataFrame | None = None) -> dict:
    """Everything the pack shows, as plain data (``outputs``: the marking and print settings; ``open_cases``:
    adopted people whose case is open but who are not listed now; ``referrals``: partners' referrals of the
    last year)."""
    as_of = dt.date.fromisoformat(manifest["as_of"])
    title = f"Knife-crime partnership cohort \u2014 {as_of.strftime('%-d %B %Y')}"
    page = print_facts(outputs, footer=f"{title} \u2014 police view, do not forward")
    removed_rows = [{"previous_rank": int(r["previous_rank"]), "person": _text(r[person_column]),
                     "previous_rag": _text(r["previous_rag"]), "reason": _text(r["reason"]),
                     "cause": _text(r.get("cause")).replace("_", " ")}
                    for r in removed.to_dict("records")]
    rag_counts = members["rag"].value_counts() if len(members) else pd.Series(dtype=int)
    totals = manifest["counts"]
    return {
        "title": title, "as_of_long": as_of.strftime("%-d %B %Y"),
        "produced": manifest["finished_at"][:16].replace("T", " "),
        "audience_note": "police view: contains source identifiers — do not forward",
        "banner": ("A list for safeguarding and support decisions, not evidence of offending. Every entry "
                   "must be reviewed by the partnership; scores summarise recorded events and can be wrong."),
        "counts": {
            "cohort": len(members), "red": int(rag_counts.get("red", 0)), "amber": int(rag_counts.get("amber", 0)),
            "green": int(rag_counts.get("green", 0)), "new": int((members["movement"] == "new").sum()),
            "removed": len(removed), "eligible": manifest["eligible"], "scored": manifest["scored"],
            "eligible_text": f"{int(manifest['eligible']):,}", "scored_text": f"{int(manifest['scored']):,}",
        },
        "charts": pack_charts(members, removed, compared=previous_as_of is not None),
        "cohort_headers": COHORT_HEADERS,
        "cohort_rows": _cohort_rows(members, person_column, page["print_drivers"]),
        "removed_rows": removed_rows,
        "removed_has_cause": any(r["cause"] for r in removed_rows),
        "open_case_rows": _open_case_rows(open_cases), "open_case_headers": OPEN_CASE_HEADERS,
        "referral_rows": _referral_rows(referrals), "referral_headers": REFERRAL_HEADERS,
        "removed_note": ("First refresh in this history: nobody to compare with."
                         if previous_as_of is None else f"Nobody listed on {previous_as_of} has left the list."),
        "rules": rules,
        "checks": pack_checks(manifest, audit_page="audit/audit.html"),
        **_peer_facts(periphery, peer_groups, places, peer_edges),
        "periphery_headers": PERIPHERY_HEADERS, "group_headers": GROUP_HEADERS, "place_headers": PLACE_HEADERS,
        **page,
        "provenance": {
            "config_sha256": manifest["config_sha256"], "inputs_sha256": manifest["inputs_sha256"],
            "hkc_version": manifest["hkc_version"],
            "rows_read": sum(c["read"] for c in totals.values()),
            "rows_used": sum(c["used"] for c in totals.values()),
            "rows_rejected": sum(c["rejected"] for c in totals.values()),
        },
    }


def write_html(facts: dict, path: Path) -> Path:
    path.write_text(_env.get_template("cohort.html.j2").render(**facts), encoding="utf-8")
    return path


def _sheet(wb: Workbook, title: str, headers: list[str], rows: list[list[Any]], *, marking: str,
           wide: set[int] = frozenset(), rag_col: int | None = None) -> None:
    """One sheet: wrapped bold headers, widths that fit, text neutralised, numbers as numbers, printable."""
    ws = wb.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.fill = _HEADER_FILL
    for row in rows:
        ws.append([neutralise(v) for v in row])
    fit_columns(ws, headers, rows, wide=wide)
    if rag_col is not None:
        for row in ws.iter_rows(min_row=2, min_col=rag_col, max_col=rag_col):
            for c in row:
                if c.value in _RAG_FILL:
                    c.fill = PatternFill("solid", fgColor=_RAG_FILL[c.value])
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions
    print_marking(ws, marking)


def write_xlsx(facts: dict, path: Path) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    marking = facts["marking"]
    headers = COHORT_HEADERS[:5] + ["Vulnerability band"] + COHORT_HEADERS[5:]
    rows = [[r["rank"], r["person"], r["rag"], r["risk_score"], r["vulnerability_score"], r["vulnerability_band"],
             r["age"], r["sex"], r["area"], r["movement"], r["peer_group"], r["decision"], r["rationale"]]
            for r in facts["cohort_rows"]]
    _sheet(wb, "Cohort", headers, rows, marking=marking, wide={len(headers)}, rag_col=3)
    _sheet(wb, "Periphery", PERIPHERY_HEADERS,
           [[r["person"], r["age"], r["linked_as"], r["linked_to"], r["shared"], r["peer_group"], r["reason"]]
            for r in facts["periphery_rows"]], marking=marking, wide={7})
    _sheet(wb, "Peer groups", GROUP_HEADERS,
           [[r["peer_group"], r["size"], r["cohort_members"], r["members"]] for r in facts["group_rows"]],
           marking=marking, wide={4})
    _sheet(wb, "Places", PLACE_HEADERS,
           [[r["rank"], r["place"], r["activity"], r["events"], r["people"], r["peer_groups"], r["reason"]]
            for r in facts["place_rows"]], marking=marking, wide={7})
    removed_headers = ["Previous rank", "Person", "Previous RAG", "Reason"] + \
        (["Cause"] if facts["removed_has_cause"] else [])
    _sheet(wb, "Removed", removed_headers,
           [[r["previous_rank"], r["person"], r["previous_rag"], r["reason"]] +
            ([r["cause"]] if facts["removed_has_cause"] else []) for r in facts["removed_rows"]],
           marking=marking, wide={4}, rag_col=3)
    _sheet(wb, "Open cases", OPEN_CASE_HEADERS,
           [[r["person"], r["status"], r["reason"], r["opened"], r["decision"], r["lead_agency"], r["intervention"],
             r["review_date"] + (" (review overdue)" if r["overdue"] else "")] for r in facts["open_case_rows"]],
           marking=marking, wide={3})
    p = facts["provenance"]
    _sheet(wb, "Run", ["Item", "Value"], [
        ["Marking", marking], ["As of", facts["as_of_long"]], ["Produced", facts["produced"]],
        ["Audience", facts["audience_note"]], ["Listed", facts["counts"]["cohort"]],
        ["Eligible", facts["counts"]["eligible"]], ["Scored", facts["counts"]["scored"]],
        ["Rows read", p["rows_read"]], ["Rows used", p["rows_used"]], ["Rows quarantined", p["rows_rejected"]],
        ["Config SHA-256", p["config_sha256"]], ["Inputs SHA-256", p["inputs_sha256"]],
        ["hkc version", p["hkc_version"]], ["Definitions", facts["rules"]["definitions"]], ["Note", facts["banner"]],
        ["Fairness audit", facts["checks"]["audit"]], ["Against chance", facts["checks"]["chance"]],
        ["Is it working?", facts["checks"]["evaluation"]],
        *[[f"Probable re-key {i}", text] for i, text in enumerate(facts["checks"]["rekey_lines"], 1)],
        *[[f"Flag {i}", text] for i, text in enumerate(facts["checks"]["flagged"], 1)],
    ], marking=marking, wide={2})
    wb.save(path)
    return path
