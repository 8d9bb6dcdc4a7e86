"""raft-kv's peer links: a message sent while the link connects is delivered once connected (a restarted peer
gets a candidate's one vote request of the term), unless the caller asked not to queue; a failed connect drops
what was queued."""

import asyncio
import json

import pytest

from splitbrain.systems_under_test.raft_kv.net import MAX_QUEUED, PeerLink


async def _server():
    got = []

    async def handle(reader, writer):
        async for line in reader:
            got.append(json.loads(line)["m"])
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], got


async def _until(cond, seconds=3.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.timeout(20)
def test_messages_sent_while_connecting_arrive_in_order():
    async def main():
        server, port, got = await _server()
        link = PeerLink("p", "127.0.0.1", port)
        try:
            assert link.send({"n": 1}) is True       # not connected yet: queued, and the connect starts
            assert link.send({"n": 2}) is True
            await _until(lambda: len(got) == 2)
            assert link.send({"n": 3}) is True       # connected now: written at once
            await _until(lambda: len(got) == 3)
            assert [m["n"] for m in got] == [1, 2, 3] and link.dropped == 0
        finally:
            await link.close()
            server.close()
    asyncio.run(main())


@pytest.mark.timeout(20)
def test_unqueued_send_is_refused_and_a_failed_connect_drops_the_queue():
    async def main():
        server, port, got = await _server()
        server.close()
        await server.wait_closed()                   # nobody listens on port any more
        link = PeerLink("p", "127.0.0.1", port)
        try:
            assert link.send({"n": 1}, queue=False) is False
            for i in range(MAX_QUEUED + 5):
                link.send({"n": i})
            assert link.dropped >= 1 + 5              # the refused one and the overflow
            await _until(lambda: link.dropped >= 1 + MAX_QUEUED + 5)  # the connect failed: the queue is gone
            assert link._queued == []
        finally:
            await link.close()
    asyncio.run(main())


@pytest.mark.timeout(20)
def test_a_started_link_connects_by_itself_and_again_after_the_peer_restarts():
    async def main():
        got, accepted = [], []

        async def handle(reader, writer):
            accepted.append(writer)
            async for line in reader:
                got.append(json.loads(line)["m"])

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = PeerLink("p", "127.0.0.1", port)
        link.start()
        try:
            await _until(lambda: link.connected)        # no send needed
            server.close()                               # the peer goes away ...
            for w in accepted:
                w.close()
            await _until(lambda: not link.connected)
            server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)  # ... and is back
            await _until(lambda: link.connected)        # reconnected by itself
            assert link.send({"n": 9}) is True
            await _until(lambda: got == [{"n": 9}])
        finally:
            await link.close()
            server.close()
    asyncio.run(main())
