"""FeedCoordinator + DataRegistry against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from okxscalp.config.schema import Purpose, StormSettings, WebSocketSettings
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import StaleData
from okxscalp.okx.constants import MARKET_CANDLES, WS_BUSINESS_PATH, WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.okx.health import ConnectionState

XRP, BTC = "XRP-USDT-SWAP", "BTC-USDT-SWAP"

pytestmark = pytest.mark.timeout(60)


def health_of(feed, name: str):
    return next(h for h in feed.coordinator.health() if h.name == name)


def all_up(feed) -> bool:
    return all(h.state is ConnectionState.UP for h in feed.coordinator.health())


def fresh(feed, inst_id: str, purpose: Purpose = Purpose.ORDER) -> bool:
    return feed.registry.is_fresh(inst_id, purpose)  # no refusal event: the test's own poll


async def test_data_flows_into_the_registry_and_entries_open_after_reconciliation(feed_factory, wait_until) -> None:
    ticks: list[str] = []
    candles = []
    private = []
    reconciled: list[bool] = []
    feed = await feed_factory(on_tick=ticks.append, on_candle=candles.append, on_private=private.append)

    async def reconcile() -> None:
        reconciled.append(feed.coordinator.entries_allowed()[0])  # still closed while it runs

    feed.coordinator.add_reconcile_hook(reconcile)
    await wait_until(lambda: all_up(feed) and feed.coordinator.entries_allowed()[0], what="feeds up, gate open")
    await wait_until(lambda: fresh(feed, XRP) and fresh(feed, BTC), what="fresh quotes")
    await wait_until(lambda: bool(candles) and feed.registry.mark_price(XRP) is not None, what="candles, marks")
    await wait_until(lambda: feed.registry.price_limit(XRP) is not None, what="price limits")
    quote = feed.registry.read(XRP, Purpose.ORDER)
    assert quote.source == "ws" and quote.age_s <= 1.0 and quote.bid <= quote.ask
    assert set(ticks) == {XRP, BTC}
    assert {c.inst_id for c in candles} <= {XRP, BTC} and all(c.bar == "1m" for c in candles)
    assert {p.channel for p in private} <= {"orders", "positions", "account"}
    assert reconciled == [False]
    assert feed.registry.book_top(XRP) is not None
    assert feed.bus.counts[FallbackKind.STALE_REFUSED.value] == 0


async def test_stalled_symbol_refuses_order_then_signal_and_exit_falls_back_to_rest(feed_factory, wait_until) -> None:
    feed = await feed_factory(coalesce_s=0.0)
    await wait_until(lambda: fresh(feed, XRP) and fresh(feed, BTC), what="fresh quotes")
    feed.sim.faults.stall(20.0, inst_id=XRP)
    await wait_until(lambda: not fresh(feed, XRP, Purpose.ORDER), what="XRP older than the ORDER budget")
    with pytest.raises(StaleData) as order:
        feed.registry.read(XRP, Purpose.ORDER)
    assert order.value.age_s > 1.0 and order.value.budget_s == 1.0
    assert feed.registry.read(XRP, Purpose.SIGNAL).source == "ws"  # still within 3 s
    assert feed.registry.read(BTC, Purpose.ORDER).source == "ws"  # the others stay fresh

    await wait_until(lambda: not fresh(feed, XRP, Purpose.EXIT), what="XRP older than the EXIT budget")
    rest_before = feed.sim.counters.requests["/api/v5/market/ticker"]
    fallbacks_before = feed.bus.counts[FallbackKind.REST_FALLBACK.value]
    quotes = [await feed.registry.read_exit(XRP) for _ in range(3)]
    assert [q.source for q in quotes] == ["rest"] * 3
    assert all(q.age_s <= 2.0 and q.purpose is Purpose.EXIT for q in quotes)
    assert feed.bus.counts[FallbackKind.REST_FALLBACK.value] == fallbacks_before + 3  # one per fallback
    rest_events = [e for e in feed.bus.recent() if e.kind is FallbackKind.REST_FALLBACK]
    assert [e.symbol for e in rest_events] == [XRP] * 3 and all(e.source == "rest" for e in rest_events)
    assert feed.sim.counters.requests["/api/v5/market/ticker"] - rest_before == 1  # TTL-cached, not 3 calls

    await wait_until(lambda: not fresh(feed, XRP, Purpose.SIGNAL), what="XRP older than the SIGNAL budget")
    with pytest.raises(StaleData) as signal:
        feed.registry.read(XRP, Purpose.SIGNAL)
    assert signal.value.age_s > 3.0 and signal.value.budget_s == 3.0
    assert feed.registry.read(BTC, Purpose.ORDER).source == "ws"
    refusals = [e for e in feed.bus.recent() if e.kind is FallbackKind.STALE_REFUSED]
    assert {e.symbol for e in refusals} == {XRP} and len(refusals) == 2
    await wait_until(lambda: XRP in health_of(feed, "public").lagging, what="XRP lagging in health")
    assert BTC not in health_of(feed, "public").lagging
    assert any(e.kind is FallbackKind.LAGGING and e.symbol == XRP for e in feed.bus.recent())


async def test_reconnect_storm_trips_the_breaker_which_resets_when_stable(
    feed_factory, sim_factory, wait_until
) -> None:
    # The simulator's OKX limit of 3 new connections a second is lifted: five quick redials would
    # meet it, and its 429 is one more reconnect, so the breaker would trip a drop early.
    sim = await sim_factory(seed=7, speed=1.0, ws_connections_per_s=100)
    storm = StormSettings(max_reconnects=5, window_s=60.0, stable_after_s=1.5)
    feed = await feed_factory(sim=sim, settings=WebSocketSettings(storm=storm), private=False)
    await wait_until(lambda: all_up(feed), what="feeds up")
    for drop in range(6):
        before = health_of(feed, "public").reconnects
        assert feed.sim.faults.drop_connections(path=WS_PUBLIC_PATH) == 1
        await wait_until(
            lambda before=before: health_of(feed, "public").reconnects > before
            and health_of(feed, "public").state is ConnectionState.UP,
            what=f"reconnect after drop {drop + 1}",
        )
        if drop < 5:
            assert not health_of(feed, "public").breaker_open
    public = health_of(feed, "public")
    assert public.breaker_open and not health_of(feed, "business").breaker_open
    allowed, reasons = feed.coordinator.entries_allowed()
    assert not allowed and any("storm breaker open on public" in r for r in reasons)
    assert any(e.kind is FallbackKind.BREAKER for e in feed.bus.recent())
    await wait_until(lambda: not health_of(feed, "public").breaker_open, limit_s=10.0, what="breaker reset")
    allowed, reasons = feed.coordinator.entries_allowed()
    assert not any("storm" in r for r in reasons)


async def test_private_down_closes_the_gate_and_reconciliation_runs_before_it_reopens(
    feed_factory, wait_until
) -> None:
    feed = await feed_factory()
    coordinator = feed.coordinator
    runs: list[tuple[bool, tuple[str, ...]]] = []
    fail_next = [False]

    async def reconcile() -> None:  # what the engine's hook does: open orders and positions over REST
        runs.append(coordinator.entries_allowed())
        await feed.rest.orders_pending()
        await feed.rest.positions()
        assert not coordinator.entries_allowed()[0]  # entries stay closed while it runs
        if fail_next[0]:
            fail_next[0] = False
            raise ConnectionError("positions endpoint unreachable")

    coordinator.add_reconcile_hook(reconcile)
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open")
    assert len(runs) == 1

    fail_next[0] = True
    feed.sim.faults.refuse_connections(1.0)
    feed.sim.faults.drop_connections(path=WS_PRIVATE_PATH)
    await wait_until(lambda: not coordinator.entries_allowed()[0], what="gate closed")
    _, reasons = coordinator.entries_allowed()
    assert any("private stream" in r or "reconciliation" in r for r in reasons)
    await wait_until(lambda: len(runs) >= 2, what="reconcile after the private reconnect")
    await wait_until(
        lambda: "failed" in " ".join(coordinator.entries_allowed()[1]), what="failed reconciliation reported"
    )
    assert not coordinator.entries_allowed()[0]
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open again after a good reconcile")
    assert len(runs) == 3
    assert feed.sim.counters.requests["/api/v5/account/positions"] == 3  # REST reconciliation each time
    assert all(not allowed for allowed, _ in runs)
    assert all(any("reconciliation" in r for r in reasons) for _, reasons in runs)
    # opened at start, closed on the drop, reconcile failure reported, open again
    assert feed.bus.counts[FallbackKind.ENTRY_GATE.value] >= 4


async def test_malformed_frames_are_counted_and_change_nothing(feed_factory, wait_until) -> None:
    feed = await feed_factory(private=False)
    await wait_until(lambda: all_up(feed) and fresh(feed, XRP) and fresh(feed, BTC), what="fresh quotes")
    connections_before = feed.sim.counters.connections_total[WS_PUBLIC_PATH]
    reconnects_before = health_of(feed, "public").reconnects
    feed.sim.faults.stall(5.0)  # no good data meanwhile: whatever changes would be the bad frames
    await asyncio.sleep(0.3)
    before = {i: feed.registry.last_ticker(i) for i in (XRP, BTC)}
    kinds = ("truncated", "wrong_types", "unknown_channel", "empty_data", "not_json")
    for kind in kinds:
        assert feed.sim.faults.send_malformed(kind, path=WS_PUBLIC_PATH) == 1
    await wait_until(lambda: health_of(feed, "public").malformed >= len(kinds), what="malformed counted")
    assert {i: feed.registry.last_ticker(i) for i in (XRP, BTC)} == before
    assert all(feed.registry.last_ticker(i) is before[i] for i in (XRP, BTC))
    feed.sim.faults.clear()
    await wait_until(
        lambda: all(feed.registry.last_ticker(i) is not before[i] for i in (XRP, BTC)),
        what="new data after the bad frames",
    )
    assert health_of(feed, "public").reconnects == reconnects_before  # the reader survived
    assert feed.sim.counters.connections_total[WS_PUBLIC_PATH] == connections_before
    assert feed.bus.counts[FallbackKind.MALFORMED.value] == len(kinds)


async def test_candles_are_polled_over_rest_only_while_business_is_down(feed_factory, wait_until) -> None:
    feed = await feed_factory(inst_ids=(XRP, BTC), private=False)
    await wait_until(lambda: all_up(feed), what="feeds up")
    requests = feed.sim.counters.requests
    assert requests[MARKET_CANDLES.path] == 0  # business up: no polling
    feed.sim.faults.refuse_connections(2.0)
    feed.sim.faults.drop_connections(path=WS_BUSINESS_PATH)
    await wait_until(lambda: requests[MARKET_CANDLES.path] >= 2, what="candle polls")
    await wait_until(lambda: health_of(feed, "business").state is ConnectionState.UP, what="business back")
    await asyncio.sleep(0.5)
    polled = requests[MARKET_CANDLES.path]
    # one poll per symbol when polling starts, then at most one per symbol per closed 1m bar
    assert 2 <= polled <= 4
    assert feed.coordinator.poller is not None and feed.coordinator.poller.requests == polled
    await asyncio.sleep(1.0)
    assert requests[MARKET_CANDLES.path] == polled  # stopped once the feed was back
    events = [e for e in feed.bus.recent() if e.kind is FallbackKind.CANDLE_POLL]
    assert {e.symbol for e in events if e.source == "rest"} == {XRP, BTC}
    assert events[-1].detail.startswith("business feed back")
    assert feed.registry.last_closed_candle(XRP, "1m") is not None


async def test_operator_reconnect_of_one_connection(feed_factory, wait_until) -> None:
    feed = await feed_factory(private=False)
    await wait_until(lambda: all_up(feed), what="feeds up")
    feed.coordinator.request_reconnect("business")
    await wait_until(
        lambda: health_of(feed, "business").reconnects == 1 and all_up(feed), what="business reconnected"
    )
    assert health_of(feed, "public").reconnects == 0
    assert any(e.kind is FallbackKind.FORCED_RECONNECT and "operator" in e.detail for e in feed.bus.recent())
    with pytest.raises(ValueError, match="unknown connection"):
        feed.coordinator.request_reconnect("nope")


async def test_persistent_lag_forces_a_reconnect_and_fresh_data_resumes(feed_factory, wait_until) -> None:
    settings = WebSocketSettings(symbol_silence_s=0.5, forced_reconnect_after_s=1.0)
    feed = await feed_factory(settings=settings, private=False, public_channels=("tickers",))
    await wait_until(lambda: all_up(feed) and fresh(feed, XRP) and fresh(feed, BTC), what="fresh quotes")
    connections_before = feed.sim.counters.connections_total[WS_PUBLIC_PATH]
    feed.sim.faults.stall(3.0, channel="tickers")
    await wait_until(lambda: feed.coordinator.forced_reconnects["public"] >= 1, what="forced reconnect")
    assert {XRP, BTC} <= {e.symbol for e in feed.bus.recent() if e.kind is FallbackKind.LAGGING}
    forced = [e for e in feed.bus.recent() if e.kind is FallbackKind.FORCED_RECONNECT]
    assert forced and forced[0].component == "ws.public" and "lagging" in forced[0].detail
    await wait_until(
        lambda: feed.sim.counters.connections_total[WS_PUBLIC_PATH] > connections_before, what="new connection"
    )
    assert health_of(feed, "business").reconnects == 0  # only the lagging connection was recycled
    await wait_until(lambda: fresh(feed, XRP) and fresh(feed, BTC), limit_s=15.0, what="fresh after the stall")
    await wait_until(lambda: not health_of(feed, "public").lagging, what="lag cleared in health")


async def test_delayed_delivery_makes_prompt_looking_quotes_stale(feed_factory, wait_until) -> None:
    feed = await feed_factory(private=False, public_channels=("tickers",))
    await wait_until(lambda: all_up(feed) and fresh(feed, XRP), what="fresh quotes")
    await asyncio.sleep(1.0)  # a second of prompt traffic to learn the clock offset
    feed.sim.faults.delay_messages(1500, 4.0, path=WS_PUBLIC_PATH)

    def delayed_but_just_received() -> bool:
        ticker = feed.registry.last_ticker(XRP)
        just_received = time.monotonic() - ticker.recv_mono < 0.3
        return just_received and not fresh(feed, XRP, Purpose.ORDER)

    await wait_until(delayed_but_just_received, what="a just-received but 1.5 s old ticker")
    with pytest.raises(StaleData) as info:
        feed.registry.read(XRP, Purpose.ORDER)
    assert "delivery delay" in str(info.value) and info.value.age_s > 1.0
