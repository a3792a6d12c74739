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
    """Symbol, bid, ask, source, age, one ✓/✗ per shown purpose, current regime, last."""
    satisfied = [quote.satisfied.get(purpose, False) for purpose, _ in SHOWN_PURPOSES]
    if all(satisfied):
        age_style = "green"
    elif any(satisfied):
        age_style = "yellow"
    else:
        age_style = "bold red"
    source_style = {"ws": "", "rest": "yellow"}.get(quote.source, "bold red")
    return (
        Text(symbol_of(quote.inst_id), style="bold"),
        format_price(quote.bid),
        format_price(quote.ask),
        Text(quote.source, style=source_style),
        Text(_age_cell(quote.age_s, stale=not any(satisfied)), style=age_style),
        *(_mark(ok) for ok in satisfied),
        Text(quote.regime) if quote.regime else Text(UNKNOWN_REGIME, style="yellow"),
        format_price(quote.last),  # last: at 80 columns it is the one off to the right
    )


AGE_CELL_WIDTH = 10  # "4.0s STALE": the freshness pane's Age column


def _age_cell(age_s: float | None, *, stale: bool) -> str:
    """The age, and STALE when no purpose is satisfied, in AGE_CELL_WIDTH: the word never cut."""
    age = format_age(age_s)
    if not stale:
        return age
    if len(age) + len(" STALE") > AGE_CELL_WIDTH and age_s is not None:
        age = f"{int(age_s // 60)}m" if age_s < 3600 else f"{int(age_s // 3600)}h"
    return f"{age} STALE"


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
        notes.append(error_note(health, now_mono))
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


def error_note(health: ConnectionHealth, now_mono: float) -> Text:
    """The connection's last error, its age first (a narrow column cuts the tail): on a connection
    that is up again it is history, shown calm; on one that is not, it is the current fault."""
    age = "" if health.last_error_mono is None else f"{format_age(now_mono - health.last_error_mono)} ago: "
    if health.state is ConnectionState.UP:
        return Text(f"{age}{health.last_error}", style="italic")
    return Text(f"{age}{health.last_error}", style="red")


def position_key(position: PositionView) -> str:
    return f"{position.inst_id}|{position.side}"


def position_row(position: PositionView) -> Cells:
    """Symbol, side, size, entry, entry regime (ORPHAN when none), TP/SL, uPnL, age, liquidation
    price and distance, sources."""
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
        format_price(position.liq_px),
        liq_distance_cell(position),
        tp_source,
        position.sl_source or MISSING,
    )


def liq_distance_cell(position: PositionView) -> Text:
    """Distance from the mark to the exchange's liquidation price, % of the mark: bold red when the
    liquidation would come before the stop (nearer than the SL), "—" when none is reachable."""
    distance = position.liq_distance_percent
    if distance is None:
        return Text(MISSING, style="dim")
    nearer_than_stop = position.sl_percent is not None and distance <= position.sl_percent
    return Text(format_percent(distance), style="bold red" if nearer_than_stop else "")


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
    FallbackKind.FUNDING: "cyan",
    FallbackKind.ORDER_VIA_REST: "yellow",
}


def _clock(epoch_s: float) -> str:
    # Local wall-clock time of day; the date is implied (the stream is recent by construction).
    return time.strftime("%H:%M:%S", time.localtime(epoch_s))


def event_row(event: FallbackEvent) -> Cells:
    """Time, symbol, kind, what was used, detail (its component and every field: Enter)."""
    kind = FallbackKind(event.kind)
    detail = event.detail if event.count <= 1 else f"×{event.count} {event.detail}"
    return (
        _clock(event.time),
        symbol_of(event.symbol) if event.symbol else MISSING,
        Text(kind.value, style=KIND_STYLE.get(kind, "")),
        event.source or MISSING,
        detail,
    )


def event_fields(event: FallbackEvent) -> tuple[tuple[str, str], ...]:
    """Every field of one event, labelled, for its detail screen."""
    return (
        ("time", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time)) + f".{int(event.time % 1 * 1000):03d}"),
        ("kind", FallbackKind(event.kind).value),
        ("symbol", event.symbol or MISSING),
        ("component", event.component),
        ("used", event.source or MISSING),
        ("count", str(event.count)),
        ("detail", event.detail),
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


def counts_line(counts: Mapping[str, int], event_filter: EventFilter | None = None) -> Text:
    """`stale_refused 12 · lagging 3 …` in FallbackKind order, kinds with zero left out. The counts
    are the engine's totals by kind: a kind filter keeps its kind, and a symbol filter is said to
    be not applied (the engine does not count by symbol)."""
    kind_filter = event_filter.kind if event_filter is not None else None
    pieces = []
    for kind in FallbackKind:
        count = counts.get(kind.value, 0)
        if count and kind_filter in (None, kind):
            pieces.append(Text.assemble((kind.value, KIND_STYLE.get(kind, "")), f" {count}"))
    if not pieces:
        line = Text(f"no {kind_filter.value} events" if kind_filter else "no fallback events", style="italic")
    else:
        line = Text(" · ").join(pieces)
    if event_filter is not None and event_filter.symbol:
        line.append("  (totals: every symbol)", style="italic")
    return line


HEADER_SEPARATOR = " │ "
COMPACT_SEPARATOR = "│"
MODE_STYLE: Mapping[str, str] = {"SIM": "bold reverse cyan", "DEMO": "bold reverse yellow", "LIVE": "bold reverse red"}
LEAST_DETAIL = 8  # below this many columns for the halt reasons, the header goes compact first


def _entries_part(header: HeaderView, engine_problem: str, *, compact: bool = False) -> tuple[list[Text], Text, str]:
    """(labels before it, the entries state, its detail that may be cut: halt reasons or why the
    engine stopped; "" when entries run)."""
    word = "" if compact else "entries "
    if engine_problem:  # whatever the last snapshot said, a stopped engine makes no entries
        label, _, detail = engine_problem.partition(": ")
        return [Text(label, style="bold reverse red")], Text(f"{word}STOPPED", style="bold red"), (
            detail or "engine not running"
        )
    if header.entries_running:
        return [], Text("entries running", style="green"), ""  # the healthy state is calm
    return [], Text(f"{word}HALTED", style="bold red"), ", ".join(header.halt_reasons) or "unknown"


def equity_text(header: HeaderView, *, compact: bool = False) -> Text:
    """`equity 10,000.00 4.0s`; `equity 10,000.00 (3m12s old, balance failing)` once a refresh failed."""
    equity = MISSING if header.equity is None else f"{header.equity:,.2f}"
    if header.balance_error:
        age = format_age(header.equity_age_s)
        failing = "failing" if compact else "balance failing"
        return Text(f"equity {equity} ({age} old, {failing})", style="bold red")
    if header.equity_age_s is None:
        return Text(f"equity {equity}")
    return Text.assemble(f"equity {equity} ", (format_age(header.equity_age_s), "italic"))


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def header_line(
    header: HeaderView, *, engine_problem: str = "", width: int | None = None, sim_url: str | None = None
) -> Text:
    """Mode, entries running/halted with reasons, equity with its age, REST budget use, clock
    offset and, when there is room, the simulator's URL.

    Laid out by priority for `width` columns: everything but the halt reasons (or the engine's
    failure) always fits at 80; they get the width that is left, cut with "…" (the full list is in
    the help screen). When even that leaves them too little, the line goes compact (narrower
    separators and words) before cutting further."""
    budget_style = "red" if header.rest_budget_use >= 0.8 else "yellow" if header.rest_budget_use >= 0.5 else ""
    offset = MISSING if header.clock_offset_ms is None else f"{header.clock_offset_ms:+.0f}ms"
    mode = Text(f" {header.mode} ", style=MODE_STYLE.get(header.mode, "bold reverse"))
    sim = sim_url.removeprefix("http://") if sim_url else None

    def line(*, compact: bool, room: int | None, with_sim: bool) -> Text:
        """The line with the detail cut to `room` columns (None: whole)."""
        labels, entries, detail = _entries_part(header, engine_problem, compact=compact)
        state = entries.copy()
        if detail:
            state.append(f" ({detail if room is None else _cut(detail, room)})")
        parts = [mode, *labels, state, equity_text(header, compact=compact)]
        parts += [Text(f"REST {header.rest_budget_use:.0%}", style=budget_style), Text(f"clock {offset}")]
        if with_sim and sim:
            parts.append(Text(f"sim {sim}", style="italic"))
        return Text(COMPACT_SEPARATOR if compact else HEADER_SEPARATOR).join(parts)

    full = line(compact=False, room=None, with_sim=True)
    if width is None or full.cell_len <= width:
        return full
    whole = line(compact=False, room=None, with_sim=False)
    if whole.cell_len <= width:
        return whole
    for compact in (False, True):
        room = width - line(compact=compact, room=0, with_sim=False).cell_len + 1  # +1: the "…" of room 0
        if room >= LEAST_DETAIL or compact:
            return line(compact=compact, room=max(room, 1), with_sim=False)
    raise AssertionError("unreachable")


def status_text(header: HeaderView | None, *, engine_problem: str = "") -> Text:
    """What the header may cut at 80 columns, in full (the help screen): the entries state with
    every halt reason or the engine's failure, and the equity with the balance refresh's error."""
    if header is None:
        return Text("no snapshot from the engine yet", style="italic")
    labels, entries, detail = _entries_part(header, engine_problem)
    line = Text(" ").join([*labels, entries])
    if detail:
        line.append(f" ({detail})")
    line.append("\n")
    line.append_text(equity_text(header))
    if header.balance_error:
        line.append(f"\nbalance refresh: {header.balance_error}", style="red")
    return line


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
