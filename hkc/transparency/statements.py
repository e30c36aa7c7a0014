"""The sentences several records share, each written from :class:`~hkc.transparency.facts.Facts`.

The transparency record, the DPIA, the equality note and the ALGO-CARE checklist say the same
things about retention, sharing, oversight, rights, security and the audit; each is written once
here, from the definitions, the run and the history, so the records cannot disagree.  Every
function returns blocks for :func:`hkc.transparency.document.known` (text, or a list of text for
bullet items, or a :class:`~hkc.transparency.document.Table`); none invents what hkc does not know.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hkc.transparency.document import Block, grid
from hkc.transparency.facts import Facts
from hkc.transparency.measured import NO_AUDIT, audit_summary, error_rates, limitations, performance

__all__ = ["who_is_listed", "summary", "NOT_FOR", "eligibility", "scale", "decisions", "oversight", "packs",
           "disclosure_log", "retention", "rights", "logs", "security", "audit_summary", "performance", "error_rates",
           "limitations", "quarantined", "NO_AUDIT", "PURGE_REACH", "FOLDER_RETENTION", "SOURCE_SETTINGS", "RUN",
           "HISTORY", "AUDIT", "BACKTEST"]

# Where a value came from (a field's basis).
SOURCE_SETTINGS = "config/hkc.toml"
RUN = "the run's manifest (run.json)"
HISTORY = "the history database"
AUDIT = "the run's fairness audit (audit.json, partner copy)"
BACKTEST = "the backtest (backtest.json)"

PURGE_REACH = ("hkc purge deletes, in one transaction, every stored run older than the retention period with all "
               "its person-level rows (scores, contributions, evidence, removed), the decisions made on those runs or "
               "at meetings before the cut-off, the interventions that ended before it, and the list of people in "
               "the disclosures of those runs; the disclosure entries themselves stay (when, to whom, how many "
               "people, the files' hashes). Each purge is logged with counts and dates, never ids; on SQLite the "
               "file is rebuilt so that erased rows do not linger.")

# True of this version: hkc purge reaches the database only.
FOLDER_RETENTION = ("Each refresh also writes an output folder (the police and partner packs, scores.parquet with "
                    "every scored person, evidence.parquet, the audit). hkc purge does not delete output folders, "
                    "so they must be deleted under the same retention period by whoever keeps them.")

NOT_FOR = [
    "It is not evidence of offending and does not find that anyone has done anything: a score summarises "
    "recorded events, and records can be wrong, incomplete or shaped by where police look.",
    "It is not for enforcement decisions on its own (such as stop and search, arrest, charging or bail), "
    "nor for decisions about housing, education, employment or immigration.",
    "It is not a list to be shared beyond the partnership's sharing agreement or used to label anyone.",
    "It makes no decision: the partnership meeting decides, person by person, and records its decision.",
]


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def quarantined(f: Facts) -> str | None:
    """How many of the run's input rows were quarantined (None without a run)."""
    counts = f.run("counts")
    if not isinstance(counts, Mapping) or not counts:
        return None
    n = sum(int(c.get("rejected") or 0) for c in counts.values())
    read = sum(int(c.get("read") or 0) for c in counts.values())
    return (f"{n:,} of the run's {read:,} input rows were quarantined as unusable, each with its reason." if n else
            f"No input row of the run was quarantined: all {read:,} passed the input contract's checks.")


def who_is_listed(f: Facts) -> str:
    e = f.settings.eligibility
    return (f"among people aged {e.min_age} to {e.max_age} who meet the eligibility rules, "
            f"{f.settings.cohort.describe()}")


def summary(f: Facts) -> str:
    n = len(f.definitions.catalogue.indicators)
    return (f"Each refresh (intended quarterly), hkc reads an extract of police and partner records about people "
            f"and events, scores every person on two separate axes from a published catalogue of {n} indicators "
            f"(risk: harm the person may cause, such as weapon offences and weapon intelligence; vulnerability: "
            f"harm done to them, shown beside the risk score and never added to it), and lists, {who_is_listed(f)}, "
            f"for review by a multi-agency partnership meeting. Every entry carries a rationale naming the recorded "
            f"events behind each point, and every refresh runs a fairness audit.")


def _evidence_rules(f: Facts) -> list[str]:
    e = f.settings.eligibility
    police = ", ".join(i.label for i in f.definitions.catalogue.indicators.values() if i.weapon and i.proactive)
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


def eligibility(f: Facts) -> list[Block]:
    """The evidence floor, the cohort rule, the bands and how points are earned."""
    s = f.settings
    e = s.eligibility
    rag = (f"red at a risk score of {s.rag.red:g} or more, amber at {s.rag.amber:g} or more, green below"
           if s.rag.method == "fixed" else
           f"red for the top {s.rag.red_share:.0%} of the cohort, amber for the next {s.rag.amber_share:.0%}, "
           f"green for the rest")
    return [
        "A person can be listed only when all of these hold at the as-of date:",
        [f"aged {e.min_age} to {e.max_age} (whole years);", *_evidence_rules(f),
         f"a risk score of at least {e.min_risk_score:g}."],
        "No one is listed on vulnerability alone, on stale history, on police-generated evidence alone"
        + (" (unless the settings allow it)" if e.allow_police_generated_only else "")
        + ", or on uncorroborated or poorly graded intelligence.",
        [f"Listed: {s.cohort.describe()}, ranked by risk score, then the most recent weapon-related event, then "
         f"person id (the same data always gives the same ranks).",
         f"RAG band ({s.rag.method}): {rag}.",
         f"Vulnerability band: high at {s.vulnerability.high:g} or more, medium at {s.vulnerability.medium:g} or "
         f"more, low below; shown beside the risk band, never added to it."],
        "Each counting event earns gravity × evidence multiplier (by outcome, or by intelligence grade) × role "
        "multiplier × 0.5^(age in days / half-life). A person's k-th strongest event of the same type (k = 0, 1, …) "
        "is further multiplied by the decay^k and counts nothing from k = cap on; events older than the lookback "
        "count nothing. A score is the sum of its axis's points, and the rationale's points add up to it.",
    ]


def scale(f: Facts) -> list[Block]:
    """How often hkc has run and how many people the run concerned."""
    out: list[Block] = []
    h = f.history
    if h is not None:
        span = f"as of {h.runs[0]} to {h.runs[-1]}" if len(h.runs) > 1 else f"as of {h.runs[0]}"
        out.append(f"The history holds {len(h.runs)} refresh{'es' if len(h.runs) != 1 else ''} ({span}); "
                   f"refreshes are intended quarterly.")
    if f.manifest:
        out.append(grid(["Run as of " + str(f.run("as_of")), "People"], [
            ("scored (everyone in the extract)", _n(f.run("scored"))),
            ("eligible under the rules", _n(f.run("eligible"))),
            ("listed (the cohort)", _n(f.run("cohort_size"))),
            ("on the periphery list (linked to a listed person)", _n(f.run("periphery", "not counted by this run"))),
            ("removed since the previous run", _n(f.run("removed")) if f.run("previous_as_of")
             else "first run of this history"),
        ]))
    return out


def decisions(f: Facts) -> str | None:
    h = f.history
    if h is None:
        return None
    if not h.decisions:
        return (f"No decision has yet been recorded for the run as of {h.run_as_of} (the meeting's decisions are read "
                f"back from the partner workbook with hkc decisions import).")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(h.decisions.items()))
    return (f"For the run as of {h.run_as_of} the history holds {sum(h.decisions.values())} recorded decisions "
            f"from {len(h.meetings)} meeting{'s' if len(h.meetings) != 1 else ''} ({counts}), each with who "
            f"recorded it and the workbook it came from.")


def oversight(f: Facts) -> list[Block]:
    e = f.settings.eligibility
    return [[
        "hkc produces a ranked list and a meeting pack; it makes no decision about anyone.",
        "The partnership meeting reviews every entry, with the rationale naming the events behind each point, "
        "decides what support or safeguarding response to offer (adopt, monitor, decline or refer; an adopted person's case stays open, shown even when they leave the list, until the meeting closes it), and records "
        "the decision and its reason in the partner workbook; hkc decisions import stores it.",
        f"People leave the list when they no longer meet the eligibility rules (for example, no qualifying "
        f"weapon-related event in the last {e.review_window_days} days, or older than {e.max_age}) or fall below "
        f"the cohort rule. Each refresh lists everyone removed since the previous run, with the reason "
        f"(removed.csv). The partnership may also decline anyone at any time.",
        "Every refresh writes a fairness audit beside the list: the auditor's copy, and a partner copy in which "
        "small counts are suppressed.",
    ], decisions(f)]


def _partner_fields(f: Facts) -> list[Block]:
    p = f.settings.partner
    out: list[Block] = [
        f"The partner pack (partner/cohort.html, .xlsx, .csv) carries only the fields in [partner] fields: "
        f"{', '.join(p.fields)}. People are named only by a keyed pseudonym (HMAC-SHA256 of the person id under "
        f"a secret key held in the environment variable {p.key_variable}); the person id and the exact scores "
        f"never go to partners, ethnicity {'does' if 'ethnicity' in p.fields else 'does not'} under these "
        f"settings, and person ids found in free text are replaced by pseudonyms."]
    notes = []
    if hasattr(p, "show_unproven"):
        notes.append("Allegations that are not proven (outcome nfa, pending or none recorded) are "
                     + ("shown in partner rationales." if p.show_unproven else
                        "left out of partner rationales, which say how many were not shown."))
    if hasattr(p, "link_types"):
        notes.append(f"Periphery links partners see: {', '.join(p.link_types) or 'none'}.")
    agencies = getattr(p, "agencies", ())
    if hasattr(p, "meeting_pack"):
        notes.append("The whole partnership's pack is written." if p.meeting_pack else
                     "Only the agencies' own packs are written (no whole-partnership pack).")
    out.append(notes)
    if agencies:
        out.append(grid(["Agency pack", "Fields", "Areas"],
                        [(a.title, ", ".join(a.fields or p.fields), ", ".join(a.areas) or "all")
                         for a in agencies]))
    return out


def packs(f: Facts) -> list[Block]:
    """What each audience receives."""
    return [
        "The police pack (cohort.html, cohort.xlsx, and cohort.csv with age, sex, ethnicity and area; logged as a "
        "disclosure to the police) names each person by their police id, with scores, bands, the rationale naming "
        "the events behind each point, and the meeting's decisions. The run's folder also holds the periphery, "
        "peer groups, places, removed, evidence and scores files.",
        *_partner_fields(f),
        f"The fairness audit goes to partners as a copy in which counts under "
        f"{f.audit_spec.disclosure.small_cell} are suppressed.",
    ]


def disclosure_log(f: Facts, *, names: bool = False) -> list[Block]:
    """What the disclosure log records for the run, and in all; ``names``: with who wrote each pack (staff
    names stay out of a record written to be published)."""
    out: list[Block] = []
    h = f.history
    if h is None:
        return out
    if h.run_disclosures:
        out.append(f"The disclosure log for the run as of {h.run_as_of} (every pack written: its audience, when, "
                   f"by whom, which people and each file's SHA-256):")
        extra = {k: label for k, label in (("agency", "Agency"), ("released_at", "Released"))
                 if any(k in d for d in h.run_disclosures)}
        blank = {"agency": "not named", "released_at": "not released"}
        out.append(grid(["Audience", "When", *(["By"] if names else []), "People", "Files", "Published",
                         *extra.values()],
                        [(d["audience"], d["disclosed_at"], *([d["disclosed_by"]] if names else []), _n(d["people"]),
                          _n(d["files"]), "yes" if d["published"] else "no (pending)",
                          *[str(d.get(k) or blank[k]) for k in extra]) for d in h.run_disclosures]))
    else:
        out.append(f"The disclosure log holds no pack for the run as of {h.run_as_of}.")
    if h.disclosures:
        out.append("The whole disclosure log: " + ", ".join(
            f"{n} to {audience}" for audience, n in sorted(h.disclosures.items())) + ".")
    return out


def _due(as_of: str, days: int) -> dt.date:
    return dt.date.fromisoformat(as_of) + dt.timedelta(days=days)


def retention(f: Facts, *, names: bool = False) -> list[Block]:
    """The retention period, what the history keeps and whether a purge is due; ``names``: with who ran the
    last purge."""
    days = f.settings.retention.days
    out: list[Block] = [f"Retention period: {days:,} days ([retention] days). {PURGE_REACH}", FOLDER_RETENTION]
    h = f.history
    if h is None:
        return out
    cutoff = f.today - dt.timedelta(days=days)
    overdue = [r for r in h.runs if dt.date.fromisoformat(r) < cutoff]
    state = (f"On {f.today} a purge is overdue: {len(overdue)} stored run{'s are' if len(overdue) != 1 else ' is'} "
             f"older than the retention period (as of {overdue[0]} to {overdue[-1]}); run hkc purge."
             if overdue else
             f"On {f.today} no stored run is older than the retention period; the oldest (as of {h.runs[0]}) is "
             f"due for deletion on {_due(h.runs[0], days)}.")
    by = f" by {h.purges[-1]['purged_by']}" if names and h.purges else ""
    last = (f"The last purge was on {h.purges[-1]['purged_at'][:10]}{by} (cut-off "
            f"{h.purges[-1]['cutoff']}, {h.purges[-1]['runs']} run(s) erased); {len(h.purges)} purge(s) logged."
            if h.purges else "No purge has been run on this history.")
    share = f" ({h.stored_rows / f.run('scored'):.0%} of them)" if isinstance(f.run("scored"), int) and f.run(
        "scored") else ""
    kept = (f"For the run as of {h.run_as_of} the history keeps person-level rows (scores, the reason, the "
            f"rationale, and the evidence behind each point) for {h.stored_rows:,} of the {_n(f.run('scored'))} "
            f"people scored{share}: everyone with a non-zero risk or vulnerability score or a listing, including "
            f"people with no risk score at all ({h.stored_no_risk:,} of them); {h.stored_eligible:,} were eligible "
            f"and {h.stored_listed:,} listed.")
    return [*out, [state, last, kept]]


def rights(f: Facts) -> list[Block]:
    """What a person can learn and ask for, through hkc, and what is logged."""
    h = f.history
    answers = (h.disclosures.get("subject", 0) if h else None)
    consultation = getattr(f.settings, "consultation", None)
    sar = ("Subject access: hkc sar PERSON_ID reports every stored run that scored the person (rank, band, "
           "reason), the evidence and points behind each score, the partnership's decisions and interventions, and "
           "every disclosure that included them")
    if consultation is not None:
        sar += ("; the request is logged as a consultation and the answer as a disclosure to the person"
                + (f" ({answers} answer(s) logged so far)" if answers is not None else ""))
    lines = [
        sar + ".",
        "Removal: people leave the list automatically when they no longer meet the rules, with the reason in "
        "removed.csv; the meeting may decline anyone.",
        "Correction: hkc scores what the extract holds, so a wrong record is corrected in the source system and "
        "the next refresh re-scores from the corrected extract (the change shows in movement and removed.csv).",
        f"Erasure: stored runs and person-level history are deleted after {f.settings.retention.days:,} days "
        f"(hkc purge); the purge log keeps dates and counts, never ids.",
    ]
    if consultation is not None:
        logged = ""
        if h is not None:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(h.consultations.items()))
            logged = (f" The log holds {sum(h.consultations.values())} consultation(s)"
                      + (f" ({detail})" if detail else "") + ".")
        lines.append(f"Consultation log (DPA 2018 s.62): hkc explain and hkc sar refuse to run without a purpose "
                     f"({', '.join(consultation.purposes)}) and record who consulted which person's record, when "
                     f"and why, never what was shown.{logged}")
    return [lines]


def logs(f: Facts) -> list[Block]:
    """The logs hkc keeps (DPA 2018 s.62: collection, consultation, disclosure, erasure), with their counts."""
    h = f.history
    consultation = getattr(f.settings, "consultation", None)
    lines = [
        "Collection: each stored run records its input files with their SHA-256"
        + (f" ({len(h.runs)} run(s) stored)." if h else "."),
        "Disclosure: the disclosure log records every pack written (audience, when, by whom, which people, each "
        "file's SHA-256)" + (": " + ", ".join(f"{n} to {a}" for a, n in sorted(h.disclosures.items())) + "."
                             if h and h.disclosures else "."),
        "Erasure: the purge log records each purge's date, who ran it, the cut-off and counts, never ids"
        + (f" ({len(h.purges)} purge(s) logged)." if h else "."),
    ]
    if consultation is not None:
        lines.insert(1, "Consultation: the consultation log records who consulted which person's record, when and "
                        "why (hkc explain, hkc sar)" + (f" ({sum(h.consultations.values())} logged)." if h else "."))
    return [lines]


def security(f: Facts) -> list[Block]:
    """Technical protections hkc applies and records."""
    perms = f.run("permissions") or {}
    o = f.settings.outputs
    files = (f"files {perms.get('files')}, folders {perms.get('folders')} in the latest run" if perms else
             "files 0600, folders 0700 unless group_readable")
    lines = [
        f"Everything a refresh writes is readable only by the account that ran it ({files}; [outputs] "
        f"group_readable = {'true' if o.group_readable else 'false'}).",
        f"The history database ({f.history.backend if f.history else 'SQLite by default'}) stores each run in one "
        f"transaction, so a failed run leaves the previous history unchanged.",
        "Each run records the SHA-256 of its configuration and of every input file, hkc's version and code commit; "
        "the disclosure log records each pack's files with their SHA-256.",
        f"The partner workbook is sealed: every cell but the decision and its reason is locked and signed with a "
        f"keyed digest, so an edited workbook is refused when decisions are imported. The pseudonym key is read "
        f"from the environment ({f.settings.partner.key_variable}), never written to disk by hkc.",
        "No person-level data is written to logs or to the MLflow tracking store, which receives aggregate "
        "figures only" + ("" if f.settings.tracking.enabled else " (tracking is switched off in this deployment)")
        + ".",
    ]
    if hasattr(o, "protective_marking"):
        lines.append(f"Every page of the packs carries the protective marking {o.protective_marking}.")
    return [lines]
