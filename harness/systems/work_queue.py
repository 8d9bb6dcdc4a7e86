"""Adapter for work-queue (systems_under_test/work_queue): a replicated, durable work queue with leases.

The client maps the ``queue`` workload's ops onto the node's requests (see the server module docstring):

- ``enqueue`` (value: the message) -> ``enqueue``; ok once a majority has it on disk.
- ``dequeue`` (value: seconds the consumer spends processing, or null) -> ``dequeue``, then the processing time,
  then ``ack``. ``ok`` with the message when the ack was accepted (it was processed), ``ok`` null when there was
  nothing to take, ``fail`` when the ack was refused (``already-processed``: another consumer's processing counted)
  or nothing was acknowledged at all, ``info`` with the message when the ack's outcome is unknown.
- ``drain`` (the final phase) -> dequeue and ack until the node says the queue is empty or the op's time is up:
  ``ok`` ``{"messages": [processed...], "empty": bool, "uncertain": [acks with unknown outcome]}``.
"""

from __future__ import annotations

import asyncio
import random
import time

from splitbrain.harness.api import Completion, Invocation, System
from splitbrain.harness.client_errors import completion_for_error, completion_for_exception
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection

DRAIN_POLL = 0.05   # s between dequeues while leased messages wait for their leases to expire
DRAIN_MARGIN = 0.1  # s of the op's time kept back so the drain answers before its deadline
DRAIN_CONSUMERS = 2  # concurrent dequeue-ack loops of one drain
DRAIN_BATCH = 20     # messages per dequeue and ack of a drain


class _Undecided(Exception):
    """An ack whose outcome is unknown."""


class QueueClient(JsonLineClient):
    async def _request(self, req: dict, deadline: float, conn: JsonLineConnection | None = None) -> dict:
        return await (conn or self.conn).request(req, max(0.05, deadline - time.monotonic()))

    async def _take(self, deadline: float, process: float, limit: int = 1,
                    conn: JsonLineConnection | None = None) -> tuple[bool, dict]:
        """Dequeue up to ``limit`` messages, process them, ack them. Returns (empty?, {outcome: [messages]}) with
        outcomes ``ok``, ``already-processed``, ``undecided``; raises on a failed dequeue (nothing processed)."""
        reply = await self._request({"type": "dequeue", "limit": limit}, deadline, conn)
        if not reply.get("ok"):
            raise RuntimeError(f"{reply.get('error')}: {reply.get('detail')}")
        taken = reply.get("value") or []
        if not taken:
            return bool(reply.get("empty")), {}
        if process > 0:
            await asyncio.sleep(min(process, max(0.0, deadline - time.monotonic())))
        bodies = [t["body"] for t in taken]
        try:
            ack = await self._request({"type": "ack", "acks": [[t["msg_id"], t["lease"]] for t in taken]},
                                      deadline, conn)
        except Exception as e:
            raise _Undecided(bodies, e) from e
        if not ack.get("ok") or len(ack.get("value") or []) != len(bodies):
            raise _Undecided(bodies, ack)
        out: dict = {}
        for body, outcome in zip(bodies, ack["value"]):
            out.setdefault(outcome, []).append(body)
        return False, out

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        deadline = time.monotonic() + timeout
        if op.f == "enqueue":
            try:
                reply = await self._request({"type": "enqueue", "value": op.value}, deadline)
            except Exception as e:
                return completion_for_exception(e, op.f, sent=True)
            return self.from_reply(op, reply)
        if op.f == "dequeue":
            return await self._dequeue(op, deadline)
        if op.f == "drain":
            return await self._drain(deadline - DRAIN_MARGIN)
        return completion_for_error("unsupported", op.f, f"work-queue has no {op.f!r}")

    async def _dequeue(self, op: Invocation, deadline: float) -> Completion:
        try:
            _, out = await self._take(deadline, float(op.value or 0))
        except _Undecided as u:
            bodies, why = u.args
            c = (completion_for_exception(why, op.f, sent=True) if isinstance(why, BaseException)
                 else completion_for_error(str(why.get("error", "crashed")), op.f, why.get("detail")))
            return Completion(c.type, bodies[0], c.error)  # info: the message may have been processed
        except Exception as e:
            # No ack was sent, so nothing was processed: definite like a read's (the lease just expires).
            return completion_for_exception(e, "read", sent=True)
        if "ok" in out:
            return Completion("ok", out["ok"][0])
        if "already-processed" in out:
            return completion_for_error("already-processed", op.f)
        if "undecided" in out:
            return Completion("info", out["undecided"][0], "quorum-timeout: the ack reached no majority either way")
        return Completion("ok", None)

    async def _drain(self, deadline: float) -> Completion:
        """Dequeue and ack in batches, on a few connections at once, until the node finds nothing unfinished."""
        processed, uncertain, empty = [], [], []

        async def consumer(conn: JsonLineConnection) -> None:
            try:
                while time.monotonic() < deadline and not empty:
                    try:
                        is_empty, out = await self._take(deadline, 0.0, DRAIN_BATCH, conn)
                    except _Undecided as u:
                        uncertain.extend(u.args[0])
                        continue
                    except Exception:  # the node is slow or gone: what was processed so far stands
                        await asyncio.sleep(DRAIN_POLL)
                        continue
                    processed.extend(out.get("ok", []))
                    uncertain.extend(out.get("undecided", []))
                    if is_empty:
                        empty.append(True)
                    elif not out:  # leased messages wait for their leases to expire; jitter: drains on
                        await asyncio.sleep(DRAIN_POLL * random.uniform(0.5, 1.5))  # other nodes race less
            finally:
                await conn.close()

        await asyncio.gather(*(consumer(JsonLineConnection(self.conn.node)) for _ in range(DRAIN_CONSUMERS)))
        return Completion("ok", {"messages": processed, "empty": bool(empty), "uncertain": uncertain})


class WorkQueue(System):
    name = "work-queue"
    description = "a replicated, durable work queue: majority writes, leases, redelivery, exactly-once acks"
    variants = {
        "correct": "",
        "ack-before-durable": "enqueue answers before the message is journaled or replicated: a kill loses it",
        "no-dedup": "an ack is accepted after the lease expired and another consumer processed the message",
        "unreplicated": "each node keeps its own messages in memory only: a killed node's messages are lost",
    }
    workloads = ("queue",)
    base_port = 7000
    package = "splitbrain.systems_under_test.work_queue"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.work_queue.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        return {"visibility_timeout": float(options.get("visibility_timeout", 0.25)),
                "rpc_timeout": float(options.get("rpc_timeout", 0.5)),
                "flush_delay": float(options.get("flush_delay", 0.5))}

    def client(self, variant: str, options: dict) -> QueueClient:
        return QueueClient()
