"""The soak's episodes against a real simulator (no engine): when one applies its fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from okxscalp.okx.constants import TRADE_ORDERS_ALGO_PENDING
from okxscalp.sim.server import SimServer
from okxscalp.soak import episodes
from okxscalp.soak.episodes import MachineryRunner
from okxscalp.soak.schedule import Episode
from okxscalp.soak.taps import OrderLedger

XRP = "XRP-USDT-SWAP"


def runner(server: SimServer, tmp_path: Path) -> MachineryRunner:
    return MachineryRunner(server, None, OrderLedger(), tmp_path / "fault", lambda: True)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
async def test_the_algo_list_episode_waits_for_a_position_to_protect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no position a failed algo listing leaves no stop unverified (engine/reconcile.py halts
    by position): the episode is deferred to the next gap, and in the last one recorded as not
    applied, never judged as a bite the engine had no halt to answer (the quick soak's failure)."""
    monkeypatch.setattr(episodes, "STATE_WAIT_S", 0.3)
    episode = Episode(2, "algo_list_fail_reconcile", {"seconds": 0.2})
    server = SimServer(seed=6, speed=5)
    await server.start()
    try:
        run = runner(server, tmp_path)
        await run.run_episode(episode, last_chance=False)
        assert run.deferred == [episode] and run.faults == []
        await run.run_episode(episode, last_chance=True)
        (fault,) = run.faults
        assert fault.ended is None and "not applied" in fault.notes[0]
        assert not server.faults.busy_active(TRADE_ORDERS_ALGO_PENDING.path)

        server.exchange.set_position_mode("long_short_mode")
        server.exchange.open_position_directly(XRP, "long", 10.0)
        run = runner(server, tmp_path)
        await run.run_episode(episode, last_chance=False)
        (fault,) = run.faults
        assert run.deferred == [] and fault.ended is not None and fault.notes == [] and fault.problems == []
    finally:
        await server.stop()
