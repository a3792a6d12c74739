"""Reconnect-storm circuit breaker for one connection (SPEC 3.2; hummingbot#8296, nautilus#1989).

More than `max_reconnects` reconnects within `window_s` trips it: entries halt (the feed
coordinator's entry gate reads `is_open`). It resets only after the connection has been UP,
without interruption and without any reconnect, for `stable_after_s`; the reconnect history is
then cleared so the old storm cannot re-trip it. Pure logic; time is passed in.
"""

from __future__ import annotations

from collections import deque

from okxscalp.config.schema import StormSettings


class StormBreaker:
    def __init__(self, connection: str, settings: StormSettings) -> None:
        self.connection = connection
        self._settings = settings
        self._reconnects: deque[float] = deque()
        self._up_since: float | None = None
        self.is_open = False
        self.opened_at: float | None = None
        self.trips = 0

    def record_reconnect(self, now: float) -> bool:
        """One reconnect (a dropped or failed session); returns True if this tripped the breaker.
        The stable period restarts from connection_down/connection_up, not here: a make-before-break
        reconnect (64008 notice) counts as a reconnect while the connection stays up."""
        window_start = now - self._settings.window_s
        reconnects = self._reconnects
        while reconnects and reconnects[0] <= window_start:
            reconnects.popleft()
        reconnects.append(now)
        if not self.is_open and len(reconnects) > self._settings.max_reconnects:
            self.is_open = True
            self.opened_at = now
            self.trips += 1
            return True
        return False

    def connection_up(self, now: float) -> None:
        if self._up_since is None:
            self._up_since = now

    def connection_down(self) -> None:
        self._up_since = None

    def poll(self, now: float) -> bool:
        """Returns True if the breaker reset now (stable for long enough)."""
        if not self.is_open or self._up_since is None:
            return False
        stable_since = max(self._up_since, self._reconnects[-1]) if self._reconnects else self._up_since
        if now - stable_since < self._settings.stable_after_s:
            return False
        self.is_open = False
        self.opened_at = None
        self._reconnects.clear()
        return True

    def recent_reconnects(self, now: float) -> int:
        window_start = now - self._settings.window_s
        return sum(1 for t in self._reconnects if t > window_start)

    def reason(self, now: float) -> str:
        stable = " (connection down)" if self._up_since is None else f" (up {now - self._up_since:.0f}s)"
        return (
            f"reconnect storm breaker open on {self.connection}: more than "
            f"{self._settings.max_reconnects} reconnects in {self._settings.window_s:g}s; resets after "
            f"{self._settings.stable_after_s:g}s stable{stable}"
        )
