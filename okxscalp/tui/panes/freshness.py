"""Tick freshness per symbol: last, bid/ask, source, age, which purposes it satisfies, regime."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.engine.views import QuoteView
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import quote_row

FRESHNESS_COLUMNS = (
    Column("symbol", "Symbol", 9),
    Column("last", "Last", 8),
    Column("bid", "Bid", 8),
    Column("ask", "Ask", 8),
    Column("source", "Src", 4),
    Column("age", "Age", 5),
    Column("order", "Ord", 3),
    Column("exit", "Ext", 3),
    Column("signal", "Sig", 3),
    Column("regime", "Regime", 8),
)


class FreshnessPane(Vertical):
    BORDER_TITLE = "Tick freshness (Ord ≤1s · Ext ≤2s · Sig ≤3s)"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Kept, not queried: the refresh path does no DOM lookups.
        self.table = KeyedTable(FRESHNESS_COLUMNS, id="freshness")

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self, quotes: tuple[QuoteView, ...]) -> None:
        self.table.sync({quote.inst_id: quote_row(quote) for quote in quotes})
