"""The entry read watch live (engine/entry_reads.py): a stalled instrument is on record as refused
SIGNAL and ORDER reads — one row per purpose when its window opens, one when the prices come back —
in the journal, while the other symbol's feed flows on, and no entry is made for it in the stall. The real
engine against the simulator over loopback; the stall is the simulator's fault injection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.entry_reads import COMPONENT
from okxscalp.engine.orchestrator import Engine
from okxscalp.market.events import FallbackEvent, FallbackKind

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"
STALL_S = 4.0


def _refused(events: tuple[FallbackEvent, ...] | list[FallbackEvent], component: str) -> dict[str, FallbackEvent]:
    """The XRP refusal rows of `component`, by purpose (the detail's first word)."""
    return {e.detail.split(" ")[0]: e for e in events
            if e.kind is FallbackKind.STALE_REFUSED and e.symbol == XRP and e.component == component}


@pytest.mark.timeout(90)
async def test_a_stalled_instrument_shows_as_refused_entry_reads_and_gets_no_entry(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT", "DOGE-USDT"])
    async with sim_server(seed=3, speed=10) as server, running_engine(config, server) as engine:
        def fresh(engine: Engine = engine) -> bool:
            return all(engine.registry.freshness(i).satisfied[Purpose.ORDER] for i in (XRP, DOGE))

        assert await wait_until(lambda: fresh() and not engine.halt_reasons(), 30)
        assert engine.entry_reads is not None and not engine.entry_reads.windows
        stall_from = time.time()
        server.faults.stall(STALL_S, inst_id=XRP)
        assert await wait_until(lambda: set(_refused(engine.bus.recent(), "registry")) == {"order", "signal"}, STALL_S)
        assert not engine.registry.is_fresh(XRP, Purpose.SIGNAL)  # still in the stall
        assert await wait_until(lambda: set(_refused(engine.bus.recent(), COMPONENT)) == {"order", "signal"}, 20)
        await asyncio.sleep(0.3)  # the bus reader journals what the bus delivered
        engine.journal.flush()
        rows = engine.journal.fallback_events()
        opened, closed = _refused(rows, "registry"), _refused(rows, COMPONENT)
        assert set(opened) == set(closed) == {"order", "signal"}
        assert all(stall_from <= e.time < stall_from + STALL_S for e in opened.values())
        assert all("no ticker received" in e.detail for e in opened.values())
        assert all("fresh again" in e.detail and e.source == "ws" for e in closed.values())
        entries_in_stall = [o for o in engine.journal.orders(XRP)
                            if o.purpose == "entry" and stall_from <= o.created_at < stall_from + STALL_S]
        assert entries_in_stall == []
