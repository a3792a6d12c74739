"""Events that every observer (console, log, counters, journal) reads from one bus."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from okxscalp.okx.health import ConnectionHealth


class FallbackKind(str, Enum):
    STALE_REFUSED = "stale_refused"  # a read was refused: no fresh enough price for its purpose
    REST_FALLBACK = "rest_fallback"  # an EXIT read was served from a REST ticker
    LAGGING = "lagging"  # connection up, a subscribed symbol silent, or its data late on arrival
    FORCED_RECONNECT = "forced_reconnect"  # persistent lag forced a reconnect
    CANDLE_POLL = "candle_poll"  # business feed down: candles polled over REST
    BREAKER = "breaker"  # reconnect storm breaker tripped or reset
    ENTRY_GATE = "entry_gate"  # entries closed or reopened (private stream, breaker, operator)
    MALFORMED = "malformed"  # a malformed exchange message was dropped
    ADOPTED = "adopted"  # a value taken from the exchange because the config sets none (leverage)
    SAFETY = "safety"  # the engine's own safety actions: flatten progress, stops left, a close's unknown outcome or exit;
    # and its own machinery failing: a feed watchdog tick or a push handler that raised
    SUBSCRIPTION_REFUSED = "subscription_refused"  # the exchange refused a subscription (or accepted it again)
    POSITION = "position"  # a position's own safety: snapshot write retried, exchange stop verified or placed, TP/SL amended
    CLOCK = "clock"  # exchange clock unmeasured, stale, jumped or skewed (entries refused), or trusted again
    ACCOUNT = "account"  # the account balance could not be read (first failure), or can again
    ORDER_REJECTED = "order_rejected"  # the exchange refused an order (sCode/sMsg, e.g. 51008 margin, 50011 rate limit)
    FUNDING = "funding"  # a funding settlement paid or received on an open position (engine/funding.py)
    # WebSocket order entry configured, an order (entry, cancel, close) went over REST: the trade
    # channel was not ready (engine/order_route.py); source "ws" when orders go over WS again
    ORDER_VIA_REST = "order_via_rest"


@dataclass(frozen=True, slots=True)
class FallbackEvent:
    time: float  # wall clock, epoch seconds
    component: str  # registry | ws.public | executor | ...
    symbol: str  # instId or "" when not symbol-specific
    kind: FallbackKind
    detail: str
    source: str  # what was used instead: rest | none | ws | ...
    # How many occurrences this event stands for: the bus coalesces identical (component, symbol,
    # kind) events inside a short interval into one event carrying their count (EventBus docstring).
    count: int = 1


@dataclass(frozen=True, slots=True)
class HealthChanged:
    health: ConnectionHealth


BusEvent = FallbackEvent | HealthChanged
