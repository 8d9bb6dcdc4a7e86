"""One replica of the quorum KV store: ``python -m splitbrain.systems_under_test.quorum_kv.server --config FILE``.

The config (see docs/ARCHITECTURE.md) is ``{"node", "listen": [host, port], "nodes": {name: [host, port]},
"variant", "data_dir"}`` plus optional extras ``"r"``, ``"w"`` (quorum sizes; default majorities of the nodes;
forced to 1 by the ``r1w1`` variant) and ``"timeout"`` (seconds a coordinator waits for a quorum, default 1.0).

One TCP port serves clients and peers: newline-delimited JSON, ``{"id": N, "type": T, ...}`` in, ``{"id": N,
"ok": ...}`` out. Requests on one connection are handled concurrently and answered in completion order (peers
multiplex one connection). Types: the client ops of coordinator.py, ``status``, and the replica-to-replica
``peer-get {kind, key}`` (-> this replica's durable record or null) and ``peer-put {kind, key, record}`` (merge,
fsync, then ack).

Exit codes: 0 after SIGTERM/SIGINT, 2 bad config, 3 unusable data directory. Never sleeps except with asyncio
(nodes run under libfaketime, where time.sleep fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from . import records
from .coordinator import VARIANTS, Coordinator, err
from .peers import PeerLink
from .storage import Store, StorageError

log = logging.getLogger("quorum_kv")

MAX_LINE = 2**24


class ConfigError(Exception):
    pass


def load_config(path: str) -> dict:
    """Read and check a node config; ConfigError (one sentence naming the field) if it is unusable."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from e

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ConfigError(f"{path}: {what}")

    need(isinstance(cfg, dict), "config must be a JSON object")
    need(isinstance(cfg.get("node"), str), '"node" must be a string')
    nodes = cfg.get("nodes")
    need(isinstance(nodes, dict) and cfg["node"] in nodes, '"nodes" must map names to [host, port], self included')
    for name, addr in nodes.items():
        need(isinstance(addr, list) and len(addr) == 2 and isinstance(addr[0], str) and isinstance(addr[1], int),
             f'"nodes"."{name}" must be [host, port]')
    listen = cfg.get("listen", nodes[cfg["node"]])
    need(isinstance(listen, list) and len(listen) == 2 and isinstance(listen[1], int), '"listen" must be [host, port]')
    cfg["listen"] = listen
    need(cfg.get("variant", "correct") in VARIANTS, f'"variant" must be one of {", ".join(VARIANTS)}')
    cfg.setdefault("variant", "correct")
    cfg.setdefault("data_dir", os.getcwd())
    n = len(nodes)
    majority = n // 2 + 1
    if cfg["variant"] == "r1w1":
        need(cfg.get("r", 1) == 1 and cfg.get("w", 1) == 1, 'variant r1w1 fixes "r" and "w" to 1')
        cfg["r"] = cfg["w"] = 1
    for q in ("r", "w"):
        cfg.setdefault(q, majority)
        need(isinstance(cfg[q], int) and 1 <= cfg[q] <= n, f'"{q}" must be an integer from 1 to {n}')
    cfg.setdefault("timeout", 1.0)
    need(isinstance(cfg["timeout"], (int, float)) and cfg["timeout"] > 0, '"timeout" must be a positive number')
    return cfg


class Node:
    """The replica process: storage, peer links, coordinator and the TCP server that routes requests to them."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.name = cfg["node"]
        self.store = Store(cfg["data_dir"], fsync=cfg["variant"] != "no-fsync")
        self.links = {name: PeerLink(name, host, port) for name, (host, port) in cfg["nodes"].items()
                      if name != self.name}
        self.coordinator = Coordinator(self.name, self.store, self.links, cfg["variant"], cfg["r"], cfg["w"],
                                       float(cfg["timeout"]))
        self._server: asyncio.base_events.Server | None = None

    def status(self) -> dict:
        return {"node": self.name, "variant": self.cfg["variant"], "keys": len(self.store), "n": len(self.cfg["nodes"]),
                "r": self.cfg["r"], "w": self.cfg["w"], "stats": dict(self.coordinator.stats)}

    async def dispatch(self, req: dict) -> dict:
        t = req.get("type")
        if t == "status":
            st = self.status()
            # top level as the architecture's contract says, and as "value" for generic JSON-line clients
            return {"ok": True, **st, "value": st}
        if t == "peer-get":
            if req.get("kind") not in records.KINDS or "key" not in req:
                return err("bad-request", "peer-get needs kind and key")
            return {"ok": True, "value": self.store.get(req["kind"], req["key"])}
        if t == "peer-put":
            try:
                rec = records.validate(req.get("kind"), req.get("record"))
            except records.BadRecord as e:
                return err("bad-request", str(e))
            if "key" not in req:
                return err("bad-request", "peer-put needs a key")
            await self.store.put(req["kind"], req["key"], rec)
            return {"ok": True}
        return await self.coordinator.handle(req)

    async def _respond(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        rid = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("a request must be a JSON object")
            rid = req.get("id")
            reply = await self.dispatch(req)
        except ValueError as e:
            reply = err("bad-request", f"malformed request: {e}")
        except StorageError as e:
            reply = err("crashed", f"local storage failed: {e}")
        except Exception as e:  # noqa: BLE001 - a bug here must answer, not leave the client hanging
            log.exception("request failed")
            reply = err("crashed", f"{type(e).__name__}: {e}")
        reply["id"] = rid
        if not writer.is_closing():
            writer.write((json.dumps(reply, separators=(",", ":"), ensure_ascii=False) + "\n").encode())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    break  # a line over MAX_LINE: the stream can't be resynchronised
                if not line:
                    break
                if not line.strip():
                    continue
                t = asyncio.ensure_future(self._respond(line, writer))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        except (ConnectionError, OSError):
            pass
        finally:
            # in-flight requests still finish (a store that was started must complete); their replies are dropped
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            writer.close()

    async def run(self, stop: asyncio.Event) -> None:
        host, port = self.cfg["listen"]
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_LINE, reuse_address=True)
        log.info("%s listening on %s:%d, variant %s, r=%d w=%d, %d keys recovered", self.name, host, port,
                 self.cfg["variant"], self.cfg["r"], self.cfg["w"], len(self.store))
        try:
            await stop.wait()
        finally:
            self._server.close()
            for link in self.links.values():
                await link.close()
            self.store.close()


async def _main(cfg: dict) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Node(cfg).run(stop)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quorum_kv.server", description="One replica of the leaderless quorum KV store.")
    ap.add_argument("--config", required=True, help="node config JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"quorum_kv: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_main(cfg))
    except StorageError as e:
        print(f"quorum_kv: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
