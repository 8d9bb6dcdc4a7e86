"""What the disk and link faults may leave on an SSH host, removed by one shell script: run by the SSH cleanup
(``splitbrain.harness.hosts.ssh_cluster``) after the node processes are gone and before the working dir is deleted, from
the live controller or from the state file alone after it was SIGKILLed. Idempotent; it finds everything from
names the run owns, never from the controller's memory:

* fault helpers (the lazy file system, the packet program): by the pids the state recorded (start time
  checked), and every pid file ``<workdir>/nodes/<node>/helpers/*.pid``
  whose process still has its cwd inside the working dir (a reused pid has not); the group is SIGKILLed and waited
  for (bounded);
* lazy file system mounts (fsname ``splitbrain-lazyfs``) on a path inside the working dir: lazily unmounted;
* the packet program's chain ``sbq-<run id>`` and OUTPUT's jumps to it;
* the rate fault's htb root qdisc (handle 1:), and the interface's GSO size, as recorded in the state (resource
  ``remote-qdisc``: interface and GSO size) before the fault first changed them.

It prints one ``removed:<what>`` line per thing removed and ``left:<what>`` for what survived.

Must not: touch a process, mount, chain or qdisc outside those names.
"""

from __future__ import annotations

import shlex

from splitbrain.nemesis.iptables import IPT, queue_chain, remove_script

FSNAME = "splitbrain-lazyfs"
KILL_WAIT = 5.0


def rate_records(state: dict, node: str) -> list[tuple[str, str]]:
    """(interface, GSO size) the rate fault found on ``node``'s host before it first changed it, as recorded in
    the run's state (resources of kind ``remote-qdisc``)."""
    return [(str(r.get("dev", "")), str(r.get("gso", ""))) for r in state.get("resources") or []
            if isinstance(r, dict) and r.get("kind") == "remote-qdisc" and r.get("node") == node]


def unrate_script(dev: str, gso: str) -> str:
    """Shell: remove the rate fault's qdisc (htb, handle 1:) from ``dev`` and give it back its GSO size."""
    d = shlex.quote(dev)
    lines = [f"if tc qdisc show dev {d} root 2>/dev/null | grep -q '^qdisc htb 1: root'; then",
             f"  tc qdisc del dev {d} root handle 1: && echo 'removed:qdisc htb 1: on '{d}; fi"]
    if gso.isdigit():
        lines.append(f"ip link set dev {d} gso_max_size {int(gso)} 2>/dev/null || true")
    return "\n".join(lines)


#: The state letter and kernel start time of process $p (as splitbrain.harness.hosts.ssh_host reads them): the
#: comm field may hold spaces, so fields are counted after its closing parenthesis.
_STAT = """sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f{fields}"""


def script(workdir: str, run_id: str, nodes: list[str], state: dict | None = None) -> str:
    """The cleanup script for the host of ``nodes`` (usually one) of run ``run_id``, whose working dir is
    ``workdir``, from the run's ``state``: its helper records (``{"<node>/<name>": {"node", "pid",
    "start_time"}}``) of ``nodes`` are killed by pid while their start time matches (their pid files may be gone
    already: test hosts share one working dir, deleted with the first host cleaned), its ``remote-qdisc``
    resources undone."""
    state = state or {}
    helpers = state.get("helpers") or {}
    wd = workdir.rstrip("/")
    q = shlex.quote
    pidfiles = " ".join(f'"$wd"/nodes/{q(n)}/helpers/*.pid' for n in nodes)
    recorded = []
    for r in helpers.values():
        if isinstance(r, dict) and r.get("node") in nodes and str(r.get("pid", "")).isdigit():
            start = r.get("start_time")
            recorded.append(f"{int(r['pid'])}:{int(start) if str(start).isdigit() else ''}")
    return "\n".join([
        f"wd={q(wd)}; pids=''",
        f"for r in {' '.join(recorded)}; do p=${{r%%:*}}; s=${{r#*:}}",
        f'  t=$({_STAT.format(fields=20)}) || continue; [ -n "$t" ] || continue',
        '  if [ -z "$s" ] || [ "$t" = "$s" ]; then kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null',
        '    pids="$pids $p"; echo "removed:helper $p"; fi',
        "done",
        # A helper whose pid was not recorded yet (the controller died right after spawning it): its pid file, while
        # the process's cwd is inside the working dir (a reused pid's is not).
        f"for f in {pidfiles}; do",
        '  [ -f "$f" ] || continue; p=$(cat "$f" 2>/dev/null); case "$p" in ""|*[!0-9]*) continue;; esac',
        '  case " $pids " in *" $p "*) continue;; esac',
        '  c=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue',
        '  case "$c" in "$wd"/*) kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; pids="$pids $p"',
        '    echo "removed:helper $p";; esac',
        "done",
        f"i=0; while [ $i -lt {int(KILL_WAIT * 20)} ]; do left=''",
        f'  for p in $pids; do st=$({_STAT.format(fields=1)})',
        '    case "$st" in ""|Z|X) ;; *) left="$left $p";; esac; done',
        '  [ -z "$left" ] && break; sleep 0.05; i=$((i+1)); done',
        'for p in $left; do echo "left:helper $p"; done',
        f"awk -v w=\"$wd/\" '$1 == \"{FSNAME}\" && index($2, w) == 1 {{print $2}}' /proc/self/mounts |",
        '  while read -r m; do umount -l "$m" && echo "removed:mount $m" || echo "left:mount $m"; done',
        f"if {IPT} -S {q(queue_chain(run_id))} >/dev/null 2>&1; then",
        f"  echo {q('removed:chain ' + queue_chain(run_id))}; fi",
        remove_script(queue_chain(run_id), hook="OUTPUT"),
        *(unrate_script(dev, gso) for n in nodes for dev, gso in rate_records(state, n)),
        "true",
    ])
