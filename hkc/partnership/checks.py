"""The three checks every pack states on its first page: what the fairness audit flagged, whether the
list did better than chance, and what the latest evaluation found about whether the work helps.

Both come from the run's manifest (``run.json``), so the pack shows exactly the count and the sentences the
terminal, ``audit.json``, the audit page and the transparency record show (see :mod:`hkc.audit.flags`), and
the one line the refresh's own backtest wrote (``manifest["chance"]``), and the latest ``hkc evaluate``
kept in the history (``manifest["evaluation"]``: its primary design's verdict with the simple
before/after beside it, never the before/after alone).  Aggregates only: no person appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hkc.messages import REKEY_WARNING

__all__ = ["pack_checks", "evaluation_line", "rekey_checks", "NO_EVALUATION_LINE", "REKEY_PARTNER"]

NO_CHANCE_LINE = ("Not measured for this run: the list has not been backtested against a random draw, so nothing "
                  "here says whether it picks out who goes on to be involved better than chance.")


NO_EVALUATION_LINE = ("Not evaluated yet. Who leaves the list says nothing about whether the work helps: people are "
                      "listed at a peak and most fall back anyway. Once a year of quarters is stored, hkc evaluate "
                      "compares the listed with similar young people who were not listed.")


def evaluation_line(evaluation: Mapping[str, Any] | None) -> str:
    """The pack's sentence on the latest evaluation: when and over which cohorts, then its verdict's first two
    sentences (the primary design's estimate, and the simple before/after labelled as not an effect estimate)."""
    if not evaluation:
        return NO_EVALUATION_LINE
    cohorts = list(evaluation.get("cohorts") or [])
    span = cohorts[0] if len(cohorts) == 1 else f"{cohorts[0]} to {cohorts[-1]}" if cohorts else "unknown cohorts"
    when = str(evaluation.get("evaluated_at", ""))[:10]
    said = " ".join(str(s) for s in list(evaluation.get("verdict") or [])[:2])
    return (f"Evaluated on {when} for those listed at {span}, over {evaluation.get('window_days')} days after: "
            f"{said or 'no verdict was recorded.'}")


REKEY_PARTNER = ("{n} {people} listed last quarter may have been re-keyed by the police records system (a new id "
                 "holding their events appeared as they left the extract); the police are checking. They are not "
                 "counted as having left the list.")


def rekey_checks(manifest: Mapping[str, Any]) -> dict:
    """Probable re-keys (``manifest["probable_rekeys"]``): the warning lines naming the ids, for the police pack
    only, and their count, which is all a partner pack says."""
    rows = list(manifest.get("probable_rekeys") or [])
    earlier = manifest.get("previous_as_of") or "the previous run"
    lines = [REKEY_WARNING.format(old_id=r["old_id"], new_id=r["new_id"], evidence=r["evidence"], earlier=earlier)
             for r in rows]
    partner = REKEY_PARTNER.format(n=len(rows), people="person" if len(rows) == 1 else "people") if rows else ""
    return {"rekey_lines": lines, "rekey_count": len(rows), "rekey_partner": partner}


def pack_checks(manifest: Mapping[str, Any], *, audit_page: str) -> dict:
    """The fairness-audit line, its flag sentences, and the chance line, for a pack whose audit page is ``audit_page``."""
    audit = manifest.get("audit") or {}
    count = int(audit.get("flags", 0) or 0)
    summary = audit.get("summary") or ("no flags" if not count else f"{count} flag{'s' if count != 1 else ''}")
    summary = summary[0].upper() + summary[1:]
    tail = (" A flag is a prompt to look, not proof of unfairness." if count else
            " No flag is not proof of fairness: small groups often cannot be assessed at this size.")
    chance = manifest.get("chance") or {}
    return {"audit": f"{summary} (see {audit_page}).{tail}", "flag_count": count,
            "flagged": list(audit.get("flagged") or []), "chance": chance.get("sentence") or NO_CHANCE_LINE,
            "no_better_than_chance": chance.get("no_better_than_chance") is True,
            "evaluation": evaluation_line(manifest.get("evaluation")), **rekey_checks(manifest)}
