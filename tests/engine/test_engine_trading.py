"""The engine trading against the simulator: entries, snapshots, exits, the audit's regime case,
stale-price refusal and flatten. Real loopback sockets; nothing of the exchange is mocked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, tight_exits, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.signals import Signal
from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import WS_PRIVATE_PATH
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"
SOL = "SOL-USDT-SWAP"


def order_fresh(engine: Engine, inst_id: str) -> bool:
    return engine.registry.freshness(inst_id).satisfied[Purpose.ORDER]




@pytest.mark.timeout(120)
async def test_position_keeps_its_choppy_tp_sl_when_the_market_turns_trending(tmp_path: Path) -> None:
    """The audit's case with the audit's numbers: XRP-USDT opened in choppy (TP 3.0 % / SL 2.0 %)
    is still managed with them after the market turns trending (TP 5.0 % / SL 1.5 %)."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=short_entry_timeout)
    async with sim_server(seed=11, speed=120) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: order_fresh(engine, XRP), 10)
        position = await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)
        snap = position.snapshot
        assert snap.entry_regime is Regime.CHOPPY
        assert snap.exit_params.tp_percent.source_path == "symbol_profiles.XRP-USDT.choppy.tp_percent"
        assert snap.exit_params.sl_percent.source_path == "symbol_profiles.XRP-USDT.choppy.sl_percent"
        assert snap.tp_distance_percent == pytest.approx(3.0, abs=0.01)
        assert snap.sl_distance_percent == pytest.approx(2.0, abs=0.01)
        # The order sent carried the choppy TP/SL as exchange-side protection.
        entry = engine.journal.order(snap.entry_cl_ord_id)
        assert entry is not None and entry.purpose == "entry" and entry.quote_age_s <= entry.quote_budget_s
        algos = server.exchange.algo_orders_pending(XRP)
        assert [(float(a["tpTriggerPx"]), float(a["slTriggerPx"])) for a in algos] == [(snap.tp_px, snap.sl_px)]

        # The market turns: an upward trend; the detector follows while the position is open.
        server.exchange.force_regime(XRP, "trending", 7200, direction=1)
        assert await wait_until(lambda: engine.detectors[XRP].regime is Regime.TRENDING, 60)
        held = engine.manager.book.get(XRP, "long")
        assert held is not None, "closed before the detector saw the trend"
        assert held.snapshot == snap and held.snapshot.entry_regime is Regime.CHOPPY
        assert [p.snapshot for p in engine.journal.open_positions()] == [snap]
        assert engine.snapshot().positions[0].sl_source == "symbol_profiles.XRP-USDT.choppy.sl_percent"

        # Quiet market from here; price moved by hand. Past the trending stop (-1.5 %) but short of
        # the choppy one (-2.0 %): the position stays open.
        server.exchange.force_regime(XRP, "ranging", 7200)
        server.exchange.move_price(XRP, snap.entry_px * (1 - 1.75 / 100))
        assert await wait_until(lambda: engine.registry.freshness(XRP).last <= snap.entry_px * (1 - 1.7 / 100), 10)
        await asyncio.sleep(1.0)  # several EXIT-fresh ticks and sweeps there
        assert engine.manager.book.get(XRP, "long") is not None and engine.journal.open_positions()
        # Past the choppy TP (+3.0 %), short of the trending one (+5.0 %): closed there, by the snapshot's TP.
        server.exchange.move_price(XRP, snap.tp_px * (1 + 0.1 / 100))
        assert await wait_until(lambda: not engine.journal.open_positions(), 15)
        engine.journal.flush()
        closed = engine.journal.positions("closed")
        assert len(closed) == 1 and closed[0].snapshot == snap
        assert closed[0].close_reason.startswith("take_profit")
        assert snap.tp_px * 0.999 <= closed[0].close_px < snap.entry_px * (1 + 5.0 / 100)


@pytest.mark.timeout(60)
async def test_stale_price_at_entry_sends_no_order(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=tight_exits)
    async with sim_server(seed=3, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: order_fresh(engine, XRP) and engine.feed.entries_allowed()[0], 10)
        server.faults.stall(6.0, inst_id=XRP)
        assert await wait_until(lambda: not order_fresh(engine, XRP), 5)
        sent_before = sum(server.counters.orders_by_clordid.values())
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: stale entry"))
        await asyncio.sleep(0.5)
        assert sum(server.counters.orders_by_clordid.values()) == sent_before
        assert engine.entries == {}
        engine.journal.flush()
        assert [o for o in engine.journal.orders(XRP) if o.purpose == "entry"] == []
        # One refused read, one event: the registry's ORDER refusal (the executor adds no second one,
        # which a report would count as a second refused read).
        refusals = [
            e for e in engine.snapshot().recent_events
            if e.kind is FallbackKind.STALE_REFUSED and e.symbol == XRP
        ]
        assert refusals and all(e.component == "registry" for e in refusals)
        assert refusals[-1].detail.startswith("order read: age")
        assert await wait_until(lambda: engine.journal.flush() or any(  # the bus reader journals delivered events
            e.kind is FallbackKind.STALE_REFUSED and e.component == "registry" and e.symbol == XRP
            for e in engine.journal.fallback_events()), 5)


def short_entry_timeout(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["timeout_s"] = 2.0  # an unfilled entry is retried sooner


def far_doge_offset(doc: dict[str, Any]) -> None:
    tight_exits(doc)
    doge = doc["order_executor"]["limit_order"]["by_symbol"]["DOGE-USDT"]["by_regime"]
    doge["ranging"] = {"limit_offset_percent": 3.0}  # never fills: stays a pending order
    doc["order_executor"]["limit_order"]["timeout_s"] = 60.0


@pytest.mark.timeout(90)
async def test_flatten_closes_positions_cancels_orders_and_halts_entries(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT", "DOGE-USDT"], mutate=far_doge_offset)
    async with sim_server(seed=5, speed=30) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: order_fresh(engine, XRP) and engine.feed.entries_allowed()[0], 10)
        await open_position(engine, XRP, Side.SELL, Regime.RANGING)
        assert engine.submit_signal(Signal(DOGE, Side.BUY, Regime.RANGING, "test: pending entry"))
        assert await wait_until(lambda: len(server.exchange.orders_pending(DOGE)) == 1, 5)

        engine.request_flatten()
        assert await wait_until(
            lambda: not server.exchange.positions_wire() and not server.exchange.orders_pending()
            and not engine.manager.book.positions, 10,
        )
        assert await wait_until(lambda: not server.exchange.algo_orders_pending(), 5)
        assert await wait_until(lambda: engine.close_flow.flattener.completed == 1, 5)  # confirmed by the exchange
        assert any("flatten" in r for r in engine.halt_reasons())
        assert not engine.submit_signal(Signal(DOGE, Side.BUY, Regime.RANGING, "test: after flatten"))
        engine.journal.flush()
        closed = engine.journal.positions("closed")
        assert len(closed) == 1 and closed[0].close_reason.startswith("flatten")
        flatten_orders = [o for o in engine.journal.orders(XRP) if o.purpose == "flatten"]
        assert flatten_orders and all(o.reduce_only for o in flatten_orders)

        engine.resume_entries()
        assert not any("flatten" in r for r in engine.halt_reasons())
        assert engine.submit_signal(Signal(DOGE, Side.BUY, Regime.RANGING, "test: resumed"))


@pytest.mark.timeout(60)
async def test_position_closed_while_private_stream_was_down_is_closed_in_journal_at_reconnect(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=short_entry_timeout)  # wide exits: the engine keeps it
    async with sim_server(seed=9, speed=30) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: order_fresh(engine, XRP) and engine.feed.entries_allowed()[0], 10)
        position = await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)
        runs = engine.reconciler.runs

        server.faults.refuse_connections(0.5)
        server.faults.drop_connections(WS_PRIVATE_PATH)
        assert await wait_until(lambda: not engine.feed.entries_allowed()[0], 5)
        server.exchange.close_position({"instId": XRP, "mgnMode": "cross", "posSide": "long"})  # behind its back
        assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: private stream down"))

        assert await wait_until(lambda: engine.reconciler.runs > runs and engine.feed.entries_allowed()[0], 20)
        assert await wait_until(lambda: not engine.journal.open_positions(), 5)
        engine.journal.flush()
        closed = engine.journal.positions("closed")
        assert len(closed) == 1 and closed[0].snapshot == position.snapshot
        # Settled by the reconciliation after the reconnect, or by the periodic position check before it.
        assert "gone_from_exchange at reconcile (" in closed[0].close_reason
        closing_fills = [f for f in server.exchange.fills(XRP, 10) if f["side"] == "sell"]
        assert closed[0].close_px == pytest.approx(float(closing_fills[0]["fillPx"]))
        assert engine.manager.book.positions == {}
        assert engine.feed.entries_allowed()[0]
