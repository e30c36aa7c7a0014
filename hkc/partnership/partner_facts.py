"""What the partner pack shows, as plain data: pseudonymised rows of allow-listed columns only.

:func:`partner_facts` turns the police-view frames into sections (cohort, periphery, safeguarding,
peer groups, places, removed) whose rows hold only the columns governed by ``[partner] fields``.
Id columns hold pseudonyms; every text shown (area, place, rationale, link, reason, decision
history, group label) is scrubbed last, against every person id in the extract: a shown person's
id becomes the pseudonym, anyone else's ``[id withheld]``, and the pack counts what was scrubbed.
Partners see bands, not scores, and no unproven allegation by default
(:mod:`hkc.partnership.partner_text`).

The periphery: when it says each link's role (``link_type``, from :func:`hkc.matrix.map_peers`),
people linked only as a victim or witness go to their own **safeguarding** section, "possibly at
risk from cohort members", never beside co-offenders, and only the link types in ``[partner]
link_types`` are shown at all.  A periphery without roles is shown in one section, as links of
unknown role.  :mod:`hkc.partnership.partner_pack` renders the result.
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

from hkc.definitions import OutputSettings, PartnerSettings
from hkc.history import NOT_LISTED
from hkc.messages import movement_words
from hkc.partnership.checks import pack_checks
from hkc.partnership.drawing import network_drawing, pack_charts
from hkc.partnership.partner_columns import (
    COLUMNS,
    DECISION_COLUMNS,
    LINK_WORDS,
    NOT_AVAILABLE,
    PARTNER_FIELDS,
    PERIPHERY_TITLES,
    SAFEGUARDING,
    SECTION_COLUMNS,
    SECTIONS,
)
from hkc.partnership.partner_text import (
    PARTNER_REASONS,
    not_shown,
    partner_reason,
    proven_rationale,
    proven_reason,
    top_drivers,
)
from hkc.partnership.printing import print_facts
from hkc.partnership.pseudonyms import DEMO_LABEL, IdScrubber, is_demo_key, pseudonymise

__all__ = ['partner_facts', 'partner_reason', 'PARTNER_REASONS', 'PARTNER_FIELDS', 'COLUMNS', 'SECTION_COLUMNS',
           'DECISION_COLUMNS', 'NOT_AVAILABLE', 'LINK_WORDS', 'SAFEGUARDING']


_POINTS = re.compile(r",\s*-?\d+(?:\.\d+)?\s*pts\b")  # points add up to the score; partners get bands
_NOT_FREE_TEXT = {"pseudonym", "members", "latest_weapon_date"}  # made by hkc: pseudonyms, an ISO date


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
    running = _text((row or {}).get("intervention"))
    if running:
        text, declined = _history_text({k: v for k, v in row.items() if k != "intervention"})
        return (f"{text}; intervention: {running}" if text else f"intervention: {running}"), declined
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
    show_unproven: bool = False

    def row(self, values: dict, section: str) -> dict:
        """A section's row: its allowed columns only (text raw: :func:`_scrub` runs over every row last)."""
        out = {c: values.get(c, "") for c in SECTION_COLUMNS[section] if c in self.allowed}
        hist, is_declined = _history_text(self.history.get(values["_id"])) if "_id" in values else ("", False)
        if "decision_history" in out:
            out["decision_history"] = hist
        out["_declined"], out["_rag"] = is_declined, values.get("rag", values.get("previous_rag", ""))
        return out


def _shown_periphery(periphery: pd.DataFrame | None, settings: PartnerSettings) -> pd.DataFrame | None:
    """The periphery partners may see: with roles recorded, only the link types ``[partner] link_types`` allows."""
    if periphery is None or "link_type" not in periphery.columns:
        return periphery
    return periphery[periphery["link_type"].astype(str).isin(settings.link_types)]


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


def _rationale(pack: _Pack, text: str, drivers: int) -> tuple[str, str]:
    """The rationale partners read (no points, no unproven allegation unless ``show_unproven``), in
    full and cut to its top ``drivers`` for print, each saying how many allegations were left out."""
    text, dropped = _POINTS.sub("", text), 0
    if not pack.show_unproven:
        text, dropped = proven_rationale(text)
    return tuple("; ".join(t for t in (full, not_shown(dropped)) if t)  # type: ignore[return-value]
                 for full in (text, top_drivers(text, drivers)))


def _cohort_rows(pack: _Pack, members: pd.DataFrame, drivers: int) -> list[dict]:
    rows = []
    for r in members.sort_values("rank", kind="stable").to_dict("records"):
        rationale, printed = _rationale(pack, _text(r.get("rationale")), drivers)
        row = pack.row({"_id": str(r["person_id"]), "pseudonym": pack.ps(r["person_id"]), "rank": _int(r["rank"]),
                        "rag": _text(r["rag"]), "age": _int(r.get("age")), "sex": _text(r.get("sex")),
                        "ethnicity": _text(r.get("ethnicity")), "area": _text(r.get("area")),
                        "vulnerability_band": _text(r.get("vulnerability_band")),
                        "movement": movement_words(_text(r.get("movement"))),
                        "peer_group": pack.membership.get(str(r["person_id"]), ""),
                        "latest_weapon_date": _text(r.get("latest_weapon_date"))[:10], "rationale": rationale,
                        "vulnerability_rationale": _rationale(pack, _text(r.get("vulnerability_rationale")),
                                                              drivers)[0]}, "cohort")
        if "rationale" in row:
            row["_rationale_print"] = printed
        rows.append(row)
    return rows


def _periphery_rows(pack: _Pack, periphery: pd.DataFrame | None, section: str) -> list[dict]:
    """The rows of the periphery (``section`` "periphery") or the safeguarding section."""
    if periphery is None:
        return []
    if "link_type" in periphery.columns:
        at_risk = periphery["link_type"].astype(str) == SAFEGUARDING
        periphery = periphery[at_risk if section == "safeguarding" else ~at_risk]
    elif section == "safeguarding":
        return []
    rows = []
    for r in periphery.to_dict("records"):
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
                              "link_role": LINK_WORDS.get(_text(r.get("link_type")), _text(r.get("link_type"))),
                              "link": text}, section))
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
    def reason(text: str) -> str:
        text = partner_reason(text)
        return text if pack.show_unproven else proven_reason(text)

    return [pack.row({"pseudonym": pack.ps(r["person_id"]), "previous_rag": _text(r.get("previous_rag")),
                      "removed_reason": reason(_text(r.get("reason")))}, "removed")
            for r in removed.sort_values("previous_rank", kind="stable").to_dict("records")]


def _open_case_rows(pack: _Pack, cases: pd.DataFrame | None) -> list[dict]:
    """Open cases whose person is not listed now: pseudonym, why not listed (the rule in words, never a score;
    the detail only under the ``rationale`` field), and under the ``decision`` field the lead agency and the
    review date, flagged when overdue."""
    if cases is None:
        return []
    rows, decided = [], "decision" in pack.fields
    for r in cases.to_dict("records"):
        why = NOT_LISTED.get(_text(r["status"]), _text(r["status"]))
        if r["status"] == "no_longer_eligible" and "rationale" in pack.fields:
            detail = partner_reason(_text(r.get("reason")))
            why += f": {detail if pack.show_unproven else proven_reason(detail)}"
        review = _text(r.get("review_date"))
        rows.append({"pseudonym": pack.ps(r["person_id"]), "why": why, "opened": _text(r.get("opened")),
                     "lead_agency": (_text(r.get("lead_agency")) or "not recorded") if decided else "",
                     "review_date": (review or "none set") if decided else "",
                     "overdue": decided and bool(r.get("review_overdue") is True)})
    return rows


def _referral_rows(pack: _Pack, referrals: pd.DataFrame | None) -> list[dict]:
    """Partners' referrals of the last year: the pseudonym of a known person (else the partner's own reference),
    the agency, the date and whether listed this quarter; never a score, never the reason (it may name others)."""
    if referrals is None:
        return []
    return [{"pseudonym": pack.ps(r["person_id"]) if _text(r["person_id"]) else "",
             "referral_ref": "" if _text(r["person_id"]) else _text(r.get("referral_ref")),
             "agency": _text(r["agency"]), "referred_on": _text(r["referred_on"]), "listed": _text(r["listed"])}
            for r in referrals.to_dict("records")]


def _scrub(all_rows: dict[str, list[dict]], drawings: list[dict], scrubber: IdScrubber) -> None:
    """Every text a partner file shows, with every person id in it replaced (in place, counted once)."""
    cells = [(row, col) for rows in all_rows.values() for row in rows for col, value in row.items()
             if isinstance(value, str) and value and col not in _NOT_FREE_TEXT and not col.startswith("_")]
    for (row, col), text in zip(cells, scrubber.scrub([row[col] for row, col in cells]), strict=True):
        row[col] = text
    for drawing, label in zip(drawings, scrubber.scrub([d["label"] for d in drawings], count=False), strict=True):
        drawing["label"] = label  # the group's label, already counted in its row
    printed = [row for row in all_rows["cohort"] if row.get("_rationale_print")]
    for row, text in zip(printed, scrubber.scrub([r["_rationale_print"] for r in printed], count=False), strict=True):
        row["_rationale_print"] = text  # the print copy of a rationale, already counted in its row


def _periphery_title(roles: bool, link_types: tuple[str, ...]) -> str:
    shown = tuple(t for t in ("co_offending", "other") if t in link_types)
    return PERIPHERY_TITLES.get(shown, SECTIONS[1][2]) if roles else SECTIONS[1][2]


def _sections(all_rows: dict[str, list[dict]], drawings: list[dict], *, allowed: set[str], fields: set[str],
              periphery: pd.DataFrame | None, groups: dict | None, places: pd.DataFrame | None,
              previous: str | None, link_types: tuple[str, ...]) -> list[dict]:
    roles = periphery is not None and "link_type" in periphery.columns
    notes = {
        "cohort": "Nobody met the eligibility rules at this date.",
        "periphery": NOT_AVAILABLE.format(what="The periphery is") if periphery is None
        else "Nobody is on the periphery of the cohort in this run.",
        "safeguarding": "Nobody is linked to cohort members only as a victim or witness in this run."
        if SAFEGUARDING in link_types else "Not shared with partners under the current [partner] link_types.",
        "peer_groups": "Peer groups are not shared with partners under the current [partner] fields."
        if "peer_group" not in fields else NOT_AVAILABLE.format(what="Peer groups are") if groups is None
        else "No peer group holds two or more cohort members in this run.",
        "places": NOT_AVAILABLE.format(what="Places are") if places is None else "No places to show in this run.",
        "removed": "First refresh in this history: nobody to compare with." if not previous
        else f"Nobody listed on {previous} has left the list.",
    }
    available = {"cohort": True, "periphery": periphery is not None, "safeguarding": roles,
                 "peer_groups": groups is not None and "peer_group" in fields, "places": places is not None,
                 "removed": True}
    sections = []
    for name, sheet, title in SECTIONS:
        if name == "safeguarding" and not roles:
            continue  # roles not recorded: nobody can be told apart, so one periphery section
        columns = [c for c in SECTION_COLUMNS[name] if c in allowed and (c != "link_role" or roles)]
        sections.append({"name": name, "sheet": sheet,
                         "title": _periphery_title(roles, link_types) if name == "periphery" else title,
                         "columns": columns, "labels": [COLUMNS[c][1] for c in columns], "rows": all_rows[name],
                         "available": available[name], "note": notes[name], "decisions": "decision" in columns,
                         "drawings": drawings if name == "peer_groups" else []})
    return sections


def _summary(members: pd.DataFrame, all_rows: dict[str, list[dict]], scrubber: IdScrubber) -> dict[str, int]:
    rag = members["rag"].value_counts() if len(members) else pd.Series(dtype=int)
    return {"cohort": len(all_rows["cohort"]), "red": int(rag.get("red", 0)), "amber": int(rag.get("amber", 0)),
            "green": int(rag.get("green", 0)),
            "new": int((members["movement"] == "new").sum()) if "movement" in members else 0,
            "removed": len(all_rows["removed"]), "periphery": len(all_rows["periphery"]),
            "safeguarding": len(all_rows["safeguarding"]),
            "peer_groups": len(all_rows["peer_groups"]), "places": len(all_rows["places"]),
            "declined": sum(r["_declined"] for r in all_rows["cohort"]),
            "scrubbed": scrubber.values, "withheld": scrubber.withheld}


def _page(manifest: Mapping[str, Any], settings: PartnerSettings, demo: bool, agency: str,
          outputs: OutputSettings | None) -> dict:
    """The pack's title, notes, provenance and how it prints."""
    as_of = dt.date.fromisoformat(str(manifest["as_of"])[:10])
    view = f"partner view for {agency}" if agency else "partner view"
    title = f"Knife-crime partnership cohort \u2014 {view} \u2014 {as_of.strftime('%-d %B %Y')}"
    unproven = "" if settings.show_unproven else (" Allegations that were not proven are left out; each "
                                                  "rationale says how many.")
    return {
        "title": (f"[{DEMO_LABEL}] " if demo else "") + title, "demo": demo, "demo_label": DEMO_LABEL,
        "agency": agency, "as_of": as_of.isoformat(), "as_of_long": as_of.strftime("%-d %B %Y"),
        "produced": str(manifest.get("finished_at") or dt.datetime.now(dt.UTC).isoformat())[:16].replace("T", " "),
        "audience_note": (f"{view}: pseudonymised, only the fields agreed for partners; do not try to "
                          "re-identify anyone and do not forward outside the partnership"),
        "banner": ("A list for safeguarding and support decisions, not evidence of offending. Every entry must be "
                   "reviewed by the partnership; bands summarise recorded events and can be wrong." + unproven),
        "decision_help": ("On each sheet with a Decision column (Cohort, Periphery and, when it is shown, "
                          "Safeguarding) choose a Decision (adopt, monitor, decline, refer, close or remove) and give a Reason "
                          "(required for decline, and for close, which ends an adopted case). Every other cell is locked and sealed: a pack with an edited "
                          "locked cell is refused on import."),
        "fields": [f for f in settings.fields],
        "checks": pack_checks(manifest, audit_page="audit/audit.html (partner copy)"),
        "provenance": {"config_sha256": manifest.get("config_sha256", ""),
                       "inputs_sha256": manifest.get("inputs_sha256", ""),
                       "hkc_version": manifest.get("hkc_version", "")},
        **print_facts(outputs, footer=f"{title} \u2014 pseudonymised"),
    }


def partner_facts(*, members: pd.DataFrame, removed: pd.DataFrame, manifest: Mapping[str, Any],
                  settings: PartnerSettings, key: bytes, peer_groups: pd.DataFrame | None = None,
                  periphery: pd.DataFrame | None = None, places: pd.DataFrame | None = None,
                  decisions_history: pd.DataFrame | None = None, peer_edges: pd.DataFrame | None = None,
                  demo: bool = False, all_person_ids: Iterable[object] | None = None, agency: str = "",
                  outputs: OutputSettings | None = None,
                  open_cases: pd.DataFrame | None = None,
                  referrals: pd.DataFrame | None = None) -> tuple[dict, set[str]]:
    """The partner pack as plain data, and the source ids of everyone it shows (for the disclosure log).

    Every text it shows is scrubbed of person ids (:class:`~hkc.partnership.pseudonyms.IdScrubber`):
    the id of someone shown becomes their pseudonym, anyone else's is withheld.  ``all_person_ids``
    is everyone the text could name — pass every person id in the extract.  Without it (the safe
    fallback) the ids the frames given here hold are looked for, and any token shaped like one of
    them (the same text with other digits) is withheld.  ``counts["scrubbed"]`` is how many values
    held an id, ``counts["withheld"]`` how many of those named someone the pack does not show.
    ``agency``: the agency's name for its own pack (its title says it); ``outputs``: the marking and
    print settings.  ``open_cases``: adopted people whose case is open but who are not listed now
    (:func:`hkc.refresh.frames.open_cases_frame`), shown by pseudonym in their own section.  ``referrals``:
    partners' referrals of the last year (:func:`hkc.history.recent_referrals`), shown by pseudonym (or the
    partner's reference) without the reason.
    """
    manifest = dict(manifest)  # a plain dict or the refresh's RunManifest (keys() and [] are enough)
    fields = set(settings.fields)
    groups = _groups(peer_groups)
    periphery = _shown_periphery(periphery, settings)
    shown, named = _people(members, removed, periphery, groups, fields)
    cases = set() if open_cases is None else {str(p) for p in open_cases["person_id"]}
    referred = set() if referrals is None else {str(p) for p in referrals["person_id"].dropna() if str(p)}
    shown, named = shown | cases | referred, named | cases | referred
    history = {} if decisions_history is None else \
        {str(r["person_id"]): r for r in decisions_history.to_dict("records")}
    pack = _Pack(fields=fields, allowed={c for c, (f, _l) in COLUMNS.items() if f is None or f in fields},
                 ps=_Pseudonyms(sorted(named), key), groups=groups,
                 membership={p: g for g, ms in (groups or {}).items() for p in ms}, history=history,
                 show_unproven=settings.show_unproven)
    group_rows, drawings = _group_rows(pack, {str(p) for p in members["person_id"]}, peer_edges)
    drivers = (outputs or OutputSettings()).print_drivers
    all_rows = {"cohort": _cohort_rows(pack, members, drivers),
                "periphery": _periphery_rows(pack, periphery, "periphery"),
                "safeguarding": _periphery_rows(pack, periphery, "safeguarding"),
                "peer_groups": group_rows, "places": _place_rows(pack, places),
                "removed": _removed_rows(pack, removed), "open_cases": _open_case_rows(pack, open_cases),
                "referrals": _referral_rows(pack, referrals)}
    known = named | set(history) | _edge_ids(peer_edges)
    scrubber = IdScrubber(known if all_person_ids is None else _every_id(all_person_ids, known),
                          {p: pack.ps(p) for p in shown}, like=known if all_person_ids is None else ())
    _scrub(all_rows, drawings, scrubber)
    sections = _sections(all_rows, drawings, allowed=pack.allowed, fields=fields, periphery=periphery,
                         groups=groups, places=places, previous=manifest.get("previous_as_of"),
                         link_types=tuple(settings.link_types))
    facts = _page(manifest, settings, demo or is_demo_key(key), agency, outputs)
    charts = pack_charts(members, removed, compared=bool(manifest.get("previous_as_of")))
    facts |= {"sections": sections, "counts": _summary(members, all_rows, scrubber),
              **({} if open_cases is None else {"open_cases": all_rows["open_cases"]}),
              **({} if referrals is None else {"referrals": all_rows["referrals"]}),
              "charts": [c for c in charts if c["title"] != "Latest decision, people listed" or "decision" in fields]}
    return facts, shown


def _edge_ids(peer_edges: pd.DataFrame | None) -> set[str]:
    if peer_edges is None or not len(peer_edges):
        return set()
    return {str(p) for c in ("source", "target") if c in peer_edges.columns for p in peer_edges[c]}


def _every_id(all_person_ids: Iterable[object], known: set[str]) -> pd.Series:
    """Every person id in the extract and every id the pack knows, as one column of text."""
    given = all_person_ids if isinstance(all_person_ids, pd.Series) else pd.Series(list(all_person_ids), dtype=object)
    return pd.concat([given.dropna().astype(str), pd.Series(sorted(known), dtype=object)], ignore_index=True)
