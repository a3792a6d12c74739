"""Start-up checks against the simulator: the account's position mode, leverage on the exchange
before the first order and the check of the exchange's actual leverage before every entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.orchestrator import Engine, EngineStartError
from okxscalp.engine.signals import Signal
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"


@pytest.mark.timeout(60)
async def test_net_mode_simulator_without_positions_is_switched_and_leverage_is_set(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=2, speed=5) as server:
        server.exchange.set_position_mode("net_mode")
        assert server.exchange.leverage_info("cross", XRP)[0]["lever"] == "10"  # the simulator's default
        async with running_engine(config, server, auto_entries=False) as engine:
            assert server.exchange.config_wire()["posMode"] == "long_short_mode"
            # scalping.leverage: 5 was set on the exchange before any order.
            assert float(server.exchange.leverage_info("cross", XRP)[0]["lever"]) == 5.0
            state = engine.leverage[XRP]
            assert state.mismatch == "" and state.resolution.source_path == "scalping.leverage"


@pytest.mark.timeout(60)
async def test_net_mode_with_positions_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=2, speed=5) as server:
        server.exchange.set_position_mode("net_mode")
        server.exchange.open_position_directly(XRP, "net", 10.0)
        engine = Engine.for_sim(config, server)
        with pytest.raises(EngineStartError) as err:
            await engine.run()
        message = str(err.value)
        assert "net_mode" in message and "long_short_mode" in message and "1 open position" in message


@pytest.mark.timeout(60)
async def test_leverage_changed_behind_the_engine_stops_entries_for_that_symbol(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=2, speed=5) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER], 10)
        server.exchange.set_leverage({"instId": XRP, "lever": "3", "mgnMode": "cross"})
        await engine.refresh_leverage()
        problem = engine.leverage[XRP].mismatch
        assert "resolved 5.0 from scalping.leverage" in problem
        assert "symbol_profiles.XRP-USDT.leverage=missing" in problem  # the chain the provider tried
        assert "exchange reports lever 3 (leverage-info)" in problem
        assert problem in engine.halt_reasons()
        sent_before = sum(server.counters.orders_by_clordid.values())
        assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: leverage mismatch"))
        assert sum(server.counters.orders_by_clordid.values()) == sent_before
        assert any(
            e.kind is FallbackKind.ENTRY_GATE and "leverage mismatch" in e.detail for e in engine.snapshot().recent_events
        )


def orphan_flatten(doc: dict) -> None:
    doc["scalping"]["orphan_policy"] = "flatten"


@pytest.mark.timeout(60)
async def test_orphan_policy_flatten_closes_an_unknown_position_at_start(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=orphan_flatten)
    async with sim_server(seed=2, speed=5) as server:
        server.exchange.open_position_directly(XRP, "short", 20.0)
        async with running_engine(config, server, auto_entries=False) as engine:
            assert await wait_until(lambda: not server.exchange.positions_wire(XRP), 5)
            assert await wait_until(lambda: not engine.manager.book.positions, 5)
            engine.journal.flush()
            closes = [o for o in engine.journal.orders(XRP) if o.purpose == "close"]
            assert len(closes) == 1 and closes[0].reduce_only and "orphan policy flatten" in closes[0].detail
            assert engine.journal.positions() == []  # an orphan never gets a snapshot or a regime


@pytest.mark.timeout(60)
async def test_position_appearing_while_running_is_an_orphan_and_gets_a_stop(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])  # orphan_policy: protect, orphan_sl_percent: 2.0
    async with sim_server(seed=2, speed=5) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.feed.entries_allowed()[0], 10)
        item = server.exchange.open_position_directly(XRP, "long", 20.0)
        assert await wait_until(lambda: any(p.orphan for p in engine.snapshot().positions), 5)
        view = next(p for p in engine.snapshot().positions if p.orphan)
        assert view.inst_id == XRP and view.side == "long" and view.entry_regime is None and view.tp_px is None
        assert await wait_until(lambda: bool(server.exchange.algo_orders_pending(XRP)), 5)
        stop = server.exchange.algo_orders_pending(XRP)[0]
        assert stop["posSide"] == "long" and stop["side"] == "sell" and stop["closeFraction"] == "1"
        assert float(stop["slTriggerPx"]) == pytest.approx(float(item["avgPx"]) * 0.98, rel=1e-3)


@pytest.mark.timeout(60)
async def test_a_protective_stop_that_fired_is_settled_in_the_journal_at_reconcile(tmp_path: Path) -> None:
    # Soak finding: orphan stops stayed `live` in the journal after the exchange had fired them.
    config = make_config(tmp_path, symbols=["XRP-USDT"])  # orphan_policy: protect, orphan_sl_percent: 2.0
    async with sim_server(seed=2, speed=5) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.feed.entries_allowed()[0], 10)
        item = server.exchange.open_position_directly(XRP, "long", 20.0)
        assert await wait_until(lambda: bool(server.exchange.algo_orders_pending(XRP)), 5)
        server.exchange.move_price(XRP, float(item["avgPx"]) * 0.95)  # through the 2 % stop
        assert await wait_until(lambda: not server.exchange.positions_wire(XRP), 10)
        assert engine.reconciler is not None
        await engine.reconciler.run("test")
        engine.journal.flush()
        stops = [o for o in engine.journal.orders(XRP) if o.purpose == "protect"]
        assert stops and all(o.state == "gone" for o in stops), [(o.cl_ord_id, o.state) for o in stops]
