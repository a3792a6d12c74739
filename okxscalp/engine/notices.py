"""What the operator should see as it happens (the console's toasts): a small bounded store.

The engine posts here where a thing happens — an entry fill, a close with its P&L (a TP or SL hit
named as such), an order the exchange refused, a breaker tripped or reset, a flatten complete or
incomplete. Each notice gets the next `seq`, so the console shows each one once by remembering the
last seq it showed. Severities are Textual's toast severities.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from okxscalp.engine.views import Notice
from okxscalp.market.events import FallbackEvent, FallbackKind

NOTICES_KEPT = 50

INFORMATION = "information"
WARNING = "warning"
ERROR = "error"


class NoticeBoard:
    """The latest NOTICES_KEPT notices, oldest first; `seq` grows by one per notice."""

    def __init__(self, kept: int = NOTICES_KEPT, clock: Callable[[], float] = time.time) -> None:
        self._notices: deque[Notice] = deque(maxlen=kept)
        self._clock = clock
        self.seq = 0  # of the last notice posted

    def post(self, kind: str, severity: str, title: str, text: str) -> Notice:
        self.seq += 1
        notice = Notice(self.seq, self._clock(), kind, severity, title, text)
        self._notices.append(notice)
        return notice

    def recent(self) -> tuple[Notice, ...]:
        return tuple(self._notices)

    def on_event(self, event: FallbackEvent) -> None:
        """A delivered bus event: the breaker's trip and reset are notices."""
        if event.kind is not FallbackKind.BREAKER:
            return
        tripped = event.detail.startswith("tripped")
        self.post("breaker", ERROR if tripped else INFORMATION,
                  f"Breaker {'tripped' if tripped else 'reset'}: {event.component}", event.detail)
