"""Writing an audit result out: ``audit.json``, a self-contained ``audit.html``, CSV tables, and
flat metrics for experiment tracking.

* :func:`write_audit` writes ``audit.json``, ``audit.html`` (Jinja2 with autoescaping; charts are
  inline SVG drawn by the template from geometry computed here) and CSV tables whose text cells
  are guarded against spreadsheet formula injection.  It writes whatever it is given: pass
  :func:`~hkc.audit.disclosure.suppress_small_cells` output for a partner copy.
* :func:`audit_metrics` flattens a result into aggregate figures for MLflow.

The functions read the plain dictionary built by :mod:`hkc.audit`; they never see person-level rows.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hkc.audit.bootstrap import finite_or_none
from hkc.audit.disclosure import GROUP_COUNTS, WITHHELD, suppress_small_cells
from hkc.audit.findings import METRIC_WORDS, findings, format_percent, is_number
from hkc.definitions import METRICS
from hkc.errors import OutputError
from hkc.outputs import jsonable, neutralise, render, replace_atomically, write_json, write_text_atomic

# findings and suppress_small_cells are re-exported: callers imported them from here before the split
__all__ = ["findings", "suppress_small_cells", "write_audit", "audit_metrics", "WITHHELD"]

PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#e07a5f",
           "#3d405b", "#81b29a", "#f2cc8f", "#6d597a")



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
            row |= {"small": g.get("small"), "undefined": g.get("undefined"), "flags": g.get("flags")}
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
                     "flagged": m in (g.get("flags") or [])})
    return rows


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
                             "ratio_ci_high": hi, "flagged": e.get("flag")})
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


# Charts: geometry here, drawing in the template (so every label is autoescaped).

def _interval_chart(rows: list[dict], *, percent: bool, width: int = 640, label_w: int = 200) -> dict:
    numeric = [r for r in rows if is_number(r["value"])]
    top = max([1e-9] + [r["value"] for r in numeric] + [r["hi"] for r in numeric if is_number(r.get("hi"))])
    top = min(1.0, math.ceil(top * 10) / 10) if percent and top <= 1 else top * 1.08  # round ticks
    plot_w = width - label_w - 70
    row_h = 22

    def x(v: float) -> float:
        return round(label_w + plot_w * max(0.0, min(v, top)) / top, 1)

    out_rows = []
    for i, r in enumerate(rows):
        y = 24 + i * row_h
        item = {"y": y, "label": r["label"], "small": r.get("small"), "flag": r.get("flag")}
        if is_number(r["value"]):
            item |= {"x": label_w, "w": round(x(r["value"]) - label_w, 1),
                     "text": format_percent(r["value"]) if percent else f"{r['value']:.2f}"}
            if is_number(r.get("lo")) and is_number(r.get("hi")):
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
            and all(is_number(g["score_quantiles"].get(k)) for k in ("p10", "p25", "p50", "p75", "p90"))]
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
        if is_number(r.get("observed_rate")):
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
    top = max([1e-9] + [sum(v for v in g["by_indicator"].values() if is_number(v)) for g in rows]) * 1.05
    plot_w = width - label_w - 60
    colours = {ind: PALETTE[i % len(PALETTE)] for i, ind in enumerate(indicators)}
    out = []
    for i, g in enumerate(rows):
        x = float(label_w)
        segments = []
        for ind in indicators:
            v = g["by_indicator"].get(ind, 0.0)
            w = plot_w * v / top if is_number(v) else 0.0
            if w > 0:
                segments.append({"x": round(x, 1), "w": round(w, 1), "colour": colours[ind], "indicator": ind,
                                 "value": f"{v:.2f}"})
            x += w
        out.append({"y": 24 + i * 22, "label": g["group"], "segments": segments,
                    "total": f"{g['mean_points']:.1f}" if is_number(g.get("mean_points")) else ""})
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
        return format_percent(value)
    return f"{value:.2f}" if kind == "ratio" else f"{value:.3g}"


def _fmt_ci(ci: Any, kind: str = "pct") -> str:
    if isinstance(ci, str):
        return ci
    if not isinstance(ci, list | tuple) or not all(is_number(v) for v in ci):
        return ""
    sep = " to " if ci[0] < 0 or ci[1] < 0 else "–"
    return f"{_fmt(ci[0], kind)}{sep}{_fmt(ci[1], kind)}"



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
            title=title, result=data, findings=sentences, charts=_charts(data), metric_words=METRIC_WORDS,
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
