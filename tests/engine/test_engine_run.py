"""A free-running engine at a high speed factor, with stalls and dropped connections on the way:
it trades in every regime, every closed position was managed by its snapshot, and no order was
priced from a quote older than its purpose's budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, tight_exits, wait_until

from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.okx.models import Regime

SYMBOLS = ["XRP-USDT", "DOGE-USDT", "SOL-USDT"]
TP_SL_TOLERANCE = 0.002  # a market close after the trigger may slip this fraction of price


def busy_trader(doc: dict) -> None:
    """Tight exits and eager signal rules: many round trips per minute in every regime (the test
    is about what the engine does with signals, not about their quality)."""
    tight_exits(doc)
    for profile in doc["symbol_profiles"].values():
        profile["ranging"].update(tp_percent=0.12, sl_percent=0.1)  # the quiet regime moves little
    doc["scalping"]["signals"].update(
        trend_rsi_min=20.0, trend_rsi_max=90.0, pullback_atr=3.0,
        reversion_rsi_low=48.0, reversion_rsi_high=52.0, band_edge_fraction=0.4,
    )
    limit = doc["order_executor"]["limit_order"]
    limit["default_offset_percent"] = 0.01
    for section in [*limit["by_regime"].values(), *(r for s in limit["by_symbol"].values() for r in s["by_regime"].values())]:
        section["limit_offset_percent"] = 0.01


@pytest.mark.timeout(150)
async def test_free_run_trades_every_regime_and_keeps_the_journal_honest(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS, mutate=busy_trader)
    async with sim_server(seed=7, speed=60) as server:
        # Each regime on some symbol from the start, so the run does not wait for the market to
        # wander into all three.
        for inst_id, regime in (("XRP-USDT-SWAP", "trending"), ("DOGE-USDT-SWAP", "ranging"), ("SOL-USDT-SWAP", "choppy")):
            server.exchange.force_regime(inst_id, regime, 7200)
        async with running_engine(config, server) as engine:

            async def faults() -> None:
                await asyncio.sleep(2)
                server.faults.stall(3.0, inst_id="XRP-USDT-SWAP")
                await asyncio.sleep(4)
                server.faults.drop_connections(WS_PUBLIC_PATH)
                await asyncio.sleep(3)
                server.faults.stall(2.5)

            async def free_blocked_symbols() -> None:
                """A position opened before its symbol settled into the forced regime blocks the
                symbol (one per symbol): after a few seconds the operator closes it (no price gap,
                which would disturb the regime)."""
                while True:
                    await asyncio.sleep(1.0)
                    for view in engine.snapshot().positions:
                        detector = engine.detectors[view.inst_id]
                        current = detector.regime.value if detector.regime else None
                        if view.age_s > 3.0 and view.entry_regime != current:
                            engine.request_close(view.inst_id, view.side)

            chaos = asyncio.create_task(faults())
            nudger = asyncio.create_task(free_blocked_symbols())

            def closed_regimes() -> set[str]:  # closed by their TP or SL
                return {
                    p.entry_regime for p in engine.journal.positions("closed")
                    if p.close_reason.startswith(("take_profit", "stop_loss"))
                }

            try:
                done = await wait_until(lambda: closed_regimes() >= {r.value for r in Regime}, 100, poll_s=0.5)
            finally:
                chaos.cancel()
                nudger.cancel()
                await asyncio.gather(chaos, nudger, return_exceptions=True)
            assert done, f"closed positions only in {closed_regimes()}"
            engine.pause_entries()
            journal = engine.journal
            journal.flush()
            closed = journal.positions("closed")
            orders = journal.orders()

    assert closed
    for position in closed:
        snap = position.snapshot
        assert snap is not None, position.snapshot_error
        assert snap.entry_regime.value == position.entry_regime
        reason, px = position.close_reason, position.close_px
        assert px is not None, reason
        long = snap.is_long
        if reason.startswith("take_profit"):
            assert (px >= snap.tp_px * (1 - TP_SL_TOLERANCE)) if long else (px <= snap.tp_px * (1 + TP_SL_TOLERANCE)), reason
        elif reason.startswith("stop_loss"):
            assert (px <= snap.sl_px * (1 + TP_SL_TOLERANCE)) if long else (px >= snap.sl_px * (1 - TP_SL_TOLERANCE)), reason
        elif reason.startswith("operator_close"):
            continue  # freed a blocked symbol (see free_blocked_symbols)
        else:
            raise AssertionError(f"unexpected close reason {reason!r}")
        # TP/SL come from this position's own regime section.
        assert snap.exit_params.tp_percent.source_path.endswith(f".{snap.entry_regime.value}.tp_percent")

    priced = [o for o in orders if o.quote_age_s is not None]
    assert len([o for o in orders if o.purpose == "entry"]) >= 3
    for order in orders:
        if order.purpose in ("entry", "exit"):
            assert order.quote_age_s is not None and order.quote_budget_s is not None, order
    for order in priced:
        assert order.quote_age_s <= order.quote_budget_s, order
        assert order.quote_source in ("ws", "rest")
