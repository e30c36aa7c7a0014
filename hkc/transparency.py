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

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hkc import __version__
from hkc.audit import findings, format_percent, is_number, suppress_small_cells
from hkc.definitions import AuditSpec, Definitions
from hkc.extract import CONTRACT, REQUIRED_FILES

__all__ = ["transparency_record", "markdown_text", "TO_BE_COMPLETED", "NO_RUN", "NO_AUDIT", "COLUMN_USES"]

TITLE = "Algorithmic transparency record: hkc, the knife-carrying safeguarding cohort"
TO_BE_COMPLETED = "To be completed by the partnership."
NO_RUN = ("No run was given, so this record shows no figures from a run. Regenerate it from the latest run "
          "(hkc transparency --run RUN_FOLDER) before publishing.")
NO_AUDIT = ("No fairness audit was given, so this record shows no audit figures. Every refresh writes one "
            "(audit/audit.json in the run folder); regenerate the record from the latest run before publishing.")

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

# Always escaped; `_` only at a word's edge (CommonMark never reads `knife_violence` as emphasis).
_SPECIAL = re.compile(r"([\\`*\[\]{}|~$!#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENTITY = re.compile(r"&(?=#?\w+;)")  # an `&` that would start an entity such as &lt; or &#124;


def markdown_text(value: Any) -> str:
    """``value`` as inline Markdown that renders exactly as written, on one line.

    Line breaks become spaces and control characters are dropped; ``<`` and ``>`` (and an ``&`` that
    would start an entity) become entities, so no HTML, script or autolink gets through; Markdown
    punctuation is backslash-escaped, including ``|`` so a value cannot split a table cell and ``*``
    so ``Black*M`` stays as written; a leading ``-``, ``+`` or ``1.`` cannot start a list.

    >>> markdown_text("A|B <b>*x*</b>")
    'A\\\\|B &lt;b&gt;\\\\*x\\\\*&lt;/b&gt;'
    """
    text = _CONTROL.sub("", " ".join(str(value).split()))
    text = _ENTITY.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    text = re.sub(r"^([-+=])", r"\\\1", text)
    return re.sub(r"^(\d{1,9})([.)])(?=\s|$)", r"\1\\\2", text)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(markdown_text(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(markdown_text(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _bullets(items: Iterable[str]) -> list[str]:
    return [f"- {markdown_text(item)}" for item in items] + [""]


def _para(text: str) -> list[str]:
    return [markdown_text(text), ""]


def _heading(level: int, text: str) -> list[str]:
    return ["#" * level + " " + markdown_text(text), ""]


def _todo(*topics: str, known: Sequence[tuple[str, Any]] = ()) -> list[str]:
    """An item table: ``known`` entries, then those the partnership must write, marked in bold."""
    return (["| Item | Entry |", "| --- | --- |"]
            + [f"| {markdown_text(k)} | {markdown_text(v)} |" for k, v in known]
            + [f"| {markdown_text(t)} | **{TO_BE_COMPLETED}** |" for t in topics] + [""])


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _rate(value: Any, ci: Any, confidence: float) -> str:
    if not is_number(value):
        return "undefined" if value is None else str(value)
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"{format_percent(value)} ({round(100 * confidence):g}% CI {format_percent(ci[0])}–{format_percent(ci[1])})"
    return format_percent(value)


def _ratio(value: Any, ci: Any, confidence: float) -> str:
    if not is_number(value):
        return "undefined" if value is None else str(value)
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"{value:.2f} ({round(100 * confidence):g}% CI {ci[0]:.2f}–{ci[1]:.2f})"
    return f"{value:.2f}"


# --------------------------------------------------------------------------------------------
# Sections


def _summary(definitions: Definitions) -> list[str]:
    s = definitions.settings
    e = s.eligibility
    listed = (f"the {s.cohort.size} highest-ranked eligible people" if s.cohort.method == "top_n"
              else f"every eligible person with a risk score of at least {s.cohort.min_score:g}")
    n = len(definitions.catalogue.indicators)
    return [
        *_heading(2, "Tier 1: summary"),
        *_heading(3, "What the tool does"),
        *_para(f"Each refresh (intended quarterly), hkc reads an extract of police and partner records about people "
               f"and events, scores every person on two separate axes from a published catalogue of {n} indicators "
               f"(risk: harm the person may cause, such as weapon offences and weapon intelligence; vulnerability: "
               f"harm done to them, shown beside the risk score and never added to it), and lists {listed} aged "
               f"{e.min_age} to {e.max_age} for review by a multi-agency partnership meeting. Every entry carries a "
               f"rationale naming the recorded events behind each point, and every refresh runs a fairness audit."),
        *_heading(3, "Why it is used"),
        *_para("To help a multi-agency partnership (police, children's social care, youth justice, education, "
               "health) offer safeguarding support to children and young adults at risk of carrying knives, by a "
               "consistent, evidenced, reproducible and audited process."),
        *_heading(3, "What it is not for"),
        *_bullets([
            "It is not evidence of offending and does not find that anyone has done anything: a score summarises "
            "recorded events, and records can be wrong, incomplete or shaped by where police look.",
            "It is not for enforcement decisions on its own (such as stop and search, arrest, charging or bail), "
            "nor for decisions about housing, education, employment or immigration.",
            "It is not a list to be shared beyond the partnership's sharing agreement or used to label anyone.",
            "It makes no decision: the partnership meeting decides, person by person, and records its decision.",
        ]),
        *_heading(3, "Organisation and contact"),
        *_todo("Organisation(s) responsible", "Contact for questions or challenges", "Web page for this record"),
    ]


def _oversight(definitions: Definitions) -> list[str]:
    e = definitions.settings.eligibility
    return [
        *_heading(3, "1. Owner and responsibility"),
        *_todo("Organisation and team", "Senior responsible owner", "Who runs each refresh",
               "Data protection officer", known=[("Software", f"hkc {__version__}")]),
        *_heading(3, "2. Scope and benefits"),
        *_todo("Geographic area covered", "Benefits sought and how they are measured", "Alternatives considered"),
        *_heading(3, "3. Decision-making and human oversight"),
        *_bullets([
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
        *_todo("How a person or family can ask about or challenge an entry",
               "How removals decided by the meeting are recorded, and confirmation that no informal list of "
               "removed people is kept",
               "Who reviews each fairness audit, and what happens when a disparity is flagged",
               "Training for meeting members"),
    ]


def _rules(definitions: Definitions) -> list[str]:
    s = definitions.settings
    e = s.eligibility
    intel = (f"at least {e.min_intelligence_reports} weapon intelligence reports"
             + (" on different dates" if e.intelligence_distinct_dates else ""))
    outcomes = ", ".join(e.non_qualifying_outcomes) or "none"
    cohort = (f"the {s.cohort.size} highest-ranked eligible people" if s.cohort.method == "top_n"
              else f"every eligible person with a risk score of at least {s.cohort.min_score:g}")
    rag = (f"red at a risk score of {s.rag.red:g} or more, amber at {s.rag.amber:g} or more, green below"
           if s.rag.method == "fixed" else
           f"red for the top {s.rag.red_share:.0%} of the cohort, amber for the next {s.rag.amber_share:.0%}, "
           f"green for the rest")
    return [
        *_heading(3, "4. How the list is produced"),
        *_heading(4, "Eligibility (config/hkc.toml [eligibility])"),
        *_para("A person can be listed only when all of these hold at the as-of date:"),
        *_bullets([
            f"aged {e.min_age} to {e.max_age} (whole years);",
            f"at least one weapon-related risk event in the last {e.review_window_days} days whose outcome is not "
            f"one of: {outcomes}; or, when the only weapon evidence is intelligence, {intel} in that window;",
            f"a risk score of at least {e.min_risk_score:g}.",
        ]),
        *_para("No one is listed on vulnerability alone, on stale history, or on a single uncorroborated "
               "intelligence report."),
        *_heading(4, "Cohort and bands (config/hkc.toml [cohort], [rag], [vulnerability])"),
        *_bullets([
            f"Listed: {cohort}, ranked by risk score, then the most recent weapon-related event, then person id "
            f"(the same data always gives the same ranks).",
            f"RAG band ({s.rag.method}): {rag}.",
            f"Vulnerability band: high at {s.vulnerability.high:g} or more, medium at {s.vulnerability.medium:g} or "
            f"more, low below; shown beside the risk band, never added to it.",
        ]),
        *_heading(4, "Points"),
        *_para("Each counting event earns gravity × evidence multiplier (by outcome, or by intelligence grade) × role "
               "multiplier × 0.5^(age in days / half-life). A person's k-th strongest event of the same type "
               "(k = 0, 1, …) is further multiplied by the decay^k and counts nothing from k = cap on; events older "
               "than the lookback count nothing. A score is the sum of its axis's points, and the rationale's "
               "points add up to it."),
    ]


def _catalogue(definitions: Definitions, audit_spec: AuditSpec) -> list[str]:
    cat = definitions.catalogue
    s = definitions.settings
    rows = [(i.code, i.label, i.axis, ", ".join(i.roles), f"{i.gravity:g}", f"{i.half_life_days:g}",
             i.lookback_days, i.frequency_cap, f"{i.frequency_decay:g}", i.evidence, _yes(i.weapon),
             _yes(i.intelligence), _yes(i.proactive)) for i in cat.indicators.values()]
    grade = ", ".join(f"{k} {v:g}" for k, v in cat.grade_source.items())
    assessment = ", ".join(f"{k} {v:g}" for k, v in cat.grade_assessment.items())
    return [
        *_heading(4, f"Indicator catalogue (features/indicators.toml, version {cat.version})"),
        *_table(["Code", "Label", "Axis", "Roles", "Gravity", "Half-life (days)", "Lookback (days)", "Cap", "Decay",
                 "Evidence", "Weapon", "Intelligence", "Proactive"], rows),
        *_para("Gravity weights are ordinal judgements of relative harm, not estimates from data; they must be "
               "reviewed by the partnership (see the limitations below)."),
        *_table(["Evidence multiplier", "Values"], [
            ("by outcome", ", ".join(f"{k} {v:g}" for k, v in cat.outcome_multipliers.items())),
            ("by role", ", ".join(f"{k} {v:g}" for k, v in cat.role_multipliers.items())),
            ("by intelligence grade", f"source ({grade}) × assessment ({assessment}); ungraded {cat.grade_missing:g}"),
        ]),
        *_heading(4, "Model"),
        *_para("No statistical or machine-learning model is used: the score is the transparent sum above. A model "
               "could be shown beside it only after a temporal backtest shows that it ranks better, and would be "
               "described here."),
        *_heading(4, "Definitions in force"),
        *_table(["File", "SHA-256"], [
            (f"config/hkc.toml ({definitions.source})", s.sha256 or "(built-in defaults, not read from a file)"),
            (f"features/indicators.toml (version {cat.version})", cat.sha256),
            ("audits/fairness.toml" if audit_spec.path else "audits/fairness.toml (built-in defaults)",
             audit_spec.digest()),
        ]),
    ]


def _data(audit_spec: AuditSpec, manifest: Mapping | None) -> list[str]:
    rows = [(name, col.name, _yes(col.required), COLUMN_USES.get((name, col.name), NO_USE))
            for name, columns in CONTRACT.items() for col in columns if name != "population"]
    attrs = ", ".join(audit_spec.attributes.columns)
    lines = [
        *_heading(3, "5. Data"),
        *_para(f"An extract is a folder of files: {', '.join(REQUIRED_FILES)} (required) and population "
               f"(optional: resident population counts by area, age band, sex and ethnicity, used only as a "
               f"baseline in the fairness audit). Every row is either used or quarantined with its reason, and the "
               f"counts reconcile (read = used + quarantined)."),
        *_table(["File", "Column", "Required", "Used for"], rows),
        *_heading(4, "Protected characteristics"),
        *_para(f"The audited characteristics ({attrs}) are never inputs to scores, eligibility, ranking or RAG "
               f"bands; they are read so that every refresh can audit who the list falls on. Age (from date of "
               f"birth) sets the eligibility range."),
    ]
    if manifest and isinstance(manifest.get("counts"), Mapping):
        lines += [*_heading(4, "Quantities in the latest run"),
                  *_table(["File", "Rows read", "Used", "Quarantined"],
                          [(name, _count(c.get("read")), _count(c.get("used")), _count(c.get("rejected")))
                           for name, c in manifest["counts"].items()])]
    return lines + _todo("Legal basis for processing", "Data sharing agreement and who receives which outputs",
                         "Retention period and deletion", "Access controls and storage")


def _run(manifest: Mapping | None) -> list[str]:
    lines = _heading(3, "6. The latest run")
    if not manifest:
        return lines + _para(NO_RUN)
    previous = manifest.get("previous_as_of")
    rows = [
        ("As-of date", manifest.get("as_of")),
        ("Extract date", manifest.get("extract_date")),
        ("People scored", _count(manifest.get("scored"))),
        ("Eligible", _count(manifest.get("eligible"))),
        ("Listed (cohort size)", _count(manifest.get("cohort_size"))),
        ("Removed since the previous run", f"{_count(manifest.get('removed'))} (previous run as of {previous})"
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
    return lines + _table(["Item", "Value"], [(k, "not recorded" if v is None else v) for k, v in rows])


def _partner_copy(audit: dict, threshold: int) -> dict:
    return audit if "suppression" in audit else suppress_small_cells(audit, threshold=threshold)


def _of(row: Mapping, key: str, metric: str) -> Any:
    """``row[key][metric]``; in a partner copy a withheld ``row[key]`` may be the string itself."""
    value = row.get(key)
    return value.get(metric) if isinstance(value, Mapping) else value


def _selection_tables(audit: Mapping, conf: float) -> list[str]:
    population = audit.get("population", {}).get("description") or audit.get("selection", {}).get(
        "population", "the audited population")
    lines = []
    for attr, a in audit.get("attributes", {}).items():
        ref = a["reference"]
        lines += _heading(4, f"By {attr}: reference group {ref}, among {population}")
        rows = []
        for g in a["groups"]:
            flags = g.get("flags") if isinstance(g.get("flags"), list) else []
            rows.append((g["group"], _count(g.get("n")), _count(g.get("selected")),
                         _rate(g.get("selection_rate"), _of(g, "ci", "selection_rate"), conf),
                         "reference" if g["group"] == ref else
                         _ratio(_of(g, "ratio", "selection_rate"), _of(g, "ratio_ci", "selection_rate"), conf),
                         ", ".join(m.replace("_", " ") for m in flags)))
        lines += _table(["Group", "People", "Selected", "Selection rate", f"Ratio to {ref}", "Flagged"], rows)
    return lines


def _baseline_tables(audit: Mapping, conf: float) -> list[str]:
    base = audit.get("baselines")
    if not isinstance(base, Mapping) or not base.get("attributes"):
        return []
    names = {k: v.get("label", k) for k, v in base.get("baselines", {}).items()}
    lines = _heading(4, "Cohort composition against each baseline (none privileged)")
    for attr, a in base["attributes"].items():
        rows = [(attr, g["group"], _rate(g.get("cohort_share"), g.get("cohort_share_ci"), conf),
                 *[_ratio(e.get("ratio"), e.get("ratio_ci"), conf)
                   for e in (g.get("baselines", {}).get(name, {}) for name in names)])
                for g in a["groups"]]
        lines += _table(["Attribute", "Group", "Share of the cohort",
                         *[f"Share ratio vs {label}" for label in names.values()]], rows)
    return lines


def _audit(audit: dict | None, audit_spec: AuditSpec) -> list[str]:
    lines = _heading(3, "7. Fairness audit of the latest run")
    if not audit:
        return lines + _para(NO_AUDIT)
    threshold = audit_spec.disclosure.small_cell
    shown = _partner_copy(audit, threshold)
    t = {"confidence": audit_spec.bootstrap.confidence, "ratio_low": audit_spec.flags.ratio_low,
         "ratio_high": audit_spec.flags.ratio_high, "require_interval": audit_spec.flags.require_interval,
         **shown.get("thresholds", {})}
    conf = t["confidence"]
    prov = shown.get("provenance", {})
    small = shown["suppression"]["threshold"]
    rule = f"outside {t['ratio_low']:g} to {t['ratio_high']:g}" + (" and its interval excludes 1"
                                                                   if t["require_interval"] else "")
    lines += _para(
        f"Audited: {_count(shown.get('n'))} people; selected means {shown.get('selection', {}).get('label')}. "
        f"Intervals are {round(100 * conf):g}% bootstrap percentile intervals ({_count(prov.get('resamples'))} "
        f"resamples, seed {prov.get('seed')}). A disparity is flagged when the ratio to the reference group lies "
        f"{rule}. Counts under {small} are shown as <{small} and the rates resting on them are withheld; groups "
        f"that small raise no flag.")
    lines += _selection_tables(shown, conf)
    flags = shown.get("flags", [])
    lines += _heading(4, "Flags")
    lines += (_bullets(f"{f['attribute']} {f['group']} against {f['reference']}: {f['metric'].replace('_', ' ')} "
                       f"ratio {_ratio(f.get('ratio'), f.get('ci'), conf)}" for f in flags)
              if flags else _para("No disparity was flagged at these thresholds."))
    lines += _baseline_tables(shown, conf)
    sentences = findings(shown)
    lines += [*_heading(4, "Findings"), *(_bullets(sentences) if sentences else _para("No findings were generated."))]
    retro = shown.get("retrospective")
    if isinstance(retro, Mapping):
        lines += _heading(4, "Retrospective audit: the list of a year earlier against what happened next")
        past = retro.get("audit")
        if retro.get("available") and isinstance(past, dict) and "suppression" in past:
            lines += _para(f"The list the same rules would have produced as of {retro.get('as_of')}, against "
                           f"{retro.get('outcome', 'the outcome')}.")
            sentences = findings(past)
            lines += _bullets(sentences) if sentences else _para("No findings were generated.")
        elif retro.get("available"):  # a partner copy made before nested audits were suppressed
            lines += _para("Its figures are in the run's audit report; this copy of the audit cannot show them "
                           "safely. Regenerate the record from the auditor's copy (audit/audit.json).")
        else:
            lines += _para(f"Not available: {retro.get('reason', 'no reason recorded')}.")
    return lines


def _limitations(definitions: Definitions, audit_spec: AuditSpec) -> list[str]:
    inds = definitions.catalogue.indicators.values()
    proactive = ", ".join(i.label for i in inds if i.proactive) or "none in this catalogue"
    intel = ", ".join(i.label for i in inds if i.intelligence) or "none in this catalogue"
    n = audit_spec.disclosure.small_cell
    return [
        *_heading(3, "8. Risks and known limitations"),
        *_bullets([
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
        *_todo("Date of the last review of the weights, and who approved it", "Data protection impact assessment",
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
        *_heading(1, TITLE),
        *_para(f"Generated by hkc {__version__} in the spirit of the UK Algorithmic Transparency Recording "
               f"Standard (tier 1 summary, tier 2 detail). Entries marked \"{TO_BE_COMPLETED}\" are not generated: "
               f"the partnership must write them before the record is published."),
        *_summary(definitions),
        *_heading(2, "Tier 2: detail"),
        *_oversight(definitions),
        *_rules(definitions),
        *_catalogue(definitions, audit_spec),
        *_data(audit_spec, manifest),
        *_run(manifest),
        *_audit(audit, audit_spec),
        *_limitations(definitions, audit_spec),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
