"""Issue 10, defect 1 against the simulator over loopback: a sustained delivery delay longer than
any estimator window, clock skew beyond tolerance, and ages in simulated seconds at a speed factor.

The audit in every test is the simulator's own clock: the *true* age of a quote is the simulator's
sim time now minus the quote's exchange timestamp. A registry age below it (beyond rounding) is
the defect."""

from __future__ import annotations

import asyncio
import time

import pytest

from okxscalp.config.schema import Purpose, WebSocketSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.delay import DelayEstimator
from okxscalp.market.events import FallbackKind
from okxscalp.market.exchange_clock import ExchangeClock
from okxscalp.market.registry import StaleData
from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.okx.health import ConnectionState
from okxscalp.okx.rest import RestClient

XRP, BTC = "XRP-USDT-SWAP", "BTC-USDT-SWAP"
ROUNDING_S = 0.02  # sim time is whole ms, and the two clocks are read microseconds apart

pytestmark = pytest.mark.timeout(60)


def clock_every(interval_s: float, tolerance_s: float = 0.25):
    def make(rest: RestClient, bus: EventBus) -> ExchangeClock:
        return ExchangeClock(rest.server_time, sync_interval_s=interval_s, tolerance_s=tolerance_s, bus=bus)

    return make


def public_up(feed) -> bool:
    return next(h for h in feed.coordinator.health() if h.name == "public").state is ConnectionState.UP


def reasons(feed) -> tuple[str, ...]:
    return feed.coordinator.entries_allowed()[1]


def has_reason(feed, head: str) -> bool:
    return any(r.startswith(head) for r in reasons(feed))


def clock_or_lag_reasons(feed) -> list[str]:
    return [r for r in reasons(feed) if r.startswith(("exchange clock", "public feed late"))]


def checked_read(feed, inst_id: str = XRP) -> float | None:
    """An ORDER read; if served, its age must be at least the true age (and within budget).
    Returns the served age, None when refused (a refusal's age must also be ≥ the true age)."""
    ticker = feed.registry.last_ticker(inst_id)
    # The exchange's time is taken before the read: a true age only grows, so the read's age must
    # be at least this one's (taken after, a loaded machine's pause between would count against it).
    sim_now_ms = feed.sim.exchange.sim_now_ms(time.time())
    try:
        quote = feed.registry.read(inst_id, Purpose.ORDER)
    except StaleData as stale:
        if ticker is not None:
            assert stale.age_s is not None and stale.age_s >= (sim_now_ms - ticker.ts_ms) / 1000.0 - ROUNDING_S
        return None
    assert quote.age_s >= (sim_now_ms - quote.exchange_ts_ms) / 1000.0 - ROUNDING_S, quote
    assert quote.age_s <= quote.budget_s
    return quote.age_s


async def test_sustained_delay_refuses_orders_throughout_is_lagging_forces_a_reconnect_then_recovers(
    sim_factory, feed_factory, wait_until
) -> None:
    sim = await sim_factory(seed=7, speed=4.0)
    feed = await feed_factory(
        sim=sim, private=False, public_channels=("tickers",), coalesce_s=0.0,
        settings=WebSocketSettings(forced_reconnect_after_s=1.0),
        exchange_clock=clock_every(0.5),
        # A 1 s estimator window: the 4 s delay below outlasts it four times over.
        registry_kwargs={"delay_estimator": DelayEstimator(window_s=1.0, buckets=4)},
    )
    await wait_until(lambda: public_up(feed) and checked_read(feed) is not None, what="fresh quotes")
    await wait_until(lambda: not clock_or_lag_reasons(feed), what="clock trusted")
    assert feed.clock is not None and feed.clock.rate == pytest.approx(4.0, rel=0.01)
    await asyncio.sleep(1.0)  # prompt traffic for the estimator's window
    connections_before = sim.counters.connections_total[WS_PUBLIC_PATH]

    start_sim_ms = sim.exchange.sim_now_ms(time.time())
    fault_s = 4.0
    fault_end = time.monotonic() + fault_s
    sim.faults.delay_messages(500, fault_s, path=WS_PUBLIC_PATH)  # 0.5 s wall = 2 s of sim time late

    def delayed_ticker_in() -> bool:
        ticker = feed.registry.last_ticker(XRP)
        return ticker is not None and ticker.ts_ms > start_sim_ms

    await wait_until(delayed_ticker_in, what="the first delayed ticker")
    refusals = 0
    late_named_at: float | None = None
    while time.monotonic() < fault_end - 0.1:
        assert checked_read(feed) is None, "an ORDER read was served during the delay"
        refusals += 1
        if has_reason(feed, "public feed late"):
            late_named_at = late_named_at or time.monotonic()
        elif late_named_at is not None:  # once named, entries stay refused, across the forced reconnect
            assert has_reason(feed, "public feed"), reasons(feed)
        await asyncio.sleep(0.02)
    assert refusals > 50 and late_named_at is not None
    lagging = [e for e in feed.bus.recent() if e.kind is FallbackKind.LAGGING and "arriving" in e.detail]
    assert lagging and lagging[0].component == "ws.public" and "ORDER budget" in lagging[0].detail
    forced = [e for e in feed.bus.recent() if e.kind is FallbackKind.FORCED_RECONNECT]
    assert feed.coordinator.forced_reconnects["public"] >= 1 and forced and "lagging" in forced[0].detail
    assert sim.counters.connections_total[WS_PUBLIC_PATH] > connections_before

    await wait_until(lambda: checked_read(feed) is not None, limit_s=15.0, what="fresh after the delay")
    await wait_until(lambda: not has_reason(feed, "public feed late"), what="lateness cleared")
    sim_now_ms = sim.exchange.sim_now_ms(time.time())  # before the read (see checked_read)
    quote = feed.registry.read(XRP, Purpose.ORDER)
    assert quote.age_s >= (sim_now_ms - quote.exchange_ts_ms) / 1000.0 - ROUNDING_S


async def test_clock_skew_beyond_tolerance_refuses_entries_by_name_until_it_is_gone(
    feed_factory, wait_until
) -> None:
    feed = await feed_factory(private=False, public_channels=("tickers",), coalesce_s=0.0, exchange_clock=clock_every(0.5))
    await wait_until(lambda: not clock_or_lag_reasons(feed), what="clock trusted")
    feed.sim.faults.skew_time(2000)  # the exchange's clock runs 2 s ahead of ours
    await wait_until(lambda: has_reason(feed, "exchange clock skewed (+"), what="skew refusal")
    assert any(e.kind is FallbackKind.CLOCK and "skewed" in e.detail for e in feed.bus.recent())
    assert checked_read(feed) is None  # by the exchange's clock, every tick is 2 s old
    feed.sim.faults.skew_time(0)
    await wait_until(lambda: not clock_or_lag_reasons(feed), what="skew gone")
    await wait_until(lambda: checked_read(feed) is not None, what="fresh again")
    assert any(e.kind is FallbackKind.CLOCK and "trusted" in e.detail for e in feed.bus.recent())


async def test_clock_jump_at_a_speed_factor_refuses_entries_until_remeasured(sim_factory, feed_factory, wait_until) -> None:
    sim = await sim_factory(seed=7, speed=4.0)
    feed = await feed_factory(
        sim=sim, private=False, public_channels=("tickers",), coalesce_s=0.0, exchange_clock=clock_every(0.5)
    )
    await wait_until(lambda: not clock_or_lag_reasons(feed), what="clock trusted")
    sim.faults.skew_time(-2500)
    await wait_until(lambda: has_reason(feed, "exchange clock jumped (-"), what="jump refusal")
    # Re-measuring: the published clock is the later of the two courses, so a read is never
    # younger than the truth even though /public/time now says 2.5 s less.
    for _ in range(10):
        checked_read(feed)
        await asyncio.sleep(0.05)
    await wait_until(lambda: not clock_or_lag_reasons(feed), what="re-measured")


async def test_ages_are_simulated_seconds_at_a_speed_factor(sim_factory, feed_factory, wait_until) -> None:
    sim = await sim_factory(seed=7, speed=10.0)
    feed = await feed_factory(sim=sim, private=False, public_channels=("tickers",), exchange_clock=clock_every(0.5))
    await wait_until(lambda: checked_read(feed) is not None and not clock_or_lag_reasons(feed), what="fresh, trusted")
    assert feed.clock is not None and feed.clock.rate == pytest.approx(10.0, rel=0.01)
    sim.faults.stall(0.3, channel="tickers", inst_id=XRP)
    stalled_at = time.monotonic()
    await asyncio.sleep(0.2)
    ticker = feed.registry.last_ticker(XRP)
    # Both clocks read before the age (see checked_read): at 10x, a pause of the test between
    # would count ten times against the bound.
    stalled_for_s = time.monotonic() - stalled_at
    sim_now_ms = sim.exchange.sim_now_ms(time.time())
    age = feed.registry.age_s(XRP)
    assert ticker is not None and age is not None
    # 0.2 s of wall time without a tick is ≥ 2 s of the exchange's time: refused for ORDER and EXIT.
    assert age >= 10.0 * stalled_for_s - 0.1
    assert age >= (sim_now_ms - ticker.ts_ms) / 1000.0 - ROUNDING_S
    assert not feed.registry.is_fresh(XRP, Purpose.EXIT)
    await wait_until(lambda: checked_read(feed) is not None, what="fresh after the stall")


async def test_a_public_feed_silent_for_every_symbol_refuses_entries_by_name(feed_factory, wait_until) -> None:
    """A delivery delay starts as silence (nothing arrives until the first late frame): entries
    are refused by name as soon as every symbol's tickers are silent, not only once late ones come."""
    feed = await feed_factory(private=False, public_channels=("tickers",), coalesce_s=0.0)
    await wait_until(lambda: checked_read(feed) is not None and checked_read(feed, BTC) is not None, what="fresh")
    assert not has_reason(feed, "public feed")
    feed.sim.faults.stall(3.0, channel="tickers", inst_id=XRP)  # one symbol: its reads are refused, no halt
    await wait_until(lambda: XRP in next(h for h in feed.coordinator.health() if h.name == "public").lagging,
                     what="XRP lagging")
    assert not has_reason(feed, "public feed")
    feed.sim.faults.clear()
    await wait_until(lambda: checked_read(feed) is not None, what="XRP fresh")
    feed.sim.faults.stall(3.0, channel="tickers")  # every symbol
    await wait_until(lambda: has_reason(feed, "public feed lagging"), what="named refusal")
    await wait_until(lambda: not has_reason(feed, "public feed"), limit_s=15.0, what="cleared after the stall")
