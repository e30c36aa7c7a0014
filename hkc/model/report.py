"""Backtest and model reports: ``backtest.json``, a self-contained ``backtest.html`` and the model card.

The functions read the plain dictionaries built by :mod:`hkc.model.backtest` and :mod:`hkc.model.training`;
they never see person-level rows.  Charts (reliability diagram, precision-at-k curve, rolling
precision) are geometry computed here (:func:`line_chart`) and drawn as inline SVG by a macro in
``templates/backtest.html.j2``; Jinja2 autoescapes every label.  The same macro renders the
standalone ``calibration.svg`` logged to MLflow.  Files are written atomically one by one, so a
backtest and a training run can share an output folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from hkc.outputs import environment, jsonable, write_json, write_text_atomic

__all__ = ["write_backtest", "line_chart", "reliability_chart", "precision_chart", "rolling_chart",
           "calibration_svg", "model_card", "backtest_facts", "METRIC_NAMES"]

PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#00798c", "#2e4057", "#e07a5f")
METRIC_NAMES = {"roc_auc": "ROC AUC", "average_precision": "average precision", "brier": "Brier score",
                "ece": "expected calibration error", "precision_at_k": "precision in the top k",
                "recall_at_k": "recall in the top k"}
SMALL = "<{n}"




# --------------------------------------------------------------------------------------------
# Chart geometry


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= value:
            return m * step
    return 10 * step


def line_chart(series: Sequence[Mapping], *, x_max: float, y_max: float, x_label: str, y_label: str,
               diagonal: bool = False, marker: float | None = None, x_ticks: Sequence[tuple[float, str]] = (),
               title: str = "", width: int = 620, height: int = 320) -> dict:
    """Pixel geometry of a line chart: ``series`` items are ``{"name", "points": [[x, y], …], "dash"}``."""
    left, right, top, bottom = 52, 210, 24, 44
    x0, x1, y0, y1 = left, width - right, height - bottom, top
    x_max, y_max = (x_max or 1.0), (y_max or 1.0)

    def px(x: float) -> float:
        return round(x0 + (x1 - x0) * x / x_max, 1)

    def py(y: float) -> float:
        return round(y0 - (y0 - y1) * y / y_max, 1)

    lines = []
    for i, s in enumerate(series):
        pts = [(px(x), py(y)) for x, y in s["points"] if x is not None and y is not None]
        lines.append({"name": s["name"], "color": s.get("color", PALETTE[i % len(PALETTE)]),
                      "dash": s.get("dash", False), "points": " ".join(f"{a},{b}" for a, b in pts),
                      "dots": pts if s.get("dots") else [], "legend_y": y1 + 16 * i + 6})
    ticks_x = [{"x": px(x), "label": label} for x, label in x_ticks] or \
        [{"x": px(x_max * i / 4), "label": f"{x_max * i / 4:g}"} for i in range(5)]
    return {"title": title, "width": width, "height": height, "x0": x0, "x1": x1, "y0": y0, "y1": y1,
            "lines": lines, "x_ticks": ticks_x, "x_label": x_label, "y_label": y_label,
            "y_ticks": [{"y": py(y_max * i / 4), "label": f"{y_max * i / 4:.3g}"} for i in range(5)],
            "diagonal": f"{px(0)},{py(0)} {px(min(x_max, y_max))},{py(min(x_max, y_max))}" if diagonal else None,
            "marker": {"x": px(marker), "label": f"k = {marker:g}"} if marker else None,
            "legend_x": x1 + 14}


def _colors(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def reliability_chart(reliability: Mapping[str, Mapping[str, list]], title: str = "",
                      colors: Mapping[str, str] | None = None) -> dict:
    """Observed rate against mean predicted probability per bin, calibrated (solid) and not (dashed)."""
    series, top = [], 0.0
    colors = colors or _colors(list(reliability))
    for name, r in reliability.items():
        for kind, dash in (("calibrated", False), ("uncalibrated", True)):
            pts = [[b["predicted"], b["observed"]] for b in r[kind]]
            top = max([top] + [max(p) for p in pts])
            series.append({"name": f"{name} ({kind})", "points": pts, "dash": dash, "dots": True,
                           "color": colors[name]})
    top = _nice_max(top)
    return line_chart(series, x_max=top, y_max=top, x_label="mean predicted probability",
                      y_label="observed rate", diagonal=True, title=title)


def precision_chart(curves: Mapping[str, list], k: int, colors: Mapping[str, str] | None = None) -> dict:
    max_k = max((c[-1][0] for c in curves.values() if c), default=k)
    colors = colors or _colors(list(curves))
    series = [{"name": name, "points": c, "color": colors[name]} for name, c in curves.items()]
    return line_chart(series, x_max=max_k, y_max=1.0, x_label="k (people listed)",
                      y_label="precision in the top k", marker=k)


def rolling_chart(rolling: Sequence[Mapping], metric: str = "precision_at_k",
                  colors: Mapping[str, str] | None = None) -> dict:
    names = list(dict.fromkeys(n for r in rolling for n in r["rankers"]))
    colors = colors or _colors(names)
    series = [{"name": n, "dots": True, "color": colors[n],
               "points": [[i + 1, r["rankers"][n][metric]] for i, r in enumerate(rolling)
                          if n in r["rankers"] and r["rankers"][n][metric] is not None]} for n in names]
    step = max(1, math.ceil(len(rolling) / 5))
    ticks = [(i + 1, r["snapshot"]) for i, r in enumerate(rolling)][::step]
    return line_chart(series, x_max=len(rolling) + 1, y_max=1.0, x_label="snapshot",
                      y_label=METRIC_NAMES[metric], x_ticks=ticks, width=820)


# --------------------------------------------------------------------------------------------
# Rendering


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def _fmt_ci(ci: Any, digits: int = 3) -> str:
    if not ci:
        return ""
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _environment() -> Environment:
    return environment({"fmt": _fmt, "fmt_ci": _fmt_ci}, strict=False)


def calibration_svg(reliability: Mapping[str, Mapping[str, list]], title: str) -> str:
    """A standalone reliability diagram (the MLflow artifact)."""
    module = _environment().get_template("backtest.html.j2").module
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + str(module.chart(reliability_chart(reliability, title)))


def backtest_facts(result: Mapping) -> dict:
    """Everything the HTML shows, computed once (unit-testable without rendering)."""
    k = result["k"]
    colors = _colors(list(result["rankers"]))
    return {
        "title": f"Backtest of the matrix and the model at {result['test_snapshot']}",
        "result": result,
        "metrics": METRIC_NAMES,
        "precision_chart": precision_chart(result.get("precision_curve", {}), k, colors),
        "reliability_chart": (reliability_chart(result["reliability"], colors=colors)
                              if result.get("reliability") else None),
        "rolling_chart": rolling_chart(result["rolling"], colors=colors) if result.get("rolling") else None,
        "confidence_pct": round(100 * result.get("confidence", 0.95)),
    }


def write_backtest(result: Mapping, out: Path) -> dict[str, Path]:
    """Write ``out/backtest.json`` and ``out/backtest.html``."""
    plain = jsonable(result)
    html = _environment().get_template("backtest.html.j2").render(**backtest_facts(plain), Markup=Markup)
    return {"json": write_json(plain, out / "backtest.json"),
            "html": write_text_atomic(html, out / "backtest.html")}


# --------------------------------------------------------------------------------------------
# The model card (Markdown)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _with_ci(entry: Mapping, metric: str) -> str:
    value = entry.get(metric)
    if value is None:
        return "—"
    ci = entry.get("ci", {}).get(metric)
    return f"{value:.3f} {_fmt_ci(ci)}".strip()


def _group_rows(groups: Mapping, small_cell: int) -> list[str]:
    rows = ["| attribute | group | people | with the outcome | ECE calibrated | ECE uncalibrated | "
            "precision in the top k | true positive rate | false positive rate |", "|" + " --- |" * 9]
    calibrated = groups.get("error_rates_and_calibration", {})
    raw = groups.get("uncalibrated", {})
    for attr, rows_ in calibrated.items():
        raw_by = {r["group"]: r for r in raw.get(attr, [])}
        for g in rows_:
            small = g["n"] < small_cell or (g.get("positives") or 0) < small_cell
            if small:
                n = SMALL.format(n=small_cell) if g["n"] < small_cell else f"{g['n']:,}"
                rows.append(f"| {_md(attr)} | {_md(g['group'])} | {n} | withheld (small) | | | | | |")
                continue
            rates = [("withheld (small)" if m in g.get("small_metrics", []) else
                      f"{_fmt(g.get(m))} {_fmt_ci(g.get('ci', {}).get(m))}")
                     for m in ("precision", "true_positive_rate", "false_positive_rate")]
            cells = [_fmt(g.get("ece")), _fmt(raw_by.get(g["group"], {}).get("ece")), *rates]
            rows.append(f"| {_md(attr)} | {_md(g['group'])} | {g['n']:,} | {g['positives']:,} | "
                        + " | ".join(c.strip() for c in cells) + " |")
    return rows


def model_card(card: Mapping, *, small_cell: int = 10) -> str:
    """The model card in Markdown from :func:`hkc.model.training.train_model`'s evaluation dictionary."""
    name, k = card["model"], card["k"]
    m = card["models"][name]
    ranks = card["rankers"]
    decision = card["decision"]
    lines = [
        f"# Model card: {name}", "",
        f"*{_md(card.get('description', ''))}*", "",
        "## Intended use",
        "An adviser shown beside the habitual-knife-carrier matrix in the quarterly partnership meeting: a "
        "calibrated probability that a person has a knife-related event as offender or suspect in the next "
        f"{card['horizon_days']} days, with the features behind it.  It never replaces the matrix's ranking "
        "unless the deployment's settings say so, and is shown only while it holds the alias `champion`.",
        "", "Not for: decisions about a single person without human review, enforcement targeting, sharing "
        "with partners as a score, or any population other than the one it was trained on.", "",
        "## Label", f"{_md(card['label']['description'])}.", "",
        "## Data window",
        f"- extract history used: {card['data_window']['start']} to {card['data_window']['end']} (no later event)",
        f"- population per snapshot: {_md(card['population'])}",
        f"- training snapshots: {', '.join(card['split']['train'])} ({m['train_rows']:,} rows, "
        f"{m['train_positives']:,} with the outcome)",
        f"- calibration snapshot: {', '.join(card['split']['calibration'])} ({m['calibration_rows']:,} rows, "
        f"{m['calibration_positives']:,} with the outcome; method {m['calibration']})",
        f"- test snapshot: {card['test_snapshot']} ({card['n']:,} people, {card['positives']:,} with the outcome)",
        "", "## Features",
        f"Estimator: {m['estimator']} ({', '.join(f'{a}={b}' for a, b in m['params'].items()) or 'defaults'}).",
        "Features are the matrix's own per-indicator points and counts computed as of each snapshot only: "
        + ", ".join(f"`{c}`" for c in m["features"]) + ".",
        f"Area-like features: {', '.join(m['area_features']) or 'none'}.  Protected characteristics "
        "(ethnicity, officer-defined ethnicity, sex) are never features.", "",
        f"## Metrics on the test snapshot ({card['confidence_pct']}% bootstrap intervals, {card['resamples']:,} "
        "resamples)",
        "| ranker | ROC AUC | average precision | Brier | ECE | precision in the top " + str(k) + " | recall in "
        "the top " + str(k) + " |", "|" + " --- |" * 7,
    ]
    for r, entry in ranks.items():
        lines.append(f"| {r} | " + " | ".join(_with_ci(entry, x) for x in
                                             ("roc_auc", "average_precision", "brier", "ece",
                                              "precision_at_k", "recall_at_k")) + " |")
    raw = ranks[name].get("uncalibrated", {})
    lines += ["", f"Before calibration: Brier {_with_ci(raw, 'brier')}, ECE {_with_ci(raw, 'ece')}.", "",
              "## Does it earn its place?", decision["reason"], "",
              "## Metrics by group (test snapshot, top " + str(k) + ")",
              f"Groups with fewer than {small_cell} people or outcomes are withheld.", ""]
    lines += _group_rows(card.get("groups", {}).get(name, {}), small_cell)
    lines += ["", "## Limitations",
              "- The label is recorded police activity, not behaviour: people who are policed more are more "
              "likely to have the outcome recorded, and the model learns that.",
              "- Rows of the same person in several training snapshots are not independent; intervals "
              "resample people on the test snapshot only, with the model held fixed.",
              f"- The model was fitted and calibrated on snapshots up to {card['split']['calibration'][-1]}; "
              "behaviour and recording change, so it must be retrained and re-tested every quarter.",
              "- Calibration holds for the population and period it was measured on; check the groups "
              "above before reading a probability for any one group.",
              f"- Precision in the top {k} rests on {k} people: its interval is wide.", "",
              "## Provenance",
              f"- spec `{card['provenance']['spec']}` sha256 `{card['provenance']['spec_sha256']}`",
              f"- catalogue {card['provenance']['catalogue_version']} sha256 "
              f"`{card['provenance']['catalogue_sha256']}`",
              f"- hkc {card['provenance']['hkc_version']}"]
    return "\n".join(lines) + "\n"
