"""Acceptance (issue 11, "what a newcomer sees"): the console with the shipped config and the default
simulator trades at once. Within 60 s of the start a position is in the positions pane with its
entry regime, TP/SL and sources; within 180 s one has gone all the way round (entry -> exit: a
closed position in the journal with its close reason and realised P&L). For seeds 1-5, at speed 1.

It runs the real console (ConsoleApp) with the real engine against the embedded simulator built
from config/default.yaml's `exchange.sim` (only the seed differs). Waits are polls; the measured
times are printed (`pytest -s` shows them); the only deadlines are the acceptance ones.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from rich.text import Text

from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.panes.positions import PositionsPane
from okxscalp.tui.rows import MISSING
from okxscalp.tui.sim_harness import engine_for_sim, load_shipped_config, started_sim, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FIRST_POSITION_S = 60.0
FIRST_CYCLE_S = 180.0
REGIMES = ("trending", "choppy", "ranging")


def plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def position_on_screen(app: ConsoleApp) -> str | None:
    """A positions-pane row showing an entry regime and TP/SL prices, with the sources line under the
    table naming both key paths (the row is selected when it is the first); else None."""
    pane = app.query_one(PositionsPane)
    table = pane.query_one("#positions", KeyedTable)
    for key in table.keys:
        cells = [plain(cell) for cell in table._cells[key]]
        regime, tp_px, sl_px = cells[4], cells[5], cells[7]
        if regime in REGIMES and MISSING not in (tp_px, sl_px) and tp_px and sl_px:
            sources = plain(pane.sources._shown or "")
            if "TP symbol_profiles." in sources and "SL symbol_profiles." in sources:
                return " | ".join(cells[:9]) + " || " + sources
    return None


def first_closed_position(journal: Path) -> tuple[str, str, str, float] | None:
    """(instrument, entry regime, close reason, realised P&L) of a position the journal has closed."""
    if not journal.exists():
        return None
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT inst_id, entry_regime, close_reason, realised_pnl FROM positions WHERE state = 'closed' "
            "AND close_reason IS NOT NULL AND realised_pnl IS NOT NULL ORDER BY closed_at LIMIT 1"
        ).fetchone()
    return None if row is None else (row[0], row[1], row[2], float(row[3]))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_a_newcomer_sees_a_position_within_a_minute_and_a_full_cycle_within_three(
    tmp_path: Path, seed: int
) -> None:
    journal = tmp_path / "journal.sqlite"
    config = load_shipped_config(journal_path=str(journal))
    started = time.monotonic()
    async with started_sim(config, seed=seed) as server:  # the shipped sim settings, this seed
        assert server.exchange.speed == 1.0
        app = ConsoleApp(engine_for_sim(config, server), refresh_hz=10)
        async with app.run_test(size=(160, 45)):
            shown: list[str] = []

            def position_shown() -> bool:
                row = position_on_screen(app)
                if row is not None:
                    shown.append(row)
                return row is not None

            assert await wait_for(position_shown, FIRST_POSITION_S - (time.monotonic() - started)), (
                f"seed {seed}: no position in the positions pane within {FIRST_POSITION_S:.0f} s"
            )
            first_position_s = time.monotonic() - started
            closed: list[tuple[str, str, str, float]] = []

            def cycled() -> bool:
                found = first_closed_position(journal)
                if found is not None:
                    closed.append(found)
                return found is not None

            assert await wait_for(cycled, FIRST_CYCLE_S - (time.monotonic() - started), poll_s=0.25), (
                f"seed {seed}: no closed position in the journal within {FIRST_CYCLE_S:.0f} s"
            )
            first_cycle_s = time.monotonic() - started
            await app.stop_engine()
    inst_id, regime, reason, pnl = closed[-1]
    print(
        f"\nnewcomer seed {seed}: first position on screen after {first_position_s:.1f} s ({shown[-1]}); "
        f"first full cycle after {first_cycle_s:.1f} s ({inst_id} {regime}: {reason}, realised P&L {pnl:+.4f})"
    )
    assert regime in REGIMES and reason
