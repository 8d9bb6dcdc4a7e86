"""The clock-offset plot: each node's clock offset over the run, as the nemesis set it, read from the history's
``start-clock``/``stop-clock`` completions (``offsets`` per node; a reset sets every node back to 0; a strobe flips
its nodes between their offset and offset + ``delta`` from its invoke to its completion).

Pure: ``clock_series(ops)`` gives the steps per node; ``clock_plot(ops, width)`` the drawing (an SVG made by the
template: one step line per node, strobes as shaded bands), or None when the run moved no clock. Reads the history
format only.
"""

from __future__ import annotations

from typing import Any

from splitbrain.history.ops import NEMESIS, OK, Op

PLOT_HEIGHT = 160
LEFT, RIGHT, TOP, BOTTOM = 60.0, 10.0, 10.0, 24.0
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def clock_series(ops: list[Op]) -> tuple[dict[str, list[tuple[int, float]]], list[dict]]:
    """``({node: [(time ns, offset s), ...]}, strobes [{node, start, end, base, delta}])`` from the nemesis
    completions. Every node starts at offset 0 at time 0."""
    series: dict[str, list[tuple[int, float]]] = {}
    strobes: list[dict] = []
    invokes: dict[Any, Op] = {}
    for op in ops:
        if op.process != NEMESIS or op.f not in ("start-clock", "stop-clock"):
            continue
        if op.type == "invoke":
            invokes[op.process] = op
            continue
        inv = invokes.pop(op.process, None)
        value = op.value if isinstance(op.value, dict) else {}
        if op.type != OK:
            continue
        offsets = value.get("offsets") if isinstance(value.get("offsets"), dict) else {}
        if value.get("mode") == "strobe":
            for n in value.get("nodes") or []:
                base = _num(offsets.get(n), 0.0)
                strobes.append({"node": str(n), "start": inv.time if inv else op.time, "end": op.time,
                                "base": base, "delta": _num(value.get("delta"), 0.0)})
                series.setdefault(str(n), [(0, 0.0)]).append((op.time, base))
            continue
        for n, s in offsets.items():
            series.setdefault(str(n), [(0, 0.0)]).append((op.time, _num(s, 0.0)))
    return series, strobes


def _num(v: Any, default: float) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def clock_plot(ops: list[Op], width: float = 960.0) -> dict | None:
    """The plot's geometry, or None if no clock was ever moved off 0."""
    series, strobes = clock_series(ops)
    values = [s for pts in series.values() for _, s in pts] + \
        [st["base"] + st["delta"] for st in strobes] + [st["base"] for st in strobes]
    if not ops or not any(v != 0.0 for v in values):
        return None
    t_end = max(1, ops[-1].time)
    lo, hi = min(values + [0.0]), max(values + [0.0])
    if hi - lo < 1e-9:
        hi = lo + 1.0
    inner_w, inner_h = width - LEFT - RIGHT, PLOT_HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return round(LEFT + inner_w * min(max(t, 0), t_end) / t_end, 1)

    def y(s: float) -> float:
        return round(TOP + inner_h * (hi - s) / (hi - lo), 1)

    lines = []
    for i, node in enumerate(sorted(series)):
        pts = sorted(series[node])
        path, last = [], None
        for t, s in pts:
            if last is not None:
                path.append(f"{x(t)},{y(last)}")
            path.append(f"{x(t)},{y(s)}")
            last = s
        path.append(f"{x(t_end)},{y(last)}")
        lines.append({"node": node, "points": " ".join(path), "colour": COLOURS[i % len(COLOURS)],
                      "last": last})
    bands = [{"node": st["node"], "x": x(st["start"]), "w": max(1.0, x(st["end"]) - x(st["start"])),
              "y": min(y(st["base"]), y(st["base"] + st["delta"])),
              "h": max(1.0, abs(y(st["base"]) - y(st["base"] + st["delta"]))),
              "title": f"{st['node']}: strobe between {st['base']:+.3f} s and {st['base'] + st['delta']:+.3f} s"}
             for st in strobes]
    ticks = [{"y": y(v), "label": f"{v:+.1f} s"} for v in (lo, 0.0, hi)]
    seconds = t_end / 1e9
    xticks = [{"x": x(int(k * t_end / 4)), "label": f"{k * seconds / 4:.1f} s",
               "anchor": "start" if k == 0 else "end" if k == 4 else "middle"} for k in range(5)]
    return {"width": width, "height": PLOT_HEIGHT, "lines": lines, "bands": bands, "yticks": ticks,
            "xticks": xticks, "x0": LEFT, "x1": width - RIGHT, "y0": TOP, "y1": PLOT_HEIGHT - BOTTOM,
            "zero": y(0.0)}
