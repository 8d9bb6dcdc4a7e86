"""What the two transactional workloads share (list-append, rw-register): drawing transactions over a few
rotating keys, the final reads, and the checker (checkers/txn).

A transaction is one op ``{"f": "txn", "value": [[f, k, v], ...]}`` (docs/history-format.md). Keys are small
integers in windows over test time: every ``key_window_s`` seconds a fresh group of ``keys_at_once`` keys becomes
active, so lists stay short and each key's history small. A quarter of the transactions are read-only, a quarter
write-only, the rest mixed, each of 1 to ``max_txn_length`` micro-ops. Written values are random integers below
10^9: unique per key with overwhelming odds over a key's short life (the checker needs unique values, and says
``unknown`` if they are not), and drawn from ``ctx.rng`` alone so the op functions stay pure.
"""

from __future__ import annotations

from splitbrain.checkers.stats import check_stats
from splitbrain.checkers.txn import check_txn
from splitbrain.checkers.txn.models import MODELS
from splitbrain.history.errors import BadInput

DEFAULTS = {"key_window_s": 2.0, "keys_at_once": 4, "max_txn_length": 4, "txn_model": "strict-serializable"}


def _window(ctx, options: dict) -> int:
    return int(ctx.time // int(float(options.get("key_window_s", DEFAULTS["key_window_s"])) * 1e9))


def _keys(ctx, options: dict) -> list[int]:
    per = int(options.get("keys_at_once", DEFAULTS["keys_at_once"]))
    base = _window(ctx, options) * per
    return [base + i for i in range(per)]


def txn_op(ctx, options: dict, write_f: str) -> dict:
    """A random transaction whose writes are ``write_f`` micro-ops (``append`` or ``w``)."""
    rng = ctx.rng
    keys = _keys(ctx, options)
    n = rng.randint(1, int(options.get("max_txn_length", DEFAULTS["max_txn_length"])))
    shape = rng.random()   # < 0.25 read-only, < 0.5 write-only, else mixed
    mops = []
    for _ in range(n):
        k = rng.choice(keys)
        write = shape >= 0.25 and (shape < 0.5 or rng.random() < 0.5)
        mops.append([write_f, k, rng.randrange(10**9)] if write else ["r", k, None])
    return {"f": "txn", "value": mops}


def final_op(ctx, options: dict) -> dict:
    """Every thread reads all the active keys once more, after the faults are healed."""
    return {"f": "txn", "value": [["r", k, None] for k in _keys(ctx, options)]}


def checkers(options: dict) -> dict:
    model = options.get("txn_model", DEFAULTS["txn_model"])
    if model not in MODELS:
        raise BadInput(f"unknown consistency model {model!r} (known: {', '.join(MODELS)})", "options.txn_model")
    limit = float(options.get("check_time_limit", 60.0))
    return {"txn": lambda h: check_txn(h, model=model, time_limit=limit), "stats": check_stats}
