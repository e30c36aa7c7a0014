"""What the partner pack shows, as plain data: pseudonymised rows of allow-listed columns only.

:func:`partner_facts` turns the police-view frames into sections (cohort, periphery, peer groups,
places, removed) whose rows hold only the columns governed by ``[partner] fields``.  Id columns
hold pseudonyms; every text shown (area, place, rationale, link, reason, decision history, group
label) is scrubbed last, against every person id in the extract: a shown person's id becomes the
pseudonym, anyone else's ``[id withheld]``, and the pack counts what was scrubbed.  Partners see
bands, not scores: the points in a rationale (which add up to the score) are dropped, and a reason
that names a score or points (a removal reason, a periphery link) keeps only the rule in words
(:func:`partner_reason`).
:mod:`hkc.partnership.partner_pack` renders the result.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hkc.definitions import PartnerSettings
from hkc.messages import movement_words
from hkc.partnership.checks import pack_checks
from hkc.partnership.drawing import network_drawing
from hkc.partnership.pseudonyms import DEMO_LABEL, IdScrubber, is_demo_key, pseudonymise

__all__ = ['partner_facts', 'partner_reason', 'PARTNER_REASONS', 'PARTNER_FIELDS', 'COLUMNS', 'SECTION_COLUMNS', 'DECISION_COLUMNS', 'NOT_AVAILABLE']


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

# Reasons in the police view name the amount ("risk score 20 is 5 points below the minimum 25");
# partners see bands, so the partner copy keeps the rule in words (police view: hkc.matrix REASONS, CUT_OFF).
PARTNER_REASONS = {
    "low_score": "risk score below the minimum for listing",
    "cut_off_score": "still eligible but below the cohort cut-off (risk score below the cohort minimum)",
    "cut_off_rank": "still eligible but below the cohort cut-off ({size})",
    "vulnerability_only": "vulnerability only: no risk event counts",
    "vulnerability_note": "vulnerability recorded",
    "scored": "does not meet the listing rules (the police view gives the detail)",
}
_N = r"-?\d+(?:\.\d+)?"
_CUT = r"still eligible but below the cohort cut-off \("
_REASON_PATTERNS = {  # the police view's whole reason -> the PARTNER_REASONS entry that replaces it
    "low_score": re.compile(rf"risk score {_N} is {_N} points below the minimum {_N}"),
    "cut_off_score": re.compile(rf"{_CUT}risk score {_N} is {_N} points below the cohort minimum {_N}\)"),
    "cut_off_rank": re.compile(rf"{_CUT}rank \d+; (?P<size>cohort is top \d+)\)"),
    "vulnerability_only": re.compile(rf"vulnerability only: no risk event counts, so the risk score is {_N}"),
}
_VULNERABILITY_SCORE = re.compile(rf"\bvulnerability score {_N}")  # the periphery link's note
_SCORED = re.compile(rf"\bscores?\s+(?:is\s+|of\s+)?{_N}|\d\s*(?:points?|pts)\b", re.IGNORECASE)
_NOT_FREE_TEXT = {"pseudonym", "members", "latest_weapon_date"}  # made by hkc: pseudonyms, an ISO date


def partner_reason(text: str) -> str:
    """A reason as partners see it: the rule in words, never a score or points.

    The police view's reasons with an amount become :data:`PARTNER_REASONS` wording; any other text
    that still names a score or points is replaced whole by ``PARTNER_REASONS["scored"]``.
    """
    for name, pattern in _REASON_PATTERNS.items():
        if match := pattern.fullmatch(text):
            return PARTNER_REASONS[name].format(**match.groupdict())
    text = _VULNERABILITY_SCORE.sub(PARTNER_REASONS["vulnerability_note"], text)
    return PARTNER_REASONS["scored"] if _SCORED.search(text) else text


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
    """Pseudonyms for the pack's people (``ps(person_id)``)."""

    def __init__(self, ids: Iterable[str], key: bytes):
        self.map = pseudonymise(ids, key)

    def __call__(self, person_id: Any) -> str:
        return self.map[str(person_id)]


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


@dataclass
class _Pack:
    """What every section's rows are built from: the allowed columns, pseudonyms, groups, decisions."""

    fields: set[str]
    allowed: set[str]
    ps: _Pseudonyms
    groups: dict[str, list[str]] | None
    membership: dict[str, str]
    history: dict[str, dict]

    def row(self, values: dict, section: str) -> dict:
        """A section's row: its allowed columns only (text raw: :func:`_scrub` runs over every row last)."""
        out = {c: values.get(c, "") for c in SECTION_COLUMNS[section] if c in self.allowed}
        hist, is_declined = _history_text(self.history.get(values["_id"])) if "_id" in values else ("", False)
        if "decision_history" in out:
            out["decision_history"] = hist
        out["_declined"], out["_rag"] = is_declined, values.get("rag", values.get("previous_rag", ""))
        return out


def _people(members: pd.DataFrame, removed: pd.DataFrame, periphery: pd.DataFrame | None,
            groups: dict[str, list[str]] | None, fields: set[str]) -> tuple[set[str], set[str]]:
    """The ids the pack shows (for the disclosure log), and every id it pseudonymises (all group members)."""
    periphery_ids = [] if periphery is None else [str(p) for p in periphery["person_id"]]
    linked = [] if periphery is None or "linked_to" not in periphery.columns else \
        [i for v in periphery["linked_to"] for i in _ids(v)]
    grouped = [p for ms in (groups or {}).values() for p in ms]
    shown = {str(p) for p in members["person_id"]} | {str(p) for p in removed["person_id"]} | set(periphery_ids) \
        | set(linked) | (set(grouped) if "peer_group" in fields else set())
    return shown, shown | set(grouped)


def _cohort_rows(pack: _Pack, members: pd.DataFrame) -> list[dict]:
    ps = pack.ps
    return [pack.row({"_id": str(r["person_id"]), "pseudonym": ps(r["person_id"]), "rank": _int(r["rank"]),
                      "rag": _text(r["rag"]), "age": _int(r.get("age")), "sex": _text(r.get("sex")),
                      "ethnicity": _text(r.get("ethnicity")), "area": _text(r.get("area")),
                      "vulnerability_band": _text(r.get("vulnerability_band")),
                      "movement": movement_words(_text(r.get("movement"))),
                      "peer_group": pack.membership.get(str(r["person_id"]), ""),
                      "latest_weapon_date": _text(r.get("latest_weapon_date"))[:10],
                      "rationale": _POINTS.sub("", _text(r.get("rationale"))),
                      "vulnerability_rationale": _POINTS.sub("", _text(r.get("vulnerability_rationale")))},
                     "cohort")
            for r in members.sort_values("rank", kind="stable").to_dict("records")]


def _periphery_rows(pack: _Pack, periphery: pd.DataFrame | None) -> list[dict]:
    rows = []
    for r in ([] if periphery is None else periphery.to_dict("records")):
        pid = str(r["person_id"])
        links = _ids(r.get("linked_to"))
        text = f"linked to {', '.join(pack.ps(i) for i in links)}" if links else ""
        if not _blank(r.get("shared_occurrences")) and r.get("shared_occurrences") != "":
            text += f" ({int(r['shared_occurrences'])} shared incidents)"
        if _text(r.get("reason")):
            text = (text + "; " if text else "") + partner_reason(_text(r["reason"]))
        rows.append(pack.row({"_id": pid, "pseudonym": pack.ps(pid), "age": _int(r.get("age")),
                              "sex": _text(r.get("sex")), "area": _text(r.get("area")),
                              "vulnerability_band": _text(r.get("vulnerability_band")),
                              "peer_group": _text(r.get("peer_group")) or pack.membership.get(pid, ""),
                              "link": text}, "periphery"))
    return rows


def _group_rows(pack: _Pack, cohort: set[str], peer_edges: pd.DataFrame | None) -> tuple[list[dict], list[dict]]:
    """The peer-group rows, and a drawing of each of the first twelve groups."""
    rows, drawings = [], []
    for label, ms in (pack.groups or {}).items():
        ordered = sorted(ms, key=lambda p: (p not in cohort, pack.ps(p)))
        rows.append(pack.row({"peer_group": label, "size": len(ms), "cohort_members": sum(p in cohort for p in ms),
                              "members": ", ".join(pack.ps(p) for p in ordered)}, "peer_groups"))
        if len(drawings) < 12:
            drawings.append({"label": label, **network_drawing(ordered, cohort, pack.ps, peer_edges)})
    return rows, drawings


def _place_rows(pack: _Pack, places: pd.DataFrame | None) -> list[dict]:
    if places is None:
        return []
    loc = _first(places, ("location_id", "location", "place"))
    act = _first(places, ("score", "activity", "weight", "knife_activity"))
    ev = _first(places, ("events", "incidents", "event_count"))
    ppl = _first(places, ("people", "people_count", "persons"))
    grp = _first(places, ("peer_groups", "groups", "active_groups"))
    rows = []
    for r in places.to_dict("records"):
        count = r.get(ppl) if ppl else None
        rows.append(pack.row({
            "location": _text(r.get(loc)) if loc else "",
            "activity": "" if not act or _blank(r.get(act)) else round(float(r[act]), 1),
            "events": _int(r.get(ev)) if ev else "",
            "people": int(count) if isinstance(count, (int, float, np.integer, np.floating)) and
            not _blank(count) else "",
            "active_groups": ", ".join(_ids(r.get(grp))) if grp else ""}, "places"))
    return rows


def _removed_rows(pack: _Pack, removed: pd.DataFrame) -> list[dict]:
    return [pack.row({"pseudonym": pack.ps(r["person_id"]), "previous_rag": _text(r.get("previous_rag")),
                      "removed_reason": partner_reason(_text(r.get("reason")))}, "removed")
            for r in removed.sort_values("previous_rank", kind="stable").to_dict("records")]


def _scrub(all_rows: dict[str, list[dict]], drawings: list[dict], scrubber: IdScrubber) -> None:
    """Every text a partner file shows, with every person id in it replaced (in place, counted once)."""
    cells = [(row, col) for rows in all_rows.values() for row in rows for col, value in row.items()
             if isinstance(value, str) and value and col not in _NOT_FREE_TEXT and not col.startswith("_")]
    for (row, col), text in zip(cells, scrubber.scrub([row[col] for row, col in cells]), strict=True):
        row[col] = text
    for drawing, label in zip(drawings, scrubber.scrub([d["label"] for d in drawings], count=False), strict=True):
        drawing["label"] = label  # the group's label, already counted in its row


def _sections(all_rows: dict[str, list[dict]], drawings: list[dict], *, allowed: set[str], fields: set[str],
              periphery: pd.DataFrame | None, groups: dict | None, places: pd.DataFrame | None,
              previous: str | None) -> list[dict]:
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
    sections = []
    for name, sheet, title in SECTIONS:
        columns = [c for c in SECTION_COLUMNS[name] if c in allowed]
        sections.append({"name": name, "sheet": sheet, "title": title, "columns": columns,
                         "labels": [COLUMNS[c][1] for c in columns], "rows": all_rows[name],
                         "available": available[name], "note": notes[name],
                         "decisions": "decision" in columns,
                         "drawings": drawings if name == "peer_groups" else []})
    return sections


def _summary(members: pd.DataFrame, all_rows: dict[str, list[dict]], scrubber: IdScrubber) -> dict[str, int]:
    rag = members["rag"].value_counts() if len(members) else pd.Series(dtype=int)
    return {"cohort": len(all_rows["cohort"]), "red": int(rag.get("red", 0)), "amber": int(rag.get("amber", 0)),
            "green": int(rag.get("green", 0)),
            "new": int((members["movement"] == "new").sum()) if "movement" in members else 0,
            "removed": len(all_rows["removed"]), "periphery": len(all_rows["periphery"]),
            "peer_groups": len(all_rows["peer_groups"]), "places": len(all_rows["places"]),
            "declined": sum(r["_declined"] for r in all_rows["cohort"]),
            "scrubbed": scrubber.values, "withheld": scrubber.withheld}


def _page(manifest: Mapping[str, Any], settings: PartnerSettings, demo: bool) -> dict:
    """The pack's title, notes and provenance."""
    as_of = dt.date.fromisoformat(str(manifest["as_of"])[:10])
    title = f"Knife-crime partnership cohort \u2014 partner view \u2014 {as_of.strftime('%-d %B %Y')}"
    return {
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
        "checks": pack_checks(manifest, audit_page="audit/audit.html (partner copy)"),
        "provenance": {"config_sha256": manifest.get("config_sha256", ""),
                       "inputs_sha256": manifest.get("inputs_sha256", ""),
                       "hkc_version": manifest.get("hkc_version", "")},
    }


def partner_facts(*, members: pd.DataFrame, removed: pd.DataFrame, manifest: Mapping[str, Any],
                  settings: PartnerSettings, key: bytes, peer_groups: pd.DataFrame | None = None,
                  periphery: pd.DataFrame | None = None, places: pd.DataFrame | None = None,
                  decisions_history: pd.DataFrame | None = None, peer_edges: pd.DataFrame | None = None,
                  demo: bool = False, all_person_ids: Iterable[object] | None = None) -> tuple[dict, set[str]]:
    """The partner pack as plain data, and the source ids of everyone it shows (for the disclosure log).

    Every text it shows is scrubbed of person ids (:class:`~hkc.partnership.pseudonyms.IdScrubber`):
    the id of someone shown becomes their pseudonym, anyone else's is withheld.  ``all_person_ids``
    is everyone the text could name — pass every person id in the extract.  Without it (the safe
    fallback) the ids the frames given here hold are looked for, and any token shaped like one of
    them (the same text with other digits) is withheld.  ``counts["scrubbed"]`` is how many values
    held an id, ``counts["withheld"]`` how many of those named someone the pack does not show.
    """
    manifest = dict(manifest)  # a plain dict or the refresh's RunManifest (keys() and [] are enough)
    fields = set(settings.fields)
    groups = _groups(peer_groups)
    shown, named = _people(members, removed, periphery, groups, fields)
    history = {} if decisions_history is None else \
        {str(r["person_id"]): r for r in decisions_history.to_dict("records")}
    pack = _Pack(fields=fields, allowed={c for c, (f, _l) in COLUMNS.items() if f is None or f in fields},
                 ps=_Pseudonyms(sorted(named), key), groups=groups,
                 membership={p: g for g, ms in (groups or {}).items() for p in ms}, history=history)
    group_rows, drawings = _group_rows(pack, {str(p) for p in members["person_id"]}, peer_edges)
    all_rows = {"cohort": _cohort_rows(pack, members), "periphery": _periphery_rows(pack, periphery),
                "peer_groups": group_rows, "places": _place_rows(pack, places),
                "removed": _removed_rows(pack, removed)}
    known = named | set(history) | _edge_ids(peer_edges)
    scrubber = IdScrubber(known if all_person_ids is None else _every_id(all_person_ids, known),
                          {p: pack.ps(p) for p in shown}, like=known if all_person_ids is None else ())
    _scrub(all_rows, drawings, scrubber)
    sections = _sections(all_rows, drawings, allowed=pack.allowed, fields=fields, periphery=periphery,
                         groups=groups, places=places, previous=manifest.get("previous_as_of"))
    facts = _page(manifest, settings, demo or is_demo_key(key))
    facts |= {"sections": sections, "counts": _summary(members, all_rows, scrubber)}
    return facts, shown


def _edge_ids(peer_edges: pd.DataFrame | None) -> set[str]:
    if peer_edges is None or not len(peer_edges):
        return set()
    return {str(p) for c in ("source", "target") if c in peer_edges.columns for p in peer_edges[c]}


def _every_id(all_person_ids: Iterable[object], known: set[str]) -> pd.Series:
    """Every person id in the extract and every id the pack knows, as one column of text."""
    given = all_person_ids if isinstance(all_person_ids, pd.Series) else pd.Series(list(all_person_ids), dtype=object)
    return pd.concat([given.dropna().astype(str), pd.Series(sorted(known), dtype=object)], ignore_index=True)
