"""Pure parts of the client: limiter arithmetic, TTL cache + coalescing, connect gate, backoff,
error mapping, order bodies. (Socket behaviour is tested against the simulator.)"""

from __future__ import annotations

import asyncio
import inspect
import random

import pytest

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.okx.constants import (
    ACCOUNT_CONFIG,
    ENDPOINTS,
    MARKET_TICKER,
    PUBLIC_INSTRUMENTS,
    TRADE_ORDER,
)
from okxscalp.okx.errors import (
    AuthError,
    ExchangeBusy,
    RateLimited,
    RequestError,
    WsOpsBudgetExceeded,
    error_for,
)
from okxscalp.okx.limiter import EndpointLimiters, _Bucket
from okxscalp.okx.messages import ChannelArg, WsEvent
from okxscalp.okx.models import OrderRequest, PosSide, Side
from okxscalp.okx.order_body import order_fields
from okxscalp.okx.rest import RestClient, _query, new_cl_ord_id
from okxscalp.okx.ttl_cache import TtlCache
from okxscalp.okx.ws import ConnectGate, WsConnection, _OpsBudget, backoff_delay

# --- limiter ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
@pytest.mark.parametrize("margin", [0.5, 0.8, 1.0])
def test_bucket_never_allows_more_than_the_documented_limit_per_window(endpoint, margin) -> None:
    bucket = _Bucket(endpoint, margin)
    burst = bucket.limiter.max_rate
    refill_per_window = burst / bucket.limiter.time_period * endpoint.window_s
    # Worst case in any window: a full burst, then everything refilled during the window.
    assert burst + refill_per_window <= endpoint.limit + 1e-9
    assert refill_per_window >= min(endpoint.limit * margin, endpoint.limit) - 1 - 1e-9


def test_bucket_keys_follow_the_documented_key() -> None:
    key = EndpointLimiters.bucket_key
    assert key(TRADE_ORDER, inst_id="A") == "A" and key(TRADE_ORDER, inst_id="B") == "B"
    assert key(PUBLIC_INSTRUMENTS, inst_type="SWAP") == "SWAP"
    assert key(MARKET_TICKER, inst_id="A") == ""  # per IP: one bucket for every instrument
    assert key(ACCOUNT_CONFIG) == ""


async def test_budget_use_counts_recent_requests_per_bucket() -> None:
    now = [100.0]
    limiters = EndpointLimiters(0.8, clock=lambda: now[0])
    for _ in range(3):
        await limiters.acquire(TRADE_ORDER, inst_id="A")
    await limiters.acquire(TRADE_ORDER, inst_id="B")
    use = limiters.budget_use()
    assert use[TRADE_ORDER.path] == pytest.approx(3 / TRADE_ORDER.limit)  # the busiest instrument
    assert use[MARKET_TICKER.path] == 0.0 and set(use) == {e.path for e in ENDPOINTS}
    now[0] += TRADE_ORDER.window_s + 0.1
    assert limiters.budget_use()[TRADE_ORDER.path] == 0.0


def test_limit_margin_is_validated() -> None:
    with pytest.raises(ValueError):
        EndpointLimiters(0.0)
    with pytest.raises(ValueError):
        EndpointLimiters(1.5)


# --- TTL cache with coalescing ------------------------------------------------------------------


async def test_concurrent_callers_share_one_fetch_and_ttl_expires() -> None:
    now = [0.0]
    cache = TtlCache(clock=lambda: now[0])
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiters = [asyncio.create_task(cache.get("k", 1.0, fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [1] * 50
    assert calls == 1
    assert await cache.get("k", 1.0, fetch) == 1  # still fresh
    now[0] = 1.5
    assert await cache.get("k", 1.0, fetch) == 2 and calls == 2


async def test_failed_fetch_is_not_cached_and_reaches_every_waiter() -> None:
    cache = TtlCache()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise RateLimited("50011", "Too Many Requests")

    results = await asyncio.gather(*(cache.get("k", 1.0, failing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RateLimited) for r in results) and attempts == 1

    async def ok() -> int:
        return 7

    assert await cache.get("k", 1.0, ok) == 7


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    cache = TtlCache()
    gate = asyncio.Event()

    async def fetch() -> str:
        await gate.wait()
        return "v"

    first = asyncio.create_task(cache.get("k", 1.0, fetch))
    second = asyncio.create_task(cache.get("k", 1.0, fetch))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "v"
    await cache.aclose()


# --- connect gate, ops budget, backoff --------------------------------------------------------


def test_connect_gate_spaces_dials_to_three_per_second() -> None:
    now = [10.0]
    gate = ConnectGate(3, clock=lambda: now[0], margin_s=0.1)
    delays = [gate.reserve() for _ in range(7)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 1.1, 1.1, 1.1, 2.2])
    now[0] = 20.0
    assert gate.reserve() == 0.0


def test_ops_budget_refuses_locally_beyond_the_hourly_limit() -> None:
    budget = _OpsBudget(limit=5)
    budget.take(3, "subscribe", "public")
    budget.take(2, "subscribe", "public")
    with pytest.raises(WsOpsBudgetExceeded, match="5 of 5"):
        budget.take(1, "login", "public")
    budget.reset()
    budget.take(1, "login", "public")


def _connection(backoff: BackoffSettings) -> WsConnection:
    return WsConnection(
        "public",
        "ws://127.0.0.1:9/ws/v5/public",
        WebSocketSettings(backoff=backoff),
        on_message=lambda push: None,
        rng=random.Random(3),
    )


def test_backoff_first_retry_immediate_then_exponential_capped_with_jitter() -> None:
    conn = _connection(BackoffSettings(base_s=0.25, max_s=2.0, jitter=0.2))
    delays = [conn._next_delay() for _ in range(8)]
    assert delays[0] == 0.0
    for n, delay in enumerate(delays[1:], start=1):
        nominal = min(2.0, 0.25 * 2 ** (n - 1))
        assert nominal * 0.8 - 1e-9 <= delay <= nominal * 1.2 + 1e-9
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jitter: capped delays are not all equal


def test_backoff_stays_capped_after_a_very_long_outage() -> None:
    """2^1100 does not fit a float: the reconnect loop once died of OverflowError here."""
    conn = _connection(BackoffSettings(base_s=0.25, max_s=5.0, jitter=0.2))
    conn._failures = 5000
    assert 4.0 <= conn._next_delay() <= 6.0
    assert 4.0 <= backoff_delay(BackoffSettings(base_s=0.25, max_s=5.0, jitter=0.2), 10**6, random.Random(1)) <= 6.0


def test_subscriptions_before_run_are_recorded_once() -> None:
    conn = _connection(BackoffSettings())
    args = [ChannelArg("tickers", inst_id="BTC-USDT-SWAP"), ChannelArg("tickers", inst_id="BTC-USDT-SWAP")]
    asyncio.run(conn.subscribe(args))
    assert conn.subscriptions == (ChannelArg("tickers", inst_id="BTC-USDT-SWAP"),)
    assert not conn.is_ready


# --- errors and request building --------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("50011", 429, RateLimited),
        ("50011", 200, RateLimited),
        ("50013", 429, ExchangeBusy),
        ("50001", 503, ExchangeBusy),
        ("502", 502, ExchangeBusy),
        ("50113", 401, AuthError),
        ("50111", 401, AuthError),
        ("51000", 400, RequestError),
    ],
)
def test_error_for_maps_codes_to_types(code: str, status: int, cls: type) -> None:
    error = error_for(code, "m", http_status=status, path="/x")
    assert type(error) is cls and error.code == code and "/x" in str(error)


def test_query_drops_empty_values_and_keeps_commas() -> None:
    assert (
        _query({"instType": "SWAP", "instId": None, "ccy": "BTC,ETH", "x": ""})
        == "?instType=SWAP&ccy=BTC,ETH"
    )
    assert _query({"a": None}) == ""


def test_order_body_carries_cl_ord_id_and_attached_tp_sl() -> None:
    request = OrderRequest(
        "XRP-USDT-SWAP",
        Side.BUY,
        PosSide.LONG,
        "post_only",
        "3",
        px="0.5123",
        td_mode="cross",
        attach_tp_trigger_px="0.53",
        attach_sl_trigger_px="0.50",
        tag="okxscalp",
    )
    body = order_fields(request, "abc123", "instId", request.inst_id)
    assert body == {
        "instId": "XRP-USDT-SWAP",
        "tdMode": "cross",
        "side": "buy",
        "ordType": "post_only",
        "sz": "3",
        "clOrdId": "abc123",
        "posSide": "long",
        "px": "0.5123",
        "tag": "okxscalp",
        "attachAlgoOrds": [{"tpTriggerPx": "0.53", "tpOrdPx": "-1", "slTriggerPx": "0.50", "slOrdPx": "-1"}],
    }
    market = order_fields(OrderRequest("X", Side.SELL, None, "market", "1", reduce_only=True, td_mode="isolated"), "z",
                          "instId", "X")
    assert "px" not in market and "posSide" not in market and market["reduceOnly"] is True
    assert market["tdMode"] == "isolated"


def test_margin_mode_has_no_default_in_the_client() -> None:
    """Issue 10 review: an order or a protective stop without a margin mode was sent as "cross"
    whatever `scalping.margin_mode` said; now the caller must name it."""
    with pytest.raises(TypeError, match="td_mode"):
        OrderRequest("X", Side.BUY, None, "market", "1")  # type: ignore[call-arg]
    td_mode = inspect.signature(RestClient.place_algo_order).parameters["td_mode"]
    assert td_mode.default is inspect.Parameter.empty and td_mode.kind is inspect.Parameter.KEYWORD_ONLY


def test_generated_cl_ord_ids_are_valid_and_unique() -> None:
    ids = {new_cl_ord_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and i.isalnum() for i in ids)


async def test_an_ack_echoing_the_arg_incompletely_still_acknowledges_it() -> None:
    conn = _connection(BackoffSettings())
    positions = ChannelArg("positions", inst_type="SWAP")
    await conn.subscribe([positions])
    conn._pending[positions] = "7"  # as if sent in request 7 on a live connection
    conn._requests["7"] = (positions,)
    await conn._event(
        None, WsEvent("subscribe", arg=ChannelArg("positions"), req_id="7")
    )  # instType left out
    assert positions in conn._acked and not conn._pending and not conn._requests
