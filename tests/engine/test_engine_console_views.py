"""What the operator sees of a running engine against the simulator (issue 11): orders with the
quote each was priced from, the attached TP/SL, rejections (a row, an event and a notice), closed
trades with regime, reason, P&L and fees (surviving a restart), per-regime stats, the equity's age
and a failing balance refresh, and notices for fills, an SL hit, closes and a flatten."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, tight_exits, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.signals import Signal
from okxscalp.engine.views import OrderView, TradeView
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"
BALANCE_PATH = "/api/v5/account/balance"
MARGIN_MSG = "Order failed. Insufficient USDT margin in account"


def ready(engine: Engine) -> bool:
    return engine.registry.freshness(XRP).satisfied[Purpose.ORDER] and not engine.halt_reasons()


def orders(engine: Engine, role: str) -> list[OrderView]:
    return [o for o in engine.snapshot().orders if o.role == role and o.inst_id == XRP]


def notices(engine: Engine, kind: str) -> list[str]:
    return [f"{n.title}: {n.text}" for n in engine.snapshot().notices if n.kind == kind]


@pytest.mark.timeout(90)
async def test_an_entry_shows_with_its_quote_and_its_attached_tp_sl_then_an_sl_hit_is_a_trade(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=tight_exits)
    async with sim_server(seed=7, speed=10) as server:
        async with running_engine(config, server, auto_entries=False) as engine:
            assert await wait_until(lambda: ready(engine), 20), engine.halt_reasons()
            assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: console entry"))
            pending = next(iter(engine.entries.values())).pending
            assert await wait_until(lambda: bool(orders(engine, "entry")), 5)
            entry = orders(engine, "entry")[0]
            request, quote = pending.priced.request, pending.priced.quote
            assert (entry.key, entry.side, entry.pos_side, entry.ord_type) == (request.cl_ord_id, "buy", "long", "post_only")
            assert entry.px == float(request.px) and entry.sz == float(request.sz)
            assert (entry.quote_age_s, entry.quote_source) == (quote.age_s, quote.source)

            position = await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)
            snap = position.snapshot
            assert any(n.startswith("Entry filled: XRP-USDT-SWAP long") for n in notices(engine, "fill"))
            # The attached TP/SL, at the snapshot's levels, live once the exchange's listing is verified.
            assert await wait_until(lambda: [o.state for o in orders(engine, "tp") + orders(engine, "sl")] == ["live", "live"], 15)
            (tp,), (sl,) = orders(engine, "tp"), orders(engine, "sl")
            assert (tp.px, sl.px) == (pytest.approx(snap.tp_px), pytest.approx(snap.sl_px))
            assert (tp.side, tp.sz, tp.ord_type) == ("sell", position.size, "oco")

            # The price gaps through the SL: the exchange's attached stop closes it.
            server.exchange.move_price(XRP, snap.sl_px * (1 - 0.3 / 100))
            assert await wait_until(lambda: bool(engine.snapshot().trades), 20)
            assert await wait_until(lambda: engine.snapshot().trades[0].fees is not None, 5)
            (trade,) = engine.snapshot().trades
            assert_sl_trade(trade, snap.entry_cl_ord_id, snap.entry_px)
            assert any(n.startswith("SL hit: XRP-USDT-SWAP long") and "stop_loss_exchange" in n for n in notices(engine, "sl"))
            # Its attached TP/SL end with it: the SL filled, the TP cancelled.
            assert [o.state for o in orders(engine, "sl")] == ["filled"] and [o.state for o in orders(engine, "tp")] == ["canceled"]
            summary = engine.snapshot().trades_summary
            assert summary is not None and summary.unknown_pnl == 0
            (choppy,) = summary.by_regime
            assert (choppy.regime, choppy.count, choppy.wins, choppy.losses) == ("choppy", 1, 0, 1)
            assert choppy.avg_loss == pytest.approx(trade.realised_pnl) and choppy.win_loss_ratio is None
            day_pnl, limit = engine.account.day_pnl()
            assert (summary.day_pnl, summary.daily_loss_limit) == (day_pnl, limit) and limit is not None and limit > 0
            assert summary.day_pnl == pytest.approx(trade.realised_pnl + trade.fees)  # the day counts gross P&L
            before = engine.snapshot().trades

        # A restart: the trade comes back from the journal, fees and all.
        async with running_engine(config, server, auto_entries=False) as engine:
            (again,) = engine.snapshot().trades
            # The same figures (closed_at is the journal's, written a moment before the engine's own)
            assert dataclasses.replace(again, closed_at=0.0) == dataclasses.replace(before[0], closed_at=0.0)
            assert again.closed_at == pytest.approx(before[0].closed_at, abs=1.0)
            assert [s.regime for s in engine.snapshot().trades_summary.by_regime] == ["choppy"]


def assert_sl_trade(trade: TradeView, entry_cl_ord_id: str, entry_px: float) -> None:
    assert (trade.entry_cl_ord_id, trade.inst_id, trade.side) == (entry_cl_ord_id, XRP, "long")
    assert (trade.entry_regime, trade.reason) == ("choppy", "stop_loss_exchange")
    assert trade.entry_px == entry_px and trade.exit_px is not None and trade.exit_px < entry_px
    assert trade.fees is not None and trade.fees > 0
    assert trade.realised_pnl is not None and trade.realised_pnl < 0 and trade.pnl_bound is None
    assert trade.closed_at >= trade.opened_at


def market_ranging_entries(doc: dict[str, Any]) -> None:
    tight_exits(doc)
    doc["order_executor"]["limit_order"]["by_regime"]["ranging"]["use_market_order"] = True  # fills at once


@pytest.mark.timeout(90)
async def test_a_rejected_entry_is_a_row_an_event_and_a_notice_and_a_flatten_is_told(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=market_ranging_entries)
    async with sim_server(seed=3, speed=10) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: ready(engine), 20), engine.halt_reasons()
        server.faults.reject_next_order("51008", MARGIN_MSG)
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: rejected"))
        assert await wait_until(lambda: [o.state for o in orders(engine, "entry")] == ["rejected"], 5)
        (row,) = orders(engine, "entry")
        assert row.detail == f"51008 {MARGIN_MSG}"
        events = [e for e in engine.snapshot().recent_events if e.kind is FallbackKind.ORDER_REJECTED]
        assert len(events) == 1 and events[0].symbol == XRP and f"rejected: 51008 {MARGIN_MSG}" in events[0].detail
        assert engine.snapshot().event_counts[FallbackKind.ORDER_REJECTED.value] == 1
        (rejected,) = [n for n in engine.snapshot().notices if n.kind == "rejected"]
        assert rejected.severity == "error" and "51008" in rejected.text

        await open_position(engine, XRP, Side.SELL, Regime.RANGING)
        engine.request_flatten()
        assert await wait_until(lambda: bool(notices(engine, "flatten")), 15)
        assert notices(engine, "flatten")[-1].startswith("Flatten complete")
        assert any(n.startswith("Closed: XRP-USDT-SWAP short") and "(flatten)" in n for n in notices(engine, "close"))
        (trade,) = engine.snapshot().trades
        assert (trade.entry_regime, trade.reason, trade.side) == ("ranging", "flatten", "short")
        assert trade.realised_pnl is not None
        seqs = [n.seq for n in engine.snapshot().notices]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        flatten_rows = orders(engine, "flatten")
        assert flatten_rows and flatten_rows[0].state == "filled" and flatten_rows[0].quote_age_s is None


@pytest.mark.timeout(60)
async def test_a_failing_balance_refresh_shows_its_error_and_the_equitys_growing_age(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=5, speed=5) as server, running_engine(config, server, auto_entries=False) as engine:
        header = engine.snapshot().header
        assert header.balance_error == "" and header.equity_age_s is not None and header.equity_age_s < 10
        server.faults.busy(20.0, BALANCE_PATH)
        server.faults.stall(20.0, channel="account")  # no account push renews it either
        assert await wait_until(lambda: BALANCE_PATH in engine.snapshot().header.balance_error, 15)
        first = engine.snapshot().header.equity_age_s
        assert await wait_until(lambda: engine.snapshot().header.equity_age_s > first + 1.0, 10)
        assert engine.snapshot().header.equity is not None  # the last known equity stays, with its age


@pytest.mark.timeout(60)
async def test_an_orphans_protective_stop_shows_as_an_order_placed_then_found_listed_after_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])  # orphan_policy: protect
    async with sim_server(seed=5, speed=5) as server:
        server.exchange.open_position_directly(XRP, "long", 10)
        async with running_engine(config, server, auto_entries=False) as engine:
            (stop,) = orders(engine, "stop")
            (algo,) = server.exchange.algo_orders_pending(XRP)
            assert (stop.state, stop.side, stop.pos_side, stop.ord_type) == ("live", "sell", "long", "conditional")
            assert stop.px == float(algo["slTriggerPx"]) and stop.sz == 10.0  # sz "all": the position's size
        async with running_engine(config, server, auto_entries=False) as engine:
            (stop,) = orders(engine, "stop")  # placed by the earlier run: found listed
            assert (stop.key, stop.state, stop.sz) == (algo["algoId"], "live", 10.0)
