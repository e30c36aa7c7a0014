"""The equality impact note: the Public Sector Equality Duty (Equality Act 2010, s.149) applied to hkc's list.

For each protected characteristic (s.4) the note says what hkc holds and what the latest fairness
audit shows: ethnicity and sex are audited every run (never inputs); age is an eligibility rule;
the others are not held, so hkc cannot measure them and says so.  The evidence of disparity is the
audit's own flags and findings (the partner copy, small counts suppressed); the possible proxies
(police-generated and intelligence indicators, area) are named from the catalogue.  What the
partnership must add (the justification of the age rule, evidence on the characteristics hkc does not
hold, the actions decided on the flags, engagement) is asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import hkc.transparency.statements as say
from hkc.transparency.document import Section, asked, grid, known
from hkc.transparency.facts import Facts
from hkc.transparency.measured import flag_text
from hkc.transparency.statements import AUDIT, SOURCE_SETTINGS

__all__ = ["equality_sections", "CHARACTERISTICS", "NOT_HELD"]

# The protected characteristics (Equality Act 2010, s.4).
CHARACTERISTICS = ("age", "disability", "gender reassignment", "marriage and civil partnership",
                   "pregnancy and maternity", "race", "religion or belief", "sex", "sexual orientation")
NOT_HELD = "not in the extract: hkc cannot measure how the list falls on this group"
DUTY = "Equality Act 2010 s.149"

# Which audited attributes speak to which characteristic.
_AUDITED = {"race": ("ethnicity",), "sex": ("sex",)}


def _flags(f: Facts, characteristic: str) -> list[Mapping]:
    """The audit's flags on an attribute that involves ``characteristic`` (``ethnicity*sex`` involves both)."""
    names = set(_AUDITED.get(characteristic, ()))
    return [fl for fl in (f.audit or {}).get("flags") or []
            if names & set(re.split(r"[*\s()]+", str(fl.get("attribute") or "")))]


def _evidence(f: Facts, characteristic: str) -> str:
    e = f.settings.eligibility
    attributes = f.audit_spec.attributes.columns
    if characteristic == "age":
        return (f"Everyone listed is aged {e.min_age} to {e.max_age} by design; the periphery list marks children "
                f"(aged {f.settings.peers.child_max_age} or under).")
    if characteristic in _AUDITED:
        if not any(a in attributes for a in _AUDITED[characteristic]):
            return "not audited under the audit specification in force"
        if not f.audit:
            return "audited at every run; no audit was given with this note"
        flags = _flags(f, characteristic)
        withheld = sum(bool(fl.get("withheld")) for fl in flags)
        return (f"{len(flags)} of the latest audit's flags involve it (listed under E.3)"
                + (f"; {withheld} of them on groups too small to show in this copy" if withheld else "") + "."
                if flags else "The latest audit raised no flag involving it; at small sizes that is not evidence "
                              "of fairness.")
    return NOT_HELD


def _held(f: Facts, characteristic: str) -> str:
    if characteristic == "age":
        return "date of birth: age is an eligibility rule (a direct criterion)"
    if characteristic == "race":
        return "self-defined and officer-defined ethnicity: read for the fairness audit, never an input"
    if characteristic == "sex":
        return "recorded sex: read for the fairness audit, never an input"
    return "not held"


def equality_sections(f: Facts) -> tuple[Section, ...]:
    """The equality impact note's sections (E)."""
    e = f.settings.eligibility
    inds = f.definitions.catalogue.indicators.values()
    proactive = [i.label for i in inds if i.proactive]
    intel = [i.label for i in inds if i.intelligence]
    drivers = [fl for fl in (f.audit or {}).get("flags") or [] if fl.get("section") == "drivers"]
    table = grid(["Protected characteristic", "What hkc holds", "What the latest run shows"],
                 [(c, _held(f, c), _evidence(f, c)) for c in CHARACTERISTICS])
    return (Section("E", "Equality impact note (Public Sector Equality Duty)", (
        known("E.1", "The duty", "Section 149 of the Equality Act 2010 requires due regard, in exercising public "
                                 "functions, to the need to eliminate discrimination, harassment and victimisation, "
                                 "to advance equality of opportunity, and to foster good relations, between people "
                                 "who share a protected characteristic and people who do not.", basis=[DUTY],
              ask="Which organisation's duty this note serves, and who in it has had due regard."),
        known("E.2", "Protected characteristics", table, basis=[SOURCE_SETTINGS, "audits/fairness.toml", AUDIT]
              if f.audit else [SOURCE_SETTINGS, "audits/fairness.toml"],
              ask="For the characteristics hkc does not hold, the evidence the partnership has from other sources "
                  "and how the list may affect people who share them."),
        known("E.3", "Evidence of disparity", *say.audit_summary(f, chance=False),
              f.audit and [flag_text(fl) for fl in (f.audit.get("flags") or [])],
              basis=[AUDIT] if f.audit else ["no audit was given"]),
        known("E.4", "Indirect discrimination and proxies",
              [f"Police-generated indicators ({', '.join(proactive) or 'none'}) follow where police look, and "
               f"intelligence indicators ({', '.join(intel) or 'none'}) follow reports: a group policed more heavily "
               f"can accrue more points for the same behaviour.",
               "Area is never an input to scores or eligibility, but the places list and the partners' area field "
               "can reflect where groups live.",
               (f"The latest audit's decomposition of risk points by group raised {len(drivers)} flag(s)."
                if f.audit else "The audit decomposes risk points by group at every run.")],
              basis=["features/indicators.toml", AUDIT] if f.audit else ["features/indicators.toml"],
              ask="Whether any indicator puts a group at a particular disadvantage, and if so whether it is a "
                  "proportionate means of achieving a legitimate aim (s.19)."),
        known("E.5", "Age", f"Only people aged {e.min_age} to {e.max_age} can be listed ([eligibility] min_age and "
                            f"max_age).", basis=[SOURCE_SETTINGS],
              ask="Why this age range is appropriate for the programme, and its justification."),
        known("E.6", "Mitigation and monitoring", [
            "Every refresh audits who is selected, who is on the periphery and what drives the points, by ethnicity, "
            "sex and both together, with intervals; minority ethnic groups are also compared together when single "
            "groups are too small.",
            "The flag count and the list against chance are on the first page of every pack, so the meeting sees "
            "them beside the list.",
            f"Partners see counts under {f.audit_spec.disclosure.small_cell} suppressed, so no child is identifiable "
            f"from the audit.",
        ], basis=["audits/fairness.toml", SOURCE_SETTINGS],
              ask="The actions decided on this run's flags, who reviews each audit before packs are released, and "
                  "when this note is reviewed."),
        asked("E.7", "Engagement", "How children, families and affected communities were engaged, and what it "
                                   "changed."),
    )),)
