"""What a partner file may carry: the partner fields, the columns each governs, and the sections.

Every column a partner output shows is declared in :data:`COLUMNS` with the field of ``[partner]
fields`` that governs it (None: a count of places, always shown), and every section's columns in
:data:`SECTION_COLUMNS`, so :mod:`hkc.partnership.partner_facts` shows a column only when its
field is allowed, and a new column cannot appear without being declared here.
"""

from __future__ import annotations

__all__ = ["PARTNER_FIELDS", "COLUMNS", "DECISION_COLUMNS", "SECTION_COLUMNS", "SECTIONS", "PERIPHERY_TITLES",
           "NOT_AVAILABLE", "LINK_WORDS", "SAFEGUARDING"]

PARTNER_FIELDS = {
    "pseudonym": "the keyed pseudonym that stands for the person id (required)",
    "rank": "position in the ranked cohort",
    "age": "age in whole years at the as-of date",
    "sex": "recorded sex",
    "ethnicity": "self-defined ethnicity",
    "area": "district or neighbourhood",
    "rag": "red/amber/green band (for removed people, the band they had)",
    "vulnerability_band": "high/medium/low vulnerability band (never the score)",
    "rationale": "the indicators behind the band; the link that puts someone on the periphery; why someone left",
    "vulnerability_rationale": "the indicators behind the vulnerability band",
    "movement": "new / up / down / no change since the last refresh",
    "latest_weapon_date": "date of the latest weapon-related event",
    "peer_group": "the person's peer group, and the peer-groups section",
    "decision": "the decisions so far, and the Decision, Reason and casework columns the meeting fills in",
}

# column -> (the field that must be allowed for it to appear, or None for place aggregates; label)
COLUMNS: dict[str, tuple[str | None, str]] = {
    "pseudonym": ("pseudonym", "Pseudonym"), "rank": ("rank", "Rank"), "rag": ("rag", "RAG"),
    "age": ("age", "Age"), "sex": ("sex", "Sex"), "ethnicity": ("ethnicity", "Ethnicity"), "area": ("area", "Area"),
    "vulnerability_band": ("vulnerability_band", "Vulnerability"), "movement": ("movement", "Movement"),
    "peer_group": ("peer_group", "Peer group"), "latest_weapon_date": ("latest_weapon_date", "Latest weapon event"),
    "rationale": ("rationale", "Rationale"),
    "vulnerability_rationale": ("vulnerability_rationale", "Vulnerability rationale"),
    "link": ("rationale", "Link to the cohort"), "link_role": ("rationale", "Linked as"),
    "previous_rag": ("rag", "Previous RAG"),
    "removed_reason": ("rationale", "Reason for removal"),
    "size": ("peer_group", "People"), "cohort_members": ("peer_group", "Cohort members"),
    "members": ("peer_group", "Members (pseudonyms)"),
    "location": (None, "Place"), "activity": (None, "Knife-related activity (recency-weighted)"),
    "events": (None, "Events"), "people": (None, "People involved"),
    "active_groups": ("peer_group", "Peer groups active here"),
    "decision_history": ("decision", "Decisions so far"), "decision": ("decision", "Decision"),
    "decision_reason": ("decision", "Reason"),
    # the casework columns the meeting fills in after Decision and Reason (the workbook only: hkc.partnership.partner_pack)
    "intervention": ("decision", "Intervention"), "lead_agency": ("decision", "Lead agency"),
    "owner_role": ("decision", "Owner (role)"), "review_date": ("decision", "Review date"),
    "engagement": ("decision", "Engagement"), "actions": ("decision", "Actions"),
}

DECISION_COLUMNS = ("decision_history", "decision", "decision_reason")

SECTION_COLUMNS = {
    "cohort": ("pseudonym", "rank", "rag", "age", "sex", "ethnicity", "area", "vulnerability_band", "movement",
               "peer_group", "latest_weapon_date", "rationale", "vulnerability_rationale", *DECISION_COLUMNS),
    "periphery": ("pseudonym", "age", "sex", "area", "vulnerability_band", "peer_group", "link_role", "link",
                  *DECISION_COLUMNS),
    "safeguarding": ("pseudonym", "age", "sex", "area", "vulnerability_band", "peer_group", "link_role", "link",
                     *DECISION_COLUMNS),
    "peer_groups": ("peer_group", "size", "cohort_members", "members"),
    "places": ("location", "activity", "events", "people", "active_groups"),
    "removed": ("pseudonym", "previous_rag", "removed_reason"),
}

SECTIONS = (("cohort", "Cohort", "Cohort"), ("periphery", "Periphery", "Periphery: linked to the cohort, not on it"),
            ("safeguarding", "Safeguarding", "Possibly at risk from cohort members (safeguarding)"),
            ("peer_groups", "Peer groups", "Peer groups"), ("places", "Places", "Places"),
            ("removed", "Removed", "Removed since the last refresh"))
PERIPHERY_TITLES = {  # the periphery section's title by the link types it holds (roles recorded)
    ("co_offending",): "Periphery: co-offending or co-suspect links, not on the list",
    ("co_offending", "other"): "Periphery: co-offending and other links to the cohort, not on the list",
    ("other",): "Periphery: links to the cohort in other roles, not on the list",
}

NOT_AVAILABLE = "{what} not available in this run (peer mapping did not run)."

# the words for a periphery person's link type (hkc.matrix.peers LINK_TYPES) in the "Linked as" column
LINK_WORDS = {"co_offending": "co-offending or co-suspect", "at_risk": "victim or witness only",
              "other": "other roles", "": "role not recorded"}
SAFEGUARDING = "at_risk"  # the link type that goes to the safeguarding section
