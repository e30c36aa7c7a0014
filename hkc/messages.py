"""One-line messages: the closest known word for a misspelt one, and the words for movement.

Every "did you mean" in hkc comes from :func:`did_you_mean`, and every output that shows how a
person moved between two refreshes uses :data:`MOVEMENT_WORDS`, so the police pack, the partner
pack and the terminal never say the same thing two ways.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

__all__ = ["closest", "did_you_mean", "MOVEMENT_WORDS", "movement_words", "REKEY_WARNING"]

# A cohort member who vanished while a new id holding their events appeared (hkc.matrix.probable_rekeys): one
# text for the terminal, run.json readers and the police pack (hkc.partnership.checks).
REKEY_WARNING = ("probable re-key: {old_id}, listed in the run of {earlier}, is not in this extract, and {new_id}, "
                 "new in it, has {evidence}; {old_id} is not counted as removed.  If they are the same person, "
                 "record it: hkc ids link {old_id} {new_id} --reason TEXT --by NAME")

# How a person moved since the last refresh, in words (the code is what cohort.csv holds).
MOVEMENT_WORDS = {"new": "new", "up": "\u25b2 up", "down": "\u25bc down", "same": "no change"}


def closest(value: str, valid: Sequence[str], *, cutoff: float = 0.6) -> str | None:
    """The valid name most like ``value`` (a misspelling), or None when none is close."""
    found = difflib.get_close_matches(value, list(valid), n=1, cutoff=cutoff)
    if not found:  # a difference of case only
        found = [v for v in valid if v.lower() == value.lower()][:1]
    return found[0] if found else None


def did_you_mean(value: Any, valid: Sequence[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` when a valid name is close to ``value``, else ``""``."""
    near = closest(value, valid, cutoff=cutoff) if isinstance(value, str) else None
    return f"; did you mean '{near}'?" if near else ""


def movement_words(code: Any) -> str:
    """The words for a movement code (``new``, ``up``, ``down``, ``same``); anything else as it is."""
    return MOVEMENT_WORDS.get(code, "" if code is None else str(code))
