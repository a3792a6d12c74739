"""The index price (issue 12): each instrument's spot index, a slowly mean-reverting basis below
the swap's mid, deterministic under the seed; the mark is index + moving average of the basis
(OKX's perpetual swap mark price); GET /market/index-tickers serves it."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
import pytest
import websockets

from okxscalp.okx.constants import CODE_PARAM_ERROR, WS_CODE_WRONG_URL_OR_CHANNEL, WS_PUBLIC_PATH
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.market import INDEX_BASIS_STD

pytestmark = pytest.mark.timeout(60)
START_MS = 1_732_435_200_000
INDEX_FIELDS = {"instId", "idxPx", "high24h", "low24h", "open24h", "sodUtc0", "sodUtc8", "ts"}


def make(seed: int = 7) -> SimExchange:
    return SimExchange(seed=seed, start_wall_s=0.0, start_sim_ms=START_MS, history_minutes=120)


def test_index_is_deterministic_under_the_seed_and_close_to_the_swap() -> None:
    a, b, c = make(3), make(3), make(4)
    for ex in (a, b, c):
        ex.advance_sim_seconds(120.0)
    btc_a, btc_b, btc_c = (ex.markets["BTC-USDT-SWAP"] for ex in (a, b, c))
    assert btc_a.index == btc_b.index and btc_a.index_str == btc_b.index_str
    assert btc_a.index != btc_c.index
    for market in a.markets.values():
        assert abs(market.index / market.mid - 1.0) < 10 * INDEX_BASIS_STD + 0.002
        assert abs(market.mark / market.mid - 1.0) < 0.002


def test_index_leaves_the_market_paths_unchanged() -> None:
    """The basis has its own random stream: the swap's trades and book are what they were."""
    ex = make(5)
    ex.advance_sim_seconds(30.0)
    market = ex.markets["ETH-USDT-SWAP"]
    other = make(5)
    other.markets["ETH-USDT-SWAP"].basis = 0.01  # a different basis does not move the swap's book
    other.advance_sim_seconds(30.0)
    assert ex.books_wire("ETH-USDT-SWAP", 5) == other.books_wire("ETH-USDT-SWAP", 5)
    assert market.last == other.markets["ETH-USDT-SWAP"].last


def test_mark_is_index_plus_average_basis_and_follows_an_index_shift() -> None:
    ex = make()
    ex.advance_sim_seconds(5.0)
    market = ex.markets["BTC-USDT-SWAP"]
    before_last, before_mid = market.last, market.mid
    ex.shift_index("BTC-USDT-SWAP", -0.01)
    ex.advance_steps(1)
    assert market.index < before_mid * 0.992
    assert market.mark < before_mid * 0.993  # the slow basis average keeps the mark on the index
    assert abs(market.mid / before_mid - 1.0) < 0.005 and abs(market.last / before_last - 1.0) < 0.005
    ex.advance_sim_seconds(600.0)  # the average catches up: the mark is back on the swap's price
    assert abs(market.mark / market.mid - 1.0) < 0.002


def test_index_tickers_wire_filters_and_requires_quote_or_inst_id() -> None:
    ex = make()
    ex.advance_sim_seconds(2.0)
    (item,) = ex.index_tickers_wire(None, "BTC-USDT")
    assert set(item) == INDEX_FIELDS
    assert item["instId"] == "BTC-USDT" and item["idxPx"] == ex.markets["BTC-USDT-SWAP"].index_str
    assert float(item["low24h"]) <= float(item["idxPx"]) <= float(item["high24h"])
    assert {i["instId"] for i in ex.index_tickers_wire("USDT", None)} == {
        spec.family for spec in ex.specs.values()
    }
    assert ex.index_tickers_wire("USD", None) == []
    assert ex.index_tickers_wire(None, "NOPE-USDT") == []
    with pytest.raises(Exception) as refused:
        ex.index_tickers_wire(None, None)
    assert getattr(refused.value, "code", None) == CODE_PARAM_ERROR


async def test_rest_index_tickers_by_index_id(sim: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.rest_url + "/api/v5/market/index-tickers?instId=ETH-USDT") as reply:
            body = await reply.json()
    assert reply.status == 200 and body["code"] == "0"
    (item,) = body["data"]
    assert set(item) == INDEX_FIELDS and item["instId"] == "ETH-USDT" and float(item["idxPx"]) > 0


def test_positions_fills_and_bills_carry_the_index_not_the_mark() -> None:
    ex = make()
    ex.shift_index("BTC-USDT-SWAP", -0.01)
    ex.advance_sim_seconds(300.0)  # the mark's basis average caught up; the index is still well below
    market = ex.markets["BTC-USDT-SWAP"]
    assert market.index < market.mark * 0.995
    item = ex.place_order({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "posSide": "long",
                           "ordType": "market", "sz": "1"})
    assert item["sCode"] == "0"
    (fill,) = ex.fills("BTC-USDT-SWAP", 10)
    assert fill["fillIdxPx"] == market.index_str and fill["fillMarkPx"] == market.mark_str
    (position,) = ex.positions_wire("BTC-USDT-SWAP")
    assert float(position["idxPx"]) == pytest.approx(market.index, abs=market.tick)
    assert float(position["idxPx"]) < float(position["markPx"]) * 0.995


async def test_ws_index_tickers_channel_pushes_the_index_by_index_id(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "index-tickers", "instId": "NOPE-USDT"}]}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert refused["event"] == "error" and refused["code"] == WS_CODE_WRONG_URL_OR_CHANNEL
        arg = {"channel": "index-tickers", "instId": "BTC-USDT"}
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["event"] == "subscribe" and ack["arg"] == arg
        push = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert push["arg"] == arg
        (item,) = push["data"]
        assert set(item) == INDEX_FIELDS and item["instId"] == "BTC-USDT" and float(item["idxPx"]) > 0


def test_index_and_mark_ticks_are_round_of_the_price_over_the_tick_every_step() -> None:
    """_step_mark keeps the index's and the mark's ticks and strings: they must be round()'s every
    step, through gaps and index shifts (which forget the ticks) and instruments of every tick size."""
    rng = random.Random(12)
    ex = make(5)
    checked = 0
    for step in range(4_000):
        if rng.random() < 0.01:
            market = rng.choice(list(ex.markets.values()))
            if rng.random() < 0.5:
                market.gap_to(market.mid * rng.uniform(0.97, 1.03))
            else:
                market.shift_index(rng.uniform(-0.01, 0.01))
        ex.advance_steps(1)
        for market in ex.markets.values():
            tick, spec = market.tick, f".{market.px_dec}f"
            assert market._index_ticks == round(market.index / tick)
            assert market._mark_ticks == round(market.mark / tick)
            if step > 0:
                assert market.index_str == format(market._index_ticks * tick, spec)
            checked += 1
    assert checked == 4_000 * len(ex.markets)
