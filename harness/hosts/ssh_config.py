"""The SSH hosts file: which remote machines a cluster runs on and how to log in to them (TOML, read with tomllib).

Format (paths are relative to the hosts file; ``~`` is expanded)::

    known_hosts = "known_hosts"        # default ~/.ssh/known_hosts
    accept_new_host_keys = false       # true: trust and record keys of hosts not yet in known_hosts
    connect_timeout = 10.0             # TCP connect, SSH banner and authentication, each (seconds)
    command_timeout = 30.0             # default deadline of one remote command
    workdir_root = "/tmp"              # per-run working dirs are made under it on every host

    [defaults]                         # any host key; every host inherits these
    user = "root"
    key_file = "id_ed25519"

    [[hosts]]
    name = "n1"                        # letters, digits, '-' and '_' (used in paths)
    address = "10.0.0.11"              # what SSH connects to and what nodes listen on
    port = 22
    user = "admin"
    key_file = "~/.ssh/id_ed25519"     # or: agent = true, or: password = "..."
    key_passphrase = "..."             # secret; or key_passphrase_env = "VAR" to read it from the environment
    sudo = true                        # run commands as root through `sudo -n`
    python = "/usr/bin/python3"        # interpreter for node processes (default python3)

Contract: every problem is a :class:`~splitbrain.history.errors.BadInput` naming the file and the host. Secrets
(``password``, ``key_passphrase``) are never part of ``repr()``, error messages or :meth:`to_public_dict`; nothing
in this module logs them or writes them anywhere.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.history.errors import BadInput

REDACTED = "<redacted>"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_TOP_KEYS = {"known_hosts", "accept_new_host_keys", "connect_timeout", "command_timeout", "workdir_root",
             "defaults", "hosts"}
_HOST_KEYS = {"name", "address", "port", "user", "key_file", "agent", "password", "password_env",
              "key_passphrase", "key_passphrase_env", "sudo", "python"}


@dataclass(frozen=True)
class SshHostConfig:
    """One host of a hosts file. Secrets are excluded from ``repr`` and from :meth:`to_public_dict`."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    agent: bool = False
    sudo: bool = False
    python: str = "python3"
    password: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """How messages name this host: ``n1 (root@10.0.0.11:22)``."""
        return f"{self.name} ({self.user}@{self.address}:{self.port})"

    def to_public_dict(self) -> dict:
        """Everything but the secrets (shown as ``<redacted>`` when set), for test.json and reports."""
        return {
            "name": self.name, "address": self.address, "port": self.port, "user": self.user,
            "key_file": self.key_file, "agent": self.agent, "sudo": self.sudo, "python": self.python,
            "password": REDACTED if self.password is not None else None,
            "key_passphrase": REDACTED if self.key_passphrase is not None else None,
        }


@dataclass(frozen=True)
class SshHostsFile:
    """A parsed hosts file: connection settings shared by all hosts, and the hosts in file order."""

    path: str
    hosts: tuple[SshHostConfig, ...]
    known_hosts: str
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    workdir_root: str = "/tmp"

    def host(self, name: str) -> SshHostConfig:
        for h in self.hosts:
            if h.name == name:
                return h
        raise BadInput(f"no host named {name!r} (hosts: {', '.join(h.name for h in self.hosts)})", self.path)

    def to_public_dict(self) -> dict:
        """The whole file without secrets: safe to write to test.json and to show in reports."""
        return {
            "path": self.path, "known_hosts": self.known_hosts, "accept_new_host_keys": self.accept_new_host_keys,
            "connect_timeout": self.connect_timeout, "command_timeout": self.command_timeout,
            "workdir_root": self.workdir_root, "hosts": [h.to_public_dict() for h in self.hosts],
        }


def load_hosts_file(path: str | os.PathLike) -> SshHostsFile:
    """Read and validate a hosts file. Raises BadInput (``FILE`` or ``FILE: host NAME``) for any problem."""
    p = Path(path).expanduser()
    where = str(p)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise BadInput(f"can't read the hosts file ({e.strerror or e})", where) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        # tomllib's messages carry line/column only, never the offending value (which might be a secret).
        raise BadInput(f"not valid TOML ({e})", where) from None
    return parse_hosts(doc, where, base_dir=p.parent)


def parse_hosts(doc: dict, where: str, base_dir: Path) -> SshHostsFile:
    """Validate an already-decoded hosts document; ``where`` names it in errors, ``base_dir`` anchors paths."""
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise BadInput(f"unknown setting(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_TOP_KEYS))})",
                       where)
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise BadInput("[defaults] must be a table", where)
    _check_keys(defaults, where + ": [defaults]")
    hosts_raw = doc.get("hosts")
    if not isinstance(hosts_raw, list) or not hosts_raw or not all(isinstance(h, dict) for h in hosts_raw):
        raise BadInput("needs at least one [[hosts]] table", where)

    hosts: list[SshHostConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(hosts_raw):
        merged = {**defaults, **entry}
        name = merged.get("name")
        loc = f"{where}: host {name!r}" if isinstance(name, str) else f"{where}: hosts[{i}]"
        _check_keys(entry, loc)
        host = _parse_host(merged, loc, base_dir)
        if host.name in seen:
            raise BadInput("duplicate host name", loc)
        seen.add(host.name)
        hosts.append(host)

    known_hosts = _path(doc.get("known_hosts", "~/.ssh/known_hosts"), "known_hosts", where, base_dir)
    return SshHostsFile(
        path=where, hosts=tuple(hosts), known_hosts=known_hosts,
        accept_new_host_keys=_bool(doc.get("accept_new_host_keys", False), "accept_new_host_keys", where),
        connect_timeout=_seconds(doc.get("connect_timeout", 10.0), "connect_timeout", where),
        command_timeout=_seconds(doc.get("command_timeout", 30.0), "command_timeout", where),
        workdir_root=_abs_remote(doc.get("workdir_root", "/tmp"), "workdir_root", where),
    )


def _check_keys(table: dict, loc: str) -> None:
    unknown = set(table) - _HOST_KEYS
    if unknown:
        # Name the unknown keys only: their values might be misspelt secrets ("passwrd = ...").
        raise BadInput(f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_HOST_KEYS))})", loc)


def _parse_host(d: dict, loc: str, base_dir: Path) -> SshHostConfig:
    name = d.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise BadInput("name must be 1-63 letters, digits, '-' or '_' (it is used in paths)", loc)
    address = d.get("address")
    if not isinstance(address, str) or not address or any(c.isspace() for c in address):
        raise BadInput("address must be a host name or IP address", loc)
    port = d.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise BadInput("port must be an integer from 1 to 65535", loc)
    user = d.get("user", "root")
    if not isinstance(user, str) or not user or any(c.isspace() for c in user):
        raise BadInput("user must be a non-empty login name", loc)
    key_file = d.get("key_file")
    if key_file is not None:
        key_file = _path(key_file, "key_file", loc, base_dir)
        if not os.path.isfile(key_file):
            raise BadInput(f"key file {key_file} does not exist", loc)
    agent = _bool(d.get("agent", False), "agent", loc)
    password = _secret(d, "password", loc)
    passphrase = _secret(d, "key_passphrase", loc)
    if key_file is None and not agent and password is None:
        raise BadInput("needs a way to log in: key_file, agent = true, or password", loc)
    python = d.get("python", "python3")
    if not isinstance(python, str) or not python.strip():
        raise BadInput("python must be an interpreter path or name", loc)
    return SshHostConfig(name=name, address=address, port=port, user=user, key_file=key_file, agent=agent,
                         sudo=_bool(d.get("sudo", False), "sudo", loc), python=python,
                         password=password, key_passphrase=passphrase)


def _secret(d: dict, key: str, loc: str) -> str | None:
    """A secret given inline or through ``<key>_env`` (the name of an environment variable)."""
    value, env = d.get(key), d.get(key + "_env")
    if value is not None and env is not None:
        raise BadInput(f"give {key} or {key}_env, not both", loc)
    if env is not None:
        if not isinstance(env, str) or not env:
            raise BadInput(f"{key}_env must name an environment variable", loc)
        if env not in os.environ:
            raise BadInput(f"{key}_env names {env}, which is not set in the environment", loc)
        return os.environ[env]
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{key} must be a string", loc)  # never echo the value
    return value


def _path(value: Any, key: str, loc: str, base_dir: Path) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{key} must be a file path", loc)
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _abs_remote(value: Any, key: str, loc: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise BadInput(f"{key} must be an absolute path without spaces on the remote hosts", loc)
    return value.rstrip("/") or "/"


def _bool(value: Any, key: str, loc: str) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"{key} must be true or false", loc)
    return value


def _seconds(value: Any, key: str, loc: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise BadInput(f"{key} must be a number of seconds between 0 and 3600", loc)
    return float(value)
