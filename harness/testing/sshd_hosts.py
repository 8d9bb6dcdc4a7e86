"""Local test hosts for the SSH mode: real OpenSSH servers (Debian's /usr/sbin/sshd) that the harness logs in to.

:func:`create_sshd_hosts` starts ``n`` sshd processes, each with its own config, its own freshly generated host key
and an ``authorized_keys`` holding one freshly generated client key for root, and writes a hosts file
(splitbrain.harness.hosts.ssh_config format) and a known_hosts file listing exactly those host keys. Two placements:

* default: each sshd listens on 127.0.0.1 on its own port in the root network namespace;
* ``netns=True``: each sshd runs inside its own network namespace of a local cluster (splitbrain.harness.hosts.cluster /
  splitbrain.harness.hosts.netns: namespaces on a private bridge, recorded in a state file) and listens on port 22 of that
  namespace's address, so each host has its own network stack and firewall, like a real machine. The processes
  are the cluster's node processes, so the cluster's cleanup stops them and removes the namespaces.

Must not: read or change /etc/ssh or the machine's own sshd; leave a process running after ``cleanup()``; kill a
process it did not start. Every sshd is recorded (intent first, then its pid) in ``manifest.json`` in the run's
directory before it can do anything, so :func:`cleanup_manifest` can stop them from another process too. The one
shared thing touched is ``/run/sshd``, sshd's compiled-in privilege-separation directory: created (empty, root,
0755, as Debian's service does) when missing, never removed, because another sshd may be using it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from splitbrain.harness.hosts.local_cluster import create_local_cluster
from splitbrain.history.errors import ClusterError

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = "/run/sshd"
START_TIMEOUT = 10.0


@dataclass
class SshdHosts:
    """The cleanup handle of a set of local sshd hosts. ``cleanup()`` is idempotent and safe after a failure."""

    base_dir: Path
    run_id: str
    hosts_file: Path
    known_hosts: Path
    client_key: Path
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    #: With ``netns=True``: the local cluster whose namespaces hold the servers (node name -> namespace name).
    cluster: object | None = None
    netns: dict[str, str] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def manifest(self) -> Path:
        return self.base_dir / "manifest.json"

    def log_tail(self, name: str, limit: int = 2000) -> str:
        """The end of host ``name``'s sshd log (for error messages and test failures)."""
        try:
            return (self.base_dir / name / "sshd.log").read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop every sshd started here (by pid; SIGCONT first so a paused one can die), then remove the run dir."""
        try:
            if self.cluster is not None:
                self.cluster.down()  # kills the sshd processes and removes the namespaces (idempotent)
        finally:
            for name, proc in list(self._procs.items()):
                _stop(proc)
                self._procs.pop(name, None)
            cleanup_manifest(self.manifest)  # anything recorded but not in _procs (e.g. a failed start)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "SshdHosts":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def create_sshd_hosts(n: int, *, run_id: str | None = None, base_dir: str | os.PathLike | None = None,
                      key_passphrase: str | None = None, accept_new_host_keys: bool = False,
                      connect_timeout: float = 5.0, command_timeout: float = 30.0, netns: bool = False,
                      store=None) -> tuple[Path, Path, SshdHosts]:
    """Start ``n`` local sshd hosts ``n1..nN`` and return (hosts file, known_hosts file, cleanup handle).

    ``key_passphrase`` encrypts the generated client key and is written into the hosts file (to exercise secret
    handling). ``netns``: run each server in its own network namespace (``store``: the cluster state store, default
    the standard one). On any failure everything already started is cleaned up before the error propagates.
    """
    if not 1 <= n <= 64:
        raise ClusterError(f"can't create {n} sshd hosts: choose 1 to 64")
    if not os.access(SSHD, os.X_OK):
        raise ClusterError(f"{SSHD} is missing: install Debian's openssh-server (see .ci/setup)")
    run_id = run_id or uuid.uuid4().hex[:8]
    parent = Path(base_dir) if base_dir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"splitbrain-{run_id}-sshd-", dir=parent))
    handle = SshdHosts(base_dir=root, run_id=run_id, hosts_file=root / "hosts.toml",
                       known_hosts=root / "known_hosts", client_key=root / "id_ed25519")
    _write_manifest(handle, [])
    try:
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        _keygen(handle.client_key, key_passphrase or "", comment=f"splitbrain-{run_id}-client")
        authorized = root / "authorized_keys"
        authorized.write_text(handle.client_key.with_suffix(".pub").read_text())
        os.chmod(authorized, 0o600)
        if netns:

            handle.cluster = create_local_cluster(n, faketime=False, store=store)
            handle.netns = {node: h.netns for node, h in handle.cluster.hosts.items()}
        known_lines = []
        for i in range(1, n + 1):
            name = f"n{i}"
            hdir = root / name
            hdir.mkdir(mode=0o700)
            host_key = hdir / "ssh_host_ed25519_key"
            _keygen(host_key, "", comment=f"splitbrain-{run_id}-{name}")
            if netns:
                address, port = handle.cluster.hosts[name].address, 22
                _start_sshd_in_netns(handle, name, hdir, host_key, authorized, address)
                entry = address
            else:
                address, port = "127.0.0.1", _start_sshd(handle, name, hdir, host_key, authorized)
                entry = f"[127.0.0.1]:{port}"
            handle.addresses[name] = address
            pub = host_key.with_suffix(".pub").read_text().split()
            known_lines.append(f"{entry} {pub[0]} {pub[1]}\n")
        handle.known_hosts.write_text("".join(known_lines))
        handle.hosts_file.write_text(_hosts_toml(handle, key_passphrase, accept_new_host_keys,
                                                 connect_timeout, command_timeout))
        os.chmod(handle.hosts_file, 0o600)  # may hold a passphrase
        return handle.hosts_file, handle.known_hosts, handle
    except BaseException:
        handle.cleanup()
        raise


def cleanup_manifest(manifest: str | os.PathLike) -> None:
    """Stop the sshd processes a manifest records, from any process. A pid is signalled only while its command
    line still names the config file recorded with it, so a pid reused by another program is left alone."""
    try:
        entries = json.loads(Path(manifest).read_text()).get("sshd", [])
    except (OSError, ValueError):
        return
    for e in entries:
        pid, config = e.get("pid"), e.get("config")
        if isinstance(pid, int) and config and _cmdline_has(pid, config):
            for sig in (signal.SIGCONT, signal.SIGTERM):
                _kill(pid, sig)
            deadline = time.monotonic() + 3
            while _cmdline_has(pid, config) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _cmdline_has(pid, config):
                _kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------------ internals


def _start_sshd(handle: SshdHosts, name: str, hdir: Path, host_key: Path, authorized: Path) -> int:
    """Start one sshd on a free loopback port; retry with another port if a race took the chosen one."""
    config = hdir / "sshd_config"
    log = hdir / "sshd.log"
    for _attempt in range(3):
        port = _free_port()
        config.write_text(_sshd_config(port, host_key, authorized))
        # The config is valid before we start anything: a typo is an error, not a silent exit.
        test = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=10)
        if test.returncode != 0:
            raise ClusterError(f"sshd rejected the generated config {config}: {test.stderr.strip()[:300]}")
        entries = _read_manifest(handle)
        entries.append({"name": name, "pid": None, "config": str(config)})
        _write_manifest(handle, entries)
        proc = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(log)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        entries[-1]["pid"] = proc.pid
        _write_manifest(handle, entries)
        handle._procs[name] = proc
        if _wait_ready(proc, port):
            handle.ports[name], handle.pids[name] = port, proc.pid
            return port
        _stop(proc)
        handle._procs.pop(name, None)
        if "Address already in use" not in handle.log_tail(name):
            break
    raise ClusterError(f"sshd for {name} did not start within {START_TIMEOUT:.0f} s: "
                       f"{handle.log_tail(name, 300).strip() or 'no log'}")


def _start_sshd_in_netns(handle: SshdHosts, name: str, hdir: Path, host_key: Path, authorized: Path,
                         address: str) -> None:
    """Start sshd as the cluster's node process ``name`` (inside its namespace; the cluster records the pid)."""
    config, log = hdir / "sshd_config", hdir / "sshd.log"
    config.write_text(_sshd_config(22, host_key, authorized, address))
    test = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=10)
    if test.returncode != 0:
        raise ClusterError(f"sshd rejected the generated config {config}: {test.stderr.strip()[:300]}")
    ph = handle.cluster.start(name, [SSHD, "-D", "-f", str(config), "-E", str(log)])
    handle.pids[name], handle.ports[name] = ph.pid, 22
    deadline = time.monotonic() + START_TIMEOUT
    while not _banner(address, 22):
        if time.monotonic() > deadline or not handle.cluster.is_running(name):
            raise ClusterError(f"sshd for {name} in namespace {handle.netns[name]} did not start within "
                               f"{START_TIMEOUT:.0f} s: {handle.log_tail(name, 300).strip() or 'no log'}")
        time.sleep(0.05)


def _sshd_config(port: int, host_key: Path, authorized: Path, address: str = "127.0.0.1") -> str:
    # Only this file is read (no Include of /etc/ssh). Keys only: passwords and PAM are off. Sessions get HOME in
    # our own directory: a test host must not depend on this machine's root dotfiles (Debian's bash sources
    # ~/.bashrc for every SSH command, and a heavy one costs every remote command its run time).
    home = host_key.parent / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    return "\n".join([
        f"SetEnv HOME={home}",
        f"Port {port}",
        f"ListenAddress {address}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "UseDNS no",
        "PrintMotd no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "MaxStartups 64",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
        "",
    ])


def _hosts_toml(handle: SshdHosts, passphrase: str | None, accept_new: bool, connect_timeout: float,
                command_timeout: float) -> str:
    lines = [
        "# Generated by splitbrain.harness.testing.sshd_hosts: local sshd test hosts.",
        f'known_hosts = "{handle.known_hosts}"',
        f"accept_new_host_keys = {'true' if accept_new else 'false'}",
        f"connect_timeout = {connect_timeout}",
        f"command_timeout = {command_timeout}",
        "",
        "[defaults]",
        'user = "root"',
        f'key_file = "{handle.client_key}"',
    ]
    if passphrase is not None:
        lines.append(f"key_passphrase = {json.dumps(passphrase)}")  # a JSON string is a valid TOML basic string
    for name, port in handle.ports.items():
        lines += ["", "[[hosts]]", f'name = "{name}"', f'address = "{handle.addresses[name]}"', f"port = {port}"]
    return "\n".join(lines) + "\n"


def _keygen(path: Path, passphrase: str, comment: str) -> None:
    # -N on the command line is visible in /proc for a moment; acceptable for generated test keys only.
    r = subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise ClusterError(f"ssh-keygen failed for {path.name}: {r.stderr.strip()[:200]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, port: int) -> bool:
    """True once the server sends its SSH banner; False if it exits or the deadline passes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _banner("127.0.0.1", port):
            return True
        time.sleep(0.05)
    return False


def _banner(address: str, port: int) -> bool:
    """True if an SSH server answers at address:port with its banner."""
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            s.settimeout(1.0)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        _kill(proc.pid, signal.SIGCONT)  # a SIGSTOPped sshd can't act on SIGTERM
        # Its per-connection children (our sshd's own forks) outlive a SIGTERM of the listener: end them too.
        for child in _children(proc.pid):
            _kill(child, signal.SIGTERM)
        _kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            _kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=3)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc: field 4 of /proc/N/stat is the parent pid)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) > 1 and fields[1] == str(pid):
                out.append(int(entry))
    return out


def _cmdline_has(pid: int, needle: str) -> bool:
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _read_manifest(handle: SshdHosts) -> list[dict]:
    try:
        return json.loads(handle.manifest.read_text()).get("sshd", [])
    except (OSError, ValueError):
        return []


def _write_manifest(handle: SshdHosts, entries: list[dict]) -> None:
    tmp = handle.manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_id": handle.run_id, "sshd": entries}, indent=1))
    os.replace(tmp, handle.manifest)
