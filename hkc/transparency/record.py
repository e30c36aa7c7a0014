"""The transparency record: what hkc is for, what it reads, how it scores, who oversees it and how
fair its latest list was, as Markdown in the spirit of the UK Algorithmic Transparency Recording
Standard (ATRS): a tier 1 summary for the public, then tier 2 detail.

Generated from the definitions in force (``config/hkc.toml``, ``features/indicators.toml``,
``audits/fairness.toml``), the latest run's manifest (``run.json``) and its fairness audit.  It
states only what hkc knows.  Who owns the tool, the legal basis, impact assessments, retention,
sharing and how to challenge an entry are for the partnership to write: they appear as sections
marked :data:`TO_BE_COMPLETED`, never invented.  Without a run or an audit the record says so
(:data:`NO_RUN`, :data:`NO_AUDIT`) instead of showing figures.

The record is written to be published, so the audit is shown as its partner-facing copy (counts
under the small-cell threshold as ``<10``, the rates resting on them withheld), and every value
that comes from data or configuration passes through :func:`markdown_text`.

>>> from hkc.audit import load_audit_spec
>>> from hkc.definitions import load_definitions
>>> record = transparency_record(definitions=load_definitions(), manifest=None, audit=None,
...                              audit_spec=load_audit_spec())
>>> record.splitlines()[0]
'# Algorithmic transparency record: hkc, the knife-carrying safeguarding cohort'
"""

from __future__ import annotations

from collections.abc import Mapping

from hkc import __version__
from hkc.definitions import AuditSpec, Definitions
from hkc.extract import CONTRACT, REQUIRED_FILES
from hkc.transparency.audit_sections import audit_section
from hkc.transparency.markdown import (
    TO_BE_COMPLETED,
    bullets,
    count_text,
    heading,
    paragraph,
    table,
    todo,
    yes_no,
)

__all__ = ['transparency_record', 'NO_RUN', 'COLUMN_USES']

TITLE = "Algorithmic transparency record: hkc, the knife-carrying safeguarding cohort"


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


def _summary(definitions: Definitions) -> list[str]:
    e = definitions.settings.eligibility
    listed = definitions.settings.cohort.describe()
    n = len(definitions.catalogue.indicators)
    return [
        *heading(2, "Tier 1: summary"),
        *heading(3, "What the tool does"),
        *paragraph(f"Each refresh (intended quarterly), hkc reads an extract of police and partner records about people "
               f"and events, scores every person on two separate axes from a published catalogue of {n} indicators "
               f"(risk: harm the person may cause, such as weapon offences and weapon intelligence; vulnerability: "
               f"harm done to them, shown beside the risk score and never added to it), and lists, among people "
               f"aged {e.min_age} to {e.max_age} who meet the eligibility rules, {listed} for review by a "
               f"multi-agency partnership meeting. Every entry carries a "
               f"rationale naming the recorded events behind each point, and every refresh runs a fairness audit."),
        *heading(3, "Why it is used"),
        *paragraph("To help a multi-agency partnership (police, children's social care, youth justice, education, "
               f"health) offer safeguarding support to {'children' if e.max_age < 18 else 'children and young adults'} "
               "at risk of carrying knives, by a consistent, evidenced, reproducible and audited process."),
        *heading(3, "What it is not for"),
        *bullets([
            "It is not evidence of offending and does not find that anyone has done anything: a score summarises "
            "recorded events, and records can be wrong, incomplete or shaped by where police look.",
            "It is not for enforcement decisions on its own (such as stop and search, arrest, charging or bail), "
            "nor for decisions about housing, education, employment or immigration.",
            "It is not a list to be shared beyond the partnership's sharing agreement or used to label anyone.",
            "It makes no decision: the partnership meeting decides, person by person, and records its decision.",
        ]),
        *heading(3, "Organisation and contact"),
        *todo("Organisation(s) responsible", "Contact for questions or challenges", "Web page for this record"),
    ]


def _oversight(definitions: Definitions) -> list[str]:
    e = definitions.settings.eligibility
    return [
        *heading(3, "1. Owner and responsibility"),
        *todo("Organisation and team", "Senior responsible owner", "Who runs each refresh",
               "Data protection officer", known=[("Software", f"hkc {__version__}")]),
        *heading(3, "2. Scope and benefits"),
        *todo("Geographic area covered", "Benefits sought and how they are measured", "Alternatives considered"),
        *heading(3, "3. Decision-making and human oversight"),
        *bullets([
            "hkc produces a ranked list and a meeting pack; it makes no decision about anyone.",
            "The partnership meeting reviews every entry, with the rationale naming the events behind each point, "
            "decides what support or safeguarding response to offer (or that none is needed), and records the "
            "decision and its reason.",
            f"People leave the list when they no longer meet the eligibility rules below (for example, no "
            f"qualifying weapon-related event in the last {e.review_window_days} days, or older than {e.max_age}) "
            f"or fall below the cohort cut-off. Each refresh lists everyone removed since the previous run, with "
            f"the reason (removed.csv). The partnership may also remove anyone at any time.",
            "Every refresh writes a fairness audit beside the list: the auditor's copy, and a partner copy in "
            "which small counts are suppressed.",
        ]),
        *todo("How a person or family can ask about or challenge an entry",
               "How removals decided by the meeting are recorded, and confirmation that no informal list of "
               "removed people is kept",
               "Who reviews each fairness audit, and what happens when a disparity is flagged",
               "Training for meeting members"),
    ]



def _evidence_rules(definitions: Definitions) -> list[str]:
    """The weapon-evidence and corroboration bullets, from the settings and the catalogue."""
    e = definitions.settings.eligibility
    police = ", ".join(i.label for i in definitions.catalogue.indicators.values() if i.weapon and i.proactive)
    outcomes = ", ".join(e.non_qualifying_outcomes) or "none"
    u, c = e.usable_grade, e.credible_grade
    weapon = (f"at least one reported weapon-related risk event in the last {e.review_window_days} days whose "
              f"outcome is not one of: {outcomes}. Police-generated evidence ({police or 'none'}) never lists "
              f"anyone alone;" if not e.allow_police_generated_only else
              f"at least one weapon-related risk event in the last {e.review_window_days} days whose outcome is "
              f"not one of: {outcomes}, or corroborated intelligence in that window;")
    corroboration = (f"intelligence counts as corroborated only with {e.min_intelligence_reports} or more weapon "
                     f"intelligence reports in that window graded {u} or better (source A\u2013{u[0]}, assessment "
                     f"1\u2013{u[1]}), from different sources or with one graded {c} or better (source "
                     f"A\u2013{c[0]}, assessment 1\u2013{c[1]}); ungraded reports, source E and assessments "
                     f"4\u20135 never corroborate"
                     + ("; a source's reports on one date count once;" if e.intelligence_distinct_dates else ";"))
    return [weapon, corroboration]


def _rules(definitions: Definitions) -> list[str]:
    s = definitions.settings
    e = s.eligibility
    rag = (f"red at a risk score of {s.rag.red:g} or more, amber at {s.rag.amber:g} or more, green below"
           if s.rag.method == "fixed" else
           f"red for the top {s.rag.red_share:.0%} of the cohort, amber for the next {s.rag.amber_share:.0%}, "
           f"green for the rest")
    return [
        *heading(3, "4. How the list is produced"),
        *heading(4, "Eligibility (config/hkc.toml [eligibility])"),
        *paragraph("A person can be listed only when all of these hold at the as-of date:"),
        *bullets([
            f"aged {e.min_age} to {e.max_age} (whole years);",
            *_evidence_rules(definitions),
            f"a risk score of at least {e.min_risk_score:g}.",
        ]),
        *paragraph("No one is listed on vulnerability alone, on stale history, on police-generated evidence alone"
                   + (" (unless the settings allow it)" if e.allow_police_generated_only else "")
                   + ", or on uncorroborated or poorly graded intelligence."),
        *heading(4, "Cohort and bands (config/hkc.toml [cohort], [rag], [vulnerability])"),
        *bullets([
            f"Listed: {definitions.settings.cohort.describe()}, ranked by risk score, then the most recent weapon-related event, then person id "
            f"(the same data always gives the same ranks).",
            f"RAG band ({s.rag.method}): {rag}.",
            f"Vulnerability band: high at {s.vulnerability.high:g} or more, medium at {s.vulnerability.medium:g} or "
            f"more, low below; shown beside the risk band, never added to it.",
        ]),
        *heading(4, "Points"),
        *paragraph("Each counting event earns gravity × evidence multiplier (by outcome, or by intelligence grade) × role "
               "multiplier × 0.5^(age in days / half-life). A person's k-th strongest event of the same type "
               "(k = 0, 1, …) is further multiplied by the decay^k and counts nothing from k = cap on; events older "
               "than the lookback count nothing. A score is the sum of its axis's points, and the rationale's "
               "points add up to it."),
    ]


def _catalogue(definitions: Definitions, audit_spec: AuditSpec) -> list[str]:
    cat = definitions.catalogue
    s = definitions.settings
    rows = [(i.code, i.label, i.axis, ", ".join(i.roles), f"{i.gravity:g}", f"{i.half_life_days:g}",
             i.lookback_days, i.frequency_cap, f"{i.frequency_decay:g}", i.evidence, yes_no(i.weapon),
             yes_no(i.intelligence), yes_no(i.proactive)) for i in cat.indicators.values()]
    grade = ", ".join(f"{k} {v:g}" for k, v in cat.grade_source.items())
    assessment = ", ".join(f"{k} {v:g}" for k, v in cat.grade_assessment.items())
    return [
        *heading(4, f"Indicator catalogue (features/indicators.toml, version {cat.version})"),
        *table(["Code", "Label", "Axis", "Roles", "Gravity", "Half-life (days)", "Lookback (days)", "Cap", "Decay",
                 "Evidence", "Weapon", "Intelligence", "Proactive"], rows),
        *paragraph("Gravity weights are ordinal judgements of relative harm, not estimates from data; they must be "
               "reviewed by the partnership (see the limitations below)."),
        *table(["Evidence multiplier", "Values"], [
            ("by outcome", ", ".join(f"{k} {v:g}" for k, v in cat.outcome_multipliers.items())),
            ("by role", ", ".join(f"{k} {v:g}" for k, v in cat.role_multipliers.items())),
            ("by intelligence grade", f"source ({grade}) × assessment ({assessment}); ungraded {cat.grade_missing:g}"),
        ]),
        *heading(4, "Model"),
        *paragraph("No statistical or machine-learning model is used: the score is the transparent sum above. A model "
               "could be shown beside it only after a temporal backtest shows that it ranks better, and would be "
               "described here."),
        *heading(4, "Definitions in force"),
        *table(["File", "SHA-256"], [
            (f"config/hkc.toml ({definitions.source})", s.sha256 or "(built-in defaults, not read from a file)"),
            (f"features/indicators.toml (version {cat.version})", cat.sha256),
            ("audits/fairness.toml" if audit_spec.path else "audits/fairness.toml (built-in defaults)",
             audit_spec.digest()),
        ]),
    ]


def _data(audit_spec: AuditSpec, manifest: Mapping | None) -> list[str]:
    rows = [(name, col.name, yes_no(col.required), COLUMN_USES.get((name, col.name), NO_USE))
            for name, columns in CONTRACT.items() for col in columns if name != "population"]
    attrs = ", ".join(audit_spec.attributes.columns)
    lines = [
        *heading(3, "5. Data"),
        *paragraph(f"An extract is a folder of files: {', '.join(REQUIRED_FILES)} (required) and population "
               f"(optional: resident population counts by area, age band, sex and ethnicity, used only as a "
               f"baseline in the fairness audit). Every row is either used or quarantined with its reason, and the "
               f"counts reconcile (read = used + quarantined)."),
        *table(["File", "Column", "Required", "Used for"], rows),
        *heading(4, "Protected characteristics"),
        *paragraph(f"The audited characteristics ({attrs}) are never inputs to scores, eligibility, ranking or RAG "
               f"bands; they are read so that every refresh can audit who the list falls on. Age (from date of "
               f"birth) sets the eligibility range."),
    ]
    if manifest and isinstance(manifest.get("counts"), Mapping):
        lines += [*heading(4, "Quantities in the latest run"),
                  *table(["File", "Rows read", "Used", "Quarantined"],
                          [(name, count_text(c.get("read")), count_text(c.get("used")), count_text(c.get("rejected")))
                           for name, c in manifest["counts"].items()])]
    return lines + todo("Legal basis for processing", "Data sharing agreement and who receives which outputs",
                         "Retention period and deletion", "Access controls and storage")


def _run(manifest: Mapping | None) -> list[str]:
    lines = heading(3, "6. The latest run")
    if not manifest:
        return lines + paragraph(NO_RUN)
    previous = manifest.get("previous_as_of")
    rows = [
        ("As-of date", manifest.get("as_of")),
        ("Extract date", manifest.get("extract_date")),
        ("People scored", count_text(manifest.get("scored"))),
        ("Eligible", count_text(manifest.get("eligible"))),
        ("Listed (cohort size)", count_text(manifest.get("cohort_size"))),
        ("Removed since the previous run", f"{count_text(manifest.get('removed'))} (previous run as of {previous})"
         if previous else "first run of this history"),
        ("Configuration SHA-256", manifest.get("config_sha256")),
        ("Inputs SHA-256", manifest.get("inputs_sha256")),
        *[(f"Input {name}", f"{i.get('file')} (SHA-256 {i.get('sha256')})")
          for name, i in (manifest.get("inputs") or {}).items()],
        ("hkc version", manifest.get("hkc_version")),
        ("Code commit", manifest.get("git_commit") or "not recorded"),
        ("Started", manifest.get("started_at")),
        ("Finished", manifest.get("finished_at")),
    ]
    return lines + table(["Item", "Value"], [(k, "not recorded" if v is None else v) for k, v in rows])


def _limitations(definitions: Definitions, audit_spec: AuditSpec) -> list[str]:
    inds = definitions.catalogue.indicators.values()
    proactive = ", ".join(i.label for i in inds if i.proactive) or "none in this catalogue"
    intel = ", ".join(i.label for i in inds if i.intelligence) or "none in this catalogue"
    n = audit_spec.disclosure.small_cell
    return [
        *heading(3, "8. Risks and known limitations"),
        *bullets([
            f"Recorded data reflects policing patterns as well as behaviour. Proactive indicators ({proactive}) are "
            f"generated by police activity, and intelligence indicators ({intel}) by reports, so groups or places "
            f"policed more heavily accrue more points for the same behaviour. The audit's driver decomposition "
            f"shows, per group, the share of points from each.",
            "Harms that are not reported or recorded are invisible, and partner records (education, social care, "
            "health) appear only when they are shared.",
            f"Small groups give wide intervals: counts under {n} are withheld from published figures, small groups "
            f"raise no flag, and the absence of a flag is not evidence of the absence of a disparity.",
            "Gravity weights are ordinal judgements, not estimated from data; they must be reviewed against current "
            "sentencing guidelines and the review recorded.",
            "No model is used unless a backtest shows it ranks better; whether the list picks out who goes on to be "
            "involved is measured only by the retrospective audit, when the extract holds a year of history.",
        ]),
        *todo("Date of the last review of the weights, and who approved it", "Data protection impact assessment",
               "Equality impact assessment", "Evaluation of the support offered to people on the list"),
    ]


def transparency_record(*, definitions: Definitions, manifest: dict | None, audit: dict | None,
                        audit_spec: AuditSpec) -> str:
    """The transparency record as Markdown, generated from the definitions and the latest run.

    Parameters
    ----------
    definitions : Definitions
        The settings and indicator catalogue in force (:func:`hkc.definitions.deployment.load_definitions`).
    manifest : dict or None
        The latest run's manifest (``run.json``): as-of date, counts, cohort size, hashes, versions.
        ``None`` gives a record that says no run was given (:data:`NO_RUN`).
    audit : dict or None
        The latest run's audit result (``audit.json``, auditor's or partner copy); it is shown as
        the partner copy, small cells suppressed.  ``None``: :data:`NO_AUDIT`.
    audit_spec : AuditSpec
        The audit specification (small-cell threshold, flag rule, audited characteristics).

    Returns
    -------
    str
        Markdown: a tier 1 summary, then tier 2 sections 1–8.  Sections the partnership must write
        are marked :data:`TO_BE_COMPLETED`; every value from data or configuration is escaped.
    """
    lines = [
        *heading(1, TITLE),
        *paragraph(f"Generated by hkc {__version__} in the spirit of the UK Algorithmic Transparency Recording "
               f"Standard (tier 1 summary, tier 2 detail). Entries marked \"{TO_BE_COMPLETED}\" are not generated: "
               f"the partnership must write them before the record is published."),
        *_summary(definitions),
        *heading(2, "Tier 2: detail"),
        *_oversight(definitions),
        *_rules(definitions),
        *_catalogue(definitions, audit_spec),
        *_data(audit_spec, manifest),
        *_run(manifest),
        *audit_section(audit, audit_spec),
        *_limitations(definitions, audit_spec),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
