"""The peer network drawn for the meeting pack: a small SVG of who is linked to whom, by pseudonym."""

from __future__ import annotations

import math

import pandas as pd

__all__ = []


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
