"""Findings: plain-English sentences generated from an audit result and its flag rule.

Every sentence carries its interval and names its baseline ("Black people in the scored population
were 2.10 times (95% CI 1.60–2.80) as likely as White people to be in the cohort; …").  The
sentences read the plain result dictionary only, never person-level rows, and skip withheld values
(partner copies) rather than guess them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["METRIC_WORDS", "findings", "format_percent", "is_number"]

METRIC_WORDS = {
    "selection_rate": "selection rate", "mean_score": "mean score", "base_rate": "base rate",
    "true_positive_rate": "true positive rate", "false_positive_rate": "false positive rate",
    "false_negative_rate": "false negative rate", "true_negative_rate": "true negative rate",
    "precision": "precision",
}


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (withheld values are strings, undefined ones ``None``)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_percent(x: float) -> str:
    """A rate as a percentage with two decimals: ``0.4485`` gives ``"44.85%"``."""
    return f"{100 * x:.2f}%"


def _ci(ci: Any, confidence: float, fmt=lambda v: f"{v:.2f}") -> str | None:
    if not isinstance(ci, list | tuple) or not all(is_number(v) for v in ci):
        return None
    return f"{round(100 * confidence):g}% CI {fmt(ci[0])}–{fmt(ci[1])}"


def _pct_ci(ci: Any, confidence: float) -> str | None:
    return _ci(ci, confidence, format_percent)


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def _label(result: Mapping, attr: str, group: str) -> str:
    return result.get("labels", {}).get(attr, {}).get(group, f"{group} people")


def _driver_clause(result: Mapping, attr: str, group: str, ref_label: str, conf: float) -> str:
    drivers = _drivers_for(result, attr)
    if drivers is None:
        return ""
    rows = {g["group"]: g for g in drivers["groups"]}
    mine, ref = rows.get(group), rows.get(drivers["reference"])
    if mine is None or ref is None or not is_number(mine.get("intelligence_share")) \
            or not is_number(ref.get("intelligence_share")):
        return ""
    ci_mine = _pct_ci(mine.get("intelligence_share_ci"), conf)
    ci_ref = _pct_ci(ref.get("intelligence_share_ci"), conf)
    if ci_mine is None or ci_ref is None:
        return ""
    return (f"; {format_percent(mine['intelligence_share'])} ({ci_mine}) of their risk points came from intelligence "
            f"reports against {format_percent(ref['intelligence_share'])} ({ci_ref}) for {ref_label}")


def _drivers_for(result: Mapping, attr: str) -> Mapping | None:
    drivers = result.get("drivers")
    if not isinstance(drivers, Mapping):
        return None
    if "attribute" in drivers:
        return drivers if drivers["attribute"] == attr else None
    return drivers.get(attr)


def _metric_base(metric: str, population: str, outcome: str | None) -> str:
    outcome = outcome or "the outcome"
    return {
        "true_positive_rate": f"people in {population} who had the outcome ({outcome})",
        "false_negative_rate": f"people in {population} who had the outcome ({outcome})",
        "false_positive_rate": f"people in {population} who did not have the outcome ({outcome})",
        "true_negative_rate": f"people in {population} who did not have the outcome ({outcome})",
        "precision": f"people selected in {population}",
    }.get(metric, f"everyone in {population}")


def _attribute_findings(result: Mapping, attr: str, a: Mapping) -> list[str]:
    """One attribute's sentences: its flags (or that none was raised), undefined rates and small groups."""
    ref_label = _label(result, attr, a["reference"])
    return (_flag_findings(result, attr, a, ref_label) + _no_flag_finding(result, attr, a, ref_label)
            + _undefined_findings(result, attr, ref_label) + _small_group_findings(result, attr, a))


def _flag_findings(result: Mapping, attr: str, a: Mapping, ref_label: str) -> list[str]:
    """A sentence per flagged rate ratio, with both rates and their intervals (selection: with the drivers)."""
    conf = result["thresholds"]["confidence"]
    sel = result["selection"]
    population = sel.get("population", "the scored population")
    ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
    out = []
    for g in a["groups"]:
        label = _label(result, attr, g["group"])
        for metric in g.get("flags", []) if isinstance(g.get("flags"), list) else []:
            ratio, ci = g["ratio"].get(metric), _ci(g["ratio_ci"].get(metric), conf)
            if not is_number(ratio) or ci is None:
                continue
            if metric == "selection_rate":
                out.append(_sentence(
                    f"{label} in {population} were {ratio:.2f} times ({ci}) as likely as {ref_label} to be "
                    f"{sel['label']}" + _driver_clause(result, attr, g["group"], ref_label, conf) + "."))
                continue
            value, ref_value = g.get(metric), ref_row.get(metric)
            v_ci, r_ci = _pct_ci(g["ci"].get(metric), conf), _pct_ci(ref_row.get("ci", {}).get(metric), conf)
            if not (is_number(value) and is_number(ref_value)) or v_ci is None or r_ci is None:
                continue
            words = METRIC_WORDS[metric]
            shown = format_percent if metric != "mean_score" else (lambda v: f"{v:.2f}")
            out.append(_sentence(
                f"among {_metric_base(metric, population, result.get('outcome'))}, the {words} for {label} was "
                f"{shown(value)} ({v_ci}) against {shown(ref_value)} ({r_ci}) for {ref_label}: {ratio:.2f} times "
                f"as high ({ci})."))
    return out


def _no_flag_finding(result: Mapping, attr: str, a: Mapping, ref_label: str) -> list[str]:
    """When no group's selection rate is flagged: the rule, and the range of the ratios with intervals."""
    conf = result["thresholds"]["confidence"]
    flagged = any("selection_rate" in (g.get("flags") or []) for g in a["groups"] if isinstance(g.get("flags"), list))
    ratios = [(g["ratio"]["selection_rate"], _ci(g["ratio_ci"].get("selection_rate"), conf), g["group"])
              for g in a["groups"] if isinstance(g.get("ratio"), Mapping)
              and is_number(g["ratio"].get("selection_rate"))]
    ratios = [r for r in ratios if r[1] is not None]
    if flagged or not ratios:
        return []
    t = result["thresholds"]
    sel = result["selection"]
    low, high = min(ratios), max(ratios)
    rule = (f"ratio to {ref_label} outside {t['ratio_low']:g}–{t['ratio_high']:g}"
            + (f" with its {round(100 * conf):g}% interval excluding 1" if t.get("require_interval", True) else ""))
    span = (f"the ratio was {low[0]:.2f} ({low[1]}) for {_label(result, attr, low[2])}" if low is high else
            f"ratios ranged from {low[0]:.2f} ({low[1]}) for {_label(result, attr, low[2])} to "
            f"{high[0]:.2f} ({high[1]}) for {_label(result, attr, high[2])}")
    indicative = [g["group"] for g in a["groups"] if "selection_rate" in (g.get("indicative") or [])]
    note = (f"; {len(indicative)} more {'ratios meet' if len(indicative) > 1 else 'ratio meets'} the rule but "
            f"{'rest' if len(indicative) > 1 else 'rests'} on counts under {t['small_cell']} (indicative only, "
            f"see the small groups)" if indicative else "")
    return [_sentence(f"no {attr} group's chance of being {sel['label']} raised a flag ({rule}){note}; "
                      f"{span}; baseline: {sel.get('population', 'the scored population')}.")]


def _undefined_findings(result: Mapping, attr: str, ref_label: str) -> list[str]:
    """Undefined rates (one sentence per group and reason) and ratios undefined for the reference's sake."""
    out = []
    undefined: dict[tuple[str, str], list[str]] = {}
    for u in result.get("undefined", []):
        if u["attribute"] == attr and u.get("kind", "rate") == "rate":
            undefined.setdefault((u["group"], u["reason"]), []).append(METRIC_WORDS.get(u["metric"], u["metric"]))
    for (group, reason), metrics in undefined.items():
        names = " and ".join(metrics)
        verb = "is" if len(metrics) == 1 else "are"
        out.append(_sentence(f"the {names} for {_label(result, attr, group)} {verb} undefined because {reason}; "
                             f"{'it is' if len(metrics) == 1 else 'they are'} reported as null, not 0, and left "
                             f"out of the ratios and disparity measures."))
    by_reason: dict[tuple[str, str], list[str]] = {}
    for u in result.get("undefined", []):
        if u["attribute"] == attr and u.get("kind") == "ratio" and u["reason"].startswith("the reference"):
            by_reason.setdefault((u["metric"], u["reason"]), []).append(u["group"])
    for (metric, reason), groups in by_reason.items():
        out.append(_sentence(f"ratios of the {METRIC_WORDS.get(metric, metric)} to {ref_label} are undefined "
                             f"for {len(groups)} {attr} group{'s' if len(groups) > 1 else ''} because {reason}; "
                             f"differences are reported instead."))
    return out


def _small_group_findings(result: Mapping, attr: str, a: Mapping) -> list[str]:
    """The small groups (up to four named), with their selection rates and any indicative ratios."""
    conf = result["thresholds"]["confidence"]
    small = [g for g in a["groups"] if g.get("small") and is_number(g.get("selection_rate"))
             and _pct_ci(g["ci"].get("selection_rate"), conf)]
    if not small:
        return []
    parts = [f"{_label(result, attr, g['group'])} (n = {g['n']}: selection rate {format_percent(g['selection_rate'])}, "
             f"{_pct_ci(g['ci']['selection_rate'], conf)}" + _indicative(g, conf) + ")" for g in small[:4]]
    more = f" and {len(small) - 4} more" if len(small) > 4 else ""
    return [_sentence(
        f"small {attr} groups rest on counts under {result['thresholds']['small_cell']}, so their rates are "
        f"uncertain, raise no flag and are withheld from partner copies: {'; '.join(parts)}{more}.")]


def _indicative(g: Mapping, conf: float) -> str:
    """Ratios that would meet the flag rule but rest on small counts: named, not flagged."""
    parts = []
    for metric in g.get("indicative") or []:
        ratio, ci = g["ratio"].get(metric), _ci(g["ratio_ci"].get(metric), conf)
        lo_hi = g["ratio_ci"].get(metric)
        if is_number(ratio) and ci and lo_hi[1] > lo_hi[0]:  # a zero-width interval (0 of 2) says nothing
            parts.append(f"{METRIC_WORDS[metric]} ratio {ratio:.2f}, {ci}")
    return "; indicative only: " + ", ".join(parts) if parts else ""


def _baseline_findings(result: Mapping) -> list[str]:
    base = result.get("baselines")
    if not isinstance(base, Mapping) or "attributes" not in base:
        return []
    conf = base.get("thresholds", result.get("thresholds", {})).get("confidence", 0.95)
    names = base.get("baselines", {})
    out = []
    for attr, a in base["attributes"].items():
        for g in a["groups"]:
            entries = g.get("baselines", {})
            if not any(e.get("flag") is True for e in entries.values()):
                continue
            share_ci = _pct_ci(g.get("cohort_share_ci"), conf)
            if not is_number(g.get("cohort_share")) or share_ci is None:
                continue
            parts = []
            for name, e in entries.items():
                ci = _ci(e.get("ratio_ci"), conf)
                label = names.get(name, {}).get("label", name)
                if is_number(e.get("ratio")) and is_number(e.get("share")) and ci:
                    parts.append(f"against {label} ({format_percent(e['share'])}): {e['ratio']:.2f} times its share ({ci})"
                                 + (" [flagged]" if e.get("flag") is True else
                                    " [indicative: small counts]" if e.get("indicative") is True else ""))
                else:
                    parts.append(f"against {label}: no comparison ({e.get('undefined') or 'withheld'})")
            out.append(_sentence(f"{_label(result, attr, g['group'])} made up {format_percent(g['cohort_share'])} of the cohort "
                                 f"({share_ci}); " + "; ".join(parts) + "."))
    return out


def _driver_findings(result: Mapping) -> list[str]:
    drivers = result.get("drivers")
    if not isinstance(drivers, Mapping):
        return []
    tables = [drivers] if "attribute" in drivers else list(drivers.values())
    conf = result.get("thresholds", {}).get("confidence", 0.95)
    out = []
    for d in tables:
        attr, ref = d["attribute"], d["reference"]
        ref_label = _label(result, attr, ref)
        labels = {i["indicator"]: i.get("label", i["indicator"]) for i in d.get("indicators", [])}
        for g in d["groups"]:
            if g.get("reference") or not is_number(g.get("gap")):
                continue
            gap_ci = g.get("gap_ci")
            excludes_zero = isinstance(gap_ci, list) and all(is_number(v) for v in gap_ci) and \
                (gap_ci[0] > 0 or gap_ci[1] < 0)
            out += _recording_findings(result, d, g, ref_label, conf)
            if not (g.get("flag") or (excludes_zero and g.get("driven_by") == "intelligence")):
                continue
            ci = _ci(gap_ci, conf, lambda v: f"{v:.1f}")
            intel_ci = _ci(g.get("gap_intelligence_ci"), conf, lambda v: f"{v:.1f}")
            ratio_ci = _ci(g.get("ratio_ci"), conf)
            if ci is None or intel_ci is None or ratio_ci is None:
                continue
            more = "more" if g["gap"] > 0 else "fewer"
            named = ", ".join(labels.get(i, i) for i in g.get("drivers", []))
            share = g.get("intelligence_share_of_gap")
            tail = (f"{format_percent(share)} of the gap ({g['gap_intelligence']:.1f} points, {intel_ci}) came from "
                    f"intelligence indicators" if is_number(share) else "")
            driven = {"intelligence": "the gap is driven by intelligence reports",
                      "proactive": "the gap is driven by proactive (police-generated) indicators",
                      "other": "the gap is driven mainly by other indicators"}.get(g.get("driven_by"), "")
            out.append(_sentence(
                f"among {d.get('among', 'everyone scored')}, {_label(result, attr, g['group'])} had {abs(g['gap']):.1f} "
                f"{more} risk points on average than {ref_label} ({ci}; {g['ratio']:.2f} times as many, {ratio_ci})"
                + (f"; {tail}" if tail else "") + (f"; {driven}, chiefly {named}" if driven and named else "") + "."))
    return out


def _recording_findings(result: Mapping, d: Mapping, g: Mapping, ref_label: str, conf: float) -> list[str]:
    """Sentences for a flagged share of risk points from intelligence (or proactive indicators)."""
    ref = next((r for r in d["groups"] if r.get("reference")), None)
    out = []
    for name, words in (("intelligence", "intelligence reports"),
                        ("proactive", "proactive (police-generated) indicators")):
        ratio_ci = _ci(g.get(f"{name}_share_ratio_ci"), conf)
        if not g.get(f"{name}_flag") or ratio_ci is None or ref is None:
            continue
        mine, theirs = g.get(f"mean_{name}_points"), ref.get(f"mean_{name}_points")
        share, ref_share = g.get(f"{name}_share"), ref.get(f"{name}_share")
        share_ci = _pct_ci(g.get(f"{name}_share_ci"), conf)
        ref_share_ci = _pct_ci(ref.get(f"{name}_share_ci"), conf)
        if not all(is_number(v) for v in (mine, theirs, share, ref_share)) or share_ci is None or ref_share_ci is None:
            continue
        label = _label(result, d["attribute"], g["group"])
        out.append(_sentence(
            f"among {d.get('among', 'everyone scored')}, {format_percent(share)} ({share_ci}) of the risk points of "
            f"{label} came from {words}, against {format_percent(ref_share)} ({ref_share_ci}) for {ref_label}: "
            f"{g[f'{name}_share_ratio']:.2f} times the share ({ratio_ci}; {mine:.2f} against {theirs:.2f} such points "
            f"per person); a disparity in what is recorded about {label}, which differences in recorded offending "
            f"do not explain."))
    return out


def findings(result: dict) -> list[str]:
    """Plain-English findings generated from an audit result and its flag rule.

    Sentences for flagged disparities (with the ratio's interval and the baseline it is measured
    against, and the intelligence share of points when drivers are attached), a summary for each
    attribute with no flag, undefined rates, small groups, baseline comparisons that are
    flagged (each reported against every baseline), and intelligence- or flag-driven gaps in risk
    points.  Withheld values (partner copies) are skipped, never guessed.
    """
    out: list[str] = []
    for attr, a in result.get("attributes", {}).items():
        out += _attribute_findings(result, attr, a)
    out += _baseline_findings(result)
    out += _driver_findings(result)
    return out
