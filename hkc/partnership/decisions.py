"""The decisions loop: read the meeting's decisions back from a partner workbook, all or nothing.

>>> report = import_decisions(store, "out/partner/cohort.xlsx", key=key,            # doctest: +SKIP
...                           meeting_date=date(2026, 10, 14), by="J. Analyst")
>>> decision_history(store, ["P000123"])                                              # doctest: +SKIP

The pack (:func:`hkc.partnership.partner_pack.write_partner_pack`) is sealed by
:mod:`hkc.partnership.sealing`: one keyed MAC over its run record, its layout and every locked
cell.  The whole seal is checked first, before anything is read: an unreadable file, another key,
an edited locked cell, a removed seal, an edited layout or content added outside the table is
refused in one line naming the sheet and cell.  Then every row is checked — unknown pseudonym, a
decision outside adopt / monitor / decline / refer / close / remove, a decline, close or remove without a reason — and every problem
is reported with sheet, row, column and value.  Only a pack without problems is stored, in one
transaction.

Decisions as casework: with the decision the meeting records what it will do
(:data:`~hkc.partnership.partner_pack.CASEWORK`): the intervention type (one of ``[interventions]
types``) and its lead agency — only with adopt, and always both or neither — the owner's role, a
review date (not before the meeting), engagement (``[interventions] engagement``) and actions (at
most :data:`~hkc.partnership.partner_pack.MAX_ACTIONS` characters).  They are stored with the
decision; an adopted intervention also becomes an intervention record starting on the meeting
date (engagement ``engaged`` unless said), in the same transaction, so ``hkc evaluate`` counts it
without a second file.  Re-importing the workbook replaces both the decision and its intervention.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hkc.definitions import InterventionSettings
from hkc.errors import HkcError
from hkc.history import HistoryStore, Identities, identities
from hkc.outputs import sha256_file
from hkc.partnership.partner_facts import COLUMNS
from hkc.partnership.partner_pack import CASEWORK, CASEWORK_LABELS, DECISIONS, MAX_ACTIONS
from hkc.partnership.pseudonyms import check_key, pseudonymise
from hkc.partnership.sealing import (
    SEAL_PROBLEMS,
    RowProblem,
    SealedWorkbook,
    SealError,
    cell_text,
    open_sealed,
)

__all__ = ["import_decisions", "decision_history", "ImportReport", "RowProblem", "DecisionImportError",
           "HISTORY_COLUMNS", "PROBLEMS", "MAX_REASON"]  # RowProblem lives in sealing; imported from here too

MAX_REASON = 2000
MAX_NAME = 128  # a lead agency or an owner's role, as the history stores it
DEFAULT_ENGAGEMENT = "engaged"
HISTORY_COLUMNS = ["person_id", "decisions", "latest_decision", "latest_meeting_date", "latest_reason", "latest_by",
                   "declined"]
PROBLEMS = {
    "invalid": "not a decision; choose adopt, monitor, decline, refer, close or remove",
    "decline_reason": "a decline needs a reason; write it in the Reason column",
    "close_reason": "closing a case needs a reason; write it in the Reason column",
    "remove_reason": "removing a person on review needs a reason; write it in the Reason column",
    "reason_only": "a reason without a decision; choose a decision or clear the reason",
    "long_reason": f"reason longer than {MAX_REASON} characters; shorten it",
    "casework_only": "casework without a decision; choose a decision or clear the cell",
    "intervention_type": "not an intervention type; choose one of {types}",
    "not_adopted": "an intervention and its lead agency are recorded only with adopt; choose adopt or clear the cell",
    "no_agency": "an adopted intervention needs its lead agency; name it",
    "no_intervention": "a lead agency without an intervention; choose the intervention type ({types}) or clear it",
    "long_name": f"longer than {MAX_NAME} characters; shorten it",
    "engagement": "not an engagement; choose one of {codes}",
    "review_date": "not a date (YYYY-MM-DD)",
    "review_early": "the review date is before the meeting date {meeting}",
    "long_actions": f"actions longer than {MAX_ACTIONS} characters; shorten them",
    "unknown": "unknown pseudonym: nobody in the run of {as_of} has it under this key",
    "duplicate": "a second decision about the same person in this pack (first on {first})",
    "edited": SEAL_PROBLEMS["changed"],
    "added": SEAL_PROBLEMS["added"],
    "missing_sheet": SEAL_PROBLEMS["missing_sheet"],
}


class DecisionImportError(HkcError):
    """The workbook cannot be imported; ``problems`` lists every problem found (every failing sealed cell,
    or every row-level problem once the seal held)."""

    def __init__(self, message: str, problems: list[RowProblem] | tuple = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class ImportReport:
    file: Path
    sha256: str
    as_of: dt.date
    run_id: int
    meeting_date: dt.date
    by: str
    imported: int
    replaced: int
    blank: int
    by_decision: dict[str, int] = field(default_factory=dict)
    by_sheet: dict[str, int] = field(default_factory=dict)
    interventions: int = 0  # adopted interventions recorded, starting on the meeting date

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_decision.items())) or "none"
        return [f"{self.file.name}: {self.imported} decisions from the meeting of {self.meeting_date} on the pack "
                f"of {self.as_of} recorded by {self.by} ({counts})",
                f"{self.blank} rows left blank; {self.replaced} earlier decisions from the same meeting replaced",
                f"{self.interventions} adopted intervention(s) recorded as starting on {self.meeting_date}"]


def _date(value: dt.date | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DecisionImportError(f"{what} '{value}' is not a date (expected YYYY-MM-DD)") from None


def _open(path: Path, key: bytes) -> SealedWorkbook:
    """The workbook, once its whole seal held (:func:`~hkc.partnership.sealing.open_sealed`)."""
    try:
        return open_sealed(path, key=key, label=lambda c: COLUMNS.get(c, (None, CASEWORK_LABELS.get(c, c)))[1])
    except SealError as exc:
        raise DecisionImportError(exc.message, exc.problems) from None


def _review_date(value: object) -> dt.date | None:
    """A review date cell as a date (a date cell, or ISO text); None when it is neither."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _casework(sheet: str, r: int, decision: str, raw: dict[str, object], meeting: dt.date,
              codes: InterventionSettings) -> tuple[dict, list[RowProblem]]:
    """One row's casework cells checked against its decision: (the fields to store, the problems)."""
    text = {c: cell_text(raw.get(c)).strip() for c in CASEWORK}
    label, problems = CASEWORK_LABELS, []
    kind, engagement = text["intervention"].lower(), text["engagement"].lower().replace(" ", "_")
    types = ", ".join(codes.types)
    if kind and kind not in codes.types:
        problems.append(RowProblem(sheet, r, label["intervention"], text["intervention"],
                                   PROBLEMS["intervention_type"].format(types=types)))
    for column in ("lead_agency", "owner_role"):
        if len(text[column]) > MAX_NAME:
            problems.append(RowProblem(sheet, r, label[column], text[column], PROBLEMS["long_name"]))
    if decision in DECISIONS and decision != "adopt":
        problems += [RowProblem(sheet, r, label[c], text[c], PROBLEMS["not_adopted"])
                     for c in ("intervention", "lead_agency") if text[c]]
    elif decision == "adopt" and kind and not text["lead_agency"]:
        problems.append(RowProblem(sheet, r, label["lead_agency"], "", PROBLEMS["no_agency"]))
    elif decision == "adopt" and text["lead_agency"] and not kind:
        problems.append(RowProblem(sheet, r, label["intervention"], "", PROBLEMS["no_intervention"].format(
            types=types)))
    if engagement and engagement not in codes.engagement:
        problems.append(RowProblem(sheet, r, label["engagement"], text["engagement"],
                                   PROBLEMS["engagement"].format(codes=", ".join(codes.engagement))))
    review = _review_date(raw.get("review_date"))
    if text["review_date"] and review is None:
        problems.append(RowProblem(sheet, r, label["review_date"], text["review_date"], PROBLEMS["review_date"]))
    elif review is not None and review < meeting:
        problems.append(RowProblem(sheet, r, label["review_date"], review.isoformat(),
                                   PROBLEMS["review_early"].format(meeting=meeting)))
    if len(text["actions"]) > MAX_ACTIONS:
        problems.append(RowProblem(sheet, r, label["actions"], text["actions"], PROBLEMS["long_actions"]))
    if kind and not engagement:
        engagement = DEFAULT_ENGAGEMENT  # an adopted intervention is taken up unless the meeting says otherwise
    fields = {"intervention": kind or None, "lead_agency": text["lead_agency"] or None,
              "owner_role": text["owner_role"] or None, "review_date": review.isoformat() if review else None,
              "engagement": engagement or None, "actions": text["actions"] or None}
    return fields, problems


def _read_decisions(sealed: SealedWorkbook, people: dict[str, str], as_of: dt.date, meeting: dt.date,
                    codes: InterventionSettings):
    """(records, blank rows, problems) from the Decision, Reason and casework columns of every decision sheet."""
    records, problems, blank, seen = [], [], 0, {}
    for sheet, spec in sealed.layout.items():
        if "decision" not in spec["editable"]:
            continue
        ws, cols = sealed.workbook[sheet], spec["columns"]
        at = {c: cols.index(c) + 1 for c in ("pseudonym", "decision", "decision_reason", *CASEWORK)
              if c in spec["editable"] or c == "pseudonym"}
        for r in range(2, spec["rows"] + 2):
            pseudo = cell_text(ws.cell(row=r, column=at["pseudonym"]).value).strip()
            raw = cell_text(ws.cell(row=r, column=at["decision"]).value).strip()
            reason = cell_text(ws.cell(row=r, column=at["decision_reason"]).value).strip() \
                if "decision_reason" in at else ""
            cells = {c: ws.cell(row=r, column=at[c]).value for c in CASEWORK if c in at}
            filled = [c for c in CASEWORK if cell_text(cells.get(c)).strip()]
            if not raw and not reason and not filled:
                blank += 1
                continue
            decision = raw.lower()
            found = len(problems)
            if not raw and reason:
                problems.append(RowProblem(sheet, r, "Reason", reason, PROBLEMS["reason_only"]))
            elif not raw:
                problems.append(RowProblem(sheet, r, CASEWORK_LABELS[filled[0]], cell_text(cells[filled[0]]).strip(),
                                           PROBLEMS["casework_only"]))
            elif decision not in DECISIONS:
                problems.append(RowProblem(sheet, r, "Decision", raw, PROBLEMS["invalid"]))
            elif decision == "decline" and not reason:
                problems.append(RowProblem(sheet, r, "Reason", "", PROBLEMS["decline_reason"]))
            elif decision == "close" and not reason:
                problems.append(RowProblem(sheet, r, "Reason", "", PROBLEMS["close_reason"]))
            elif decision == "remove" and not reason:
                problems.append(RowProblem(sheet, r, "Reason", "", PROBLEMS["remove_reason"]))
            if len(reason) > MAX_REASON:
                problems.append(RowProblem(sheet, r, "Reason", reason, PROBLEMS["long_reason"]))
            casework, wrong = _casework(sheet, r, decision, cells, meeting, codes) if raw else ({}, [])
            problems += wrong
            person = people.get(pseudo)
            if person is None:
                problems.append(RowProblem(sheet, r, "Pseudonym", pseudo, PROBLEMS["unknown"].format(as_of=as_of)))
            elif person in seen:
                problems.append(RowProblem(sheet, r, "Pseudonym", pseudo, PROBLEMS["duplicate"].format(
                    first=seen[person])))
            if len(problems) == found:
                seen[person] = f"sheet '{sheet}' row {r}"
                records.append({"person_id": person, "decision": decision, "reason": reason or None,
                                "sheet": sheet, "row": r, **dict.fromkeys(CASEWORK), **casework})
    return records, blank, problems


def import_decisions(store: HistoryStore, xlsx_path: str | Path, *, key: bytes, meeting_date: dt.date | str,
                     by: str, today: dt.date | None = None,
                     interventions: InterventionSettings | None = None) -> ImportReport:
    """Store the decisions filled in a partner workbook, all or nothing; see the module docstring.

    Raises :class:`DecisionImportError` listing every problem (``.problems``) and stores nothing
    when any row is wrong.  Importing the same meeting's pack again replaces its earlier decisions
    and the interventions they adopted.  ``interventions``: the ``[interventions]`` codes the
    casework columns may use (the defaults when None).
    """
    path = Path(xlsx_path)
    if not path.is_file():
        raise DecisionImportError(f"{path}: no such file; pass the partner pack's cohort.xlsx")
    key = check_key(key)
    by = str(by or "").strip()
    if not by:
        raise DecisionImportError("--by: say who is recording the decisions (a name or role)")
    meeting = _date(meeting_date, "--meeting-date")
    today = today or dt.date.today()
    sealed = _open(path, key)  # the whole seal is checked before anything in the workbook is read
    record = sealed.record
    as_of = dt.date.fromisoformat(record["as_of"])
    run = store.find_run(as_of)
    manifest = store.manifest(run.run_id)
    if (manifest.get("inputs_sha256"), manifest.get("config_sha256")) != (record["inputs_sha256"],
                                                                         record["config_sha256"]):
        raise DecisionImportError(f"{path}: the run of {as_of} was re-run with different data or settings after "
                                  f"this pack was written; write a fresh pack and record the decisions on it")
    if meeting < as_of:
        raise DecisionImportError(f"--meeting-date {meeting} is before the pack's as-of date {as_of}")
    if meeting > today:
        raise DecisionImportError(f"--meeting-date {meeting} is in the future (today is {today})")
    candidates = set(store.person_scores(run.run_id)["person_id"]) | set(store.removed(run.run_id)["person_id"]) \
        | store.disclosed_people(run_id=run.run_id)
    people = _by_pseudonym(candidates, key, identities(store))
    records, blank, problems = _read_decisions(sealed, people, as_of, meeting, interventions or InterventionSettings())
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DecisionImportError(f"{path.name}: {len(problems)} problem(s), nothing was imported: {shown}{more}",
                                  problems)
    sha = sha256_file(path)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows = [r | {"run_id": run.run_id, "as_of": as_of.isoformat(), "meeting_date": meeting.isoformat(),
                 "recorded_by": by, "recorded_at": now, "source_file": path.name, "source_sha256": sha}
            for r in records]
    adopted = [{"person_id": r["person_id"], "start_date": meeting.isoformat(), "end_date": None,
                "type": r["intervention"], "lead_agency": r["lead_agency"], "engagement": r["engagement"],
                "recorded_by": by, "recorded_at": now, "source_file": path.name, "source_sha256": sha, "row": r["row"]}
               for r in records if r["decision"] == "adopt" and r["intervention"]]
    inserted, replaced = store.record_decisions(rows, interventions=adopted)
    return ImportReport(file=path, sha256=sha, as_of=as_of, run_id=run.run_id, meeting_date=meeting, by=by,
                        imported=inserted, replaced=replaced, blank=blank,
                        by_decision=dict(Counter(r["decision"] for r in records)),
                        by_sheet=dict(Counter(r["sheet"] for r in records)), interventions=len(adopted))


def _by_pseudonym(candidates: set[str], key: bytes, ids: Identities) -> dict[str, str]:
    """``{pseudonym: person_id}`` of a run's people, their pseudonyms made from their canonical ids (as the pack
    made them); two ids of one person share a pseudonym, which names the later of them."""
    people: dict[str, str] = {}
    for pid, pseudo in sorted(pseudonymise(candidates, key, canonical=ids.canonical).items()):
        if pseudo not in people or ids.latest_id(people[pseudo]) == pid:
            people[pseudo] = pid
    return people


def decision_history(store: HistoryStore, person_ids=None) -> pd.DataFrame:
    """Per person: how many decisions, and the latest (decision, meeting date, reason, who recorded it).

    One row per id in ``person_ids`` (``decisions`` 0 when there are none), or per person with any
    decision when ``person_ids`` is None.  ``declined`` is True when the latest decision is decline:
    such a person stays listed, marked.  Decisions follow the person through re-keyed ids
    (:mod:`hkc.history.aliases`): those stored under any of a person's ids count for the id asked about.
    """
    ids = None if person_ids is None else [str(p) for p in person_ids]
    known = identities(store)
    if ids is None:
        stored = known.follow(store.decisions()).drop(columns="stored_id")
    else:
        of = known.ids_of(ids)  # {stored id: the id asked about}
        stored = store.decisions(list(of))
        stored["person_id"] = stored["person_id"].astype(str).map(of)
    if stored.empty:
        latest = pd.DataFrame(columns=HISTORY_COLUMNS)
    else:
        ordered = stored.sort_values(["meeting_date", "decision_id"], kind="stable")
        last = ordered.groupby("person_id", sort=True).tail(1).set_index("person_id")
        counts = ordered.groupby("person_id").size()
        latest = pd.DataFrame({"person_id": last.index, "decisions": counts.reindex(last.index).to_numpy(),
                               "latest_decision": last["decision"].to_numpy(),
                               "latest_meeting_date": last["meeting_date"].to_numpy(),
                               "latest_reason": last["reason"].to_numpy(),
                               "latest_by": last["recorded_by"].to_numpy(),
                               "declined": (last["decision"] == "decline").to_numpy()})
    if ids is None:
        return latest.reset_index(drop=True)
    wanted = pd.DataFrame({"person_id": pd.Series(list(dict.fromkeys(ids)), dtype=object)})
    out = wanted.merge(latest.astype({"person_id": object}), on="person_id", how="left")
    out["decisions"] = out["decisions"].fillna(0).astype(int)
    out["declined"] = out["declined"].astype("boolean").fillna(False).astype(bool)
    return out[HISTORY_COLUMNS]
