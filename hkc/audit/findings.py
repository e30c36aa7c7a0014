"""Findings: plain-English sentences generated from an audit result and its flag rule.

Every sentence carries its interval and names its baseline ("Black people in the scored population
were 2.10 times (95% CI 1.60–2.80) as likely as White people to be in the cohort; …").  A ratio
resting on small counts says so, with its counts and exact interval; a comparison that cannot be
assessed at this size is named as such with its figures ("3 of 40 selected, ratio 2.93 (95% CI
0.95–9.04)"), and no sentence says that no group raised a flag while any group could not be
assessed.  The sentences read the plain result dictionary only, never person-level rows, and skip
withheld values (partner copies) rather than guess them.
"""

from __future__ import annotations

from collections.abc import Mapping

from hkc.audit.wording import (
    METRIC_WORDS,
    NUMERATOR_DENOMINATOR,
    ci_text,
    compared_groups,
    counts_text,
    format_percent,
    is_number,
    listed,
    pct_ci_text,
    result_label,
    sentence,
)

# METRIC_WORDS, format_percent and is_number are re-exported: callers imported them from here first
__all__ = ["METRIC_WORDS", "findings", "format_percent", "is_number"]

def _driver_clause(result: Mapping, attr: str, group: str, ref_label: str, conf: float) -> str:
    drivers = _drivers_for(result, attr)
    if drivers is None:
        return ""
    rows = {g["group"]: g for g in drivers["groups"]}
    mine, ref = rows.get(group), rows.get(drivers["reference"])
    if mine is None or ref is None or not is_number(mine.get("intelligence_share")) \
            or not is_number(ref.get("intelligence_share")):
        return ""
    ci_mine = pct_ci_text(mine.get("intelligence_share_ci"), conf)
    ci_ref = pct_ci_text(ref.get("intelligence_share_ci"), conf)
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
    """One attribute's sentences: its flags (or that none was raised, and how many groups could not
    be assessed), undefined rates, and the groups that cannot be assessed at this size."""
    ref_label = result_label(result, attr, a["reference"])
    return (_flag_findings(result, attr, a, ref_label) + _no_flag_finding(result, attr, a, ref_label)
            + _undefined_findings(result, attr, ref_label) + _unassessed_findings(result, attr, a))


def _words(a: Mapping, attr: str) -> str:
    """The attribute as the findings name it: ``ethnicity``, or ``pooled ethnicity`` for a pooled comparison."""
    pooled = a.get("pooled")
    return f"pooled {pooled['attribute']}" if isinstance(pooled, Mapping) else attr


def _flag_findings(result: Mapping, attr: str, a: Mapping, ref_label: str) -> list[str]:
    """A sentence per flagged rate ratio, with both rates and their intervals (selection: with the drivers);
    a ratio resting on small counts says so, with the counts, and that its interval is exact."""
    conf = result["thresholds"]["confidence"]
    sel = result["selection"]
    population = sel.get("population", "the scored population")
    ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
    out = []
    for g in compared_groups(a):
        label = result_label(result, attr, g["group"])
        exact = g["exact"].get("ratio", []) if isinstance(g.get("exact"), Mapping) else []
        for metric in listed(g, "flags"):
            ratio, ci = g["ratio"].get(metric), ci_text(g["ratio_ci"].get(metric), conf)
            if not is_number(ratio) or ci is None:
                continue
            counts = counts_text(g, ref_row, metric) if metric in exact and metric in NUMERATOR_DENOMINATOR else ""
            small = (f" ({counts}: a count is under {result['thresholds']['small_cell']}, so the interval is exact)"
                     if counts else "")
            if metric == "selection_rate":
                out.append(sentence(
                    f"{label} in {population} were {ratio:.2f} times ({ci}) as likely as {ref_label} to be "
                    f"{sel['label']}" + small + _driver_clause(result, attr, g["group"], ref_label, conf) + "."))
                continue
            value, ref_value = g.get(metric), ref_row.get(metric)
            v_ci, r_ci = pct_ci_text(g["ci"].get(metric), conf), pct_ci_text(ref_row.get("ci", {}).get(metric), conf)
            if not (is_number(value) and is_number(ref_value)) or v_ci is None or r_ci is None:
                continue
            words = METRIC_WORDS[metric]
            shown = format_percent if metric != "mean_score" else (lambda v: f"{v:.2f}")
            out.append(sentence(
                f"among {_metric_base(metric, population, result.get('outcome'))}, the {words} for {label} was "
                f"{shown(value)} ({v_ci}) against {shown(ref_value)} ({r_ci}) for {ref_label}: {ratio:.2f} times "
                f"as high ({ci}){small}."))
    return out


def _not_assessed(g: Mapping, metric: str) -> bool:
    """The group's ratio for ``metric`` could not be assessed at this size (a withheld group is not counted)."""
    return g.get("withheld") is not True and (metric in listed(g, "unassessed") or metric in listed(g, "indicative"))


def _no_flag_finding(result: Mapping, attr: str, a: Mapping, ref_label: str) -> list[str]:
    """When no group's selection rate is flagged: the rule, the range of the ratios with intervals, and
    how many groups could not be assessed at this size (never "no group raised a flag" when some could not)."""
    conf = result["thresholds"]["confidence"]
    if any("selection_rate" in listed(g, "flags") for g in compared_groups(a)):
        return []
    if isinstance(a.get("pooled"), Mapping):
        return _pooled_finding(result, attr, a, ref_label)
    others = compared_groups(a)
    unassessed = [g for g in others if _not_assessed(g, "selection_rate")]
    withheld = [g for g in others if g.get("withheld") is True]
    ratios = [(g["ratio"]["selection_rate"], ci_text(g["ratio_ci"].get("selection_rate"), conf), g["group"])
              for g in others if isinstance(g.get("ratio"), Mapping) and is_number(g["ratio"].get("selection_rate"))]
    ratios = [r for r in ratios if r[1] is not None]
    if not ratios and not unassessed and not withheld:
        return []
    t = result["thresholds"]
    sel = result["selection"]
    rule = _rule(result, ref_label)
    span = ""
    if ratios:
        low, high = min(ratios), max(ratios)
        span = (f"; the ratio was {low[0]:.2f} ({low[1]}) for {result_label(result, attr, low[2])}" if low is high else
                f"; ratios ranged from {low[0]:.2f} ({low[1]}) for {result_label(result, attr, low[2])} to "
                f"{high[0]:.2f} ({high[1]}) for {result_label(result, attr, high[2])}")
    baseline = f"; baseline: {sel.get('population', 'the scored population')}."
    if not unassessed and not withheld:
        return [sentence(f"no {_words(a, attr)} group's chance of being {sel['label']} raised a flag ({rule})" + span
                         + baseline)]
    k, w, m = len(unassessed), len(withheld), len(others)
    counted = [f"{k} could not be assessed at this size" if k else "",
               f"{w} {'is' if w == 1 else 'are'} withheld from this copy" if w else ""]
    rest = (f"of the {m - k - w} that could be, none raised a flag ({rule})" if k + w < m else
            f"the flag rule ({rule}) could not be applied to any of them here")
    return [sentence(
        f"of {m} {_words(a, attr)} group{'s' if m > 1 else ''} compared with {ref_label}, "
        f"{' and '.join(c for c in counted if c)} (counts under {t['small_cell']}): the absence of a flag is not "
        f"evidence of fairness at this size; {rest}" + span + baseline)]


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
        out.append(sentence(f"the {names} for {result_label(result, attr, group)} {verb} undefined because {reason}; "
                             f"{'it is' if len(metrics) == 1 else 'they are'} reported as null, not 0, and left "
                             f"out of the ratios and disparity measures."))
    by_reason: dict[tuple[str, str], list[str]] = {}
    for u in result.get("undefined", []):
        if u["attribute"] == attr and u.get("kind") == "ratio" and u["reason"].startswith("the reference"):
            by_reason.setdefault((u["metric"], u["reason"]), []).append(u["group"])
    for (metric, reason), groups in by_reason.items():
        out.append(sentence(f"ratios of the {METRIC_WORDS.get(metric, metric)} to {ref_label} are undefined "
                             f"for {len(groups)} {attr} group{'s' if len(groups) > 1 else ''} because {reason}; "
                             f"differences are reported instead."))
    return out


def _rule(result: Mapping, ref_label: str) -> str:
    t = result["thresholds"]
    return (f"ratio to {ref_label} outside {t['ratio_low']:g}–{t['ratio_high']:g}"
            + (f" with its {round(100 * t['confidence']):g}% interval excluding 1" if t.get("require_interval", True)
               else ""))


def _pooled_finding(result: Mapping, attr: str, a: Mapping, ref_label: str) -> list[str]:
    """The pooled comparison's selection ratio when it is not flagged: no flag, or cannot be assessed at this size."""
    t = result["thresholds"]
    sel = result["selection"]
    ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
    rows = compared_groups(a)
    if not rows:
        return []
    g = rows[0]
    label = result_label(result, attr, g["group"])
    if g.get("withheld") is True:
        return [sentence(f"the pooled comparison of {label} with {ref_label} is withheld from this copy (a count "
                          f"under {t['small_cell']}); the auditor's copy holds its figures.")]
    ratio = g["ratio"].get("selection_rate") if isinstance(g.get("ratio"), Mapping) else None
    ci = ci_text(g["ratio_ci"].get("selection_rate"), t["confidence"]) if isinstance(g.get("ratio_ci"), Mapping) else None
    if not is_number(ratio) or ci is None:
        return []
    head = (f"{label} in {sel.get('population', 'the scored population')} were {ratio:.2f} times "
            f"({ci}) as likely as {ref_label} to be {sel['label']} ({counts_text(g, ref_row, 'selection_rate')})")
    if _not_assessed(g, "selection_rate"):
        return [sentence(head + f": a count is under {t['small_cell']}, so the interval is exact, and at this size "
                                 f"the comparison cannot be assessed; the absence of a flag is not evidence of fairness.")]
    return [sentence(head + f": no flag ({_rule(result, ref_label)}).")]


def _unassessed_findings(result: Mapping, attr: str, a: Mapping) -> list[str]:
    """The groups whose ratios cannot be assessed at this size (up to six named), each with its counts,
    ratio and exact interval; ratios meeting the rule on too few people are marked indicative."""
    conf = result["thresholds"]["confidence"]
    t = result["thresholds"]
    sel = result["selection"]
    if isinstance(a.get("pooled"), Mapping):
        return []  # the pooled group's sentence says it (_pooled_finding)
    ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
    parts = []
    for g in compared_groups(a):
        if g.get("withheld") is True:
            continue
        pieces = []
        for metric in [m for m in t.get("flag_metrics", METRIC_WORDS) if m in listed(g, "unassessed")
                       or m in listed(g, "indicative")]:
            ratio, ci = g["ratio"].get(metric), ci_text(g["ratio_ci"].get(metric), conf)
            num, den = NUMERATOR_DENOMINATOR.get(metric, (None, "n"))
            if not is_number(ratio) or ci is None or not is_number(g.get(den)):
                continue
            what = (f"{g[num]:,} of {g[den]:,} {sel['label']}" if metric == "selection_rate" else
                    f"{METRIC_WORDS[metric]} {g[num]:,} of {g[den]:,}" if num else f"{METRIC_WORDS[metric]}")
            tail = (f" (meets the flag rule, but rests on fewer than {t['small_cell']} people: indicative only)"
                    if metric in listed(g, "indicative") else "")
            pieces.append(f"{what}, ratio {ratio:.2f} ({ci}){tail}")
        if pieces:
            parts.append(f"{result_label(result, attr, g['group'])} (n = {g['n']:,}): " + "; ".join(pieces))
    if not parts:
        return []
    more = f" and {len(parts) - 6} more (groups.csv)" if len(parts) > 6 else ""
    return [sentence(
        f"{_words(a, attr)} groups that cannot be assessed at this size against "
        f"{result_label(result, attr, ref_row.get('group', a['reference']))} (a count behind the rate is under "
        f"{t['small_cell']}, so the intervals are exact and too wide to tell; the absence of a flag is not evidence "
        f"of fairness, and partner copies withhold them): {' | '.join(parts[:6])}{more}.")]


def _baseline_part(e: Mapping, label: str, conf: float) -> str:
    """One baseline comparison: its share, the ratio with its interval, and whether it is flagged."""
    ci = ci_text(e.get("ratio_ci"), conf)
    if not (is_number(e.get("ratio")) and is_number(e.get("share")) and ci):
        return f"against {label}: no comparison ({e.get('undefined') or 'withheld'})"
    tag = (" [flagged]" if e.get("flag") is True else " [indicative: small counts]" if e.get("indicative") is True
           else " [cannot be assessed at this size]" if e.get("unassessed") is True else "")
    return f"against {label} ({format_percent(e['share'])}): {e['ratio']:.2f} times its share ({ci}){tag}"


def _above_every_baseline(g: Mapping, entries: Mapping) -> bool:
    """The MOPAC test: the group's share of the cohort is above its share of every baseline (two or more)."""
    shares = [e.get("share") for e in entries.values()]
    return len(shares) >= 2 and all(is_number(v) for v in shares) and all(g["cohort_share"] > v for v in shares)


def _baseline_findings(result: Mapping) -> list[str]:
    """A sentence per group whose cohort share is flagged against a baseline, or (the MOPAC test, for
    attributes that are not intersections) above its share of every baseline, flagged or not."""
    base = result.get("baselines")
    if not isinstance(base, Mapping) or "attributes" not in base:
        return []
    conf = base.get("thresholds", result.get("thresholds", {})).get("confidence", 0.95)
    small_cell = result.get("thresholds", {}).get("small_cell", 10)
    names = base.get("baselines", {})
    out = []
    for attr, a in base["attributes"].items():
        pooled = a.get("pooled")
        for g in a["groups"]:
            if isinstance(pooled, Mapping) and g["group"] != pooled.get("group"):
                continue  # the same group as in the attribute pooled
            entries = g.get("baselines", {})
            share_ci = pct_ci_text(g.get("cohort_share_ci"), conf)
            if not is_number(g.get("cohort_share")) or share_ci is None:
                continue
            flagged = any(e.get("flag") is True for e in entries.values())
            above = "*" not in attr and _above_every_baseline(g, entries)
            if not (flagged or above):
                continue
            parts = [_baseline_part(e, names.get(name, {}).get("label", name), conf) for name, e in entries.items()]
            head = f"{result_label(result, attr, g['group'])} made up {format_percent(g['cohort_share'])} of the cohort ({share_ci})"
            if above:
                head += ", more than its share of every baseline (the MOPAC test)"
            tail = ""
            if above and not flagged:
                small = any(e.get("unassessed") is True or e.get("indicative") is True for e in entries.values())
                tail = ("; no comparison is flagged" + (f", and with counts under {small_cell} the absence of a flag "
                                                        f"is not evidence of fairness at this size" if small else ""))
            out.append(sentence(head + "; " + "; ".join(parts) + tail + "."))
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
        ref_label = result_label(result, attr, ref)
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
            ci = ci_text(gap_ci, conf, lambda v: f"{v:.1f}")
            intel_ci = ci_text(g.get("gap_intelligence_ci"), conf, lambda v: f"{v:.1f}")
            ratio_ci = ci_text(g.get("ratio_ci"), conf)
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
            out.append(sentence(
                f"among {d.get('among', 'everyone scored')}, {result_label(result, attr, g['group'])} had {abs(g['gap']):.1f} "
                f"{more} risk points on average than {ref_label} ({ci}; {g['ratio']:.2f} times as many, {ratio_ci})"
                + (f"; {tail}" if tail else "") + (f"; {driven}, chiefly {named}" if driven and named else "") + "."))
    return out


def _recording_findings(result: Mapping, d: Mapping, g: Mapping, ref_label: str, conf: float) -> list[str]:
    """Sentences for a flagged share of risk points from intelligence (or proactive indicators)."""
    ref = next((r for r in d["groups"] if r.get("reference")), None)
    out = []
    for name, words in (("intelligence", "intelligence reports"),
                        ("proactive", "proactive (police-generated) indicators")):
        ratio_ci = ci_text(g.get(f"{name}_share_ratio_ci"), conf)
        if not g.get(f"{name}_flag") or ratio_ci is None or ref is None:
            continue
        mine, theirs = g.get(f"mean_{name}_points"), ref.get(f"mean_{name}_points")
        share, ref_share = g.get(f"{name}_share"), ref.get(f"{name}_share")
        share_ci = pct_ci_text(g.get(f"{name}_share_ci"), conf)
        ref_share_ci = pct_ci_text(ref.get(f"{name}_share_ci"), conf)
        if not all(is_number(v) for v in (mine, theirs, share, ref_share)) or share_ci is None or ref_share_ci is None:
            continue
        label = result_label(result, d["attribute"], g["group"])
        out.append(sentence(
            f"among {d.get('among', 'everyone scored')}, {format_percent(share)} ({share_ci}) of the risk points of "
            f"{label} came from {words}, against {format_percent(ref_share)} ({ref_share_ci}) for {ref_label}: "
            f"{g[f'{name}_share_ratio']:.2f} times the share ({ratio_ci}; {mine:.2f} against {theirs:.2f} such points "
            f"per person); a disparity in what is recorded about {label}, which differences in recorded offending "
            f"do not explain."))
    return out


def findings(result: dict) -> list[str]:
    """Plain-English findings generated from an audit result and its flag rule.

    Sentences for flagged disparities (with the ratio's interval and the baseline it is measured
    against, the counts when they are small, and the intelligence share of points when drivers are
    attached), a summary for each attribute with no flag (saying how many groups could not be
    assessed at this size, and that the absence of a flag is then not evidence of fairness), the
    pooled comparison, undefined rates, the groups that cannot be assessed at this size with their
    figures, baseline comparisons that are flagged or (the MOPAC test) above every baseline, each
    reported against every baseline, and intelligence- or flag-driven gaps in risk points.
    Withheld values (partner copies) are skipped, never guessed.
    """
    out: list[str] = []
    for attr, a in result.get("attributes", {}).items():
        out += _attribute_findings(result, attr, a)
    out += _baseline_findings(result)
    out += _driver_findings(result)
    return out
