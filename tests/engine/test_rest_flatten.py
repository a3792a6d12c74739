"""The console's flatten for a failed engine: a fresh REST client against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from okxscalp.engine.rest_flatten import flatten_via_rest, rest_flattener
from okxscalp.okx.models import OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(60)

XRP, DOGE, BTC = "XRP-USDT-SWAP", "DOGE-USDT-SWAP", "BTC-USDT-SWAP"


def open_positions(server: Any) -> set[tuple[str, str]]:
    return {(p["instId"], p["posSide"]) for p in server.exchange.positions_wire(None) if p.get("pos") not in ("", "0")}


async def resting_buy(rest: RestClient, inst_id: str) -> str:
    ticker = await rest.ticker(inst_id)
    instrument = (await rest.instruments(inst_id=inst_id))[0]
    px = instrument.format_price(ticker.bid * 0.9)
    ack = await rest.place_order(OrderRequest(inst_id, Side.BUY, PosSide.LONG, "limit", instrument.format_size(1), px, td_mode="cross"))
    return ack.ord_id


async def test_flatten_via_rest_cancels_closes_and_verifies(sim: Any, sim_credentials: Any) -> None:
    async with RestClient(sim.rest_url, sim_credentials) as rest:
        await rest.set_position_mode("long_short_mode")
        sim.exchange.open_position_directly(XRP, "long", 10)
        sim.exchange.open_position_directly(DOGE, "short", 10)
        sim.exchange.open_position_directly(BTC, "long", 1)  # not a configured symbol: left alone
        order_id = await resting_buy(rest, XRP)
        ticker = await rest.ticker(XRP)
        await rest.place_algo_order(XRP, side="sell", pos_side="long", sl_trigger_px=f"{ticker.last * 0.5:.4f}", td_mode="cross")
        report = await flatten_via_rest(rest, (XRP, DOGE))
        assert report.complete, report.summary()
        assert open_positions(sim) == {(BTC, "long")}
        assert await rest.orders_pending(XRP) == [] and await rest.algo_orders_pending(XRP) == []
    summary = report.summary()
    assert summary.startswith("flatten done via REST") and f"order XRP-USDT {order_id} cancelled" in summary
    assert "XRP-USDT long 10 closed" in summary and "DOGE-USDT short 10 closed" in summary


async def test_close_via_rest_closes_only_its_target(sim: Any, sim_credentials: Any) -> None:
    sim.exchange.open_position_directly(XRP, "long", 10)
    sim.exchange.open_position_directly(DOGE, "short", 10)
    report = await rest_flattener(sim.rest_url, sim_credentials, None, (XRP, DOGE), demo=False)((DOGE, "short"))
    assert report.complete and report.what == "close DOGE-USDT short", report.summary()
    assert open_positions(sim) == {(XRP, "long")}


async def test_an_exchange_that_cannot_be_listed_is_reported_incomplete(sim: Any, sim_credentials: Any) -> None:
    sim.exchange.open_position_directly(XRP, "long", 10)
    sim.faults.busy(60, "/api/v5/account/positions")
    async with RestClient(sim.rest_url, sim_credentials) as rest:
        report = await flatten_via_rest(rest, (XRP,))
    assert not report.complete and not report.verified
    assert report.summary().startswith("flatten incomplete:") and "positions not listed" in report.summary()
    assert open_positions(sim) == {(XRP, "long")}
