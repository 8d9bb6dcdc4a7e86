"""The history: the op record, the JSON Lines writer that survives a crash, and the validating reader.

Format (see docs/history-format.md): one JSON object per line with the fields of :class:`Op`. Optional fields
that are ``None`` are left out of the line. Rules as in Jepsen: ``ok`` took effect, ``fail`` certainly did not,
``info`` may have taken effect at any time after its invocation or never. A client process has at most one op in
flight; after an ``info`` its id is retired. Nemesis ops use the process ``"nemesis"`` and are never retired.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from splitbrain.harness.errors import MalformedHistory

log = logging.getLogger(__name__)

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = frozenset({INVOKE, OK, FAIL, INFO})
COMPLETIONS = frozenset({OK, FAIL, INFO})
NEMESIS = "nemesis"

# One encoder for every line: json.dumps with non-default arguments builds a new encoder per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_str = json.encoder.encode_basestring  # the C string encoder the JSONEncoder above uses


def _json_value(v: Any) -> str:
    """JSON text of one value, as ``_encode`` gives it, with the common cases short-cut."""
    t = type(v)
    if t is int:
        return int.__repr__(v)
    if v is None:
        return "null"
    if t is str:
        return _json_str(v)
    return _encode(v)

_FIELDS = ("index", "time", "process", "type", "f", "value", "node", "key", "error")


@dataclass(frozen=True, slots=True)
class Op:
    """One event of a history. Immutable.

    ``index`` is dense from 0 in recording order; ``time`` is nanoseconds since the test began (monotonic);
    ``process`` is an int for a client, ``"nemesis"`` for faults. ``value`` is the argument at invoke and the
    result at completion. ``key`` names the independent sub-object (kv workloads); ``None`` for single objects.
    """

    index: int
    time: int
    process: int | str
    type: str
    f: str
    value: Any = None
    node: str | None = None
    key: Any = None
    error: str | None = None

    def to_dict(self) -> dict:
        d = {"index": self.index, "time": self.time, "process": self.process, "type": self.type, "f": self.f,
             "value": self.value}
        # Spelled out rather than looped: this runs twice per op on the runner's hot path.
        if self.node is not None:
            d["node"] = self.node
        if self.key is not None:
            d["key"] = self.key
        if self.error is not None:
            d["error"] = self.error
        return d

    def to_json(self) -> str:
        # Equal to encoding to_dict(), built directly: this runs twice per op on the runner's hot path, and most
        # fields are small ints and known strings that need no general encoder.
        line = (f'{{"index":{self.index},"time":{self.time},"process":{_json_value(self.process)},'
                f'"type":{_json_str(self.type)},"f":{_json_str(self.f)},"value":{_json_value(self.value)}')
        if self.node is not None:
            line += f',"node":{_json_value(self.node)}'
        if self.key is not None:
            line += f',"key":{_json_value(self.key)}'
        if self.error is not None:
            line += f',"error":{_json_value(self.error)}'
        return line + "}"


def op_from_dict(d: dict, where: str) -> Op:
    """Build an Op from a decoded JSON object; raise MalformedHistory naming ``where`` if it isn't one."""
    if not isinstance(d, dict):
        raise MalformedHistory("expected a JSON object for an op", where)
    unknown = set(d) - set(_FIELDS)
    if unknown:
        raise MalformedHistory(f"unknown field(s) {', '.join(sorted(unknown))}", where)
    for name in ("time", "process", "type", "f"):
        if name not in d:
            raise MalformedHistory(f"op has no '{name}' field", where)
    if d["type"] not in TYPES:
        raise MalformedHistory(f"unknown op type {d['type']!r} (expected invoke, ok, fail or info)", where)
    t = d["time"]
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise MalformedHistory(f"'time' must be a non-negative integer of nanoseconds, got {t!r}", where)
    p = d["process"]
    if not ((isinstance(p, int) and not isinstance(p, bool)) or p == NEMESIS):
        raise MalformedHistory(f"'process' must be an integer or \"nemesis\", got {p!r}", where)
    if not isinstance(d["f"], str):
        raise MalformedHistory(f"'f' must be a string, got {d['f']!r}", where)
    return Op(index=d.get("index", -1), time=t, process=p, type=d["type"], f=d["f"], value=d.get("value"),
              node=d.get("node"), key=d.get("key"), error=d.get("error"))


class HistoryWriter:
    """Appends ops to a JSON Lines file as they happen.

    Each op is written and flushed to the OS at once, so a SIGKILL of the controller loses nothing already
    recorded; the file is fsynced at least every ``fsync_interval`` seconds and at close, so a machine crash loses
    at most that much. ``record`` assigns the dense index and the time; it is thread-safe. The writer must not be
    used after ``close``.
    """

    def __init__(self, path: str | os.PathLike, *, fsync_interval: float = 1.0, clock=_time.monotonic_ns,
                 start_ns: int | None = None):
        self.path = Path(path)
        # A raw O_APPEND descriptor: one write(2) per op puts the line in the kernel at once, with no user-space
        # buffer a SIGKILL could lose, and without the two buffering layers of a text file (the runner's hot path).
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lock = threading.Lock()
        self._clock = clock
        self._start = clock() if start_ns is None else start_ns
        self._next_index = 0
        self._fsync_interval_ns = int(fsync_interval * 1e9)
        self._last_fsync = self._clock()
        self.ops_written = 0

    def now(self) -> int:
        """Nanoseconds since the history began."""
        return self._clock() - self._start

    def record(self, process: int | str, type: str, f: str, value: Any = None, *, node: str | None = None,
               key: Any = None, error: str | None = None, time: int | None = None) -> Op:
        """Record one op now (or at ``time``), write it, and return it."""
        with self._lock:
            now = self._clock()
            op = Op(self._next_index, now - self._start if time is None else time, process, type, f, value, node,
                    key, error)
            self._write(op, now)
            return op

    def append(self, op: Op) -> Op:
        """Write an op built elsewhere, re-indexed densely in recording order."""
        with self._lock:
            op = Op(self._next_index, op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error)
            self._write(op, self._clock())
            return op

    def _write(self, op: Op, now: int) -> None:
        data = (op.to_json() + "\n").encode("utf-8")
        while data:  # a regular file takes it all at once; the loop only guards against a short write
            data = data[os.write(self._fd, data):]
        self._next_index += 1
        self.ops_written += 1
        if now - self._last_fsync >= self._fsync_interval_ns:
            os.fsync(self._fd)
            self._last_fsync = now

    def close(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_history(path: str | os.PathLike, ops: Iterable[Op]) -> None:
    """Write a whole history at once (for imports and tests), re-indexing densely."""
    with open(path, "w", encoding="utf-8") as f:
        for i, op in enumerate(ops):
            if op.index != i:
                op = Op(i, op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error)
            f.write(op.to_json() + "\n")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, decoded object) for each non-blank line. A torn last line (no newline at the end and
    not valid JSON: the controller died mid-write) is dropped with a warning; any other bad line is an error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MalformedHistory("no such file", str(path)) from None
    except OSError as e:
        raise MalformedHistory(f"can't read it ({e.strerror})", str(path)) from None
    lines = data.split(b"\n")
    torn_candidate = len(lines) - 1 if lines and lines[-1] != b"" else None
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            if torn_candidate is not None and lineno - 1 == torn_candidate:
                log.warning("%s:%d: dropped a torn last line (the writer died mid-write)", path, lineno)
                return
            msg = getattr(e, "msg", str(e))
            raise MalformedHistory(f"bad JSON ({msg})", f"{path}:{lineno}") from None


def read_history(path: str | os.PathLike, *, validate: bool = True) -> list[Op]:
    """Read a JSON Lines history, re-index it densely, and (by default) validate it.

    Raises MalformedHistory with ``file:line`` for anything wrong except a torn last line.
    """
    path = Path(path)
    ops: list[Op] = []
    lines: list[int] = []
    for lineno, obj in iter_jsonl(path):
        op = op_from_dict(obj, f"{path}:{lineno}")
        ops.append(Op(len(ops), op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error))
        lines.append(lineno)
    if validate:
        validate_history(ops, source=str(path), lines=lines)
    return ops


def validate_history(ops: list[Op], *, source: str = "<history>", lines: list[int] | None = None) -> None:
    """Check the structural rules of a history; raise MalformedHistory naming ``source:line`` of the first break.

    Rules: a completion needs a pending invoke on its process, a process can't invoke while it has one pending, a
    client process id is not reused after an ``info``, time never goes backwards, completions keep the invoke's
    ``f``. Nemesis ops are exempt from the pairing rules (faults may overlap).
    """
    pending: dict[Any, Op] = {}
    retired: set[Any] = set()
    last_time = -1
    for i, op in enumerate(ops):
        where = f"{source}:{lines[i] if lines else i + 1}"
        if op.time < last_time:
            raise MalformedHistory(f"time goes backwards ({op.time} ns after {last_time} ns)", where)
        last_time = op.time
        if op.process == NEMESIS:
            continue
        if op.process in retired:
            raise MalformedHistory(f"process {op.process} is used again after it crashed with 'info'", where)
        if op.type == INVOKE:
            if op.process in pending:
                raise MalformedHistory(
                    f"process {op.process} invokes {op.f!r} while its {pending[op.process].f!r} is still pending",
                    where)
            pending[op.process] = op
        else:
            inv = pending.pop(op.process, None)
            if inv is None:
                raise MalformedHistory(f"{op.type!r} completion of {op.f!r} on process {op.process} with no "
                                       "pending invoke", where)
            if inv.f != op.f:
                raise MalformedHistory(f"completion {op.f!r} does not match the pending invoke {inv.f!r} on "
                                       f"process {op.process}", where)
            if op.type == INFO:
                retired.add(op.process)


@dataclass(slots=True)
class Pair:
    """An invocation and its completion (``None`` if the history ended first: treat as ``info``)."""

    invoke: Op
    complete: Op | None = None

    @property
    def type(self) -> str:
        return self.complete.type if self.complete is not None else INFO


def pair_ops(ops: Iterable[Op], *, include_nemesis: bool = False) -> list[Pair]:
    """Pair each invoke with its completion, in invoke order. Ops with no completion get ``complete=None``."""
    pairs: list[Pair] = []
    open_: dict[Any, Pair] = {}
    for op in ops:
        if op.process == NEMESIS and not include_nemesis:
            continue
        if op.type == INVOKE:
            p = Pair(op)
            pairs.append(p)
            open_[op.process] = p
        else:
            p = open_.pop(op.process, None)
            if p is not None:
                p.complete = op
    return pairs
