"""Junk from clients gets OKX errors, never a crash: the connection / server keeps serving."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import websockets

from okxscalp.okx.auth import Credentials, rest_headers, ws_login_args
from okxscalp.okx.constants import WS_PRIVATE_PATH, WS_PUBLIC_PATH

pytestmark = pytest.mark.timeout(60)

JUNK_FRAMES = [
    "", "null", "[]", "42", '"ping"', "{}", '{"op": 5}', '{"op": "subscribe"}', '{"op": "subscribe", "args": "x"}',
    '{"op": "subscribe", "args": [1, null, "x", {"channel": 5}, {"channel": "tickers", "instId": 7}]}',
    '{"op": "subscribe", "args": [{"channel": "tickers", "instId": ["BTC-USDT-SWAP"]}]}',
    '{"op": "login", "args": [{"apiKey": 1, "passphrase": [], "timestamp": {}, "sign": null}]}',
    '{"op": "login", "args": [{"apiKey": "k", "passphrase": "p", "timestamp": true, "sign": "s"}]}',
    '{"op": "login", "args": "x"}',
    json.dumps({"op": "login", "args": [{"apiKey": "ключ", "passphrase": "пароль", "timestamp": "١٢٣", "sign": "é"}]}),
    json.dumps({"op": "login", "args": [{"apiKey": "ключ", "passphrase": "p", "timestamp": str(int(time.time())), "sign": "é"}]}), '{"id": {"a": 1}, "op": "subscribe", "args": []}',
    '{"id": "' + "x" * 40 + '", "op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT-SWAP"}]}',
    '{"op": "unsubscribe", "args": [{"channel": "orders", "instType": 3}]}', "\u0000\u00ff",
    '{"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP", "instId": ["BTC-USDT-SWAP"]}]}',
    '{"op": "subscribe", "args": [{"channel": "positions", "instType": "SWAP", "extraParams": 5}]}',
]


@pytest.mark.parametrize(("path", "login"), [(WS_PUBLIC_PATH, False), (WS_PRIVATE_PATH, False), (WS_PRIVATE_PATH, True)])
async def test_junk_frames_get_error_events_and_the_connection_lives(
    sim_factory: Any, sim_credentials: Credentials, path: str, login: bool
) -> None:
    sim = await sim_factory(ws_connections_per_s=100)
    async with websockets.connect(sim.ws_url + path) as ws:
        if login:
            await ws.send(json.dumps({"op": "login", "args": [ws_login_args(sim_credentials, time.time())]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "login"
        for frame in JUNK_FRAMES:
            await ws.send(frame)
        await ws.send(b"\x00binary")
        await ws.send("ping")
        replies = []
        while (raw := await asyncio.wait_for(ws.recv(), 5)) != "pong":
            replies.append(json.loads(raw))
    assert replies and all(r["event"] == "error" and r["code"].startswith("600") for r in replies), replies
    async with aiohttp.ClientSession() as http, http.get(sim.rest_url + "/api/v5/public/time") as reply:
        assert reply.status == 200


JUNK_ORDERS: list[Any] = [
    [], ["x"], {"instId": 5}, {"instId": "BTC-USDT-SWAP", "sz": [1], "side": {}, "ordType": 3, "tdMode": None},
    {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
     "px": "abc", "sz": "1"},
    {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market",
     "sz": "-1", "attachAlgoOrds": "nope"},
    {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market",
     "sz": "1", "attachAlgoOrds": [{"slTriggerPx": "x"}], "clOrdId": "a" * 64},
]


async def test_junk_rest_requests_get_okx_errors(sim: Any, sim_credentials: Credentials) -> None:
    async with aiohttp.ClientSession() as http:
        for body in JUNK_ORDERS:
            text = json.dumps(body)
            headers = rest_headers(sim_credentials, time.time(), "POST", "/api/v5/trade/order", text)
            async with http.post(sim.rest_url + "/api/v5/trade/order", data=text, headers=headers) as reply:
                answer = await reply.json()
                assert reply.status in (200, 400), (body, reply.status, answer)
                assert answer["code"] != "0", (body, answer)
        for target in ("/api/v5/market/candles?instId=BTC-USDT-SWAP&limit=abc", "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=x",
                       "/api/v5/market/candles?instId=BTC-USDT-SWAP&bar=7X", "/api/v5/public/instruments",
                       "/api/v5/market/ticker"):
            async with http.get(sim.rest_url + target) as reply:
                answer = await reply.json()
                assert reply.status in (200, 400) and answer["code"] != "0", (target, answer)
