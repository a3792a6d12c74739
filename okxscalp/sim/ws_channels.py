"""Which WebSocket channels the simulator serves, on which path, and how their args match.

Reference sections 1, 3-5: public market channels on /public, candles on /business, account
channels on /private after login (orders-algo on /business after login).
"""

from __future__ import annotations

from typing import Any

import orjson

from okxscalp.okx.constants import (
    CANDLE_BARS,
    CANDLE_CHANNEL_PREFIX,
    WS_BUSINESS_PATH,
    WS_PRIVATE_PATH,
    WS_PUBLIC_PATH,
)
from okxscalp.sim.instruments import INSTRUMENTS_CHANNEL

WS_PATHS = (WS_PUBLIC_PATH, WS_PRIVATE_PATH, WS_BUSINESS_PATH)
BOOKS_CHANNEL = "books"  # 400 levels: a snapshot on subscribe, then "update" deltas (reference section 4)
# docs websocket-public-index-tickers-channel: arg instId is an index (e.g. BTC-USDT), on /public.
INDEX_TICKERS_CHANNEL = "index-tickers"
SIM_PUBLIC_CHANNELS = frozenset({"tickers", "books5", "bbo-tbt", "trades", "mark-price", "price-limit", BOOKS_CHANNEL})
SIM_CANDLE_CHANNELS = frozenset(CANDLE_CHANNEL_PREFIX + bar for bar in CANDLE_BARS)
ORDERS_CHANNEL = "orders"
POSITIONS_CHANNEL = "positions"
ACCOUNT_CHANNEL = "account"
ORDERS_ALGO_CHANNEL = "orders-algo"
# docs websocket-balance-and-position-channel: no instType; a snapshot on subscribe, then pushes
# with the eventType that caused them (the simulator pushes funding_fee settlements).
BALANCE_AND_POSITION_CHANNEL = "balance_and_position"
# Login-only channels and the path each lives on.
PRIVATE_CHANNEL_PATHS = {
    ORDERS_CHANNEL: WS_PRIVATE_PATH,
    POSITIONS_CHANNEL: WS_PRIVATE_PATH,
    ACCOUNT_CHANNEL: WS_PRIVATE_PATH,
    BALANCE_AND_POSITION_CHANNEL: WS_PRIVATE_PATH,
    ORDERS_ALGO_CHANNEL: WS_BUSINESS_PATH,
}
SIM_PRIVATE_CHANNELS = frozenset(PRIVATE_CHANNEL_PATHS)
# Channels limited to 30 connections per sub-account, announced with channel-conn-count.
CONN_COUNTED_CHANNELS = frozenset({ORDERS_CHANNEL, POSITIONS_CHANNEL, ACCOUNT_CHANNEL})
CONN_COUNT_EVENT = "channel-conn-count"
CONN_COUNT_ERROR_EVENT = "channel-conn-count-error"
PAGED_CHANNELS = frozenset({POSITIONS_CHANNEL, ACCOUNT_CHANNEL})  # pushes carry eventType/curPage/lastPage
INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"})
# `instruments` (public, keyed by instType, not instId): docs public-data-websocket-instruments-channel
# names SPOT, MARGIN, SWAP, FUTURES and OPTION. Every simulated instrument is a SWAP, so the other
# types are acknowledged and have nothing to list.
INSTRUMENTS_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
SIM_INST_TYPES = frozenset({"SWAP", "ANY"})  # every simulated instrument is a SWAP
DEFAULT_REGULAR_PUSH_MS = 5000  # positions/account regular snapshots without extraParams


def wrong_url_msg(arg: dict[str, Any]) -> str:
    """60018 text, e.g. "Wrong URL or channel:candle1m,instId:BTC-USD-SWAP doesn't exist. ..."."""
    parts = [f"channel:{arg.get('channel', '')}"]
    parts += [f"{key}:{arg[key]}" for key in ("instId", "instType", "instFamily") if arg.get(key)]
    return (
        f"Wrong URL or {','.join(parts)} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


def conn_count_event(channel: str, count: int, conn_id: str, *, refused: bool = False) -> dict[str, Any]:
    """What OKX sends a new subscriber of a connection-counted channel: the count, or, past the
    limit, channel-conn-count-error after the ack (reference section 3, Limits; OKX docs
    "Connection count limit": `{"event":"channel-conn-count-error","channel":"orders",
    "connCount":"30","connId":"a4d3ae55"}`)."""
    event = CONN_COUNT_ERROR_EVENT if refused else CONN_COUNT_EVENT
    return {"event": event, "channel": channel, "connCount": str(count), "connId": conn_id}


def public_push_arg(channel: str, key: str) -> dict[str, str]:
    """The `arg` of a public push: `instType` for `instruments`, `instId` for the market channels."""
    return {"channel": channel, "instType" if channel == INSTRUMENTS_CHANNEL else "instId": key}


def private_match(arg: dict[str, Any], inst_id: str | None) -> bool:
    """Whether a push for `inst_id` belongs to an orders/positions/orders-algo subscription `arg`."""
    if arg.get("instType", "ANY") not in SIM_INST_TYPES:
        return False
    wanted_id = arg.get("instId")
    if wanted_id and wanted_id != inst_id:
        return False
    family = arg.get("instFamily")
    return not (family and (inst_id is None or inst_id.rsplit("-", 1)[0] != family))


def regular_push_interval_s(arg: dict[str, Any]) -> float:
    """Seconds between regular snapshots for a positions/account arg (0: events only).

    extraParams is a JSON string, e.g. '{"updateInterval": "0"}'; OKX accepts 0 and
    2000/3000/4000 ms and pushes about every 5 s by default (reference section 5)."""
    if arg.get("channel") not in PAGED_CHANNELS:
        return 0.0
    extra = arg.get("extraParams")
    interval_ms = None
    if isinstance(extra, str) and extra:
        try:
            interval_ms = orjson.loads(extra).get("updateInterval")
        except (orjson.JSONDecodeError, AttributeError):
            interval_ms = None
    try:
        value = int(interval_ms) if interval_ms is not None else DEFAULT_REGULAR_PUSH_MS
    except (TypeError, ValueError):
        value = DEFAULT_REGULAR_PUSH_MS
    if value == 0:
        return 0.0
    return (value if value in (2000, 3000, 4000) else DEFAULT_REGULAR_PUSH_MS) / 1000.0


def nonzero(value: Any) -> bool:
    try:
        return float(value) != 0.0
    except (TypeError, ValueError):
        return False
