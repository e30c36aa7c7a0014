"""A draft data protection impact assessment under the headings of the Data Protection Act 2018, s.64.

Section 64(3) asks for (a) a general description of the envisaged processing, (b) an assessment of the
risks to the rights and freedoms of data subjects, (c) the measures envisaged to address those risks,
and (d) safeguards, security measures and mechanisms to protect personal data and demonstrate
compliance.  This module fills each heading from :class:`~hkc.transparency.facts.Facts` (what the
definitions say, what the run did, what the history holds) and asks the partnership what only the
controller can say: the controller, the lawful basis, the purpose, likelihood and severity, the
data protection officer's advice and the sign-off.  :func:`dpia_document` adds the equality impact
note (:mod:`hkc.transparency.equality`) and the ALGO-CARE checklist (:mod:`hkc.transparency.algocare`):
``hkc dpia`` writes the three together.
"""

from __future__ import annotations

import hkc.transparency.statements as say
from hkc.transparency.algocare import algocare_section
from hkc.transparency.atrs import TOOL_NAME
from hkc.transparency.document import Document, Field, Section, asked, grid, known
from hkc.transparency.equality import equality_sections
from hkc.transparency.facts import Facts
from hkc.transparency.record import generated, legend
from hkc.transparency.statements import AUDIT, BACKTEST, HISTORY, RUN, SOURCE_SETTINGS
from hkc.transparency.tables import NO_RUN, extract_files, sensitive_rows

__all__ = ["dpia_document", "dpia_sections", "RISKS", "TITLE"]

TITLE = f"Data protection impact assessment (draft), equality impact note and ALGO-CARE checklist: {TOOL_NAME}"
RESIDUAL = ("The likelihood and severity of this risk after the measures in section 3, and who accepts the "
            "residual risk.")
HKC_LOGS = "hkc's commands and logs"
HKC = "hkc's design"


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _why_required(f: Facts) -> list[str]:
    e = f.settings.eligibility
    intel = [i.label for i in f.definitions.catalogue.indicators.values() if i.intelligence]
    scored = f"({_n(f.run('scored'))} people in the run as of {f.run('as_of')})" if f.manifest else ""
    return [
        f"Everyone in each extract is scored and ranked {scored}: systematic evaluation of people from police and "
        f"partner records.".replace("  ", " "),
        f"The people listed are children aged {e.min_age} to {e.max_age}." if e.max_age < 18 else
        f"The people listed are aged {e.min_age} to {e.max_age}, children among them.",
        "Ethnicity (racial or ethnic origin) is read for the fairness audit: sensitive processing (s.35(8)).",
        *([f"Intelligence is used ({', '.join(intel)})."] if intel else []),
        "Lists are shared with partner agencies, and a listing may affect how agencies treat a child.",
    ]


def _screening(f: Facts) -> Section:
    return Section("0", "DPIA: screening and responsibility", (
        asked("0.1", "Controller", "Who is the controller for each part of the processing (the chief officer of "
                                   "police for the police's processing; each partner for what it does with its "
                                   "pack), and whether any are joint controllers (s.58)."),
        known("0.2", "Why an assessment is required", "Section 64(1) requires an assessment before processing that "
                                                     "is likely to result in a high risk to individuals. hkc's "
                                                     "processing has these features:", _why_required(f),
              basis=[SOURCE_SETTINGS, RUN] if f.manifest else [SOURCE_SETTINGS]),
        asked("0.3", "Regime", "The regime for each organisation's processing: Part 3 of the Act (law enforcement "
                               "purposes, s.31) for the police, or the UK GDPR (Article 35) for a partner's "
                               "safeguarding use of its pack."),
        asked("0.4", "Data protection officer", "The data protection officer(s) consulted, and when."),
    ))


def _description(f: Facts) -> Section:
    subjects = []
    if f.manifest:
        links = ", ".join(getattr(f.settings.partner, "link_types", ())) or "none"
        subjects = grid(["People", "In the run as of " + str(f.run("as_of"))], [
            ("in the extract, scored on both axes", _n(f.run("scored"))),
            ("eligible under the rules", _n(f.run("eligible"))),
            ("listed", _n(f.run("cohort_size"))),
            (f"on the periphery list (linked to a listed person; links partners see: {links})",
             _n(f.run("periphery", "not counted by this run"))),
            ("removed since the previous run", _n(f.run("removed")) if f.run("previous_as_of") else "first run"),
        ])
    return Section("1", "DPIA: general description of the processing (s.64(3)(a))", (
        known("1.1", "Nature of the processing", say.summary(f),
              "Automated steps: checking each input row, scoring, applying the eligibility rules, ranking, peer "
              "mapping, the fairness audit and writing the packs. Human steps: the meeting's decision about each "
              "person, recorded with its reason.", basis=[SOURCE_SETTINGS, "features/indicators.toml"]),
        known("1.2", "Data subjects", subjects or NO_RUN,
              "People recorded only as victims or witnesses are scored on the vulnerability axis, never the risk "
              "axis, and appear in the history and the police view like anyone with a score.",
              basis=[RUN, "features/indicators.toml"] if f.manifest else ["features/indicators.toml"]),
        known("1.3", "Personal data", "Sensitive columns the extract carries:",
              grid(["Column", "Why it is sensitive"], sensitive_rows()), basis=["the input contract"]),
        known("1.4", "Sources", extract_files(), "Each event carries its source: police, education, social care, "
                                                 "health or youth justice.", basis=["the input contract"],
              ask="The source systems each extract is drawn from and who produces and checks it."),
        known("1.5", "Recipients and flows", *say.packs(f), *say.disclosure_log(f, names=True), basis=_basis(f)),
        known("1.6", "Retention", *say.retention(f, names=True), basis=_basis(f)),
        known("1.7", "Purpose", f"As designed, hkc lists, {say.who_is_listed(f)}, so that a multi-agency "
                                f"partnership can decide whom to discuss and what safeguarding support to offer. "
                                f"It is not designed for other purposes:", say.NOT_FOR, basis=[SOURCE_SETTINGS],
              ask="The purpose(s) as the controller states them, and the law enforcement purpose (s.31) if Part 3 "
                  "applies."),
        known("1.8", "Scale and frequency", *(say.scale(f) or [NO_RUN]), basis=_basis(f)[1:] or ["no run was given"]),
        asked("1.9", "Lawful basis", "The lawful basis (s.35(2): the function the processing is necessary for, and "
                                     "the law that sets it), and for sensitive processing (ethnicity) strict "
                                     "necessity, the Schedule 8 condition relied on and the appropriate policy "
                                     "document (s.35(5), s.42)."),
        known("1.10", "Necessity and proportionality", [
            f"Listing needs the evidence floor (a recent reported weapon-related event with a qualifying outcome "
            f"and a risk score of at least {f.settings.eligibility.min_risk_score:g}); hkc lists "
            f"{f.settings.cohort.describe()}.",
            "Sex, ethnicity, area and care status are never inputs to scores, eligibility or ranking.",
            f"Partners receive only the allow-listed fields ({', '.join(f.settings.partner.fields)}) under a keyed "
            f"pseudonym, never the person id or scores.",
            f"Person-level history is deleted after {f.settings.retention.days:,} days.",
        ], basis=[SOURCE_SETTINGS],
              ask="Why the processing is necessary for the purpose and proportionate, and why less intrusive "
                  "means would not do."),
    ))


# The risks to data subjects hkc's design addresses, each with the measures of section 3 that answer it.
RISKS = {
    "R1": "Inaccurate, out-of-date or unproven records lead to a child being listed or described wrongly.",
    "R2": "The list falls unfairly on people of a particular ethnicity or sex (unlawful discrimination).",
    "R3": "Victims and witnesses are treated as if they were a risk to others.",
    "R4": "A listing labels a child, or the list is used beyond its purpose (for enforcement, or shared onwards).",
    "R5": "Data is kept longer than needed, building an index of everyone known to the police.",
    "R6": "Unauthorised access to, or disclosure of, the packs, the history or the output folders.",
    "R7": "People cannot learn that they are listed, who received their data, or how to challenge it.",
    "R8": "The meeting defers to the ranking instead of deciding (automation bias).",
    "R9": "The list does no better than chance, so the intrusion brings no benefit.",
}


def _evidence(f: Facts) -> dict[str, tuple[list, list[str]]]:
    """What hkc's own state shows about each risk, and where that came from."""
    e = f.settings.eligibility
    p = f.settings.partner
    unproven = getattr(p, "show_unproven", None)
    marking = getattr(f.settings.outputs, "protective_marking", None)
    h = f.history
    run = [RUN] if f.manifest else []
    history = [HISTORY] if h else []
    return {
        "R1": ([f"Weapon events with outcome {', '.join(e.non_qualifying_outcomes) or 'none'} make no one eligible; "
                f"intelligence counts only when corroborated and graded {e.usable_grade} or better.",
                say.quarantined(f),
                unproven is not None and ("Unproven allegations are shown to partners." if unproven else
                                          "Unproven allegations are left out of partner rationales.")],
               [SOURCE_SETTINGS, *run]),
        "R2": (say.audit_summary(f, chance=False), [AUDIT] if f.audit else ["no audit was given"]),
        "R3": (["A catalogue that lets a victim or witness role count on the risk axis is refused when it is loaded; "
                "vulnerability is shown beside the risk score, never added to it.",
                h and f"For the run as of {h.run_as_of} the history keeps rows for {h.stored_no_risk:,} people with no "
                      f"risk score at all (recorded only as victims, witnesses or for vulnerability)."],
               ["features/indicators.toml", *history]),
        "R4": ([f"Partners receive only the fields {', '.join(p.fields)}, under a keyed pseudonym; never the person "
                f"id or scores.",
                marking and f"Every page of the packs carries the protective marking {marking}.",
                h and h.run_disclosures and f"{len(h.run_disclosures)} pack(s) of the run as of {h.run_as_of} are in "
                                            f"the disclosure log, each with its audience and people."],
               [SOURCE_SETTINGS, *history]),
        "R5": (say.retention(f)[-1] if h else [say.FOLDER_RETENTION], [SOURCE_SETTINGS, *history]),
        "R6": (say.security(f)[0], [SOURCE_SETTINGS, *run]),
        "R7": (say.rights(f)[0], [SOURCE_SETTINGS, *history]),
        "R8": ([*say.oversight(f)[0][:2], say.decisions(f)], [SOURCE_SETTINGS, *history]),
        "R9": (say.performance(f)[:1] + say.error_rates(f), [*run, *([BACKTEST] if f.backtest else [])] or [HKC]),
    }


def _basis(f: Facts) -> list[str]:
    """The settings, and the run and the history when given."""
    return [SOURCE_SETTINGS, *([RUN] if f.manifest else []), *([HISTORY] if f.history else [])]


def _risks(f: Facts) -> Section:
    evidence = _evidence(f)
    fields: list[Field] = []
    for i, (code, risk) in enumerate(RISKS.items(), start=1):
        shown, basis = evidence[code]
        lines = [x for x in shown if isinstance(x, str) and x] + [y for x in shown if isinstance(x, list) for y in x]
        fields.append(known(f"2.{i}", f"{code}: {risk}", "What hkc's own state shows:", lines, basis=basis,
                            ask=RESIDUAL))
    return Section("2", "DPIA: assessment of the risks to the rights and freedoms of data subjects (s.64(3)(b))",
                   tuple(fields))


def _measures(f: Facts) -> Section:
    e = f.settings.eligibility
    small = f.audit_spec.disclosure.small_cell
    built = grid(["Measure in hkc", "Risks"], [
        (f"Evidence floor: a reported weapon-related event in the last {e.review_window_days} days with a qualifying "
         f"outcome and a risk score of at least {e.min_risk_score:g}; graded, corroborated intelligence only.", "R1"),
        ("A rationale naming the events behind every point, in every pack.", "R1, R8"),
        ("Risk and vulnerability are separate; victim and witness roles never count on the risk axis.", "R3"),
        (f"A fairness audit of every run, with intervals; partners' copy suppresses counts under {small}.", "R2, R6"),
        ("The list measured against a random draw and against prior knife events at every run.", "R9"),
        ("Partner packs: an allow-list of fields and a keyed pseudonym; unproven allegations left out unless the "
         "settings say otherwise; a protective marking on every page.", "R4, R6"),
        (f"Retention of {f.settings.retention.days:,} days enforced by hkc purge, logged without ids.", "R5"),
        ("Subject access, the disclosure log and the consultation log.", "R7"),
        ("No decision is made by hkc; the meeting's decisions are recorded with their reasons.", "R8"),
        ("Files private to the account that ran hkc; runs stored in one transaction; sealed partner workbooks.",
         "R6"),
    ])
    return Section("3", "DPIA: measures envisaged to address the risks (s.64(3)(c))", (
        known("3.1", "Measures built into hkc", built, basis=[SOURCE_SETTINGS, "audits/fairness.toml"]),
        asked("3.2", "Organisational measures", "The measures the partnership adds: the sharing agreement, training, "
                                                "review of each fairness audit before packs are released, the "
                                                "meeting's terms of reference, and what is done when a disparity is "
                                                "flagged."),
    ))


def _safeguards(f: Facts) -> Section:
    return Section("4", "DPIA: safeguards, security and demonstrating compliance (s.64(3)(d))", (
        known("4.1", "Security measures", *say.security(f), basis=[SOURCE_SETTINGS, RUN],
              ask="Where hkc and its data are kept, who has access, encryption at rest, backups and how access is "
                  "reviewed."),
        known("4.2", "Logging (s.62)", *say.logs(f), basis=[HKC_LOGS, *([HISTORY] if f.history else [])],
              ask="Who reviews the logs, how often, and who can read them; and the logs kept of access to the "
                  "machine and the files outside hkc."),
        known("4.3", "Demonstrating compliance", "Every run records the definitions' and inputs' SHA-256, hkc's "
                                                 "version and a fairness audit; this assessment and the transparency "
                                                 "record are generated from the same facts (hkc transparency).",
              basis=[RUN], ask="The record of processing activities (s.61), the appropriate policy document (s.42) "
                               "and the date this assessment is next reviewed."),
        known("4.4", "Data subjects' rights", *say.rights(f), basis=[HKC_LOGS, SOURCE_SETTINGS],
              ask="How requests are received and answered within the statutory time (s.45, s.46, s.47), who "
                  "answers them, and any restriction applied (s.44(4), s.45(4))."),
    ))


def _signoff() -> Section:
    return Section("5", "DPIA: consultation and sign-off", (
        asked("5.1", "Advice of the data protection officer", "The data protection officer's advice and whether it "
                                                              "was followed."),
        asked("5.2", "Prior consultation with the Commissioner (s.65)", "Whether the residual risk is high after the "
                                                                        "measures, and if so the date the Information "
                                                                        "Commissioner was consulted."),
        asked("5.3", "Approval", "Who approves the processing, the date, and the date of the next review."),
    ))


def dpia_sections(f: Facts) -> tuple[Section, ...]:
    return (_screening(f), _description(f), _risks(f), _measures(f), _safeguards(f), _signoff())


def dpia_document(f: Facts) -> Document:
    """The draft DPIA (s.64 headings), the equality impact note and the ALGO-CARE checklist for ``f``."""
    return Document(kind="data protection impact assessment", title=TITLE,
                    intro=("A draft for the data protection officer and the people who approve hkc: the data "
                           "protection impact assessment under the headings of the Data Protection Act 2018, s.64(3) "
                           "(sections 0 to 5), an equality impact note for the Public Sector Equality Duty (section "
                           "E) and the ALGO-CARE checklist (section C).", legend(f, before="the assessment is approved")),
                    sections=(*dpia_sections(f), *equality_sections(f), algocare_section(f)),
                    generated=generated(f))
