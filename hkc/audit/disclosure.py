"""The partner-facing copy of an audit result: statistical disclosure control.

:func:`suppress_small_cells` shows counts under the threshold as ``"<10"`` and withholds the rates
resting on them; wherever one hidden count could be worked out from a total or from another table,
more groups are withheld (secondary suppression).  The auditor's copy is the unmodified result.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hkc.audit.findings import is_number
from hkc.audit.flags import nested_audits, redact_flags
from hkc.audit.sections import map_sections
from hkc.definitions import METRICS

__all__ = ["WITHHELD", "GROUP_COUNTS", "suppress_small_cells"]

WITHHELD = "withheld"
GROUP_COUNTS = ("n", "selected", "positives", "negatives", "true_positives", "false_positives", "false_negatives",
                "true_negatives")
# Integer values that are settings or positions, not counts of people (the rest are counts).
NOT_COUNTS = frozenset({"seed", "resamples", "small_cell", "band_index", "distinct_rows"})


def _small(value: Any, threshold: int) -> bool:
    return is_number(value) and value < threshold


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


def _pooled_relations(pooled: Mapping[str, Mapping], groups: Mapping[str, Iterable[str]],
                      prefix: tuple = ()) -> list[list[tuple]]:
    """Relations a pooled comparison adds: the pooled group is the sum of its members
    (``Minority ethnic (pooled)`` = ``Asian`` + ``Black`` + …), and every group it leaves as it was
    equals the same group of the attribute pooled (``White`` is ``White`` in both)."""
    out = []
    for key, info in pooled.items():
        base = info.get("attribute")
        if key not in groups or base not in groups:
            continue
        for g in groups[key]:
            if g == info.get("group"):
                out.append([(*prefix, key, g)] + [(*prefix, base, m) for m in info.get("members", [])])
            else:
                out.append([(*prefix, key, g), (*prefix, base, g)])
    return out


def _pooled(attributes: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """The pooled attributes of a table of attributes, with what each pools."""
    return {k: a["pooled"] for k, a in attributes.items() if isinstance(a.get("pooled"), Mapping)}


def _hide_counts(row: dict, keys: Iterable[str], threshold: int, small_label: str) -> None:
    for key in keys:
        if key in row:
            row[key] = small_label if _small(row[key], threshold) else WITHHELD


def _withhold(row: dict, keys: Iterable[str]) -> None:
    for key in keys:
        if key in row:
            value = row[key]
            row[key] = dict.fromkeys(value, WITHHELD) if isinstance(value, dict) else WITHHELD


def _withhold_scores(out: dict) -> None:
    """Every score figure of a result's groups withheld: the mean score, its interval, ratio and difference, and
    the score quantiles (a partner copy shows rates and counts, never a score)."""
    for a in out.get("attributes", {}).values():
        for g in a.get("groups", []):
            if "mean_score" in g:
                g["mean_score"] = WITHHELD
            if isinstance(g.get("score_quantiles"), dict):
                g["score_quantiles"] = WITHHELD
            for key in ("ci", "ratio", "difference", "ratio_ci", "difference_ci"):
                if isinstance(g.get(key), dict) and "mean_score" in g[key]:
                    g[key]["mean_score"] = WITHHELD
        disparities = a.get("disparities")
        if isinstance(disparities, dict):
            for k in [k for k in disparities if "score" in k]:
                disparities[k] = WITHHELD


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
        if is_number(size):
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
    pooled = _pooled(out.get("attributes", {}))
    if isinstance(base, dict):
        pooled |= _pooled(base.get("attributes", {}))
    return _close(primary, _relations(groups) + _pooled_relations(pooled, groups), size), primary


def _suppress_attributes(out: dict, hidden: set[tuple], primary: set[tuple], threshold: int,
                         small_label: str) -> dict[str, list[str]]:
    withheld: dict[str, list[str]] = {}

    def withheld_of(attr: Any) -> set[str]:
        return {g for a, g in hidden if a == attr}

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
            _withhold(g, [*METRICS, "ci", "ratio", "ratio_ci", "difference", "difference_ci", "score_quantiles",
                          "undefined", "small_counts", "small_metrics", "exact"])
            g["flags"], g["indicative"], g["unassessed"], g["withheld"] = [], [], [], True
        if a["reference"] in names:  # every ratio would give the reference's rate away
            for g in a["groups"]:
                _withhold(g, ["ratio", "ratio_ci", "difference", "difference_ci"])
                g["flags"], g["indicative"], g["unassessed"] = [], [], []
            withheld[attr].append(f"(ratios to {a['reference']})")
        disparities = a.get("disparities", {})
        for block in (disparities, disparities.get("excluding_small", {})):
            if names & set(block.get("groups", [])):
                _withhold(block, [k for k in block if k not in ("groups", "excluded_groups", "excluding_small")])
        pooled = a.get("pooled")
        if isinstance(pooled, Mapping) and set(pooled.get("members", [])) & withheld_of(pooled.get("attribute")):
            names = names | {pooled.get("group")}  # its bands would give a hidden member's bands away
        _suppress_calibration(attr, a, names, threshold, small_label)
    return withheld


def _suppress_calibration(attr: str, a: dict, hidden_groups: set[str], threshold: int, small_label: str) -> None:
    rows = a.get("calibration", [])
    if not rows:
        return
    node = {id(r): ("cal", attr, f"{r['group']}@{r['band_index']}") for r in rows}
    size = {node[id(r)]: r["n"] for r in rows if is_number(r["n"])}
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
        size = {k: e["count"] for k, e in entries.items() if is_number(e.get("count"))}
        seed = {k for k, e in entries.items() if _small(e.get("count"), threshold)}
        closed = _close(seed, _relations(groups, (name,)) + _pooled_relations(_pooled(attributes), groups, (name,)),
                        size)
        for k, e in entries.items():
            if k in closed:
                _hide_counts(e, ["count"], threshold, small_label)
                _withhold(e, ["share", "ratio", "ratio_ci"])
                e["flag"] = e["indicative"] = e["unassessed"] = False
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
                e["flag"] = e["indicative"] = e["unassessed"] = False
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
    if key not in NOT_COUNTS and is_number(node) and (isinstance(node, int) or key in ("count", "size")) \
            and node < threshold:
        return small_label
    return node


def suppress_small_cells(result: dict, *, threshold: int) -> dict:
    """The partner-facing copy of an audit result (statistical disclosure control).

    Every count under ``threshold`` is shown as ``"<threshold>"`` and a group with such a count
    has its rates, intervals, ratios and score quantiles withheld (``"withheld"``).  Where one
    hidden count could be worked out from a total — an attribute's total, the margins linking an
    intersection to its parts (``Black`` = ``Black*F`` + ``Black*M`` + …), a pooled group to its
    members (``Minority ethnic (pooled)`` = ``Asian`` + ``Black`` + …), the group sizes behind
    calibration bands, or the same group in another table (cohort composition, drivers) — more
    groups are withheld until none can (secondary suppression, applied consistently across all
    tables).  Ratios to a withheld reference group, disparity measures over withheld groups, flags
    and undefined entries of withheld groups, and score minima and maxima (individual values) are
    withheld too.  A nested ``retrospective["audit"]`` (a refresh's audit of the list of a year
    earlier) is suppressed the same way, as a result of its own.  The auditor's copy is the
    unmodified ``result``.
    """
    out = copy.deepcopy(result)
    small_label = f"<{threshold}"
    hidden, primary = _group_hidden(out, threshold)
    withheld = _suppress_attributes(out, hidden, primary, threshold, small_label)
    overall = out.get("overall", {})
    if any(_small(overall.get(k), threshold) for k in GROUP_COUNTS):
        _hide_counts(overall, GROUP_COUNTS, threshold, small_label)
        _withhold(overall, [*METRICS, "ci"])
    out["undefined"] = [u for u in out.get("undefined", []) if u["group"] not in withheld.get(u["attribute"], [])]
    if isinstance(out.get("baselines"), dict):
        _suppress_baselines(out["baselines"], hidden, threshold, small_label)
    for d in _driver_tables(out):
        _suppress_drivers(d, hidden, threshold, small_label)
    out.pop("findings", None)
    retrospective = out.get("retrospective")
    if isinstance(retrospective, dict) and isinstance(retrospective.get("audit"), dict):
        # a refresh's retrospective audit is a whole result of its own: suppress it as one (its
        # small groups' rates and its findings would otherwise pass the safety net untouched)
        retrospective["audit"] = suppress_small_cells(retrospective["audit"], threshold=threshold)
    if isinstance(out.get("decided"), dict):  # each section of what is decided is a result of its own
        out["decided"] = map_sections(out["decided"], lambda a: suppress_small_cells(a, threshold=threshold))
    _withhold_scores(out)  # partners get bands, never scores: not even a group's average or quantiles
    # the same number of flags as the auditor's copy; a withheld group's flag keeps its place without its figures
    hidden_by_attr = {attr: sorted({g for a, g in hidden if a == attr} | set(withheld.get(attr, [])))
                      for attr in {a for a, _ in hidden} | set(withheld)}
    nested_hidden = {section: nested.get("suppression", {}).get("withheld_groups", {})
                     for section, _prefix, nested in nested_audits(out)}
    out["flags"] = redact_flags(out.get("flags", []), hidden_by_attr, nested_hidden)
    out = _safety_net(out, threshold, small_label)
    out["suppression"] = {
        "threshold": threshold, "shown_as": small_label,
        "withheld_groups": {attr: sorted({g for a, g in hidden if a == attr}) for attr in
                            sorted({a for a, _ in hidden})},
        "rule": "counts under the threshold shown as '<N'; rates resting on them withheld; more groups withheld "
                "wherever a total or another table would reveal a hidden count"}
    return out
