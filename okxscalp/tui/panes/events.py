"""The fallback event stream: newest at the bottom, filterable by symbol and kind, counts by kind."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.market.events import FallbackEvent
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import EventFilter, counts_line, event_row, new_events
from okxscalp.tui.status_line import StatusLine

EVENT_COLUMNS = (
    Column("time", "Time", 8),
    Column("component", "Component", 12),
    Column("symbol", "Symbol", 9),
    Column("kind", "Kind", 16),
    Column("source", "Used", 5),
    Column("detail", "Detail", 60),
)

# Rows the table keeps; older ones scroll away (the journal keeps them all).
MAX_EVENT_ROWS = 500


class EventsPane(Vertical):
    BORDER_TITLE = "Fallback events"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(EVENT_COLUMNS, id="events")
        self.counts = StatusLine(id="event-counts")
        self.event_filter = EventFilter()
        self._seen: list[FallbackEvent] = []  # every event received, bounded like the table
        self._sequence = 0
        self._last: FallbackEvent | None = None

    def compose(self) -> ComposeResult:
        yield self.counts
        yield self.table

    def show(self, recent: tuple[FallbackEvent, ...], counts: dict[str, int]) -> None:
        self.counts.show(counts_line(counts))
        arrived = new_events(self._last, recent)
        if recent:
            self._last = recent[-1]
        if not arrived:
            return
        self._seen.extend(arrived)
        del self._seen[:-MAX_EVENT_ROWS]
        self._append(arrived)

    def set_filter(self, event_filter: EventFilter) -> None:
        """A new filter re-lists the kept events that match (the one time the table is rebuilt)."""
        self.event_filter = event_filter
        self.border_title = f"Fallback events [{event_filter.describe()}]" if event_filter.active else "Fallback events"
        self.table.reset()
        self._append(self._seen)

    def _append(self, events: list[FallbackEvent]) -> None:
        table = self.table
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        for event in events:
            if self.event_filter.matches(event):
                self._sequence += 1
                table.put(f"e{self._sequence}", event_row(event))
        table.drop_oldest(MAX_EVENT_ROWS)
        if follow and table.row_count:
            # Follow the stream like a log unless the operator has moved up to read.
            table.move_cursor(row=table.row_count - 1, animate=False)
