"""`okxscalp screenshots`: drive the real engine against an in-process simulator with faults, and save
SVG screenshots of the console headless (textual `save_screenshot`).

The market is the seeded simulator and the waits are bounded, so the pictures are representative,
not byte-identical from run to run (clock times and ages differ).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from okxscalp.config.schema import Purpose
from okxscalp.okx.constants import WS_PUBLIC_PATH
from okxscalp.okx.health import ConnectionState
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.inspector import InspectorScreen
from okxscalp.tui.screens.orders import OrdersScreen
from okxscalp.tui.screens.trades import TradesScreen
from okxscalp.tui.sim_harness import all_fresh, engine_for_sim, load_shipped_config, started_sim, wait_for
from okxscalp.tui.trade_rows import is_working

log = logging.getLogger("okxscalp.tui.screenshots")

# File names the README refers to.
NORMAL = "console-normal.svg"
STALLED = "console-stalled-symbol.svg"
RECONNECTING = "console-reconnecting.svg"
INSPECTOR = "console-inspector.svg"
FLATTEN = "console-flatten-confirm.svg"
ORDERS = "console-orders.svg"
TRADES = "console-trades.svg"
SCREENSHOT_FILES = (NORMAL, ORDERS, STALLED, RECONNECTING, INSPECTOR, FLATTEN, TRADES)

STALLED_SYMBOL = "DOGE-USDT-SWAP"
INSPECTED_SYMBOL = "XRP-USDT-SWAP"
TRENDING_SYMBOLS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP")
WARM_UP_S = 30.0  # connect, subscribe, first ticks
# At 6x, with every symbol pushed into a trend, the engine usually enters within a minute; the
# shots are taken either way.
SIM_SPEED = 6.0
POSITION_WAIT_S = 60.0
FAULT_WAIT_S = 15.0
TRADE_WAIT_S = 20.0  # a close confirmed in the console is a closed trade in seconds


async def take_screenshots(
    out: Path, *, size: tuple[int, int] = (120, 36), config_path: str | None = None
) -> list[Path]:
    """Write the screenshots into the existing directory `out`; returns the files written."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="okxscalp-screenshots-") as tmp:
        config = load_shipped_config(config_path, journal_path=str(Path(tmp) / "journal.sqlite"))
        async with started_sim(config, speed=SIM_SPEED) as server:
            app = ConsoleApp(engine_for_sim(config, server), refresh_hz=10)
            async with app.run_test(size=size) as pilot:

                def snapshot_holds(check: Callable[..., bool]) -> Callable[[], bool]:
                    return lambda: app.snapshot is not None and check(app.snapshot)

                async def shot(name: str) -> None:
                    await pilot.pause(0.3)  # let the last sample render
                    written.append(Path(app.save_screenshot(filename=name, path=str(out))))

                if not await wait_for(snapshot_holds(all_fresh), WARM_UP_S):
                    log.warning("engine not fully fresh after %.0fs; taking the shots anyway", WARM_UP_S)
                for inst_id in TRENDING_SYMBOLS:
                    server.exchange.force_regime(inst_id, "trending", 600.0)
                await wait_for(snapshot_holds(lambda s: bool(s.positions)), POSITION_WAIT_S)
                await shot(NORMAL)

                # The orders view: the other symbols' entries being worked, the position's TP/SL.
                await wait_for(
                    snapshot_holds(lambda s: any(o.role == "entry" and is_working(o) for o in s.orders)), FAULT_WAIT_S
                )
                await pilot.press("o")
                if isinstance(app.screen, OrdersScreen):
                    await shot(ORDERS)
                    await pilot.press("escape")

                # A symbol stalls with its connection up: it turns stale and its fallbacks stream in.
                server.faults.stall(FAULT_WAIT_S * 2, inst_id=STALLED_SYMBOL)
                await wait_for(
                    snapshot_holds(
                        lambda s: any(q.inst_id == STALLED_SYMBOL and not q.satisfied.get(Purpose.SIGNAL) for q in s.quotes)
                        and sum(e.symbol == STALLED_SYMBOL for e in s.recent_events) >= 3
                    ),
                    FAULT_WAIT_S,
                )
                await shot(STALLED)
                server.faults.clear()

                # The public connection drops and its reconnects are refused for a while.
                server.faults.refuse_connections(FAULT_WAIT_S)
                server.faults.drop_connections(path=WS_PUBLIC_PATH)
                await wait_for(
                    snapshot_holds(
                        lambda s: any(
                            c.name == "public" and c.state is ConnectionState.RECONNECTING and c.next_retry_mono
                            for c in s.connections
                        )
                    ),
                    FAULT_WAIT_S,
                )
                await shot(RECONNECTING)
                server.faults.clear()
                await wait_for(snapshot_holds(all_fresh), WARM_UP_S)

                # The parameter inspector for XRP-USDT in its choppy section.
                table = app.query_one("#freshness", KeyedTable)
                table.focus()
                if INSPECTED_SYMBOL in table.keys:
                    table.move_cursor(row=table.keys.index(INSPECTED_SYMBOL), animate=False)
                await pilot.press("p")
                if isinstance(app.screen, InspectorScreen):
                    await pilot.press("2")
                    await shot(INSPECTOR)
                    await pilot.press("escape")

                await pilot.press("f")
                if isinstance(app.screen, ConfirmScreen):
                    await shot(FLATTEN)
                    await pilot.press("n")

                # The trades view, after the console closed a position (x): a trade in its regime.
                positions = app.query_one("#positions", KeyedTable)
                positions.focus()
                await pilot.press("x")
                if isinstance(app.screen, ConfirmScreen):
                    await pilot.press("y")
                await wait_for(snapshot_holds(lambda s: bool(s.trades)), TRADE_WAIT_S)
                await pilot.press("t")
                if isinstance(app.screen, TradesScreen):
                    await shot(TRADES)
                    await pilot.press("escape")

                await pilot.press("q")
                if isinstance(app.screen, ConfirmScreen):
                    await pilot.press("y")
                await pilot.pause()
    missing = [name for name in SCREENSHOT_FILES if out / name not in written]
    if missing:
        log.error("screenshots not taken: %s", ", ".join(missing))
    return written

