"""A one-line text widget for the header and the panes' summary lines."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from okxscalp.tui.no_color import text_without_color


class StatusLine(Static):
    """Redraws only when its text changes, and without a layout pass: its height is fixed at one
    line, so a new text can never move anything else (a layout pass per refresh cost loop time)."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
    }
    """

    def __init__(self, text: Text | None = None, *, id: str | None = None) -> None:
        super().__init__(text or "", id=id, markup=False)
        self._shown = text

    def show(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text_without_color(text) if self.app.no_color else text, layout=False)
