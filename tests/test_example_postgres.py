"""The tutorial's PostgreSQL section (docs/your-own-system.md, section 7) followed for real: the commands of its
tested block are read from the document and run as written against real PostgreSQL nodes (Debian's postgresql),
each checked for the exit code the document promises. Only the store and the state dir are redirected, through the
environment. The three commands run side by side (each run is mostly waiting), to keep the suite's wall time down.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._tutorial import run_tested_block, tutorial_commands


def test_the_tested_block_is_there():
    cmds = tutorial_commands('tested-postgres')
    assert [e for e, _, _ in cmds] == [0, 1, 1]
    assert all("--plugin" in argv and "splitbrain_postgres" in argv for _, _, argv in cmds)
    variants = [argv[argv.index("--variant") + 1] if "--variant" in argv else "correct" for _, _, argv in cmds]
    assert variants == ["correct", "standby-reads", "async-failover"]


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(420)
def test_tutorial_postgres_commands_give_the_promised_verdicts(tmp_path, sb_state_dir, root_iptables_unchanged):
    assert shutil.which("pg_basebackup") or Path("/usr/lib/postgresql").is_dir(), \
        "PostgreSQL is not installed: run .ci/setup (DEB_PACKAGES has postgresql)"

    def check_run(argv, run_dir, history):
        ok = [o for o in history if o["type"] == "ok" and o["process"] != "nemesis"]
        writes = [o for o in ok if o["f"] in ("write", "add")]  # sent to the primary, whatever the bound node
        assert writes and any(o.get("answered_by") for o in writes)
        assert "database system is ready" in (run_dir / "nodes" / "n1" / "node.stderr.log").read_text()

    run_tested_block("tested-postgres", tmp_path, sb_state_dir, "splitbrain_postgres", check_run)
