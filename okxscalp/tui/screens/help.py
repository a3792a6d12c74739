"""`?`: every key and what it does (from the one action registry), what every column means, and
where things are: the full halt reasons, the console's log, the simulator's URL."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from okxscalp.tui.commands import CONSOLE_ACTIONS

# Every pane's columns (and the header's fields): what each shows. Titles match the panes'.
LEGEND: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Header",
        (
            ("SIM/DEMO/LIVE", "the exchange: the embedded simulator, OKX demo trading, or real money"),
            ("entries", "running, or HALTED (why: operator, breaker, private stream, loss limit, …)"),
            ("equity", "account equity and its age; 'balance failing' when the last refresh failed"),
            ("REST", "the busiest REST endpoint's share of its rate budget over the last window"),
            ("clock", "exchange time minus local time"),
        ),
    ),
    (
        "Tick freshness",
        (
            ("Bid/Ask", "best bid and ask of the quote the engine would use"),
            ("Src", "where the quote came from: ws (WebSocket), rest (REST fallback), none"),
            ("Age", "since the quote's last tick; STALE: too old for every purpose below"),
            ("Ord", "✓ fresh enough to place an order (≤1 s); ✗ entries on it are refused"),
            ("Ext", "✓ fresh enough to exit a position (≤2 s); else a REST ticker is read"),
            ("Sig", "✓ fresh enough for entry signals (≤3 s)"),
            ("Regime", "the symbol's current regime (trending/choppy/ranging); unknown until detected"),
            ("Last", "last traded price (off to the right at 80 columns: → scrolls)"),
        ),
    ),
    (
        "WebSocket connections",
        (
            ("Conn", "public (tickers), business (candles), private (orders, positions, account)"),
            ("State", "up, connecting, logging_in, subscribing, refused, reconnecting, stopped"),
            ("Since", "time in that state"),
            ("Msg", "age of the last message received"),
            ("Rec", "reconnects so far"),
            ("Retry", "countdown to the next attempt while reconnecting or refused"),
            ("Notes", "BREAKER OPEN, lagging symbols, malformed frames, the last error and its age"),
            ("trade", "how orders go out: the WebSocket trade channel's state, logged_in, connecting or down "
                      "(rest: REST order entry by config); "
                      "Msg: its last round trip; Rec: replies that never came (settled by clOrdId); Notes: "
                      "orders sent over REST while WS was configured (order_via_rest events; 'now, since' while it "
                      "lasts), REST fallback off (entries halt while the channel is down), ops sent/replied"),
        ),
    ),
    (
        "Positions",
        (
            ("Symbol", "! marks an orphan (no entry snapshot) or a position not yet snapshotted"),
            ("Side/Size", "long or short; size in contracts"),
            ("Entry", "average entry price"),
            ("Regime", "the regime at entry (its TP/SL come from it); ORPHAN when unknown"),
            ("TP/TP%", "take-profit price, and its distance from entry in percent"),
            ("SL/SL%", "stop-loss price, and its distance from entry in percent"),
            ("uPnL", "unrealised P&L in USDT"),
            ("Age", "since the entry filled"),
            ("Liq/Liq%", "the exchange's estimated liquidation price (liqPx: mark price at which the position's "
                         "margin ratio reaches 100%), and the mark's distance from it in percent; red when nearer "
                         "than the SL (the exchange would liquidate before the stop); — when none is reachable"),
            ("sources", "the config key paths TP and SL came from (the line under the table)"),
        ),
    ),
    (
        "Fallback events",
        (
            ("Time", "local time of the event"),
            ("Symbol", "the instrument, — when not symbol-specific"),
            ("Kind", "what happened: stale_refused, rest_fallback, lagging, breaker, safety, …"),
            ("Used", "what was used instead: rest, ws, none (nothing: the action was refused)"),
            ("Detail", "why; ×N: N identical events folded into one. Enter: every field"),
        ),
    ),
    (
        "Orders (o)",
        (
            ("Symbol", "! marks a rejected order"),
            ("Role", "entry, tp / sl (a position's attached take-profit / stop-loss), stop (protective), exit, close, flatten"),
            ("State", "sent, live, partial, filled, canceled, REJECTED, NOT LISTED (a stop the exchange does not list)"),
            ("Price", "limit price, or a stop's trigger price; — for market"),
            ("Fill/Sz", "contracts filled of the order's size"),
            ("Age", "since the order was sent"),
            ("Quote", "age and source of the quote the order was priced from (— when not priced from one)"),
            ("Detail", "why it ended: the exchange's code and message for a rejection (in full on the line above)"),
        ),
    ),
    (
        "Trades (t)",
        (
            ("day", "today's realised P&L against the daily loss limit (entries halt at the limit)"),
            ("N/Win%", "closed positions of that entry regime, and the share that won"),
            ("Avg win/loss", "average P&L of the winners and of the losers, USDT"),
            ("W:L", "average win / average loss; ✗ LOSS > WIN when below 1 (the audit's failure)"),
            ("Reason", "TP, SL (exchange or engine), operator, flatten, gone (closed outside the engine), "
                       "LIQUIDATED (the exchange liquidated it)"),
            ("P&L/Fees", "realised P&L after fees, and the fees; ?≥x: exit price not known yet, x is the worst case"),
        ),
    ),
)


def keys_table() -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("key", style="bold", no_wrap=True, width=7)
    table.add_column("what", ratio=1)
    for action in CONSOLE_ACTIONS:
        suffix = " (asks first)" if action.dangerous else ""
        table.add_row(action.key_display or action.key, f"{action.title}: {action.help}{suffix}")
    table.add_row("Enter", "On a symbol or a position: the parameter inspector. On an event: every field.")
    table.add_row("End / G", "In the events: follow new events again (moving up stops following).")
    table.add_row("Tab", "Move between panes; arrows move the selection; ← → scroll a wide table.")
    table.add_row("ctrl+p", "Command palette: every action above, searchable.")
    return table


def legend_table() -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("column", style="bold", no_wrap=True, width=13)
    table.add_column("meaning", ratio=1)
    for pane, columns in LEGEND:
        table.add_row(Text(pane, style="bold underline"), "")
        for name, meaning in columns:
            table.add_row(name, meaning)
    return table


def where_table(status: Text | None, log_path: Path | None, sim_url: str | None) -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("what", style="bold", no_wrap=True, width=9)
    table.add_column("value", ratio=1, overflow="fold")
    if status is not None:
        table.add_row("now", status)
    table.add_row("log", str(log_path) if log_path else "not written to a file in this session")
    if sim_url:
        table.add_row("simulator", f"{sim_url}  (faults: okxscalp sim fault KIND --url {sim_url})")
    return table


def help_body(status: Text | None = None, log_path: Path | None = None, sim_url: str | None = None) -> Group:
    return Group(
        where_table(status, log_path, sim_url),
        Text("\nKeys", style="bold"),
        keys_table(),
        Text("\nColumns", style="bold"),
        legend_table(),
    )


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 100%;
        max-width: 100;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_again"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
    ]

    def __init__(self, status: Text | None = None, *, log_path: Path | None = None, sim_url: str | None = None) -> None:
        """`status`: what the header may have had to cut (every halt reason, the balance error)."""
        super().__init__()
        self._body = help_body(status, log_path, sim_url)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Help (↑↓ PgUp PgDn scroll, Esc closes)"
            yield Static(self._body)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
