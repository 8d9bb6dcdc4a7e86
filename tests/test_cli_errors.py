"""`splitbrain errors` lists the error table: what a server in any language may put in a JSON-lines reply's
"error" field, and whether the op then counts as fail (definite) or info. A plugin's own codes are listed too."""

from __future__ import annotations

import pytest

from splitbrain.harness.client_errors import ERRORS
from splitbrain.harness.commands.main import main


def _run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr().out


def test_errors_lists_every_code_with_fail_or_info(capsys):
    code, out = _run(["errors"], capsys)
    assert code == 0
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if not line.startswith("(")}
    assert lines["unavailable"] == "fail" and lines["timeout"] == "info" and lines["cas-mismatch"] == "fail"
    assert set(ERRORS) <= set(lines)


def test_a_plugins_own_code_is_listed(capsys, monkeypatch):
    monkeypatch.setitem(ERRORS, "my-plugin-code", (True, "refused by my plugin"))
    code, out = _run(["errors"], capsys)
    assert code == 0 and "my-plugin-code" in out and "refused by my plugin" in out
