"""Helpers for tests that drive the real CLI in a subprocess (the fault tests of issue 17)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def splitbrain(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m splitbrain.harness.commands.main ARGS`` from the repository root, output captured."""
    return subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def wait_for(cond, seconds: float, what: str):
    """Poll ``cond()`` every 50 ms until it is truthy (returned) or ``seconds`` pass (AssertionError)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
