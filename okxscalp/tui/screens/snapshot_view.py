"""A full screen fed from every engine sample (the orders and trades views).

Not a ModalScreen: the app stops feeding its panes while a dialog is on top, and these views are
for watching orders and P&L move. The app calls `show` with each snapshot while one is current.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from okxscalp.engine.views import EngineSnapshot
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.rows import Cells


class SnapshotView(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="view.back"),
    ]

    def __init__(self, snapshot: EngineSnapshot | None) -> None:
        super().__init__()
        self._first = snapshot  # shown on mount, so the view is never blank until the next sample

    def on_mount(self) -> None:
        if self._first is not None:
            self.show(self._first)
            self._first = None

    def show(self, snapshot: EngineSnapshot) -> None:
        raise NotImplementedError


def sync_in_order(table: KeyedTable, rows: Mapping[str, Cells]) -> None:
    """Show `rows` in their given order. The table appends new keys at the bottom, which is right
    only when they come last; otherwise (a trade closed: newest first; an order finished: working
    ones first) the rows are put again in order, and the cursor stays on its row if it is kept."""
    wanted = list(rows)
    kept = [key for key in table.keys if key in rows]
    if wanted[: len(kept)] == kept:
        table.sync(rows)
        return
    selected = table.selected_key
    table.reset()
    for key, cells in rows.items():
        table.put(key, cells)
    if selected in rows:
        table.move_cursor(row=wanted.index(selected))
