"""The records' tables from the definitions and the run: input columns and their use, the indicator
catalogue and its multipliers, the definitions' hashes, the run's counts and provenance.

Every cell comes from the contract (:data:`hkc.extract.CONTRACT`), the catalogue, the settings or
the run's manifest.  A column the contract gains later shows :data:`NO_USE` until its use is
described in :data:`COLUMN_USES` (a test checks none is missing).  The manifest's local paths
(data folder, database, definitions folder) are never shown: the record is written to be published.
"""

from __future__ import annotations

from hkc import __version__
from hkc.extract import CONTRACT, REQUIRED_FILES
from hkc.transparency.document import Table, grid
from hkc.transparency.facts import Facts
from hkc.transparency.markdown import count_text, yes_no

__all__ = ["COLUMN_USES", "NO_USE", "NO_RUN", "SENSITIVE", "columns_table", "catalogue_table", "multipliers_table",
           "definitions_table", "counts_table", "run_table", "extract_files", "sensitive_rows"]

NO_RUN = ("No run was given, so this record shows no figures from a run. Regenerate it from the latest run "
          "(hkc transparency --run RUN_FOLDER) before publishing.")

_PROTECTED = "read for the fairness audit only; never an input to scores, eligibility, ranking or RAG bands"

_NOT_SCORED = "checked on input; not an input to the scores"

# What each input column is used for; a column the contract gains later shows NO_USE until added here.
COLUMN_USES: dict[tuple[str, str], str] = {
    ("people", "person_id"): "links a person's events; identifies each entry in the police view",
    ("people", "date_of_birth"): "age at the as-of date, for the eligibility age range",
    ("people", "sex"): _PROTECTED + "; shown beside each entry in the police meeting pack",
    ("people", "ethnicity"): _PROTECTED + "; shown beside each entry in the police meeting pack",
    ("people", "officer_ethnicity"): _NOT_SCORED,
    ("people", "area"): _NOT_SCORED + "; shown in the meeting pack",
    ("people", "in_care"): _NOT_SCORED,
    ("people", "open_to_social_care"): _NOT_SCORED,
    ("events", "event_id"): "identifies the event in the evidence behind every point",
    ("events", "person_id"): "links the event to the person",
    ("events", "date"): "recency (half-life), lookback and review windows",
    ("events", "type"): "the indicator (catalogue below)",
    ("events", "role"): "role multiplier; a victim or witness role never counts on the risk axis",
    ("events", "source"): _NOT_SCORED,
    ("events", "outcome"): "outcome multiplier; weapon events with a non-qualifying outcome make no one eligible",
    ("events", "grade"): "intelligence grade multiplier",
    ("events", "occurrence_id"): _NOT_SCORED,
    ("events", "location_id"): _NOT_SCORED,
}

NO_USE = "not described in this version of the record"

# Why a contract column is sensitive (ATRS 2.4.3.5; the DPIA's categories of data).
SENSITIVE: dict[tuple[str, str], str] = {
    ("people", "date_of_birth"): "age: the people listed are children",
    ("people", "sex"): "sex: a protected characteristic (Equality Act 2010)",
    ("people", "ethnicity"): "self-defined ethnicity: racial or ethnic origin, sensitive processing "
                             "(DPA 2018 s.35(8)) and a protected characteristic",
    ("people", "officer_ethnicity"): "officer-defined ethnicity: racial or ethnic origin, sensitive processing",
    ("people", "in_care"): "whether the child is in local authority care: welfare information",
    ("people", "open_to_social_care"): "whether the child is open to children's social care: welfare information",
    ("people", "area"): "where the person lives: can act as a proxy for ethnicity or deprivation",
    ("events", "type"): "alleged offences and incidents, including as victim or witness",
    ("events", "role"): "whether the person was recorded as offender, suspect, victim, witness or subject",
    ("events", "outcome"): "criminal justice outcomes, including allegations not proven (nfa, pending)",
    ("events", "grade"): "intelligence and its grading",
}


def extract_files() -> str:
    return (f"An extract is a folder of files: {', '.join(REQUIRED_FILES)} (required) and population (optional: "
            f"resident population counts by area, age band, sex and ethnicity, used only as a baseline in the "
            f"fairness audit).")


def columns_table() -> Table:
    return grid(["File", "Column", "Required", "Used for"],
                [(name, col.name, yes_no(col.required), COLUMN_USES.get((name, col.name), NO_USE))
                 for name, columns in CONTRACT.items() for col in columns if name != "population"])


def sensitive_rows() -> list[tuple[str, str]]:
    return [(f"{name}.{col.name}", SENSITIVE[(name, col.name)]) for name, columns in CONTRACT.items()
            for col in columns if (name, col.name) in SENSITIVE]


def catalogue_table(f: Facts) -> Table:
    return grid(["Code", "Label", "Axis", "Roles", "Gravity", "Half-life (days)", "Lookback (days)", "Cap", "Decay",
                 "Evidence", "Weapon", "Intelligence", "Proactive"],
                [(i.code, i.label, i.axis, ", ".join(i.roles), f"{i.gravity:g}", f"{i.half_life_days:g}",
                  i.lookback_days, i.frequency_cap, f"{i.frequency_decay:g}", i.evidence, yes_no(i.weapon),
                  yes_no(i.intelligence), yes_no(i.proactive))
                 for i in f.definitions.catalogue.indicators.values()])


def multipliers_table(f: Facts) -> Table:
    cat = f.definitions.catalogue
    grade = ", ".join(f"{k} {v:g}" for k, v in cat.grade_source.items())
    assessment = ", ".join(f"{k} {v:g}" for k, v in cat.grade_assessment.items())
    return grid(["Evidence multiplier", "Values"], [
        ("by outcome", ", ".join(f"{k} {v:g}" for k, v in cat.outcome_multipliers.items())),
        ("by role", ", ".join(f"{k} {v:g}" for k, v in cat.role_multipliers.items())),
        ("by intelligence grade", f"source ({grade}) × assessment ({assessment}); ungraded {cat.grade_missing:g}"),
    ])


def definitions_table(f: Facts) -> Table:
    s, cat, spec = f.settings, f.definitions.catalogue, f.audit_spec
    return grid(["File", "SHA-256"], [
        (f"config/hkc.toml ({f.definitions.source})", s.sha256 or "(built-in defaults, not read from a file)"),
        (f"features/indicators.toml (version {cat.version})", cat.sha256),
        ("audits/fairness.toml" if spec.path else "audits/fairness.toml (built-in defaults)", spec.digest()),
    ])


def counts_table(f: Facts) -> Table | None:
    counts = f.run("counts")
    if not isinstance(counts, dict) or not counts:
        return None
    return grid(["File", "Rows read", "Used", "Quarantined"],
                [(name, count_text(c.get("read")), count_text(c.get("used")), count_text(c.get("rejected")))
                 for name, c in counts.items()])


def run_table(f: Facts) -> Table:
    previous = f.run("previous_as_of")
    rows = [
        ("As-of date", f.run("as_of")),
        ("Extract date", f.run("extract_date")),
        ("People scored", count_text(f.run("scored"))),
        ("Eligible", count_text(f.run("eligible"))),
        ("Listed (cohort size)", count_text(f.run("cohort_size"))),
        ("Removed since the previous run", f"{count_text(f.run('removed'))} (previous run as of {previous})"
         if previous else "first run of this history"),
        ("Configuration SHA-256", f.run("config_sha256")),
        ("Inputs SHA-256", f.run("inputs_sha256")),
        *[(f"Input {name}", f"{i.get('file')} (SHA-256 {i.get('sha256')})")
          for name, i in (f.run("inputs") or {}).items()],
        ("hkc version", f.run("hkc_version")),
        ("Code commit", f.run("git_commit") or "unknown (hkc was not run from a git checkout)"),
        ("Started", f.run("started_at")),
        ("Finished", f.run("finished_at")),
        ("Record written by", f"hkc {__version__}"),
    ]
    return grid(["Item", "Value"], [(k, "absent from this run's manifest" if v is None else v) for k, v in rows])
