"""One scenario for the virtual loop's idle-time tests: an echo connection over loopback, one
exchange, ten simulated seconds of nothing but timers, then one more write and its reply. What the
loop did while idle (polls and in-flight readings skipped or taken) and how long the reply took."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from okxscalp.backtest.clock import VirtualTimeEventLoop, run_virtual

START_WALL_S = 1_700_000_000.0
IDLE_SLEEPS = 100  # of 0.1 s


@dataclass(frozen=True)
class IdleEcho:
    polls_skipped: int  # while idle
    meter_readings: int  # while idle
    meter_readings_skipped: int  # while idle
    reply: bytes  # to the write after the idle time
    took: float  # simulated seconds from that write to its reply


def idle_then_write(*, check_meter_skips: bool = False) -> IdleEcho:
    async def main() -> IdleEcho:
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
        await asyncio.sleep(0.1)  # the echo's write is read once, then all is quiescent
        polls, readings, skipped = loop.polls_skipped, loop.meter_readings, loop.meter_readings_skipped
        for _ in range(IDLE_SLEEPS):
            await asyncio.sleep(0.1)
        idle = (loop.polls_skipped - polls, loop.meter_readings - readings, loop.meter_readings_skipped - skipped)
        started = loop.time()
        writer.write(b"again")
        reply = await reader.readexactly(5)
        took = loop.time() - started
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return IdleEcho(*idle, reply, took)

    return run_virtual(main, START_WALL_S, check_meter_skips=check_meter_skips)
