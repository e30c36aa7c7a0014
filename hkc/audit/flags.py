"""What an audit flags, decided in one place.

Every output that states how many disparities an audit flagged — the terminal, ``run.json``,
``audit.json``, the audit page, the police and partner packs, the transparency record — reads the
list :func:`flag_list` builds, so they cannot disagree.  A flag is raised wherever a section of the
audit marks a comparison as flagged:

* ``selection`` — a group's rate (selection, or an error rate) against the reference group;
* ``drivers`` — a group's mean risk points, or the share of its points from intelligence or from
  proactive (police-generated) indicators, against the reference group;
* ``baselines`` — a group's share of the cohort against its share of a baseline population;
* ``retrospective`` — the same rules' list of a year earlier, against what happened next;
* any further section holding an audit of its own (``decided``: the periphery, decisions, additions
  and removals, cumulative listing), under its own name;
* ``chance`` — the list did no better than a random draw among the eligible.

Each flag carries a short sentence (``text``) that says what was compared, the ratio and its
interval.  In a partner copy a flag on a withheld group keeps its place in the list (so the count
is the same everywhere) but loses its group and figures (:func:`redact_flags`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hkc.audit.sections import decided_sections
from hkc.audit.wording import METRIC_WORDS, ci_text, compared_groups, result_label

__all__ = ["flag_list", "redact_flags", "flag_summary", "nested_audits", "section_words", "SECTION_WORDS"]

SECTION_WORDS = {
    "selection": "who is selected",
    "drivers": "what drives the risk points",
    "baselines": "the cohort against baseline populations",
    "retrospective": "the list of a year earlier against what happened next",
    "chance": "the list against chance",
    "periphery": "who is put on the periphery list", "referrals": "referrals", "additions": "additions to the list",
    "removals": "removals from the list", "ever_listed": "who was ever listed in four quarters",
    "ever_adopted": "who was ever adopted in four quarters", "by_decision": "the meeting's decisions",
}


def section_words(section: str) -> str:
    """A flag's section in words: ``decided:changes:additions`` is "additions to the list"."""
    if section in SECTION_WORDS:
        return SECTION_WORDS[section]
    parts = section.split(":")
    for part in reversed(parts[:-1] if "by_decision" in parts else parts):
        if part in SECTION_WORDS:
            return SECTION_WORDS[part]
    return parts[-1].replace("_", " ")

_DRIVER_METRICS = {"mean_risk_points": ("flag", "ratio", "ratio_ci", "mean risk points"),
                   "intelligence_share_of_risk_points": ("intelligence_flag", "intelligence_share_ratio",
                                                         "intelligence_share_ratio_ci",
                                                         "share of risk points from intelligence"),
                   "proactive_share_of_risk_points": ("proactive_flag", "proactive_share_ratio",
                                                      "proactive_share_ratio_ci",
                                                      "share of risk points from proactive indicators")}


def _conf(result: Mapping) -> float:
    return result.get("thresholds", {}).get("confidence", 0.95)


def _ratio_words(ratio: Any, ci: Any, conf: float) -> str:
    interval = ci_text(ci, conf)
    if not isinstance(ratio, int | float) or isinstance(ratio, bool):
        return "figures withheld"
    return f"ratio {ratio:.2f}" + (f" ({interval})" if interval else "")


def _against(result: Mapping, section: str, attr: str, g: Mapping, ref: str, metric: str, ratio: Any, ci: Any,
             words: str, prefix: str = "") -> dict:
    """A flag comparing group ``g`` of ``attr`` with the reference group ``ref``."""
    return {"section": section, "attribute": attr, "group": g["group"], "reference": ref, "metric": metric,
            "ratio": ratio, "ci": ci, "small": bool(g.get("small")),
            "text": (f"{prefix}{result_label(result, attr, g['group'])} against {result_label(result, attr, ref)}: "
                     f"{words}, {_ratio_words(ratio, ci, _conf(result))}")}


def _selection_flags(result: Mapping, section: str, prefix: str = "") -> list[dict]:
    """The rate-ratio flags of an ``audit_selection`` result, in the order of its attributes and groups."""
    label = result.get("selection", {}).get("label", "selected")
    out = []
    for attr, a in result.get("attributes", {}).items():
        ref = a["reference"]
        for g in compared_groups(a):  # a pooled attribute compares its pooled group alone
            flags = g.get("flags")
            if not isinstance(flags, list):
                continue
            for metric in flags:
                ratio = g.get("ratio", {}).get(metric) if isinstance(g.get("ratio"), Mapping) else None
                ci = g.get("ratio_ci", {}).get(metric) if isinstance(g.get("ratio_ci"), Mapping) else None
                words = ("chance of being " + label if metric == "selection_rate"
                         else METRIC_WORDS.get(metric, metric.replace("_", " ")))
                out.append(_against(result, section, attr, g, ref, metric, ratio, ci, words, prefix))
    return out


def _driver_flags(result: Mapping) -> list[dict]:
    drivers = result.get("drivers")
    if not isinstance(drivers, Mapping):
        return []
    tables = [drivers] if "attribute" in drivers else list(drivers.values())
    out = []
    for d in tables:
        if not isinstance(d, Mapping):
            continue
        attr, ref = d.get("attribute"), d.get("reference")
        for g in d.get("groups", []):
            for metric, (key, ratio_key, ci_key, words) in _DRIVER_METRICS.items():
                if g.get(key) is not True:
                    continue
                out.append(_against(result, "drivers", attr, g, ref, metric, g.get(ratio_key), g.get(ci_key), words))
    return out


def _baseline_flags(result: Mapping) -> list[dict]:
    base = result.get("baselines")
    if not isinstance(base, Mapping):
        return []
    labels = {k: v.get("label", k) for k, v in base.get("baselines", {}).items() if isinstance(v, Mapping)}
    conf, out = _conf(result), []
    for attr, a in base.get("attributes", {}).items():
        for g in a.get("groups", []):
            for name, e in (g.get("baselines") or {}).items():
                if not isinstance(e, Mapping) or e.get("flag") is not True:
                    continue
                out.append({
                    "section": "baselines", "attribute": attr, "group": g["group"], "reference": None,
                    "baseline": labels.get(name, name), "metric": "cohort_share", "ratio": e.get("ratio"),
                    "ci": e.get("ratio_ci"), "small": False,
                    "text": (f"{result_label(result, attr, g['group'])}: share of the cohort against their share of "
                             f"{labels.get(name, name)}, {_ratio_words(e.get('ratio'), e.get('ratio_ci'), conf)}")})
    return out


def _chance_flags(result: Mapping) -> list[dict]:
    chance = result.get("chance")
    if not isinstance(chance, Mapping) or chance.get("no_better_than_chance") is not True:
        return []
    diff = chance.get("difference") or {}
    estimate, ci = diff.get("estimate"), diff.get("ci")
    figures = ""
    if isinstance(estimate, int | float) and isinstance(ci, list | tuple) and len(ci) == 2:
        figures = (f": precision {100 * estimate:+.1f} percentage points against a random draw "
                   f"(95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})")
    listed = (chance.get("pooled") or {}).get("listed")
    text = ("the list is not shown to do better than a random draw among the eligible: too few listings"
            + (f" ({listed} over the backtest's quarters)" if isinstance(listed, int) else "") + " to tell"
            if chance.get("too_small") else "the list did no better than a random draw among the eligible" + figures)
    return [{"section": "chance", "attribute": None, "group": None, "reference": "a random draw among the eligible",
             "metric": "precision", "ratio": None, "ci": ci, "small": bool(chance.get("too_small")), "text": text}]


def nested_audits(result: Mapping) -> Iterable[tuple[str, str, Mapping]]:
    """``(section, prefix, audit)`` for each audit nested in the result (retrospective, decided sections)."""
    retro = result.get("retrospective")
    if isinstance(retro, Mapping) and isinstance(retro.get("audit"), Mapping):
        yield "retrospective", f"list of {retro.get('as_of', 'a year earlier')}: ", retro["audit"]
    decided = result.get("decided")
    if isinstance(decided, Mapping):
        yield from _decided(decided, "decided")


def _decided(decided: Mapping, path: str) -> Iterable[tuple[str, str, Mapping]]:
    for section_path, part in decided_sections(decided, path):
        if isinstance(part.get("audit"), Mapping):
            title = part.get("title") or section_path.rsplit(":", 1)[-1].replace("_", " ")
            yield section_path, f"{title}: ", part["audit"]


def flag_list(result: Mapping) -> list[dict]:
    """Every flag the audit ``result`` raises, each with its section and a sentence (see the module docstring)."""
    out = _selection_flags(result, "selection") + _driver_flags(result) + _baseline_flags(result)
    for section, prefix, nested in nested_audits(result):
        out += _selection_flags(nested, section, prefix) + _driver_flags(nested)
    return out + _chance_flags(result)


def redact_flags(flags: list[dict], withheld: Mapping[str, Iterable[str]],
                 nested_withheld: Mapping[str, Mapping[str, Iterable[str]]] | None = None) -> list[dict]:
    """The partner copy's flags: the same number, with a withheld group's name and figures removed.

    ``withheld`` maps an attribute to its withheld groups; ``nested_withheld`` does the same per
    nested section (the retrospective and decided audits are suppressed as results of their own)."""
    out = []
    for f in flags:
        section = f.get("section", "selection")  # a bare audit_selection result's flags have no section
        hidden = withheld if section in ("selection", "drivers", "baselines", "chance") else \
            (nested_withheld or {}).get(section, withheld)
        groups = set(hidden.get(f.get("attribute"), ())) if f.get("attribute") else set()
        if f.get("group") in groups or f.get("reference") in groups:
            out.append({"section": section, "attribute": f["attribute"], "group": "withheld",
                        "reference": "withheld", "metric": f["metric"], "ratio": None, "ci": None, "small": True,
                        "withheld": True,
                        "text": (f"a group by {f['attribute']} too small to show in this copy "
                                 f"({f['metric'].replace('_', ' ')})")})
        else:
            out.append(dict(f))
    return out


def flag_summary(flags: list[dict]) -> str:
    """One line: how many flags, and in which sections (``"5 flags: 2 in who is selected, …"``)."""
    if not flags:
        return "no flags"
    counts: dict[str, int] = {}
    for f in flags:
        words = section_words(f.get("section", "selection"))
        counts[words] = counts.get(words, 0) + 1
    n = len(flags)
    return f"{n} flag{'s' if n != 1 else ''}: " + ", ".join(f"{c} in {w}" for w, c in counts.items())
