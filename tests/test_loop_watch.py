"""The loop watch: a client call that blocks the run's event loop is seen, with its length and where it blocked;
a loop that keeps turning (however slow its coroutines) gives nothing."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from splitbrain.harness.run.loop_watch import LoopWatch


def client_that_blocks(seconds: float) -> None:
    time.sleep(seconds)  # the mistake: a blocking call on the loop's thread


@pytest.mark.timeout(20)
def test_a_blocking_call_on_the_loop_is_recorded_with_its_length_and_place(caplog):
    seen = []

    async def run():
        async with LoopWatch(threshold=0.3, poll=0.05, on_stall=seen.append) as watch:
            await asyncio.sleep(0.2)
            client_that_blocks(1.0)
            await asyncio.sleep(0.3)
        return watch

    with caplog.at_level(logging.WARNING, logger="splitbrain.harness.run.loop_watch"):
        watch = asyncio.run(run())
    assert len(watch.stalls) == 1 and seen == watch.stalls
    stall = watch.stalls[0]
    assert 0.9 <= stall.seconds <= 3.0, stall
    assert stall.where.startswith("test_loop_watch.py:") and "in client_that_blocks" in stall.where, stall
    assert "blocked" in caplog.text and "client_that_blocks" in caplog.text


@pytest.mark.timeout(20)
def test_a_loop_that_keeps_turning_gives_no_stall():
    async def run():
        async with LoopWatch(threshold=0.3, poll=0.05) as watch:
            await asyncio.gather(*(asyncio.sleep(0.8) for _ in range(20)))
            await asyncio.to_thread(time.sleep, 0.8)  # blocking, but off the loop
        return watch

    assert asyncio.run(run()).stalls == []


@pytest.mark.timeout(20)
def test_a_stall_still_going_when_the_watch_ends_is_recorded():
    async def run():
        async with LoopWatch(threshold=0.2, poll=0.05) as watch:
            client_that_blocks(0.6)
        return watch

    stalls = asyncio.run(run()).stalls
    assert len(stalls) == 1 and "client_that_blocks" in stalls[0].where


def test_the_place_named_is_the_clients_code_not_the_harness_or_the_standard_library():
    import sys

    from splitbrain.harness.run.loop_watch import blocking_call

    def deepest():
        return blocking_call(sys._getframe())

    def client_invoke():
        return deepest()

    where = blocking_call(sys._getframe())  # this test itself, called by pytest (a library): not the harness
    assert where.startswith("test_loop_watch.py:") and "in test_the_place_named" in where
    nested = client_invoke()
    assert nested.startswith("test_loop_watch.py:") and " in deepest <- " in nested and "in client_invoke" in nested
    assert nested.count(" <- ") == 2  # two innermost, then the outermost frame above the harness (pytest's)
