"""What partner files say instead of the police view's words: no score, no points, no unproven allegation.

**Bands, never scores.**  The police view's reasons name the amount ("risk score 20 is 5 points below
the minimum 25"); partners see bands, so :func:`partner_reason` keeps the rule in words
(:data:`PARTNER_REASONS`), and any other text naming a score or points is withheld whole.

**Unproven allegations left out.**  An allegation that ended in no further action, or that has no
outcome yet, is not proven; the police view keeps it (the score counts it, at its discounted
weight), but partners do not see it unless ``[partner] show_unproven = true``.  The rationale then
says how many were left out: "2 unproven allegations not shown".

The police rationale (:func:`hkc.matrix.rationale`) names each indicator as
``"<label> ×<count>, latest <date> (<outcomes>), <points> pts"``, the outcomes as one word when all
agree ("nfa") or counted ("charged ×1, nfa ×1").  :func:`proven_rationale` drops the unproven
counts from each part, drops a part left with none, and drops the part's latest date when some of
its events were dropped (it may have been an unproven one's).  Parts noting grades (intelligence)
or nothing are kept whole.  Removal reasons that name an unproven outcome are put in words that do
not (:func:`proven_reason`).  :func:`top_drivers` cuts a rationale to its first parts for print.
"""

from __future__ import annotations

import re

__all__ = ["UNPROVEN", "PARTNER_REASONS", "partner_reason", "proven_rationale", "proven_reason", "not_shown",
           "top_drivers"]

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

UNPROVEN = ("nfa", "pending", "no outcome")
_OUTCOMES = ("convicted", "charged", "cautioned", "pending", "nfa", "no outcome")
_PART = re.compile(r"(?P<label>.+?) ×(?P<count>\d+), latest (?P<latest>\d{1,2} [A-Z][a-z]{2} \d{4})"
                   r"(?: \((?P<note>[^()]*)\))?(?P<points>, -?\d+(?:\.\d+)? pts)?")
_NOTE_ITEM = re.compile(r"(?P<outcome>[a-z ]+?)(?: ×(?P<count>\d+))?")
_NOT_QUALIFYING = re.compile(r".+ in the last (?P<days>\d+) days, all with outcome .+: none qualifies")
_STALE = re.compile(r"(?P<rule>latest weapon-related event is \d+ days old; the review window is \d+ days): "
                    r".+, (?:nfa|pending)")


def _outcome_counts(note: str, count: int) -> dict[str, int] | None:
    """``{outcome: events}`` when ``note`` lists outcomes ("nfa", "charged ×1, nfa ×1"); None for grades."""
    found: dict[str, int] = {}
    for item in note.split(", "):
        match = _NOTE_ITEM.fullmatch(item)
        if not match or match["outcome"] not in _OUTCOMES:
            return None
        found[match["outcome"]] = int(match["count"]) if match["count"] else count
    return found


def _proven_part(part: str) -> tuple[str, int]:
    """One rationale part without its unproven events, and how many were dropped ("" when none is left)."""
    match = _PART.fullmatch(part)
    outcomes = _outcome_counts(match["note"], int(match["count"])) if match and match["note"] else None
    if outcomes is None:
        return part, 0
    kept = {o: k for o, k in outcomes.items() if o not in UNPROVEN}
    dropped = sum(outcomes.values()) - sum(kept.values())
    if not dropped:
        return part, 0
    if not kept:
        return "", dropped
    note = next(iter(kept)) if len(kept) == 1 else ", ".join(f"{o} ×{k}" for o, k in kept.items())
    return f"{match['label']} ×{sum(kept.values())} ({note}){match['points'] or ''}", dropped


def proven_rationale(text: str) -> tuple[str, int]:
    """The rationale without unproven allegations, and how many it left out (see the module docstring)."""
    if not text:
        return text, 0
    parts, dropped = [], 0
    for part in text.split("; "):
        kept, n = _proven_part(part)
        dropped += n
        if kept:
            parts.append(kept)
    out = "; ".join(parts)
    return out[:1].upper() + out[1:], dropped


def not_shown(dropped: int) -> str:
    """"2 unproven allegations not shown" ("" for none)."""
    if not dropped:
        return ""
    return f"{dropped} unproven allegation{'s' if dropped != 1 else ''} not shown"


def proven_reason(text: str) -> str:
    """A removal reason that names no unproven outcome (the rule it failed, in words)."""
    if match := _NOT_QUALIFYING.fullmatch(text):
        return f"no reported weapon-related event in the last {match['days']} days qualifies"
    if match := _STALE.fullmatch(text):
        return match["rule"]
    return text


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


def top_drivers(text: str, n: int) -> str:
    """The first ``n`` parts of a rationale (its biggest drivers come first), each without its latest
    date or the explanation in its indicator's label ("knife violence (assault or wounding with a
    blade)" reads "knife violence"), and how many more there are: the condensed text a printed pack shows."""
    parts = [p for p in text.split("; ") if p] if text else []
    short = [_LABEL_NOTE.sub("", _LATEST.sub("", p)) for p in parts[:n]]
    more = len(parts) - len(short)
    return "; ".join(short) + (f"; +{more} more" if more > 0 else "")


_LATEST = re.compile(r", latest \d{1,2} [A-Z][a-z]{2} \d{4}")
_LABEL_NOTE = re.compile(r" \([^()]*\)(?= ×\d)")
