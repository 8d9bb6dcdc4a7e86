"""Turn a history into the compact, column-wise data the report's canvas plots draw: client ops as intervals,
fault periods, leader changes.

Contract: pure functions of their inputs; no value from the history is interpreted, only cut short and passed on
as text (the page shows it with ``textContent``/``fillText``, never as HTML). Times are integer microseconds since
the test began, which keeps 100,000 ops to a few megabytes of JSON and is finer than any latency worth drawing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from splitbrain.history.ops import FAIL, INFO, INVOKE, NEMESIS, OK, Op, Pair, pair_ops

from splitbrain.reports.safe_json import cut, short_json

TYPE_CODES = {OK: 0, FAIL: 1, INFO: 2}
#: Above this many client processes, lanes are folded into worker threads (``process mod concurrency``: the
#: runner gives a crashed process's worker the id plus the concurrency), so a long run with many timeouts still
#: has a readable number of lanes.
MAX_PROCESS_LANES = 64
#: Faults that are not written start-X/stop-X but end with another op: f -> the fs that end it.
PAIRED_FAULTS = {"kill": ("restart", "start"), "pause": ("resume",), "crash": ("restart", "start")}
VALUE_CHARS = 60


def us(ns: int | float) -> int:
    return int(round(ns / 1000))


def nemesis_pairs(ops: Iterable[Op]) -> list[Pair]:
    """Pair nemesis invokes with their completions. Nemesis ops may overlap, so a completion goes to the oldest
    pending invoke with the same ``f`` (the history format lets nemesis ops break the one-in-flight rule)."""
    pending: dict[str, list[Pair]] = defaultdict(list)
    pairs: list[Pair] = []
    for op in ops:
        if op.process != NEMESIS:
            continue
        if op.type == INVOKE:
            p = Pair(op)
            pairs.append(p)
            pending[op.f].append(p)
        elif pending[op.f]:
            pending[op.f].pop(0).complete = op
        else:  # a completion with no invoke: show it as an instant
            pairs.append(Pair(op, op))
    return pairs


@dataclass
class FaultPeriod:
    kind: str             # "partition", "pause", "kill", ... or the f of a one-off fault
    start: int            # ns
    end: int | None       # ns; None = still on when the history ended
    index: int            # history index of the op that began it
    value: Any
    uncertain: bool       # the start op was not acknowledged ok (info or no completion): it may not have happened
    instant: bool = False
    #: The steps its completion recorded (``steps: [{"step", "at", ...}]``): (ns since the test began, the step as
    #: given, without its ``step``/``at``).
    steps: list[tuple[int, str, dict]] = field(default_factory=list)
    #: What the fault resolved its target to when applied (the completion's ``resolved``), or None.
    resolved: Any = None


#: At most this many steps of one fault are kept for the page (a runaway list must not bloat it).
MAX_STEPS = 200


def recorded_steps(inv: Op, done: Op | None) -> list[tuple[int, str, dict]]:
    """The steps a fault's completion recorded, placed on the test's clock: ``at`` is seconds since the fault was
    applied, which is (just after) its invoke. Entries that are not ``{"step": ..., "at": number}`` are skipped."""
    value = done.value if done is not None and done.type == OK else None
    steps = value.get("steps") if isinstance(value, dict) else None
    if not isinstance(steps, list):
        return []
    out = []
    for s in steps[:MAX_STEPS]:
        at = s.get("at") if isinstance(s, dict) else None
        if isinstance(at, (int, float)) and not isinstance(at, bool) and at >= 0 and "step" in s:
            out.append((inv.time + int(at * 1e9), str(s["step"]),
                        {k: v for k, v in s.items() if k not in ("step", "at")}))
    return out


def resolved_target(done: Op | None) -> Any:
    """The completion's ``resolved`` (which nodes a leader- or primaries-aimed fault hit), or None."""
    value = done.value if done is not None and done.type == OK else None
    return value.get("resolved") if isinstance(value, dict) else None


def fault_periods(ops: list[Op]) -> list[FaultPeriod]:
    """Fault periods: from a ``start-X`` op to the next ``stop-X`` (or the end of the history), also ``kill`` to
    ``restart`` and the like. A stop ends every open period of its kind. Other nemesis ops are instants (their
    invoke-to-completion span). Periods run from the start's invoke to the stop's completion: the fault may be in
    force anywhere in between."""
    periods: list[FaultPeriod] = []
    open_: dict[str, list[FaultPeriod]] = defaultdict(list)
    enders: dict[str, list[str]] = defaultdict(list)
    for k, es in PAIRED_FAULTS.items():
        for e in es:
            enders[e].append(k)
    for pair in nemesis_pairs(ops):
        inv, done = pair.invoke, pair.complete
        f = inv.f
        uncertain = done is None or done.type != OK
        if f.startswith("start-") or f in PAIRED_FAULTS:
            kind = f[len("start-"):] if f.startswith("start-") else f
            period = FaultPeriod(kind, inv.time, None, inv.index, inv.value, uncertain,
                                 steps=recorded_steps(inv, done), resolved=resolved_target(done))
            open_[kind].append(period)
            periods.append(period)
        elif f.startswith("stop-") or f in enders:
            kinds = [f[len("stop-"):]] if f.startswith("stop-") else enders[f]
            end = done.time if done is not None else inv.time
            for kind in kinds:
                for period in open_.pop(kind, []):
                    period.end = max(end, period.start)
        else:
            end = done.time if done is not None else inv.time
            periods.append(FaultPeriod(f, inv.time, end, inv.index, inv.value, uncertain, instant=True,
                                       steps=recorded_steps(inv, done), resolved=resolved_target(done)))
    return periods


class _Strings:
    """Interns the short strings of the page (f names, keys, nodes, errors, values) into one table."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self._ids: dict[str, int] = {"": 0}

    def id(self, s: str) -> int:
        i = self._ids.get(s)
        if i is None:
            i = self._ids[s] = len(self.table)
            self.table.append(s)
        return i


def key_text(key: Any) -> str:
    return "" if key is None else (key if isinstance(key, str) else short_json(key, VALUE_CHARS))


def lane_plan(pairs: list[Pair], concurrency: Any) -> tuple[dict[Any, int], list[str], str]:
    """Map each client process to a lane. One lane per process; folded into worker lanes when there are more
    than MAX_PROCESS_LANES processes and the test's concurrency is known. Returns (process -> lane, lane labels,
    a note saying what a lane is)."""
    procs = sorted({p.invoke.process for p in pairs}, key=lambda p: (not isinstance(p, int), str(p) if not
                                                                       isinstance(p, int) else p))
    if (len(procs) > MAX_PROCESS_LANES and isinstance(concurrency, int) and concurrency > 0
            and all(isinstance(p, int) for p in procs)):
        workers = sorted({p % concurrency for p in procs})
        lane_of_worker = {w: i for i, w in enumerate(workers)}
        return ({p: lane_of_worker[p % concurrency] for p in procs}, [f"w{w}" for w in workers],
                f"{len(procs)} client processes folded into {len(workers)} worker lanes (process mod {concurrency})")
    return {p: i for i, p in enumerate(procs)}, [f"p{p}" for p in procs], "one lane per client process"


def timeline_data(ops: list[Op], annotations: list[dict], *, concurrency: Any = None,
                  highlight_key: Any = None, pairs: list[Pair] | None = None,
                  periods: list[FaultPeriod] | None = None) -> dict:
    """The data of the timeline, latency and throughput plots, column-wise.

    ``ops`` columns (one entry per client op, in invoke order): ``lane``, ``s``/``e`` (invoke/completion time,
    ``e`` = -1 when the op never completed), ``t`` (0 ok, 1 fail, 2 info), ``f``/``key``/``node``/``err``/``val``/
    ``res`` (indices into ``str``), ``i`` (history index of the invoke), ``p`` (process, -1 if not an int).
    """
    strings = _Strings()
    pairs = pair_ops(ops) if pairs is None else pairs
    periods = fault_periods(ops) if periods is None else periods
    lane_of, lane_labels, lane_note = lane_plan(pairs, concurrency)
    cols: dict[str, list] = {k: [] for k in ("lane", "s", "e", "t", "f", "key", "node", "err", "val", "res", "i", "p")}
    end_time = ops[-1].time if ops else 0
    hl = key_text(highlight_key) if highlight_key is not None else None
    sid = strings.id
    lane, s_, e_, t_, f_, key_, node_, err_, val_, res_, i_, p_ = (cols[k] for k in (
        "lane", "s", "e", "t", "f", "key", "node", "err", "val", "res", "i", "p"))
    for pair in pairs:
        inv, done = pair.invoke, pair.complete
        lane.append(lane_of[inv.process])
        s_.append(round(inv.time / 1000))
        e_.append(round(done.time / 1000) if done is not None else -1)
        t_.append(TYPE_CODES.get(pair.type, 2))
        f_.append(sid(inv.f))
        key_.append(sid(key_text(inv.key)))
        node = (done.node if done is not None and done.node else inv.node) or ""
        answered = done.answered_by if done is not None else None
        if answered and answered != node:
            node = f"{node}\u2192{answered}" if node else answered  # bound node -> the node that answered
        node_.append(sid(node))
        err = (done.error if done is not None else None) or ""
        err_.append(sid(cut(str(err), VALUE_CHARS)) if err else 0)
        val_.append(sid(short_json(inv.value, VALUE_CHARS)) if inv.value is not None else 0)
        res_.append(sid(short_json(done.value, VALUE_CHARS)) if done is not None and done.type == OK else 0)
        i_.append(inv.index)
        p_.append(inv.process if isinstance(inv.process, int) else -1)
    faults = [{"kind": p.kind, "s": us(p.start), "e": us(p.end) if p.end is not None else -1, "i": p.index,
               "value": short_json(p.value, VALUE_CHARS) if p.value is not None else "",
               "uncertain": p.uncertain, "instant": p.instant,
               "resolved": short_json(p.resolved, VALUE_CHARS) if p.resolved is not None else "",
               "steps": [{"t": us(t), "step": cut(name, VALUE_CHARS),
                          "info": short_json(info, VALUE_CHARS) if info else ""} for t, name, info in p.steps]}
              for p in periods]
    leaders = []
    for a in sorted(annotations, key=lambda a: a.get("time", 0)):
        if a.get("kind", "leader") != "leader":
            continue
        node = a.get("node")
        leaders.append({"t": us(a["time"]), "node": "no leader" if node is None else cut(str(node), 20),
                        "term": "" if a.get("term") is None else cut(str(a["term"]), 12)})
    return {"end": us(end_time), "lanes": lane_labels, "laneNote": lane_note, "ops": cols, "str": strings.table,
            "faults": faults, "leaders": leaders, "highlightKey": hl,
            "types": [OK, FAIL, INFO]}
