"""The run manifest: what a refresh read, with which definitions and code, and what it produced.

Written as ``run.json`` beside the outputs and stored with the run in the history database, so a
run can be reproduced and audited: the hashes of every input file and of the effective definitions,
the code version, the row counts that reconcile, and the sizes of what came out.  Figures only —
never a person-level value — so the manifest may go to experiment tracking; the one exception,
``probable_rekeys`` (ids the analyst must check, in the police view), never goes to tracking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunManifest", "AuditSummary", "now", "git_commit"]


def now() -> str:
    """The current UTC time, to the second, as ISO text."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_commit(here: Path | None = None) -> str | None:
    """The commit of the source checkout hkc runs from, or None for an installed copy."""
    root = here or Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class AuditSummary:
    """The audit in brief: which spec, how many flags (with their one-line summary and sentences) and
    findings, and whether a retrospective (error rates against what happened next) was possible."""

    spec_sha256: str
    flags: int
    findings: int
    retrospective: bool
    summary: str = ""                 # "5 flags: 2 in who is selected, …" (hkc.audit.flags.flag_summary)
    flagged: tuple[str, ...] = ()     # one sentence per flag, as the partner copy words it (withheld groups unnamed)


@dataclass
class RunManifest:
    """One refresh's manifest.  :meth:`as_dict` is ``run.json``; ``manifest["key"]`` and ``.get`` read it too
    (for code written against the stored JSON)."""

    as_of: str
    extract_date: str | None
    data_dir: str
    inputs: dict[str, dict[str, str]]          # file kind -> {"file": name, "sha256": hex}
    inputs_sha256: str
    counts: dict[str, dict[str, int]]          # file kind -> read / used / rejected
    extra_columns: dict[str, list[str]]
    scored: int
    eligible: int
    cohort_size: int
    removed: int
    model: str | None
    periphery: int
    peer_groups: int
    places: int
    previous_as_of: str | None
    config_sha256: str
    config_files: dict[str, dict[str, Any]]
    definitions: str
    audit: AuditSummary
    hkc_version: str
    git_commit: str | None
    python: str
    database: str
    started_at: str
    finished_at: str | None = None
    stages_seconds: dict[str, float] | None = field(default=None)
    permissions: dict[str, str] | None = None  # the modes of what the run wrote: folders, files
    chance: dict[str, Any] | None = None  # the list against chance on the extract's own history (hkc.model.chance)
    excluded_events: int = 0  # events kept out of this run as shown to be wrong (hkc person rectify)
    checks: dict[str, Any] | None = None  # extract checks accepted with their flag, and any not judged
    # earlier members who vanished while a new id with their birth date, sex and events appeared
    # (hkc.matrix.probable_rekeys): old_id, new_id, evidence; not counted as removed; never sent to tracking
    probable_rekeys: list[dict[str, Any]] | None = None
    # the latest `hkc evaluate` kept in the history (hkc.history.evaluations): aggregates only, for the pack
    evaluation: dict[str, Any] | None = None


    def as_dict(self) -> dict[str, Any]:
        """Plain data (``run.json``); the finishing fields only once the run has them."""
        out = dataclasses.asdict(self)
        out["audit"]["flagged"] = list(out["audit"]["flagged"])  # JSON's shape: a list
        for late in ("finished_at", "stages_seconds", "permissions", "chance", "checks", "probable_rekeys",
                     "evaluation"):
            if out[late] is None:
                del out[late]
        return out

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def keys(self) -> Iterator[str]:
        return iter(self.as_dict())

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)

    def finished(self, stages: Mapping[str, float]) -> RunManifest:
        """This manifest with the finishing time and the seconds each stage took."""
        return dataclasses.replace(self, finished_at=now(), stages_seconds=dict(stages))

    def tracking_params(self) -> dict[str, Any]:
        """What identifies the run, for MLflow's parameters."""
        return {"as_of": self.as_of, "config_sha256": self.config_sha256, "inputs_sha256": self.inputs_sha256,
                "hkc_version": self.hkc_version, "git_commit": self.git_commit,
                "previous_as_of": self.previous_as_of, "audit_spec_sha256": self.audit.spec_sha256}

    def tracking_metrics(self) -> dict[str, float]:
        """Row counts and list sizes, for MLflow's metrics (aggregates only)."""
        out = {f"rows/{name}/{k}": float(v) for name, c in self.counts.items() for k, v in c.items()}
        return out | {"cohort_size": float(self.cohort_size), "eligible": float(self.eligible),
                      "scored": float(self.scored), "removed": float(self.removed)}
