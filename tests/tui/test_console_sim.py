"""Acceptance: the console driving the real engine against the embedded simulator (pilot tests).

Every test starts its own simulator on 127.0.0.1:0 and its own engine (as the console's worker),
and stops both. Waits are bounded polls on the simulator or the snapshot, never timing assertions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fake_engine import screen_text

from okxscalp.config.schema import Purpose
from okxscalp.engine.executor import CL_ORD_PREFIX_ENTRY
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.engine_state import EngineState
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.inspector import InspectorScreen
from okxscalp.tui.sim_harness import (
    all_fresh,
    engine_for_sim,
    load_shipped_config,
    rest_flatten_for_sim,
    started_sim,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)

STARTUP_S = 20.0  # connect three WebSockets, log in, subscribe, first ticks
SETTLE_S = 15.0


@asynccontextmanager
async def console_on_sim(tmp_path: Path, **server_kwargs: Any) -> AsyncIterator[tuple[ConsoleApp, Any, Any]]:
    config = load_shipped_config(journal_path=str(tmp_path / "journal.sqlite"))
    async with started_sim(config, **server_kwargs) as server:
        app = ConsoleApp(engine_for_sim(config, server), refresh_hz=10)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(lambda: app.snapshot is not None and all_fresh(app.snapshot), STARTUP_S), (
                "engine never came up fresh"
            )
            yield app, pilot, server
            await app.stop_engine()


def holds(app: ConsoleApp, check: Callable[[Any], bool]) -> Callable[[], bool]:
    return lambda: app.snapshot is not None and check(app.snapshot)


def open_sim_positions(server: Any) -> list[dict]:
    return [p for p in server.exchange.positions_wire(None) if p.get("pos") not in ("", "0")]


def select_row(app: ConsoleApp, table_id: str, key: str) -> None:
    table = app.query_one(f"#{table_id}", KeyedTable)
    table.focus()
    table.move_cursor(row=table.keys.index(key), animate=False)


async def test_r_makes_the_simulator_see_new_connections(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path) as (_app, pilot, server):
        before = sum(server.counters.connections_total.values())
        await pilot.press("r")
        assert await wait_for(lambda: sum(server.counters.connections_total.values()) > before, SETTLE_S)


async def test_flatten_confirmed_leaves_nothing_on_the_simulator(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path) as (app, pilot, server):
        server.exchange.open_position_directly("XRP-USDT-SWAP", "long", 10)
        server.exchange.open_position_directly("DOGE-USDT-SWAP", "short", 10)
        assert await wait_for(holds(app, lambda s: len(s.positions) >= 2), SETTLE_S)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await wait_for(
            lambda: not open_sim_positions(server) and not server.exchange.orders_pending(None), SETTLE_S
        ), (open_sim_positions(server), server.exchange.orders_pending(None))
        assert await wait_for(holds(app, lambda s: not s.header.entries_running), SETTLE_S)


async def test_x_closes_only_the_selected_position(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path) as (app, pilot, server):
        server.exchange.open_position_directly("XRP-USDT-SWAP", "long", 10)
        server.exchange.open_position_directly("DOGE-USDT-SWAP", "short", 10)
        assert await wait_for(holds(app, lambda s: len(s.positions) >= 2), SETTLE_S)
        await pilot.pause(0.2)
        select_row(app, "positions", "DOGE-USDT-SWAP|short")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await wait_for(
            lambda: all(p["instId"] != "DOGE-USDT-SWAP" for p in open_sim_positions(server)), SETTLE_S
        )
        assert any(p["instId"] == "XRP-USDT-SWAP" for p in open_sim_positions(server))


async def test_inspector_shows_the_xrp_choppy_key_path(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path) as (app, pilot, _server):
        select_row(app, "freshness", "XRP-USDT-SWAP")
        await pilot.press("p")
        assert isinstance(app.screen, InspectorScreen)
        await pilot.press("2")  # choppy
        await pilot.pause()
        text = screen_text(app)
        assert "Parameters · XRP-USDT · choppy" in text
        assert "symbol_profiles.XRP-USDT.choppy.tp_percent" in text


async def test_a_stalled_symbol_turns_stale_and_its_fallbacks_stream_in(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path) as (app, pilot, server):
        server.faults.stall(60, inst_id="DOGE-USDT-SWAP")
        assert await wait_for(
            holds(
                app,
                lambda s: any(q.inst_id == "DOGE-USDT-SWAP" and not q.satisfied[Purpose.ORDER] for q in s.quotes)
                and any(e.symbol == "DOGE-USDT-SWAP" for e in s.recent_events),
            ),
            SETTLE_S,
        )
        await pilot.pause(0.3)
        lines = screen_text(app).splitlines()
        doge_freshness = next(line for line in lines if line.startswith(" DOGE-USDT "))
        assert "✗" in doge_freshness  # ORDER (1 s) no longer satisfied
        assert any("DOGE-USDT" in line and line[:3].strip().isdigit() for line in lines), "no DOGE event row"


async def test_pause_stops_new_orders(tmp_path: Path) -> None:
    async with console_on_sim(tmp_path, speed=20.0) as (app, pilot, server):
        await pilot.press("space")
        assert await wait_for(holds(app, lambda s: not s.header.entries_running), SETTLE_S)
        entries_before = entry_orders(server)
        for inst_id in ("XRP-USDT-SWAP", "BTC-USDT-SWAP", "SOL-USDT-SWAP"):
            server.exchange.force_regime(inst_id, "trending", 600.0)
        await pilot.pause(3.0)  # 60 s of simulated market at speed 20
        assert entry_orders(server) == entries_before
        assert "entries HALTED" in screen_text(app)


def entry_orders(server: Any) -> set[str]:
    """clOrdIds of entry orders the simulator received (exits and closes are not entries)."""
    return {cl_ord_id for cl_ord_id in server.counters.orders_by_clordid if cl_ord_id.startswith(CL_ORD_PREFIX_ENTRY)}


async def test_after_the_engine_failed_every_key_answers_and_f_flattens_through_rest(tmp_path: Path) -> None:
    config = load_shipped_config(journal_path=str(tmp_path / "journal.sqlite"))
    async with started_sim(config) as server:
        server.exchange.open_position_directly("XRP-USDT-SWAP", "long", 10)
        server.exchange.open_position_directly("DOGE-USDT-SWAP", "short", 10)
        server.faults.busy(120, "/api/v5/account/config")  # start-up fails after the journal opened
        app = ConsoleApp(engine_for_sim(config, server), refresh_hz=10, rest_flatten=rest_flatten_for_sim(config, server))
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(lambda: app.engine_state is EngineState.FAILED, STARTUP_S)
            await pilot.pause(0.3)
            text = screen_text(app)
            assert "ENGINE FAILED │ entries STOPPED (ExchangeBusy" in text
            for key in ("space", "r", "space", "x"):
                await pilot.press(key)
                assert app.is_running, f"the console exited on {key!r}"
            await pilot.press("f")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            assert await wait_for(lambda: not open_sim_positions(server), SETTLE_S), open_sim_positions(server)
            await app.workers.wait_for_complete()
            assert app.rest_note.startswith("flatten done via REST:"), app.rest_note
            assert "nothing left open" in app.rest_note
            await pilot.press("q")
            await pilot.pause()
        assert app.return_value == 1  # the engine failed: the process says so


async def test_a_dropped_connection_that_recovered_shows_its_error_with_its_age(tmp_path: Path) -> None:
    """Issue 11: an old last_error on a healthy connection reads as history (its age), not a fault."""
    async with console_on_sim(tmp_path) as (app, pilot, server):
        server.faults.drop_connections("/ws/v5/public")
        public_recovered = holds(app, lambda s: any(
            c.name == "public" and c.reconnects >= 1 and c.last_error and c.state.value == "up" for c in s.connections
        ))
        assert await wait_for(public_recovered, SETTLE_S)
        await pilot.pause(0.3)
        line = next(line for line in screen_text(app).splitlines() if line.strip().startswith("public"))
    assert " ago: " in line, line


async def test_the_real_palette_pauses_the_real_engine(tmp_path: Path) -> None:
    from textual.command import CommandList, CommandPalette

    async with console_on_sim(tmp_path) as (app, pilot, _server):
        await pilot.press("ctrl+p")
        assert await wait_for(lambda: isinstance(app.screen, CommandPalette), 5)
        await pilot.press(*"pause")
        assert await wait_for(lambda: app.screen.query_one(CommandList).option_count > 0, 5)
        await pilot.press("enter")
        if isinstance(app.screen, CommandPalette):
            await pilot.press("enter")
        assert await wait_for(holds(app, lambda s: any("operator" in r for r in s.header.halt_reasons)), SETTLE_S)
        assert app.entries_paused
