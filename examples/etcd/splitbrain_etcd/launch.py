"""Start one etcd member from splitbrain's node config: ``python launch.py --config node.json``.

splitbrain writes every node the same JSON config (its name, its address, all nodes' addresses, the data dir);
etcd wants flags. This launcher translates one into the other and then *replaces itself* with etcd (``os.execvp``),
so the pid splitbrain recorded is etcd's own and SIGKILL/SIGSTOP reach it directly.

It imports nothing from splitbrain (it runs on the node's host, possibly a remote one). Peers talk on the client
port + 1. A member restarted after a kill finds its data dir and ignores the ``--initial-*`` flags, as etcd does.
"""

import argparse
import json
import os
import sys


def etcd_argv(cfg: dict) -> list[str]:
    name = cfg["node"]
    host, port = cfg["listen"]
    peer = lambda h, p: f"http://{h}:{int(p) + 1}"  # noqa: E731
    data_dir = os.path.join(cfg["data_dir"], "etcd")
    return [
        cfg.get("etcd_binary", "etcd"),
        "--name", name,
        "--data-dir", data_dir,
        "--listen-client-urls", f"http://{host}:{port}",
        "--advertise-client-urls", f"http://{host}:{port}",
        "--listen-peer-urls", peer(host, port),
        "--initial-advertise-peer-urls", peer(host, port),
        "--initial-cluster", ",".join(f"{n}={peer(h, p)}" for n, (h, p) in sorted(cfg["nodes"].items())),
        "--initial-cluster-state", "new",
        "--initial-cluster-token", cfg.get("cluster_token", "splitbrain"),
        "--heartbeat-interval", str(cfg.get("heartbeat_ms", 100)),
        "--election-timeout", str(cfg.get("election_ms", 1000)),
        "--logger", "zap", "--log-outputs", "stderr",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as f:
        argv = etcd_argv(json.load(f))
    sys.stdout.flush()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
