"""Defect 6 of issue 10: a failed journal write halts entries at once with a named reason, nothing
is sent that cannot be recorded, and entries reopen once the held rows commit. The journal's own
fault switch makes its commits fail exactly like a full disk (engine/journal_faults.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.journal_faults import JOURNAL_FAULT_FILE_ENV
from okxscalp.engine.order_intents import OrderIntentLog, intents_path
from okxscalp.engine.signals import Signal
from okxscalp.engine.supervisor import Halt
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"


def orders_reaching(server: Any) -> list[dict]:
    """Every order the exchange is asked to place from now on (the exchange's side of the wire)."""
    placed: list[dict] = []
    place_order = server.exchange.place_order

    def counting_place_order(params: dict) -> dict:
        placed.append(params)
        return place_order(params)

    server.exchange.place_order = counting_place_order
    return placed


@pytest.mark.timeout(90)
async def test_journal_write_failure_halts_entries_until_the_rows_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fault = tmp_path / "disk-full"
    monkeypatch.setenv(JOURNAL_FAULT_FILE_ENV, str(fault))
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=3, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20), engine.halt_reasons()
        placed = orders_reaching(server)
        fault.write_text("armed")
        engine.pause_entries()  # any journal write: the pause's event row
        engine.resume_entries()
        assert await wait_until(lambda: any("journal" in r for r in engine.halt_reasons()), 10), engine.halt_reasons()
        # Nothing may be sent while the journal cannot record it.
        assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test entry while the disk is full"))
        assert engine.entries == {}
        assert placed == []
        assert await wait_until(lambda: any(
            e.kind is FallbackKind.ENTRY_GATE and "entries halted" in e.detail and "journal" in e.detail
            for e in engine.snapshot().recent_events), 5), "the halt is an event the operator sees"
        fault.unlink()
        assert await wait_until(lambda: engine.journal.write_failure is None, 20)
        assert await wait_until(lambda: not engine.halt_reasons(), 10), engine.halt_reasons()
        assert not engine.supervisor.reasons(XRP)
        assert Halt.JOURNAL.value == "journal"


@pytest.mark.timeout(90)
async def test_a_close_goes_out_while_the_journal_cannot_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reducing exposure comes first: an operator close waits for its journal row only while the
    journal is healthy; on a full disk it is sent, with an event, and its row lands later."""
    fault = tmp_path / "disk-full"
    monkeypatch.setenv(JOURNAL_FAULT_FILE_ENV, str(fault))
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=3, speed=20) as server:
        server.exchange.open_position_directly(XRP, "long", 10.0)
        async with running_engine(config, server, auto_entries=False) as engine:
            assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 10)
            fault.write_text("armed")
            engine.pause_entries()  # a journal write, so the failure is known
            assert await wait_until(lambda: engine.journal.write_failure is not None, 10)
            engine.request_close(XRP, "long")
            assert await wait_until(lambda: not server.exchange.positions_wire(), 15), "the close was held back"
            assert await wait_until(lambda: any(
                e.kind is FallbackKind.SAFETY and "before its journal row committed" in e.detail
                for e in engine.snapshot().recent_events), 5)
            fault.unlink()
            assert await wait_until(lambda: engine.journal.write_failure is None, 20)


@pytest.mark.timeout(90)
async def test_an_entry_whose_intent_cannot_be_logged_is_not_sent_and_entries_halt(tmp_path: Path) -> None:
    """The pre-send intent (engine/order_intents.py) is what makes an order's record survive a kill
    -9 after its frame leaves: an entry that cannot log it is not sent, and entries halt, visibly."""
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=3, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20), engine.halt_reasons()
        placed = orders_reaching(server)
        engine.journal._intents._map.close()  # the mapping gone: no intent can be logged
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "entry whose intent cannot be logged"))
        assert engine.entries == {}
        assert await wait_until(lambda: any("order intent log" in r for r in engine.halt_reasons()), 10), \
            engine.halt_reasons()
        assert await wait_until(lambda: any(
            e.kind is FallbackKind.SAFETY and "not sent" in e.detail and "intent log" in e.detail
            for e in engine.snapshot().recent_events), 5)
        await engine.journal.aflush()
        assert placed == []  # nothing reached the exchange
        assert all(o.purpose != "entry" for o in engine.journal.orders())


@pytest.mark.timeout(90)
async def test_an_intent_left_by_a_kill_is_journaled_shown_and_settled_at_the_next_start(tmp_path: Path) -> None:
    """A kill -9 after an entry's frame and before its row: the next start journals it as sent from
    the intent log, says so in an event, and reconciliation settles it with the exchange."""
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    left = OrderIntentLog(intents_path(config.journal_path))  # what the killed process left behind
    left.append((1_796_000_000.0, "oxe179600000000000001", XRP, "buy", "long", "post_only", "2.2", "10", "entry",
                 "ws", 0.1, 1.0, 1_796_000_000_000, "oxe179600000000000001"))
    left.close(all_committed=False)
    async with sim_server(seed=3, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        assert engine.journal.recovered_intents == ("oxe179600000000000001",)
        assert any(e.kind is FallbackKind.SAFETY and "recovered from the pre-send intent log" in e.detail
                   for e in engine.snapshot().recent_events)
        # The exchange never had it: the start-up reconciliation settles the row.
        assert await wait_until(lambda: (row := engine.journal.order("oxe179600000000000001")) is not None
                                and row.state == "not_placed", 20)
