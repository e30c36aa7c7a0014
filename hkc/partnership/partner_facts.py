"""What the partner pack shows, as plain data: pseudonymised rows of allow-listed columns only.

:func:`partner_facts` turns the police-view frames into sections (cohort, periphery, peer groups,
places, removed) whose rows hold only the columns governed by ``[partner] fields``.  Source ids are
replaced by pseudonyms, in id columns and in free text; the points in a rationale (which add up to
the score) are dropped, since partners see bands, not scores.  :mod:`hkc.partnership.partner_pack` renders the result.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from hkc.definitions import PartnerSettings
from hkc.messages import movement_words
from hkc.partnership.drawing import network_drawing
from hkc.partnership.pseudonyms import DEMO_LABEL, is_demo_key, pseudonymise

__all__ = ['partner_facts', 'PARTNER_FIELDS', 'COLUMNS', 'SECTION_COLUMNS', 'DECISION_COLUMNS', 'NOT_AVAILABLE']


PARTNER_FIELDS = {
    "pseudonym": "the keyed pseudonym that stands for the person id (required)",
    "rank": "position in the ranked cohort",
    "age": "age in whole years at the as-of date",
    "sex": "recorded sex",
    "ethnicity": "self-defined ethnicity",
    "area": "district or neighbourhood",
    "rag": "red/amber/green band (for removed people, the band they had)",
    "vulnerability_band": "high/medium/low vulnerability band (never the score)",
    "rationale": "the indicators behind the band; the link that puts someone on the periphery; why someone left",
    "vulnerability_rationale": "the indicators behind the vulnerability band",
    "movement": "new / up / down / no change since the last refresh",
    "latest_weapon_date": "date of the latest weapon-related event",
    "peer_group": "the person's peer group, and the peer-groups section",
    "decision": "the decisions so far, and the Decision and Reason columns the meeting fills in",
}

# column -> (the field that must be allowed for it to appear, or None for place aggregates; label)
COLUMNS: dict[str, tuple[str | None, str]] = {
    "pseudonym": ("pseudonym", "Pseudonym"), "rank": ("rank", "Rank"), "rag": ("rag", "RAG"),
    "age": ("age", "Age"), "sex": ("sex", "Sex"), "ethnicity": ("ethnicity", "Ethnicity"), "area": ("area", "Area"),
    "vulnerability_band": ("vulnerability_band", "Vulnerability"), "movement": ("movement", "Movement"),
    "peer_group": ("peer_group", "Peer group"), "latest_weapon_date": ("latest_weapon_date", "Latest weapon event"),
    "rationale": ("rationale", "Rationale"),
    "vulnerability_rationale": ("vulnerability_rationale", "Vulnerability rationale"),
    "link": ("rationale", "Link to the cohort"), "previous_rag": ("rag", "Previous RAG"),
    "removed_reason": ("rationale", "Reason for removal"),
    "size": ("peer_group", "People"), "cohort_members": ("peer_group", "Cohort members"),
    "members": ("peer_group", "Members (pseudonyms)"),
    "location": (None, "Place"), "activity": (None, "Knife-related activity (recency-weighted)"),
    "events": (None, "Events"), "people": (None, "People involved"),
    "active_groups": ("peer_group", "Peer groups active here"),
    "decision_history": ("decision", "Decisions so far"), "decision": ("decision", "Decision"),
    "decision_reason": ("decision", "Reason"),
}

DECISION_COLUMNS = ("decision_history", "decision", "decision_reason")

SECTION_COLUMNS = {
    "cohort": ("pseudonym", "rank", "rag", "age", "sex", "ethnicity", "area", "vulnerability_band", "movement",
               "peer_group", "latest_weapon_date", "rationale", "vulnerability_rationale", *DECISION_COLUMNS),
    "periphery": ("pseudonym", "age", "sex", "area", "vulnerability_band", "peer_group", "link", *DECISION_COLUMNS),
    "peer_groups": ("peer_group", "size", "cohort_members", "members"),
    "places": ("location", "activity", "events", "people", "active_groups"),
    "removed": ("pseudonym", "previous_rag", "removed_reason"),
}

SECTIONS = (("cohort", "Cohort", "Cohort"), ("periphery", "Periphery", "Periphery: associates not on the list"),
            ("peer_groups", "Peer groups", "Peer groups"), ("places", "Places", "Places"),
            ("removed", "Removed", "Removed since the last refresh"))

NOT_AVAILABLE = "{what} not available in this run (peer mapping did not run)."

_POINTS = re.compile(r",\s*-?\d+(?:\.\d+)?\s*pts\b")  # points add up to the score; partners get bands



def _blank(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value)


def _int(value: Any) -> int | str:
    return "" if _blank(value) or value == "" else int(value)


def _ids(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return [str(v) for v in value if not _blank(v)]
    return [p.strip() for p in re.split(r"[,;|]", _text(value)) if p.strip()]


class _Pseudonyms:
    """Pseudonyms for the pack's people, and a scrubber that swaps any of their ids in free text."""

    def __init__(self, ids: Iterable[str], key: bytes):
        self.map = pseudonymise(ids, key)
        long_ids = sorted((i for i in self.map if len(i) >= 3), key=len, reverse=True)
        self._pattern = (re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, long_ids)) + r")(?![\w-])")
                         if long_ids else None)

    def __call__(self, person_id: Any) -> str:
        return self.map[str(person_id)]

    def scrub(self, value: Any) -> str:
        text = _text(value)
        return self._pattern.sub(lambda m: self.map[m.group(1)], text) if self._pattern and text else text


def _groups(peer_groups: pd.DataFrame | None) -> dict[str, list[str]] | None:
    """``{group label: [member ids]}`` from either accepted shape."""
    if peer_groups is None:
        return None
    label = next((c for c in ("peer_group", "group", "group_id", "community") if c in peer_groups.columns), None)
    if label is None:
        raise ValueError("peer_groups needs a 'peer_group' column (and 'person_id' or 'members')")
    if "person_id" in peer_groups.columns:
        return {str(g): [str(p) for p in part["person_id"]] for g, part in peer_groups.groupby(label, sort=False)}
    if "members" in peer_groups.columns:
        return {str(g): _ids(m) for g, m in zip(peer_groups[label], peer_groups["members"], strict=True)}
    raise ValueError("peer_groups needs 'person_id' (one row per member) or 'members' (ids)")


def _first(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in frame.columns), None)


def _history_text(row: dict | None) -> tuple[str, bool]:
    if not row or not row.get("decisions"):
        return "", False
    text = f"{row['latest_decision']} on {row['latest_meeting_date']}"
    if _text(row.get("latest_reason")):
        text += f": {row['latest_reason']}"
    if int(row["decisions"]) > 1:
        text += f" ({int(row['decisions'])} decisions)"
    declined = row["latest_decision"] == "decline"
    return ("DECLINED \u2014 still listed; " + text if declined else text), declined


def partner_facts(*, members: pd.DataFrame, removed: pd.DataFrame, manifest: dict, settings: PartnerSettings,
                  key: bytes, peer_groups: pd.DataFrame | None = None, periphery: pd.DataFrame | None = None,
                  places: pd.DataFrame | None = None, decisions_history: pd.DataFrame | None = None,
                  peer_edges: pd.DataFrame | None = None, demo: bool = False) -> tuple[dict, set[str]]:
    """The partner pack as plain data, and the source ids of everyone it shows (for the disclosure log)."""
    fields = set(settings.fields)
    allowed = {c for c, (f, _l) in COLUMNS.items() if f is None or f in fields}
    groups = _groups(peer_groups)
    cohort_ids = [str(p) for p in members["person_id"]]
    periphery_ids = [] if periphery is None else [str(p) for p in periphery["person_id"]]
    linked = [] if periphery is None or "linked_to" not in periphery.columns else \
        [i for v in periphery["linked_to"] for i in _ids(v)]
    grouped = [p for ms in (groups or {}).values() for p in ms] if "peer_group" in fields else []
    shown = set(cohort_ids) | {str(p) for p in removed["person_id"]} | set(periphery_ids) | set(linked) | set(grouped)
    ps = _Pseudonyms(sorted(shown | {p for ms in (groups or {}).values() for p in ms}), key)
    membership = {p: g for g, ms in (groups or {}).items() for p in ms}
    history = {} if decisions_history is None else \
        {str(r["person_id"]): r for r in decisions_history.to_dict("records")}
    declined = 0

    def row(values: dict, section: str) -> dict:
        out = {c: values.get(c, "") for c in SECTION_COLUMNS[section] if c in allowed}
        hist, is_declined = _history_text(history.get(values["_id"])) if "_id" in values else ("", False)
        if "decision_history" in out:
            out["decision_history"] = ps.scrub(hist)
        out["_declined"], out["_rag"] = is_declined, values.get("rag", values.get("previous_rag", ""))
        return out

    cohort_rows = []
    for r in members.sort_values("rank", kind="stable").to_dict("records"):
        pid = str(r["person_id"])
        built = row({"_id": pid, "pseudonym": ps(pid), "rank": _int(r["rank"]), "rag": _text(r["rag"]),
                     "age": _int(r.get("age")), "sex": _text(r.get("sex")), "ethnicity": _text(r.get("ethnicity")),
                     "area": _text(r.get("area")), "vulnerability_band": _text(r.get("vulnerability_band")),
                     "movement": movement_words(_text(r.get("movement"))),
                     "peer_group": ps.scrub(membership.get(pid, "")),
                     "latest_weapon_date": _text(r.get("latest_weapon_date"))[:10],
                     "rationale": _POINTS.sub("", ps.scrub(r.get("rationale"))),
                     "vulnerability_rationale": _POINTS.sub("", ps.scrub(r.get("vulnerability_rationale")))},
                    "cohort")
        declined += built["_declined"]
        cohort_rows.append(built)

    periphery_rows = []
    for r in ([] if periphery is None else periphery.to_dict("records")):
        pid = str(r["person_id"])
        links = _ids(r.get("linked_to"))
        text = f"linked to {', '.join(ps(i) for i in links)}" if links else ""
        if not _blank(r.get("shared_occurrences")) and r.get("shared_occurrences") != "":
            text += f" ({int(r['shared_occurrences'])} shared incidents)"
        if _text(r.get("reason")):
            text = (text + "; " if text else "") + ps.scrub(r["reason"])
        periphery_rows.append(row({"_id": pid, "pseudonym": ps(pid), "age": _int(r.get("age")),
                                   "sex": _text(r.get("sex")), "area": _text(r.get("area")),
                                   "vulnerability_band": _text(r.get("vulnerability_band")),
                                   "peer_group": ps.scrub(_text(r.get("peer_group")) or membership.get(pid, "")),
                                   "link": text}, "periphery"))

    cohort_set = set(cohort_ids)
    group_rows, drawings = [], []
    for label, ms in (groups or {}).items():
        ordered = sorted(ms, key=lambda p: (p not in cohort_set, ps(p)))
        group_rows.append(row({"peer_group": ps.scrub(label), "size": len(ms),
                               "cohort_members": sum(p in cohort_set for p in ms),
                               "members": ", ".join(ps(p) for p in ordered)}, "peer_groups"))
        if len(drawings) < 12:
            drawings.append({"label": ps.scrub(label), **network_drawing(ordered, cohort_set, ps, peer_edges)})

    place_rows = []
    if places is not None:
        loc = _first(places, ("location_id", "location", "place"))
        act = _first(places, ("score", "activity", "weight", "knife_activity"))
        ev = _first(places, ("events", "incidents", "event_count"))
        ppl = _first(places, ("people", "people_count", "persons"))
        grp = _first(places, ("peer_groups", "groups", "active_groups"))
        for r in places.to_dict("records"):
            count = r.get(ppl) if ppl else None
            place_rows.append(row({
                "location": ps.scrub(r.get(loc)) if loc else "",
                "activity": "" if not act or _blank(r.get(act)) else round(float(r[act]), 1),
                "events": _int(r.get(ev)) if ev else "",
                "people": int(count) if isinstance(count, (int, float, np.integer, np.floating)) and
                not _blank(count) else "",
                "active_groups": ps.scrub(", ".join(_ids(r.get(grp)))) if grp else ""}, "places"))

    removed_rows = [row({"pseudonym": ps(r["person_id"]), "previous_rag": _text(r.get("previous_rag")),
                         "removed_reason": ps.scrub(r.get("reason"))}, "removed")
                    for r in removed.sort_values("previous_rank", kind="stable").to_dict("records")]

    previous = manifest.get("previous_as_of")
    notes = {
        "cohort": "Nobody met the eligibility rules at this date.",
        "periphery": NOT_AVAILABLE.format(what="The periphery is") if periphery is None
        else "Nobody is on the periphery of the cohort in this run.",
        "peer_groups": "Peer groups are not shared with partners under the current [partner] fields."
        if "peer_group" not in fields else NOT_AVAILABLE.format(what="Peer groups are") if groups is None
        else "No peer group holds two or more cohort members in this run.",
        "places": NOT_AVAILABLE.format(what="Places are") if places is None else "No places to show in this run.",
        "removed": "First refresh in this history: nobody to compare with." if not previous
        else f"Nobody listed on {previous} has left the list.",
    }
    available = {"cohort": True, "periphery": periphery is not None,
                 "peer_groups": groups is not None and "peer_group" in fields, "places": places is not None,
                 "removed": True}
    all_rows = {"cohort": cohort_rows, "periphery": periphery_rows, "peer_groups": group_rows,
                "places": place_rows, "removed": removed_rows}
    sections = []
    for name, sheet, title in SECTIONS:
        columns = [c for c in SECTION_COLUMNS[name] if c in allowed]
        sections.append({"name": name, "sheet": sheet, "title": title, "columns": columns,
                         "labels": [COLUMNS[c][1] for c in columns], "rows": all_rows[name],
                         "available": available[name], "note": notes[name],
                         "decisions": "decision" in columns,
                         "drawings": drawings if name == "peer_groups" else []})
    demo = demo or is_demo_key(key)
    as_of = dt.date.fromisoformat(str(manifest["as_of"])[:10])
    rag = members["rag"].value_counts() if len(members) else pd.Series(dtype=int)
    title = f"Knife-crime partnership cohort \u2014 partner view \u2014 {as_of.strftime('%-d %B %Y')}"
    facts = {
        "title": (f"[{DEMO_LABEL}] " if demo else "") + title, "demo": demo, "demo_label": DEMO_LABEL,
        "as_of": as_of.isoformat(), "as_of_long": as_of.strftime("%-d %B %Y"),
        "produced": str(manifest.get("finished_at") or dt.datetime.now(dt.UTC).isoformat())[:16].replace("T", " "),
        "audience_note": ("partner view: pseudonymised, only the fields agreed for partners; do not try to "
                          "re-identify anyone and do not forward outside the partnership"),
        "banner": ("A list for safeguarding and support decisions, not evidence of offending. Every entry must be "
                   "reviewed by the partnership; bands summarise recorded events and can be wrong."),
        "decision_help": ("On the Cohort and Periphery sheets choose a Decision (adopt, monitor, decline or refer) "
                          "and give a Reason (required for decline). Every other cell is locked and sealed: a pack "
                          "with an edited locked cell is refused on import."),
        "fields": [f for f in settings.fields],
        "sections": sections,
        "counts": {"cohort": len(cohort_rows), "red": int(rag.get("red", 0)), "amber": int(rag.get("amber", 0)),
                   "green": int(rag.get("green", 0)),
                   "new": int((members["movement"] == "new").sum()) if "movement" in members else 0,
                   "removed": len(removed_rows), "periphery": len(periphery_rows), "peer_groups": len(group_rows),
                   "places": len(place_rows), "declined": declined},
        "provenance": {"config_sha256": manifest.get("config_sha256", ""),
                       "inputs_sha256": manifest.get("inputs_sha256", ""),
                       "hkc_version": manifest.get("hkc_version", "")},
    }
    return facts, shown
