"""The evaluation's outputs: ``evaluation.json``, ``evaluation.csv`` and the one-page ``evaluation.html``.

Why one page: the report goes to the partnership and its funders, who read the verdict and the
forest plot and rarely more.  The page shows, in this order: the verdict in plain English; a forest
plot of every design's estimate with its interval (the naive before/after first, drawn apart and
marked *not an effect estimate*); the quarterly outcome rates of the listed and the near miss
around the cohort date (why the naive figure misleads); a table of the designs (sample sizes,
smallest detectable effect, Maryland level); the matching's balance table; the secondary outcomes;
the warnings.  Everything on it is an aggregate.  This is the police copy: counts of people under
:data:`SMALL` are printed as "<10" on the page (the JSON and CSV hold the exact figures and are not
for partners).  Charts are inline SVG whose coordinates are computed here, so the template only
draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hkc.evaluation.verdict import DESIGN_NAMES, signed_percent
from hkc.outputs import render, write_csv, write_json, write_text_atomic

__all__ = ["write_evaluation", "csv_rows", "forest_plot", "study_chart", "small_count", "SMALL"]

SMALL = 10
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;()/")
ORDER = ("naive_prepost", "did_near_miss", "matched", "rd_cutoff")
SHORT_NAMES = {"naive_prepost": "Simple before/after", "did_near_miss": "Difference-in-differences",
               "matched": "Matched comparison", "rd_cutoff": "Regression discontinuity"}
CSV_COLUMNS = ["outcome", "outcome_words", "group", "design", "design_name", "sms_level", "available", "estimate",
               "ci_low", "ci_high", "mde", "n_treated", "n_comparison", "rate_per_person_year_before_treated",
               "rate_per_person_year_after_treated", "rate_per_person_year_before_comparison",
               "rate_per_person_year_after_comparison", "reason", "label"]


def small_count(n: Any) -> str:
    """A count of people for the page: "<10" when 1 to 9, "—" when unknown."""
    if n is None:
        return "—"
    n = int(n)
    return "<10" if 0 < n < SMALL else f"{n:,}"


def _css_string(text: str) -> str:
    """``text`` as a CSS string that cannot end the string or the sheet (as the packs print their marking)."""
    return '"' + "".join(ch if ch in _SAFE else f"\\{ord(ch):x} " for ch in str(text)) + '"'


def _figure(r: Mapping[str, Any]) -> str:
    if not r.get("available") or r.get("estimate") is None:
        return "not computed"
    return f"{signed_percent(r['estimate'])} [{signed_percent(r['ci_low'])}, {signed_percent(r['ci_high'])}]"


def csv_rows(result: Mapping[str, Any]) -> pd.DataFrame:
    """One row per design × outcome (and group): the figures of ``evaluation.json`` as a table."""
    words = {o["column"]: o["words"] for o in result.get("outcomes", [])}
    sets = [("events", "listed", result["designs"])]
    if result.get("treatment_on_treated"):
        sets.append(("events", "treated", result["treatment_on_treated"]))
    sets += [(name, "listed", designs) for name, designs in result.get("secondary", {}).items()]
    rows = []
    for outcome, group, designs in sets:
        for name, r in designs.items():
            rows.append({"outcome": outcome, "outcome_words": words.get(outcome, outcome), "group": group,
                         "design": name, "design_name": DESIGN_NAMES.get(name, name),
                         **{c: r.get(c) for c in CSV_COLUMNS if c not in ("outcome", "outcome_words", "group",
                                                                         "design", "design_name")}})
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
    for column in ("sms_level", "n_treated", "n_comparison"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def _ticks(low: float, high: float, scale: float, gap: float = 34.0) -> list[float]:
    """Axis labels in order of use, each at least ``gap`` pixels from those already placed."""
    chosen: list[float] = []
    for t in (0.0, -0.5, 1.0, -0.75, 2.0, -0.25, 0.5, -0.9, 4.0):
        if low <= math.log1p(t) <= high and all(abs(math.log1p(t) - math.log1p(c)) * scale >= gap for c in chosen):
            chosen.append(t)
    return sorted(chosen)


def _short(reason: str | None) -> str | None:
    """A design's reason up to its first full stop: the page's tables have room for one sentence."""
    return None if reason is None else reason.split(". ")[0].split(" (every")[0]


def forest_plot(result: Mapping[str, Any], *, width: int = 700) -> dict[str, Any]:
    """Rows and axis of the forest plot: each design's relative change and interval on a log scale
    (a halving and a doubling equally far from no change); intervals beyond the axis end in an arrow."""
    entries = [("listed", name, result["designs"][name]) for name in ORDER if name in result["designs"]]
    if result.get("treatment_on_treated"):
        entries += [("treated", name, result["treatment_on_treated"][name]) for name in ORDER
                    if name != "naive_prepost" and name in result["treatment_on_treated"]]
    shown = [r for _g, _n, r in entries if r.get("available") and r.get("estimate") is not None]
    values = [math.log1p(max(v, -0.95)) for r in shown for v in (r["ci_low"], r["ci_high"], r["estimate"])]
    low = max(min([math.log1p(-0.5), *values]), math.log1p(-0.95))
    high = min(max([math.log1p(0.5), *values]), math.log1p(4.0))
    left, right, row_h, top = 190, width - 150, 30, 22
    scale = (right - left) / (high - low)

    def x(value: float) -> float:
        return round(left + (min(max(math.log1p(max(value, -0.99)), low), high) - low) * scale, 1)

    rows = []
    for i, (group, name, r) in enumerate(entries):
        y = top + i * row_h + row_h / 2
        row = {"y": y, "name": SHORT_NAMES.get(name, name), "naive": name == "naive_prepost",
               "group": "treated only" if group == "treated" else None,
               "level": r.get("sms_level"), "text": _figure(r),
               "available": bool(r.get("available") and r.get("estimate") is not None)}
        if row["available"]:
            row.update(x=x(r["estimate"]), x_low=x(r["ci_low"]), x_high=x(r["ci_high"]),
                       clipped_low=math.log1p(max(r["ci_low"], -0.99)) < low,
                       clipped_high=math.log1p(r["ci_high"]) > high)
        else:
            row["reason"] = "not computed: " + (r.get("reason") or "no reason given").split(":")[0]
        rows.append(row)
    height = top + len(entries) * row_h + 34
    return {"width": width, "height": height, "rows": rows, "zero": x(0.0), "top": top, "bottom": height - 30,
            "left": left, "right": right, "separator": top + row_h if entries and entries[0][1] == "naive_prepost"
            else None, "ticks": [{"x": x(t), "label": signed_percent(t)} for t in _ticks(low, high, scale)]}


def study_chart(study: Mapping[str, Any], *, width: int = 700, height: int = 210) -> dict[str, Any]:
    """Lines of the event-study chart: events per person-year by quarter before and after the cohort date."""
    quarters = study["quarters"]
    left, right, top, bottom = 56, width - 200, 14, height - 36
    rates = [p["rate_per_person_year"] for side in ("listed", "comparison") for p in study[side]
             if p["rate_per_person_year"] is not None]
    peak = max(rates + [0.1])
    step = next(s for s in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 1e9) if peak / s <= 6)
    y_max = step * math.ceil(peak / step)
    slot = (right - left) / (len(quarters) + 1)   # one empty slot at the cohort date

    def xq(i: int) -> float:
        return round(left + slot * (i + (1 if quarters[i] > 0 else 0) + 0.5), 1)

    def y(v: float) -> float:
        return round(bottom - (bottom - top) * v / y_max, 1)

    lines = []
    for side, colour, dash, n in (("listed", "#1b1b1b", False, study["people_listed"]),
                                  ("comparison", "#c2410c", True, study["people_comparison"])):
        dots = [(xq(i), y(p["rate_per_person_year"])) for i, p in enumerate(study[side])
                if p["rate_per_person_year"] is not None]
        parts = [[d for i, d in enumerate(dots) if (quarters[i] < 0) == before] for before in (True, False)]
        lines.append({"name": "listed" if side == "listed" else "near miss", "colour": colour, "dash": dash,
                      "sub": f"{small_count(n)} people" + ("" if side == "listed" else ", ranked just below the cut-off"),
                      "dots": dots, "segments": [" ".join(f"{a},{b}" for a, b in part) for part in parts if part]})
    ticks = [{"y": y(step * k), "label": f"{step * k:g}"} for k in range(int(round(y_max / step)) + 1)]
    marker = round(left + slot * (quarters.index(1) + 0.5), 1) if 1 in quarters else None
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "x_ticks": [{"x": xq(i), "label": f"{q:+d}"} for i, q in enumerate(quarters)], "y_ticks": ticks,
            "lines": lines, "marker": marker, "legend_x": right + 12}


def _design_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in ORDER:
        r = result["designs"].get(name)
        if r is None:
            continue

        def rate(key: str, r: Mapping[str, Any] = r) -> str:
            value = r.get(key)
            return "—" if value is None else f"{value:.2f}"

        rows.append({"name": DESIGN_NAMES.get(name, name), "naive": name == "naive_prepost",
                     "primary": name == result.get("primary"), "level": r.get("sms_level"), "figure": _figure(r),
                     "treated": small_count(r.get("n_treated")),
                     "comparison": "none" if name == "naive_prepost" else small_count(r.get("n_comparison")),
                     "rates": f"{rate('rate_per_person_year_before_treated')} → {rate('rate_per_person_year_after_treated')}",
                     "comparison_rates": "—" if name == "naive_prepost" else
                     f"{rate('rate_per_person_year_before_comparison')} → {rate('rate_per_person_year_after_comparison')}",
                     "mde": _mde(r.get("mde")), "reason": None if r.get("available") else _short(r.get("reason"))})
    return rows


def _mde(mde: float | None) -> str:
    if mde is None:
        return "—"
    return f"a fall of {round(100 * mde)}%" if mde < 1 else "none: not even a fall to zero"


def _balance_rows(result: Mapping[str, Any], max_smd: float) -> list[dict[str, Any]]:
    table = (result["designs"].get("matched") or {}).get("balance") or []
    return [{"label": b["label"].replace("(shown only) ", "") + (" (shown, not matched on)" if not b["decides_balance"]
                                                                  else ""),
             "treated": f"{b['mean_treated']:.2f}", "before": f"{b['mean_comparison_before']:.2f}",
             "after": "—" if b["mean_comparison_after"] is None else f"{b['mean_comparison_after']:.2f}",
             "smd_before": f"{b['smd_before']:+.2f}",
             "smd_after": "—" if b["smd_after"] is None else f"{b['smd_after']:+.2f}",
             "off": b["decides_balance"] and b["smd_after"] is not None and abs(b["smd_after"]) >= max_smd}
            for b in table]


def _secondary_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    words = {o["column"]: o["words"] for o in result.get("outcomes", [])}
    return [{"words": words.get(name, name), "cells": [_figure(designs[d]) if d in designs else "—" for d in ORDER]}
            for name, designs in result.get("secondary", {}).items()]


def page_facts(result: Mapping[str, Any], *, marking: str) -> dict[str, Any]:
    """Everything ``evaluation.html.j2`` draws."""
    matched = result["designs"].get("matched") or {}
    cohorts = result["cohorts"]
    span = cohorts[0] if len(cohorts) == 1 else f"{cohorts[0]} to {cohorts[-1]}"
    return {"title": f"Did it work? Evaluation of the cohorts listed {span}", "marking": marking,
            "marking_css": _css_string(marking), "result": result, "forest": forest_plot(result),
            "study": study_chart(result["event_study"]) if result.get("event_study") else None,
            "designs": _design_rows(result), "balance": _balance_rows(result, matched.get("max_smd") or 0.1),
            "balance_note": _short(matched.get("reason")) if not matched.get("available") else None,
            "secondary": _secondary_rows(result), "design_names": [DESIGN_NAMES[d] for d in ORDER], "small": SMALL,
            "primary_name": DESIGN_NAMES.get(result["primary"], result["primary"])}


def write_evaluation(result: Mapping[str, Any], folder: Path, *, marking: str) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.csv`` and ``evaluation.html`` into ``folder``."""
    folder = Path(folder)
    html = render("evaluation.html.j2", page_facts(result, marking=marking))
    return {"json": write_json(result, folder / "evaluation.json"),
            "csv": write_csv(csv_rows(result), folder / "evaluation.csv"),
            "html": write_text_atomic(html, folder / "evaluation.html")}
