"""Private WebSocket channels through the protocol: login, orders/positions/account pushes after
REST commands, subscribe-time snapshots, shapes against the OKX fixtures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import websockets

from okxscalp.okx.auth import Credentials, rest_headers, ws_login_args
from okxscalp.okx.constants import TRADE_ORDER, WS_PRIVATE_PATH

pytestmark = pytest.mark.timeout(30)

INST = "BTC-USDT-SWAP"


async def signed_post(sim: Any, creds: Credentials, path: str, body: Any) -> dict[str, Any]:
    text = json.dumps(body)
    async with aiohttp.ClientSession() as http:
        headers = rest_headers(creds, time.time(), "POST", path, text)
        async with http.post(sim.rest_url + path, data=text, headers=headers) as reply:
            return await reply.json()


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            message = json.loads(await ws.recv())
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


def push_of(channel: str) -> Callable[[Any], bool]:
    return lambda m: "data" in m and m["arg"]["channel"] == channel


async def logged_in(sim: Any, creds: Credentials) -> Any:
    ws = await websockets.connect(sim.ws_url + WS_PRIVATE_PATH)
    await ws.send(json.dumps({"op": "login", "args": [ws_login_args(creds, time.time())]}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["event"] == "login" and reply["code"] == "0", reply
    return ws


async def test_subscribe_snapshots_then_order_position_account_pushes(
    sim: Any, sim_credentials: Credentials, okx_fixture: Any, assert_wire_shape: Any
) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        args = [{"channel": "orders", "instType": "SWAP"}, {"channel": "positions", "instType": "SWAP"},
                {"channel": "account"}]
        await ws.send(json.dumps({"id": "p1", "op": "subscribe", "args": args}))
        seen: list[Any] = []
        while sum("data" in m for m in seen) < 2 or sum(m.get("event") == "subscribe" for m in seen) < 3:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        acks = [m for m in seen if m.get("event") == "subscribe"]
        counts = [m for m in seen if m.get("event") == "channel-conn-count"]
        assert {(c["channel"], c["connCount"]) for c in counts} == {("orders", "1"), ("positions", "1"), ("account", "1")}
        assert [a["arg"] for a in acks] == args and all(a["id"] == "p1" for a in acks)
        snapshots = {m["arg"]["channel"]: m for m in seen if "data" in m}
        assert snapshots["positions"]["eventType"] == "snapshot" and snapshots["positions"]["data"] == []
        assert snapshots["positions"]["curPage"] == 1 and snapshots["positions"]["lastPage"] is True
        assert snapshots["account"]["eventType"] == "snapshot"
        assert snapshots["account"]["arg"]["uid"] == sim.exchange.uid
        assert_wire_shape(snapshots["account"]["data"][0]["details"][0],
                          okx_fixture("ws_account.json")["data"][0]["details"][0])

        reply = await signed_post(sim, sim_credentials, TRADE_ORDER.path, {
            "instId": INST, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market",
            "sz": "0.05", "clOrdId": "wsprivate1"})
        assert reply["code"] == "0", reply
        order = await recv_until(ws, lambda m: push_of("orders")(m) and m["data"][0]["state"] == "filled")
        assert order["arg"] == {"channel": "orders", "instType": "SWAP", "uid": sim.exchange.uid}
        assert order["data"][0]["clOrdId"] == "wsprivate1"
        assert_wire_shape(order["data"][0], okx_fixture("ws_orders.json")["data"][0])
        position = await recv_until(ws, push_of("positions"))
        assert position["eventType"] == "event_update" and position["arg"]["uid"] == sim.exchange.uid
        assert position["data"][0]["instId"] == INST and float(position["data"][0]["pos"]) == 0.05
        reference_position = okx_fixture("ws_positions.json")["data"][0]
        common = {k: v for k, v in reference_position.items() if k in position["data"][0]}
        assert len(common) >= 20
        assert_wire_shape(position["data"][0], common)
        account = await recv_until(ws, push_of("account"))
        assert account["eventType"] == "event_update"
    finally:
        await ws.close()
    # A second subscriber sees the open position in its snapshot.
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}]}))
        snapshot = await recv_until(ws, push_of("positions"))
        assert snapshot["eventType"] == "snapshot" and [p["instId"] for p in snapshot["data"]] == [INST]
    finally:
        await ws.close()


async def test_inst_id_filter_on_orders(sim_factory: Any, sim_credentials: Credentials) -> None:
    sim = await sim_factory(ws_connections_per_s=100)
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP", "instId": "ETH-USDT-SWAP"}]}))
        await recv_until(ws, lambda m: m.get("event") == "subscribe")
        base = {"tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market"}
        await signed_post(sim, sim_credentials, TRADE_ORDER.path, {**base, "instId": INST, "sz": "0.01", "clOrdId": "btc1"})
        await signed_post(sim, sim_credentials, TRADE_ORDER.path, {**base, "instId": "ETH-USDT-SWAP", "sz": "0.1", "clOrdId": "eth1"})
        push = await recv_until(ws, push_of("orders"))
        assert push["data"][0]["clOrdId"] == "eth1"
    finally:
        await ws.close()


async def test_orders_algo_lives_on_business_after_login(sim_factory: Any, sim_credentials: Credentials) -> None:
    from okxscalp.okx.constants import TRADE_CANCEL_ALGOS, TRADE_ORDER_ALGO, WS_BUSINESS_PATH

    sim = await sim_factory(ws_connections_per_s=100)
    arg = {"channel": "orders-algo", "instType": "SWAP"}
    async with websockets.connect(sim.ws_url + WS_BUSINESS_PATH) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        assert (await recv_until(ws, lambda m: "event" in m))["code"] == "60011"  # login first
        await ws.send(json.dumps({"op": "login", "args": [ws_login_args(sim_credentials, time.time())]}))
        assert (await recv_until(ws, lambda m: "event" in m))["event"] == "login"
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        assert (await recv_until(ws, lambda m: "event" in m))["event"] == "subscribe"
        entry = await signed_post(sim, sim_credentials, TRADE_ORDER.path, {
            "instId": INST, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market", "sz": "0.02"})
        assert entry["code"] == "0", entry
        algo = await signed_post(sim, sim_credentials, TRADE_ORDER_ALGO.path, {
            "instId": INST, "tdMode": "cross", "side": "sell", "posSide": "long", "ordType": "conditional",
            "closeFraction": "1", "slTriggerPx": "1000", "slOrdPx": "-1", "algoClOrdId": "protect1"})
        assert algo["code"] == "0", algo
        live = await recv_until(ws, push_of("orders-algo"))
        assert live["arg"] == {**arg, "uid": sim.exchange.uid}
        assert live["data"][0]["algoClOrdId"] == "protect1" and live["data"][0]["state"] == "live"
        canceled = await signed_post(sim, sim_credentials, TRADE_CANCEL_ALGOS.path,
                                     [{"instId": INST, "algoId": algo["data"][0]["algoId"]}])
        assert canceled["code"] == "0", canceled
        gone = await recv_until(ws, lambda m: push_of("orders-algo")(m) and m["data"][0]["state"] == "canceled")
        assert gone["data"][0]["algoClOrdId"] == "protect1"
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as ws:  # not a /private channel
        await ws.send(json.dumps({"op": "login", "args": [ws_login_args(sim_credentials, time.time())]}))
        await recv_until(ws, lambda m: "event" in m)
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        assert (await recv_until(ws, lambda m: "event" in m))["code"] == "60018"


async def test_regular_snapshots_unless_events_only(
    sim: Any, sim_credentials: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okxscalp.sim import ws_channels

    monkeypatch.setattr(ws_channels, "DEFAULT_REGULAR_PUSH_MS", 100)  # OKX: ~5 s; shortened for the test
    ws = await logged_in(sim, sim_credentials)
    try:
        args = [{"channel": "account"},
                {"channel": "positions", "instType": "SWAP", "extraParams": '{"updateInterval": "0"}'}]
        await ws.send(json.dumps({"op": "subscribe", "args": args}))
        snapshots: dict[str, int] = {"account": 0, "positions": 0}
        while snapshots["account"] < 4:
            message = await recv_until(ws, lambda m: m.get("eventType") == "snapshot")
            snapshots[message["arg"]["channel"]] += 1
        assert snapshots["positions"] == 1  # the subscribe-time one only
    finally:
        await ws.close()
    assert ws_channels.regular_push_interval_s({"channel": "positions", "extraParams": '{"updateInterval": "2000"}'}) == 2.0
    assert ws_channels.regular_push_interval_s({"channel": "orders", "instType": "SWAP"}) == 0.0


async def test_ws_trade_ops_place_amend_cancel_and_batch(sim: Any, sim_credentials: Credentials) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        async def op(name: str, args: list[dict[str, Any]], ident: str) -> dict[str, Any]:
            await ws.send(json.dumps({"id": ident, "op": name, "args": args}))
            return await recv_until(ws, lambda m: m.get("id") == ident and m.get("op") == name)

        bid = float(sim.exchange.ticker_wire(INST)["bidPx"])
        px = f"{bid * 0.95:.1f}"
        code = sim.exchange.specs[INST].inst_id_code  # the WS order ops' instrument key (instId is delisted there)
        base = {"instIdCode": code, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit", "px": px}
        placed = await op("order", [{**base, "sz": "0.01", "clOrdId": "wsop1"}], "a1")
        assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0" and placed["inTime"] and placed["outTime"]
        ord_id = placed["data"][0]["ordId"]
        amended = await op("amend-order", [{"instIdCode": code, "ordId": ord_id, "newSz": "0.02"}], "a2")
        assert amended["code"] == "0", amended
        canceled = await op("cancel-order", [{"instIdCode": code, "ordId": ord_id}], "a3")
        assert canceled["code"] == "0", canceled
        batch = await op("batch-orders", [{**base, "sz": "0.01"}, {**base, "sz": "0.015"}], "a4")
        assert batch["code"] == "2" and [i["sCode"] == "0" for i in batch["data"]] == [True, False]
        failed = await op("cancel-order", [{"instIdCode": code, "ordId": ord_id}], "a5")
        assert failed["code"] == "1" and failed["data"][0]["sCode"] == "51400"
        malformed = await op("order", [], "a6")
        assert (malformed["code"], malformed["data"]) == ("60013", [])
        assert sim.counters.orders_by_clordid["wsop1"] == 1
    finally:
        await ws.close()
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as anonymous:
        await anonymous.send(json.dumps({"id": "b1", "op": "order", "args": [{"instId": INST}]}))
        assert (await recv_until(anonymous, lambda m: "event" in m))["code"] == "60011"


async def test_channel_connection_limit(sim: Any, sim_credentials: Credentials, monkeypatch: pytest.MonkeyPatch) -> None:
    from okxscalp.sim import ws_api

    monkeypatch.setattr(ws_api, "CHANNEL_CONN_LIMIT", 1)  # OKX: 30 per channel per sub-account
    arg = {"channel": "orders", "instType": "SWAP"}
    first = await logged_in(sim, sim_credentials)
    try:
        await first.send(json.dumps({"op": "subscribe", "args": [arg]}))
        assert (await recv_until(first, lambda m: m.get("event") == "channel-conn-count"))["connCount"] == "1"
        second = await logged_in(sim, sim_credentials)
        try:
            await second.send(json.dumps({"op": "subscribe", "args": [arg]}))
            assert (await recv_until(second, lambda m: "event" in m))["event"] == "subscribe"
            refused = await recv_until(second, lambda m: "event" in m)
            assert (refused["event"], refused["channel"], refused["connCount"]) == ("channel-conn-count-error", "orders", "1")
        finally:
            await second.close()
    finally:
        await first.close()
