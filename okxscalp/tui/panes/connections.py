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
    Column("note", "Notes / last error", 24, fill=True),
)


class ConnectionsPane(Vertical):
    BORDER_TITLE = "WebSocket connections"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Kept, not queried: the refresh path does no DOM lookups.
        self.table = KeyedTable(CONNECTION_COLUMNS, id="connections")

    def compose(self) -> ComposeResult:
        yield self.table

    def show(self, connections: tuple[ConnectionHealth, ...], now_mono: float) -> None:
        self.table.sync({health.name: connection_row(health, now_mono) for health in connections})
