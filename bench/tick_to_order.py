"""Tick → order latency, in-process: from the receive time of the ticker frame that triggered a
signal to the moment the order request's body is written to the socket.

Setup: a SimServer on 127.0.0.1:0 and the real Engine against it, over real loopback sockets.
To get many samples the config makes signals fire on almost every tick (permissive signal rules),
keeps orders from filling (a 5 % offset) and cancels them quickly (0.3 s timeout), and the
per-symbol entry cooldown is set to 0. The path measured is the production one: ticker frame →
parse → registry → on_tick → regime/signal → ParameterProvider resolutions → ORDER-fresh read →
pricing and sizing → journal queue → RestClient (limiter, signing) → aiohttp write.

The "written to the socket" time comes from aiohttp's request tracing (`on_request_chunk_sent`
for the POST /api/v5/trade/order body); the trigger time is the ticker's `recv_mono`.

    python3 bench/tick_to_order.py            # ~30 s
    python3 bench/tick_to_order.py --quick    # ~12 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from okxscalp.config import default_config_path, load_config
from okxscalp.engine import entries as entry_lifecycle
from okxscalp.engine.orchestrator import Engine, ExchangeEndpoints
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import TRADE_ORDER

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT"]
# Speed 2: every public channel of 5 symbols, ~500 msgs/s into the engine — a busy real OKX feed.
# (At speed 30 the simulator pushes ~7000 msgs/s and the figure measures queueing behind them.)
SIM_SPEED = 2.0


def bench_config(tmp: Path) -> Any:
    doc = yaml.safe_load(Path(default_config_path()).read_text())
    doc["symbols"] = SYMBOLS
    doc["journal"]["path"] = str(tmp / "journal.sqlite")
    doc["scalping"]["max_positions"] = len(SYMBOLS)
    doc["scalping"]["signals"].update(
        pullback_atr=100.0, trend_rsi_min=0.0, trend_rsi_max=100.0,
        reversion_rsi_low=99.0, reversion_rsi_high=99.5, band_edge_fraction=0.5,
    )
    limit = doc["order_executor"]["limit_order"]
    limit["timeout_s"] = 0.3
    limit["default_offset_percent"] = 5.0
    for regime in limit["by_regime"].values():
        regime["limit_offset_percent"] = 5.0
    for sym in limit["by_symbol"].values():
        for regime in sym.get("by_regime", {}).values():
            regime["limit_offset_percent"] = 5.0
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_config(str(path))


def _serve_sim(seed: int, speed: float, urls: Any) -> None:
    from okxscalp.sim.server import SimServer

    async def serve() -> None:
        server = SimServer(seed=seed, speed=speed)
        await server.start()
        urls.put(server.rest_url)
        await asyncio.Event().wait()  # until the parent terminates this process

    asyncio.run(serve())


@contextlib.contextmanager
def sim_process(seed: int, speed: float) -> Iterator[str]:
    """A SimServer in a child process; yields its REST URL; terminated on exit."""
    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    proc = ctx.Process(target=_serve_sim, args=(seed, speed, urls), daemon=True)
    proc.start()
    try:
        yield urls.get(timeout=30)
    finally:
        proc.terminate()
        proc.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(duration_s: float) -> dict[str, float]:
    triggers: dict[str, float] = {}
    written: dict[str, float] = {}

    async def on_chunk(session: Any, ctx: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
        now = time.monotonic()
        if params.method == "POST" and params.url.path == TRADE_ORDER.path and params.chunk:
            try:
                cl = json.loads(params.chunk)["clOrdId"]
            except (ValueError, KeyError, TypeError):
                return
            written.setdefault(cl, now)

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk)
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(Path(tmp))
        entry_lifecycle.ENTRY_COOLDOWN_S = 0.0
        # The simulator runs in its own process: in production the exchange is elsewhere, and an
        # in-process simulator would queue its market and pushes in front of the engine (same
        # loop) or hold the GIL (same process, other thread).
        with sim_process(seed=7, speed=SIM_SPEED) as rest_url:
            session = aiohttp.ClientSession(trace_configs=[trace])
            sim = config.exchange.sim
            endpoints = ExchangeEndpoints(rest_url, "ws://" + rest_url.removeprefix("http://"),
                                          Credentials(sim.api_key, sim.api_secret, sim.passphrase))
            engine = Engine(config, endpoints, session=session)
            engine.on_entry_sent = lambda trigger, cl: triggers.setdefault(cl, trigger)
            task = asyncio.create_task(engine.run())
            try:
                await asyncio.wait_for(engine.started.wait(), 30)
                await asyncio.sleep(duration_s)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await session.close()
    samples = [(written[cl] - t) * 1000.0 for cl, t in triggers.items() if cl in written]
    if not samples:
        raise SystemExit("no orders were sent: nothing to measure")
    return {
        "samples": float(len(samples)),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (< 20 s)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of trading to measure")
    args = parser.parse_args()
    duration = args.duration or (8.0 if args.quick else 25.0)
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(duration))
    print(f"tick → order on the socket: {int(result['samples'])} orders over {duration:g}s")
    print(f"  p50 {result['p50_ms']} ms   p99 {result['p99_ms']} ms   max {result['max_ms']} ms   (target p99 < 5 ms)")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
