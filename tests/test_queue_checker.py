"""The queue checker on hand-built histories: lost, duplicated, unexpected and FIFO-violating messages."""

import random

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.queue import check_queue
from splitbrain.history.ops import Op


class H:
    """A tiny history builder: ops get dense indices and increasing times."""

    def __init__(self):
        self.ops = []

    def add(self, p, ty, f, v=None, node="n1"):
        self.ops.append(Op(len(self.ops), len(self.ops) * 10, p, ty, f, v, node))
        return self

    def call(self, p, f, v=None, ty="ok", out=None):
        self.add(p, "invoke", f, v)
        return self.add(p, ty, f, v if out is None else out)

    def drain(self, p, messages, empty=True):
        return self.call(p, "drain", out={"messages": messages, "empty": empty})


def test_every_message_processed_once_is_valid():
    h = H().call(0, "enqueue", 1).call(0, "enqueue", 2).call(1, "dequeue", out=1).call(1, "dequeue", out=None)
    r = check_queue(h.drain(2, [2]).ops)
    assert r["valid"] is True, r
    assert r["acknowledged"] == 2 and r["distinct_processed"] == 2 and r["anomalies"] == []


def test_acknowledged_message_never_processed_is_lost():
    h = H().call(0, "enqueue", 1).call(0, "enqueue", 2).drain(1, [1])
    r = check_queue(h.ops)
    assert r["valid"] is False and r["lost_count"] == 1
    a = r["anomalies"][0]
    assert a["type"] == "lost" and a["message"] == 2 and "found the queue empty" in a["explanation"]
    assert 3 in a["ops"]  # the enqueue's completion


def test_missing_message_without_an_empty_drain_is_unknown_not_lost():
    h = H().call(0, "enqueue", 1).drain(1, [], empty=False)
    r = check_queue(h.ops)
    assert r["valid"] == "unknown" and r["unconfirmed_count"] == 1 and r["lost_count"] == 0


def test_a_drain_that_began_before_the_enqueue_completed_proves_nothing():
    h = H()
    h.add(1, "invoke", "drain")
    h.call(0, "enqueue", 1)
    h.add(1, "ok", "drain", {"messages": [], "empty": True})
    assert check_queue(h.ops)["valid"] == "unknown"


def test_an_info_dequeue_naming_the_message_may_have_processed_it():
    h = H().call(0, "enqueue", 1).call(1, "dequeue", ty="info", out=1).drain(2, [])
    assert check_queue(h.ops)["valid"] is True


def test_failed_and_unacknowledged_enqueues_are_not_lost():
    h = H().call(0, "enqueue", 1, ty="fail").call(1, "enqueue", 2, ty="info").drain(2, [])
    assert check_queue(h.ops)["valid"] is True


def test_processed_twice_is_duplicated():
    h = H().call(0, "enqueue", 1).call(1, "dequeue", out=1).call(2, "dequeue", out=1).drain(3, [])
    r = check_queue(h.ops)
    assert r["valid"] is False and r["duplicated_count"] == 1
    a = r["anomalies"][0]
    assert a["type"] == "duplicated" and "2 times" in a["explanation"] and "exactly once" in a["explanation"]


def test_duplicates_are_reported_but_allowed_for_at_least_once():
    h = H().call(0, "enqueue", 1).call(1, "dequeue", out=1).drain(3, [1])
    r = check_queue(h.ops, at_least_once=True)
    assert r["valid"] is True and r["duplicated_count"] == 1 and "allows" in r["anomalies"][0]["explanation"]


def test_message_never_enqueued_is_unexpected():
    h = H().call(0, "enqueue", 1).call(1, "dequeue", out=1).call(1, "dequeue", out=99).drain(2, [])
    r = check_queue(h.ops)
    assert r["valid"] is False and r["unexpected_count"] == 1
    assert r["anomalies"][0]["message"] == 99 and "never enqueued" in r["anomalies"][0]["explanation"]


def test_message_whose_enqueue_failed_is_unexpected_when_processed():
    h = H().call(0, "enqueue", 1, ty="fail").call(1, "dequeue", out=1)
    r = check_queue(h.ops)
    assert r["valid"] is False and "enqueue failed" in r["anomalies"][0]["explanation"]


def test_fifo_per_producer():
    h = H().call(0, "enqueue", 1).call(0, "enqueue", 2).call(1, "dequeue", out=2).call(1, "dequeue", out=1)
    assert check_queue(h.ops)["valid"] is True  # no FIFO promised
    r = check_queue(h.ops, fifo=True)
    assert r["valid"] is False and r["fifo_count"] == 1
    a = r["anomalies"][0]
    assert a["type"] == "fifo" and a["messages"] == [1, 2] and "Producer 0" in a["explanation"]
    ok = H().call(0, "enqueue", 1).call(0, "enqueue", 2).call(1, "dequeue", out=1).call(1, "dequeue", out=2)
    assert check_queue(ok.ops, fifo=True)["valid"] is True


def test_concurrent_enqueues_of_one_producer_promise_no_order():
    h = H()
    h.add(0, "invoke", "enqueue", 1)
    h.add(5, "invoke", "enqueue", 2)   # another process, so not one producer's order
    h.add(0, "ok", "enqueue", 1).add(5, "ok", "enqueue", 2)
    h.call(1, "dequeue", out=2).call(1, "dequeue", out=1)
    assert check_queue(h.ops, fifo=True)["valid"] is True


def simulate_queue(rng, steps):
    """A correct exactly-once queue: enqueues that fail never land, info ones may; a dequeue whose ack is
    undecided (info) may or may not have processed its message (if not, it is redelivered); a final drain empties
    the queue."""
    h, queue, n = H(), [], 0
    for _ in range(steps):
        p = rng.randrange(4)
        if rng.random() < 0.5:
            n += 1
            ty = rng.choice(["ok", "ok", "ok", "fail", "info"])
            if ty == "ok" or (ty == "info" and rng.random() < 0.5):
                queue.append(n)
            h.call(p, "enqueue", n, ty=ty)
        elif queue:
            m = queue.pop(rng.randrange(len(queue)))
            if rng.random() < 0.2:
                h.call(p, "dequeue", ty="info", out=m)
                if rng.random() < 0.5:
                    queue.append(m)  # its ack never counted: redelivered
            else:
                h.call(p, "dequeue", out=m)
        else:
            h.call(p, "dequeue", out=None)
    return h.drain(9, queue)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(0, 80))
def test_simulated_correct_queues_are_valid(seed, steps):
    r = check_queue(simulate_queue(random.Random(seed), steps).ops)
    assert r["valid"] is True, r["anomalies"][:3]
