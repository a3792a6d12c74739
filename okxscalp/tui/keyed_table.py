"""A DataTable that is only ever diff-updated by row key (STYLE 9).

`sync` makes the table show exactly the given rows: changed cells are updated in place, new keys
are appended, gone keys removed. The cursor and scroll position survive every refresh because the
table is never cleared and refilled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from textual.widgets import DataTable

from okxscalp.tui.rows import Cells


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int


class KeyedTable(DataTable[object]):
    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
        /* No horizontal scrollbar: at 80 columns it would cost a row per pane. Wide tables still
           scroll sideways with the keyboard, and the key columns come first. */
        scrollbar-size-horizontal: 0;
    }
    """

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self._column_spec = tuple(columns)
        self._shown: dict[str, Cells] = {}

    def on_mount(self) -> None:
        for column in self._column_spec:
            self.add_column(column.label, width=column.width, key=column.key)

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self._shown or self.row_count == 0:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return str(self.ordered_rows[row].key.value)

    def sync(self, rows: Mapping[str, Cells]) -> None:
        for key in [key for key in self._shown if key not in rows]:
            self.remove_row(key)
            del self._shown[key]
        for key, cells in rows.items():
            self.put(key, cells)

    def put(self, key: str, cells: Cells) -> None:
        """Show `cells` under `key`: append a new row, or update only the cells that changed."""
        shown = self._shown.get(key)
        if shown is None:
            self.add_row(*cells, key=key)
        elif shown != cells:
            for column, old, new in zip(self._column_spec, shown, cells, strict=True):
                if old != new:
                    self.update_cell(key, column.key, new)
        self._shown[key] = cells

    def drop_oldest(self, keep: int) -> None:
        """Keep only the last `keep` rows (the append-only event stream's bound)."""
        excess = len(self._shown) - keep
        if excess <= 0:
            return
        for key in list(self._shown)[:excess]:
            self.remove_row(key)
            del self._shown[key]

    def reset(self) -> None:
        """Remove every row; only for an operator-chosen change of what the table shows."""
        self.clear(columns=False)
        self._shown.clear()
