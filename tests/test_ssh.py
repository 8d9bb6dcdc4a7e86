"""SshHost against real OpenSSH servers (splitbrain.harness.testing.sshd_hosts: sshd on 127.0.0.1, own keys, own known_hosts).

The client key is encrypted with a passphrase written in the hosts file, so every test here also logs in the way
a user with a protected key would, and the last test checks that passphrase leaks nowhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from splitbrain.history.errors import BadInput, ClusterError, UnreachableNode
from splitbrain.harness.hosts.ssh_host import SshHost, open_ssh_hosts
from splitbrain.harness.hosts.ssh_config import load_hosts_file
from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts

SECRET = "pass-" + uuid.uuid4().hex  # the client key's passphrase; must never show up in our output
CONNECT_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def sshd():
    hosts_file, known_hosts, handle = create_sshd_hosts(2, key_passphrase=SECRET, connect_timeout=CONNECT_TIMEOUT,
                                                        command_timeout=10.0)
    try:
        yield handle
    finally:
        handle.cleanup()


def make_host(sshd, name="n1", **settings_changes) -> SshHost:
    settings = load_hosts_file(sshd.hosts_file)
    if settings_changes:
        settings = dataclasses.replace(settings, **settings_changes)
    return SshHost(settings.host(name), settings, run_id="t" + uuid.uuid4().hex[:10])


@pytest.fixture
def host(sshd):
    h = make_host(sshd)
    try:
        yield h
    finally:
        try:
            h.remove_workdir()
        finally:
            h.close()


def procs_with(needle: str) -> list[int]:
    """Live (non-zombie) local processes whose command line contains ``needle`` (the test sshd is local)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.timeout(30)
def test_exec_returns_code_stdout_stderr_and_input(host):
    r = host.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert host.exec(["cat"], input="fed through stdin\n").stdout == "fed through stdin\n"
    assert host.exec(["echo", "it's; $(not run)"]).stdout == "it's; $(not run)\n"  # argv is quoted, not parsed
    with pytest.raises(ClusterError, match=r"n1 \(root@127\.0\.0\.1:\d+\): `sh -c 'echo boom >&2; exit 4'` "
                                           r"exited with 4: boom"):
        host.exec(["sh", "-c", "echo boom >&2; exit 4"])
    assert host.conn.connects == 1


@pytest.mark.timeout(30)
def test_changed_host_key_is_refused(sshd, tmp_path):
    # n1's address with n2's key: exactly what a man in the middle (or a reinstalled host) looks like.
    lines = sshd.known_hosts.read_text().splitlines()
    n1_port, n2_key = sshd.ports["n1"], lines[1].split(" ", 1)[1]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{n1_port} {n2_key}\n")
    h = make_host(sshd, known_hosts=str(kh), accept_new_host_keys=True)  # accept-new must not cover a change
    with pytest.raises(UnreachableNode) as e:
        h.exec(["true"])
    msg = str(e.value)
    assert msg.startswith("n1 (root@127.0.0.1:") and "differs from the one in" in msg and str(kh) in msg
    assert kh.read_text() == f"[127.0.0.1]:{n1_port} {n2_key}\n"


@pytest.mark.timeout(30)
def test_unknown_host_key_is_refused_unless_accept_new(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with pytest.raises(UnreachableNode, match=r"host key ssh-ed25519 SHA256:\S+ is not in .*accept_new_host_keys"):
        make_host(sshd, known_hosts=str(kh)).exec(["true"])
    assert kh.read_text() == ""
    with pytest.raises(UnreachableNode, match="does not exist"):
        make_host(sshd, known_hosts=str(tmp_path / "missing")).exec(["true"])

    h = make_host(sshd, known_hosts=str(kh), accept_new_host_keys=True)
    assert h.exec(["echo", "hi"]).stdout == "hi\n"
    h.close()
    recorded = kh.read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.ports['n1']} ssh-ed25519 ")
    assert recorded.split()[2] == sshd.known_hosts.read_text().splitlines()[0].split()[2]
    strict = make_host(sshd, known_hosts=str(kh))  # now known: accepted without the option
    assert strict.exec(["true"]).returncode == 0
    strict.close()


@pytest.mark.timeout(30)
def test_unreachable_hosts_fail_within_the_connect_timeout(sshd):
    # Nothing listens: refused at once.
    settings = load_hosts_file(sshd.hosts_file)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    cfg = dataclasses.replace(settings.host("n1"), port=free_port)
    t0 = time.monotonic()
    with pytest.raises(UnreachableNode, match=f"nothing listens on port {free_port}") as e:
        SshHost(cfg, settings, "tunreach").exec(["true"])
    assert e.value.exit_code == 254 and time.monotonic() - t0 < CONNECT_TIMEOUT + 1.5  # (+ key decryption)

    # A stopped sshd: the kernel still accepts TCP, but no banner ever comes.
    pid = sshd.pids["n2"]
    os.kill(pid, signal.SIGSTOP)
    try:
        h = make_host(sshd, "n2")
        t0 = time.monotonic()
        with pytest.raises(UnreachableNode, match=r"^n2 .*no SSH banner within 2 s"):
            h.exec(["true"])
        took = time.monotonic() - t0
        assert CONNECT_TIMEOUT - 0.2 < took < CONNECT_TIMEOUT + 2.5, took
    finally:
        os.kill(pid, signal.SIGCONT)
    assert wait_until(lambda: _exec_ok(make_host(sshd, "n2")), 5)


def _exec_ok(h: SshHost) -> bool:
    try:
        return h.exec(["true"]).returncode == 0
    finally:
        h.close()


@pytest.mark.timeout(60)
def test_ten_megabytes_on_both_streams_at_once_do_not_deadlock(host):
    # Both streams at full speed at the same time: reading only one of them would stall the other on the
    # channel window and hang forever.
    script = ("head -c 10485760 /dev/zero | tr '\\0' e >&2 & "
              "head -c 10485760 /dev/zero | tr '\\0' o; wait")
    t0 = time.monotonic()
    r = host.exec(["sh", "-c", script], timeout=40)
    took = time.monotonic() - t0
    assert r.returncode == 0
    for text, ch in ((r.stdout, "o"), (r.stderr, "e")):
        head, _, body = text.partition("\n")
        assert head == f"[splitbrain: first {10485760 - host.conn.max_output} bytes dropped]"
        assert len(body) == host.conn.max_output and set(body) == {ch}
    assert took < 30, took


@pytest.mark.timeout(30)
def test_command_past_its_timeout_is_stopped_and_its_processes_killed(host):
    mark = uuid.uuid4().hex
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"did not finish within 2 s; its process group was killed"):
        host.exec(["sh", "-c", f"sleep 297 & sleep 298; : {mark}"], timeout=2)
    assert time.monotonic() - t0 < 2 + 5 + 1  # deadline + the bounded kill
    # The shell carrying the mark and its background sleep (same process group) are gone.
    assert wait_until(lambda: not procs_with(mark), 3), procs_with(mark)
    assert host.exec(["true"]).returncode == 0  # and the connection is still good


@pytest.mark.timeout(30)
def test_spawn_signal_alive_on_a_real_process_group(host):
    wd = host.prepare_workdir()
    mark = uuid.uuid4().hex
    prefix = f"{wd}/nodes/n1/node"
    handle = host.spawn(["sh", "-c", f"echo started $MY_VAR; sleep 331 & sleep 332; : {mark}"],
                        workdir=f"{wd}/nodes/n1/data", env={"MY_VAR": "v1"}, log_prefix=prefix)
    try:
        assert handle.pid == handle.pgid and handle.start_time is not None
        ps = host.exec(["ps", "-o", "pgid=,sid=", "-p", str(handle.pid)]).stdout.split()
        assert ps == [str(handle.pid), str(handle.pid)]  # own process group and session
        assert host.exec(["cat", f"{prefix}.pid"]).stdout.strip() == str(handle.pid)
        assert host.alive(handle)
        # The connection that started it can go: the process stays.
        host.close()
        assert host.alive(handle)

        host.signal(handle, signal.SIGSTOP)
        assert host.exec(["ps", "-o", "stat=", "-p", str(handle.pid)]).stdout.strip().startswith("T")
        assert host.alive(handle)  # stopped is alive
        host.signal(handle, signal.SIGCONT)

        # Same pid with another start time (pid reuse): neither alive nor signalled.
        impostor = dataclasses.replace(handle, start_time=handle.start_time + 1)
        assert not host.alive(impostor)
        host.signal(impostor, signal.SIGKILL)
        assert host.alive(handle)

        host.signal(handle, signal.SIGKILL)
        assert wait_until(lambda: not host.alive(handle), 3)
        assert wait_until(lambda: not procs_with(mark) and not procs_with("sleep 331"), 3)
        host.signal(handle, signal.SIGKILL)  # already gone: no error
        assert host.exec(["cat", f"{prefix}.stdout.log"]).stdout == "started v1\n"

        # A restart appends to the same logs.
        again = host.spawn(["sh", "-c", "echo second"], workdir=f"{wd}/nodes/n1/data", env={},
                           log_prefix=prefix)
        assert wait_until(lambda: not host.alive(again), 3)
        assert host.exec(["cat", f"{prefix}.stdout.log"]).stdout == "started v1\nsecond\n"
    finally:
        host.signal(handle, signal.SIGKILL)


@pytest.mark.timeout(30)
def test_upload_package_run_it_fetch_dir_and_remove_workdir(host, tmp_path):
    wd = host.prepare_workdir()
    code = host.upload_package("splitbrain.systems_under_test.quorum_kv")
    assert code == f"{wd}/code"
    local_pkg = Path(__file__).resolve().parent.parent / "systems_under_test" / "quorum_kv"
    local_files = sorted(p.relative_to(local_pkg).as_posix() for p in local_pkg.rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    remote = host.exec(["sh", "-c", f"cd {code}/splitbrain/systems_under_test/quorum_kv && find . -type f | sort"]).stdout
    assert [line[2:] for line in remote.split()] == local_files
    r = host.exec(["sh", "-c", f"cd {code} && {host.python} -c 'import splitbrain.systems_under_test.quorum_kv.server; "
                               "print(\"imported\")'"])
    assert r.stdout == "imported\n"

    host.write_file(f"{wd}/nodes/n1/node.stdout.log", "line 1\n")
    host.write_file(f"{wd}/nodes/n1/data/deep/x.json", '{"a": 1}')
    host.write_file(f"{wd}/nodes/n1/node.stdout.log", "replaced\n")  # atomic replace, no temp file left
    dest = tmp_path / "fetched"
    host.fetch_dir(f"{wd}/nodes/n1", str(dest))
    assert (dest / "node.stdout.log").read_text() == "replaced\n"
    assert (dest / "data" / "deep" / "x.json").read_text() == '{"a": 1}'
    assert sorted(p.name for p in dest.rglob("*")) == ["data", "deep", "node.stdout.log", "x.json"]
    with pytest.raises(FileNotFoundError):
        host.fetch_dir(f"{wd}/nodes/n9", str(tmp_path / "none"))

    host.remove_workdir()
    assert not os.path.exists(wd)
    host.remove_workdir()  # idempotent


@pytest.mark.timeout(30)
def test_a_broken_connection_resends_only_commands_marked_safe(host, tmp_path):
    wd = host.prepare_workdir()
    counter = f"{wd}/runs"
    argv = ["sh", "-c", f"echo run >> {counter}; sleep 1"]

    def break_connection_once_it_ran(before: int):
        # The test hosts share this filesystem: break the connection as soon as the command has run once.
        wait_until(lambda: os.path.exists(counter) and len(Path(counter).read_text().split()) > before, 10)
        host.conn._client.get_transport().close()  # as if the network dropped the TCP connection

    for retry_safe, runs in ((False, 1), (True, 3)):
        breaker = threading.Thread(target=break_connection_once_it_ran, args=(runs - 2 if retry_safe else 0,))
        host.connect()
        breaker.start()
        try:
            if retry_safe:
                assert host.exec(argv, retry_safe=True).returncode == 0
            else:
                with pytest.raises(UnreachableNode, match="the connection broke while running"):
                    host.exec(argv)
        finally:
            breaker.join()
        assert host.exec(["wc", "-l", counter]).stdout.split()[0] == str(runs)


@pytest.mark.timeout(30)
def test_async_callers_share_one_connection(host):
    async def many():
        return await asyncio.gather(*(asyncio.to_thread(host.exec, ["echo", str(i)]) for i in range(20)))

    t0 = time.monotonic()
    results = asyncio.run(many())
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(20)]
    assert host.conn.connects == 1  # 20 concurrent commands over one connection, within sshd's MaxSessions
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(30)
def test_secrets_appear_in_no_log_message_or_report(sshd, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # everything, paramiko's own debug output included
    seen: list[str] = []
    hosts = open_ssh_hosts(sshd.hosts_file, "tsecret")
    h = hosts["n1"]
    assert h.config.key_passphrase == SECRET  # the file really holds it, so the test can fail
    try:
        h.exec(["true"])
        with pytest.raises(ClusterError) as e:
            h.exec(["sh", "-c", "exit 9"])
        seen.append(str(e.value))
    finally:
        h.close()
    settings = load_hosts_file(sshd.hosts_file)
    wrong = dataclasses.replace(settings.host("n1"), key_passphrase=SECRET[::-1])
    with pytest.raises(BadInput) as e:
        SshHost(wrong, settings, "tsecret").exec(["true"])
    seen.append(str(e.value))
    assert "wrong key_passphrase" in str(e.value)
    # A password login (sshd here refuses passwords): the message says so without the password.
    pw = dataclasses.replace(settings.host("n1"), key_file=None, key_passphrase=None, password=SECRET)
    with pytest.raises(UnreachableNode) as e:
        SshHost(pw, settings, "tsecret").exec(["true"])
    seen.append(str(e.value))
    assert "refused login as root with password" in str(e.value)

    public = json.dumps(settings.to_public_dict())
    out, err = capsys.readouterr()
    everything = "\n".join([caplog.text, out, err, public, repr(settings), repr(h), *seen])
    assert "connecting to n1" in caplog.text  # we did log, just not the secret
    assert SECRET not in everything and SECRET[::-1] not in everything
