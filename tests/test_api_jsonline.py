"""splitbrain.api exports what a plugin for a JSON-lines server needs: the client, and one connection for the
system's own questions to its nodes (leader, primaries, ready), which must reach a real server and come back."""

from __future__ import annotations

import asyncio
import json

import pytest

import splitbrain.api as api


def test_the_jsonline_names_are_exported():
    assert {"JsonLineClient", "JsonLineConnection"} <= set(api.__all__)


@pytest.mark.timeout(20)
def test_a_jsonline_connection_from_the_api_asks_a_server():
    async def scenario():
        async def serve(reader, writer):
            req = json.loads(await reader.readline())
            writer.write((json.dumps({"id": req["id"], "ok": True, "primary": req["type"] == "role"}) + "\n").encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = api.JsonLineConnection(api.NodeAddress("n1", "127.0.0.1", port))
        try:
            return await conn.request({"type": "role"}, 5.0)
        finally:
            await conn.close()
            server.close()
            await server.wait_closed()

    reply = asyncio.run(scenario())
    assert reply["ok"] is True and reply["primary"] is True
