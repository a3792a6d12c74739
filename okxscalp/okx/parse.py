"""Wire → domain: the only place that reads raw OKX JSON.

Every function here either returns typed objects (models.py / messages.py) or raises
`MalformedMessage`; no other exception escapes (KeyError, TypeError, ValueError, ... are all
translated). Numbers must arrive as JSON strings, as OKX sends them: a number where a string is
documented is a wrong type, hence malformed. Optional numbers arrive as `""` and become None.

The ticker path is the hot one (50k msgs/s target): orjson straight into `Ticker`, no layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from okxscalp.okx.constants import CANDLE_BARS, CANDLE_CHANNEL_PREFIX
from okxscalp.okx.errors import MalformedMessage
from okxscalp.okx.messages import ChannelArg, Pong, WsEvent, WsFrame, WsPush
from okxscalp.okx.models import (
    AccountConfig,
    AlgoAck,
    AlgoOrder,
    AttachedAlgo,
    Balance,
    BookLevel,
    BookTop,
    Candle,
    ClosePositionAck,
    Fill,
    Instrument,
    LeverageInfo,
    MarkPrice,
    Order,
    OrderAck,
    OrderBook,
    Position,
    PosSide,
    PriceLimit,
    Side,
    Ticker,
    Trade,
)

# What a malformed payload can raise inside the item parsers; all become MalformedMessage.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)

__all__ = [
    "Envelope",
    "MalformedMessage",
    "parse_account_config",
    "parse_algo_acks",
    "parse_algo_orders",
    "parse_balance",
    "parse_books",
    "parse_candles",
    "parse_close_position",
    "parse_envelope",
    "parse_fills",
    "parse_instruments",
    "parse_leverage",
    "parse_mark_price",
    "parse_order_acks",
    "parse_orders",
    "parse_position_mode",
    "parse_positions",
    "parse_price_limit",
    "parse_server_time",
    "parse_tickers",
    "parse_ws_frame",
]


# --- scalar helpers -------------------------------------------------------------------------


def _num(value: Any) -> float:
    """A required number: a JSON string holding a finite float."""
    if value.__class__ is not str:
        raise TypeError(f"number expected as string, got {type(value).__name__}")
    result = float(value)
    if result - result != 0.0:  # inf or nan
        raise ValueError(f"non-finite number {value!r}")
    return result


def _opt_num(value: Any) -> float | None:
    """An optional number: `""` (or absent/null) → None."""
    if value is None or value == "":
        return None
    return _num(value)


def _num_or_zero(value: Any) -> float:
    result = _opt_num(value)
    return 0.0 if result is None else result


def _positive_or_none(value: Any) -> float | None:
    """avgPx/fillPx/ordPx: `""`, `"0"` and `"-1"` (market) all mean "no price"."""
    result = _opt_num(value)
    return result if result is not None and result > 0.0 else None


def _int(value: Any) -> int:
    """A required integer timestamp/id: string per OKX (a few fields are bare JSON integers)."""
    if value.__class__ is str:
        return int(value)
    if value.__class__ is int:
        return value
    raise TypeError(f"integer expected, got {type(value).__name__}")


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return _int(value)


def _int_or_zero(value: Any) -> int:
    result = _opt_int(value)
    return 0 if result is None else result


def _str(value: Any) -> str:
    if value.__class__ is not str:
        raise TypeError(f"string expected, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str:
    return "" if value is None else _str(value)


def _bool(value: Any) -> bool:
    """Booleans travel as JSON booleans or as the strings "true"/"false"."""
    if value is True or value == "true":
        return True
    if value is False or value == "false" or value is None or value == "":
        return False
    raise ValueError(f"boolean expected, got {value!r}")


def _pos_side(value: Any) -> PosSide:
    # Net mode (and non-derivatives) may send "" where the docs mean "net".
    return PosSide(value) if value else PosSide.NET


def _items(data: Any) -> list[Any]:
    if data.__class__ is not list:
        raise TypeError("data must be a list")
    return data


def _guard(parser: Callable[..., Any], *args: Any) -> Any:
    try:
        return parser(*args)
    except MalformedMessage:
        raise
    except _SHAPE_ERRORS as exc:
        raise MalformedMessage(f"{parser.__name__}: {exc.__class__.__name__}: {exc}") from None


# --- items (shared by REST and WebSocket: the same objects on both) -----------------------


def _ticker(d: dict[str, Any], _inst_id: str, recv_mono: float) -> Ticker:
    # The hot path: no helper calls per number. Same rules as _num: strings only, finite. A ticker
    # names its instId itself: the push arg's (`_inst_id`) is unused, taken so that every pushed
    # market item parser has one shape (_MARKET_ITEM_PARSERS).
    last, bid, ask, bid_sz, ask_sz = d["last"], d["bidPx"], d["askPx"], d["bidSz"], d["askSz"]
    if (
        last.__class__ is not str
        or bid.__class__ is not str
        or ask.__class__ is not str
        or bid_sz.__class__ is not str
        or ask_sz.__class__ is not str
    ):
        raise TypeError("ticker numbers must be strings")
    inst_id = d["instId"]
    if inst_id.__class__ is not str:
        raise TypeError("instId must be a string")
    ts = _int(d["ts"])
    last_px, bid_px, ask_px, bid_qty, ask_qty = float(last), float(bid), float(ask), float(bid_sz), float(ask_sz)
    total = last_px + bid_px + ask_px + bid_qty + ask_qty
    if total - total != 0.0:  # some field is inf or nan
        raise ValueError("non-finite number in ticker")
    return Ticker(inst_id, last_px, bid_px, ask_px, bid_qty, ask_qty, ts, recv_mono)


def _level(row: Any) -> BookLevel:
    # [px, sz, "0" (deprecated), numOrders]
    return BookLevel(_num(row[0]), _num(row[1]), _int_or_zero(row[3]) if len(row) > 3 else 0)


def _book_top(d: dict[str, Any], inst_id: str, _recv: float = 0.0) -> BookTop:
    # books5 / bbo-tbt pushes: no helper calls per field (as _ticker); the rules of _num and _int.
    # `_recv` is unused: the shape of a pushed market item parser (_MARKET_ITEM_PARSERS).
    ask, bid = d["asks"][0], d["bids"][0]
    bid_px, bid_sz, ask_px, ask_sz = bid[0], bid[1], ask[0], ask[1]
    if (
        bid_px.__class__ is not str
        or bid_sz.__class__ is not str
        or ask_px.__class__ is not str
        or ask_sz.__class__ is not str
    ):
        raise TypeError("book numbers must be strings")
    top = BookTop(
        _str(d.get("instId") or inst_id), float(bid_px), float(bid_sz), float(ask_px), float(ask_sz), _int(d["ts"])
    )
    if (top.bid - top.bid) + (top.bid_sz - top.bid_sz) + (top.ask - top.ask) + (top.ask_sz - top.ask_sz) != 0.0:
        raise ValueError("non-finite number in book")  # x - x is 0.0 for every finite x, nan otherwise
    return top


def _order_book(d: dict[str, Any], inst_id: str) -> OrderBook:
    return OrderBook(
        _str(d.get("instId") or inst_id),
        tuple(_level(row) for row in d["asks"]),
        tuple(_level(row) for row in d["bids"]),
        _int(d["ts"]),
        _opt_int(d.get("seqId")),
        _opt_int(d.get("prevSeqId")),
    )


def _trade(d: dict[str, Any]) -> Trade:
    return Trade(
        _str(d["instId"]), _str(d["tradeId"]), _num(d["px"]), _num(d["sz"]), Side(d["side"]), _int(d["ts"])
    )


def _candle(row: Any, inst_id: str, bar: str) -> Candle:
    # [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]; no helper calls per number (as _ticker)
    if row.__class__ is not list or len(row) < 9:
        raise ValueError("candle row must be a list of 9 fields")
    ts, o, h, lo, c, vol, confirm = row[0], row[1], row[2], row[3], row[4], row[5], row[8]
    if (
        o.__class__ is not str
        or h.__class__ is not str
        or lo.__class__ is not str
        or c.__class__ is not str
        or vol.__class__ is not str
        or confirm.__class__ is not str
    ):
        raise TypeError("candle numbers and confirm must be strings")
    candle = Candle(inst_id, bar, _int(ts), float(o), float(h), float(lo), float(c), float(vol), confirm == "1")
    o, h, lo, c, vol = candle.open, candle.high, candle.low, candle.close, candle.vol
    if (o - o) + (h - h) + (lo - lo) + (c - c) + (vol - vol) != 0.0:
        raise ValueError("non-finite number in candle")  # x - x is 0.0 for every finite x, nan otherwise
    return candle


def _mark_price(d: dict[str, Any], _inst_id: str = "", _recv: float = 0.0) -> MarkPrice:
    # The item names its instId; the unused parameters: the shape of _MARKET_ITEM_PARSERS.
    inst_id, px = d["instId"], d["markPx"]
    if inst_id.__class__ is not str or px.__class__ is not str:
        raise TypeError("mark-price instId and markPx must be strings")
    mark_px = float(px)
    if mark_px - mark_px != 0.0:
        raise ValueError(f"non-finite number {px!r}")
    return MarkPrice(inst_id, mark_px, _int(d["ts"]))


def _price_limit(d: dict[str, Any], _inst_id: str = "", _recv: float = 0.0) -> PriceLimit:
    # The item names its instId; the unused parameters: the shape of _MARKET_ITEM_PARSERS.
    enabled = d.get("enabled", True)
    if enabled is not True:
        enabled = _bool(enabled)
    inst_id, buy, sell = d["instId"], d["buyLmt"], d["sellLmt"]
    if inst_id.__class__ is not str:
        raise TypeError("price-limit instId must be a string")
    if buy.__class__ is str and sell.__class__ is str and buy and sell:  # the usual push: both limits, as _num
        buy_limit, sell_limit = float(buy), float(sell)
        if (buy_limit - buy_limit) + (sell_limit - sell_limit) != 0.0:
            raise ValueError(f"non-finite number in price limits {buy!r} / {sell!r}")
        return PriceLimit(inst_id, buy_limit, sell_limit, _int(d["ts"]), enabled)
    return PriceLimit(inst_id, _opt_num(buy), _opt_num(sell), _int(d["ts"]), enabled)


def _attached(d: dict[str, Any]) -> AttachedAlgo:
    return AttachedAlgo(
        _opt_str(d.get("attachAlgoId")),
        _opt_str(d.get("attachAlgoClOrdId")),
        _opt_num(d.get("tpTriggerPx")),
        _opt_num(d.get("slTriggerPx")),
        _positive_or_none(d.get("tpOrdPx")),
        _positive_or_none(d.get("slOrdPx")),
    )


def _order(d: dict[str, Any]) -> Order:
    attached = d.get("attachAlgoOrds") or []
    return Order(
        inst_id=_str(d["instId"]),
        ord_id=_str(d["ordId"]),
        cl_ord_id=_opt_str(d.get("clOrdId")),
        side=Side(d["side"]),
        pos_side=_pos_side(d.get("posSide")),
        ord_type=_str(d["ordType"]),
        px=_positive_or_none(d.get("px")),
        sz=_num(d["sz"]),
        state=_str(d["state"]),
        acc_fill_sz=_num_or_zero(d.get("accFillSz")),
        avg_px=_positive_or_none(d.get("avgPx")),
        fill_px=_positive_or_none(d.get("fillPx")),
        fill_sz=_num_or_zero(d.get("fillSz")),
        fee=_num_or_zero(d.get("fee")),
        reduce_only=_bool(d.get("reduceOnly")),
        lever=_opt_num(d.get("lever")),
        cancel_source=_opt_str(d.get("cancelSource")),
        c_time_ms=_int(d["cTime"]),
        u_time_ms=_int(d["uTime"]),
        tag=_opt_str(d.get("tag")),
        trade_id=_opt_str(d.get("tradeId")),
        attached=[_attached(a) for a in _items(attached)],
        category=_opt_str(d.get("category")) or "normal",
    )


def _algo_order(d: dict[str, Any]) -> AlgoOrder:
    return AlgoOrder(
        inst_id=_str(d["instId"]),
        algo_id=_str(d["algoId"]),
        algo_cl_ord_id=_opt_str(d.get("algoClOrdId")),
        ord_type=_str(d["ordType"]),
        state=_str(d["state"]),
        side=Side(d["side"]),
        pos_side=_pos_side(d.get("posSide")),
        sz=_num_or_zero(d.get("sz")),  # "" when closeFraction closes the whole position
        trigger_px=_opt_num(d.get("triggerPx")),
        ord_px=_positive_or_none(d.get("ordPx")),
        reduce_only=_bool(d.get("reduceOnly")),
        ord_id=_opt_str(d.get("ordId")),
        c_time_ms=_int(d["cTime"]),
        u_time_ms=_int(d["uTime"]),
        sl_trigger_px=_opt_num(d.get("slTriggerPx")),
        tp_trigger_px=_opt_num(d.get("tpTriggerPx")),
        close_fraction=_opt_str(d.get("closeFraction")),
    )


def _position(d: dict[str, Any]) -> Position:
    return Position(
        inst_id=_str(d["instId"]),
        pos_side=_pos_side(d.get("posSide")),
        pos=_num(d["pos"]),
        avg_px=_positive_or_none(d.get("avgPx")),
        mark_px=_positive_or_none(d.get("markPx")),
        upl=_num_or_zero(d.get("upl")),
        lever=_opt_num(d.get("lever")),
        mgn_mode=_str(d["mgnMode"]),
        u_time_ms=_int(d["uTime"]),
        pos_id=_opt_str(d.get("posId")),
        funding_fee=_opt_num(d.get("fundingFee")),
        liq_px=_positive_or_none(d.get("liqPx")),
    )


def _balance(d: dict[str, Any]) -> Balance:
    usdt = None
    for detail in _items(d.get("details") or []):
        if detail["ccy"] == "USDT":
            usdt = detail
            break
    # Available USDT: the USDT detail is authoritative; no USDT detail means none available.
    avail = _num_or_zero(usdt.get("availEq") or usdt.get("availBal")) if usdt is not None else 0.0
    upl = _opt_num(d.get("upl"))
    if upl is None and usdt is not None:
        upl = _opt_num(usdt.get("upl"))
    return Balance(_num(d["totalEq"]), avail, upl or 0.0, _int(d["uTime"]))


def _fill(d: dict[str, Any]) -> Fill:
    return Fill(
        inst_id=_str(d["instId"]),
        trade_id=_str(d["tradeId"]),
        ord_id=_str(d["ordId"]),
        cl_ord_id=_opt_str(d.get("clOrdId")),
        side=Side(d["side"]),
        pos_side=_pos_side(d.get("posSide")),
        fill_px=_num(d["fillPx"]),
        fill_sz=_num(d["fillSz"]),
        fee=_num_or_zero(d.get("fee")),
        exec_type=_opt_str(d.get("execType")),
        ts_ms=_int(d.get("fillTime") or d["ts"]),
        sub_type=_opt_str(d.get("subType")),
    )


def _instrument(d: dict[str, Any]) -> Instrument:
    return Instrument(
        inst_id=_str(d["instId"]),
        ct_val=_num(d["ctVal"]),
        tick_sz=_str(d["tickSz"]),
        lot_sz=_str(d["lotSz"]),
        min_sz=_str(d["minSz"]),
        # "" for instruments without leverage: 0 = none allowed, so any leverage check fails closed.
        max_leverage=_num_or_zero(d.get("lever")),
        state=_str(d["state"]),
        settle_ccy=_opt_str(d.get("settleCcy")),
        ct_type=_opt_str(d.get("ctType")),
        inst_id_code=_opt_inst_id_code(d.get("instIdCode")),
    )


def _opt_inst_id_code(value: Any) -> int | None:
    """`instIdCode` is an Integer in OKX's docs; a numeric string is read too, anything else is None
    (the WebSocket trade channel then refuses to key an order by it: REST carries it instead)."""
    if value.__class__ is int:
        return value  # type: ignore[no-any-return]
    if value.__class__ is str and value.isdigit():
        return int(value)
    return None


def _order_ack(d: dict[str, Any]) -> OrderAck:
    return OrderAck(
        _opt_str(d.get("ordId")),
        _opt_str(d.get("clOrdId")),
        _str(d["sCode"]),
        _opt_str(d.get("sMsg")),
        _int_or_zero(d.get("ts")),
        _opt_str(d.get("subCode")),
    )


def _algo_ack(d: dict[str, Any]) -> AlgoAck:
    return AlgoAck(
        _str(d["algoId"]), _opt_str(d.get("algoClOrdId")), _str(d["sCode"]), _opt_str(d.get("sMsg"))
    )


def _leverage(d: dict[str, Any]) -> LeverageInfo:
    return LeverageInfo(
        _opt_str(d.get("instId")), _str(d["mgnMode"]), _opt_str(d.get("posSide")), _num(d["lever"])
    )


def _close_position(d: dict[str, Any]) -> ClosePositionAck:
    return ClosePositionAck(
        _str(d["instId"]), _opt_str(d.get("posSide")), _opt_str(d.get("clOrdId")), _opt_str(d.get("tag"))
    )


# --- REST -----------------------------------------------------------------------------------


class Envelope:
    """`{"code","msg","data"}`; `data` may be missing (429/401 bodies) → empty list."""

    __slots__ = ("code", "data", "msg")

    def __init__(self, code: str, msg: str, data: list[Any]) -> None:
        self.code = code
        self.msg = msg
        self.data = data


def parse_envelope(body: bytes | str) -> Envelope:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc}", _excerpt(body)) from None
    if doc.__class__ is not dict or "code" not in doc:
        raise MalformedMessage("envelope without code", _excerpt(body))
    code = doc["code"]
    # One real OKX 404 body carries `code` as a number; the value is what matters.
    if code.__class__ is int:
        code = str(code)
    elif code.__class__ is not str:
        raise MalformedMessage("envelope code is not a string", _excerpt(body))
    msg = doc.get("msg")
    data = doc.get("data")
    if data is None:
        data = []
    elif data.__class__ is not list:
        raise MalformedMessage("envelope data is not a list", _excerpt(body))
    return Envelope(code, msg if msg.__class__ is str else "", data)


def _each(parser: Callable[..., Any], data: Any, *extra: Any) -> list[Any]:
    try:
        return [parser(item, *extra) for item in _items(data)]
    except _SHAPE_ERRORS as exc:
        raise MalformedMessage(f"{parser.__name__.lstrip('_')}: {exc.__class__.__name__}: {exc}") from None


def parse_server_time(data: Any) -> int:
    """GET /public/time → server time in Unix ms."""
    items = _items_or_malformed(data)
    return _guard(lambda d: _int(d["ts"]), items[0])


def parse_instruments(data: Any) -> list[Instrument]:
    return _each(_instrument, data)


def parse_tickers(data: Any, recv_mono: float) -> list[Ticker]:
    return _each(_ticker, data, "", recv_mono)


def parse_books(data: Any, inst_id: str) -> OrderBook:
    return _first(_each(_order_book, data, inst_id), "books")


def parse_candles(data: Any, inst_id: str, bar: str) -> list[Candle]:
    """REST candles come newest first; returned oldest first (the order indicators consume)."""
    candles = _each(_candle, data, inst_id, bar)
    candles.sort(key=lambda c: c.ts_ms)
    return candles


def parse_mark_price(data: Any) -> MarkPrice:
    return _first(_each(_mark_price, data), "mark-price")


def parse_price_limit(data: Any) -> PriceLimit:
    return _first(_each(_price_limit, data), "price-limit")


def parse_balance(data: Any) -> Balance:
    return _first(_each(_balance, data), "balance")


def parse_positions(data: Any) -> list[Position]:
    return _each(_position, data)


def parse_account_config(data: Any) -> AccountConfig:
    def config(d: dict[str, Any]) -> AccountConfig:
        return AccountConfig(_str(d["uid"]), _str(d["posMode"]), _str(d["acctLv"]))

    return _first(_each(config, data), "account config")


def parse_position_mode(data: Any) -> str:
    return _first(_each(lambda d: _str(d["posMode"]), data), "position mode")


def parse_leverage(data: Any) -> list[LeverageInfo]:
    return _each(_leverage, data)


def parse_orders(data: Any) -> list[Order]:
    return _each(_order, data)


def parse_fills(data: Any) -> list[Fill]:
    return _each(_fill, data)


def parse_order_acks(data: Any) -> list[OrderAck]:
    return _each(_order_ack, data)


def parse_algo_orders(data: Any) -> list[AlgoOrder]:
    return _each(_algo_order, data)


def parse_algo_acks(data: Any) -> list[AlgoAck]:
    return _each(_algo_ack, data)


def parse_close_position(data: Any) -> ClosePositionAck:
    return _first(_each(_close_position, data), "close-position")


def _first(items: list[Any], what: str) -> Any:
    if not items:
        raise MalformedMessage(f"{what}: empty data")
    return items[0]


def _items_or_malformed(data: Any) -> list[Any]:
    if data.__class__ is not list or not data:
        raise MalformedMessage("empty or non-list data")
    return data


def _excerpt(raw: bytes | str) -> str:
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw[:200]).decode("utf-8", "replace")
    return str(raw)[:200]


# --- WebSocket ------------------------------------------------------------------------------

# channel → item parser taking (item, inst_id_from_arg, recv_mono). The public market channels'
# parsers are the item functions themselves (one call per item), and parse_ws_frame's fast path
# takes them; the others are adapted to the same shape.
_MARKET_ITEM_PARSERS: dict[str, Callable[[Any, str, float], Any]] = {
    "tickers": _ticker,
    "books5": _book_top,
    "bbo-tbt": _book_top,
    "mark-price": _mark_price,
    "price-limit": _price_limit,
}
_PUSH_PARSERS: dict[str, Callable[[Any, str, float], Any]] = {
    **_MARKET_ITEM_PARSERS,
    "books": lambda d, inst_id, _r: _order_book(d, inst_id),
    "trades": lambda d, _i, _r: _trade(d),
    "trades-all": lambda d, _i, _r: _trade(d),
    "orders": lambda d, _i, _r: _order(d),
    "orders-algo": lambda d, _i, _r: _algo_order(d),
    "positions": lambda d, _i, _r: _position(d),
    "account": lambda d, _i, _r: _balance(d),
}
# candle channel → its bar, for the bars OKX names (the fast path; _push reads any candle<bar>)
_CANDLE_BAR_OF = {CANDLE_CHANNEL_PREFIX + bar: bar for bar in CANDLE_BARS}

_PONG_BYTES = b"pong"
# A positions snapshot with no open position is `"data": []` (OKX sends non-zero positions only);
# every other channel pushes only when it has something to say.
_MAY_BE_EMPTY = frozenset({"positions"})


def parse_ws_frame(raw: bytes | str, recv_mono: float) -> WsFrame:
    """One WebSocket text frame → `WsPush` | `WsEvent` | `Pong`, or MalformedMessage."""
    if raw == _PONG_BYTES or raw == "pong":
        return Pong(recv_mono)
    try:
        msg = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise MalformedMessage(
            f"not JSON: {exc}", _excerpt(raw) if isinstance(raw, bytes | str) else ""
        ) from None
    if msg.__class__ is not dict:
        raise MalformedMessage("frame is not a JSON object", _excerpt(raw))
    try:
        data = msg.get("data")
        if data is not None and "event" not in msg:
            arg = msg["arg"]
            # Fast path for the dominant frames, a public market push of one item (tickers, books5,
            # mark-price, price-limit, candles): what _push makes of them, with fewer steps.
            if arg.__class__ is dict and data.__class__ is list and len(data) == 1:
                channel = arg.get("channel")
                inst_id = arg.get("instId") or ""
                if channel.__class__ is str and inst_id.__class__ is str:
                    parser = _MARKET_ITEM_PARSERS.get(channel)
                    if parser is not None:
                        item = parser(data[0], inst_id, recv_mono)
                    else:
                        bar = _CANDLE_BAR_OF.get(channel)
                        if bar is None:
                            return _push(msg, data, recv_mono)
                        item = _candle(data[0], inst_id, bar)
                    # {"arg", "data"} alone (every market push) has no action to look up
                    return WsPush(channel, inst_id, (item,), recv_mono, "" if len(msg) == 2 else _action(msg))
            return _push(msg, data, recv_mono)
        event = msg.get("event")
        if event.__class__ is str:
            return _event(msg, event)
    except MalformedMessage as exc:
        if not exc.excerpt:
            raise MalformedMessage(exc.reason, _excerpt(raw)) from None
        raise
    except _SHAPE_ERRORS as exc:
        raise MalformedMessage(f"{exc.__class__.__name__}: {exc}", _excerpt(raw)) from None
    raise MalformedMessage("neither a data push nor an event", _excerpt(raw))


def _action(msg: dict[str, Any]) -> str:
    """books: snapshot|update (`action`); positions/account: snapshot|event_update (`eventType`)."""
    action = msg.get("action") or msg.get("eventType") or ""
    return action if action.__class__ is str else ""


def _push(msg: dict[str, Any], data: Any, recv_mono: float) -> WsPush:
    arg = msg["arg"]
    channel = arg["channel"]
    inst_id = arg.get("instId") or ""
    if channel.__class__ is not str or inst_id.__class__ is not str:
        raise MalformedMessage("push arg channel/instId must be strings")
    if data.__class__ is not list:
        raise MalformedMessage(f"{channel}: data is not a list")
    if not data and channel not in _MAY_BE_EMPTY:
        raise MalformedMessage(f"{channel}: empty data")
    parser = _PUSH_PARSERS.get(channel)
    if parser is not None:
        if len(data) == 1:  # the usual push: one item, no list to build
            items = (parser(data[0], inst_id, recv_mono),)
        else:
            items = tuple([parser(item, inst_id, recv_mono) for item in data])
    elif channel.startswith(CANDLE_CHANNEL_PREFIX) and len(channel) > len(CANDLE_CHANNEL_PREFIX):
        bar = channel[len(CANDLE_CHANNEL_PREFIX) :]
        if len(data) == 1:
            items = (_candle(data[0], inst_id, bar),)
        else:
            items = tuple([_candle(row, inst_id, bar) for row in data])
    else:
        raise MalformedMessage(f"unknown channel {channel!r}")
    return WsPush(channel, inst_id, items, recv_mono, _action(msg))


def _event(msg: dict[str, Any], event: str) -> WsEvent:
    arg = msg.get("arg")
    channel_arg = None
    if arg.__class__ is dict:
        channel_arg = ChannelArg(
            _str(arg.get("channel", "")), _opt_str(arg.get("instId")), _opt_str(arg.get("instType"))
        )
    elif msg.get("channel").__class__ is str:
        # channel-conn-count(-error) name their channel at the top level, not in an arg.
        channel_arg = ChannelArg(msg["channel"])
    code = msg.get("code", "")
    if code.__class__ is int:
        code = str(code)
    return WsEvent(
        event=event,
        code=_str(code),
        msg=_opt_str(msg.get("msg")),
        arg=channel_arg,
        conn_id=_opt_str(msg.get("connId")),
        req_id=_opt_str(msg.get("id")),
    )
