"""Open positions with their entry regime, TP/SL (prices, percents, source key paths), uPnL, age,
the exchange's liquidation price and the distance to it.
The title also counts the orders working (entries among them) and recent rejections, so entries
being worked are seen here, not only in the orders view (`o`)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.engine.views import OrderView, PositionView
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import MISSING, position_key, position_row
from okxscalp.tui.status_line import StatusLine
from okxscalp.tui.trade_rows import positions_title

POSITION_COLUMNS = (
    # Symbol to SL% fill exactly 80 columns (a column the edge would cut is not shown at all).
    Column("symbol", "Symbol", 10),
    Column("side", "Side", 5),
    Column("size", "Size", 5),
    Column("entry", "Entry", 8),
    Column("regime", "Regime", 8),
    Column("tp", "TP", 8),
    Column("tp_pct", "TP%", 5),
    Column("sl", "SL", 8),
    Column("sl_pct", "SL%", 5),
    Column("upl", "uPnL", 8),
    Column("age", "Age", 6),
    Column("liq", "Liq", 8),  # the exchange's estimated liquidation price (liqPx)
    Column("liq_pct", "Liq%", 5),  # mark to liqPx, % of the mark (red: nearer than the SL)
    Column("tp_source", "TP source", 44),
    Column("sl_source", "SL source", 44),
)


def sources_line(position: PositionView | None) -> Text:
    """The selected position's TP/SL provenance, visible even when the columns are scrolled off."""
    if position is None:
        return Text("no open positions", style="dim")
    if position.orphan:
        return Text(f"ORPHAN {position.inst_id}: no entry snapshot (no regime, no TP/SL sources)", style="bold red")
    return Text.assemble(
        ("TP ", "bold"),
        position.tp_source or MISSING,
        ("  SL ", "bold"),
        position.sl_source or MISSING,
    )


class PositionsPane(Vertical):
    BORDER_TITLE = "Positions"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(POSITION_COLUMNS, id="positions")
        self.sources = StatusLine(sources_line(None), id="position-sources")
        self._positions: dict[str, PositionView] = {}

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.sources

    @property
    def selected(self) -> PositionView | None:
        key = self.table.selected_key
        return self._positions.get(key) if key else None

    def show(self, positions: tuple[PositionView, ...], orders: tuple[OrderView, ...] = ()) -> None:
        self._positions = {position_key(position): position for position in positions}
        self.table.sync({key: position_row(position) for key, position in self._positions.items()})
        title = positions_title(len(positions), orders)
        if title != self.border_title:  # a title change costs a refresh of the border
            self.border_title = title
        self._show_sources()

    def _show_sources(self) -> None:
        self.sources.show(sources_line(self.selected))

    @on(KeyedTable.RowHighlighted, "#positions")
    def _highlighted(self) -> None:
        self._show_sources()
