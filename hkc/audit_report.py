"""Turning an audit result into words, a partner-safe copy and files.

* :func:`findings` writes plain-English sentences from the numbers and the flag rule; every
  sentence carries its interval and names its baseline.
* :func:`suppress_small_cells` makes the partner-facing copy: counts under the threshold become
  ``"<10"``, the rates resting on them are withheld, and a second group is withheld wherever one
  hidden count could be worked out from a total (secondary suppression).
* :func:`write_audit` writes ``audit.json``, a self-contained ``audit.html`` (Jinja2 with
  autoescaping; charts are inline SVG drawn by the template from numbers computed here) and CSV
  tables whose text cells are guarded against spreadsheet formula injection.

The functions read the plain dictionary built by :mod:`hkc.audit`; they never see person-level rows.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

from hkc.errors import OutputError

__all__ = ["findings", "suppress_small_cells", "write_audit", "WITHHELD"]

WITHHELD = "withheld"
GROUP_COUNTS = ("n", "selected", "positives", "negatives", "true_positives", "false_positives", "false_negatives",
                "true_negatives")
# Integer values that are settings or positions, not counts of people (the rest are counts).
NOT_COUNTS = frozenset({"seed", "resamples", "small_cell", "band_index", "distinct_rows"})
METRIC_WORDS = {
    "selection_rate": "selection rate", "mean_score": "mean score", "base_rate": "base rate",
    "true_positive_rate": "true positive rate", "false_positive_rate": "false positive rate",
    "false_negative_rate": "false negative rate", "true_negative_rate": "true negative rate",
    "precision": "precision",
}
PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#e07a5f",
           "#3d405b", "#81b29a", "#f2cc8f", "#6d597a")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _metrics() -> tuple[str, ...]:
    from hkc.audit import METRICS  # imported late: hkc.audit imports this module

    return METRICS


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------
# Findings


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _ci(ci: Any, confidence: float, fmt=lambda v: f"{v:.2f}") -> str | None:
    if not isinstance(ci, list | tuple) or not all(_is_num(v) for v in ci):
        return None
    return f"{round(100 * confidence):g}% CI {fmt(ci[0])}–{fmt(ci[1])}"


def _pct_ci(ci: Any, confidence: float) -> str | None:
    return _ci(ci, confidence, _pct)


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
    if mine is None or ref is None or not _is_num(mine.get("intelligence_share")) \
            or not _is_num(ref.get("intelligence_share")):
        return ""
    ci_mine = _pct_ci(mine.get("intelligence_share_ci"), conf)
    ci_ref = _pct_ci(ref.get("intelligence_share_ci"), conf)
    if ci_mine is None or ci_ref is None:
        return ""
    return (f"; {_pct(mine['intelligence_share'])} ({ci_mine}) of their risk points came from intelligence "
            f"reports against {_pct(ref['intelligence_share'])} ({ci_ref}) for {ref_label}")


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
    conf = result["thresholds"]["confidence"]
    sel = result["selection"]
    population = sel.get("population", "the scored population")
    ref = a["reference"]
    ref_label = _label(result, attr, ref)
    ref_row = next((g for g in a["groups"] if g["group"] == ref), {})
    out = []
    for g in a["groups"]:
        label = _label(result, attr, g["group"])
        for metric in g.get("flags", []) if isinstance(g.get("flags"), list) else []:
            ratio, ci = g["ratio"].get(metric), _ci(g["ratio_ci"].get(metric), conf)
            if not _is_num(ratio) or ci is None:
                continue
            if metric == "selection_rate":
                out.append(_sentence(
                    f"{label} in {population} were {ratio:.2f} times ({ci}) as likely as {ref_label} to be "
                    f"{sel['label']}" + _driver_clause(result, attr, g["group"], ref_label, conf) + "."))
                continue
            value, ref_value = g.get(metric), ref_row.get(metric)
            v_ci, r_ci = _pct_ci(g["ci"].get(metric), conf), _pct_ci(ref_row.get("ci", {}).get(metric), conf)
            if not (_is_num(value) and _is_num(ref_value)) or v_ci is None or r_ci is None:
                continue
            words = METRIC_WORDS[metric]
            shown = _pct if metric != "mean_score" else (lambda v: f"{v:.2f}")
            out.append(_sentence(
                f"among {_metric_base(metric, population, result.get('outcome'))}, the {words} for {label} was "
                f"{shown(value)} ({v_ci}) against {shown(ref_value)} ({r_ci}) for {ref_label}: {ratio:.2f} times "
                f"as high ({ci})."))
    flagged = any("selection_rate" in (g.get("flags") or []) for g in a["groups"] if isinstance(g.get("flags"), list))
    ratios = [(g["ratio"]["selection_rate"], _ci(g["ratio_ci"].get("selection_rate"), conf), g["group"])
              for g in a["groups"] if isinstance(g.get("ratio"), Mapping)
              and _is_num(g["ratio"].get("selection_rate"))]
    ratios = [r for r in ratios if r[1] is not None]
    if not flagged and ratios:
        t = result["thresholds"]
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
        out.append(_sentence(f"no {attr} group's chance of being {sel['label']} raised a flag ({rule}){note}; "
                             f"{span}; baseline: {population}."))
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
    small = [g for g in a["groups"] if g.get("small") and _is_num(g.get("selection_rate"))
             and _pct_ci(g["ci"].get("selection_rate"), conf)]
    if small:
        parts = [f"{_label(result, attr, g['group'])} (n = {g['n']}: selection rate {_pct(g['selection_rate'])}, "
                 f"{_pct_ci(g['ci']['selection_rate'], conf)}" + _indicative(g, conf) + ")" for g in small[:4]]
        more = f" and {len(small) - 4} more" if len(small) > 4 else ""
        out.append(_sentence(
            f"small {attr} groups rest on counts under {result['thresholds']['small_cell']}, so their rates are "
            f"uncertain, raise no flag and are withheld from partner copies: {'; '.join(parts)}{more}."))
    return out


def _indicative(g: Mapping, conf: float) -> str:
    """Ratios that would meet the flag rule but rest on small counts: named, not flagged."""
    parts = []
    for metric in g.get("indicative") or []:
        ratio, ci = g["ratio"].get(metric), _ci(g["ratio_ci"].get(metric), conf)
        lo_hi = g["ratio_ci"].get(metric)
        if _is_num(ratio) and ci and lo_hi[1] > lo_hi[0]:  # a zero-width interval (0 of 2) says nothing
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
            if not _is_num(g.get("cohort_share")) or share_ci is None:
                continue
            parts = []
            for name, e in entries.items():
                ci = _ci(e.get("ratio_ci"), conf)
                label = names.get(name, {}).get("label", name)
                if _is_num(e.get("ratio")) and _is_num(e.get("share")) and ci:
                    parts.append(f"against {label} ({_pct(e['share'])}): {e['ratio']:.2f} times its share ({ci})"
                                 + (" [flagged]" if e.get("flag") is True else
                                    " [indicative: small counts]" if e.get("indicative") is True else ""))
                else:
                    parts.append(f"against {label}: no comparison ({e.get('undefined') or 'withheld'})")
            out.append(_sentence(f"{_label(result, attr, g['group'])} made up {_pct(g['cohort_share'])} of the cohort "
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
            if g.get("reference") or not _is_num(g.get("gap")):
                continue
            gap_ci = g.get("gap_ci")
            excludes_zero = isinstance(gap_ci, list) and all(_is_num(v) for v in gap_ci) and \
                (gap_ci[0] > 0 or gap_ci[1] < 0)
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
            tail = (f"{_pct(share)} of the gap ({g['gap_intelligence']:.1f} points, {intel_ci}) came from "
                    f"intelligence indicators" if _is_num(share) else "")
            driven = {"intelligence": "the gap is driven by intelligence reports",
                      "proactive": "the gap is driven by proactive (police-generated) indicators",
                      "other": "the gap is driven mainly by other indicators"}.get(g.get("driven_by"), "")
            out.append(_sentence(
                f"among {d.get('among', 'everyone scored')}, {_label(result, attr, g['group'])} had {abs(g['gap']):.1f} "
                f"{more} risk points on average than {ref_label} ({ci}; {g['ratio']:.2f} times as many, {ratio_ci})"
                + (f"; {tail}" if tail else "") + (f"; {driven}, chiefly {named}" if driven and named else "") + "."))
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


# --------------------------------------------------------------------------------------------
# Partner-facing copy: statistical disclosure control


def _small(value: Any, threshold: int) -> bool:
    return _is_num(value) and value < threshold


TOTAL = ("total",)  # a node standing for any total that is published or derivable: never hidden


def _close(hidden: set[tuple], relations: list[list[tuple]], size: Mapping[tuple, float]) -> set[tuple]:
    """Secondary suppression: while some additive relation (a total and its parts, all counts of
    people) has exactly one hidden member, that member could be worked out, so hide the smallest
    other member too.  ``TOTAL`` is treated as known, which errs on the side of hiding more."""
    hidden = set(hidden)
    changed = True
    while changed:
        changed = False
        for relation in relations:
            inside = [node for node in relation if node in hidden]
            if len(inside) != 1:
                continue
            others = [node for node in relation if node not in hidden and node != TOTAL]
            if others:
                hidden.add(min(others, key=lambda node: size.get(node, math.inf)))
                changed = True
    return hidden


def _relations(groups: Mapping[str, Iterable[str]], prefix: tuple = ()) -> list[list[tuple]]:
    """Additive relations among group counts: each attribute's groups sum to a total, and each
    value of an intersection's part sums to that part's group (``Black`` = ``Black*F`` + ``Black*M`` …)."""
    out = []
    for attr, names in groups.items():
        names = list(names)
        out.append([TOTAL] + [(*prefix, attr, g) for g in names])
        parts = attr.split("*")
        if len(parts) < 2:
            continue
        for pos, part in enumerate(parts):
            for value in {g.split("*")[pos] for g in names if g.count("*") == len(parts) - 1}:
                children = [(*prefix, attr, g) for g in names if g.split("*")[pos] == value]
                out.append([(*prefix, part, value) if part in groups else TOTAL] + children)
    return out


def _hide_counts(row: dict, keys: Iterable[str], threshold: int, small_label: str) -> None:
    for key in keys:
        if key in row:
            row[key] = small_label if _small(row[key], threshold) else WITHHELD


def _withhold(row: dict, keys: Iterable[str]) -> None:
    for key in keys:
        if key in row:
            value = row[key]
            row[key] = dict.fromkeys(value, WITHHELD) if isinstance(value, dict) else WITHHELD


def _driver_tables(out: Mapping) -> list[dict]:
    drivers = out.get("drivers")
    if not isinstance(drivers, dict):
        return []
    return [drivers] if "attribute" in drivers else list(drivers.values())


def _group_hidden(out: dict, threshold: int) -> tuple[set[tuple], set[tuple]]:
    """The groups to withhold everywhere (primary and secondary), so no table gives away another's."""
    groups: dict[str, dict[str, float]] = {}
    primary: set[tuple] = set()

    def add(attr: str, group: str, size: Any, small: bool) -> None:
        groups.setdefault(attr, {})
        if _is_num(size):
            groups[attr][group] = min(groups[attr].get(group, math.inf), size)
        else:
            groups[attr].setdefault(group, math.inf)
        if small:
            primary.add((attr, group))

    for attr, a in out.get("attributes", {}).items():
        for g in a["groups"]:
            add(attr, g["group"], g.get("n"), any(_small(g.get(k), threshold) for k in GROUP_COUNTS))
    base = out.get("baselines")
    if isinstance(base, dict):
        for attr, a in base.get("attributes", {}).items():
            for g in a["groups"]:
                scored = g.get("baselines", {}).get("scored", {}).get("count")
                add(attr, g["group"], scored, _small(g.get("cohort_count"), threshold) or _small(scored, threshold))
    for d in _driver_tables(out):
        for g in d["groups"]:
            add(d["attribute"], g["group"], g.get("n"), _small(g.get("n"), threshold))
    size = {(attr, g): v for attr, names in groups.items() for g, v in names.items()}
    return _close(primary, _relations(groups), size), primary


def _suppress_attributes(out: dict, hidden: set[tuple], primary: set[tuple], threshold: int,
                         small_label: str) -> dict[str, list[str]]:
    withheld: dict[str, list[str]] = {}
    for attr, a in out.get("attributes", {}).items():
        names = {g["group"] for g in a["groups"] if (attr, g["group"]) in hidden}
        withheld[attr] = sorted(names)
        for g in a["groups"]:
            if isinstance(g.get("score_quantiles"), dict):  # minima and maxima are individual scores
                g["score_quantiles"] = {k: v for k, v in g["score_quantiles"].items() if k not in ("min", "max")}
            if g["group"] not in names:
                continue
            # a group hidden for its own small counts keeps a size that is not small; one hidden to
            # protect another (secondary) hides its size too
            own_small = any(_small(g.get(k), threshold) for k in GROUP_COUNTS if k != "n")
            keep_n = (attr, g["group"]) in primary and own_small and not _small(g.get("n"), threshold)
            _hide_counts(g, [k for k in GROUP_COUNTS if k != "n" or not keep_n], threshold, small_label)
            _withhold(g, [*_metrics(), "ci", "ratio", "ratio_ci", "difference", "difference_ci", "score_quantiles",
                          "undefined", "small_counts", "small_metrics"])
            g["flags"], g["indicative"], g["withheld"] = [], [], True
        if a["reference"] in names:  # every ratio would give the reference's rate away
            for g in a["groups"]:
                _withhold(g, ["ratio", "ratio_ci", "difference", "difference_ci"])
                g["flags"], g["indicative"] = [], []
            withheld[attr].append(f"(ratios to {a['reference']})")
        disparities = a.get("disparities", {})
        for block in (disparities, disparities.get("excluding_small", {})):
            if names & set(block.get("groups", [])):
                _withhold(block, [k for k in block if k not in ("groups", "excluded_groups", "excluding_small")])
        _suppress_calibration(attr, a, names, threshold, small_label)
    return withheld


def _suppress_calibration(attr: str, a: dict, hidden_groups: set[str], threshold: int, small_label: str) -> None:
    rows = a.get("calibration", [])
    if not rows:
        return
    node = {id(r): ("cal", attr, f"{r['group']}@{r['band_index']}") for r in rows}
    size = {node[id(r)]: r["n"] for r in rows if _is_num(r["n"])}
    hidden = {node[id(r)] for r in rows if r["group"] in hidden_groups or _small(r["n"], threshold)}
    relations = []
    for group in {r["group"] for r in rows}:  # bands add up to the group
        members = [node[id(r)] for r in rows if r["group"] == group]
        relations.append(([("grp", group)] if group in hidden_groups else [TOTAL]) + members)
    for band in {r["band_index"] for r in rows}:  # groups add up to the band's total
        relations.append([TOTAL] + [node[id(r)] for r in rows if r["band_index"] == band])
    for r in rows:
        size.setdefault(node[id(r)], math.inf)
    hidden = _close(hidden | {("grp", g) for g in hidden_groups}, relations, size)
    for r in rows:
        if node[id(r)] in hidden:
            _hide_counts(r, ["n"], threshold, small_label)
            _withhold(r, ["observed_rate", "mean_score"])


def _suppress_baselines(base: dict, hidden: set[tuple], threshold: int, small_label: str) -> None:
    attributes = base.get("attributes", {})
    groups = {attr: [g["group"] for g in a["groups"]] for attr, a in attributes.items()}
    names = {name for a in attributes.values() for g in a["groups"] for name in g.get("baselines", {})}
    for name in names - {"scored"}:  # each sample or count baseline is its own table of counts
        entries = {(name, attr, g["group"]): g["baselines"][name] for attr, a in attributes.items()
                   for g in a["groups"] if name in g.get("baselines", {})}
        size = {k: e["count"] for k, e in entries.items() if _is_num(e.get("count"))}
        seed = {k for k, e in entries.items() if _small(e.get("count"), threshold)}
        closed = _close(seed, _relations(groups, (name,)), size)
        for k, e in entries.items():
            if k in closed:
                _hide_counts(e, ["count"], threshold, small_label)
                _withhold(e, ["share", "ratio", "ratio_ci"])
                e["flag"] = e["indicative"] = False
    for attr, a in attributes.items():
        for g in a["groups"]:
            if (attr, g["group"]) not in hidden:
                continue
            _hide_counts(g, ["cohort_count"], threshold, small_label)
            _withhold(g, ["cohort_share", "cohort_share_ci"])
            for name, e in g.get("baselines", {}).items():
                if name == "scored":  # the group's size: hidden like the group's n
                    _hide_counts(e, ["count"], threshold, small_label)
                    _withhold(e, ["share"])
                _withhold(e, ["ratio", "ratio_ci"])
                e["flag"] = e["indicative"] = False
            g["withheld"] = True


def _suppress_drivers(d: dict, hidden: set[tuple], threshold: int, small_label: str) -> None:
    attr = d["attribute"]
    for g in d["groups"]:
        if (attr, g["group"]) in hidden:
            _hide_counts(g, ["n"], threshold, small_label)
            _withhold(g, [k for k in g if k not in ("group", "n", "reference", "small")])
            g["withheld"] = True
    if (attr, d["reference"]) in hidden:
        for g in d["groups"]:
            _withhold(g, [k for k in g if k.startswith(("gap", "ratio")) or k in (
                "flag", "drivers", "driven_by", "intelligence_share_of_gap", "proactive_share_of_gap")])


def _safety_net(node: Any, threshold: int, small_label: str, key: str | None = None) -> Any:
    if isinstance(node, dict):
        return {k: _safety_net(v, threshold, small_label, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_safety_net(v, threshold, small_label, key) for v in node]
    if key not in NOT_COUNTS and _is_num(node) and (isinstance(node, int) or key in ("count", "size")) \
            and node < threshold:
        return small_label
    return node


def suppress_small_cells(result: dict, *, threshold: int) -> dict:
    """The partner-facing copy of an audit result (statistical disclosure control).

    Every count under ``threshold`` is shown as ``"<threshold>"`` and a group with such a count
    has its rates, intervals, ratios and score quantiles withheld (``"withheld"``).  Where one
    hidden count could be worked out from a total — an attribute's total, the margins linking an
    intersection to its parts (``Black`` = ``Black*F`` + ``Black*M`` + …), the group sizes behind
    calibration bands, or the same group in another table (cohort composition, drivers) — more
    groups are withheld until none can (secondary suppression, applied consistently across all
    tables).  Ratios to a withheld reference group, disparity measures over withheld groups, flags
    and undefined entries of withheld groups, and score minima and maxima (individual values) are
    withheld too.  The auditor's copy is the unmodified ``result``.
    """
    out = copy.deepcopy(result)
    small_label = f"<{threshold}"
    hidden, primary = _group_hidden(out, threshold)
    withheld = _suppress_attributes(out, hidden, primary, threshold, small_label)
    overall = out.get("overall", {})
    if any(_small(overall.get(k), threshold) for k in GROUP_COUNTS):
        _hide_counts(overall, GROUP_COUNTS, threshold, small_label)
        _withhold(overall, [*_metrics(), "ci"])
    out["flags"] = [f for f in out.get("flags", []) if f["group"] not in withheld.get(f["attribute"], [])
                    and f["reference"] not in withheld.get(f["attribute"], [])]
    out["undefined"] = [u for u in out.get("undefined", []) if u["group"] not in withheld.get(u["attribute"], [])]
    if isinstance(out.get("baselines"), dict):
        _suppress_baselines(out["baselines"], hidden, threshold, small_label)
    for d in _driver_tables(out):
        _suppress_drivers(d, hidden, threshold, small_label)
    out.pop("findings", None)
    out = _safety_net(out, threshold, small_label)
    out["suppression"] = {
        "threshold": threshold, "shown_as": small_label,
        "withheld_groups": {attr: sorted({g for a, g in hidden if a == attr}) for attr in
                            sorted({a for a, _ in hidden})},
        "rule": "counts under the threshold shown as '<N'; rates resting on them withheld; more groups withheld "
                "wherever a total or another table would reveal a hidden count"}
    return out


# --------------------------------------------------------------------------------------------
# Files: JSON, CSV, HTML


def _jsonable(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _jsonable(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_jsonable(v) for v in node]
    if hasattr(node, "item") and not isinstance(node, str):  # numpy scalars
        node = node.item()
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, Path):
        return str(node)
    return node


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else value


def _lohi(ci: Any) -> tuple[Any, Any]:
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return ci[0], ci[1]
    return (ci, ci) if isinstance(ci, str) else (None, None)


def _tables(result: Mapping) -> dict[str, list[dict]]:
    metrics = _metrics()
    groups, ratios, disparities, calibration = [], [], [], []
    for attr, a in result.get("attributes", {}).items():
        ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
        for g in a["groups"]:
            row = {"attribute": attr, "group": g["group"], "reference": g.get("reference")}
            row |= {k: g.get(k) for k in GROUP_COUNTS if k in g}
            for m in metrics:
                if m in g.get("ci", {}) or m in g:
                    lo, hi = _lohi(g.get("ci", {}).get(m) if isinstance(g.get("ci"), dict) else g.get("ci"))
                    row |= {m: g.get(m), f"{m}_ci_low": lo, f"{m}_ci_high": hi}
            row |= {"small": g.get("small"), "undefined": g.get("undefined"), "flags": g.get("flags")}
            groups.append(row)
            if isinstance(g.get("ratio"), dict):
                for m, ratio in g["ratio"].items():
                    lo, hi = _lohi(g["ratio_ci"].get(m) if isinstance(g.get("ratio_ci"), dict) else None)
                    dlo, dhi = _lohi(g["difference_ci"].get(m) if isinstance(g.get("difference_ci"), dict) else None)
                    ratios.append({"attribute": attr, "group": g["group"], "reference": a["reference"], "metric": m,
                                   "value": g.get(m), "reference_value": ref_row.get(m), "ratio": ratio,
                                   "ratio_ci_low": lo, "ratio_ci_high": hi,
                                   "difference": g["difference"].get(m) if isinstance(g.get("difference"), dict)
                                   else None, "difference_ci_low": dlo, "difference_ci_high": dhi,
                                   "flagged": m in (g.get("flags") or [])})
        for scope, block in (("all defined groups", a.get("disparities", {})),
                             ("excluding small groups", a.get("disparities", {}).get("excluding_small", {}))):
            for measure, value in block.items():
                if measure not in ("groups", "excluded_groups", "excluding_small"):
                    disparities.append({"attribute": attr, "scope": scope, "measure": measure, "value": value,
                                        "groups": block.get("groups")})
        for row in a.get("calibration", []):
            calibration.append({"attribute": attr} | {k: v for k, v in row.items() if k != "band_index"})
    out = {"groups": groups, "ratios": ratios, "disparities": disparities, "calibration": calibration}
    base = result.get("baselines")
    if isinstance(base, Mapping):
        rows = []
        for attr, a in base.get("attributes", {}).items():
            for g in a["groups"]:
                slo, shi = _lohi(g.get("cohort_share_ci"))
                for name, e in g.get("baselines", {}).items():
                    lo, hi = _lohi(e.get("ratio_ci"))
                    rows.append({"attribute": attr, "group": g["group"], "cohort_count": g.get("cohort_count"),
                                 "cohort_share": g.get("cohort_share"), "cohort_share_ci_low": slo,
                                 "cohort_share_ci_high": shi, "baseline": name, "baseline_count": e.get("count"),
                                 "baseline_share": e.get("share"), "ratio": e.get("ratio"), "ratio_ci_low": lo,
                                 "ratio_ci_high": hi, "flagged": e.get("flag")})
        out["baselines"] = rows
    drivers = result.get("drivers")
    if isinstance(drivers, Mapping):
        rows = []
        for d in [drivers] if "attribute" in drivers else drivers.values():
            flags = {i["indicator"]: i for i in d.get("indicators", [])}
            for g in d["groups"]:
                by = g.get("by_indicator") if isinstance(g.get("by_indicator"), dict) else {}
                gaps = g.get("gap_by_indicator") if isinstance(g.get("gap_by_indicator"), dict) else {}
                for ind in flags:
                    rows.append({"attribute": d["attribute"], "group": g["group"], "n": g.get("n"),
                                 "indicator": ind, "intelligence": flags[ind]["intelligence"],
                                 "proactive": flags[ind]["proactive"],
                                 "mean_points": by.get(ind, g.get("by_indicator")),
                                 "gap_to_reference": gaps.get(ind, g.get("gap_by_indicator"))})
        out["drivers"] = rows
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


# Charts: geometry here, drawing in the template (so every label is autoescaped).

def _interval_chart(rows: list[dict], *, percent: bool, width: int = 640, label_w: int = 200) -> dict:
    numeric = [r for r in rows if _is_num(r["value"])]
    top = max([1e-9] + [r["value"] for r in numeric] + [r["hi"] for r in numeric if _is_num(r.get("hi"))])
    top = min(1.0, math.ceil(top * 10) / 10) if percent and top <= 1 else top * 1.08  # round ticks
    plot_w = width - label_w - 70
    row_h = 22

    def x(v: float) -> float:
        return round(label_w + plot_w * max(0.0, min(v, top)) / top, 1)

    out_rows = []
    for i, r in enumerate(rows):
        y = 24 + i * row_h
        item = {"y": y, "label": r["label"], "small": r.get("small"), "flag": r.get("flag")}
        if _is_num(r["value"]):
            item |= {"x": label_w, "w": round(x(r["value"]) - label_w, 1),
                     "text": _pct(r["value"]) if percent else f"{r['value']:.2f}"}
            if _is_num(r.get("lo")) and _is_num(r.get("hi")):
                item |= {"ci_x1": x(r["lo"]), "ci_x2": x(r["hi"])}
        else:
            item["text"] = "withheld" if r["value"] == WITHHELD else "undefined"
        out_rows.append(item)
    ticks = [{"x": x(top * k / 4), "label": f"{100 * top * k / 4:.3g}%" if percent else f"{top * k / 4:.3g}"}
             for k in range(5)]
    return {"width": width, "height": 50 + len(rows) * row_h, "rows": out_rows, "ticks": ticks, "label_w": label_w,
            "plot_right": label_w + plot_w, "axis_y": 30 + len(rows) * row_h}


def _box_chart(groups: list[dict], *, width: int = 640, label_w: int = 200) -> dict | None:
    rows = [(g["group"], g["score_quantiles"]) for g in groups if isinstance(g.get("score_quantiles"), dict)
            and all(_is_num(g["score_quantiles"].get(k)) for k in ("p10", "p25", "p50", "p75", "p90"))]
    if not rows:
        return None
    lo = min(q.get("min", q["p10"]) for _, q in rows)
    hi = max(q.get("max", q["p90"]) for _, q in rows)
    span = (hi - lo) or 1.0
    plot_w = width - label_w - 30

    def x(v: float) -> float:
        return round(label_w + plot_w * (v - lo) / span, 1)

    out = []
    for i, (name, q) in enumerate(rows):
        out.append({"y": 24 + i * 22, "label": name, "p10": x(q["p10"]), "p25": x(q["p25"]), "p50": x(q["p50"]),
                    "p75": x(q["p75"]), "p90": x(q["p90"])})
    ticks = [{"x": x(lo + span * k / 4), "label": f"{lo + span * k / 4:.3g}"} for k in range(5)]
    return {"width": width, "height": 50 + len(rows) * 22, "rows": out, "ticks": ticks, "label_w": label_w,
            "plot_right": label_w + plot_w, "axis_y": 30 + len(rows) * 22}


def _calibration_chart(rows: list[dict], small: set[str], *, width: int = 640, height: int = 300) -> dict | None:
    bands = sorted({(r["band_index"], r["band"]) for r in rows})
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if _is_num(r.get("observed_rate")):
            series.setdefault(r["group"], []).append((r["band_index"], r["observed_rate"]))
    if not bands or not series:
        return None
    left, right, top, bottom = 60, width - 170, 20, height - 40
    position = {b: i for i, (b, _) in enumerate(bands)}
    step = (right - left) / max(1, len(bands) - 1)

    def xy(band: int, rate: float) -> tuple[float, float]:
        return round(left + step * position[band], 1), round(bottom - (bottom - top) * rate, 1)

    lines = []
    for i, (group, points) in enumerate(sorted(series.items())):
        pts = [xy(b, v) for b, v in sorted(points)]
        lines.append({"label": group + (" (small)" if group in small else ""), "dashed": group in small,
                      "colour": PALETTE[i % len(PALETTE)], "points": pts,
                      "path": " ".join(f"{px},{py}" for px, py in pts), "legend_y": top + 14 * i})
    return {"width": width, "height": height, "lines": lines, "left": left, "right": right, "top": top,
            "bottom": bottom, "bands": [{"x": xy(b, 0)[0], "label": label} for b, label in bands],
            "yticks": [{"y": xy(bands[0][0], v)[1], "label": f"{100 * v:g}%"} for v in (0, 0.25, 0.5, 0.75, 1.0)]}


def _driver_chart(d: Mapping, *, width: int = 640, label_w: int = 200) -> dict | None:
    indicators = [i["indicator"] for i in d.get("indicators", [])]
    rows = [g for g in d.get("groups", []) if isinstance(g.get("by_indicator"), dict)]
    if not indicators or not rows:
        return None
    top = max([1e-9] + [sum(v for v in g["by_indicator"].values() if _is_num(v)) for g in rows]) * 1.05
    plot_w = width - label_w - 60
    colours = {ind: PALETTE[i % len(PALETTE)] for i, ind in enumerate(indicators)}
    out = []
    for i, g in enumerate(rows):
        x = float(label_w)
        segments = []
        for ind in indicators:
            v = g["by_indicator"].get(ind, 0.0)
            w = plot_w * v / top if _is_num(v) else 0.0
            if w > 0:
                segments.append({"x": round(x, 1), "w": round(w, 1), "colour": colours[ind], "indicator": ind,
                                 "value": f"{v:.2f}"})
            x += w
        out.append({"y": 24 + i * 22, "label": g["group"], "segments": segments,
                    "total": f"{g['mean_points']:.1f}" if _is_num(g.get("mean_points")) else ""})
    legend = [{"indicator": i["indicator"], "label": i.get("label", i["indicator"]), "colour": colours[i["indicator"]],
               "kind": ", ".join(k for k in ("intelligence", "proactive") if i.get(k))} for i in d["indicators"]]
    return {"width": width, "height": 40 + len(rows) * 22, "rows": out, "legend": legend, "label_w": label_w,
            "attribute": d["attribute"], "reference": d["reference"], "among": d.get("among", "")}


def _charts(result: Mapping) -> dict[str, Any]:
    charts: dict[str, Any] = {"selection": {}, "scores": {}, "calibration": {}, "drivers": []}
    for attr, a in result.get("attributes", {}).items():
        rows = []
        for g in a["groups"]:
            ci = g.get("ci", {}).get("selection_rate") if isinstance(g.get("ci"), dict) else None
            lo, hi = _lohi(ci)
            rows.append({"label": g["group"], "value": g.get("selection_rate"), "lo": lo, "hi": hi,
                         "small": g.get("small"), "flag": "selection_rate" in (g.get("flags") or [])})
        charts["selection"][attr] = _interval_chart(rows, percent=True)
        box = _box_chart(a["groups"])
        if box:
            charts["scores"][attr] = box
        if a.get("calibration") and "*" not in attr:
            cal = _calibration_chart(a["calibration"], {g["group"] for g in a["groups"] if g.get("small")})
            if cal:
                charts["calibration"][attr] = cal
    drivers = result.get("drivers")
    if isinstance(drivers, Mapping):
        for d in [drivers] if "attribute" in drivers else drivers.values():
            chart = _driver_chart(d)
            if chart:
                charts["drivers"].append(chart)
    return charts


def _fmt(value: Any, kind: str = "pct") -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if kind == "pct":
        return _pct(value)
    return f"{value:.2f}" if kind == "ratio" else f"{value:.3g}"


def _fmt_ci(ci: Any, kind: str = "pct") -> str:
    if isinstance(ci, str):
        return ci
    if not isinstance(ci, list | tuple) or not all(_is_num(v) for v in ci):
        return ""
    sep = " to " if ci[0] < 0 or ci[1] < 0 else "–"
    return f"{_fmt(ci[0], kind)}{sep}{_fmt(ci[1], kind)}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["fmt_ci"] = _fmt_ci
    return env


def write_audit(result: dict, out: Path, *, title: str) -> list[Path]:
    """Write ``audit.json``, ``audit.html`` and the CSV tables into ``out``; return the paths.

    Writes whatever it is given: pass :func:`suppress_small_cells` output for a partner copy.
    The HTML is one self-contained file (inline CSS and SVG, no scripts, no external assets),
    rendered with autoescaping so group names cannot inject markup.  CSV text cells that a
    spreadsheet would run as a formula are prefixed with ``'``.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the audit folder ({exc.strerror}); choose a writable --out") from None
    sentences = result.get("findings") or findings(result)
    data = _jsonable({**result, "findings": sentences})
    written = []
    try:
        path = out / "audit.json"
        path.write_text(json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
        for name, rows in _tables(data).items():
            if rows:
                path = out / f"{name}.csv"
                _write_csv(path, rows)
                written.append(path)
        html = _environment().get_template("audit.html.j2").render(
            title=title, result=data, findings=sentences, charts=_charts(data), metric_words=METRIC_WORDS,
            metrics=[m for m in _metrics() if any(m in g.get("ci", {}) for a in data.get("attributes", {}).values()
                                                  for g in a["groups"] if isinstance(g.get("ci"), dict))])
        path = out / "audit.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the audit ({exc.strerror}); check the folder's permissions") from None
    return written
