"""Market-area fixtures: a FeedCoordinator + DataRegistry + RestClient wired to a simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from okxscalp.config.schema import FreshnessSettings, RestSettings, WebSocketSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.exchange_clock import ExchangeClock
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.rest import RestClient

INSTS = ("XRP-USDT-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "DOGE-USDT-SWAP")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running acceptance test (about a minute)")


@dataclass
class Feed:
    sim: Any
    rest: RestClient
    bus: EventBus
    registry: DataRegistry
    coordinator: FeedCoordinator
    clock: ExchangeClock | None = None


async def _wait_until(predicate: Callable[[], bool], limit_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """`await wait_until(predicate, limit_s=10.0, what="...")`: poll every 20 ms or fail."""
    return _wait_until


@pytest.fixture
async def feed_factory(sim_factory, sim_credentials) -> AsyncIterator[Callable[..., Awaitable[Feed]]]:
    made: list[Feed] = []

    async def make(
        *,
        sim: Any = None,
        inst_ids: tuple[str, ...] = INSTS[:2],
        settings: WebSocketSettings | None = None,
        private: bool = True,
        coalesce_s: float = 1.0,
        exchange_clock: Callable[[RestClient, EventBus], ExchangeClock] | None = None,
        registry_kwargs: dict[str, Any] | None = None,
        **coordinator_kwargs: Any,
    ) -> Feed:
        server = sim or await sim_factory(seed=7, speed=1.0)
        rest = RestClient(server.rest_url, sim_credentials, RestSettings())
        bus = EventBus(coalesce_s=coalesce_s)
        clock = None
        if exchange_clock is not None:  # measured before anything reads it, as the engine does
            clock = exchange_clock(rest, bus)
            await clock.start()
            coordinator_kwargs["exchange_clock"] = clock
        registry = DataRegistry(
            FreshnessSettings(), bus, rest.ticker, inst_ids=inst_ids, exchange_clock=clock, **(registry_kwargs or {})
        )
        coordinator = FeedCoordinator(
            FeedUrls.from_base(server.ws_url),
            registry,
            inst_ids=inst_ids,
            settings=settings or WebSocketSettings(),
            credentials=sim_credentials if private else None,
            fetch_candles=rest.candles,
            **coordinator_kwargs,
        )
        feed = Feed(server, rest, bus, registry, coordinator, clock)
        made.append(feed)
        await coordinator.start()
        return feed

    yield make
    for feed in reversed(made):
        await feed.coordinator.stop()
        await feed.rest.close()
