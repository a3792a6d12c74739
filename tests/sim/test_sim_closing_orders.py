"""Closing orders larger than the position (issue 12). OKX does not refuse them: it fits an
account's closing orders to the position, cutting (amendSource 4) or canceling (cancelSource 22)
the less favorable ones, a new order included (closing_fit.py cites the docs). The order shows the
cut size from its first push, not a silent trim at fill time; when the position shrinks under
resting closing orders the same rule applies. No position at all is still 51169."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import websockets

from okxscalp.okx.auth import Credentials, rest_headers, ws_login_args
from okxscalp.okx.constants import CODE_REDUCE_ONLY_NO_POSITION, TRADE_ORDER, WS_PRIVATE_PATH
from okxscalp.sim.closing_fit import over_position
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
BTC = "BTC-USDT-SWAP"


def make(pos_mode: str = "long_short_mode") -> SimExchange:
    ex = SimExchange(seed=11, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=5, inst_ids=[BTC])
    ex.set_position_mode(pos_mode)
    ex.advance_sim_seconds(1.0)
    return ex


def ticks_above_ask(ex: SimExchange, n: int) -> str:
    market = ex.markets[BTC]
    return str(Decimal(market.ask + n) * Decimal(market.spec.tick_sz))


def pushes(ex: SimExchange) -> list[dict]:
    return [e.data for e in ex.drain_events() if e.channel == "orders"]


def close_long(ex: SimExchange, sz: str, px: str | None = None, **extra: Any) -> dict:
    order = {"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long", "sz": sz,
             "ordType": "limit" if px else "market", **extra}
    if px:
        order["px"] = px
    return ex.place_order(order)


def test_a_reduce_only_market_order_larger_than_the_net_position_is_cut_to_it_on_acceptance() -> None:
    ex = make("net_mode")
    ex.open_position_directly(BTC, "net", 2)
    ex.drain_events()
    item = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "5",
                           "reduceOnly": True})
    assert item["sCode"] == "0"
    seen = pushes(ex)
    assert seen and all(float(p["sz"]) == 2 and p["amendSource"] == "4" for p in seen)
    assert seen[-1]["state"] == "filled" and float(seen[-1]["accFillSz"]) == 2
    assert ex.positions_wire(BTC) == []


def test_a_resting_closing_limit_larger_than_the_long_is_cut_to_it() -> None:
    ex = make()
    ex.open_position_directly(BTC, "long", 2)
    ex.drain_events()
    assert close_long(ex, "5", ticks_above_ask(ex, 50))["sCode"] == "0"
    (live,) = pushes(ex)
    assert live["state"] == "live" and float(live["sz"]) == 2 and live["amendSource"] == "4"
    (pending,) = ex.orders_pending(BTC)
    assert float(pending["sz"]) == 2


def test_okx_example_the_better_priced_new_order_stays_whole_the_worse_ones_are_cut_or_canceled() -> None:
    """The announcement's example at 1/10 scale: long 10; close orders 8 @ p1 and 2 @ p2 (p1 < p2);
    a new 5 @ p0 < p1 is placed whole, the 8 becomes 5, the 2 is canceled."""
    ex = make()
    ex.open_position_directly(BTC, "long", 10)
    p0, p1, p2 = (ticks_above_ask(ex, n) for n in (30, 40, 50))
    first, second = close_long(ex, "8", p1), close_long(ex, "2", p2)
    ex.drain_events()
    new = close_long(ex, "5", p0)
    assert new["sCode"] == "0"
    by_id = {p["ordId"]: p for p in pushes(ex)}
    assert float(by_id[new["ordId"]]["sz"]) == 5 and by_id[new["ordId"]]["amendSource"] == ""
    assert float(by_id[first["ordId"]]["sz"]) == 5 and by_id[first["ordId"]]["amendSource"] == "4"
    canceled = by_id[second["ordId"]]
    assert canceled["state"] == "canceled" and canceled["cancelSource"] == "22"
    assert sorted(float(p["sz"]) for p in ex.orders_pending(BTC)) == [5, 5]


def test_a_net_position_shrinking_under_a_resting_reduce_only_order_cuts_it() -> None:
    ex = make("net_mode")
    ex.open_position_directly(BTC, "net", 4)
    resting = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "limit",
                              "px": ticks_above_ask(ex, 50), "sz": "4", "reduceOnly": True})
    ex.drain_events()
    plain = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "3"})
    assert plain["sCode"] == "0"
    cut = [p for p in pushes(ex) if p["ordId"] == resting["ordId"]]
    assert cut and float(cut[-1]["sz"]) == 1 and cut[-1]["amendSource"] == "4" and cut[-1]["state"] == "live"
    ex.place_order({"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "1"})
    gone = [p for p in pushes(ex) if p["ordId"] == resting["ordId"]]
    assert gone[-1]["state"] == "canceled" and gone[-1]["cancelSource"] == "22"
    assert ex.orders_pending(BTC) == []


def test_amending_a_closing_order_above_the_position_is_cut_with_amend_source_2() -> None:
    ex = make()
    ex.open_position_directly(BTC, "long", 3)
    placed = close_long(ex, "1", ticks_above_ask(ex, 50))
    ex.drain_events()
    item = ex.amend_order({"instId": BTC, "ordId": placed["ordId"], "newSz": "7"})
    assert item["sCode"] == "0"
    (amended,) = pushes(ex)
    assert float(amended["sz"]) == 3 and amended["amendSource"] == "2" and amended["amendResult"] == "0"


def test_no_position_at_all_is_still_refused_with_51169() -> None:
    ex = make()
    assert close_long(ex, "1")["sCode"] == CODE_REDUCE_ONLY_NO_POSITION


def test_over_position_cuts_in_fill_order() -> None:
    class Ord:
        def __init__(self, ord_id: str, side: str, px: float, sz: float, filled: float = 0.0) -> None:
            self.ord_id, self.side, self.px, self.sz, self.acc_fill_sz = ord_id, side, px, sz, filled

    sells = [Ord("3", "sell", 18000, 20), Ord("1", "sell", 17000, 80), Ord("4", "sell", 16000, 50)]
    assert [(o.ord_id, left) for o, left in over_position(sells, 100, 1)] == [("1", 50), ("3", 0)]
    buys = [Ord("1", "buy", 100, 5), Ord("2", "buy", 0, 5), Ord("3", "buy", 101, 5, filled=2)]
    assert [(o.ord_id, left) for o, left in over_position(buys, 6, 1)] == [("3", 1), ("1", 0)]
    assert over_position(buys, 13, 1) == []


# ---------------------------------------------------------------------- over the wire
async def rest_place(sim: Any, creds: Credentials, body: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(body)
    async with aiohttp.ClientSession() as http:
        headers = rest_headers(creds, time.time(), "POST", TRADE_ORDER.path, text)
        async with http.post(sim.rest_url + TRADE_ORDER.path, data=text, headers=headers) as reply:
            return await reply.json()


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            message = json.loads(await ws.recv())
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


async def test_rest_oversize_close_is_accepted_cut_and_fills_the_position_only(
    sim: Any, sim_credentials: Credentials
) -> None:
    sim.exchange.open_position_directly(BTC, "long", 2)
    reply = await rest_place(sim, sim_credentials, {"instId": BTC, "tdMode": "cross", "side": "sell",
                                                    "posSide": "long", "ordType": "market", "sz": "6",
                                                    "clOrdId": "big1"})
    assert reply["code"] == "0" and reply["data"][0]["sCode"] == "0"
    order = sim.exchange.get_order(BTC, cl_ord_id="big1")
    assert float(order["sz"]) == 2 and float(order["accFillSz"]) == 2 and order["state"] == "filled"
    assert order["amendSource"] == "4"
    assert sim.exchange.positions_wire(BTC) == []


async def test_ws_op_order_oversize_reduce_only_close_is_cut_and_pushed_so(
    sim: Any, sim_credentials: Credentials
) -> None:
    sim.exchange.open_position_directly(BTC, "long", 3)
    ws = await websockets.connect(sim.ws_url + WS_PRIVATE_PATH)
    try:
        await ws.send(json.dumps({"op": "login", "args": [ws_login_args(sim_credentials, time.time())]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "0"
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}))
        await recv_until(ws, lambda m: m.get("event") == "subscribe")
        code = sim.exchange.specs[BTC].inst_id_code
        await ws.send(json.dumps({"id": "c1", "op": "order", "args": [{
            "instIdCode": code, "tdMode": "cross", "side": "sell", "posSide": "long", "ordType": "market",
            "sz": "9", "clOrdId": "wsbig"}]}))
        ack = await recv_until(ws, lambda m: m.get("id") == "c1")
        assert ack["code"] == "0" and ack["data"][0]["sCode"] == "0", ack
        filled = await recv_until(ws, lambda m: "data" in m and m["arg"]["channel"] == "orders"
                                  and m["data"][0]["clOrdId"] == "wsbig" and m["data"][0]["state"] == "filled")
        assert float(filled["data"][0]["sz"]) == 3 and filled["data"][0]["amendSource"] == "4"
    finally:
        await ws.close()
