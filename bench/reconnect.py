"""Reconnect latency: a dropped WebSocket connection (simulator fault) → the next fresh tick.

    python3 bench/reconnect.py            # 60 drops
    python3 bench/reconnect.py --quick    # 15 drops, < 20 s
    python3 bench/reconnect.py --drops 200

The simulator runs in this process on loopback (port 0); the client is the production
WsConnection with the process-wide ConnectGate (≤ 3 dials/s) and default WebSocketSettings.
For each drop: t0 = just before `faults.drop_connections("/ws/v5/public")`; t1 = receive time
(`WsPush.recv_mono`) of the first ticker delivered by the new connection. Drops are spaced
0.4-0.7 s apart (randomised, seeded) so the connect gate is never what is measured.
Target (SPEC 3.7): median < 1 s, p99 < 3 s. Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from okxscalp.config.schema import WebSocketSettings
from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.okx.messages import ChannelArg, WsPush
from okxscalp.okx.ws import ConnectGate, WsConnection
from okxscalp.sim.server import SimServer

INST_IDS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "XRP-USDT-SWAP")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


async def measure(drops: int, seed: int) -> list[float]:
    server = SimServer(seed=seed)
    await server.start()
    rng = random.Random(seed)
    first_fresh: list[float] = []  # recv_mono of the first ticker after the latest drop
    waiting = asyncio.Event()
    generation = {"reconnects_needed": 0}
    conn: WsConnection

    def on_message(push: WsPush) -> None:
        if push.channel != "tickers":
            return
        if conn.health.reconnects >= generation["reconnects_needed"] and not waiting.is_set():
            first_fresh.append(push.recv_mono)
            waiting.set()

    conn = WsConnection(
        "public",
        server.ws_url + WS_PUBLIC_PATH,
        WebSocketSettings(),
        on_message=on_message,
        connect_gate=ConnectGate(),
    )
    await conn.subscribe([ChannelArg("tickers", inst_id=i) for i in INST_IDS])
    runner = asyncio.create_task(conn.run())
    latencies: list[float] = []
    try:
        await asyncio.wait_for(waiting.wait(), 10)  # connected and ticking
        for n in range(1, drops + 1):
            await asyncio.sleep(0.4 + 0.3 * rng.random())
            waiting.clear()
            generation["reconnects_needed"] = conn.health.reconnects + 1
            t0 = time.monotonic()
            dropped = server.faults.drop_connections(WS_PUBLIC_PATH)
            if dropped != 1:
                raise RuntimeError(f"drop {n}: expected one connection to drop, dropped {dropped}")
            await asyncio.wait_for(waiting.wait(), 30)
            latencies.append(first_fresh[-1] - t0)
    finally:
        await conn.stop()
        await runner
        await server.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 drops (< 20 s)")
    parser.add_argument("--drops", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    drops = 15 if args.quick else args.drops
    latencies = asyncio.run(measure(drops, args.seed))
    median_s = statistics.median(latencies)
    p99_s = percentile(latencies, 99)
    print(f"drops: {len(latencies)}")
    print(
        f"dropped connection -> fresh tick: median {median_s * 1000:.1f} ms, p99 {p99_s * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms (targets: median < 1000 ms, p99 < 3000 ms)"
    )
    result = {
        "median_s": round(median_s, 4),
        "p99_s": round(p99_s, 4),
        "max_s": round(max(latencies), 4),
        "drops": len(latencies),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
