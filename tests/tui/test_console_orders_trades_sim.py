"""Acceptance: the orders (`o`) and trades (`t`) views against the real engine and the embedded
simulator, at 80x24. An entry the engine sends is listed in the orders view with the age and source
of the quote it was priced from; the position closed from the console (x) is a closed trade with its
entry regime in the trades view, and counted in its regime's row."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from fake_engine import screen_text

from okxscalp.engine.orchestrator import Engine
from okxscalp.okx.models import Side
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.orders import OrdersScreen
from okxscalp.tui.screens.trades import TradesScreen
from okxscalp.tui.sim_harness import all_fresh, started_sim, wait_for

ENGINE_TESTS = str(Path(__file__).resolve().parents[1] / "engine")
if ENGINE_TESTS not in sys.path:
    sys.path.insert(0, ENGINE_TESTS)
from engine_helpers import make_config, open_position  # noqa: E402

pytestmark = pytest.mark.timeout(120)

XRP = "XRP-USDT-SWAP"
SPEED = 5.0  # entries fill in seconds; below the speeds where loop lag reads as a late feed
STARTUP_S = 30.0
SETTLE_S = 20.0


async def test_an_entry_shows_in_the_orders_view_and_its_close_in_the_trades_view(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with started_sim(config, speed=SPEED) as server:
        engine = Engine.for_sim(config, server, config.journal_path, auto_entries=False)
        app = ConsoleApp(engine, refresh_hz=10)
        async with app.run_test(size=(80, 24)) as pilot:
            assert await wait_for(lambda: app.snapshot is not None and all_fresh(app.snapshot), STARTUP_S)
            await pilot.press("o")
            assert isinstance(app.screen, OrdersScreen)
            opening = asyncio.create_task(open_position(engine, XRP, Side.BUY))
            try:
                assert await wait_for(
                    lambda: any(o.role == "entry" and o.inst_id == XRP for o in app.snapshot.orders), SETTLE_S
                ), app.snapshot.orders
                await pilot.pause(0.3)
                entry = next(o for o in app.snapshot.orders if o.role == "entry")
                assert entry.quote_age_s is not None and entry.quote_source in ("ws", "rest")
                row = next(line for line in screen_text(app).splitlines() if line.startswith(" XRP-USDT") and " entry " in line)
                assert "buy" in row and f" {entry.quote_source}" in row  # the quote's age and source
                await opening
            finally:
                opening.cancel()
            assert await wait_for(lambda: any(p.inst_id == XRP for p in app.snapshot.positions), SETTLE_S)
            await pilot.press("escape")
            table = app.query_one("#positions", KeyedTable)
            table.focus()
            await pilot.pause(0.2)
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            assert await wait_for(lambda: any(t.inst_id == XRP for t in app.snapshot.trades), SETTLE_S)
            await pilot.press("t")
            assert isinstance(app.screen, TradesScreen)
            await pilot.pause(0.3)
            lines = screen_text(app).splitlines()
            trade = app.snapshot.trades[0]
            assert "Closed trades (1)" in "\n".join(lines)
            row = next(line for line in lines if " XRP-USDT " in line and line[:1] == " " and line[1:3].isdigit())
            assert trade.entry_regime == "choppy" and " choppy " in row and " long " in row
            regime = next(line for line in lines if line.startswith(" choppy"))
            assert regime.split()[1] == "1"  # one closed trade in its entry regime
            await pilot.press("escape")
            await app.stop_engine()
