"""Drawings of the transactional checker's cycles (checkers/txn): each cycle as a small ring of transactions with
labelled arrows (ww, wr, rw, process, realtime), beside the sentence that explains it.

Pure: a checker result in, plain numbers and strings out; the template draws them (autoescaped). Colours are SVG
attributes, not styles, so the report's content security policy needs nothing new.
"""

from __future__ import annotations

import math
from typing import Any

#: Anomalies drawn per type, and types per checker.
MAX_PER_TYPE = 3
MAX_TYPES = 12
COLORS = {"ww": "#b45309", "wr": "#2563eb", "rw": "#dc2626", "process": "#6b7280", "realtime": "#059669"}
_NODE_R = 20


def cycle_drawing(cycle: list[dict]) -> dict:
    """Node circles on a ring and one arrow per step (``{"from", "to", "kind", "why"}``)."""
    names = []
    for step in cycle:
        for end in (step.get("from"), step.get("to")):
            if end not in names:
                names.append(end)
    n = len(names)
    radius = 0 if n == 1 else max(55, 22 * n)
    cx = cy = radius + 45
    pos = {}
    for i, name in enumerate(names):
        a = -math.pi / 2 + 2 * math.pi * i / n
        pos[name] = (cx + radius * math.cos(a), cy + radius * math.sin(a))
    edges = []
    for step in cycle:
        (x1, y1), (x2, y2) = pos[step.get("from")], pos[step.get("to")]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        ox, oy = -uy * 7, ux * 7  # to the right of the direction: a -> b and b -> a don't overlap
        sx, sy = x1 + ux * _NODE_R + ox, y1 + uy * _NODE_R + oy
        ex, ey = x2 - ux * (_NODE_R + 2) + ox, y2 - uy * (_NODE_R + 2) + oy
        head = [(ex, ey), (ex - ux * 9 - uy * 4.5, ey - uy * 9 + ux * 4.5),
                (ex - ux * 9 + uy * 4.5, ey - uy * 9 - ux * 4.5)]
        kind = str(step.get("kind"))
        edges.append({"x1": sx, "y1": sy, "x2": ex, "y2": ey, "kind": kind, "color": COLORS.get(kind, "#111827"),
                      "head": " ".join(f"{x:.1f},{y:.1f}" for x, y in head),
                      "lx": (sx + ex) / 2 + ox * 2.2, "ly": (sy + ey) / 2 + oy * 2.2 + 4,
                      "title": str(step.get("why", ""))})
    nodes = [{"x": x, "y": y, "label": str(name)} for name, (x, y) in pos.items()]
    return {"width": 2 * cx, "height": 2 * cy, "nodes": nodes, "edges": edges}


def txn_views(result: Any) -> list[dict]:
    """The anomalies of one txn checker result, in type order, each with its explanation and (for cycles) a
    drawing. Empty for results of any other shape."""
    if not isinstance(result, dict) or not isinstance(result.get("anomalies"), dict):
        return []
    views = []
    for name in list(result["anomalies"])[:MAX_TYPES]:
        examples = result["anomalies"][name]
        if not isinstance(examples, list):
            continue
        count = (result.get("anomaly_counts") or {}).get(name, len(examples))
        for a in examples[:MAX_PER_TYPE]:
            if not isinstance(a, dict):
                continue
            cycle = a.get("cycle")
            ok = isinstance(cycle, list) and cycle and all(isinstance(s, dict) for s in cycle)
            views.append({"type": str(name), "count": count, "explanation": str(a.get("explanation", "")),
                          "description": str((result.get("descriptions") or {}).get(name, "")),
                          "drawing": cycle_drawing(cycle) if ok else None})
    return views
