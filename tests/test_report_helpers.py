"""Synthetic run directories for the report tests (no tests here).

``make_run`` writes a small run with client ops on two keys, a partition and a kill, leader changes and a
results.json whose linearizability failure points at real history indices: p1 writes 1, p2 then writes 2, and a
later read by p3 returns 1, which no order can explain.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from splitbrain.history.ops import Op, write_history

MS = 1_000_000
ATTACK = '</script><img src=x onerror="window.__pwned=1"><b>bold</b>'


class _Hist:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, t_ms: float, process, type_, f, value=None, **kw) -> int:
        self.ops.append(Op(len(self.ops), int(t_ms * MS), process, type_, f, value, **kw))
        return len(self.ops) - 1


def make_run(root: Path, *, name: str = "quorum-kv-register", ts: str = "20240101T120000", verdict=False,
             attack: bool = False, n_background: int = 60, system: str = "quorum-kv", variant: str = "stale-reads",
             started: str = "2024-01-01T12:00:00+00:00", causal: bool = False) -> Path:
    """Write ``root/name/ts/`` and return it. ``verdict`` is what results.json says (False gets the failure).
    ``attack`` puts markup into values, keys, errors, node names and the test description. ``causal`` adds a
    write-read-write chain across three processes (20, 21, 22 on n1, n2, n3) whose last read misses the first
    write, a causal checker result naming it with its chain, a delivery-order result (a second opinion, anomalies
    without client ops), and unset fields (``test_name``, ``hosts_file``: null) in test.json."""
    run = root / name / ts
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n2").mkdir(parents=True)
    (run / "nodes" / "n1" / "node.log").write_text("n1 started\n" + (ATTACK + "\n" if attack else ""))
    (run / "nodes" / "n2" / "node.log").write_text("n2 started\n")
    h = _Hist()
    rng = random.Random(7)
    evil = ATTACK if attack else None
    # Background traffic on k0 by processes 0..4 (with a fail and an info), and the nemesis.
    t = 0.0
    busy = {p: 0.0 for p in range(5)}
    nemesis_plan = [(300, "start-partition", {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}),
                    (900, "stop-partition", None), (1100, "kill", ["n2"]), (1400, "restart", ["n2"])]
    for i in range(n_background):
        t += 25
        while nemesis_plan and nemesis_plan[0][0] <= t:
            _, f, v = nemesis_plan.pop(0)
            h.add(t, "nemesis", "invoke", f, v)
            h.add(t + 1, "nemesis", "ok", f, v)
            t += 2
        p = i % 5
        if busy[p] > t:
            continue
        f = "read" if rng.random() < 0.5 else "write"
        v = None if f == "read" else (evil or rng.randrange(10))
        h.add(t, p, "invoke", f, v, key="k0", node=f"n{p % 3 + 1}")
        dur = rng.uniform(2, 20)
        outcome = "ok" if i % 17 else "fail"
        h.add(t + dur, p, outcome, f, (evil or 3) if f == "read" else v, key="k0", node=f"n{p % 3 + 1}",
              error=(evil or "not-leader") if outcome == "fail" else None)
        busy[p] = t + dur + 1
    # The failure, on key k1, after the background (processes 10..12 so lanes are distinct).
    t += 50
    key = evil or "k1"
    w1 = h.add(t, 10, "invoke", "write", 1, key=key, node="n1")
    h.add(t + 5, 10, "ok", "write", 1, key=key, node="n1")
    w2 = h.add(t + 10, 11, "invoke", "write", 2, key=key, node="n2")
    h.add(t + 16, 11, "ok", "write", 2, key=key, node="n2")
    r = h.add(t + 20, 12, "invoke", "read", None, key=key, node=evil or "n3")
    rdone = h.add(t + 24, 12, "ok", "read", evil or 1, key=key, node=evil or "n3")
    # a timed-out op that never completes
    h.add(t + 26, 4 + 100, "invoke", "write", 9, key="k0", node="n2")
    chain = []
    if causal:
        t += 40
        for p, f, k, v, res in ((20, "write", "x", 5, 5), (21, "read", "x", None, 5), (21, "write", "y", 6, 6),
                                (22, "read", "y", None, 6), (22, "read", "x", None, None)):
            i = h.add(t, p, "invoke", f, v, key=evil or k if k == "x" else k, node=f"n{p - 19}")
            h.add(t + 3, p, "ok", f, res, key=evil or k if k == "x" else k, node=f"n{p - 19}")
            chain.append(i)
            t += 5
    write_history(run / "history.jsonl", h.ops)

    test = {"name": name, "system": system, "variant": variant, "workload": "register",
            "nodes": ["n1", "n2", "n3"], "nemesis": ["partition", "kill"], "seed": 42, "time_limit": 30,
            "concurrency": 5, "rate": 100, "started": started,
            "command": f"splitbrain run --system {system} --variant {variant} --seed 42"
                       + (f" --note '{ATTACK}'" if attack else ""),
            "versions": {"splitbrain": "0.1.0", "python": "3.11"}}
    (run / "test.json").write_text(json.dumps(test))
    with open(run / "annotations.jsonl", "w") as f:
        f.write(json.dumps({"time": 50 * MS, "kind": "leader", "node": "n1", "term": 1}) + "\n")
        f.write(json.dumps({"time": 950 * MS, "kind": "leader", "node": evil or "n2", "term": 2}) + "\n")

    lin = {"valid": verdict, "checker": "linearizable", "model": "register", "ops": len(h.ops), "check_ms": 3,
           "partitions": 2}
    if verdict is False:
        lin["failure"] = {
            "key": key,
            "explanation": (f"read of key {key} by process 12 returned 1, but write 2 by process 11 completed "
                            "before the read began, so the read should have seen 2 (or later)."),
            "window": [w1, w2, r, rdone], "longest_prefix": [w1, w2], "states": [1, 2], "stuck_op": r,
            "state_before": 2}
    elif verdict == "unknown":
        lin["cause"] = "deadline of 1 s reached after exploring 12,345 configurations"
    results = {"valid": verdict, "results": {
        "linearizable": lin,
        "convergence": {"valid": True if verdict is not False else False,
                        "anomalies": [] if verdict is not False else [
                            {"type": "divergent-final-reads", "ops": [w1, rdone],
                             "explanation": evil or "replicas n1 and n3 ended with different values"}],
                        "differences": {"n1": {"k1": 2}, "n3": {"k1": evil or 1}}},
    }}
    if causal:
        wx, rx, wy, ry, bad = chain
        entries = [{"index": i, "process": h.ops[i].process, "node": h.ops[i].node, "f": h.ops[i].f,
                    "key": h.ops[i].key, "value": h.ops[i + 1].value} for i in chain]
        for e, via in zip(entries, (None, "rf", "po", "rf", "po")):
            if via:
                e["via"] = via
        results["results"]["causal"] = {
            "valid": False, "checker": "causal", "model": "CC", "anomaly_counts": {"WriteCOInitRead": 1},
            "anomalies": [{"type": "WriteCOInitRead", "ops": [wx, bad], "chain": entries,
                           "explanation": f"op {bad} returned the initial value although op {wx} is causally "
                                          "before it."}]}
        results["results"]["delivery-order"] = {
            "valid": False, "checker": "delivery-order", "second_opinion": "from the replicas' own logs",
            "anomalies": [{"type": "causal-violation", "node": evil or "n3", "ops": [], "updates": ["n1:4", "n2:64"],
                           "position": 17, "explanation": "n3 delivered n2:64 before n1:4."}]}
        test = json.loads((run / "test.json").read_text())
        (run / "test.json").write_text(json.dumps({**test, "test_name": None, "hosts_file": None}))
    (run / "results.json").write_text(json.dumps(results))
    return run
