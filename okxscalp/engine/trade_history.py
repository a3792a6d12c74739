"""Closed positions for the console: a trade history, and wins against losses per entry regime.

Loaded from the journal once at start-up (closed positions, and the fills to count their fees),
then kept current in memory: a close the engine finishes is added (PositionManager.on_closed), an
exit price found later fills in its P&L (close_pnl.py), and fills are tallied as they are written
(journal_watch.py). Nothing here queries the journal after start-up.

Fees: the fill rows carry their order's accumulated fee (the orders channel's `fee`, negative when
paid), so an order's fee is that of its latest row. A trade's fees are known once fills for its
whole size are tallied on both sides (the opening entry and whatever closed it: the engine's
close, or the exchange's attached TP/SL); its realised P&L is then the journal's (gross) P&L minus
them, else the gross P&L with fees unknown.

Funding: what the position paid or received while open (the journal's `funding` rows, engine/
funding.py) is added to its realised P&L next to the fees, and shown on its own.

`regime_stats` is the figure the audit needed: per entry regime, how many trades won and lost, the
average win and loss and the realised win:loss ratio (avg win / |avg loss|). A regime that loses
4.4× what it wins shows a ratio of about 0.23.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from okxscalp.engine.journal import FundingRecord, Journal, JournalPosition
from okxscalp.engine.notices import INFORMATION, WARNING, NoticeBoard
from okxscalp.engine.views import RegimeStats, TradesSummary, TradeView
from okxscalp.logging_setup import kv
from okxscalp.okx.models import Fill, PosSide, Side

if TYPE_CHECKING:
    from okxscalp.engine.journal import OrderRecord
    from okxscalp.engine.positions import ManagedPosition

log = logging.getLogger(__name__)

TRADES_SHOWN = 200
SIZE_EPS = 1e-9
TP_REASONS = ("take_profit", "take_profit_exchange")  # positions.CloseReason (positions imports views)
SL_REASONS = ("stop_loss", "stop_loss_exchange")
_REASON = re.compile(r"[a-z_]+")


def short_reason(text: str | None) -> str:
    """The close reason's name from the journal's text ("stop_loss_exchange: ... [..]" → its first word)."""
    match = _REASON.match(text or "")
    return match.group(0) if match else (text or "")


def opening_side(pos_side: str) -> str:
    return Side.BUY.value if pos_side == PosSide.LONG.value else Side.SELL.value


@dataclass(slots=True)
class FeeTally:
    """The fills of one position: contracts on each side and each order's accumulated fee."""

    entry_cl_ord_id: str
    fee_by_order: dict[str, float] = field(default_factory=dict)  # ordId -> accumulated fee (< 0: paid)
    opened: float = 0.0  # contracts filled opening it
    closed: float = 0.0  # contracts filled closing it

    def add(self, fill: Fill, opening: bool) -> None:
        self.fee_by_order[fill.ord_id] = fill.fee
        if opening:
            self.opened += fill.fill_sz
        else:
            self.closed += fill.fill_sz

    def paid(self, size: float) -> float | None:
        """USDT paid (positive), or None until fills for `size` contracts are tallied both ways."""
        if self.opened < size - SIZE_EPS or self.closed < size - SIZE_EPS:
            return None
        return -sum(self.fee_by_order.values())


class FeeTallies:
    """Fills assigned to positions in the order they happened: an opening fill of a new entry order
    starts its position's tally; a closing fill goes to the latest tally of its instrument and side
    (one position per instrument and side at a time)."""

    def __init__(self) -> None:
        self.current: dict[tuple[str, str], FeeTally] = {}

    def add(self, fill: Fill) -> FeeTally | None:
        pos_side = fill.pos_side.value
        key = (fill.inst_id, pos_side)
        opening = fill.side.value == opening_side(pos_side)
        tally = self.current.get(key)
        if opening and (tally is None or tally.entry_cl_ord_id != fill.cl_ord_id):
            tally = self.current[key] = FeeTally(fill.cl_ord_id)
        if tally is None:
            return None  # a closing fill of a position whose opening this journal never saw
        tally.add(fill, opening)
        return tally

    def of(self, inst_id: str, pos_side: str, entry_cl_ord_id: str) -> FeeTally | None:
        tally = self.current.get((inst_id, pos_side))
        return tally if tally is not None and tally.entry_cl_ord_id == entry_cl_ord_id else None


@dataclass(slots=True)
class TradeRecord:
    entry_cl_ord_id: str
    inst_id: str
    side: str
    entry_regime: str
    size: float
    entry_px: float | None
    exit_px: float | None
    opened_at: float
    closed_at: float
    reason: str
    gross_pnl: float | None  # the journal's realised P&L (before fees); None while the exit is unknown
    pnl_bound: float | None  # its worst case meanwhile
    fees: FeeTally | None
    funding: float = 0.0  # settled while it was open (negative: paid)

    def view(self) -> TradeView:
        paid = self.fees.paid(self.size) if self.fees is not None else None
        # Fees not tallied yet: the P&L stands before fees, and the view says so with `fees` None.
        if self.gross_pnl is None:
            realised = None
        elif paid is None:
            realised = self.gross_pnl + self.funding
        else:
            realised = self.gross_pnl - paid + self.funding
        return TradeView(
            entry_cl_ord_id=self.entry_cl_ord_id, inst_id=self.inst_id, side=self.side, entry_regime=self.entry_regime,
            size=self.size, entry_px=self.entry_px, exit_px=self.exit_px, opened_at=self.opened_at,
            closed_at=self.closed_at, reason=self.reason, realised_pnl=realised,
            pnl_bound=self.pnl_bound if self.gross_pnl is None else None, fees=paid, funding=self.funding,
        )


def record_of(row: JournalPosition, fees: FeeTally | None, funding: float = 0.0) -> TradeRecord:
    snap = row.snapshot
    return TradeRecord(
        entry_cl_ord_id=row.entry_cl_ord_id, inst_id=row.inst_id, side=row.pos_side, entry_regime=row.entry_regime,
        size=snap.size if snap is not None else 0.0, entry_px=snap.entry_px if snap is not None else None,
        exit_px=row.close_px, opened_at=row.opened_at,
        closed_at=row.closed_at if row.closed_at is not None else row.opened_at,
        reason=short_reason(row.close_reason), gross_pnl=row.realised_pnl,
        pnl_bound=row.realised_pnl_bound if row.realised_pnl is None else None, fees=fees, funding=funding,
    )


def _counted_pnl(trade: TradeView) -> float:
    """A trade's P&L in a total: its realised P&L, else its worst case while the exit is unknown. A
    close with neither (no exit price and no bound) adds nothing; it shows as unknown on its own row."""
    if trade.realised_pnl is not None:
        return trade.realised_pnl
    return trade.pnl_bound if trade.pnl_bound is not None else 0.0


def regime_stats(trades: Iterable[TradeView]) -> tuple[RegimeStats, ...]:
    """Per entry regime (sorted by name): trades, wins (P&L > 0) and losses (< 0) among those with
    a known P&L, win rate, average win and loss, the realised win:loss ratio, and the total P&L
    (a close whose exit is unknown counts at its worst case, as the daily loss limit does)."""
    by_regime: dict[str, list[TradeView]] = {}
    for trade in trades:
        by_regime.setdefault(trade.entry_regime or "orphan", []).append(trade)
    stats = []
    for regime, group in sorted(by_regime.items()):
        wins = [t.realised_pnl for t in group if t.realised_pnl is not None and t.realised_pnl > 0]
        losses = [t.realised_pnl for t in group if t.realised_pnl is not None and t.realised_pnl < 0]
        total = sum(_counted_pnl(t) for t in group)
        avg_win = sum(wins) / len(wins) if wins else None
        avg_loss = sum(losses) / len(losses) if losses else None
        settled = len(wins) + len(losses)
        stats.append(RegimeStats(
            regime=regime, count=len(group), wins=len(wins), losses=len(losses),
            win_rate=len(wins) / settled if settled else None, avg_win=avg_win, avg_loss=avg_loss,
            win_loss_ratio=avg_win / abs(avg_loss) if avg_win is not None and avg_loss is not None else None,
            total_pnl=total,
        ))
    return tuple(stats)


class TradeHistory:
    """See the module docstring. A JournalWatcher for fills (journal_watch.py)."""

    def __init__(self, notices: NoticeBoard, worst_case_of: Callable[[ManagedPosition], float],
                 clock: Callable[[], float] = time.time) -> None:
        self.notices = notices
        self._worst_case_of = worst_case_of  # PositionManager.worst_case_pnl: what an unknown exit is counted as
        self._clock = clock
        self.records: list[TradeRecord] = []  # oldest first
        self._index: dict[str, TradeRecord] = {}  # entry clOrdId -> record
        self.tallies = FeeTallies()
        self.funding: dict[str, float] = {}  # entry clOrdId -> funding settled on it (negative: paid)
        self._version = 0  # bumped on every change: the views are rebuilt only then
        self._cached: tuple[int, tuple[TradeView, ...], tuple[RegimeStats, ...], int] | None = None

    # ---- start-up ----------------------------------------------------------------------------

    async def load(self, journal: Journal) -> None:
        """Closed positions, every fill and every funding settlement, read once (off the event loop)."""
        rows, fills, funding = await asyncio.to_thread(
            lambda: (journal.positions("closed"), journal.fills(), journal.funding()))
        self.load_rows(rows, fills, funding)
        log.info("trade history loaded %s", kv(closed=len(rows), fills=len(fills), funding=len(funding)))

    def load_rows(self, rows: list[JournalPosition], fills: list[Fill], funding: Iterable[FundingRecord] = ()) -> None:
        for settled in funding:
            if settled.position_cl_ord_id:
                entry = settled.position_cl_ord_id
                self.funding[entry] = self.funding.get(entry, 0.0) + settled.amount
        by_entry: dict[str, FeeTally] = {}
        for fill in fills:
            tally = self.tallies.add(fill)
            if tally is not None:
                by_entry[tally.entry_cl_ord_id] = tally
        for row in sorted(rows, key=lambda r: r.closed_at or r.opened_at):
            self._add(record_of(row, by_entry.get(row.entry_cl_ord_id), self.funding.get(row.entry_cl_ord_id, 0.0)))

    # ---- live --------------------------------------------------------------------------------

    def order_recorded(self, order: OrderRecord) -> None:
        """Orders reach trades through their fills."""

    def order_updated(self, cl_ord_id: str, state: str, acc_fill_sz: float | None, avg_px: float | None,
                      detail: str | None, ord_id: str | None = None) -> None:
        """Orders reach trades through their fills."""

    def funding_recorded(self, settled: FundingRecord) -> None:
        """A funding settlement the engine journaled (funding.FundingWatch.on_charge)."""
        entry = settled.position_cl_ord_id
        if not entry:
            return  # an orphan's: no trade
        self.funding[entry] = self.funding.get(entry, 0.0) + settled.amount
        record = self._index.get(entry)
        if record is not None:
            record.funding = self.funding[entry]
            self._version += 1

    def fill_recorded(self, fill: Fill) -> None:
        if self.tallies.add(fill) is not None:
            self._version += 1

    def on_closed(self, position: ManagedPosition, reason: str, px: float | None, pnl: float | None) -> None:
        """A close the engine has journaled (PositionManager.on_closed). An orphan has no journal
        row and no trade: only its notice."""
        snap = position.snapshot
        if snap is None:
            self.notices.post("close", INFORMATION, "Closed orphan",
                              f"{position.inst_id} {position.pos_side.value} {position.size:g} ({reason})")
            return
        record = TradeRecord(
            entry_cl_ord_id=snap.entry_cl_ord_id, inst_id=position.inst_id, side=position.pos_side.value,
            entry_regime=snap.entry_regime.value, size=position.size, entry_px=snap.entry_px, exit_px=px,
            opened_at=snap.entry_time, closed_at=self._clock(), reason=reason, gross_pnl=pnl,
            pnl_bound=self._worst_case_of(position) if pnl is None else None,
            fees=self.tallies.of(position.inst_id, position.pos_side.value, snap.entry_cl_ord_id),
            funding=self.funding.get(snap.entry_cl_ord_id, 0.0),
        )
        self._add(record)
        self._close_notice(record)

    def on_exit_found(self, entry_cl_ord_id: str, px: float, pnl: float, reason_text: str) -> None:
        """A close journaled without its exit price has it now (close_pnl.py)."""
        record = self._index.get(entry_cl_ord_id)
        if record is None:
            return
        record.exit_px, record.gross_pnl, record.pnl_bound = px, pnl, None
        record.reason = short_reason(reason_text)
        self._version += 1

    def _add(self, record: TradeRecord) -> None:
        known = self._index.get(record.entry_cl_ord_id)
        if known is not None:  # finished twice (a push and a reconciliation racing): the latest stands
            self.records.remove(known)
        self.records.append(record)
        self._index[record.entry_cl_ord_id] = record
        self._version += 1

    def _close_notice(self, record: TradeRecord) -> None:
        view = record.view()
        reason = record.reason
        if reason in TP_REASONS:
            kind, severity, title = "tp", INFORMATION, "TP hit"
        elif reason in SL_REASONS:
            kind, severity, title = "sl", WARNING, "SL hit"
        else:
            kind, severity, title = "close", INFORMATION, "Closed"
        where = f" @ {view.exit_px:g}" if view.exit_px is not None else " @ ?"
        if view.realised_pnl is None:
            pnl = f"P&L unknown (counted {view.pnl_bound:+.4f} USDT)" if view.pnl_bound is not None else "P&L unknown"
        elif view.fees is not None:
            pnl = f"P&L {view.realised_pnl:+.4f} USDT after {view.fees:.4f} fees"
        else:
            pnl = f"P&L {view.realised_pnl:+.4f} USDT before fees"
        if view.funding and view.realised_pnl is not None:
            pnl += f", funding {view.funding:+.4f} included"
        self.notices.post(kind, severity, title,
                          f"{record.inst_id} {record.side} {record.size:g}{where} ({reason}): {pnl}")

    # ---- the view ----------------------------------------------------------------------------

    def _views(self) -> tuple[int, tuple[TradeView, ...], tuple[RegimeStats, ...], int]:
        cached = self._cached
        if cached is None or cached[0] != self._version:
            every = [r.view() for r in self.records]
            unknown = sum(1 for t in every if t.realised_pnl is None)
            cached = self._cached = (self._version, tuple(reversed(every[-TRADES_SHOWN:])), regime_stats(every), unknown)
        return cached

    def trades(self) -> tuple[TradeView, ...]:
        """Newest first, the latest TRADES_SHOWN."""
        return self._views()[1]

    def summary(self, day_pnl: float | None, daily_loss_limit: float | None) -> TradesSummary:
        """Per-regime figures over every closed trade; today's P&L and its limit as the account has them."""
        _, _, stats, unknown = self._views()
        return TradesSummary(day_pnl=day_pnl, daily_loss_limit=daily_loss_limit, unknown_pnl=unknown, by_regime=stats)
