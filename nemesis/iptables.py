"""The iptables chains a run owns, in one place for the appliers that fill them and the cleanup that removes them.

Network faults live in chains named after the run id and jumped to from INPUT: ``sbp-<run id>`` (partitions) and
``sbl-<run id>`` (packet loss); the link faults' ``sbq-<run id>`` is jumped to from OUTPUT. This module only names them and writes the shell scripts that (re)create or remove
them; running a script on a host is the caller's job (``Host.exec``), so it imports nothing.

Must not: write a script that touches a chain other than the one it is given, or that loops without a bound.
"""

from __future__ import annotations

import shlex

IPT = "iptables -w 5"


def partition_chain(run_id: str) -> str:
    return f"sbp-{run_id}"


def loss_chain(run_id: str) -> str:
    return f"sbl-{run_id}"


def queue_chain(run_id: str) -> str:
    """The link faults' chain (jumped to from OUTPUT, not INPUT: see splitbrain.nemesis.link_appliers)."""
    return f"sbq-{run_id}"


def run_chains(run_id: str) -> list[str]:
    """Every chain run ``run_id`` may have created on a host."""
    return [partition_chain(run_id), loss_chain(run_id)]


def install_script(chain: str, rules: list[list[str]], hook: str = "INPUT") -> str:
    """(Re)create ``chain`` with exactly ``rules`` and make sure ``hook`` (INPUT, or OUTPUT for the link faults'
    queues) jumps to it once, as one shell script so a host needs one round trip."""
    c = shlex.quote(chain)
    lines = [
        "set -e",
        f"{IPT} -N {c} 2>/dev/null || {IPT} -F {c}",
        f"{IPT} -C {hook} -j {c} 2>/dev/null || {IPT} -I {hook} 1 -j {c}",
    ]
    lines += [f"{IPT} -A {c} " + " ".join(shlex.quote(a) for a in rule) for rule in rules]
    return "\n".join(lines)


def remove_script(chain: str, hook: str = "INPUT") -> str:
    """Remove every ``hook`` jump to ``chain`` (bounded loop) and the chain itself; no-op if it does not exist."""
    c = shlex.quote(chain)
    return "\n".join([
        f"for i in 1 2 3 4 5 6 7 8; do {IPT} -D {hook} -j {c} 2>/dev/null || break; done",
        f"if {IPT} -S {c} >/dev/null 2>&1; then {IPT} -F {c} && {IPT} -X {c}; fi",
    ])
