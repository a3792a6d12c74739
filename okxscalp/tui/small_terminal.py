"""A terminal smaller than the console's 80×24 gets a clear notice instead of clipped panes."""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24
TOO_SMALL = "-too-small"  # the main screen's class while the terminal is too small


def too_small(size: Size) -> bool:
    return size.width < MIN_WIDTH or size.height < MIN_HEIGHT


def notice_text(size: Size) -> str:
    return (
        f"This terminal is {size.width}×{size.height}; the okxscalp console needs at least "
        f"{MIN_WIDTH}×{MIN_HEIGHT}.\n\nEnlarge the window (or the tmux pane) and the panes come back. "
        "The engine keeps running meanwhile; q quits (it asks first when positions are open)."
    )


class SmallTerminalNotice(Static):
    # Not scoped: these rules hide the main screen's other widgets while the notice shows.
    SCOPED_CSS = False
    DEFAULT_CSS = f"""
    SmallTerminalNotice {{
        display: none;
        height: 1fr;
        padding: 1 2;
        text-style: bold;
    }}
    Screen.{TOO_SMALL} > * {{
        display: none;
    }}
    Screen.{TOO_SMALL} > SmallTerminalNotice {{
        display: block;
    }}
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show_for(self, size: Size) -> bool:
        """Show the notice (and hide the rest of its screen) if `size` is too small; returns whether."""
        small = too_small(size)
        if small:
            self.update(notice_text(size))
        if self.screen.has_class(TOO_SMALL) != small:
            self.screen.set_class(small, TOO_SMALL)
        return small
