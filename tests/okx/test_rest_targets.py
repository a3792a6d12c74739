"""What the client puts on the wire per request, against an echo server on loopback: each request
reaches its own target while the parsed-URL cache fills and restarts, public requests carry the
shared read-only headers (demo flag included), private ones a fresh signature each time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from okxscalp.okx import rest
from okxscalp.okx.auth import Credentials, sign
from okxscalp.okx.constants import ACCOUNT_POSITIONS, DEMO_HEADER, MARKET_CANDLES
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(30)

CREDS = Credentials("key-1", "secret-2", "pass-3")


async def _echo(request: web.Request) -> web.Response:
    headers = {name: value for name, value in request.headers.items() if name.lower().startswith(("ok-", "x-"))}
    row = {"target": request.raw_path, "method": request.method, **headers}
    return web.json_response({"code": "0", "msg": "", "data": [row]})


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_each_request_reaches_its_target_while_the_url_cache_restarts(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest, "_URL_CACHE_MAX", 2)
    client = RestClient(echo_url, None)
    try:
        for after in ["1", "2", "1", "3", "4", "2", "A B/é"]:
            env = await client._get(MARKET_CANDLES, {"instId": "BTC-USDT-SWAP", "after": after, "before": None})
            quoted = after.replace(" ", "%20").replace("/", "%2F").replace("é", "%C3%A9")
            assert env.data[0]["target"] == f"{MARKET_CANDLES.path}?instId=BTC-USDT-SWAP&after={quoted}"
            assert DEMO_HEADER not in {k.lower() for k in env.data[0]}
        assert len(client._urls) <= 2
    finally:
        await client.close()


async def test_demo_public_and_private_headers(echo_url: str) -> None:
    clock = iter([1607418537.715, 1607418538.5])
    client = RestClient(echo_url, CREDS, demo=True, wall_clock=lambda: next(clock))
    try:
        public = (await client._get(MARKET_CANDLES, {"instId": "ETH-USDT-SWAP"})).data[0]
        assert public[DEMO_HEADER] == "1" and "OK-ACCESS-SIGN" not in public
        for expected_ts in ["2020-12-08T09:08:57.715Z", "2020-12-08T09:08:58.500Z"]:
            private = (await client._get(ACCOUNT_POSITIONS, {"instType": "SWAP"})).data[0]
            assert private[DEMO_HEADER] == "1"
            assert private["OK-ACCESS-TIMESTAMP"] == expected_ts
            assert private["OK-ACCESS-SIGN"] == sign(CREDS.secret, expected_ts, "GET", private["target"])
        again = (await client._get(MARKET_CANDLES, {"instId": "ETH-USDT-SWAP"})).data[0]
        assert again == public  # the shared public headers were not touched by the signed requests
    finally:
        await client.close()
