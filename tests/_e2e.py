"""Helper for end-to-end tests of bugs that show up in most seeds, but not every one: whether a run finds a bug
depends on timing (which node leads when a fault lands), not only on the seed. A test tries a few seeds and stops at
the first that finds the bug; bench/bench_seeds.py reports the per-seed rate. A variant that never shows its bug
still fails the test."""

from __future__ import annotations

from typing import Callable

from splitbrain.harness.run.runner import RunOutcome, run_test
from splitbrain.harness.run.spec import TestSpec


def first_run_that_finds(tmp_path, spec_for: Callable[[int], TestSpec], seeds, found: Callable[[RunOutcome], bool]
                         ) -> tuple[RunOutcome, list[int]]:
    """Run ``spec_for(seed)`` for each seed in turn until ``found(outcome)``; return that outcome (or the last one)
    and the seeds tried."""
    tried = []
    out = None
    for seed in seeds:
        tried.append(seed)
        out = run_test(spec_for(seed), store_root=tmp_path / f"store-{seed}", progress=False)
        if found(out):
            break
    return out, tried
