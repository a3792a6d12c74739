"""okx/transport.py: the engine's clients reach a simulator listening on a Unix socket (a
backtest's) with the same REST and WebSocket code as over TCP."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from okxscalp.config.schema import RestSettings
from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.okx.rest import RestClient
from okxscalp.okx.transport import client_session
from okxscalp.okx.ws import WsLink
from okxscalp.sim.server import SimServer

pytestmark = pytest.mark.timeout(30)


async def test_rest_and_websocket_reach_a_simulator_on_a_unix_socket(tmp_path: Path, sim_credentials) -> None:
    path = str(tmp_path / "okx-sim.sock")
    async with SimServer(seed=3, unix_socket=path) as sim:
        assert sim.port == 0 and sim.rest_url == "http://localhost"  # no TCP listener at all
        session = client_session(path)
        try:
            rest = RestClient(sim.rest_url, sim_credentials, RestSettings(), session=session)
            assert await rest.server_time() > 0
            assert await rest.balance() is not None  # a signed request: the same auth as over TCP
            await rest.close()
        finally:
            await session.close()

        link = await WsLink.dial(sim.ws_url + WS_PUBLIC_PATH, 5.0, unix_socket=path)
        try:
            await link.send(orjson.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT-SWAP"}]}))
            ack = orjson.loads(await link.recv())
            assert ack["event"] == "subscribe" and ack["arg"]["channel"] == "tickers"
            push = orjson.loads(await link.recv())
            assert push["arg"]["channel"] == "tickers" and push["data"][0]["instId"] == "BTC-USDT-SWAP"
        finally:
            await link.close()
    assert sim.counters.requests["/api/v5/public/time"] == 1


async def test_without_a_unix_socket_the_session_dials_tcp() -> None:
    session = client_session(None)
    try:
        assert type(session.connector).__name__ == "TCPConnector"
    finally:
        await session.close()
