"""An in-memory EngineControl double for layout and rendering tests of the console.

It does no trading: it holds a snapshot the test edits and records what the console asked for.
Acceptance tests drive the real engine against the simulator instead.
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console

from okxscalp.config.chains import ChainStep, Resolution
from okxscalp.config.schema import Purpose
from okxscalp.engine.journal import JournalError
from okxscalp.engine.views import (
    EngineSnapshot,
    HeaderView,
    Notice,
    OrderView,
    PositionView,
    QuoteView,
    RegimeStats,
    TradesSummary,
    TradeView,
)
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.health import ConnectionHealth, ConnectionState

SYMBOLS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP")
PRICES = {"BTC": 97123.4, "ETH": 3456.78, "SOL": 234.56, "XRP": 2.3451, "DOGE": 0.12345}


def fresh_quote(inst_id: str, *, age_s: float = 0.2, regime: str = "choppy") -> QuoteView:
    price = PRICES[inst_id.split("-")[0]]
    satisfied = {
        Purpose.ORDER: age_s <= 1.0,
        Purpose.EXIT: age_s <= 2.0,
        Purpose.SIGNAL: age_s <= 3.0,
        Purpose.GENERAL: age_s <= 5.0,
    }
    return QuoteView(inst_id, price, price * 0.9999, price * 1.0001, "ws", age_s, satisfied, regime)


def xrp_position(*, orphan: bool = False) -> PositionView:
    return PositionView(
        inst_id="XRP-USDT-SWAP",
        side="long",
        size=12.0,
        entry_px=2.3451,
        entry_regime=None if orphan else "choppy",
        tp_px=None if orphan else 2.4155,
        sl_px=None if orphan else 2.2982,
        tp_percent=None if orphan else 3.0,
        sl_percent=None if orphan else 2.0,
        tp_source="" if orphan else "symbol_profiles.XRP-USDT.choppy.tp_percent",
        sl_source="" if orphan else "symbol_profiles.XRP-USDT.choppy.sl_percent",
        upl=1.25,
        age_s=42.0,
        orphan=orphan,
    )


def working_entry(*, quote_age_s: float | None = 0.3) -> OrderView:
    """A BTC post-only entry waiting on the book, priced from a 0.3 s old WebSocket quote."""
    return OrderView(
        key="ent1btc",
        inst_id="BTC-USDT-SWAP",
        role="entry",
        side="buy",
        pos_side="long",
        ord_type="post_only",
        state="live",
        px=97100.0,
        sz=1.0,
        filled=0.0,
        age_s=4.2,
        quote_age_s=quote_age_s,
        quote_source=None if quote_age_s is None else "ws",
    )


def rejected_order() -> OrderView:
    return OrderView(
        key="ent2eth",
        inst_id="ETH-USDT-SWAP",
        role="entry",
        side="sell",
        pos_side="short",
        ord_type="post_only",
        state="rejected",
        px=3457.0,
        sz=2.0,
        filled=0.0,
        age_s=12.0,
        quote_age_s=0.4,
        quote_source="ws",
        detail="51008 Order failed. Insufficient USDT margin in account",
    )


def closed_trade(
    key: str = "ent0xrp", *, pnl: float | None = -4.4, regime: str = "choppy", closed_ago_s: float = 60.0
) -> TradeView:
    now = time.time()
    return TradeView(
        entry_cl_ord_id=key,
        inst_id="XRP-USDT-SWAP",
        side="long",
        entry_regime=regime,
        size=12.0,
        entry_px=2.3451,
        exit_px=None if pnl is None else 2.2982,
        opened_at=now - closed_ago_s - 300,
        closed_at=now - closed_ago_s,
        reason="sl" if pnl is None or pnl < 0 else "tp",
        realised_pnl=pnl,
        pnl_bound=-6.1 if pnl is None else None,
        fees=None if pnl is None else 0.03,
    )


def losing_regime_summary() -> TradesSummary:
    """The audit's failure: choppy wins often but loses 4.4× what it wins."""
    return TradesSummary(
        day_pnl=-42.1,
        daily_loss_limit=300.0,
        unknown_pnl=1,
        by_regime=(
            RegimeStats("choppy", 10, 7, 3, 0.7, 1.0, -4.4, 1.0 / 4.4, -6.2),
            RegimeStats("trending", 4, 2, 2, 0.5, 6.0, -2.0, 3.0, 8.0),
        ),
    )


@dataclass
class FakeEngine:
    mode: str = "SIM"
    quotes: list[QuoteView] = field(default_factory=lambda: [fresh_quote(s) for s in SYMBOLS])
    connections: list[ConnectionHealth] = field(default_factory=list)
    positions: list[PositionView] = field(default_factory=list)
    events: list[FallbackEvent] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    entries_running: bool = True
    running: bool = False
    fail_with: BaseException | None = None
    starting: bool = False  # start-up not complete: the halt reason is "starting"
    returns: bool = False  # run() returns at once (the engine stopped)
    closed: bool = False  # set once run() ended: control calls then raise like the real engine's
    orders: list[OrderView] = field(default_factory=list)
    trades: list[TradeView] = field(default_factory=list)  # newest first, as the engine lists them
    trades_summary: TradesSummary | None = None
    notices: list[Notice] = field(default_factory=list)

    def __post_init__(self) -> None:
        now = time.monotonic()
        if not self.connections:
            self.connections = [
                ConnectionHealth(name, ConnectionState.UP, now - 30, now - 0.1, 100)
                for name in ("public", "business", "private")
            ]

    # --- EngineControl ---
    def snapshot(self) -> EngineSnapshot:
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event.kind.value] = counts.get(event.kind.value, 0) + 1
        reasons = ("starting",) if self.starting else () if self.entries_running else ("operator",)
        header = HeaderView(self.mode, 10_000.0, not reasons, reasons, 0.12, 3.0)
        return EngineSnapshot(
            header,
            tuple(self.quotes),
            tuple(h.copy() for h in self.connections),
            tuple(self.positions),
            tuple(self.events[-200:]),
            counts,
            orders=tuple(self.orders),
            trades=tuple(self.trades),
            trades_summary=self.trades_summary,
            notices=tuple(self.notices[-50:]),
        )

    def _control(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.closed:  # what the real engine raised once its run had ended
            raise JournalError("journal fake-journal.sqlite is closed (fallback event)")

    def request_reconnect(self, connection: str | None) -> None:
        self._control("reconnect", connection)

    def request_flatten(self) -> None:
        self._control("flatten", None)
        self.positions.clear()

    def request_close(self, inst_id: str, side: str) -> None:
        self._control("close", (inst_id, side))

    def pause_entries(self) -> None:
        self._control("pause", None)
        self.entries_running = False

    def resume_entries(self) -> None:
        self._control("resume", None)
        self.entries_running = True

    # --- ConsoleEngine ---
    async def run(self) -> None:
        self.running = True
        try:
            if self.fail_with is not None:
                raise self.fail_with
            if self.returns:
                return
            await asyncio.Event().wait()
        finally:
            self.running = False
            self.closed = True

    def explain(self, symbol: str, regime: str) -> list[Resolution]:
        self.calls.append(("explain", (symbol, regime)))
        own = f"symbol_profiles.{symbol}.{regime}.tp_percent"
        by_symbol = f"order_executor.limit_order.by_symbol.{symbol}.by_regime.{regime}.limit_offset_percent"
        by_regime = f"order_executor.limit_order.by_regime.{regime}.limit_offset_percent"
        return [
            Resolution("tp_percent", 3.0, own, (ChainStep(own, True, 3.0),)),
            Resolution(
                "limit_offset_percent",
                0.05,
                by_regime,
                (ChainStep(by_symbol, False), ChainStep(by_regime, True, 0.05)),
            ),
        ]

    # --- test helpers ---
    def stall(self, inst_id: str, age_s: float = 4.0) -> None:
        self.quotes = [fresh_quote(q.inst_id, age_s=age_s) if q.inst_id == inst_id else q for q in self.quotes]

    def add_event(self, symbol: str, kind: FallbackKind, detail: str = "", source: str = "none") -> FallbackEvent:
        event = FallbackEvent(time.time(), "registry", symbol, kind, detail or f"{kind.value} on {symbol}", source)
        self.events.append(event)
        return event

    def add_notice(self, kind: str, title: str, text: str = "", severity: str = "information") -> Notice:
        seq = self.notices[-1].seq + 1 if self.notices else 1
        notice = Notice(seq, time.time(), kind, severity, title, text or title)
        self.notices.append(notice)
        return notice

    def set_state(self, name: str, state: ConnectionState, **changes: Any) -> None:
        now = time.monotonic()
        self.connections = [
            replace(h, state=state, since_mono=now, **changes) if h.name == name else h for h in self.connections
        ]


def screen_text(app: Any) -> str:
    """The current screen as plain text (what a terminal would show, without styles)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)
