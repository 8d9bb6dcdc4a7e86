"""splitbrain.api exports what a plugin for a JSON-lines server needs: the client, and one connection for the
system's own questions to its nodes (leader, primaries, ready), which must reach a real server and come back."""

from __future__ import annotations

import asyncio
import json

import pytest

import splitbrain.api as api


def test_the_jsonline_names_are_exported():
    assert {"JsonLineClient", "JsonLineConnection"} <= set(api.__all__)


def _ask(reply_for, msg: dict, timeout: float = 5.0) -> dict:
    """Send ``msg`` through splitbrain.api's JsonLineConnection to a one-shot server that writes the lines
    ``reply_for(request)`` returns; the connection's answer."""
    async def scenario():
        async def serve(reader, writer):
            req = json.loads(await reader.readline())
            for line in reply_for(req):
                writer.write((line + "\n").encode())
            await writer.drain()
            await asyncio.sleep(timeout + 1)  # keep the connection open: only the reply may end the request
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = api.JsonLineConnection(api.NodeAddress("n1", "127.0.0.1", port))
        try:
            return await conn.request(msg, timeout)
        finally:
            await conn.close()
            server.close()

    return asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_a_jsonline_connection_from_the_api_asks_a_server():
    reply = _ask(lambda req: [json.dumps({"id": req["id"], "ok": True, "primary": req["type"] == "role"})],
                 {"type": "role"})
    assert reply["ok"] is True and reply["primary"] is True


@pytest.mark.timeout(20)
def test_a_reply_without_an_id_answers_the_request_in_flight():
    """A server in another language that forgets to echo ids must not have every op time out."""
    reply = _ask(lambda req: [json.dumps({"ok": True, "value": 3})], {"type": "read", "key": "r"})
    assert reply == {"ok": True, "value": 3}


@pytest.mark.timeout(20)
def test_a_reply_with_another_id_is_skipped():
    reply = _ask(lambda req: [json.dumps({"id": req["id"] + 100, "ok": True, "value": "stale"}),
                              json.dumps({"id": req["id"], "ok": True, "value": "mine"})], {"type": "read"})
    assert reply["value"] == "mine"


@pytest.mark.timeout(20)
def test_a_reply_that_is_not_an_object_is_an_indefinite_crash():
    reply = _ask(lambda req: ["[1, 2]"], {"type": "write", "value": 1})
    assert reply["ok"] is False and reply["error"] == "crashed" and "not a JSON object" in reply["detail"]
