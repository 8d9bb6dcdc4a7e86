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


def cases():
    """(name, history) for every stored case."""
    for kind in KINDS:
        for fault in FAULTS:
            for seed in SEEDS:
                yield f"{kind}/{fault}/{seed}", simulate(seed, 500, kind=kind, procs=6, keys=3, fault=fault)


def verdicts(history) -> dict:
    """What is compared: each model's verdict and the anomaly counts, for a check under each of MODELS."""
    out = {}
    for model in MODELS:
        r = check_txn(history, model=model)
        out[model] = {"models": {m: v["valid"] for m, v in r["models"].items()}, "counts": r["anomaly_counts"]}
    return out


if __name__ == "__main__":
    print(json.dumps({name: verdicts(h) for name, h in cases()}, indent=1, sort_keys=True))
