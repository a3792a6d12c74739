"""Acceptance: a whole-public-feed stall (default 60 s) with 20 instrument/channel pairs while EXIT
reads run every 100 ms per symbol. Exits keep being decided on ≤ 2 s data (REST fallback), the
simulator sees zero 429s and REST calls within every documented limit, the persistent lag forces
a reconnect, and fresh WS data resumes afterwards.

Marked `slow` (about STALL_S + 10 s). Shorten the stall for a quick look by editing STALL_S.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from okxscalp.config.schema import Purpose
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import Quote, StaleData
from okxscalp.okx.constants import ENDPOINTS, MARKET_TICKER, WS_PUBLIC_PATH

STALL_S = 60.0
READ_EVERY_S = 0.1
INSTS = ("XRP-USDT-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "DOGE-USDT-SWAP")
PUBLIC_CHANNELS = ("tickers", "books5", "mark-price", "price-limit")  # 5 × 4 = 20 pairs


@pytest.mark.slow
@pytest.mark.timeout(STALL_S + 60)
async def test_public_feed_outage_stays_within_rest_limits_and_recovers(feed_factory, wait_until) -> None:
    feed = await feed_factory(inst_ids=INSTS, private=False, public_channels=PUBLIC_CHANNELS)
    assert len(feed.coordinator.connections["public"].subscriptions) == 20
    await wait_until(lambda: all(feed.registry.is_fresh(i, Purpose.ORDER) for i in INSTS), what="fresh quotes")
    counters = feed.sim.counters
    requests_before = dict(counters.requests)
    connections_before = counters.connections_total[WS_PUBLIC_PATH]

    for channel in PUBLIC_CHANNELS:
        feed.sim.faults.stall(STALL_S, channel=channel)
    stall_started = time.monotonic()
    quotes: list[Quote] = []
    refusals: list[StaleData] = []

    async def exit_reads(inst_id: str) -> None:
        while time.monotonic() - stall_started < STALL_S + 3.0:
            try:
                quotes.append(await feed.registry.read_exit(inst_id))
            except StaleData as stale:
                refusals.append(stale)
            await asyncio.sleep(READ_EVERY_S)

    await asyncio.gather(*(exit_reads(i) for i in INSTS))
    elapsed = time.monotonic() - stall_started

    # Exits were decided on ≤ 2 s data throughout, over REST while the WS feed was silent.
    assert refusals == []
    assert all(q.age_s <= 2.0 for q in quotes)
    rest_quotes = [q for q in quotes if q.source == "rest"]
    assert {q.inst_id for q in rest_quotes} == set(INSTS)
    assert feed.bus.counts[FallbackKind.REST_FALLBACK.value] == len(rest_quotes)

    # Zero 429s, and every endpoint's request count within its documented limit over the run.
    assert sum(counters.http_429.values()) == 0
    for endpoint in ENDPOINTS:
        made = counters.requests[endpoint.path] - requests_before.get(endpoint.path, 0)
        windows = elapsed / endpoint.window_s + 1
        assert made <= endpoint.limit * windows, f"{endpoint.path}: {made} requests in {elapsed:.0f}s"
    ticker_calls = counters.requests[MARKET_TICKER.path] - requests_before.get(MARKET_TICKER.path, 0)
    assert ticker_calls <= len(INSTS) * (elapsed + 2)  # 1 s TTL cache: ≤ one call per symbol per second

    # The lag was seen and forced reconnects happened, without a storm of them.
    assert feed.coordinator.forced_reconnects["public"] >= 1
    assert counters.connections_total[WS_PUBLIC_PATH] > connections_before
    assert feed.coordinator.forced_reconnects["public"] <= 6
    assert feed.bus.counts[FallbackKind.LAGGING.value] >= 20

    # The bus stayed bounded: thousands of fallbacks, far fewer delivered events.
    assert feed.bus.published < feed.bus.counts[FallbackKind.REST_FALLBACK.value]

    # Fresh WS data resumed.
    await wait_until(
        lambda: all(feed.registry.is_fresh(i, Purpose.ORDER) for i in INSTS), limit_s=15.0, what="fresh again"
    )
    assert all(feed.registry.read(i, Purpose.ORDER).source == "ws" for i in INSTS)
