"""One SSH connection to one host (paramiko), and running a shell line over it with a deadline.

:class:`SshConnection` is opened on first use and reused by every caller; threads share it safely (paramiko
multiplexes channels; a lock guards (re)connecting and a semaphore keeps concurrent channels under sshd's
``MaxSessions``). :class:`splitbrain.harness.hosts.ssh_host.SshHost` (the Host contract: processes, files, the
run's working dir) stands on it.

Contract, including what must not happen:

* Host keys are checked against the hosts file's known_hosts. An unknown key is refused unless
  ``accept_new_host_keys`` is set (then it is appended to known_hosts); a changed key is always refused.
* Connecting, the SSH banner and authentication are each bounded by ``connect_timeout``; every command by its
  ``timeout``. A command past its deadline has its remote process group killed and raises ClusterError. Nothing
  here waits without a deadline (a watchdog closes the connection if the server stops answering mid-request).
* stdout and stderr are read together until the command ends, so a command that writes a lot to both never
  deadlocks; at most ``max_output`` bytes of each are kept (the tail, with a note of what was dropped).
* A command is sent again after a broken connection only when the caller marks it ``retry_safe``; re-connecting
  before a command was sent is always done (once).
* Failures raise :class:`~splitbrain.history.errors.UnreachableNode` (can't connect, host key refused, login
  refused, the connection broke) or :class:`~splitbrain.history.errors.ClusterError` (a command failed or timed
  out), each one sentence that names the host. Passwords and key passphrases never appear in messages or logs.
* Remote commands run through the login user's POSIX shell, with ``sudo -n`` in front when the host says
  ``sudo = true``. The shell prints its own pid first (sshd makes it a session leader, so pid = process group):
  that is how a timed-out command's whole group is killed.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import threading
import time
from pathlib import Path

import paramiko

from splitbrain.harness.api import ExecResult
from splitbrain.harness.hosts.ssh_config import SshHostConfig, SshHostsFile
from splitbrain.history.errors import BadInput, ClusterError, UnreachableNode

log = logging.getLogger(__name__)


class _OnlyWhenDebugging(logging.Filter):
    """paramiko's transport thread logs every failed handshake as an ERROR with a traceback; the failure also
    reaches the caller, which turns it into one sentence naming the host. So paramiko's own records are shown
    only when the user asked for debug output (``splitbrain -v``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.getLogger().isEnabledFor(logging.DEBUG)


for _name in ("paramiko.transport", "paramiko.transport.sftp"):
    logging.getLogger(_name).addFilter(_OnlyWhenDebugging())

#: Concurrent channels per connection. OpenSSH's default MaxSessions is 10 and SFTP holds one, and sshd counts a
#: session until it has finished closing it, so stay well below: a busy server refused sessions at 8.
MAX_CHANNELS = 4
#: Bytes kept per output stream of one command.
MAX_OUTPUT = 1 << 20
#: Seconds allowed for killing a timed-out command's process group.
KILL_GRACE = 5.0
_known_hosts_lock = threading.Lock()  # appends to known_hosts from several hosts at once


class _ConnectionLost(Exception):
    """The connection broke; ``sent`` says whether the command may already have run."""

    def __init__(self, reason: str, sent: bool):
        super().__init__(reason)
        self.reason, self.sent = reason, sent


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, key: paramiko.PKey):
        super().__init__("unknown host key")
        self.key = key


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise _UnknownHostKey(key)


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust a key never seen before and append it to known_hosts (OpenSSH's StrictHostKeyChecking=accept-new)."""

    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        with _known_hosts_lock:
            Path(self.known_hosts).parent.mkdir(parents=True, exist_ok=True)
            with open(self.known_hosts, "a") as f:  # append: never rewrite the user's other entries
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        log.warning("accepted new host key %s for %s into %s", _fingerprint(key), hostname, self.known_hosts)


class _Tail:
    """Keeps the last ``limit`` bytes of a stream and counts what it dropped."""

    def __init__(self, limit: int):
        self.limit, self.buf, self.dropped = limit, bytearray(), 0

    def feed(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > self.limit:
            cut = len(self.buf) - self.limit
            del self.buf[:cut]
            self.dropped += cut

    def text(self) -> str:
        body = self.buf.decode("utf-8", errors="replace")
        return f"[splitbrain: first {self.dropped} bytes dropped]\n{body}" if self.dropped else body


class SshConnection:
    """The connection to one host of a hosts file: opened on first use, re-opened after it broke, shared by
    threads. ``connects`` counts the connections opened (one, unless one broke)."""

    def __init__(self, config: SshHostConfig, settings: SshHostsFile, *, max_output: int = MAX_OUTPUT):
        self.config, self.settings = config, settings
        self.max_output = max_output
        self.connects = 0
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pkey: paramiko.PKey | None = None
        self._conn_lock = threading.Lock()
        self._sftp_lock = threading.Lock()
        self._channels = threading.BoundedSemaphore(MAX_CHANNELS)

    @property
    def label(self) -> str:
        return self.config.label

    def connect(self) -> None:
        """Open the connection now (it is otherwise opened on first use). Raises UnreachableNode."""
        self._transport()

    def close(self) -> None:
        """Close the connection (idempotent). Processes started with :meth:`spawn` keep running."""
        with self._conn_lock:
            self._drop_locked()

    def _transport(self) -> paramiko.Transport:
        with self._conn_lock:
            t = self._client.get_transport() if self._client else None
            if t is not None and t.is_active():
                return t
            self._drop_locked()
            self._client = self._open_client()
            self.connects += 1
            return self._client.get_transport()

    def _drop_locked(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _reset(self, broken: paramiko.Transport | None = None) -> None:
        """Forget a broken connection (only if it is still the current one: another thread may have renewed it)."""
        with self._conn_lock:
            current = self._client.get_transport() if self._client else None
            if broken is None or current is broken:
                self._drop_locked()

    def _open_client(self) -> paramiko.SSHClient:
        cfg, s = self.config, self.settings
        timeout = s.connect_timeout
        client = paramiko.SSHClient()
        if os.path.exists(s.known_hosts):
            try:
                client.load_host_keys(s.known_hosts)
            except (OSError, paramiko.SSHException) as e:
                raise BadInput(f"can't read known_hosts ({e})", s.known_hosts) from None
        elif not s.accept_new_host_keys:
            raise UnreachableNode(f"refusing to connect: known_hosts file {s.known_hosts} does not exist "
                                  "(create it, or set accept_new_host_keys = true)", cfg.label)
        client.set_missing_host_key_policy(_AcceptNew(s.known_hosts) if s.accept_new_host_keys else _RefuseUnknown())
        pkey = self._load_key()
        log.info("connecting to %s", cfg.label)
        try:
            client.connect(cfg.address, port=cfg.port, username=cfg.user, pkey=pkey, password=cfg.password,
                           allow_agent=cfg.agent, look_for_keys=False, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, channel_timeout=timeout)
        except Exception as e:  # noqa: BLE001 - every failure becomes one sentence naming the host
            t = client.get_transport()
            no_banner = t is not None and not t.remote_version  # TCP accepted, but the server never spoke
            client.close()
            raise UnreachableNode(self._connect_error(e, no_banner), cfg.label) from None
        transport = client.get_transport()
        transport.set_keepalive(max(1, int(timeout)))  # notice a dead peer even between commands
        return client

    def _load_key(self) -> paramiko.PKey | None:
        """The login key, decrypted once per SshHost (an OpenSSH key's bcrypt KDF costs real CPU time)."""
        if self._pkey is None and self.config.key_file is not None:
            self._pkey = self._read_key()
        return self._pkey

    def _read_key(self) -> paramiko.PKey:
        cfg = self.config
        try:
            passphrase = cfg.key_passphrase.encode() if cfg.key_passphrase is not None else None
            return paramiko.PKey.from_path(cfg.key_file, passphrase)
        except paramiko.PasswordRequiredException:
            raise BadInput(f"key file {cfg.key_file} is encrypted: set key_passphrase", cfg.label) from None
        except (paramiko.SSHException, ValueError) as e:
            # paramiko's messages here never contain the passphrase; keep only the first line anyway.
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            if cfg.key_passphrase is not None:
                why = f"wrong key_passphrase, or not a private key paramiko reads: {why}"
            raise BadInput(f"can't load key file {cfg.key_file} ({why})", cfg.label) from None
        except OSError as e:
            raise BadInput(f"can't read key file {cfg.key_file} ({e.strerror})", cfg.label) from None

    def _connect_error(self, e: Exception, no_banner: bool = False) -> str:
        s, cfg = self.settings, self.config
        t = s.connect_timeout
        if no_banner and isinstance(e, (paramiko.SSHException, EOFError, socket.timeout, TimeoutError)):
            return f"the server accepted TCP but sent no SSH banner within {t:g} s (is sshd stopped or overloaded?)"
        if isinstance(e, paramiko.BadHostKeyException):
            return (f"refusing to connect: the server's host key {_fingerprint(e.key)} differs from the one in "
                    f"{s.known_hosts} ({_fingerprint(e.expected_key)}); if the host was reinstalled, remove its "
                    "old entry, otherwise someone may be intercepting the connection")
        if isinstance(e, _UnknownHostKey):
            return (f"refusing to connect: the server's host key {_fingerprint(e.key)} is not in {s.known_hosts} "
                    "(check it and add it, e.g. with ssh-keyscan, or set accept_new_host_keys = true)")
        if isinstance(e, paramiko.AuthenticationException):
            how = f"key {cfg.key_file}" if cfg.key_file else "the SSH agent" if cfg.agent else "password"
            return f"the server refused login as {cfg.user} with {how}"
        if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
            errs = list(e.errors.values())
            e = errs[0] if errs else e
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused: nothing listens on port {cfg.port}"
        if isinstance(e, (socket.timeout, TimeoutError)):
            return f"no answer within the connect timeout of {t:g} s"
        if isinstance(e, paramiko.SSHException) and "banner" in str(e).lower():
            return f"the server accepted TCP but sent no SSH banner within {t:g} s (is sshd stopped or overloaded?)"
        if isinstance(e, OSError):
            return f"can't connect ({e.strerror or e})"
        if isinstance(e, (paramiko.SSHException, EOFError)):
            return f"the SSH handshake failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        return f"can't connect ({type(e).__name__})"

    # ------------------------------------------------------------------------------------------- commands

    def command_line(self, argv: list[str]) -> str:
        """The shell line sent for ``argv``: the shell's pid (= process group) first, then the command."""
        if not argv:
            raise ClusterError(f"{self.label}: empty command")
        prefix = "sudo -n -- " if self.config.sudo else ""
        return f"echo $$; {prefix}{shlex.join(argv)}"

    def run(self, line: str, shown: str, timeout: float | None, check: bool, input: str | None,
             retry_safe: bool, kill_on_timeout: bool = True) -> ExecResult:
        timeout = float(timeout if timeout is not None else self.settings.command_timeout)
        attempt = 0
        while True:
            attempt += 1
            try:
                rc, out, err = self._run_once(line, shown, timeout, input, kill_on_timeout)
                break
            except _ConnectionLost as e:
                # Nothing sent: always safe to try again (a few times: a busy server refuses sessions for a
                # moment). Sent: once more, and only for commands marked safe to repeat.
                if (not e.sent and attempt < 4) or (e.sent and retry_safe and attempt < 2):
                    time.sleep(0.05 * attempt)
                    log.info("%s: %s; reconnecting and %s `%s`", self.label, e.reason,
                             "retrying" if e.sent else "sending", shown)
                    continue
                raise UnreachableNode(f"the connection broke while running `{short(shown)}` ({e.reason})",
                                      self.label) from None
        if check and rc != 0:
            last = (err.strip().splitlines() or out.strip().splitlines() or [""])[-1]
            raise ClusterError(f"{self.label}: `{short(shown)}` exited with {rc}"
                               + (f": {short(last, 200)}" if last else ""))
        return ExecResult(rc, out, err)

    def _open_channel(self, transport: paramiko.Transport, deadline: float, timeout: float) -> paramiko.Channel:
        """A session channel on ``transport``. A server that refuses one on a healthy connection is usually at its
        MaxSessions while closed sessions are still being torn down: wait a little and ask again on the same
        connection; only a dead connection is dropped (nothing was sent, so the caller may reconnect)."""
        pause = 0.05
        while True:
            try:
                return transport.open_session(timeout=min(timeout, self.settings.connect_timeout))
            except Exception as e:  # noqa: BLE001 - the command was not sent: safe to retry or reconnect
                if transport.is_active() and time.monotonic() + pause < deadline and pause <= 1.0:
                    time.sleep(pause)
                    pause *= 2
                    continue
                self._reset(transport)
                raise _ConnectionLost(f"can't open a channel ({_why(e)})", sent=False) from None

    def _run_once(self, line: str, shown: str, timeout: float, input: str | None,
                  kill_on_timeout: bool) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        transport = self._transport()
        sent = False
        with self._channels:
            chan = self._open_channel(transport, deadline, timeout)
            # exec_command (and, in a stuck re-key, any send) waits for the server without a timeout: a watchdog
            # closes the connection after the command's deadline plus time for the kill that follows a timeout.
            watchdog = threading.Timer(timeout + KILL_GRACE + 3, transport.close)
            watchdog.daemon = True
            watchdog.start()
            try:
                try:
                    chan.exec_command(line)
                except Exception as e:  # noqa: BLE001
                    self._reset(transport)
                    raise _ConnectionLost(f"the server did not start the command ({_why(e)})", sent=False) \
                        from None
                sent = True
                return self._collect(chan, transport, shown, deadline, timeout, input, kill_on_timeout)
            except _ConnectionLost:
                raise
            except (paramiko.SSHException, EOFError, OSError) as e:
                self._reset(transport)
                raise _ConnectionLost(_why(e), sent=sent) from None
            finally:
                watchdog.cancel()
                chan.close()

    def _collect(self, chan: paramiko.Channel, transport: paramiko.Transport, shown: str, deadline: float,
                 timeout: float, input: str | None, kill_on_timeout: bool) -> tuple[int, str, str]:
        """Read stdout and stderr together until the command ends or the deadline passes."""
        out, err = _Tail(self.max_output), _Tail(self.max_output)
        head = bytearray()  # stdout up to the first newline: the remote shell's pid
        pgid: int | None = None
        pending = (input or "").encode()
        if not pending:
            chan.shutdown_write()  # EOF on stdin: a command that reads stdin must not wait for us
        while True:
            if pending and chan.send_ready():
                n = chan.send(pending[:32768])
                pending = pending[n:]
                if not pending:
                    chan.shutdown_write()
            moved = False
            while chan.recv_ready():
                data, moved = chan.recv(65536), True
                if pgid is None:
                    head += data
                    if b"\n" in head:
                        first, _, rest = bytes(head).partition(b"\n")
                        pgid = int(first) if first.strip().isdigit() else -1
                        out.feed(rest)
                else:
                    out.feed(data)
            while chan.recv_stderr_ready():
                err.feed(chan.recv_stderr(65536))
                moved = True
            if chan.exit_status_ready() and chan.eof_received and not chan.recv_ready() \
                    and not chan.recv_stderr_ready():
                return chan.recv_exit_status(), out.text(), err.text()
            if chan.closed and not chan.recv_ready() and not chan.recv_stderr_ready():
                if not transport.is_active():
                    raise _ConnectionLost("the connection closed", sent=True)
                # Closed without an exit status: the remote shell died by a signal (sshd sends exit-signal,
                # which paramiko does not report). -1, as paramiko does.
                return (chan.exit_status if chan.exit_status_ready() else -1), out.text(), err.text()
            remaining = deadline - time.monotonic()
            if remaining <= 0 and pgid is None and kill_on_timeout and remaining > -KILL_GRACE:
                # Past the deadline before the remote shell even said its pid (a slow session start): wait a
                # little, bounded, for the pid so that what starts late is killed too.
                remaining = remaining + KILL_GRACE
            elif remaining <= 0:
                killed = self._kill_after_timeout(pgid) if kill_on_timeout else False
                raise ClusterError(f"{self.label}: `{short(shown)}` did not finish within {timeout:g} s"
                                   + ("; its process group was killed" if killed else
                                      "; its process could not be killed"))
            if not transport.is_active():
                raise _ConnectionLost("the connection closed", sent=True)
            if not moved:
                select.select([chan], [], [], min(remaining, 0.1))

    def _kill_after_timeout(self, pgid: int | None) -> bool:
        if not pgid or pgid <= 1:
            return False
        # The shell's own kill: dash's builtin takes no "--", and procps' kill misreads "-0 -PGID" without it.
        argv = ["sh", "-c", f"kill -9 -{int(pgid)}"]
        try:
            self.run(self.command_line(argv), shlex.join(argv), KILL_GRACE,
                      check=False, input=None, retry_safe=True, kill_on_timeout=False)
            return True
        except (ClusterError, UnreachableNode) as e:
            log.warning("%s: could not kill timed-out process group %s: %s", self.label, pgid, e)
            return False

    # ------------------------------------------------------------------------------------------- SFTP

    def _sftp_client(self) -> paramiko.SFTPClient:
        transport = self._transport()
        with self._conn_lock:
            if self._sftp is None or self._sftp.get_channel().closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(transport)
                except Exception as e:  # noqa: BLE001
                    raise UnreachableNode(f"can't start SFTP ({_why(e)})", self.label) from None
                # Every SFTP read then has a deadline: a hung server raises socket.timeout, never hangs us.
                self._sftp.get_channel().settimeout(self.settings.command_timeout)
            return self._sftp

    def sftp_do(self, what: str, fn):
        """Run ``fn(sftp)`` under the SFTP lock and turn failures into one sentence."""
        try:
            with self._sftp_lock:
                return fn(self._sftp_client())
        except (UnreachableNode, ClusterError):
            raise
        except (socket.timeout, TimeoutError):
            self._reset()
            raise ClusterError(f"{self.label}: {what} did not finish within {self.settings.command_timeout:g} s")
        except (paramiko.SSHException, EOFError) as e:
            self._reset()
            raise UnreachableNode(f"the connection broke during {what} ({_why(e)})", self.label) from None
        except FileNotFoundError:
            raise  # callers such as Cluster.collect_logs treat a missing directory as "nothing to copy"
        except OSError as e:
            raise ClusterError(f"{self.label}: {what} failed ({e.strerror or e})") from None


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
