"""Ticker ingest into the DataRegistry on one core: msgs/s and receive → registry-updated latency.

    python3 bench/ingest.py [--quick]

Three measurements (the client side is pinned to one CPU core in each):
1. socket   — a loopback WebSocket server in another process writes pre-recorded OKX ticker frames
              as fast as the socket takes them; the real client path consumes them:
              WsConnection (aiohttp receive → parse_ws_frame) → FeedCoordinator dispatch →
              DataRegistry.on_ticker → engine on_tick hook. This is the headline figure
              (`msgs_per_s`, `p50_ms`, `p99_ms`).
2. inproc   — the same frames through the same parse + dispatch code the connection's read loop
              runs (parse_ws_frame → coordinator dispatch → registry), without a socket: the
              client + registry cost alone.
3. sim      — the embedded simulator at speed 20 pushing tickers for 5 symbols (its own pace, far
              below the client's capacity): latency under a realistic feed, and the rate it gave.
Latency = time.monotonic() when the frame left `recv()` (WsConnection stamps it on the push, and
the Ticker carries it) → after the registry stored it (measured in the on_tick hook).
Frames come from the simulator's market (SimExchange) with increasing exchange timestamps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from array import array

import orjson

from okxscalp.config.schema import WebSocketSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.messages import WsPush
from okxscalp.okx.parse import parse_ws_frame

CLIENT_CORE = 0
SERVER_CORE = 1


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def record_frames(count: int) -> list[bytes]:
    """Ticker frames of the simulator's 5 instruments, exchange ts strictly increasing."""
    from okxscalp.sim.exchange import SimExchange

    exchange = SimExchange(seed=7, start_wall_s=1_700_000_000.0, history_minutes=1)
    templates: list[dict] = []
    while len(templates) < 2000:
        exchange.advance_steps(10)
        templates.extend(e.data for e in exchange.drain_events() if e.channel == "tickers")
    base_ts = int(templates[0]["ts"])
    frames = []
    for i in range(count):
        item = dict(templates[i % len(templates)])
        item["ts"] = str(base_ts + i)  # 1 ms apart: never out of order for the registry
        frames.append(orjson.dumps({"arg": {"channel": "tickers", "instId": item["instId"]}, "data": [item]}))
    return frames


def percentiles_ms(samples: array) -> tuple[float, float]:
    data = sorted(samples)
    if not data:
        return float("nan"), float("nan")
    p50 = data[len(data) // 2]
    p99 = data[min(len(data) - 1, int(len(data) * 0.99))]
    return p50 * 1000.0, p99 * 1000.0


class LatencyHook:
    """The engine's on_tick: receive → registry-updated latency from the stored ticker."""

    def __init__(self, registry: DataRegistry, capacity: int, marks: tuple[int, ...] = ()) -> None:
        self.registry = registry
        self.samples = array("d", bytes(8 * capacity))
        self.n = 0
        self.capacity = capacity
        # message counts at which to note the time and wake a waiter (asyncio benches)
        self.marks = {m: asyncio.Event() for m in marks}
        self.mark_times: dict[int, float] = {}

    def __call__(self, inst_id: str) -> None:
        n = self.n
        if n < self.capacity:
            self.samples[n] = time.monotonic() - self.registry.last_ticker(inst_id).recv_mono
            self.n = n = n + 1
            if n in self.marks:
                self.mark_times[n] = time.perf_counter()
                self.marks[n].set()

    def collected(self) -> array:
        return self.samples[: self.n]


def build(inst_urls: FeedUrls, on_tick) -> tuple[DataRegistry, FeedCoordinator]:
    from okxscalp.sim.exchange import DEFAULT_INST_IDS

    registry = DataRegistry(bus=EventBus())
    return registry, FeedCoordinator(
        inst_urls, registry, inst_ids=DEFAULT_INST_IDS, settings=WebSocketSettings(), bars=(),
        public_channels=("tickers",), on_tick=on_tick, watchdog_interval_s=1.0,
    )


# --- 2. in-process ---------------------------------------------------------------------------


def bench_inproc(frames: list[bytes]) -> dict[str, float]:
    def once(batch: list[bytes]) -> tuple[float, LatencyHook]:
        hook_holder: list[LatencyHook] = []
        registry, coordinator = build(FeedUrls.from_base("ws://127.0.0.1:9"), lambda i: hook_holder[0](i))
        hook = LatencyHook(registry, len(batch))
        coordinator._on_tick = hook  # the engine's hook, called directly as in production
        dispatch = coordinator._public_push  # exactly what the public WsConnection calls per push
        monotonic = time.monotonic
        start = time.perf_counter()
        for raw in batch:  # the body of WsConnection._read, minus the socket
            frame = parse_ws_frame(raw, monotonic())
            if frame.__class__ is WsPush:
                dispatch(frame)
        return time.perf_counter() - start, hook

    once(frames[: len(frames) // 4])  # warm-up (allocator, caches), on a throwaway registry
    elapsed, hook = once(frames)
    p50, p99 = percentiles_ms(hook.collected())
    return {"msgs_per_s": len(frames) / elapsed, "p50_ms": p50, "p99_ms": p99, "n": len(frames)}


# --- 1. loopback socket ----------------------------------------------------------------------


def _ws_frame(payload: bytes) -> bytes:
    """One unmasked server→client text frame (RFC 6455)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def _blast_server(port_queue, frames: list[bytes]) -> None:
    pin(SERVER_CORE)
    from websockets.asyncio.server import serve

    wire = b"".join(_ws_frame(f) for f in frames)

    async def handler(ws) -> None:
        async for message in ws:  # answer pings and subscribe requests; blast after the first ack
            if message == "ping":
                await ws.send("pong")
                continue
            request = orjson.loads(message)
            for arg in request.get("args", []):
                await ws.send(orjson.dumps({"id": request.get("id", ""), "event": "subscribe", "arg": arg}).decode())
            if ws.request.path.endswith("/public"):
                transport = ws.transport
                chunk = 1 << 20
                for start in range(0, len(wire), chunk):
                    transport.write(wire[start : start + chunk])
                    # no event exists for "write buffer drained below N": poll it
                    while transport.get_write_buffer_size() > 4 * chunk:  # noqa: ASYNC110
                        await asyncio.sleep(0.0005)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


async def bench_socket(frames: list[bytes]) -> dict[str, float]:
    ctx = multiprocessing.get_context("fork")
    port_queue = ctx.Queue()
    proc = ctx.Process(target=_blast_server, args=(port_queue, frames), daemon=True)
    proc.start()
    try:
        port = port_queue.get(timeout=30)
        warm = len(frames) // 4  # the first quarter warms up; the rate is taken over the rest
        hook_holder: list[LatencyHook] = []
        registry, coordinator = build(FeedUrls.from_base(f"ws://127.0.0.1:{port}"), lambda i: hook_holder[0](i))
        hook = LatencyHook(registry, len(frames), marks=(warm, len(frames)))
        coordinator.connections["public"]._on_message = coordinator._public_push
        coordinator._on_tick = hook
        await coordinator.start()
        try:
            await asyncio.wait_for(hook.marks[len(frames)].wait(), 120)
        finally:
            await coordinator.stop()
        elapsed = hook.mark_times[len(frames)] - hook.mark_times[warm]
        rate = (len(frames) - warm) / elapsed
    finally:
        proc.terminate()
        proc.join(5)
    p50, p99 = percentiles_ms(hook.collected()[warm:])
    return {"msgs_per_s": rate, "p50_ms": p50, "p99_ms": p99, "n": hook.n - warm}


# --- 3. simulator ----------------------------------------------------------------------------


async def bench_sim(seconds: float) -> dict[str, float]:
    from okxscalp.sim.exchange import DEFAULT_INST_IDS
    from okxscalp.sim.server import SimServer

    sim = SimServer(seed=7, speed=20.0)
    await sim.start()
    try:
        registry = DataRegistry(bus=EventBus())
        hook = LatencyHook(registry, 1_000_000, marks=(1,))
        coordinator = FeedCoordinator(
            FeedUrls.from_base(sim.ws_url), registry, inst_ids=DEFAULT_INST_IDS,
            public_channels=("tickers",), bars=(), on_tick=hook,
        )
        await coordinator.start()
        await asyncio.wait_for(hook.marks[1].wait(), 30)
        start_n, start = hook.n, time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (hook.n - start_n) / (time.perf_counter() - start)
        await coordinator.stop()
    finally:
        await sim.stop()
    p50, p99 = percentiles_ms(hook.collected())
    return {"msgs_per_s": rate, "p50_ms": p50, "p99_ms": p99, "n": hook.n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter run (< 20 s)")
    args = parser.parse_args()
    count = 100_000 if args.quick else 300_000
    pin(CLIENT_CORE)
    frames = record_frames(count)
    print(f"frames: {count} pre-recorded ticker frames, {statistics.mean(map(len, frames[:1000])):.0f} bytes each")

    inproc = bench_inproc(frames)
    print(
        f"inproc  (parse + dispatch + registry, no socket): {inproc['msgs_per_s']:,.0f} msgs/s, "
        f"p50 {inproc['p50_ms']:.4f} ms, p99 {inproc['p99_ms']:.4f} ms"
    )
    sock = asyncio.run(bench_socket(frames))
    print(
        f"socket  (loopback WS → WsConnection → coordinator → registry): {sock['msgs_per_s']:,.0f} msgs/s, "
        f"p50 {sock['p50_ms']:.4f} ms, p99 {sock['p99_ms']:.4f} ms ({sock['n']:.0f} msgs)"
    )
    sim = asyncio.run(bench_sim(3.0 if args.quick else 10.0))
    print(
        f"sim     (simulator speed 20, 5 symbols; rate is the simulator's pace): {sim['msgs_per_s']:,.0f} msgs/s, "
        f"p50 {sim['p50_ms']:.4f} ms, p99 {sim['p99_ms']:.4f} ms"
    )
    result = {
        "msgs_per_s": round(sock["msgs_per_s"], 1),
        "p50_ms": round(sock["p50_ms"], 4),
        "p99_ms": round(sock["p99_ms"], 4),
        "inproc_msgs_per_s": round(inproc["msgs_per_s"], 1),
        "inproc_p50_ms": round(inproc["p50_ms"], 4),
        "inproc_p99_ms": round(inproc["p99_ms"], 4),
        "sim_msgs_per_s": round(sim["msgs_per_s"], 1),
        "sim_p50_ms": round(sim["p50_ms"], 4),
        "sim_p99_ms": round(sim["p99_ms"], 4),
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
