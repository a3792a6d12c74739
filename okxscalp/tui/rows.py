"""Snapshot → table rows: pure functions, one per pane, with no widget in sight.

Each returns cells as rich `Text` (or plain strings); the panes diff them against what is shown.
Colour always comes with a textual mark (✓/✗, words), so NO_COLOR terminals lose nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.text import Text

from okxscalp.config.schema import Purpose
from okxscalp.engine.views import HeaderView, PositionView, QuoteView
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.okx.models import symbol_of

Cells = tuple[Text | str, ...]

# The purposes the freshness pane shows, in column order, with their short headers.
SHOWN_PURPOSES: tuple[tuple[Purpose, str], ...] = (
    (Purpose.ORDER, "Ord"),
    (Purpose.EXIT, "Exit"),
    (Purpose.SIGNAL, "Sig"),
)

STATE_STYLE: Mapping[ConnectionState, str] = {
    ConnectionState.UP: "green",
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.LOGGING_IN: "yellow",
    ConnectionState.SUBSCRIBING: "yellow",
    ConnectionState.RECONNECTING: "bold red",
    ConnectionState.REFUSED: "bold red",
    ConnectionState.STOPPED: "dim",
}

MISSING = "—"
UNKNOWN_REGIME = "unknown"  # not detected yet (warm-up, no candles): never shown as a guessed regime


def format_age(age_s: float | None) -> str:
    if age_s is None:
        return MISSING
    if age_s < 0:
        age_s = 0.0
    if age_s < 10:
        return f"{age_s:.1f}s"
    if age_s < 60:
        return f"{age_s:.0f}s"
    if age_s < 3600:
        minutes, seconds = divmod(int(age_s), 60)
        return f"{minutes}m{seconds:02d}s"
    hours, rest = divmod(int(age_s), 3600)
    return f"{hours}h{rest // 60:02d}m"


def format_price(value: float | None) -> str:
    """Prices span BTC (~1e5) to DOGE (~1e-1): keep about six significant digits."""
    if value is None:
        return MISSING
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:.1f}"
    if magnitude >= 100:
        return f"{value:.2f}"
    if magnitude >= 1:
        return f"{value:.4f}"
    return f"{value:.5f}"


def format_percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}%"


def format_signed(value: float | None) -> Text:
    if value is None:
        return Text(MISSING)
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+.2f}", style=style)


def _mark(ok: bool) -> Text:
    return Text("✓", style="bold green") if ok else Text("✗", style="bold red")


def quote_row(quote: QuoteView) -> Cells:
    """Symbol, last, bid, ask, source, age, one ✓/✗ per shown purpose, current regime."""
    satisfied = [quote.satisfied.get(purpose, False) for purpose, _ in SHOWN_PURPOSES]
    if all(satisfied):
        age_style = "green"
    elif any(satisfied):
        age_style = "yellow"
    else:
        age_style = "bold red"
    source_style = {"ws": "", "rest": "yellow"}.get(quote.source, "bold red")
    stale = "" if any(satisfied) else " STALE"
    return (
        Text(symbol_of(quote.inst_id), style="bold"),
        format_price(quote.last),
        format_price(quote.bid),
        format_price(quote.ask),
        Text(quote.source, style=source_style),
        Text(format_age(quote.age_s) + stale, style=age_style),
        *(_mark(ok) for ok in satisfied),
        Text(quote.regime) if quote.regime else Text(UNKNOWN_REGIME, style="yellow"),
    )


def connection_row(health: ConnectionHealth, now_mono: float) -> Cells:
    """Connection, state, time in state, last message age, reconnects, retry countdown, notes."""
    state = Text(health.state.value, style=STATE_STYLE.get(health.state, ""))
    last_msg_age = None if health.last_message_mono is None else now_mono - health.last_message_mono
    if health.state in (ConnectionState.RECONNECTING, ConnectionState.REFUSED) and health.next_retry_mono is not None:
        retry = f"in {format_age(health.next_retry_mono - now_mono)}"
    else:
        retry = MISSING
    notes: list[Text] = []
    if health.breaker_open:
        notes.append(Text("BREAKER OPEN", style="bold red"))
    if health.lagging:
        lagging = ",".join(sorted(symbol_of(s) for s in health.lagging))
        notes.append(Text(f"lagging {lagging}", style="yellow"))
    if health.malformed:
        notes.append(Text(f"malformed {health.malformed}", style="yellow"))
    if health.last_error:
        notes.append(Text(health.last_error, style="red" if health.state is not ConnectionState.UP else "dim"))
    note = Text("; ").join(notes) if notes else Text(MISSING)
    return (
        Text(health.name, style="bold"),
        state,
        format_age(now_mono - health.since_mono),
        format_age(last_msg_age),
        str(health.reconnects),
        retry,
        note,
    )


def position_key(position: PositionView) -> str:
    return f"{position.inst_id}|{position.side}"


def position_row(position: PositionView) -> Cells:
    """Symbol, side, size, entry, entry regime (ORPHAN when none), TP/SL, uPnL, age, sources."""
    if position.orphan:
        symbol = Text(f"!{symbol_of(position.inst_id)}", style="bold red")
        regime = Text("ORPHAN", style="bold reverse red")
    elif position.unsnapshotted:  # managed from memory: its snapshot is not in the journal yet
        symbol = Text(f"!{symbol_of(position.inst_id)}", style="bold red")
        regime = Text(f"{position.entry_regime or MISSING} UNSNAPSHOTTED", style="bold reverse red")
    else:
        symbol = Text(symbol_of(position.inst_id), style="bold")
        regime = Text(position.entry_regime or MISSING)
    side = Text(position.side, style="green" if position.side == "long" else "red")
    # A safety status (why the snapshot write failed, what protects it, an amend under way) takes
    # the place of the TP source: it matters more while it lasts.
    tp_source: str | Text = Text(position.status, style="bold yellow") if position.status else (position.tp_source or MISSING)
    return (
        symbol,
        side,
        f"{position.size:g}",
        format_price(position.entry_px),
        regime,
        format_price(position.tp_px),
        format_percent(position.tp_percent),
        format_price(position.sl_px),
        format_percent(position.sl_percent),
        format_signed(position.upl),
        format_age(position.age_s),
        tp_source,
        position.sl_source or MISSING,
    )


KIND_STYLE: Mapping[FallbackKind, str] = {
    FallbackKind.STALE_REFUSED: "bold red",
    FallbackKind.REST_FALLBACK: "yellow",
    FallbackKind.LAGGING: "yellow",
    FallbackKind.FORCED_RECONNECT: "magenta",
    FallbackKind.CANDLE_POLL: "cyan",
    FallbackKind.BREAKER: "bold red",
    FallbackKind.ENTRY_GATE: "bold magenta",
    FallbackKind.MALFORMED: "red",
    FallbackKind.ADOPTED: "yellow",
    FallbackKind.SAFETY: "bold red",
    FallbackKind.SUBSCRIPTION_REFUSED: "bold red",
    FallbackKind.POSITION: "bold yellow",
    FallbackKind.CLOCK: "bold red",
    FallbackKind.ACCOUNT: "bold red",
    FallbackKind.ORDER_REJECTED: "bold red",
}


def _clock(epoch_s: float) -> str:
    # Local wall-clock time of day; the date is implied (the stream is recent by construction).
    return time.strftime("%H:%M:%S", time.localtime(epoch_s))


def event_row(event: FallbackEvent) -> Cells:
    kind = FallbackKind(event.kind)
    return (
        _clock(event.time),
        event.component,
        symbol_of(event.symbol) if event.symbol else MISSING,
        Text(kind.value, style=KIND_STYLE.get(kind, "")),
        event.source or MISSING,
        event.detail,
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the event stream shows: a symbol substring (case-insensitive) and/or one kind."""

    symbol: str = ""
    kind: FallbackKind | None = None

    @property
    def active(self) -> bool:
        return bool(self.symbol) or self.kind is not None

    def matches(self, event: FallbackEvent) -> bool:
        if self.kind is not None and FallbackKind(event.kind) is not self.kind:
            return False
        return not self.symbol or self.symbol.casefold() in event.symbol.casefold()

    def describe(self) -> str:
        parts = []
        if self.symbol:
            parts.append(f"symbol~{self.symbol}")
        if self.kind is not None:
            parts.append(f"kind={self.kind.value}")
        return " ".join(parts) if parts else "all"


def counts_line(counts: Mapping[str, int]) -> Text:
    """`stale_refused 12 · lagging 3 …` in FallbackKind order, kinds with zero left out."""
    pieces = []
    for kind in FallbackKind:
        count = counts.get(kind.value, 0)
        if count:
            pieces.append(Text.assemble((kind.value, KIND_STYLE.get(kind, "")), f" {count}"))
    if not pieces:
        return Text("no fallback events", style="dim")
    return Text(" · ").join(pieces)


def header_line(header: HeaderView, *, engine_problem: str = "") -> Text:
    """Mode, equity, entries running/halted with reasons, REST budget use, clock offset."""
    mode_style = {"SIM": "bold reverse cyan", "DEMO": "bold reverse yellow", "LIVE": "bold reverse red"}
    parts: list[Text] = [Text(f" {header.mode} ", style=mode_style.get(header.mode, "bold reverse"))]
    # Entries first: at 80 columns the tail of the line is what gets cut.
    if engine_problem:  # whatever the last snapshot said, a stopped engine makes no entries
        label, _, detail = engine_problem.partition(": ")
        parts.append(Text(label, style="bold reverse red"))
        parts.append(Text("entries STOPPED (engine not running)", style="bold red"))
        if detail:
            parts.append(Text(detail, style="red"))
    elif header.entries_running:
        parts.append(Text("entries RUNNING", style="bold green"))
    else:
        reasons = ", ".join(header.halt_reasons) or "unknown"
        parts.append(Text(f"entries HALTED ({reasons})", style="bold red"))
    equity = MISSING if header.equity is None else f"{header.equity:,.2f}"
    parts.append(Text(f"equity {equity}"))
    budget_style = "red" if header.rest_budget_use >= 0.8 else "yellow" if header.rest_budget_use >= 0.5 else ""
    parts.append(Text(f"REST {header.rest_budget_use:.0%}", style=budget_style))
    offset = MISSING if header.clock_offset_ms is None else f"{header.clock_offset_ms:+.0f}ms"
    parts.append(Text(f"clock {offset}"))
    return Text(" │ ").join(parts)


def new_events(previous_last: FallbackEvent | None, recent: Iterable[FallbackEvent]) -> list[FallbackEvent]:
    """The events of `recent` (bounded, newest last) that came after `previous_last`.

    The engine keeps the same event objects in its bounded buffer, so identity finds the overlap;
    equality is the fallback for engines that rebuild them. If the previous newest event has
    aged out of the buffer, everything in it is new to us.
    """
    events = list(recent)
    if previous_last is None:
        return events
    for index in range(len(events) - 1, -1, -1):
        if events[index] is previous_last:
            return events[index + 1 :]
    for index in range(len(events) - 1, -1, -1):
        if events[index] == previous_last:
            return events[index + 1 :]
    return events
