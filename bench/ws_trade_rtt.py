"""WebSocket trade round trip: an order-op frame written on a logged-in /ws/v5/private connection →
its reply read and matched, against a SimServer in a child process over loopback.

Three paths, measured in interleaved rounds (same server, same op, same pacing):
- `raw` (websockets): build the frame with orjson, `send`, `recv`, orjson-parse, match the id. Split
  into the client's own time (building + `send` returning + parsing after `recv` woke) and the rest
  (loopback, the server's loop and its processing; the server's own inTime→outTime is reported too).
- `channel`: okxscalp.okx.ws_trade.WsTradeChannel.cancel_order, the production path (budget, frame,
  future, reply matched by id, ack parsed, the typed rejection raised).
- `picows` (only if the `picows` package is installed): the raw path with picows' transport.

The op is `cancel-order` of an order that does not exist (the exchange answers 51400 at once), so
nothing accumulates on the simulated account; ops rotate over five instruments and are paced below
OKX's 60 per 2 s per instrument. Figures in microseconds.

    python3 bench/ws_trade_rtt.py            # ~40 s
    python3 bench/ws_trade_rtt.py --quick    # ~12 s
Last line: `RESULT {json}`.

Measured 2026-11-30 (2 cores shared with several other jobs, so the tails are noisy), full run,
800 samples per path, µs:
    raw websockets  rtt p50 450 p99 1571 | client's own p50 101 p99 406 | server in→out p50 73
    channel         rtt p50 549 p99 2479 (p50 +98 over raw: the reader task's extra loop hop,
                    the budget, the future, the ack parsed, the rejection raised)
    raw picows      rtt p50 363 p99 2739 | client's own p50  59 p99 136
(a --quick run before it: raw 330/1008, channel 565/1566, picows 231/1064, own 63 vs 39.)
websockets was most of the client's own time (`send` is ~all of it), so picows was measured side
by side: its own time is ~40 % lower at p50, the round trip ~20 % lower at p50 and no better at p99
on this machine. Not a clear win at the tail, and a new compiled dependency, so it was not taken.
Since issue 14's third speed pass the channel is on aiohttp's WebSocket client (okx/ws.py WsLink,
the REST client's library, with a C frame reader): `channel` p50 508-543 µs against 676-682 with
websockets in `--quick` pairs. The library sits behind WsLink only; a picows listener (frames
handed to the waiting request in `on_ws_frame`, no reader-task hop) is still the change to make if
tick → order needs the ~40-100 µs.
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
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from okxscalp.okx.auth import Credentials, ws_login_args
from okxscalp.okx.constants import WS_PRIVATE_PATH
from okxscalp.okx.errors import OrderRejected
from okxscalp.okx.rest import RestClient
from okxscalp.okx.ws_trade import WsTradeChannel

INSTRUMENTS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP"]
PACE_S = 0.012  # ~83 ops/s over 5 instruments: ~17 per instrument per second, under OKX's 30/s


def _serve_sim(urls: Any) -> None:
    from okxscalp.sim.server import SimServer

    async def serve() -> None:
        server = SimServer(seed=11, speed=1.0)
        await server.start()
        urls.put((server.rest_url, server.ws_url))
        await asyncio.Event().wait()

    asyncio.run(serve())


@contextlib.contextmanager
def sim_process() -> Iterator[tuple[str, str]]:
    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    proc = ctx.Process(target=_serve_sim, args=(urls,), daemon=True)
    proc.start()
    try:
        yield urls.get(timeout=30)
    finally:
        proc.terminate()
        proc.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        f"{name}_p50_us": round(statistics.median(values), 1),
        f"{name}_p99_us": round(percentile(values, 0.99), 1),
        f"{name}_max_us": round(max(values), 1),
    }


class RawWebsockets:
    """A logged-in connection driven by hand: the floor under WsTradeChannel with websockets."""

    def __init__(self, url: str, creds: Credentials, codes: dict[str, int]) -> None:
        self.url, self.creds, self.codes = url, creds, codes
        self.ws: Any = None
        self.seq = 0
        self.rtt: list[float] = []
        self.own: list[float] = []
        self.server: list[float] = []

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, ping_interval=None, compression=None)
        await self.ws.send(orjson.dumps({"op": "login", "args": [ws_login_args(self.creds, time.time())]}), text=True)
        assert orjson.loads(await self.ws.recv(decode=False))["code"] == "0"

    async def close(self) -> None:
        await self.ws.close()

    async def one(self, inst_id: str) -> None:
        perf = time.perf_counter
        t0 = perf()
        self.seq += 1
        request_id = str(self.seq)
        frame = orjson.dumps({"id": request_id, "op": "cancel-order",
                              "args": [{"instIdCode": self.codes[inst_id], "clOrdId": "nosuch" + request_id}]})
        await self.ws.send(frame, text=True)
        t1 = perf()
        raw = await self.ws.recv(decode=False)
        t2 = perf()
        reply = orjson.loads(raw)
        assert reply["id"] == request_id, reply
        t3 = perf()
        self.rtt.append((t3 - t0) * 1e6)
        self.own.append(((t1 - t0) + (t3 - t2)) * 1e6)
        self.server.append(float(reply["outTime"]) - float(reply["inTime"]))


class ChannelPath:
    def __init__(self, channel: WsTradeChannel) -> None:
        self.channel = channel
        self.rtt: list[float] = []
        self.seq = 0

    async def one(self, inst_id: str) -> None:
        self.seq += 1
        t0 = time.perf_counter()
        try:
            await self.channel.cancel_order(inst_id, cl_ord_id=f"nosuchch{self.seq}")
        except OrderRejected as exc:
            assert exc.s_code == "51400", exc
        self.rtt.append((time.perf_counter() - t0) * 1e6)


def picows_path(url: str, creds: Credentials, codes: dict[str, int]) -> Any:
    """The raw path with picows, or None when picows is not installed."""
    try:
        import picows  # noqa: F401
    except ImportError:
        return None
    from picows import WSListener, WSMsgType, ws_connect

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.waiter: asyncio.Future[tuple[bytes, float]] | None = None

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT and self.waiter is not None and not self.waiter.done():
                self.waiter.set_result((frame.get_payload_as_bytes(), time.perf_counter()))

    class RawPicows:
        def __init__(self) -> None:
            self.rtt: list[float] = []
            self.own: list[float] = []
            self.seq = 0
            self.transport: Any = None
            self.listener: Any = None

        async def open(self) -> None:
            self.transport, self.listener = await ws_connect(Listener, url)
            self.listener.waiter = asyncio.get_running_loop().create_future()
            login = orjson.dumps({"op": "login", "args": [ws_login_args(creds, time.time())]})
            self.transport.send(WSMsgType.TEXT, login)
            raw, _ = await self.listener.waiter
            assert orjson.loads(raw)["code"] == "0"

        async def close(self) -> None:
            self.transport.disconnect()
            await self.transport.wait_disconnected()

        async def one(self, inst_id: str) -> None:
            perf = time.perf_counter
            t0 = perf()
            self.seq += 1
            request_id = str(self.seq)
            waiter = self.listener.waiter = asyncio.get_running_loop().create_future()
            frame = orjson.dumps({"id": request_id, "op": "cancel-order",
                                  "args": [{"instIdCode": codes[inst_id], "clOrdId": "nosuchp" + request_id}]})
            self.transport.send(WSMsgType.TEXT, frame)
            t1 = perf()
            raw, t2 = await waiter
            reply = orjson.loads(raw)
            assert reply["id"] == request_id, reply
            t3 = perf()
            self.rtt.append((t3 - t0) * 1e6)
            self.own.append(((t1 - t0) + (t3 - t2)) * 1e6)

    return RawPicows()


async def paced(one: Callable[[str], Awaitable[None]], samples: int) -> None:
    for i in range(samples):
        await one(INSTRUMENTS[i % len(INSTRUMENTS)])
        await asyncio.sleep(PACE_S)


async def run(rounds: int, per_round: int) -> dict[str, float]:
    from okxscalp.sim.server import SIM_CREDENTIALS as creds

    with sim_process() as (rest_url, ws_url):
        rest = RestClient(rest_url, creds)
        codes = {i.inst_id: i.inst_id_code for i in await rest.instruments() if i.inst_id_code is not None}
        raw = RawWebsockets(ws_url + WS_PRIVATE_PATH, creds, codes)
        await raw.open()
        channel = WsTradeChannel(ws_url, creds, rest)
        await channel.start()
        picows = picows_path(ws_url + WS_PRIVATE_PATH, creds, codes)
        if picows is not None:
            await picows.open()
        via = ChannelPath(channel)
        try:
            await paced(raw.one, 20)  # warm-up, discarded
            await paced(via.one, 20)
            raw.rtt.clear(), raw.own.clear(), raw.server.clear(), via.rtt.clear()
            if picows is not None:
                await paced(picows.one, 20)
                picows.rtt.clear(), picows.own.clear()
            for _ in range(rounds):
                await paced(raw.one, per_round)
                await paced(via.one, per_round)
                if picows is not None:
                    await paced(picows.one, per_round)
        finally:
            await channel.stop()
            await raw.close()
            if picows is not None:
                await picows.close()
            await rest.close()
    result: dict[str, float] = {"samples_per_path": float(len(raw.rtt))}
    result |= summary("raw_rtt", raw.rtt) | summary("raw_client_own", raw.own) | summary("server_in_out", raw.server)
    result |= summary("channel_rtt", via.rtt)
    result["channel_over_raw_p50_us"] = round(statistics.median(via.rtt) - statistics.median(raw.rtt), 1)
    if picows is not None:
        result |= summary("picows_rtt", picows.rtt) | summary("picows_client_own", picows.own)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (< 10 s)")
    args = parser.parse_args()
    rounds, per_round = (4, 50) if args.quick else (10, 80)
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(rounds, per_round))
    for key, value in result.items():
        print(f"{key:28s} {value:>10,.1f}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
