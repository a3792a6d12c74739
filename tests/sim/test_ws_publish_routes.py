"""WsHub.publish keeps each public (channel, instId)'s subscribers and push prefix in one route;
a route goes with its last subscriber, so a later subscriber (a new list) is pushed to, and a
session that left is not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.events import SimEvent
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.faults import FaultInjector
from okxscalp.sim.ratelimit import RestRateLimiter
from okxscalp.sim.ws_api import WsHub
from okxscalp.sim.ws_session import WsSession

pytestmark = pytest.mark.timeout(30)

INST = "BTC-USDT-SWAP"
ARG = {"channel": "tickers", "instId": INST}
KEY = ("tickers", INST)


async def _ticker(ws: Any, within_s: float = 5.0) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if "data" in message and message["arg"] == ARG:
                return message

    return await asyncio.wait_for(loop(), within_s)


async def test_a_route_is_dropped_with_its_last_subscriber_and_rebuilt_for_the_next(sim: Any) -> None:
    hub = sim.hub
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as first:
        await first.send(json.dumps({"op": "subscribe", "args": [ARG]}))
        await _ticker(first)
        assert hub._routes[KEY][0] == [hub.sessions[WS_PUBLIC_PATH][0]]
        await first.send(json.dumps({"op": "unsubscribe", "args": [ARG]}))
        while json.loads(await asyncio.wait_for(first.recv(), 5.0)).get("event") != "unsubscribe":
            pass
        assert KEY not in hub._public and KEY not in hub._routes
        async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as second:
            await second.send(json.dumps({"op": "subscribe", "args": [ARG]}))
            push = await _ticker(second)
            assert push["data"][0]["instId"] == INST
            subscribers, prefix = hub._routes[KEY]
            assert subscribers is hub._public[KEY] and len(subscribers) == 1
            assert prefix == b'{"arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"data":['
            first_session = hub.sessions[WS_PUBLIC_PATH][0]
            assert first_session not in subscribers


class _Transport:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class _Ws:
    closed = False


async def test_messages_sent_counts_every_frame_pushed_per_subscriber() -> None:
    """publish counts a round's frames into messages_sent at its end: one per subscriber of each
    push, none for a channel without subscribers or a stalled one."""
    faults, counters = FaultInjector(), SimCounters()
    hub = WsHub(exchange=SimExchange(seed=1), credentials=Credentials("k", "s", "p"), faults=faults,
                counters=counters, before_command=lambda: None, after_command=lambda: None,
                limiter=RestRateLimiter(clock=lambda: 0.0), idle_s=30.0, connections_per_s=3, ops_per_hour=480)
    sessions = [WsSession(_Ws(), WS_PUBLIC_PATH, "x", _Transport(), faults=faults, max_pending=100,  # type: ignore[arg-type]
                          on_overflow=lambda s: None) for _ in range(2)]
    hub._public[KEY] = list(sessions)
    hub._public[("books5", INST)] = [sessions[0]]
    hub._public[("mark-price", INST)] = [sessions[1]]
    tick = SimEvent("tickers", INST, {"instId": INST})
    hub.publish([tick, SimEvent("books5", INST, {"asks": []}), tick, SimEvent("mark-price", "ETH-USDT-SWAP", {})])
    assert counters.messages_sent == {"tickers": 4, "books5": 1}
    faults.stall(60.0, "books5")
    hub.publish([tick, SimEvent("books5", INST, {"asks": []}), SimEvent("mark-price", INST, {})])
    assert counters.messages_sent == {"tickers": 6, "books5": 1, "mark-price": 1}
    assert [s.transport.written.count(b'"channel":"tickers"') for s in sessions] == [3, 3]
