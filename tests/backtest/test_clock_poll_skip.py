"""The virtual loop skips an idle poll that cannot find anything: the previous poll found nothing
ready and, since, nothing was written, connected or closed and every socket was quiescent (our
sockets become ready only from our own writes). A write is still read at once, and
`check_meter_skips` polls anyway and fails the run if a skipped poll would have found something."""

from __future__ import annotations

import asyncio

from okxscalp.backtest.clock import VirtualTimeEventLoop, run_virtual

START_WALL_S = 1_700_000_000.0


def _idle_then_write(check: bool) -> tuple[int, int, bytes, float]:
    async def main() -> tuple[int, int, bytes, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeEventLoop)

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(5):
                writer.write(data)
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        await asyncio.sleep(0.1)  # the echo's write is read, then nothing is written
        skipped = loop.polls_skipped
        for _ in range(100):
            await asyncio.sleep(0.1)
        idle_skips = loop.polls_skipped - skipped
        started = loop.time()
        writer.write(b"again")
        reply = await reader.readexactly(5)
        took = loop.time() - started
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return idle_skips, loop.polls_skipped, reply, took

    return run_virtual(main, START_WALL_S, check_meter_skips=check)


def test_idle_polls_are_skipped_and_the_next_write_is_read_at_once() -> None:
    idle_skips, _, reply, took = _idle_then_write(check=False)
    assert idle_skips >= 99  # one poll per sleep at most: the first after the last write
    assert (reply, took) == (b"again", 0.0)


def test_every_skipped_poll_is_checked_when_asked() -> None:
    # check_meter_skips polls where the loop skipped and raises VirtualClockStuck had it found
    # a ready socket: the run completes with the same outcome.
    assert _idle_then_write(check=True)[2:] == (b"again", 0.0)
