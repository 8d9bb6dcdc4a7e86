"""Getting a started cluster to the point where load may begin: every node listening, then the system ready.

:func:`wait_listening` blocks until every node accepts TCP connections on its port. A node that exits, or that does
not listen in time, is reported with the paths of its stdout and stderr logs and their last lines (read on the
node's host, so this works over SSH too), and a known cause is named: a server that hangs under libfaketime (the
clock shim) gets the advice to declare ``faketime = False`` on its System.

:func:`await_ready` then polls the system's optional ``ready()`` capability (splitbrain.harness.api.Ready) until it says True,
for a bounded time, and returns how long that took.

Must not: wait past its deadline (every poll is itself bounded), or hide the node's own words (the log tails go
into the error message, escaped only by being plain text).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time

from splitbrain.harness.api import NodeAddress
from splitbrain.history.errors import ClusterError, UnreachableNode

#: Lines of each log shown in a start-up error.
TAIL_LINES = 5

#: Lines read from the end of each log to find the error line a stack trace buries (Node.js, Java and Python print
#: the error first and the frames after it, so the last lines alone are often only frames).
SCAN_LINES = 60

#: A line that states an error: ``SyntaxError: ...``, ``java.net.BindException: ...``, ``Error: listen EADDRINUSE``,
#: ``panic: ...``, ``FATAL ...``. The first such line above the shown tail is shown too.
ERROR_LINE = re.compile(r"^\s*(?:[\w.$]*(?:Error|Exception)\b[^\n]*:|panic:|FATAL|fatal error:)")

#: What libfaketime prints when it can't initialise inside a program (seen with servers that call clock_gettime
#: from their own early initialisation, before libfaketime's constructor ran).
FAKETIME_SIGNS = ("libfaketime", "clock_gettime() without proper initialization")

#: What libfaketime prints when it gives up: the server then hangs, so waiting out the start-up time is pointless.
FAKETIME_FATAL = "libfaketime: Cannot recover from unexpected recursive calls"

FAKETIME_ADVICE = ("it looks like the server does not run under libfaketime (the clock shim): declare "
                   "`faketime = False` on its System (clock faults are then refused before a run starts)")


def log_paths(cluster, node: str) -> tuple[str, str]:
    """The node's stdout and stderr log paths on its host (splitbrain.harness.hosts.cluster's layout)."""
    base = os.path.join(cluster.node_dir(node), "node")
    return base + ".stdout.log", base + ".stderr.log"


def _shown(text: str, lines: int = TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of ``text``, preceded by its first error line (and ``...``) when that line is above
    them: a start-up error then names the error, not only the last frames of its stack trace."""
    all_lines = text.splitlines()
    tail = all_lines[-lines:]
    above = all_lines[:-lines] if len(all_lines) > lines else []
    first = next((line for line in above if ERROR_LINE.match(line)), None)
    return ([first.strip(), "..."] if first is not None else []) + tail


def _tail(cluster, node: str, path: str, lines: int = SCAN_LINES) -> str:
    try:
        res = cluster.host(node).exec(["tail", "-n", str(lines), path], timeout=5.0, check=False)
    except Exception as e:  # noqa: BLE001 - an unreachable host: the message still names the path
        return f"(could not read it: {e})"
    return res.stdout.rstrip() if res.returncode == 0 else "(no such file)"


def describe_logs(cluster, node: str, copies: str | os.PathLike | None = None) -> str:
    """The node's two logs, each named with its last lines, and where they are kept once the cluster is gone
    (``copies``: the run directory's ``nodes/``); plus the advice for a known cause."""
    parts, seen = [], ""
    for path in log_paths(cluster, node):
        text = _tail(cluster, node, path)
        seen += text
        shown = "\n    ".join(_shown(text)) if text else "(empty)"
        parts.append(f"{path}, last lines:\n    {shown}")
    if copies is not None:
        parts.append(f"(both are kept in {os.path.join(copies, node)}/)")
    advice = f"\n{FAKETIME_ADVICE}" if any(s in seen for s in FAKETIME_SIGNS) else ""
    return "see " + "\n".join(parts) + advice


def wait_listening(addrs: list[NodeAddress], cluster, timeout: float,
                   copies: str | os.PathLike | None = None) -> None:
    """Block until every node accepts TCP connections. ClusterError for a node that exits while starting,
    UnreachableNode for one that does not listen within ``timeout`` seconds: both name its logs (and where the
    run keeps their ``copies``)."""
    deadline = time.monotonic() + timeout
    next_look = time.monotonic() + 1.0  # when to look at the node's stderr for libfaketime's last words
    pending = list(addrs)
    while pending:
        a = pending[0]
        try:
            with socket.create_connection((a.host, a.port), timeout=0.5):
                pending.pop(0)
                continue
        except OSError:
            pass
        if not cluster.is_running(a.name):
            raise ClusterError(f"node {a.name} exited while starting; {describe_logs(cluster, a.name, copies)}")
        if time.monotonic() >= next_look:  # a server that libfaketime gave up on hangs: say so now
            next_look = time.monotonic() + 1.0
            if FAKETIME_FATAL in _tail(cluster, a.name, log_paths(cluster, a.name)[1]):
                raise UnreachableNode(f"node hangs at start under libfaketime (it printed {FAKETIME_FATAL!r}); "
                                      f"{describe_logs(cluster, a.name, copies)}", f"{a.name} ({a.endpoint})")
        if time.monotonic() > deadline:
            raise UnreachableNode(f"node did not accept connections within {timeout:g} s; "
                                  f"{describe_logs(cluster, a.name, copies)}", f"{a.name} ({a.endpoint})")
        time.sleep(0.1)


async def await_ready(system, addrs: list[NodeAddress], timeout: float, poll: float = 0.2) -> float:
    """Call ``system.ready(addrs, ...)`` until it returns True; return the seconds it took. ClusterError naming
    the last answer (False, a reason, or an exception) after ``timeout`` seconds."""
    began = time.monotonic()
    deadline = began + timeout
    last: object = "no answer yet"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterError(f"{system.name} did not become ready within {timeout:g} s (last answer: {last})")
        try:
            answer = await asyncio.wait_for(system.ready(addrs, min(left, 2.0)), min(left, 2.0) + 0.5)
        except Exception as e:  # noqa: BLE001 - not ready yet, whatever the reason; the last one is reported
            answer = f"{type(e).__name__}: {e}"
        if answer is True:
            return time.monotonic() - began
        last = answer
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
