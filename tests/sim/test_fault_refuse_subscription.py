"""The refuse_subscription fault on the wire: error events with the client id echoed, the
channel-conn-count-error form (ack, then the error, then no data), count / seconds bounds,
terminating existing holders, the control endpoint and the CLI request."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import websockets

from okxscalp.okx.auth import Credentials, ws_login_args
from okxscalp.okx.constants import WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.sim.control import CONTROL_FAULT_PATH

pytestmark = pytest.mark.timeout(30)

BTC = "BTC-USDT-SWAP"
ORDERS = {"channel": "orders", "instType": "SWAP"}


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            raw = await ws.recv()
            message = raw if raw == "pong" else json.loads(raw)
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


def is_event(message: Any) -> bool:
    return isinstance(message, dict) and "event" in message


async def logged_in(sim: Any, creds: Credentials) -> Any:
    ws = await websockets.connect(sim.ws_url + WS_PRIVATE_PATH, ping_interval=None)
    await ws.send(json.dumps({"op": "login", "args": [ws_login_args(creds, time.time())]}))
    assert (await recv_until(ws, is_event))["event"] == "login"
    return ws


async def quiet_for(ws: Any, seconds: float) -> list[Any]:
    """Every frame in the next `seconds` (a window to show that nothing arrives, not a timing assertion)."""
    seen: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return seen


async def test_error_code_answers_the_subscribe_with_the_client_id_and_no_ack(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.refuse_subscription("orders", code="60029", count=1)
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"id": "r1", "op": "subscribe", "args": [ORDERS]}))
        refused = await recv_until(ws, is_event)
        assert refused == {
            "id": "r1", "event": "error", "code": "60029",
            "msg": "Only users who are in the whitelist are allowed to subscribe to this channel.",
            "connId": refused["connId"],
        }
        assert sim.counters.ws_errors["60029"] == 1
        # count=1 is spent: the next subscribe is acked and announced as usual.
        await ws.send(json.dumps({"id": "r2", "op": "subscribe", "args": [ORDERS]}))
        ack = await recv_until(ws, is_event)
        assert (ack["id"], ack["event"], ack["arg"]) == ("r2", "subscribe", ORDERS)
        assert (await recv_until(ws, is_event))["event"] == "channel-conn-count"
    finally:
        await ws.close()


async def test_60018_text_names_the_refused_arg_and_public_channels_can_be_refused(sim: Any) -> None:
    sim.faults.refuse_subscription("tickers", code="60018", seconds=30, path=WS_PUBLIC_PATH)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        await ws.send(json.dumps({"id": "t1", "op": "subscribe", "args": [{"channel": "tickers", "instId": BTC}]}))
        refused = await recv_until(ws, is_event)
        assert (refused["id"], refused["event"], refused["code"]) == ("t1", "error", "60018")
        assert refused["msg"].startswith(f"Wrong URL or channel:tickers,instId:{BTC} doesn't exist.")
        # Other channels of the same connection are served.
        await ws.send(json.dumps({"id": "m1", "op": "subscribe", "args": [{"channel": "mark-price", "instId": BTC}]}))
        assert (await recv_until(ws, is_event))["event"] == "subscribe"
        sim.faults.clear()
        await ws.send(json.dumps({"id": "t2", "op": "subscribe", "args": [{"channel": "tickers", "instId": BTC}]}))
        assert (await recv_until(ws, is_event))["event"] == "subscribe"
        await recv_until(ws, lambda m: isinstance(m, dict) and m.get("arg", {}).get("channel") == "tickers" and "data" in m)


async def test_conn_count_error_acks_then_refuses_and_sends_no_data(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.refuse_subscription("account", seconds=30)  # default code: channel-conn-count-error
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"id": "a1", "op": "subscribe", "args": [{"channel": "account"}]}))
        ack = await recv_until(ws, is_event)
        assert (ack["id"], ack["event"], ack["arg"]) == ("a1", "subscribe", {"channel": "account"})
        refused = await recv_until(ws, is_event)
        assert refused == {"event": "channel-conn-count-error", "channel": "account", "connCount": "30",
                           "connId": ack["connId"]}
        # No snapshot, no data: the subscription was terminated.
        assert not [m for m in await quiet_for(ws, 0.3) if "data" in m]
        assert sim.counters.ws_errors["channel-conn-count-error"] == 1
    finally:
        await ws.close()


async def test_terminate_existing_takes_the_channel_from_its_holders(sim: Any, sim_credentials: Credentials) -> None:
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"id": "o1", "op": "subscribe", "args": [ORDERS, {"channel": "account"}]}))
        await recv_until(ws, lambda m: is_event(m) and m["event"] == "channel-conn-count" and m["channel"] == "account")
        assert sim.faults.refuse_subscription("orders", count=1, terminate_existing=True) == 1
        refused = await recv_until(ws, is_event)
        assert (refused["event"], refused["channel"]) == ("channel-conn-count-error", "orders")
        held = [arg["channel"] for s in sim.hub.sessions[WS_PRIVATE_PATH] for arg in s.private_args.values()]
        assert held == ["account"]  # the other channel is untouched
        assert sim.faults.refusals[0].remaining == 1  # terminating spent no refusal
    finally:
        await ws.close()


def test_bad_refusals_are_refused_at_injection(sim: Any) -> None:
    with pytest.raises(ValueError, match="seconds or count"):
        sim.faults.refuse_subscription("orders")
    with pytest.raises(ValueError, match="applies to account, orders, positions"):
        sim.faults.refuse_subscription("tickers", seconds=1)
    with pytest.raises(ValueError, match="give msg"):
        sim.faults.refuse_subscription("orders", code="60099", seconds=1)
    with pytest.raises(ValueError, match="5-digit"):
        sim.faults.refuse_subscription("orders", code="nope", seconds=1)
    with pytest.raises(ValueError, match="terminate_existing"):
        sim.faults.refuse_subscription("orders", code="60011", seconds=1, terminate_existing=True)
    assert not sim.faults.refusals


async def test_control_endpoint_and_cli_request(sim: Any, sim_credentials: Credentials) -> None:
    from okxscalp.sim.cli import fault_request, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["sim", "fault", "refuse-subscription", "--url", sim.rest_url, "--channel", "orders", "--code", "60011",
         "--count", "1", "--path", WS_PRIVATE_PATH]
    )
    body = fault_request(args)
    assert body == {"kind": "refuse_subscription", "channel": "orders", "code": "60011", "count": 1,
                    "path": WS_PRIVATE_PATH}
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json=body) as r:
            assert r.status == 200, await r.text()
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH,
                             json={"kind": "refuse-subscription", "channel": "tickers", "seconds": 1}) as r:
            assert r.status == 400 and "channel-conn-count-error applies to" in (await r.json())["error"]
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"id": "c1", "op": "subscribe", "args": [ORDERS]}))
        refused = await recv_until(ws, is_event)
        assert (refused["id"], refused["code"], refused["msg"]) == ("c1", "60011", "Please log in")
    finally:
        await ws.close()
