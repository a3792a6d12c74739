"""Tick → order latency, in-process: from the receive time of the ticker frame that triggered a
signal to the moment the order is written to the socket — over the WebSocket trade channel (`op`
order frame) and over REST (the POST body), measured side by side in one run.

Setup: a SimServer on 127.0.0.1:0 and the real Engine against it, over real loopback sockets.
To get many samples the config makes signals fire on almost every tick (permissive signal rules),
keeps orders from filling (a 5 % offset) and cancels them quickly (0.3 s timeout), and the
per-symbol entry cooldown is set to 0. The path measured is the production one: ticker frame →
parse → registry → on_tick → regime/signal → ParameterProvider resolutions → ORDER-fresh read →
pricing and sizing → journal queue → order route (engine/order_route.py) → WsTradeChannel (limiter,
instIdCode, orjson frame) → aiohttp WebSocket write, or RestClient (limiter, signing) → aiohttp write.

Interleaved rounds (same engine, feed and config): the route's transport alternates between ws and
rest every ROUND_S seconds, so both see the same market, load and machine state.

"Written to the socket": for REST, aiohttp's request tracing (`on_request_chunk_sent` for the POST
/api/v5/trade/order body); for WS, the `order` frame handed to the transport (aiohttp's
WebSocketWriter `_write_websocket_frame`). The trigger time is the ticker's `recv_mono`.

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
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp._websocket.writer import WebSocketWriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from okxscalp.config import default_config_path, load_config
from okxscalp.engine import entries as entry_lifecycle
from okxscalp.engine.orchestrator import Engine, ExchangeEndpoints
from okxscalp.engine.order_route import OrderTransport
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import TRADE_ORDER

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT"]
# Speed 2: every public channel of 5 symbols, ~500 msgs/s into the engine — a busy real OKX feed.
# (At speed 30 the simulator pushes ~7000 msgs/s and the figure measures queueing behind them.)
SIM_SPEED = 2.0
ROUND_S = 2.0  # the transport alternates ws / rest every round


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


def _pin(cpu: int) -> None:
    """Keep this process on one core (Linux): the simulator stands for an exchange elsewhere, so
    it must not preempt the engine on its core the moment an order frame wakes it."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def _serve_sim(seed: int, speed: float, urls: Any) -> None:
    from okxscalp.sim.server import SimServer

    _pin(1)

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


@contextlib.contextmanager
def ws_order_tap(written: dict[str, float]) -> Iterator[None]:
    """Every `op: order` text frame on an aiohttp client WebSocket: its clOrdId → when the bytes were
    handed to the transport (`WebSocketWriter._write_websocket_frame`; both the channel's immediate
    write and `send` go through it)."""
    write_frame = WebSocketWriter._write_websocket_frame

    def tapped(self: WebSocketWriter, message: bytes, opcode: int, rsv: int) -> None:
        write_frame(self, message, opcode, rsv)
        now = time.monotonic()
        if b'"op":"order"' in message:  # parsed after the time is taken: the tap's own work is not measured
            try:
                written.setdefault(orjson.loads(message)["args"][0]["clOrdId"], now)
            except (ValueError, KeyError, IndexError, TypeError):
                return

    WebSocketWriter._write_websocket_frame = tapped  # type: ignore[method-assign]
    try:
        yield
    finally:
        WebSocketWriter._write_websocket_frame = write_frame  # type: ignore[method-assign]


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"samples": 0.0}
    return {
        "samples": float(len(samples)),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
    }


async def alternate(engine: Engine, duration_s: float, rounds: list[str]) -> None:
    """ws, rest, ws, … every ROUND_S until duration_s has passed."""
    route = engine.order_route
    assert route is not None
    end = time.monotonic() + duration_s
    transport = OrderTransport.WS
    while time.monotonic() < end:
        route.transport = transport
        rounds.append(transport.value)
        await asyncio.sleep(min(ROUND_S, max(0.0, end - time.monotonic())))
        transport = OrderTransport.REST if transport is OrderTransport.WS else OrderTransport.WS
    route.transport = OrderTransport.WS


async def run(duration_s: float, profile: str | None = None) -> dict[str, Any]:
    triggers: dict[str, float] = {}
    decided: dict[str, float] = {}  # clOrdId -> the send task spawned (the synchronous part done)
    rest_written: dict[str, float] = {}
    ws_written: dict[str, float] = {}

    async def on_chunk(session: Any, ctx: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
        now = time.monotonic()
        if params.method == "POST" and params.url.path == TRADE_ORDER.path and params.chunk:
            try:
                cl = json.loads(params.chunk)["clOrdId"]
            except (ValueError, KeyError, TypeError):
                return
            rest_written.setdefault(cl, now)

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk)
    rounds: list[str] = []
    _pin(0)
    with tempfile.TemporaryDirectory() as tmp, ws_order_tap(ws_written):
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
            def on_entry_sent(trigger: float, cl: str) -> None:
                triggers.setdefault(cl, trigger)
                decided.setdefault(cl, time.monotonic())

            engine.on_entry_sent = on_entry_sent
            task = asyncio.create_task(engine.run())
            try:
                await asyncio.wait_for(engine.started.wait(), 30)
                assert engine.trade_channel is not None
                for _ in range(200):  # logged in within 10 s (the channel dials once the engine started)
                    if engine.trade_channel.ready:
                        break
                    await asyncio.sleep(0.05)  # the channel exposes no event to wait on
                profiler = None
                if profile is not None:
                    from pyinstrument import Profiler

                    profiler = Profiler(interval=0.0001, async_mode="disabled")
                    profiler.start()
                await alternate(engine, duration_s, rounds)
                report = ""
                if profiler is not None:
                    profiler.stop()
                    # The tree, then the functions by their own time (the loop's idle epoll first).
                    report = (profiler.output_text(unicode=True, color=False, show_all=False) + "\n"
                              + profiler.output_text(unicode=True, color=False, flat=True))
                via_rest = engine.order_route.via_rest if engine.order_route is not None else -1
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await session.close()
    ws = [(ws_written[cl] - t) * 1000.0 for cl, t in triggers.items() if cl in ws_written]
    rest = [(rest_written[cl] - t) * 1000.0 for cl, t in triggers.items() if cl in rest_written]
    if not ws or not rest:
        raise SystemExit(f"too few orders sent: ws {len(ws)}, rest {len(rest)}: nothing to compare")
    # Where the time goes: tick → the entry decided and priced (synchronous, the same for both) and
    # decided → on the socket (the send task: journal row, route, budget, frame, write).
    ws_sync = [(decided[cl] - t) * 1000.0 for cl, t in triggers.items() if cl in ws_written]
    ws_send = [(ws_written[cl] - decided[cl]) * 1000.0 for cl in triggers if cl in ws_written]
    rest_send = [(rest_written[cl] - decided[cl]) * 1000.0 for cl in triggers if cl in rest_written]
    return {"ws": summary(ws), "rest": summary(rest), "ws_decide": summary(ws_sync), "ws_send": summary(ws_send),
            "rest_send": summary(rest_send), "rounds": len(rounds), "ws_fallbacks": via_rest, "profile": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (< 20 s)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of trading to measure")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="profile the measured rounds with pyinstrument and write its text report to FILE")
    args = parser.parse_args()
    duration = args.duration or (8.0 if args.quick else 30.0)
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(duration, args.profile))
    if args.profile:
        Path(args.profile).write_text(result["profile"])
    ws, rest = result["ws"], result["rest"]
    print(f"tick → order on the socket, {result['rounds']} interleaved rounds of {ROUND_S:g}s over {duration:g}s")
    print(f"  ws    {int(ws['samples'])} orders: p50 {ws['p50_ms']} ms   p99 {ws['p99_ms']} ms   max {ws['max_ms']} ms"
          "   (target p50 < 0.4 ms, p99 < 1 ms)")
    print(f"  rest  {int(rest['samples'])} orders: p50 {rest['p50_ms']} ms   p99 {rest['p99_ms']} ms   max {rest['max_ms']} ms"
          "   (target p99 < 5 ms)")
    for name in ("ws_decide", "ws_send", "rest_send"):
        part = result[name]
        print(f"  {name:10s} p50 {part.get('p50_ms')} ms   p99 {part.get('p99_ms')} ms")
    flat = {"samples": ws["samples"], "p50_ms": ws["p50_ms"], "p99_ms": ws["p99_ms"], "max_ms": ws["max_ms"],
            **{f"rest_{k}": v for k, v in rest.items()}, "rounds": result["rounds"],
            "ws_fallbacks": result["ws_fallbacks"],
            **{f"{name}_{k}": v for name in ("ws_decide", "ws_send") for k, v in result[name].items() if k != "samples"}}
    print("RESULT " + json.dumps(flat))


if __name__ == "__main__":
    main()
