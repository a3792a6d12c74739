"""A position the exchange liquidates (issue 12): the engine holds a cross XRP long against the
simulator, the price is moved past its liquidation price (but not to its stop), the simulator
liquidates it, and the journal, the events and the console snapshot say liquidation with its P&L."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Side

XRP = "XRP-USDT-SWAP"
pytestmark = pytest.mark.timeout(90)


def quick(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["timeout_s"] = 2.0


def thin_account(server: Any, notional: float) -> None:
    """Leave the cross account just enough cash that its liquidation price sits ~1.2 % under the
    entry (the stop is 2.2 % under): maintenance (XRP tier 1: 0.8 %) + taker fee + 1.2 %."""
    with server.exchange._lock:
        server.exchange.desk.cash = notional * (0.008 + 0.0005 + 0.012)


async def test_liquidated_position_is_journaled_and_shown_as_liquidation(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=quick)
    async with sim_server(speed=10, seed=5) as server, running_engine(config, server) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20)
        position = await open_position(engine, XRP, Side.BUY)
        thin_account(server, position.size * 100.0 * position.snapshot.entry_px)
        assert await wait_until(lambda: position.liq_px is not None, 15)  # the positions pushes say so
        view = next(v for v in engine.snapshot().positions if v.inst_id == XRP)
        assert view.liq_px == position.liq_px and view.liq_distance_percent is not None
        assert 0.5 < view.liq_distance_percent < 2.2  # inside the stop: liquidation comes first
        snapshot = position.snapshot
        assert snapshot is not None and snapshot.sl_px < position.liq_px
        entry = snapshot.entry_cl_ord_id
        server.exchange.move_price(XRP, (position.liq_px + snapshot.sl_px) / 2)  # past liqPx, short of the SL

        def closed() -> Any:
            engine.journal.flush()
            return next((p for p in engine.journal.positions("closed") if p.entry_cl_ord_id == entry), None)

        assert await wait_until(lambda: closed() is not None, 20)
        row = closed()
        (liq_order,) = [o for o in server.exchange.desk.orders.values() if o.category == "full_liquidation"]
        expected = (liq_order.avg_px - snapshot.entry_px) * liq_order.sz * 100.0  # XRP ctVal 100
        assert row.close_reason.startswith("liquidation") and "gone_from_exchange" not in row.close_reason
        assert row.realised_pnl == pytest.approx(expected, rel=1e-6)
        assert row.realised_pnl == pytest.approx(liq_order.pnl, rel=1e-6)
        events = [e for e in engine.snapshot().recent_events if e.kind is FallbackKind.POSITION and "LIQUIDATED" in e.detail]
        assert events and events[0].symbol == XRP
        assert await wait_until(lambda: any(t.entry_cl_ord_id == entry for t in engine.snapshot().trades), 10)
        (trade,) = [t for t in engine.snapshot().trades if t.entry_cl_ord_id == entry]
        entry_fee = server.exchange.desk.orders[snapshot.entry_ord_id].fee  # the trade's P&L is after fees
        assert trade.reason == "liquidation" and trade.realised_pnl == pytest.approx(liq_order.pnl + entry_fee, rel=1e-6)
        assert not any(v.inst_id == XRP for v in engine.snapshot().positions)


async def test_liquidation_whose_push_was_missed_is_found_by_its_fills(tmp_path: Path) -> None:
    """The liquidation order's push is lost (orders channel stalled): the position goes flat, the
    closing fill is looked up over REST, and its subType (104: liquidation long) says liquidation."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=quick)
    async with sim_server(speed=10, seed=5) as server, running_engine(config, server) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20)
        position = await open_position(engine, XRP, Side.BUY)
        thin_account(server, position.size * 100.0 * position.snapshot.entry_px)
        assert await wait_until(lambda: position.liq_px is not None, 15)
        snapshot = position.snapshot
        entry = snapshot.entry_cl_ord_id
        server.faults.stall(60, "orders", XRP)
        server.exchange.move_price(XRP, (position.liq_px + snapshot.sl_px) / 2)

        def closed() -> Any:
            engine.journal.flush()
            return next((p for p in engine.journal.positions("closed") if p.entry_cl_ord_id == entry), None)

        assert await wait_until(lambda: closed() is not None, 30)
        row = closed()
        (liq_order,) = [o for o in server.exchange.desk.orders.values() if o.category == "full_liquidation"]
        pushed = [e for e in engine.snapshot().recent_events if e.kind is FallbackKind.POSITION and "LIQUIDATED" in e.detail]
        assert not pushed  # the push never came: the fills told
        told = [e for e in engine.snapshot().recent_events if "closed by LIQUIDATION" in e.detail]
        assert told and told[0].symbol == XRP and f"{liq_order.pnl:+.4f}" in told[0].detail
        assert row.close_reason.startswith("liquidation") and "gone_from_exchange" not in row.close_reason
        assert row.realised_pnl == pytest.approx(liq_order.pnl, rel=1e-6)
