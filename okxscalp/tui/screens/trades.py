"""`t`: closed trades and P&L — today against the daily loss limit, per entry regime the count, win
rate, average win and loss and their ratio (the audit's missing figure), then every closed trade."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer

from okxscalp.engine.views import EngineSnapshot, TradeView
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.screens.snapshot_view import SnapshotView, sync_in_order
from okxscalp.tui.status_line import StatusLine
from okxscalp.tui.trade_rows import day_line, regime_row, trade_detail_line, trade_key, trade_row

REGIME_COLUMNS = (
    Column("regime", "Regime", 8),
    Column("count", "N", 3),
    Column("win_rate", "Win%", 4),
    Column("avg_win", "Avg win", 8),
    Column("avg_loss", "Avg loss", 8),
    Column("ratio", "W:L", 5),
    Column("mark", "W:L check", 12),
    Column("total", "Total", 9),
)

# Exactly 80 columns with the padding.
TRADE_COLUMNS = (
    Column("time", "Time", 5),
    Column("symbol", "Symbol", 9),
    Column("side", "Side", 5),
    Column("regime", "Regime", 8),
    Column("entry", "Entry", 7),
    Column("exit", "Exit", 7),
    Column("reason", "Reason", 8),
    Column("pnl", "P&L", 8),
    Column("fees", "Fees", 5),
)


class TradesScreen(SnapshotView):
    DEFAULT_CSS = """
    TradesScreen #regimes-pane, TradesScreen #trades-pane {
        border-top: solid $primary;
        border-title-color: $text;
        border-title-style: bold;
    }
    TradesScreen #regimes-pane {
        height: auto;
        max-height: 40%;
    }
    TradesScreen #trades-pane {
        height: 1fr;
    }
    TradesScreen #trades {
        height: 1fr;
    }
    TradesScreen #trade-day {
        height: 1;
    }
    TradesScreen #trade-detail {
        height: 1;
        color: $text-muted;
    }
    """

    def __init__(self, snapshot: EngineSnapshot | None) -> None:
        super().__init__(snapshot)
        self.day = StatusLine(day_line(None), id="trade-day")
        self.regimes = KeyedTable(REGIME_COLUMNS, id="regimes")
        self.table = KeyedTable(TRADE_COLUMNS, id="trades")
        self.detail = StatusLine(trade_detail_line(None), id="trade-detail")
        self.regimes_pane = Vertical(id="regimes-pane")
        self.regimes_pane.border_title = "P&L by entry regime"
        self.regimes_pane.border_subtitle = "t or Esc returns"
        self.trades_pane = Vertical(id="trades-pane")
        self.trades_pane.border_title = "Closed trades (0)"
        self._trades: dict[str, TradeView] = {}

    def compose(self) -> ComposeResult:
        with self.regimes_pane:
            yield self.day
            yield self.regimes
        with self.trades_pane:
            # The selected trade's detail above the table: toasts come up at the bottom right.
            yield self.detail
            yield self.table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()

    @property
    def selected(self) -> TradeView | None:
        key = self.table.selected_key
        return self._trades.get(key) if key else None

    def show(self, snapshot: EngineSnapshot) -> None:
        summary = snapshot.trades_summary
        self.day.show(day_line(summary))
        by_regime = summary.by_regime if summary is not None else ()
        self.regimes.sync({stats.regime: regime_row(stats) for stats in by_regime})
        self._trades = {trade_key(trade): trade for trade in snapshot.trades}
        sync_in_order(self.table, {key: trade_row(trade) for key, trade in self._trades.items()})
        self.trades_pane.border_title = f"Closed trades ({len(snapshot.trades)})"
        self._show_detail()

    def _show_detail(self) -> None:
        self.detail.show(trade_detail_line(self.selected))

    @on(KeyedTable.RowHighlighted, "#trades")
    def _highlighted(self) -> None:
        self._show_detail()
