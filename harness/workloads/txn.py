"""What the two transactional workloads share (list-append, rw-register): drawing transactions over a few
rotating keys, the final reads, and the checker (checkers/txn).

A transaction is one op ``{"f": "txn", "value": [[f, k, v], ...]}`` (docs/history-format.md). Keys are small
integers in windows over test time: every ``key_window_s`` seconds a fresh group of ``keys_at_once`` keys becomes
active, so lists stay short and each key's history small. A quarter of the transactions are read-only, a quarter
write-only, the rest mixed, each of 1 to ``max_txn_length`` micro-ops. Written values are random integers below
10^9: unique per key with overwhelming odds over a key's short life (the checker needs unique values, and says
``unknown`` if they are not), and drawn from ``ctx.rng`` alone so the op functions stay pure.

Retired keys are still read now and then: a read micro-op picks a key of the previous window with probability
``past_reads``, and the final reads cover the last ``final_read_windows`` windows too, spread over the threads.
A write that shows up late (an aborted transaction committed by a recovering node, a lost write replayed) lands on a
key whose window may have ended meanwhile; without those reads nobody would ever look at it again.
"""

from __future__ import annotations

from splitbrain.checkers.stats import check_stats
from splitbrain.checkers.txn import check_txn
from splitbrain.checkers.txn.models import MODELS
from splitbrain.history.errors import BadInput

DEFAULTS = {"key_window_s": 2.0, "keys_at_once": 4, "max_txn_length": 4, "txn_model": "strict-serializable",
            "past_reads": 0.1, "final_read_windows": 8}


def _window(ctx, options: dict) -> int:
    return int(ctx.time // int(float(options.get("key_window_s", DEFAULTS["key_window_s"])) * 1e9))


def _window_keys(window: int, options: dict) -> list[int]:
    per = int(options.get("keys_at_once", DEFAULTS["keys_at_once"]))
    return [window * per + i for i in range(per)]


def _keys(ctx, options: dict) -> list[int]:
    return _window_keys(_window(ctx, options), options)


def txn_op(ctx, options: dict, write_f: str) -> dict:
    """A random transaction whose writes are ``write_f`` micro-ops (``append`` or ``w``)."""
    rng = ctx.rng
    window = _window(ctx, options)
    keys = _window_keys(window, options)
    past = _window_keys(window - 1, options) if window > 0 else keys
    past_reads = float(options.get("past_reads", DEFAULTS["past_reads"]))
    n = rng.randint(1, int(options.get("max_txn_length", DEFAULTS["max_txn_length"])))
    shape = rng.random()   # < 0.25 read-only, < 0.5 write-only, else mixed
    mops = []
    for _ in range(n):
        k = rng.choice(keys)
        write = shape >= 0.25 and (shape < 0.5 or rng.random() < 0.5)
        if write:
            mops.append([write_f, k, rng.randrange(10**9)])
        else:
            if past_reads and rng.random() < past_reads:
                k = rng.choice(past)
            mops.append(["r", k, None])
    return {"f": "txn", "value": mops}


def final_op(ctx, options: dict) -> dict:
    """After the faults are healed, the threads together read every key of the current window and of the
    ``final_read_windows`` windows before it, once: thread ``i`` of ``C`` takes every ``C``-th key from the ``i``-th
    (newest first). Disjoint reads, so that final reads do not wait for each other's locks (a store with
    exclusive read locks would abort them); a thread beyond the key count reads one key again."""
    window = _window(ctx, options)
    back = max(0, int(options.get("final_read_windows", DEFAULTS["final_read_windows"])))
    keys = [k for w in range(window, max(-1, window - 1 - back), -1) for k in _window_keys(w, options)]
    threads = getattr(ctx, "threads", 0)
    conc = max(1, int(getattr(ctx, "concurrency", 1) or 1))
    thread = threads.bit_length() - 1 if threads and threads & (threads - 1) == 0 else 0
    mine = keys[thread::conc] if thread < len(keys) else [keys[thread % len(keys)]]
    return {"f": "txn", "value": [["r", k, None] for k in mine]}


def checkers(options: dict) -> dict:
    model = options.get("txn_model", DEFAULTS["txn_model"])
    if model not in MODELS:
        raise BadInput(f"unknown consistency model {model!r} (known: {', '.join(MODELS)})", "options.txn_model")
    limit = float(options.get("check_time_limit", 60.0))
    return {"txn": lambda h: check_txn(h, model=model, time_limit=limit), "stats": check_stats}
