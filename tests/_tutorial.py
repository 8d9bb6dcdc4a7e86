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
