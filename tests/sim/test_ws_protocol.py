"""The simulator's WebSocket protocol with a plain `websockets` client: acks, errors, login,
ping/pong, idle close, connection and operation limits, push shapes against the OKX fixtures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from okxscalp.okx.auth import Credentials, sign, ws_login_args
from okxscalp.okx.constants import (
    WS_BUSINESS_PATH,
    WS_CLOSE_IDLE,
    WS_CODE_INVALID_ARGS,
    WS_CODE_INVALID_KEY,
    WS_CODE_INVALID_REQUEST,
    WS_CODE_INVALID_SIGN,
    WS_CODE_INVALID_TIMESTAMP,
    WS_CODE_LOGIN_FAILED,
    WS_CODE_PLEASE_LOGIN,
    WS_CODE_TIMESTAMP_EXPIRED,
    WS_CODE_TOO_FREQUENT,
    WS_CODE_WRONG_PASSPHRASE,
    WS_CODE_WRONG_URL_OR_CHANNEL,
    WS_IDLE_CLOSE_S,
    WS_LOGIN_PREHASH_PATH,
    WS_PRIVATE_PATH,
    WS_PUBLIC_PATH,
)

pytestmark = pytest.mark.timeout(30)

INST = "BTC-USDT-SWAP"


async def recv_json(ws: Any, within_s: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), within_s))


async def recv_until(ws: Any, accept: Callable[[Any], bool], within_s: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            raw = await ws.recv()
            message = raw if raw == "pong" else json.loads(raw)
            if accept(message):
                return message

    return await asyncio.wait_for(loop(), within_s)


def is_push(channel: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, dict) and "data" in m and m.get("arg", {}).get("channel") == channel


async def test_subscribe_acks_one_per_arg_echoing_id_and_pushes_data(sim: Any) -> None:
    args = [{"channel": "tickers", "instId": INST}, {"channel": "tickers", "instId": "ETH-USDT-SWAP"}]
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH + "?brokerId=9999") as ws:
        await ws.send(json.dumps({"id": "1512", "op": "subscribe", "args": args}))
        acks = [await recv_json(ws), await recv_json(ws)]
        assert [a["arg"] for a in acks] == args
        assert all(a["event"] == "subscribe" and a["id"] == "1512" and a["connId"] for a in acks)
        seen = set()
        while seen != {INST, "ETH-USDT-SWAP"}:
            push = await recv_until(ws, is_push("tickers"))
            assert push["arg"] == {"channel": "tickers", "instId": push["data"][0]["instId"]}
            seen.add(push["data"][0]["instId"])
        await ws.send(json.dumps({"op": "unsubscribe", "args": args[:1]}))
        ack = await recv_until(ws, lambda m: m.get("event") == "unsubscribe")
        assert ack["arg"] == args[0] and "id" not in ack
    assert sim.counters.messages_sent["tickers"] >= 2
    assert sim.counters.connections_total[WS_PUBLIC_PATH] == 1


@pytest.mark.parametrize(
    ("path", "channel", "fixture", "pick"),
    [
        (WS_PUBLIC_PATH, "tickers", "ws_tickers.json", None),
        (WS_PUBLIC_PATH, "bbo-tbt", "ws_bbo_tbt.json", None),
        (WS_PUBLIC_PATH, "books5", "ws_bbo_tbt.json", None),  # books5 = the same levels, 5 deep, + instId
        (WS_PUBLIC_PATH, "trades", "ws_trades.json", None),
        (WS_PUBLIC_PATH, "mark-price", "http_get_mark_price.json", "rest"),
        (WS_PUBLIC_PATH, "price-limit", "http_get_price_limit.json", "rest"),
        (WS_BUSINESS_PATH, "candle1m", "ws_candle.json", None),
    ],
)
async def test_push_shapes_match_okx_fixtures(
    sim: Any, okx_fixture: Any, assert_wire_shape: Any, path: str, channel: str, fixture: str, pick: str | None
) -> None:
    reference = okx_fixture(fixture)
    async with websockets.connect(sim.ws_url + path) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": channel, "instId": INST}]}))
        assert (await recv_json(ws))["event"] == "subscribe"
        push = await recv_until(ws, is_push(channel))
    assert push["arg"] == {"channel": channel, "instId": INST}
    assert len(push["data"]) == 1
    assert_wire_shape(push["data"][0], reference["data"][0])
    if pick is None:
        assert_wire_shape(push, reference)
    if channel == "books5":
        assert push["data"][0]["instId"] == INST and len(push["data"][0]["asks"]) == 5


async def test_candles_live_on_business_only(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        await ws.send(json.dumps({"id": "7", "op": "subscribe", "args": [{"channel": "candle1m", "instId": INST}]}))
        error = await recv_json(ws)
    assert error == {
        "id": "7",
        "event": "error",
        "code": WS_CODE_WRONG_URL_OR_CHANNEL,
        "msg": f"Wrong URL or channel:candle1m,instId:{INST} doesn't exist. Please use the correct URL, "
        "channel and parameters referring to API document.",
        "connId": error["connId"],
    }
    async with websockets.connect(sim.ws_url + WS_BUSINESS_PATH) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": INST}]}))
        assert (await recv_json(ws))["code"] == WS_CODE_WRONG_URL_OR_CHANNEL


async def test_request_errors_have_okx_codes(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        await ws.send("{not json")
        assert (await recv_json(ws))["code"] == WS_CODE_INVALID_REQUEST
        await ws.send(json.dumps({"id": "9", "op": "subscribe", "argss": []}))
        error = await recv_json(ws)
        assert (error["code"], error["id"]) == (WS_CODE_INVALID_REQUEST, "9")
        assert error["msg"].startswith("Invalid request: ")
        await ws.send(json.dumps({"op": "subscribe", "args": [{"instId": INST}]}))
        assert (await recv_json(ws))["code"] == WS_CODE_INVALID_ARGS
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": "NOPE-USDT-SWAP"}]}))
        assert (await recv_json(ws))["code"] == WS_CODE_WRONG_URL_OR_CHANNEL
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}))
        assert (await recv_json(ws))["code"] == WS_CODE_WRONG_URL_OR_CHANNEL  # private channel on /public
    assert sim.counters.ws_errors[WS_CODE_WRONG_URL_OR_CHANNEL] == 2


async def test_private_channels_need_login(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as ws:
        await ws.send(json.dumps({"id": "3", "op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}))
        error = await recv_json(ws)
    assert (error["event"], error["code"], error["msg"], error["id"]) == ("error", WS_CODE_PLEASE_LOGIN, "Please log in", "3")


def login_frame(creds: Credentials, epoch_s: float | None = None, **override: Any) -> str:
    args: dict[str, Any] = ws_login_args(creds, time.time() if epoch_s is None else epoch_s)
    args.update(override)
    return json.dumps({"op": "login", "args": [args]})


async def test_login_success_with_string_or_number_timestamp(sim: Any, sim_credentials: Credentials) -> None:
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as ws:
        await ws.send(login_frame(sim_credentials))
        reply = await recv_json(ws)
        assert (reply["event"], reply["code"], reply["msg"]) == ("login", "0", "")
    seconds = int(time.time())
    numeric = json.loads(login_frame(sim_credentials, seconds))
    numeric["args"][0]["timestamp"] = seconds  # python-okx / hummingbot send a JSON number
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as ws:
        await ws.send(json.dumps(numeric))
        assert (await recv_json(ws))["event"] == "login"


async def test_login_failures_each_have_their_code(sim_factory: Any, sim_credentials: Credentials) -> None:
    sim = await sim_factory(ws_connections_per_s=100)
    old = time.time() - 60
    ts = str(int(time.time()))
    cases = [
        (login_frame(sim_credentials, apiKey="someone-else"), WS_CODE_INVALID_KEY),
        (login_frame(sim_credentials, passphrase="nope"), WS_CODE_WRONG_PASSPHRASE),
        (login_frame(sim_credentials, sign=sign("wrong-secret", ts, "GET", WS_LOGIN_PREHASH_PATH), timestamp=ts),
         WS_CODE_INVALID_SIGN),
        (login_frame(sim_credentials, old), WS_CODE_TIMESTAMP_EXPIRED),
        (login_frame(sim_credentials, timestamp="2020-12-08T09:08:57.715Z"), WS_CODE_INVALID_TIMESTAMP),
        (json.dumps({"op": "login", "args": [{"apiKey": sim_credentials.api_key}]}), WS_CODE_LOGIN_FAILED),
    ]
    async with websockets.connect(sim.ws_url + WS_PRIVATE_PATH) as ws:
        for frame, code in cases:
            await ws.send(frame)
            reply = await recv_json(ws)
            assert (reply["event"], reply["code"]) == ("error", code), reply
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}))
        assert (await recv_json(ws))["code"] == WS_CODE_PLEASE_LOGIN


async def test_text_ping_gets_text_pong(sim: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_BUSINESS_PATH) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), 5) == "pong"


async def test_idle_connection_is_closed_with_4004(sim_factory: Any) -> None:
    """Nothing subscribed, nothing said: closed with 4004 after the idle period."""
    sim = await sim_factory(ws_idle_s=0.3)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_CLOSE_IDLE
    assert closed.value.rcvd.reason == "No data received in 30s"
    assert sim.counters.connections_open[WS_PUBLIC_PATH] == 0


async def test_pushed_data_keeps_a_silent_client_connected(sim_factory: Any) -> None:
    """OKX closes when no data has been pushed for 30 s: a busy feed stays up without client pings."""
    sim = await sim_factory(ws_idle_s=0.3)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": INST}]}))
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # > 3 idle periods of only server pushes
            await asyncio.wait_for(ws.recv(), 5)
        await ws.send("ping")
        assert await recv_until(ws, lambda m: m == "pong") == "pong"


async def test_strict_idle_rule_counts_client_messages_only(sim_factory: Any) -> None:
    sim = await sim_factory(ws_idle_s=0.3, ws_idle_counts_pushes=False)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": INST}]}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_CLOSE_IDLE


async def test_client_messages_keep_the_connection_alive(sim_factory: Any) -> None:
    sim = await sim_factory(ws_idle_s=0.5)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        for _ in range(5):  # 5 x 0.2 s of pings outlive one idle period
            await asyncio.sleep(0.2)
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"


def test_idle_close_defaults_to_30_seconds() -> None:
    from okxscalp.sim.server import SimServer

    assert WS_IDLE_CLOSE_S == 30.0
    assert SimServer().hub.idle_s == 30.0


async def test_new_connections_per_ip_are_limited_with_http_429(sim_factory: Any) -> None:
    sim = await sim_factory(ws_connections_per_s=1)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH):
                pass
    assert refused.value.response.status_code == 429
    assert sim.counters.connections_rejected[WS_PUBLIC_PATH] == 1


async def test_three_new_connections_per_second_is_the_default(sim: Any) -> None:
    assert sim.hub._new_connections.limit == 3


async def test_operations_per_connection_are_limited_with_60014(sim_factory: Any) -> None:
    sim = await sim_factory(ws_ops_per_hour=2)
    frame = json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": INST}]})
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH) as ws:
        for _ in range(2):
            await ws.send(frame)
            assert (await recv_until(ws, lambda m: "event" in m))["event"] == "subscribe"
        await ws.send(frame)
        assert (await recv_until(ws, lambda m: "event" in m))["code"] == WS_CODE_TOO_FREQUENT
        await ws.send("ping")  # pings are not operations
        assert await recv_until(ws, lambda m: m == "pong") == "pong"


@pytest.mark.parametrize(("size", "header"), [
    (5, b"\x81\x05"), (125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"), (4095, b"\x81\x7e\x0f\xff"),
    (4096, b"\x81\x7e\x10\x00"), (65535, b"\x81\x7e\xff\xff"), (65536, b"\x81\x7f" + (65536).to_bytes(8, "big")),
    (70_000, b"\x81\x7f" + (70_000).to_bytes(8, "big")),
])
def test_text_frames_use_the_rfc6455_length_encodings(size: int, header: bytes) -> None:
    from okxscalp.sim.ws_session import text_frame

    frame = text_frame(b"x" * size)
    assert frame == header + b"x" * size


async def test_large_pushes_arrive_intact(sim: Any, sim_credentials: Credentials) -> None:
    """A 70 kB frame (8-byte length) and a 200 B one (2-byte length) through a real client."""
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, max_size=None) as ws:
        session = sim.hub.sessions[WS_PUBLIC_PATH][0]
        big = {"arg": {"channel": "tickers", "instId": INST}, "data": [{"pad": "y" * 70_000}]}
        session.send_json(big)
        session.send_json({"event": "notice", "msg": "z" * 200})
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == big
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["msg"] == "z" * 200


async def test_protocol_pings_do_not_keep_an_idle_connection_open(sim_factory: Any) -> None:
    """OKX's heartbeat is the text `ping`; protocol-level pings are answered but are not activity."""
    sim = await sim_factory(ws_idle_s=0.5)
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, ping_interval=0.1, ping_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_CLOSE_IDLE


async def test_books_snapshot_then_continuous_deltas(sim: Any, okx_fixture: Any, assert_wire_shape: Any) -> None:
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, max_size=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": INST}]}))
        assert (await recv_json(ws))["event"] == "subscribe"
        snapshot = await recv_until(ws, is_push("books"))
        assert snapshot["action"] == "snapshot" and snapshot["data"][0]["prevSeqId"] == -1
        assert_wire_shape(snapshot, okx_fixture("ws_books_snapshot.json"))
        book = {side: {px: sz for px, sz, *_ in snapshot["data"][0][side]} for side in ("asks", "bids")}
        seq = snapshot["data"][0]["seqId"]
        for _ in range(5):
            update = await recv_until(ws, is_push("books"))
            assert update["action"] == "update"
            assert_wire_shape(update, okx_fixture("ws_books_update.json"))
            assert update["data"][0]["prevSeqId"] == seq  # no gap
            seq = update["data"][0]["seqId"]
            for side in ("asks", "bids"):
                for px, sz, *_ in update["data"][0][side]:
                    if float(sz) == 0:
                        book[side].pop(px, None)
                    else:
                        book[side][px] = sz
        best_bid = max(book["bids"], key=float)
        best_ask = min(book["asks"], key=float)
        assert float(best_bid) < float(best_ask)


async def test_a_late_books_subscriber_gets_a_snapshot_its_deltas_continue(sim: Any) -> None:
    arg = {"channel": "books", "instId": INST}
    async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, max_size=None) as first:
        await first.send(json.dumps({"op": "subscribe", "args": [arg]}))
        for _ in range(4):  # the channel is live and moving
            await recv_until(first, is_push("books"))
        async with websockets.connect(sim.ws_url + WS_PUBLIC_PATH, max_size=None) as late:
            await late.send(json.dumps({"op": "subscribe", "args": [arg]}))
            snapshot = await recv_until(late, is_push("books"))
            update = await recv_until(late, is_push("books"))
    assert snapshot["action"] == "snapshot" and update["action"] == "update"
    assert update["data"][0]["prevSeqId"] == snapshot["data"][0]["seqId"]


def test_drive_interval_follows_the_market_step() -> None:
    """One market step per driver round (bounded): at speed 60 a push leaves within ~0.1 s of sim time."""
    from okxscalp.sim.server import SimServer

    assert SimServer(speed=1.0).drive_interval_s == 0.02
    assert SimServer(speed=60.0).drive_interval_s == pytest.approx(0.1 / 60)
    assert SimServer(speed=10_000.0).drive_interval_s == 0.001
