"""The tutorial's section on a server in another language (docs/your-own-system.md, section 9) followed for real:
the commands of its tested block are read from the document and run as written against node-kv, a primary-backup
key-value store in JavaScript (examples/node-kv/splitbrain_nodekv/server.js) run by Node.js, each checked for the
exit code the document promises. The two commands run side by side; only the store and the state dir are
redirected, through the environment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._tutorial import run_tested_block, tutorial_commands

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node-kv"


def test_the_tested_block_is_there():
    cmds = tutorial_commands("tested-node-kv")
    assert [e for e, _, _ in cmds] == [0, 1]
    assert all("--plugin" in argv and "splitbrain_nodekv" in argv for _, _, argv in cmds)
    assert all(env == {"PYTHONPATH": "examples/node-kv"} for _, env, _ in cmds)
    assert [argv[argv.index("--variant") + 1] if "--variant" in argv else "correct" for _, _, argv in cmds] == [
        "correct", "backup-reads"]


def test_the_plugin_ships_its_server():
    """An installed plugin must carry server.js: the pyproject names it as package data."""
    assert (EXAMPLE / "splitbrain_nodekv" / "server.js").is_file()
    assert '"server.js"' in (EXAMPLE / "pyproject.toml").read_text()


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(300)
def test_tutorial_node_kv_commands_give_the_promised_verdicts(tmp_path, sb_state_dir, root_iptables_unchanged):
    if not shutil.which("node"):
        pytest.skip("node (Node.js) is not installed: run .ci/setup (DEB_PACKAGES has nodejs)")

    def check_run(argv, run_dir, history):
        stdout = (run_dir / "nodes" / "n1" / "node.stdout.log").read_text()
        assert "node-kv n1 (primary" in stdout  # the JavaScript server itself served the run
        assert (run_dir / "nodes" / "n2" / "node.stdout.log").read_text().count("backup of n1") >= 1
        if "primaries" in argv:  # primaries() named the primary: every fault aimed there hit n1
            resolved = [o["value"]["resolved"]["nodes"] for o in history
                        if o["process"] == "nemesis" and o["type"] == "ok" and "resolved" in (o["value"] or {})]
            assert resolved and all(nodes == ["n1"] for nodes in resolved)
        if "kill" in argv:  # a killed node was started again (the same argv and data dir): one more start line
            starts = sum((run_dir / "nodes" / n / "node.stdout.log").read_text().count("listening on")
                         for n in ("n1", "n2", "n3"))
            assert starts > 3

    run_tested_block("tested-node-kv", tmp_path, sb_state_dir, "splitbrain_nodekv", check_run)
