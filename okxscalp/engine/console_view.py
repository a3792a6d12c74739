"""The console's read-only view of a running engine (views.py types), built on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from okxscalp.config.schema import Purpose
from okxscalp.engine.views import (
    EngineSnapshot,
    HeaderView,
    OrderView,
    QuoteView,
    TradeChannelView,
    TradesSummary,
)
from okxscalp.market.events import FallbackEvent

if TYPE_CHECKING:
    from okxscalp.engine.orchestrator import Engine

RECENT_EVENTS = 200


def build_snapshot(engine: Engine) -> EngineSnapshot:
    now = engine.clock.wall_s()
    halt = engine.halt_reasons()
    budget = engine.rest.budget_use() if engine.rest is not None else {}
    clock = engine.exchange_clock
    account = engine.account
    header = HeaderView(
        mode=engine.endpoints.mode,
        equity=engine.equity,
        entries_running=not halt,
        halt_reasons=halt,
        rest_budget_use=max(budget.values(), default=0.0),
        clock_offset_ms=clock.offset_ms if clock is not None else None,
        equity_age_s=account.balance_age_s() if account is not None else None,
        balance_error=account.balance_error if account is not None else "",
    )
    history = engine.trade_history
    return EngineSnapshot(
        header=header,
        quotes=tuple(quote_view(engine, i) for i in engine.inst_ids),
        connections=tuple(engine.feed.health()) if engine.feed is not None else (),
        positions=engine.manager.book.views(now) if engine.manager is not None else (),
        recent_events=recent_events(engine),
        event_counts=event_counts(engine),
        orders=order_views(engine),
        trades=history.trades() if history is not None else (),
        trades_summary=trades_summary(engine),
        notices=engine.notices.recent(),
        trade_channel=trade_channel_view(engine),
    )


def trade_channel_view(engine: Engine) -> TradeChannelView | None:
    route = engine.order_route
    if route is None:
        return None
    r = route.state()
    channel = route.channel
    if channel is None:
        return TradeChannelView(r.transport, "rest", via_rest=r.via_rest, fallback_since_wall=r.fallback_since_wall,
                                rest_fallback_allowed=r.rest_fallback_allowed)
    h = channel.health()
    return TradeChannelView(
        r.transport, str(getattr(h.state, "value", h.state)), h.since_mono, h.last_error or "", h.sent, h.replied,
        h.timeouts, h.last_rtt_ms, r.via_rest, r.fallback_since_wall, r.rest_fallback_allowed,
    )


def order_views(engine: Engine) -> tuple[OrderView, ...]:
    manager, closes = engine.manager, engine.close_flow
    if manager is None or closes is None:
        return engine.orders.views((), lambda _p: None, lambda _i, _s: None)
    book = manager.book

    def size_of(inst_id: str, pos_side: str) -> float | None:
        position = book.get(inst_id, pos_side)
        return position.size if position is not None else None

    return engine.orders.views(book.positions.values(), lambda p: closes.owners.legs.get(p.key), size_of)


def trades_summary(engine: Engine) -> TradesSummary | None:
    """Per-regime figures, and today's P&L against the daily loss limit as the account counts them
    (the same figures the DAILY_LOSS halt goes by)."""
    if engine.trade_history is None:
        return None
    day_pnl, limit = engine.account.day_pnl() if engine.account is not None else (None, None)
    return engine.trade_history.summary(day_pnl, limit)


def recent_events(engine: Engine) -> tuple[FallbackEvent, ...]:
    events = tuple(engine.early_events) + (tuple(engine.bus.recent()) if engine.bus is not None else ())
    return events[-RECENT_EVENTS:]


def event_counts(engine: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in engine.early_events:
        counts[event.kind.value] = counts.get(event.kind.value, 0) + event.count
    if engine.bus is not None:
        for kind, n in engine.bus.counts.items():
            key = getattr(kind, "value", kind)
            counts[key] = counts.get(key, 0) + n
    return counts


def quote_view(engine: Engine, inst_id: str) -> QuoteView:
    detector = engine.detectors.get(inst_id)
    regime = detector.regime.value if detector is not None and detector.regime is not None else None
    inputs: dict[str, float] = {}
    if detector is not None and detector.decision is not None:
        d = detector.decision
        inputs = {k: v for k, v in (("adx", d.adx), ("atr_pct", d.atr_pct), ("band_width_pct", d.band_width_pct)) if v is not None}
    if engine.registry is None:
        return QuoteView(inst_id, None, None, None, "none", None, {p: False for p in Purpose}, regime, inputs)
    f = engine.registry.freshness(inst_id)
    return QuoteView(inst_id, f.last, f.bid, f.ask, f.source, f.age_s, dict(f.satisfied), regime, inputs)
