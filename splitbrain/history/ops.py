"""The history: the op record, the JSON Lines writer that survives a crash, and the validating reader.

Format (see docs/history-format.md): one JSON object per line with the fields of :class:`Op`. Optional fields
that are ``None`` are left out of the line. Rules as in Jepsen: ``ok`` took effect, ``fail`` certainly did not,
``info`` may have taken effect at any time after its invocation or never. A client process has at most one op in
flight; after an ``info`` its id is retired. Nemesis ops use the process ``"nemesis"`` and are never retired.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import re
import sys
import threading
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from splitbrain.history.errors import MalformedHistory

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

_FIELDS = ("index", "time", "process", "type", "f", "value", "node", "key", "error", "answered_by")


@dataclass(frozen=True, slots=True, init=False)
class Op:
    """One event of a history. Immutable.

    ``index`` is dense from 0 in recording order; ``time`` is nanoseconds since the test began (monotonic);
    ``process`` is an int for a client, ``"nemesis"`` for faults. ``value`` is the argument at invoke and the
    result at completion. ``key`` names the independent sub-object (kv workloads); ``None`` for single objects.
    ``node`` is the node the client is bound to; ``answered_by`` (completions only) the node that answered, when
    the client says so and it is another one (a client that sends writes to a primary).
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
    answered_by: str | None = None

    def __init__(self, index: int, time: int, process: int | str, type: str, f: str, value: Any = None,
                 node: str | None = None, key: Any = None, error: str | None = None, answered_by: str | None = None):
        # Written out instead of the dataclass's frozen __init__ (object.__setattr__ by name per field), which
        # costs twice as much: readers build millions of ops. The slot setters bypass the frozen __setattr__.
        s = _OP_SETTERS
        s[0](self, index), s[1](self, time), s[2](self, process), s[3](self, type), s[4](self, f)
        s[5](self, value), s[6](self, node), s[7](self, key), s[8](self, error), s[9](self, answered_by)

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
        if self.answered_by is not None:
            d["answered_by"] = self.answered_by
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
        if self.answered_by is not None:
            line += f',"answered_by":{_json_value(self.answered_by)}'
        return line + "}"


_OP_SETTERS = tuple(Op.__dict__[name].__set__ for name in _FIELDS)


class _OpFields:
    """Op's slots, writable: :func:`make_op` fills one with plain attribute stores and makes it an Op."""

    __slots__ = _FIELDS


def make_op(index: int, time: int, process: int | str, type: str, f: str, value: Any = None, node: Any = None,
            key: Any = None, error: Any = None, answered_by: Any = None) -> Op:
    """``Op(...)`` for readers' hot loops, a third of the cost: a frozen class's fields can only be set through
    descriptor calls (each building an argument tuple), so the fields are stored on a writable twin of the same
    layout, whose class then becomes Op. The result is an ordinary, immutable Op."""
    o = _OpFields()
    o.index, o.time, o.process, o.type, o.f = index, time, process, type, f
    o.value, o.node, o.key, o.error, o.answered_by = value, node, key, error, answered_by
    o.__class__ = Op
    return o  # type: ignore[return-value]


def op_from_dict(d: dict, where: str) -> Op:
    """Build an Op from a decoded JSON object; raise MalformedHistory naming ``where`` if it isn't one."""
    if not isinstance(d, dict):
        raise MalformedHistory("expected a JSON object for an op", where)
    d = {k: v for k, v in d.items() if k in _FIELD_SET}  # other tools' extra fields: the reader warns about them
    if isinstance(d.get("process"), str) and _INT_TEXT.fullmatch(d["process"]):
        d["process"] = int(d["process"])  # "3" from a tool that writes every id as a string
    for name in ("time", "process", "type", "f"):
        if name not in d:
            raise MalformedHistory(f"op has no '{name}' field", where)
    if not isinstance(d["type"], str) or d["type"] not in TYPES:
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
              node=d.get("node"), key=d.get("key"), error=d.get("error"), answered_by=d.get("answered_by"))


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
               key: Any = None, error: str | None = None, time: int | None = None,
               answered_by: str | None = None) -> Op:
        """Record one op now (or at ``time``), write it, and return it."""
        with self._lock:
            now = self._clock()
            op = Op(self._next_index, now - self._start if time is None else time, process, type, f, value, node,
                    key, error, answered_by)
            self._write(op, now)
            return op

    def append(self, op: Op) -> Op:
        """Write an op built elsewhere, re-indexed densely in recording order."""
        with self._lock:
            op = Op(self._next_index, op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error,
                    op.answered_by)
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
                op = Op(i, op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error,
                    op.answered_by)
            f.write(op.to_json() + "\n")


#: How deeply an op's value (or key) may nest lists and objects. Deeper input is bad input: the JSON parser and
#: the checkers recurse through values, and no real history nests anywhere near this.
MAX_VALUE_DEPTH = 100

_FIELD_SET = frozenset(_FIELDS)
_TYPE_NAMES = {t: t for t in TYPES}  # the one interned string for each type (also the membership test)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


# NaN and Infinity are not JSON (Python's parser takes them by default); NaN != NaN would break every model.
_scan_json = json.JSONDecoder(parse_constant=_no_constant).raw_decode
_INT_TEXT = re.compile(r"-?[0-9]{1,30}")

# The line HistoryWriter writes (``Op.to_json``) with the usual simple values (integers, null, strings without
# escapes), read by one regex: about a third cheaper than building a dict per line. Any other line goes to the JSON
# parser, so the two paths give the same ops.
_J_SCALAR = r'(-?(?:0|[1-9]\d{0,17})|null|"[^"\\\x00-\x1f]*")'
_J_STRING = r'"([^"\\\x00-\x1f]*)"'
_CANONICAL_LINE = re.compile(
    r'\{"index":(?:0|[1-9]\d{0,18}),"time":(0|[1-9]\d{0,18}),"process":(0|[1-9]\d{0,17}|"nemesis"),'
    r'"type":"(invoke|ok|fail|info)","f":' + _J_STRING + r',"value":' + _J_SCALAR +
    r'(?:,"node":' + _J_STRING + r')?(?:,"key":' + _J_SCALAR + r')?(?:,"error":' + _J_STRING + r')?\}\n')


def value_too_deep(v: Any, limit: int = MAX_VALUE_DEPTH) -> bool:
    """True when ``v`` nests lists/dicts more than ``limit`` levels deep (counted without recursion)."""
    stack = [(v, 1)]
    while stack:
        x, depth = stack.pop()
        if depth > limit:
            return True
        items = x.values() if type(x) is dict else x
        stack.extend((y, depth + 1) for y in items if type(y) is list or type(y) is dict)
    return False


def _check_depth(op_value: Any, key: Any, where_fn) -> None:
    for v in (op_value, key):
        if (type(v) is list or type(v) is dict) and value_too_deep(v):
            raise MalformedHistory(f"a value nests more than {MAX_VALUE_DEPTH} levels deep", where_fn())


def check_no_surrogates(obj: Any, where: str) -> None:
    """MalformedHistory if a string in ``obj`` holds a lone UTF-16 surrogate (``"\\ud800"`` in JSON or EDN):
    it is no character, and a history holding one could be neither written back nor shown."""
    try:
        _encode(obj).encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedHistory(f"a string holds a lone UTF-16 surrogate ({e.object[e.start]!r}), which is not text",
                               where) from None


def _open_text(path: Path, errors: str = "strict"):
    """The file as text lines split at ``\\n`` only, or MalformedHistory (no such file, unreadable). ``errors``:
    how undecodable bytes are treated (``"replace"`` where only the file's start is looked at)."""
    try:
        # -sig: a byte-order mark at the start is skipped
        return open(path, encoding="utf-8-sig", errors=errors, newline="\n")
    except FileNotFoundError:
        raise MalformedHistory("no such file", str(path)) from None
    except IsADirectoryError:
        raise MalformedHistory("is a directory, not a history file", str(path)) from None
    except OSError as e:
        raise MalformedHistory(f"can't read it ({e.strerror})", str(path)) from None


def bad_utf8_location(path: Path) -> str:
    """``file:line`` of the first line that is not UTF-8 (for the error after a text read failed)."""
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return f"{path}:{lineno}"
    except OSError:
        pass
    return str(path)


@contextlib.contextmanager
def reading_lines(path: str | os.PathLike) -> Iterator[Any]:
    """Open a UTF-8 text file to iterate its lines (split at ``\\n`` only, each with its ``\\n``). Raises
    MalformedHistory for a missing or unreadable file, and for bytes that are not UTF-8 (naming the line) when
    they are met while iterating inside the ``with`` block."""
    path = Path(path)
    with _open_text(path) as f:
        try:
            yield f
        except UnicodeDecodeError as e:
            raise MalformedHistory(f"not UTF-8 text ({e.reason})", bad_utf8_location(path)) from None
        except OSError as e:
            raise MalformedHistory(f"can't read it ({e.strerror})", str(path)) from None


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield (line number, line with its ``\\n``) of a UTF-8 text file, streaming (see :func:`reading_lines`)."""
    with reading_lines(path) as f:
        yield from enumerate(f, start=1)


def _decode_json_line(text: str) -> Any:
    """The one JSON value on a line; ValueError (or RecursionError) if the line is anything else."""
    try:
        obj, end = _scan_json(text)
    except ValueError:
        stripped = text.strip()
        if stripped is text or not stripped:  # leading whitespace is the only thing the fast call can't take
            raise
        obj, end = _scan_json(stripped)
        text = stripped
    if end != len(text) and not text[end:].isspace():
        raise ValueError("extra data after the JSON value")
    return obj


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, decoded object) for each non-blank line. A torn last line (no newline at the end and
    not valid JSON: the controller died mid-write) is dropped with a warning; any other bad line is an error."""
    path = Path(path)
    for lineno, text in text_lines(path):
        obj = _json_line(text, path, lineno)
        if obj is _SKIP:
            continue
        if obj is _TORN:
            return
        yield lineno, obj


_SKIP, _TORN = object(), object()


def _json_line(text: str, path: Path, lineno: int) -> Any:
    """The JSON value of one line, ``_SKIP`` for a blank line, ``_TORN`` for a torn last line (warned about), or
    MalformedHistory naming ``path:lineno``."""
    try:
        return _decode_json_line(text)
    except (ValueError, RecursionError) as e:
        if not text.strip():
            return _SKIP
        if not text.endswith("\n") and not isinstance(e, RecursionError):
            log.warning("%s:%d: dropped a torn last line (the writer died mid-write)", path, lineno)
            return _TORN
        raise MalformedHistory(_json_error(e), f"{path}:{lineno}") from None


def _json_error(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return f"bad JSON (nested too deeply; at most {MAX_VALUE_DEPTH} levels are allowed)"
    return f"bad JSON ({getattr(e, 'msg', str(e))})"


@contextlib.contextmanager
def no_gc():
    """Pause the cyclic garbage collector while building millions of acyclic objects (ops, their values):
    otherwise every few thousand allocations trigger a collection that walks everything built so far, and reading
    grows quadratic. Nothing read here forms cycles, so nothing is lost by waiting."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_history(path: str | os.PathLike, *, validate: bool = True) -> list[Op]:
    """Read a JSON Lines history, re-index it densely, and (by default) validate it.

    Raises MalformedHistory with ``file:line`` for anything wrong except a torn last line. Streams the file:
    memory is the ops read, not the file.
    """
    with no_gc():
        return _read_history(Path(path), validate)


def _read_history(path: Path, validate: bool) -> list[Op]:
    source = str(path)
    ops: list[Op] = []
    append = ops.append
    check = HistoryValidator(source).add if validate else None
    types = _TYPE_NAMES
    fields = _FIELD_SET
    intern = sys.intern  # f names and keys repeat millions of times: one string object each
    scan = _scan_json
    canonical = _CANONICAL_LINE.fullmatch
    procs: dict[str, int | str] = {'"nemesis"': NEMESIS}
    ignored: dict[str, int] = {}  # fields not in the format: name -> first line
    with reading_lines(path) as lines:
        for lineno, text in enumerate(lines, start=1):
            m = canonical(text)
            if m is not None:
                t, p, ty, f, v, node, key, error = m.groups()
                proc = procs.get(p)
                if proc is None:
                    proc = procs[p] = int(p)
                if v[0] == '"':
                    v = v[1:-1]
                else:
                    v = None if v == "null" else int(v)
                if key is not None:
                    key = intern(key[1:-1]) if key[0] == '"' else (None if key == "null" else int(key))
                op = make_op(len(ops), int(t), proc, types[ty], intern(f), v, node, key, error)
                if check is not None:
                    check(op, lineno)
                append(op)
                continue
            try:
                d, end = scan(text)  # the usual line: one object, then its newline
                if end != len(text) - 1 or text[end] != "\n":
                    raise ValueError
            except (ValueError, RecursionError):
                d = _json_line(text, path, lineno)
                if d is _SKIP:
                    continue
                if d is _TORN:
                    break
            if "\\u" in text:  # an escape may be a lone surrogate: no character, and no UTF-8 can hold it
                check_no_surrogates(d, f"{source}:{lineno}")
            # The usual line is checked here inline (the same rules as op_from_dict, which reports anything odd).
            if type(d) is not dict or not d.keys() <= fields:
                op_from_dict(d, f"{source}:{lineno}")  # raises with the precise complaint, if any
                for name in d.keys() - fields:  # other tools' extra fields: left out, named in one warning
                    ignored.setdefault(name, lineno)
                d = {k: v for k, v in d.items() if k in fields}
            if type(d.get("process")) is str and _INT_TEXT.fullmatch(d["process"]):
                d["process"] = int(d["process"])
            try:
                t, p, ty, f = d["time"], d["process"], types[d["type"]], d["f"]
            except (KeyError, TypeError):
                op_from_dict(d, f"{source}:{lineno}")  # raises: a field is missing or the type is unknown
                raise MalformedHistory("not a valid op", f"{source}:{lineno}") from None
            if (type(t) is not int or t < 0 or (type(p) is not int and p != NEMESIS) or type(f) is not str):
                op_from_dict(d, f"{source}:{lineno}")
            value = d.get("value")
            key = d.get("key")
            if type(value) is list or type(value) is dict or type(key) is list or type(key) is dict:
                _check_depth(value, key, lambda: f"{source}:{lineno}")
            elif type(key) is str:
                key = intern(key)
            op = make_op(len(ops), t, p, ty, intern(f), value, d.get("node"), key, d.get("error"),
                         d.get("answered_by"))
            if check is not None:
                check(op, lineno)
            append(op)
    if ignored:
        log.warning("%s: ignored field(s) that are not in the history format: %s", source,
                    ", ".join(f"{name!r} (first on line {line})" for name, line in sorted(ignored.items())[:10])
                    + (f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""))
    return ops


class HistoryValidator:
    """The structural rules of a history, checked one op at a time (see :func:`validate_history`).

    ``add(op, line)`` raises MalformedHistory naming ``source:line`` at the first op that breaks a rule.
    """

    __slots__ = ("source", "pending", "retired", "last_time")

    def __init__(self, source: str = "<history>"):
        self.source = source
        self.pending: dict[Any, Op] = {}
        self.retired: set[Any] = set()
        self.last_time = -1

    def add(self, op: Op, line: int) -> None:
        if op.time < self.last_time:
            raise MalformedHistory(f"time goes backwards ({op.time} ns after {self.last_time} ns)",
                                   f"{self.source}:{line}")
        self.last_time = op.time
        process = op.process
        if process == NEMESIS:
            return
        if process in self.retired:
            raise MalformedHistory(f"process {process} is used again after it crashed with 'info'",
                                   f"{self.source}:{line}")
        if op.type == INVOKE:
            inv = self.pending.get(process)
            if inv is not None:
                raise MalformedHistory(f"process {process} invokes {op.f!r} while its {inv.f!r} is still pending",
                                       f"{self.source}:{line}")
            self.pending[process] = op
            return
        inv = self.pending.pop(process, None)
        if inv is None:
            raise MalformedHistory(f"{op.type!r} completion of {op.f!r} on process {process} with no "
                                   "pending invoke", f"{self.source}:{line}")
        if inv.f != op.f:
            raise MalformedHistory(f"completion {op.f!r} does not match the pending invoke {inv.f!r} on "
                                   f"process {process}", f"{self.source}:{line}")
        if op.type == INFO:
            self.retired.add(process)


def validate_history(ops: list[Op], *, source: str = "<history>", lines: list[int] | None = None) -> None:
    """Check the structural rules of a history; raise MalformedHistory naming ``source:line`` of the first break.

    Rules: a completion needs a pending invoke on its process, a process can't invoke while it has one pending, a
    client process id is not reused after an ``info``, time never goes backwards, completions keep the invoke's
    ``f``. Nemesis ops are exempt from the pairing rules (faults may overlap).
    """
    add = HistoryValidator(source).add
    for i, op in enumerate(ops):
        add(op, lines[i] if lines else i + 1)


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
