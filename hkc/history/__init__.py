"""The history store: every refresh, its scores, evidence, decisions and disclosures.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

=================================  ============================================================
:mod:`hkc.history.aliases`         Identity across extracts: the ids a person was re-keyed from, so the history follows the person.
:mod:`hkc.history.cases`           Case states: an adopted person is an open case until a meeting closes it.
:mod:`hkc.history.causes`          Reading what the movement causes need from the history: a run's evidence for some people, in one pass.
:mod:`hkc.history.consultations`   The consultation log: who consulted whose record, when and why.
:mod:`hkc.history.detail`          The detail codec: a run's contributions and evidence as zstd Parquet chunks inside the database.
:mod:`hkc.history.interventions`   The interventions record: what the partnership did, for whom, from when.
:mod:`hkc.history.listings`        What the audit reads of earlier runs: who was eligible and listed, and the decisions.
:mod:`hkc.history.members`         What tells a re-keyed cohort member from one who left: each run's members' birth date, sex, events.
:mod:`hkc.history.migrate`         Upgrading older history stores in place, inside the opening transaction.
:mod:`hkc.history.referrals`       The referrals record: partners asking the partnership to look at a child.
:mod:`hkc.history.retention`       Retention: erase runs and person-level history older than the retention period.
:mod:`hkc.history.review`          Questions asked of the history: what moved between two refreshes, and why one person scores.
:mod:`hkc.history.rights`          One person's rights: a challenge and its outcome; an event excluded from scoring as wrong.
:mod:`hkc.history.schema`          The history store's tables: runs, scores, evidence, cohort, decisions, disclosures, purges.
:mod:`hkc.history.store`           The history store: every refresh, its scores, evidence and cohort, in one database.
:mod:`hkc.history.subject_access`  Subject access: everything the history holds about one person, and everyone it went to.
=================================  ============================================================
"""

from hkc.history.aliases import (
    AliasReport,
    Identities,
    alias_map,
    canonical_ids,
    identities,
    link_ids,
    record_extract_aliases,
    stored_aliases,
)
from hkc.history.cases import NOT_LISTED, REVIEW_REMOVED, open_cases, removed_on_review
from hkc.history.causes import run_evidence
from hkc.history.consultations import check_purpose, consultation_log, log_consultation
from hkc.history.evaluations import evaluation_summary, latest_evaluation, record_evaluation
from hkc.history.interventions import (
    known_person_ids,
    partner_person_ids,
    record_interventions,
    running_interventions,
    stored_interventions,
)
from hkc.history.listings import decisions_for_runs, recent_listings, recent_runs
from hkc.history.members import (
    identity_rows,
    member_identities_of,
    member_rows,
    purge_identities,
    remember_members,
    vanished_members,
)
from hkc.history.referrals import recent_referrals, record_referrals, stored_referrals
from hkc.history.retention import purge
from hkc.history.review import compare_runs, explain_person
from hkc.history.rights import (
    OUTCOMES,
    active_exclusions,
    challenges_of,
    exclude_event,
    exclusions_of,
    lift_exclusion,
    person_rights,
    raise_challenge,
    resolve_challenge,
    rights_lines,
)
from hkc.history.schema import metadata, runs
from hkc.history.store import HistoryStore, StoredRun, database_file, open_store
from hkc.history.subject_access import render_subject_access, subject_access

__all__ = [
    "AliasReport",
    "Identities",
    "alias_map",
    "canonical_ids",
    "identities",
    "identity_rows",
    "link_ids",
    "member_identities_of",
    "purge_identities",
    "record_extract_aliases",
    "member_rows",
    "record_evaluation",
    "latest_evaluation",
    "evaluation_summary",
    "remember_members",
    "stored_aliases",
    "vanished_members",
    "rights_lines",
    "person_rights",
    "resolve_challenge",
    "raise_challenge",
    "lift_exclusion",
    "exclusions_of",
    "exclude_event",
    "challenges_of",
    "active_exclusions",
    "OUTCOMES",
    "database_file",
    "HistoryStore",
    "StoredRun",
    "check_purpose",
    "compare_runs",
    "consultation_log",
    "decisions_for_runs",
    "explain_person",
    "known_person_ids",
    "log_consultation",
    "metadata",
    "open_store",
    "open_cases",
    "removed_on_review",
    "REVIEW_REMOVED",
    "NOT_LISTED",
    "partner_person_ids",
    "purge",
    "recent_referrals",
    "record_referrals",
    "stored_referrals",
    "recent_listings",
    "record_interventions",
    "recent_runs",
    "render_subject_access",
    "run_evidence",
    "runs",
    "stored_interventions",
    "running_interventions",
    "subject_access",
]
