"""`?`: every key and what it does, from the one action registry."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from okxscalp.tui.commands import CONSOLE_ACTIONS


def help_table() -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("key", style="bold", no_wrap=True, width=7)
    table.add_column("what", ratio=1)
    for action in CONSOLE_ACTIONS:
        suffix = " (asks first)" if action.dangerous else ""
        table.add_row(action.key_display or action.key, f"{action.title}: {action.help}{suffix}")
    table.add_row("Enter", "On a symbol or a position: the parameter inspector.")
    table.add_row("Tab", "Move between panes; arrows move the selection.")
    table.add_row("ctrl+p", "Command palette: every action above, searchable.")
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_again"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys (Esc closes)"
            yield Static(help_table())

    def action_close(self) -> None:
        self.dismiss(None)
