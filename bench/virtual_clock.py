"""Simulated seconds per wall second of the backtest's virtual clock (okxscalp/backtest/clock.py).

    python3 bench/virtual_clock.py [--quick]

Three cases, each on a fresh VirtualTimeEventLoop:
- `timers`: 24 h (2 h with --quick) of 0.1 s market steps plus the engine's other periods (1 s
  feed check, 5 s watchdog, 30 s balance poll, a 45 s cooldown every minute): the loop's own cost.
- `ws_push`: 1 h (10 min) of 0.1 s steps, each pushing one ticker-sized frame from a websockets
  server to a client on the same loop over loopback (the simulator -> engine shape): what real
  sockets and the in-flight meter add per step.
- `sim_tickers`: the real simulator (SimServer, 5 shipped instruments, 0.1 s steps, speed 1) on
  the virtual loop, one WebSocket subscriber to tickers of all 5, for 1 h (10 min): what the
  simulator's market and pushes cost per simulated second (SimServer(clock=the loop's clock)).
- `meter`: one InFlightMeter reading with the 4 connections the engine holds (8 metered sockets).
Last line: `RESULT {json}` (bench/run_all.py convention).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from okxscalp.backtest.clock import VIRTUAL_MONO_ORIGIN_S, InFlightMeter, VirtualTimeEventLoop, run_virtual
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.instruments import DEFAULT_INST_IDS
from okxscalp.sim.server import SimServer

START_WALL_S = 1_732_435_200.0
# The simulator drives its market every 20 ms of wall time at speed 1 (server.py) to keep fills
# prompt; under virtual time a drive between two 0.1 s steps has nothing to do, so drive per step.
DRIVE_INTERVAL_S = 0.1
TICKER_FRAME = ('{"arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP",'
                '"instId":"BTC-USDT-SWAP","last":"97000.1","lastSz":"0.01","askPx":"97000.2","askSz":"5",'
                '"bidPx":"97000.1","bidSz":"3","ts":"1732435200000"}]}')


def timers_case(hours: float) -> dict[str, float]:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        end = VIRTUAL_MONO_ORIGIN_S + hours * 3600.0
        fired = 0

        def cooldown_over() -> None:
            nonlocal fired
            fired += 1

        async def every(period_s: float, cooldowns: bool) -> None:
            nonlocal fired
            ticks = 0
            while (deadline := VIRTUAL_MONO_ORIGIN_S + (ticks + 1) * period_s) <= end:
                ticks += 1
                await asyncio.sleep(deadline - loop.time())
                fired += 1
                if cooldowns and ticks % 600 == 0:
                    loop.call_later(45.0, cooldown_over)

        await asyncio.gather(every(0.1, True), every(1.0, False), every(5.0, False), every(30.0, False))
        await asyncio.sleep(60.0)
        return fired

    started = time.perf_counter()
    fired = run_virtual(main, START_WALL_S)
    wall = time.perf_counter() - started
    sim_s = hours * 3600.0 + 60.0
    return {"timers_sim_s": sim_s, "timers_wall_s": round(wall, 3), "timers_fired": fired,
            "timers_sim_s_per_wall_s": round(sim_s / wall, 1), "timers_us_per_timer": round(wall / fired * 1e6, 2)}


def ws_push_case(hours: float) -> dict[str, float]:
    steps = int(hours * 36_000)

    async def main() -> int:
        received = 0
        done = asyncio.get_running_loop().create_future()

        async def pusher(connection: ServerConnection) -> None:
            for _ in range(steps):
                await asyncio.sleep(0.1)
                await connection.send(TICKER_FRAME)
            await done

        async with serve(pusher, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as client:
                while received < steps:
                    await client.recv()
                    received += 1
                done.set_result(None)
        return received

    started = time.perf_counter()
    received = run_virtual(main, START_WALL_S)
    wall = time.perf_counter() - started
    sim_s = steps * 0.1
    return {"ws_push_sim_s": sim_s, "ws_push_wall_s": round(wall, 3), "ws_push_frames": received,
            "ws_push_sim_s_per_wall_s": round(sim_s / wall, 1), "ws_push_us_per_step": round(wall / steps * 1e6, 2)}


def sim_tickers_case(hours: float) -> dict[str, float]:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeEventLoop)
        exchange = SimExchange(seed=7, speed=1.0, start_wall_s=loop.wall_s(), start_sim_ms=int(START_WALL_S * 1000),
                               inst_ids=DEFAULT_INST_IDS, tick_interval_s=0.1, history_minutes=60)
        server = SimServer(exchange, host="127.0.0.1", port=0, drive_interval_s=DRIVE_INTERVAL_S, clock=loop.clock)
        frames = 0
        try:
            await server.start()
            async with connect(f"{server.ws_url}/ws/v5/public") as client:
                args = [{"channel": "tickers", "instId": inst_id} for inst_id in DEFAULT_INST_IDS]
                await client.send(json.dumps({"op": "subscribe", "args": args}))
                end = loop.time() + hours * 3600.0
                while loop.time() < end:
                    await client.recv()
                    frames += 1
        finally:
            await server.stop()
        return frames, exchange.now_ms - int(START_WALL_S * 1000)

    started = time.perf_counter()
    frames, sim_ms = run_virtual(main, START_WALL_S)
    wall = time.perf_counter() - started
    sim_s = sim_ms / 1000.0
    return {"sim_tickers_sim_s": sim_s, "sim_tickers_wall_s": round(wall, 3), "sim_tickers_frames": frames,
            "sim_tickers_sim_s_per_wall_s": round(sim_s / wall, 1),
            "sim_tickers_us_per_step": round(wall / (sim_s * 10) * 1e6, 1)}


def meter_case(readings: int) -> dict[str, float]:
    listener = socket.create_server(("127.0.0.1", 0))
    pairs = []
    meter = InFlightMeter()
    for _ in range(4):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        client.sendall(b"x" * 100)
        server.recv(100)
        pairs.append((client, server))
        meter.track(client.fileno())
        meter.track(server.fileno())
    started = time.perf_counter()
    for _ in range(readings):
        meter.in_flight()
    wall = time.perf_counter() - started
    meter.close()
    for client, server in pairs:
        client.close()
        server.close()
    listener.close()
    return {"meter_sockets": 8, "meter_us_per_reading": round(wall / readings * 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 h of timers, 10 min of pushes")
    args = parser.parse_args()
    result: dict[str, float] = {}
    result.update(timers_case(2.0 if args.quick else 24.0))
    print(f"timers:  {result['timers_sim_s']:.0f} sim s in {result['timers_wall_s']:.2f} wall s "
          f"= {result['timers_sim_s_per_wall_s']:,.0f} sim s per wall s ({result['timers_fired']:,} timers)")
    result.update(ws_push_case(1 / 6 if args.quick else 1.0))
    print(f"ws_push: {result['ws_push_sim_s']:.0f} sim s in {result['ws_push_wall_s']:.2f} wall s "
          f"= {result['ws_push_sim_s_per_wall_s']:,.0f} sim s per wall s ({result['ws_push_us_per_step']} us per step)")
    result.update(sim_tickers_case(1 / 6 if args.quick else 1.0))
    print(f"sim_tickers: {result['sim_tickers_sim_s']:.0f} sim s in {result['sim_tickers_wall_s']:.2f} wall s "
          f"= {result['sim_tickers_sim_s_per_wall_s']:,.0f} sim s per wall s ({result['sim_tickers_frames']:,} "
          f"ticker frames, {result['sim_tickers_us_per_step']} us per 5-symbol step)")
    result.update(meter_case(20_000))
    print(f"meter:   {result['meter_us_per_reading']} us per in-flight reading of 8 sockets")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
