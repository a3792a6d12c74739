"""Issue 10 review: an entry order of a previous run that reconciliation could not cancel is still
working (it may fill into a position nobody decided on): entries halt naming it (Halt.ORDERS_LEFT)
and the re-check cancels it again until it is gone. It used to be a reconcile problem in the log,
with entries open and no retry. Against the simulator and its `busy` fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

XRP = "XRP-USDT-SWAP"
CANCEL_PATH = "/api/v5/trade/cancel-order"
LEFT = "oxePREV1"


def orders_left(engine) -> list[str]:
    return [r for r in engine.halt_reasons() if r.startswith("orders left:")]


@pytest.mark.timeout(90)
async def test_an_earlier_entry_that_cannot_be_cancelled_halts_entries_until_cancelled(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=6, speed=5) as server:
        sim = server.exchange
        sim.set_position_mode("long_short_mode")
        # A previous run's entry (our tag and clOrdId prefix), far below the market: it rests.
        bid = float(sim.ticker_wire(XRP)["bidPx"])
        item = sim.place_order({
            "instId": XRP, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "limit",
            "px": f"{bid * 0.8:.4f}", "sz": "1", "clOrdId": LEFT, "tag": "oxsentry",
        })
        assert item["sCode"] == "0", item
        server.faults.busy(6.0, CANCEL_PATH)  # the start-up reconciliation's cancel is refused
        async with running_engine(config, server, auto_entries=False) as engine:
            reasons = orders_left(engine)
            assert reasons and f"{XRP} {LEFT} live: cancel failed" in reasons[0], engine.halt_reasons()
            assert [o["clOrdId"] for o in sim.orders_pending(XRP)] == [LEFT]
            # The fault ends: a re-check cancels it and the halt clears.
            assert await wait_until(lambda: not orders_left(engine), 40), engine.halt_reasons()
            assert sim.orders_pending(XRP) == []
            assert engine.reconciler is not None and not engine.reconciler.uncancelled
