"""parse.py against every OKX payload sample in shared/okx-fixtures, and against broken input."""

from __future__ import annotations

import pathlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okxscalp.okx import parse
from okxscalp.okx.errors import MalformedMessage
from okxscalp.okx.messages import ChannelArg, Pong, WsEvent, WsPush
from okxscalp.okx.models import (
    AlgoOrder,
    Balance,
    BookTop,
    Candle,
    Order,
    OrderBook,
    Position,
    PosSide,
    Side,
    Ticker,
    Trade,
)

FIXTURES = pathlib.Path("/work/shared/okx-fixtures")
if not FIXTURES.is_dir():  # the fixtures also live beside the repository in some checkouts
    FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "okx-fixtures"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="OKX fixtures folder not present")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def envelope(name: str) -> parse.Envelope:
    return parse.parse_envelope(fixture(name))


# --- every fixture is accepted as it is --------------------------------------------------------

WS_EXPECTED = {
    "ws_account.json": ("account", Balance, 1),
    "ws_bbo_tbt.json": ("bbo-tbt", BookTop, 1),
    "ws_books_snapshot.json": ("books", OrderBook, 1),
    "ws_books_update.json": ("books", OrderBook, 1),
    "ws_candle.json": ("candle1D", Candle, 1),
    "ws_orders.json": ("orders", Order, 1),
    "ws_orders_algo.json": ("orders-algo", AlgoOrder, 5),
    "ws_orders_post_only_canceled_first.json": ("orders", Order, 1),
    "ws_positions.json": ("positions", Position, 1),
    "ws_tickers.json": ("tickers", Ticker, 1),
    "ws_trades.json": ("trades", Trade, 1),
}


def test_every_ws_fixture_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("ws_*.json")} == set(WS_EXPECTED)


@pytest.mark.parametrize("name", sorted(WS_EXPECTED))
def test_ws_fixture_parses_into_domain_objects(name: str) -> None:
    channel, item_type, count = WS_EXPECTED[name]
    push = parse.parse_ws_frame(fixture(name), 12.5)
    assert isinstance(push, WsPush)
    assert push.channel == channel
    assert push.recv_mono == 12.5
    assert len(push.items) == count
    assert all(isinstance(item, item_type) for item in push.items)


def test_ws_ticker_values() -> None:
    push = parse.parse_ws_frame(fixture("ws_tickers.json"), 3.0)
    ticker = push.items[0]
    assert (ticker.inst_id, ticker.last, ticker.bid, ticker.ask) == ("BTC-USDT", 9999.99, 8888.88, 9999.99)
    assert (ticker.bid_sz, ticker.ask_sz, ticker.ts_ms, ticker.recv_mono) == (5.0, 11.0, 1597026383085, 3.0)
    assert push.inst_id == "BTC-USDT"


def test_ws_bbo_takes_inst_id_from_arg() -> None:
    top = parse.parse_ws_frame(fixture("ws_bbo_tbt.json"), 0.0).items[0]
    assert (top.inst_id, top.bid, top.ask, top.bid_sz, top.ask_sz) == (
        "BTC-USDT",
        8476.97,
        8476.98,
        256.0,
        415.0,
    )


def test_ws_books_action_and_sequence() -> None:
    snapshot = parse.parse_ws_frame(fixture("ws_books_snapshot.json"), 0.0)
    update = parse.parse_ws_frame(fixture("ws_books_update.json"), 0.0)
    assert (snapshot.action, update.action) == ("snapshot", "update")
    assert snapshot.items[0].prev_seq_id == -1 and snapshot.items[0].seq_id == 123456
    assert update.items[0].prev_seq_id == 123456 and update.items[0].seq_id == 123457
    assert len(snapshot.items[0].asks) == 8 and snapshot.items[0].bids[0].orders == 12


def test_ws_candle_bar_from_channel() -> None:
    candle = parse.parse_ws_frame(fixture("ws_candle.json"), 0.0).items[0]
    assert (candle.bar, candle.ts_ms, candle.open, candle.close, candle.confirmed) == (
        "1D",
        1597026383085,
        8533.02,
        8548.26,
        True,
    )


def test_ws_orders_fill_and_post_only_cancel() -> None:
    filled = parse.parse_ws_frame(fixture("ws_orders.json"), 0.0).items[0]
    assert filled.state == "filled" and filled.avg_px == 103698.9 and filled.fill_sz == 0.03
    assert filled.side is Side.BUY and filled.pos_side is PosSide.LONG and filled.px is None
    assert filled.fee == pytest.approx(-0.021776769) and not filled.reduce_only
    canceled = parse.parse_ws_frame(fixture("ws_orders_post_only_canceled_first.json"), 0.0).items[0]
    assert canceled.state == "canceled" and canceled.cancel_source == "31"
    assert canceled.avg_px is None and canceled.fill_px is None and canceled.acc_fill_sz == 0.0
    assert canceled.pos_side is PosSide.NET and canceled.px == 2500.0


def test_ws_algo_orders_market_price_is_none() -> None:
    algos = parse.parse_ws_frame(fixture("ws_orders_algo.json"), 0.0).items
    assert [a.state for a in algos] == ["live", "live", "order_placed", "canceled", "filled"]
    assert algos[0].ord_px is None and algos[1].ord_px == 106000.0 and algos[0].reduce_only


def test_ws_account_uses_usdt_detail() -> None:
    balance = parse.parse_ws_frame(fixture("ws_account.json"), 0.0).items[0]
    assert balance.total_eq == pytest.approx(100.56089404807182)
    assert balance.avail_eq == pytest.approx(100.52768569797846)


def test_rest_instruments() -> None:
    instruments = parse.parse_instruments(envelope("http_get_instruments_swap.json").data)
    by_id = {i.inst_id: i for i in instruments}
    btc = by_id["BTC-USDT-SWAP"]
    assert (btc.ct_val, btc.tick_sz, btc.lot_sz, btc.min_sz, btc.max_leverage) == (
        0.01,
        "0.1",
        "0.01",
        "0.01",
        100.0,
    )
    assert by_id["BTC-USD-SWAP"].ct_type == "inverse" and by_id["ETH-USDT-SWAP"].tick_sz == "0.01"


def test_rest_positions_net_and_long_short() -> None:
    (single,) = parse.parse_positions(envelope("http_get_positions.json").data)
    assert (single.pos_side, single.pos, single.avg_px, single.lever, single.mgn_mode) == (
        PosSide.LONG,
        0.5,
        10000.0,
        10.0,
        "isolated",
    )
    long_, short = parse.parse_positions(envelope("http_get_positions_long_short.json").data)
    assert (long_.pos_side, long_.pos, short.pos_side, short.pos, short.upl) == (
        PosSide.LONG,
        5.0,
        PosSide.SHORT,
        2.0,
        1000.0,
    )


def test_rest_account() -> None:
    balance = parse.parse_balance(envelope("http_get_account_balance.json").data)
    assert balance.total_eq == pytest.approx(99.88870288820581) and balance.avail_eq == pytest.approx(
        94.42612990333333
    )
    config = parse.parse_account_config(envelope("http_get_account_configuration.json").data)
    assert (config.pos_mode, config.acct_lv, config.uid) == ("long_short_mode", "2", "10000000000000001")
    assert (
        parse.parse_position_mode(envelope("http_set_position_mode_response.json").data) == "long_short_mode"
    )


def test_rest_market_data() -> None:
    candles = parse.parse_candles(envelope("http_get_candlesticks.json").data, "BTC-USDT-SWAP", "1m")
    assert [c.ts_ms for c in candles] == [1625097600000, 1625097660000]
    assert not candles[0].confirmed and candles[0].high == 33870.0
    book = parse.parse_books(envelope("http_get_order_book.json").data, "BTC-USDT-SWAP")
    assert (book.inst_id, book.asks[0].px, book.bids[0].px, len(book.asks)) == (
        "BTC-USDT-SWAP",
        41006.8,
        41006.7,
        3,
    )
    mark = parse.parse_mark_price(envelope("http_get_mark_price.json").data)
    assert (mark.inst_id, mark.mark_px) == ("BTC-USDT-SWAP", 84660.1)
    limit = parse.parse_price_limit(envelope("http_get_price_limit.json").data)
    assert (limit.buy_limit, limit.sell_limit, limit.enabled) == (17057.9, 16388.9, True)


def test_rest_orders_pending_with_attached_tp_sl() -> None:
    (plain,) = parse.parse_orders(envelope("http_get_orders_pending.json").data)
    assert (plain.state, plain.px, plain.avg_px, plain.sz, plain.attached) == (
        "live",
        103500.0,
        None,
        0.1,
        [],
    )
    (order,) = parse.parse_orders(envelope("http_get_orders_pending_with_attached_tp_sl.json").data)
    sl, tp = order.attached
    assert (sl.sl_trigger_px, sl.sl_ord_px, sl.tp_trigger_px) == (1500.0, None, None)
    assert (tp.tp_trigger_px, tp.tp_ord_px, tp.attach_algo_cl_ord_id) == (2600.0, None, "O-attached-tp")


def test_rest_order_acks() -> None:
    # http_place_order_response.json is a bare data item: wrapped here.
    (ok,) = parse.parse_order_acks([orjson.loads(fixture("http_place_order_response.json"))])
    assert ok.ok and (ok.ord_id, ok.cl_ord_id) == ("12345678901234567890", "client_order_123")
    rejected = envelope("http_place_order_rejected.json")
    assert rejected.code == "1"
    (ack,) = parse.parse_order_acks(rejected.data)
    assert not ack.ok and ack.s_code == "54109" and ack.cl_ord_id == "Ousdcnotactive1"
    (algo,) = parse.parse_algo_acks(envelope("http_place_algo_order_response.json").data)
    assert algo.ok and algo.algo_cl_ord_id == "test_algo_1"
    (cancel,) = parse.parse_algo_acks(envelope("http_cancel_algo_order_response.json").data)
    assert cancel.ok and cancel.algo_id == "12345"


def test_rest_error_bodies_without_data() -> None:
    rate = envelope("http_error_rate_limit.json")
    assert (rate.code, rate.msg, rate.data) == ("50011", "Too Many Requests", [])
    auth = envelope("http_error_invalid_access_key.json")
    assert (auth.code, auth.msg, auth.data) == ("50111", "Invalid OK-ACCESS-KEY", [])


def test_every_http_fixture_is_exercised() -> None:
    names = {p.name for p in FIXTURES.glob("http_*.json")}
    source = pathlib.Path(__file__).read_text()
    assert all(name in source for name in names), sorted(n for n in names if n not in source)


# --- events and heartbeats --------------------------------------------------------------------


def test_empty_positions_snapshot_means_no_positions() -> None:
    frame = b'{"arg":{"channel":"positions","instType":"SWAP","uid":"1"},"eventType":"snapshot","curPage":1,"lastPage":true,"data":[]}'
    push = parse.parse_ws_frame(frame, 0.0)
    assert isinstance(push, WsPush) and push.items == () and push.action == "snapshot"


def test_events_and_pong() -> None:
    assert isinstance(parse.parse_ws_frame(b"pong", 1.0), Pong)
    ack = parse.parse_ws_frame(
        b'{"id":"7","event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"connId":"a1"}',
        0.0,
    )
    assert ack == WsEvent("subscribe", "", "", ChannelArg("tickers", "BTC-USDT-SWAP"), "a1", "7")
    notice = parse.parse_ws_frame(b'{"event":"notice","code":"64008","msg":"upgrade","connId":"x"}', 0.0)
    assert isinstance(notice, WsEvent) and notice.code == "64008" and notice.arg is None
    login = parse.parse_ws_frame(b'{"event":"login","code":"0","msg":"","connId":"x"}', 0.0)
    assert isinstance(login, WsEvent) and login.event == "login" and login.code == "0"


# --- malformed input: always MalformedMessage, nothing else -----------------------------------

TICKER = orjson.loads(fixture("ws_tickers.json")) if FIXTURES.is_dir() else {}


def _ticker_with(**changes: object) -> bytes:
    frame = orjson.loads(orjson.dumps(TICKER))
    frame["data"][0].update(changes)
    return orjson.dumps(frame)


MALFORMED_FRAMES = {
    "truncated": fixture("ws_tickers.json")[:57] if FIXTURES.is_dir() else b"",
    "not_json": b"hello",
    "json_array": b"[1, 2]",
    "wrong_type_number": _ticker_with(last=9999.99) if TICKER else b"",
    "wrong_type_null": _ticker_with(bidPx=None) if TICKER else b"",
    "wrong_type_object": _ticker_with(ts={"x": 1}) if TICKER else b"",
    "empty_number": _ticker_with(askPx="") if TICKER else b"",
    "not_a_number": _ticker_with(askPx="abc") if TICKER else b"",
    "non_finite": _ticker_with(last="inf") if TICKER else b"",
    "missing_field": orjson.dumps({"arg": {"channel": "tickers", "instId": "X"}, "data": [{"instId": "X"}]}),
    "unknown_channel": orjson.dumps({"arg": {"channel": "gossip", "instId": "X"}, "data": [{"a": "1"}]}),
    "empty_data": orjson.dumps({"arg": {"channel": "tickers", "instId": "X"}, "data": []}),
    "data_not_list": orjson.dumps({"arg": {"channel": "tickers", "instId": "X"}, "data": {"last": "1"}}),
    "arg_missing": orjson.dumps({"data": [{"last": "1"}]}),
    "arg_not_object": orjson.dumps({"arg": "tickers", "data": [{"last": "1"}]}),
    "candle_short_row": orjson.dumps({"arg": {"channel": "candle1m", "instId": "X"}, "data": [["1", "2"]]}),
    "bad_side": orjson.dumps(
        {
            "arg": {"channel": "trades", "instId": "X"},
            "data": [{"instId": "X", "tradeId": "1", "px": "1", "sz": "1", "side": "up", "ts": "1"}],
        }
    ),
    "neither_push_nor_event": b'{"hello": "world"}',
    "event_code_object": b'{"event": "error", "code": {"a": 1}}',
    "empty_frame": b"",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_FRAMES))
def test_malformed_frames_raise_malformed_message(kind: str) -> None:
    with pytest.raises(MalformedMessage):
        parse.parse_ws_frame(MALFORMED_FRAMES[kind], 0.0)


def test_malformed_message_carries_an_excerpt() -> None:
    with pytest.raises(MalformedMessage) as info:
        parse.parse_ws_frame(MALFORMED_FRAMES["unknown_channel"], 0.0)
    assert "gossip" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502</html>",
        b"[]",
        b'{"msg": "no code"}',
        b'{"code": "0", "data": {"x": 1}}',
        b'{"code": null}',
    ],
)
def test_malformed_envelopes(body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse.parse_envelope(body)


@pytest.mark.parametrize(
    ("parser", "data"),
    [
        (parse.parse_instruments, [{"instId": "X"}]),
        (parse.parse_positions, [{"instId": "X", "pos": 1}]),
        (parse.parse_orders, "not a list"),
        (parse.parse_balance, []),
        (parse.parse_mark_price, [{"instId": "X", "markPx": "", "ts": "1"}]),
        (parse.parse_server_time, []),
        (parse.parse_server_time, [{"ts": 1.5}]),
        (parse.parse_order_acks, [None]),
        (parse.parse_close_position, [{}]),
    ],
)
def test_malformed_rest_data(parser, data) -> None:
    with pytest.raises(MalformedMessage):
        parser(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
channels = st.sampled_from(
    [
        "tickers",
        "books5",
        "bbo-tbt",
        "books",
        "trades",
        "mark-price",
        "price-limit",
        "orders",
        "orders-algo",
        "positions",
        "account",
        "candle1m",
        "candle",
        "x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_fuzz_arbitrary_json_only_raises_malformed(value: object) -> None:
    try:
        raw = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return
    try:
        parse.parse_ws_frame(raw, 0.0)
    except MalformedMessage:
        pass


@settings(max_examples=150, deadline=None)
@given(channel=channels, inst_id=json_values, items=st.lists(json_values, max_size=3), extra=json_values)
def test_fuzz_push_shaped_frames_only_raise_malformed(
    channel: str, inst_id: object, items: list, extra: object
) -> None:
    frame = {"arg": {"channel": channel, "instId": inst_id}, "data": items, "action": extra}
    try:
        raw = orjson.dumps(frame)
    except (TypeError, orjson.JSONEncodeError):
        return
    try:
        parse.parse_ws_frame(raw, 0.0)
    except MalformedMessage:
        pass


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=64))
def test_fuzz_bytes_only_raise_malformed(raw: bytes) -> None:
    try:
        parse.parse_ws_frame(raw, 0.0)
    except MalformedMessage:
        pass


REST_PARSERS = [
    parse.parse_instruments,
    parse.parse_positions,
    parse.parse_orders,
    parse.parse_fills,
    parse.parse_balance,
    parse.parse_account_config,
    parse.parse_mark_price,
    parse.parse_price_limit,
    parse.parse_order_acks,
    parse.parse_algo_acks,
    parse.parse_algo_orders,
    parse.parse_leverage,
    parse.parse_close_position,
    parse.parse_position_mode,
    parse.parse_server_time,
    lambda data: parse.parse_tickers(data, 0.0),
    lambda data: parse.parse_books(data, "X"),
    lambda data: parse.parse_candles(data, "X", "1m"),
]


@settings(max_examples=100, deadline=None)
@given(parser=st.sampled_from(REST_PARSERS), data=json_values)
def test_fuzz_rest_parsers_only_raise_malformed(parser, data) -> None:
    try:
        parser(data)
    except MalformedMessage:
        pass


@settings(max_examples=100, deadline=None)
@given(body=json_values)
def test_fuzz_envelopes_only_raise_malformed(body: object) -> None:
    try:
        raw = orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        return
    try:
        parse.parse_envelope(raw)
    except MalformedMessage:
        pass
