"""Defect 2 of issue 10: a snapshot write that fails after an entry fill must not make the position
vanish. It is in the engine's book and on screen marked unsnapshotted, entries are halted naming it
(`Halt.UNSNAPSHOTTED`), its exchange-side stop is verified (listed by the exchange, or a protective
stop placed), the write is retried visibly until it commits, and then the halt clears.

Against the simulator over loopback; the journal's failure is ours to fake: its test fault switch
(commits fail like a full disk, the rows are held) or its snapshot write raising."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.journal import JournalError
from okxscalp.engine.journal_faults import JOURNAL_FAULT_FILE_ENV
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.signals import Signal
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.engine.supervisor import Halt
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Regime, Side
from okxscalp.sim.server import SimServer

XRP = "XRP-USDT-SWAP"


def resting_entries(doc: dict[str, Any]) -> None:
    """XRP entries in choppy rest 0.3 % under the bid until the test moves the market onto them
    (the shipped exits, TP 3 % / SL 2 %: the position stays open while the test looks at it)."""
    doc["order_executor"]["limit_order"]["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"] = {"limit_offset_percent": 0.3}
    doc["order_executor"]["limit_order"]["timeout_s"] = 60.0


def market_entries(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"] = {
        "limit_offset_percent": 0.0, "use_market_order": True,
    }


async def ready(engine: Engine) -> None:
    assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                            and not engine.halt_reasons(), 20), engine.halt_reasons()


def position_events(engine: Engine, text: str) -> list[Any]:
    return [e for e in engine.snapshot().recent_events if e.kind is FallbackKind.POSITION and text in e.detail]


def listed_stops(server: SimServer) -> list[dict]:
    return [a for a in server.exchange.algo_orders_pending(XRP) if a["posSide"] == "long" and a["slTriggerPx"]]


def assert_unsnapshotted_and_visible(engine: Engine) -> None:
    position = engine.manager.book.get(XRP, "long")
    assert position is not None and position.snapshot is not None and position.unsnapshotted
    assert engine.supervisor.is_set(Halt.UNSNAPSHOTTED)
    assert any(XRP in r and "unsnapshotted" in r for r in engine.halt_reasons()), engine.halt_reasons()
    (view,) = engine.snapshot().positions
    assert view.inst_id == XRP and view.unsnapshotted and "UNSNAPSHOTTED" in view.status
    assert view.tp_px == position.snapshot.tp_px and view.sl_px == position.snapshot.sl_px
    assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: entry while unsnapshotted"))


async def assert_written_and_cleared(engine: Engine) -> PositionSnapshot:
    position = engine.manager.book.get(XRP, "long")
    assert position is not None
    assert await wait_until(lambda: not position.unsnapshotted and not engine.supervisor.is_set(Halt.UNSNAPSHOTTED), 20)
    assert not any("unsnapshotted" in r for r in engine.halt_reasons()), engine.halt_reasons()
    await engine.journal.aflush()
    assert [p.snapshot for p in engine.journal.open_positions()] == [position.snapshot]
    assert not engine.snapshot().positions[0].unsnapshotted
    assert position_events(engine, "written after")
    return position.snapshot


@pytest.mark.timeout(120)
async def test_disk_full_at_the_fill_keeps_the_position_visible_protected_and_entries_halted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = tmp_path / "disk-full"
    monkeypatch.setenv(JOURNAL_FAULT_FILE_ENV, str(fault))
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=resting_entries)
    async with sim_server(seed=7, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        await ready(engine)
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: entry that fills on a full disk"))
        assert await wait_until(lambda: any(c.pending.ord_id for c in engine.entries.values()), 10)
        (ctx,) = engine.entries.values()
        limit_px = float(ctx.pending.priced.request.px)
        await engine.journal.aflush()  # the order's rows are in; from here on nothing commits
        fault.write_text("armed")

        server.exchange.move_price(XRP, limit_px * (1 - 0.05 / 100))  # the market trades through the bid
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 15), \
            "the filled position must be in the book even though its snapshot cannot be written"
        assert await wait_until(lambda: engine.supervisor.is_set(Halt.UNSNAPSHOTTED), 10), engine.halt_reasons()
        assert_unsnapshotted_and_visible(engine)
        position = engine.manager.book.get(XRP, "long")
        assert engine.journal.open_positions() == []  # really not written
        assert position_events(engine, "not written")

        # Its exchange-side protection was verified: the attached stop is listed.
        assert await wait_until(lambda: position.protection.startswith("exchange stop verified"), 10), position.protection
        (attached,) = listed_stops(server)
        assert float(attached["slTriggerPx"]) == position.snapshot.sl_px
        # The stop goes (cancelled behind the engine's back): the next round places a protective one.
        server.exchange.cancel_algos([{"instId": XRP, "algoId": attached["algoId"]}])
        assert await wait_until(lambda: any(a["algoClOrdId"].startswith("oxp") for a in listed_stops(server)), 20), \
            position.protection
        (placed,) = listed_stops(server)
        assert float(placed["slTriggerPx"]) == position.snapshot.sl_px and placed["ordType"] == "conditional"
        assert await wait_until(lambda: bool(position_events(engine, "protective stop placed")), 5)
        assert engine.manager.book.get(XRP, "long") is position and position.unsnapshotted

        fault.unlink()  # the disk has room again
        await assert_written_and_cleared(engine)
        assert await wait_until(lambda: not engine.halt_reasons(), 20), engine.halt_reasons()


@pytest.mark.timeout(90)
async def test_snapshot_write_that_raises_is_retried_until_it_commits(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=market_entries)
    async with sim_server(seed=5, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        await ready(engine)
        journal = engine.journal
        real_write = journal.write_snapshot_durably
        attempts: list[PositionSnapshot] = []
        failing = True

        async def write_snapshot_durably(snapshot: PositionSnapshot) -> int:
            attempts.append(snapshot)
            if failing:
                raise JournalError("journal write failed: snapshot: injected by the test")
            return await real_write(snapshot)

        journal.write_snapshot_durably = write_snapshot_durably  # type: ignore[method-assign]
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: entry whose snapshot write raises"))
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 10)
        assert await wait_until(lambda: engine.supervisor.is_set(Halt.UNSNAPSHOTTED), 10), engine.halt_reasons()
        assert_unsnapshotted_and_visible(engine)
        position = engine.manager.book.get(XRP, "long")
        assert "injected by the test" in position.unsnapshotted_why
        assert await wait_until(lambda: len(attempts) >= 3, 10), "the write is retried"
        # An event per failure (the bus folds repeats into one event with a count; its counts are exact).
        assert engine.snapshot().event_counts.get(FallbackKind.POSITION.value, 0) >= len(attempts) - 1
        assert await wait_until(lambda: position.protection.startswith("exchange stop verified"), 10), position.protection
        assert len(listed_stops(server)) == 1

        failing = False
        snapshot = await assert_written_and_cleared(engine)
        assert snapshot.entry_px == position.avg_px
        await asyncio.sleep(0.5)
        tries = len(attempts)
        await asyncio.sleep(1.0)
        assert len(attempts) == tries, "no write after it committed"


@pytest.mark.timeout(60)
async def test_a_private_push_that_cannot_be_handled_halts_entries_until_a_reconciliation_resynced(
    tmp_path: Path,
) -> None:
    """The private loop used to log such an error and carry on: the fill it carried was lost."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=market_entries)
    async with sim_server(seed=5, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        await ready(engine)
        router = engine.private_events
        handle = router.handle
        failed: list[Any] = []

        async def handle_failing_once(push: Any) -> None:
            if not failed:
                failed.append(push)
                raise RuntimeError("injected: this push could not be handled")
            await handle(push)

        router.handle = handle_failing_once  # type: ignore[method-assign]
        runs = engine.reconciler.runs
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: its first push is lost"))
        assert await wait_until(lambda: bool(failed), 10)
        assert await wait_until(lambda: engine.supervisor.is_set(Halt.PRIVATE_EVENTS) or engine.reconciler.runs > runs, 5)
        assert await wait_until(lambda: any(
            e.kind is FallbackKind.ENTRY_GATE and "could not be handled" in e.detail for e in engine.snapshot().recent_events
        ), 5), "the halt is an event the operator sees"
        # A reconciliation re-syncs from REST (the entry's fill included) and only then entries reopen.
        assert await wait_until(lambda: engine.reconciler.runs > runs and not engine.supervisor.is_set(Halt.PRIVATE_EVENTS), 15)
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 10)
        assert server.exchange.positions_wire(XRP)
        assert await wait_until(lambda: not engine.halt_reasons(), 10), engine.halt_reasons()
        assert router.failures == 1
