"""The simulator's REST surface over real loopback HTTP: envelope, shapes, auth codes, limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import yarl

from okxscalp.okx.auth import Credentials, iso_timestamp, rest_headers, sign
from okxscalp.okx.constants import (
    CODE_BUSY,
    CODE_INVALID_KEY,
    CODE_INVALID_SIGN,
    CODE_INVALID_TIMESTAMP,
    CODE_JSON_SYNTAX,
    CODE_MISSING_KEY,
    CODE_MISSING_PASSPHRASE,
    CODE_MISSING_SIGN,
    CODE_MISSING_TIMESTAMP,
    CODE_RATE_LIMIT,
    CODE_TIMESTAMP_EXPIRED,
    CODE_WRONG_PASSPHRASE,
    MARKET_TICKER,
    PUBLIC_TIME,
    TRADE_ORDER,
)

pytestmark = pytest.mark.timeout(30)

INST = "BTC-USDT-SWAP"


async def call(
    sim: Any,
    method: str,
    target: str,
    *,
    creds: Credentials | None = None,
    body: str = "",
    epoch_s: float | None = None,
    drop: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if creds is not None:
        headers = rest_headers(creds, time.time() if epoch_s is None else epoch_s, method, target, body)
    for name in drop:
        headers.pop(name, None)
    headers.update(extra or {})
    async with aiohttp.ClientSession() as http:
        async with http.request(method, sim.rest_url + target, data=body or None, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)


async def test_public_time_is_wall_time_and_follows_skew(sim: Any) -> None:
    status, reply = await call(sim, "GET", PUBLIC_TIME.path)
    assert status == 200 and reply["code"] == "0" and reply["msg"] == ""
    assert abs(int(reply["data"][0]["ts"]) / 1000 - time.time()) < 5
    sim.faults.skew_time(120_000)
    _, skewed = await call(sim, "GET", PUBLIC_TIME.path)
    assert int(skewed["data"][0]["ts"]) / 1000 - time.time() > 100


@pytest.mark.parametrize(
    ("target", "fixture"),
    [
        ("/api/v5/public/instruments?instType=SWAP", "http_get_instruments_swap.json"),
        ("/api/v5/public/mark-price?instType=SWAP&instId=BTC-USDT-SWAP", "http_get_mark_price.json"),
        ("/api/v5/public/price-limit?instId=BTC-USDT-SWAP", "http_get_price_limit.json"),
        ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=3", "http_get_order_book.json"),
        ("/api/v5/market/candles?instId=BTC-USDT-SWAP&bar=1m&limit=2", "http_get_candlesticks.json"),
    ],
)
async def test_public_market_data_has_okx_shapes(
    sim: Any, target: str, fixture: str, okx_fixture: Any, assert_wire_shape: Any
) -> None:
    status, reply = await call(sim, "GET", target)
    assert status == 200 and reply["code"] == "0", reply
    reference = okx_fixture(fixture)
    assert reply["data"], reply
    assert_wire_shape(reply["data"][:1], reference["data"][:1])


async def test_ticker_and_tickers_match_the_ws_ticker_shape(sim: Any, okx_fixture: Any, assert_wire_shape: Any) -> None:
    reference = okx_fixture("ws_tickers.json")["data"][0]
    _, one = await call(sim, "GET", f"{MARKET_TICKER.path}?instId={INST}")
    assert_wire_shape(one["data"][0], reference)
    assert one["data"][0]["instId"] == INST and one["data"][0]["instType"] == "SWAP"
    _, every = await call(sim, "GET", "/api/v5/market/tickers?instType=SWAP")
    assert {t["instId"] for t in every["data"]} >= {"BTC-USDT-SWAP", "ETH-USDT-SWAP", "XRP-USDT-SWAP"}


async def test_unknown_instrument_is_an_okx_error_not_a_crash(sim: Any) -> None:
    status, reply = await call(sim, "GET", f"{MARKET_TICKER.path}?instId=NOPE-USDT-SWAP")
    assert reply["code"] == "51001" and reply["data"] == [], (status, reply)


# ---------------------------------------------------------------------- authentication
BALANCE = "/api/v5/account/balance"


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("OK-ACCESS-KEY", CODE_MISSING_KEY),
        ("OK-ACCESS-PASSPHRASE", CODE_MISSING_PASSPHRASE),
        ("OK-ACCESS-SIGN", CODE_MISSING_SIGN),
        ("OK-ACCESS-TIMESTAMP", CODE_MISSING_TIMESTAMP),
    ],
)
async def test_each_missing_header_has_its_own_code(sim: Any, sim_credentials: Credentials, missing: str, code: str) -> None:
    status, reply = await call(sim, "GET", BALANCE, creds=sim_credentials, drop=(missing,))
    assert status == 401 and reply["code"] == code and "data" not in reply


async def test_unknown_key_wrong_passphrase_bad_sign_expired_and_bad_format(
    sim: Any, sim_credentials: Credentials
) -> None:
    wrong_key = Credentials("someone-else", sim_credentials.secret, sim_credentials.passphrase)
    wrong_pass = Credentials(sim_credentials.api_key, sim_credentials.secret, "not-the-passphrase")
    wrong_secret = Credentials(sim_credentials.api_key, "not-the-secret", sim_credentials.passphrase)
    cases = [
        (await call(sim, "GET", BALANCE, creds=wrong_key), CODE_INVALID_KEY),
        (await call(sim, "GET", BALANCE, creds=wrong_pass), CODE_WRONG_PASSPHRASE),
        (await call(sim, "GET", BALANCE, creds=wrong_secret), CODE_INVALID_SIGN),
        (await call(sim, "GET", BALANCE, creds=sim_credentials, epoch_s=time.time() - 31), CODE_TIMESTAMP_EXPIRED),
        (await call(sim, "GET", BALANCE, creds=sim_credentials, epoch_s=time.time() + 31), CODE_TIMESTAMP_EXPIRED),
        (
            await call(sim, "GET", BALANCE, creds=sim_credentials, extra={"OK-ACCESS-TIMESTAMP": "1700000000"}),
            CODE_INVALID_TIMESTAMP,
        ),
    ]
    for (status, reply), code in cases:
        assert (status, reply["code"]) == (401, code), reply
        assert "data" not in reply
    assert sim.counters.auth_failures[CODE_INVALID_SIGN] == 1


async def test_signature_covers_the_query_string_exactly_as_sent(sim: Any, sim_credentials: Credentials) -> None:
    """Signed for one query but sent with another (reordered) query: 50113."""
    epoch = time.time()
    ts = iso_timestamp(epoch)
    signed_for = "/api/v5/account/positions?instType=SWAP&instId=BTC-USDT-SWAP"
    sent = "/api/v5/account/positions?instId=BTC-USDT-SWAP&instType=SWAP"
    headers = {
        "OK-ACCESS-KEY": sim_credentials.api_key,
        "OK-ACCESS-PASSPHRASE": sim_credentials.passphrase,
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-SIGN": sign(sim_credentials.secret, ts, "GET", signed_for),
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.rest_url + sent, headers=headers) as reply:
            assert reply.status == 401
            assert (await reply.json())["code"] == CODE_INVALID_SIGN


async def test_signature_covers_the_raw_body_bytes(sim: Any, sim_credentials: Credentials) -> None:
    """Same JSON, different spacing than what was signed: 50113 (never re-serialized)."""
    compact = '{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"market","sz":"1"}'
    spaced = compact.replace(",", ", ").replace(":", ": ")
    headers = rest_headers(sim_credentials, time.time(), "POST", TRADE_ORDER.path, compact)
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.rest_url + TRADE_ORDER.path, data=spaced, headers=headers) as reply:
            assert reply.status == 401
            assert (await reply.json())["code"] == CODE_INVALID_SIGN


async def test_a_signed_body_that_is_not_json_is_refused(sim: Any, sim_credentials: Credentials) -> None:
    status, reply = await call(sim, "POST", TRADE_ORDER.path, creds=sim_credentials, body="{not json")
    assert status == 400 and reply["code"] == CODE_JSON_SYNTAX


# ---------------------------------------------------------------------- rate limits and REST faults
async def test_documented_limit_gives_429_50011_and_is_counted_as_organic(sim: Any) -> None:
    statuses = [(await call(sim, "GET", PUBLIC_TIME.path))[0] for _ in range(PUBLIC_TIME.limit)]
    assert statuses == [200] * PUBLIC_TIME.limit
    status, reply = await call(sim, "GET", PUBLIC_TIME.path)
    assert status == 429 and reply == {"msg": "Too Many Requests", "code": CODE_RATE_LIMIT} | reply
    assert reply["code"] == CODE_RATE_LIMIT and "data" not in reply
    assert sim.counters.http_429[PUBLIC_TIME.path] == 1
    assert sim.counters.http_429_injected[PUBLIC_TIME.path] == 0
    assert sim.counters.requests[PUBLIC_TIME.path] == PUBLIC_TIME.limit + 1
    # A different endpoint has its own budget.
    assert (await call(sim, "GET", f"{MARKET_TICKER.path}?instId={INST}"))[0] == 200


async def test_ip_plus_inst_id_limits_are_per_instrument(sim: Any) -> None:
    target = "/api/v5/public/mark-price?instType=SWAP&instId="
    for _ in range(10):
        assert (await call(sim, "GET", target + INST))[0] == 200
    assert (await call(sim, "GET", target + INST))[0] == 429
    assert (await call(sim, "GET", target + "ETH-USDT-SWAP"))[0] == 200


async def test_rate_limit_storm_is_injected_and_counted_apart(sim: Any) -> None:
    sim.faults.rate_limit_storm(MARKET_TICKER.path, seconds=30)
    status, reply = await call(sim, "GET", f"{MARKET_TICKER.path}?instId={INST}")
    assert status == 429 and reply["code"] == CODE_RATE_LIMIT
    assert sim.counters.http_429_injected[MARKET_TICKER.path] == 1
    assert sim.counters.http_429[MARKET_TICKER.path] == 0
    assert (await call(sim, "GET", PUBLIC_TIME.path))[0] == 200  # other endpoints unaffected
    sim.faults.clear()
    assert (await call(sim, "GET", f"{MARKET_TICKER.path}?instId={INST}"))[0] == 200


async def test_busy_answers_50013(sim: Any) -> None:
    sim.faults.busy(30)
    status, reply = await call(sim, "GET", PUBLIC_TIME.path)
    assert (status, reply["code"]) == (429, CODE_BUSY)
    assert sim.counters.busy_injected[PUBLIC_TIME.path] == 1


async def test_replay_file_drives_the_price(sim_factory: Any, tmp_path: Any) -> None:
    start = int(time.time() * 1000)
    recording = tmp_path / "ticks.csv"
    recording.write_text("ts,instId,px\n" + "".join(f"{start + i * 100},{INST},12345.6\n" for i in range(50)))
    sim = await sim_factory(replay_path=str(recording), inst_ids=[INST], speed=1.0)
    for _ in range(50):  # a few market steps (0.1 s of sim time each) until the recording shows
        _, reply = await call(sim, "GET", f"{MARKET_TICKER.path}?instId={INST}")
        if abs(float(reply["data"][0]["last"]) - 12345.6) < 50:
            break
        await asyncio.sleep(0.05)
    assert abs(float(reply["data"][0]["last"]) - 12345.6) < 50, reply


async def test_percent_encoded_query_is_verified_as_sent_and_comma_lists_work(
    sim: Any, sim_credentials: Credentials
) -> None:
    """hummingbot url-encodes (`%2C`); the signature is over the target exactly as sent."""
    target = "/api/v5/account/positions?instType=SWAP&instId=BTC-USDT-SWAP%2CETH-USDT-SWAP"
    sim.exchange.open_position_directly("ETH-USDT-SWAP", "long", 1.0)
    async with aiohttp.ClientSession() as http:
        headers = rest_headers(sim_credentials, time.time(), "GET", target)
        # encoded=True: send the target byte for byte (yarl would otherwise turn %2C back into ",").
        async with http.get(yarl.URL(sim.rest_url + target, encoded=True), headers=headers) as reply:
            body = await reply.json()
    assert reply.status == 200 and body["code"] == "0", body
    assert [p["instId"] for p in body["data"]] == ["ETH-USDT-SWAP"]


async def test_no_query_and_an_empty_query_read_as_no_parameters(sim: Any, sim_credentials: Credentials) -> None:
    """A GET without a query string skips parsing one; a query of empty values only ("" means
    absent) answers the same, the signature over the target as sent."""
    sim.exchange.open_position_directly("ETH-USDT-SWAP", "long", 1.0)
    base = "/api/v5/account/positions"
    answers = []
    async with aiohttp.ClientSession() as http:
        for target in (base, base + "?instType=&instId="):
            headers = rest_headers(sim_credentials, time.time(), "GET", target)
            async with http.get(yarl.URL(sim.rest_url + target, encoded=True), headers=headers) as reply:
                body = await reply.json()
            assert reply.status == 200 and body["code"] == "0", (target, body)
            answers.append([p["instId"] for p in body["data"]])
    assert answers == [["ETH-USDT-SWAP"]] * 2


@pytest.mark.parametrize(
    ("method", "target", "body", "signature"),
    [
        ("GET", "/api/v5/account/balance", b"", "PJ61e1nb2F2Qd7D8SPiaIcx2gjdELc+o0ygzre9z33k="),
        ("GET", "/api/v5/account/balance?ccy=BTC", b"", "ebNz0sDoc3LoFm1hqjP8LDT0fnRlDERj5C+I4ZqB4Cw="),
        ("POST", "/api/v5/trade/order",
         b'{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": "60000", "sz": "1"}',
         "QHkXjn7n9PUQaH1KwxkqI1vaMlMa7ZrkedEW7bVHkyA="),
    ],
)
def test_reference_signature_vectors_verify(method: str, target: str, body: bytes, signature: str) -> None:
    """The worked examples of okx-v5-reference.md section 2 (the first is nautilus' fixed vector)."""
    from okxscalp.sim.rest_auth import parse_iso_timestamp, rest_auth_problem

    creds = Credentials("985d5b66-57ce-40fb-b714-afc0b9787083", "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO",
                        "1234567890")
    timestamp = "2020-12-08T09:08:57.715Z"
    headers = {"OK-ACCESS-KEY": creds.api_key, "OK-ACCESS-PASSPHRASE": creds.passphrase,
               "OK-ACCESS-TIMESTAMP": timestamp, "OK-ACCESS-SIGN": signature}
    now = parse_iso_timestamp(timestamp)
    assert now is not None
    assert rest_auth_problem(method, target, headers, body, creds, now) is None
    assert rest_auth_problem(method, target, headers, body, creds, now + 31)[0] == CODE_TIMESTAMP_EXPIRED
    tampered = {**headers, "OK-ACCESS-SIGN": ("B" if signature[0] != "B" else "C") + signature[1:]}
    assert rest_auth_problem(method, target, tampered, body, creds, now)[0] == CODE_INVALID_SIGN
