"""Order entry over the private WebSocket's trade channel against the simulator (issue 13): entries,
cancels and closes go over WS (the simulator's REST order paths see nothing); a dropped channel
sends them over REST with ORDER_VIA_REST events and comes back to WS; with the REST fallback
forbidden, entries halt (Halt.TRADE_CHANNEL) while a close still goes out; a quote that ages past
its ORDER budget while the order waits for its rate budget is not sent."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, tight_exits, wait_until

from okxscalp.config import ConfigError
from okxscalp.config.schema import Purpose
from okxscalp.engine.entries import QuoteAgedAtSend, order_fresh_at_send
from okxscalp.engine.orchestrator import Engine
from okxscalp.engine.order_route import close_as_order
from okxscalp.engine.positions import CloseReason
from okxscalp.engine.signals import Signal
from okxscalp.engine.supervisor import Halt
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import Quote
from okxscalp.metrics.collector import EngineCollector
from okxscalp.okx.constants import TRADE_CANCEL_ORDER, TRADE_CLOSE_POSITION, TRADE_ORDER, WS_PRIVATE_PATH
from okxscalp.okx.models import Instrument, PosSide, Regime, Side

XRP = "XRP-USDT-SWAP"


def order_fresh(engine: Engine, inst_id: str) -> bool:
    return engine.registry.freshness(inst_id).satisfied[Purpose.ORDER]


def resting_entries(doc: dict[str, Any]) -> None:
    """XRP choppy entries priced 3 % away (they rest) and cancelled after 1 s unfilled."""
    tight_exits(doc)
    limit = doc["order_executor"]["limit_order"]
    limit["timeout_s"] = 1.0
    limit["by_symbol"]["XRP-USDT"]["by_regime"]["choppy"]["limit_offset_percent"] = 3.0


def route_events(engine: Engine) -> list[Any]:
    return [e for e in engine.bus.recent() if e.kind is FallbackKind.ORDER_VIA_REST]


class WsOps(Counter[str]):
    """WebSocket trade ops by `op` as the simulator's /private handler got them, and the clOrdIds of
    the orders placed that way (a simulator-side tap)."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: set[str] = set()


def tap_ws_ops(server: Any) -> WsOps:
    ops = WsOps()
    handle = server.hub.trade.handle

    def counted(session: Any, client_id: str | None, op: str, args: Any) -> None:
        ops[op] += 1
        if op == "order":
            ops.placed.update(str(a.get("clOrdId", "")) for a in args if isinstance(a, dict))
        handle(session, client_id, op, args)

    server.hub.trade.handle = counted
    return ops


def rest_orders(server: Any, ws_ops: WsOps) -> tuple[int, int, int]:
    """Orders of ours (entries, WS-style closes) placed over REST: every placement the simulator
    counted less those over WS; REST cancel-order and close-position requests."""
    ours = [cl for cl in server.counters.orders_by_clordid if cl.startswith(("oxe", "oxx"))]
    closes_by_rest = server.counters.requests[TRADE_CLOSE_POSITION.path]
    placed = sum(server.counters.orders_by_clordid[cl] for cl in ours if cl not in ws_ops.placed) - closes_by_rest
    return placed, server.counters.requests[TRADE_CANCEL_ORDER.path], closes_by_rest


async def close_and_wait(engine: Engine, inst_id: str, side: str) -> None:
    assert await engine.close_position(inst_id, side, CloseReason.OPERATOR, "test close")
    assert await wait_until(lambda: engine.manager.book.get(inst_id, side) is None, 20)


async def submit_tracked(engine: Engine, signal: Signal, within_s: float = 10.0) -> str:
    """Submit `signal` until an entry is tracked (a quote that is not ORDER-fresh at pricing refuses
    it before any order exists: asked again); returns its clOrdId."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if order_fresh(engine, signal.inst_id) and not engine.halt_reasons():
            engine.entry_flow.cooldown_until.pop(signal.inst_id, None)
            if engine.submit_signal(signal) and engine.entries:
                return next(iter(engine.entries))
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {signal.inst_id} entry tracked within {within_s}s")


async def ws_ready(engine: Engine) -> bool:
    return await wait_until(lambda: engine.trade_channel is not None and engine.trade_channel.ready, 15)


# ---- pure parts --------------------------------------------------------------------------------


def test_close_as_order_is_a_market_order_on_the_reduce_side() -> None:
    inst = Instrument(XRP, ct_val=100.0, tick_sz="0.0001", lot_sz="1", min_sz="1", max_leverage=75)
    long_close = close_as_order(XRP, PosSide.LONG, 12.0, inst, cl_ord_id="oxx1", td_mode="isolated", tag="t")
    assert not isinstance(long_close, str)
    assert (long_close.side, long_close.pos_side, long_close.ord_type, long_close.sz) == (Side.SELL, PosSide.LONG, "market", "12")
    assert not long_close.reduce_only  # long/short mode: posSide says which position (reduceOnly is net mode's)
    short_close = close_as_order(XRP, PosSide.SHORT, 3.0, inst, cl_ord_id="oxx2", td_mode="cross", tag="t")
    assert not isinstance(short_close, str) and short_close.side is Side.BUY
    # A size the order cannot carry exactly: not a WS order (REST close-position needs no size).
    assert isinstance(close_as_order(XRP, PosSide.LONG, 2.5, inst, cl_ord_id="x", td_mode="cross", tag=""), str)
    assert isinstance(close_as_order(XRP, PosSide.LONG, 0.0, inst, cl_ord_id="x", td_mode="cross", tag=""), str)
    assert isinstance(close_as_order(XRP, PosSide.NET, 1.0, inst, cl_ord_id="x", td_mode="cross", tag=""), str)
    assert isinstance(close_as_order(XRP, PosSide.LONG, 1.0, None, cl_ord_id="x", td_mode="cross", tag=""), str)


def test_order_fresh_at_send_refuses_a_quote_past_its_budget() -> None:
    quote = Quote(XRP, 1.0, 0.99, 1.01, "ws", 0.2, 1.0, Purpose.ORDER, 0, 0.0)
    ages = iter([0.9, 1.2])
    check = order_fresh_at_send(lambda _q: next(ages), quote)
    check()  # 0.9 s ≤ 1 s: sent
    with pytest.raises(QuoteAgedAtSend, match=r"aged 1\.200s > ORDER budget 1s"):
        check()


def test_order_entry_keys_are_validated_with_their_paths(tmp_path: Path) -> None:
    def bad(doc: dict[str, Any]) -> None:
        doc["order_entry"] = {"transport": "wss", "rest_fallback": "no"}

    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, mutate=bad)
    text = str(err.value)
    assert "order_entry.transport" in text and "order_entry.rest_fallback" in text
    shipped = make_config(tmp_path, name="shipped.yaml")
    assert (shipped.order_entry.transport, shipped.order_entry.rest_fallback) == ("ws", True)


# ---- against the simulator ---------------------------------------------------------------------


@pytest.mark.timeout(90)
async def test_entry_cancel_and_close_go_over_the_websocket(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=tight_exits)
    async with sim_server(seed=11, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        ws_ops = tap_ws_ops(server)
        assert await ws_ready(engine)
        assert await wait_until(lambda: order_fresh(engine, XRP) and not engine.halt_reasons(), 20)
        position = await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)
        entry_cl = position.snapshot.entry_cl_ord_id
        assert server.counters.orders_by_clordid[entry_cl] == 1
        await close_and_wait(engine, XRP, "long")
        engine.journal.flush()
        closes = [r for r in engine.journal.orders(XRP) if r.purpose == "close"]
        assert len(closes) == 1 and closes[0].state == "filled"
        assert server.counters.orders_by_clordid[closes[0].cl_ord_id] == 1
        placed, _cancelled, closed = rest_orders(server, ws_ops)
        assert (placed, closed) == (0, 0), "entry and close went over REST"
        assert ws_ops["order"] >= 2  # the entry and the close, as WS `order` ops
        assert engine.order_route.via_ws >= 2 and engine.order_route.via_rest == 0
        assert not route_events(engine)
        view = engine.snapshot().trade_channel
        assert view is not None and (view.transport, view.state, view.via_rest) == ("ws", "logged_in", 0)
        assert view.sent >= 2 and view.last_rtt_ms is not None
        families = {m.name: m for m in EngineCollector(engine).collect()}
        assert [s.labels for s in families["okxscalp_trade_channel_state"].samples] == [{"transport": "ws", "state": "logged_in"}]
        assert families["okxscalp_orders_via_rest"].samples[0].value == 0

    # A resting entry cancelled after its timeout: the cancel goes over WS as well.
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=resting_entries, name="resting.yaml")
    async with sim_server(seed=12, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        ws_ops = tap_ws_ops(server)
        assert await ws_ready(engine)
        assert await wait_until(lambda: order_fresh(engine, XRP) and not engine.halt_reasons(), 20)
        cl = await submit_tracked(engine, Signal(XRP, Side.BUY, Regime.CHOPPY, "resting entry"))
        assert await wait_until(lambda: cl not in engine.entries, 15)
        assert server.exchange.get_order(XRP, cl_ord_id=cl)["state"] == "canceled"
        assert rest_orders(server, ws_ops)[:2] == (0, 0)
        assert ws_ops["order"] == 1 and ws_ops["cancel-order"] >= 1
        assert server.counters.orders_by_clordid[cl] == 1


@pytest.mark.timeout(120)
async def test_trade_channel_dropped_orders_go_over_rest_then_back_to_ws(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=tight_exits)
    async with sim_server(seed=13, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        ws_ops = tap_ws_ops(server)
        assert await ws_ready(engine)
        assert await wait_until(lambda: order_fresh(engine, XRP) and not engine.halt_reasons(), 20)
        await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)

        def back_on_ws() -> list[Any]:
            return [e for e in route_events(engine) if e.source == "ws"]

        # Every /private connection dropped and new ones refused for a while: the close goes over
        # REST close-position, with its event.
        server.faults.refuse_connections(3.0)
        server.faults.drop_connections(path=WS_PRIVATE_PATH)
        assert await wait_until(lambda: not engine.trade_channel.ready, 5)
        await close_and_wait(engine, XRP, "long")
        assert rest_orders(server, ws_ops)[2] == 1
        events = [e for e in route_events(engine) if e.source == "rest"]
        assert events and "close long" in events[-1].detail
        assert engine.order_route.via_rest == 1
        view = engine.snapshot().trade_channel
        # (On a loaded machine the channel may be logged in again by now, which ends the episode.)
        assert view is not None and view.via_rest == 1
        assert view.fallback_since_wall is not None or back_on_ws()
        # The channel logs in again by itself, and that ends the episode with its event at once
        # (not at the next order), the REST uses it closes in its text.
        ws_orders_before, via_ws_before = ws_ops["order"], engine.order_route.via_ws
        assert await ws_ready(engine)
        assert await wait_until(lambda: bool(back_on_ws()), 5), route_events(engine)
        assert "logged in again" in back_on_ws()[-1].detail and "again, after 1 over REST" in back_on_ws()[-1].detail
        assert engine.snapshot().trade_channel.fallback_since_wall is None
        assert (ws_ops["order"], engine.order_route.via_ws) == (ws_orders_before, via_ws_before)  # no order said so
        # The next entry goes over WS, and no second "back" event for it.
        assert await wait_until(lambda: not engine.halt_reasons(), 30)
        placed_before = rest_orders(server, ws_ops)[0]
        await open_position(engine, XRP, Side.SELL, Regime.CHOPPY)
        assert rest_orders(server, ws_ops)[0] == placed_before
        assert ws_ops["order"] == ws_orders_before + 1
        assert len(back_on_ws()) == 1
        # No order lost: every entry the simulator saw is in the journal.
        engine.journal.flush()
        for cl in server.counters.orders_by_clordid:
            assert engine.journal.order(cl) is not None, cl
        assert all(n == 1 for n in server.counters.orders_by_clordid.values())


@pytest.mark.timeout(120)
async def test_rest_fallback_forbidden_halts_entries_but_a_close_still_goes_out(tmp_path: Path) -> None:
    def forbid(doc: dict[str, Any]) -> None:
        tight_exits(doc)
        doc["order_entry"] = {"transport": "ws", "rest_fallback": False}

    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=forbid)
    async with sim_server(seed=14, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        ws_ops = tap_ws_ops(server)
        assert await ws_ready(engine)
        assert await wait_until(lambda: order_fresh(engine, XRP) and not engine.halt_reasons(), 20)
        await open_position(engine, XRP, Side.BUY, Regime.CHOPPY)
        server.faults.refuse_connections(4.0)
        server.faults.drop_connections(path=WS_PRIVATE_PATH)
        assert await wait_until(
            lambda: any("REST fallback forbidden" in r for r in engine.halt_reasons()), 5)
        assert not engine.submit_signal(Signal(XRP, Side.SELL, Regime.CHOPPY, "while the channel is down"))
        assert await wait_until(lambda: any(
            e.kind is FallbackKind.ENTRY_GATE and e.source == Halt.TRADE_CHANNEL.value for e in engine.bus.recent()), 2)
        await close_and_wait(engine, XRP, "long")
        assert rest_orders(server, ws_ops)[2] == 1  # the close went out over REST close-position
        assert any("close long" in e.detail and e.source == "rest" for e in route_events(engine))
        # Logged in again: the halt clears by itself.
        assert await ws_ready(engine)
        assert await wait_until(lambda: not any("REST fallback forbidden" in r for r in engine.halt_reasons()), 5)
        assert rest_orders(server, ws_ops)[0] == 0  # no entry ever went over REST


@pytest.mark.timeout(90)
async def test_quote_aged_during_the_rate_limit_wait_is_not_sent(tmp_path: Path) -> None:
    """The XRP order budget (shared by WS and REST) is spent by someone else: the entry waits for
    it longer than its quote's ORDER budget, so it is not sent — a stale refusal, journaled."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=tight_exits)
    async with sim_server(seed=15, speed=20) as server, running_engine(config, server, auto_entries=False) as engine:
        ws_ops = tap_ws_ops(server)
        assert await ws_ready(engine)
        assert await wait_until(lambda: order_fresh(engine, XRP) and not engine.halt_reasons(), 20)
        limiters = engine.rest.limiters
        budget_s = engine.config.freshness.order_s
        # Queue enough acquisitions ahead of the entry that its turn comes after > budget_s.
        # (~24 tokens/s at the default margin: 120 queued are ~5 s, far past the 1 s ORDER budget)
        hogs = [asyncio.create_task(limiters.acquire(TRADE_ORDER, inst_id=XRP)) for _ in range(int(100 * budget_s) + 20)]
        await asyncio.sleep(0)
        stale_before = engine.bus.counts[FallbackKind.STALE_REFUSED.value]
        cl = await submit_tracked(engine, Signal(XRP, Side.BUY, Regime.CHOPPY, "entry behind a spent budget"), 2.0)
        assert await wait_until(lambda: cl not in engine.entries, 30)
        await asyncio.gather(*hogs)
        engine.journal.flush()
        row = engine.journal.order(cl)
        assert row is not None and row.state == "not_placed" and "ORDER budget" in row.detail
        assert server.counters.orders_by_clordid[cl] == 0 and ws_ops["order"] == 0  # never reached the exchange
        assert engine.bus.counts[FallbackKind.STALE_REFUSED.value] > stale_before
        assert any(cl in e.detail for e in engine.bus.recent() if e.kind is FallbackKind.STALE_REFUSED)
