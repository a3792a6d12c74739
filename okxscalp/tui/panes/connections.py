"""WebSocket health per connection: state, since, last message age, reconnects, retry countdown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.okx.health import ConnectionHealth
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import connection_row

CONNECTION_COLUMNS = (
    Column("name", "Conn", 8),
    Column("state", "State", 12),
    Column("since", "Since", 5),
    Column("last_msg", "Msg", 5),
    Column("reconnects", "Rec", 3),
    Column("retry", "Retry", 7),
    Column("note", "Notes / last error", 40),
)


class ConnectionsPane(Vertical):
    BORDER_TITLE = "WebSocket connections"

    def compose(self) -> ComposeResult:
        yield KeyedTable(CONNECTION_COLUMNS, id="connections")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def show(self, connections: tuple[ConnectionHealth, ...], now_mono: float) -> None:
        self.table.sync({health.name: connection_row(health, now_mono) for health in connections})
