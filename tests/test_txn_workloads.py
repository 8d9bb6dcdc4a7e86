"""The list-append and rw-register workloads: the transactions they draw, their final reads and their checkers."""

import random
from types import SimpleNamespace

import pytest

from splitbrain.history.errors import BadInput
from splitbrain.harness.workloads import get_workload


def _ctx(t_s: float, seed: int = 1):
    return SimpleNamespace(time=int(t_s * 1e9), rng=random.Random(seed))


@pytest.mark.parametrize("name,write_f", [("list-append", "append"), ("rw-register", "w")])
def test_transactions_mix_shapes_over_rotating_keys(name, write_f):
    w = get_workload(name)
    opts = dict(w.defaults)
    ctx = _ctx(0.5)
    ops = [w.client_op(ctx, opts) for _ in range(400)]
    assert all(op["f"] == "txn" and 1 <= len(op["value"]) <= opts["max_txn_length"] for op in ops)
    shapes = {frozenset(m[0] for m in op["value"]) for op in ops}
    assert {frozenset({"r"}), frozenset({write_f}), frozenset({"r", write_f})} <= shapes
    assert {m[1] for op in ops for m in op["value"]} == {0, 1, 2, 3}
    assert all(m[2] is None for op in ops for m in op["value"] if m[0] == "r")
    written = [(m[1], m[2]) for op in ops for m in op["value"] if m[0] == write_f]
    assert len(set(written)) == len(written)  # unique per key, as the checker needs
    later = w.client_op(_ctx(opts["key_window_s"] * 3 + 0.1), opts)
    assert {m[1] for m in later["value"]} <= {12, 13, 14, 15}
    final = w.final_op(_ctx(0.5), opts)   # one thread: every key of the only window so far
    assert final == {"f": "txn", "value": [["r", k, None] for k in range(4)]}


def test_checkers_judge_under_the_chosen_model():
    w = get_workload("list-append")
    assert set(w.checkers(dict(w.defaults))) == {"txn", "stats"}
    with pytest.raises(BadInput, match="unknown consistency model"):
        w.checkers({"txn_model": "linearizable"})


def test_retired_keys_are_still_read_now_and_then_and_at_the_end():
    # a late write (a recovering node committing an aborted transaction) may land on a key whose window has ended:
    # some reads go to the previous window, and the final reads, spread over the threads, cover recent windows
    w = get_workload("list-append")
    opts = dict(w.defaults)
    t = opts["key_window_s"] * 5 + 0.1          # window 5: keys 20..23
    ops = [w.client_op(_ctx(t, seed), opts) for seed in range(300)]
    reads = [m[1] for op in ops for m in op["value"] if m[0] == "r"]
    writes = [m[1] for op in ops for m in op["value"] if m[0] != "r"]
    assert set(writes) == {20, 21, 22, 23}      # writes only to live keys
    past = [k for k in reads if k in (16, 17, 18, 19)]
    assert set(reads) <= set(range(16, 24)) and 0 < len(past) < len(reads) / 3
    off = {**opts, "past_reads": 0}
    assert {m[1] for seed in range(100) for m in w.client_op(_ctx(t, seed), off)["value"]} == {20, 21, 22, 23}

    def final(thread, conc, back):
        ctx = SimpleNamespace(time=int(t * 1e9), rng=random.Random(1), threads=1 << thread, concurrency=conc)
        return [m[1] for m in w.final_op(ctx, {**opts, "final_read_windows": back})["value"]]

    finals = [final(i, 3, 4) for i in range(3)]
    assert sorted(k for f in finals for k in f) == list(range(4, 24))  # windows 1..5, each key read once
    assert final(0, 3, 4)[:3] == [20, 23, 18]                           # newest first
    assert final(1, 2, 0) == [21, 23] and final(5, 6, 0) == [21]        # more threads than keys: one key again
