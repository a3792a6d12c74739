"""`/`: choose what the fallback event stream shows (symbol substring and/or one kind)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from okxscalp.market.events import FallbackKind
from okxscalp.tui.rows import EventFilter


class EventFilterScreen(ModalScreen[EventFilter | None]):
    """Enter applies (from either field), Escape cancels; an empty symbol and 'all kinds' clear the
    filter. On the kind field ↓ or space opens the list of kinds, and Enter there picks one."""

    DEFAULT_CSS = """
    EventFilterScreen {
        align: center middle;
    }
    EventFilterScreen > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="filter.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="filter.apply"),
        # Before the Select's own Enter (which would open its list again): applies unless the
        # list of kinds is open, where Enter picks the highlighted kind (check_action).
        Binding("enter", "apply_on_enter", "Apply", show=False, priority=True, id="filter.apply_enter"),
    ]

    def __init__(self, current: EventFilter) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Filter fallback events (Enter applies, Esc cancels)"
            box.border_subtitle = "kind: ↓ or space lists the kinds"
            yield Label("Symbol contains:")
            yield Input(value=self._current.symbol, placeholder="e.g. XRP (empty = every symbol)", id="filter-symbol")
            yield Label("Kind:")
            yield Select(
                [(kind.value, kind.value) for kind in FallbackKind],
                prompt="all kinds",
                value=self._current.kind.value if self._current.kind else Select.NULL,
                id="filter-kind",
            )

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.query_one("#filter-symbol", Input).cursor_blink = False  # deterministic screenshots/tests
        self.query_one("#filter-symbol", Input).focus()

    def chosen(self) -> EventFilter:
        symbol = self.query_one("#filter-symbol", Input).value.strip()
        kind_value = self.query_one("#filter-kind", Select).value
        kind = FallbackKind(kind_value) if isinstance(kind_value, str) else None
        return EventFilter(symbol=symbol, kind=kind)

    @on(Input.Submitted, "#filter-symbol")
    def _submitted(self) -> None:
        self.action_apply()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply_on_enter":
            return not self.query_one("#filter-kind", Select).expanded
        return True

    def action_apply_on_enter(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        self.dismiss(self.chosen())

    def action_cancel(self) -> None:
        self.dismiss(None)
