"""The Algorithmic Transparency Recording Standard's tiers, field by field, from what hkc knows.

The sections and fields follow the ATRS template version 3.0 (reference numbers and attribute names
as in the template): metadata and title information, tier 1 (the overview for the public) and tier
2 (owner and responsibility; description and rationale; decision-making process; tool, model and
data specification; risks, mitigations and impact assessments).  Each field is filled from the
definitions, the run, its audit, the history and the backtest where hkc knows the answer, and asks
the partnership where only it can answer (who owns the tool, the legal and contractual facts, the
contact); a field hkc knows in part is filled as far as it can and the rest asked.
"""

from __future__ import annotations

import hkc.transparency.statements as say
from hkc import __version__
from hkc.transparency.document import Field, Section, asked, grid, known
from hkc.transparency.facts import Facts, licence
from hkc.transparency.statements import AUDIT, BACKTEST, HISTORY, RUN, SOURCE_SETTINGS
from hkc.transparency.tables import (
    NO_RUN,
    catalogue_table,
    columns_table,
    counts_table,
    definitions_table,
    extract_files,
    multipliers_table,
    sensitive_rows,
)

__all__ = ["atrs_sections", "STANDARD_VERSION", "TOOL_NAME"]

STANDARD_VERSION = "3.0"
TOOL_NAME = "hkc, the knife-carrying safeguarding cohort"
HKC = f"hkc {__version__}"
DEFINITIONS = "the definitions (config/hkc.toml, features/indicators.toml, audits/fairness.toml)"


def _people(f: Facts) -> str:
    return "children" if f.settings.eligibility.max_age < 18 else "children and young adults"


def _runner(f: Facts) -> str | None:
    h = f.history
    if h is None or not h.run_disclosures:
        return None
    return (f"The disclosure log records who ran each refresh (the run as of {h.run_as_of} on "
            f"{str(h.run_disclosures[0]['disclosed_at'])[:10]}); staff names are not published here.")


def _title(f: Facts) -> Section:
    e = f.settings.eligibility
    runs = f"; the history holds {len(f.history.runs)} run(s) since {f.history.runs[0]}" if f.history else ""
    return Section("0", "Metadata and title information", (
        known("0.2", "Standard version", f"{STANDARD_VERSION} (the ATRS template this record follows)",
              basis=[HKC]),
        asked("0.3", "Organisation type", "The type of organisation that publishes this record (for example a "
                                         "police force, or a local authority for a multi-agency partnership)."),
        asked("0.4", "Function", "The tool's function from the ATRS repository's list (hkc serves policing and "
                                 "children's safeguarding)."),
        asked("0.5", "Capability", "The tool's capability from the ATRS repository's list (hkc scores and ranks "
                                   "people by published rules; it uses no machine learning unless a model is "
                                   "enabled)."),
        asked("0.6", "Task", "The tool's task from the ATRS repository's list (hkc prioritises people for review "
                             "by a meeting)."),
        asked("0.7", "Tags", "The tags under which the record is to be found."),
        asked("0.8", "Date of completion", "The date the partnership approves this record for publication."),
        known("0.9", "Date updated", f"This version was generated on {f.today}"
              + (f" from the run as of {f.run('as_of')}" if f.manifest else "") + ".", basis=[HKC]),
        asked("0.10", "Date archived", "The date the record is archived, when hkc is no longer used."),
        known("0.11", "Title", f"Algorithmic transparency record: {TOOL_NAME}", basis=[HKC]),
        asked("0.12", "Organisation name", "The full name of the organisation that publishes this record and is "
                                           "responsible for the use of hkc."),
        asked("0.13", "Phase", "The phase hkc is in (pre-deployment, beta or pilot, production, retired)"
                               + runs + "."),
        asked("0.14", "Region", "The primary region over which hkc affects the public (the force or local "
                                "authority area)."),
        known("0.15", "One sentence description",
              f"Lists {_people(f)} aged {e.min_age} to {e.max_age} with recent, evidenced weapon-related records "
              f"for review by a multi-agency meeting, which decides what safeguarding support to offer.",
              basis=[SOURCE_SETTINGS]),
    ))


def _tier1(f: Facts) -> Section:
    return Section("1", "Tier 1: overview", (
        known("1.1", "Name", TOOL_NAME, basis=[HKC]),
        known("1.2", "Description", say.summary(f),
              f"Why it is used: to help a multi-agency partnership (police, children's social care, youth justice, "
              f"education, health) offer safeguarding support to {_people(f)} at risk of carrying knives, by a "
              f"consistent, evidenced, reproducible and audited process. What it is not for is set out under 2.2.2.",
              basis=[SOURCE_SETTINGS, "features/indicators.toml"]),
        asked("1.3", "Website URL", "The web page where this record and further information about hkc's use are "
                                    "published."),
        asked("1.4", "Contact email", "A team email address for questions and challenges about hkc."),
    ))


def _owner(f: Facts) -> Section:
    runner = _runner(f)
    team_q = "The full name of the team responsible for using hkc and for its refreshes."
    lic = licence()
    return Section("2.1", "Tier 2: owner and responsibility", (
        asked("2.1.1", "Organisation or department", "The organisation responsible for the use of hkc (and, for "
                                                    "a partnership, which organisation is the controller)."),
        known("2.1.2", "Team", runner, basis=[HISTORY], ask=team_q) if runner else asked("2.1.2", "Team", team_q),
        asked("2.1.3", "Senior responsible owner", "The name and role of the senior responsible owner."),
        known("2.1.4", "External supplier involvement",
              f"The software is hkc {__version__}" + (f", under the {lic} licence" if lic else "")
              + (f" (code commit {f.run('git_commit')})" if f.run("git_commit") else "")
              + ". It runs where the partnership installs it; it has no online service of its own.",
              basis=[HKC, RUN], ask="Whether an external supplier installs, hosts, runs or changes hkc or its "
                                    "definitions for the partnership."),
        asked("2.1.4.1", "External supplier", "If a supplier is involved: its name."),
        asked("2.1.4.2", "Companies House Number", "If a supplier is involved: its Companies House number."),
        asked("2.1.4.3", "External supplier role", "If a supplier is involved: its role."),
        asked("2.1.4.4", "Procurement procedure type", "If a supplier is involved: the procurement procedure."),
        asked("2.1.4.5", "Data access terms", "If a supplier is involved: the terms of its access to the data."),
    ))


def _rationale(f: Facts) -> Section:
    p, pl = f.settings.peers, f.settings.places
    e = f.settings.eligibility
    h = f.history
    recorded = None
    if h is not None:
        recorded = (f"The history records {h.interventions:,} intervention(s) for {h.intervention_people:,} "
                    f"person(s), the basis for evaluating the support offered." if h.interventions else
                    "The history records no intervention yet (hkc interventions import records what the "
                    "partnership did, the basis for evaluating the support offered).")
    chance = f.run("chance") or (f.audit or {}).get("chance") or {}
    measured = (f"hkc measures whether the list picks out the people who go on to be involved: {chance['sentence']}"
                if chance.get("sentence") else None)
    benefit_q = ("The benefits sought for children, families and the partnership, how each is measured, and the "
                 "evaluation of the support offered.")
    return Section("2.2", "Tier 2: description and rationale", (
        known("2.2.1", "Detailed description", *say.eligibility(f),
              f"Peers and places: people co-involved in the same occurrences within {p.lookback_days} days are linked "
              f"(recency half-life {p.half_life_days:g} days); up to {p.max_periphery} people linked to a listed "
              f"person are named on a periphery list with the link's type, and the {pl.top_n} places with most "
              f"knife-related activity in the last {pl.lookback_days} days are listed for contextual safeguarding.",
              basis=[SOURCE_SETTINGS, "features/indicators.toml"]),
        known("2.2.2", "Scope",
              f"Designed for one scenario: a multi-agency partnership choosing, each quarter, which {_people(f)} aged "
              f"{e.min_age} to {e.max_age} with recent, evidenced weapon-related records to discuss and offer support. "
              f"Everyone in the extract is scored; only people who meet the eligibility rules can be listed. It was "
              f"not designed for:", say.NOT_FOR, basis=[SOURCE_SETTINGS, HKC]),
        known("2.2.3", "Benefit", measured, recorded, basis=[RUN, HISTORY], ask=benefit_q)
        if measured or recorded else asked("2.2.3", "Benefit", benefit_q),
        asked("2.2.4", "Previous process", "How people were chosen for discussion before hkc (for example, referral "
                                           "by professionals), and what changed."),
        known("2.2.5", "Alternatives considered",
              "hkc measures its list against simple alternatives on the extract's own history: a random draw of the "
              "same size from the eligible, and the people with most prior knife events; hkc backtest adds "
              "statistical models, each used only if it ranks better than the matrix by a margin whose interval "
              "excludes zero.", basis=[HKC],
              ask="The non-algorithmic alternatives considered (for example, professional referral alone) and why "
                  "this approach was chosen."),
    ))


def _process(f: Facts) -> Section:
    scale = say.scale(f) or [NO_RUN]
    return Section("2.3", "Tier 2: decision-making process", (
        known("2.3.1", "Process integration",
              "Each refresh (intended quarterly) writes the police meeting pack and the partners' pseudonymised pack "
              "beside a fairness audit. The partnership meeting reviews every entry and decides, person by person, "
              "what support or safeguarding response to offer; hkc's ranking only orders the discussion and makes no "
              "decision. Decisions are written in the partner workbook and read back into the history.",
              basis=[HKC]),
        known("2.3.2", "Provided information", *say.packs(f), basis=[SOURCE_SETTINGS, "[partner] fields"]),
        known("2.3.3", "Frequency and scale of usage", *scale, basis=[RUN, HISTORY] if f.manifest else [HKC]),
        known("2.3.4", "Human decisions and review", *say.oversight(f), basis=[SOURCE_SETTINGS, HISTORY],
              ask="Who sits on the partnership meeting, how it reaches and records its decisions, and how often it "
                  "reviews each person."),
        asked("2.3.5", "Required training", "The training that people who run refreshes and meeting members "
                                            "receive (reading a rationale, the audit, the limits of the data)."),
        known("2.3.6", "Appeals and review", *say.rights(f), basis=[HKC, SOURCE_SETTINGS, HISTORY],
              ask="How people and families are told about hkc, and how they can ask about, challenge or complain "
                  "about an entry: to whom, within what time, and who decides."),
    ))


def _tool(f: Facts) -> Section:
    model = f.run("model")
    tracking = f.settings.tracking
    runner = _runner(f)
    return Section("2.4.1", "Tier 2: tool specification", (
        known("2.4.1.1", "System architecture",
              f"hkc {__version__} is a Python command-line program. Each refresh reads an extract folder, writes an "
              f"output folder (packs, audit, run.json) and stores the run in a history database "
              f"({f.history.backend if f.history else 'SQLite by default'}). "
              + ("Aggregate figures (never person-level data) are logged to an MLflow tracking store."
                 if tracking.enabled else "MLflow tracking is switched off."),
              basis=[HKC, SOURCE_SETTINGS]),
        asked("2.4.1.2", "Phase", "The phase hkc is in (pre-deployment, beta or pilot, production, retired)."),
        known("2.4.1.3", "Maintenance",
              "The rules live in three versioned files; each run records their SHA-256 and hkc's version, so any "
              "change shows:", definitions_table(f), runner, basis=[DEFINITIONS, HISTORY],
              ask="Who maintains hkc and its definitions, how often the indicator weights and rules are reviewed, and "
                  "who approves a change."),
        known("2.4.1.4", "Models",
              f"One rule-based model: the points matrix (indicator catalogue version "
              f"{f.definitions.catalogue.version}). Statistical model: "
              + (model if isinstance(model, str) and model else "none in this run (the [model] setting is "
                 + ("on" if f.settings.model.enabled else "off") + ")."), basis=[DEFINITIONS, RUN]),
    ))


def _model(f: Facts) -> Section:
    inputs = f.run("inputs") or {}
    return Section("2.4.2", "Tier 2: model specification (the points matrix)", (
        known("2.4.2.1", "Model name", "The hkc points matrix: a risk score and a separate vulnerability score",
              basis=[HKC]),
        known("2.4.2.2", "Model version", f"Indicator catalogue version {f.definitions.catalogue.version} (SHA-256 "
                                          f"{f.definitions.catalogue.sha256}), run by hkc "
                                          f"{f.run('hkc_version') or __version__}; the settings' hashes are under "
                                          f"2.4.1.3.", basis=[DEFINITIONS, RUN]),
        known("2.4.2.3", "Model task", f"Score every person in the extract on two axes, decide who is eligible, and "
                                       f"rank the eligible: {say.who_is_listed(f)}.", basis=[SOURCE_SETTINGS]),
        known("2.4.2.4", "Model input", "Each person's recorded events (type, role, date, outcome, intelligence "
                                        "grade) and date of birth (for age). Sex, ethnicity, area and care status "
                                        "are never inputs.", basis=["the input contract", "features/indicators.toml"]),
        known("2.4.2.5", "Model output", "Per person: risk and vulnerability scores, eligible or not with the reason, "
                                         "rank, RAG and vulnerability bands, and a rationale naming the events "
                                         "behind each point; the list and the periphery list.", basis=[HKC]),
        known("2.4.2.6", "Model architecture", say.eligibility(f)[-1], catalogue_table(f), multipliers_table(f),
              "Gravity weights are ordinal judgements of relative harm, not estimates from data; they must be "
              "reviewed by the partnership.", basis=["features/indicators.toml"]),
        known("2.4.2.7", "Model performance", *say.performance(f), *say.audit_summary(f, chance=False),
              basis=[RUN, AUDIT] + ([BACKTEST] if f.backtest else [])),
        known("2.4.2.8", "Datasets", "No dataset was used to fit the matrix: its weights are set by judgement in "
                                     "features/indicators.toml. Each run reads one extract:",
              grid(["Input", "File", "SHA-256"], [(k, v.get("file"), v.get("sha256")) for k, v in inputs.items()])
              if inputs else NO_RUN, basis=["features/indicators.toml", RUN]),
        known("2.4.2.9", "Dataset purposes", "Each run's extract is scored to make the list; its own history is used "
                                             "to measure the list against chance and for the retrospective audit, "
                                             "and by hkc backtest. Nothing is trained on it unless a model is "
                                             "enabled.", basis=[HKC]),
    ))


def _data(f: Facts) -> Section:
    counts = counts_table(f)
    fill = ((f.audit or {}).get("population") or {}).get("ethnicity")
    return Section("2.4.3", "Tier 2: data specification", (
        known("2.4.3.1", "Source data name", extract_files(), basis=["the input contract"],
              ask="The source systems each extract is drawn from (for example the police records and intelligence "
                  "systems, partners' case systems) and who produces it."),
        known("2.4.3.2", "Data modality", "Tabular: CSV or Parquet files.", basis=["the input contract"]),
        known("2.4.3.3", "Data description", columns_table(), basis=["the input contract"]),
        known("2.4.3.4", "Data quantities", counts or NO_RUN, basis=[RUN] if counts else [HKC]),
        known("2.4.3.5", "Sensitive attributes", grid(["Column", "Why it is sensitive"], sensitive_rows()),
              f"The audited characteristics ({', '.join(f.audit_spec.attributes.columns)}) are never inputs to "
              f"scores, eligibility, ranking or RAG bands; they are read so that every refresh can audit who the "
              f"list falls on.", basis=["the input contract", "audits/fairness.toml"]),
        known("2.4.3.6", "Data completeness and representativeness",
              "Only recorded events are seen: harms that are not reported, and partner records that are not shared, "
              "are invisible, and police-generated records follow where police look.",
              counts and "Every row is used or quarantined with its reason; the counts above reconcile "
                         "(read = used + quarantined).",
              fill and f"Ethnicity: {fill}.", basis=[RUN, AUDIT] if counts else [HKC]),
        known("2.4.3.7", "Source data URL", "No open address: the extract holds police and partner records about identifiable "
                                            "people, mostly children, and is never published. The definitions can "
                                            "be.", basis=["the input contract"]),
        known("2.4.3.8", "Data collection", "The records were collected by the police and partner agencies for their "
                                            "own purposes (each event's source: police, education, social care, "
                                            "health or youth justice) and are re-used here.",
              basis=["the input contract"],
              ask="The original purposes of collection, whether re-use for this purpose is compatible, and how each "
                  "extract is produced and checked before hkc reads it."),
        known("2.4.3.9", "Data cleaning", "Every row is checked against the input contract; a row that fails is "
                                          "quarantined with its reason in rejects.csv and not used. hkc never edits "
                                          "a record: corrections are made in the source system.",
              basis=["the input contract"]),
        known("2.4.3.10", "Data sharing agreements", *say.packs(f), *say.disclosure_log(f),
              basis=[SOURCE_SETTINGS, HISTORY],
              ask="The data sharing agreement(s): the parties, dates, review date, and what each agency may do "
                  "with its pack."),
        known("2.4.3.11", "Data access and storage", *say.security(f), *say.retention(f),
              basis=[SOURCE_SETTINGS, RUN, HISTORY],
              ask="Where hkc, the extracts, the output folders and the history database are kept; who has accounts "
                  "there; backups and how long they are kept; who is responsible for storage."),
    ))


def _risks(f: Facts) -> Section:
    return Section("2.5", "Tier 2: risks, mitigations and impact assessments", (
        known("2.5.1", "Impact assessment",
              "hkc drafts a data protection impact assessment (DPA 2018 s.64 headings), an equality impact note and "
              "an ALGO-CARE checklist from the same facts as this record (hkc dpia).", basis=[HKC],
              ask="The name, date of completion and summary of each impact assessment the partnership has approved "
                  "(DPIA, equality impact assessment, any children's rights assessment), with a link."),
        known("2.5.2", "Risks and mitigations", say.limitations(f), *say.audit_summary(f, chance=False),
              basis=[DEFINITIONS, AUDIT] if f.audit else [DEFINITIONS],
              ask="The partnership's own risk register entries, and the actions it decided on the latest audit's "
                  "flags."),
    ))


def atrs_sections(f: Facts) -> tuple[Section, ...]:
    """The ATRS metadata, tier 1 and tier 2 sections for ``f``."""
    return (_title(f), _tier1(f), _owner(f), _rationale(f), _process(f), _tool(f), _model(f), _data(f), _risks(f))


def atrs_fields(f: Facts) -> list[Field]:
    return [field for s in atrs_sections(f) for field in s.fields]
