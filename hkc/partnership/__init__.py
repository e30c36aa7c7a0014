"""The partnership: the police and partner packs, pseudonyms, sealed workbooks and decisions.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

======================================  ============================================================
:mod:`hkc.partnership.agencies`         Each agency's own partner pack: its allow-list, and only the people it works with.
:mod:`hkc.partnership.decisions`        The decisions loop: read the meeting's decisions back from a partner workbook, all or nothing.
:mod:`hkc.partnership.drawing`          The peer network drawn for the meeting pack: a small SVG of who is linked to whom, by pseudonym.
:mod:`hkc.partnership.interventions`    Importing what the partnership did: an interventions file (CSV or XLSX), all rows or none.
:mod:`hkc.partnership.partner_columns`  What a partner file may carry: the partner fields, columns and sections.
:mod:`hkc.partnership.partner_facts`    What the partner pack shows, as plain data: pseudonymised rows of allow-listed columns only.
:mod:`hkc.partnership.partner_pack`     The partner pack: ``partner/cohort.html``, ``cohort.xlsx`` and ``cohort.csv``, pseudonymised throughout.
:mod:`hkc.partnership.partner_text`     What partner files say instead of the police view's words: no score, no unproven allegation.
:mod:`hkc.partnership.police_pack`      The readable pack for the partnership meeting: ``cohort.html`` and ``cohort.xlsx``.
:mod:`hkc.partnership.printing`         How a pack prints: A4 landscape, the protective marking and page numbers on every page.
:mod:`hkc.partnership.pseudonyms`       Keyed pseudonyms for partner outputs, and the scrubber of person ids in free text.
:mod:`hkc.partnership.referrals`        Importing partners' referrals: a referrals file (CSV or XLSX), all rows or none.
:mod:`hkc.partnership.sealing`          The sealed partner workbook: one format, for the pack and the import.
:mod:`hkc.partnership.sheets`           Workbook sheets that read well on screen and on paper: widths, wrapping, print set-up.
======================================  ============================================================
"""

from hkc.partnership.decisions import DecisionImportError, RowProblem, decision_history, import_decisions
from hkc.partnership.interventions import InterventionImportError, import_interventions
from hkc.partnership.partner_pack import allowed_columns, write_partner_pack
from hkc.partnership.police_pack import pack_facts, write_html, write_xlsx
from hkc.partnership.pseudonyms import (
    PseudonymKeyError,
    check_key,
    key_fingerprint,
    partner_key,
    pseudonym,
    pseudonymise,
    with_identities,
)
from hkc.partnership.referrals import ReferralImportError, import_referrals

__all__ = [
    "DecisionImportError",
    "InterventionImportError",
    "PseudonymKeyError",
    "ReferralImportError",
    "RowProblem",
    "allowed_columns",
    "check_key",
    "decision_history",
    "import_decisions",
    "import_interventions",
    "import_referrals",
    "key_fingerprint",
    "pack_facts",
    "partner_key",
    "pseudonym",
    "pseudonymise",
    "with_identities",
    "write_html",
    "write_partner_pack",
    "write_xlsx",
]
