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
    final = w.final_op(_ctx(0.5), opts)
    assert final == {"f": "txn", "value": [["r", k, None] for k in range(4)]}


def test_checkers_judge_under_the_chosen_model():
    w = get_workload("list-append")
    assert set(w.checkers(dict(w.defaults))) == {"txn", "stats"}
    with pytest.raises(BadInput, match="unknown consistency model"):
        w.checkers({"txn_model": "linearizable"})
