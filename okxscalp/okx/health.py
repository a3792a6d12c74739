"""The health model of one WebSocket connection, as the console shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ConnectionState(str, Enum):
    CONNECTING = "connecting"
    LOGGING_IN = "logging_in"
    SUBSCRIBING = "subscribing"
    UP = "up"  # connected, logged in where needed, every subscription acked
    # Connected, but the exchange refused a wanted subscription (`refused` names it); it is
    # re-subscribed with backoff, then the connection is replaced. Never counts as up.
    REFUSED = "refused"
    RECONNECTING = "reconnecting"  # waiting for the next retry
    STOPPED = "stopped"


@dataclass(slots=True)
class ConnectionHealth:
    name: str  # public | business | private
    state: ConnectionState = ConnectionState.CONNECTING
    since_mono: float = 0.0  # monotonic time the state was entered
    last_message_mono: float | None = None
    messages: int = 0
    malformed: int = 0
    reconnects: int = 0
    last_error: str = ""
    next_retry_mono: float | None = None  # while RECONNECTING (next dial) or REFUSED (next re-subscribe)
    lagging: frozenset[str] = field(default_factory=frozenset)  # instIds silent beyond threshold
    breaker_open: bool = False  # reconnect storm circuit breaker tripped
    # One named reason per wanted subscription the exchange refused and that is not acked yet,
    # e.g. "orders subscription refused: 60029 Only users who ...". Kept across reconnects
    # until the subscription is acked (or no longer wanted).
    refused: tuple[str, ...] = ()
    handler_errors: int = 0  # pushes / reports a consumer failed to take (each one logged)
    last_error_mono: float | None = None  # monotonic time last_error was set (the console shows its age)

    def note_error(self, text: str, now_mono: float) -> None:
        """Set `last_error`, stamped with `now_mono`, the connection's clock (an old error on a
        healthy connection reads as old)."""
        self.last_error = text
        self.last_error_mono = now_mono

    def copy(self) -> ConnectionHealth:
        return ConnectionHealth(
            self.name,
            self.state,
            self.since_mono,
            self.last_message_mono,
            self.messages,
            self.malformed,
            self.reconnects,
            self.last_error,
            self.next_retry_mono,
            self.lagging,
            self.breaker_open,
            self.refused,
            self.handler_errors,
            self.last_error_mono,
        )
