"""What the simulator core emits has the shape of OKX's own payloads (shared/okx-fixtures).

Every key an OKX sample has must be present with the same JSON type (strings stay strings,
booleans booleans, integers integers); nested objects and list items are compared recursively.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okxscalp.sim.events import SimEvent
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "okx-fixtures"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/okx-fixtures")
BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


def fixture_item(name: str, index: int = 0):
    return json.loads((FIXTURES / name).read_text())["data"][index]


def assert_shape(mine, sample, where: str = "$") -> None:
    assert type(mine) is type(sample), f"{where}: {type(mine).__name__} != {type(sample).__name__}"
    if isinstance(sample, dict):
        missing = set(sample) - set(mine)
        assert not missing, f"{where}: missing keys {sorted(missing)}"
        for key, value in sample.items():
            assert_shape(mine[key], value, f"{where}.{key}")
    elif isinstance(sample, list) and sample:
        assert mine, f"{where}: empty list where OKX has items"
        for i, item in enumerate(mine):
            assert_shape(item, sample[0], f"{where}[{i}]")


@pytest.fixture(scope="module")
def traded() -> tuple[SimExchange, list[SimEvent]]:
    """An exchange with a filled entry (attached TP/SL), a resting order and a closed position."""
    ex = SimExchange(seed=3, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=30,
                     inst_ids=[BTC, ETH])
    ex.advance(5.0)
    ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market",
                    "sz": "1", "clOrdId": "entry1",
                    "attachAlgoOrds": [{"slTriggerPx": "80000", "slOrdPx": "-1"}]})
    ex.place_order({"instId": ETH, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
                    "px": "3350.00", "sz": "0.5", "clOrdId": "rest1",
                    "attachAlgoOrds": [{"attachAlgoClOrdId": "sl1", "slTriggerPx": "2900", "slOrdPx": "-1"},
                                       {"attachAlgoClOrdId": "tp1", "tpTriggerPx": "3900", "tpOrdPx": "-1"}]})
    eth_bid = ex.books_wire(ETH, 1)["bids"][0][0]
    ex.place_order({"instId": ETH, "tdMode": "cross", "side": "sell", "posSide": "short", "ordType": "post_only",
                    "px": eth_bid, "sz": "2"})
    ex.advance(10.0)
    return ex, ex.drain_events()


def first(events: list[SimEvent], channel: str, pred=lambda d: True):
    return next(e.data for e in events if e.channel == channel and pred(e.data))


def test_instruments_have_exactly_okx_fields():
    ex = SimExchange(seed=1, start_wall_s=0.0, history_minutes=0)
    sample = fixture_item("http_get_instruments_swap.json", 2)  # BTC-USDT-SWAP
    (mine,) = ex.instruments_wire("SWAP", BTC)
    assert set(mine) == set(sample)
    assert_shape(mine, sample)
    for key in ("ctVal", "tickSz", "lotSz", "minSz", "lever", "ctType", "settleCcy", "instFamily"):
        assert mine[key] == sample[key], key
    eth = ex.instruments_wire("SWAP", ETH)[0]
    assert (eth["ctVal"], eth["tickSz"]) == ("0.1", "0.01")


def test_public_rest_items(traded):
    ex, _ = traded
    assert_shape(ex.ticker_wire(BTC), json.loads((FIXTURES / "ws_tickers.json").read_text())["data"][0])
    assert_shape(ex.books_wire(BTC, 3), fixture_item("http_get_order_book.json"))
    assert_shape(ex.mark_price_wire(BTC), fixture_item("http_get_mark_price.json"))
    assert_shape(ex.price_limit_wire(BTC), fixture_item("http_get_price_limit.json"))
    rows = ex.candles_wire(BTC, "1m", limit=2)
    sample_rows = json.loads((FIXTURES / "http_get_candlesticks.json").read_text())["data"]
    assert_shape(rows, sample_rows)
    assert all(len(r) == 9 for r in rows)


def test_public_pushes(traded):
    _, events = traded
    ws = {name: json.loads((FIXTURES / name).read_text())["data"][0]
          for name in ("ws_tickers.json", "ws_trades.json", "ws_bbo_tbt.json", "ws_candle.json")}
    assert_shape(first(events, "tickers"), ws["ws_tickers.json"])
    assert_shape(first(events, "trades"), ws["ws_trades.json"])
    assert_shape(first(events, "bbo-tbt"), ws["ws_bbo_tbt.json"])
    books5 = first(events, "books5")
    assert_shape(books5, ws["ws_bbo_tbt.json"])
    assert len(books5["asks"]) == len(books5["bids"]) == 5
    assert_shape(first(events, "candle1m"), ws["ws_candle.json"])


def test_account_items(traded):
    ex, events = traded
    assert_shape(ex.balance_wire(), fixture_item("http_get_account_balance.json"))
    assert_shape(ex.config_wire(), fixture_item("http_get_account_configuration.json"))
    ws_account = json.loads((FIXTURES / "ws_account.json").read_text())["data"][0]
    assert_shape(first(events, "account"), ws_account)


def test_position_items(traded):
    ex, events = traded
    (position,) = ex.positions_wire(BTC)
    assert_shape(position, fixture_item("http_get_positions.json"))
    assert_shape(position, fixture_item("http_get_positions_long_short.json", 1))
    ws_positions = json.loads((FIXTURES / "ws_positions.json").read_text())["data"][0]
    assert_shape(first(events, "positions"), ws_positions)


def test_order_items(traded):
    ex, events = traded
    pending = ex.orders_pending(ETH)
    assert_shape(pending[0], fixture_item("http_get_orders_pending_with_attached_tp_sl.json"))
    plain = ex.get_order(BTC, cl_ord_id="entry1")
    assert_shape(plain, fixture_item("http_get_orders_pending.json"))
    ws_orders = json.loads((FIXTURES / "ws_orders.json").read_text())["data"][0]
    assert_shape(first(events, "orders", lambda d: d["state"] == "filled"), ws_orders)
    ws_po = json.loads((FIXTURES / "ws_orders_post_only_canceled_first.json").read_text())["data"][0]
    canceled = first(events, "orders", lambda d: d["cancelSource"] == "31")
    assert_shape(canceled, ws_po)
    for key in ("state", "cancelSource", "cancelSourceReason", "accFillSz", "avgPx", "fillPx", "fillSz"):
        assert canceled[key] == ws_po[key], key


def test_command_replies(traded):
    ex, _ = traded
    placed = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                             "ordType": "market", "sz": "0.01", "clOrdId": "r2"})
    sample = json.loads((FIXTURES / "http_place_order_response.json").read_text())
    assert_shape(placed, sample)
    rejected = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                               "ordType": "market", "sz": "0.001"})
    assert_shape(rejected, fixture_item("http_place_order_rejected.json"))
    set_mode = json.loads((FIXTURES / "http_set_position_mode_response.json").read_text())["data"][0]
    assert_shape(ex.set_position_mode("long_short_mode"), set_mode)


def test_algo_items(traded):
    ex, events = traded
    sample = json.loads((FIXTURES / "ws_orders_algo.json").read_text())["data"][0]
    pushed = first(events, "orders-algo")
    assert_shape(pushed, sample)
    assert pushed["state"] == "live" and pushed["reduceOnly"] == "true"
    assert_shape(ex.algo_orders_pending(BTC)[0], sample)
