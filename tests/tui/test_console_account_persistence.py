"""Acceptance: quitting the console with a position open and starting again finds the position
where it was (issue 11): the simulator's paper account is kept in its file beside the journal.

Run 1 opens an engine-managed long and quits the console (confirmed). Run 2 — a new simulator,
engine and console on the same journal and account file — shows the same position with its
entry regime and TP/SL from the snapshot, its exchange TP/SL algo is the same one, and nothing is
journaled as gone from the exchange. Run 3 with a fresh account starts flat at the configured
initial equity, the old file kept as a backup.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from okxscalp.config.schema import AppConfig
from okxscalp.engine.orchestrator import Engine
from okxscalp.okx.models import Side
from okxscalp.sim.persist import account_file_for
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.sim_harness import all_fresh, started_sim, wait_for

ENGINE_TESTS = str(Path(__file__).resolve().parents[1] / "engine")
if ENGINE_TESTS not in sys.path:
    sys.path.insert(0, ENGINE_TESTS)
from engine_helpers import make_config, open_position  # noqa: E402

pytestmark = pytest.mark.timeout(180)

XRP = "XRP-USDT-SWAP"
SPEED = 5.0  # entries fill in seconds; below the speeds where loop lag reads as a late feed
STARTUP_S = 30.0


@asynccontextmanager
async def console(config: AppConfig, **server_kwargs: Any) -> AsyncIterator[tuple[ConsoleApp, Any, Any]]:
    """Simulator (with the account file) + the real engine + the console; on exit the console has
    quit and the simulator stopped (which writes the account file)."""
    async with started_sim(config, speed=SPEED, account_file=account_file_for(config.journal_path),
                           **server_kwargs) as server:
        engine = Engine.for_sim(config, server, config.journal_path, auto_entries=False)
        app = ConsoleApp(engine, refresh_hz=10)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(lambda: app.snapshot is not None and all_fresh(app.snapshot), STARTUP_S), (
                "engine never came up fresh"
            )
            yield app, pilot, server
            await app.stop_engine()


def xrp_stop(server: Any) -> dict | None:
    return next((a for a in server.exchange.algo_orders_pending(XRP) if a["posSide"] == "long" and a["slTriggerPx"]),
                None)


def account_files(config: AppConfig) -> tuple[list[str], list[str]]:
    """(the account file if it exists, its backups)."""
    path = Path(account_file_for(config.journal_path))
    return [str(p) for p in path.parent.glob(path.name)], [str(p) for p in path.parent.glob(path.name + ".*.bak")]


def close_reasons(journal: str) -> list[str | None]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT close_reason FROM positions")]


async def test_a_position_survives_quitting_and_restarting_the_console(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])  # the shipped exits (2-5 %): it stays open

    async with console(config) as (app, pilot, server):
        position = await open_position(app.engine, XRP, Side.BUY)
        snap = position.snapshot
        assert await wait_for(lambda: xrp_stop(server) is not None, 20)
        algo_id = xrp_stop(server)["algoId"]
        assert await wait_for(lambda: any(p.inst_id == XRP for p in app.snapshot.positions), 10)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await wait_for(lambda: app.return_code is not None, 30)
    assert account_files(config) == ([account_file_for(config.journal_path)], [])

    async with console(config) as (app, _pilot, server):
        def shown() -> Any:
            return next((p for p in app.snapshot.positions if p.inst_id == XRP and p.side == "long"), None)

        assert await wait_for(lambda: shown() is not None and not shown().orphan, STARTUP_S), app.snapshot.positions
        view = shown()
        assert view.entry_regime == snap.entry_regime.value == "choppy"
        assert view.tp_px == pytest.approx(snap.tp_px) and view.sl_px == pytest.approx(snap.sl_px)
        assert view.entry_px == pytest.approx(snap.entry_px)
        assert f"{XRP}|long" in app.query_one("#positions", KeyedTable).keys
        stop = xrp_stop(server)
        assert stop is not None and stop["algoId"] == algo_id
        assert float(stop["slTriggerPx"]) == pytest.approx(snap.sl_px)
        assert "gone_from_exchange" not in " ".join(r or "" for r in close_reasons(config.journal_path))

    async with console(config, fresh_account=True) as (app, _pilot, server):
        assert server.exchange.positions_wire() == []
        assert await wait_for(lambda: app.snapshot.header.equity is not None, STARTUP_S)
        assert app.snapshot.header.equity == pytest.approx(config.exchange.sim.initial_equity_usdt)
    files, backups = account_files(config)
    assert files == [account_file_for(config.journal_path)] and len(backups) == 1
