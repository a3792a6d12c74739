"""The simulator's WebSocket order ops over a raw connection: `instIdCode` is the instrument key
(OKX delisted `instId` there), the per-item refusals when it is missing, not an integer or unknown
(never a Python None in a message), and the reply faults (dropped, delayed) after execution."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from okxscalp.okx.auth import Credentials
from okxscalp.sim.control import CONTROL_FAULT_PATH
from tests.sim.test_ws_private import logged_in, recv_until

pytestmark = pytest.mark.timeout(30)

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


def code_of(sim: Any, inst_id: str) -> int:
    return int(sim.exchange.specs[inst_id].inst_id_code)


def resting_buy(sim: Any, inst_id: str, **key: Any) -> dict[str, Any]:
    bid = float(sim.exchange.ticker_wire(inst_id)["bidPx"])
    tick = float(sim.exchange.specs[inst_id].tick_sz)
    px = round(bid * 0.95 / tick) * tick
    return {**key, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
            "px": f"{px:.{sim.exchange.specs[inst_id].px_decimals}f}", "sz": "0.01"}


async def op(ws: Any, name: str, args: list[dict[str, Any]], ident: str) -> dict[str, Any]:
    await ws.send(json.dumps({"id": ident, "op": name, "args": args}))
    return await recv_until(ws, lambda m: m.get("id") == ident and m.get("op") == name)


async def test_orders_are_keyed_by_inst_id_code_and_inst_id_is_ignored(sim: Any, sim_credentials: Credentials) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        placed = await op(ws, "order", [{**resting_buy(sim, BTC, instIdCode=code_of(sim, BTC)), "clOrdId": "code1"}], "p1")
        assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0", placed
        ord_id = placed["data"][0]["ordId"]
        assert sim.exchange.get_order(BTC, ord_id)["instId"] == BTC
        # instIdCode decides; an instId beside it (here another instrument's) is ignored.
        both = resting_buy(sim, BTC, instIdCode=code_of(sim, BTC), instId=ETH)
        placed_both = await op(ws, "order", [{**both, "clOrdId": "code2"}], "p2")
        assert placed_both["code"] == "0", placed_both
        both_id = placed_both["data"][0]["ordId"]
        assert sim.exchange.get_order(BTC, both_id)["instId"] == BTC
        amended = await op(ws, "amend-order", [{"instIdCode": code_of(sim, BTC), "ordId": ord_id, "newSz": "0.02"}], "p3")
        assert amended["code"] == "0" and amended["data"][0]["sCode"] == "0", amended
        canceled = await op(ws, "cancel-order", [{"instIdCode": code_of(sim, BTC), "clOrdId": "code1"}], "p4")
        assert canceled["code"] == "0" and canceled["data"][0]["ordId"] == ord_id, canceled
    finally:
        await ws.close()


@pytest.mark.parametrize(
    ("key", "s_code", "s_msg"),
    [
        ({"instId": BTC}, "50014", "Parameter instIdCode can not be empty"),
        ({}, "50014", "Parameter instIdCode can not be empty"),
        ({"instIdCode": ""}, "50014", "Parameter instIdCode can not be empty"),
        ({"instIdCode": "10459"}, "51000", "Parameter instIdCode error"),
        ({"instIdCode": True}, "51000", "Parameter instIdCode error"),
        ({"instIdCode": 999_999_999}, "51001", "Instrument ID, Instrument ID code, or Spread ID doesn't exist."),
    ],
)
async def test_missing_wrong_or_unknown_inst_id_code_is_a_per_item_refusal(
    sim: Any, sim_credentials: Credentials, key: dict[str, Any], s_code: str, s_msg: str
) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        order = {**resting_buy(sim, BTC), **key, "clOrdId": "refused1", "tag": "t1"}
        replies = [
            await op(ws, "order", [order], "r1"),
            await op(ws, "cancel-order", [{**key, "ordId": "123"}], "r2"),
            await op(ws, "amend-order", [{**key, "ordId": "123", "newSz": "1", "reqId": "q1"}], "r3"),
        ]
        for reply in replies:
            assert reply["code"] == "1" and len(reply["data"]) == 1, reply
            item = reply["data"][0]
            assert (item["sCode"], item["sMsg"]) == (s_code, s_msg), reply
            assert "None" not in json.dumps(reply)
        assert replies[0]["data"][0]["clOrdId"] == "refused1" and replies[0]["data"][0]["tag"] == "t1"
        assert replies[1]["data"][0]["ordId"] == "123" and replies[2]["data"][0]["reqId"] == "q1"
        assert not sim.exchange.orders_pending()
    finally:
        await ws.close()


async def test_a_batch_decides_each_item_by_its_own_code(sim: Any, sim_credentials: Credentials) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        good = resting_buy(sim, ETH, instIdCode=code_of(sim, ETH))
        bad = resting_buy(sim, BTC, instId=BTC)
        reply = await op(ws, "batch-orders", [good, bad], "b1")
        assert reply["code"] == "2", reply
        assert [i["sCode"] for i in reply["data"]] == ["0", "50014"]
    finally:
        await ws.close()


async def test_dropped_reply_executes_the_op_and_the_next_reply_is_its_own(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.drop_ws_trade_replies(1, op="order")
    ws = await logged_in(sim, sim_credentials)
    try:
        key = {"instIdCode": code_of(sim, BTC)}
        await ws.send(json.dumps({"id": "d1", "op": "order", "args": [{**resting_buy(sim, BTC, **key), "clOrdId": "drop1"}]}))
        second = await op(ws, "order", [{**resting_buy(sim, BTC, **key), "clOrdId": "drop2"}], "d2")
        assert second["data"][0]["clOrdId"] == "drop2"
        assert sim.counters.orders_by_clordid["drop1"] == 1  # executed, its reply lost
        pending = {o["clOrdId"] for o in sim.exchange.orders_pending()}
        assert {"drop1", "drop2"} <= pending
    finally:
        await ws.close()


async def test_delayed_reply_comes_late_and_other_ops_do_not_wait(sim: Any, sim_credentials: Credentials) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        sim.faults.delay_ws_trade_replies(0.5, 1, op="cancel-order")
        key = {"instIdCode": code_of(sim, BTC)}
        placed = await op(ws, "order", [{**resting_buy(sim, BTC, **key), "clOrdId": "late1"}], "l1")
        await ws.send(json.dumps({"id": "l2", "op": "cancel-order", "args": [{**key, "clOrdId": "late1"}]}))
        other = await op(ws, "order", [{**resting_buy(sim, BTC, **key), "clOrdId": "late2"}], "l3")
        assert other["code"] == "0"
        late = await recv_until(ws, lambda m: m.get("id") == "l2")
        assert late["code"] == "0" and late["data"][0]["ordId"] == placed["data"][0]["ordId"]
    finally:
        await ws.close()


async def test_reply_faults_through_the_control_endpoint(sim: Any) -> None:
    async with aiohttp.ClientSession() as http:
        for body in ({"kind": "drop-ws-trade-replies", "count": 2, "op": "amend-order"},
                     {"kind": "delay_ws_trade_replies", "seconds": 1.5}):
            async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json=body) as reply:
                assert reply.status == 200, await reply.text()
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json={"kind": "drop_ws_trade_replies", "op": "x"}) as reply:
            assert reply.status == 400
    assert [(f.remaining, f.hold_s, f.op) for f in sim.faults.trade_replies] == [(2, None, "amend-order"), (1, 1.5, None)]


async def test_rest_order_ops_without_inst_id_name_no_python_none(sim: Any, sim_credentials: Credentials) -> None:
    from tests.sim.test_ws_private import signed_post

    order = {"tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"}
    for path, body in (("/api/v5/trade/order", order), ("/api/v5/trade/cancel-order", {"ordId": "1"}),
                       ("/api/v5/trade/amend-order", {"ordId": "1", "newSz": "1"})):
        reply = await signed_post(sim, sim_credentials, path, body)
        assert reply["code"] == "1" and reply["data"][0]["sCode"] == "51001", reply
        assert reply["data"][0]["sMsg"] == "Instrument ID, Instrument ID code, or Spread ID doesn't exist.", reply
