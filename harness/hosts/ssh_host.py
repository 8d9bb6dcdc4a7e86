"""Remote hosts over SSH: :class:`SshHost`, a :class:`splitbrain.harness.api.Host` that runs commands and node
processes on another machine, moves files to and from it, and owns this run's working dir there.

It stands on :class:`~splitbrain.harness.hosts.ssh_connection.SshConnection` (one connection per host, deadlines,
host keys, reconnects: see that module for the contract of every command). Node processes are started detached
(nohup + setsid: their own process group, which outlives the connection) and signalled only while they are the very
process started (pid and kernel start time).

Must not: signal a process group whose leader is not the process it started, or remove any directory but this
run's working dir (``<workdir_root>/splitbrain-<run id>``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shlex
import stat
from pathlib import Path

import paramiko

from splitbrain.harness.api import ExecResult, Host, ProcessHandle
from splitbrain.harness.hosts.ssh_config import SshHostConfig, SshHostsFile, load_hosts_file
from splitbrain.harness.hosts.ssh_connection import MAX_OUTPUT, SshConnection, short as _short
from splitbrain.history.errors import BadInput, ClusterError, UnreachableNode

log = logging.getLogger(__name__)

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
#: Shell snippet printing "STATE STARTTIME" of a pid (fields 3 and 22 of /proc/PID/stat; the command name in
#: field 2 may hold spaces and parentheses, so cut after its last ") "). Prints nothing if there is no such pid.
_STAT_FIELDS = "sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f1,20"


class SshHost(Host):
    """A remote machine reached over SSH. ``workdir`` (``<workdir_root>/splitbrain-<run_id>``, the same path as a
    local cluster's) is this run's directory on it: :meth:`prepare_workdir` makes it, uploaded code goes to
    ``<workdir>/code``, node directories sit beside it, and :meth:`remove_workdir` deletes it all. ``conn`` is its
    :class:`SshConnection`."""

    def __init__(self, config: SshHostConfig, settings: SshHostsFile, run_id: str, *, max_output: int = MAX_OUTPUT):
        if not _RUN_ID_RE.match(run_id):
            raise BadInput("run id must be 1-40 letters, digits, '-' or '_'", "run_id")
        self.config, self.settings, self.run_id = config, settings, run_id
        self.name, self.address, self.python = config.name, config.address, config.python
        self.workdir = f"{settings.workdir_root.rstrip('/')}/splitbrain-{run_id}"
        self.conn = SshConnection(config, settings, max_output=max_output)

    def __repr__(self) -> str:
        return f"SshHost({self.config.label})"

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def control_port(self) -> int:
        """The TCP port the controller's SSH connection arrives on: faults (packet loss) must spare it, or the
        harness would lose its own commands, the heal included."""
        return self.config.port

    def connect(self) -> None:
        """Open the connection now (it is otherwise opened on first use). Raises UnreachableNode."""
        self.conn.connect()

    def close(self) -> None:
        """Close the connection (idempotent). Processes started with :meth:`spawn` keep running."""
        self.conn.close()

    # ------------------------------------------------------------------------------------------- commands

    def exec(self, argv: list[str], *, timeout: float | None = None, check: bool = True,
             input: str | None = None, retry_safe: bool = False) -> ExecResult:
        """Run ``argv`` on the host and return its exit code and (possibly truncated) output.

        ``timeout`` defaults to the hosts file's ``command_timeout``. ``retry_safe``: the command may run twice
        (e.g. ``kill -0``, reading a file), so it is sent again once if the connection breaks while it runs.
        Raises ClusterError on a nonzero exit (with ``check``) or the deadline; UnreachableNode if the host can't
        be reached.
        """
        return self.conn.run(self.conn.command_line(argv), shlex.join(argv), timeout, check, input, retry_safe)

    # ------------------------------------------------------------------------------------------- processes

    def spawn(self, argv: list[str], *, workdir: str, env: dict[str, str], log_prefix: str) -> ProcessHandle:
        """Start ``argv`` as splitbrain.harness.api.Host.spawn says: cwd ``workdir`` (made if missing), ``env`` added, stdin
        from /dev/null, stdout/stderr appended to ``<log_prefix>.stdout.log``/``.stderr.log`` (a relative prefix is
        relative to ``workdir``), detached with nohup + setsid (its own session and process group, which outlive
        this connection). Its pid also goes to ``<log_prefix>.pid``. Waits only for that pid (at most 10 s),
        never for the process."""
        if not argv or not log_prefix:
            raise ClusterError(f"{self.label}: spawn needs a command and a log prefix")
        bad = [k for k in env if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)]
        if bad:
            raise ClusterError(f"{self.label}: invalid environment variable name(s) {bad}")
        q = shlex.quote
        wd, pidfile = q(workdir), q(f"{log_prefix}.pid")
        inner = f'echo $$ > {pidfile}; exec "$@"'
        cmd = ["nohup", "setsid", "sh", "-c", inner, "sh", "env", *(f"{k}={v}" for k, v in env.items()), *argv]
        launch = ("sudo -n -- " if self.config.sudo else "") + shlex.join(cmd)
        logdir = q(os.path.dirname(log_prefix) or ".")
        # The outer shell waits (bounded: 200 x 50 ms) for the pid file, so the pid we return is the process's
        # own, then prints it with its kernel start time (field 22 of /proc/PID/stat) against pid reuse.
        script = (f"echo $$; mkdir -p {wd} && cd {wd} && mkdir -p {logdir} && rm -f {pidfile} && "
                  f"{{ {launch} >> {q(log_prefix + '.stdout.log')} 2>> {q(log_prefix + '.stderr.log')} "
                  f"< /dev/null & }} && "
                  f"i=0; while [ ! -s {pidfile} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                  f'p=$(cat {pidfile}); echo "$p $({_STAT_FIELDS.format(pid="$p")})"')
        r = self.conn.run(script, f"spawn {shlex.join(argv)}", None, check=True, input=None, retry_safe=False)
        fields = (r.stdout.strip().splitlines() or [""])[-1].split()
        if not fields or not fields[0].isdigit():
            raise ClusterError(f"{self.label}: `{_short(shlex.join(argv))}` did not start "
                               f"(no pid written; see {log_prefix}.stderr.log)")
        pid = int(fields[0])
        start = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
        log.info("%s: started pid %d: %s", self.label, pid, _short(shlex.join(argv)))
        return ProcessHandle(node=self.name, pid=pid, pgid=pid, argv=list(argv), start_time=start)

    def _proc_state(self, pid: int) -> tuple[str, int] | None:
        """(state letter, start time) of ``pid`` on the host, or None if there is no such process."""
        r = self.exec(["sh", "-c", _STAT_FIELDS.format(pid=int(pid))], check=False, retry_safe=True,
                      timeout=min(10.0, self.settings.command_timeout))
        fields = r.stdout.split()
        if len(fields) < 2 or not fields[1].isdigit():
            return None
        return fields[0], int(fields[1])

    def signal(self, handle: ProcessHandle, sig: int) -> None:
        """Send ``sig`` to the handle's process group; no error if it is gone. The group is signalled only while
        its leader is the very process started (same start time) or, once the leader is gone, for the members
        left in that group (a pgid can't be reused while any member lives)."""
        pid, pgid, start = int(handle.pid), int(handle.pgid), handle.start_time
        guard = "" if start is None else (
            f'[ -z "$s" ] || [ "${{s%% *}}" = Z ] || [ "${{s#* }}" = {int(start)} ] || '
            f'{{ echo "pid {pid} now belongs to another process" >&2; exit 3; }}; ')
        script = f"s=$({_STAT_FIELDS.format(pid=pid)}); {guard}kill -{int(sig)} -{pgid}"
        r = self.exec(["sh", "-c", script], check=False, retry_safe=True,
                      timeout=min(10.0, self.settings.command_timeout))
        if r.returncode == 3:
            log.warning("%s: not signalling group %d: %s", self.label, pgid, r.stderr.strip())
        elif r.returncode != 0 and "no such process" not in r.stderr.lower():
            raise ClusterError(f"{self.label}: could not send signal {int(sig)} to process group {pgid}: "
                               f"{_short(r.stderr.strip(), 200)}")

    def alive(self, handle: ProcessHandle) -> bool:
        """True while the handle's process exists, is not a zombie and (if known) has its recorded start time;
        a stopped process is alive."""
        st = self._proc_state(handle.pid)
        if st is None or st[0] in ("Z", "X"):
            return False
        return handle.start_time is None or st[1] == handle.start_time

    # ------------------------------------------------------------------------------------------- files

    def write_file(self, path: str, content: str) -> None:
        """Write ``content`` to ``path`` (parent directories made), atomically: a temp file renamed over it."""
        parent = os.path.dirname(path) or "."
        self.exec(["mkdir", "-p", parent], retry_safe=True)
        tmp = f"{path}.splitbrain-tmp"

        def put(sftp: paramiko.SFTPClient) -> None:
            with sftp.open(tmp, "w") as f:
                f.write(content.encode())
            sftp.posix_rename(tmp, path)

        self.conn.sftp_do(f"writing {path}", put)

    def fetch_dir(self, remote_dir: str, local_dir: str) -> None:
        """Copy regular files under ``remote_dir`` to ``local_dir``, recursively (symlinks are not followed).
        FileNotFoundError if ``remote_dir`` does not exist."""

        def walk(sftp: paramiko.SFTPClient, rdir: str, ldir: Path) -> None:
            ldir.mkdir(parents=True, exist_ok=True)
            for entry in sftp.listdir_attr(rdir):
                if entry.filename in (".", ".."):
                    continue
                rpath, lpath = f"{rdir}/{entry.filename}", ldir / entry.filename
                if stat.S_ISDIR(entry.st_mode):
                    walk(sftp, rpath, lpath)
                elif stat.S_ISREG(entry.st_mode):
                    sftp.get(rpath, str(lpath))

        self.conn.sftp_do(f"copying {remote_dir}", lambda sftp: walk(sftp, remote_dir.rstrip("/"), Path(local_dir)))

    def upload_dir(self, local_dir: str | os.PathLike, remote_dir: str) -> None:
        """Copy a local directory tree to ``remote_dir`` (made if missing), leaving out ``__pycache__``/*.pyc."""
        local = Path(local_dir)
        if not local.is_dir():
            raise ClusterError(f"{self.label}: can't upload {local}: not a directory")
        self.exec(["mkdir", "-p", remote_dir], retry_safe=True)

        def put(sftp: paramiko.SFTPClient) -> None:
            for dirpath, dirnames, filenames in os.walk(local):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                rel = Path(dirpath).relative_to(local)
                rdir = remote_dir.rstrip("/") + ("" if rel == Path(".") else f"/{rel.as_posix()}")
                if rel != Path("."):
                    _sftp_mkdir(sftp, rdir)
                for fn in sorted(filenames):
                    if not fn.endswith(".pyc"):
                        sftp.put(os.path.join(dirpath, fn), f"{rdir}/{fn}")

        self.conn.sftp_do(f"uploading {local}", put)

    def upload_package(self, package: str) -> str:
        """Upload an importable Python package (``splitbrain.systems_under_test.quorum_kv``) to
        ``<workdir>/code``, with the ``__init__.py`` of each parent package, so ``python -m <package>.server`` works
        with that directory on PYTHONPATH. The package is found where this interpreter imports it from (this
        repository, site-packages, a plugin's directory). Returns the code directory."""
        parts = package.split(".")
        if not all(p.isidentifier() for p in parts):
            raise ClusterError(f"{self.label}: {package!r} is not a package name")
        dirs = [_package_dir(".".join(parts[:i])) for i in range(1, len(parts) + 1)]
        if dirs[-1] is None:
            raise ClusterError(f"{self.label}: package {package} not found")
        code = f"{self.workdir}/code"
        for i, src in enumerate(dirs[:-1], start=1):
            dest = f"{code}/{'/'.join(parts[:i])}"
            self.exec(["mkdir", "-p", dest], retry_safe=True)
            init = src / "__init__.py" if src is not None else None
            if init is not None and init.is_file():
                self.conn.sftp_do(f"uploading {init}", lambda sftp, a=init, b=dest: sftp.put(str(a), f"{b}/__init__.py"))
        self.upload_dir(dirs[-1], f"{code}/{'/'.join(parts)}")
        return code

    def prepare_workdir(self) -> str:
        """Make this run's working dir (private to the login user) and return its path."""
        self.exec(["mkdir", "-p", "-m", "700", self.workdir], retry_safe=True)
        return self.workdir

    def remove_workdir(self) -> None:
        """Delete this run's working dir and everything in it (idempotent)."""
        # The path is built from validated parts; check its shape anyway before an rm -rf.
        if not re.fullmatch(r"/[^\s]*/splitbrain-[A-Za-z0-9_-]+", self.workdir):
            raise ClusterError(f"{self.label}: refusing to remove unexpected path {self.workdir!r}")
        self.exec(["rm", "-rf", "--", self.workdir], retry_safe=True)


def _package_dir(name: str) -> Path | None:
    """The directory of the regular package ``name`` as this interpreter would import it, or None."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return None
    return Path(spec.origin).parent


def open_ssh_hosts(hosts_file: str | os.PathLike, run_id: str) -> dict[str, SshHost]:
    """An unconnected SshHost for every host of a hosts file, by name in file order (connections open on first
    use). BadInput if the file is wrong."""
    settings = load_hosts_file(hosts_file)
    return {h.name: SshHost(h, settings, run_id) for h in settings.hosts}


def teardown_hosts(hosts: dict[str, SshHost]) -> list[str]:
    """Remove every host's working dir and close its connection; keeps going past failures and returns them as
    sentences (empty: all clean). Node processes must already be stopped (Cluster.down does that first)."""
    problems = []
    for h in hosts.values():
        try:
            h.remove_workdir()
        except (ClusterError, UnreachableNode) as e:
            problems.append(str(e))
        h.close()
    return problems


def _sftp_mkdir(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.mkdir(path)
    except OSError:
        try:
            if stat.S_ISDIR(sftp.stat(path).st_mode):
                return
        except OSError:
            pass
        raise
