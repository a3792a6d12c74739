"""WsHub.publish keeps each public (channel, instId)'s subscribers and push prefix in one route;
a route goes with its last subscriber, so a later subscriber (a new list) is pushed to, and a
session that left is not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from okxscalp.okx.constants import WS_PUBLIC_PATH

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
