"""The checker's verdicts on a fixed set of simulated histories (tests/_txn_sim.py), as stored in
tests/data/txn_verdicts.json: the reference the faster inference must keep matching.

    .venv/bin/python -m tests._txn_verdicts > tests/data/txn_verdicts.json   # only after a deliberate change
"""

from __future__ import annotations

import json

from splitbrain.checkers.txn import check_txn
from tests._txn_sim import FAULTS, simulate

KINDS = ("list-append", "rw-register")
SEEDS = range(4)
MODELS = ("serializable", "strict-serializable")
CYCLES = ("G0", "G1c", "G-single", "G2-item", "G-nonadjacent")
SUFFIXES = ("-process", "-realtime")


def cases():
    """(name, history) for every stored case."""
    for kind in KINDS:
        for fault in FAULTS:
            for seed in SEEDS:
                yield f"{kind}/{fault}/{seed}", simulate(seed, 500, kind=kind, procs=6, keys=3, fault=fault)


def verdicts(history) -> dict:
    """What is compared, for a check under each of MODELS: each model's verdict, the counts of the non-cycle
    anomalies, and which cycle classes were found on data edges alone. Not the cycle counts, nor the classes
    closed by process or real-time order: which cycle of a component a search meets first (and so which ones
    merge as duplicates) depends on the order edges were added in, not on the history."""
    out = {}
    for model in MODELS:
        r = check_txn(history, model=model)
        counts = r["anomaly_counts"]
        out[model] = {"models": {m: v["valid"] for m, v in r["models"].items()},
                      "counts": {a: c for a, c in counts.items() if a not in CYCLES and not a.endswith(SUFFIXES)},
                      "cycles": sorted(a for a in counts if a in CYCLES)}
    return out


if __name__ == "__main__":
    print(json.dumps({name: verdicts(h) for name, h in cases()}, indent=1, sort_keys=True))
