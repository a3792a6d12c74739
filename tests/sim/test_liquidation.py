"""Margin by OKX's position tiers, isolated vs cross, and liquidation in the simulator."""

from __future__ import annotations

import itertools
import random
from typing import Any

import aiohttp
import pytest

from okxscalp.okx import constants as k
from okxscalp.sim.account import TAKER_FEE_RATE
from okxscalp.sim.bills import BillQuery
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.liquidation import bankruptcy_px, cross_liq_px, isolated_liq_px
from okxscalp.sim.tiers import TIERS_BY_FAMILY, tier_of

pytestmark = pytest.mark.timeout(30)
INST = "BTC-USDT-SWAP"


def _exchange(mode: str, contracts: float, lever: str = "20") -> tuple[SimExchange, dict]:
    ex = SimExchange(seed=3)
    ex.set_leverage({"instId": INST, "mgnMode": mode, "lever": lever, "posSide": "long"})
    wire = ex.open_position_directly(INST, "long", contracts, 95_000.0, mode)
    ex.drain_events()
    return ex, wire


def test_tiers_pick_by_contracts_with_btc_tier_one_as_published() -> None:
    btc = TIERS_BY_FAMILY["BTC-USDT"]
    first = btc[0]
    assert (first.min_sz, first.max_sz, first.mmr, first.imr, first.max_lever) == (0, 1000, 0.004, 0.01, 100)
    assert tier_of(btc, 1000).tier == 1
    assert tier_of(btc, 1000.01).tier == 2
    assert tier_of(btc, 10**9).tier == btc[-1].tier
    for tiers in TIERS_BY_FAMILY.values():  # documented structure: rates rise, leverage falls with size
        assert all(a.mmr <= b.mmr and a.max_lever >= b.max_lever and a.max_sz < b.max_sz
                   for a, b in itertools.pairwise(tiers))


def test_isolated_position_has_its_own_margin_and_liquidation_price() -> None:
    ex, wire = _exchange("isolated", 10)
    assert wire["margin"] == "475" and wire["imr"] == ""  # 10 x 0.01 x 95000 / 20
    expected = isolated_liq_px(1, 95_000.0, 475.0, 0.1, 0.004 + TAKER_FEE_RATE)
    assert expected is not None and float(wire["liqPx"]) == pytest.approx(expected, abs=0.1)
    assert float(wire["mmr"]) == pytest.approx(0.1 * 95_000 * 0.004, rel=1e-3)
    ex.open_position_directly(INST, "long", 10, 96_000.0, "isolated")  # an add grows the margin
    (after,) = ex.positions_wire(INST)
    assert float(after["margin"]) == pytest.approx(475 + 480)


def test_cross_liquidation_price_comes_from_the_account_equity() -> None:
    _, small = _exchange("cross", 10)
    assert small["liqPx"] == "" and small["margin"] == "" and float(small["imr"]) > 0  # unreachable: equity 10k
    _, big = _exchange("cross", 100)
    mark = float(big["markPx"])
    expected = cross_liq_px(1, mark, 1.0, 10_000.0, mark * (0.004 + TAKER_FEE_RATE), 0.004 + TAKER_FEE_RATE)
    assert expected is not None and float(big["liqPx"]) == pytest.approx(expected, abs=1.0)
    _, isolated = _exchange("isolated", 100)
    assert float(isolated["liqPx"]) > float(big["liqPx"])  # isolated risks its margin only: liquidated sooner


def test_isolated_liquidation_pushes_bills_and_fills_say_so() -> None:
    ex, wire = _exchange("isolated", 10)
    ex.move_price(INST, float(wire["liqPx"]) + 300)
    ex.advance_steps(5)
    assert ex.positions_wire(INST) and not [e for e in ex.drain_events() if e.channel == "orders"]
    ex.move_price(INST, float(wire["liqPx"]) * 0.99)
    ex.advance_steps(5)
    events = ex.drain_events()
    (order,) = [e.data for e in events if e.channel == "orders"]
    bk = bankruptcy_px(1, 95_000.0, 475.0, 0.1)
    assert order["category"] == "full_liquidation" and order["state"] == "filled" and order["side"] == "sell"
    assert float(order["fillPx"]) == pytest.approx(bk, abs=0.1) and float(order["fillPnl"]) == pytest.approx(-475)
    (bal_pos,) = [e.data for e in events if e.channel == "balance_and_position"]
    assert bal_pos["eventType"] == "liquidation" and bal_pos["posData"][0]["pos"] == "0"
    assert float(bal_pos["balData"][0]["cashBal"]) == pytest.approx(10_000 - 475)
    assert [e.data["pos"] for e in events if e.channel == "positions"] == ["0"]
    assert ex.positions_wire(INST) == []
    (bill,) = ex.desk.bills.query(BillQuery(type_=k.BILL_TYPE_LIQUIDATION), now_ms=ex.desk._now(), archive=False)
    assert bill["subType"] == k.BILL_SUB_LIQ_LONG and float(bill["pnl"]) == pytest.approx(-475)
    assert bill["ordId"] == order["ordId"] and float(bill["balChg"]) == pytest.approx(-475)
    (fill,) = ex.desk.fills(INST, 10, ord_id=order["ordId"])
    assert fill["subType"] == k.BILL_SUB_LIQ_LONG


def test_cross_liquidation_takes_the_cross_equity_to_zero() -> None:
    ex, wire = _exchange("cross", 100)
    ex.move_price(INST, float(wire["liqPx"]) - 100)
    ex.advance_steps(10)
    events = ex.drain_events()
    (order,) = [e.data for e in events if e.channel == "orders"]
    assert order["category"] == "full_liquidation" and order["tdMode"] == "cross"
    assert float(order["fillPnl"]) == pytest.approx(-10_000)
    assert float(ex.balance_wire()["totalEq"]) == pytest.approx(0.0, abs=1e-6)


async def test_position_tiers_endpoint(sim: Any) -> None:
    async with aiohttp.ClientSession() as http:
        url = sim.rest_url + "/api/v5/public/position-tiers?instType=SWAP&tdMode=cross&instFamily=BTC-USDT"
        async with http.get(url) as reply:
            body = await reply.json()
        assert reply.status == 200 and body["code"] == "0"
        first = body["data"][0]
        assert {key: first[key] for key in ("instFamily", "tier", "minSz", "maxSz", "mmr", "imr", "maxLever")} == {
            "instFamily": "BTC-USDT", "tier": "1", "minSz": "0", "maxSz": "1000", "mmr": "0.004", "imr": "0.01",
            "maxLever": "100"}
        async with http.get(sim.rest_url + "/api/v5/public/position-tiers?instType=SWAP&tdMode=cross") as reply:
            body = await reply.json()
        assert reply.status == 400 and body["code"] == k.CODE_PARAM_ERROR


def test_an_account_saved_before_isolated_margin_restores_with_its_opening_margin() -> None:
    ex, wire = _exchange("isolated", 10)
    doc = ex.export_account()
    account = doc["account"]
    for position in account["positions"]:
        del position["margin"]  # as saved before isolated margin was kept
    for order in account["orders"]:
        order.pop("category", None)
    after = SimExchange(seed=4)
    after.restore_account(doc)
    (restored,) = after.positions_wire(INST)
    assert restored["margin"] == wire["margin"] == "475" and restored["liqPx"] == wire["liqPx"]


def test_margin_terms_are_the_positions_upl_and_maintenance_bit_for_bit() -> None:
    """liquidate_due's one-pass terms (Position.upl and _maint inline) equal those methods exactly,
    over long/short, cross/isolated positions of every tier size and moving marks."""
    rng = random.Random(11)
    for round_ in range(8):
        ex = SimExchange(seed=round_, initial_equity=1e12)
        desk = ex.desk
        for inst_id in rng.sample(sorted(ex.markets), 4):
            for pos_side in ("long", "short"):
                mode = rng.choice(("cross", "cross", "isolated"))
                ex.set_leverage({"instId": inst_id, "mgnMode": mode, "lever": "10", "posSide": pos_side})
                contracts = float(rng.choice((1, 7, 999, 1000, 1001, 25_000, 400_000)))
                px = ex.markets[inst_id].mid * rng.uniform(0.9, 1.1)
                ex.open_position_directly(inst_id, pos_side, contracts, px, mode)
        for _ in range(5):
            ex.advance_steps(rng.randrange(1, 300))
            positions = list(desk.positions.values())
            iso, upls, maints = desk._margin_terms()
            assert iso == [p.margin for p in positions if p.mgn_mode == "isolated"]
            assert upls == [p.upl(desk.markets[p.inst_id].mark, desk.markets[p.inst_id].ct_val)
                            for p in positions if p.mgn_mode == "cross"]
            assert maints == [desk._maint(p, True) for p in positions if p.mgn_mode == "cross" and p.pos]
            assert upls and maints
