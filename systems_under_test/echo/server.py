"""echo: a tiny node for exploring clusters and faults. Not a database: one register, no replication.

Run as ``python3 -m splitbrain.systems_under_test.echo.server --config node.json`` (config: docs/ARCHITECTURE.md). Speaks the
JSON-lines protocol on TCP ``listen``; also listens for UDP datagrams on the same port (for one-way probes).

Requests (``{"id": N, "type": T, ...}``):
  ``echo`` (value) -> value;  ``status`` -> {node, variant, boots, pid, time}, where ``boots`` counts starts of this
  data dir (so a restart is observable) and ``time`` is this process's wall clock (so a clock offset is);
  ``write`` (value) -> stores it in the data dir; ``read`` -> the stored value (null if none);
  ``probe`` (timeout, nonce) -> {peer: true|false}: whether a TCP connection to each other node succeeds from
  here, and sends each peer a UDP datagram carrying ``nonce``;  ``heard`` (nonce) -> sorted names of the peers
  whose datagram with ``nonce`` arrived here.

Imports nothing from the harness (it is shipped as a plain directory). Sleeps only with ``asyncio`` (under
libfaketime with DONT_FAKE_MONOTONIC=1 ``time.sleep`` fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

STATE_FILE = "echo-state.json"
MAX_LINE = 1 << 20


class Node:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.name = cfg["node"]
        self.data_dir = cfg.get("data_dir") or "."
        self.peers = {n: tuple(a) for n, a in cfg["nodes"].items() if n != self.name}
        self.heard: dict[str, set[str]] = {}
        self.state = self._load()
        self.state["boots"] = int(self.state.get("boots", 0)) + 1
        self._save()

    def _load(self) -> dict:
        try:
            with open(os.path.join(self.data_dir, STATE_FILE)) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        path = os.path.join(self.data_dir, STATE_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)

    async def _probe_one(self, addr: tuple, timeout: float) -> bool:
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection(addr[0], addr[1]), timeout)
        except (OSError, asyncio.TimeoutError):
            return False
        w.close()
        return True

    async def handle(self, req: dict) -> dict:
        t = req.get("type")
        if t == "echo":
            return {"ok": True, "value": req.get("value")}
        if t == "status":
            return {"ok": True, "value": {"node": self.name, "variant": self.cfg.get("variant"), "pid": os.getpid(),
                                          "boots": self.state["boots"], "time": time.time()}}
        if t == "write":
            self.state["value"] = req.get("value")
            self._save()
            return {"ok": True}
        if t == "read":
            return {"ok": True, "value": self.state.get("value")}
        if t == "probe":
            timeout = min(float(req.get("timeout", 1.0)), 10.0)
            nonce = str(req.get("nonce", ""))
            msg = json.dumps({"from": self.name, "nonce": nonce}).encode()
            for addr in self.peers.values():
                try:
                    self.udp.sendto(msg, addr)
                except OSError:
                    pass
            names = list(self.peers)
            results = await asyncio.gather(*(self._probe_one(self.peers[n], timeout) for n in names))
            return {"ok": True, "value": dict(zip(names, results))}
        if t == "heard":
            return {"ok": True, "value": sorted(self.heard.get(str(req.get("nonce", "")), set()))}
        return {"ok": False, "error": "bad-request", "detail": f"unknown request type {t!r}"}

    async def serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                    reply = await self.handle(req)
                except (ValueError, TypeError) as e:
                    req, reply = {}, {"ok": False, "error": "bad-request", "detail": str(e)}
                reply["id"] = req.get("id")
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, node: Node):
        self.node = node

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            msg = json.loads(data)
            heard = self.node.heard
            if len(heard) > 100 and str(msg["nonce"]) not in heard:
                heard.pop(next(iter(heard)))  # bounded: only recent probes matter
            heard.setdefault(str(msg["nonce"]), set()).add(str(msg["from"]))
        except (ValueError, KeyError, TypeError):
            pass


async def main(cfg: dict) -> None:
    node = Node(cfg)
    host, port = cfg["listen"]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(node), local_addr=(host, port))
    node.udp = transport
    server = await asyncio.start_server(node.serve_client, host, port, limit=MAX_LINE, reuse_address=True)
    print(f"echo {node.name} listening on {host}:{port} (boot {node.state['boots']})", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    with open(args.config) as f:
        asyncio.run(main(json.load(f)))
