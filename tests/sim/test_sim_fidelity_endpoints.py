"""Simulator fidelity (issue 12 items 1-3): unknown paths answer in OKX's JSON envelope,
mark-price by instId alone, GET /asset/currencies as documented."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from okxscalp.okx.auth import Credentials, rest_headers
from okxscalp.okx.constants import CODE_INVALID_SIGN, CODE_PARAM_ERROR, CODE_RATE_LIMIT
from okxscalp.sim.rest_api import ASSET_CURRENCIES

pytestmark = pytest.mark.timeout(30)

MARK_PRICE = "/api/v5/public/mark-price"
BOOLEAN_FIELDS = {"canDep", "canWd", "canInternal", "mainNet", "needTag"}
DOCUMENTED_FIELDS = {
    "ccy", "name", "logoLink", "chain", "ctAddr", "canDep", "canWd", "canInternal", "depEstOpenTime",
    "wdEstOpenTime", "minDep", "minWd", "minInternal", "maxWd", "wdTickSz", "wdQuota", "usedWdQuota",
    "fee", "minFee", "maxFee", "minFeeForCtAddr", "maxFeeForCtAddr", "burningFeeRate", "mainNet",
    "needTag", "minDepArrivalConfirm", "minWdUnlockConfirm", "depQuotaFixed", "usedDepQuotaFixed",
    "depQuoteDailyLayer2",
}


async def call(
    sim: Any, method: str, target: str, *, creds: Credentials | None = None, body: str = ""
) -> tuple[int, str, Any]:
    """Status, content type and the body parsed as JSON (raises if it is not JSON)."""
    headers = {"Content-Type": "application/json"}
    if creds is not None:
        headers = rest_headers(creds, time.time(), method, target, body)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, sim.rest_url + target, data=body or None, headers=headers) as reply:
            return reply.status, reply.content_type, await reply.json(content_type=None)


# ---------------------------------------------------------------------- 1. unknown paths
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/api/v5/public/no-such-endpoint"),
        ("GET", "/api/v5/asset/no-such-endpoint?ccy=BTC"),
        ("POST", "/api/v5/trade/no-such-endpoint"),
        ("DELETE", "/api/v5/market/ticker?instId=BTC-USDT-SWAP"),  # known path, unserved method
    ],
)
async def test_unknown_path_answers_404_in_the_okx_json_envelope(sim: Any, method: str, target: str) -> None:
    status, content_type, reply = await call(sim, method, target)
    assert status == 404 and content_type == "application/json"
    assert reply == {"code": "404", "msg": "Not Found", "data": []}


async def test_known_paths_and_websocket_still_served_beside_the_catch_all(sim: Any) -> None:
    status, _, reply = await call(sim, "GET", "/api/v5/public/time")
    assert status == 200 and reply["code"] == "0"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.ws_url + "/ws/v5/public") as ws:
            await ws.send_str("ping")
            assert (await ws.receive(timeout=5)).data == "pong"


# ---------------------------------------------------------------------- 2. mark-price by instId alone
async def test_mark_price_by_inst_id_alone_is_answered_with_its_type(sim: Any) -> None:
    status, _, reply = await call(sim, "GET", f"{MARK_PRICE}?instId=ETH-USDT-SWAP")
    assert status == 200 and reply["code"] == "0", reply
    [item] = reply["data"]
    assert item["instId"] == "ETH-USDT-SWAP" and item["instType"] == "SWAP" and float(item["markPx"]) > 0


async def test_mark_price_with_neither_inst_type_nor_inst_id_is_refused(sim: Any) -> None:
    status, _, reply = await call(sim, "GET", MARK_PRICE)
    assert status == 400 and reply == {"code": CODE_PARAM_ERROR, "msg": "Parameter instType error", "data": []}


async def test_mark_price_by_unknown_inst_id_alone_is_51001(sim: Any) -> None:
    _, _, reply = await call(sim, "GET", f"{MARK_PRICE}?instId=NOPE-USDT-SWAP")
    assert reply["code"] == "51001" and reply["data"] == []


# ---------------------------------------------------------------------- 3. asset/currencies
async def test_currencies_lists_usdt_and_every_base_with_documented_types(
    sim: Any, sim_credentials: Credentials
) -> None:
    status, _, reply = await call(sim, "GET", ASSET_CURRENCIES.path, creds=sim_credentials)
    assert status == 200 and reply["code"] == "0" and reply["msg"] == ""
    ccys = [item["ccy"] for item in reply["data"]]
    bases = {spec.base_ccy for spec in sim.exchange.specs.values()}
    assert ccys[0] == "USDT" and set(ccys) == bases | {"USDT"} and len(ccys) == len(set(ccys))
    for item in reply["data"]:
        assert set(item) == DOCUMENTED_FIELDS
        for name, value in item.items():
            assert isinstance(value, bool if name in BOOLEAN_FIELDS else str), (name, value)
        assert item["chain"].startswith(item["ccy"] + "-")


async def test_currencies_filter_takes_a_comma_list(sim: Any, sim_credentials: Credentials) -> None:
    _, _, reply = await call(sim, "GET", f"{ASSET_CURRENCIES.path}?ccy=BTC,USDT", creds=sim_credentials)
    assert reply["code"] == "0" and sorted(item["ccy"] for item in reply["data"]) == ["BTC", "USDT"]
    _, _, single = await call(sim, "GET", f"{ASSET_CURRENCIES.path}?ccy=ETH", creds=sim_credentials)
    assert [item["ccy"] for item in single["data"]] == ["ETH"]


async def test_currencies_is_private(sim: Any, sim_credentials: Credentials) -> None:
    status, _, reply = await call(sim, "GET", ASSET_CURRENCIES.path)
    assert status == 401 and reply["code"] != "0"
    forged = Credentials(sim_credentials.api_key, "not-the-secret", sim_credentials.passphrase)
    status, _, reply = await call(sim, "GET", ASSET_CURRENCIES.path, creds=forged)
    assert status == 401 and reply["code"] == CODE_INVALID_SIGN


async def test_currencies_limit_is_six_per_second_per_user(sim: Any, sim_credentials: Credentials) -> None:
    assert (ASSET_CURRENCIES.limit, ASSET_CURRENCIES.window_s) == (6, 1.0)
    statuses = [
        (await call(sim, "GET", ASSET_CURRENCIES.path, creds=sim_credentials))[0] for _ in range(ASSET_CURRENCIES.limit)
    ]
    assert statuses == [200] * ASSET_CURRENCIES.limit
    status, _, reply = await call(sim, "GET", ASSET_CURRENCIES.path, creds=sim_credentials)
    assert status == 429 and reply["code"] == CODE_RATE_LIMIT
    assert sim.counters.http_429[ASSET_CURRENCIES.path] == 1
