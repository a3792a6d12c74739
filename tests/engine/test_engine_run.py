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

SYMBOLS = ["XRP-USDT", "DOGE-USDT", "SOL-USDT", "ETH-USDT", "BTC-USDT"]
TP_SL_TOLERANCE = 0.002  # a market close after the trigger may slip this fraction of price


@pytest.mark.timeout(150)
async def test_free_run_trades_every_regime_and_keeps_the_journal_honest(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS, mutate=tight_exits)
    async with sim_server(seed=7, speed=60) as server:
        async with running_engine(config, server) as engine:

            async def faults() -> None:
                await asyncio.sleep(4)
                server.faults.stall(3.0, inst_id="XRP-USDT-SWAP")
                await asyncio.sleep(5)
                server.faults.drop_connections(WS_PUBLIC_PATH)
                await asyncio.sleep(5)
                server.faults.stall(2.5)

            chaos = asyncio.create_task(faults())

            def closed_regimes() -> set[str]:
                return {p.entry_regime for p in engine.journal.positions("closed")}

            try:
                done = await wait_until(lambda: closed_regimes() >= {r.value for r in Regime}, 100, poll_s=0.5)
            finally:
                chaos.cancel()
                await asyncio.gather(chaos, return_exceptions=True)
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
