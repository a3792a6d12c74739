"""Typed messages of the console (STYLE 10)."""

from __future__ import annotations

from textual.message import Message

from okxscalp.engine.views import EngineSnapshot
from okxscalp.tui.rows import EventFilter


class EngineSampled(Message):
    """A fresh engine snapshot, taken on the refresh timer.

    Replaceable: if the app falls behind, only the newest snapshot is rendered.
    """

    def __init__(self, snapshot: EngineSnapshot, now_mono: float) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.now_mono = now_mono

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineSampled)


class EventFilterChanged(Message):
    """The operator chose a new filter for the fallback event stream."""

    def __init__(self, event_filter: EventFilter) -> None:
        super().__init__()
        self.event_filter = event_filter
