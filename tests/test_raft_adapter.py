"""The raft-kv adapter's client against a scripted fake node on loopback: op mapping, retries with the same
(client, seq), and the rule that a definite error after a possibly-applied attempt is ``info``, not ``fail``."""

from __future__ import annotations

import asyncio
import json

import pytest

from splitbrain.harness.api import Invocation, KnowsLeader, NodeAddress
from splitbrain.harness.systems import get_system
from splitbrain.harness.systems.raft_kv import RaftKVClient


def test_registered_with_variants_workloads_and_leader_capability():
    system = get_system("raft-kv")
    assert set(system.variants) == {"correct", "stale-read", "commit-old-term", "volatile-vote", "no-dedup", "no-fsync",
                                    "no-checksum"}
    assert set(system.workloads) == {"register", "kv", "set", "counter"}
    assert isinstance(system, KnowsLeader)
    assert system.node_command("py", "/c.json")[-2:] == ["--config", "/c.json"]


def test_op_mapping():
    reg, st, ctr = RaftKVClient("register"), RaftKVClient("set"), RaftKVClient("counter")
    assert reg.to_request(Invocation("cas", [1, 2], key="ignored"))["type"] == "cas"
    assert reg.to_request(Invocation("read"))["key"] == reg.to_request(Invocation("write", 3))["key"]
    w = reg.to_request(Invocation("write", 3))
    assert (w["client"], w["seq"]) == (reg.client_id, 3)  # one new sequence number per write op (cas too)
    assert st.to_request(Invocation("add", 5, key="s1")) == {"type": "set-add", "key": "s1", "value": 5,
                                                             "client": st.client_id, "seq": 1}
    assert st.to_request(Invocation("read", key="s1")) == {"type": "set-read", "key": "s1"}
    assert ctr.to_request(Invocation("add", 2))["type"] == "counter-add"
    assert ctr.to_request(Invocation("read"))["type"] == "counter-read"


async def _fake_node(script):
    """A node that answers the n-th request with script(n, request) (None: never answer). Returns (server,
    address, received requests)."""
    received = []

    async def serve(reader, writer):
        while line := await reader.readline():
            req = json.loads(line)
            received.append(req)
            body = script(len(received), req)
            if body is not None:
                writer.write((json.dumps({"id": req["id"], **body}) + "\n").encode())
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, NodeAddress("n1", "127.0.0.1", port), received


@pytest.mark.timeout(20)
def test_retry_after_timeout_keeps_seq_and_a_later_definite_error_is_info():
    async def go():
        def script(n, req):
            if req["type"] == "status":
                return {"ok": True, "nodes": {}}
            if n == 2:
                return None  # the first attempt: no answer (it may have applied)
            return {"ok": False, "error": "not-leader"}
        server, addr, received = await _fake_node(script)
        client = RaftKVClient("counter", attempt_timeout=0.2)
        await client.open(addr)
        done = await client.invoke(Invocation("add", 1), 1.0)
        await client.close()
        server.close()
        return done, [r for r in received if r["type"] != "status"]
    done, sent = asyncio.run(go())
    assert done.type == "info", done
    assert len(sent) >= 2 and len({(r["client"], r["seq"]) for r in sent}) == 1


@pytest.mark.timeout(20)
def test_definite_errors_alone_give_fail_and_state_machine_answers_are_final():
    async def go(answer):
        server, addr, received = await _fake_node(
            lambda n, req: {"ok": True, "nodes": {}} if req["type"] == "status" else answer)
        client = RaftKVClient("register", attempt_timeout=0.2)
        await client.open(addr)
        done = await client.invoke(Invocation("cas", [1, 2]), 0.5)
        await client.close()
        server.close()
        return done, len(received) - 1
    done, attempts = asyncio.run(go({"ok": False, "error": "no-leader"}))
    assert done.type == "fail" and attempts > 1  # retried, nothing was ever appended
    done, attempts = asyncio.run(go({"ok": False, "error": "cas-mismatch"}))
    assert (done.type, attempts) == ("fail", 1)
    done, _ = asyncio.run(go({"ok": True}))
    assert (done.type, done.value) == ("ok", [1, 2])
