"""The account's resting limit orders are in the public book (issue 12): their size is added to
their price level (one more order there) in /market/books, books5, books and the ticker's best
sizes; a change pushes the book at once; gone when filled or canceled. Taking liquidity still reads
the synthetic depth only (the account does not trade with itself)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from okxscalp.sim.book import level_orders, level_size
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
BTC = "BTC-USDT-SWAP"


def make() -> SimExchange:
    ex = SimExchange(seed=5, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=5, inst_ids=[BTC])
    ex.advance_sim_seconds(1.0)
    return ex


def px_of(ex: SimExchange, ticks: int) -> str:
    return str(Decimal(ticks) * Decimal(ex.specs[BTC].tick_sz))


def level(ex: SimExchange, ticks: int) -> list[str]:
    (row,) = [r for r in ex.books_wire(BTC, 20)["bids"] + ex.books_wire(BTC, 20)["asks"]
              if Decimal(r[0]) == Decimal(px_of(ex, ticks))]
    return row


def synthetic(ex: SimExchange, ticks: int) -> tuple[float, int]:
    market = ex.markets[BTC]
    return level_size(ticks, market.epoch, market.spec.depth_unit, market.lot), level_orders(ticks, market.epoch)


def rest_buy(ex: SimExchange, ticks: int, sz: str) -> dict:
    item = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
                           "px": px_of(ex, ticks), "sz": sz})
    assert item["sCode"] == "0"
    return item


def test_a_resting_buy_adds_its_size_and_one_order_to_its_level_and_leaves_when_canceled() -> None:
    ex = make()
    ticks = ex.markets[BTC].bid - 3
    placed = rest_buy(ex, ticks, "7")
    size, orders = synthetic(ex, ticks)
    row = level(ex, ticks)
    assert float(row[1]) == pytest.approx(size + 7) and int(row[3]) == orders + 1
    ex.cancel_order({"instId": BTC, "ordId": placed["ordId"]})
    row = level(ex, ticks)
    assert float(row[1]) == pytest.approx(size) and int(row[3]) == orders


def test_two_orders_at_one_level_and_the_best_bid_in_the_ticker() -> None:
    ex = make()
    bid = ex.markets[BTC].bid
    rest_buy(ex, bid, "2")
    rest_buy(ex, bid, "3")
    size, orders = synthetic(ex, bid)
    assert float(level(ex, bid)[1]) == pytest.approx(size + 5) and int(level(ex, bid)[3]) == orders + 2
    assert float(ex.ticker_wire(BTC)["bidSz"]) == pytest.approx(size + 5)


def test_the_tickers_best_sizes_follow_our_orders_within_one_step() -> None:
    ex = make()  # the ticker keeps its best sizes per (bid, epoch): our orders must reset them
    bid = ex.markets[BTC].bid
    size, _ = synthetic(ex, bid)
    assert float(ex.ticker_wire(BTC)["bidSz"]) == pytest.approx(size)
    placed = rest_buy(ex, bid, "2")
    assert ex.markets[BTC].bid == bid
    assert float(ex.ticker_wire(BTC)["bidSz"]) == pytest.approx(size + 2)
    ex.cancel_order({"instId": BTC, "ordId": placed["ordId"]})
    assert float(ex.ticker_wire(BTC)["bidSz"]) == pytest.approx(size)

def test_placing_and_canceling_push_books5_and_books_deltas_at_once() -> None:
    ex = make()
    ex.set_channel_interest("books5", BTC, True)
    ex.set_channel_interest("books", BTC, True)
    ex.books_snapshot_wire(BTC)
    ex.drain_events()
    ticks = ex.markets[BTC].bid - 2
    placed = rest_buy(ex, ticks, "4")
    size, _ = synthetic(ex, ticks)
    price = Decimal(px_of(ex, ticks))
    events = ex.drain_events()
    (b5,) = [e.data for e in events if e.channel == "books5"]
    assert any(Decimal(r[0]) == price and float(r[1]) == pytest.approx(size + 4) for r in b5["bids"])
    (delta,) = [e.data for e in events if e.channel == "books"]
    assert [float(r[1]) for r in delta["bids"] if Decimal(r[0]) == price] == [pytest.approx(size + 4)]
    ex.cancel_order({"instId": BTC, "ordId": placed["ordId"]})
    (delta,) = [e.data for e in ex.drain_events() if e.channel == "books"]
    assert [float(r[1]) for r in delta["bids"] if Decimal(r[0]) == price] == [pytest.approx(size)]


def test_a_filled_resting_order_leaves_the_book() -> None:
    ex = make()
    market = ex.markets[BTC]
    ticks = market.bid - 1
    rest_buy(ex, ticks, "1")
    assert market.book.own
    ex.move_price(BTC, ticks * market.tick * 0.99)
    ex.advance_steps(2)
    assert ex.orders_pending(BTC) == [] and market.book.own == {}


def test_taking_reads_the_synthetic_depth_only() -> None:
    """A sell that takes the best bid does not trade with the account's own resting buy there."""
    ex = make()
    market = ex.markets[BTC]
    bid = market.bid
    rest_buy(ex, bid, "50")
    size, _ = synthetic(ex, bid)
    ex.open_position_directly(BTC, "long", 2000)
    item = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long", "ordType": "ioc",
                           "px": px_of(ex, bid), "sz": "1000"})
    order = ex.get_order(BTC, item["ordId"])
    assert float(order["accFillSz"]) == pytest.approx(size)


async def test_rest_books_show_the_resting_order(sim: Any) -> None:
    market = sim.exchange.markets[BTC]
    # 200 ticks under the bid, inside the 400 levels: the live market steps while the request is
    # answered (seconds on a loaded machine), and 20 ticks was close enough to fill the buy.
    ticks = market.bid - 200
    sim.exchange.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
                              "px": px_of(sim.exchange, ticks), "sz": "9"})
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.rest_url + f"/api/v5/market/books?instId={BTC}&sz=400") as reply:
            body = await reply.json()
    (book,) = body["data"]
    price = Decimal(px_of(sim.exchange, ticks))
    (row,) = [r for r in book["bids"] if Decimal(r[0]) == price]
    epoch = int(book["ts"]) // 1000  # level sizes are drawn per second (book.py)
    size = level_size(ticks, epoch, market.spec.depth_unit, market.lot)
    assert float(row[1]) == pytest.approx(size + 9)


def test_a_restored_account_shows_its_resting_orders_in_the_book() -> None:
    ex = make()
    ticks = ex.markets[BTC].bid - 6
    rest_buy(ex, ticks, "3")
    saved = ex.export_account()
    again = make()
    again.restore_account(saved)
    size, orders = synthetic(again, ticks)
    row = level(again, ticks)
    assert float(row[1]) == pytest.approx(size + 3) and int(row[3]) == orders + 1
