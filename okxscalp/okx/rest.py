"""OKX v5 REST client: signed requests, per-endpoint budgets, bounded GET retries, safe orders.

- One aiohttp session per process (pass it in, or the client makes one and closes it).
- Every request first takes a token from its endpoint's bucket (limiter.py), shared by all callers.
- GETs are retried with exponential backoff and jitter on 50011/50013/5xx/timeouts, bounded by
  RestSettings.max_retries. Order POSTs are sent exactly once: each carries a clOrdId, and after an
  ambiguous failure the order is looked up by that clOrdId instead of being re-sent.
- Public market GETs go through a TTL cache with in-flight coalescing (ttl_cache.py).
- Replies are parsed into domain objects here (via parse.py); callers never see OKX dicts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from okxscalp.config.schema import RestSettings
from okxscalp.okx import parse
from okxscalp.okx.auth import Credentials, rest_headers
from okxscalp.okx.constants import (
    ACCOUNT_BALANCE,
    ACCOUNT_CONFIG,
    ACCOUNT_LEVERAGE_INFO,
    ACCOUNT_POSITIONS,
    ACCOUNT_SET_LEVERAGE,
    ACCOUNT_SET_POSITION_MODE,
    AMBIGUOUS_ORDER_CODES,
    CODE_ALL_FAILED,
    CODE_OK,
    CODE_ORDER_NOT_FOUND,
    CODE_PARTIAL,
    DEMO_HEADER,
    MARKET_BOOKS,
    MARKET_CANDLES,
    MARKET_HISTORY_CANDLES,
    MARKET_TICKER,
    MARKET_TICKERS,
    PUBLIC_INSTRUMENTS,
    PUBLIC_MARK_PRICE,
    PUBLIC_PRICE_LIMIT,
    PUBLIC_TIME,
    RETRYABLE_CODES,
    TRADE_AMEND_ALGOS,
    TRADE_AMEND_ORDER,
    TRADE_CANCEL_ALGOS,
    TRADE_CANCEL_ORDER,
    TRADE_CLOSE_POSITION,
    TRADE_FILLS,
    TRADE_FILLS_HISTORY,
    TRADE_GET_ORDER,
    TRADE_ORDER,
    TRADE_ORDER_ALGO,
    TRADE_ORDERS_ALGO_PENDING,
    TRADE_ORDERS_PENDING,
    Endpoint,
)
from okxscalp.okx.errors import (
    AmbiguousOrderOutcome,
    AuthError,
    ExchangeBusy,
    MalformedMessage,
    NetworkError,
    OkxError,
    OrderNotPlaced,
    OrderRejected,
    RateLimited,
    RequestError,
    error_for,
)
from okxscalp.okx.limiter import EndpointLimiters
from okxscalp.okx.models import (
    AccountConfig,
    AlgoAck,
    AlgoOrder,
    Balance,
    Candle,
    ClosePositionAck,
    Fill,
    Instrument,
    LeverageInfo,
    MarkPrice,
    Order,
    OrderAck,
    OrderBook,
    OrderRequest,
    Position,
    PriceLimit,
    Ticker,
)
from okxscalp.okx.order_body import MARKET_ORDER_PX, add_amendment, order_fields
from okxscalp.okx.ttl_cache import TtlCache

__all__ = [
    "AmbiguousOrderOutcome",
    "AuthError",
    "ExchangeBusy",
    "NetworkError",
    "OrderNotPlaced",
    "OrderRejected",
    "OrderRequest",
    "RateLimited",
    "RequestError",
    "RestClient",
    "new_cl_ord_id",
]

log = logging.getLogger(__name__)

_CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")
SWAP = "SWAP"
_ALGO_CANCEL_BATCH = 10  # cancel-algos takes at most 10 orders per request


def new_cl_ord_id() -> str:
    """A fresh client order id: 32 alphanumerics, as OKX allows (case-sensitive, ≤ 32)."""
    return "ox" + secrets.token_hex(15)


def _retry_delay(attempt: int, settings: RestSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: base·2^attempt capped, scaled by a factor in [0.5, 1)."""
    return min(settings.retry_max_s, settings.retry_base_s * (2**attempt)) * (0.5 + rng.random() / 2)


def _is_retryable(exc: OkxError) -> bool:
    if isinstance(exc, NetworkError | RateLimited | ExchangeBusy):
        return True
    return isinstance(exc, RequestError) and (exc.code in RETRYABLE_CODES or exc.http_status >= 500)


def _is_ambiguous(exc: OkxError) -> bool:
    """An order POST that failed like this may or may not have been placed."""
    if isinstance(exc, NetworkError | MalformedMessage):
        return True
    return isinstance(exc, RequestError) and (exc.code in AMBIGUOUS_ORDER_CODES or exc.http_status >= 500)


@lru_cache(maxsize=1024)
def _query_pair(key: str, value: str) -> str:
    """"key=value" percent-encoded; the same few pairs (instType, instId, ordType...) recur."""
    return f"{key}={quote(value, safe='-_.,')}"


def _query(params: Mapping[str, str | None]) -> str:
    pairs = [_query_pair(k, str(v)) for k, v in params.items() if v not in (None, "")]
    return "?" + "&".join(pairs) if pairs else ""


_URL_CACHE_MAX = 512  # distinct request targets kept (a few per instrument); then the cache restarts


class RestClient:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        settings: RestSettings | None = None,
        *,
        demo: bool = False,
        session: aiohttp.ClientSession | None = None,
        wall_clock: Callable[[], float] = time.time,
        mono_clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._settings = settings or RestSettings()
        self._demo = demo
        self._session = session
        self._owns_session = session is None
        # The engine's clock (okxscalp/clock.py): the OS clocks live, simulated time in a backtest.
        self._wall_clock = wall_clock
        self._mono_clock = mono_clock
        # Retry jitter: unseeded live; a backtest passes a seeded one (same run, same delays).
        self._rng = rng if rng is not None else random.Random()
        self._limiters = EndpointLimiters(self._settings.limit_margin, clock=mono_clock)
        self._cache = TtlCache(mono_clock)
        self._timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        # Public requests all carry the same headers: built once, read-only (aiohttp copies them).
        public_headers = CIMultiDict({"Content-Type": "application/json"})
        if demo:
            public_headers[DEMO_HEADER] = "1"
        self._public_headers = CIMultiDictProxy(public_headers)
        self._urls: dict[str, URL] = {}  # request target -> its URL (immutable), parsed once

    # --- lifecycle ------------------------------------------------------------------------

    async def close(self) -> None:
        await self._cache.aclose()
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def limiters(self) -> EndpointLimiters:
        """The per-endpoint budgets; the WebSocket trade channel draws from the same object
        (OKX: WS order ops share the REST limits, User ID + instId)."""
        return self._limiters

    def budget_use(self) -> dict[str, float]:
        """Endpoint path → share (0..1) of its documented limit used in the last window."""
        return self._limiters.budget_use()

    # --- public market data ---------------------------------------------------------------

    async def server_time(self) -> int:
        env = await self._get(PUBLIC_TIME, {})
        return parse.parse_server_time(env.data)

    async def instruments(self, inst_type: str = SWAP, inst_id: str | None = None) -> list[Instrument]:
        params = {"instType": inst_type, "instId": inst_id}

        async def fetch() -> list[Instrument]:
            env = await self._get(PUBLIC_INSTRUMENTS, params, inst_type=inst_type)
            return parse.parse_instruments(env.data)

        result = await self._cache.get(
            ("instruments", inst_type, inst_id), self._settings.instruments_cache_ttl_s, fetch
        )
        return list(result)

    async def ticker(self, inst_id: str) -> Ticker:
        """Cached for RestSettings.ticker_cache_ttl_s; concurrent callers share one request.
        `Ticker.recv_mono` is when the reply arrived, so a cached ticker shows its true age.

        When the single-ticker budget is spent (many symbols falling back at once), one
        /market/tickers call (its own budget) refreshes every symbol instead of queueing."""

        async def fetch() -> Ticker:
            if not self._limiters.has_capacity(MARKET_TICKER):
                for ticker in await self.tickers():
                    if ticker.inst_id == inst_id:
                        return ticker
            env = await self._get(MARKET_TICKER, {"instId": inst_id}, inst_id=inst_id)
            tickers = parse.parse_tickers(env.data, self._mono_clock())
            if not tickers:
                raise MalformedMessage(f"ticker {inst_id}: empty data")
            return tickers[0]

        return await self._cache.get(("ticker", inst_id), self._settings.ticker_cache_ttl_s, fetch)

    async def tickers(self, inst_type: str = SWAP) -> list[Ticker]:
        """Every ticker of `inst_type` in one request (cached like `ticker`, and refreshing it)."""
        ttl = self._settings.ticker_cache_ttl_s

        async def fetch() -> list[Ticker]:
            env = await self._get(MARKET_TICKERS, {"instType": inst_type})
            tickers = parse.parse_tickers(env.data, self._mono_clock())
            for ticker in tickers:
                self._cache.put(("ticker", ticker.inst_id), ttl, ticker)
            return tickers

        return list(await self._cache.get(("tickers", inst_type), ttl, fetch))

    async def candles(
        self,
        inst_id: str,
        bar: str = "1m",
        limit: int = 100,
        *,
        after: int | None = None,
        before: int | None = None,
    ) -> list[Candle]:
        """Oldest first. Coalesced (identical concurrent requests share one call), not cached."""
        params = {
            "instId": inst_id,
            "bar": bar,
            "after": None if after is None else str(after),
            "before": None if before is None else str(before),
            "limit": str(limit),
        }

        async def fetch() -> list[Candle]:
            env = await self._get(MARKET_CANDLES, params, inst_id=inst_id)
            return parse.parse_candles(env.data, inst_id, bar)

        return list(await self._cache.get(("candles", *params.values()), 0.0, fetch))

    async def history_candles(
        self,
        inst_id: str,
        bar: str = "1m",
        limit: int = 100,
        *,
        after: int | None = None,
        before: int | None = None,
    ) -> list[Candle]:
        """GET /market/history-candles (docs order-book-trading-market-data-get-candlesticks-history):
        bars from recent years, `after`/`before` exclusive open-time bounds. Oldest first; not cached."""
        params = {
            "instId": inst_id,
            "bar": bar,
            "after": None if after is None else str(after),
            "before": None if before is None else str(before),
            "limit": str(limit),
        }
        env = await self._get(MARKET_HISTORY_CANDLES, params, inst_id=inst_id)
        return parse.parse_candles(env.data, inst_id, bar)

    async def mark_price(self, inst_id: str) -> MarkPrice:
        async def fetch() -> MarkPrice:
            env = await self._get(PUBLIC_MARK_PRICE, {"instType": SWAP, "instId": inst_id}, inst_id=inst_id)
            return parse.parse_mark_price(env.data)

        return await self._cache.get(("mark-price", inst_id), self._settings.ticker_cache_ttl_s, fetch)

    async def price_limit(self, inst_id: str) -> PriceLimit:
        async def fetch() -> PriceLimit:
            env = await self._get(PUBLIC_PRICE_LIMIT, {"instId": inst_id}, inst_id=inst_id)
            return parse.parse_price_limit(env.data)

        return await self._cache.get(("price-limit", inst_id), self._settings.ticker_cache_ttl_s, fetch)

    async def books(self, inst_id: str, depth: int = 5) -> OrderBook:
        async def fetch() -> OrderBook:
            env = await self._get(MARKET_BOOKS, {"instId": inst_id, "sz": str(depth)}, inst_id=inst_id)
            return parse.parse_books(env.data, inst_id)

        return await self._cache.get(("books", inst_id, depth), 0.0, fetch)

    # --- account ----------------------------------------------------------------------------

    async def balance(self) -> Balance:
        env = await self._get(ACCOUNT_BALANCE, {})
        return parse.parse_balance(env.data)

    async def positions(self, inst_id: str | None = None) -> list[Position]:
        env = await self._get(ACCOUNT_POSITIONS, {"instType": SWAP, "instId": inst_id})
        return parse.parse_positions(env.data)

    async def account_config(self) -> AccountConfig:
        env = await self._get(ACCOUNT_CONFIG, {})
        return parse.parse_account_config(env.data)

    async def set_position_mode(self, pos_mode: str) -> str:
        env = await self._post(ACCOUNT_SET_POSITION_MODE, {"posMode": pos_mode})
        return parse.parse_position_mode(env.data)

    async def set_leverage(
        self, inst_id: str, lever: str, mgn_mode: str, pos_side: str | None = None
    ) -> list[LeverageInfo]:
        body = {"instId": inst_id, "lever": lever, "mgnMode": mgn_mode}
        if pos_side:
            body["posSide"] = pos_side
        env = await self._post(ACCOUNT_SET_LEVERAGE, body)
        return parse.parse_leverage(env.data)

    async def leverage_info(self, inst_id: str, mgn_mode: str) -> list[LeverageInfo]:
        env = await self._get(ACCOUNT_LEVERAGE_INFO, {"instId": inst_id, "mgnMode": mgn_mode})
        return parse.parse_leverage(env.data)

    # --- trading ----------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest, *, before_send: Callable[[], None] | None = None) -> OrderAck:
        """Send one order, once. Returns the ack (sCode 0), or raises:
        OrderRejected (definitive sCode), OrderNotPlaced (reply lost, exchange says no such order),
        AmbiguousOrderOutcome (reply lost and the lookup could not tell), RateLimited/ExchangeBusy/
        AuthError/RequestError (request refused before placing). Never re-sends by itself.
        `before_send` runs after any wait for the budget, right before the request is written;
        whatever it raises propagates and nothing is sent (the engine's last freshness check)."""
        cl_ord_id = request.cl_ord_id or new_cl_ord_id()
        if not _CL_ORD_ID.fullmatch(cl_ord_id):
            raise ValueError(f"clOrdId must be 1-32 alphanumerics, got {cl_ord_id!r}")
        body = order_fields(request, cl_ord_id, "instId", request.inst_id)
        try:
            env = await self._request(TRADE_ORDER, body=body, inst_id=request.inst_id, before_send=before_send)
            ack = _single_ack(env, "place order")
        except OkxError as exc:
            if not _is_ambiguous(exc):
                raise
            log.warning(
                "order %s on %s: ambiguous reply (%s); looking it up by clOrdId",
                cl_ord_id,
                request.inst_id,
                exc,
            )
            return await self.resolve_order(request.inst_id, cl_ord_id, str(exc))
        if ack.ok:
            return ack
        if ack.s_code in AMBIGUOUS_ORDER_CODES:
            return await self.resolve_order(request.inst_id, cl_ord_id, f"sCode {ack.s_code} {ack.s_msg}")
        raise OrderRejected(ack.s_code, ack.s_msg, cl_ord_id=cl_ord_id, inst_id=request.inst_id)

    async def cancel_order(
        self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None
    ) -> OrderAck:
        """Sent once; a transport failure raises NetworkError (cancelling again is safe: 51400)."""
        body = _order_ref(inst_id, ord_id, cl_ord_id)
        env = await self._request(TRADE_CANCEL_ORDER, body=body, inst_id=inst_id)
        ack = _single_ack(env, "cancel order")
        if not ack.ok:
            raise OrderRejected(
                ack.s_code, ack.s_msg, cl_ord_id=ack.cl_ord_id or cl_ord_id or "", inst_id=inst_id
            )
        return ack

    async def amend_order(
        self,
        inst_id: str,
        *,
        ord_id: str | None = None,
        cl_ord_id: str | None = None,
        new_sz: str | None = None,
        new_px: str | None = None,
        cxl_on_fail: bool = False,
    ) -> OrderAck:
        body: dict[str, Any] = _order_ref(inst_id, ord_id, cl_ord_id)
        add_amendment(body, new_sz, new_px, cxl_on_fail)
        env = await self._request(TRADE_AMEND_ORDER, body=body, inst_id=inst_id)
        ack = _single_ack(env, "amend order")
        if not ack.ok:
            raise OrderRejected(
                ack.s_code, ack.s_msg, cl_ord_id=ack.cl_ord_id or cl_ord_id or "", inst_id=inst_id
            )
        return ack

    async def close_position(
        self,
        inst_id: str,
        mgn_mode: str,
        pos_side: str | None = None,
        *,
        auto_cxl: bool = True,
        cl_ord_id: str = "",
        tag: str = "",
    ) -> ClosePositionAck:
        body: dict[str, Any] = {"instId": inst_id, "mgnMode": mgn_mode, "autoCxl": auto_cxl}
        if pos_side:
            body["posSide"] = pos_side
        if cl_ord_id:
            body["clOrdId"] = cl_ord_id
        if tag:
            body["tag"] = tag
        try:
            env = await self._request(TRADE_CLOSE_POSITION, body=body, inst_id=inst_id)
            return parse.parse_close_position(env.data)
        except OkxError as exc:
            if not cl_ord_id or not _is_ambiguous(exc):
                raise
            # Like an order: the close may have been executed. Ask by clOrdId (close-position
            # takes one); OrderNotPlaced / AmbiguousOrderOutcome tell the caller what is known.
            log.warning("close-position %s on %s: ambiguous reply (%s); looking it up by clOrdId", cl_ord_id, inst_id, exc)
            ack = await self.resolve_order(inst_id, cl_ord_id, str(exc))
            return ClosePositionAck(inst_id, pos_side or "", ack.cl_ord_id, tag)

    async def get_order(
        self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None
    ) -> Order | None:
        """The order, or None when the exchange says it does not exist (51603)."""
        try:
            env = await self._get(TRADE_GET_ORDER, _order_ref(inst_id, ord_id, cl_ord_id), inst_id=inst_id)
        except RequestError as exc:
            if exc.code == CODE_ORDER_NOT_FOUND:
                return None
            raise
        orders = parse.parse_orders(env.data)
        return orders[0] if orders else None

    async def orders_pending(self, inst_id: str | None = None) -> list[Order]:
        env = await self._get(TRADE_ORDERS_PENDING, {"instType": SWAP, "instId": inst_id})
        return parse.parse_orders(env.data)

    async def fills(
        self, inst_id: str | None = None, limit: int = 100, *, ord_id: str | None = None,
        begin_ms: int | None = None, end_ms: int | None = None,
    ) -> list[Fill]:
        """Fills of the last 3 days, newest first, at most `limit` (≤ 100); `ord_id` keeps one
        order's fills, `begin_ms`/`end_ms` bound their `ts`."""
        env = await self._get(TRADE_FILLS, _fills_params(inst_id, limit, ord_id, begin_ms, end_ms))
        return parse.parse_fills(env.data)

    async def fills_history(
        self, inst_id: str | None = None, limit: int = 100, *, ord_id: str | None = None,
        begin_ms: int | None = None, end_ms: int | None = None,
    ) -> list[Fill]:
        """The same for the last 3 months (its own, smaller budget: 10 per 2 s)."""
        env = await self._get(TRADE_FILLS_HISTORY, _fills_params(inst_id, limit, ord_id, begin_ms, end_ms))
        return parse.parse_fills(env.data)

    # --- algo (conditional stop) orders -----------------------------------------------------

    async def place_algo_order(
        self,
        inst_id: str,
        *,
        side: str,
        pos_side: str | None,
        sl_trigger_px: str | None = None,
        tp_trigger_px: str | None = None,
        sz: str | None = None,
        td_mode: str,
        algo_cl_ord_id: str = "",
        reduce_only: bool = True,
    ) -> AlgoAck:
        """A `conditional` stop/take-profit living on the exchange, executed at market when
        triggered. `sz` None closes the whole position (closeFraction 1); `td_mode` is the
        config's margin mode (required: no default). Sent once; a lost reply
        raises NetworkError/ExchangeBusy: check `algo_orders_pending` before placing another."""
        if sl_trigger_px is None and tp_trigger_px is None:
            raise ValueError("a conditional algo order needs sl_trigger_px or tp_trigger_px")
        algo_cl_ord_id = algo_cl_ord_id or new_cl_ord_id()
        if not _CL_ORD_ID.fullmatch(algo_cl_ord_id):
            raise ValueError(f"algoClOrdId must be 1-32 alphanumerics, got {algo_cl_ord_id!r}")
        body: dict[str, Any] = {
            "instId": inst_id,
            "tdMode": td_mode,
            "side": getattr(side, "value", side),
            "ordType": "conditional",
            "algoClOrdId": algo_cl_ord_id,
        }
        if pos_side:
            body["posSide"] = getattr(pos_side, "value", pos_side)
        if sz is None:
            body["closeFraction"] = "1"
        else:
            body["sz"] = sz
            if reduce_only:
                body["reduceOnly"] = True
        if sl_trigger_px is not None:
            body["slTriggerPx"] = sl_trigger_px
            body["slOrdPx"] = MARKET_ORDER_PX
        if tp_trigger_px is not None:
            body["tpTriggerPx"] = tp_trigger_px
            body["tpOrdPx"] = MARKET_ORDER_PX
        env = await self._request(TRADE_ORDER_ALGO, body=body, inst_id=inst_id)
        acks = parse.parse_algo_acks(env.data)
        if not acks:
            raise MalformedMessage(f"place algo order: reply code {env.code} without data")
        if not acks[0].ok:
            raise OrderRejected(acks[0].s_code, acks[0].s_msg, cl_ord_id=algo_cl_ord_id, inst_id=inst_id)
        return acks[0]

    async def cancel_algo_orders(self, orders: list[tuple[str, str]]) -> list[AlgoAck]:
        """Cancel (inst_id, algo_id) pairs; one request per instrument (its own budget), ≤10 each.
        Per-order results come back as acks (sCode != 0 for ones already triggered or gone)."""
        by_inst: dict[str, list[str]] = {}
        for inst_id, algo_id in orders:
            by_inst.setdefault(inst_id, []).append(algo_id)
        acks: list[AlgoAck] = []
        for inst_id, algo_ids in by_inst.items():
            for start in range(0, len(algo_ids), _ALGO_CANCEL_BATCH):
                chunk = algo_ids[start : start + _ALGO_CANCEL_BATCH]
                body = [{"instId": inst_id, "algoId": algo_id} for algo_id in chunk]
                env = await self._request(TRADE_CANCEL_ALGOS, body=body, inst_id=inst_id)
                acks.extend(parse.parse_algo_acks(env.data))
        return acks

    async def amend_algo_order(
        self, inst_id: str, algo_id: str, *, new_tp_trigger_px: str, new_sl_trigger_px: str
    ) -> AlgoAck:
        """Move both legs of a TP/SL algo (an attached pair once its entry filled: `oco`) to new
        trigger prices, each still executed at market (ordPx -1). Sent once: a lost reply raises
        NetworkError; read the algo back (`algo_orders_pending`) to know where it stands.
        docs order-book-trading-algo-trading-post-amend-algo-order."""
        body = {
            "instId": inst_id, "algoId": algo_id,
            "newTpTriggerPx": new_tp_trigger_px, "newTpOrdPx": MARKET_ORDER_PX,
            "newSlTriggerPx": new_sl_trigger_px, "newSlOrdPx": MARKET_ORDER_PX,
        }
        env = await self._request(TRADE_AMEND_ALGOS, body=body, inst_id=inst_id)
        acks = parse.parse_algo_acks(env.data)
        if not acks:
            raise MalformedMessage(f"amend algo order: reply code {env.code} without data")
        if not acks[0].ok:
            raise OrderRejected(acks[0].s_code, acks[0].s_msg, cl_ord_id=acks[0].algo_cl_ord_id, inst_id=inst_id)
        return acks[0]

    async def algo_orders_pending(
        self, inst_id: str | None = None, ord_type: str = "conditional,oco"
    ) -> list[AlgoOrder]:
        """Armed algo orders. The default lists both kinds a position's protection can take:
        stand-alone or single-leg attached stops are `conditional`, an attached TP+SL pair `oco`."""
        params = {"ordType": ord_type, "instType": SWAP, "instId": inst_id}
        env = await self._get(TRADE_ORDERS_ALGO_PENDING, params)
        return parse.parse_algo_orders(env.data)

    # --- internals --------------------------------------------------------------------------

    async def resolve_order(self, inst_id: str, cl_ord_id: str, cause: str) -> OrderAck:
        """After an ambiguous send: ask the exchange by clOrdId. Found → its ack (recovered=True).
        Not found twice in a row (the second after a backoff, in case the first raced the
        placement) → OrderNotPlaced. Unanswerable within the retry bound → AmbiguousOrderOutcome."""
        not_found = 0
        last = cause
        for attempt in range(self._settings.max_retries + 1):
            if attempt:
                await asyncio.sleep(_retry_delay(attempt - 1, self._settings, self._rng))
            try:
                env = await self._request(
                    TRADE_GET_ORDER, params={"instId": inst_id, "clOrdId": cl_ord_id}, inst_id=inst_id
                )
                orders = parse.parse_orders(env.data)
            except RequestError as exc:
                if exc.code == CODE_ORDER_NOT_FOUND:
                    not_found += 1
                    if not_found >= 2:
                        raise OrderNotPlaced(
                            exc.code, exc.msg, cl_ord_id=cl_ord_id, inst_id=inst_id
                        ) from None
                    continue
                if not _is_retryable(exc):
                    last = str(exc)
                    break
                last = str(exc)
                continue
            except (NetworkError, MalformedMessage) as exc:
                last = str(exc)
                continue
            not_found = 0
            if orders:
                order = orders[0]
                log.info(
                    "order %s on %s was placed (ordId %s, state %s)",
                    cl_ord_id,
                    inst_id,
                    order.ord_id,
                    order.state,
                )
                return OrderAck(
                    order.ord_id, order.cl_ord_id or cl_ord_id, CODE_OK, "", order.c_time_ms, "", True
                )
            last = "order lookup returned no data"
        raise AmbiguousOrderOutcome(cl_ord_id, inst_id, f"{cause}; lookup: {last}")

    async def _get(
        self, endpoint: Endpoint, params: Mapping[str, str | None], *, inst_id: str = "", inst_type: str = ""
    ) -> parse.Envelope:
        """A GET with bounded retries (backoff + jitter) on rate limits, busy, 5xx and transport errors."""
        attempt = 0
        while True:
            try:
                return await self._request(endpoint, params=params, inst_id=inst_id, inst_type=inst_type)
            except OkxError as exc:
                if not _is_retryable(exc) or attempt >= self._settings.max_retries:
                    raise
                delay = _retry_delay(attempt, self._settings, self._rng)
                log.info("GET %s: %s; retry %d in %.2fs", endpoint.path, exc, attempt + 1, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _post(self, endpoint: Endpoint, body: Mapping[str, Any]) -> parse.Envelope:
        return await self._request(endpoint, body=body)

    async def _request(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, str | None] | None = None,
        body: Mapping[str, Any] | list[Any] | None = None,
        inst_id: str = "",
        inst_type: str = "",
        before_send: Callable[[], None] | None = None,
    ) -> parse.Envelope:
        """One attempt: budget, sign, send, classify. Returns envelopes with code 0/1/2."""
        request_path = endpoint.path + (_query(params) if params else "")
        body_bytes = orjson.dumps(body) if body is not None else b""
        if endpoint.private and self._credentials is None:
            raise AuthError("", "credentials required", http_status=0, path=endpoint.path)
        await self._limiters.acquire(endpoint, inst_id=inst_id, inst_type=inst_type)
        if before_send is not None:
            before_send()  # may raise: then nothing is sent
        # Signed only now: a timestamp taken before a long wait for the budget could be outside
        # OKX's 30 s window by the time the request leaves (50102).
        headers: Mapping[str, str] = self._public_headers
        if endpoint.private and self._credentials is not None:
            signed = rest_headers(
                self._credentials, self._wall_clock(), endpoint.method, request_path, body_bytes.decode()
            )
            if self._demo:
                signed[DEMO_HEADER] = "1"
            headers = signed
        session = self._get_session()
        url = self._urls.get(request_path)
        if url is None:
            if len(self._urls) >= _URL_CACHE_MAX:
                self._urls.clear()
            url = self._urls[request_path] = URL(self._base_url + request_path, encoded=True)
        try:
            async with session.request(
                endpoint.method, url, data=body_bytes or None, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise NetworkError(
                f"{endpoint.method} {endpoint.path}: timed out after {self._settings.timeout_s}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise NetworkError(
                f"{endpoint.method} {endpoint.path}: {exc.__class__.__name__}: {exc}"
            ) from None
        try:
            env = parse.parse_envelope(raw)
        except MalformedMessage:
            if status >= 400:
                raise error_for(
                    str(status), f"HTTP {status} without an OKX body", http_status=status, path=endpoint.path
                ) from None
            raise
        if env.code in (CODE_OK, CODE_ALL_FAILED, CODE_PARTIAL) and status < 400:
            return env
        raise error_for(env.code, env.msg, http_status=status, path=endpoint.path)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _fills_params(
    inst_id: str | None, limit: int, ord_id: str | None, begin_ms: int | None, end_ms: int | None
) -> dict[str, str | None]:
    return {
        "instType": SWAP, "instId": inst_id, "ordId": ord_id,
        "begin": None if begin_ms is None else str(begin_ms), "end": None if end_ms is None else str(end_ms),
        "limit": str(limit),
    }


def _order_ref(inst_id: str, ord_id: str | None, cl_ord_id: str | None) -> dict[str, Any]:
    if not ord_id and not cl_ord_id:
        raise ValueError("an order is referenced by ord_id or cl_ord_id")
    ref: dict[str, Any] = {"instId": inst_id}
    if ord_id:
        ref["ordId"] = ord_id
    if cl_ord_id:
        ref["clOrdId"] = cl_ord_id
    return ref


def _single_ack(env: parse.Envelope, what: str) -> OrderAck:
    acks = parse.parse_order_acks(env.data)
    if not acks:
        raise MalformedMessage(f"{what}: reply code {env.code} without data")
    return acks[0]
