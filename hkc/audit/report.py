"""Writing an audit result out: ``audit.json``, a self-contained ``audit.html``, CSV tables, and
flat metrics for experiment tracking.

* :func:`write_audit` writes ``audit.json``, ``audit.html`` (Jinja2 with autoescaping; charts are
  inline SVG drawn by the template from geometry computed in :mod:`hkc.audit.charts`; a caveat box
  first: :data:`CAVEAT_OUTCOME`, :data:`CAVEAT_SMALL`) and CSV tables whose text cells are guarded
  against spreadsheet formula injection.  It writes whatever it is given: pass
  :func:`~hkc.audit.disclosure.suppress_small_cells` output for a partner copy.
* :func:`audit_metrics` flattens a result into aggregate figures for MLflow.

The functions read the plain dictionary built by :mod:`hkc.audit`; they never see person-level rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hkc.audit.bootstrap import finite_or_none
from hkc.audit.charts import COLOURS, charts
from hkc.audit.disclosure import GROUP_COUNTS, WITHHELD, suppress_small_cells
from hkc.audit.findings import findings
from hkc.audit.flags import flag_summary, section_words
from hkc.audit.sections import decided_sections, selected_shares
from hkc.audit.wording import METRIC_WORDS, compared_groups, format_percent, is_number, listed, sentence
from hkc.definitions import METRICS
from hkc.errors import OutputError
from hkc.outputs import jsonable, neutralise, render, replace_atomically, write_json, write_text_atomic

# findings and suppress_small_cells are re-exported: callers imported them from here before the split
__all__ = ["findings", "suppress_small_cells", "write_audit", "audit_metrics", "WITHHELD", "CAVEAT_OUTCOME",
           "CAVEAT_SMALL"]

# The caveat box at the top of every audit page (tests compare them).
CAVEAT_OUTCOME = ("The outcome behind any error rate on this page is police-recorded and largely police-generated: "
                  "an arrest, a charge, a weapon found on a search or an intelligence report is recorded where the "
                  "police look. Being listed can itself raise the chance of detection (more stops, more "
                  "intelligence), a feedback loop that makes a list look more accurate than it is for the people it "
                  "already targets.")
CAVEAT_SMALL = ("At small sizes the absence of a flag is not evidence of fairness. Where a count behind a rate is "
                "under {small_cell}, the interval is exact and usually too wide to tell; such a group is reported as "
                "\"cannot be assessed at this size\", never as raising no flag.")

def _cell(value: Any) -> Any:
    """A CSV cell: a list joined with ``;``, then any text guarded against formula injection."""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)  # joined first: the joined text is what a spreadsheet reads
    if isinstance(value, str):
        return neutralise(value)
    return "" if value is None else value


def _lohi(ci: Any) -> tuple[Any, Any]:
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return ci[0], ci[1]
    return (ci, ci) if isinstance(ci, str) else (None, None)


def _tables(result: Mapping) -> dict[str, list[dict]]:
    """The CSV tables (name → rows): groups, ratios, disparities, calibration, and baselines and drivers if any."""
    out = _group_tables(result)
    base = result.get("baselines")
    if isinstance(base, Mapping):
        out["baselines"] = _baseline_rows(base)
    drivers = result.get("drivers")
    if isinstance(drivers, Mapping):
        out["drivers"] = _driver_rows(drivers)
    return out


def _group_tables(result: Mapping) -> dict[str, list[dict]]:
    """Per attribute: a row per group, per ratio to the reference, per disparity measure, per calibration band."""
    groups, ratios, disparities, calibration = [], [], [], []
    for attr, a in result.get("attributes", {}).items():
        ref_row = next((g for g in a["groups"] if g["group"] == a["reference"]), {})
        for g in a["groups"]:
            row = {"attribute": attr, "group": g["group"], "reference": g.get("reference")}
            row |= {k: g.get(k) for k in GROUP_COUNTS if k in g}
            for m in METRICS:
                if m in g.get("ci", {}) or m in g:
                    lo, hi = _lohi(g.get("ci", {}).get(m) if isinstance(g.get("ci"), dict) else g.get("ci"))
                    row |= {m: g.get(m), f"{m}_ci_low": lo, f"{m}_ci_high": hi}
            row |= {"small": g.get("small"), "undefined": g.get("undefined"), "flags": g.get("flags"),
                    "indicative": g.get("indicative"), "unassessed": g.get("unassessed")}
            groups.append(row)
            if isinstance(g.get("ratio"), dict):
                ratios += _ratio_rows(attr, a["reference"], g, ref_row)
        for scope, block in (("all defined groups", a.get("disparities", {})),
                             ("excluding small groups", a.get("disparities", {}).get("excluding_small", {}))):
            for measure, value in block.items():
                if measure not in ("groups", "excluded_groups", "excluding_small"):
                    disparities.append({"attribute": attr, "scope": scope, "measure": measure, "value": value,
                                        "groups": block.get("groups")})
        for row in a.get("calibration", []):
            calibration.append({"attribute": attr} | {k: v for k, v in row.items() if k != "band_index"})
    return {"groups": groups, "ratios": ratios, "disparities": disparities, "calibration": calibration}


def _ratio_rows(attr: str, reference: str, g: Mapping, ref_row: Mapping) -> list[dict]:
    """One group's ratios and differences to the reference, a row per metric."""
    rows = []
    for m, ratio in g["ratio"].items():
        lo, hi = _lohi(g["ratio_ci"].get(m) if isinstance(g.get("ratio_ci"), dict) else None)
        dlo, dhi = _lohi(g["difference_ci"].get(m) if isinstance(g.get("difference_ci"), dict) else None)
        rows.append({"attribute": attr, "group": g["group"], "reference": reference, "metric": m,
                     "value": g.get(m), "reference_value": ref_row.get(m), "ratio": ratio,
                     "ratio_ci_low": lo, "ratio_ci_high": hi,
                     "difference": g["difference"].get(m) if isinstance(g.get("difference"), dict)
                     else None, "difference_ci_low": dlo, "difference_ci_high": dhi,
                     "flagged": m in (g.get("flags") or []),
                     "unassessed": m in (g.get("unassessed") or []) if isinstance(g.get("unassessed"), list) else None,
                     "interval": _interval_kind(g, m)})
    return rows


def _interval_kind(g: Mapping, metric: str) -> str:
    """How a ratio's interval was made: ``exact`` (a count is small) or ``bootstrap``."""
    exact = g.get("exact")
    if g.get("withheld") is True or not isinstance(exact, Mapping) or not isinstance(exact.get("ratio"), list):
        return WITHHELD if g.get("withheld") is True else "bootstrap"
    return "exact" if metric in exact["ratio"] else "bootstrap"


def _baseline_rows(base: Mapping) -> list[dict]:
    """A row per attribute, group and baseline: cohort share against the baseline's, with the ratio."""
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
                             "ratio_ci_high": hi, "flagged": e.get("flag"), "unassessed": e.get("unassessed"),
                             "interval": "exact" if e.get("exact") is True else "bootstrap"})
    return rows


def _driver_rows(drivers: Mapping) -> list[dict]:
    """A row per attribute, group and indicator: mean risk points and the gap to the reference."""
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
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})

    replace_atomically(path, write)


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
        return format_percent(value)
    if kind == "pp":
        return f"{100 * value:+.2f} pp"
    return f"{value:.2f}" if kind == "ratio" else f"{value:.3g}"


def _fmt_ci(ci: Any, kind: str = "pct") -> str:
    if isinstance(ci, str):
        return ci
    if not isinstance(ci, list | tuple) or not all(is_number(v) for v in ci):
        return ""
    if kind == "pp":
        return f"{100 * ci[0]:+.2f} to {100 * ci[1]:+.2f} pp"
    sep = " to " if ci[0] < 0 or ci[1] < 0 else "–"
    return f"{_fmt(ci[0], kind)}{sep}{_fmt(ci[1], kind)}"


def _assessment(result: Mapping) -> list[dict[str, Any]]:
    """Per attribute that is not an intersection: how many groups were compared with the reference, how
    many were flagged, how many could not be assessed at this size, and how many are withheld from this copy."""
    out = []
    for attr, a in result.get("attributes", {}).items():
        if "*" in attr:
            continue
        others = compared_groups(a)
        flagged = [g for g in others if listed(g, "flags")]
        unassessed = [g for g in others if g.get("withheld") is not True and not listed(g, "flags")
                      and (listed(g, "unassessed") or listed(g, "indicative"))]
        withheld = [g for g in others if g.get("withheld") is True]
        ref_label = result.get("labels", {}).get(attr, {}).get(a["reference"], a["reference"])
        out.append({"attribute": attr, "reference": ref_label, "groups": len(others), "flagged": len(flagged),
                    "unassessed": len(unassessed), "withheld": len(withheld)})
    return out


def _retrospective_findings(result: Mapping) -> list[str]:
    retro = result.get("retrospective")
    if not isinstance(retro, Mapping) or not isinstance(retro.get("audit"), Mapping):
        return []
    past = retro["audit"]
    return list(past.get("findings") or findings(dict(past)))


def _decided_view(result: Mapping) -> list[dict[str, Any]]:
    """The sections of what is decided as the page shows them: words, findings and a table per attribute
    (intersections left to ``audit.json``); additions also show each group's share of the people added."""
    decided = result.get("decided")
    if not isinstance(decided, Mapping):
        return []
    out = []
    for path, section in decided_sections(decided):
        view: dict[str, Any] = {"title": sentence(str(section.get("title") or path.rsplit(":", 1)[-1])),
                                "available": bool(section.get("available")), "reason": section.get("reason"),
                                "description": section.get("description", ""), "tables": {}, "findings": [],
                                "shares": path.endswith("additions")}
        absent = section.get("not_in_extract")
        if isinstance(absent, Mapping) and absent.get("n"):
            view["not_in_extract"] = (f"{absent['n']} people of earlier runs are not in this extract "
                                      f"({absent.get('selected', 0)} of them selected): counted here, not in the rates.")
        audit = section.get("audit")
        if view["available"] and isinstance(audit, Mapping):
            view["findings"] = list(audit.get("findings") or findings(dict(audit)))
            shares = selected_shares(audit) if view["shares"] else {}
            for attr, a in audit.get("attributes", {}).items():
                if "*" in attr:
                    continue
                share = {r["group"]: r for r in shares.get(attr, [])}
                rows = []
                for g in a["groups"]:
                    ci, ratio, ratio_ci = g.get("ci"), g.get("ratio"), g.get("ratio_ci")
                    rows.append({
                        "group": g["group"], "is_reference": g["group"] == a["reference"], "n": g.get("n"),
                        "selected": g.get("selected"), "rate": g.get("selection_rate"),
                        "rate_ci": ci.get("selection_rate") if isinstance(ci, Mapping) else ci,
                        "ratio": ratio.get("selection_rate") if isinstance(ratio, Mapping) else ratio,
                        "ratio_ci": ratio_ci.get("selection_rate") if isinstance(ratio_ci, Mapping) else ratio_ci,
                        "flagged": "selection_rate" in listed(g, "flags"),
                        "unassessed": bool(listed(g, "unassessed") or listed(g, "indicative")),
                        "share": share.get(g["group"], {}).get("share"), "share_ci": share.get(g["group"], {}).get("ci")})
                view["tables"][attr] = {"reference": a["reference"], "groups": rows}
        out.append(view)
    return out


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
    data = jsonable({**result, "findings": sentences})
    written = []
    try:
        written.append(write_json(data, out / "audit.json", sort_keys=False))
        for name, rows in _tables(data).items():
            if rows:
                path = out / f"{name}.csv"
                _write_csv(path, rows)
                written.append(path)
        html = render("audit.html.j2", dict(
            title=title, result=data, findings=sentences, charts=charts(data), metric_words=METRIC_WORDS,
            colours=COLOURS, assessment=_assessment(data), retrospective_findings=_retrospective_findings(data),
            flags=data.get("flags", []), decided=_decided_view(data), flag_summary=sentence(flag_summary(data.get("flags", []))),
            section_words=section_words,
            caveat_outcome=CAVEAT_OUTCOME,
            caveat_small=CAVEAT_SMALL.format(small_cell=data.get("thresholds", {}).get("small_cell", 10)),
            metrics=[m for m in METRICS if any(m in g.get("ci", {}) for a in data.get("attributes", {}).values()
                                                  for g in a["groups"] if isinstance(g.get("ci"), dict))]),
                      filters={"fmt": _fmt, "fmt_ci": _fmt_ci}, strict=False)
        written.append(write_text_atomic(html, out / "audit.html"))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the audit ({exc.strerror}); check the folder's permissions") from None
    return written


def audit_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """Flat aggregate figures for experiment tracking (MLflow): never a person-level value.

    Keys look like ``audit/ethnicity/Black/selection_rate`` and ``…/selection_rate_ratio``
    (characters MLflow rejects become ``_``; ``*`` becomes ``_x_``), plus the numbers of flags and
    undefined rates.  Pass the partner copy to log only what partners may see.
    """
    def key(*parts: str) -> str:
        return "/".join(re.sub(r"[^\w.\- ]", "_", str(p).replace("*", "_x_")) for p in parts)

    n = result.get("n")
    n = finite_or_none(n) if isinstance(n, int | float) and not isinstance(n, bool) else None  # "<10" in partner copies
    out: dict[str, float] = {"audit/n": n if n is not None else float("nan"),
                             "audit/flags": float(len(result.get("flags", []))),
                             "audit/undefined": float(len(result.get("undefined", [])))}
    for attr, a in result.get("attributes", {}).items():
        for g in a["groups"]:
            for m in METRICS:
                value = g.get(m)
                if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                    out[key("audit", attr, g["group"], m)] = float(value)
                ratio = g.get("ratio", {}).get(m) if isinstance(g.get("ratio"), Mapping) else None
                if isinstance(ratio, int | float) and np.isfinite(ratio):
                    out[key("audit", attr, g["group"], f"{m}_ratio")] = float(ratio)
        for measure, value in a.get("disparities", {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                out[key("audit", attr, measure)] = float(value)
    return out
