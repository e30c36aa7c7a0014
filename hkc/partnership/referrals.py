"""Importing partners' referrals: a referrals file (CSV or XLSX), all rows or none.

>>> report = import_referrals(store, "referrals.csv", by="J. Analyst", today=dt.date(2026, 10, 1),  # doctest: +SKIP
...                           key=key)

One row per referral with the columns ``agency``, ``reason`` and ``referred_on`` (an ISO date), and
who the child is by exactly one of ``person_id`` (a person the history has scored), ``pseudonym``
(someone sent to partners, under the partner key) or ``referral_ref`` (the partner's own reference,
for a child whose police id it does not know; stored as given).  Every row is checked and every
problem reported with its row, column and value; only a file without problems is stored, in one
transaction.  Importing a file of the same name again replaces what it stored.  A referral is not an
event: it never adds risk points, it is shown in the packs' "Referred by partners" section only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from hkc.history import HistoryStore, identities, known_person_ids, partner_person_ids, record_referrals
from hkc.manifest import now
from hkc.outputs import sha256_file
from hkc.partnership.interventions import InterventionImportError, InterventionProblem
from hkc.partnership.pseudonyms import pseudonymise

__all__ = ["import_referrals", "ReferralImportError", "ReferralProblem", "ReferralReport"]

MAX_AGENCY = 128
MAX_REF = 64
MAX_REASON = 2000
REQUIRED = ("agency", "reason", "referred_on")
IDENTITY = ("person_id", "pseudonym", "referral_ref")
NOT_READABLE = "{path}: cannot read the referrals file ({reason}); give a CSV or an XLSX workbook"
MISSING_COLUMNS = ("{path}: no column {columns}; a referrals file has agency, reason, referred_on and one of "
                   "person_id, pseudonym or referral_ref")
NO_IDENTITY = ("{path}: no person_id, pseudonym or referral_ref column; name each child by one of them "
               "(referral_ref: your own reference, when you do not know the police id)")
REFUSED = "{path}: {n} problem(s) in the referrals file; nothing was imported (first: {first})"
EMPTY = "{path}: no referrals in the file; nothing was imported"
NO_KEY = ("the file names people by pseudonym: set the pseudonym key (HKC_PSEUDONYM_KEY) that wrote the "
          "partner packs")


class ReferralProblem(InterventionProblem):
    """One problem in the file: its row (the header is row 1), column and value (worded as for interventions)."""


class ReferralImportError(InterventionImportError):
    """The file cannot be imported; ``problems`` lists every problem found."""


@dataclass
class ReferralReport:
    file: Path
    sha256: str
    by: str
    imported: int
    replaced: int
    by_identity: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        counts = ", ".join(f"by {k} {v}" for k, v in sorted(self.by_identity.items())) or "none"
        return [f"{self.file.name}: {self.imported} referrals recorded by {self.by} ({counts}); "
                "a referral adds no risk points",
                f"{self.replaced} stored earlier from the same file were replaced"]


def _read(path: Path) -> pd.DataFrame:
    """The file's rows as text (the header is row 1, the first referral row 2)."""
    try:
        if path.suffix.lower() == ".xlsx":
            ws = load_workbook(path, read_only=True, data_only=True).worksheets[0]
            rows = [["" if v is None else (v.date().isoformat() if isinstance(v, dt.datetime) else
                                            v.isoformat() if isinstance(v, dt.date) else str(v)) for v in r]
                    for r in ws.iter_rows(values_only=True)]
            if not rows:
                return pd.DataFrame()
            header = [str(h).strip().lower() for h in rows[0]]
            return pd.DataFrame(rows[1:], columns=header, dtype=str).fillna("")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        return frame
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        raise ReferralImportError(NOT_READABLE.format(path=path, reason=str(exc).splitlines()[0])) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise ReferralImportError(NOT_READABLE.format(path=path, reason=type(exc).__name__)) from None


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _people(store: HistoryStore, frame: pd.DataFrame, key: bytes | None) -> dict[str, dict[str, str]]:
    """``{column: {value in the file: person_id}}`` for the person ids and pseudonyms the history knows
    (as :mod:`hkc.partnership.interventions` resolves them: ids follow re-keys, pseudonyms are made from
    the canonical id of everyone sent to partners)."""
    ids = identities(store)
    found: dict[str, dict[str, str]] = {"person_id": {}, "pseudonym": {}}
    if "person_id" in frame.columns:
        values = sorted({str(v).strip() for v in frame["person_id"]} - {""})
        scored = {ids.latest_id(p) for p in known_person_ids(store, ids.ids_of(values))}
        found["person_id"] = {v: ids.latest_id(v) for v in values if ids.latest_id(v) in scored}
    if "pseudonym" in frame.columns and any(str(v).strip() for v in frame["pseudonym"]):
        if key is None:
            raise ReferralImportError(NO_KEY)
        sent = pseudonymise(partner_person_ids(store), key, canonical=ids.canonical)
        found["pseudonym"] = {pseudo: ids.latest_id(person) for person, pseudo in sent.items()}
    return found


UNKNOWN = {"person_id": "unknown person: nobody the history scored has this id (give your referral_ref instead)",
           "pseudonym": "unknown pseudonym: nobody sent to partners has it under this key"}


def _check_rows(frame: pd.DataFrame, people: dict[str, dict[str, str]], today: dt.date
                ) -> tuple[list[dict], list[ReferralProblem]]:
    rows, problems = [], []
    present = [c for c in IDENTITY if c in frame.columns]
    for i, r in enumerate(frame.to_dict("records")):
        line = 2 + i
        values = {c: str(r.get(c, "")).strip() for c in (*present, *REQUIRED)}
        if not any(values.values()):
            continue  # a blank line
        found = len(problems)
        given = [c for c in present if values[c]]
        if not given:
            problems.append(ReferralProblem(line, present[0], "", "name the child: give one of "
                                            + ", ".join(present)))
        elif len(given) > 1:
            problems.append(ReferralProblem(line, given[1], values[given[1]], f"also given {given[0]}: "
                                            "give one of them"))
        elif given[0] == "referral_ref" and len(values["referral_ref"]) > MAX_REF:
            problems.append(ReferralProblem(line, "referral_ref", values["referral_ref"],
                                            f"at most {MAX_REF} characters"))
        elif given[0] != "referral_ref" and values[given[0]] not in people[given[0]]:
            problems.append(ReferralProblem(line, given[0], values[given[0]], UNKNOWN[given[0]]))
        day = _day(values["referred_on"])
        if day is None:
            problems.append(ReferralProblem(line, "referred_on", values["referred_on"], "not a date (YYYY-MM-DD)"))
        elif day > today:
            problems.append(ReferralProblem(line, "referred_on", values["referred_on"], "in the future"))
        for name, most in (("agency", MAX_AGENCY), ("reason", MAX_REASON)):
            if not values[name] or len(values[name]) > most:
                problems.append(ReferralProblem(line, name, values[name],
                                                f"give the {'referring agency' if name == 'agency' else 'reason'} "
                                                f"(at most {most} characters)"))
        if len(problems) == found:
            who = given[0]
            rows.append({"row": line, "person_id": None if who == "referral_ref" else people[who][values[who]],
                         "referral_ref": values[who] if who == "referral_ref" else None, "_by": who,
                         "agency": values["agency"], "reason": values["reason"], "referred_on": day.isoformat()})
    return rows, problems


def import_referrals(store: HistoryStore, path: str | Path, *, by: str, today: dt.date,
                     key: bytes | None = None) -> ReferralReport:
    """Check every row of the referrals file at ``path`` and store them all, or none (see the module docstring)."""
    path = Path(path)
    frame = _read(path)
    if not len(frame.columns):
        raise ReferralImportError(EMPTY.format(path=path))
    if not any(c in frame.columns for c in IDENTITY):  # the file's shape first, then whether it has rows
        raise ReferralImportError(NO_IDENTITY.format(path=path))
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ReferralImportError(MISSING_COLUMNS.format(path=path, columns=", ".join(missing)))
    if frame.empty:
        raise ReferralImportError(EMPTY.format(path=path))
    rows, problems = _check_rows(frame, _people(store, frame, key), today)
    if problems:
        problems.sort(key=lambda p: p.row)
        raise ReferralImportError(REFUSED.format(path=path, n=len(problems), first=problems[0]), problems)
    if not rows:
        raise ReferralImportError(EMPTY.format(path=path))
    sha, when = sha256_file(path), now()
    by_identity: dict[str, int] = {}
    for r in rows:
        by_identity[r["_by"]] = by_identity.get(r["_by"], 0) + 1
    stored = [{k: v for k, v in r.items() if k != "_by"}
              | {"recorded_by": by, "recorded_at": when, "source_file": path.name, "source_sha256": sha} for r in rows]
    imported, replaced = record_referrals(store, stored, source_sha256=sha)
    return ReferralReport(file=path, sha256=sha, by=by, imported=imported, replaced=replaced, by_identity=by_identity)
