"""The broadcast checker: what each node delivered, judged against the guarantees of a broadcast protocol.

It knows only the history: what each node delivered is taken from client reads, so it works for any system whose
reads return a node's deliveries in order (a chat room's messages, a replicated log).

Ops (by ``f``), split per ``key`` (a chat room: every room is its own broadcast):

- ``post``: value = the message (unique per post); the *sender* is the node the client posted to (``node``).
- ``read`` / ``final-read``: ``ok`` value = the list of messages the node (``node``) has delivered, in delivery
  order. ``final-read`` is taken on every node after the faults are healed; ``final-read-all`` (value: the rooms)
  is one final read of several rooms, its ``ok`` value ``[[room, [messages...]], ...]``.

A node's *delivery sequence* is its longest read; every other read of the node must be a prefix of it.

Properties (each violation names its messages and nodes, and says what went wrong in one sentence):

- ``validity``: a message acknowledged by its sender is in the sender's final read.
- ``agreement``: a message some node delivered is in every node's final read (the correct nodes: after the heal
  every node is correct).
- ``integrity``: nothing is delivered that was never posted (or whose post failed); ``duplicate``: no node delivers
  a message twice; ``stable``: a node's reads never contradict each other (one is a prefix of the other).
- ``fifo``: if post m1 at node s completed before post m2 at s was invoked, every node that delivered m2 delivered
  m1 before it.
- ``causal``: if the sender had delivered m (a read at its node, completed before the post of m' was invoked, shows
  m) or sent m earlier (fifo), every node that delivered m' delivered m before it. Direct dependencies suffice:
  a broken transitive one breaks a direct one on the way.
- ``total``: any two nodes deliver their common messages in the same order.

``claim`` says which guarantees the system promises: ``reliable`` (validity, agreement, integrity, no duplicates,
stable reads: the base, always judged), plus ``fifo``, ``causal`` (includes fifo), ``total``, or ``fifo-total``.
The verdict counts only claimed properties; the others are still measured (``properties``), and their first
violations are kept in ``other_violations`` (a causal broadcast checked for total order shows where it is not).

Order violations carry ``sequences``: for each node involved, ``[[position, message], ...]`` around the violating
pair, and ``highlight``: the pair; the report draws them.
"""

from __future__ import annotations

import bisect
import json
from typing import Sequence

from splitbrain.history.ops import FAIL, OK, Op, pair_ops
from splitbrain.history.values import freeze as _h
from splitbrain.history.verdict import UNKNOWN

CLAIMS = {
    "reliable": (),
    "fifo": ("fifo",),
    "causal": ("fifo", "causal"),
    "total": ("total",),
    "fifo-total": ("fifo", "total"),
}
BASE = ("validity", "agreement", "integrity", "duplicate", "stable")
ORDERS = ("fifo", "causal", "total")
READ_FS = frozenset({"read", "final-read"})
FINAL_READ_ALL = "final-read-all"
_MAX_PER_TYPE = 20
_CONTEXT = 2          # messages drawn either side of a highlighted one
_INF = float("inf")


def _txt(m) -> str:
    return json.dumps(m) if not isinstance(m, tuple) else json.dumps(list(m))


class _Room:
    """The posts and per-node reads of one key."""

    def __init__(self):
        self.posts: dict = {}           # message -> (type, invoke, completion or None)
        self.reads: dict = {}           # node -> [(invoke, completion, [messages])]
        self.finals: dict = {}          # node -> [invoke of each ok final read]
        self.longest: dict = {}         # node -> history index of its longest read's completion


def _rooms(history: Sequence[Op]) -> dict:
    rooms: dict = {}
    for p in pair_ops(history):
        f = p.invoke.f
        if f == "post":
            room = rooms.setdefault(_h(p.invoke.key), _Room())
            room.posts[_h(p.invoke.value)] = (p.type, p.invoke, p.complete)
        elif f in READ_FS and p.type == OK and isinstance(p.complete.value, list):
            _add_read(rooms, _h(p.invoke.key), p, p.complete.value, f == "final-read")
        elif f == FINAL_READ_ALL and p.type == OK and isinstance(p.complete.value, list):
            for entry in p.complete.value:
                if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
                    _add_read(rooms, _h(entry[0]), p, entry[1], True)
    return rooms


def _add_read(rooms: dict, key, p, messages: list, final: bool) -> None:
    room = rooms.setdefault(key, _Room())
    node = p.invoke.node or p.complete.node
    room.reads.setdefault(node, []).append((p.invoke, p.complete, [_h(m) for m in messages]))
    if final:
        room.finals.setdefault(node, []).append(p.invoke)


def check_broadcast(history: Sequence[Op], *, claim: str = "fifo-total") -> dict:
    """Judge a broadcast history (see the module docstring)."""
    if claim not in CLAIMS:
        raise ValueError(f"unknown broadcast claim {claim!r} (known: {', '.join(CLAIMS)})")
    judged = set(BASE) | set(CLAIMS[claim])
    found: dict[str, list] = {p: [] for p in BASE + ORDERS}
    counts = {p: 0 for p in BASE + ORDERS}
    delivered: dict = {}
    for key, room in sorted(_rooms(history).items(), key=lambda kv: repr(kv[0])):
        _judge_room(key, room, found, counts, delivered)
    anomalies = [a for p in BASE + ORDERS if p in judged for a in found[p]]
    others = [a for p in ORDERS if p not in judged for a in found[p][:3]]
    properties = {p: {"holds": counts[p] == 0, "claimed": p in judged, "violations": counts[p]}
                  for p in BASE + ORDERS}
    out = {"valid": not anomalies, "checker": "broadcast", "claim": claim, "properties": properties,
           "anomaly_counts": {p: counts[p] for p in judged if counts[p]}, "anomalies": anomalies,
           "other_violations": others, "delivered": delivered}
    if not delivered:
        out["valid"] = UNKNOWN
        out["explanation"] = "No node's reads returned a delivery list: nothing to judge."
    return out


def _judge_room(key, room: _Room, found: dict, counts: dict, delivered: dict) -> None:
    def add(prop: str, item: dict) -> None:
        counts[prop] += 1
        if counts[prop] <= _MAX_PER_TYPE:
            if key is not None:
                item = {**item, "explanation": f"Room {_txt(key)}: {item['explanation']}"}
            found[prop].append({"type": prop, "key": key, **item})

    seqs: dict = {}      # node -> delivery sequence (first occurrences)
    pos: dict = {}       # node -> message -> position
    for node, reads in sorted(room.reads.items()):
        longest = max(reads, key=lambda r: len(r[2]))
        seq: list = []
        where: dict = {}
        for i, m in enumerate(longest[2]):
            if m in where:
                add("duplicate", {"nodes": [node], "messages": [m], "ops": [longest[1].index],
                                  "explanation": f"{node} delivered {_txt(m)} twice (positions {where[m]} and {i}, "
                                                 f"read op {longest[1].index})."})
                continue
            where[m] = len(seq)
            seq.append(m)
        seqs[node], pos[node] = seq, where
        room.longest[node] = longest[1].index
        delivered.setdefault(node, 0)
        delivered[node] += len(seq)
        _check_stable(node, reads, longest, add)

    for m, (typ, inv, comp) in room.posts.items():
        if typ == FAIL and any(m in p for p in pos.values()):
            nodes = sorted(n for n, p in pos.items() if m in p)
            add("integrity", {"nodes": nodes, "messages": [m], "ops": [inv.index, comp.index],
                              "explanation": f"{', '.join(nodes)} delivered {_txt(m)}, whose post failed (op "
                                             f"{comp.index})."})
    every = set().union(*(set(p) for p in pos.values())) if pos else set()
    for m in sorted(every - set(room.posts), key=repr):
        nodes = sorted(n for n, p in pos.items() if m in p)
        add("integrity", {"nodes": nodes, "messages": [m], "ops": [],
                          "explanation": f"{', '.join(nodes)} delivered {_txt(m)}, which nobody posted."})

    final_nodes = sorted(room.finals)
    for m, (typ, inv, comp) in room.posts.items():
        if typ != OK:
            continue
        sender = inv.node
        finals_after = [i for i in room.finals.get(sender, []) if i.time > comp.time]
        if finals_after and m not in pos.get(sender, {}):
            add("validity", {"nodes": [sender], "messages": [m], "ops": [inv.index, comp.index, finals_after[0].index],
                             "explanation": f"{sender} acknowledged the post of {_txt(m)} (op {comp.index}) but its "
                                            f"final read (op {finals_after[0].index}) does not have it."})
    for m in sorted(every & set(room.posts), key=repr):
        have = sorted(n for n in pos if m in pos[n])
        lack = [n for n in final_nodes if m not in pos.get(n, {})]
        if lack:
            add("agreement", {"nodes": have + lack, "messages": [m],
                              "ops": [room.posts[m][1].index] + [room.finals[n][-1].index for n in lack],
                              "explanation": f"{', '.join(have)} delivered {_txt(m)}, but "
                                             f"{', '.join(lack)} never did (final read"
                                             f"{'s' if len(lack) > 1 else ''} ops "
                                             f"{', '.join(str(room.finals[n][-1].index) for n in lack)})."})

    fifo_preds = _fifo_preds(room)
    _check_fifo(room, seqs, pos, fifo_preds, add)
    _check_causal(room, seqs, pos, add)
    _check_total(room, seqs, pos, add)


def _check_stable(node, reads, longest, add) -> None:
    full = longest[2]
    for inv, comp, lst in sorted(reads, key=lambda r: r[0].time):
        if lst != full[:len(lst)]:
            i = next(j for j, (a, b) in enumerate(zip(lst, full)) if a != b)
            add("stable", {"nodes": [node], "messages": [lst[i], full[i]], "ops": [comp.index, longest[1].index],
                           "explanation": f"{node}'s read (op {comp.index}) has {_txt(lst[i])} at position {i}, its "
                                          f"longest read (op {longest[1].index}) has {_txt(full[i])} there: the node "
                                          "changed what it had delivered."})
            return


def _fifo_preds(room: _Room) -> dict:
    """sender -> (completion times sorted, messages in that order) of its acknowledged posts."""
    out: dict = {}
    for m, (typ, inv, comp) in room.posts.items():
        if typ == OK:
            out.setdefault(inv.node, []).append((comp.time, m, comp.index))
    return {s: sorted(v) for s, v in out.items()}


def _window(seq: list, positions: list) -> list:
    """``[[position, message], ...]`` around the given positions (a few either side of each)."""
    keep: set = set()
    for p in positions:
        if p is None:
            continue
        keep.update(range(max(0, p - _CONTEXT), min(len(seq), p + _CONTEXT + 1)))
    return [[i, seq[i]] for i in sorted(keep)]


def _order_violation(prop, nodes_seqs: dict, m1, m2, ops, explanation, add) -> None:
    sequences = {n: _window(seq, [p.get(m1), p.get(m2)]) for n, (seq, p) in nodes_seqs.items()}
    add(prop, {"nodes": sorted(nodes_seqs), "messages": [m1, m2], "ops": ops, "explanation": explanation,
               "sequences": sequences, "highlight": [m1, m2]})


def _check_fifo(room: _Room, seqs, pos, preds: dict, add) -> None:
    for x, seq in seqs.items():
        px = pos[x]
        for s, posts in preds.items():
            times = [t for t, _, _ in posts]
            # prefix maxima of x's positions over s's posts in completion order (missing = infinity)
            best: list = [(-1, None)]
            for _, m, _ in posts:
                p = px.get(m, _INF)
                best.append(max(best[-1], (p, m), key=lambda b: b[0]))
            reported = False
            for m2 in seq:
                post = room.posts.get(m2)
                if post is None or post[1].node != s or reported:
                    continue
                k = bisect.bisect_left(times, post[1].time)
                p1, m1 = best[k]
                if p1 > px[m2]:
                    c1 = next(ci for _, mm, ci in posts if mm == m1)
                    where = "never" if p1 == _INF else f"only at position {p1}, after it"
                    _order_violation("fifo", {x: (seq, px)}, m1, m2, [c1, post[1].index, room.longest[x]],
                                     f"{s} sent {_txt(m1)} before {_txt(m2)} (post op {c1} completed before post op "
                                     f"{post[1].index} began), but {x} delivered {_txt(m2)} at position {px[m2]} "
                                     f"and {_txt(m1)} {where}.", add)
                    reported = True  # one per (node, sender): the rest usually follow from it


def _check_causal(room: _Room, seqs, pos, add) -> None:
    reads_done = {n: sorted(((c.time, c.index, lst) for _, c, lst in r), key=lambda t: t[0])
                  for n, r in room.reads.items()}
    for x, seq in seqs.items():
        px = pos[x]
        memo: dict = {}
        for m2 in seq:
            post = room.posts.get(m2)
            if post is None:
                continue
            s, t = post[1].node, post[1].time
            rs = reads_done.get(s, [])
            k = bisect.bisect_left([r[0] for r in rs], t)
            if k == 0:
                continue
            _, ridx, lst = rs[k - 1]   # the sender's last read before the post: all of it was delivered
            if ridx not in memo:
                memo[ridx] = max(((px.get(m, _INF), m) for m in lst), default=(-1, None),
                                 key=lambda b: b[0])
            p1, m1 = memo[ridx]
            if p1 > px[m2]:
                where = "never" if p1 == _INF else f"only at position {p1}, after it"
                holder = (seqs[s], pos[s]) if s in seqs else None
                shown = {x: (seq, px)} if holder is None or s == x else {s: holder, x: (seq, px)}
                _order_violation("causal", shown, m1, m2, [ridx, post[1].index],
                                 f"{s} had delivered {_txt(m1)} (read op {ridx}) before it sent {_txt(m2)} (post op "
                                 f"{post[1].index}), but {x} delivered {_txt(m2)} at position {px[m2]} and "
                                 f"{_txt(m1)} {where}.", add)
                return  # one per node: later ones usually follow from it


def _check_total(room: _Room, seqs, pos, add) -> None:
    nodes = sorted(seqs)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            pa = pos[a]
            top = (-1, None)
            for m in seqs[b]:
                p = pa.get(m)
                if p is None:
                    continue
                if p < top[0]:
                    m1, m2 = top[1], m
                    ops = [room.longest[a], room.longest[b]]
                    _order_violation("total", {a: (seqs[a], pa), b: (seqs[b], pos[b])}, m1, m2, ops,
                                     f"{b} delivered {_txt(m1)} before {_txt(m2)} (positions {pos[b][m1]} and "
                                     f"{pos[b][m2]}), {a} delivered them the other way round (positions "
                                     f"{pa[m2]} and {pa[m1]}).", add)
                    break
                top = (p, m)
