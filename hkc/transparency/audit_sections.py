"""The fairness audit of the latest run as record fields: the method, selection by group, flags, the list
against chance, the baselines, findings and the retrospective audit, always as the partner copy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hkc.audit import findings, flag_summary, suppress_small_cells
from hkc.definitions import AuditSpec
from hkc.transparency.document import Field, Table, grid, known
from hkc.transparency.markdown import count_text, rate_text, ratio_text
from hkc.transparency.measured import flag_text
from hkc.transparency.statements import AUDIT, NO_AUDIT

__all__ = ['audit_fields', 'NO_AUDIT']


def _partner_copy(audit: dict, threshold: int) -> dict:
    return audit if "suppression" in audit else suppress_small_cells(audit, threshold=threshold)


def _of(row: Mapping, key: str, metric: str) -> Any:
    """``row[key][metric]``; in a partner copy a withheld ``row[key]`` may be the string itself."""
    value = row.get(key)
    return value.get(metric) if isinstance(value, Mapping) else value


def _selection_tables(audit: Mapping, conf: float) -> list[tuple[str, Table]]:
    population = audit.get("population", {}).get("description") or audit.get("selection", {}).get(
        "population", "the audited population")
    tables = []
    for attr, a in audit.get("attributes", {}).items():
        ref = a["reference"]
        rows = []
        for g in a["groups"]:
            flags = g.get("flags") if isinstance(g.get("flags"), list) else []
            rows.append((g["group"], count_text(g.get("n")), count_text(g.get("selected")),
                         rate_text(g.get("selection_rate"), _of(g, "ci", "selection_rate"), conf),
                         "reference" if g["group"] == ref else
                         ratio_text(_of(g, "ratio", "selection_rate"), _of(g, "ratio_ci", "selection_rate"), conf),
                         ", ".join(m.replace("_", " ") for m in flags) or "no"))
        if rows:
            tables.append((f"By {attr}: reference group {ref}, among {population}",
                           grid(["Group", "People", "Selected", "Selection rate", f"Ratio to {ref}", "Flagged"], rows)))
    return tables


def _baseline_tables(audit: Mapping, conf: float) -> list[Table]:
    base = audit.get("baselines")
    if not isinstance(base, Mapping) or not base.get("attributes"):
        return []
    names = {k: v.get("label", k) for k, v in base.get("baselines", {}).items()}
    tables = []
    for attr, a in base["attributes"].items():
        rows = [(attr, g["group"], rate_text(g.get("cohort_share"), g.get("cohort_share_ci"), conf),
                 *[ratio_text(e.get("ratio"), e.get("ratio_ci"), conf)
                   for e in (g.get("baselines", {}).get(name, {}) for name in names)])
                for g in a["groups"]]
        if rows:
            tables.append(grid(["Attribute", "Group", "Share of the cohort",
                                *[f"Share ratio vs {label}" for label in names.values()]], rows))
    return tables


def _retrospective(shown: Mapping, ref: str) -> Field | None:
    retro = shown.get("retrospective")
    if not isinstance(retro, Mapping):
        return None
    name = "Retrospective audit: the list of a year earlier against what happened next"
    past = retro.get("audit")
    if retro.get("available") and isinstance(past, dict) and "suppression" in past:
        sentences = findings(past)
        return known(ref, name, f"The list the same rules would have produced as of {retro.get('as_of')}, against "
                                f"{retro.get('outcome', 'the outcome')}.",
                     sentences or "No findings were generated.", basis=[AUDIT])
    if retro.get("available"):  # a partner copy made before nested audits were suppressed
        return known(ref, name, "Its figures are in the run's audit report; this copy of the audit cannot show them "
                                "safely. Regenerate the record from the auditor's copy (audit/audit.json).",
                     basis=[AUDIT])
    return known(ref, name, f"Not available: {retro.get('reason', 'no reason recorded')}.", basis=[AUDIT])


def audit_fields(audit: dict | None, audit_spec: AuditSpec, ref: str = "B") -> tuple[Field, ...]:
    """The audit as fields ``ref.1``, ``ref.2``, …, shown as the partner copy (small cells suppressed);
    without an audit, one field saying so (:data:`NO_AUDIT`)."""
    if not audit:
        return (known(f"{ref}.1", "Fairness audit", NO_AUDIT, basis=["no audit was given"]),)
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
    fields: list[Field] = []

    def add(name: str, *value: Any) -> None:
        fields.append(known(f"{ref}.{len(fields) + 1}", name, *value, basis=[AUDIT]))

    add("Method", f"Audited: {count_text(shown.get('n'))} people; selected means "
        f"{shown.get('selection', {}).get('label')}. Intervals are {round(100 * conf):g}% bootstrap percentile "
        f"intervals ({count_text(prov.get('resamples'))} resamples, seed {prov.get('seed')}), or exact intervals "
        f"where a count behind a rate is under {small} (Clopper-Pearson for rates, Katz log for ratios). A "
        f"disparity is flagged when the ratio to the reference group lies {rule}; minority ethnic groups are also "
        f"compared together (pooled), which can be assessed when single groups are too small. Counts under {small} "
        f"are shown as <{small} and the rates resting on them are withheld; a group too small to assess is said "
        f"so, and the absence of a flag is then not evidence of fairness.")
    for title, tab in _selection_tables(shown, conf):
        add(title, tab)
    flags = shown.get("flags", [])
    summary = flag_summary(flags)
    add(f"Flags: {len(flags)}",
        f"{summary[0].upper() + summary[1:]}. The same list, in the same order, as the run's audit page, run.json "
        f"and packs; a flag on a group too small to show is counted without its figures. A flag is a prompt to "
        f"look, not proof of unfairness; with many comparisons some arise by chance.",
        [flag_text(f, conf) for f in flags] if flags else
        "No disparity was flagged at these thresholds; at small sizes that is not evidence of fairness.")
    chance = shown.get("chance")
    if isinstance(chance, Mapping) and chance.get("sentence"):
        add("The list against chance", str(chance["sentence"]))
    baselines = _baseline_tables(shown, conf)
    if baselines:
        add("Cohort composition against each baseline (none privileged)", *baselines)
    sentences = findings(shown)
    add("Findings", sentences or "No findings were generated.")
    retro = _retrospective(shown, f"{ref}.{len(fields) + 1}")
    return (*fields, retro) if retro else tuple(fields)
