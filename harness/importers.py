"""Read histories written by other tools: Jepsen's ``history.edn`` (one EDN map per line, also Porcupine's kv test
data) and ``jepsen.util`` log lines (Porcupine's etcd test data). Everything comes out as validated :class:`Op`
lists; anything that can't be read is a MalformedHistory naming ``file:line``.

Neither format always carries times: where it doesn't, op ``i`` gets time ``i`` ns, which keeps real-time order
(the only thing a checker uses time for).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import edn_format
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol
from edn_format.edn_lex import Char

from harness.errors import MalformedHistory
from harness.history import NEMESIS, TYPES, Op, read_history, validate_history

FORMATS = ("auto", "jsonl", "edn", "jepsen-log")

_LOG_LINE = re.compile(r"^\s*(?:\S+\s+)?jepsen\.util\s+-\s+(?P<process>:?\S+)\s+:(?P<type>\w+)\s+:(?P<f>[\w-]+)"
                       r"(?:\s+(?P<value>.*?))?\s*$")


# Fast paths for the common, simple shapes (edn_format takes ~4 s for the corpus). Anything these patterns don't
# match exactly goes to edn_format, so results are the same; the fast path only skips the general parser.
_SIMPLE_SCALAR = r'(?:nil|-?\d+|:[A-Za-z][\w\-]*|"[^"\\]*")'
_SIMPLE_VALUE = re.compile(rf'(?:{_SIMPLE_SCALAR}|\[(?:\s*{_SIMPLE_SCALAR})*\s*\])')
_SCALAR_TOKENS = re.compile(_SIMPLE_SCALAR)
_EDN_MAP = re.compile(r'^\{((?:\s*:[a-z][\w\-]*\s+' + _SIMPLE_VALUE.pattern + r'\s*,?)*)\s*\}\s*$')
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


def _make_op(n: int, where: str, *, time: Any, process: Any, type: Any, f: Any, value: Any, key: Any = None,
             error: Any = None, node: Any = None) -> Op:
    if type not in TYPES:
        raise MalformedHistory(f"unknown op type {type!r} (expected invoke, ok, fail or info)", where)
    if not isinstance(f, str):
        raise MalformedHistory(f"op has no usable :f ({f!r})", where)
    if time is None:
        time = n
    if not isinstance(time, int) or time < 0:
        raise MalformedHistory(f":time must be a non-negative integer, got {time!r}", where)
    return Op(n, time, _process(process, where), type, f, value, node,
              key, None if error is None else str(error))


def _fast_txn_map(text: str) -> dict | None:
    from harness.importers_txn import fast_txn_map

    return fast_txn_map(text)


def read_edn_history(path: str | Path) -> list[Op]:
    """One EDN map per line (Jepsen ``history.edn``, Porcupine's kv files). Blank lines are skipped."""
    path = Path(path)
    ops: list[Op] = []
    lines: list[int] = []
    for lineno, text in enumerate(_read_lines(path), start=1):
        if not text.strip():
            continue
        where = f"{path}:{lineno}"
        d = _fast_edn_map(text)
        if d is None:
            d = _fast_txn_map(text)  # Jepsen txn ops (harness/importers_txn.py)
        if d is None:
            try:
                raw = edn_format.loads(text)
            except Exception as e:  # edn_format raises several unrelated types on bad input
                raise MalformedHistory(f"bad EDN ({type(e).__name__}: {e})".replace("\n", " "), where) from None
            if not isinstance(raw, ImmutableDict):
                raise MalformedHistory("expected an EDN map for an op", where)
            d = from_edn(raw)
        for name in ("process", "type", "f"):
            if name not in d:
                raise MalformedHistory(f"op has no :{name}", where)
        ops.append(_make_op(len(ops), where, time=d.get("time"), process=d["process"], type=d["type"], f=d["f"],
                            value=d.get("value"), key=d.get("key"), error=d.get("error"), node=d.get("node")))
        lines.append(lineno)
    validate_history(ops, source=str(path), lines=lines)
    return ops


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
            try:
                value = from_edn(edn_format.loads(raw_value))
            except Exception:
                raise MalformedHistory(f"can't read the value {raw_value!r} as EDN", where) from None
        type_ = m.group("type")
        error = None
        if type_ in ("info", "fail") and isinstance(value, str):
            error, value = value, None
        proc = m.group("process").lstrip(":")
        ops.append(_make_op(len(ops), where, time=None, process=proc, type=type_, f=m.group("f"), value=value,
                            error=error))
        lines.append(lineno)
    if not ops:
        raise MalformedHistory("no jepsen.util op lines found", str(path))
    validate_history(ops, source=str(path), lines=lines)
    return ops


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MalformedHistory("no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MalformedHistory(f"can't read it ({e})", str(path)) from None


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its first non-blank line."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            for line in f:
                s = line.strip()
                if not s:
                    continue
                if s.startswith("{:") or s.startswith("{ :"):
                    return "edn"
                if s.startswith("{"):
                    return "jsonl"
                if "jepsen.util" in s:
                    return "jepsen-log"
                break
    except FileNotFoundError:
        raise MalformedHistory("no such file", str(p)) from None
    except OSError as e:
        raise MalformedHistory(f"can't read it ({e.strerror})", str(p)) from None
    raise MalformedHistory("can't tell the history format (give --format jsonl, edn or jepsen-log)", str(p))


def load_history(path: str | Path, fmt: str = "auto") -> list[Op]:
    """Read a history in any supported format (``auto`` guesses)."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "jsonl":
        return read_history(path)
    if fmt == "edn":
        return read_edn_history(path)
    if fmt == "jepsen-log":
        return read_jepsen_log(path)
    raise MalformedHistory(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", "--format")
