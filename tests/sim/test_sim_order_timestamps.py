"""An order's ts/cTime/uTime and its taker fills are stamped when the request is processed (OKX:
`ts` is when "the order request processing is finished"), never before the request's inTime; fills
the market makes inside a step keep the step's time (issue 12)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from okxscalp.okx.auth import Credentials, rest_headers
from okxscalp.okx.constants import TRADE_ORDER
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
BTC = "BTC-USDT-SWAP"
START_MS = 1_732_435_200_000


def market_buy(ex: SimExchange, cl: str) -> dict:
    return ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                           "ordType": "market", "sz": "1", "clOrdId": cl})


def test_a_command_between_steps_is_stamped_with_its_own_time_not_the_step() -> None:
    ex = SimExchange(seed=3, start_wall_s=0.0, start_sim_ms=START_MS, history_minutes=5, inst_ids=[BTC])
    ex.advance(10.057)  # steps up to 10.0 s; the command arrives 57 ms later
    assert ex.now_ms == START_MS + 10_000
    item = market_buy(ex, "t1")
    assert item["ts"] == str(START_MS + 10_057)
    order = ex.get_order(BTC, cl_ord_id="t1")
    assert order["cTime"] == order["uTime"] == order["fillTime"] == str(START_MS + 10_057)
    (fill,) = ex.fills(BTC, 10)
    assert fill["ts"] == str(START_MS + 10_057)


def test_fills_the_market_makes_inside_a_step_keep_the_step_time() -> None:
    ex = SimExchange(seed=3, start_wall_s=0.0, start_sim_ms=START_MS, history_minutes=5, inst_ids=[BTC])
    ex.advance(5.031)
    market = ex.markets[BTC]
    px = str(Decimal(market.bid - 20) * Decimal(market.spec.tick_sz))
    placed = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long",
                             "ordType": "limit", "px": px, "sz": "1"})
    assert placed["ts"] == str(START_MS + 5_031)
    ex.move_price(BTC, float(px) * 0.99)
    ex.advance_steps(2)
    order = ex.get_order(BTC, placed["ordId"])
    assert order["state"] == "filled" and order["cTime"] == str(START_MS + 5_031)
    assert (int(order["fillTime"]) - START_MS) % 100 == 0 and int(order["fillTime"]) > START_MS + 5_031


async def test_rest_order_times_are_never_before_the_request_in_time(sim: Any, sim_credentials: Credentials) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(12):  # each lands somewhere in a 100 ms market step
            body = json.dumps({"instId": BTC, "tdMode": "cross", "side": "buy" if i % 2 == 0 else "sell",
                               "posSide": "long", "ordType": "market", "sz": "0.01", "clOrdId": f"ts{i}"})
            headers = rest_headers(sim_credentials, time.time(), "POST", TRADE_ORDER.path, body)
            async with http.post(sim.rest_url + TRADE_ORDER.path, data=body, headers=headers) as reply:
                answer = await reply.json()
            assert answer["code"] == "0", answer
            in_us, out_us = int(answer["inTime"]), int(answer["outTime"])
            (item,) = answer["data"]
            order = sim.exchange.get_order(BTC, cl_ord_id=f"ts{i}")
            for stamp in (item["ts"], order["cTime"], order["uTime"], order["fillTime"]):
                assert int(stamp) >= in_us // 1000, (stamp, in_us)  # ms stamps: not before inTime's ms
                assert int(stamp) * 1000 <= out_us + 1000, (stamp, out_us)
