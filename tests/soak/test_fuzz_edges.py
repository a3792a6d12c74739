"""Fuzz at the edges the parser fuzz (tests/okx/test_parse.py) does not reach:
- arbitrary HTTP status + body through RestClient's request/envelope handling (GET and order POST):
  the result is a typed value or an OkxError with a message, never another exception;
- arbitrary WebSocket frames through a live WsConnection's read/dispatch path: junk is counted and
  dropped, the connection keeps delivering the valid pushes that follow.
Config documents into the validator are fuzzed in tests/config/test_config_property.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import WSMsgType, web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okxscalp.config.schema import BackoffSettings, RestSettings, WebSocketSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.errors import OkxError
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import PosSide, Side, Ticker
from okxscalp.okx.rest import OrderRequest, RestClient
from okxscalp.okx.ws import ConnectGate, WsConnection

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
CREDS = Credentials("fuzz-key", "fuzz-secret-value", "fuzz-pass")
VALID_TICKER = orjson.dumps({
    "arg": {"channel": "tickers", "instId": INST},
    "data": [{"instType": "SWAP", "instId": INST, "last": "100.1", "lastSz": "1", "askPx": "100.2", "askSz": "3",
              "bidPx": "100.0", "bidSz": "2", "open24h": "99", "high24h": "101", "low24h": "98",
              "volCcy24h": "10", "vol24h": "1000", "sodUtc0": "99", "sodUtc8": "99", "ts": "1700000000000"}],
})

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=12))


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()  # stdlib: any int size (orjson refuses > 64 bits)

json_values = st.recursive(
    json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
okx_codes = st.sampled_from(["0", "1", "2", "50011", "50013", "50001", "51000", "51008", "50113", "", "x"])
envelopes = st.builds(
    lambda code, msg, data: {"code": code, "msg": msg, "data": data},
    st.one_of(okx_codes, json_scalars), st.one_of(st.text(max_size=20), json_scalars), json_values,
)
bodies = st.one_of(
    envelopes.map(dumps),
    json_values.map(dumps),
    st.binary(max_size=40),
)
statuses = st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 502, 503])


class JunkServer:
    """An aiohttp server on its own loop thread: REST answers whatever `reply` holds; the
    WebSocket sends `frames`, then the valid ticker every 10 ms until the client leaves."""

    def __init__(self) -> None:
        self.reply: tuple[int, bytes] = (200, b"{}")
        self.frames: list[bytes | str] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _rest(self, request: web.Request) -> web.Response:
        await request.read()
        status, body = self.reply
        return web.Response(status=status, body=body, content_type="application/json")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        for frame in list(self.frames):
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        while not ws.closed:
            await ws.send_bytes(VALID_TICKER)
            with contextlib.suppress(TimeoutError):
                msg = await ws.receive(timeout=0.01)
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        return ws

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/ws/v5/public", self._ws), web.route("*", "/api/v5/{tail:.*}", self._rest)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.loop.run_forever()
        assert self._runner is not None
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()


@pytest.fixture(scope="module")
def junk_server() -> Iterator[JunkServer]:
    server = JunkServer()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.port:
            break
        threading.Event().wait(0.01)
    yield server
    server.loop.call_soon_threadsafe(server.loop.stop)
    thread.join(10)


NO_RETRY = RestSettings(max_retries=0, timeout_s=2.0)


async def _rest_calls(base_url: str) -> list[object]:
    outcomes: list[object] = []
    async with RestClient(base_url, CREDS, NO_RETRY) as client:
        for call in (
            lambda: client.ticker(INST),
            lambda: client.balance(),
            lambda: client.positions(),
            lambda: client.place_order(OrderRequest(inst_id=INST, side=Side.BUY, pos_side=PosSide.LONG, ord_type="limit",
                                                    sz="1", px="100", cl_ord_id="oxefuzz1", td_mode="cross")),
        ):
            try:
                outcomes.append(await call())
            except OkxError as exc:
                assert str(exc), f"an error without a message: {exc!r}"
                outcomes.append(exc)
    return outcomes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=statuses, body=bodies)
def test_rest_responses_give_a_value_or_a_clear_okx_error(junk_server: JunkServer, status: int, body: bytes) -> None:
    junk_server.reply = (status, body)
    outcomes = asyncio.run(_rest_calls(f"http://127.0.0.1:{junk_server.port}"))
    assert len(outcomes) == 4


ws_frames = st.one_of(
    st.binary(max_size=30),
    st.text(max_size=30),
    json_values.map(dumps),
    st.builds(lambda ch, inst, data: dumps({"arg": {"channel": ch, "instId": inst}, "data": data}),
              st.sampled_from(["tickers", "books5", "candle1m", "trades", "mark-price", "price-limit", "nope"]),
              st.one_of(st.just(INST), json_scalars), json_values),
    st.builds(lambda ev, code: dumps({"event": ev, "code": code, "msg": "x"}),
              st.sampled_from(["error", "notice", "subscribe", "unknown"]), okx_codes),
)


async def _frames_then_ticker(port: int) -> tuple[int, bool]:
    got = asyncio.Event()

    def on_message(push: WsPush) -> None:
        if any(isinstance(item, Ticker) and item.inst_id == INST for item in push.items):
            got.set()

    settings_ = WebSocketSettings(connect_timeout_s=2.0, backoff=BackoffSettings(base_s=0.05, max_s=0.2, jitter=0.2))
    conn = WsConnection("public", f"ws://127.0.0.1:{port}/ws/v5/public", settings_, on_message=on_message,
                        connect_gate=ConnectGate(per_second=1000))
    task = asyncio.create_task(conn.run())
    try:
        await asyncio.wait_for(got.wait(), 10)
    finally:
        await conn.stop()
        await asyncio.wait_for(task, 5)  # run() ends cleanly: nothing escaped the read loop
    return conn.health.reconnects, got.is_set()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(ws_frames, min_size=1, max_size=8))
def test_ws_junk_frames_are_dropped_and_valid_pushes_still_flow(junk_server: JunkServer, frames: list[bytes | str]) -> None:
    junk_server.frames = frames
    _reconnects, delivered = asyncio.run(_frames_then_ticker(junk_server.port))
    assert delivered
