"""Third-party conformance: the official `python-okx` SDK, unchanged apart from its base URL,
against the simulator (sync httpx client; the simulator runs in its own thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import okx.Account as Account
import okx.MarketData as MarketData
import okx.PublicData as PublicData
import okx.Trade as Trade
import okx.utils
import pytest

from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import (
    CODE_INVALID_KEY,
    CODE_INVALID_SIGN,
    CODE_TIMESTAMP_EXPIRED,
    CODE_WRONG_PASSPHRASE,
)
from okxscalp.sim.server import SIM_CREDENTIALS, SimServer, run_in_thread

pytestmark = [
    pytest.mark.timeout(60),
    # python-okx posts with httpx `data=`; the deprecation is theirs, not ours.
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]

INST = "XRP-USDT-SWAP"


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    # Module-scoped: the SDK calls below stay well inside every documented limit.
    with run_in_thread(seed=11) as sim:
        yield sim


def sdk(cls: Any, url: str, creds: Credentials = SIM_CREDENTIALS, flag: str = "1") -> Any:
    return cls(
        api_key=creds.api_key, api_secret_key=creds.secret, passphrase=creds.passphrase, flag=flag, domain=url
    )


def test_public_market_data(server: SimServer) -> None:
    market = sdk(MarketData.MarketAPI, server.rest_url)
    public = sdk(PublicData.PublicAPI, server.rest_url, flag="0")
    ticker = market.get_ticker(instId=INST)
    assert ticker["code"] == "0" and ticker["data"][0]["instId"] == INST
    assert isinstance(ticker["data"][0]["last"], str)
    assert len(market.get_candlesticks(instId=INST, bar="1m", limit="5")["data"]) == 5
    book = market.get_orderbook(instId=INST, sz="5")["data"][0]
    assert len(book["asks"]) == 5 and float(book["asks"][0][0]) > float(book["bids"][0][0])
    instruments = public.get_instruments(instType="SWAP")["data"]
    assert {"BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP"} <= {
        i["instId"] for i in instruments
    }
    assert public.get_mark_price(instType="SWAP", instId=INST)["data"][0]["instId"] == INST
    limits = public.get_price_limit(instId=INST)["data"][0]
    assert float(limits["sellLmt"]) < float(limits["buyLmt"]) and limits["enabled"] is True
    assert int(public.get_system_time()["data"][0]["ts"]) > 0


def test_signed_account_calls(server: SimServer) -> None:
    account = sdk(Account.AccountAPI, server.rest_url)
    balance = account.get_account_balance()
    assert balance["code"] == "0" and balance["data"][0]["details"][0]["ccy"] == "USDT"
    config = account.get_account_config()["data"][0]
    assert config["posMode"] in ("long_short_mode", "net_mode")
    assert account.get_positions(instType="SWAP")["code"] == "0"
    assert account.set_leverage(lever="5", mgnMode="cross", instId=INST)["code"] == "0"
    levers = account.get_leverage(mgnMode="cross", instId=INST)["data"]
    assert levers and all(item["lever"] in ("5", "5.0") for item in levers)


def test_place_amend_cancel_an_order(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    market = sdk(MarketData.MarketAPI, server.rest_url)
    bid = float(market.get_ticker(instId=INST)["data"][0]["bidPx"])
    px = f"{bid * 0.95:.4f}"
    placed = trade.place_order(
        instId=INST, tdMode="cross", side="buy", posSide="long", ordType="limit", px=px, sz="1",
        clOrdId="sdkorder1",
    )
    assert placed["code"] == "0", placed
    item = placed["data"][0]
    assert item["sCode"] == "0" and item["clOrdId"] == "sdkorder1" and item["ordId"]
    assert placed["inTime"] and placed["outTime"]
    amended = trade.amend_order(instId=INST, ordId=item["ordId"], newSz="2")
    assert amended["code"] == "0" and amended["data"][0]["sCode"] == "0", amended
    order = trade.get_order(instId=INST, clOrdId="sdkorder1")["data"][0]
    assert order["state"] == "live" and float(order["sz"]) == 2.0
    assert [o["ordId"] for o in trade.get_order_list(instId=INST)["data"]] == [item["ordId"]]
    canceled = trade.cancel_order(instId=INST, ordId=item["ordId"])
    assert canceled["code"] == "0" and canceled["data"][0]["sCode"] == "0"
    assert trade.get_order(instId=INST, ordId=item["ordId"])["data"][0]["state"] == "canceled"
    again = trade.cancel_order(instId=INST, ordId=item["ordId"])
    assert again["code"] == "1" and again["msg"] == "All operations failed" and again["data"][0]["sCode"] == "51400"
    assert server.counters.orders_by_clordid["sdkorder1"] == 1


def test_open_and_close_a_position(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    account = sdk(Account.AccountAPI, server.rest_url)
    opened = trade.place_order(instId=INST, tdMode="cross", side="sell", posSide="short", ordType="market", sz="3")
    assert opened["code"] == "0", opened
    positions = account.get_positions(instType="SWAP", instId=INST)["data"]
    short = [p for p in positions if p["posSide"] == "short"]
    assert short and float(short[0]["pos"]) == 3.0
    fills = trade.get_fills(instId=INST)["data"]
    assert fills and fills[0]["ordId"] == opened["data"][0]["ordId"]
    closed = trade.close_positions(instId=INST, mgnMode="cross", posSide="short")
    assert closed["code"] == "0", closed
    remaining = account.get_positions(instType="SWAP", instId=INST)["data"]
    assert not [p for p in remaining if p["posSide"] == "short" and float(p["pos"]) != 0]


def test_batch_orders_partial_success_is_code_2(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    bid = float(sdk(MarketData.MarketAPI, server.rest_url).get_ticker(instId=INST)["data"][0]["bidPx"])
    good = {"instId": INST, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
            "px": f"{bid * 0.9:.4f}", "sz": "1"}
    bad = {**good, "sz": "1.005"}  # XRP lotSz is 0.01: not a multiple
    reply = trade.place_multiple_orders([good, bad])
    assert reply["code"] == "2", reply
    assert [i["sCode"] == "0" for i in reply["data"]] == [True, False]
    trade.cancel_order(instId=INST, ordId=reply["data"][0]["ordId"])


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (Credentials(SIM_CREDENTIALS.api_key, "wrong-secret", SIM_CREDENTIALS.passphrase), CODE_INVALID_SIGN),
        (Credentials(SIM_CREDENTIALS.api_key, SIM_CREDENTIALS.secret, "wrong-pass"), CODE_WRONG_PASSPHRASE),
        (Credentials("unknown-key", SIM_CREDENTIALS.secret, SIM_CREDENTIALS.passphrase), CODE_INVALID_KEY),
    ],
)
def test_bad_credentials_are_rejected(server: SimServer, creds: Credentials, code: str) -> None:
    reply = sdk(Account.AccountAPI, server.rest_url, creds).get_account_balance()
    assert reply["code"] == code and "data" not in reply


def test_expired_timestamp_is_rejected(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(okx.utils, "get_timestamp", lambda: "2020-12-08T09:08:57.715Z")
    reply = sdk(Account.AccountAPI, server.rest_url).get_account_balance()
    assert reply["code"] == CODE_TIMESTAMP_EXPIRED


def test_ccxt_style_32_char_clordid_and_tag_with_the_live_flag(server: SimServer) -> None:
    """ccxt injects clOrdId = brokerId + 16 hex (32 chars) and tag = brokerId; flag "0" = live header."""
    trade = sdk(Trade.TradeAPI, server.rest_url, flag="0")
    bid = float(sdk(MarketData.MarketAPI, server.rest_url, flag="0").get_ticker(instId=INST)["data"][0]["bidPx"])
    client_id = "6b9ad766b55dBCDE" + "0123456789abcdef"
    placed = trade.place_order(instId=INST, tdMode="cross", side="buy", posSide="long", ordType="limit",
                               px=f"{bid * 0.9:.4f}", sz="1", clOrdId=client_id, tag="6b9ad766b55dBCDE")
    assert placed["code"] == "0", placed
    order = trade.get_order(instId=INST, clOrdId=client_id)["data"][0]
    assert (order["clOrdId"], order["tag"]) == (client_id, "6b9ad766b55dBCDE")
    assert trade.cancel_order(instId=INST, clOrdId=client_id)["code"] == "0"
