"""The partner pack: ``partner/cohort.html``, ``cohort.xlsx`` and ``cohort.csv``, pseudonymised throughout.

The Information Commissioner found the Gangs Matrix shared in full and unredacted with partners.
Here partners get a keyed pseudonym instead of the person id (:mod:`hkc.partnership.pseudonyms`) and only the
columns governed by ``[partner] fields`` (:data:`PARTNER_FIELDS`); every output column is declared in
:data:`COLUMNS` with the field that governs it, so a column is shown only when its field is allowed.
Scores are never shown, only bands.  Every text shown is scrubbed of person ids — checked against
every person in the extract: a shown person's id becomes the pseudonym, anyone else's is withheld.

The workbook is the meeting's instrument: one sheet per section, frozen and wrapped headers,
filters, columns as wide as their content, numbers stored as numbers, the protective marking and
page numbers on every printed page, a **Decision** drop-down (adopt / monitor / decline / refer / close / remove) and
a **Reason** column on the cohort, periphery and safeguarding sheets, followed by the casework
columns (:data:`CASEWORK`): the intervention adopted (a drop-down of ``[interventions] types``), its
lead agency, the owner's role, a review date, engagement (a drop-down) and agreed actions (at most
:data:`MAX_ACTIONS` characters), so the meeting records what it will do, not only whether.  They
are in the workbook only: the HTML and CSV show what was decided before, not blank cells to fill.
Everything else is locked and
sealed by :mod:`hkc.partnership.sealing` (the one home of the sealed format): one keyed MAC covers
the run, the layout and every locked cell, so :func:`hkc.partnership.decisions.import_decisions`
refuses any edit and names the cell.

Each agency named in ``[partner.agencies.<name>]`` can get a pack of its own (``agency=name``):
``partner/<name>/cohort.*``, under its own allow-list and with only its people
(:mod:`hkc.partnership.agencies`).  Every pack, the partnership's and each agency's, is sealed with
the same key, so ``hkc decisions import`` reads any of them back.

Peer groups, periphery and places come from peer mapping, which may be absent: each accepts None
and then says "not available in this run".  Accepted shapes (extra columns are ignored, never shown):

* ``periphery``: ``person_id``; optional ``linked_to`` (ids; a list or text split on ``,;|``),
  ``shared_occurrences``, ``reason``, ``link_type`` (co_offending / at_risk / other: with it, the
  safeguarding section), ``age``, ``sex``, ``area``, ``vulnerability_band``, ``peer_group``;
* ``peer_groups``: ``peer_group`` with ``person_id`` (one row per member) or ``members`` (ids);
* ``places``: ``location_id``; optional ``score``/``activity``, ``events``, ``people`` (a count),
  ``peer_groups`` (labels);
* ``peer_edges`` (for the drawing): ``source``, ``target``, optional ``weight``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.datavalidation import DataValidation

from hkc.definitions import InterventionSettings, OutputSettings, PartnerSettings
from hkc.errors import ConfigError
from hkc.messages import closest
from hkc.outputs import environment, file_hashes, neutralise, replace_atomically, write_csv
from hkc.partnership.agencies import agency_frames, agency_settings, find_agency
from hkc.partnership.partner_facts import COLUMNS, PARTNER_FIELDS, partner_facts
from hkc.partnership.pseudonyms import check_key
from hkc.partnership.sealing import seal_workbook
from hkc.partnership.sheets import fit_columns, print_marking

__all__ = ["write_partner_pack", "write_partner_xlsx", "validate_fields", "allowed_columns", "partner_facts",
           "PARTNER_FIELDS", "COLUMNS", "DECISIONS", "CASEWORK", "CASEWORK_LABELS", "MAX_ACTIONS"]

DECISIONS = ("adopt", "monitor", "decline", "refer", "close", "remove")  # close: ends an adopted case (hkc.history.cases);
# remove: off future lists until new evidence dated after the meeting (hkc.history.removed_on_review)
# the casework columns after Decision and Reason on every decision sheet (workbook only), with their headers
CASEWORK_LABELS = {"intervention": "Intervention", "lead_agency": "Lead agency", "owner_role": "Owner (role)",
                   "review_date": "Review date", "engagement": "Engagement", "actions": "Actions"}
CASEWORK = tuple(CASEWORK_LABELS)
MAX_ACTIONS = 500
EDITABLE = ("decision", "decision_reason", *CASEWORK)  # the only unlocked cells
_LIST_LIMIT = 255  # a spreadsheet drop-down's list of choices may be at most this long
NEVER_PARTNER = {
    "person_id": "the source id stays in the police view; partners get the pseudonym",
    "risk_score": "partners see the RAG band, not the score",
    "vulnerability_score": "partners see the vulnerability band, not the score",
    "vulnerability": "partners see the vulnerability band, not the score",
}
_RAG_FILL = {"red": "F4C7C3", "amber": "FCE8B2", "green": "B7E1CD"}
_DECLINED_FILL = "D9D9D9"

_env = environment()

CASEWORK_HELP = ("After Decision and Reason, record the casework: for adopt, the Intervention (a type from the "
                 "list) and its Lead agency, always both or neither; for any decision, the Owner (role, never a "
                 "name), a Review date (YYYY-MM-DD, not before the meeting), Engagement (engaged, partial, declined "
                 f"or not_reached) and the agreed Actions (at most {MAX_ACTIONS} characters). An adopted "
                 "intervention is recorded as starting on the meeting date.")


def validate_fields(settings: PartnerSettings) -> tuple[str, ...]:
    """``settings.fields`` if every name is a known partner field; otherwise :class:`ConfigError`."""
    for name in settings.fields:
        if name in NEVER_PARTNER:
            raise ConfigError(f"[partner] fields: '{name}' may not go to partners ({NEVER_PARTNER[name]}); "
                              f"remove it from config/hkc.toml", key="partner.fields")
        if name not in PARTNER_FIELDS:
            close = closest(name, PARTNER_FIELDS)
            hint = f"did you mean '{close}'? " if close else ""
            raise ConfigError(f"[partner] fields: unknown partner field '{name}'; {hint}known fields: "
                              f"{', '.join(PARTNER_FIELDS)}", key="partner.fields")
    if "pseudonym" not in settings.fields:
        raise ConfigError("[partner] fields must include 'pseudonym' (partner rows are identified only by it); "
                          "add it to config/hkc.toml", key="partner.fields")
    return tuple(settings.fields)


def allowed_columns(settings: PartnerSettings) -> set[str]:
    """Every column a partner output may carry under ``settings`` (aggregate place columns included)."""
    fields = set(validate_fields(settings))
    return {name for name, (field, _label) in COLUMNS.items() if field is None or field in fields}


def write_partner_pack(folder: Path, *, members: pd.DataFrame, removed: pd.DataFrame, manifest: dict,
                       settings: PartnerSettings, key: bytes | None, peer_groups: pd.DataFrame | None = None,
                       periphery: pd.DataFrame | None = None, places: pd.DataFrame | None = None,
                       decisions_history: pd.DataFrame | None = None, peer_edges: pd.DataFrame | None = None,
                       demo: bool = False, all_person_ids: Iterable[object] | None = None, agency: str | None = None,
                       person_areas: Mapping[str, str] | None = None,
                       outputs: OutputSettings | None = None,
                       interventions: InterventionSettings | None = None,
                       open_cases: pd.DataFrame | None = None, referrals: pd.DataFrame | None = None) -> dict:
    """Write ``folder/partner/cohort.{html,xlsx,csv}`` (an agency's: ``folder/partner/<agency>/``); return the
    files, their SHA-256 and who is in them.

    ``all_person_ids``: every person id in the extract, so that free text naming anyone — in the
    pack or not — is scrubbed (see :func:`~hkc.partnership.partner_facts.partner_facts`).
    ``agency``: the name of a ``[partner.agencies.<name>]`` table: that agency's pack, under its
    allow-list and with only its people (``person_areas``: each person's area, for the removed
    people).  ``outputs``: the protective marking and the print settings.  ``interventions``: the
    intervention types and engagement codes the casework drop-downs offer (the defaults when None).
    ``open_cases``: adopted people not listed now (:func:`hkc.refresh.frames.open_cases_frame`), shown by
    pseudonym in the HTML's "Open cases no longer in the top N" (not in an agency's pack).
    ``referrals``: partners' referrals of the last year (:func:`hkc.history.recent_referrals`), shown in the
    HTML's "Referred by partners" by pseudonym or the partner's reference, without the reason (not in an
    agency's pack).

    Returns ``{"folder": Path, "files": {"partner/cohort.html": sha256, ...}, "person_ids": [...],
    "people": n, "demo": bool, "agency": name or None, "columns": {section: [column, ...]},
    "scrubbed": n, "withheld": n}`` — ``files`` and ``person_ids`` are what
    :meth:`hkc.history.store.HistoryStore.log_disclosure` records; ``scrubbed`` counts the values
    that held a person id, ``withheld`` those naming someone the pack does not show.
    """
    key = check_key(key, variable=settings.key_variable)
    validate_fields(settings)
    label = ""
    if agency is not None:
        chosen = find_agency(settings, agency)
        settings, label = agency_settings(settings, chosen), chosen.title
        validate_fields(settings)
        frames = agency_frames(chosen, members=members, removed=removed, periphery=periphery,
                               peer_groups=peer_groups, person_areas=person_areas)
        members, removed, periphery, peer_groups = (frames[k] for k in ("members", "removed", "periphery",
                                                                       "peer_groups"))
    facts, person_ids = partner_facts(members=members, removed=removed, manifest=manifest, settings=settings, key=key,
                                      peer_groups=peer_groups, periphery=periphery, places=places,
                                      decisions_history=decisions_history, peer_edges=peer_edges, demo=demo,
                                      all_person_ids=all_person_ids, agency=label, outputs=outputs,
                                      open_cases=open_cases if agency is None else None,
                                      referrals=referrals if agency is None else None)
    where = "partner" if agency is None else f"partner/{agency}"
    out = Path(folder) / where
    out.mkdir(parents=True, exist_ok=True)
    cohort = facts["sections"][0]
    csv_columns = [c for c in cohort["columns"] if c not in EDITABLE]
    csv_frame = pd.DataFrame([{c: r[c] for c in csv_columns} for r in cohort["rows"]], columns=csv_columns)
    replace_atomically(out / "cohort.csv", lambda p: write_csv(csv_frame, p))
    html = _env.get_template("partner.html.j2").render(**facts)
    replace_atomically(out / "cohort.html", lambda p: p.write_text(html, encoding="utf-8"))
    replace_atomically(out / "cohort.xlsx", lambda p: write_partner_xlsx(facts, p, key=key,
                                                                        interventions=interventions))
    files = file_hashes(Path(folder), [f"{where}/cohort.csv", f"{where}/cohort.html", f"{where}/cohort.xlsx"])
    return {"folder": out, "files": files, "person_ids": sorted(person_ids), "people": len(person_ids),
            "demo": facts["demo"], "agency": agency, "columns": {s["name"]: list(s["columns"]) for s in facts["sections"]},
            "scrubbed": facts["counts"]["scrubbed"], "withheld": facts["counts"]["withheld"]}


# -- the workbook -------------------------------------------------------------------------------
_WIDE = ("rationale", "vulnerability_rationale", "link", "removed_reason", "members", "decision_history")
_WRITTEN = ("decision_reason", "actions")  # editable columns for sentences: wide and wrapped


def _cell(value: Any) -> Any:
    """A value safe in a workbook: formulas neutralised, control characters XML cannot hold removed."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # first, so "\x01=cmd" cannot become a formula
    return neutralise(value)


def _note_sheet(ws, section: dict) -> dict:
    """A section with nothing to show: one note, sealed like any table."""
    ws.append(["Note"])
    ws.append([_cell(section["note"])])
    ws.column_dimensions["A"].width = 100
    return {"columns": ["note"], "rows": 1, "editable": []}


def _style_columns(ws, section: dict, editable: list[str]) -> None:
    """Widths that fit, wrapping, the editable cells' fill, RAG colours and the grey of declined rows."""
    columns, rows = section["columns"], section["rows"]
    fit_columns(ws, section["labels"], [[r[c] for c in columns] for r in rows],
                wide={i for i, c in enumerate(columns, start=1) if c in _WIDE or c in _WRITTEN})
    for idx, col in enumerate(columns, start=1):
        if col in editable:  # room to write in, however empty the column is now
            ws.column_dimensions[get_column_letter(idx)].width = 40 if col in _WRITTEN else 14
        for r in range(2, len(rows) + 2):
            cell = ws.cell(row=r, column=idx)
            if col in editable:
                cell.fill = PatternFill("solid", fgColor="FFFDE7")
            elif col in ("rag", "previous_rag") and cell.value in _RAG_FILL:
                cell.fill = PatternFill("solid", fgColor=_RAG_FILL[cell.value])
            elif rows[r - 2].get("_declined"):
                cell.fill = PatternFill("solid", fgColor=_DECLINED_FILL)


def _decision_drop_down(ws, columns: list[str], n: int) -> None:
    letter = get_column_letter(columns.index("decision") + 1)
    dv = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True,
                        showErrorMessage=True, errorTitle="Decision",
                        error="Choose adopt, monitor, decline, refer, close or remove (decline, close and remove need a reason).",
                        promptTitle="Decision", prompt="adopt / monitor / decline / refer / close / remove",
                        showInputMessage=True)
    dv.add(f"{letter}2:{letter}{n + 1}")
    ws.add_data_validation(dv)


def _with_casework(section: dict) -> dict:
    """A decision section with the casework columns after its Decision and Reason, blank in every row."""
    blank = dict.fromkeys(CASEWORK, "")
    return section | {"columns": [*section["columns"], *CASEWORK],
                      "labels": [*section["labels"], *CASEWORK_LABELS.values()],
                      "rows": [row | blank for row in section["rows"]]}


def _casework_checks(ws, columns: list[str], n: int, interventions: InterventionSettings, as_of: str) -> None:
    """Drop-downs for the intervention type and engagement, a date from the pack's as-of date on for the
    review date, and at most :data:`MAX_ACTIONS` characters of actions.  The spreadsheet's checks are
    help for whoever fills the sheet in; the import checks every cell again."""
    def add(column: str, dv: DataValidation) -> None:
        letter = get_column_letter(columns.index(column) + 1)
        dv.add(f"{letter}2:{letter}{n + 1}")
        ws.add_data_validation(dv)

    for column, codes, title in (("intervention", interventions.types, "Intervention"),
                                 ("engagement", interventions.engagement, "Engagement")):
        choices = ",".join(codes)
        if codes and len(choices) <= _LIST_LIMIT and '"' not in choices:  # too long a list: the import checks it
            add(column, DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True,
                                       errorTitle=title, error=f"Choose one of {', '.join(codes)}."[:_LIST_LIMIT],
                                       promptTitle=title, prompt=" / ".join(codes)[:_LIST_LIMIT],
                                       showInputMessage=True))
    start = dt.date.fromisoformat(as_of)
    add("review_date", DataValidation(type="date", operator="greaterThanOrEqual", formula1=str(int(to_excel(start))),
                                      allow_blank=True, showErrorMessage=True, errorTitle="Review date",
                                      error="A date (YYYY-MM-DD), on or after the meeting.",
                                      promptTitle="Review date", prompt="YYYY-MM-DD, on or after the meeting",
                                      showInputMessage=True))
    add("actions", DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(MAX_ACTIONS),
                                  allow_blank=True, showErrorMessage=True, errorTitle="Actions",
                                  error=f"At most {MAX_ACTIONS} characters."))
    letter = get_column_letter(columns.index("review_date") + 1)
    for r in range(2, n + 2):
        ws[f"{letter}{r}"].number_format = "yyyy-mm-dd"


def _print_setup(ws, columns: list[str], n: int, marking: str) -> None:
    """Frozen header, filters, landscape fit-to-width printing with the header, the marking and page
    numbers on every page."""
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n + 1}"
    print_marking(ws, marking)


def _section_sheet(wb: Workbook, section: dict, marking: str, interventions: InterventionSettings,
                   as_of: str) -> dict:
    """One section as a sheet; returns its layout (what :func:`~hkc.partnership.sealing.seal_workbook` seals)."""
    ws = wb.create_sheet(section["sheet"])
    if not section["available"] or not section["columns"]:
        return _note_sheet(ws, section)
    if "decision" in section["columns"]:
        section = _with_casework(section)
    columns, n = section["columns"], len(section["rows"])
    ws.append(section["labels"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF0F3")
    for row in section["rows"]:
        ws.append([_cell(row[c]) for c in columns])
    editable = [c for c in columns if c in EDITABLE]
    _style_columns(ws, section, editable)
    if "decision" in editable and n:
        _decision_drop_down(ws, columns, n)
        _casework_checks(ws, columns, n, interventions, as_of)
    _print_setup(ws, columns, n, marking)
    return {"columns": columns, "rows": n, "editable": editable}


def _about_rows(facts: dict) -> list[list[Any]]:
    p = facts["provenance"]
    rows = [["Pack", facts["title"]]]
    if facts["demo"]:
        rows.append(["WARNING", facts["demo_label"]])
    rows += [["Marking", facts["marking"]]] + ([["Agency", facts["agency"]]] if facts["agency"] else [])
    rows += [["As of", facts["as_of"]], ["Produced", facts["produced"]], ["Audience", facts["audience_note"]],
             ["Note", facts["banner"]], ["Fields shared", ", ".join(facts["fields"])],
             ["Listed", facts["counts"]["cohort"]], ["Periphery", facts["counts"]["periphery"]],
             ["Safeguarding", facts["counts"]["safeguarding"]],
             ["Removed since last refresh", facts["counts"]["removed"]],
             ["How to record decisions", facts["decision_help"]],
             ["Casework", CASEWORK_HELP],
             ["Fairness audit", facts["checks"]["audit"]], ["Against chance", facts["checks"]["chance"]], ["Is it working?", facts["checks"]["evaluation"]],
             *[[f"Flag {i}", text] for i, text in enumerate(facts["checks"]["flagged"], 1)],
             ["Config SHA-256", p["config_sha256"]], ["Inputs SHA-256", p["inputs_sha256"]],
             ["hkc version", p["hkc_version"]]]
    return rows


def write_partner_xlsx(facts: dict, path: Path, *, key: bytes,
                       interventions: InterventionSettings | None = None) -> Path:
    """The sealed workbook: one sheet per section, an About sheet, sealed by :mod:`hkc.partnership.sealing`.

    ``interventions``: the codes the casework drop-downs offer (the default ``[interventions]`` when None)."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = facts["title"]
    codes = interventions or InterventionSettings()
    layout = {s["sheet"]: _section_sheet(wb, s, facts["marking"], codes, facts["as_of"]) for s in facts["sections"]}
    about = wb.create_sheet("About")
    about.append(["Item", "Value"])
    for row in _about_rows(facts):
        about.append([_cell(v) for v in row])
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 100
    for cell in about["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    print_marking(about, facts["marking"])
    if facts["demo"]:
        about["B2"].font = Font(bold=True, color="B3261E")
    layout["About"] = {"columns": ["item", "value"], "rows": about.max_row - 1, "editable": []}
    provenance = facts["provenance"]
    seal_workbook(wb, key=key, layout=layout,
                  record={"as_of": facts["as_of"], "inputs_sha256": provenance["inputs_sha256"],
                          "config_sha256": provenance["config_sha256"], "demo": "yes" if facts["demo"] else "no"})
    wb.save(path)
    return path
