"""Matching rules seen through the protocol only: signed REST commands in, `orders` / `positions`
pushes and REST queries out (no access to the exchange's internals beyond the force_regime hook)."""

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
from okxscalp.okx.constants import (
    ACCOUNT_SET_POSITION_MODE,
    CANCEL_SOURCE_POST_ONLY,
    MARKET_BOOKS,
    PUBLIC_PRICE_LIMIT,
    TRADE_GET_ORDER,
    TRADE_ORDER,
    TRADE_ORDERS_PENDING,
    WS_PRIVATE_PATH,
)

pytestmark = pytest.mark.timeout(60)

BTC = "BTC-USDT-SWAP"


class Desk:
    """A signed REST client plus a logged-in private WebSocket subscribed to orders + positions."""

    def __init__(self, sim: Any, creds: Credentials) -> None:
        self.sim = sim
        self.creds = creds
        self.http = aiohttp.ClientSession()
        self.ws: Any = None

    async def open(self) -> Desk:
        # max_queue=None: keep reading pushes the test does not look at, so closing is prompt.
        self.ws = await websockets.connect(self.sim.ws_url + WS_PRIVATE_PATH, max_queue=None)
        await self.ws.send(json.dumps({"op": "login", "args": [ws_login_args(self.creds, time.time())]}))
        await self.until(lambda m: m.get("event") == "login")
        args = [{"channel": "orders", "instType": "SWAP"}, {"channel": "positions", "instType": "SWAP"}]
        await self.ws.send(json.dumps({"op": "subscribe", "args": args}))
        await self.until(lambda m: m.get("eventType") == "snapshot")
        return self

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()

    async def request(self, method: str, target: str, body: Any = None) -> dict[str, Any]:
        text = "" if body is None else json.dumps(body)
        headers = rest_headers(self.creds, time.time(), method, target, text)
        async with self.http.request(method, self.sim.rest_url + target, data=text or None, headers=headers) as r:
            return await r.json()

    async def public(self, target: str) -> dict[str, Any]:
        async with self.http.get(self.sim.rest_url + target) as reply:
            return (await reply.json())["data"][0]

    async def until(self, accept: Callable[[Any], bool], within_s: float = 10.0) -> Any:
        async def loop() -> Any:
            while True:
                message = json.loads(await self.ws.recv())
                if accept(message):
                    return message

        return await asyncio.wait_for(loop(), within_s)

    async def order_push(self, accept: Callable[[dict[str, Any]], bool], within_s: float = 10.0) -> dict[str, Any]:
        message = await self.until(
            lambda m: "data" in m and m["arg"]["channel"] == "orders" and accept(m["data"][0]), within_s
        )
        return message["data"][0]

    async def place(self, **fields: Any) -> dict[str, Any]:
        body = {"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market", **fields}
        return await self.request("POST", TRADE_ORDER.path, body)


@pytest.fixture
async def desk(sim_factory: Any, sim_credentials: Credentials) -> Any:
    sim = await sim_factory(initial_equity=10_000_000.0, speed=1.0)
    opened = await Desk(sim, sim_credentials).open()
    yield opened
    await opened.close()


@pytest.fixture
async def fast_desk(sim_factory: Any, sim_credentials: Credentials) -> Any:
    """Sim time at 20x wall time: a forced trend reaches a nearby stop within a few wall seconds."""
    sim = await sim_factory(initial_equity=10_000_000.0, speed=20.0)
    opened = await Desk(sim, sim_credentials).open()
    yield opened
    await opened.close()


async def top_of_book(desk: Desk) -> tuple[Decimal, Decimal, Decimal]:
    book = await desk.public(f"{MARKET_BOOKS.path}?instId={BTC}&sz=1")
    return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0]), Decimal(book["asks"][0][1])


async def test_post_only_that_would_take_is_canceled_with_source_31(
    desk: Desk, okx_fixture: Any, assert_wire_shape: Any
) -> None:
    _, ask, _ = await top_of_book(desk)
    reply = await desk.place(ordType="post_only", px=str(ask + 50), sz="0.01", clOrdId="po1")
    assert reply["code"] == "0" and reply["data"][0]["sCode"] == "0"  # accepted, then canceled
    canceled = await desk.order_push(lambda o: o["clOrdId"] == "po1" and o["state"] == "canceled")
    assert canceled["cancelSource"] == CANCEL_SOURCE_POST_ONLY and canceled["accFillSz"] in ("0", "0.00")
    assert_wire_shape(canceled, okx_fixture("ws_orders_post_only_canceled_first.json")["data"][0])


async def test_limit_through_the_ask_partially_fills_and_rests(desk: Desk) -> None:
    book = await desk.public(f"{MARKET_BOOKS.path}?instId={BTC}&sz=400")
    px = Decimal(book["asks"][0][0]) + 5  # 50 ticks of margin: the market moves between the two calls
    depth = sum(Decimal(level[1]) for level in book["asks"] if Decimal(level[0]) <= px)
    size = depth * 2  # more than the book offers up to px: part fills, the rest rests
    reply = await desk.place(ordType="limit", px=str(px), sz=str(size), clOrdId="part1")
    assert reply["code"] == "0", reply
    partial = await desk.order_push(lambda o: o["clOrdId"] == "part1" and o["state"] == "partially_filled")
    assert Decimal("0") < Decimal(partial["accFillSz"]) < size
    pending = await desk.request("GET", f"{TRADE_ORDERS_PENDING.path}?instId={BTC}")
    order = (await desk.request("GET", f"{TRADE_GET_ORDER.path}?instId={BTC}&clOrdId=part1"))["data"][0]
    # The resting remainder may meanwhile fill as maker when the market trades through px.
    assert order["state"] in ("partially_filled", "filled")
    assert Decimal(order["accFillSz"]) >= Decimal(partial["accFillSz"])
    if order["state"] == "partially_filled":
        assert [(o["clOrdId"], o["state"]) for o in pending["data"]] == [("part1", "partially_filled")]


async def test_attached_stop_loss_triggers_on_the_simulated_price(fast_desk: Desk) -> None:
    desk = fast_desk
    bid, _, _ = await top_of_book(desk)
    reply = await desk.place(sz="0.05", clOrdId="entry1", attachAlgoOrds=[
        {"attachAlgoClOrdId": "sl1", "slTriggerPx": str(bid - 20), "slOrdPx": "-1"},
    ])
    assert reply["code"] == "0", reply
    await desk.order_push(lambda o: o["clOrdId"] == "entry1" and o["state"] == "filled")
    desk.sim.exchange.force_regime(BTC, "trending", 3600, direction=-1)
    stop = await desk.order_push(lambda o: o["algoClOrdId"] == "sl1" and o["state"] == "filled", within_s=40)
    assert (stop["side"], stop["posSide"], stop["reduceOnly"]) == ("sell", "long", "true")
    assert Decimal(stop["fillPx"]) <= bid - 20
    flat = await desk.until(lambda m: m.get("arg", {}).get("channel") == "positions" and "data" in m
                            and m["data"] and m["data"][0]["pos"] == "0")
    assert flat["eventType"] == "event_update"


async def test_reduce_only_without_a_position_is_rejected(desk: Desk) -> None:
    mode = await desk.request("POST", ACCOUNT_SET_POSITION_MODE.path, {"posMode": "net_mode"})
    assert mode["code"] == "0", mode
    reply = await desk.place(side="sell", posSide="net", sz="0.01", reduceOnly=True)
    assert (reply["code"], reply["msg"], reply["data"][0]["sCode"]) == ("1", "All operations failed", "51169")


async def test_margin_rejection(sim: Any, sim_credentials: Credentials) -> None:
    small = Desk(sim, sim_credentials)
    try:
        reply = await small.place(sz="100000")
    finally:
        await small.http.close()
    assert reply["code"] == "1" and reply["data"][0]["sCode"] == "51008"


async def test_price_limit_rejection(desk: Desk) -> None:
    limits = await desk.public(f"{PUBLIC_PRICE_LIMIT.path}?instId={BTC}")
    above = Decimal(limits["buyLmt"]) + 100
    reply = await desk.place(ordType="limit", px=str(above), sz="0.01")
    assert reply["code"] == "1" and reply["data"][0]["sCode"] == "51006"
