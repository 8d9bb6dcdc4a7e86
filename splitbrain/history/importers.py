"""Read histories written by other tools: Jepsen's EDN histories in all their shapes (one map per line as in
``history.edn`` and Porcupine's kv test data; one vector of maps as in Knossos' and older Jepsen's; maps over several
lines; ``;`` comments) and ``jepsen.util`` log lines (Porcupine's etcd test data). Everything comes out as validated
:class:`Op` lists; anything that can't be read is a MalformedHistory naming ``file:line``.

Neither format always carries times: where it doesn't, op ``i`` gets time ``i`` ns, which keeps real-time order
(the only thing a checker uses time for). In EDN imports an ``ok`` read that returned nil constrains nothing (as in
Knossos' and Jepsen's models): :func:`read_edn_history` leaves such reads out (see docs/history-format.md).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import edn_format
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol
from edn_format.edn_lex import Char

from splitbrain.history.errors import MalformedHistory
from splitbrain.history.importers_independent import split_independent
from splitbrain.history.importers_txn import fast_txn_map
from splitbrain.history.ops import (_TYPE_NAMES, INVOKE, NEMESIS, OK, TYPES, HistoryValidator, Op, _check_depth,
                                    _open_text, check_no_surrogates, make_op, no_gc, read_history, reading_lines,
                                    text_lines, validate_history)

FORMATS = ("auto", "jsonl", "edn", "jepsen-log")

_LOG_LINE = re.compile(r"^\s*(?:\S+\s+)?jepsen\.util\s+-\s+(?P<process>:?\S+)\s+:(?P<type>\w+)\s+:(?P<f>[\w-]+)"
                       r"(?:\s+(?P<value>.*?))?\s*$")


# Fast paths for the common, simple shapes (edn_format takes ~4 s for the corpus). Anything these patterns don't
# match exactly goes to edn_format, so results are the same; the fast path only skips the general parser.
# A scalar must end where a token ends (``[1 2]``, never ``[12]`` read as 1 and 2 or ``:a:b`` as two keywords);
# integers longer than 18 digits go to edn_format (which bounds them).
_SIMPLE_SCALAR = r'(?:(?:nil|-?\d{1,18}|:[A-Za-z][\w\-]*)(?![^\s,\]\}])|"[^"\\]*")'
_SIMPLE_VALUE = re.compile(rf'(?:{_SIMPLE_SCALAR}|\[(?:\s*{_SIMPLE_SCALAR})*\s*\])')
_SCALAR_TOKENS = re.compile(_SIMPLE_SCALAR)
# Entries are separated by whitespace/commas matched in exactly one place, so a line that fails to match fails in
# linear time (a separator that two parts of the pattern could share backtracks exponentially).
_EDN_ENTRY_PAT = r':[a-z][\w\-]*\s+' + _SIMPLE_VALUE.pattern
_EDN_MAP = re.compile(r'^\{[\s,]*((?:' + _EDN_ENTRY_PAT + r'(?:[\s,]+' + _EDN_ENTRY_PAT + r')*)?)[\s,]*\}\s*$')
_EDN_ENTRY = re.compile(r':([a-z][\w\-]*)\s+(' + _SIMPLE_VALUE.pattern + r')\s*,?')


def _simple_scalar(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok[0] == ":":
        return tok[1:]
    if tok[0] == '"':
        return tok[1:-1]
    return int(tok)


def _fast_value(text: str) -> Any:
    """Parse a value matching _SIMPLE_VALUE exactly (caller checked) the way edn_format + from_edn would."""
    if text[0] == "[":
        return [_simple_scalar(t) for t in _SCALAR_TOKENS.findall(text[1:-1])]
    return _simple_scalar(text)


def _fast_edn_map(text: str) -> dict | None:
    """A flat EDN map of keyword keys and simple values as from_edn would give it, or None to use edn_format."""
    m = _EDN_MAP.match(text)
    if m is None:
        return None
    d = {}
    for key, val in _EDN_ENTRY.findall(m.group(1)):
        if key in d:
            return None  # duplicate keys: let edn_format decide
        d[key] = _fast_value(val)
    return d


def from_edn(v: Any) -> Any:
    """Turn a parsed EDN value into plain JSON-able Python: keywords become their names, vectors and lists become
    lists, sets become sorted lists (when sortable), maps become dicts with string keys."""
    if isinstance(v, Keyword):
        return v.name
    if isinstance(v, Symbol):
        return None if v.name == "nil" else v.name
    if isinstance(v, Char):
        return str(v)
    if isinstance(v, (ImmutableList, list, tuple)):
        return [from_edn(x) for x in v]
    if isinstance(v, (frozenset, set)):
        items = [from_edn(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(v, (ImmutableDict, dict)):
        return {str(from_edn(k)): from_edn(x) for k, x in v.items()}
    return v


def _process(v: Any, where: str) -> int | str:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise MalformedHistory(f"process must be an integer or :nemesis, got {v!r}", where)
    if isinstance(v, str):
        if v == NEMESIS:
            return NEMESIS
        try:
            return int(v)
        except ValueError:
            raise MalformedHistory(f"process must be an integer or :nemesis, got {v!r}", where) from None
    return v


def _checked_op(n: int, where: str, *, time: Any, process: Any, type: Any, f: Any, value: Any, key: Any = None,
             error: Any = None, node: Any = None) -> Op:
    if type.__class__ is not str or type not in TYPES:
        raise MalformedHistory(f"unknown op type {type!r} (expected invoke, ok, fail or info)", where)
    if not isinstance(f, str):
        raise MalformedHistory(f"op has no usable :f ({f!r})", where)
    if time is None:
        time = n
    if time.__class__ is not int or time < 0:
        raise MalformedHistory(f":time must be a non-negative integer, got {time!r}", where)
    if value.__class__ in (list, dict) or key.__class__ in (list, dict):
        _check_depth(value, key, lambda: where)
    return Op(n, time, _process(process, where), type, f, value, node,
              key, None if error is None else str(error))


def _fast_txn_map(text: str) -> dict | None:
    return fast_txn_map(text, _fast_edn_map, _fast_value)


# --- EDN ---------------------------------------------------------------------------------------------------------
# A file holds op maps one per line (Jepsen's history.edn, Porcupine's kv files), or as one vector of maps
# (Knossos' and older Jepsen's histories), with maps pretty-printed over several lines and ``;`` comments. The
# reader streams lines: a line that is one whole simple map takes the fast paths; anything else goes through a
# small scanner that finds where each top-level map starts and ends (tracking brackets, strings, comments and
# character literals) and hands the map's text to the fast path or to edn_format.

# Porcupine's kv shape, the most common large file: one regex, no second pass.
_PORCUPINE_KV = re.compile(r'\{:process (\d{1,18}), :type :(invoke|ok|fail|info), :f :([A-Za-z][\w\-]*), '
                           r':key "([^"\\]*)", :value (nil|"[^"\\]*"|-?\d{1,18})\}\s*')
# Tokens the scanner stops at: strings, comments, character literals, tags/discards, brackets.
_EDN_TOKEN = re.compile(r'["\\;\[\](){}]|#_|#\{|#[A-Za-z][\w.\-/]*')
_EDN_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_EDN_GAP = re.compile(r'[\s,]*')
_OPEN = frozenset("[({") | {"#{"}


class _EdnScanner:
    """Splits EDN text, fed line by line, into top-level op maps: ``feed(lineno, line)`` returns the list of
    ``(first line, map text)`` that the line completes; ``finish()`` raises if something was left open.

    Top level is either a sequence of maps, or one vector/list of maps (``[{...} {...}]``). A record tag before a
    map (``#jepsen.history.Op{...}``) is dropped; ``#_`` discards the next map. Anything else at top level is
    bad input.
    """

    __slots__ = ("source", "depth", "base", "outer_line", "in_string", "buf", "seg", "start_line", "discard", "idle")

    def __init__(self, source: str):
        self.source = source
        self.depth = 0          # brackets open, counting the outer vector
        self.base = 0           # depth at which op maps start: 1 inside an outer vector
        self.outer_line = 0     # where the outer vector opened (0: none)
        self.in_string = False
        self.buf: list[str] | None = None  # pieces of the map being read
        self.seg = 0            # where the current line's piece of the map starts
        self.start_line = 0
        self.discard = 0
        self.idle = True        # between maps at top level: a line here may be one whole map (the fast paths)

    def feed(self, lineno: int, line: str) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        pos = 0
        n = len(line)
        while pos < n:
            if self.in_string:
                m = _EDN_STRING_REST.match(line, pos)
                if m is None:
                    break  # the string goes on past this line
                self.in_string = False
                pos = m.end()
                continue
            m = _EDN_TOKEN.search(line, pos)
            end = m.start() if m else n
            if self.buf is None and end > pos and _EDN_GAP.match(line, pos, end).end() != end:
                self._bad_top(lineno, line[pos:end])
            if m is None:
                break
            tok = m.group()
            pos = m.end()
            if tok == '"':
                if self.buf is None:
                    self._bad_top(lineno, line[m.start():])
                self.in_string = True
            elif tok == ";":
                break  # a comment to the end of the line (edn_format skips it inside a map's text)
            elif tok == "\\":
                if self.buf is None:
                    self._bad_top(lineno, line[m.start():])
                pos += 1  # a character literal such as \[ or \" : its character is not syntax
            elif tok[0] == "#" and tok != "#{":
                if self.buf is None:
                    if tok == "#_":
                        self.discard += 1
                    # else a record tag: the map that follows is read as a plain map
            elif tok in _OPEN:
                if self.buf is None:
                    if self.depth == 0 and tok in ("[", "(") and not self.outer_line:
                        self.outer_line, self.base = lineno, 1
                    elif tok != "{":
                        self._bad_top(lineno, line[m.start():])
                    else:
                        self.buf, self.seg, self.start_line = [], m.start(), lineno
                self.depth += 1
            else:  # a closing bracket
                if self.buf is None:
                    if self.depth == 1 and self.base == 1 and tok in "])":
                        self.depth = self.base = 0  # the outer vector ends (a second one would be bad input)
                        continue
                    raise MalformedHistory(f"unbalanced {tok!r}", f"{self.source}:{lineno}")
                self.depth -= 1
                if self.depth == self.base:
                    self.buf.append(line[self.seg:pos])
                    text = "".join(self.buf)
                    self.buf = None
                    if self.discard:
                        self.discard -= 1
                    else:
                        out.append((self.start_line, text))
        if self.buf is not None:
            self.buf.append(line[self.seg:])
            self.seg = 0
        self.idle = self.buf is None and not self.in_string and not self.discard
        return out

    def _bad_top(self, lineno: int, text: str) -> None:
        shown = text.strip()
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise MalformedHistory(f"expected an EDN map for an op, found {shown!r}", f"{self.source}:{lineno}")

    def finish(self) -> None:
        if self.buf is not None or self.in_string:
            raise MalformedHistory("the op map starting here is never closed (the file ends inside it)",
                                   f"{self.source}:{self.start_line}")
        if self.depth:
            raise MalformedHistory("the vector of ops opened here is never closed",
                                   f"{self.source}:{self.outer_line}")


def _parse_edn_map(text: str, where: str) -> dict:
    """One op map's text as a plain dict (keyword keys as strings), or MalformedHistory."""
    d = _fast_edn_map(text)
    if d is None:
        d = _fast_txn_map(text)  # Jepsen txn ops (splitbrain/history/importers_txn.py)
    if d is not None:
        return d
    try:
        raw = edn_format.loads(text)
    except RecursionError:
        raise MalformedHistory("bad EDN (nested too deeply)", where) from None
    except Exception as e:  # edn_format raises several unrelated types on bad input
        raise MalformedHistory(f"bad EDN ({type(e).__name__}: {e})".replace("\n", " "), where) from None
    if not isinstance(raw, ImmutableDict):
        raise MalformedHistory("expected an EDN map for an op", where)
    try:
        d = from_edn(raw)
    except RecursionError:
        raise MalformedHistory("bad EDN (nested too deeply)", where) from None
    if "\\u" in text:  # an escape may be a lone surrogate
        check_no_surrogates(d, where)
    return d


def _line_maps(scan: _EdnScanner, lineno: int, line: str, source: str) -> list[tuple[int, dict]]:
    """The op maps a line completes (start line, map), for any line the Porcupine fast path didn't take."""
    if line.endswith("\r\n"):
        line = line[:-2] + "\n"  # CRLF line ends (edn_format's lexer takes no \r)
    if scan.idle:
        s = line.strip()
        if not s or s[0] == ";":
            return []
        if s[0] == "{" and s[-1] == "}":
            d = _fast_edn_map(s)
            if d is None:
                d = _fast_txn_map(s)
            if d is not None:
                return [(lineno, d)]
    return [(start, _parse_edn_map(text, f"{source}:{start}")) for start, text in scan.feed(lineno, line)]


def iter_edn_ops(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number where the map starts, op map as a plain dict) for every top-level op map of an EDN
    history in any of Jepsen's shapes. Streams the file."""
    path = Path(path)
    scan = _EdnScanner(str(path))
    for lineno, line in text_lines(path):
        yield from _line_maps(scan, lineno, line, str(path))
    scan.finish()


def _read_edn_ops(path: Path) -> list[Op]:
    """All ops of an EDN file, validated as they come. Porcupine's kv lines are built straight from one regex
    match (the hot loop of a million-op file); every other line goes through :func:`_line_maps`."""
    source = str(path)
    ops: list[Op] = []
    append = ops.append
    check = HistoryValidator(source).add
    intern = sys.intern
    types = _TYPE_NAMES
    procs: dict[str, int] = {}
    scan = _EdnScanner(source)
    porcupine = _PORCUPINE_KV.fullmatch
    with reading_lines(path) as lines:
        for lineno, line in enumerate(lines, start=1):
            if scan.idle:
                m = porcupine(line)
                if m is not None:
                    p, t, f, k, v = m.groups()
                    proc = procs.get(p)
                    if proc is None:
                        proc = procs[p] = int(p)
                    n = len(ops)
                    op = make_op(n, n, proc, types[t], intern(f),
                                 v[1:-1] if v[0] == '"' else (None if v == "nil" else int(v)), None, intern(k), None)
                    check(op, lineno)
                    append(op)
                    continue
            for start, d in _line_maps(scan, lineno, line, source):
                op = _op_from_edn_map(d, len(ops), source, start)
                check(op, start)
                append(op)
    scan.finish()
    return ops


def _op_from_edn_map(d: dict, n: int, source: str, lineno: int) -> Op:
    try:
        process, type_, f = d["process"], d["type"], d["f"]
    except KeyError as e:
        raise MalformedHistory(f"op has no :{e.args[0]}", f"{source}:{lineno}") from None
    time, value, key = d.get("time"), d.get("value"), d.get("key")
    if (process.__class__ is int and type_.__class__ is str and type_ in TYPES and f.__class__ is str
            and time is None and value.__class__ not in _CONTAINERS and key.__class__ not in _CONTAINERS
            and "error" not in d and "node" not in d):  # the common shape: nothing left to check
        intern = sys.intern
        return make_op(n, n, process, _TYPE_NAMES[type_], intern(f), value, None,
                       intern(key) if key.__class__ is str else key, None)
    return _checked_op(n, f"{source}:{lineno}", time=time, process=process, type=type_, f=f, value=value,
                    key=key, error=d.get("error"), node=d.get("node"))


_CONTAINERS = (list, dict)


def _is_nil_read(op: Op) -> bool:
    return op.type == OK and op.value is None and op.f in NIL_READ_FS and op.process != NEMESIS


#: The ``:f`` of reads whose nil result EDN imports treat as "no information" (Knossos' and Jepsen's models accept
#: any nil read).
NIL_READ_FS = frozenset({"read", "get"})


def read_edn_history(path: str | Path, *, nil_reads_unconstrained: bool = True) -> list[Op]:
    """An EDN history in any of Jepsen's shapes (see :func:`iter_edn_ops`), validated.

    With ``nil_reads_unconstrained`` (the default), an ``ok`` read (``:f :read`` or ``:get``) that returned nil is
    left out together with its invoke: Knossos' and Jepsen's models accept a nil read in every state, so such a
    read constrains nothing but itself, exactly as a read whose result was never seen (which the checker drops).
    """
    return read_edn(path, nil_reads_unconstrained=nil_reads_unconstrained)[0]


def read_edn(path: str | Path, *, nil_reads_unconstrained: bool = True) -> tuple[list[Op], int]:
    """:func:`read_edn_history` and how many nil reads it left out."""
    path = Path(path)
    with no_gc():
        ops = _read_edn_ops(path)
        if not nil_reads_unconstrained:
            return ops, 0
        return drop_nil_reads(ops)


def drop_nil_reads(ops: list[Op]) -> tuple[list[Op], int]:
    """Leave out every ``ok`` read that returned nil together with its invoke; re-index. Returns the ops and how
    many reads were left out. (A pure function of a validated history.)"""
    if not any(_is_nil_read(op) for op in ops):
        return ops, 0
    pending: dict[Any, int] = {}
    drop: set[int] = set()
    for i, op in enumerate(ops):
        if op.process == NEMESIS:
            continue
        if op.type == INVOKE:
            pending[op.process] = i
        else:
            inv = pending.pop(op.process, None)
            if inv is not None and _is_nil_read(op):
                drop.update((inv, i))
    kept = [op for i, op in enumerate(ops) if i not in drop]
    return [Op(i, op.time, op.process, op.type, op.f, op.value, op.node, op.key, op.error)
            for i, op in enumerate(kept)], len(drop) // 2


def read_jepsen_log(path: str | Path) -> list[Op]:
    """``jepsen.util`` log lines: ``INFO  jepsen.util - <process> :<type> :<f> <value>`` (tabs or spaces).

    Lines that aren't op lines (other log output) are skipped; an op line that can't be parsed is an error.
    Completion values of ``info`` ops (``:timed-out``) are reasons, not results: they go to ``error``.
    """
    path = Path(path)
    ops: list[Op] = []
    lines: list[int] = []
    for lineno, text in enumerate(_read_lines(path), start=1):
        if "jepsen.util" not in text:
            continue
        where = f"{path}:{lineno}"
        m = _LOG_LINE.match(text)
        if not m:
            raise MalformedHistory("can't read this jepsen.util line as an op", where)
        raw_value = m.group("value") or "nil"
        if _SIMPLE_VALUE.fullmatch(raw_value):
            value = _fast_value(raw_value)
        else:
            shown = raw_value if len(raw_value) <= 40 else raw_value[:37] + "..."
            try:
                value = from_edn(edn_format.loads(raw_value))
            except RecursionError:
                raise MalformedHistory(f"can't read the value {shown!r} as EDN (nested too deeply)", where) from None
            except Exception:
                raise MalformedHistory(f"can't read the value {shown!r} as EDN", where) from None
            if "\\u" in raw_value:
                check_no_surrogates(value, where)
        type_ = m.group("type")
        error = None
        if type_ in ("info", "fail") and isinstance(value, str):
            error, value = value, None
        proc = m.group("process").lstrip(":")
        ops.append(_checked_op(len(ops), where, time=None, process=proc, type=type_, f=m.group("f"), value=value,
                            error=error))
        lines.append(lineno)
    if not ops:
        raise MalformedHistory("no jepsen.util op lines found", str(path))
    validate_history(ops, source=str(path), lines=lines)
    return ops


def _read_lines(path: Path) -> list[str]:
    try:
        # Lines end at \n (and \r\n) only: str.splitlines would also cut at form feeds and U+2028 inside values.
        return path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")
    except FileNotFoundError:
        raise MalformedHistory("no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MalformedHistory(f"can't read it ({e})", str(path)) from None


_HEAD_BYTES = 1 << 16
_EDN_START = re.compile(r'[\[(]?\s*(?:#[A-Za-z][\w.\-/]*\s*)?\{\s*(?::|\})')
_JSON_START = re.compile(r'\{\s*"')


def detect_format(path: str | Path) -> str:
    """Guess a file's format from how it starts: ``jepsen.util`` log lines, EDN op maps (alone, in a vector,
    tagged, after ``;`` comments, spread over lines) or JSON objects. Raises MalformedHistory if it can't tell or
    the file holds nothing."""
    p = Path(path)
    try:
        with _open_text(p, errors="replace") as f:
            head = f.read(_HEAD_BYTES)
    except OSError as e:  # a read error after a successful open
        raise MalformedHistory(f"can't read it ({e.strerror})", str(p)) from None
    lines = [ln for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith(";")]
    if not lines:
        raise MalformedHistory("the file is empty (no ops)" if not head.strip() else "the file holds no ops",
                               str(p))
    if "jepsen.util" in lines[0]:
        return "jepsen-log"
    text = "\n".join(lines).lstrip()
    if _JSON_START.match(text):
        return "jsonl"
    if _EDN_START.match(text):
        return "edn"
    if any(_LOG_LINE.match(ln) for ln in lines):  # a Jepsen log may open with other loggers' lines
        return "jepsen-log"
    raise MalformedHistory("can't tell the history format (give --format jsonl, edn or jepsen-log)", str(p))


@dataclass
class Loaded:
    """A history as read: its ops, the format it was read as, and how many nil reads an EDN import left out."""

    ops: list[Op]
    format: str
    nil_reads: int = 0
    independent: bool = False  # ``[key value]`` tuples of jepsen.independent were split into key and value


def read_any(path: str | Path, fmt: str = "auto") -> Loaded:
    """Read a history in any supported format (``auto`` guesses). A file with no ops is bad input. EDN and
    ``jepsen.util`` histories of jepsen.independent (``[key value]`` values) come out split by key
    (splitbrain/history/importers_independent.py); EDN nil reads are left out (:func:`drop_nil_reads`)."""
    if fmt not in FORMATS:
        raise MalformedHistory(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", "--format")
    if fmt == "auto":
        fmt = detect_format(path)
    nil_reads = 0
    independent = False
    if fmt == "jsonl":
        ops = read_history(path)
    elif fmt == "edn":
        with no_gc():
            ops, _ = read_edn(path, nil_reads_unconstrained=False)
            ops, independent = split_independent(ops)  # before nil reads: ``[k nil]`` is one once split
            ops, nil_reads = drop_nil_reads(ops)
    else:
        ops, independent = split_independent(read_jepsen_log(path))
    if not ops and not nil_reads:
        raise MalformedHistory("the file holds no ops", str(path))
    return Loaded(ops, fmt, nil_reads, independent)


def load_history(path: str | Path, fmt: str = "auto") -> list[Op]:
    """Read a history in any supported format (``auto`` guesses); see :func:`read_any`."""
    return read_any(path, fmt).ops
