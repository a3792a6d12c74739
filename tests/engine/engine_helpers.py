"""Helpers for tests that run the engine in-process against a real SimServer on 127.0.0.1:0
(imported by tests/engine/conftest.py and the engine tests; a unique module name, unlike conftest)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from okxscalp.config import default_config_path, load_config
from okxscalp.config.schema import AppConfig
from okxscalp.engine.orchestrator import Engine
from okxscalp.sim.calibration import use_calm_market_thresholds
from okxscalp.sim.server import SimServer


def make_config(
    tmp_path: Path,
    *,
    symbols: list[str] | None = None,
    mutate: Callable[[dict[str, Any]], None] | None = None,
    name: str = "config.yaml",
) -> AppConfig:
    """The shipped config with a journal in tmp_path, optionally fewer symbols and edits."""
    doc = yaml.safe_load(Path(default_config_path()).read_text())
    doc["journal"]["path"] = str(tmp_path / "journal.sqlite")
    use_calm_market_thresholds(doc)  # these tests run against SimServer's calm market
    if symbols is not None:
        doc["symbols"] = symbols
    if mutate is not None:
        mutate(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_config(str(path))


def tight_exits(doc: dict[str, Any], tp: float = 0.25, sl: float = 0.25) -> None:
    """TP/SL close to entry so positions close within seconds at a high speed factor. The regime
    sections keep different values (choppy < ranging < trending) so the snapshot's regime shows."""
    limits = doc["scalping"]["exit_limits"]
    limits["tp_min_percent"] = 0.05
    limits["sl_min_percent"] = 0.05
    for profile in doc["symbol_profiles"].values():
        profile["trending"].update(tp_percent=round(tp * 1.6, 4), sl_percent=round(sl * 1.2, 4))
        profile["choppy"].update(tp_percent=tp, sl_percent=sl)
        profile["ranging"].update(tp_percent=round(tp * 1.3, 4), sl_percent=round(sl * 1.1, 4))


@contextlib.asynccontextmanager
async def sim_server(*, scheduled_funding: bool = False, **kwargs: Any) -> AsyncIterator[SimServer]:
    """A started SimServer. Its 8-hourly funding settlements charge positions only when asked: at
    these speed factors a test may span one (00/08/16 UTC of sim time, which runs from the wall
    clock), and it would move the P&L the test asserts. Funding tests settle on demand."""
    server = SimServer(**kwargs)
    server.exchange.set_scheduled_funding(scheduled_funding)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(poll_s)
    return predicate()


@contextlib.asynccontextmanager
async def running_engine(config: AppConfig, server: SimServer, **kwargs: Any) -> AsyncIterator[Engine]:
    """An Engine started against `server`; cancelled and awaited on exit (no task outlives it)."""
    engine = Engine.for_sim(config, server, **kwargs)
    task = asyncio.create_task(engine.run(), name="engine-under-test")
    started = asyncio.create_task(engine.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()  # raises the start-up error
        raise AssertionError("engine returned during start-up")
    if started not in done:
        started.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError("engine did not start within 30 s")
    try:
        yield engine
    finally:
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        if results and isinstance(results[0], Exception):
            raise results[0]


async def open_position(engine: Engine, inst_id: str, side: Any, regime: Any = None, deadline_s: float = 40.0) -> Any:
    """Submit entries (in `regime`, choppy by default) until one fills and its order is done (a
    post-only limit may time out unfilled, or be refused: then retry). Returns the managed position."""
    from okxscalp.config.schema import Purpose
    from okxscalp.engine.signals import Signal
    from okxscalp.okx.models import PosSide, Regime, Side

    regime = regime or Regime.CHOPPY
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    pos_side = PosSide.LONG if side is Side.BUY else PosSide.SHORT
    while loop.time() < end:
        position = engine.manager.book.get(inst_id, pos_side.value)
        busy = any(c.plan.inst_id == inst_id for c in engine.entries.values())
        if position is not None and position.snapshot is not None and not busy:
            return position
        ready = engine.registry.freshness(inst_id).satisfied[Purpose.ORDER] and engine.feed.entries_allowed()[0]
        if not busy and ready:
            engine.entry_flow.cooldown_until.pop(inst_id, None)
            engine.submit_signal(Signal(inst_id, side, regime, f"test entry in {regime.value}"))
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {inst_id} {side.value} position within {deadline_s}s")
