"""Evidence for a causal anomaly: how one op came to be causally before another (the program-order and read-from
path, one entry per session it passes through), written out as data and as a sentence, and the anomaly record
that carries it.

Pure: reads a :class:`splitbrain.checkers.causal_order.SessionHistory` and its co vectors, changes nothing.
"""

from __future__ import annotations

import json

from splitbrain.checkers.causal_order import SessionHistory, canonical

CHAIN_LIMIT = 20   # anomalies per type that get their causal chain spelled out


def describe(h: SessionHistory, oid: int) -> str:
    o = h.ops[oid]
    key = "" if o["key"] == "null" else f" {o['key']}"
    verb = "write" if o["kind"] == "w" else "read"
    return f"op {o['index']} ({verb}{key} {canonical(o['value'])} by process {o['process']})"


def anomaly(h: SessionHistory, typ: str, oids: list[int], explanation: str, chain: list[dict] | None = None) -> dict:
    a = {"type": typ, "ops": [h.ops[i]["index"] for i in oids], "explanation": explanation}
    if chain:
        a["chain"] = chain
        a["explanation"] = explanation + " How: " + chain_text(chain) + "."
    return a


def chain_for(h: SessionHistory, vc, typ: str, src: int, dst: int) -> list[dict] | None:
    return causal_chain(h, vc, src, dst, h.chains_made.setdefault(typ, {}))


def causal_chain(h: SessionHistory, vc, src: int, dst: int, counter: dict) -> list[dict] | None:
    """The ops that make ``src`` causally before ``dst``: a path of program-order and read-from edges, one entry
    per session it passes through (where the session enters the chain, and where it leaves it). Each entry:
    ``{"index", "process" (the session), "node", "f", "key", "value", "via"}``, ``via`` being how the chain reached
    it ("rf": it read the previous entry's write; "po": the same session did it later; absent for the first).

    Backward search from ``dst`` over ops that ``src`` is causally before (the co vectors bound it), each session
    scanned at most once downwards, so it costs O(ops). Only the first ``CHAIN_LIMIT`` anomalies of each type get
    one (``counter`` counts them), which keeps a history with thousands of anomalies cheap."""
    if counter.get("n", 0) >= CHAIN_LIMIT:
        return None
    counter["n"] = counter.get("n", 0) + 1
    s_src, p_src = h.ops[src]["session"], h.ops[src]["pos"]

    def after_src(y: int) -> bool:
        return y == src or vc[y][s_src] >= p_src

    nxt: dict[int, tuple[int, str]] = {}   # op -> (the op after it on the path to dst, edge kind)
    scanned: set[int] = set()
    queue = [dst]
    found = False
    k = 0
    while k < len(queue) and not found:
        x = queue[k]
        k += 1
        w = h.src.get(x)
        if w is not None and w not in nxt and after_src(w):
            nxt[w] = (x, "rf")
            queue.append(w)
            found = w == src
        sess = h.sessions[h.ops[x]["session"]]
        i = h.ops[x]["pos"] - 2      # the op before x in its session
        while i >= 0 and not found:
            y = sess[i]
            if y in scanned or not after_src(y):
                break
            scanned.add(y)
            nxt.setdefault(y, (x, "po"))
            if y == src:
                found = True
                break
            w = h.src.get(y)
            if w is not None and w not in nxt and after_src(w):
                nxt[w] = (y, "rf")
                queue.append(w)
                found = w == src
            i -= 1
    if not found:
        return None
    path, vias = [src], [None]
    while path[-1] != dst:
        y, kind = nxt[path[-1]]
        path.append(y)
        vias.append(kind)
    keep = [i for i in range(len(path))
            if i in (0, len(path) - 1) or vias[i] == "rf" or (i + 1 < len(path) and vias[i + 1] == "rf")]
    out = []
    for i in keep:
        o = h.ops[path[i]]
        e = {"index": o["index"], "process": o["process"],
             "f": "write" if o["kind"] == "w" else "read", "key": json.loads(o["key"]), "value": o["value"]}
        if o["node"] is not None:
            e["node"] = o["node"]
        if out:
            e["via"] = vias[i] if vias[i] == "rf" else "po"
        out.append(e)
    return out


def chain_text(chain: list[dict]) -> str:
    """``process 0 on n1 wrote "x" 1 (op 3), process 4 on n2 read it (op 9), then wrote "y" 1 (op 12), ...``"""
    parts = []
    for e in chain:
        who = f"process {e['process']}" + (f" on {e['node']}" if e.get("node") else "")
        key = "" if e["key"] is None else f" {canonical(e['key'])}"
        if e.get("via") == "rf":
            parts.append(f"{who} read it (op {e['index']})")
            continue
        what = f"wrote{key} {canonical(e['value'])}" if e["f"] == "write" else f"read{key} -> {canonical(e['value'])}"
        parts.append(f"{'then ' + what if e.get('via') == 'po' else who + ' ' + what} (op {e['index']})")
    return ", ".join(parts)
