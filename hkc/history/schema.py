"""The history store's tables: runs, scores, evidence, cohort, the periphery list, decisions, interventions,
partners' referrals, disclosures (with the agency of an agency's pack), purges, and the ids people were re-keyed
from (aliases) with what re-key detection needs of each cohort (member identities), and each evaluation's
aggregate figures (evaluations)."""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.mysql import LONGBLOB

__all__ = ['AUDIENCES']


metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.String(10), nullable=False, unique=True),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32), nullable=False),
    sa.Column("hkc_version", sa.String(32), nullable=False),
    sa.Column("config_sha256", sa.String(64), nullable=False),
    sa.Column("inputs_sha256", sa.String(64), nullable=False),
    sa.Column("cohort_size", sa.Integer, nullable=False),
    sa.Column("eligible", sa.Integer, nullable=False),
    sa.Column("scored", sa.Integer, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("audit", sa.Text),  # the partner copy of the audit (aggregates, small cells suppressed)
)

scores = sa.Table(
    "scores", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("vulnerability_score", sa.Float, nullable=False),
    sa.Column("eligible", sa.Boolean, nullable=False),
    sa.Column("in_cohort", sa.Boolean, nullable=False),
    sa.Column("rank", sa.Integer),
    sa.Column("rag", sa.String(8)),
    sa.Column("movement", sa.String(8)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rationale", sa.Text),
    sa.Index("ix_scores_run_person", "run_id", "person_id"),  # a run, and one person in every run via runs
)


def _detail_table(name: str) -> sa.Table:
    """One row per chunk of a run's detail: the people it spans, its rows as a zstd-compressed Parquet file."""
    return sa.Table(
        name, metadata,
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), primary_key=True, autoincrement=False),
        sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_person_id", sa.String(64), nullable=False),
        sa.Column("last_person_id", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("parquet", sa.LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb"),
                  nullable=False),
    )


contributions = _detail_table("contributions")

evidence = _detail_table("evidence")

# the columns inside each run's Parquet (a missing value is refused where the field is not nullable)
DETAIL_COLUMNS = {
    "contributions": pa.schema([
        pa.field("person_id", pa.string(), nullable=False), pa.field("axis", pa.string(), nullable=False),
        pa.field("indicator", pa.string(), nullable=False), pa.field("count", pa.int64(), nullable=False),
        pa.field("latest", pa.string(), nullable=False), pa.field("points", pa.float64(), nullable=False)]),
    "evidence": pa.schema([
        pa.field("person_id", pa.string(), nullable=False), pa.field("event_id", pa.string(), nullable=False),
        pa.field("date", pa.string(), nullable=False), pa.field("indicator", pa.string(), nullable=False),
        pa.field("axis", pa.string(), nullable=False), pa.field("role", pa.string(), nullable=False),
        pa.field("outcome", pa.string()), pa.field("grade", pa.string()),
        pa.field("points", pa.float64(), nullable=False)]),
}

DETAIL_TABLES = (contributions, evidence)

removed = sa.Table(
    "removed", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("previous_rank", sa.Integer),
    sa.Column("previous_rag", sa.String(8)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_removed_run_person", "run_id", "person_id"),
)

periphery = sa.Table(  # who was on each run's periphery list (linked to listed people, not listed), and how
    "periphery", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("link_role", sa.Text, nullable=False),  # hkc.history.periphery LINK_ROLES: "co-offending", ...
    sa.Column("linked_to", sa.Integer, nullable=False),  # how many cohort members they are linked to
    sa.Index("ix_periphery_run_person", "run_id", "person_id"),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("as_of", sa.String(10), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("meeting_date", sa.String(10), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("source_file", sa.String(255), nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("sheet", sa.String(64)),
    sa.Column("row", sa.Integer),
    # the casework recorded with the decision (NULL when not given, and in decisions stored before it existed)
    sa.Column("intervention", sa.String(32)),  # an [interventions] type, only with adopt
    sa.Column("lead_agency", sa.String(128)),
    sa.Column("owner_role", sa.String(128)),
    sa.Column("review_date", sa.String(10)),
    sa.Column("engagement", sa.String(16)),
    sa.Column("actions", sa.Text),
)

interventions = sa.Table(
    "interventions", metadata,
    sa.Column("intervention_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("start_date", sa.String(10), nullable=False),
    sa.Column("end_date", sa.String(10)),  # NULL while it runs
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("lead_agency", sa.String(128), nullable=False),
    sa.Column("engagement", sa.String(16), nullable=False),
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("source_file", sa.String(255), nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("row", sa.Integer),
)

referrals = sa.Table(  # a partner asking the partnership to look at a child (hkc.history.referrals); never scored
    "referrals", metadata,
    sa.Column("referral_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), index=True),  # NULL when the partner does not know the police id
    sa.Column("referral_ref", sa.String(64)),  # the partner's own reference, when person_id is not known
    sa.Column("agency", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("referred_on", sa.String(10), nullable=False, index=True),
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("source_file", sa.String(255), nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("row", sa.Integer),
)

challenges = sa.Table(  # a person's challenge to their listing, and its recorded outcome
    "challenges", metadata,
    sa.Column("challenge_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("raised_at", sa.String(32), nullable=False),
    sa.Column("raised_by", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(16)),  # NULL while open: upheld, rejected or withdrawn
    sa.Column("outcome_at", sa.String(32)),
    sa.Column("outcome_by", sa.String(128)),
    sa.Column("outcome_note", sa.Text),
)

exclusions = sa.Table(  # an event shown to be wrong, kept out of scoring until the source record is corrected
    "exclusions", metadata,
    sa.Column("exclusion_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("event_id", sa.String(64), nullable=False, index=True),
    sa.Column("excluded_at", sa.String(32), nullable=False),
    sa.Column("excluded_by", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("lifted_at", sa.String(32)),  # NULL while the exclusion holds
    sa.Column("lifted_by", sa.String(128)),
    sa.Column("lifted_reason", sa.Text),
)

consultations = sa.Table(  # who looked at whose record, when and why (DPA 2018 s.62); never what was shown
    "consultations", metadata,
    sa.Column("consultation_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("consulted_at", sa.String(32), nullable=False),
    sa.Column("consulted_by", sa.String(128), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("run_as_of", sa.String(10)),
)

disclosures = sa.Table(
    "disclosures", metadata,
    sa.Column("disclosure_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, index=True),  # NULL once the run is purged
    sa.Column("as_of", sa.String(10)),
    sa.Column("audience", sa.String(32), nullable=False),
    sa.Column("disclosed_at", sa.String(32), nullable=False),
    sa.Column("disclosed_by", sa.String(128), nullable=False),
    sa.Column("people", sa.Integer, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # JSON {file name: sha256}
    sa.Column("people_purged", sa.Boolean, nullable=False, default=False),
    # A refresh logs its packs with its run (pending) and confirms them once its output folder is
    # published; a pending entry of a killed run is settled by the next refresh to that folder.
    sa.Column("folder", sa.Text),
    sa.Column("published", sa.Boolean, nullable=False, default=True, server_default=sa.true()),
    sa.Column("agency", sa.String(128)),  # the agency of an agency's partner pack; NULL for every other pack
)

disclosure_people = sa.Table(
    "disclosure_people", metadata,
    sa.Column("disclosure_id", sa.Integer, sa.ForeignKey("disclosures.disclosure_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
)

purges = sa.Table(
    "purges", metadata,
    sa.Column("purge_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("purged_at", sa.String(32), nullable=False),
    sa.Column("purged_by", sa.String(128), nullable=False),
    sa.Column("older_than_days", sa.Integer, nullable=False),
    sa.Column("cutoff", sa.String(10), nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("first_as_of", sa.String(10)),
    sa.Column("last_as_of", sa.String(10)),
    sa.Column("rows", sa.Text, nullable=False),  # JSON {table: rows deleted}
)

aliases = sa.Table(  # an id the source re-keyed or merged: old_id is now new_id (hkc.history.aliases)
    "aliases", metadata,
    sa.Column("alias_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("old_id", sa.String(64), nullable=False, unique=True),  # an id is re-keyed to one id only
    sa.Column("new_id", sa.String(64), nullable=False, index=True),
    sa.Column("date", sa.String(10)),  # when the source changed it, as the source says (NULL: not said)
    sa.Column("reason", sa.Text),
    sa.Column("source", sa.String(255), nullable=False),  # "extract <file> as of <date>" or "hkc ids link"
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    # the new id was already known to the history when linked: a merge into a record with its own past,
    # which keeps its own pseudonym; otherwise the new id carries on the old id's pseudonym
    sa.Column("new_known", sa.Boolean, nullable=False),
)

member_identities = sa.Table(  # each cohort member's identity, to tell a re-key from an exit (hkc.history.members)
    "member_identities", metadata,
    sa.Column("as_of", sa.String(10), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("date_of_birth", sa.String(10)),
    sa.Column("sex", sa.String(8)),
    sa.Column("event_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("occurrence_ids", sa.Text, nullable=False),  # JSON list
    sa.Index("ix_member_identities_as_of_person", "as_of", "person_id"),
)

evaluations = sa.Table(  # each `hkc evaluate` run's aggregate figures, for the next pack (hkc.history.evaluations)
    "evaluations", metadata,
    sa.Column("evaluation_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("evaluated_at", sa.String(32), nullable=False),
    sa.Column("cohorts", sa.Text, nullable=False),  # JSON list of quarter ends
    sa.Column("window_days", sa.Integer, nullable=False),
    sa.Column("extract_end", sa.String(10), nullable=False),
    sa.Column("primary_design", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),  # JSON: designs' estimates and intervals, verdict; no person
)

PERSON_TABLES = (scores, contributions, evidence, removed, periphery)

ROW_TABLES = (scores, removed)

OLD_INDEXES = {"ix_scores_run_id", "ix_scores_person_id", "ix_removed_run_id"}  # before the (run_id, person_id) ones

RECORD_TABLES = (decisions, interventions, referrals, challenges, exclusions, consultations, disclosures, disclosure_people,
                 purges, aliases, member_identities, evaluations)

AUDIENCES = ("police", "partner", "subject")
