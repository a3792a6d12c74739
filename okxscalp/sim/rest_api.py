"""The simulator's REST side: `/api/v5/...` over `SimExchange`.

Every request goes through one pipeline: count it, apply injected faults (429 storm, 50013 busy),
verify the signature exactly like OKX (`rest_auth`), enforce the documented per-endpoint limit,
advance the market to now, call the exchange, push whatever the command produced, answer in OKX's
envelope (numbers as strings, `inTime`/`outTime` on trade endpoints, per-order `sCode` deciding
`code` 0/1/2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import (
    ACCOUNT_BALANCE,
    ACCOUNT_BILLS,
    ACCOUNT_BILLS_ARCHIVE,
    ACCOUNT_CONFIG,
    ACCOUNT_LEVERAGE_INFO,
    ACCOUNT_POSITIONS,
    ACCOUNT_SET_LEVERAGE,
    ACCOUNT_SET_POSITION_MODE,
    ACCOUNT_TRADE_FEE,
    API_PREFIX,
    CODE_ALL_FAILED,
    CODE_BUSY,
    CODE_JSON_SYNTAX,
    CODE_OK,
    CODE_PARAM_ERROR,
    CODE_PARTIAL,
    CODE_RATE_LIMIT,
    CODE_SYSTEM_ERROR,
    MARKET_BOOKS,
    MARKET_CANDLES,
    MARKET_HISTORY_CANDLES,
    MARKET_INDEX_TICKERS,
    MARKET_TICKER,
    MARKET_TICKERS,
    PUBLIC_FUNDING_RATE,
    PUBLIC_FUNDING_RATE_HISTORY,
    PUBLIC_INSTRUMENTS,
    PUBLIC_MARK_PRICE,
    PUBLIC_POSITION_TIERS,
    PUBLIC_PRICE_LIMIT,
    PUBLIC_TIME,
    TRADE_AMEND_ALGOS,
    TRADE_AMEND_BATCH_ORDERS,
    TRADE_AMEND_ORDER,
    TRADE_BATCH_ORDERS,
    TRADE_CANCEL_ALGOS,
    TRADE_CANCEL_BATCH_ORDERS,
    TRADE_CANCEL_ORDER,
    TRADE_CLOSE_POSITION,
    TRADE_FILLS,
    TRADE_FILLS_HISTORY,
    TRADE_GET_ORDER,
    TRADE_ORDER,
    TRADE_ORDER_ALGO,
    TRADE_ORDERS_ALGO_PENDING,
    TRADE_ORDERS_HISTORY,
    TRADE_ORDERS_HISTORY_ARCHIVE,
    TRADE_ORDERS_PENDING,
    Endpoint,
    LimitKey,
)
from okxscalp.sim.bills import BILLS_LIMIT_MAX, BillQuery
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.currencies import currencies_wire
from okxscalp.sim.events import SimApiError
from okxscalp.sim.faults import FaultInjector
from okxscalp.sim.order_history import history_query
from okxscalp.sim.query_params import (
    SIM_INST_TYPE,
    id_param,
    limit_param,
    param_error,
    selected_inst_ids,
    wants_swaps,
)
from okxscalp.sim.ratelimit import RestRateLimiter, limit_key
from okxscalp.sim.rest_auth import rest_auth_problem
from okxscalp.sim.tiers import position_tiers_wire

if TYPE_CHECKING:
    from okxscalp.sim.exchange import SimExchange

log = logging.getLogger(__name__)

MAX_BATCH_ORDERS = 20
MAX_POSITION_INST_IDS = 10
FILLS_LIMIT_MAX = 100  # fills and fills-history: "The maximum is 100; The default is 100"
TRADE_PREFIX = API_PREFIX + "/trade/"
# Endpoints whose body is a JSON array of items, each counted against the limit.
ARRAY_BODY_ENDPOINTS = frozenset(
    {TRADE_BATCH_ORDERS, TRADE_CANCEL_ALGOS, TRADE_CANCEL_BATCH_ORDERS, TRADE_AMEND_BATCH_ORDERS}
)
# A batch of one order counts against the single-order endpoint's budget (docs: "If there is only
# one order in the request, it will consume the rate limit of `Place order`/`Cancel order`/`Amend order`").
SINGLE_ORDER_BUCKET = {
    TRADE_BATCH_ORDERS: TRADE_ORDER,
    TRADE_CANCEL_BATCH_ORDERS: TRADE_CANCEL_ORDER,
    TRADE_AMEND_BATCH_ORDERS: TRADE_AMEND_ORDER,
}
# Endpoints that place orders: every clOrdId / algoClOrdId they receive is counted (duplicate audits).
PLACE_ENDPOINTS = frozenset({TRADE_ORDER, TRADE_BATCH_ORDERS, TRADE_CLOSE_POSITION, TRADE_ORDER_ALGO})

# docs funding-account-rest-api-get-currencies: "Rate Limit: 6 requests per second", rule User ID.
ASSET_CURRENCIES = Endpoint("GET", API_PREFIX + "/asset/currencies", 6, 1.0, LimitKey.UID, True)

# An unknown REST path: HTTP 404 with a JSON body in OKX's envelope, so clients that parse every
# reply as JSON get an OKX error, not a crash. UNCONFIRMED: OKX's v5 docs do not document this reply
# and no v5 capture was found; the code/msg follow the JSON body OKEx's gateway gave for an unknown
# path (HTTP 404, `"code":404,"msg":"Not Found"`, quoted in github.com/ccxt/ccxt/issues/3283).
CODE_NOT_FOUND = "404"
MSG_NOT_FOUND = "Not Found"
MSG_RATE_LIMIT = "Too Many Requests"
MSG_BUSY = "Systems are busy. Please try again later."
MSG_ALL_FAILED = "All operations failed"
MSG_PARTIAL = "Bulk operation partially succeeded."

Params = dict[str, Any]
Handler = Callable[[Params], list]


@dataclass(frozen=True, slots=True)
class _Route:
    """One endpoint's place in the pipeline, decided once when the routes are built (not looked
    up in the endpoint sets on every request)."""

    endpoint: Endpoint
    handler: Handler
    array_body: bool  # the body is a JSON array of items, each counted (ARRAY_BODY_ENDPOINTS)
    places_orders: bool  # its clOrdIds / algoClOrdIds are counted (PLACE_ENDPOINTS)
    gateway_times: bool  # a trade POST: the reply carries inTime / outTime
    post: bool

    @classmethod
    def of(cls, endpoint: Endpoint, handler: Handler) -> _Route:
        post = endpoint.method == "POST"
        return cls(endpoint, handler, endpoint in ARRAY_BODY_ENDPOINTS, endpoint in PLACE_ENDPOINTS,
                   post and endpoint.path.startswith(TRADE_PREFIX), post)


class _Refusal(Exception):
    """A request-level answer decided before the exchange is asked (auth, parsing)."""

    def __init__(self, status: int, code: str, msg: str, with_data: bool = True) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.msg = msg
        self.with_data = with_data


def envelope(code: str, msg: str, data: list | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if data is not None:
        body["data"] = data
    return body


def items_outcome(data: list) -> tuple[str, str]:
    """Top-level code/msg from per-item sCodes: "0" all ok, "1" all failed, "2" some failed."""
    failed = 0
    for item in data:
        if isinstance(item, dict) and item.get("sCode", CODE_OK) != CODE_OK:
            failed += 1
    if not failed:
        return CODE_OK, ""
    if failed == len(data):
        return CODE_ALL_FAILED, MSG_ALL_FAILED
    return CODE_PARTIAL, MSG_PARTIAL


def json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def clean(params: dict[str, Any]) -> Params:
    """python-okx sends every optional field, empty: "" and null mean "absent"."""
    return {k: v for k, v in params.items() if v is not None and v != ""}


def int_param(params: Params, name: str, default: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SimApiError(CODE_PARAM_ERROR, f"Parameter {name} error", 400) from None


# docs get-bills-details: instType SPOT/MARGIN/SWAP/FUTURES/OPTION, mgnMode isolated/cross,
# ctType linear/inverse; a value outside these is 51000.
_BILL_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
_BILL_MGN_MODES = frozenset({"isolated", "cross"})
_BILL_CT_TYPES = frozenset({"linear", "inverse"})


def bill_query(params: Params) -> BillQuery:
    """GET /account/bills(-archive) filters, checked like OKX (51000 "Parameter <name> error")."""
    for name, allowed in (("instType", _BILL_INST_TYPES), ("mgnMode", _BILL_MGN_MODES), ("ctType", _BILL_CT_TYPES)):
        if name in params and params[name] not in allowed:
            raise SimApiError(CODE_PARAM_ERROR, f"Parameter {name} error", 400)
    limit = int_param(params, "limit", BILLS_LIMIT_MAX)
    return BillQuery(
        inst_type=params.get("instType"), inst_id=params.get("instId"), ccy=params.get("ccy"),
        mgn_mode=params.get("mgnMode"), ct_type=params.get("ctType"), type_=params.get("type"),
        sub_type=params.get("subType"), after=int_param(params, "after", None),
        before=int_param(params, "before", None), begin_ms=int_param(params, "begin", None),
        end_ms=int_param(params, "end", None), limit=BILLS_LIMIT_MAX if limit is None else limit,
    )


class RestApi:
    def __init__(
        self,
        *,
        exchange: SimExchange,
        credentials: Credentials,
        faults: FaultInjector,
        counters: SimCounters,
        limiter: RestRateLimiter,
        before_request: Callable[[], None],
        after_request: Callable[[], None],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.exchange = exchange
        self.credentials = credentials
        self.faults = faults
        self.counters = counters
        self.limiter = limiter
        self._before = before_request
        self._after = after_request
        self._wall_clock = wall_clock
        self._handlers: dict[Endpoint, Handler] = {
            PUBLIC_TIME: self._time,
            PUBLIC_INSTRUMENTS: lambda p: exchange.instruments_wire(p.get("instType"), p.get("instId")),
            PUBLIC_PRICE_LIMIT: lambda p: [exchange.price_limit_wire(p.get("instId"))],
            PUBLIC_MARK_PRICE: self._mark_price,
            PUBLIC_POSITION_TIERS: lambda p: position_tiers_wire(
                p, {spec.family: spec.max_lever for spec in exchange.specs.values()}
            ),
            MARKET_TICKER: lambda p: [exchange.ticker_wire(p.get("instId"))],
            MARKET_TICKERS: lambda p: exchange.tickers_wire(p.get("instType")),
            MARKET_BOOKS: lambda p: [exchange.books_wire(p.get("instId"), int_param(p, "sz", 1))],
            MARKET_CANDLES: self._candles,
            MARKET_HISTORY_CANDLES: lambda p: self._candles(p, history=True),
            MARKET_INDEX_TICKERS: lambda p: exchange.index_tickers_wire(p.get("quoteCcy"), p.get("instId")),
            ACCOUNT_BALANCE: lambda p: [exchange.balance_wire()],
            ACCOUNT_POSITIONS: self._positions,
            ACCOUNT_CONFIG: lambda p: [exchange.config_wire()],
            ACCOUNT_SET_POSITION_MODE: lambda p: [exchange.set_position_mode(p.get("posMode"))],
            ACCOUNT_SET_LEVERAGE: lambda p: exchange.set_leverage(p),
            ACCOUNT_LEVERAGE_INFO: lambda p: exchange.leverage_info(p.get("mgnMode"), p.get("instId")),
            TRADE_ORDER: lambda p: [exchange.place_order(p)],
            TRADE_BATCH_ORDERS: lambda orders: [exchange.place_order(o) for o in orders],
            TRADE_CANCEL_ORDER: lambda p: [exchange.cancel_order(p)],
            TRADE_AMEND_ORDER: lambda p: [exchange.amend_order(p)],
            TRADE_CANCEL_BATCH_ORDERS: lambda items: exchange.cancel_orders(items),
            TRADE_AMEND_BATCH_ORDERS: lambda items: exchange.amend_orders(items),
            TRADE_ORDERS_HISTORY: lambda p: self._orders_history(p, archive=False),
            TRADE_ORDERS_HISTORY_ARCHIVE: lambda p: self._orders_history(p, archive=True),
            ACCOUNT_TRADE_FEE: self._trade_fee,
            TRADE_CLOSE_POSITION: lambda p: [exchange.close_position(p)],
            TRADE_GET_ORDER: lambda p: [exchange.get_order(p.get("instId"), p.get("ordId"), p.get("clOrdId"))],
            TRADE_ORDERS_PENDING: lambda p: exchange.orders_pending(p.get("instId")),
            TRADE_ORDER_ALGO: lambda p: [exchange.place_algo_order(p)],
            TRADE_CANCEL_ALGOS: lambda items: exchange.cancel_algos(items),
            TRADE_AMEND_ALGOS: lambda p: [exchange.amend_algos(p)],
            TRADE_ORDERS_ALGO_PENDING: lambda p: exchange.algo_orders_pending(p.get("instId"), p.get("ordType")),
            TRADE_FILLS: lambda p: self._fills(p, history=False),
            TRADE_FILLS_HISTORY: lambda p: self._fills(p, history=True),
            ACCOUNT_BILLS: lambda p: exchange.bills_wire(bill_query(p), archive=False),
            ACCOUNT_BILLS_ARCHIVE: lambda p: exchange.bills_wire(bill_query(p), archive=True),
            PUBLIC_FUNDING_RATE: lambda p: exchange.funding_rate_wire(p.get("instId")),
            PUBLIC_FUNDING_RATE_HISTORY: lambda p: exchange.funding_rate_history_wire(
                p.get("instId"), int_param(p, "after", None), int_param(p, "before", None),
                int(int_param(p, "limit", 400) or 0),
            ),
            ASSET_CURRENCIES: lambda p: currencies_wire(
                (spec.base_ccy for spec in exchange.specs.values()), p.get("ccy")
            ),
        }

    def routes(self) -> list[web.RouteDef]:
        def bind(route: _Route) -> Callable[[web.Request], Any]:
            async def handle(request: web.Request) -> web.StreamResponse:
                return await self.serve(request, route)

            return handle

        known = [web.route(e.method, e.path, bind(_Route.of(e, h))) for e, h in self._handlers.items()]
        # Registered last: aiohttp tries routes in order, so only what nothing above serves lands here
        # (a wrong method on a known path too). Limited to the API prefix: WS and control paths stay.
        return [*known, web.route("*", API_PREFIX + "/{tail:.*}", self.not_found)]

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        self.counters.requests[request.path] += 1
        return json_response(404, envelope(CODE_NOT_FOUND, MSG_NOT_FOUND, []))

    # ------------------------------------------------------------------ the pipeline
    def server_now_s(self) -> float:
        return self._wall_clock() + self.faults.skew_ms / 1000.0

    async def serve(self, request: web.Request, route: _Route) -> web.StreamResponse:
        endpoint = route.endpoint
        path = endpoint.path
        counters = self.counters
        counters.requests[path] += 1
        in_time = self._micros() if route.gateway_times else ""
        faults = self.faults
        if faults.storm_active(path):
            counters.http_429_injected[path] += 1
            return json_response(429, envelope(CODE_RATE_LIMIT, MSG_RATE_LIMIT, None))
        if faults.busy_active(path):
            counters.busy_injected[path] += 1
            return json_response(429, envelope(CODE_BUSY, MSG_BUSY, []))
        # No body (the GETs): b"", as read() would give, without reading the empty stream.
        body = await request.read() if request.body_exists else b""
        try:
            if endpoint.private:
                self._verify_signature(request, body)
            params = self._params(request, route, body)
        except _Refusal as refusal:
            return json_response(
                refusal.status, envelope(refusal.code, refusal.msg, [] if refusal.with_data else None)
            )
        if not self._within_limit(request, route, params):
            counters.http_429[path] += 1
            return json_response(429, envelope(CODE_RATE_LIMIT, MSG_RATE_LIMIT, None))
        if route.places_orders:
            for order in params if isinstance(params, list) else [params]:
                client_id = order.get("clOrdId") or order.get("algoClOrdId")
                if client_id:
                    counters.orders_by_clordid[str(client_id)] += 1
        self._before()
        try:
            status, reply = self._call(route, params)
        finally:
            self._after()
        # Trade POSTs answer with the gateway's times; GET /trade/... replies carry none (docs
        # response examples of orders-history, fills-history).
        if route.gateway_times:
            reply["inTime"] = in_time
            reply["outTime"] = self._micros()
        after_accept = faults.take_after_accept(path) if route.post else None
        if after_accept is not None:
            if after_accept.hold_s is None:
                log.info("fault: dropping the reply to %s after executing it", path)
                if request.transport is not None:
                    request.transport.abort()
                return json_response(status, reply)
            await asyncio.sleep(after_accept.hold_s)
        return json_response(status, reply)

    def _call(self, route: _Route, params: Any) -> tuple[int, dict[str, Any]]:
        try:
            data = route.handler(params)
        except SimApiError as exc:
            return exc.http_status, envelope(exc.code, exc.msg, [])
        except Exception:  # a simulator bug: answer like OKX's system error, keep serving, log it
            log.exception("simulator failed on %s %s", route.endpoint.method, route.endpoint.path)
            return 500, envelope(CODE_SYSTEM_ERROR, "System error", [])
        code, msg = items_outcome(data)
        return 200, envelope(code, msg, data)

    def _micros(self) -> str:
        return str(int(self.server_now_s() * 1_000_000))

    # ------------------------------------------------------------------ auth
    def _verify_signature(self, request: web.Request, body: bytes) -> None:
        problem = rest_auth_problem(
            request.method, request.raw_path, request.headers, body, self.credentials, self.server_now_s()
        )
        if problem is not None:
            self._deny(*problem)

    def _deny(self, code: str, msg: str) -> None:
        self.counters.auth_failures[code] += 1
        raise _Refusal(401, code, msg, with_data=False)

    # ------------------------------------------------------------------ parameters and limits
    def _params(self, request: web.Request, route: _Route, body: bytes) -> Any:
        if route.endpoint.method == "GET":
            url = request.rel_url
            # No query string (/public/time, /account/balance): no parameters, nothing to parse.
            return clean(dict(url.query)) if url.raw_query_string else {}
        if not body.strip():
            parsed: Any = {}
        else:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _Refusal(400, CODE_JSON_SYNTAX, "JSON syntax error") from None
        if route.array_body:
            if not isinstance(parsed, list) or not parsed or not all(isinstance(o, dict) for o in parsed):
                raise _Refusal(400, CODE_PARAM_ERROR, "Parameter body error")
            if len(parsed) > MAX_BATCH_ORDERS:
                raise _Refusal(400, CODE_PARAM_ERROR, "Parameter body error")
            return [clean(o) for o in parsed]
        if not isinstance(parsed, dict):
            raise _Refusal(400, CODE_PARAM_ERROR, "Parameter body error")
        return clean(parsed)

    def _within_limit(self, request: web.Request, route: _Route, params: Any) -> bool:
        endpoint = route.endpoint
        ip = request.remote or ""
        uid = self.exchange.uid
        if route.array_body:
            # Counted per order; a batch of one uses the single-order bucket (reference section 6).
            bucket = SINGLE_ORDER_BUCKET.get(endpoint, endpoint) if len(params) == 1 else endpoint
            per_inst: dict[str, int] = {}
            for order in params:
                inst = str(order.get("instId", ""))
                per_inst[inst] = per_inst.get(inst, 0) + 1
            return all(
                self.limiter.allow(bucket, limit_key(bucket, ip=ip, uid=uid, inst_id=inst), cost)
                for inst, cost in per_inst.items()
            )
        key = limit_key(
            endpoint, ip=ip, uid=uid, inst_type=str(params.get("instType", "")), inst_id=str(params.get("instId", ""))
        )
        return self.limiter.allow(endpoint, key)

    # ------------------------------------------------------------------ handlers needing more than a call
    def _time(self, params: Params) -> list[dict[str, str]]:
        # OKX has one clock: /public/time answers on the clock that stamps its data, i.e. sim time
        # (`speed` times wall time; the replay's time when replaying), skewed by the fault. The
        # auth windows stay on wall time + skew: a client signs with its own wall clock.
        sim_ms = self.exchange.sim_now_ms(self._wall_clock())
        return [{"ts": str(sim_ms + self.faults.skew_ms)}]

    def _mark_price(self, params: Params) -> list[dict]:
        # The docs mark instType required, yet live OKX answers `?instId=...` alone (clients send
        # exactly that; issue 12): the instrument names its type. Neither given: 51000, as OKX.
        if params.get("instId"):
            return [self.exchange.mark_price_wire(params["instId"])]
        inst_type = params.get("instType")
        if inst_type is None:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter instType error", 400)
        if inst_type != "SWAP":
            return []
        return [self.exchange.mark_price_wire(inst_id) for inst_id in self.exchange.specs]

    def _fills(self, params: Params, *, history: bool) -> list[dict]:
        # docs order-book-trading-trade-get-transaction-details-last-3-{days,months}: instType
        # (required by fills-history only), instFamily, instId, ordId, subType, after/before
        # (billId), begin/end (ts), limit (max 100, default 100).
        if not wants_swaps(params, required=history):
            return []
        by_family = "instFamily" in params or "uly" in params
        return self.exchange.fills(
            params.get("instId"), limit_param(params, FILLS_LIMIT_MAX), ord_id=params.get("ordId"),
            begin_ms=id_param(params, "begin"), end_ms=id_param(params, "end"), history=history,
            inst_ids=selected_inst_ids(params, self.exchange.families) if by_family else None,
            sub_type=params.get("subType"), after=id_param(params, "after"), before=id_param(params, "before"),
        )

    def _orders_history(self, params: Params, *, archive: bool) -> list[dict]:
        query = history_query(params, self.exchange.families)  # order_history.py: docs and filters
        return [] if query is None else self.exchange.orders_history(query, archive=archive)

    def _trade_fee(self, params: Params) -> list[dict]:
        # docs trading-account-rest-api-get-fee-rates: instType required; "Only one of groupId and
        # instId/instFamily can be passed in". instId/instFamily select nothing finer here: the
        # account has one fee tier for every simulated contract (trade_fee.py).
        if not wants_swaps(params, required=True):
            return []
        group_id = params.get("groupId")
        if group_id is not None and ("instId" in params or "instFamily" in params or "uly" in params):
            raise param_error("groupId")
        return self.exchange.trade_fee(SIM_INST_TYPE, group_id)

    def _candles(self, params: Params, *, history: bool = False) -> list[list[str]]:
        wire = self.exchange.history_candles_wire if history else self.exchange.candles_wire
        return wire(
            params.get("instId"),
            params.get("bar", "1m"),
            int_param(params, "after", None),
            int_param(params, "before", None),
            int_param(params, "limit", 100),
        )

    def _positions(self, params: Params) -> list[dict]:
        if params.get("instType", "SWAP") != "SWAP":
            return []
        inst_ids = params.get("instId")
        if not inst_ids:
            return self.exchange.positions_wire(None)
        # OKX takes up to 10 comma-separated instIds here.
        wanted = [i for i in str(inst_ids).split(",") if i]
        if len(wanted) > MAX_POSITION_INST_IDS:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter instId error", 400)
        return [p for inst_id in wanted for p in self.exchange.positions_wire(inst_id)]
