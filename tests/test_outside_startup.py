"""A server that libfaketime gave up on (Redis does, at start) is reported within about a second, not after the
whole start-up time: wait_listening looks at the node's stderr for libfaketime's last words while it waits."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from splitbrain.harness.api import NodeAddress
from splitbrain.history.errors import UnreachableNode
from splitbrain.harness.run.startup import FAKETIME_FATAL, wait_listening


class FakeCluster:
    """A cluster whose one node runs but never listens; its stderr log says ``stderr``."""

    def __init__(self, stderr: str):
        self.stderr = stderr

    def is_running(self, name: str) -> bool:
        return True

    def node_dir(self, name: str) -> str:
        return f"/tmp/fake/{name}"

    def host(self, name: str):
        def exec(argv, timeout, check):
            text = self.stderr if argv[-1].endswith("stderr.log") else "starting"
            return SimpleNamespace(returncode=0, stdout=text)
        return SimpleNamespace(exec=exec)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.timeout(30)
def test_libfaketime_giving_up_is_reported_at_once():
    stderr = ("libfaketime: Unexpected recursive calls to clock_gettime() without proper initialization. Trying "
              f"alternative.\n{FAKETIME_FATAL} to clock_gettime().")
    addr = NodeAddress("n1", "127.0.0.1", _closed_port())
    t0 = time.monotonic()
    with pytest.raises(UnreachableNode) as e:
        wait_listening([addr], FakeCluster(stderr), timeout=20.0)
    assert time.monotonic() - t0 < 5.0
    msg = str(e.value)
    assert "hangs at start under libfaketime" in msg and "faketime = False" in msg and "node.stderr.log" in msg


@pytest.mark.timeout(30)
def test_other_start_up_chatter_waits_out_the_start_up_time():
    addr = NodeAddress("n1", "127.0.0.1", _closed_port())
    t0 = time.monotonic()
    with pytest.raises(UnreachableNode) as e:
        wait_listening([addr], FakeCluster("libfaketime: Unexpected recursive calls ... Trying alternative."),
                       timeout=1.5)
    assert time.monotonic() - t0 >= 1.5
    assert "did not accept connections within 1.5 s" in str(e.value)
