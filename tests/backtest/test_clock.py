"""The virtual clock (okxscalp/backtest/clock.py): timers in simulated time, loopback I/O and
thread work that take none of it, and runs that repeat exactly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest
from aiohttp import web
from idle_echo import IDLE_SLEEPS, idle_then_write
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

import okxscalp.backtest.clock as clock_module
from okxscalp.backtest.clock import (
    VIRTUAL_MONO_ORIGIN_S,
    InFlightMeter,
    LiveClock,
    VirtualClock,
    VirtualClockStuck,
    VirtualTimeEventLoop,
    clock_of,
    run_virtual,
)
from okxscalp.clock import wake_after
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.instruments import DEFAULT_INST_IDS
from okxscalp.sim.server import SimServer

START_WALL_S = 1_700_000_000.0


def elapsed(loop: asyncio.AbstractEventLoop) -> float:
    return loop.time() - VIRTUAL_MONO_ORIGIN_S


def test_wake_after_wakes_when_asyncio_sleep_would_and_a_cancelled_wait_is_a_no_op() -> None:
    """okxscalp.clock.wake_after: the periodic checks' wait. Same instants as asyncio.sleep (two
    periodic tasks, one on each, interleaved with a third at another interval), and a task
    cancelled while waiting ends cleanly; its timer then fires into the cancelled future."""

    async def main() -> tuple[list[tuple[str, float]], bool]:
        loop = asyncio.get_running_loop()
        trace: list[tuple[str, float]] = []

        async def periodic(name: str, interval: float, wait: Callable[[float], Awaitable[object]]) -> None:
            while True:
                await wait(interval)
                trace.append((name, round(elapsed(loop), 9)))

        tasks = [
            asyncio.create_task(periodic("sleep", 0.25, asyncio.sleep)),
            asyncio.create_task(periodic("wake", 0.25, wake_after)),
            asyncio.create_task(periodic("other", 0.1, wake_after)),
        ]
        await asyncio.sleep(3.0)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.0)  # the cancelled waits' timers fire: nothing happens
        return trace, all(isinstance(r, asyncio.CancelledError) for r in results)

    trace, cancelled = run_virtual(main, START_WALL_S)
    assert cancelled
    sleeps = [t for name, t in trace if name == "sleep"]
    assert sleeps == [t for name, t in trace if name == "wake"] and len(sleeps) == 12
    assert len([t for name, t in trace if name == "other"]) in (29, 30)


def test_timers_fire_in_order_at_their_virtual_times() -> None:
    async def main() -> list[tuple[str, float, float]]:
        loop = asyncio.get_running_loop()
        trace: list[tuple[str, float, float]] = []

        def mark(name: str) -> None:
            trace.append((name, elapsed(loop), loop.wall_s()))

        loop.call_later(5.0, mark, "call_later 5")
        loop.call_later(1.0, mark, "call_later 1")
        loop.call_at(loop.time() + 3.0, mark, "call_at 3")

        async def sleeper() -> None:
            await asyncio.sleep(2.0)
            mark("sleep 2")
            await asyncio.sleep(2.5)
            mark("sleep 4.5")

        async def waiter() -> None:
            try:
                await asyncio.wait_for(loop.create_future(), timeout=3600.0)
            except TimeoutError:
                mark("wait_for 3600")

        await asyncio.gather(sleeper(), waiter())
        return trace

    trace = run_virtual(main, START_WALL_S)
    assert [(name, at) for name, at, _ in trace] == [
        ("call_later 1", 1.0), ("sleep 2", 2.0), ("call_at 3", 3.0), ("sleep 4.5", 4.5),
        ("call_later 5", 5.0), ("wait_for 3600", 3600.0),
    ]
    assert all(wall == START_WALL_S + at for _, at, wall in trace)


def test_idle_loop_jumps_only_to_timer_deadlines() -> None:
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeEventLoop)
        for _ in range(10):
            await asyncio.sleep(60.0)
        return elapsed(loop), loop.fast_forwards

    at, jumps = run_virtual(main, START_WALL_S)
    assert at == pytest.approx(600.0, abs=1e-9)
    assert jumps == 10


def run_market_day(hours: float) -> dict[str, int]:
    """0.1 s market steps for `hours` plus timers of other periods (1 s feed checks, 5 s
    watchdog, 30 s balance poll, one-shot cooldowns): the counts each saw."""

    async def main() -> dict[str, int]:
        loop = asyncio.get_running_loop()
        end = loop.time() + hours * 3600.0
        counts = {"steps": 0, "feed": 0, "watchdog": 0, "balance": 0, "cooldowns": 0}

        async def every(name: str, period_s: float) -> None:
            ticks = 0
            while True:
                ticks += 1
                deadline = VIRTUAL_MONO_ORIGIN_S + ticks * period_s  # no drift: absolute deadlines
                if deadline > end:
                    return
                await asyncio.sleep(deadline - loop.time())
                counts[name] += 1
                if name == "steps" and counts[name] % 600 == 0:
                    loop.call_later(45.0, counts.__setitem__, "cooldowns", counts["cooldowns"] + 1)

        await asyncio.gather(every("steps", 0.1), every("feed", 1.0), every("watchdog", 5.0),
                             every("balance", 30.0))
        await asyncio.sleep(60.0)  # the last cooldowns
        return counts

    return run_virtual(main, START_WALL_S)


def test_hours_of_market_steps_and_timers_all_fire() -> None:
    counts = run_market_day(2.0)
    assert counts == {"steps": 72_000, "feed": 7_200, "watchdog": 1_440, "balance": 240, "cooldowns": 120}


@pytest.mark.slow
def test_a_day_of_market_steps_and_timers_all_fire() -> None:
    counts = run_market_day(24.0)
    assert counts == {"steps": 864_000, "feed": 86_400, "watchdog": 17_280, "balance": 2_880,
                      "cooldowns": 1_440}


# ---------------------------------------------------------------------------- loopback I/O
def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def test_meter_counts_corked_bytes_as_in_flight_until_the_peer_has_them() -> None:
    client, server = tcp_pair()
    meter = InFlightMeter()
    try:
        meter.track(client.fileno())
        meter.track(server.fileno())
        assert not meter.in_flight()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # the kernel holds the bytes (<= 200 ms)
        client.send(b"ping")
        assert meter.in_flight()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)  # released: sent now
        assert server.recv(16) == b"ping"
        assert not meter.in_flight()
    finally:
        meter.close()
        client.close()
        server.close()
    assert client.fileno() == -1 and server.fileno() == -1  # the meter never closed them itself


def corked_round_trip_trace() -> list[str]:
    """A request whose bytes the kernel holds back (TCP_CORK, released by the kernel's own
    timer) to a server on the same loop, raced by a 0.1 s virtual timer: the reply must come
    first, at virtual time 0, because the loop may not jump time while bytes are on their way."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        trace: list[str] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"pong:" + await reader.readexactly(4))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        loop.call_later(0.1, lambda: trace.append(f"timer at {elapsed(loop):.3f}"))
        writer.write(b"ping")
        reply = await reader.readexactly(9)
        trace.append(f"{reply.decode()} at {elapsed(loop):.3f}")
        await asyncio.sleep(0.2)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return trace

    return run_virtual(main, START_WALL_S)


def test_a_reply_in_flight_is_not_skipped_over() -> None:
    assert corked_round_trip_trace() == ["pong:ping at 0.000", "timer at 0.100"]


def test_without_the_meter_the_loop_would_skip_over_the_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    # The control: the same scenario with the in-flight check disabled lets the timer win,
    # so the test above really exercises the meter.
    monkeypatch.setattr(InFlightMeter, "in_flight", lambda self: False)
    trace = corked_round_trip_trace()
    assert trace[0] == "timer at 0.100"


def test_http_round_trips_on_one_loop_take_no_virtual_time() -> None:
    async def main() -> tuple[list[str], float, float]:
        loop = asyncio.get_running_loop()

        async def handle(request: web.Request) -> web.Response:
            await asyncio.sleep(0.25)  # server-side latency, in virtual time
            return web.json_response({"n": int(request.query["n"])})

        app = web.Application()
        app.add_routes([web.get("/echo", handle)])
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        replies: list[str] = []
        started = loop.time()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10.0)) as session:
            for n in range(40):
                async with session.get(f"http://127.0.0.1:{port}/echo", params={"n": str(n)}) as response:
                    body = await response.json()
                replies.append(f"{body['n']}@{loop.time() - started:.2f}")
        await runner.cleanup()
        return replies, loop.time() - started, loop.wall_s() - START_WALL_S

    replies, took, wall_took = run_virtual(main, START_WALL_S)
    assert replies == [f"{n}@{(n + 1) * 0.25:.2f}" for n in range(40)]
    assert took == pytest.approx(10.0, abs=1e-6)
    assert wall_took == pytest.approx(took, abs=1e-6)


def test_websocket_keepalive_runs_in_virtual_time() -> None:
    """websockets' own ping/pong timers (20 s interval, 20 s timeout) over ten idle virtual
    minutes: every pong arrives in time because the round trip takes no virtual time."""

    async def main() -> tuple[int, bool]:
        pings = 0

        async def echo(connection: ServerConnection) -> None:
            async for message in connection:
                await connection.send(message)

        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", ping_interval=20.0, ping_timeout=20.0) as client:
                for _ in range(10):
                    await asyncio.sleep(60.0)
                    await client.send("still here")
                    assert await client.recv() == "still here"
                    pings += 1
                return pings, client.state.name == "OPEN"

    assert run_virtual(main, START_WALL_S) == (10, True)


# ---------------------------------------------------------------------------- threads
def test_thread_work_holds_virtual_time_still() -> None:
    """A 50 ms job in a thread, raced by a 10 ms virtual timer: the job finishes first, at
    virtual time 0 (the journal writer commits in no simulated time)."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        clock = clock_of(loop)
        assert isinstance(clock, VirtualClock)
        trace: list[str] = []
        loop.call_later(0.01, lambda: trace.append(f"timer at {elapsed(loop):.3f}"))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            await clock.wait_thread(pool.submit(time.sleep, 0.05))
            trace.append(f"wait_thread at {elapsed(loop):.3f}")
            await loop.run_in_executor(pool, time.sleep, 0.05)
            trace.append(f"run_in_executor at {elapsed(loop):.3f}")
            await asyncio.to_thread(time.sleep, 0.05)
            trace.append(f"to_thread at {elapsed(loop):.3f}")
        await asyncio.sleep(0.02)
        return trace

    assert run_virtual(main, START_WALL_S) == [
        "wait_thread at 0.000", "run_in_executor at 0.000", "to_thread at 0.000", "timer at 0.010"]


def test_a_thread_waking_an_idle_loop_without_timers() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(woken.set_result, None)).start()
        await woken
        return elapsed(loop)

    assert run_virtual(main, START_WALL_S) == 0.0


def test_a_task_spinning_on_sleep_0_still_gets_its_io() -> None:
    """The loop polls I/O mostly when idle; a task polling with sleep(0) keeps it busy, and must
    still see the reply (no hang, no simulated time spent)."""

    async def main() -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(5))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"hello")
        read = asyncio.ensure_future(reader.readexactly(5))
        while not read.done():  # noqa: ASYNC110 -- the spin is what this test is about
            await asyncio.sleep(0)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return read.result(), elapsed(loop)

    assert run_virtual(main, START_WALL_S) == (b"hello", 0.0)


# ---------------------------------------------------------------------------- determinism
def busy_scenario(*, check_meter_skips: bool = False) -> list[str]:
    """Five TCP clients talking to one server on the loop at staggered virtual times, timers
    and thread work in between: everything that can reorder does so here."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        trace: list[str] = []

        handlers: list[asyncio.Task[None]] = []

        async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.append(asyncio.current_task())  # type: ignore[arg-type]
            while line := await reader.readline():
                trace.append(f"{elapsed(loop):.3f} server got {line.decode().strip()}")
                writer.write(line.upper())
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def client(n: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for k in range(6):
                await asyncio.sleep(0.05 * ((n * 7 + k * 3) % 5))
                writer.write(f"c{n} m{k}\n".encode())
                reply = await reader.readline()
                trace.append(f"{elapsed(loop):.3f} c{n} got {reply.decode().strip()}")
                if k == 3:
                    await asyncio.to_thread(sum, range(1000))
                    trace.append(f"{elapsed(loop):.3f} c{n} thread done")
            writer.close()
            await writer.wait_closed()

        for n in range(5):
            loop.call_later(0.05 * n, lambda n=n: trace.append(f"{elapsed(loop):.3f} timer {n}"))
        await asyncio.gather(*(client(n) for n in range(5)))
        await asyncio.gather(*handlers)
        server.close()
        await server.wait_closed()
        return trace

    return run_virtual(main, START_WALL_S, check_meter_skips=check_meter_skips)


def test_two_runs_give_identical_traces() -> None:
    first = busy_scenario()
    assert len(first) > 60
    assert busy_scenario() == first


def test_readings_of_written_sockets_only_and_skipped_ones_miss_nothing() -> None:
    # check_meter_skips takes a full reading after every narrowed or skipped one and raises if
    # it finds bytes in flight: the write counting must see every write of the scenario.
    assert busy_scenario(check_meter_skips=True) == busy_scenario()


def test_an_idle_loop_with_open_connections_reads_no_tcp_info() -> None:
    """Nothing written since the sockets were last quiescent: no TCP_INFO reading at all while
    the loop idles through timers; the next write is read again (its reply lands at once)."""
    run = idle_then_write()
    assert run.meter_readings == 0
    assert run.meter_readings_skipped >= IDLE_SLEEPS
    assert (run.reply, run.took) == (b"again", 0.0)


def test_bytes_that_never_land_stop_the_run_instead_of_hanging_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong in-flight reading (or bytes that never arrive) must fail loudly, not spin forever.
    monkeypatch.setattr(clock_module, "SETTLE_LIMIT_S", 0.05)
    loop = VirtualTimeEventLoop(START_WALL_S)
    client, server = tcp_pair()
    try:
        loop.add_reader(server.fileno(), lambda: None)  # metered from now on
        sleeper = loop.create_task(asyncio.sleep(1.0))
        with monkeypatch.context() as patch:
            patch.setattr(InFlightMeter, "in_flight", lambda self: True)
            with pytest.raises(VirtualClockStuck, match="still in flight"):
                loop.run_until_complete(sleeper)
        sleeper.cancel()
        loop.run_until_complete(asyncio.gather(sleeper, return_exceptions=True))
        loop.remove_reader(server.fileno())
    finally:
        client.close()
        server.close()
        loop.close()


# ---------------------------------------------------------------------------- live
def test_live_clock_reads_the_os_clocks() -> None:
    async def main() -> tuple[float, float, float]:
        clock = clock_of(asyncio.get_running_loop())
        assert isinstance(clock, LiveClock)
        before = time.time()
        wall = clock.wall_s()
        await clock.sleep(0)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert await clock.wait_thread(pool.submit(sum, [1, 2, 3])) == 6
        return before, wall, clock.mono_s() - asyncio.get_running_loop().time()

    before, wall, mono_minus_loop = asyncio.run(main())
    assert wall >= before
    assert mono_minus_loop <= 0.0  # the same base as the default loop's time()



# ---------------------------------------------------------------------------- the simulator on the loop
def simulator_ticker_stream(minutes: float) -> list[tuple[str, int, str, int]]:
    """The real simulator (5 instruments, 0.1 s steps, speed 1) on the virtual loop, one
    subscriber to their tickers: (instId, ts, last, virtual wall ms at receipt) per push."""

    async def main() -> list[tuple[str, int, str, int]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeEventLoop)
        start_ms = int(START_WALL_S * 1000)
        exchange = SimExchange(seed=11, speed=1.0, start_wall_s=loop.wall_s(), start_sim_ms=start_ms,
                               inst_ids=DEFAULT_INST_IDS, tick_interval_s=0.1, history_minutes=60)
        server = SimServer(exchange, host="127.0.0.1", port=0, drive_interval_s=0.1, clock=loop.clock)
        stream: list[tuple[str, int, str, int]] = []
        await server.start()
        try:
            async with connect(f"{server.ws_url}/ws/v5/public") as client:
                args = [{"channel": "tickers", "instId": inst_id} for inst_id in DEFAULT_INST_IDS]
                await client.send(orjson.dumps({"op": "subscribe", "args": args}).decode())
                end = loop.time() + minutes * 60.0
                while loop.time() < end:
                    frame = orjson.loads(await client.recv())
                    for item in frame.get("data", []):
                        stream.append((item["instId"], int(item["ts"]), item["last"], int(loop.wall_s() * 1000)))
        finally:
            await server.stop()
        return stream

    return run_virtual(main, START_WALL_S)


def test_the_simulator_market_runs_on_virtual_time() -> None:
    first = simulator_ticker_stream(2.0)
    assert {inst_id for inst_id, *_ in first} == set(DEFAULT_INST_IDS)
    assert len(first) > 2 * 60 * 5  # live pacing: several pushes per instrument per second
    # Every push is stamped with the step it reports, at most one 0.1 s step before receipt.
    assert all(0 <= received - ts <= 100 for _, ts, _, received in first)
    assert first[-1][1] - first[0][1] >= 119_000
    assert simulator_ticker_stream(2.0) == first  # same seed, same clock: same market
