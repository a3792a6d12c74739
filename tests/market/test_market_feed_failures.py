"""Issue 10 review: the feed coordinator's own machinery failing is visible. A watchdog tick that
raises refuses entries (lag and silence go unchecked) until one runs again; a market-data push or
a polled candle our own handler could not take is an event, not only a log line."""

from __future__ import annotations

import pytest

from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Candle

pytestmark = pytest.mark.timeout(60)

XRP = "XRP-USDT-SWAP"


def safety_events(feed, text: str) -> list[str]:
    return [e.detail for e in feed.bus.recent() if e.kind is FallbackKind.SAFETY and text in e.detail]


def watchdog_reasons(feed) -> list[str]:
    return [r for r in feed.coordinator.entries_allowed()[1] if r.startswith("feed watchdog failing")]


async def test_a_failing_watchdog_tick_refuses_entries_until_it_runs_again(
    feed_factory, wait_until, monkeypatch
) -> None:
    feed = await feed_factory(coalesce_s=0.0, watchdog_interval_s=0.05)
    coordinator = feed.coordinator
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open")
    watchdog = coordinator._watchdogs["public"]
    real_check = watchdog.check

    def broken_check(*args: object, **kwargs: object) -> object:
        raise RuntimeError("watchdog bug")

    monkeypatch.setattr(watchdog, "check", broken_check)
    # Old code logged the failure and carried on with entries open and lag unchecked.
    await wait_until(lambda: bool(watchdog_reasons(feed)), what="entries refused by the failing tick")
    assert "RuntimeError: watchdog bug" in watchdog_reasons(feed)[0]
    assert not coordinator.entries_allowed()[0]
    assert safety_events(feed, "feed watchdog tick failed (RuntimeError: watchdog bug)")

    monkeypatch.setattr(watchdog, "check", real_check)
    await wait_until(lambda: not watchdog_reasons(feed), what="the tick runs again")
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open again")
    assert safety_events(feed, "feed watchdog runs again after")


async def test_a_market_push_its_handler_could_not_take_is_an_event(feed_factory, wait_until) -> None:
    armed = [False]

    def on_tick(inst_id: str) -> None:
        if armed[0]:
            armed[0] = False
            raise RuntimeError("tick handler bug")

    feed = await feed_factory(coalesce_s=0.0, on_tick=on_tick)
    await wait_until(lambda: feed.registry.last_ticker(XRP) is not None, what="a first ticker")
    armed[0] = True
    # Old code counted it in the connection's health and logged it; no event reached the bus.
    await wait_until(lambda: bool(safety_events(feed, "push dropped: its handler failed")), what="the event")
    detail = safety_events(feed, "push dropped: its handler failed")[0]
    assert "tickers push handler failed: RuntimeError: tick handler bug" in detail
    public = next(h for h in feed.coordinator.health() if h.name == "public")
    assert public.handler_errors == 1


async def test_a_polled_candle_its_handler_could_not_take_is_an_event(feed_factory) -> None:
    def on_candle(candle: Candle) -> None:
        raise RuntimeError("indicator bug")

    feed = await feed_factory(coalesce_s=0.0, on_candle=on_candle)
    feed.coordinator._candle_from_poll(Candle(XRP, "1m", 0, 1.0, 1.0, 1.0, 1.0, 1.0, True))
    # Old code only logged it.
    (detail,) = safety_events(feed, "polled 1m candle dropped")
    assert "its handler failed: RuntimeError: indicator bug" in detail
