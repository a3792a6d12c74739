"""Orders, trades and P&L → table rows and summary lines: pure functions, no widget in sight.

Like rows.py (whose formatters these reuse), colour always comes with a word or a mark, so a
rejected order or a losing regime reads the same on a NO_COLOR terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from rich.text import Text

from okxscalp.engine.views import OrderView, RegimeStats, TradesSummary, TradeView
from okxscalp.okx.models import symbol_of
from okxscalp.tui.rows import MISSING, Cells, format_age, format_price, format_signed

# Order states that are final (the engine's order board keeps such rows a minute, so a rejection is
# seen). Every other state counts as working: an order in doubt (sent, unverified, a state this
# console does not know) may be live on the exchange.
FINISHED_STATES = frozenset({"filled", "canceled", "mmp_canceled", "rejected", "not_placed", "gone"})
REJECTED = "rejected"

# Short forms that keep the State and Reason columns narrow enough for 80 columns, in words so a
# NO_COLOR terminal loses nothing; anything not listed is shown as it is (cut by the column) and in
# full on the selected row's detail line.
STATE_LABEL: Mapping[str, str] = {
    "partially_filled": "partial",
    REJECTED: "REJECTED",
    "not_listed": "NOT LISTED",  # a protective leg the exchange does not list
    "not_placed": "not placed",
    "mmp_canceled": "canceled",
}
STATE_STYLE: Mapping[str, str] = {
    "sent": "yellow",
    "live": "",
    "partially_filled": "bold cyan",
    "filled": "green",
    "canceled": "dim",
    "mmp_canceled": "dim",
    "gone": "dim",
    "not_placed": "red",
    REJECTED: "bold reverse red",
    "not_listed": "bold reverse red",
    "unverified": "yellow",
    "unknown": "bold yellow",
}
# The engine's close reasons (positions.CloseReason); "(x)" marks the exchange-side TP/SL leg.
REASON_LABEL: Mapping[str, str] = {
    "take_profit": "TP",
    "take_profit_exchange": "TP (x)",
    "stop_loss": "SL",
    "stop_loss_exchange": "SL (x)",
    "operator_close": "operator",
    "orphan_flatten": "flatten",
    "gone_from_exchange": "gone",
    "closed_outside_engine": "outside",
    "liquidation": "LIQUIDATED",
}

# A ratio of average win to average loss below this is the audit's failure: losses outweigh wins.
LOSING_RATIO = 1.0
# The share of the daily loss limit from which the day line warns.
NEAR_LIMIT_SHARE = 0.8


def is_working(order: OrderView) -> bool:
    return order.state not in FINISHED_STATES


def order_counts(orders: Iterable[OrderView]) -> tuple[int, int, int]:
    """(working orders, working entries among them, rejected ones still listed)."""
    working = entries = rejected = 0
    for order in orders:
        if is_working(order):
            working += 1
            entries += order.role == "entry"
        elif order.state == REJECTED:
            rejected += 1
    return working, entries, rejected


def positions_title(position_count: int, orders: Iterable[OrderView]) -> str:
    """`Positions (1) · orders 2 (entries 1) · rejected 1`: entries working are seen on the main
    screen, not only in the log. Plain text: a border title is parsed as markup (no brackets)."""
    working, entries, rejected = order_counts(orders)
    title = f"Positions ({position_count}) · orders {working}"
    if entries:
        title += f" (entries {entries})"
    if rejected:
        title += f" · REJECTED {rejected}"
    return title


def orders_title(orders: Iterable[OrderView]) -> str:
    working, entries, rejected = order_counts(orders)
    title = f"Orders · {working} working ({entries} entr{'y' if entries == 1 else 'ies'})"
    if rejected:
        title += f" · {rejected} REJECTED"
    return title


def format_quote(age_s: float | None, source: str | None) -> Text:
    """Age and source of the quote an order was priced from; `—` when it was not priced from one."""
    if age_s is None:
        return Text(MISSING)
    style = "" if source == "ws" else "yellow"
    return Text(f"{format_age(age_s)} {source or '?'}", style=style)


def order_price(order: OrderView) -> str:
    if order.px is None:
        return "market" if order.ord_type == "market" else MISSING
    return format_price(order.px)


def order_row(order: OrderView) -> Cells:
    """Symbol, role, side, state, price, filled/size, age, quote age+source, detail."""
    rejected = order.state == REJECTED
    return (
        Text(("!" if rejected else "") + symbol_of(order.inst_id), style="bold red" if rejected else "bold"),
        order.role,
        Text(order.side, style="green" if order.side == "buy" else "red"),
        Text(STATE_LABEL.get(order.state, order.state), style=STATE_STYLE.get(order.state, "")),
        order_price(order),
        f"{order.filled:g}/{order.sz:g}",
        format_age(order.age_s),
        format_quote(order.quote_age_s, order.quote_source),
        Text(order.detail, style="red") if rejected else (order.detail or MISSING),
    )


def order_detail_line(order: OrderView | None) -> Text:
    """The selected order in full: why it ended first (a rejection's text), then what it is."""
    if order is None:
        return Text("no orders", style="dim")
    line = Text()
    if order.state == REJECTED:
        line.append("REJECTED: ", style="bold red")
        line.append(order.detail or "no reason given", style="red")
        line.append(" · ")
    elif order.detail:
        line.append(f"{order.detail} · ")
    line.append(symbol_of(order.inst_id), style="bold")
    line.append(f" {order.role} {order.side} {order.ord_type} pos {order.pos_side} · {order.key}")
    return line


def format_ratio(ratio: float | None) -> Text:
    if ratio is None:
        return Text(MISSING)
    return Text(f"{ratio:.2f}", style="bold red" if ratio < LOSING_RATIO else "green")


def ratio_note(ratio: float | None) -> Text:
    """The worded mark beside a win:loss ratio: below 1 the average loss outweighs the average win."""
    if ratio is None:
        return Text(MISSING)
    if ratio < LOSING_RATIO:
        return Text("✗ LOSS > WIN", style="bold reverse red")
    return Text("✓", style="green")


def regime_row(stats: RegimeStats) -> Cells:
    """Regime, count, win rate, avg win, avg loss, win:loss ratio, its mark, total P&L."""
    win_rate = MISSING if stats.win_rate is None else f"{stats.win_rate:.0%}"
    return (
        Text(stats.regime or "orphan", style="bold" if stats.regime else "bold red"),
        str(stats.count),
        win_rate,
        format_signed(stats.avg_win),
        format_signed(stats.avg_loss),
        format_ratio(stats.win_loss_ratio),
        ratio_note(stats.win_loss_ratio),
        format_signed(stats.total_pnl),
    )


def day_line(summary: TradesSummary | None) -> Text:
    """`day -42.10 / limit -300.00 (14%) · unknown P&L 1`: today against the daily loss limit."""
    if summary is None:
        return Text("day P&L not reported yet", style="yellow")
    parts: list[Text] = []
    if summary.day_pnl is None:
        parts.append(Text("day P&L UNKNOWN (entries wait until it is known)", style="bold yellow"))
    else:
        parts.append(Text.assemble("day ", format_signed(summary.day_pnl)))
    if summary.daily_loss_limit is None:
        parts.append(Text("limit unknown (no day-start equity yet)", style="yellow"))
    else:
        limit = Text(f"limit {-abs(summary.daily_loss_limit):.2f}")
        if summary.day_pnl is not None and summary.daily_loss_limit > 0:
            used = max(0.0, -summary.day_pnl) / summary.daily_loss_limit
            style = "bold red" if used >= NEAR_LIMIT_SHARE else ""
            limit.append(f" ({used:.0%})", style=style)
            if used >= 1:
                limit.append(" LIMIT HIT", style="bold reverse red")
            elif used >= NEAR_LIMIT_SHARE:
                limit.append(" NEAR LIMIT", style="bold red")
        parts[-1].append(" / ")
        parts[-1].append_text(limit)
    unknown_style = "bold yellow" if summary.unknown_pnl else "dim"
    parts.append(Text(f"unknown P&L {summary.unknown_pnl}", style=unknown_style))
    return Text(" · ").join(parts)


def trade_time(epoch_s: float, *, now: float | None = None) -> str:
    """HH:MM for a close today, MM-DD for an older one (both five characters)."""
    local = time.localtime(epoch_s)
    today = time.localtime(time.time() if now is None else now)
    if local[:3] == today[:3]:
        return time.strftime("%H:%M", local)
    return time.strftime("%m-%d", local)


def trade_key(trade: TradeView) -> str:
    return trade.entry_cl_ord_id


def trade_pnl(trade: TradeView) -> Text:
    """Realised P&L after fees; `?≥-3.20` (the worst case) while the exit price is unknown."""
    if trade.realised_pnl is not None:
        return format_signed(trade.realised_pnl)
    bound = MISSING if trade.pnl_bound is None else f"{trade.pnl_bound:+.2f}"
    return Text(f"?≥{bound}", style="bold yellow")


def trade_row(trade: TradeView, *, now: float | None = None) -> Cells:
    """Time, symbol, side, entry regime, entry, exit, reason, P&L, fees."""
    return (
        trade_time(trade.closed_at, now=now),
        Text(symbol_of(trade.inst_id), style="bold"),
        Text(trade.side, style="green" if trade.side == "long" else "red"),
        Text(trade.entry_regime) if trade.entry_regime else Text("orphan", style="red"),
        format_price(trade.entry_px),
        Text("?", style="bold yellow") if trade.exit_px is None else format_price(trade.exit_px),
        REASON_LABEL.get(trade.reason, trade.reason),
        trade_pnl(trade),
        MISSING if trade.fees is None else f"{trade.fees:.2f}",
    )


def trade_detail_line(trade: TradeView | None) -> Text:
    """The selected trade in full: its P&L first (the bound while the exit price is unknown), then
    the position, the reason in full, open and close times, the entry's clOrdId."""
    if trade is None:
        return Text("no closed trades yet", style="dim")
    line = Text()
    if trade.realised_pnl is None:
        bound = MISSING if trade.pnl_bound is None else f"{trade.pnl_bound:+.2f}"
        line.append(f"exit price UNKNOWN, P&L at worst {bound}", style="bold yellow")
    else:
        line.append_text(format_signed(trade.realised_pnl))
        line.append(" after fees" if trade.fees is not None else " (fees unknown)")
        if trade.funding:  # settled while it was open, included in the P&L
            line.append(f" and funding {trade.funding:+.4f}")
    opened = time.strftime("%m-%d %H:%M:%S", time.localtime(trade.opened_at))
    closed = time.strftime("%H:%M:%S", time.localtime(trade.closed_at))
    line.append(" · ")
    line.append(symbol_of(trade.inst_id), style="bold")
    line.append(f" {trade.side} {trade.size:g} · {trade.reason} · {opened} → {closed} · {trade.entry_cl_ord_id}")
    return line
