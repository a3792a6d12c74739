"""WebSocket health per connection: state, since, last message age, reconnects, retry countdown;
and a `trade` row for how orders go out (the WebSocket trade channel, or REST)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from okxscalp.engine.views import TradeChannelView
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import MISSING, STATE_STYLE, Cells, connection_row, format_age

TRADE_ROW = "trade"
# okx/ws_trade.py's states: connecting | logged_in | down
TRADE_STATE_STYLE = {"logged_in": STATE_STYLE[ConnectionState.UP], "connecting": "yellow", "down": "bold red"}

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

    def show(
        self, connections: tuple[ConnectionHealth, ...], now_mono: float, trade: TradeChannelView | None = None,
    ) -> None:
        rows = {health.name: connection_row(health, now_mono) for health in connections}
        if trade is not None:
            rows[TRADE_ROW] = trade_channel_row(trade, now_mono)
        self.table.sync(rows)


def trade_channel_row(view: TradeChannelView, now_mono: float) -> Cells:
    """The order route as a connection row: the channel's state and time in it, its last round
    trip in the Msg column, its timeouts in Rec, and the notes: REST sends and since when."""
    if view.transport == "rest":
        state = Text("rest", style="dim")
    else:
        state = Text(view.state, style=TRADE_STATE_STYLE.get(view.state, "yellow"))
    since = format_age(None if view.since_mono is None else now_mono - view.since_mono)
    rtt = MISSING if view.last_rtt_ms is None else f"{view.last_rtt_ms:.1f}ms"
    notes: list[Text] = []
    if view.transport == "ws" and not view.rest_fallback_allowed:
        notes.append(Text("REST fallback off", style="bold"))
    if view.via_rest:
        if view.fallback_since_wall is not None:
            since_wall = time.strftime("%H:%M:%S", time.localtime(view.fallback_since_wall))
            notes.append(Text(f"REST {view.via_rest} (now, since {since_wall})", style="yellow"))
        else:
            notes.append(Text(f"REST {view.via_rest}", style="italic"))
    if view.last_error:
        notes.append(Text(view.last_error, style="italic" if view.state == "logged_in" else "red"))
    if view.transport == "ws":
        notes.append(Text(f"ops {view.sent}/{view.replied}", style="dim"))
    note = Text("; ").join(notes) if notes else Text(MISSING)
    return (Text(TRADE_ROW, style="bold"), state, since, rtt, str(view.timeouts), MISSING, note)
