"""What hkc knows about itself, gathered once for the records: definitions, the run, its audit, the history.

The transparency record, the DPIA, the equality note and the ALGO-CARE checklist are all written
from one :class:`Facts`: the definitions in force, the run's manifest and (partner copy of the)
audit, what the history database holds about that run and about itself (runs kept, disclosures,
decisions, interventions, consultations, purges: counts and dates, never who), an optional
backtest (``backtest.json`` from ``hkc backtest``) and the date the record is written (for
retention).  :func:`gather_facts` reads them through the history's public functions.

Nothing here holds a person id: the history's rows are reduced to counts as they are read.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hkc.definitions import AuditSpec, Definitions
from hkc.errors import HkcError
from hkc.history import HistoryStore, consultation_log, stored_interventions

__all__ = ["Facts", "HistoryFacts", "gather_facts", "history_facts", "load_backtest", "licence"]

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB",
            "mssql": "Microsoft SQL Server", "oracle": "Oracle"}

NO_BACKTEST = ("{path}: not a backtest (no backtest.json with the matrix's figures); give the folder `hkc backtest "
               "--out` wrote, or its backtest.json")


@dataclass(frozen=True)
class HistoryFacts:
    """What the history database holds, as counts and dates (never who)."""

    backend: str
    runs: tuple[str, ...]                      # as-of dates of the stored runs, oldest first
    run_as_of: str                             # the run the record describes
    run_disclosures: tuple[Mapping, ...]       # that run's disclosure log: audience, when, by, people, files
    disclosures: Mapping[str, int]             # the whole log: entries by audience
    decisions: Mapping[str, int]               # that run's recorded decisions, by decision
    meetings: tuple[str, ...]                  # the meeting dates those decisions were made at
    interventions: int                         # interventions recorded (all runs)
    intervention_people: int
    consultations: Mapping[str, int]           # the consultation log: entries by action
    purges: tuple[Mapping, ...]                # each purge: when, by whom, the cut-off, runs erased
    stored_rows: int                           # person-level score rows the history keeps for that run
    stored_eligible: int
    stored_listed: int
    stored_no_risk: int                        # of those rows, people with no risk score (victims, vulnerability only)


@dataclass(frozen=True)
class Facts:
    """Everything the records are written from (see the module docstring)."""

    definitions: Definitions
    audit_spec: AuditSpec
    manifest: Mapping | None = None
    audit: Mapping | None = None
    history: HistoryFacts | None = None
    backtest: Mapping | None = None
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def settings(self) -> Any:
        return self.definitions.settings

    def run(self, key: str, default: Any = None) -> Any:
        """A value of the run's manifest (``default`` without a run or the key)."""
        return (self.manifest or {}).get(key, default)


def _records(frame: Any) -> list[dict]:
    return frame.where(frame.notna(), None).to_dict("records") if len(frame) else []


def history_facts(store: HistoryStore, as_of: dt.date | None = None) -> HistoryFacts:
    """The history's facts about the run for ``as_of`` (default: the latest) and about itself."""
    stored = store.find_run(as_of)
    run_disclosures = []
    for d in _records(store.disclosures(run_id=stored.run_id)):
        entry = {k: d.get(k) for k in ("audience", "disclosed_at", "disclosed_by", "people", "published")}
        for extra in ("agency", "released_at", "status"):  # recorded by later versions of the log
            if d.get(extra) is not None:
                entry[extra] = d[extra]
        entry["files"] = len(d.get("files") or {})
        run_disclosures.append(entry)
    everything = store.disclosures()
    decisions = store.decisions()
    decisions = decisions[decisions["run_id"] == stored.run_id] if len(decisions) else decisions
    interventions = stored_interventions(store)
    consultations = consultation_log(store)
    scores = store.person_scores(stored.run_id)
    return HistoryFacts(
        backend=BACKENDS.get(store.engine.dialect.name, store.engine.dialect.name),
        runs=tuple(r.as_of.isoformat() for r in store.list_runs()),
        run_as_of=stored.as_of.isoformat(),
        run_disclosures=tuple(run_disclosures),
        disclosures=dict(Counter(everything["audience"])) if len(everything) else {},
        decisions=dict(Counter(decisions["decision"])) if len(decisions) else {},
        meetings=tuple(sorted(set(decisions["meeting_date"]))) if len(decisions) else (),
        interventions=len(interventions),
        intervention_people=int(interventions["person_id"].nunique()) if len(interventions) else 0,
        consultations=dict(Counter(consultations["action"])) if len(consultations) else {},
        purges=tuple({k: p.get(k) for k in ("purged_at", "purged_by", "cutoff", "runs")}
                     for p in _records(store.purges())),
        stored_rows=len(scores),
        stored_eligible=int(scores["eligible"].sum()) if len(scores) else 0,
        stored_listed=int(scores["in_cohort"].sum()) if len(scores) else 0,
        stored_no_risk=int((scores["risk_score"] == 0).sum()) if len(scores) else 0,
    )


def load_backtest(path: Path) -> dict:
    """``backtest.json`` from ``path`` (the file, or the folder ``hkc backtest --out`` wrote)."""
    path = Path(path)
    file = path / "backtest.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise HkcError(NO_BACKTEST.format(path=path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("rankers"), dict) or "matrix" not in data["rankers"]:
        raise HkcError(NO_BACKTEST.format(path=path))
    return data


def gather_facts(store: HistoryStore, *, definitions: Definitions, audit_spec: AuditSpec,
                 as_of: dt.date | None = None, backtest: Path | None = None,
                 today: dt.date | None = None) -> Facts:
    """The facts for the run for ``as_of`` (default: the latest) of ``store``; ``backtest``: a
    ``backtest.json`` (or its folder) to report the backtest's figures."""
    stored = store.find_run(as_of)
    return Facts(definitions=definitions, audit_spec=audit_spec, manifest=store.manifest(stored.run_id),
                 audit=store.audit(stored.run_id), history=history_facts(store, stored.as_of),
                 backtest=load_backtest(backtest) if backtest is not None else None,
                 today=today or dt.date.today())


def licence() -> str | None:
    """hkc's licence as its installed package metadata states it."""
    try:
        meta = importlib.metadata.metadata("hkc")
    except importlib.metadata.PackageNotFoundError:
        return None
    return meta.get("License-Expression") or meta.get("License")
