"""DataRegistry: per-purpose freshness, refusals and the EXIT REST fallback, all as bus events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okxscalp.config.schema import FreshnessSettings, Purpose
from okxscalp.market.bus import EventBus
from okxscalp.market.delay import DelayEstimator
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import DataRegistry, StaleData
from okxscalp.okx.errors import RateLimited
from okxscalp.okx.models import Candle, MarkPrice, PriceLimit, Regime, Ticker

XRP = "XRP-USDT-SWAP"
BTC = "BTC-USDT-SWAP"
T0_MS = 1_700_000_000_000


class FakeClock:
    def __init__(self, t: float = 500.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ticker(inst_id: str, recv: float, ts_ms: int, last: float = 0.5) -> Ticker:
    return Ticker(inst_id, last, last - 0.0001, last + 0.0001, 10.0, 12.0, ts_ms, recv)


def make(clock: FakeClock, rest=None, freshness: FreshnessSettings | None = None) -> DataRegistry:
    bus = EventBus(coalesce_s=0.0, clock=clock)
    return DataRegistry(freshness or FreshnessSettings(), bus, rest, clock=clock)


def kinds(reg: DataRegistry) -> list[FallbackKind]:
    return [e.kind for e in reg.bus.recent()]


def test_fresh_ticker_serves_every_purpose_with_its_source_and_age() -> None:
    clock = FakeClock()
    reg = make(clock)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += 0.4
    quote = reg.read(XRP, Purpose.ORDER)
    assert (quote.source, quote.bid, quote.ask, quote.ts_ms) == ("ws", 0.4999, 0.5001, T0_MS)
    assert quote.age_s == pytest.approx(0.4) and quote.budget_s == 1.0 and quote.purpose is Purpose.ORDER
    assert quote.value == 0.5
    assert kinds(reg) == []


@pytest.mark.parametrize(
    ("age", "refused"),
    [(0.9, set()), (1.1, {Purpose.ORDER}), (2.1, {Purpose.ORDER, Purpose.EXIT}),
     (3.1, {Purpose.ORDER, Purpose.EXIT, Purpose.SIGNAL}), (5.1, set(Purpose))],
)
def test_each_purpose_has_its_own_budget(age: float, refused: set[Purpose]) -> None:
    clock = FakeClock()
    reg = make(clock)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += age
    for purpose in Purpose:
        if purpose in refused:
            with pytest.raises(StaleData) as info:
                reg.read(XRP, purpose)
            assert (info.value.inst_id, info.value.purpose) == (XRP, purpose)
            assert info.value.age_s == pytest.approx(age)
            assert info.value.budget_s == FreshnessSettings().budget(purpose)
            assert purpose.value in str(info.value) and XRP in str(info.value)
        else:
            assert reg.read(XRP, purpose).age_s == pytest.approx(age)
    assert kinds(reg).count(FallbackKind.STALE_REFUSED) == len(refused)


def test_budgets_come_from_config() -> None:
    clock = FakeClock()
    reg = make(clock, freshness=FreshnessSettings(order_s=0.2))
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += 0.3
    with pytest.raises(StaleData):
        reg.read(XRP, Purpose.ORDER)


def test_unknown_symbol_is_refused_with_no_age() -> None:
    reg = make(FakeClock())
    with pytest.raises(StaleData) as info:
        reg.read(BTC, Purpose.GENERAL)
    assert info.value.age_s is None and "no data received" in str(info.value)
    (event,) = reg.bus.recent()
    assert (event.symbol, event.kind, event.source) == (BTC, FallbackKind.STALE_REFUSED, "none")


def test_a_candle_close_is_never_a_current_price() -> None:
    clock = FakeClock()
    reg = make(clock)
    reg.on_candle(Candle(XRP, "1m", T0_MS, 0.5, 0.51, 0.49, 0.505, 100.0, True))
    with pytest.raises(StaleData):
        reg.read(XRP, Purpose.GENERAL)
    assert reg.last_closed_candle(XRP, "1m").close == 0.505


def test_delayed_delivery_counts_as_older() -> None:
    clock = FakeClock()
    reg = make(clock)
    # a steady stream on the same connection establishes the clock offset
    for i in range(20):
        reg.on_ticker(ticker(BTC, clock.t, T0_MS + i * 100))
        clock.t += 0.1
    # this message left the exchange 0.8 s before it arrived (its ts lags the stream by 0.8 s)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS + 20 * 100 - 800))
    with pytest.raises(StaleData) as info:  # ORDER budget 1 s: 0.3 s local + 0.8 s delay
        clock.t += 0.3
        reg.read(XRP, Purpose.ORDER)
    assert info.value.age_s == pytest.approx(1.1)
    assert "delivery delay" in str(info.value)


def test_out_of_order_ticker_does_not_replace_a_newer_one() -> None:
    clock = FakeClock()
    reg = make(clock)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS + 1000, last=0.6))
    reg.on_ticker(ticker(XRP, clock.t, T0_MS, last=0.4))
    assert reg.read(XRP, Purpose.GENERAL).last == 0.6


async def test_exit_falls_back_to_rest_as_an_event_and_never_for_order_or_signal() -> None:
    clock = FakeClock()
    calls: list[str] = []

    async def rest(inst_id: str) -> Ticker:
        calls.append(inst_id)
        return ticker(inst_id, clock.t - 0.3, T0_MS + 9000, last=0.55)

    reg = make(clock, rest)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += 3.5
    quote = await reg.read_exit(XRP)
    assert (quote.source, quote.last, quote.purpose) == ("rest", 0.55, Purpose.EXIT)
    assert quote.age_s == pytest.approx(0.3)
    assert calls == [XRP]
    assert kinds(reg) == [FallbackKind.REST_FALLBACK]
    assert reg.bus.recent()[0].source == "rest"
    assert reg.fallbacks_in_row(XRP) == 1
    for purpose in (Purpose.ORDER, Purpose.SIGNAL):
        with pytest.raises(StaleData):
            reg.read(purpose=purpose, inst_id=XRP)  # the REST ticker was not stored as a quote
    assert calls == [XRP]
    reg.on_ticker(ticker(XRP, clock.t, T0_MS + 10_000))
    assert reg.fallbacks_in_row(XRP) == 0
    assert (await reg.read_exit(XRP)).source == "ws"
    assert calls == [XRP]


async def test_exit_refuses_when_rest_fails_or_is_too_old() -> None:
    clock = FakeClock()

    async def failing(inst_id: str) -> Ticker:
        raise RateLimited("50011", "Too Many Requests", http_status=429, path="/api/v5/market/ticker")

    reg = make(clock, failing)
    with pytest.raises(StaleData, match="REST fallback failed"):
        await reg.read_exit(XRP)

    async def old(inst_id: str) -> Ticker:
        return ticker(inst_id, clock.t - 2.5, T0_MS)

    reg.set_rest_quote(old)
    with pytest.raises(StaleData, match="REST ticker unusable"):
        await reg.read_exit(XRP)
    reg.set_rest_quote(None)
    with pytest.raises(StaleData):
        await reg.read_exit(XRP)
    assert kinds(reg) == [FallbackKind.STALE_REFUSED] * 3


def test_mark_limits_book_regime_and_freshness_view() -> None:
    clock = FakeClock()
    reg = make(clock)
    reg.on_mark_price(MarkPrice(XRP, 0.501, T0_MS), clock.t)
    reg.on_price_limit(PriceLimit(XRP, 0.51, 0.49, T0_MS, True), clock.t)
    reg.on_price_limit(PriceLimit(XRP, 0.6, 0.4, T0_MS - 1, True), clock.t)  # older: ignored
    reg.set_regime(XRP, Regime.CHOPPY, {"adx": 18.0})
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += 1.5
    assert reg.mark_price(XRP).mark_px == 0.501 and reg.mark_age_s(XRP) == pytest.approx(1.5)
    assert reg.price_limit(XRP).buy_limit == 0.51
    view = reg.freshness(XRP)
    assert view.satisfied == {Purpose.ORDER: False, Purpose.EXIT: True, Purpose.SIGNAL: True, Purpose.GENERAL: True}
    assert (view.source, view.regime, view.regime_inputs) == ("ws", Regime.CHOPPY, {"adx": 18.0})
    assert reg.freshness(BTC).source == "none" and not any(reg.freshness(BTC).satisfied.values())


def test_candle_series_keeps_closed_and_open_bars() -> None:
    reg = make(FakeClock())

    def candle(i: int, confirmed: bool, close: float = 1.0) -> Candle:
        return Candle(XRP, "1m", T0_MS + i * 60_000, 1.0, 1.0, 1.0, close, 1.0, confirmed)

    assert reg.on_candle(candle(0, False))
    assert reg.on_candle(candle(0, True))
    assert not reg.on_candle(candle(0, True))  # repeat
    assert not reg.on_candle(candle(0, False))  # late update of a closed bar
    assert reg.on_candle(candle(1, False, close=2.0))
    series = reg.candles(XRP, "1m")
    assert series.last_closed.ts_ms == T0_MS and series.open.close == 2.0
    small = DataRegistry(candle_history=3)
    for i in range(10):
        small.on_candle(candle(i, True))
    assert [c.ts_ms for c in small.candles(XRP, "1m").closed] == [T0_MS + i * 60_000 for i in (7, 8, 9)]


def test_delay_estimator_no_false_delay_at_sim_speed_10_and_detects_real_delay() -> None:
    est = DelayEstimator(window_s=10.0, buckets=5)
    speed = 10.0

    def ts_ms(wall: float) -> int:  # sim time runs 10x: exchange ts of a message made at `wall`
        return int(wall * speed * 1000)

    recv = 100.0
    for _ in range(300):  # 30 s of prompt messages
        assert est.observe(recv, ts_ms(recv)) == pytest.approx(0.0, abs=1e-6)
        recv += 0.1
    assert est.drift == pytest.approx(1 - speed, rel=0.05)
    # made 0.3 s ago, delivered now: 0.3 s wall = 3 s of sim time older
    assert est.observe(recv, ts_ms(recv - 0.3)) == pytest.approx(0.3 * speed, rel=0.05)
    assert est.observe(recv + 0.1, ts_ms(recv + 0.1)) == pytest.approx(0.0, abs=1e-3)
    assert est.offset_at(recv) == pytest.approx(recv - ts_ms(recv) / 1000, abs=1e-3)


def test_delay_estimator_no_growing_false_delay_at_sim_speed_half() -> None:
    est = DelayEstimator(window_s=10.0, buckets=5)
    recv, worst = 0.0, 0.0
    for i in range(600):  # 60 s at speed 0.5: the offset rises 0.5 s per second
        delay = est.observe(recv, int(recv * 0.5 * 1000))
        if i > 100:  # after the drift has been measured
            worst = max(worst, delay)
        recv += 0.1
    assert worst < 0.1


def test_a_sustained_delay_is_not_mistaken_for_drift() -> None:
    est = DelayEstimator(window_s=10.0, buckets=5)
    recv = 0.0
    for _ in range(200):  # 20 s prompt, constant offset
        est.observe(recv, int(recv * 1000))
        recv += 0.1
    delays = []
    for _ in range(40):  # then every message 0.5 s late for 4 s
        delays.append(est.observe(recv, int((recv - 0.5) * 1000)))
        recv += 0.1
    assert est.drift == 0.0
    assert min(delays) == pytest.approx(0.5, abs=0.01)


def test_delay_estimator_forgets_after_its_window() -> None:
    est = DelayEstimator(window_s=10.0, buckets=5)
    assert est.observe(0.0, 0) == 0.0
    # a clock step of +3 s on our side: counted as delay inside the window...
    assert est.observe(1.0, -2000) == pytest.approx(3.0)
    # ...and forgotten once the window has passed
    for i in range(1, 40):
        last = est.observe(1.0 + i * 0.5, int((1.0 + i * 0.5 - 3.0) * 1000))
    assert last == pytest.approx(0.0)
    assert est.offset_at(20.5) == pytest.approx(3.0)


def test_a_read_quote_is_the_frozen_dataclass_quote_field_by_field() -> None:
    """The registry builds its quotes through the slots' setters (_quote, speed): the result must be
    what `Quote(...)` makes, every field set, equal, hashable and frozen."""
    import dataclasses

    from okxscalp.market.registry import Quote

    clock = FakeClock()
    reg = make(clock)
    reg.on_ticker(ticker(XRP, clock.t, T0_MS))
    clock.t += 0.25
    quote = reg.read(XRP, Purpose.SIGNAL)
    expected = Quote(XRP, 0.5, 0.4999, 0.5001, "ws", quote.age_s, 3.0, Purpose.SIGNAL, T0_MS, 500.0)
    assert [f.name for f in dataclasses.fields(Quote)] == list(Quote.__slots__)
    for f in dataclasses.fields(Quote):
        assert getattr(quote, f.name) == getattr(expected, f.name), f.name
    assert type(quote) is Quote and quote == expected and hash(quote) == hash(expected)
    assert repr(quote) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quote.bid = 1.0  # type: ignore[misc]


class _Model:
    """An ExchangeClock model's published course (the attributes the registry reads)."""

    def __init__(self, published: bool, rate: float, ex_s: float, rate_hi: float, mono: float) -> None:
        self.published, self.trusted, self.rate = published, published, rate
        self.proj_ex_s, self.proj_rate_hi, self.proj_mono = ex_s, rate_hi, mono


@settings(max_examples=400, deadline=None)
@given(
    published=st.booleans(), rate=st.floats(0.5, 2.0), rate_hi=st.floats(0.5, 2.0), lag=st.floats(-5.0, 5.0),
    since=st.floats(0.0, 8.0), delay_ms=st.integers(0, 4000), purpose=st.sampled_from(list(Purpose)),
    with_clock=st.booleans(),
)
def test_a_read_measures_the_age_as_age_does(
    published: bool, rate: float, rate_hi: float, lag: float, since: float, delay_ms: int, purpose: Purpose,
    with_clock: bool,
) -> None:
    """`read` and `fresh_ticker` measure the age as `_age` does (one rule, `_fresh`): the same
    number, the same verdict against the budget, and a refusal that names that age."""
    clock = FakeClock()
    reg = make(clock)
    if with_clock:
        reg._xclock = _Model(published, rate, T0_MS / 1000 + lag, rate_hi, clock.t - 1.0)  # type: ignore[assignment]
    reg.on_ticker(ticker(XRP, clock.t - delay_ms / 1000, T0_MS))  # a late arrival shows as an estimated delay
    reg.on_ticker(ticker(XRP, clock.t, T0_MS + 10))
    clock.t += since
    slot = reg._slots[XRP]
    assert slot.ticker is not None
    expected = reg._age(slot.ticker.recv_mono, slot.ticker.ts_ms, slot.delay, clock.t)
    budget = reg.budget(purpose)
    try:
        quote = reg.read(XRP, purpose)
    except StaleData as stale:
        assert expected > budget and stale.age_s == expected and stale.budget_s == budget
    else:
        assert expected <= budget and quote.age_s == expected and quote.budget_s == budget
    # fresh_ticker: the same rule, and the same refusal, without the Quote
    refused_before = kinds(reg).count(FallbackKind.STALE_REFUSED)
    try:
        fresh = reg.fresh_ticker(XRP, purpose)
    except StaleData as stale:
        assert expected > budget and stale.age_s == expected and stale.budget_s == budget
        assert kinds(reg).count(FallbackKind.STALE_REFUSED) == refused_before + 1
    else:
        assert expected <= budget and fresh is slot.ticker


def test_fresh_ticker_without_data_is_refused_and_reported() -> None:
    clock = FakeClock()
    reg = make(clock)
    with pytest.raises(StaleData) as info:
        reg.fresh_ticker(BTC, Purpose.SIGNAL)
    assert info.value.age_s is None and kinds(reg) == [FallbackKind.STALE_REFUSED]
