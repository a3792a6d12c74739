"""Operator actions around the engine's life: a flatten asked for while starting is carried out
once start-up completes; after run() ended every action refuses with a clear error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import make_config, sim_server, wait_until

from okxscalp.engine.orchestrator import Engine, EngineNotRunning

XRP = "XRP-USDT-SWAP"


@pytest.mark.timeout(90)
async def test_flatten_requested_while_starting_runs_once_started(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=4, speed=20) as server:
        server.exchange.open_position_directly(XRP, "long", 10.0)
        engine = Engine.for_sim(config, server, auto_entries=False)
        engine.request_flatten()  # before start-up: only the halt …
        assert "flatten: halted until resumed" in engine.halt_reasons()
        task = asyncio.create_task(engine.run())
        try:
            # … and the flatten itself once the engine runs.
            assert await wait_until(lambda: engine.started.is_set(), 30)
            assert await wait_until(lambda: not server.exchange.positions_wire(), 20), server.exchange.positions_wire()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.timeout(60)
async def test_actions_after_the_engine_ended_refuse_clearly(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=4, speed=20) as server:
        engine = Engine.for_sim(config, server, auto_entries=False)
        task = asyncio.create_task(engine.run())
        assert await wait_until(lambda: engine.started.is_set(), 30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert engine.ended == "stopped"
    assert "engine stopped" in engine.halt_reasons()
    for action in (engine.request_flatten, engine.pause_entries, engine.resume_entries,
                   lambda: engine.request_close(XRP, "long"), lambda: engine.request_reconnect(None)):
        with pytest.raises(EngineNotRunning, match="engine not running"):
            action()


@pytest.mark.timeout(60)
async def test_a_failed_engine_task_halts_entries_until_the_operator_resumes(tmp_path: Path) -> None:
    from engine_helpers import running_engine

    from okxscalp.engine.supervisor import Halt
    from okxscalp.market.events import FallbackKind

    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=4, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        async def broken() -> None:
            raise RuntimeError("a bug in a side task")

        engine._spawn(broken(), "close XRP-USDT-SWAP")
        assert await wait_until(lambda: engine.supervisor.is_set(Halt.INTERNAL), 5)
        assert any("close XRP-USDT-SWAP" in r and "failed" in r for r in engine.halt_reasons())
        assert await wait_until(lambda: any(e.kind is FallbackKind.SAFETY and "a bug in a side task" in e.detail
                                            for e in engine.snapshot().recent_events), 5)
        engine.resume_entries()
        assert not engine.supervisor.is_set(Halt.INTERNAL)


@pytest.mark.timeout(60)
async def test_an_entry_that_cannot_be_planned_is_an_event_and_sends_nothing(tmp_path: Path) -> None:
    from engine_helpers import running_engine

    from okxscalp.config.schema import Purpose
    from okxscalp.engine.signals import Signal
    from okxscalp.market.events import FallbackKind
    from okxscalp.okx.models import Regime, Side

    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=4, speed=5) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20), engine.halt_reasons()

        def broken(*_args: object, **_kw: object) -> None:
            raise KeyError("tp_percent")  # a parameter the provider cannot resolve (our own part failing)

        engine.provider.resolve = broken  # type: ignore[method-assign]
        engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test entry"))
        assert engine.entries == {}
        assert await wait_until(lambda: any(e.kind is FallbackKind.SAFETY and "not planned" in e.detail
                                            for e in engine.snapshot().recent_events), 5)
