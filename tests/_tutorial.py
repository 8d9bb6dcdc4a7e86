"""Reading the commands of a tested block out of docs/your-own-system.md, so tests run them exactly as written.

A block is ``<!-- MARKER: ... -->`` then a ```` ```sh ```` fence of commands, each after a ``# expect exit N`` line,
then ``<!-- end tested -->``. Commands may start with ``NAME=value`` environment assignments.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "your-own-system.md"


def tutorial_commands(marker: str = "tested") -> list[tuple[int, dict, list[str]]]:
    """(expected exit code, env assignments, argv) for each command of the doc's block named ``marker``."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {re.escape(marker)}:.*?-->\s*```sh\n(.*?)```\s*<!-- end tested -->", text, re.S)
    assert block, f"docs/your-own-system.md lost its '{marker}' block"
    out, expect = [], None
    for line in block.group(1).splitlines():
        m = re.match(r"#\s*expect exit (\d+)", line)
        if m:
            expect = int(m.group(1))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line)
        env = {}
        while words and re.match(r"^[A-Z_]+=", words[0]):
            k, _, v = words.pop(0).partition("=")
            env[k] = v
        assert expect is not None and words[0] == "splitbrain", line
        out.append((expect, env, words))
        expect = None
    return out


def with_seed_plus(argv: list[str], extra: int) -> list[str]:
    """``argv`` with its ``--seed N`` moved on by ``extra``."""
    i = argv.index("--seed")
    return [*argv[:i + 1], str(int(argv[i + 1]) + extra), *argv[i + 2:]]


def run_tested_block(marker: str, tmp_path: Path, state_dir, plugin: str, check_run) -> None:
    """Run the commands of the doc's block ``marker`` side by side, each with its own store, and assert each exits
    as promised; a command expected to find a bug (exit 1) may take two more seeds (finding one depends on timing
    too). For every final run: more than 50 client ops ok, every named fault applied, ``plugin`` recorded; then
    ``check_run(argv, run_dir, history)`` for what only that system shows. Every run is stopped and the state dir
    cleaned up, whatever happens."""
    import json
    import os
    import subprocess
    import sys

    root = DOC.parent.parent
    splitbrain = str(Path(sys.executable).with_name("splitbrain"))

    def start(i: int, env: dict, argv: list[str], extra: int) -> subprocess.Popen:
        store = tmp_path / f"store-{i}-{extra}"
        return subprocess.Popen([splitbrain, *with_seed_plus(argv, extra)[1:]], cwd=root, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **env, "SPLITBRAIN_STORE": str(store),
                                     "SPLITBRAIN_STATE_DIR": str(state_dir)})

    cmds = tutorial_commands(marker)
    procs: list[subprocess.Popen] = []
    try:
        procs = [start(i, env, argv, 0) for i, (_, env, argv) in enumerate(cmds)]
        outs = [p.communicate(timeout=240) for p in procs]
        for i, ((expect, env, argv), p, (out, err)) in enumerate(zip(cmds, procs, outs)):
            for extra in ((1, 2) if expect == 1 and p.returncode != expect else ()):
                p = start(i, env, argv, extra)
                procs.append(p)
                out, err = p.communicate(timeout=240)
                if p.returncode == expect:
                    break
            assert p.returncode == expect, f"{shlex.join(argv)}\n{out}\n{err}"
            run_dir = Path(next(line.split(None, 1)[1] for line in out.splitlines() if line.startswith("run:")))
            history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
            ok = [o for o in history if o["type"] == "ok" and o["process"] != "nemesis"]
            assert len(ok) > 50  # the server really served the load
            faults = {o["f"] for o in history if o["process"] == "nemesis"}
            assert {f"start-{n}" for n in argv[argv.index("--nemesis") + 1].split(",")} <= faults
            assert json.loads((run_dir / "test.json").read_text())["plugins"] == [plugin]
            check_run(argv, run_dir, history)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()  # the CLI tears its cluster down on SIGTERM
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=30)  # reaped: cleanup skips a run whose owner still lives
        from splitbrain.harness.hosts.cleanup import cleanup
        from splitbrain.harness.hosts.resources import StateStore
        cleanup(StateStore(str(state_dir)))
