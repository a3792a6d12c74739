"""OKX v5 facts in one table-like place: endpoints, documented limits, channels, codes.

Every module (client and simulator alike) reads these; none spells a path, a limit or a
channel name inline. Source: shared/okx-v5-reference.md (sections 1, 3, 6, 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

API_PREFIX = "/api/v5"


class LimitKey(str, Enum):
    """What a documented rate limit is counted per."""

    IP = "ip"
    IP_INST_TYPE = "ip+instType"
    IP_INST_ID = "ip+instId"
    UID = "uid"
    UID_INST_ID = "uid+instId"


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # full request path, e.g. /api/v5/market/ticker
    limit: int  # documented requests per window
    window_s: float
    key: LimitKey
    private: bool


def _ep(method: str, tail: str, limit: int, key: LimitKey, private: bool) -> Endpoint:
    return Endpoint(method, API_PREFIX + tail, limit, 2.0, key, private)


# Documented per-endpoint limits, "N requests per 2 s" (reference section 6).
PUBLIC_TIME = _ep("GET", "/public/time", 10, LimitKey.IP, False)
PUBLIC_INSTRUMENTS = _ep("GET", "/public/instruments", 20, LimitKey.IP_INST_TYPE, False)
PUBLIC_PRICE_LIMIT = _ep("GET", "/public/price-limit", 20, LimitKey.IP, False)
PUBLIC_MARK_PRICE = _ep("GET", "/public/mark-price", 10, LimitKey.IP_INST_ID, False)
# docs public-data-rest-api-get-position-tiers: "10 requests per 2 seconds", rule IP.
PUBLIC_POSITION_TIERS = _ep("GET", "/public/position-tiers", 10, LimitKey.IP, False)
MARKET_TICKER = _ep("GET", "/market/ticker", 20, LimitKey.IP, False)
MARKET_TICKERS = _ep("GET", "/market/tickers", 20, LimitKey.IP, False)
MARKET_BOOKS = _ep("GET", "/market/books", 40, LimitKey.IP, False)
MARKET_CANDLES = _ep("GET", "/market/candles", 40, LimitKey.IP, False)
# docs order-book-trading-market-data-get-candlesticks-history: 20 requests / 2 s per IP; rows like
# /market/candles from recent years, `limit` max HISTORY_CANDLES_MAX_LIMIT (default 100).
MARKET_HISTORY_CANDLES = _ep("GET", "/market/history-candles", 20, LimitKey.IP, False)
# The docs' maximum since 2025 (100 before: github.com/ccxt/ccxt/issues/26705 quotes the change).
HISTORY_CANDLES_MAX_LIMIT = 300
# docs public-data-rest-api-get-index-tickers: 20 requests / 2 s per IP; quoteCcy or instId (e.g. BTC-USDT).
MARKET_INDEX_TICKERS = _ep("GET", "/market/index-tickers", 20, LimitKey.IP, False)
ACCOUNT_BALANCE = _ep("GET", "/account/balance", 10, LimitKey.UID, True)
ACCOUNT_POSITIONS = _ep("GET", "/account/positions", 10, LimitKey.UID, True)
ACCOUNT_CONFIG = _ep("GET", "/account/config", 5, LimitKey.UID, True)
ACCOUNT_SET_POSITION_MODE = _ep("POST", "/account/set-position-mode", 5, LimitKey.UID, True)
ACCOUNT_SET_LEVERAGE = _ep("POST", "/account/set-leverage", 20, LimitKey.UID, True)
ACCOUNT_LEVERAGE_INFO = _ep("GET", "/account/leverage-info", 20, LimitKey.UID, True)
TRADE_ORDER = _ep("POST", "/trade/order", 60, LimitKey.UID_INST_ID, True)
TRADE_BATCH_ORDERS = _ep("POST", "/trade/batch-orders", 300, LimitKey.UID_INST_ID, True)
TRADE_CANCEL_ORDER = _ep("POST", "/trade/cancel-order", 60, LimitKey.UID_INST_ID, True)
TRADE_AMEND_ORDER = _ep("POST", "/trade/amend-order", 60, LimitKey.UID_INST_ID, True)
TRADE_CLOSE_POSITION = _ep("POST", "/trade/close-position", 20, LimitKey.UID_INST_ID, True)
TRADE_GET_ORDER = _ep("GET", "/trade/order", 60, LimitKey.UID_INST_ID, True)
TRADE_ORDERS_PENDING = _ep("GET", "/trade/orders-pending", 60, LimitKey.UID, True)
TRADE_FILLS = _ep("GET", "/trade/fills", 60, LimitKey.UID, True)
# Fills of the last 3 months (instType required): docs trading-trade-get-transaction-details-last-3-months.
TRADE_FILLS_HISTORY = _ep("GET", "/trade/fills-history", 10, LimitKey.UID, True)
# Algo (conditional stop) orders: docs order-book-trading-algo-trading-{post-place-algo-order,
# post-cancel-algo-order,get-algo-order-list}. cancel-algos counts orders (≤10 per request).
TRADE_ORDER_ALGO = _ep("POST", "/trade/order-algo", 20, LimitKey.UID_INST_ID, True)
TRADE_CANCEL_ALGOS = _ep("POST", "/trade/cancel-algos", 20, LimitKey.UID_INST_ID, True)
TRADE_ORDERS_ALGO_PENDING = _ep("GET", "/trade/orders-algo-pending", 20, LimitKey.UID, True)
# docs order-book-trading-algo-trading-post-amend-algo-order: 20 requests / 2 s per UID + instId;
# TP/SL (conditional, oco) and trigger orders only; body is one object, data[] carries sCode.
TRADE_AMEND_ALGOS = _ep("POST", "/trade/amend-algos", 20, LimitKey.UID_INST_ID, True)
# Batch cancel/amend: docs order-book-trading-trade-post-{cancel,amend}-multiple-orders: ≤20 orders a
# request, "300 orders per 2 seconds" per User ID + Instrument ID, counted per order; a batch of one
# uses the single-order bucket (cancel-order / amend-order).
TRADE_CANCEL_BATCH_ORDERS = _ep("POST", "/trade/cancel-batch-orders", 300, LimitKey.UID_INST_ID, True)
TRADE_AMEND_BATCH_ORDERS = _ep("POST", "/trade/amend-batch-orders", 300, LimitKey.UID_INST_ID, True)
# Finished orders: docs order-book-trading-trade-get-order-history-last-7-days (40 / 2 s per User ID)
# and ...-last-3-months (orders-history-archive, 20 / 2 s per User ID); instType required on both.
TRADE_ORDERS_HISTORY = _ep("GET", "/trade/orders-history", 40, LimitKey.UID, True)
TRADE_ORDERS_HISTORY_ARCHIVE = _ep("GET", "/trade/orders-history-archive", 20, LimitKey.UID, True)
# docs trading-account-rest-api-get-fee-rates: 5 / 2 s per User ID, instType required.
ACCOUNT_TRADE_FEE = _ep("GET", "/account/trade-fee", 5, LimitKey.UID, True)
# Bills and funding: docs trading-account-rest-api-get-bills-details-last-7-days ("5 requests per
# second", User ID), ...-last-3-months ("5 requests per 2 seconds", User ID); public-data
# rest-api-get-funding-rate and ...-get-funding-rate-history ("10 requests per 2 seconds", IP + instId).
ACCOUNT_BILLS = Endpoint("GET", API_PREFIX + "/account/bills", 5, 1.0, LimitKey.UID, True)
ACCOUNT_BILLS_ARCHIVE = _ep("GET", "/account/bills-archive", 5, LimitKey.UID, True)
PUBLIC_FUNDING_RATE = _ep("GET", "/public/funding-rate", 10, LimitKey.IP_INST_ID, False)
PUBLIC_FUNDING_RATE_HISTORY = _ep("GET", "/public/funding-rate-history", 10, LimitKey.IP_INST_ID, False)

ENDPOINTS: tuple[Endpoint, ...] = (
    PUBLIC_TIME,
    PUBLIC_INSTRUMENTS,
    PUBLIC_PRICE_LIMIT,
    PUBLIC_MARK_PRICE,
    PUBLIC_POSITION_TIERS,
    MARKET_TICKER,
    MARKET_TICKERS,
    MARKET_BOOKS,
    MARKET_CANDLES,
    MARKET_HISTORY_CANDLES,
    MARKET_INDEX_TICKERS,
    ACCOUNT_BALANCE,
    ACCOUNT_POSITIONS,
    ACCOUNT_CONFIG,
    ACCOUNT_SET_POSITION_MODE,
    ACCOUNT_SET_LEVERAGE,
    ACCOUNT_LEVERAGE_INFO,
    TRADE_ORDER,
    TRADE_BATCH_ORDERS,
    TRADE_CANCEL_ORDER,
    TRADE_AMEND_ORDER,
    TRADE_CLOSE_POSITION,
    TRADE_GET_ORDER,
    TRADE_ORDERS_PENDING,
    TRADE_FILLS,
    TRADE_FILLS_HISTORY,
    TRADE_ORDER_ALGO,
    TRADE_CANCEL_ALGOS,
    TRADE_ORDERS_ALGO_PENDING,
    TRADE_AMEND_ALGOS,
    TRADE_CANCEL_BATCH_ORDERS,
    TRADE_AMEND_BATCH_ORDERS,
    TRADE_ORDERS_HISTORY,
    TRADE_ORDERS_HISTORY_ARCHIVE,
    ACCOUNT_TRADE_FEE,
    ACCOUNT_BILLS,
    ACCOUNT_BILLS_ARCHIVE,
    PUBLIC_FUNDING_RATE,
    PUBLIC_FUNDING_RATE_HISTORY,
)
ENDPOINT_BY_ROUTE: dict[tuple[str, str], Endpoint] = {(e.method, e.path): e for e in ENDPOINTS}

# WebSocket paths and limits (reference section 3).
WS_PUBLIC_PATH = "/ws/v5/public"
WS_PRIVATE_PATH = "/ws/v5/private"
WS_BUSINESS_PATH = "/ws/v5/business"
# OKX docs Overview > WebSocket > Connect: "Connection limit: 3 requests per second (based on IP)". The
# simulator counts it per IP and service URL (sim.ws_api.connection_limit_key); the client's ConnectGate
# keeps to 3 per second over all URLs together, which is within it under any reading.
WS_NEW_CONNECTIONS_PER_S = 3
WS_OPS_PER_CONNECTION_PER_HOUR = 480  # subscribe + unsubscribe + login
WS_IDLE_CLOSE_S = 30.0
WS_CLOSE_IDLE = 4004
WS_CLOSE_LOGIN_FAILED = 4001
WS_LOGIN_PREHASH_PATH = "/users/self/verify"

# Public channels live on /public; candles on /business; account channels on /private.
# `instruments` is keyed by instType, the others by instId (docs public-data-websocket-instruments-channel).
PUBLIC_CHANNELS = frozenset(
    {"tickers", "books5", "bbo-tbt", "books", "trades", "mark-price", "price-limit", "instruments"}
)
PRIVATE_CHANNELS = frozenset({"orders", "positions", "account", "balance_and_position"})
CANDLE_CHANNEL_PREFIX = "candle"
# Bar names OKX accepts (case matters: minutes `m`, hours `H`).
CANDLE_BARS: dict[str, int] = {  # bar -> seconds
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1H": 3600,
    "2H": 7200,
    "4H": 14400,
}

# Demo trading header (reference section 1).
DEMO_HEADER = "x-simulated-trading"

# REST error codes the client and simulator must agree on (reference section 7).
CODE_OK = "0"
CODE_ALL_FAILED = "1"
CODE_PARTIAL = "2"
CODE_SERVICE_UNAVAILABLE = "50001"
CODE_TIMEOUT_UNKNOWN = "50004"
CODE_RATE_LIMIT = "50011"
CODE_BUSY = "50013"
CODE_SYSTEM_ERROR = "50026"
CODE_KEY_ENV_MISMATCH = "50101"
CODE_TIMESTAMP_EXPIRED = "50102"
CODE_MISSING_KEY = "50103"
CODE_MISSING_PASSPHRASE = "50104"
CODE_WRONG_PASSPHRASE = "50105"
CODE_MISSING_SIGN = "50106"
CODE_MISSING_TIMESTAMP = "50107"
CODE_INVALID_KEY = "50111"
CODE_INVALID_TIMESTAMP = "50112"
CODE_INVALID_SIGN = "50113"
CODE_PARAM_ERROR = "51000"
CODE_INST_NOT_FOUND = "51001"
CODE_PRICE_LIMIT = "51006"
CODE_INSUFFICIENT_MARGIN = "51008"
CODE_DUPLICATE_CLORDID = "51016"
CODE_BELOW_MIN_SIZE = "51020"
CODE_LOT_SIZE = "51121"
CODE_REDUCE_ONLY_NO_POSITION = "51169"
CODE_CANCEL_FAILED = "51400"
CODE_POSITION_NOT_FOUND = "51023"  # close-position: no such position
CODE_AMEND_FAILED = "51503"
CODE_ORDER_NOT_FOUND = "51603"
CODE_SETTINGS_BLOCKED = "59000"
CODE_LEVERAGE_TOO_HIGH = "59102"

# Codes after which a GET may be retried with backoff; order POSTs are never blindly retried.
RETRYABLE_CODES = frozenset(
    {CODE_SERVICE_UNAVAILABLE, CODE_TIMEOUT_UNKNOWN, CODE_RATE_LIMIT, CODE_BUSY, CODE_SYSTEM_ERROR}
)
# An order POST that failed with one of these has an unknown outcome: query by clOrdId.
AMBIGUOUS_ORDER_CODES = frozenset({CODE_TIMEOUT_UNKNOWN, "51149", CODE_SYSTEM_ERROR})

# WebSocket error codes (reference section 3).
WS_CODE_INVALID_REQUEST = "60012"
WS_CODE_INVALID_ARGS = "60013"
WS_CODE_TOO_FREQUENT = "60014"
WS_CODE_PLEASE_LOGIN = "60011"
WS_CODE_WRONG_URL_OR_CHANNEL = "60018"
WS_CODE_LOGIN_FAILED = "60009"
WS_CODE_INVALID_TIMESTAMP = "60004"
WS_CODE_INVALID_KEY = "60005"
WS_CODE_TIMESTAMP_EXPIRED = "60006"
WS_CODE_INVALID_SIGN = "60007"
WS_CODE_WRONG_PASSPHRASE = "60024"
WS_CODE_SERVICE_UPGRADE_NOTICE = "64008"

# Order states and cancel sources (reference section 5).
ORDER_STATES_OPEN = frozenset({"live", "partially_filled"})
ORDER_STATES_FINAL = frozenset({"filled", "canceled", "mmp_canceled"})
CANCEL_SOURCE_POST_ONLY = "31"
CANCEL_SOURCE_IOC_REMAINDER = "14"
CANCEL_SOURCE_USER = "1"

# Bill type / subType codes (docs trading-account-rest-api-get-bills-details-last-7-days, "type" and
# "subType"): trade 2 (1 buy, 2 sell, 3 open long, 4 open short, 5 close long, 6 close short),
# liquidation 5 (100/101 partial liquidation close long/short, 102/103 partial liquidation buy/sell,
# 104/105 liquidation long/short, 106/107 liquidation buy/sell, 110/111 liquidation transfer in/out),
# funding fee 8 (173 expense, 174 income). The bill's `pnl` carries the funding payment.
BILL_TYPE_TRADE = "2"
BILL_TYPE_LIQUIDATION = "5"
BILL_TYPE_FUNDING_FEE = "8"
BILL_SUB_BUY = "1"
BILL_SUB_SELL = "2"
BILL_SUB_OPEN_LONG = "3"
BILL_SUB_OPEN_SHORT = "4"
BILL_SUB_CLOSE_LONG = "5"
BILL_SUB_CLOSE_SHORT = "6"
BILL_SUB_PARTIAL_LIQ_CLOSE_LONG = "100"
BILL_SUB_PARTIAL_LIQ_CLOSE_SHORT = "101"
BILL_SUB_PARTIAL_LIQ_BUY = "102"
BILL_SUB_PARTIAL_LIQ_SELL = "103"
BILL_SUB_LIQ_LONG = "104"
BILL_SUB_LIQ_SHORT = "105"
BILL_SUB_LIQ_BUY = "106"
BILL_SUB_LIQ_SELL = "107"
BILL_SUB_LIQ_TRANSFER_IN = "110"
BILL_SUB_LIQ_TRANSFER_OUT = "111"
BILL_SUB_FUNDING_EXPENSE = "173"
BILL_SUB_FUNDING_INCOME = "174"
# balance_and_position push eventType for a funding settlement (docs websocket-balance-and-position-channel).
EVENT_TYPE_FUNDING_FEE = "funding_fee"

# Exchange profiles: base URLs (reference section 1). The simulator's are built at run time.
OKX_REST_URL = "https://www.okx.com"
OKX_LIVE_WS_URL = "wss://ws.okx.com:8443"
OKX_DEMO_WS_URL = "wss://wspap.okx.com:8443"

# REST body that is not JSON (OKX: HTTP 400, code 50002). Used by the simulator.
CODE_JSON_SYNTAX = "50002"
