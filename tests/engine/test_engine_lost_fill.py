"""An entry that fills while its orders push is lost (the symbol's channels stalled): its
timeout cancel is refused (the order is done), and the engine asks the exchange at once instead of
waiting for a push that never comes: the position is in the book, snapshotted, within seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.signals import Signal
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"


async def working_entry(engine: Any) -> None:
    """Submit a post-only buy until one is working on the exchange (one may be refused: it would cross)."""
    def working() -> bool:
        return any(c.pending.ord_id and c.pending.state == "live" for c in engine.entries.values())

    for _ in range(10):
        if not engine.entries and await wait_until(lambda: not engine.halt_reasons(), 10):
            engine.entry_flow.cooldown_until.pop(XRP, None)
            engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test entry"))
        if await wait_until(working, 3):
            return
    raise AssertionError(f"no entry order working; halted by {engine.halt_reasons()}")


def resting_entries(doc: dict[str, Any], timeout_s: float) -> None:
    """Entries priced 0.2 % inside the book (XRP's choppy offset is 0.03 %): on a loaded machine the
    simulator's market moved through a 0.03 % buy before the test's poll saw it working, and the
    filled position then refused every later attempt. The test's own move (0.5 % under the limit)
    still fills it."""
    limit_order = doc["order_executor"]["limit_order"]
    limit_order["timeout_s"] = timeout_s
    limit_order["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"]["limit_offset_percent"] = 0.2


def short_timeout(doc: dict[str, Any]) -> None:
    resting_entries(doc, 3.0)


@pytest.mark.timeout(90)
async def test_a_fill_whose_push_is_lost_is_found_when_the_cancel_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=short_timeout)
    async with sim_server(seed=12, speed=2) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20), engine.halt_reasons()
        await working_entry(engine)
        ctx = next(iter(engine.entries.values()))
        limit_px = float(ctx.pending.priced.request.px)
        server.faults.stall(60.0, inst_id=XRP)  # no orders/positions push for XRP from now on
        server.exchange.move_price(XRP, limit_px * 0.995)  # through the limit: the buy fills
        assert await wait_until(lambda: any(p["instId"] == XRP for p in server.exchange.positions_wire()), 10)
        # No push: the timeout's cancel is refused (filled) and the lookup finds the fill.
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 15), "the fill was missed"
        assert await wait_until(lambda: engine.entries == {}, 10)
        assert await wait_until(lambda: bool(engine.journal.open_positions()), 10)
        server.faults.clear()


def long_timeout(doc: dict[str, Any]) -> None:
    resting_entries(doc, 30.0)


@pytest.mark.timeout(90)
async def test_a_position_push_for_an_entry_in_flight_finds_its_lost_fill_at_once(tmp_path: Path) -> None:
    """Only the orders channel is stalled: the positions push shows the position; with an entry
    in flight for that symbol the engine looks the entry up at once instead of waiting for the
    entry's timeout (a position the console would not show, and maybe without its stop)."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=long_timeout)
    async with sim_server(seed=12, speed=2) as server, running_engine(config, server, auto_entries=False) as engine:
        await working_entry(engine)
        ctx = next(iter(engine.entries.values()))
        server.faults.stall(60.0, channel="orders", inst_id=XRP)
        server.exchange.move_price(XRP, float(ctx.pending.priced.request.px) * 0.995)
        assert await wait_until(lambda: engine.manager.book.get(XRP, "long") is not None, 8), "the fill was missed"
        server.faults.clear()
