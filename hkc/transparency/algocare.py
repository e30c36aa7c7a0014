"""The ALGO-CARE checklist, each question answered from hkc's own state or asked of the partnership.

ALGO-CARE (Oswald, Grace, Urwin and Barnes, 2018, drawn from Durham Constabulary's HART model) is a
decision-making framework for algorithmic tools in policing: Advisory, Lawful, Granularity,
Ownership, Challengeable, Accuracy, Responsible, Explainable, each with its questions (paraphrased
here).  Every question is answered as far as hkc's definitions, run, audit, history and backtest
allow, and what only the partnership can judge (lawfulness, acceptability, ethics, notification)
is asked.
"""

from __future__ import annotations

import hkc.transparency.statements as say
from hkc.transparency.document import Field, Section, asked, known
from hkc.transparency.facts import Facts, licence
from hkc.transparency.statements import AUDIT, BACKTEST, HISTORY, RUN, SOURCE_SETTINGS

__all__ = ["algocare_section", "ITEMS"]

ITEMS = ("Advisory", "Lawful", "Granularity", "Ownership", "Challengeable", "Accuracy", "Responsible", "Explainable")
CATALOGUE = "features/indicators.toml"
HKC = "hkc's design"


def _advisory(f: Facts) -> list[Field]:
    return [
        known("C.A.1", "Advisory: is the output advisory, with people keeping the discretion to decide?",
              "Yes. hkc makes no decision: it orders the meeting's discussion, and the partnership decides, person "
              "by person, whether and what support to offer.", say.decisions(f), basis=[HKC, HISTORY]),
        known("C.A.2", "Advisory: what other human decision-making is needed, and how is it recorded?",
              *say.oversight(f), basis=[SOURCE_SETTINGS, HISTORY],
              ask="The meeting's membership, terms of reference and how it records dissent."),
    ]


def _lawful(f: Facts) -> list[Field]:
    return [
        asked("C.L.1", "Lawful: is the tool's function, its effect on individuals and its use of data lawful, and is "
                       "the interference with privacy necessary and proportionate for a legitimate purpose?",
              "The legal basis, the purpose and the proportionality judgement (see DPIA 1.9 and 1.10)."),
        known("C.L.2", "Lawful: how will the tool improve on the current process, and can this be shown?",
              *say.performance(f), basis=[RUN] + ([BACKTEST] if f.backtest else []),
              ask="The process it replaces and the improvement sought (see ATRS 2.2.4)."),
        known("C.L.3", "Lawful: are the data lawfully obtained, processed and retained, according to genuine need?",
              *say.retention(f), basis=[SOURCE_SETTINGS, HISTORY],
              ask="The lawful basis for obtaining and sharing each source, and the sharing agreement."),
    ]


def _granularity(f: Facts) -> list[Field]:
    e = f.settings.eligibility
    quarantined = say.quarantined(f)
    cohort = f.settings.cohort
    return [
        known("C.G.1", "Granularity: are suggestions made at a level of detail suited to the purpose and the data?",
              "Each listed person has a rank, a risk band and a separate vulnerability band, and a rationale naming "
              "each recorded event behind each point; the meeting sees why, not only who.", basis=[HKC]),
        known("C.G.2", "Granularity: are data categorised to avoid broad-brush grouping and the bias it brings?",
              [f"{len(f.definitions.catalogue.indicators)} indicators, each with its own gravity, half-life, lookback "
               f"and cap; evidence weighted by outcome and intelligence grade; victim and witness roles kept on a "
               f"separate axis.",
               "Sex, ethnicity and area are never inputs; the audit checks every run by group."],
              basis=[CATALOGUE, SOURCE_SETTINGS]),
        known("C.G.3", "Granularity: do the benefits outweigh gaps in data quality, and is the data's provenance "
                       "sound?",
              quarantined, quarantined and "Every input file's SHA-256 is recorded with the run.",
              "Only recorded events are seen; police-generated records follow where police look.",
              basis=[RUN] if quarantined else [HKC],
              ask="Whether the benefits outweigh these gaps."),
        known("C.G.4", "Granularity: how often are the data refreshed?",
              *(say.scale(f) or ["Refreshes are intended quarterly."]),
              f"A weapon-related event must fall in the last {e.review_window_days} days; points halve with each "
              f"indicator's half-life.", basis=[SOURCE_SETTINGS, RUN, HISTORY] if f.history else [SOURCE_SETTINGS]),
        known("C.G.5", "Granularity: where a precautionary trade-off is set, what justifies it?",
              f"The cohort rule ({cohort.describe()}) and the evidence floor (a risk score of at least "
              f"{e.min_risk_score:g}) are settings, recorded with every run.", basis=[SOURCE_SETTINGS],
              ask="Why the cut-off and the cohort's size suit the programme's capacity and purpose."),
    ]


def _ownership(f: Facts) -> list[Field]:
    lic = licence()
    return [
        known("C.O.1", "Ownership: who owns the algorithm and the data it analyses?",
              "The code is hkc" + (f", under the {lic} licence" if lic else "") + "; the rules are the "
              "partnership's own files (config/hkc.toml, features/indicators.toml, audits/fairness.toml) in its "
              "deployment folder.", basis=[HKC],
              ask="Which organisation owns the definitions and each source of data."),
        known("C.O.2", "Ownership: can the force access, use and change the code and the data, free of restrictions "
                       "that would limit accountability or evaluation?",
              "The source code and every rule are readable and changeable by the partnership; each run records "
              "which version and which rules it used.", basis=[HKC],
              ask="Any contract or licence term that restricts access, change or evaluation."),
        known("C.O.3", "Ownership: how is the tool's operation kept secure?", *say.security(f),
              basis=[SOURCE_SETTINGS, RUN]),
    ]


def _challengeable(f: Facts) -> list[Field]:
    return [
        known("C.C.1", "Challengeable: what oversight and audit follow deployment, for example to find bias?",
              *say.audit_summary(f, chance=False), basis=[AUDIT] if f.audit else [HKC],
              ask="Who reviews each audit and what is done about a flag."),
        known("C.C.2", "Challengeable: how are individuals told the tool was used, where it informs decisions about "
                       "them?", *say.rights(f), basis=[HKC, HISTORY],
              ask="How people and families are told, and how they can challenge an entry."),
    ]


def _accuracy(f: Facts) -> list[Field]:
    o = f.settings.outcome
    return [
        known("C.Ac.1", "Accuracy: does the tool's specification match the aim and the decision policy?",
              f"Accuracy is measured against {' or '.join(o.types)} recorded as {' or '.join(o.roles)} within "
              f"{o.horizon_days} days of the list ([outcome]), and listing needs a recent weapon-related event "
              f"([eligibility]).",
              basis=[SOURCE_SETTINGS], ask="Whether this outcome is the right measure of the programme's aim."),
        known("C.Ac.2", "Accuracy: can accuracy be validated periodically?",
              "Yes: every refresh measures the list against chance on the extract's own history and runs a "
              "retrospective audit; hkc backtest adds ROC AUC, precision and recall with intervals.",
              basis=[HKC]),
        known("C.Ac.3", "Accuracy: can the rates of false positives and false negatives be justified?",
              *(say.error_rates(f) or say.performance(f)), basis=[RUN] + ([BACKTEST] if f.backtest else []),
              ask="Whether these rates are acceptable for the purpose."),
        known("C.Ac.4", "Accuracy: why this method rather than others?",
              "A transparent sum of published points, so every score can be explained event by event; a statistical "
              "model is shown beside it only if a backtest shows it ranks better.", basis=[HKC]),
        known("C.Ac.5", "Accuracy: what follows from a wrong result, and is that risk acceptable?",
              "A child wrongly listed is discussed and may be offered support, and may feel labelled; a child "
              "missed is not discussed. The meeting decides each case, and can decline anyone.", basis=[HKC],
              ask="Whether these consequences are acceptable."),
        known("C.Ac.6", "Accuracy: how are results checked, and how is past accuracy fed back?",
              "The list against chance and the retrospective audit at every run; the weights are not learnt from "
              "data, so feedback is a reviewed change to features/indicators.toml, recorded by its hash.",
              basis=[HKC, CATALOGUE], ask="Who reviews the weights against these results, and how often."),
        known("C.Ac.7", "Accuracy: how would inaccurate or out-of-date data change the result?",
              f"Old events fade (each indicator's half-life) and stop counting after its lookback; weapon events with "
              f"outcome {', '.join(f.settings.eligibility.non_qualifying_outcomes) or 'none'} make no one eligible; "
              f"a record corrected at source changes the next refresh.", basis=[CATALOGUE, SOURCE_SETTINGS]),
    ]


def _responsible(f: Facts) -> list[Field]:
    return [
        known("C.R.1", "Responsible: would the tool's operation be considered fair?",
              *say.audit_summary(f, chance=False),
              basis=[AUDIT] if f.audit else [HKC], ask="The partnership's judgement of fairness, on this evidence."),
        known("C.R.2", "Responsible: is its use transparent and accountable?",
              "hkc writes a transparency record following the ATRS from the same facts (hkc transparency); the "
              "rules are published files; disclosures, consultations and purges are logged.", basis=[HKC],
              ask="Where the record is published and who is accountable."),
        asked("C.R.3", "Responsible: is it used in the public interest, and is it ethical?",
              "The partnership's judgement, and any ethics panel's review and its date."),
    ]


def _explainable(f: Facts) -> list[Field]:
    return [
        known("C.E.1", "Explainable: is information available on the decision rules and each factor's effect on "
                       "the score?",
              f"Every rule and weight is in published files (the catalogue's {len(f.definitions.catalogue.indicators)} "
              f"indicators, the eligibility rules); every entry's rationale names the events behind each point, and "
              f"the points add up to the score.", basis=[CATALOGUE, SOURCE_SETTINGS]),
        known("C.E.2", "Explainable: can one person's result be explained to them?",
              "hkc explain PERSON_ID shows every event behind a stored score with its points; subject access "
              "gives the person the same evidence and everyone it went to.", basis=[HKC]),
    ]


def algocare_section(f: Facts) -> Section:
    """The ALGO-CARE checklist (section C), one field per question."""
    return Section("C", "ALGO-CARE checklist (Oswald, Grace, Urwin and Barnes, 2018)", tuple(
        [*_advisory(f), *_lawful(f), *_granularity(f), *_ownership(f), *_challengeable(f), *_accuracy(f),
         *_responsible(f), *_explainable(f)]),
        intro="Each question (paraphrased) is answered from hkc's own state; what only the partnership can judge "
              "is asked.")
