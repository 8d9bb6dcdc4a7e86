"""twopc-kv's client: a transaction whose node refuses the connection goes to another node; one that was sent and
got no answer stays ``info`` (it may have run)."""

import asyncio
import json
import socket

import pytest

from splitbrain.harness.api import ClusterView, Invocation, NodeAddress
from splitbrain.harness.systems.twopc_kv import TwoPCClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # closed again: connecting to it is refused


async def _server(answer: bool):
    """A node that answers every request with ok and its own name, or closes the connection without answering."""
    async def handle(reader, writer):
        line = await reader.readline()
        if answer and line:
            req = json.loads(line)
            writer.write((json.dumps({"id": req["id"], "ok": True, "value": req["value"] + [["r", 0, "n2"]]})
                          + "\n").encode())
            await writer.drain()
        writer.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


async def _txn(own: NodeAddress, others: list[NodeAddress]):
    c = TwoPCClient()
    c.cluster = ClusterView(own, (own, *others))
    await c.open(own)
    try:
        return await c.invoke(Invocation("txn", [["append", 1, 5]]), 2.0)
    finally:
        await c.close()


@pytest.mark.timeout(30)
def test_refused_connection_fails_over_and_a_sent_request_stays_unknown():
    async def main():
        live, live_port = await _server(answer=True)
        mute, mute_port = await _server(answer=False)
        try:
            down = NodeAddress("n1", "127.0.0.1", _free_port())
            n2 = NodeAddress("n2", "127.0.0.1", live_port)
            done = await _txn(down, [n2])
            assert done.type == "ok" and done.value[-1] == ["r", 0, "n2"] and done.node == "n2"
            lost = await _txn(NodeAddress("n3", "127.0.0.1", mute_port), [n2])
            assert lost.type == "info" and lost.node is None     # sent to its own node: no failover, it may have run
            nobody = await _txn(down, [NodeAddress("n4", "127.0.0.1", _free_port())])
            assert nobody.type == "fail" and nobody.error == "connection-refused"
        finally:
            live.close()
            mute.close()
    asyncio.run(main())
