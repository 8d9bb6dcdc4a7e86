"""The one table of client errors, and the one place that turns exceptions into completions.

Each error is *definite* (the op certainly did not take effect: ``fail``) or *indefinite* (it may have: ``info``).
As in Maelstrom's errors.edn: a system reports an error code, this table decides what it means for the history.
A timed-out or dropped request is indefinite, except for ops that change nothing (reads): those may be ``fail``.

Plugins extend both tables, in their ``register()``: :func:`register_error` adds a code (definite or not), and
:func:`register_exception` says which error code an exception class of the plugin's client library stands for
(e.g. a driver's "connection refused" error, which is no OSError), so :func:`completion_for_exception` classifies
it instead of calling it ``crashed``. Must not: let a plugin redefine a shipped code's meaning (that would change
the verdicts of every other system).
"""

from __future__ import annotations

import asyncio
import errno

from splitbrain.harness.api import Completion

# code -> (definite?, one line of explanation)
ERRORS: dict[str, tuple[bool, str]] = {
    "not-leader": (True, "the node is not the leader and did not forward the request"),
    "no-leader": (True, "no leader is known; the request was not started"),
    "unavailable": (True, "the node could not reach a quorum before starting the request"),
    "cas-mismatch": (True, "compare-and-set found a different value"),
    "aborted": (True, "the transaction was aborted (its coordinator logged the abort first): it took no effect"),
    "not-found": (True, "the key does not exist"),
    "bad-request": (True, "the node did not understand the request"),
    "unsupported": (True, "the system does not support this operation"),
    "already-processed": (True, "the work queue had the message finished under another lease: the ack was refused"),
    "connection-refused": (True, "the TCP connection was refused: nothing was sent"),
    "timeout": (False, "no answer before the deadline: the op may or may not have happened"),
    "connection-lost": (False, "the connection broke after the request was sent"),
    "quorum-timeout": (False, "the coordinator sent the write but did not hear from a quorum in time"),
    "crashed": (False, "the node failed while handling the request"),
}

#: Exception class -> error code, registered by plugins (checked before the built-in transport rules, in order).
EXCEPTIONS: list[tuple[type, str]] = []
_SHIPPED = frozenset(ERRORS)


def register_error(code: str, definite: bool, explanation: str) -> None:
    """Add error ``code``: ``definite`` means the op certainly did not take effect (``fail``), else it may have
    (``info``). Registering the same code again with the same meaning is harmless; a shipped code can't change."""
    if not isinstance(code, str) or not code:
        raise ValueError(f"an error code is a non-empty string, not {code!r}")
    if code in _SHIPPED and ERRORS[code][0] != bool(definite):
        raise ValueError(f"{code!r} is a shipped error code and is {'definite' if ERRORS[code][0] else 'indefinite'}")
    if code not in _SHIPPED:
        ERRORS[code] = (bool(definite), explanation)


def register_exception(exc_type: type, code: str) -> None:
    """Map exceptions of ``exc_type`` (and subclasses) to ``code`` in :func:`completion_for_exception`. The code
    must be known (shipped or registered); later registrations of the same class replace earlier ones."""
    if code not in ERRORS:
        raise ValueError(f"unknown error code {code!r}: register_error it first")
    EXCEPTIONS[:] = [(t, c) for t, c in EXCEPTIONS if t is not exc_type] + [(exc_type, code)]


#: Ops that never change state: a failed/unknown read can always be recorded as ``fail``.
READ_ONLY_FS = frozenset({"read", "get"})


def completion_for_error(code: str, f: str, detail: str | None = None) -> Completion:
    """The completion for an error ``code`` reported for op ``f``. Unknown codes are indefinite (safe side)."""
    definite, _ = ERRORS.get(code, (False, ""))
    kind = "fail" if (definite or f in READ_ONLY_FS) else "info"
    return Completion(kind, None, code if not detail else f"{code}: {detail}")


def completion_for_exception(exc: BaseException, f: str, *, sent: bool) -> Completion:
    """Translate a transport exception. ``sent`` says whether any request bytes may have reached the node.
    Exceptions a plugin registered (:func:`register_exception`) get their code first; the most specific
    registered class wins."""
    for exc_type, code in sorted(EXCEPTIONS, key=lambda tc: -len(tc[0].__mro__)):
        if isinstance(exc, exc_type):
            return completion_for_error(code, f, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return completion_for_error("timeout", f)
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
        return completion_for_error("connection-refused", f)
    if isinstance(exc, (ConnectionError, OSError, asyncio.IncompleteReadError, EOFError)):
        if not sent:
            return completion_for_error("connection-refused", f, type(exc).__name__)
        return completion_for_error("connection-lost", f, type(exc).__name__)
    return completion_for_error("crashed", f, f"{type(exc).__name__}: {exc}")
