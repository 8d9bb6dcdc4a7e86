"""The client worker between the interpreter and a user's Client: a client's open() that hangs or raises, and an
invoke that ignores its deadline, end in completions within the op's bound (never a stuck or crashed thread)."""

from __future__ import annotations

import asyncio

import pytest

from splitbrain.harness.api import Client, Completion, Invocation, NodeAddress
from splitbrain.harness.run.workers import ClientWorker

NODE = NodeAddress("n1", "127.0.0.1", 1)


class ScriptedClient(Client):
    """open() does what the script's next entry says: "ok", "hang" or "raise"; invoke answers ok or hangs."""

    def __init__(self, opens: list[str], log: list[str], hang_invoke: bool = False):
        self.opens, self.log, self.hang_invoke = opens, log, hang_invoke

    async def open(self, node):
        what = self.opens.pop(0)
        self.log.append(f"open-{what}")
        if what == "hang":
            await asyncio.sleep(3600)
        if what == "raise":
            raise RuntimeError("no route to the node")

    async def invoke(self, op, timeout):
        if self.hang_invoke:
            await asyncio.sleep(3600)
        return Completion("ok", op.value)

    async def close(self):
        self.log.append("close")


def _worker(opens, log, hang_invoke=False):
    return ClientWorker(lambda: ScriptedClient(opens, log, hang_invoke), NODE, op_timeout=0.1)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("first", ["hang", "raise"])
def test_an_open_that_hangs_or_raises_fails_the_op_and_the_next_op_opens_a_fresh_client(first):
    log: list[str] = []
    w = _worker([first, "ok"], log)

    async def two_ops():
        a = await asyncio.wait_for(w.invoke(0, Invocation("write", 1)), 10)
        b = await asyncio.wait_for(w.invoke(0, Invocation("write", 2)), 10)
        return a, b

    a, b = asyncio.run(two_ops())
    assert a.type == "fail" and a.error.startswith("connection-refused: the client's open()")
    assert ("did not finish within 2.1 s" in a.error) if first == "hang" else ("RuntimeError" in a.error)
    assert b == Completion("ok", 2)
    assert log == [f"open-{first}", "close", "open-ok"]


@pytest.mark.timeout(20)
def test_an_invoke_that_ignores_its_deadline_is_info_and_the_client_starts_over():
    log: list[str] = []
    w = _worker(["ok", "ok"], log, hang_invoke=True)
    done = asyncio.run(asyncio.wait_for(w.invoke(0, Invocation("write", 1)), 10))
    assert done.type == "info" and done.error.startswith("timeout")
    assert log == ["open-ok", "close"]
