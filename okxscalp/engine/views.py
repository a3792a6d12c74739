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
    funding: float = 0.0  # USDT of funding settled on it so far (the exchange's fundingFee; negative: paid)
    # The exchange's estimated liquidation price (`liqPx`; None: none reachable or not reported) and
    # how far the mark is from it, in % of the mark.
    liq_px: float | None = None
    liq_distance_percent: float | None = None


@dataclass(frozen=True, slots=True)
class OrderView:
    """One order the engine is working or has just finished with (entries, attached and standalone
    stops, exits, closes). Finished ones stay listed for a short while so a rejection is seen."""

    key: str  # stable row key: clOrdId, or algoId for an exchange-side stop
    inst_id: str
    role: str  # entry | tp | sl | tpsl (one algo holding both) | stop (protective) | exit | close | flatten
    side: str  # buy | sell
    pos_side: str  # long | short | net
    ord_type: str  # post_only | limit | market | conditional | oco | ...
    state: str  # sent | live | partially_filled | filled | canceled | rejected | unknown ...
    px: float | None  # limit price, or the trigger price of a stop; None for market
    sz: float  # contracts
    filled: float  # contracts filled so far
    age_s: float  # since it was sent
    quote_age_s: float | None  # age of the quote it was priced from when sent; None if not priced from one
    quote_source: str | None  # ws | rest | None
    detail: str = ""  # why it ended: sCode/sMsg of a rejection (e.g. "51008 insufficient margin"), cancel reason


@dataclass(frozen=True, slots=True)
class TradeView:
    """A closed position as the journal has it."""

    entry_cl_ord_id: str
    inst_id: str
    side: str  # long | short
    entry_regime: str  # the regime snapshotted at entry ("" for an orphan)
    size: float  # contracts
    entry_px: float | None
    exit_px: float | None  # None while the exit price is unknown
    opened_at: float  # epoch seconds
    closed_at: float
    reason: str  # tp | sl | operator | flatten | gone_from_exchange | ...
    realised_pnl: float | None  # USDT after fees and funding; None while the exit price is unknown ...
    pnl_bound: float | None  # ... and then its worst case
    fees: float | None  # USDT paid (positive), None when not known
    funding: float = 0.0  # USDT of funding settled while it was open (negative: paid); in realised_pnl


@dataclass(frozen=True, slots=True)
class RegimeStats:
    """Closed positions of one entry regime: the figure the audit needed (wins vs losses)."""

    regime: str
    count: int
    wins: int
    losses: int
    win_rate: float | None  # wins / (wins + losses), None with no settled trade
    avg_win: float | None  # USDT
    avg_loss: float | None  # USDT, negative
    win_loss_ratio: float | None  # avg_win / |avg_loss|: realised, None without both
    total_pnl: float


@dataclass(frozen=True, slots=True)
class TradesSummary:
    day_pnl: float | None  # today's realised P&L (worst case for unknown exits); None while unknown
    daily_loss_limit: float | None  # USDT the day may lose before entries halt; None until day-start equity is known
    unknown_pnl: int  # closes whose exit price is not known yet
    by_regime: tuple[RegimeStats, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the operator should see as it happens (a toast): fill, TP/SL hit, close, order
    rejected, breaker tripped/reset, flatten complete/incomplete. `seq` grows by one per notice."""

    seq: int
    time: float  # epoch seconds
    kind: str  # fill | tp | sl | close | rejected | breaker | flatten
    severity: str  # information | warning | error (Textual's toast severities)
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class HeaderView:
    mode: str  # SIM | DEMO | LIVE
    equity: float | None
    entries_running: bool
    halt_reasons: tuple[str, ...]  # why entries are halted (operator, breaker, private stream, loss limit)
    rest_budget_use: float  # 0..1, the busiest endpoint's share of its budget over the last window
    clock_offset_ms: float | None  # exchange time minus local time
    equity_age_s: float | None = None  # since the balance was last read successfully
    balance_error: str = ""  # the last balance refresh's failure, "" once one succeeds


@dataclass(frozen=True, slots=True)
class TradeChannelView:
    """How orders go out (engine/order_route.py): the WebSocket trade channel's health and the REST
    fallbacks. `state` is the channel's (okx/ws_trade.py: connecting, logged_in, down), or "rest"
    when the config asks for REST order entry (no channel)."""

    transport: str  # configured: ws | rest
    state: str
    since_mono: float | None = None  # monotonic time the state was entered
    last_error: str = ""
    sent: int = 0  # ops written to the channel
    replied: int = 0
    timeouts: int = 0  # ops whose reply did not come in time (settled by clOrdId)
    last_rtt_ms: float | None = None
    via_rest: int = 0  # orders sent over REST while WS was configured (each an order_via_rest event)
    fallback_since_wall: float | None = None  # epoch s the current run of REST sends began; None: on WS
    rest_fallback_allowed: bool = True  # order_entry.rest_fallback


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    header: HeaderView
    quotes: tuple[QuoteView, ...]
    connections: tuple[ConnectionHealth, ...]
    positions: tuple[PositionView, ...]
    recent_events: tuple[FallbackEvent, ...]  # newest last, bounded
    event_counts: dict[str, int]  # by FallbackKind value
    orders: tuple[OrderView, ...] = ()  # working orders first, then recently finished ones
    trades: tuple[TradeView, ...] = ()  # closed positions, newest first, bounded
    trades_summary: TradesSummary | None = None
    notices: tuple[Notice, ...] = ()  # the most recent notices, oldest first, bounded
    trade_channel: TradeChannelView | None = None  # None: the engine has not built its order route yet


class EngineControl(Protocol):
    """What the console may read and do. Actions return once requested, not once done."""

    def snapshot(self) -> EngineSnapshot: ...

    def request_reconnect(self, connection: str | None) -> None: ...  # None = all

    def request_flatten(self) -> None: ...

    def request_close(self, inst_id: str, side: str) -> None: ...

    def pause_entries(self) -> None: ...

    def resume_entries(self) -> None: ...
