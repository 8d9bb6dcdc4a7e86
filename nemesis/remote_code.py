"""The fault programs an SSH host runs itself, shipped as the servers are: plain files in the run's working dir.

The disk and link faults each have a program that must run on the node's own host: the lazy file system
(:mod:`splitbrain.nemesis.lazyfs`, needs libfuse and ``/dev/fuse``), the packet program
(:mod:`splitbrain.nemesis.netqueue`, needs libnetfilter_queue and the kernel's NFQUEUE) and the file corrupter
(:mod:`splitbrain.nemesis.corruption`, standard library only), and the link probe of the tests and benches. Each is
standalone (it imports nothing from the project), so :func:`ship` uploads it as one top-level module into
``<workdir>/faultcode`` with the Python binding it needs (``mfusepy``: pure Python; ``netfilterqueue``: a compiled
extension, usable only by a remote interpreter of the same version and platform), and the host's own ``python`` runs
it as ``python -m <module>`` with that directory on ``PYTHONPATH``. :func:`ship` then imports the module there once:
a host that lacks what the program needs is refused with one sentence naming it (BadInput), before any fault is
applied.

Everything lands inside the run's working dir, which the SSH cleanup removes (``splitbrain.harness.hosts.ssh_cluster``).

Must not: upload anything outside the run's working dir, or run a program on a host whose import check failed.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from splitbrain.history.errors import BadInput, ClusterError

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

_HERE = Path(__file__).resolve().parent

#: program -> (its source file, the binding it imports (or None), what the host needs for it, in words).
PROGRAMS = {
    "lazyfs": (_HERE / "lazyfs.py", "mfusepy", "FUSE (/dev/fuse and libfuse3) for the lazy file system"),
    "netqueue": (_HERE / "netqueue.py", "netfilterqueue",
                 "the NetfilterQueue Python binding for its python (and libnetfilter_queue) for the packet program"),
    "corruption": (_HERE / "corruption.py", None, "a python to run the file corrupter"),
    "linkprobe": (_HERE / "linkprobe.py", None, "a python to run the link probe"),
}
#: Extra checks a program's host must pass (a shell test, and what is missing when it fails).
HOST_CHECKS = {"lazyfs": ("test -c /dev/fuse", "/dev/fuse")}


def is_remote(cluster: "Cluster") -> bool:
    """True when the cluster's hosts ship code (SSH hosts: ``upload_package``), i.e. are not this machine."""
    return any(hasattr(h, "upload_package") for h in cluster.hosts.values())


def code_dir(cluster: "Cluster", node: str) -> str:
    return f"{cluster.host(node).workdir.rstrip('/')}/faultcode"


def _binding_files(name: str) -> tuple[Path, bool]:
    """(path, is a package dir) of the binding ``name`` as this interpreter imports it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ClusterError(f"the controller's Python has no {name} to ship (pip install it here)")
    if spec.submodule_search_locations:
        return Path(spec.origin).parent, True
    return Path(spec.origin), False


def ship(cluster: "Cluster", node: str, program: str) -> list[str]:
    """Upload ``program`` (a key of PROGRAMS) and its binding to ``node``'s host unless already there, check that
    the host's python imports it, and return the argv prefix that runs it (``env PYTHONPATH=... python -m ...``).
    BadInput naming the host and what it lacks if the check fails."""
    src, binding, needs = PROGRAMS[program]
    host = cluster.host(node)
    dest = code_dir(cluster, node)
    python = getattr(host, "python", "python3")
    argv = ["env", f"PYTHONPATH={dest}", python, "-m", program]
    marker = f"{dest}/.{program}-ok-{node}"  # per node: hosts may share a filesystem, never their python
    if host.exec(["test", "-f", marker], check=False, retry_safe=True).returncode == 0:
        return argv
    host.exec(["mkdir", "-p", dest], retry_safe=True)
    host.write_file(f"{dest}/{program}.py", src.read_text())
    if binding is not None:
        path, is_pkg = _binding_files(binding)
        if is_pkg:
            host.upload_dir(path, f"{dest}/{binding}")
        else:
            host.write_file(f"{dest}/{path.name}", path.read_text())
    checks = [HOST_CHECKS[program][0]] if program in HOST_CHECKS else []
    for test in checks:
        if host.exec(["sh", "-c", test], check=False, retry_safe=True).returncode != 0:
            raise BadInput(f"the host has no {HOST_CHECKS[program][1]}, which the {program} fault program needs",
                           getattr(host, "label", node))
    imports = f"import {program}" + (f", {binding}" if binding else "")
    r = host.exec(["env", f"PYTHONPATH={dest}", python, "-c", imports], check=False, retry_safe=True, timeout=30)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise BadInput(f"{python} there can't import what the {program} fault program needs: {needs} ({last})",
                       getattr(host, "label", node))
    host.exec(["touch", marker], retry_safe=True)
    return argv


def run_json(cluster: "Cluster", node: str, program: str, args: list[str], timeout: float = 60.0) -> dict:
    """Run ``program`` with ``args`` on ``node``'s host (shipped first) and return the JSON line it prints last."""
    argv = ship(cluster, node, program) + list(args)
    r = cluster.host(node).exec(argv, check=False, timeout=timeout)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        raise ClusterError(f"{node}: `{shlex.join(argv[2:])}` failed: {(r.stderr.strip() or 'no output')[-300:]}")
    return json.loads(lines[-1])


def read_text(cluster: "Cluster", node: str, path: str) -> str:
    """A (small) file of ``node``'s host as text; empty if missing."""
    r = cluster.host(node).exec(["sh", "-c", f"cat {shlex.quote(path)} 2>/dev/null || true"], check=False,
                                retry_safe=True)
    return r.stdout
