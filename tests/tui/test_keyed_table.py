"""The keyed table's diff-update contract: rows keyed, changed in place, appended, removed, bounded."""

from __future__ import annotations

import pytest
from fake_engine import screen_text
from rich.text import Text
from textual.app import App, ComposeResult

from okxscalp.tui.keyed_table import Column, KeyedTable

pytestmark = pytest.mark.timeout(30)

COLUMNS = (Column("name", "Name", 6), Column("value", "Value", 8))


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="table")

    def on_keyed_table_row_highlighted(self, message: KeyedTable.RowHighlighted) -> None:
        self.seen.append(message.key)

    def on_keyed_table_row_selected(self, message: KeyedTable.RowSelected) -> None:
        self.selected.append(message.key)


async def test_sync_updates_in_place_appends_and_removes_keeping_the_cursor_row() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({"a": ("a", "1"), "b": ("b", "2"), "c": ("c", "3")})
        table.focus()
        await pilot.press("down", "down")
        assert table.selected_key == "c"
        table.sync({"b": ("b", "20"), "c": (Text("c", style="red"), "30"), "d": ("d", "4")})
        await pilot.pause()
        assert table.keys == ["b", "c", "d"]
        assert table.selected_key == "c"  # "a" went away above it; the cursor stayed on its row
        text = screen_text(app)
        assert "20" in text and "30" in text and " 1 " not in text
    assert app.seen[:3] == ["a", "b", "c"]


async def test_event_stream_bound_and_wrong_width_rows_are_refused() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)):
        table = app.query_one(KeyedTable)
        for n in range(10):
            table.put(f"e{n}", (str(n), "x"))
        table.drop_oldest(4)
        assert table.keys == ["e6", "e7", "e8", "e9"]
        with pytest.raises(ValueError, match="3 cells for 2 columns"):
            table.put("bad", ("1", "2", "3"))
        table.reset()
        assert table.row_count == 0 and table.selected_key is None


async def test_enter_selects_and_cells_are_cut_to_their_column_width() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({"k": ("a-very-long-name", "1")})
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
    assert "a-ver…" in text and "a-very" not in text  # cut where it was cut, and visibly so
    assert app.selected == ["k"]
