"""The node-kv system: how to start a node (``node server.js <config>``) and how to talk to it.

The server speaks splitbrain's JSON-lines protocol, so the client is ``splitbrain.api.JsonLineClient`` as it is:
requests ``{"id", "type", "key", "value"}``, replies ``{"id", "ok": true, "value"}`` or ``{"id", "ok": false,
"error": <code>}`` with codes from splitbrain's error table (``unavailable``: definite, nothing was done; ``timeout``:
indefinite, the primary may have done it).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from splitbrain.api import JsonLineClient, JsonLineConnection, System


async def _role(node, timeout: float) -> dict | None:
    """The node's answer to ``{"type": "role"}`` (``{"node", "primary"}``), or None if it did not answer."""
    conn = JsonLineConnection(node, connect_timeout=timeout)
    try:
        return await conn.request({"type": "role"}, timeout)
    except Exception:  # noqa: BLE001 - down, cut off or slow: no answer
        return None
    finally:
        await conn.close()


class NodeKv(System):
    name = "node-kv"
    description = "node-kv: a primary-backup key-value store in JavaScript (Node.js), JSON lines over TCP"
    variants = {"correct": "", "backup-reads": "backups answer reads from their own copy, which lags: stale"}
    workloads = ("register", "kv")
    base_port = 7400

    def node_command(self, python, config_path):
        # `python` is for servers written in Python; this one is JavaScript. The server reads the same JSON config.
        return [shutil.which("node") or "node", str(Path(__file__).with_name("server.js")), config_path]

    def client(self, variant, options):
        return JsonLineClient()

    async def primaries(self, nodes, timeout):
        """The nodes that say they are the primary (for ``--nemesis-targets primaries``)."""
        roles = await asyncio.gather(*(_role(n, timeout) for n in nodes))
        return [n.name for n, r in zip(nodes, roles) if r and r.get("primary")]

    async def ready(self, nodes, timeout):
        """Ready once every node answers (a backup that answers has its connection to the world up)."""
        roles = await asyncio.gather(*(_role(n, timeout) for n in nodes))
        missing = [n.name for n, r in zip(nodes, roles) if not (r and r.get("ok"))]
        return True if not missing else f"no answer from {', '.join(missing)}"
