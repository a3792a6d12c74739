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
async def sim_server(**kwargs: Any) -> AsyncIterator[SimServer]:
    server = SimServer(**kwargs)
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
