"""Start one PostgreSQL node from splitbrain's node config: ``python launch.py --config node.json`` (as root, in the
node's network namespace).

The first start of a node makes its data directory (``<data_dir>/pg``, owned by the ``postgres`` user: PostgreSQL
refuses to run as root): the primary (``primary`` in the config, ``n1`` by default) runs ``initdb``; a standby waits
for the primary and copies it with ``pg_basebackup -R`` (which writes ``standby.signal`` and the connection to the
primary). Every start then *replaces this process* with ``postgres`` running as the ``postgres`` user
(``os.execv`` after dropping privileges), so the pid splitbrain recorded is the postmaster's own and kill/pause hit it
directly. A restarted node finds its data directory and recovers, as PostgreSQL does.

Settings come as ``-c`` flags on every start (so a standby's copy of the primary's files carries none of the
primary's node-specific ones): the node's address and port, ``cluster_name`` (a standby's application name, which
``synchronous_standby_names`` lists), the replication timeouts, and what the variant asks for:

* ``correct`` and ``standby-reads``: ``synchronous_standby_names = 'ANY 1 (<standbys>)'``: a commit returns once a
  standby has flushed it;
* ``async-failover``: no synchronous standby (a commit returns once it is on the primary's own disk).

Imports nothing from splitbrain (it runs on the node's host). Waits with ``select`` (under libfaketime with
``DONT_FAKE_MONOTONIC=1`` ``time.sleep`` fails).
"""

import argparse
import glob
import json
import os
import pwd
import select
import subprocess
import sys
import time

USER = "postgres"
START_WAIT = 60.0  # seconds a standby waits for its primary on first start


def pg_bin(cfg: dict) -> str:
    """Debian's newest PostgreSQL binaries, unless the config names a directory."""
    if cfg.get("pg_bin"):
        return cfg["pg_bin"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        sys.exit("launch.py: no PostgreSQL server found in /usr/lib/postgresql (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def as_postgres():
    """preexec_fn / before exec: become the postgres user (group first, while still root)."""
    pw = pwd.getpwnam(USER)
    os.setgid(pw.pw_gid)
    os.initgroups(USER, pw.pw_gid)
    os.setuid(pw.pw_uid)


def run_as_postgres(argv: list[str]) -> None:
    print("launch.py:", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, preexec_fn=as_postgres, stdin=subprocess.DEVNULL)


def settings(cfg: dict) -> dict:
    name, primary = cfg["node"], cfg.get("primary", "n1")
    host, port = cfg["listen"]
    standbys = sorted(n for n in cfg["nodes"] if n != primary)
    sync = cfg["variant"] != "async-failover" and standbys
    return {
        "listen_addresses": host,
        "port": str(port),
        "unix_socket_directories": "",  # TCP only (a socket file in the data dir would be collected as a log)
        "cluster_name": name,
        "wal_level": "replica",
        "hot_standby": "on",
        "max_wal_senders": "10",
        "wal_keep_size": "256MB",
        "wal_sender_timeout": "2s",
        "wal_receiver_timeout": "2s",
        "wal_retrieve_retry_interval": "500ms",
        "synchronous_commit": "on",
        "synchronous_standby_names": f"ANY 1 ({', '.join(standbys)})" if sync else "",
        "fsync": "on",
        "shared_buffers": "16MB",
        "max_connections": "60",
        "log_min_messages": "warning",
        "log_line_prefix": "%m [%p] ",
    }


def prepare(cfg: dict, bindir: str, pgdata: str) -> None:
    """Create the data directory on a node's first start."""
    parent = cfg["data_dir"]
    pw = pwd.getpwnam(USER)
    os.chown(parent, pw.pw_uid, pw.pw_gid)
    name, primary = cfg["node"], cfg.get("primary", "n1")
    if name == primary:
        run_as_postgres([f"{bindir}/initdb", "-D", pgdata, "-A", "trust", "-U", USER, "--no-sync"])
        with open(os.path.join(pgdata, "pg_hba.conf"), "a", encoding="utf-8") as f:
            f.write("host all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n")
        return
    phost, pport = cfg["nodes"][primary]
    tmp = pgdata + ".partial"
    deadline = time.monotonic() + START_WAIT
    while True:  # the primary may not listen yet, or still be starting up ("the database system is starting up")
        subprocess.run(["rm", "-rf", tmp], check=True)
        try:
            run_as_postgres([f"{bindir}/pg_basebackup", "-h", phost, "-p", str(pport), "-U", USER, "-D", tmp,
                             "-R", "-X", "stream", "--no-sync"])
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                sys.exit(f"launch.py: could not copy the primary {phost}:{pport} within {START_WAIT:g} s")
            select.select([], [], [], 0.5)
    os.rename(tmp, pgdata)  # a copy cut short by a kill is never mistaken for a data directory


def main() -> None:
    # libfaketime (the clock shim splitbrain starts nodes under) shares a semaphore and memory segment with child
    # processes, created by root here; the postgres user may not open them ("sem_open failed ... Permission
    # denied") and postgres then exits. The shared segment only carries libfaketime's start-time features, which
    # splitbrain does not use: every process of the node keeps its own, reading the same offset file.
    os.environ.pop("FAKETIME_SHARED", None)
    os.environ["FAKETIME_DISABLE_SHM"] = "1"
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    cfg = json.load(open(parser.parse_args().config, encoding="utf-8"))
    bindir = pg_bin(cfg)
    pgdata = os.path.join(cfg["data_dir"], "pg")
    if not os.path.isdir(pgdata):
        prepare(cfg, bindir, pgdata)
    argv = [f"{bindir}/postgres", "-D", pgdata]
    for k, v in settings(cfg).items():
        argv += ["-c", f"{k}={v}"]
    print("launch.py: exec", " ".join(argv), flush=True)
    as_postgres()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
