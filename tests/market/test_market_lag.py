"""Sustained delivery delay, pure (injected clocks): the registry's age never falls below what the
exchange timestamp proves, a late ticker does not end a run of REST fallbacks, and the watchdog
turns persistent lateness into lagging and a forced reconnect."""

from __future__ import annotations

import pytest

from okxscalp.config.schema import FreshnessSettings, Purpose, WebSocketSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.delay import DelayEstimator
from okxscalp.market.exchange_clock import ExchangeClock, RoundTrip
from okxscalp.market.registry import DataRegistry, StaleData
from okxscalp.market.watchdog import SilenceWatchdog
from okxscalp.okx.models import Ticker

XRP = "XRP-USDT-SWAP"
WALL0 = 1_700_000_000.0  # local wall time at local monotonic 0; the exchange clock agrees (rate 1)


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ticker(recv: float, ts_ms: int) -> Ticker:
    return Ticker(XRP, 0.5, 0.4999, 0.5001, 10.0, 12.0, ts_ms, recv)


async def never_called() -> int:
    raise AssertionError("the test feeds the clock model directly")


def measured_clock(local: FakeClock, rate: float = 1.0, exchange_at_0: float = WALL0) -> ExchangeClock:
    """An ExchangeClock fed three prompt round trips ending at local time `local.t`."""
    clock = ExchangeClock(
        never_called, sync_interval_s=1.0, tolerance_s=0.25, mono=local, wall=lambda: WALL0 + local.t
    )
    for back in (2.0, 1.0, 0.0):
        t = local.t - back
        server_ms = round((exchange_at_0 + rate * (t + 0.001)) * 1000)
        clock.model.observe(RoundTrip(t, t + 0.002, WALL0 + t, WALL0 + t + 0.002, server_ms))
    assert clock.halt_reason() is None
    return clock


def exchange_ms(t: float, rate: float = 1.0) -> int:
    return round((WALL0 + rate * t) * 1000)


@pytest.mark.parametrize("rate", [1.0, 10.0])
def test_a_delay_longer_than_the_estimator_window_never_makes_data_look_fresh(rate: float) -> None:
    """3 s (exchange time) of delivery delay for 60 s against a 2 s estimator window: every ORDER
    read is refused, and every age is at least what the exchange timestamp proves."""
    local = FakeClock(10.0)
    clock = measured_clock(local, rate)
    registry = DataRegistry(
        FreshnessSettings(), EventBus(coalesce_s=0.0, clock=local), clock=local,
        delay_estimator=DelayEstimator(window_s=2.0, buckets=4), exchange_clock=clock,
    )
    step = 0.1 / rate  # a ticker every 0.1 s of exchange time (local seconds between them)
    sent = local.t
    while sent < 12.0:  # prompt traffic first: the estimator learns its baseline
        local.t = sent
        registry.on_ticker(ticker(sent, exchange_ms(sent, rate)))
        sent += step
    assert registry.read(XRP, Purpose.ORDER).age_s < 0.05  # the clock's uncertainty, on the older side
    delay_local = 3.0 / rate  # from now on every ticker arrives 3 s (exchange time) after it was sent
    end = sent + 60.0 / rate
    while sent < end:
        local.t = sent + delay_local
        registry.on_ticker(ticker(local.t, exchange_ms(sent, rate)))
        local.t += step / 2
        with pytest.raises(StaleData) as refused:
            registry.read(XRP, Purpose.ORDER)
        proven = (WALL0 + rate * local.t) - exchange_ms(sent, rate) / 1000
        assert refused.value.age_s is not None and refused.value.age_s >= proven - 0.002
        assert 3.0 - 0.002 <= (registry.lateness_s(XRP) or 0.0) < 3.1
        sent += step
    assert "delivery delay" in str(refused.value)


def test_ages_are_in_exchange_seconds_at_a_speed_factor() -> None:
    local = FakeClock(10.0)
    clock = measured_clock(local, rate=10.0)
    registry = DataRegistry(FreshnessSettings(), EventBus(), clock=local, exchange_clock=clock)
    registry.on_ticker(ticker(local.t, exchange_ms(local.t, 10.0)))
    local.t += 0.15  # 0.15 s of our time is 1.5 s of the exchange's
    age = registry.age_s(XRP)
    assert age == pytest.approx(1.5, abs=0.05)
    assert not registry.is_fresh(XRP, Purpose.ORDER) and registry.is_fresh(XRP, Purpose.EXIT)
    assert registry.exchange_now_ms() == pytest.approx(exchange_ms(local.t, 10.0), abs=30)


async def test_a_late_ticker_does_not_end_a_run_of_rest_fallbacks() -> None:
    local = FakeClock(10.0)
    clock = measured_clock(local)

    async def rest_ticker(inst_id: str) -> Ticker:
        return ticker(local.t, exchange_ms(local.t))

    registry = DataRegistry(FreshnessSettings(), EventBus(), rest_ticker, clock=local, exchange_clock=clock)
    registry.on_ticker(ticker(local.t, exchange_ms(local.t)))
    local.t += 4.0  # the WS quote is too old for an exit: REST serves it
    assert (await registry.read_exit(XRP)).source == "rest"
    assert registry.fallbacks_in_row(XRP) == 1
    registry.on_ticker(ticker(local.t, exchange_ms(local.t - 3.0)))  # flows, but 3 s late
    assert registry.lateness_s(XRP) == pytest.approx(3.0, abs=0.05)
    assert registry.fallbacks_in_row(XRP) == 1
    assert (await registry.read_exit(XRP)).source == "rest"
    assert registry.fallbacks_in_row(XRP) == 2
    local.t += 0.1
    registry.on_ticker(ticker(local.t, exchange_ms(local.t)))  # timely
    assert registry.fallbacks_in_row(XRP) == 0


def test_the_quote_carries_the_conservative_age_and_its_exchange_ts() -> None:
    local = FakeClock(10.0)
    clock = measured_clock(local)
    registry = DataRegistry(FreshnessSettings(), EventBus(), clock=local, exchange_clock=clock)
    ts = exchange_ms(local.t - 0.4)  # arrives 0.4 s late; the estimator has no baseline to see it
    registry.on_ticker(ticker(local.t, ts))
    local.t += 0.1
    quote = registry.read(XRP, Purpose.ORDER)
    assert quote.exchange_ts_ms == ts
    assert quote.age_s == pytest.approx(0.5, abs=0.01)


def test_watchdog_persistent_lateness_is_lagging_and_forces_a_reconnect() -> None:
    settings = WebSocketSettings(forced_reconnect_after_s=5.0)
    wd = SilenceWatchdog("public", settings)
    wd.watch("tickers", XRP, 0.0)
    seen = {"tickers": {XRP: 0.0}}

    def check(now: float, lateness: float | None):
        seen["tickers"][XRP] = now  # flowing: never silent
        return wd.check(now, 0.0, seen, 0, {XRP: lateness}, 1.0)

    assert check(1.0, 0.05).lagging == frozenset()
    first = check(1.25, 3.0)
    assert first.lagging == {XRP} and first.new_late == {("tickers", XRP)} and first.late == {XRP: 3.0}
    assert first.new_lagging == ((("tickers", XRP), 3.0),)
    assert check(1.5, None).lagging == {XRP}  # no ticker in this tick: still late
    now = 1.5
    while now < 8.0:
        now += 0.25
        result = check(now, 3.0)
        assert result.new_lagging == ()  # one LAGGING event per episode
        if result.force_reason is not None:
            break
    assert result.force_reason is not None and "lagging for" in result.force_reason and now >= 6.25 - 0.01
    back = check(now + 0.25, 0.05)  # one timely ticker in the tick: not persistently late
    assert back.lagging == frozenset() and back.recovered == (("tickers", XRP),) and back.late == {}
