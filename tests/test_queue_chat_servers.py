"""The work-queue and chat nodes' own rules, without a network: what a node grants, delivers and replays."""

import pytest

from splitbrain.systems_under_test.chat.server import Node as ChatNode
from splitbrain.systems_under_test.work_queue.server import Node as QueueNode

NODES = {"n1": ["127.0.0.1", 1], "n2": ["127.0.0.1", 2], "n3": ["127.0.0.1", 3]}


def _queue(tmp_path, variant="correct", **extra):
    return QueueNode({"node": "n1", "listen": NODES["n1"], "nodes": NODES, "variant": variant,
                      "data_dir": str(tmp_path), "visibility_timeout": 30, **extra})


def _grants(replies):
    return [r["grant"] for r in replies]


@pytest.mark.parametrize("variant,second_finish", [("correct", False), ("no-dedup", True)])
def test_queue_grants_one_finish_per_message_unless_no_dedup(tmp_path, variant, second_finish):
    n = _queue(tmp_path, variant)
    assert _grants(n.apply("put", [["m", 1, None]])) == [True]
    assert _grants(n.apply("claim", [["m", 1, "n2.a.1"]])) == [True]
    assert _grants(n.apply("claim", [["m", 1, "n3.a.1"]])) == [False]  # live lease of a smaller token
    assert _grants(n.apply("claim", [["m", 1, "n1.a.1"]])) == [True]   # a smaller token overtakes
    assert _grants(n.apply("finish", [["m", 1, "n2.a.1"]])) == [True]
    assert _grants(n.apply("finish", [["m", 1, "n2.a.1"]])) == [True]  # the same ack again: idempotent
    assert _grants(n.apply("finish", [["m", 1, "n1.a.1"]])) == [second_finish]
    refused = n.apply("claim", [["m", 1, "n1.a.2"]])[0]
    assert refused["grant"] is False and refused["reason"] == "done"


def test_queue_replays_its_journal_and_an_expired_lease_is_claimable(tmp_path):
    n = _queue(tmp_path)
    n.apply("put", [["a", 1, None], ["b", 2, None]])
    n.apply("claim", [["a", 1, "n1.x.1"]])
    n.apply("finish", [["a", 1, "n1.x.1"]])
    n.journal.close()
    again = _queue(tmp_path, visibility_timeout=0)
    assert again.msgs["a"]["done_by"] == "n1.x.1" and again._open() == ["b"]
    again.apply("claim", [["b", 2, "n3.x.1"]])
    assert _grants(again.apply("claim", [["b", 2, "n9.x.1"]])) == [True]  # expired at once


def test_unreplicated_queue_keeps_nothing_on_disk(tmp_path):
    n = _queue(tmp_path, "unreplicated")
    n.apply("put", [["a", 1, None]], durable=False)
    assert not (tmp_path / "journal.jsonl").exists() and n.journal is None


def _chat(tmp_path, variant):
    return ChatNode({"node": "n3", "listen": NODES["n3"], "nodes": NODES, "variant": variant,
                     "data_dir": str(tmp_path)})


M1 = {"id": "1", "room": "r", "value": 1, "origin": "n1", "seq": 1, "vc": {"n1": 1}}
M2 = {"id": "2", "room": "r", "value": 2, "origin": "n2", "seq": 1, "vc": {"n1": 1, "n2": 1}}  # n2 had seen M1


@pytest.mark.parametrize("variant,first", [("causal", []), ("no-retransmit", []), ("fifo-only", [2]),
                                           ("gossip", [2])])
def test_chat_delivers_a_message_before_its_cause_only_in_the_buggy_or_unordered_variants(tmp_path, variant, first):
    n = _chat(tmp_path, variant)
    n.receive([M2])
    assert n.rooms.get("r", []) == first
    n.receive([M1])
    assert sorted(n.rooms["r"]) == [1, 2] and n.pending == {}
    assert n.rooms["r"] == ([1, 2] if not first else [2, 1])


def test_chat_replays_its_delivery_order(tmp_path):
    n = _chat(tmp_path, "gossip")
    n.receive([M2, M1])
    order = list(n.rooms["r"])
    n.journal.close()
    assert _chat(tmp_path, "gossip").rooms["r"] == order and _chat(tmp_path, "gossip").clock == {"n1": 1, "n2": 1}


def test_chat_sequencer_numbers_each_message_once(tmp_path):
    n = ChatNode({"node": "n1", "listen": NODES["n1"], "nodes": NODES, "variant": "total-order",
                  "data_dir": str(tmp_path)})
    m = {"id": "7", "room": "r", "value": 7, "origin": "n2"}
    assert n.sequence(m) == 1 and n.sequence(dict(m)) == 1 and n.sequence({**m, "id": "8", "value": 8}) == 2
    assert n.rooms["r"] == [7, 8]


@pytest.mark.timeout(60)
def test_chat_leader_poll_always_ends_when_cancelled():
    """The runner cancels its leader watcher at the end of a run; a cancel landing while a status connection
    closes must still end the watcher (it once swallowed the cancel and hung the run)."""
    import asyncio
    import json
    import random

    from splitbrain.harness.api import NodeAddress
    from splitbrain.harness.systems.chat import Chat

    async def serve(reader, writer):
        try:
            while line := await reader.readline():
                req = json.loads(line)
                writer.write((json.dumps({"id": req["id"], "ok": True, "value": {"sequencer": "n1"}}) + "\n").encode())
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        nodes = [NodeAddress(f"n{i}", "127.0.0.1", port) for i in (1, 2, 3)]
        system, rng = Chat(), random.Random(1)
        assert await system.leader(nodes, 0.5) == ("n1", None)

        async def watch():
            while True:
                await system.leader(nodes, 0.5)

        try:
            for _ in range(150):
                task = asyncio.create_task(watch())
                await asyncio.sleep(rng.uniform(0, 0.01))
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=2)
                assert done, "the leader watcher ignored its cancellation"
        finally:
            server.close()

    asyncio.run(main())
