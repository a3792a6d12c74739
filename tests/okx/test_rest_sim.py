"""RestClient against the embedded simulator over loopback: signing, retries under injected
429/50013, order idempotency by clOrdId, ambiguous outcomes, coalescing."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from okxscalp.config.schema import RestSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import (
    ACCOUNT_BALANCE,
    MARKET_TICKER,
    MARKET_TICKERS,
    PUBLIC_TIME,
    TRADE_GET_ORDER,
    TRADE_ORDER,
    Endpoint,
)
from okxscalp.okx.errors import (
    AmbiguousOrderOutcome,
    AuthError,
    ExchangeBusy,
    NetworkError,
    OrderNotPlaced,
    OrderRejected,
    RateLimited,
)
from okxscalp.okx.limiter import EndpointLimiters
from okxscalp.okx.models import OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
# Short, bounded retries so the fault windows below are outlived quickly.
FAST = RestSettings(max_retries=6, retry_base_s=0.05, retry_max_s=0.4, timeout_s=2.0)


@pytest.fixture
async def client(sim, sim_credentials):
    rest = RestClient(sim.rest_url, sim_credentials, FAST)
    yield rest
    await rest.close()


async def _market_order(rest: RestClient, sim, cl_ord_id: str, side: Side = Side.BUY) -> OrderRequest:
    instrument = (await rest.instruments(inst_id=INST))[0]
    pos_side = PosSide.LONG if (await rest.account_config()).pos_mode == "long_short_mode" else None
    if pos_side is not None and side is Side.SELL:
        pos_side = PosSide.SHORT
    return OrderRequest(INST, side, pos_side, "market", instrument.min_sz, cl_ord_id=cl_ord_id, td_mode="cross")


async def test_signed_calls_return_domain_objects(client: RestClient) -> None:
    assert await client.server_time() > 0
    instruments = await client.instruments()
    assert INST in {i.inst_id for i in instruments}
    ticker = await client.ticker(INST)
    assert ticker.inst_id == INST and ticker.bid <= ticker.ask and ticker.recv_mono > 0
    assert (await client.balance()).total_eq > 0
    assert (await client.account_config()).pos_mode in ("long_short_mode", "net_mode")
    assert isinstance(await client.positions(), list)
    candles = await client.candles(INST, "1m", 5)
    assert 0 < len(candles) <= 5 and candles == sorted(candles, key=lambda c: c.ts_ms)
    assert (await client.mark_price(INST)).mark_px > 0
    limits = await client.price_limit(INST)
    assert limits.buy_limit is None or limits.buy_limit > limits.sell_limit
    book = await client.books(INST, 5)
    assert book.asks and book.bids and book.bids[0].px < book.asks[0].px
    use = client.budget_use()
    assert 0 < use[MARKET_TICKER.path] <= 1 and use[TRADE_ORDER.path] == 0


async def test_wrong_secret_is_an_auth_error(sim, sim_credentials) -> None:
    wrong = Credentials(sim_credentials.api_key, "not-the-secret", sim_credentials.passphrase)
    async with RestClient(sim.rest_url, wrong, FAST) as rest:
        with pytest.raises(AuthError) as info:
            await rest.balance()
    assert info.value.code == "50113"
    assert "not-the-secret" not in repr(info.value) and "not-the-secret" not in repr(wrong)


async def test_order_lifecycle_and_definitive_rejection(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "lifecycle1")
    ack = await client.place_order(request)
    assert ack.ok and ack.cl_ord_id == "lifecycle1" and not ack.recovered
    order = await client.get_order(INST, cl_ord_id="lifecycle1")
    assert order is not None and order.ord_id == ack.ord_id
    assert await client.get_order(INST, cl_ord_id="neverplaced1") is None
    sim.faults.reject_next_order("51008", "Order failed. Insufficient USDT margin in account")
    with pytest.raises(OrderRejected) as info:
        await client.place_order(await _market_order(client, sim, "rejected1"))
    assert (info.value.s_code, info.value.cl_ord_id) == ("51008", "rejected1")
    assert sim.counters.orders_by_clordid["rejected1"] == 1


async def test_generated_cl_ord_id_when_caller_gives_none(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "")
    ack = await client.place_order(request)
    assert len(ack.cl_ord_id) == 32 and sim.counters.orders_by_clordid[ack.cl_ord_id] == 1


async def test_gets_outlive_a_429_storm_and_orders_are_not_repeated(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "storm1")
    sim.faults.rate_limit_storm(MARKET_TICKER.path, 0.4)
    sim.faults.rate_limit_storm(TRADE_ORDER.path, 0.4)
    with pytest.raises(RateLimited):
        await client.place_order(request)
    ticker = await client.ticker(INST)  # retried with backoff until the storm is over
    assert ticker.inst_id == INST
    assert sim.counters.http_429_injected[MARKET_TICKER.path] >= 1
    assert sim.counters.http_429_injected[TRADE_ORDER.path] == 1  # sent once, never retried
    assert sim.counters.orders_by_clordid["storm1"] == 0
    assert sim.counters.http_429[MARKET_TICKER.path] == 0  # our own budget never overran a limit


async def test_gets_outlive_a_busy_spell_and_orders_are_not_repeated(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "busy1")
    sim.faults.busy(0.4)
    balance = await client.balance()
    assert balance.total_eq > 0 and sim.counters.busy_injected[ACCOUNT_BALANCE.path] >= 1
    sim.faults.busy(0.4)
    with pytest.raises(ExchangeBusy):
        await client.place_order(request)
    assert sim.counters.busy_injected[TRADE_ORDER.path] == 1
    assert sim.counters.orders_by_clordid["busy1"] == 0


async def test_gets_give_up_after_their_bound(sim, sim_credentials) -> None:
    bounded = RestSettings(max_retries=2, retry_base_s=0.01, retry_max_s=0.02)
    async with RestClient(sim.rest_url, sim_credentials, bounded) as rest:
        sim.faults.busy(5.0, ACCOUNT_BALANCE.path)
        with pytest.raises(ExchangeBusy):
            await rest.balance()
        sim.faults.clear()
    assert sim.counters.busy_injected[ACCOUNT_BALANCE.path] == 3  # first try + 2 retries


async def test_lost_reply_is_resolved_by_cl_ord_id(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "lostreply1")
    sim.faults.drop_response_after_accept(1, TRADE_ORDER.path)
    ack = await client.place_order(request)
    assert ack.ok and ack.recovered and ack.cl_ord_id == "lostreply1" and ack.ord_id
    assert sim.counters.orders_by_clordid["lostreply1"] == 1  # looked up, not re-sent
    assert sim.counters.requests[TRADE_GET_ORDER.path] >= 1


async def test_late_reply_beyond_timeout_is_resolved_by_cl_ord_id(sim, sim_credentials) -> None:
    impatient = RestSettings(timeout_s=0.3, max_retries=4, retry_base_s=0.05, retry_max_s=0.2)
    async with RestClient(sim.rest_url, sim_credentials, impatient) as rest:
        request = await _market_order(rest, sim, "latereply1")
        sim.faults.timeout_after_accept(1.0, 1, TRADE_ORDER.path)
        ack = await rest.place_order(request)
    assert ack.recovered and sim.counters.orders_by_clordid["latereply1"] == 1


async def test_ambiguous_code_with_no_order_is_reported_not_placed(client: RestClient, sim) -> None:
    request = await _market_order(client, sim, "timedout1")
    sim.faults.reject_next_order("51149", "Order timed out")
    with pytest.raises(OrderNotPlaced) as info:
        await client.place_order(request)
    assert info.value.cl_ord_id == "timedout1"
    assert sim.counters.orders_by_clordid["timedout1"] == 1  # never re-sent
    assert sim.counters.requests[TRADE_GET_ORDER.path] >= 2  # confirmed twice before concluding


async def test_hundred_concurrent_ticker_reads_make_one_request(client: RestClient, sim) -> None:
    before = sim.counters.requests[MARKET_TICKER.path]
    tickers = await asyncio.gather(*(client.ticker("ETH-USDT-SWAP") for _ in range(100)))
    assert sim.counters.requests[MARKET_TICKER.path] - before == 1
    assert all(t is tickers[0] for t in tickers)


async def test_invalid_cl_ord_id_is_refused_before_sending(client: RestClient, sim) -> None:
    request = OrderRequest(INST, Side.BUY, PosSide.LONG, "market", "1", cl_ord_id="not-alnum!", td_mode="cross")
    with pytest.raises(ValueError, match="clOrdId"):
        await client.place_order(request)
    assert sim.counters.requests[TRADE_ORDER.path] == 0


async def test_many_symbols_at_once_are_served_by_one_batch_request(client: RestClient, sim) -> None:
    inst_ids = [i.inst_id for i in await client.instruments()]
    assert len(inst_ids) >= 5
    before = sim.counters.requests[MARKET_TICKER.path]
    tickers = await asyncio.gather(*(client.ticker(i) for i in inst_ids for _ in range(3)))
    assert [t.inst_id for t in tickers] == [i for i in inst_ids for _ in range(3)]
    singles = sim.counters.requests[MARKET_TICKER.path] - before
    # The single-ticker budget allows a burst of 2; the rest came from one /market/tickers call.
    assert singles == 2 and sim.counters.requests[MARKET_TICKERS.path] == 1
    assert sim.counters.http_429[MARKET_TICKER.path] == 0 and sim.counters.http_429[MARKET_TICKERS.path] == 0


async def test_conditional_stop_place_list_cancel(client: RestClient, sim) -> None:
    opened = await client.place_order(await _market_order(client, sim, "algoentry1"))
    assert opened.ok
    instrument = (await client.instruments(inst_id=INST))[0]
    long_mode = (await client.account_config()).pos_mode == "long_short_mode"
    stop_px = instrument.format_price((await client.ticker(INST)).last * 0.5, "down")
    ack = await client.place_algo_order(
        INST,
        side=Side.SELL,
        pos_side=PosSide.LONG if long_mode else None,
        sl_trigger_px=stop_px,
        td_mode="cross",
        algo_cl_ord_id="protect1",
    )
    assert ack.ok and ack.algo_id and sim.counters.orders_by_clordid["protect1"] == 1
    pending = {a.algo_id: a for a in await client.algo_orders_pending(INST)}
    stop = pending[ack.algo_id]
    assert (stop.algo_cl_ord_id, stop.sl_trigger_px, stop.close_fraction, stop.state) == (
        "protect1",
        float(stop_px),
        "1",
        "live",
    )
    (cancelled,) = await client.cancel_algo_orders([(INST, ack.algo_id)])
    assert cancelled.ok
    assert ack.algo_id not in {a.algo_id for a in await client.algo_orders_pending(INST)}
    (again,) = await client.cancel_algo_orders([(INST, ack.algo_id)])
    assert not again.ok  # already gone: reported per order, not raised


async def test_conditional_stop_without_position_is_rejected(client: RestClient, sim) -> None:
    long_mode = (await client.account_config()).pos_mode == "long_short_mode"
    with pytest.raises(OrderRejected) as info:
        await client.place_algo_order(
            "SOL-USDT-SWAP", side=Side.SELL, pos_side=PosSide.LONG if long_mode else None, sl_trigger_px="1", td_mode="cross"
        )
    assert info.value.s_code == "51169"


async def test_unresolvable_outcome_is_reported_ambiguous_never_resent(sim, sim_credentials) -> None:
    bounded = RestSettings(max_retries=2, retry_base_s=0.01, retry_max_s=0.02, timeout_s=0.3)
    async with RestClient(sim.rest_url, sim_credentials, bounded) as rest:
        request = await _market_order(rest, sim, "unknown1")
        # The order is executed, its reply held past the client's timeout; once the exchange has
        # it, a storm on the path keeps every lookup by clOrdId from getting through.
        sim.faults.timeout_after_accept(1.0, 1, TRADE_ORDER.path)

        async def storm_once_placed() -> None:
            while sim.counters.orders_by_clordid["unknown1"] == 0:  # noqa: ASYNC110 - a counter, no event
                await asyncio.sleep(0.005)
            sim.faults.rate_limit_storm(TRADE_GET_ORDER.path, 30.0)

        storm = asyncio.create_task(storm_once_placed())
        with pytest.raises(AmbiguousOrderOutcome) as info:
            await rest.place_order(request)
        await storm
        assert info.value.cl_ord_id == "unknown1" and "lookup" in str(info.value)
        assert sim.counters.orders_by_clordid["unknown1"] == 1  # never re-sent
        assert sim.counters.http_429_injected[TRADE_GET_ORDER.path] == 3  # bounded: first try + 2 retries
        sim.faults.clear()
        order = await rest.get_order(INST, cl_ord_id="unknown1")
        assert order is not None  # it had been placed: the engine reconciles from here


async def test_demo_header_and_a_shared_session(sim, sim_credentials) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def on_request_start(session, context, params) -> None:
        seen.append((params.url.path, dict(params.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        demo = RestClient(sim.rest_url, sim_credentials, FAST, demo=True, session=session)
        live = RestClient(sim.rest_url, sim_credentials, FAST, session=session)
        await demo.balance()
        await live.server_time()
        await demo.close()  # a borrowed session stays open for its owner
        await live.close()
        assert not session.closed
    (demo_path, demo_headers), (live_path, live_headers) = seen
    assert live_path == PUBLIC_TIME.path
    assert demo_path == ACCOUNT_BALANCE.path and demo_headers["x-simulated-trading"] == "1"
    assert "OK-ACCESS-SIGN" in demo_headers and "x-simulated-trading" not in live_headers
    assert "OK-ACCESS-KEY" not in live_headers  # public endpoints go unsigned


async def test_no_secret_reaches_the_log(sim, sim_credentials, caplog) -> None:
    caplog.set_level("DEBUG")
    async with RestClient(sim.rest_url, sim_credentials, FAST) as rest:
        request = await _market_order(rest, sim, "logcheck1")
        sim.faults.drop_response_after_accept(1, TRADE_ORDER.path)
        await rest.place_order(request)  # warning + info lines on the lookup path
        sim.faults.busy(0.2)
        await rest.balance()  # retry lines
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "logcheck1" in text  # the log did cover these paths
    assert sim_credentials.secret not in text and sim_credentials.passphrase not in text


async def test_network_errors_on_gets_are_retried_within_bounds(free_port, sim_credentials) -> None:
    bounded = RestSettings(max_retries=3, retry_base_s=0.01, retry_max_s=0.02, timeout_s=1.0)
    attempts: list[tuple[str, str]] = []

    async def on_request_start(session, context, params) -> None:
        attempts.append((params.method, params.url.path))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        rest = RestClient(f"http://127.0.0.1:{free_port}", sim_credentials, bounded, session=session)
        with pytest.raises(NetworkError, match="ClientConnectorError"):
            await rest.server_time()  # nothing listens there: refused, retried, then raised
        assert attempts == [("GET", PUBLIC_TIME.path)] * 4
        attempts.clear()
        request = OrderRequest(INST, Side.BUY, PosSide.LONG, "market", "1", cl_ord_id="refused1", td_mode="cross")
        with pytest.raises(AmbiguousOrderOutcome):
            await rest.place_order(request)  # not knowable: the order is looked up, never re-sent
        assert attempts == [("POST", TRADE_ORDER.path)] + [("GET", TRADE_GET_ORDER.path)] * 4
        await rest.close()


async def test_attached_tp_sl_pair_shows_up_in_pending_algos(client: RestClient, sim) -> None:
    instrument = (await client.instruments(inst_id=INST))[0]
    last = (await client.ticker(INST)).last
    request = await _market_order(client, sim, "withtpsl1")
    protected = OrderRequest(
        request.inst_id,
        request.side,
        request.pos_side,
        "market",
        request.sz,
        cl_ord_id="withtpsl1",
        td_mode="cross",
        attach_tp_trigger_px=instrument.format_price(last * 1.5, "up"),
        attach_sl_trigger_px=instrument.format_price(last * 0.5, "down"),
    )
    assert (await client.place_order(protected)).ok
    algos = await client.algo_orders_pending(INST)
    pair = [a for a in algos if a.tp_trigger_px is not None and a.sl_trigger_px is not None]
    assert len(pair) == 1 and pair[0].ord_type == "oco" and pair[0].state == "live"
    assert pair[0].sl_trigger_px == float(protected.attach_sl_trigger_px)


class _ShiftedWallClock:
    """The client's wall clock, `shift_s` ahead of the real one (time passing during a wait)."""

    def __init__(self) -> None:
        self.shift_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift_s


class _HeldBudget:
    """Wraps the client's limiters: after the real budget is taken, a request to `held` waits
    until `release` is set, i.e. a request that waits in the limiter for as long as the test wants."""

    def __init__(self, inner: EndpointLimiters, held: Endpoint) -> None:
        self.inner, self.held = inner, held
        self.waiting, self.release = asyncio.Event(), asyncio.Event()

    async def acquire(self, endpoint: Endpoint, *, inst_id: str = "", inst_type: str = "") -> None:
        await self.inner.acquire(endpoint, inst_id=inst_id, inst_type=inst_type)
        if endpoint is self.held:
            self.waiting.set()
            await self.release.wait()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_request_is_signed_after_its_wait_in_the_limiter(sim, sim_credentials) -> None:
    """OKX refuses a timestamp more than 30 s from its time (50102): a signature made before a
    long wait for the budget would be stale when the request finally leaves."""
    wall = _ShiftedWallClock()
    async with RestClient(sim.rest_url, sim_credentials, FAST, wall_clock=wall) as rest:
        budget = _HeldBudget(rest._limiters, ACCOUNT_BALANCE)
        rest._limiters = budget  # type: ignore[assignment]
        waiting = asyncio.create_task(rest.balance())
        await asyncio.wait_for(budget.waiting.wait(), 10)
        # 40 s pass for everyone while the request waits: the exchange's clock and ours.
        sim.faults.skew_time(40_000)
        wall.shift_s = 40.0
        budget.release.set()
        balance = await asyncio.wait_for(waiting, 10)
    assert balance.total_eq > 0
