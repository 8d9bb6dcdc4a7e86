"""The tutorial's Redis section (docs/your-own-system.md, section 8) followed for real: the commands of its
tested block are read from the document and run as written against real Redis nodes (Debian's redis-server),
each checked for the exit code the document promises. Only the store and the state dir are redirected, through the
environment. The three commands run side by side (each run is mostly waiting), to keep the suite's wall time down.
"""

from __future__ import annotations

import shutil

import pytest

from tests._tutorial import run_tested_block, tutorial_commands


def test_the_tested_block_is_there():
    cmds = tutorial_commands('tested-redis')
    assert [e for e, _, _ in cmds] == [0, 1, 1]
    assert all("--plugin" in argv and "splitbrain_redis" in argv for _, _, argv in cmds)
    variants = [argv[argv.index("--variant") + 1] for _, _, argv in cmds]
    assert variants == ["wait", "replica-reads", "failover"]


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(420)
def test_tutorial_redis_commands_give_the_promised_verdicts(tmp_path, sb_state_dir, root_iptables_unchanged):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed: run .ci/setup (DEB_PACKAGES has redis-server)")

    def check_run(argv, run_dir, history):
        ok = [o for o in history if o["type"] == "ok" and o["process"] != "nemesis"]
        writes = [o for o in ok if o["f"] in ("write", "add")]  # sent to the primary, whatever the bound node
        assert writes and any(o.get("answered_by") for o in writes)
        assert "Ready to accept connections" in (run_dir / "nodes" / "n1" / "node.stdout.log").read_text()
        if "replica-reads" not in argv:  # WAIT's shortfalls are indefinite, never a fail
            assert all(o["type"] == "info" for o in history if "not-replicated" in (o.get("error") or ""))

    run_tested_block("tested-redis", tmp_path, sb_state_dir, "splitbrain_redis", check_run)
