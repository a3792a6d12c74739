"""A keyed, diff-updated table drawn with Textual's Line API.

Why not `DataTable`: bench/console_load.py measured it. Any `update_cell` invalidates DataTable's
whole render cache, so with 20 symbols whose ages change on every refresh each frame re-rendered
every visible cell through rich (tens of ms per frame, p99 event-loop lag > 100 ms). Here each row
is turned into one cached `Strip` when (and only when) its cells change; drawing a frame is a crop
of cached strips. The contract of STYLE 9 holds: rows are keyed, updated in place, appended or
removed by key, columns have fixed widths, the cursor and scroll position survive every refresh.

Laid out by priority (key columns first): one column may `fill` the width the others leave, a cell
too long for its column ends (or, `keep="tail"`, starts) with "…", and a column the right edge
would cut is left blank rather than shown in part (a price cut to its first digits misleads).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from okxscalp.tui.no_color import readable_without_color
from okxscalp.tui.rows import Cells

CELL_PADDING = 1  # blank cells on each side of every column
HORIZONTAL_STEP = 8  # columns scrolled per left/right key
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # for a `fill` column, its least width
    fill: bool = False  # takes the width the other columns leave (one per table)
    keep: Literal["head", "tail"] = "head"  # the end of an over-long cell that stays visible


def fit_plain(text: str, width: int, keep: Literal["head", "tail"] = "head") -> str:
    """`text` in exactly `width` cells: padded, or cut with an ellipsis where it was cut."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if width <= 1:
        return ELLIPSIS[:width]
    if keep == "tail":
        tail = text[-(width - 1) :]
        while cell_len(tail) > width - 1:
            tail = tail[1:]
        return set_cell_size(ELLIPSIS + tail, width)
    return set_cell_size(set_cell_size(text, width - 1) + ELLIPSIS, width)


def fit_text(text: Text, width: int, keep: Literal["head", "tail"] = "head") -> Text:
    """Like `fit_plain`, keeping the styles of what stays."""
    if text.cell_len <= width:
        return text
    if width <= 1:
        return Text(ELLIPSIS[:width])
    if keep == "tail":
        tail = text[len(text.plain) - (width - 1) :]
        return Text.assemble(ELLIPSIS, tail)
    head = text.copy()
    head.truncate(width, overflow="ellipsis")
    return head


class KeyedTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
    }

    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
        max-height: 100%;
        background: $surface;
        color: $foreground;
        /* No horizontal scrollbar: at 80 columns it would cost a row per pane. Wide tables still
           scroll sideways with left/right, and the key columns come first. */
        scrollbar-size-horizontal: 0;
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("left", "sideways(-1)", "Left", show=False),
        Binding("right", "sideways(1)", "Right", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor moved to the row `key`."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class RowSelected(Message):
        """Enter was pressed on the row `key`."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._order: list[str] = []  # row keys in display order
        self._index: dict[str, int] = {}
        self._cells: dict[str, Cells] = {}
        self._strips: dict[str, Strip] = {}  # rendered rows, rebuilt only when their cells change
        self.cursor_row = 0
        self._highlighted: str | None = None
        self._widths = [column.width for column in self.columns]
        self._width = sum(width + 2 * CELL_PADDING for width in self._widths)
        self._laid_out_for = -1  # the view width the column widths were last computed for
        self._frame_edge: int | None = None  # where a column cut by the right edge starts (this frame)
        self.virtual_size = Size(self._width, 1)
        self._frame_base = Style()
        self._frame_cursor = Style()

    # ---- data ------------------------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        return self._order[self.cursor_row] if self._order else None

    def sync(self, rows: Mapping[str, Cells]) -> None:
        """Show exactly `rows`: update changed rows in place, append new keys, remove gone ones."""
        self.keep_only(rows.keys())
        for key, cells in rows.items():
            self.put(key, cells)

    def keep_only(self, keys: Collection[str]) -> None:
        """Remove every row whose key is not in `keys`."""
        gone = [key for key in self._order if key not in keys]
        if gone:
            self._remove(gone)

    def put(self, key: str, cells: Cells) -> None:
        """Show `cells` under `key`: append a new row, or redraw the row if its cells changed."""
        if len(cells) != len(self.columns):
            raise ValueError(f"row {key!r} has {len(cells)} cells for {len(self.columns)} columns")
        shown = self._cells.get(key)
        if shown is None:
            self._index[key] = len(self._order)
            self._order.append(key)
            self._cells[key] = cells
            self._rows_changed()
        elif shown != cells:
            self._cells[key] = cells
            self._strips.pop(key, None)
            self.refresh()

    def drop_oldest(self, keep: int) -> None:
        """Keep only the last `keep` rows (the append-only event stream's bound)."""
        excess = len(self._order) - keep
        if excess > 0:
            self._remove(self._order[:excess])

    def reset(self) -> None:
        """Remove every row; only for an operator-chosen change of what the table shows."""
        self._remove(list(self._order))

    def _remove(self, keys: Sequence[str]) -> None:
        selected = self.selected_key
        doomed = set(keys)
        self._order = [key for key in self._order if key not in doomed]
        self._index = {key: index for index, key in enumerate(self._order)}
        for key in doomed:
            self._cells.pop(key, None)
            self._strips.pop(key, None)
        # The cursor stays on its row when that row survives.
        if selected is not None and selected in self._index:
            self.cursor_row = self._index[selected]
        self._rows_changed()

    def _rows_changed(self) -> None:
        self.cursor_row = min(self.cursor_row, max(0, len(self._order) - 1))
        size = Size(self._width, len(self._order) + 1)
        height = self.styles.height
        if height is None or height.is_auto:
            self.virtual_size = size  # the table's own height follows its rows: lay out again
        else:
            # A fixed-height table (the event stream) only scrolls further: no layout pass per event.
            self.set_reactive(KeyedTable.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        self._announce_highlight()

    # ---- cursor ---------------------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        if not self._order:
            return
        self.cursor_row = min(max(row, 0), len(self._order) - 1)
        # After the next refresh: rows just added may not be in the scrollable size yet.
        self.call_after_refresh(self._scroll_cursor_into_view, animate)
        self.refresh()
        self._announce_highlight()

    def _announce_highlight(self) -> None:
        key = self.selected_key
        if key is not None and key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    def on_resize(self) -> None:
        self._scroll_cursor_into_view(False)

    def _scroll_cursor_into_view(self, animate: bool) -> None:
        visible = max(1, self.size.height - 1)  # the header line is always shown
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=animate)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * max(1, self.size.height - 2))

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row=row if row >= 0 else len(self._order) - 1)

    def action_sideways(self, direction: int) -> None:
        self.scroll_to(x=self.scroll_x + direction * HORIZONTAL_STEP, animate=False)

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    # ---- drawing --------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # theme or focus styles changed: rows are redrawn with the new ones

    def _lay_out_columns(self, view_width: int) -> None:
        """Give a `fill` column the width the others leave in a view `view_width` wide."""
        self._laid_out_for = view_width
        widths = [column.width for column in self.columns]
        for index, column in enumerate(self.columns):
            if column.fill:
                others = sum(w + 2 * CELL_PADDING for i, w in enumerate(widths) if i != index)
                widths[index] = max(column.width, view_width - others - 2 * CELL_PADDING)
        if widths != self._widths:
            self._widths = widths
            self._width = sum(width + 2 * CELL_PADDING for width in widths)
            self._strips.clear()
            self.set_reactive(KeyedTable.virtual_size, Size(self._width, len(self._order) + 1))
            self.refresh()

    def _cut_column_start(self, right_edge: int) -> int | None:
        """Where the column that `right_edge` (a virtual x) cuts starts, or None if it cuts none."""
        start = 0
        for width in self._widths:
            end = start + width + 2 * CELL_PADDING
            if start < right_edge < end:
                return start
            start = end
        return None

    def _strip_of(self, cells: Cells, base: Style) -> Strip:
        console = self.app.console
        no_color = self.app.no_color
        pad = " " * CELL_PADDING
        segments: list[Segment] = []
        for column, width, cell in zip(self.columns, self._widths, cells, strict=True):
            if isinstance(cell, str) or not cell.spans:
                # The common case, one style for the whole cell: one segment, padding included
                # (every segment costs again in each filter and crop of every frame).
                plain = cell if isinstance(cell, str) else cell.plain
                style = None if isinstance(cell, str) else cell.style
                if isinstance(style, str):
                    style = console.get_style(style) if style else None
                if style and no_color:
                    style = readable_without_color(style)
                if cell_len(plain) != width:
                    plain = fit_plain(plain, width, column.keep)
                segments.append(Segment(f"{pad}{plain}{pad}", style or None))
            else:
                segments.append(Segment(pad))
                rendered = list(fit_text(cell, width, column.keep).render(console))
                if no_color:
                    rendered = [Segment(text, readable_without_color(style) if style else style) for text, style, _ in rendered]
                segments.extend(Segment.adjust_line_length(rendered, width))
                segments.append(Segment(pad))
        return Strip(Segment.apply_style(segments, base), self._width)

    def _header_strip(self) -> Strip:
        labels = tuple(column.label for column in self.columns)
        return self._strip_of(labels, self.rich_style + self.get_component_rich_style("keyed-table--header"))

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are looked up once per frame, not once per line.
        self._frame_base = self.rich_style
        self._frame_cursor = self.get_component_rich_style("keyed-table--cursor")
        view_width = self.scrollable_content_region.width
        if view_width != self._laid_out_for and view_width > 0:
            self._lay_out_columns(view_width)
        scroll_x = round(self.scroll_x)
        cut = self._cut_column_start(scroll_x + view_width)
        # A column wider than the whole view is shown cut rather than not at all.
        self._frame_edge = cut - scroll_x if cut is not None and cut > scroll_x else None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self._frame_base
        if y == 0:
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            key = self._order[index]
            strip = self._strips.get(key)
            if strip is None:
                strip = self._strips[key] = self._strip_of(self._cells[key], base)
            if index == self.cursor_row:
                strip = Strip(Segment.apply_style(strip, post_style=self._frame_cursor), strip.cell_length)
        edge = self._frame_edge
        if edge is not None:
            return strip.crop(scroll_x, scroll_x + edge).extend_cell_length(width, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)
