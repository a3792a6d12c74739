"""The inlined item parsers of the public market pushes (books5/bbo-tbt, mark-price, price-limit,
candles) accept and refuse exactly what the helper-based definitions they replaced did (kept here
as the reference): the same object, or a refusal."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okxscalp.okx import parse
from okxscalp.okx.errors import MalformedMessage
from okxscalp.okx.models import BookTop, Candle, MarkPrice, PriceLimit
from okxscalp.okx.parse import _SHAPE_ERRORS, _bool, _int, _num, _opt_num, _str

INST = "BTC-USDT-SWAP"


def ref_book_top(d: dict[str, Any], inst_id: str) -> BookTop:
    ask, bid = d["asks"][0], d["bids"][0]
    return BookTop(_str(d.get("instId") or inst_id), _num(bid[0]), _num(bid[1]), _num(ask[0]), _num(ask[1]), _int(d["ts"]))


def ref_candle(row: Any, inst_id: str, bar: str) -> Candle:
    if row.__class__ is not list or len(row) < 9:
        raise ValueError("candle row must be a list of 9 fields")
    return Candle(inst_id, bar, _int(row[0]), _num(row[1]), _num(row[2]), _num(row[3]), _num(row[4]), _num(row[5]),
                  _str(row[8]) == "1")


def ref_mark_price(d: dict[str, Any]) -> MarkPrice:
    return MarkPrice(_str(d["instId"]), _num(d["markPx"]), _int(d["ts"]))


def ref_price_limit(d: dict[str, Any]) -> PriceLimit:
    enabled = _bool(d.get("enabled", True))
    return PriceLimit(_str(d["instId"]), _opt_num(d["buyLmt"]), _opt_num(d["sellLmt"]), _int(d["ts"]), enabled)


def outcome(fn: Any, *args: Any) -> object:
    try:
        return fn(*args)
    except _SHAPE_ERRORS:
        return "refused"


def same(new: Any, ref: Any, *args: Any) -> None:
    assert outcome(new, *args) == outcome(ref, *args)


BOOK = {"asks": [["95312.4", "73.73", "0", "9"]], "bids": [["95312.3", "20.39", "0", "1"]], "instId": INST, "ts": "1732434482000"}
ROW = ["1732434480000", "95312.3", "95312.4", "95312.3", "95312.4", "24.14", "0.2414", "23008.4102", "0"]
MARK = {"instType": "SWAP", "instId": INST, "markPx": "95310.2", "ts": "1732434482000"}
LIMIT = {"instType": "SWAP", "instId": INST, "buyLmt": "97216.4", "sellLmt": "93404.0", "ts": "1732434482000", "enabled": True}

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "1", "-1", "1.5", "abc", "inf", "-inf", "nan", "1e999", " 2 ", "1_0", "true", "false"]),
    st.lists(st.just("1"), max_size=2), st.dictionaries(st.just("a"), st.just("1"), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(["instId", "markPx", "ts", None]), value=odd_values)
def test_mark_price_as_the_reference(key: str | None, value: object) -> None:
    d: dict[str, Any] = dict(MARK)
    if key is not None:
        d[key] = value
    same(parse._mark_price, ref_mark_price, d)


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(["instId", "buyLmt", "sellLmt", "ts", "enabled", None]), value=odd_values,
       drop_enabled=st.booleans())
def test_price_limit_as_the_reference(key: str | None, value: object, drop_enabled: bool) -> None:
    d: dict[str, Any] = dict(LIMIT)
    if drop_enabled:
        del d["enabled"]
    if key is not None:
        d[key] = value
    same(parse._price_limit, ref_price_limit, d)


@settings(max_examples=400, deadline=None)
@given(where=st.sampled_from([("asks", 0), ("asks", 1), ("bids", 0), ("bids", 1), ("ts", None), ("instId", None), None]),
       value=odd_values, arg_inst=st.sampled_from(["", INST, "XRP-USDT-SWAP"]))
def test_book_top_as_the_reference(where: tuple[str, int | None] | None, value: object, arg_inst: str) -> None:
    d: dict[str, Any] = orjson.loads(orjson.dumps(BOOK))
    if where is not None:
        key, i = where
        if i is None:
            d[key] = value
        else:
            d[key][0][i] = value
    same(parse._book_top, ref_book_top, d, arg_inst)


@settings(max_examples=400, deadline=None)
@given(i=st.sampled_from([None, 0, 1, 2, 3, 4, 5, 6, 8]), value=odd_values, cut=st.sampled_from([9, 8, 12]))
def test_candle_as_the_reference(i: int | None, value: object, cut: int) -> None:
    row: list[Any] = [*ROW, "x", "y", "z"][:cut]
    if i is not None and i < len(row):
        row[i] = value
    same(parse._candle, ref_candle, row, INST, "1m")


@pytest.mark.parametrize("channel", ["books5", "bbo-tbt", "mark-price", "price-limit", "candle1m"])
def test_a_push_of_one_item_and_of_two(channel: str) -> None:
    item: Any = {"books5": BOOK, "bbo-tbt": BOOK, "mark-price": MARK, "price-limit": LIMIT, "candle1m": ROW}[channel]
    for n in (1, 2):
        raw = orjson.dumps({"arg": {"channel": channel, "instId": INST}, "data": [item] * n})
        push = parse.parse_ws_frame(raw, 3.0)
        assert push.channel == channel and push.inst_id == INST and push.recv_mono == 3.0 and push.action == ""
        assert isinstance(push.items, tuple) and len(push.items) == n and push.items[0] == push.items[-1]
    with pytest.raises(MalformedMessage):
        parse.parse_ws_frame(orjson.dumps({"arg": {"channel": channel, "instId": INST}, "data": [item, 5]}), 3.0)


TICKER = {"instType": "SWAP", "instId": INST, "last": "95165.1", "lastSz": "0.28", "askPx": "95165.1", "askSz": "53.86",
          "bidPx": "95165.0", "bidSz": "15.46", "ts": "1732433401600"}
MARKET_ITEMS: dict[str, Any] = {"tickers": TICKER, "books5": BOOK, "bbo-tbt": BOOK, "mark-price": MARK,
                                "price-limit": LIMIT, "candle1m": ROW, "candle1H": ROW}


def slow_outcome(raw: bytes) -> object:
    """What _push (the general path) makes of a push frame: the reference of parse_ws_frame's fast path."""
    msg = orjson.loads(raw)
    try:
        return parse._push(msg, msg["data"], 3.0)
    except (MalformedMessage, *_SHAPE_ERRORS):
        return "refused"


def fast_outcome(raw: bytes) -> object:
    try:
        return parse.parse_ws_frame(raw, 3.0)
    except MalformedMessage:
        return "refused"


@settings(max_examples=600, deadline=None)
@given(channel=st.sampled_from(sorted(MARKET_ITEMS)), field=st.sampled_from(["last", "bidPx", "ts", "instId", "markPx",
       "buyLmt", "enabled", "asks", None]), value=odd_values, arg_inst=st.sampled_from([INST, "", None, 3]),
       extra=st.sampled_from([None, ("action", "snapshot"), ("eventType", "update"), ("action", 5), ("x", 1)]),
       n=st.sampled_from([1, 1, 2]))
def test_the_fast_path_is_what_push_makes(channel: str, field: str | None, value: object, arg_inst: object,
                                         extra: tuple[str, object] | None, n: int) -> None:
    """A public market push of one item takes parse_ws_frame's fast path: the same push (channel,
    instId, items, action) or the same refusal as the general path."""
    item: Any = orjson.loads(orjson.dumps(MARKET_ITEMS[channel]))
    if field is not None and item.__class__ is dict:
        item[field] = value
    elif field is not None:
        item[len(field) % len(item)] = value
    arg: dict[str, Any] = {"channel": channel}
    if arg_inst is not None:
        arg["instId"] = arg_inst
    frame: dict[str, Any] = {"arg": arg, "data": [item] * n}
    if extra is not None:
        frame[extra[0]] = extra[1]
    try:
        raw = orjson.dumps(frame)
    except (TypeError, orjson.JSONEncodeError):
        return
    assert fast_outcome(raw) == slow_outcome(raw)


def test_a_ticker_push_as_push_makes_it() -> None:
    raw = orjson.dumps({"arg": {"channel": "tickers", "instId": INST}, "data": [TICKER]})
    push = parse.parse_ws_frame(raw, 3.0)
    assert push == slow_outcome(raw)
    assert push.items[0].last == 95165.1 and push.items[0].ts_ms == 1732433401600 and push.items[0].recv_mono == 3.0
