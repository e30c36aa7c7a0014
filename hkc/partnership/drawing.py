"""The drawings of the meeting packs: a small SVG of who is linked to whom, and small bar charts (RAG split,
movement, decisions), as plain data for inline SVG without any script."""

from __future__ import annotations

import math

import pandas as pd

from hkc.messages import movement_words

__all__ = ["network_drawing", "bar_chart", "pack_charts", "RAG_COLOURS", "NEUTRAL"]


def network_drawing(members: list[str], cohort: set[str], ps, edges: pd.DataFrame | None) -> dict:
    """A ring drawing of one peer group (up to 24 people); ``ps`` names a person (a pseudonym, or str)."""
    size, radius = 240, 88
    shown = members[:24]
    pos = {}
    for i, pid in enumerate(shown):
        angle = 2 * math.pi * i / max(len(shown), 1) - math.pi / 2
        pos[pid] = (round(size / 2 + radius * math.cos(angle), 1), round(size / 2 + radius * math.sin(angle), 1))
    lines = []
    if edges is not None and len(edges):
        for s, t, w in zip(edges["source"].astype(str), edges["target"].astype(str),
                           edges["weight"] if "weight" in edges.columns else [1.0] * len(edges), strict=True):
            if s in pos and t in pos:
                (x1, y1), (x2, y2) = pos[s], pos[t]
                lines.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "w": round(min(1 + float(w), 5), 1)})
    nodes = [{"x": x, "y": y, "label": ps(pid)[-4:], "title": ps(pid), "cohort": pid in cohort}
             for pid, (x, y) in pos.items()]
    return {"size": size, "nodes": nodes, "edges": lines, "links_known": edges is not None}


CHART_WIDTH, BAR_SPACE, LABEL_SPACE, ROW_HEIGHT = 290, 130, 122, 15
RAG_COLOURS = {"red": "#b3261e", "amber": "#b26a00", "green": "#1e7b34"}
NEUTRAL = "#4a5568"


def bar_chart(title: str, bars: list[tuple[str, int, str]], *, note: str = "") -> dict:
    """A small horizontal bar chart as plain data for an inline SVG (no script): one row per
    ``(label, count, colour)``, bars scaled to the largest count, each count written beside its bar."""
    top = max((count for _label, count, _colour in bars), default=0)
    rows = []
    for i, (label, count, colour) in enumerate(bars):
        width = 0.0 if not top else round(BAR_SPACE * count / top, 1)
        rows.append({"label": label, "count": count, "y": i * ROW_HEIGHT, "w": width, "colour": colour,
                     "text_x": LABEL_SPACE + width + 4})
    return {"title": title, "note": note, "width": CHART_WIDTH, "height": max(len(rows), 1) * ROW_HEIGHT,
            "label_space": LABEL_SPACE, "bars": rows, "total": sum(count for _l, count, _c in bars),
            "aria": f"{title}: " + ", ".join(f"{label} {count}" for label, count, _c in bars)}


DECISION_ORDER = ("adopt", "monitor", "refer", "decline")


def pack_charts(members: pd.DataFrame, removed: pd.DataFrame, *, compared: bool) -> list[dict]:
    """The first page's charts: the RAG split, movement since the last refresh (and, when the removed
    people carry a ``cause``, why they left), and the latest decisions when any was recorded.

    ``compared``: there was a previous refresh to compare with (otherwise everyone is new and the
    movement chart says so).  Counts only: no person appears.
    """
    rag = members["rag"].astype(str).value_counts() if len(members) else pd.Series(dtype=int)
    charts = [bar_chart("RAG split", [(band, int(rag.get(band, 0)), RAG_COLOURS[band])
                                      for band in ("red", "amber", "green")])]
    moved = members["movement"].astype(str).value_counts() if "movement" in members and len(members) else \
        pd.Series(dtype=int)
    bars = [(movement_words(code), int(moved.get(code, 0)), NEUTRAL) for code in ("new", "up", "down", "same")]
    charts.append(bar_chart("Movement since the last refresh", bars + [("removed", len(removed), NEUTRAL)],
                            note="" if compared else "first refresh: everyone is new"))
    if "cause" in removed.columns and len(removed):
        causes = removed["cause"].astype(object).fillna("not given").astype(str).str.replace("_", " ")
        counts = causes.value_counts(sort=False)
        charts.append(bar_chart("Why people left the list", [(c, int(k), NEUTRAL) for c, k in
                                                             sorted(counts.items(), key=lambda x: (-x[1], x[0]))]))
    if "latest_decision" in members.columns and members["latest_decision"].notna().any():
        latest = members["latest_decision"].astype(object).fillna("none yet").astype(str).value_counts()
        order = [d for d in DECISION_ORDER if d in latest.index] + \
            sorted(set(latest.index) - set(DECISION_ORDER) - {"none yet"}) + \
            (["none yet"] if "none yet" in latest.index else [])
        charts.append(bar_chart("Latest decision, people listed", [(d, int(latest[d]), "#2b5c8a") for d in order]))
    return charts
