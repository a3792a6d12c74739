"""Issue 10 #9: reconciliation concludes nothing from a query that failed. A restart while the
exchange's algo-order listing is busy places no second stop for a position whose stop exists:
the position is named (UNPROTECTED, entries halted, a reconcile problem) until a re-check lists
the algo orders and finds its stop. Against the simulator and its `busy` fault."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until
from test_journal import make_snapshot

from okxscalp.engine.journal import Journal

XRP = "XRP-USDT-SWAP"
ALGOS_PATH = "/api/v5/trade/orders-algo-pending"


def journaled_long_with_stop(server: Any, config: Any, tag: str, *, entered_s_ago: float) -> Any:
    """An XRP long on the exchange (long/short mode) with its journal snapshot (entry `okxs<tag>`)
    and its stand-alone stop (`oxp<tag>`), as a previous run leaves them."""
    sim = server.exchange
    sim.set_position_mode("long_short_mode")
    avg_px = float(sim.open_position_directly(XRP, "long", 10.0)["avgPx"])
    snapshot = dataclasses.replace(
        make_snapshot(f"okxs{tag}", XRP, 10.0), entry_time=time.time() - entered_s_ago, entry_px=avg_px,
        tp_px=round(avg_px * 1.03, 4), sl_px=round(avg_px * 0.98, 4),
    )
    with Journal(config.journal_path) as journal:
        journal.write_snapshot_blocking(snapshot)
    sim.place_algo_order({
        "instId": XRP, "tdMode": "cross", "side": "sell", "posSide": "long", "ordType": "conditional",
        "closeFraction": "1", "slTriggerPx": f"{snapshot.sl_px}", "slOrdPx": "-1", "algoClOrdId": f"oxp{tag}",
    })
    return snapshot


@pytest.mark.timeout(90)
async def test_a_failed_algo_listing_places_no_stop_and_halts_until_verified(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=6, speed=5) as server:
        sim = server.exchange
        # A position of a previous run: its journal snapshot, and its stop on the exchange.
        journaled_long_with_stop(server, config, "PREV1", entered_s_ago=600.0)

        def stops() -> list[dict]:
            return [a for a in sim.algo_orders_pending(XRP) if a["posSide"] == "long" and a["slTriggerPx"]]

        assert len(stops()) == 1
        server.faults.busy(5.0, ALGOS_PATH)  # outlasts the start-up reconciliation and its retries
        async with running_engine(config, server, auto_entries=False) as engine:
            reconciler = engine.reconciler
            assert reconciler is not None
            # Old code read the failed listing as "no stop" and placed a second one.
            assert len(stops()) == 1
            assert engine.manager.book.get(XRP, "long") is not None  # adopted with its snapshot
            report = reconciler.last_report
            assert report is not None and f"{XRP}/long" in report.unverified
            assert any(p.startswith(f"stop of {XRP}/long not verified: the exchange's algo orders could not be listed")
                       for p in report.problems), report.problems
            reasons = engine.halt_reasons()
            assert any(r.startswith(f"unprotected: {XRP}/long: exchange stop not verified") for r in reasons), reasons

            # The outage ends: a re-check lists the algo orders, finds the stop, clears the halt.
            assert await wait_until(lambda: not reconciler.unverified, 30), reconciler.unverified
            assert not any(r.startswith("unprotected") for r in engine.halt_reasons()), engine.halt_reasons()
            assert len(stops()) == 1


@pytest.mark.timeout(90)
async def test_a_reconnect_while_algo_orders_cannot_be_listed_leaves_a_held_position_unverified(tmp_path: Path) -> None:
    """The soak's case: a private reconnect's reconciliation with the algo listing busy and a
    position already managed. Its stop cannot be verified then (it may have been cancelled while the
    stream was down): entries stay halted by name until a listing shows it."""
    from okxscalp.okx.constants import WS_PRIVATE_PATH

    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=6, speed=5) as server:
        sim = server.exchange
        sim.set_position_mode("long_short_mode")
        sim.open_position_directly(XRP, "long", 10.0)  # an orphan: protected by a stop at start-up
        async with running_engine(config, server, auto_entries=False) as engine:
            reconciler = engine.reconciler
            assert reconciler is not None
            assert await wait_until(lambda: not engine.halt_reasons(), 20), engine.halt_reasons()
            runs = reconciler.runs
            server.faults.busy(4.0, ALGOS_PATH)
            server.faults.drop_connections(WS_PRIVATE_PATH)
            assert await wait_until(lambda: reconciler.runs > runs, 20)
            assert await wait_until(lambda: any(r.startswith("unprotected") for r in engine.halt_reasons()), 10), \
                engine.halt_reasons()
            assert await wait_until(lambda: not reconciler.unverified and not engine.halt_reasons(), 30), \
                engine.halt_reasons()


@pytest.mark.timeout(90)
async def test_a_reconnect_whose_algo_listing_fails_leaves_a_recent_position_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The soak's case (algo_list_fail_reconcile): a private reconnect right after an entry filled.
    A position filled within RECENT_ENTRY_S is not re-checked against a listing (its attached stop
    may not be listed yet); when the listing failed, nothing was verified either: old code left it
    neither verified nor unverified and the reconciliation cleared its halt with entries open."""
    from okxscalp.engine import reconcile
    from okxscalp.okx.constants import WS_PRIVATE_PATH

    monkeypatch.setattr(reconcile, "RECENT_ENTRY_S", 3600.0)  # every managed position counts as just filled
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=6, speed=5) as server:
        sim = server.exchange
        journaled_long_with_stop(server, config, "RECENT1", entered_s_ago=1.0)
        async with running_engine(config, server, auto_entries=False) as engine:
            reconciler = engine.reconciler
            assert reconciler is not None
            assert engine.manager.book.get(XRP, "long") is not None  # adopted with its snapshot
            assert await wait_until(lambda: not engine.halt_reasons(), 20), engine.halt_reasons()
            runs = reconciler.runs
            server.faults.busy(4.0, ALGOS_PATH)
            server.faults.drop_connections(WS_PRIVATE_PATH)
            assert await wait_until(lambda: reconciler.runs > runs, 20)
            report = reconciler.last_report
            assert report is not None and f"{XRP}/long" in report.unverified, report
            assert any(r.startswith("unprotected") for r in engine.halt_reasons()), engine.halt_reasons()
            # The outage ends: a re-check lists the stop (no second one placed) and entries open.
            assert await wait_until(lambda: not reconciler.unverified and not engine.halt_reasons(), 30), \
                engine.halt_reasons()
            assert len([a for a in sim.algo_orders_pending(XRP) if a["posSide"] == "long" and a["slTriggerPx"]]) == 1
