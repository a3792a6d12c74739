"""Defect 12 of issue 10: one set of TP/SL levels. A market entry fills away from the quote its
attached TP/SL were priced from; the levels from the fill's avgPx are the position's, and the
exchange's attached orders are amended to them (POST /trade/amend-algos), so the snapshot's
tp_px/sl_px equal the trigger prices the exchange holds. An amend that fails is an event and is
retried; meanwhile the snapshot holds the exchange's levels (still one set).

Against the simulator over loopback; the levels on the exchange are read from the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.exits import compute_tp_sl
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.positions import ManagedPosition
from okxscalp.engine.signals import Signal
from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import TRADE_AMEND_ALGOS
from okxscalp.okx.models import OrderRequest, PosSide, Regime, Side
from okxscalp.sim.server import SimServer

XRP = "XRP-USDT-SWAP"
TRIES = 10  # market entries until one fills away from its quote (most do: the book moves every step)


def market_entries(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"] = {
        "limit_offset_percent": 0.0, "use_market_order": True,
    }


async def ready(engine: Engine) -> None:
    assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                            and not engine.halt_reasons(), 20), engine.halt_reasons()


def exchange_levels(server: SimServer) -> list[tuple[float, float]]:
    return [(float(a["tpTriggerPx"]), float(a["slTriggerPx"]))
            for a in server.exchange.algo_orders_pending(XRP) if a["posSide"] == "long"]


def one_set(engine: Engine, server: SimServer, position: ManagedPosition) -> bool:
    snap = position.snapshot
    return snap is not None and exchange_levels(server) == [(snap.tp_px, snap.sl_px)]


async def open_market_long(engine: Engine) -> tuple[ManagedPosition, OrderRequest]:
    engine.entry_flow.cooldown_until.pop(XRP, None)
    assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: market entry"))
    (ctx,) = engine.entries.values()
    request = ctx.pending.priced.request
    assert request.ord_type == "market"
    assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None and not engine.entries, 10)
    position = engine.manager.book.get(XRP, "long")
    assert position is not None
    return position, request


async def close_long(engine: Engine, server: SimServer) -> None:
    assert await engine.close_position(XRP, "long", "operator_close", "test: next try")
    assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is None and not server.exchange.positions_wire(XRP), 10)
    assert await wait_until(lambda: not server.exchange.algo_orders_pending(XRP), 10)
    assert await wait_until(lambda: not engine.halt_reasons(), 10), engine.halt_reasons()


def from_fill(engine: Engine, position: ManagedPosition) -> tuple[str, str]:
    snap = position.snapshot
    assert snap is not None
    tpsl = compute_tp_sl(PosSide.LONG, snap.entry_px, snap.exit_params, engine.instruments[XRP], snap.atr_at_entry)
    return tpsl.tp_px_str, tpsl.sl_px_str


def amend_events(engine: Engine, text: str) -> list[Any]:
    return [e for e in engine.snapshot().recent_events
            if e.kind is FallbackKind.POSITION and e.component == "tpsl" and text in e.detail]


async def market_entry_away_from_its_quote(engine: Engine, server: SimServer, *, before_entry: Any = None):
    """Market longs until one fills where the levels from its avgPx differ from the ones it was
    sent with; every one of them must end with one set of levels."""
    for _ in range(TRIES):
        if before_entry is not None:
            before_entry()
        position, request = await open_market_long(engine)
        quote_levels = (request.attach_tp_trigger_px, request.attach_sl_trigger_px)
        fill_levels = from_fill(engine, position)
        if fill_levels != quote_levels:
            return position, quote_levels, fill_levels
        assert await wait_until(lambda p=position: one_set(engine, server, p), 5)
        await close_long(engine, server)
    raise AssertionError(f"no market entry filled away from its quote in {TRIES} tries")


@pytest.mark.timeout(120)
async def test_market_entry_levels_are_the_same_on_the_exchange_and_in_the_snapshot(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=market_entries)
    async with sim_server(seed=11, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        await ready(engine)
        position, quote_levels, fill_levels = await market_entry_away_from_its_quote(engine, server)
        # The levels from the fill's avgPx, on the exchange and in the snapshot, in memory and journaled.
        fill_px = (float(fill_levels[0]), float(fill_levels[1]))
        assert await wait_until(lambda: (position.snapshot.tp_px, position.snapshot.sl_px) == fill_px
                                and one_set(engine, server, position), 5), (exchange_levels(server), position.snapshot)
        snap = position.snapshot
        assert exchange_levels(server) != [(float(quote_levels[0]), float(quote_levels[1]))]
        assert await wait_until(lambda: not position.levels_note, 5), position.levels_note
        await engine.journal.aflush()
        assert [p.snapshot for p in engine.journal.open_positions()] == [position.snapshot]
        assert amend_events(engine, "amended on the exchange")
        (view,) = engine.snapshot().positions
        assert (view.tp_px, view.sl_px) == (snap.tp_px, snap.sl_px) and view.status == ""


@pytest.mark.timeout(120)
async def test_a_failing_amend_is_visible_retried_and_never_a_divergence(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=market_entries)
    async with sim_server(seed=11, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        await ready(engine)
        # amend-algos answers "systems busy" for a while after every entry.
        position, quote_levels, fill_levels = await market_entry_away_from_its_quote(
            engine, server, before_entry=lambda: server.faults.busy(1.2, TRADE_AMEND_ALGOS.path))
        assert await wait_until(lambda: bool(amend_events(engine, "failed")), 5)
        # Meanwhile the snapshot holds the levels the exchange holds (the quote's): one set.
        if position.levels_on_exchange == quote_levels:
            assert (position.snapshot.tp_px, position.snapshot.sl_px) == (float(quote_levels[0]), float(quote_levels[1]))
            assert "amend" in engine.snapshot().positions[0].status
            assert exchange_levels(server) == [(float(quote_levels[0]), float(quote_levels[1]))]
        # Retried until the exchange holds the levels from the fill.
        assert await wait_until(lambda: position.levels_on_exchange == fill_levels, 10), position.levels_note
        assert await wait_until(lambda: one_set(engine, server, position), 5)
        assert engine.snapshot().event_counts.get(FallbackKind.POSITION.value, 0) >= 2  # a failure or more, the amend
        assert await wait_until(lambda: bool(amend_events(engine, "amended on the exchange")), 10)
        assert (position.snapshot.tp_px, position.snapshot.sl_px) == (float(fill_levels[0]), float(fill_levels[1]))
        await engine.journal.aflush()
        assert [p.snapshot for p in engine.journal.open_positions()] == [position.snapshot]
