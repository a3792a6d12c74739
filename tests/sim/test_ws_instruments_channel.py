"""The public `instruments` channel (OKX docs public-data-websocket-instruments-channel): the full
list on subscribe, then an instrument whose state changes; items as GET /public/instruments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import websockets

from okxscalp.okx.constants import (
    WS_BUSINESS_PATH,
    WS_CODE_INVALID_ARGS,
    WS_CODE_WRONG_URL_OR_CHANNEL,
    WS_PUBLIC_PATH,
)

pytestmark = pytest.mark.timeout(30)

SWAP_ARG = {"channel": "instruments", "instType": "SWAP"}


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            raw = await ws.recv()
            message = raw if raw == "pong" else json.loads(raw)
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


def instruments_push(message: Any) -> bool:
    return isinstance(message, dict) and "data" in message and message["arg"].get("channel") == "instruments"


async def subscribe(ws: Any, arg: dict[str, Any]) -> Any:
    await ws.send(json.dumps({"id": "1", "op": "subscribe", "args": [arg]}))
    return await recv_until(ws, lambda m: isinstance(m, dict) and "event" in m)


async def test_subscribe_pushes_every_instrument_as_the_rest_list(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        ack = await subscribe(ws, SWAP_ARG)
        assert ack["event"] == "subscribe" and ack["arg"] == SWAP_ARG and ack["id"] == "1"
        push = await recv_until(ws, instruments_push)
    assert push["arg"] == SWAP_ARG
    assert push["data"] == sim.exchange.instruments_wire("SWAP")
    assert {item["instId"] for item in push["data"]} == set(sim.exchange.specs)


async def test_a_state_change_is_pushed(sim: Any) -> None:
    inst_id = next(iter(sim.exchange.specs))
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        await subscribe(ws, SWAP_ARG)
        await recv_until(ws, instruments_push)  # the snapshot
        sim.exchange.set_instrument_state(inst_id, "suspend")
        change = await recv_until(ws, instruments_push)
        assert change["arg"] == SWAP_ARG
        assert [(i["instId"], i["state"]) for i in change["data"]] == [(inst_id, "suspend")]
        assert change["data"][0] == sim.exchange.instruments_wire("SWAP", inst_id)[0]
        sim.exchange.set_instrument_state(inst_id, "live")
        back = await recv_until(ws, instruments_push)
        assert [(i["instId"], i["state"]) for i in back["data"]] == [(inst_id, "live")]
        await ws.send(json.dumps({"op": "unsubscribe", "args": [SWAP_ARG]}))
        assert (await recv_until(ws, lambda m: isinstance(m, dict) and "event" in m))["event"] == "unsubscribe"
        sim.exchange.set_instrument_state(inst_id, "suspend")
        await ws.send("ping")  # anything pushed after the unsubscribe would arrive before the pong
        assert await recv_until(ws, lambda m: m == "pong" or instruments_push(m)) == "pong"


async def test_another_inst_type_is_acknowledged_with_nothing_to_list(sim: Any) -> None:
    arg = {"channel": "instruments", "instType": "SPOT"}
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        assert (await subscribe(ws, arg))["event"] == "subscribe"
        await ws.send("ping")
        assert await recv_until(ws, lambda m: m == "pong" or instruments_push(m)) == "pong"


@pytest.mark.parametrize(
    ("path", "arg", "code"),
    [
        (WS_PUBLIC_PATH, {"channel": "instruments"}, WS_CODE_INVALID_ARGS),
        (WS_PUBLIC_PATH, {"channel": "instruments", "instType": "ANY"}, WS_CODE_WRONG_URL_OR_CHANNEL),
        (WS_BUSINESS_PATH, SWAP_ARG, WS_CODE_WRONG_URL_OR_CHANNEL),
    ],
)
async def test_bad_instruments_subscriptions_are_refused(sim: Any, path: str, arg: dict[str, Any], code: str) -> None:
    async with websockets.connect(sim.ws_url + path) as ws:
        reply = await subscribe(ws, arg)
    assert reply["event"] == "error" and reply["code"] == code
