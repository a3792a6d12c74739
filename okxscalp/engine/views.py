"""Read-only views of the engine for the console, and the operator actions it may call.

The console renders only these; it never reaches into engine internals or exchange clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from okxscalp.config.schema import Purpose
from okxscalp.market.events import FallbackEvent
from okxscalp.okx.health import ConnectionHealth


@dataclass(frozen=True, slots=True)
class QuoteView:
    inst_id: str
    last: float | None
    bid: float | None
    ask: float | None
    source: str  # ws | rest | none
    age_s: float | None
    satisfied: dict[Purpose, bool]  # which purposes this quote satisfies right now
    regime: str | None  # current market regime (not a position's entry regime)
    regime_inputs: dict[str, float] = field(default_factory=dict)  # adx, atr_pct, band_width


@dataclass(frozen=True, slots=True)
class PositionView:
    inst_id: str
    side: str  # long | short
    size: float  # contracts
    entry_px: float | None
    entry_regime: str | None  # from the snapshot; None only for an orphan
    tp_px: float | None
    sl_px: float | None
    tp_percent: float | None
    sl_percent: float | None
    tp_source: str  # key path of the TP parameter, e.g. symbol_profiles.XRP-USDT.choppy.tp_percent
    sl_source: str
    upl: float | None
    age_s: float
    orphan: bool
    # Filled, but its snapshot is not in the journal yet (the write is being retried; entries are
    # halted meanwhile). Managed from the snapshot held in memory, whose levels the exchange holds.
    unsnapshotted: bool = False
    # What the console should say beside the row when not empty: why the snapshot is not written,
    # what protects the position on the exchange, a TP/SL amend under way.
    status: str = ""


@dataclass(frozen=True, slots=True)
class HeaderView:
    mode: str  # SIM | DEMO | LIVE
    equity: float | None
    entries_running: bool
    halt_reasons: tuple[str, ...]  # why entries are halted (operator, breaker, private stream, loss limit)
    rest_budget_use: float  # 0..1, the busiest endpoint's share of its budget over the last window
    clock_offset_ms: float | None  # exchange time minus local time


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    header: HeaderView
    quotes: tuple[QuoteView, ...]
    connections: tuple[ConnectionHealth, ...]
    positions: tuple[PositionView, ...]
    recent_events: tuple[FallbackEvent, ...]  # newest last, bounded
    event_counts: dict[str, int]  # by FallbackKind value


class EngineControl(Protocol):
    """What the console may read and do. Actions return once requested, not once done."""

    def snapshot(self) -> EngineSnapshot: ...

    def request_reconnect(self, connection: str | None) -> None: ...  # None = all

    def request_flatten(self) -> None: ...

    def request_close(self, inst_id: str, side: str) -> None: ...

    def pause_entries(self) -> None: ...

    def resume_entries(self) -> None: ...
