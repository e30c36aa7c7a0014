"""Walking the sections of what is decided (``audit["decided"]``): their paths, a copy with each audit
transformed (the partner copy), and each group's share of the people selected.

The sections themselves are built by :mod:`hkc.audit.decided`; :mod:`hkc.audit.flags` and
:mod:`hkc.audit.disclosure` walk them with these functions, so a section is found the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hkc.audit.exact import rate_interval
from hkc.audit.wording import is_number

__all__ = ["decided_sections", "map_sections", "selected_shares"]


def decided_sections(decided: Mapping[str, Any], path: str = "decided") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path, section)`` for every section of ``decided``, in order (``decided:changes:additions``)."""
    for name, part in decided.items():
        if not isinstance(part, Mapping):
            continue
        if "available" in part:
            yield f"{path}:{name}", part
        else:
            yield from decided_sections(part, f"{path}:{name}")


def map_sections(decided: Mapping[str, Any], fn: Callable[[dict], dict]) -> dict[str, Any]:
    """A copy of ``decided`` with ``fn`` applied to each section's audit.

    For the partner copy: ``map_sections(result["decided"], lambda a: suppress_small_cells(a,
    threshold=…))`` suppresses each section as a result of its own (its groups, intersections and
    pooled comparison, with secondary suppression); the counts outside the audits
    (``not_in_extract``, ``outside_population``, ``not_listed``) are left to the safety net.
    """
    out: dict[str, Any] = {}
    for name, part in decided.items():
        if not isinstance(part, Mapping):
            out[name] = part
        elif "available" in part:
            out[name] = dict(part) | ({"audit": fn(part["audit"])} if isinstance(part.get("audit"), Mapping) else {})
        else:
            out[name] = map_sections(part, fn)
    return out


def selected_shares(audit: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each group's share of the people selected (for additions: the share of new additions by group),
    per attribute that is not an intersection, with a Clopper–Pearson interval.

    Reads a result or its partner copy: a group whose count is withheld, or any group when the
    total is, gets ``"withheld"`` (the share would give the count away).
    """
    conf = audit.get("thresholds", {}).get("confidence", 0.95)
    total = audit.get("overall", {}).get("selected")
    out: dict[str, list[dict[str, Any]]] = {}
    for attr, a in audit.get("attributes", {}).items():
        if "*" in attr:
            continue
        rows = []
        for g in a["groups"]:
            count = g.get("selected")
            if not (is_number(count) and is_number(total)) or g.get("withheld") is True:
                rows.append({"group": g["group"], "selected": count if not is_number(count) else "withheld",
                             "share": "withheld", "ci": "withheld"})
                continue
            rows.append({"group": g["group"], "selected": int(count),
                         "share": count / total if total else None,
                         "ci": rate_interval(int(count), int(total), conf) if total else None})
        out[attr] = rows
    return out
