"""Process and real-time order edges between transactions (added on request: the session and strict models).

- **process**: each transaction -> the next one its process ran (a process runs one at a time). Failed
  transactions are left out (they are not in the graph).
- **real-time**: T1 -> T2 when T1 completed ``ok`` before T2 was invoked. Only the transitive reduction is added:
  a sweep over the history keeps the *frontier* (completed transactions that no completed transaction follows
  yet); each invoke gets an edge from every frontier member, and each completion removes its own predecessors
  from the frontier. An ``info`` transaction never completes, so it is never a real-time predecessor.
"""

from __future__ import annotations

from splitbrain.checkers.txn.graph import PROCESS, REALTIME
from splitbrain.checkers.txn.txns import FAIL, OK, Txn


def add_process_edges(txns: list[Txn], adj: list[dict]) -> None:
    last: dict = {}
    for t in txns:
        if t.type == FAIL:
            continue
        prev = last.get(t.process)
        if prev is not None:
            d = adj[prev]
            d[t.id] = d.get(t.id, 0) | PROCESS
        last[t.process] = t.id


def add_realtime_edges(txns: list[Txn], adj: list[dict], events: list[int]) -> None:
    """``events`` is the sequence :func:`splitbrain.checkers.txn.txns.collect` records: ``id`` at an invoke, ``~id`` at an
    ``ok`` completion. A failed transaction may get incoming real-time edges; it has no others, so they close no
    cycle."""
    frontier: set[int] = set()
    current: tuple = ()    # the frontier as a tuple, rebuilt only when a completion changes it
    preds: dict[int, tuple] = {}
    for e in events:
        if e >= 0:
            for p in current:
                d = adj[p]
                d[e] = d.get(e, 0) | REALTIME
            if txns[e].type == OK:
                preds[e] = current
        else:
            t = ~e
            frontier.difference_update(preds.pop(t))
            frontier.add(t)
            current = tuple(frontier)
