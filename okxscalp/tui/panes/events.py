"""The fallback event stream: newest at the bottom, filterable by symbol and kind, counts by kind.

It follows new events like `tail -f` until the operator moves up to read; then the title counts
what arrived meanwhile ("3 new ↓") and End (or G, or moving to the last row) follows again.
Enter on an event shows every field of it.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.markup import escape

from okxscalp.market.events import FallbackEvent
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import EventFilter, counts_line, event_row, new_events
from okxscalp.tui.screens.event_detail import EventDetailScreen
from okxscalp.tui.status_line import StatusLine

# By priority: the detail takes the width the others leave; its component and every other
# field are on the detail screen (Enter).
EVENT_COLUMNS = (
    Column("time", "Time", 8),
    Column("symbol", "Symbol", 9),
    Column("kind", "Kind", 14),  # the longest two (forced_reconnect, subscription_refused) end in …
    Column("source", "Used", 8),  # rest / ws / none, or an entry gate's halt kind (operator, breaker, …)
    Column("detail", "Detail", 30, fill=True),
)

# Rows the table keeps; older ones scroll away (the journal keeps them all).
MAX_EVENT_ROWS = 500
TITLE = "Fallback events"


class EventsPane(Vertical):
    BORDER_TITLE = TITLE

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("G", "follow", "Follow", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(EVENT_COLUMNS, id="events")
        self.counts = StatusLine(id="event-counts")
        self.event_filter = EventFilter()
        self._seen: list[FallbackEvent] = []  # every event received, bounded like the table
        self._sequence = 0
        self._last: FallbackEvent | None = None
        self._by_key: dict[str, FallbackEvent] = {}  # the events shown, by row key
        self.following = True  # the cursor stays on the newest event
        self.unseen = 0  # events shown below the cursor since the operator stopped following
        self._counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield self.counts
        yield self.table

    def show(self, recent: tuple[FallbackEvent, ...], counts: dict[str, int]) -> None:
        self._counts = counts
        self.counts.show(counts_line(counts, self.event_filter))
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
        self.counts.show(counts_line(self._counts, event_filter))
        self.table.reset()
        self._by_key.clear()
        self.following, self.unseen = True, 0
        self._append(self._seen)
        self._show_title()

    def _append(self, events: list[FallbackEvent]) -> None:
        table = self.table
        shown = 0
        for event in events:
            if self.event_filter.matches(event):
                self._sequence += 1
                key = f"e{self._sequence}"
                self._by_key[key] = event
                table.put(key, event_row(event))
                shown += 1
        table.drop_oldest(MAX_EVENT_ROWS)
        if len(self._by_key) > table.row_count:
            kept = set(table.keys)
            self._by_key = {key: event for key, event in self._by_key.items() if key in kept}
        if self.following and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        elif shown:
            self.unseen += shown
        self._show_title()

    def _show_title(self) -> None:
        parts = [TITLE]
        if self.event_filter.active:
            parts.append(f"[{self.event_filter.describe()}]")
            if not self.table.row_count:
                parts.append("no matching events")
        if self.unseen:
            parts.append(f"{self.unseen} new ↓ (End follows)")
        title = escape(" · ".join(parts))  # the filter's brackets are text, not markup
        if title != self.border_title:
            self.border_title = title

    @on(KeyedTable.RowHighlighted, "#events")
    def _cursor_moved(self) -> None:
        """Moving to the last row follows again; moving up from it stops following."""
        table = self.table
        following = table.cursor_row >= table.row_count - 1
        if following != self.following:
            self.following = following
            if following:
                self.unseen = 0
            self._show_title()

    def action_follow(self) -> None:
        self.table.action_cursor_to(-1)

    @on(KeyedTable.RowSelected, "#events")
    def _chosen(self, message: KeyedTable.RowSelected) -> None:
        event = self._by_key.get(message.key)
        if event is not None:
            self.app.push_screen(EventDetailScreen(event))
