"""Tick freshness per symbol: last, bid/ask, source, age, which purposes it satisfies, regime."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.engine.views import QuoteView
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import AGE_CELL_WIDTH, SHOWN_PURPOSES, quote_row

# By priority: everything up to the regime fits 80 columns; Last is off to the right there.
FRESHNESS_COLUMNS = (
    Column("symbol", "Symbol", 9),
    Column("bid", "Bid", 8),
    Column("ask", "Ask", 8),
    Column("source", "Src", 4),
    Column("age", "Age", AGE_CELL_WIDTH),
    Column("order", "Ord", 3),
    Column("exit", "Ext", 3),
    Column("signal", "Sig", 3),
    Column("regime", "Regime", 8),
    Column("last", "Last", 8),
)


class FreshnessPane(Vertical):
    BORDER_TITLE = "Tick freshness (Ord ≤1s · Ext ≤2s · Sig ≤3s)"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Kept, not queried: the refresh path does no DOM lookups.
        self.table = KeyedTable(FRESHNESS_COLUMNS, id="freshness")
        self._turn = 0
        self._marks: dict[str, tuple[bool, ...]] = {}

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self, quotes: tuple[QuoteView, ...]) -> None:
        """Redraw half of the rows per refresh, alternating (each row at half the refresh rate), so
        one frame never carries every row: prices and ages change on every refresh, and a frame's
        cost is what delays the engine (bench/console_load.py). A row whose ✓/✗ marks changed is
        redrawn at once: a symbol turning stale never waits for its turn."""
        self._turn ^= 1
        table = self.table
        table.keep_only({quote.inst_id for quote in quotes})
        for index, quote in enumerate(quotes):
            marks = tuple(quote.satisfied.get(purpose, False) for purpose, _ in SHOWN_PURPOSES)
            if index % 2 == self._turn or self._marks.get(quote.inst_id) != marks:
                self._marks[quote.inst_id] = marks
                table.put(quote.inst_id, quote_row(quote))
