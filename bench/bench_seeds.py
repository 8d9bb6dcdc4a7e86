"""How often does a test find its bug? Runs real tests over many seeds and prints a table.

For each case (system, variant, workload, faults) it runs SEEDS seeds and reports: how many runs were invalid /
valid / unknown, the found rate, and the test-time (seconds of client load) to the first invalid run, counting the
runs in seed order. Bounded: every run has its own time limit; the whole bench stops after --budget seconds.

    .venv/bin/python bench/bench_seeds.py --seeds 10 --case quorum-kv:r1w1:register:partition
    .venv/bin/python bench/bench_seeds.py --seeds 10 --preset quorum
    .venv/bin/python bench/bench_seeds.py --seeds 5 --preset postgres --time-limit 10   # loads its plugin
    .venv/bin/python bench/bench_seeds.py --seeds 10 --preset causal --time-limit 30
    .venv/bin/python bench/bench_seeds.py --seeds 5 --preset fault-bugs --hosts hosts.toml   # over SSH

A case may name the one checker whose verdict counts (``...:faults@checker``, or
``--checker`` for every case): then "found" means that checker alone said invalid (the ``causal`` preset asks
whether the client-visible causal checker finds fifo-only without the nodes' delivery logs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.harness.run.runner import run_test  # noqa: E402
from splitbrain.harness.run.spec import TestSpec  # noqa: E402

PRESETS = {
    "quorum": [
        "quorum-kv:correct:register:partition,kill",
        "quorum-kv:r1w1:register:partition",
        "quorum-kv:no-read-repair:register:partition",
        "quorum-kv:lww-wallclock:register:clock",
    ],
    "raft": [
        "raft-kv:correct:register:partition,kill,pause",
        "raft-kv:stale-read:register:partition",
        "raft-kv:commit-old-term:register:partition,kill",
        "raft-kv:volatile-vote:register:kill",
        # voter-restart: an election frozen after the voter said yes, the voter restarted (pre-vote off, else the
        # frozen election never starts); run with --time-limit 30 (no try starts after the load ends: 20 s runs
        # found volatile-vote in 6 of 10 seeds, 30 s runs in 5 of 6)
        'raft-kv:volatile-vote:register:voter-restart:6/5:raft_kv={"pre_vote":false}',
        'raft-kv:correct:register:voter-restart:6/5:raft_kv={"pre_vote":false}',
        "raft-kv:no-dedup:counter:loss:3/2",
        "raft-kv:correct:counter:loss:3/2",
    ],
    # Faults made for the bugs the ones above miss: "crash" hangs a majority together and kills it (writes left
    # partial), "chase" isolates each new leader in turn (run it every 1 s). Run with --rate 100.
    "hard": [
        "quorum-kv:no-read-repair:set:crash",
        "quorum-kv:correct:set:crash",
        "raft-kv:commit-old-term:set:chase:1/0.5:read_fraction=0.5",
        "raft-kv:correct:set:chase:1/0.5:read_fraction=0.5",
    ],
    # Power loss (issue 17): data dirs on the lazy file system, un-fsynced writes dropped. Needs root and FUSE.
    # Raft survives a majority's loss when the one intact node wins the next election (its log is longer), so
    # its no-fsync bug shows when every node loses power together.
    "durability": [
        "quorum-kv:no-fsync:set:lose-unfsynced",
        "quorum-kv:correct:set:lose-unfsynced",
        'raft-kv:no-fsync:set:lose-unfsynced:4/3:lose-unfsynced_targets=["all"]',
        'raft-kv:correct:set:lose-unfsynced:4/3:lose-unfsynced_targets=["all"]',
    ],
    # Slow links (issue 17): a coordinator timeout shorter than the delayed round trip, so stores time out.
    "slow-links": [
        "quorum-kv:retry-as-new:counter:delay:4/3:delay_amounts=[200,400];coordinator_timeout=0.3",
        "quorum-kv:correct:counter:delay:4/3:delay_amounts=[200,400];coordinator_timeout=0.3",
    ],
    # Damaged disks (issue 17): bits flipped in / tail cut off a down node's raft.sqlite3. correct checks a CRC per
    # entry and refuses to start on a mismatch; no-checksum loads what it finds (and crashes or serves it).
    "corruption": [
        "raft-kv:no-checksum:set:corrupt:3/2:corrupt_flips=4",
        "raft-kv:correct:set:corrupt:3/2:corrupt_flips=4",
    ],
    # The same bug found through the history alone (judged by the set checker, not the log patterns): one bit
    # flipped inside a stored number (mode value: the entry still parses), on the leader, so that the next leader
    # is soon a node that loaded a damaged entry and serves it. correct refuses to start on a damaged entry.
    # Measured (15 s runs, 2 loaded cores): no-checksum found by the set checker 10/10, correct valid 10/10; over
    # SSH (--hosts, sshd hosts in namespaces) 10/10 and 10/10. With the preset above, correct valid 10/10 since it
    # refuses a damaged WAL (raft_kv/walcheck.py); before, SQLite dropped the WAL from the damage on: 1/8 invalid.
    "fault-bugs": [
        'raft-kv:no-checksum:set:corrupt:3/2:corrupt_flips=4;corrupt_modes=["value"];corrupt_targets=["leader"]@set',
        'raft-kv:correct:set:corrupt:3/2:corrupt_flips=4;corrupt_modes=["value"];corrupt_targets=["leader"]',
    ],
    # Two-phase commit (issue 15): run with --time-limit 30. The recovery bugs need a kill to land while a participant
    # holds a prepared transaction whose outcome it has not heard; presumed-commit needs that transaction to be one
    # the coordinator aborted (another shard voted no, or the killed participant's vote never arrived), and a later
    # read of its key. Kills come every 2 s (down 1 s), so a 30 s run has 15 such chances; early-lock-release and
    # read-uncommitted need only concurrency (and aborts, which partitions bring). Measured on a loaded 2-core
    # machine, 30 s runs: presumed-commit found 20/20 (seeds 1-20, G1a every time); correct valid 20/20 on each of
    # its three cases; no-durable-prepare, early-lock-release, read-uncommitted found 10/10. At 15 s (seeds 1-10):
    # presumed-commit 9/10, the other bugs 10/10, correct valid 10/10 on each case (before these kills and the
    # reads of retired keys: presumed-commit 5/10 at 15 s, 7/10 at 60 s).
    "twopc": [
        "twopc-kv:correct:list-append:partition,kill,pause:2/1",
        "twopc-kv:correct:rw-register:partition,kill,pause:2/1",
        "twopc-kv:correct:list-append:kill:2/1",               # presumed-commit's faults, on the correct store
        "twopc-kv:no-durable-prepare:list-append:kill:2/1",
        "twopc-kv:early-lock-release:list-append:none",
        "twopc-kv:read-uncommitted:list-append:partition",
        "twopc-kv:presumed-commit:list-append:kill:2/1",
    ],
    # fifo-only found by the client-visible causal checker alone (not the delivery-order second opinion), and
    # correct valid by every checker; run with --time-limit 30.
    "causal": [
        "crdt-store:fifo-only:causal-kv:partition@causal",
        "crdt-store:correct:causal-kv:partition,kill,pause",   # every checker must say valid
    ],
    "crdt": [
        "crdt-store:correct:or-set:partition,kill,clock",
        "crdt-store:correct:causal-kv:partition,kill,clock",
        "crdt-store:fifo-only:causal-kv:partition",
        "crdt-store:lww-wallclock:lww-register:clock",
        "crdt-store:two-phase-set:or-set:partition",
        "crdt-store:no-anti-entropy:or-set:partition",
    ],
    # examples/postgres (Debian's PostgreSQL, one primary and two standbys): its plugin is loaded by the preset.
    "postgres": [
        "postgres:correct:register:partition,kill,pause:3/2",
        "postgres:standby-reads:register:partition:3/2:value_range=50",
        'postgres:async-failover:set:partition,kill:6/5:nemesis_targets=["primaries"]',
        'postgres:async-failover:set:kill:3/2:nemesis_targets=["primaries"]',
    ],
    # examples/redis (Debian's redis-server, one primary and two replicas): its plugin is loaded by the preset.
    "redis": [
        "redis:wait:register:partition,kill,pause:3/2",
        'redis:wait:set:partition,kill:6/5:nemesis_targets=["primaries"]',
        "redis:replica-reads:register:partition:3/2:value_range=50",
        'redis:failover:set:partition,kill:6/5:nemesis_targets=["primaries"]',
        'redis:failover:set:kill:3/2:nemesis_targets=["primaries"]',
    ],
    # Work queue: correct must stay valid under every fault; each bug found by the violation it makes.
    "queue": [
        "work-queue:correct:queue:partition,kill,pause",
        "work-queue:ack-before-durable:queue:kill",
        "work-queue:no-dedup:queue:partition",
        "work-queue:unreplicated:queue:kill",
    ],
    # Chat: each variant judged under the claim that tells it apart (splitbrain.checkers.broadcast); the sequencer's kills are
    # aimed at the sequencer itself.
    "chat": [
        'chat:total-order:chat:partition,kill,pause:4/3:claim="fifo-total";kill_targets=["leader"]',
        'chat:causal:chat:partition,kill,pause:4/3:claim="causal"',
        'chat:gossip:chat:partition,kill,pause:4/3:claim="reliable"',
        'chat:causal:chat:partition:4/3:claim="total"',
        'chat:fifo-only:chat:partition:4/3:claim="causal"',
        'chat:no-retransmit:chat:partition:4/3:claim="causal"',
    ],
}

#: Presets whose systems come from a plugin: preset -> (module, directory relative to the repository).
PRESET_PLUGINS = {"postgres": ("splitbrain_postgres", "examples/postgres"),
                  "redis": ("splitbrain_redis", "examples/redis")}


def parse_case(text: str) -> dict:
    """``system:variant:workload:faults`` with an optional ``:interval/duration`` (seconds) for the fault cycle
    (default 4/3), an optional ``:key=json;key=json`` of workload/system options (``nemesis_targets`` is the
    run's ``--nemesis-targets``, a list), and an optional ``@checker`` at the very end (the checker whose verdict
    alone counts)."""
    system, variant, workload, faults, *rest = text.split(":", 5)  # the options' JSON may hold colons
    checker = None
    m = re.search(r"@([A-Za-z][\w-]*)$", text)   # a checker name, not an "@" inside an option's JSON
    if m:
        checker = m.group(1)
        if rest:
            rest[-1] = rest[-1][:-len(m.group(0))]
        else:
            faults = faults[:-len(m.group(0))]
    case = {"system": system, "variant": variant, "workload": workload,
            "nemesis": tuple(f for f in faults.split(",") if f and f != "none"),
            "nemesis_interval": 4.0, "nemesis_duration": 3.0, "options": {}, "checker": checker}
    if rest and rest[0]:
        interval, duration = rest[0].split("/")
        case["nemesis_interval"], case["nemesis_duration"] = float(interval), float(duration)
    if len(rest) > 1 and rest[1]:
        for item in rest[1].split(";"):
            k, _, v = item.partition("=")
            case["options"][k] = json.loads(v)
    case["nemesis_targets"] = tuple(case["options"].pop("nemesis_targets", ()))
    return case


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", default=[], help="system:variant:workload:fault,fault")
    ap.add_argument("--preset", choices=sorted(PRESETS), action="append", default=[])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=15.0)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rate", type=float, default=60.0)
    ap.add_argument("--budget", type=float, default=3600.0, help="stop starting runs after this many seconds")
    ap.add_argument("--option", action="append", default=[], help="KEY=VALUE passed to the workload/system")
    ap.add_argument("--checker", help="count a run as found only if this checker alone said invalid")
    ap.add_argument("--hosts", help="a hosts file: run every case over SSH on its hosts (docs/remote-hosts.md)")
    args = ap.parse_args()

    from splitbrain.harness.plugins import load_plugin
    for p in args.preset:
        if p in PRESET_PLUGINS:
            module, where = PRESET_PLUGINS[p]
            load_plugin(module, str(Path(__file__).resolve().parent.parent / where))
    cases = [parse_case(c) for c in args.case] + [parse_case(c) for p in args.preset for c in PRESETS[p]]
    if not cases:
        ap.error("give --case or --preset")
    options = {}
    for item in args.option:
        k, _, v = item.partition("=")
        try:
            options[k] = json.loads(v)  # numbers, booleans, lists ("crash_targets=[\"majority\"]")
        except ValueError:
            options[k] = v
    store = Path(tempfile.mkdtemp(prefix="splitbrain-bench-"))
    os.environ.setdefault("SPLITBRAIN_STATE_DIR", str(store / "state"))
    t_start = time.monotonic()
    rows = []
    for case in cases:
        verdicts, first_fail_after = [], None
        test_time = 0.0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if time.monotonic() - t_start > args.budget:
                break
            checker = case.get("checker") or args.checker
            fields = {k: v for k, v in case.items() if k != "checker"}
            spec = TestSpec(**{**fields, "options": {**options, **case["options"]}}, seed=seed, nodes=args.nodes,
                            time_limit=args.time_limit, rate=args.rate, recovery_time=2, hosts_file=args.hosts)
            t0 = time.monotonic()
            try:
                out = run_test(spec, store_root=store / "store", progress=False)
                v = out.results["valid"]
                if checker:
                    v = (out.results["results"].get(checker) or {}).get("valid", "missing")
            except Exception as e:  # a broken run is reported, not hidden
                print(f"  seed {seed}: run failed: {type(e).__name__}: {e}", file=sys.stderr)
                v = "error"
            test_time += spec.time_limit
            verdicts.append(v)
            if v is False and first_fail_after is None:
                first_fail_after = test_time
            print(f"  {case['system']} {case['variant']} {case['workload']} {','.join(case['nemesis'])} "
                  f"seed {seed}: {v}{f' ({checker} alone)' if checker else ''} ({time.monotonic() - t0:.1f} s wall)",
                  file=sys.stderr, flush=True)
        n = len(verdicts)
        rows.append((case, n, verdicts.count(False), verdicts.count(True),
                     sum(1 for v in verdicts if v not in (True, False)), first_fail_after))
    print(f"\n| system | variant | workload | faults | runs | invalid | valid | unknown/error | found | "
          f"test time to first failure |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case, n, bad, good, unk, first in rows:
        rate = f"{bad / n:.0%}" if n else "-"
        faults = ','.join(case['nemesis']) or 'none'
        if case["nemesis_targets"]:
            faults += f" on {','.join(case['nemesis_targets'])}"
        if (case["nemesis_interval"], case["nemesis_duration"]) != (4.0, 3.0):
            faults += f" every {case['nemesis_interval']:g}/{case['nemesis_duration']:g} s"
        if case["options"]:
            faults += " " + ", ".join(f"{k}={json.dumps(v)}" for k, v in case["options"].items())
        if case.get("checker") or args.checker:
            faults += f" (judged by {case.get('checker') or args.checker} alone)"
        print(f"| {case['system']} | {case['variant']} | {case['workload']} | {faults} "
              f"| {n} | {bad} | {good} | {unk} | {rate} | {f'{first:g} s' if first is not None else '-'} |")
    print(f"\nruns stored in {store} (time limit {args.time_limit:g} s each, {args.nodes} nodes, "
          f"rate {args.rate:g}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
