"""New WebSocket connections: OKX's "3 requests per second (based on IP)" counted per service URL
(okxscalp.sim.ws_api.connection_limit_key), so a client's start-up burst gets through."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from okxscalp.okx.constants import WS_BUSINESS_PATH, WS_PRIVATE_PATH, WS_PUBLIC_PATH

pytestmark = pytest.mark.timeout(30)


async def test_a_clients_four_start_up_connections_all_open(sim: Any) -> None:
    """Public, private and two business connections dialled together (as a data client and an
    execution client start side by side): within OKX's limit, so none is refused."""
    paths = (WS_PUBLIC_PATH, WS_PRIVATE_PATH, WS_BUSINESS_PATH, WS_BUSINESS_PATH)
    async with AsyncExitStack() as stack:
        dials = [stack.enter_async_context(websockets.connect(sim.ws_url + path)) for path in paths]
        connections = await asyncio.gather(*dials)
        for ws in connections:
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"
    assert sum(sim.counters.connections_rejected.values()) == 0
    assert sum(sim.counters.connections_total.values()) == 4


async def test_a_fourth_connection_to_one_url_within_a_second_is_refused_with_429(sim: Any) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(websockets.connect(sim.ws_url + WS_BUSINESS_PATH))
        with pytest.raises(InvalidStatus) as refused:
            await stack.enter_async_context(websockets.connect(sim.ws_url + WS_BUSINESS_PATH))
        # Another URL keeps its own count.
        await stack.enter_async_context(websockets.connect(sim.ws_url + WS_PUBLIC_PATH))
    assert refused.value.response.status_code == 429
    assert sim.counters.connections_rejected[WS_BUSINESS_PATH] == 1
    assert sim.counters.connections_rejected[WS_PUBLIC_PATH] == 0
