"""`o`: the orders the engine is working or has just finished with — entries, attached and standalone
stops, exits and closes — with state, price, fill, age, the age of the quote each was priced from,
and why one was rejected."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer

from okxscalp.engine.views import EngineSnapshot, OrderView
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.screens.snapshot_view import SnapshotView, sync_in_order
from okxscalp.tui.status_line import StatusLine
from okxscalp.tui.trade_rows import order_detail_line, order_row, orders_title

# Key columns first and within 80: the detail is cut there, and shown in full on the line above.
ORDER_COLUMNS = (
    Column("symbol", "Symbol", 10),
    Column("role", "Role", 7),
    Column("side", "Side", 4),
    Column("state", "State", 10),
    Column("price", "Price", 7),
    Column("filled", "Fill/Sz", 11),
    Column("age", "Age", 5),
    Column("quote", "Quote", 7),
    Column("detail", "Detail", 60),
)


class OrdersScreen(SnapshotView):
    DEFAULT_CSS = """
    OrdersScreen #orders-pane {
        height: 1fr;
        border-top: solid $primary;
        border-title-color: $text;
        border-title-style: bold;
    }
    OrdersScreen #orders {
        height: 1fr;
    }
    OrdersScreen #order-detail {
        height: 2;  /* an exchange's rejection text is long; two lines at 80 columns */
    }
    """

    def __init__(self, snapshot: EngineSnapshot | None) -> None:
        super().__init__(snapshot)
        self.table = KeyedTable(ORDER_COLUMNS, id="orders")
        self.detail = StatusLine(order_detail_line(None), id="order-detail")
        self.pane = Vertical(id="orders-pane")
        self.pane.border_title = orders_title(())
        self.pane.border_subtitle = "o or Esc returns"
        self._orders: dict[str, OrderView] = {}

    def compose(self) -> ComposeResult:
        with self.pane:
            # The selected order's detail above the table: toasts come up at the bottom right.
            yield self.detail
            yield self.table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()

    @property
    def selected(self) -> OrderView | None:
        key = self.table.selected_key
        return self._orders.get(key) if key else None

    def show(self, snapshot: EngineSnapshot) -> None:
        self._orders = {order.key: order for order in snapshot.orders}
        sync_in_order(self.table, {key: order_row(order) for key, order in self._orders.items()})
        self.pane.border_title = orders_title(snapshot.orders)
        self._show_detail()

    def _show_detail(self) -> None:
        self.detail.show(order_detail_line(self.selected))

    @on(KeyedTable.RowHighlighted, "#orders")
    def _highlighted(self) -> None:
        self._show_detail()
