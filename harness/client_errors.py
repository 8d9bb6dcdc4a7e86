"""The one table of client errors, and the one place that turns exceptions into completions.

Each error is *definite* (the op certainly did not take effect: ``fail``) or *indefinite* (it may have: ``info``).
As in Maelstrom's errors.edn: a system reports an error code, this table decides what it means for the history.
A timed-out or dropped request is indefinite, except for ops that change nothing (reads): those may be ``fail``.
"""

from __future__ import annotations

import asyncio
import errno

from harness.api import Completion

# code -> (definite?, one line of explanation)
ERRORS: dict[str, tuple[bool, str]] = {
    "not-leader": (True, "the node is not the leader and did not forward the request"),
    "no-leader": (True, "no leader is known; the request was not started"),
    "unavailable": (True, "the node could not reach a quorum before starting the request"),
    "cas-mismatch": (True, "compare-and-set found a different value"),
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

#: Ops that never change state: a failed/unknown read can always be recorded as ``fail``.
READ_ONLY_FS = frozenset({"read", "get"})


def completion_for_error(code: str, f: str, detail: str | None = None) -> Completion:
    """The completion for an error ``code`` reported for op ``f``. Unknown codes are indefinite (safe side)."""
    definite, _ = ERRORS.get(code, (False, ""))
    kind = "fail" if (definite or f in READ_ONLY_FS) else "info"
    return Completion(kind, None, code if not detail else f"{code}: {detail}")


def completion_for_exception(exc: BaseException, f: str, *, sent: bool) -> Completion:
    """Translate a transport exception. ``sent`` says whether any request bytes may have reached the node."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return completion_for_error("timeout", f)
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
        return completion_for_error("connection-refused", f)
    if isinstance(exc, (ConnectionError, OSError, asyncio.IncompleteReadError, EOFError)):
        if not sent:
            return completion_for_error("connection-refused", f, type(exc).__name__)
        return completion_for_error("connection-lost", f, type(exc).__name__)
    return completion_for_error("crashed", f, f"{type(exc).__name__}: {exc}")
