"""Issue 10 review: a position the engine did not open, appearing while it runs, whose adoption
fails (the reconciliation's REST queries are refused) is never only a log line: entries halt with
its name (Halt.PRIVATE_EVENTS) until a reconciliation re-synced and adopted it. Against the
simulator and its `busy` fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

XRP = "XRP-USDT-SWAP"
POSITIONS_PATH = "/api/v5/account/positions"


def adoption_reasons(engine) -> list[str]:
    return [r for r in engine.halt_reasons() if r.startswith(f"position {XRP}/long the engine did not open")]


@pytest.mark.timeout(90)
async def test_an_unknown_position_that_cannot_be_adopted_halts_entries_until_resynced(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=6, speed=5) as server:
        sim = server.exchange
        sim.set_position_mode("long_short_mode")
        async with running_engine(config, server, auto_entries=False) as engine:
            assert await wait_until(lambda: not engine.halt_reasons(), 30), engine.halt_reasons()
            # Outlasts the client's bounded GET retries, so the adoption's reconciliation fails.
            server.faults.busy(8.0, POSITIONS_PATH)
            sim.open_position_directly(XRP, "long", 10.0)
            # Old code: the reconciliation's error ended its task with a log line; entries stayed
            # open and the console showed no position.
            assert await wait_until(lambda: bool(adoption_reasons(engine)), 20), engine.halt_reasons()
            assert "halted until a reconciliation re-synced" in adoption_reasons(engine)[0]
            assert engine.manager.book.get(XRP, "long") is None
            # The outage ends: the re-sync adopts it (an orphan, protected) and the halt clears.
            assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 40)
            assert await wait_until(lambda: not adoption_reasons(engine), 20), engine.halt_reasons()
            assert engine.manager.book.get(XRP, "long").orphan_note
