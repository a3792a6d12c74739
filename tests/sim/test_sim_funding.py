"""Funding and bills in the simulator: OKX's rate formula and 8-hourly settlement on sim time, the
account changes and pushes it makes, the bill ledger, and python-okx conformance for
get_funding_rate, funding_rate_history, get_account_bills and get_account_bills_archive."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import okx.Account as Account
import okx.PublicData as PublicData
import okx.Trade as Trade
import pytest

from okxscalp.okx import constants as k
from okxscalp.okx.auth import Credentials
from okxscalp.sim.bills import BillQuery
from okxscalp.sim.control import CONTROL_MARKET_PATH
from okxscalp.sim.events import SimApiError
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.funding import (
    FUNDING_INTERVAL_MS,
    MAX_FUNDING_RATE,
    funding_payment,
    funding_rate,
    next_funding_time_ms,
    premium_index,
)
from okxscalp.sim.server import SIM_CREDENTIALS, SimServer, run_in_thread
from tests.sim.test_ws_private import logged_in, push_of, recv_until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]

INST = "BTC-USDT-SWAP"
DAY_MS = 86_400_000
MIDNIGHT_MS = 1_795_996_800_000  # 2026-11-30 00:00 UTC
# 2026-11-30 07:59:00 UTC: one sim minute before the 08:00 settlement.
BEFORE_0800_MS = MIDNIGHT_MS + 8 * 3_600_000 - 60_000


def exchange_at(start_sim_ms: int, seed: int = 5) -> SimExchange:
    return SimExchange(seed=seed, start_wall_s=0.0, start_sim_ms=start_sim_ms, inst_ids=[INST, "ETH-USDT-SWAP"],
                       history_minutes=5)


def funding_events(ex: SimExchange) -> list[Any]:
    return [e for e in ex.drain_events() if e.channel in ("balance_and_position", "positions", "account")]


# ---------------------------------------------------------------------------------- pure rules


def test_settlement_times_are_00_08_16_utc() -> None:
    midnight = MIDNIGHT_MS
    assert midnight % DAY_MS == 0
    assert next_funding_time_ms(midnight) == midnight + FUNDING_INTERVAL_MS  # strictly after
    assert next_funding_time_ms(midnight - 1) == midnight
    assert next_funding_time_ms(midnight + 9 * 3_600_000) == midnight + 16 * 3_600_000
    assert next_funding_time_ms(midnight + 23 * 3_600_000) == midnight + DAY_MS


def test_rate_formula_premium_interest_and_clamps() -> None:
    assert premium_index(100.2, 100.3, 100.0) == pytest.approx(0.002)  # bid above the index
    assert premium_index(99.7, 99.8, 100.0) == pytest.approx(-0.002)  # ask below it
    assert premium_index(99.9, 100.1, 100.0) == 0.0
    assert funding_rate(0.0) == pytest.approx(0.0001)  # the interest component alone
    assert funding_rate(0.0003) == pytest.approx(0.0001)  # interest - premium within +-0.05 %
    assert funding_rate(0.002) == pytest.approx(0.0015)  # 0.2 % + clamp(-0.19 %) = 0.15 %
    assert funding_rate(0.01) == MAX_FUNDING_RATE  # capped
    assert funding_rate(-0.01) == -MAX_FUNDING_RATE
    # longs pay a positive rate, shorts receive it
    assert funding_payment(2, 0.01, 50_000.0, 0.0001, 1) == pytest.approx(-0.1)
    assert funding_payment(2, 0.01, 50_000.0, 0.0001, -1) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------- settlement


def test_scheduled_settlement_on_sim_time_charges_a_long() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    ex.open_position_directly(INST, "long", 3, 50_000.0)
    ex.set_funding_rate(INST, 0.0002)
    ex.drain_events()
    cash_before = ex.desk.cash
    ex.advance_sim_seconds(59.0)
    assert ex.desk.cash == cash_before and not ex.desk.bills.bills()  # not yet 08:00
    ex.advance_sim_seconds(1.0)
    market = ex.markets[INST]
    expected = -3 * market.ct_val * market.mark * 0.0002
    assert ex.desk.cash - cash_before == pytest.approx(expected, rel=1e-9)
    position = ex.positions_wire(INST)[0]
    assert float(position["fundingFee"]) == pytest.approx(expected, rel=1e-9)
    assert float(position["realizedPnl"]) == pytest.approx(expected, rel=1e-9)  # no fee: opened directly
    bill = ex.bills_wire(BillQuery(type_=k.BILL_TYPE_FUNDING_FEE))[0]
    assert (bill["type"], bill["subType"], bill["instId"], bill["sz"]) == ("8", "173", INST, "3")
    assert float(bill["pnl"]) == float(bill["balChg"]) == pytest.approx(expected, rel=1e-6)
    assert float(bill["bal"]) == pytest.approx(ex.desk.cash)
    assert bill["ts"] == str(BEFORE_0800_MS + 60_000) and bill["ordId"] == ""
    history = ex.funding_rate_history_wire(INST)
    assert [(h["fundingTime"], h["realizedRate"]) for h in history] == [(str(BEFORE_0800_MS + 60_000), "0.0002")]
    events = funding_events(ex)
    bp = [e.data for e in events if e.channel == "balance_and_position"]
    assert len(bp) == 1 and bp[0]["eventType"] == "funding_fee"
    assert float(bp[0]["balData"][0]["cashBal"]) == pytest.approx(ex.desk.cash)
    assert bp[0]["posData"][0]["instId"] == INST and float(bp[0]["posData"][0]["pos"]) == 3
    assert any(e.channel == "positions" and e.data["fundingFee"] == position["fundingFee"] for e in events)
    assert any(e.channel == "account" for e in events)
    # the next period ends 8 h later
    assert ex.funding_rate_wire(INST)[0]["fundingTime"] == str(BEFORE_0800_MS + 60_000 + FUNDING_INTERVAL_MS)


def test_scheduled_settlements_can_leave_positions_alone_for_exact_pnl_tests() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    ex.open_position_directly(INST, "long", 3, 50_000.0)
    ex.set_scheduled_funding(False)
    cash_before = ex.desk.cash
    ex.advance_sim_seconds(61.0)
    assert ex.desk.cash == cash_before and not ex.bills_wire(BillQuery(type_=k.BILL_TYPE_FUNDING_FEE))
    assert len(ex.funding_rate_history_wire(INST)) == 1  # the period settled all the same
    assert ex.settle_funding_now(INST)  # on demand it still charges


def test_a_short_receives_a_positive_rate_and_flat_instruments_pay_nothing() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    ex.open_position_directly(INST, "short", 2, 50_000.0)
    ex.set_funding_rate(INST, 0.0003)
    cash_before = ex.desk.cash
    bills = ex.settle_funding_now()
    assert len(bills) == 1 and bills[0]["subType"] == "174" and float(bills[0]["pnl"]) > 0
    assert ex.desk.cash - cash_before == pytest.approx(float(bills[0]["pnl"]), rel=1e-6)
    # the forced settlement leaves the 8-hourly schedule alone
    assert ex.funding_rate_wire(INST)[0]["fundingTime"] == str(BEFORE_0800_MS + 60_000)


def test_modelled_rate_is_deterministic_under_the_seed() -> None:
    rates = []
    for _ in range(2):
        ex = exchange_at(BEFORE_0800_MS - 3_600_000, seed=9)
        ex.advance_sim_seconds(600)
        rates.append(ex.funding_rate_wire("ANY"))
    assert rates[0] == rates[1] and len(rates[0]) == 2
    item = rates[0][0]
    assert item["formulaType"] == "withRate" and item["method"] == "current_period"
    assert -MAX_FUNDING_RATE <= float(item["fundingRate"]) <= MAX_FUNDING_RATE
    assert item["interestRate"] == "0.0001" and item["maxFundingRate"] == "0.00375"


def test_set_funding_rate_refuses_a_rate_beyond_okx_bounds() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    with pytest.raises(SimApiError):
        ex.set_funding_rate(INST, 0.01)
    with pytest.raises(SimApiError):
        ex.funding_rate_history_wire(INST, limit=401)


def test_trade_fills_write_trade_bills_with_the_fill_bill_id() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    ack = ex.place_order({"instId": INST, "tdMode": "cross", "side": "buy", "posSide": "long",
                          "ordType": "market", "sz": "1"})
    assert ack["sCode"] == "0"
    fill = ex.fills(INST)[0]
    bill = ex.bills_wire(BillQuery(type_=k.BILL_TYPE_TRADE))[0]
    assert bill["billId"] == fill["billId"] and bill["ordId"] == ack["ordId"]
    assert bill["subType"] == k.BILL_SUB_OPEN_LONG and bill["fee"] == fill["fee"]
    assert float(bill["balChg"]) == pytest.approx(float(fill["fee"]))
    assert bill["execType"] == "T" and bill["mgnMode"] == "cross"


def test_bills_and_funding_fee_survive_an_account_restore() -> None:
    ex = exchange_at(BEFORE_0800_MS)
    ex.open_position_directly(INST, "long", 1, 50_000.0)
    ex.settle_funding_now(INST)
    saved = ex.export_account()
    again = exchange_at(BEFORE_0800_MS)
    again.restore_account(saved)
    assert again.bills_wire(BillQuery()) == ex.bills_wire(BillQuery())
    assert again.positions_wire(INST)[0]["fundingFee"] == ex.positions_wire(INST)[0]["fundingFee"]
    # an account file from before funding existed still loads
    old = json.loads(json.dumps(saved))
    del old["account"]["bills"]
    for position in old["account"]["positions"]:
        del position["funding_fee"]
    third = exchange_at(BEFORE_0800_MS)
    third.restore_account(old)
    assert third.bills_wire(BillQuery()) == [] and third.positions_wire(INST)[0]["fundingFee"] == "0"


# ---------------------------------------------------------------------------------- python-okx


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with run_in_thread(seed=12) as sim:
        yield sim


def wait_for(condition: Any, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def sdk(cls: Any, url: str, creds: Credentials = SIM_CREDENTIALS, flag: str = "1") -> Any:
    return cls(api_key=creds.api_key, api_secret_key=creds.secret, passphrase=creds.passphrase, flag=flag,
               domain=url)


def test_sdk_get_funding_rate_and_history(server: SimServer) -> None:
    public = sdk(PublicData.PublicAPI, server.rest_url, flag="0")
    reply = public.get_funding_rate(instId=INST)
    assert reply["code"] == "0"
    item = reply["data"][0]
    assert item["instId"] == INST and item["instType"] == "SWAP"
    assert int(item["fundingTime"]) % FUNDING_INTERVAL_MS == 0
    assert int(item["nextFundingTime"]) == int(item["fundingTime"]) + FUNDING_INTERVAL_MS
    for name in ("fundingRate", "minFundingRate", "maxFundingRate", "premium", "settFundingRate", "ts"):
        float(item[name])
    assert len(public.get_funding_rate(instId="ANY")["data"]) == len(server.exchange.specs)
    assert public.get_funding_rate(instId="NOPE-USDT-SWAP")["code"] == "51001"
    server.exchange.set_funding_rate(INST, -0.0004)
    server.exchange.settle_funding_now(INST)
    first = server.exchange.now_ms
    wait_for(lambda: server.exchange.now_ms > first)  # the next settlement at a later sim time
    server.exchange.set_funding_rate(INST, 0.0005)
    server.exchange.settle_funding_now(INST)
    history = public.funding_rate_history(instId=INST)
    assert history["code"] == "0"
    assert [h["realizedRate"] for h in history["data"]] == ["0.0005", "-0.0004"]  # newest first
    newest = history["data"][0]["fundingTime"]
    assert public.funding_rate_history(instId=INST, after=newest)["data"][0]["realizedRate"] == "-0.0004"
    assert public.funding_rate_history(instId=INST, limit="1")["data"][0]["realizedRate"] == "0.0005"
    assert public.funding_rate_history(instId=INST, limit="401")["code"] == "51000"
    server.exchange.set_funding_rate(INST, None)


def test_sdk_account_bills_and_archive(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    account = sdk(Account.AccountAPI, server.rest_url)
    inst = "ETH-USDT-SWAP"
    placed = trade.place_order(instId=inst, tdMode="cross", side="buy", posSide="long", ordType="market", sz="1")
    assert placed["code"] == "0", placed
    server.exchange.set_funding_rate(inst, 0.0001)
    server.exchange.settle_funding_now(inst)
    server.exchange.set_funding_rate(inst, None)
    bills = account.get_account_bills(instType="SWAP")
    assert bills["code"] == "0"
    mine = [b for b in bills["data"] if b["instId"] == inst]
    assert [(b["type"], b["subType"]) for b in mine[:2]] == [("8", "173"), ("2", "3")]  # newest first
    assert mine[1]["ordId"] == placed["data"][0]["ordId"]
    # /account/bills allows 5 requests a second, bills-archive 5 per 2 s: 5 + 4 calls here.
    funding = account.get_account_bills(type="8", instType="SWAP")["data"]
    assert funding and all(b["type"] == "8" for b in funding)
    ids = [int(b["billId"]) for b in bills["data"]]
    assert ids == sorted(ids, reverse=True)
    older = account.get_account_bills(after=bills["data"][0]["billId"], limit="1")["data"]
    assert [b["billId"] for b in older] == [bills["data"][1]["billId"]]
    newer = account.get_account_bills(before=bills["data"][1]["billId"])["data"]
    assert [b["billId"] for b in newer] == [bills["data"][0]["billId"]]
    assert account.get_account_bills(instType="SPOT") == {"code": "0", "msg": "", "data": []}
    archive = account.get_account_bills_archive(instType="SWAP")
    assert archive["code"] == "0" and archive["data"] == bills["data"]
    assert account.get_account_bills_archive(subType="173")["data"] == [
        b for b in bills["data"] if b["subType"] == "173"
    ]
    assert account.get_account_bills_archive(mgnMode="portfolio")["code"] == "51000"
    assert account.get_account_bills_archive(limit="101")["code"] == "51000"


# ---------------------------------------------------------------------------------- WebSocket


async def test_balance_and_position_snapshot_then_filled_and_funding_fee_pushes(sim: Any, sim_credentials: Credentials) -> None:
    sim.exchange.open_position_directly(INST, "long", 2, None)
    ws = await logged_in(sim, sim_credentials)
    try:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "balance_and_position"}]}))
        ack = await recv_until(ws, lambda m: m.get("event") == "subscribe")
        assert ack["arg"] == {"channel": "balance_and_position"}
        snapshot = await recv_until(ws, push_of("balance_and_position"))
        item = snapshot["data"][0]
        assert item["eventType"] == "snapshot" and item["posData"][0]["instId"] == INST
        ack = sim.exchange.place_order({"instId": INST, "tdMode": "cross", "side": "buy", "posSide": "long",
                                        "ordType": "market", "sz": "1"})
        assert ack["sCode"] == "0"
        sim.push_pending()
        filled = (await recv_until(ws, push_of("balance_and_position")))["data"][0]
        fill = sim.exchange.fills(INST)[0]
        assert filled["eventType"] == "filled"
        assert filled["trades"] == [{"instId": INST, "tradeId": fill["tradeId"]}]
        assert float(filled["posData"][0]["pos"]) == 3
        sim.exchange.set_funding_rate(INST, 0.0001)
        sim.exchange.settle_funding_now(INST)
        sim.push_pending()
        push = await recv_until(ws, push_of("balance_and_position"))
        assert push["arg"]["uid"] and push["data"][0]["eventType"] == "funding_fee"
        assert float(push["data"][0]["balData"][0]["cashBal"]) == pytest.approx(sim.exchange.desk.cash)
    finally:
        await ws.close()
        await asyncio.sleep(0)


def test_control_endpoint_sets_the_rate_and_settles(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    inst = "SOL-USDT-SWAP"
    placed = trade.place_order(instId=inst, tdMode="cross", side="sell", posSide="short", ordType="market", sz="1")
    assert placed["code"] == "0", placed

    def control(body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(server.rest_url + CONTROL_MARKET_PATH, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

    assert control({"kind": "set_funding_rate", "inst_id": inst, "rate": 0.0002}) == {"ok": True, "result": None}
    settled = control({"kind": "settle_funding_now", "inst_id": inst})
    assert settled["ok"] and [(b["instId"], b["subType"]) for b in settled["result"]] == [(inst, "174")]
    assert control({"kind": "set_funding_rate", "inst_id": inst, "rate": None})["ok"]
