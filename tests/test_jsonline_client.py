"""The JSON-lines connection's close: bounded, and never swallowing its caller's cancellation."""

import asyncio

import pytest

from splitbrain.harness.jsonline_client import JsonLineConnection


class _HangingWriter:
    """A transport whose close never completes (a peer that never acknowledges the FIN)."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        await asyncio.sleep(3600)


def _conn_with(writer: _HangingWriter) -> JsonLineConnection:
    conn = JsonLineConnection.__new__(JsonLineConnection)
    conn._writer, conn._reader = writer, None
    return conn


def test_close_is_bounded_when_the_transport_hangs():
    writer = _HangingWriter()

    async def main():
        await asyncio.wait_for(_conn_with(writer).close(), 5)

    asyncio.run(main())
    assert writer.closed


def test_close_reraises_the_cancellation_of_its_caller():
    async def main():
        task = asyncio.create_task(_conn_with(_HangingWriter()).close())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())
