"""WsLink (okx/ws.py): the aiohttp client under WsConnection and WsTradeChannel, against a raw
aiohttp server that sends what the simulator does not: a close frame with a code and reason, a
text frame that is not UTF-8, a protocol ping. Also: no ClientSession outlives its connection."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest
from aiohttp import WSMsgType, web
from okx_ws_helpers import Recorder, running

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.okx.health import ConnectionState
from okxscalp.okx.models import Ticker
from okxscalp.okx.ws import ConnectGate, WsClosed, WsConnection, WsLink

pytestmark = pytest.mark.timeout(30)

SETTINGS = WebSocketSettings(connect_timeout_s=2.0, backoff=BackoffSettings(base_s=0.05, max_s=0.2, jitter=0.2))
TICKER = orjson.dumps({
    "arg": {"channel": "tickers", "instId": "BTC-USDT-SWAP"},
    "data": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "last": "100.5", "lastSz": "1", "askPx": "100.6",
              "askSz": "3", "bidPx": "100.4", "bidSz": "2", "open24h": "99", "high24h": "101", "low24h": "98",
              "volCcy24h": "10", "vol24h": "10", "sodUtc0": "99", "sodUtc8": "99", "ts": "1700000000000"}],
})

Script = Callable[[web.WebSocketResponse], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    """serve(script) → a ws:// URL whose every connection runs `script`, then waits for the close."""
    runners: list[web.AppRunner] = []

    async def start(script: Script) -> str:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoping=False, heartbeat=None)
            await ws.prepare(request)
            await script(ws)
            async for _ in ws:  # until the client goes
                pass
            return ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"ws://127.0.0.1:{port}/ws"

    yield start
    for runner in runners:
        await runner.cleanup()


def public(url: str, rec: Recorder) -> WsConnection:
    return WsConnection("public", url, SETTINGS, on_message=rec.on_message, on_health=rec.on_health,
                        connect_gate=ConnectGate())


def open_sessions() -> list[aiohttp.ClientSession]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]


async def test_a_close_frame_is_reported_with_its_code_and_reason(serve) -> None:
    closes = 0

    async def close_once(ws: web.WebSocketResponse) -> None:
        nonlocal closes
        if closes == 0:
            closes += 1
            await ws.close(code=4004, message=b"upgrade in progress")
        else:
            await ws.send_bytes(TICKER)  # a binary frame: delivered like a text one

    rec = Recorder()
    conn = public(await serve(close_once), rec)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects == 1 and rec.pushes)
        assert conn.health.last_error == "closed by server: code 4004 upgrade in progress"
        assert isinstance(rec.pushes[0].items[0], Ticker)


async def test_a_frame_that_is_not_utf8_is_malformed_and_the_reader_survives(serve) -> None:
    async def bad_then_good(ws: web.WebSocketResponse) -> None:
        await ws.send_frame(b'{"arg":\xff\xfe}', WSMsgType.TEXT)
        await ws.send_frame(TICKER, WSMsgType.TEXT)

    rec = Recorder()
    conn = public(await serve(bad_then_good), rec)
    async with running(conn):
        await rec.wait_for(lambda: rec.pushes)
        assert conn.health.malformed == 1 and conn.health.reconnects == 0
        assert conn.health.state is ConnectionState.UP


async def test_a_protocol_ping_is_answered_and_not_counted_as_a_message(serve) -> None:
    pongs: asyncio.Queue[bytes] = asyncio.Queue()

    async def ping(ws: web.WebSocketResponse) -> None:
        await ws.ping(b"are you there")
        msg = await ws.receive()
        await pongs.put(msg.data if msg.type is WSMsgType.PONG else b"")

    rec = Recorder()
    conn = public(await serve(ping), rec)
    async with running(conn):
        async with asyncio.timeout(5):
            assert await pongs.get() == b"are you there"
        assert conn.health.messages == 0


async def test_no_session_outlives_its_connection(serve) -> None:
    async def drop(ws: web.WebSocketResponse) -> None:
        await ws.send_frame(TICKER, WSMsgType.TEXT)
        await ws.close(code=1011, message=b"bye")

    before = len(open_sessions())
    rec = Recorder()
    conn = public(await serve(drop), rec)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects >= 3)
    assert len(open_sessions()) == before

    link = await WsLink.dial(await serve(drop), 2.0)
    assert await link.recv() == TICKER
    with pytest.raises(WsClosed, match="code 1011 bye"):
        await link.recv()
    with pytest.raises(WsClosed, match="code 1011 bye"):
        await link.send(b"ping")
    await link.close()
    assert len(open_sessions()) == before


async def test_a_failed_dial_closes_its_session(serve) -> None:
    before = len(open_sessions())
    url = await serve(lambda ws: asyncio.sleep(0))
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await WsLink.dial(url.replace("/ws", "/nowhere"), 2.0)
    assert len(open_sessions()) == before
