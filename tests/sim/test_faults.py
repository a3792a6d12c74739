"""Every fault, seen from the client side (plain websockets / aiohttp clients over loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from okxscalp.okx.auth import Credentials, rest_headers
from okxscalp.okx.constants import (
    CODE_TIMESTAMP_EXPIRED,
    MARKET_TICKER,
    TRADE_GET_ORDER,
    TRADE_ORDER,
    WS_BUSINESS_PATH,
    WS_CODE_SERVICE_UPGRADE_NOTICE,
    WS_PUBLIC_PATH,
)
from okxscalp.sim.control import CONTROL_COUNTERS_PATH, CONTROL_FAULT_PATH

pytestmark = pytest.mark.timeout(30)

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            raw = await ws.recv()
            message = raw if raw == "pong" else json.loads(raw)
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


async def subscribed(sim: Any, args: list[dict[str, str]], path: str = WS_PUBLIC_PATH) -> Any:
    ws = await websockets.connect(sim.ws_url + path, ping_interval=None)
    await ws.send(json.dumps({"op": "subscribe", "args": args}))
    for _ in args:
        assert (await recv_until(ws, lambda m: "event" in m))["event"] == "subscribe"
    return ws


def ticker_of(inst_id: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, dict) and "data" in m and m["arg"]["instId"] == inst_id


async def frames_for(ws: Any, seconds: float) -> list[Any]:
    """Everything received in the next `seconds` (a window, not a timing assertion)."""
    seen: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            break
        seen.append(raw if raw == "pong" else json.loads(raw))
    return seen


async def test_stall_one_symbol_keeps_the_connection_and_other_symbols(sim: Any) -> None:
    ws = await subscribed(sim, [{"channel": "tickers", "instId": BTC}, {"channel": "tickers", "instId": ETH}])
    try:
        await recv_until(ws, ticker_of(BTC))
        sim.faults.stall(60, inst_id=BTC)
        await frames_for(ws, 0.15)  # let frames queued before the stall drain
        window = await frames_for(ws, 0.6)
        instruments = {m["arg"]["instId"] for m in window if isinstance(m, dict) and "data" in m}
        assert instruments == {ETH}
        await ws.send("ping")  # the connection is alive and answers
        assert await recv_until(ws, lambda m: m == "pong") == "pong"
        sim.faults.clear()
        await recv_until(ws, ticker_of(BTC))
    finally:
        await ws.close()


async def test_stall_one_channel(sim: Any) -> None:
    ws = await subscribed(sim, [{"channel": "tickers", "instId": BTC}, {"channel": "bbo-tbt", "instId": BTC}])
    try:
        sim.faults.stall(60, channel="tickers")
        await frames_for(ws, 0.15)
        window = await frames_for(ws, 0.6)
        channels = {m["arg"]["channel"] for m in window if isinstance(m, dict) and "data" in m}
        assert channels == {"bbo-tbt"}
    finally:
        await ws.close()


async def test_drop_connections_closes_open_sockets_abruptly(sim_factory: Any) -> None:
    sim = await sim_factory(ws_connections_per_s=100)
    public = await subscribed(sim, [{"channel": "tickers", "instId": BTC}])
    business = await subscribed(sim, [{"channel": "candle1m", "instId": BTC}], WS_BUSINESS_PATH)
    try:
        assert sim.faults.drop_connections(path=WS_PUBLIC_PATH) == 1
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(public.recv(), 5)
        assert closed.value.rcvd is None  # no close frame: an abrupt drop
        await business.send("ping")  # the other path is untouched
        assert await recv_until(business, lambda m: m == "pong") == "pong"
        # New connections are accepted right away (drop is not refuse), and can be dropped again.
        again = await subscribed(sim, [{"channel": "tickers", "instId": BTC}])
        assert sim.faults.drop_connections(fraction=0.5) == 1
        assert sim.counters.connections_dropped[WS_PUBLIC_PATH] == 2
        await again.close()
    finally:
        await public.close()
        await business.close()


async def test_refuse_connections_for_a_while(sim: Any) -> None:
    sim.faults.refuse_connections(60)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(sim.ws_url + WS_PUBLIC_PATH)
    assert refused.value.response.status_code == 503
    assert sim.counters.connections_rejected[WS_PUBLIC_PATH] == 1
    sim.faults.clear()
    ws = await websockets.connect(sim.ws_url + WS_PUBLIC_PATH)
    await ws.close()


async def test_delay_messages_holds_frames_back(sim: Any) -> None:
    ws = await websockets.connect(sim.ws_url + WS_PUBLIC_PATH)
    try:
        sim.faults.delay_messages(ms=60_000, seconds=60, path=WS_PUBLIC_PATH)
        await ws.send("ping")
        assert await frames_for(ws, 0.4) == []  # the pong is held back
        sim.faults.clear()
        assert await recv_until(ws, lambda m: m == "pong") == "pong"
    finally:
        await ws.close()


@pytest.mark.parametrize("kind", ["truncated", "wrong_types", "unknown_channel", "empty_data", "not_json"])
async def test_malformed_frames(sim: Any, kind: str) -> None:
    ws = await subscribed(sim, [{"channel": "tickers", "instId": BTC}])
    try:
        await recv_until(ws, ticker_of(BTC))
        sim.faults.stall(60)  # nothing else in the way
        await frames_for(ws, 0.15)
        assert sim.faults.send_malformed(kind, path=WS_PUBLIC_PATH) == 1
        raw = await asyncio.wait_for(ws.recv(), 5)
    finally:
        await ws.close()
    if kind in ("truncated", "not_json"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        return
    frame = json.loads(raw)
    if kind == "wrong_types":
        assert isinstance(frame["data"][0]["last"], float)  # OKX sends strings
        assert frame["data"][0]["instId"] == BTC
    elif kind == "unknown_channel":
        assert frame["arg"]["channel"] not in ("tickers", "books5", "bbo-tbt", "trades") and frame["data"]
    else:
        assert frame["data"] == [] and frame["arg"] == {"channel": "tickers", "instId": BTC}
    assert sim.counters.malformed_sent[kind] == 1


async def test_upgrade_notice_64008(sim: Any) -> None:
    ws = await websockets.connect(sim.ws_url + WS_PUBLIC_PATH)
    try:
        assert sim.faults.notice_upgrade() == 1
        notice = await recv_until(ws, lambda m: m.get("event") == "notice")
        assert notice["code"] == WS_CODE_SERVICE_UPGRADE_NOTICE and notice["msg"].startswith("The connection will soon")
    finally:
        await ws.close()


async def signed(sim: Any, creds: Credentials, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    text = "" if body is None else json.dumps(body)
    headers = rest_headers(creds, time.time(), method, target, text)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, sim.rest_url + target, data=text or None, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)


MARKET_BUY = {"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market", "sz": "0.01"}


async def test_reject_next_order(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.reject_next_order("51008", "Order failed. Insufficient USDT margin in account")
    status, reply = await signed(sim, sim_credentials, "POST", TRADE_ORDER.path, MARKET_BUY)
    assert (status, reply["code"], reply["msg"]) == (200, "1", "All operations failed")
    assert reply["data"][0]["sCode"] == "51008" and "inTime" in reply
    _, second = await signed(sim, sim_credentials, "POST", TRADE_ORDER.path, MARKET_BUY)
    assert second["code"] == "0"


async def test_skew_makes_a_correct_clock_look_expired(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.skew_time(45_000)
    status, reply = await signed(sim, sim_credentials, "GET", "/api/v5/account/config")
    assert (status, reply["code"]) == (401, CODE_TIMESTAMP_EXPIRED)


async def test_drop_response_after_accept_executes_the_order_but_loses_the_reply(
    sim: Any, sim_credentials: Credentials
) -> None:
    sim.faults.drop_response_after_accept()
    with pytest.raises(aiohttp.ClientError):
        await signed(sim, sim_credentials, "POST", TRADE_ORDER.path, {**MARKET_BUY, "clOrdId": "lost1"})
    status, reply = await signed(sim, sim_credentials, "GET", f"{TRADE_GET_ORDER.path}?instId={BTC}&clOrdId=lost1")
    assert status == 200 and reply["data"][0]["state"] == "filled"
    assert sim.counters.orders_by_clordid["lost1"] == 1
    _, next_reply = await signed(sim, sim_credentials, "POST", TRADE_ORDER.path, {**MARKET_BUY, "clOrdId": "kept1"})
    assert next_reply["code"] == "0"


async def test_timeout_after_accept_holds_the_reply(sim: Any, sim_credentials: Credentials) -> None:
    sim.faults.timeout_after_accept(seconds=30)
    text = json.dumps({**MARKET_BUY, "clOrdId": "slow1"})
    headers = rest_headers(sim_credentials, time.time(), "POST", TRADE_ORDER.path, text)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http:
        with pytest.raises(TimeoutError):
            await http.post(sim.rest_url + TRADE_ORDER.path, data=text, headers=headers)
    _, reply = await signed(sim, sim_credentials, "GET", f"{TRADE_GET_ORDER.path}?instId={BTC}&clOrdId=slow1")
    assert reply["data"][0]["state"] == "filled"


async def test_control_endpoint_applies_faults_and_serves_counters(sim: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH,
                             json={"kind": "rate-limit-storm", "endpoint_path": MARKET_TICKER.path, "seconds": 30}) as r:
            assert r.status == 200 and (await r.json())["ok"] is True
        async with http.get(f"{sim.rest_url}{MARKET_TICKER.path}?instId={BTC}") as r:
            assert r.status == 429
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json={"kind": "explode"}) as r:
            assert r.status == 400 and "unknown fault kind" in (await r.json())["error"]
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json={"kind": "stall", "bogus": 1}) as r:
            assert r.status == 400
        async with http.post(sim.rest_url + CONTROL_FAULT_PATH, json={"kind": "send_malformed", "frame": "nope"}) as r:
            assert r.status == 400
        async with http.get(sim.rest_url + CONTROL_COUNTERS_PATH) as r:
            counters = await r.json()
    assert counters["http_429_injected"] == {MARKET_TICKER.path: 1}


def test_cli_fault_and_counters_against_a_threaded_server() -> None:
    from okxscalp.sim.server import run_in_thread

    with run_in_thread() as sim:
        fault = subprocess.run(
            [sys.executable, "-m", "okxscalp", "sim", "fault", "busy", "--seconds", "30", "--url", sim.rest_url],
            capture_output=True, text=True, timeout=60,
        )
        assert fault.returncode == 0, fault.stderr
        assert sim.faults.busy_active("/api/v5/public/time")
        bad = subprocess.run(
            [sys.executable, "-m", "okxscalp", "sim", "fault", "melt", "--url", sim.rest_url],
            capture_output=True, text=True, timeout=60,
        )
        assert bad.returncode == 1 and "unknown fault kind" in bad.stderr
        shown = subprocess.run(
            [sys.executable, "-m", "okxscalp", "sim", "counters", "--url", sim.rest_url],
            capture_output=True, text=True, timeout=60,
        )
        assert shown.returncode == 0 and "connections_total" in json.loads(shown.stdout)
        moved = subprocess.run(
            [sys.executable, "-m", "okxscalp", "sim", "market", "force-regime", "--inst-id", BTC, "--regime",
             "choppy", "--seconds", "60", "--url", sim.rest_url],
            capture_output=True, text=True, timeout=60,
        )
        assert moved.returncode == 0, moved.stderr
        assert sim.exchange.regime_of(BTC) == "choppy"


async def test_market_hooks_on_the_control_endpoint(sim: Any) -> None:
    from okxscalp.sim.control import CONTROL_MARKET_PATH

    async with aiohttp.ClientSession() as http:
        async with http.post(sim.rest_url + CONTROL_MARKET_PATH,
                             json={"kind": "move-price", "inst_id": ETH, "px": 2500.0}) as r:
            assert r.status == 200, await r.text()
        for _ in range(100):
            await asyncio.sleep(0.02)
            async with http.get(f"{sim.rest_url}/api/v5/market/books?instId={ETH}") as r:
                bid = float((await r.json())["data"][0]["bids"][0][0])
            if abs(bid - 2500.0) < 5:
                break
        assert abs(bid - 2500.0) < 5
        async with http.post(sim.rest_url + CONTROL_MARKET_PATH,
                             json={"kind": "force_regime", "inst_id": ETH, "regime": "trending", "duration_s": 60}) as r:
            assert r.status == 200
        assert sim.exchange.regime_of(ETH) == "trending"
        async with http.post(sim.rest_url + CONTROL_MARKET_PATH, json={"kind": "move_price", "inst_id": ETH}) as r:
            assert r.status == 400
        async with http.post(sim.rest_url + CONTROL_MARKET_PATH,
                             json={"kind": "force_regime", "inst_id": "NOPE-USDT-SWAP", "regime": "trending",
                                   "duration_s": 1}) as r:
            assert r.status == 400 and "51001" in (await r.json())["error"]


def test_immediate_faults_from_another_thread_run_on_the_server_loop() -> None:
    """run_in_thread: the test thread calls the Python API; the injector hops onto the server's loop."""
    from websockets.sync.client import connect

    from okxscalp.sim.server import run_in_thread

    with run_in_thread() as sim, connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "pong"
        assert sim.faults.notice_upgrade(WS_PUBLIC_PATH) == 1
        assert json.loads(ws.recv(timeout=5))["code"] == WS_CODE_SERVICE_UPGRADE_NOTICE
        sim.faults.reject_next_order("51008")
        assert sim.faults.drop_connections() == 1
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
