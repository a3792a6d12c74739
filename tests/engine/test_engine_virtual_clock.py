"""The unchanged Engine on one injected clock: `Engine(clock=loop.clock)` against the simulator on
the same VirtualTimeEventLoop (backtest/DESIGN.md). Ten simulated minutes take seconds; every
freshness age, stamp, id and wait is simulated time; two runs in one process write the same journal."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine_helpers import make_config, open_position, tight_exits, wait_until
from journal_rows import journal_rows_hash

from okxscalp.backtest.clock import VIRTUAL_MONO_ORIGIN_S, VirtualTimeEventLoop, run_virtual
from okxscalp.clock import LiveClock
from okxscalp.config.schema import AppConfig, Purpose
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.positions import CloseReason
from okxscalp.okx.models import PosSide, Side
from okxscalp.sim.server import SimServer

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"
START_WALL_S = 1_600_000_000.0  # 2020-09-13: far from today's wall clock, so a real read stands out
RUN_S = 600.0  # ten simulated minutes
SEED = 11




async def _run(config: AppConfig, journal: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeEventLoop)
    clock = loop.clock
    server = SimServer(host="127.0.0.1", port=0, seed=SEED, speed=1.0, inst_ids=[XRP, DOGE], tick_interval_s=0.1,
                       drive_interval_s=0.1, clock=clock)
    server.exchange.set_scheduled_funding(False)
    await server.start()
    seen: dict[str, Any] = {"halts_after_start": set(), "max_ticker_age_s": 0.0}
    try:
        engine = Engine.for_sim(config, server, journal_path=str(journal), clock=clock, seed=SEED)
        task = asyncio.create_task(engine.run(), name="engine-on-virtual-clock")
        assert await wait_until(lambda: engine.started.is_set() or task.done(), 60)
        assert not task.done(), engine.ended
        assert await wait_until(lambda: not engine.halt_reasons(), 30), engine.halt_reasons()
        seen["started_at_s"] = clock.mono_s() - VIRTUAL_MONO_ORIGIN_S
        position = await open_position(engine, XRP, Side.BUY, deadline_s=120)
        assert await engine.close_position(XRP, PosSide.LONG.value, CloseReason.OPERATOR, "test close")
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is None, 60)
        seen["entry_cl_ord_id"] = position.snapshot.entry_cl_ord_id
        end = START_WALL_S + RUN_S
        while clock.wall_s() < end:  # the rest of the ten minutes: watch the gate and the ages
            await asyncio.sleep(5.0)
            seen["halts_after_start"].update(engine.halt_reasons())
            age = engine.registry.freshness(XRP).age_s
            assert age is not None
            seen["max_ticker_age_s"] = max(seen["max_ticker_age_s"], age)
            assert engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
        seen["wall_at_end"] = clock.wall_s()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert engine.ended == "stopped"
        seen["stopped_at"] = clock.wall_s()
    finally:
        await server.stop()
    return seen


def _run_once(tmp_path: Path, name: str) -> tuple[dict[str, Any], Path]:
    run_dir = tmp_path / name
    run_dir.mkdir()
    config = make_config(run_dir, symbols=["XRP-USDT", "DOGE-USDT"], mutate=tight_exits)
    journal = run_dir / "journal.sqlite"
    return run_virtual(lambda: _run(config, journal), START_WALL_S), journal


def test_the_engine_runs_ten_simulated_minutes_on_the_injected_clock(tmp_path: Path) -> None:
    first, journal = _run_once(tmp_path, "a")
    # Freshness on simulated time: the feed is never late, no halt after start-up, fresh for orders.
    assert first["halts_after_start"] == set()
    assert first["max_ticker_age_s"] < 1.0
    assert first["wall_at_end"] >= START_WALL_S + RUN_S
    # Journal stamps and clOrdIds are simulated time (the run's wall starts in 2020).
    conn = sqlite3.connect(journal)
    try:
        stamps = [t for (t,) in conn.execute(
            "SELECT created_at FROM orders UNION ALL SELECT updated_at FROM orders UNION ALL "
            "SELECT time FROM fallback_events UNION ALL SELECT recorded_at FROM fills UNION ALL "
            "SELECT opened_at FROM positions UNION ALL SELECT closed_at FROM positions UNION ALL "
            "SELECT applied_at FROM schema_version")]
        cl_ord_ids = [c for (c,) in conn.execute("SELECT cl_ord_id FROM orders")]
        fill_ts = [t for (t,) in conn.execute("SELECT ts_ms FROM fills")]
    finally:
        conn.close()
    assert len(cl_ord_ids) >= 2 and len(fill_ts) >= 2  # an entry and its close, both filled
    assert first["stopped_at"] < START_WALL_S + RUN_S + 10  # shutdown's own waits are simulated too
    assert all(START_WALL_S <= t <= first["stopped_at"] for t in stamps), stamps
    assert all(START_WALL_S * 1000 <= t <= (START_WALL_S + RUN_S) * 1000 for t in fill_ts)  # the exchange's time too
    assert all(str(int(START_WALL_S))[:6] in cl for cl in cl_ord_ids), cl_ord_ids
    # The same run again in this process: the same journal, row for row (ids, stamps, events).
    second, journal_again = _run_once(tmp_path, "b")
    assert second["entry_cl_ord_id"] == first["entry_cl_ord_id"]
    assert journal_rows_hash(journal_again) == journal_rows_hash(journal)


def test_without_a_clock_the_engine_reads_the_os_clocks(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    server = SimServer(host="127.0.0.1", port=0)
    engine = Engine.for_sim(config, server)
    assert isinstance(engine.clock, LiveClock) and engine.seed is None
    assert engine.clock.mono_s is time.monotonic and engine.clock.wall_s is time.time  # no extra call live
    assert engine._rng("rest") is None  # live jitter stays unseeded
