"""Start one Redis node from splitbrain's node config, then become ``redis-server`` (``os.execvp``), so the pid
splitbrain kills and pauses is the server's own.

Every node persists with an append-only file fsynced on every write (a killed node restarts with what it
acknowledged); the configured primary (``primary`` in the config, ``n1``) starts as a primary, every other node as
its replica (``--replicaof``). Settings are flags on every start, not a config file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil


def redis_argv(cfg: dict) -> list[str]:
    host, port = cfg["listen"]
    argv = [cfg.get("redis_server") or shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind", host, "--port", str(port), "--dir", cfg["data_dir"], "--protected-mode", "no",
            "--daemonize", "no", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            # a replica's full sync starts at once (the default waits 5 s for more replicas to join it)
            "--repl-diskless-sync-delay", "0",
            # a replica cut off from its primary still answers reads (Redis' default, said out loud)
            "--replica-serve-stale-data", "yes",
            # a link that carries nothing for 2 s is down (default 60 s: a partition of a few seconds, which drops
            # packets without closing the connection, would never show as a lost link); the primary pings every 1 s
            "--repl-timeout", "2", "--repl-ping-replica-period", "1"]
    primary = cfg.get("primary", "n1")
    if cfg["node"] != primary:
        phost, pport = cfg["nodes"][primary]
        argv += ["--replicaof", phost, str(pport)]
    return argv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    cfg = json.loads(open(ap.parse_args().config, encoding="utf-8").read())
    os.makedirs(cfg["data_dir"], exist_ok=True)
    argv = redis_argv(cfg)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
