"""The two checks every pack states on its first page: what the fairness audit flagged, and whether the
list did better than chance.

Both come from the run's manifest (``run.json``), so the pack shows exactly the count and the sentences the
terminal, ``audit.json``, the audit page and the transparency record show (see :mod:`hkc.audit.flags`), and
the one line the refresh's own backtest wrote (``manifest["chance"]``).  Aggregates only: no person appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["pack_checks"]

NO_CHANCE_LINE = ("Not measured for this run: the list has not been backtested against a random draw, so nothing "
                  "here says whether it picks out who goes on to be involved better than chance.")


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
            "no_better_than_chance": chance.get("no_better_than_chance") is True}
