"""The hosts file: validation errors name the file and host; secrets never leave the config object."""

from __future__ import annotations

import json

import pytest

from splitbrain.history.errors import BadInput
from splitbrain.harness.hosts.ssh_config import load_hosts_file

SECRET = "hunter2-Zq9-not-for-logs"


@pytest.fixture
def key(tmp_path):
    k = tmp_path / "id_test"
    k.write_text("not really a key; parsing only checks that the file exists\n")
    return k


def write(tmp_path, text):
    p = tmp_path / "hosts.toml"
    p.write_text(text)
    return p


def test_full_file_with_defaults_and_relative_paths(tmp_path, key):
    p = write(tmp_path, f"""
known_hosts = "kh"
command_timeout = 12
[defaults]
user = "admin"
key_file = "{key.name}"
key_passphrase = "{SECRET}"
[[hosts]]
name = "n1"
address = "10.0.0.1"
[[hosts]]
name = "n2"
address = "10.0.0.2"
port = 2222
user = "root"
sudo = true
python = "/opt/py/bin/python3"
""")
    f = load_hosts_file(p)
    assert [h.name for h in f.hosts] == ["n1", "n2"]
    n1, n2 = f.hosts
    assert (n1.user, n1.port, n1.key_file, n1.key_passphrase) == ("admin", 22, str(key), SECRET)
    assert (n2.user, n2.port, n2.sudo, n2.python) == ("root", 2222, True, "/opt/py/bin/python3")
    assert f.known_hosts == str(tmp_path / "kh") and f.command_timeout == 12.0
    assert f.accept_new_host_keys is False  # trusting new keys is never the default
    public = json.dumps(f.to_public_dict())
    assert SECRET not in public and SECRET not in repr(f) and SECRET not in repr(n1)
    assert f.to_public_dict()["hosts"][0]["key_passphrase"] == "<redacted>"
    assert f.to_public_dict()["hosts"][0]["password"] is None


def test_secret_from_environment(tmp_path, key, monkeypatch):
    monkeypatch.setenv("SB_TEST_PASS", SECRET)
    p = write(tmp_path, f'[[hosts]]\nname = "n1"\naddress = "h"\npassword_env = "SB_TEST_PASS"\n')
    h = load_hosts_file(p).hosts[0]
    assert h.password == SECRET and SECRET not in json.dumps(h.to_public_dict())


@pytest.mark.parametrize("body, expect", [
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_file = "KEY"\npasswrd = "SECRET"\n', "unknown key(s) passwrd"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\n', "needs a way to log in"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_file = "missing"\n', "does not exist"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_file = "KEY"\nport = 70000\n', "port must be"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_file = "KEY"\n[[hosts]]\nname = "n1"\naddress = "g"\n'
     'key_file = "KEY"\n', "duplicate host name"),
    ('[[hosts]]\nname = "n 1"\naddress = "h"\nkey_file = "KEY"\n', "name must be"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_file = "KEY"\npassword = 5\n', "password must be a string"),
    ('[[hosts]]\nname = "n1"\naddress = "h"\nkey_passphrase_env = "SB_NOPE_UNSET"\nkey_file = "KEY"\n',
     "not set in the environment"),
])
def test_errors_name_file_and_host(tmp_path, key, body, expect):
    p = write(tmp_path, body.replace("KEY", key.name).replace("SECRET", SECRET))
    with pytest.raises(BadInput) as e:
        load_hosts_file(p)
    msg = str(e.value)
    assert expect in msg and str(p) in msg
    assert "'n1'" in msg or "hosts[" in msg or "'n 1'" in msg
    assert SECRET not in msg


def test_file_level_errors(tmp_path):
    p = write(tmp_path, f'password = "{SECRET}"\n[[hosts]\n')
    with pytest.raises(BadInput) as e:
        load_hosts_file(p)
    assert "not valid TOML" in str(e.value) and str(p) in str(e.value) and SECRET not in str(e.value)
    p = write(tmp_path, "connect_timeout = 1\n")
    with pytest.raises(BadInput, match="at least one"):
        load_hosts_file(p)
    with pytest.raises(BadInput, match="can't read"):
        load_hosts_file(tmp_path / "nope.toml")
