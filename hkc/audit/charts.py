"""Chart geometry for ``audit.html``: every position computed here, every label drawn (and escaped) by the template.

Selection rates and error rates by group with their intervals (a dashed whisker where the interval
is exact because a count is small, a dashed line at the reference group's rate), score
distributions, calibration by band and the driver decomposition.  Every colour a chart uses is in
its legend.  The functions read the plain result dictionary, never person-level rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hkc.audit.wording import format_percent, is_number, listed

__all__ = ["PALETTE", "COLOURS", "ERROR_METRICS", "charts", "error_chart", "interval_chart"]

PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#e07a5f",
           "#3d405b", "#81b29a", "#f2cc8f", "#6d597a")
# The colours with a fixed meaning, as the legends name them.
COLOURS = {"rate": "#1b6ca8", "flag": "#d1495b", "false_positive_rate": "#1b6ca8", "false_negative_rate": "#edae49",
           "interval": "#222222", "exact": "#777777", "box": "#00798c"}
ERROR_METRICS = ("false_positive_rate", "false_negative_rate")
WITHHELD = "withheld"


def _lohi(ci: Any) -> tuple[Any, Any]:
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return ci[0], ci[1]
    return (None, None)


def _exact(g: Mapping, kind: str) -> list:
    value = g.get("exact")
    return value.get(kind, []) if isinstance(value, Mapping) and isinstance(value.get(kind), list) else []


def _pp(value: float) -> str:
    return f"{100 * value:+.2f} pp"


def _axis(top: float, left: float, width: float) -> tuple[float, Any]:
    """A rounded top of a percentage axis and the function placing a rate on it."""
    top = min(1.0, math.ceil(top * 10) / 10) if top <= 1 else top * 1.08

    def x(v: float) -> float:
        return round(left + width * max(0.0, min(v, top)) / top, 1)

    return top, x


def interval_chart(rows: list[dict], *, reference: float | None = None, width: int = 640,
                   label_w: int = 200) -> dict:
    """Horizontal bars of a rate per group with interval whiskers (rows: label, value, lo, hi, small, flag, exact)."""
    numeric = [r for r in rows if is_number(r["value"])]
    top, x = _axis(max([1e-9] + [r["value"] for r in numeric] + [r["hi"] for r in numeric if is_number(r.get("hi"))]),
                   label_w, width - label_w - 70)
    row_h = 22
    out_rows = []
    for i, r in enumerate(rows):
        y = 24 + i * row_h
        item = {"y": y, "label": r["label"], "small": r.get("small"), "flag": r.get("flag"), "exact": r.get("exact")}
        if is_number(r["value"]):
            item |= {"x": label_w, "w": round(x(r["value"]) - label_w, 1), "text": format_percent(r["value"])}
            if is_number(r.get("lo")) and is_number(r.get("hi")):
                item |= {"ci_x1": x(r["lo"]), "ci_x2": x(r["hi"])}
        else:
            item["text"] = WITHHELD if r["value"] == WITHHELD else "undefined"
        out_rows.append(item)
    ticks = [{"x": x(top * k / 4), "label": f"{100 * top * k / 4:.3g}%"} for k in range(5)]
    return {"width": width, "height": 50 + len(rows) * row_h, "rows": out_rows, "ticks": ticks, "label_w": label_w,
            "plot_right": label_w + width - label_w - 70, "axis_y": 30 + len(rows) * row_h,
            "ref_x": x(reference) if is_number(reference) else None}


def error_chart(a: Mapping, *, width: int = 820, label_w: int = 210) -> dict | None:
    """False positive and false negative rates per group, each with its interval and its difference to the
    reference group in percentage points; ``None`` without error rates."""
    groups = [g for g in a.get("groups", []) if any(m in g for m in ERROR_METRICS)]
    if not groups or not any(is_number(g.get(m)) for g in groups for m in ERROR_METRICS):
        return None
    plot_w = width - label_w - 250
    values = [v for g in groups for m in ERROR_METRICS
              for v in (g.get(m), *_lohi((g.get("ci") or {}).get(m) if isinstance(g.get("ci"), Mapping) else None))
              if is_number(v)]
    top, x = _axis(max([1e-9] + values), label_w, plot_w)
    ref = next((g for g in groups if g["group"] == a.get("reference")), {})
    rows, y = [], 24
    for g in groups:
        ci = g.get("ci") if isinstance(g.get("ci"), Mapping) else {}
        diff = g.get("difference") if isinstance(g.get("difference"), Mapping) else {}
        bars = []
        for k, m in enumerate(ERROR_METRICS):
            bar: dict[str, Any] = {"y": y + 14 * k, "colour": COLOURS[m], "flag": m in listed(g, "flags"),
                                   "exact": m in _exact(g, "rate")}
            value = g.get(m)
            if is_number(value):
                lo, hi = _lohi(ci.get(m))
                text = format_percent(value) + (f" ({100 * lo:.1f}–{100 * hi:.1f})" if is_number(lo) else "")
                if g is not ref and is_number(diff.get(m)):
                    text += f", {_pp(diff[m])}"
                bar |= {"w": round(x(value) - label_w, 1), "text": text + (" flagged" if bar["flag"] else "")}
                if is_number(lo) and is_number(hi):
                    bar |= {"ci_x1": x(lo), "ci_x2": x(hi)}
            else:
                bar["text"] = WITHHELD if value == WITHHELD else "undefined"
            bars.append(bar)
        rows.append({"y": y + 7, "label": g["group"], "reference": g is ref, "small": g.get("small"), "bars": bars})
        y += 40
    refs = [{"x": x(ref[m]), "colour": COLOURS[m]} for m in ERROR_METRICS if is_number(ref.get(m))]
    ticks = [{"x": x(top * k / 4), "label": f"{100 * top * k / 4:.3g}%"} for k in range(5)]
    return {"width": width, "height": y + 30, "rows": rows, "ticks": ticks, "label_w": label_w,
            "plot_right": label_w + plot_w, "axis_y": y + 2, "refs": refs, "reference": a.get("reference")}


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


def _selection_rows(a: Mapping) -> tuple[list[dict], float | None]:
    rows = []
    ref = None
    for g in a["groups"]:
        ci = g.get("ci", {}).get("selection_rate") if isinstance(g.get("ci"), dict) else None
        lo, hi = _lohi(ci)
        rows.append({"label": g["group"], "value": g.get("selection_rate"), "lo": lo, "hi": hi,
                     "small": g.get("small"), "flag": "selection_rate" in listed(g, "flags"),
                     "exact": "selection_rate" in _exact(g, "rate")})
        if g["group"] == a.get("reference"):
            ref = g.get("selection_rate")
    return rows, ref


def charts(result: Mapping) -> dict[str, Any]:
    """Every chart of an audit result: per attribute, and the retrospective audit's error rates."""
    out: dict[str, Any] = {"selection": {}, "errors": {}, "scores": {}, "calibration": {}, "drivers": [],
                           "retrospective": {}}
    for attr, a in result.get("attributes", {}).items():
        rows, ref = _selection_rows(a)
        out["selection"][attr] = interval_chart(rows, reference=ref)
        errors = error_chart(a)
        if errors:
            out["errors"][attr] = errors
        box = _box_chart(a["groups"])
        if box:
            out["scores"][attr] = box
        if a.get("calibration") and "*" not in attr:
            cal = _calibration_chart(a["calibration"], {g["group"] for g in a["groups"] if g.get("small")})
            if cal:
                out["calibration"][attr] = cal
    drivers = result.get("drivers")
    if isinstance(drivers, Mapping):
        for d in [drivers] if "attribute" in drivers else drivers.values():
            chart = _driver_chart(d)
            if chart:
                out["drivers"].append(chart)
    retro = result.get("retrospective")
    if isinstance(retro, Mapping) and isinstance(retro.get("audit"), Mapping):
        for attr, a in retro["audit"].get("attributes", {}).items():
            chart = error_chart(a) if "*" not in attr else None
            if chart:
                out["retrospective"][attr] = chart
    return out
