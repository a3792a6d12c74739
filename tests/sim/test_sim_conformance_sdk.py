"""Issue 12, endpoints clients call: the official python-okx SDK, unchanged apart from its base URL,
drives the simulator over loopback through its own calls — batch cancel/amend, orders history (7 days
and 3 months), fills history, fee rates, currencies — and gets OKX's documented answers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

import okx.Account as Account
import okx.Funding as Funding
import okx.MarketData as MarketData
import okx.PublicData as PublicData
import okx.Trade as Trade
import pytest

from okxscalp.okx.constants import (
    ACCOUNT_TRADE_FEE,
    CODE_PARAM_ERROR,
    CODE_RATE_LIMIT,
    TRADE_AMEND_BATCH_ORDERS,
    TRADE_AMEND_ORDER,
    TRADE_CANCEL_BATCH_ORDERS,
    TRADE_CANCEL_ORDER,
    TRADE_ORDERS_HISTORY,
    TRADE_ORDERS_HISTORY_ARCHIVE,
    LimitKey,
)
from okxscalp.sim.account import MAKER_FEE_RATE, TAKER_FEE_RATE
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.order_history import HISTORY_FIELDS, history_query
from okxscalp.sim.ratelimit import RestRateLimiter
from okxscalp.sim.server import SIM_CREDENTIALS, SimServer, run_in_thread

pytestmark = [
    pytest.mark.timeout(60),
    # python-okx posts with httpx `data=`; the deprecation is theirs, not ours.
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    # Module-scoped; each test keeps to its own instrument so histories do not mix.
    with run_in_thread(seed=21) as sim:
        yield sim


def sdk(cls: Any, url: str) -> Any:
    creds = SIM_CREDENTIALS
    return cls(api_key=creds.api_key, api_secret_key=creds.secret, passphrase=creds.passphrase, flag="1", domain=url)


def resting_buy_px(url: str, inst_id: str, below: str = "0.95") -> str:
    """A buy price on the tick grid well under the bid: the order rests."""
    tick = Decimal(sdk(PublicData.PublicAPI, url).get_instruments(instType="SWAP", instId=inst_id)["data"][0]["tickSz"])
    bid = Decimal(sdk(MarketData.MarketAPI, url).get_ticker(instId=inst_id)["data"][0]["bidPx"])
    return str((bid * Decimal(below) / tick).to_integral_value(ROUND_DOWN) * tick)


def place_resting(trade: Any, url: str, inst_id: str, cl_ord_id: str, below: str = "0.95") -> str:
    placed = trade.place_order(instId=inst_id, tdMode="cross", side="buy", posSide="long", ordType="limit",
                               px=resting_buy_px(url, inst_id, below), sz="1", clOrdId=cl_ord_id)
    assert placed["code"] == "0", placed
    return str(placed["data"][0]["ordId"])


def place_market(trade: Any, inst_id: str, side: str, pos_side: str, cl_ord_id: str, sz: str = "1") -> str:
    placed = trade.place_order(instId=inst_id, tdMode="cross", side=side, posSide=pos_side, ordType="market",
                               sz=sz, clOrdId=cl_ord_id)
    assert placed["code"] == "0", placed
    return str(placed["data"][0]["ordId"])


# ---------------------------------------------------------------------- cancel-batch-orders
def test_cancel_multiple_orders_reports_each_order_and_code_0_1_2(server: SimServer) -> None:
    inst = "SOL-USDT-SWAP"
    trade = sdk(Trade.TradeAPI, server.rest_url)
    first, second, third = (place_resting(trade, server.rest_url, inst, f"cxb{i}") for i in range(3))

    both = trade.cancel_multiple_orders([{"instId": inst, "ordId": first}, {"instId": inst, "clOrdId": "cxb1"}])
    assert both["code"] == "0" and both["msg"] == "", both
    assert [(i["ordId"], i["clOrdId"], i["sCode"]) for i in both["data"]] == [
        (first, "cxb0", "0"), (second, "cxb1", "0")]
    assert all(set(i) == {"ordId", "clOrdId", "ts", "sCode", "sMsg"} for i in both["data"])
    assert int(both["inTime"]) <= int(both["outTime"])
    assert trade.get_order(instId=inst, ordId=first)["data"][0]["state"] == "canceled"

    partly = trade.cancel_multiple_orders([{"instId": inst, "ordId": third}, {"instId": inst, "ordId": first}])
    assert partly["code"] == "2" and partly["msg"] == "Bulk operation partially succeeded.", partly
    assert [i["sCode"] for i in partly["data"]] == ["0", "51400"]

    none = trade.cancel_multiple_orders([{"instId": inst, "ordId": first}, {"instId": inst}])
    assert none["code"] == "1" and none["msg"] == "All operations failed", none
    assert [i["sCode"] for i in none["data"]] == ["51400", CODE_PARAM_ERROR]


def test_batches_above_20_orders_are_refused(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    items = [{"instId": "SOL-USDT-SWAP", "ordId": str(n)} for n in range(21)]
    for reply in (trade.cancel_multiple_orders(items), trade.amend_multiple_orders(
            [{**i, "newSz": "2"} for i in items])):
        assert reply == {"code": CODE_PARAM_ERROR, "msg": "Parameter body error", "data": []}


# ---------------------------------------------------------------------- amend-batch-orders
def test_amend_multiple_orders_sets_new_totals_and_echoes_req_id(server: SimServer) -> None:
    inst = "DOGE-USDT-SWAP"
    trade = sdk(Trade.TradeAPI, server.rest_url)
    first = place_resting(trade, server.rest_url, inst, "amb0")
    second = place_resting(trade, server.rest_url, inst, "amb1")
    new_px = resting_buy_px(server.rest_url, inst, "0.9")

    reply = trade.amend_multiple_orders([
        {"instId": inst, "ordId": first, "newSz": "3", "reqId": "r1"},
        {"instId": inst, "clOrdId": "amb1", "newPx": new_px, "reqId": "r2"},
    ])
    assert reply["code"] == "0", reply
    assert [(i["ordId"], i["reqId"], i["sCode"], i["subCode"]) for i in reply["data"]] == [
        (first, "r1", "0", ""), (second, "r2", "0", "")]
    assert Decimal(trade.get_order(instId=inst, ordId=first)["data"][0]["sz"]) == 3
    assert Decimal(trade.get_order(instId=inst, ordId=second)["data"][0]["px"]) == Decimal(new_px)

    trade.cancel_order(instId=inst, ordId=second)
    partly = trade.amend_multiple_orders([
        {"instId": inst, "ordId": first, "newSz": "2"}, {"instId": inst, "ordId": second, "newSz": "2"}])
    assert partly["code"] == "2" and [i["sCode"] for i in partly["data"]] == ["0", "51503"], partly
    trade.cancel_order(instId=inst, ordId=first)


def test_batch_of_one_uses_the_single_order_budget(server: SimServer) -> None:
    """Docs: a batch with one order "will consume the rate limit of `Cancel order`/`Amend order`"
    (60 per 2 s per User ID + instrument); larger batches count orders against 300 per 2 s."""
    assert (TRADE_CANCEL_BATCH_ORDERS.limit, TRADE_AMEND_BATCH_ORDERS.limit) == (300, 300)
    assert TRADE_CANCEL_BATCH_ORDERS.key is LimitKey.UID_INST_ID is TRADE_AMEND_BATCH_ORDERS.key
    shared_limiter = server.rest.limiter
    server.rest.limiter = RestRateLimiter(clock=lambda: 1000.0)  # frozen: one window for the whole test
    try:
        trade = sdk(Trade.TradeAPI, server.rest_url)
        inst = "ETH-USDT-SWAP"
        for single, batch, extra in (
            (trade.cancel_order, trade.cancel_multiple_orders, {}),
            (trade.amend_order, trade.amend_multiple_orders, {"newSz": "2"}),
        ):
            for _ in range(TRADE_CANCEL_ORDER.limit if single == trade.cancel_order else TRADE_AMEND_ORDER.limit):
                assert single(instId=inst, ordId="1", **extra)["code"] == "1"  # no such order: counted anyway
            assert single(instId=inst, ordId="1", **extra)["code"] == CODE_RATE_LIMIT
            lone = batch([{"instId": inst, "ordId": "1", **extra}])
            assert lone["code"] == CODE_RATE_LIMIT, lone
            pair = batch([{"instId": inst, "ordId": "1", **extra}, {"instId": inst, "ordId": "2", **extra}])
            assert pair["code"] == "1" and len(pair["data"]) == 2, pair
    finally:
        server.rest.limiter = shared_limiter


# ---------------------------------------------------------------------- orders-history(-archive)
def test_orders_history_lists_finished_orders_newest_first_with_documented_fields(server: SimServer) -> None:
    inst = "BTC-USDT-SWAP"
    trade = sdk(Trade.TradeAPI, server.rest_url)
    opened = place_market(trade, inst, "buy", "long", "ohopen")
    canceled = place_resting(trade, server.rest_url, inst, "ohcxl")
    assert trade.cancel_order(instId=inst, ordId=canceled)["code"] == "0"
    closed = place_market(trade, inst, "sell", "long", "ohclose")
    live = place_resting(trade, server.rest_url, inst, "ohlive")

    reply = trade.get_orders_history(instType="SWAP", instId=inst)
    assert reply["code"] == "0" and reply["msg"] == "", reply
    assert [o["ordId"] for o in reply["data"]] == [closed, canceled, opened]  # newest first; not the live one
    for item in reply["data"]:
        assert set(item) == set(HISTORY_FIELDS)
        assert all(isinstance(v, str) for k, v in item.items() if k not in ("attachAlgoOrds", "linkedAlgoOrd"))
    by_id = {o["ordId"]: o for o in reply["data"]}
    assert by_id[opened]["state"] == "filled" and by_id[opened]["accFillSz"] == by_id[opened]["sz"]
    assert Decimal(by_id[opened]["fee"]) < 0 and by_id[opened]["fillPx"] and by_id[opened]["tradeId"]
    assert by_id[canceled]["state"] == "canceled" and by_id[canceled]["cancelSource"] == "1"
    assert by_id[closed]["reduceOnly"] == "false" and by_id[closed]["posSide"] == "long"

    assert [o["ordId"] for o in trade.get_orders_history(instType="SWAP", instId=inst, state="filled")["data"]] == [
        closed, opened]
    assert [o["ordId"] for o in trade.get_orders_history(instType="SWAP", instId=inst, ordType="limit,post_only")[
        "data"]] == [canceled]
    assert [o["ordId"] for o in trade.get_orders_history(
        instType="SWAP", instFamily="BTC-USDT", limit="1")["data"]] == [closed]
    assert trade.get_orders_history(instType="SWAP", instFamily="ETH-USDT", instId=inst)["data"] == []
    assert trade.get_orders_history(instType="SPOT", instId=inst) == {"code": "0", "msg": "", "data": []}
    # The 3-month archive leaves out canceled orders without any fills.
    archive = trade.get_orders_history_archive(instType="SWAP", instId=inst)
    assert archive["code"] == "0" and [o["ordId"] for o in archive["data"]] == [closed, opened]
    trade.cancel_order(instId=inst, ordId=live)


def test_orders_history_pages_by_ord_id_and_filters_by_creation_time(server: SimServer) -> None:
    inst = "XRP-USDT-SWAP"
    trade = sdk(Trade.TradeAPI, server.rest_url)
    ids = [place_market(trade, inst, side, "short", f"pg{n}")
           for n, side in enumerate(("sell", "buy", "sell", "buy"))]
    newest_first = ids[::-1]

    def listed(**params: str) -> list[str]:
        reply = trade.get_orders_history(instType="SWAP", instId=inst, **params)
        assert reply["code"] == "0", reply
        return [o["ordId"] for o in reply["data"]]

    assert listed() == newest_first
    assert listed(after=newest_first[1], limit="2") == newest_first[2:4]  # older than the cursor
    assert listed(before=newest_first[3], limit="2") == newest_first[1:3]  # just newer, still newest first
    assert listed(after=newest_first[0], before=newest_first[3]) == newest_first[1:3]
    c_times = {o["ordId"]: int(o["cTime"]) for o in trade.get_orders_history(instType="SWAP", instId=inst)["data"]}
    assert listed(begin=str(c_times[ids[3]]), end=str(c_times[ids[3]])) == [
        i for i in newest_first if c_times[i] == c_times[ids[3]]]
    for bad in ({"limit": "0"}, {"after": "x"}, {"state": "live"}):
        reply = trade.get_orders_history(instType="SWAP", instId=inst, **bad)
        assert reply["code"] == CODE_PARAM_ERROR and reply["data"] == [], (bad, reply)


def test_orders_history_requires_inst_type(server: SimServer) -> None:
    trade = sdk(Trade.TradeAPI, server.rest_url)
    for call in (trade.get_orders_history, trade.get_orders_history_archive):
        assert call(instType="") == {"code": CODE_PARAM_ERROR, "msg": "Parameter instType error", "data": []}
        assert call(instType="PERP")["code"] == CODE_PARAM_ERROR
    assert (TRADE_ORDERS_HISTORY.limit, TRADE_ORDERS_HISTORY.key) == (40, LimitKey.UID)
    assert (TRADE_ORDERS_HISTORY_ARCHIVE.limit, TRADE_ORDERS_HISTORY_ARCHIVE.key) == (20, LimitKey.UID)


def test_start_up_reconciliation_sees_resting_and_finished_orders(server: SimServer) -> None:
    """Issue 12: an engine fetching orders-pending and orders-history together at start learns of
    the order resting since before it started and of the ones that finished meanwhile."""
    inst = "ETH-USDT-SWAP"
    before_start = sdk(Trade.TradeAPI, server.rest_url)
    resting = place_resting(before_start, server.rest_url, inst, "recrest")
    filled = place_market(before_start, inst, "buy", "long", "recfill")
    place_market(before_start, inst, "sell", "long", "recexit")

    engine = sdk(Trade.TradeAPI, server.rest_url)  # a new client, as after a restart
    pending = engine.get_order_list(instType="SWAP", instId=inst)
    history = engine.get_orders_history(instType="SWAP", instId=inst)
    assert pending["code"] == "0" and history["code"] == "0", (pending, history)
    assert resting in [o["ordId"] for o in pending["data"]]
    assert filled in [o["ordId"] for o in history["data"]] and resting not in [o["ordId"] for o in history["data"]]
    engine.cancel_order(instId=inst, ordId=resting)


def test_orders_history_survives_an_account_restore() -> None:
    """The account file carries the final orders; orders-history lists them after a restart."""
    before = SimExchange(seed=5, start_wall_s=0.0, start_sim_ms=1_700_000_000_000)
    before.advance_sim_seconds(1)
    for side in ("buy", "sell"):
        before.place_order({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": side, "posSide": "long",
                            "ordType": "market", "sz": "1"})
    query = history_query({"instType": "SWAP"}, before.families)
    assert query is not None
    saved = before.orders_history(query, archive=False)
    after = SimExchange(seed=5, start_wall_s=0.0, start_sim_ms=1_700_000_000_000)
    after.advance_sim_seconds(1)
    after.restore_account(before.export_account())
    assert len(saved) == 2 and after.orders_history(query, archive=False) == saved


# ---------------------------------------------------------------------- fills-history
def test_fills_history_pages_by_bill_id_and_filters(server: SimServer) -> None:
    inst = "DOGE-USDT-SWAP"
    trade = sdk(Trade.TradeAPI, server.rest_url)
    ord_ids = [place_market(trade, inst, side, "long", f"fh{n}") for n, side in enumerate(("buy", "sell", "buy"))]
    place_market(trade, inst, "sell", "long", "fh3")
    every = trade.get_fills_history(instType="SWAP", instId=inst)
    assert every["code"] == "0", every
    bills = [f["billId"] for f in every["data"]]
    assert bills == sorted(bills, key=int, reverse=True) and len(bills) >= 4
    for item in every["data"]:
        assert item["instType"] == "SWAP" and item["instId"] == inst and item["execType"] in ("T", "M")
        assert all(isinstance(v, str) for v in item.values())
    assert [f["billId"] for f in trade.get_fills_history(instType="SWAP", instId=inst, after=bills[0], limit="2")[
        "data"]] == bills[1:3]
    assert [f["billId"] for f in trade.get_fills_history(instType="SWAP", instId=inst, before=bills[-1], limit="2")[
        "data"]] == bills[-3:-1]
    one_order = trade.get_fills_history(instType="SWAP", ordId=ord_ids[1])["data"]
    assert one_order and {f["ordId"] for f in one_order} == {ord_ids[1]}
    # long/short mode: 3 open long, 5 close long (docs subType; the same code as the fill's bill)
    assert {f["subType"] for f in trade.get_fills_history(instType="SWAP", ordId=ord_ids[0])["data"]} == {"3"}
    assert {f["subType"] for f in one_order} == {"5"}
    assert {f["instId"] for f in trade.get_fills_history(instType="SWAP", instFamily="DOGE-USDT")["data"]} == {inst}
    assert trade.get_fills_history(instType="SPOT", instId=inst)["data"] == []
    assert trade.get_fills(instType="SPOT", instId=inst)["data"] == []  # /trade/fills: instType optional
    assert trade.get_fills_history(instType="")["code"] == CODE_PARAM_ERROR


def test_fills_sub_type_follows_the_position_mode_and_filters() -> None:
    ex = SimExchange(seed=5, inst_ids=["BTC-USDT-SWAP"], start_wall_s=0.0, start_sim_ms=1_700_000_000_000)
    ex.advance_sim_seconds(1)
    order = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "ordType": "market", "sz": "1"}
    ex.place_order({**order, "side": "sell", "posSide": "short"})
    ex.place_order({**order, "side": "buy", "posSide": "short"})
    assert [f["subType"] for f in ex.fills(limit=100, history=True)] == ["6", "4"]  # close / open short
    assert [f["subType"] for f in ex.fills(limit=100, history=True, sub_type="4")] == ["4"]
    ex.set_position_mode("net_mode")
    ex.place_order({**order, "side": "buy"})
    assert ex.fills(limit=1)[0]["subType"] == "1"  # net mode: buy


# ---------------------------------------------------------------------- trade-fee
def test_fee_rates_are_the_rates_fills_are_charged_at_negative_when_charged(server: SimServer) -> None:
    account = sdk(Account.AccountAPI, server.rest_url)
    reply = account.get_fee_rates(instType="SWAP", instFamily="BTC-USDT")
    assert reply["code"] == "0" and reply["msg"] == "", reply
    [item] = reply["data"]
    taker, maker = Decimal(str(-TAKER_FEE_RATE)), Decimal(str(-MAKER_FEE_RATE))
    assert item["instType"] == "SWAP" and item["level"] == "Lv1" and int(item["ts"]) > 0
    assert (Decimal(item["takerU"]), Decimal(item["makerU"])) == (taker, maker)
    assert [(Decimal(g["taker"]), Decimal(g["maker"])) for g in item["feeGroup"]] == [(taker, maker)]
    assert {"category", "delivery", "exercise", "fiat", "maker", "taker", "makerUSDC", "takerUSDC",
            "ruleType"} <= set(item)

    trade = sdk(Trade.TradeAPI, server.rest_url)
    inst = "SOL-USDT-SWAP"
    ord_id = place_market(trade, inst, "buy", "long", "feecheck")
    fill = trade.get_fills(instId=inst, ordId=ord_id)["data"][0]
    ct_val = Decimal(sdk(PublicData.PublicAPI, server.rest_url).get_instruments(
        instType="SWAP", instId=inst)["data"][0]["ctVal"])
    charged = Decimal(fill["fillPx"]) * Decimal(fill["fillSz"]) * ct_val * taker
    assert abs(Decimal(fill["fee"]) - charged) < Decimal("1e-9"), (fill, charged)
    place_market(trade, inst, "sell", "long", "feeexit")

    assert account.get_fee_rates(instType="SPOT", instId="BTC-USDT") == {"code": "0", "msg": "", "data": []}
    assert account.get_fee_rates(instType="")["code"] == CODE_PARAM_ERROR
    assert account.get_fee_rates(instType="SWAP", instFamily="BTC-USDT", groupId="1")["code"] == CODE_PARAM_ERROR
    assert account.get_fee_rates(instType="SWAP", groupId="9")["data"][0]["feeGroup"] == []


def test_fee_rates_limit_is_five_per_two_seconds_per_user(server: SimServer) -> None:
    assert (ACCOUNT_TRADE_FEE.limit, ACCOUNT_TRADE_FEE.window_s, ACCOUNT_TRADE_FEE.key) == (5, 2.0, LimitKey.UID)
    shared_limiter = server.rest.limiter
    server.rest.limiter = RestRateLimiter(clock=lambda: 1000.0)
    try:
        account = sdk(Account.AccountAPI, server.rest_url)
        codes = [account.get_fee_rates(instType="SWAP")["code"] for _ in range(ACCOUNT_TRADE_FEE.limit + 1)]
        assert codes == ["0"] * ACCOUNT_TRADE_FEE.limit + [CODE_RATE_LIMIT]
    finally:
        server.rest.limiter = shared_limiter


# ---------------------------------------------------------------------- asset/currencies
def test_currencies_through_the_sdk(server: SimServer) -> None:
    funding = sdk(Funding.FundingAPI, server.rest_url)
    reply = funding.get_currencies()
    assert reply["code"] == "0", reply
    assert {"USDT", "BTC", "ETH", "SOL", "XRP", "DOGE"} <= {c["ccy"] for c in reply["data"]}
    assert [c["ccy"] for c in funding.get_currencies(ccy="BTC")["data"]] == ["BTC"]
