"""The transparency record's audit sections: selection by group, the baselines, and the partner copy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hkc.audit import findings, flag_summary, suppress_small_cells
from hkc.definitions import AuditSpec
from hkc.transparency.markdown import bullets, count_text, heading, paragraph, rate_text, ratio_text, table

__all__ = ['audit_section', 'NO_AUDIT']

NO_AUDIT = ("No fairness audit was given, so this record shows no audit figures. Every refresh writes one "
            "(audit/audit.json in the run folder); regenerate the record from the latest run before publishing.")



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
        lines += heading(4, f"By {attr}: reference group {ref}, among {population}")
        rows = []
        for g in a["groups"]:
            flags = g.get("flags") if isinstance(g.get("flags"), list) else []
            rows.append((g["group"], count_text(g.get("n")), count_text(g.get("selected")),
                         rate_text(g.get("selection_rate"), _of(g, "ci", "selection_rate"), conf),
                         "reference" if g["group"] == ref else
                         ratio_text(_of(g, "ratio", "selection_rate"), _of(g, "ratio_ci", "selection_rate"), conf),
                         ", ".join(m.replace("_", " ") for m in flags)))
        lines += table(["Group", "People", "Selected", "Selection rate", f"Ratio to {ref}", "Flagged"], rows)
    return lines


def _baseline_tables(audit: Mapping, conf: float) -> list[str]:
    base = audit.get("baselines")
    if not isinstance(base, Mapping) or not base.get("attributes"):
        return []
    names = {k: v.get("label", k) for k, v in base.get("baselines", {}).items()}
    lines = heading(4, "Cohort composition against each baseline (none privileged)")
    for attr, a in base["attributes"].items():
        rows = [(attr, g["group"], rate_text(g.get("cohort_share"), g.get("cohort_share_ci"), conf),
                 *[ratio_text(e.get("ratio"), e.get("ratio_ci"), conf)
                   for e in (g.get("baselines", {}).get(name, {}) for name in names)])
                for g in a["groups"]]
        lines += table(["Attribute", "Group", "Share of the cohort",
                         *[f"Share ratio vs {label}" for label in names.values()]], rows)
    return lines


def _flag_text(f: Mapping, conf: float) -> str:
    """A flag's sentence; a flag stored before flags carried one is worded from its fields."""
    if f.get("text"):
        return str(f["text"])
    return (f"{f['attribute']} {f['group']} against {f['reference']}: {f['metric'].replace('_', ' ')} "
            f"ratio {ratio_text(f.get('ratio'), f.get('ci'), conf)}")


def audit_section(audit: dict | None, audit_spec: AuditSpec) -> list[str]:
    lines = heading(3, "7. Fairness audit of the latest run")
    if not audit:
        return lines + paragraph(NO_AUDIT)
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
    lines += paragraph(
        f"Audited: {count_text(shown.get('n'))} people; selected means {shown.get('selection', {}).get('label')}. "
        f"Intervals are {round(100 * conf):g}% bootstrap percentile intervals ({count_text(prov.get('resamples'))} "
        f"resamples, seed {prov.get('seed')}), or exact intervals where a count behind a rate is under {small} "
        f"(Clopper-Pearson for rates, Katz log for ratios). A disparity is flagged when the ratio to the reference "
        f"group lies {rule}; minority ethnic groups are also compared together (pooled), which can be assessed "
        f"when single groups are too small. Counts under {small} are shown as <{small} and the rates resting on "
        f"them are withheld; a group too small to assess is said so, and the absence of a flag is then not "
        f"evidence of fairness.")
    lines += _selection_tables(shown, conf)
    flags = shown.get("flags", [])
    lines += heading(4, f"Flags: {len(flags)}")
    summary = flag_summary(flags)
    lines += paragraph(f"{summary[0].upper() + summary[1:]}. The same list, in the same order, as the run's audit page, "
                       f"`run.json` and packs; a flag on a group too small to show is counted without its figures. "
                       f"A flag is a prompt to look, not proof of unfairness; with many comparisons some arise by chance.")
    lines += (bullets(_flag_text(f, conf) for f in flags) if flags
              else paragraph("No disparity was flagged at these thresholds; at small sizes that is not evidence of "
                             "fairness."))
    chance = shown.get("chance")
    if isinstance(chance, Mapping) and chance.get("sentence"):
        lines += heading(4, "The list against chance")
        lines += paragraph(str(chance["sentence"]))
    lines += _baseline_tables(shown, conf)
    sentences = findings(shown)
    lines += [*heading(4, "Findings"), *(bullets(sentences) if sentences else paragraph("No findings were generated."))]
    retro = shown.get("retrospective")
    if isinstance(retro, Mapping):
        lines += heading(4, "Retrospective audit: the list of a year earlier against what happened next")
        past = retro.get("audit")
        if retro.get("available") and isinstance(past, dict) and "suppression" in past:
            lines += paragraph(f"The list the same rules would have produced as of {retro.get('as_of')}, against "
                           f"{retro.get('outcome', 'the outcome')}.")
            sentences = findings(past)
            lines += bullets(sentences) if sentences else paragraph("No findings were generated.")
        elif retro.get("available"):  # a partner copy made before nested audits were suppressed
            lines += paragraph("Its figures are in the run's audit report; this copy of the audit cannot show them "
                           "safely. Regenerate the record from the auditor's copy (audit/audit.json).")
        else:
            lines += paragraph(f"Not available: {retro.get('reason', 'no reason recorded')}.")
    return lines
