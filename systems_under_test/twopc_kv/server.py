"""One node of the two-phase-commit KV store: ``python -m splitbrain.systems_under_test.twopc_kv.server --config FILE``.

The config (see docs/ARCHITECTURE.md) is ``{"node", "listen": [host, port], "nodes": {name: [host, port]},
"variant", "data_dir"}`` plus the optional ``"timeout"`` (seconds for phase one, lock waits included; default 1.0).

One TCP port serves clients and peers: newline-delimited JSON, ``{"id": N, "type": T, ...}`` in, ``{"id": N,
"ok": ...}`` out, requests on one connection handled concurrently. Client types: ``txn {value: [[f, k, v], ...]}``
(-> ``value``: the micro-ops with reads filled, or error ``aborted``) and ``status``. Peer types: ``prepare {tx,
coord, mops, lock_timeout}`` (-> ``vote``, ``results``), ``commit {tx}``, ``abort {tx}``, ``decision {tx}``
(-> ``value``: true, false or null while undecided).

Exit codes: 0 after SIGTERM/SIGINT, 2 bad config. Never sleeps except with asyncio (nodes run under libfaketime).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from .coordinator import Coordinator
from .participant import Participant
from .peers import PeerLink
from .txlog import TxLog

log = logging.getLogger("twopc_kv")

VARIANTS = ("correct", "no-durable-prepare", "early-lock-release", "read-uncommitted", "presumed-commit")
MAX_LINE = 2**24
_MOP_FS = ("r", "append", "w")


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
    cfg["listen"] = cfg.get("listen", nodes[cfg["node"]])
    cfg.setdefault("variant", "correct")
    need(cfg["variant"] in VARIANTS, f'"variant" must be one of {", ".join(VARIANTS)}')
    cfg.setdefault("data_dir", os.getcwd())
    cfg.setdefault("timeout", 1.0)
    need(isinstance(cfg["timeout"], (int, float)) and cfg["timeout"] > 0, '"timeout" must be a positive number')
    return cfg


def _bad_mops(mops) -> str | None:
    if not isinstance(mops, list) or not mops:
        return "value must be a non-empty list of micro-ops"
    for m in mops:
        if not (isinstance(m, list) and len(m) == 3 and m[0] in _MOP_FS and isinstance(m[1], (int, str))):
            return f"not a micro-op: {m!r:.60}"
    return None


def err(code: str, detail: str) -> dict:
    return {"ok": False, "error": code, "detail": detail}


class Node:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.name = cfg["node"]
        self.txlog = TxLog(cfg["data_dir"])
        self.links = {name: PeerLink(name, host, port) for name, (host, port) in cfg["nodes"].items()
                      if name != self.name}
        self.participant = Participant(self.txlog, cfg["variant"], self._inquire)
        self.coordinator = Coordinator(self.name, list(cfg["nodes"]), self.participant, self.txlog, self._call,
                                       float(cfg["timeout"]))

    async def _call(self, node: str, msg: dict, timeout: float) -> dict:
        if node == self.name:
            return await asyncio.wait_for(self.dispatch(msg), timeout)
        return await self.links[node].call(msg, timeout)

    async def _inquire(self, coord: str, tx: str):
        reply = await self._call(coord, {"type": "decision", "tx": tx}, 1.0)
        return reply.get("value") if reply.get("ok") else None

    def status(self) -> dict:
        p = self.participant
        return {"node": self.name, "variant": self.cfg["variant"], "keys": len(p.data), "in_doubt": len(p.prepared),
                "locks": len(p.locks), "participant": dict(p.stats), "coordinator": dict(self.coordinator.stats)}

    async def dispatch(self, req: dict) -> dict:
        t = req.get("type")
        if t == "txn":
            bad = _bad_mops(req.get("value"))
            if bad:
                return err("bad-request", bad)
            return await self.coordinator.run(req["value"])
        if t == "prepare":
            bad = _bad_mops(req.get("mops"))
            if bad or not isinstance(req.get("tx"), str) or req.get("coord") not in self.cfg["nodes"]:
                return err("bad-request", bad or "prepare needs tx and coord")
            vote = await self.participant.prepare(req["tx"], req["coord"], req["mops"],
                                                  float(req.get("lock_timeout", 0.5)))
            return {"ok": True, **vote}
        if t == "commit":
            self.participant.commit(str(req.get("tx")))
            return {"ok": True}
        if t == "abort":
            self.participant.abort(str(req.get("tx")))
            return {"ok": True}
        if t == "decision":
            return {"ok": True, "value": self.coordinator.decide(str(req.get("tx")))}
        if t == "status":
            st = self.status()
            return {"ok": True, **st, "value": st}
        return err("bad-request", f"unknown request type {t!r}")

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
        except OSError as e:
            reply = err("crashed", f"the log could not be written: {e}")
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
                    break
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
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            writer.close()

    async def run(self, stop: asyncio.Event) -> None:
        host, port = self.cfg["listen"]
        server = await asyncio.start_server(self._connection, host, port, limit=MAX_LINE, reuse_address=True)
        self.participant.start()
        log.info("%s listening on %s:%d, variant %s, %d keys, %d in doubt", self.name, host, port,
                 self.cfg["variant"], len(self.participant.data), len(self.participant.prepared))
        try:
            await stop.wait()
        finally:
            server.close()
            for link in self.links.values():
                await link.close()
            self.txlog.close()


async def _main(cfg: dict) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Node(cfg).run(stop)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="twopc_kv.server", description="One node of the two-phase-commit KV store.")
    ap.add_argument("--config", required=True, help="node config JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"twopc_kv: {e}", file=sys.stderr)
        return 2
    asyncio.run(_main(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
