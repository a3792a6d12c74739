"""Enter on a fallback event: every field of it, the detail unabridged."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from okxscalp.market.events import FallbackEvent
from okxscalp.tui.rows import event_fields


def event_table(event: FallbackEvent) -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("field", style="bold", no_wrap=True, width=9)
    table.add_column("value", ratio=1, overflow="fold")
    for name, value in event_fields(event):
        table.add_row(name, value)
    return table


class EventDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    EventDetailScreen {
        align: center middle;
    }
    EventDetailScreen > VerticalScroll {
        width: 100%;
        max-width: 100;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="event.close"),
        Binding("enter", "close", "Close", show=False, id="event.close_enter"),
        Binding("q", "close", "Close", show=False, id="event.close_q"),
    ]

    def __init__(self, event: FallbackEvent) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Fallback event (Esc closes)"
            yield Static(event_table(self.event))

    def action_close(self) -> None:
        self.dismiss(None)
