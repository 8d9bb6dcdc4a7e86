"""Adapter for chat (systems_under_test/chat): chat rooms over a broadcast algorithm chosen by the variant.

The ``chat`` workload's ops map onto the node's requests: ``post`` (key: the room, value: a unique message) ->
``post``; ``read`` (key: the room) -> ``read``, the room's messages in this node's delivery order;
``final-read-all`` (value: the rooms) -> ``read-all``, ``[[room, [messages...]], ...]``. Reads change nothing, so
a timed-out one is a ``fail``.

Which guarantee to judge a variant by is the workload's ``claim`` option (splitbrain.checkers.broadcast): ``total-order``
is correct for ``fifo-total``, ``causal`` for ``causal``, ``gossip`` for ``reliable``; ``fifo-only`` is caught
under ``causal``, ``no-retransmit`` under any claim (agreement). ``CLAIMS`` says which claim each variant makes.
The adapter knows the leader (``KnowsLeader``): the sequencer of ``total-order``, so kills can be aimed at it.
"""

from __future__ import annotations

import asyncio

from splitbrain.harness.api import Completion, Invocation, NodeAddress, System
from splitbrain.harness.client_errors import completion_for_error
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection

#: The guarantee each variant is built to give (what a correct one must pass, what a buggy one claims but breaks).
CLAIMS = {"total-order": "fifo-total", "causal": "causal", "fifo-only": "causal", "no-retransmit": "causal",
          "gossip": "reliable"}


class ChatClient(JsonLineClient):
    def to_request(self, op: Invocation) -> dict:
        if op.f == "post":
            return {"type": "post", "room": op.key, "value": op.value}
        if op.f in ("read", "final-read"):
            return {"type": "read", "room": op.key}
        if op.f == "final-read-all":
            return {"type": "read-all", "rooms": op.value}
        raise ValueError(f"chat has no {op.f!r}")

    def from_reply(self, op: Invocation, reply: dict) -> Completion:
        if reply.get("ok"):
            return Completion("ok", reply.get("value"))
        f = "read" if op.f != "post" else op.f  # reads of every kind change nothing
        return completion_for_error(str(reply.get("error", "crashed")), f, reply.get("detail"))

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        try:
            self.to_request(op)
        except ValueError as e:
            return completion_for_error("unsupported", op.f, str(e))
        done = await super().invoke(op, timeout)
        if op.f != "post" and done.type == "info":  # a read that timed out changed nothing
            return Completion("fail", None, done.error)
        return done


class Chat(System):
    name = "chat"
    description = ("chat rooms over a broadcast chosen by the variant; judge it with --option claim=fifo-total "
                   "(total-order, the default), claim=causal (causal, fifo-only, no-retransmit), claim=reliable "
                   "(gossip)")
    variants = {
        "total-order": "",
        "causal": "",
        "gossip": "",
        "fifo-only": "delivers each sender's messages in order but not causally: a reply can overtake its cause",
        "no-retransmit": "each message is sent once: one lost to a partition never arrives (agreement breaks)",
    }
    workloads = ("chat",)
    base_port = 7000
    package = "splitbrain.systems_under_test.chat"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.chat.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        return {"link_delay": list(options.get("link_delay", [0.0, 0.05])),
                "ae_interval": float(options.get("ae_interval", 0.5)),
                "rpc_timeout": float(options.get("rpc_timeout", 0.5))}

    def client(self, variant: str, options: dict) -> ChatClient:
        return ChatClient()

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """KnowsLeader: the sequencer, as the nodes that answer say (total-order only; the others have no
        leader). Lets ``--option kill_targets='["leader"]'`` aim kills at the sequencer. The nodes are asked
        together under ``gather``, whose cancellation always reaches the caller (the runner cancels its leader
        watcher at the end of a run; a connection's close must not swallow that)."""
        replies = await asyncio.gather(*(_status(n, timeout) for n in nodes))
        named = [r.get("sequencer") for r in replies if r]
        return (named[0] if named else None), None


async def _status(node: NodeAddress, timeout: float) -> dict | None:
    """A node's ``status`` value, or None if it does not answer in time."""
    conn = JsonLineConnection(node, connect_timeout=timeout)
    try:
        return (await asyncio.wait_for(conn.request({"type": "status"}, timeout), timeout)).get("value") or {}
    except Exception:  # noqa: BLE001 - down or cut off: no answer
        return None
    finally:
        await conn.close()
