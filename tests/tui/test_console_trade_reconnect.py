"""`r` on the connections pane's `trade` row reconnects the WebSocket trade channel (pilot test
against the real engine and the simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from okxscalp.engine.order_route import TRADE_CONNECTION
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.panes.connections import TRADE_ROW
from okxscalp.tui.sim_harness import all_fresh, engine_for_sim, load_shipped_config, started_sim, wait_for

pytestmark = pytest.mark.timeout(90)

STARTUP_S = 20.0
SETTLE_S = 15.0


async def test_r_on_the_trade_row_reconnects_the_trade_channel(tmp_path: Path) -> None:
    assert TRADE_ROW == TRADE_CONNECTION  # the row's key is the name the engine takes
    config = load_shipped_config(journal_path=str(tmp_path / "journal.sqlite"))
    async with started_sim(config) as server:
        engine = engine_for_sim(config, server)
        app = ConsoleApp(engine, refresh_hz=10)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(lambda: app.snapshot is not None and all_fresh(app.snapshot), STARTUP_S)
            channel = engine.trade_channel
            assert channel is not None
            assert await wait_for(lambda: channel.ready, SETTLE_S), "trade channel never logged in"
            before_channel = channel.health().reconnects
            feed_before = {h.name: h.reconnects for h in engine.feed.health()}
            table = app.query_one("#connections", KeyedTable)
            assert await wait_for(lambda: TRADE_ROW in table.keys, SETTLE_S)
            table.focus()
            table.move_cursor(row=table.keys.index(TRADE_ROW), animate=False)
            await pilot.pause()
            notices: list[str] = []
            original_notify = app.notify

            def recording_notify(message: str, *args: object, **kwargs: object) -> None:
                notices.append(str(message))
                original_notify(message, *args, **kwargs)  # type: ignore[arg-type]

            app.notify = recording_notify  # type: ignore[method-assign]
            await pilot.press("r")
            assert await wait_for(lambda: channel.health().reconnects > before_channel and channel.ready, SETTLE_S), (
                channel.health()
            )
            # The shipped config trades meanwhile, so a fill's toast may come too: the reconnect's is one.
            assert [n for n in notices if n.startswith("Reconnect")] == ["Reconnect requested: trade"], notices
            # Only the trade channel: the feed's connections were left alone.
            assert {h.name: h.reconnects for h in engine.feed.health()} == feed_before
            await app.stop_engine()
