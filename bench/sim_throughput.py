"""Simulator push throughput: frames/s the simulator sends to ONE subscriber of `tickers` for
5 symbols.

The simulator runs in its own process (as `okxscalp sim` would) with a high speed factor, so
the market generator is not what limits the figure; the client only counts frames.

    python3 bench/sim_throughput.py            # 10 s measurement
    python3 bench/sim_throughput.py --quick    # 3 s measurement
    python3 bench/sim_throughput.py --profile  # pyinstrument profile of the simulator process

Last line: RESULT {"msgs_per_s": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

INST_IDS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP")


def run_simulator(port_out: Any, stop: Any, speed: float, profile: bool) -> None:
    """Child process: a SimServer on a free port until `stop` is set."""
    from okxscalp.sim.exchange import SimExchange
    from okxscalp.sim.server import SimServer

    async def main() -> None:
        exchange = SimExchange(seed=7, speed=speed, inst_ids=INST_IDS, history_minutes=5)
        server = SimServer(exchange, rate_limits=False, drive_interval_s=0.005)
        await server.start()
        port_out.put(server.port)
        started = time.perf_counter()
        await asyncio.to_thread(stop.wait)
        elapsed = time.perf_counter() - started
        print(f"simulator: {server.counters.messages_sent['tickers'] / elapsed:,.0f} tickers/s queued, "
              f"{exchange.now_ms - exchange.start_sim_ms:,} sim ms in {elapsed:.1f} s", flush=True)
        await server.stop()

    if profile:
        from pyinstrument import Profiler

        with Profiler(async_mode="disabled") as profiler:
            asyncio.run(main())
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    else:
        asyncio.run(main())


async def count_frames(url: str, warmup_s: float, measure_s: float) -> tuple[int, float]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        args = [{"channel": "tickers", "instId": inst} for inst in INST_IDS]
        await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
        start = time.perf_counter()
        counting = False
        frames = 0
        begin = start
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"connection ended: {message.type}")
            now = time.perf_counter()
            if not counting:
                if now - start >= warmup_s:
                    counting = True
                    begin = now
                continue
            frames += 1
            if now - begin >= measure_s:
                return frames, now - begin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s measurement instead of 10 s")
    parser.add_argument("--speed", type=float, default=2000.0, help="sim speed factor (default 2000: 100k tickers/s offered)")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the simulator")
    args = parser.parse_args()
    measure_s = 3.0 if args.quick else 10.0

    ctx = mp.get_context("spawn")
    port_out = ctx.Queue()
    stop = ctx.Event()
    child = ctx.Process(target=run_simulator, args=(port_out, stop, args.speed, args.profile), daemon=True)
    child.start()
    try:
        port = port_out.get(timeout=60)
        url = f"ws://127.0.0.1:{port}/ws/v5/public"
        frames, elapsed = asyncio.run(count_frames(url, warmup_s=1.0, measure_s=measure_s))
    finally:
        stop.set()
        child.join(timeout=30)
        if child.is_alive():
            child.terminate()
    rate = frames / elapsed
    print(f"simulator speed x{args.speed:g}, 5 symbols, tickers, one subscriber")
    print(f"{frames} frames in {elapsed:.2f} s = {rate:,.0f} msgs/s (target >= 20,000)")
    print("RESULT " + json.dumps({"msgs_per_s": round(rate, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
