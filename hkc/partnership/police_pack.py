"""The readable pack for the partnership meeting: ``cohort.html`` and ``cohort.xlsx``.

The facts are gathered into a plain dictionary first (:func:`pack_facts`, unit-tested), then
rendered: HTML with Jinja2 (autoescaping on, one self-contained file, printable), XLSX with
openpyxl (frozen headers, filters, wrapped rationale, landscape fit-to-width printing).  Every
text cell in the workbook is neutralised against formula injection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from hkc.messages import movement_words
from hkc.outputs import environment, neutralise
from hkc.partnership.checks import pack_checks
from hkc.partnership.drawing import network_drawing

__all__ = ["pack_facts", "write_html", "write_xlsx", "COHORT_HEADERS"]

COHORT_HEADERS = ["Rank", "Person", "RAG", "Risk", "Vulnerability", "Age", "Sex", "Ethnicity", "Area",
                  "Movement", "Peer group", "Last decision", "Rationale"]
PERIPHERY_HEADERS = ["Person", "Age", "Linked to", "Incidents shared", "Peer group", "Why listed"]
GROUP_HEADERS = ["Peer group", "People", "Cohort members", "Members (cohort first)"]
PLACE_HEADERS = ["Rank", "Place", "Activity", "Events", "People", "Peer groups", "Why listed"]
_RAG_FILL = {"red": "F4C7C3", "amber": "FCE8B2", "green": "B7E1CD"}

_env = environment()


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value)


def _decision_text(r: dict) -> str:
    decision = _text(r.get("latest_decision"))
    if not decision:
        return ""
    when = _text(r.get("latest_meeting_date"))[:10]
    reason = _text(r.get("latest_reason"))
    return f"{decision} ({when})" + (f": {reason}" if reason else "")


def _peer_facts(periphery: pd.DataFrame | None, peer_groups: pd.DataFrame | None,
                places: pd.DataFrame | None, peer_edges: pd.DataFrame | None = None) -> dict:
    out: dict = {"periphery_rows": [], "group_rows": [], "place_rows": [], "drawings": [],
                 "peers_available": periphery is not None}
    if periphery is not None:
        out["periphery_rows"] = [{
            "person": _text(r["person_id"]), "age": _text(r["age"]), "linked_to": _text(r["linked_to"]),
            "shared": _text(r["shared_occurrences"]), "peer_group": _text(r["peer_group"]), "reason": _text(r["reason"]),
        } for r in periphery.to_dict("records")]
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
            "rank": int(r["rank"]), "place": _text(r["location_id"]), "activity": f"{float(r['activity']):.1f}",
            "events": _text(r["events"]), "people": _text(r["people"]), "peer_groups": _text(r["peer_groups"]),
            "reason": _text(r["reason"]),
        } for r in places.to_dict("records")]
    return out


def pack_facts(*, members: pd.DataFrame, removed: pd.DataFrame, manifest: dict, rules: dict,
               previous_as_of: dt.date | None, person_column: str = "person_id",
               periphery: pd.DataFrame | None = None, peer_groups: pd.DataFrame | None = None,
               places: pd.DataFrame | None = None, peer_edges: pd.DataFrame | None = None) -> dict:
    """Everything the pack shows, as plain data."""
    as_of = dt.date.fromisoformat(manifest["as_of"])
    rows = []
    for r in members.to_dict("records"):
        rows.append({
            "rank": int(r["rank"]), "person": _text(r[person_column]), "rag": r["rag"],
            "risk_score": _text(r["risk_score"]), "vulnerability_score": _text(r["vulnerability_score"]),
            "vulnerability_band": r.get("vulnerability_band", ""), "age": int(r["age"]), "sex": _text(r["sex"]),
            "ethnicity": _text(r.get("ethnicity")), "area": _text(r.get("area")),
            "movement": movement_words(r["movement"]), "rationale": _text(r["rationale"]),
            "peer_group": _text(r.get("peer_group")), "decision": _decision_text(r),
            "declined": bool(r.get("declined") is True),
            "vulnerability_rationale": _text(r.get("vulnerability_rationale")),
        })
    removed_rows = [{"previous_rank": int(r["previous_rank"]), "person": _text(r[person_column]),
                     "previous_rag": _text(r["previous_rag"]), "reason": _text(r["reason"])}
                    for r in removed.to_dict("records")]
    rag_counts = members["rag"].value_counts() if len(members) else pd.Series(dtype=int)
    totals = manifest["counts"]
    return {
        "title": f"Knife-crime partnership cohort — {as_of.strftime('%-d %B %Y')}",
        "as_of_long": as_of.strftime("%-d %B %Y"),
        "produced": manifest["finished_at"][:16].replace("T", " "),
        "audience_note": "police view: contains source identifiers — do not forward",
        "banner": ("A list for safeguarding and support decisions, not evidence of offending. Every entry "
                   "must be reviewed by the partnership; scores summarise recorded events and can be wrong."),
        "counts": {
            "cohort": len(members), "red": int(rag_counts.get("red", 0)), "amber": int(rag_counts.get("amber", 0)),
            "green": int(rag_counts.get("green", 0)), "new": int((members["movement"] == "new").sum()),
            "removed": len(removed), "eligible": manifest["eligible"], "scored": manifest["scored"],
        },
        "cohort_headers": COHORT_HEADERS,
        "show_ethnicity": True,
        "cohort_rows": rows,
        "removed_rows": removed_rows,
        "removed_note": ("First refresh in this history: nobody to compare with."
                         if previous_as_of is None else f"Nobody listed on {previous_as_of} has left the list."),
        "rules": rules,
        "checks": pack_checks(manifest, audit_page="audit/audit.html"),
        **_peer_facts(periphery, peer_groups, places, peer_edges),
        "periphery_headers": PERIPHERY_HEADERS, "group_headers": GROUP_HEADERS, "place_headers": PLACE_HEADERS,
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


def _sheet(wb: Workbook, title: str, headers: list[str], rows: list[list[Any]], widths: dict[int, int],
           wrap: set[int] = frozenset(), rag_col: int | None = None) -> None:
    ws = wb.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF0F3")
    for row in rows:
        ws.append([neutralise(v) for v in row])
    for idx in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(idx)].width = widths.get(idx, 12)
    for col in wrap:
        for cell in ws.iter_cols(min_col=col, max_col=col, min_row=2):
            for c in cell:
                c.alignment = Alignment(wrap_text=True, vertical="top")
    if rag_col is not None:
        for row in ws.iter_rows(min_row=2, min_col=rag_col, max_col=rag_col):
            for c in row:
                if c.value in _RAG_FILL:
                    c.fill = PatternFill("solid", fgColor=_RAG_FILL[c.value])
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def write_xlsx(facts: dict, path: Path) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    headers = [h for h in COHORT_HEADERS if facts["show_ethnicity"] or h != "Ethnicity"]
    rows = []
    for r in facts["cohort_rows"]:
        row = [r["rank"], r["person"], r["rag"], float(r["risk_score"]), float(r["vulnerability_score"]),
               r["age"], r["sex"]] + ([r["ethnicity"]] if facts["show_ethnicity"] else []) + \
              [r["area"], r["movement"], r["peer_group"], r["decision"], r["rationale"]]
        rows.append(row)
    _sheet(wb, "Cohort", headers, rows, {1: 7, 2: 16, 3: 9, 4: 8, 5: 13, len(headers): 90},
           wrap={len(headers)}, rag_col=3)
    _sheet(wb, "Periphery", PERIPHERY_HEADERS,
           [[r["person"], r["age"], r["linked_to"], r["shared"], r["peer_group"], r["reason"]]
            for r in facts["periphery_rows"]], {1: 16, 3: 30, 6: 80}, wrap={3, 6})
    _sheet(wb, "Peer groups", GROUP_HEADERS,
           [[r["peer_group"], r["size"], r["cohort_members"], r["members"]] for r in facts["group_rows"]],
           {1: 12, 4: 90}, wrap={4})
    _sheet(wb, "Places", PLACE_HEADERS,
           [[r["rank"], r["place"], float(r["activity"]), r["events"], r["people"], r["peer_groups"], r["reason"]]
            for r in facts["place_rows"]], {2: 16, 6: 20, 7: 80}, wrap={7})
    _sheet(wb, "Removed", ["Previous rank", "Person", "Previous RAG", "Reason"],
           [[r["previous_rank"], r["person"], r["previous_rag"], r["reason"]] for r in facts["removed_rows"]],
           {1: 13, 2: 16, 3: 13, 4: 90}, wrap={4}, rag_col=3)
    p = facts["provenance"]
    _sheet(wb, "Run", ["Item", "Value"], [
        ["As of", facts["as_of_long"]], ["Produced", facts["produced"]], ["Audience", facts["audience_note"]],
        ["Listed", facts["counts"]["cohort"]], ["Eligible", facts["counts"]["eligible"]],
        ["Scored", facts["counts"]["scored"]], ["Rows read", p["rows_read"]], ["Rows used", p["rows_used"]],
        ["Rows quarantined", p["rows_rejected"]], ["Config SHA-256", p["config_sha256"]],
        ["Inputs SHA-256", p["inputs_sha256"]], ["hkc version", p["hkc_version"]],
        ["Definitions", facts["rules"]["definitions"]], ["Note", facts["banner"]],
        ["Fairness audit", facts["checks"]["audit"]], ["Against chance", facts["checks"]["chance"]],
        *[[f"Flag {i}", text] for i, text in enumerate(facts["checks"]["flagged"], 1)],
    ], {1: 20, 2: 90}, wrap={2})
    wb.save(path)
    return path
