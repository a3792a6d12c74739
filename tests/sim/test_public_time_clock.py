"""/public/time answers on the clock that stamps the simulator's data (sim time), as OKX has one
clock: at a speed factor it runs that many times wall time, and the skew fault moves it. The auth
windows stay on wall time (a client signs with its own wall clock)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from okxscalp.config.schema import RestSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import ACCOUNT_BALANCE, MARKET_TICKER, PUBLIC_TIME
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(30)


async def get_data(sim: Any, target: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.rest_url + target) as reply:
            body = await reply.json(content_type=None)
    assert body["code"] == "0", body
    return body["data"][0]


async def test_public_time_runs_at_the_speed_factor_on_the_data_clock(sim_factory) -> None:
    sim = await sim_factory(seed=7, speed=10.0)
    first, wall_first = int((await get_data(sim, PUBLIC_TIME.path))["ts"]), time.time()
    await asyncio.sleep(0.3)
    second, wall_second = int((await get_data(sim, PUBLIC_TIME.path))["ts"]), time.time()
    assert (second - first) / ((wall_second - wall_first) * 1000) == pytest.approx(10.0, rel=0.1)
    ticker_ts = int((await get_data(sim, MARKET_TICKER.path + "?instId=XRP-USDT-SWAP"))["ts"])
    now = int((await get_data(sim, PUBLIC_TIME.path))["ts"])
    assert 0 <= now - ticker_ts < 1_000  # the ticker is stamped on the same clock, a step or two ago
    sim.faults.skew_time(5_000)
    skewed = int((await get_data(sim, PUBLIC_TIME.path))["ts"])
    assert 4_900 < skewed - sim.exchange.sim_now_ms(time.time()) < 5_100


async def test_signed_requests_are_checked_against_wall_time_at_any_speed(sim_factory, sim_credentials: Credentials) -> None:
    sim = await sim_factory(seed=7, speed=60.0)
    await asyncio.sleep(0.6)  # sim time is now ~36 s ahead of wall time: beyond OKX's 30 s window
    async with RestClient(sim.rest_url, sim_credentials, RestSettings()) as rest:
        assert await rest.balance() is not None
    assert sim.counters.requests[ACCOUNT_BALANCE.path] >= 1
