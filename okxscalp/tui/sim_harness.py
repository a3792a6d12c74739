"""The real engine against an in-process simulator, for screenshots, the console bench and tests.

No textual here: the bench also runs the engine without the console through this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from okxscalp.config.schema import AppConfig
from okxscalp.engine.views import EngineSnapshot
from okxscalp.okx.auth import Credentials
from okxscalp.okx.health import ConnectionState

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "default.yaml"


def load_shipped_config(path: str | None = None, *, journal_path: str | None = None) -> AppConfig:
    from okxscalp.config import load_config

    config = load_config(path or str(DEFAULT_CONFIG))
    return replace(config, journal_path=journal_path) if journal_path else config


def sim_credentials(config: AppConfig) -> Credentials:
    sim = config.exchange.sim
    return Credentials(sim.api_key, sim.api_secret, sim.passphrase)


def engine_for_sim(config: AppConfig, server: Any) -> Any:
    """An `Engine` (okxscalp.engine.orchestrator) wired to a started `SimServer`."""
    from okxscalp.engine.orchestrator import Engine

    return Engine.for_sim(config, server, config.journal_path)


def rest_flatten_for_sim(config: AppConfig, server: Any) -> Any:
    """The console's REST flatten (for a failed engine) against a started `SimServer`."""
    from okxscalp.engine.rest_flatten import rest_flattener
    from okxscalp.okx.models import inst_id_of

    inst_ids = tuple(inst_id_of(s) for s in config.symbols)
    return rest_flattener(server.rest_url, sim_credentials(config), config.rest, inst_ids, demo=False)


@contextlib.asynccontextmanager
async def started_sim(config: AppConfig, **server_kwargs: Any) -> AsyncIterator[Any]:
    """A SimServer on this loop, on a loopback port, stopped on exit."""
    from okxscalp.sim.server import SimServer, sim_server_options

    kwargs = sim_server_options(config.exchange.sim)
    kwargs["port"] = 0  # tests and screenshots: always an ephemeral port
    kwargs.update(server_kwargs)
    server = SimServer(**kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def all_fresh(snapshot: EngineSnapshot) -> bool:
    """Every symbol has a quote fresh enough for orders and every connection is up."""
    from okxscalp.config.schema import Purpose

    return bool(snapshot.quotes) and all(q.satisfied.get(Purpose.ORDER) for q in snapshot.quotes) and all(
        c.state is ConnectionState.UP for c in snapshot.connections
    )


async def wait_for(predicate: Callable[[], bool], deadline_s: float, *, poll_s: float = 0.05) -> bool:
    """Poll `predicate` on the loop until it holds or the deadline passes; returns whether it held."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(poll_s)
    return predicate()
