"""Open positions: entry fills → durable snapshot → exits decided from the snapshot only.

The exchange is the truth for a position's size; the journal's snapshot is the truth for how it
is managed (entry regime, TP/SL prices and the parameters they came from, leverage). A position on
the exchange without a snapshot is an *orphan*: it is shown as such and handled by the configured
orphan policy (reconcile.py), never given an assumed regime.

Close reasons written to the journal:
- `take_profit` / `stop_loss`: the engine saw an EXIT-fresh quote cross the snapshot's TP/SL and
  closed reduce-only (close-position);
- `take_profit_exchange` / `stop_loss_exchange`: the attached TP/SL on the exchange closed it first
  (told apart by which side of the entry the closing fill landed);
- `flatten`, `operator_close`, `orphan_flatten`; `gone_from_exchange` (reconciliation found the
  position closed while the engine was not watching); `closed_outside_engine` (closed by someone
  else at a price near the entry).

Attached TP/SL after a close: OKX cancels a position's TP/SL when the position is gone, and the
simulator does the same. The engine does not rely on it: once a position is flat it cancels every
stop still pending for that instrument and side (a stale reduce-only stop could otherwise act on
the next position of the same side) — engine/stop_cleanup.py.

Exit ownership (engine/exit_owner.py): the exchange's attached orders own TP and SL; the engine
closes on its own only where the exchange side is missing (not verified), for the operator's
closes and for flatten. A close whose exit price is not known yet is journaled with realised P&L
NULL and its worst case (`worst_case_exit_px`), counted in the day's loss until the closing fill
is found (engine/close_pnl.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.engine.exits import TpSl, build_snapshot
from okxscalp.engine.journal import Journal, OrderPurpose, OrderRecord
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot
from okxscalp.engine.views import PositionView
from okxscalp.logging_setup import kv
from okxscalp.okx.models import Instrument, Order, Position, PosSide, Regime

log = logging.getLogger(__name__)

PositionKey = tuple[str, str]  # (instId, long|short)


class CloseReason:
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT_EXCHANGE = "take_profit_exchange"
    STOP_LOSS_EXCHANGE = "stop_loss_exchange"
    FLATTEN = "flatten"
    OPERATOR = "operator_close"
    ORPHAN_FLATTEN = "orphan_flatten"
    GONE = "gone_from_exchange"
    OUTSIDE = "closed_outside_engine"  # flat on the exchange, neither near the TP nor the SL
    LIQUIDATION = "liquidation"  # the exchange liquidated it (orders push category *_liquidation)


@dataclass(slots=True)
class CloseRequest:
    reason: str
    detail: str
    cl_ord_id: str
    requested_mono: float
    decided_px: float | None = None  # the quote price that crossed TP/SL (engine exits)
    exit_px: float | None = None  # the closing fill's avgPx, once known
    state: str = "sent"  # sent | live (accepted) | unknown (reply lost, being looked up by clOrdId)


@dataclass(slots=True)
class ManagedPosition:
    inst_id: str
    pos_side: PosSide
    size: float  # contracts, from the exchange
    snapshot: PositionSnapshot | None  # None = orphan
    opened_wall: float
    avg_px: float | None = None  # exchange's avgPx
    upl: float | None = None
    lever: float | None = None
    orphan_note: str = ""
    closing: CloseRequest | None = None
    protect_algo_id: str = ""  # orphan protective SL on the exchange
    last_close_fill_px: float | None = None
    last_close_fill_cl_ord_id: str = ""  # which order closed it (ours, or an attached TP/SL's)
    last_close_fill_ord_id: str = ""  # its ordId: the closing fills are looked up by it
    # The worst EXIT quote seen while open (long: lowest bid, short: highest ask): with the SL, it
    # bounds the loss of a close whose exit price is not known yet (worst_case_exit_px).
    worst_seen_px: float | None = None
    # Why its snapshot is not in the journal yet ("" = written). Meanwhile the snapshot above is
    # held in memory only (engine/snapshot_keeper.py retries the write; entries are halted).
    unsnapshotted_why: str = ""
    protection: str = ""  # what was last verified to protect it on the exchange (or why it could not be)
    # The attached TP/SL trigger prices known to be on the exchange (tick-grid strings), and the
    # state of bringing them to the snapshot's levels (engine/tpsl_sync.py).
    levels_on_exchange: tuple[str, str] = ("", "")
    levels_note: str = ""
    funding: float = 0.0  # accumulated funding the exchange reports (`fundingFee`; negative: paid)
    liq_px: float | None = None  # the exchange's estimated liquidation price (`liqPx`)
    mark_px: float | None = None
    liquidated_by: str = ""  # the category of the exchange order that liquidated it ("" = not liquidated)

    @property
    def key(self) -> PositionKey:
        # `_value_` (the enum's documented member attribute) is `.value` without the Enum
        # property's descriptor call: read on every ticker of an open position.
        return (self.inst_id, self.pos_side._value_)

    @property
    def unsnapshotted(self) -> bool:
        return bool(self.unsnapshotted_why)

    def status(self) -> str:
        """The console's note for this position ("" = nothing to say)."""
        notes = []
        if self.unsnapshotted_why:
            notes.append(f"UNSNAPSHOTTED: {self.unsnapshotted_why}")
            notes.append(self.protection or "exchange-side stop not verified yet")
        if self.levels_note:
            notes.append(self.levels_note)
        return " · ".join(notes)

    @property
    def orphan(self) -> bool:
        return self.snapshot is None

    def view(self, now_wall: float) -> PositionView:
        s = self.snapshot
        if s is None:
            return PositionView(
                inst_id=self.inst_id, side=self.pos_side.value, size=self.size, entry_px=self.avg_px,
                entry_regime=None, tp_px=None, sl_px=None, tp_percent=None, sl_percent=None,
                tp_source="", sl_source="", upl=self.upl, age_s=max(0.0, now_wall - self.opened_wall), orphan=True,
                funding=self.funding,
                liq_px=self.liq_px, liq_distance_percent=self.liq_distance_percent(),
            )
        p = s.exit_params
        tp_source = p.tp_atr_multiplier.source_path if p.mode.value == "atr" else p.tp_percent.source_path
        sl_source = p.sl_atr_multiplier.source_path if p.mode.value == "atr" else p.sl_percent.source_path
        return PositionView(
            inst_id=self.inst_id, side=self.pos_side.value, size=self.size, entry_px=s.entry_px,
            entry_regime=s.entry_regime.value, tp_px=s.tp_px, sl_px=s.sl_px,
            tp_percent=s.tp_distance_percent, sl_percent=s.sl_distance_percent,
            tp_source=tp_source, sl_source=sl_source, upl=self.upl,
            age_s=max(0.0, now_wall - s.entry_time), orphan=False,
            unsnapshotted=self.unsnapshotted, status=self.status(), funding=self.funding,
            liq_px=self.liq_px, liq_distance_percent=self.liq_distance_percent(),
        )

    def liq_distance_percent(self) -> float | None:
        """How far the mark is from the liquidation price, in % of the mark (None = not known)."""
        if self.liq_px is None or self.mark_px is None or not self.mark_px > 0:
            return None
        return abs(self.mark_px - self.liq_px) / self.mark_px * 100.0


def realised_pnl(snapshot: PositionSnapshot, exit_px: float, size: float, ct_val: float) -> float:
    """Gross PnL (before fees) of closing `size` contracts at `exit_px`."""
    direction = 1.0 if snapshot.is_long else -1.0
    return direction * (exit_px - snapshot.entry_px) * size * ct_val


def worst_case_exit_px(snapshot: PositionSnapshot, worst_seen_px: float | None) -> float:
    """The exit price a close with an unknown fill is counted at: the snapshot's SL, or the worst
    quote seen while the position was open when that is worse. Why this bounds it: the exchange's
    attached SL is a market order at its trigger, so it fills near the SL unless the market went
    past it, and then the position lived through that price (an engine or operator close happens
    at the market too, never below what was seen; TP exits are better than either)."""
    if worst_seen_px is None or not worst_seen_px > 0:
        return snapshot.sl_px
    return min(snapshot.sl_px, worst_seen_px) if snapshot.is_long else max(snapshot.sl_px, worst_seen_px)


def exchange_close_reason(snapshot: PositionSnapshot, exit_px: float | None) -> str:
    """A close the engine did not send. An attached TP/SL fills at (or just beyond) its trigger,
    so a fill past half the way to the TP (or to the SL) is told as that; anything nearer the
    entry was closed by someone else (manual close, another tool)."""
    if exit_px is None:
        return CloseReason.GONE
    entry = snapshot.entry_px
    direction = 1.0 if snapshot.is_long else -1.0
    moved = (exit_px - entry) * direction  # > 0 toward the TP
    if moved >= 0.5 * abs(snapshot.tp_px - entry):
        return CloseReason.TAKE_PROFIT_EXCHANGE
    if -moved >= 0.5 * abs(entry - snapshot.sl_px):
        return CloseReason.STOP_LOSS_EXCHANGE
    return CloseReason.OUTSIDE


@dataclass(slots=True)
class PositionBook:
    """The engine's open positions by (instId, posSide). Pure state, no I/O.

    `positions` is written only through `add` and `remove`, which keep the per-symbol index the
    tick path reads (`by_inst`, `has_long_or_short`: one lookup per ticker instead of a scan)."""

    positions: dict[PositionKey, ManagedPosition] = field(default_factory=dict)
    # instId -> its positions in the book's order (read only; add/remove rebuild a symbol's entry):
    # a tuple, so a caller iterating it is not disturbed by a close that changes the book meanwhile.
    by_inst: dict[str, tuple[ManagedPosition, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _long_or_short: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for inst_id in {key[0] for key in self.positions}:
            self._index(inst_id)

    def get(self, inst_id: str, pos_side: str) -> ManagedPosition | None:
        return self.positions.get((inst_id, pos_side))

    def for_inst(self, inst_id: str) -> list[ManagedPosition]:
        return list(self.by_inst.get(inst_id, ()))

    def has_long_or_short(self, inst_id: str) -> bool:
        """`get(inst_id, "long") or get(inst_id, "short")` is a position (asked on every ticker)."""
        return inst_id in self._long_or_short

    def inst_ids(self) -> set[str]:
        return {p.inst_id for p in self.positions.values()}

    def add(self, position: ManagedPosition) -> None:
        key = position.key
        self.positions[key] = position
        self._index(key[0])

    def remove(self, key: PositionKey) -> ManagedPosition | None:
        removed = self.positions.pop(key, None)
        self._index(key[0])
        return removed

    def _index(self, inst_id: str) -> None:
        """Rebuild `inst_id`'s entries of the index from `positions` (a few positions: cheap)."""
        mine = tuple(p for (inst, _), p in self.positions.items() if inst == inst_id)
        if mine:
            self.by_inst[inst_id] = mine
        else:
            self.by_inst.pop(inst_id, None)
        if (inst_id, "long") in self.positions or (inst_id, "short") in self.positions:
            self._long_or_short.add(inst_id)
        else:
            self._long_or_short.discard(inst_id)

    def views(self, now_wall: float) -> tuple[PositionView, ...]:
        return tuple(p.view(now_wall) for p in sorted(self.positions.values(), key=lambda p: p.key))


class PositionManager:
    """Snapshots entries, tracks sizes from the exchange, journals closes."""

    def __init__(self, journal: Journal, ct_val_of: Callable[[str], float],
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self._wall_clock = wall_clock  # the engine's clock: entry times of a backtest are simulated
        self.book = PositionBook()
        self._ct_val_of = ct_val_of
        # Called after a close is journaled: (position, reason, exit px, realised PnL).
        self.on_closed: list[Callable[[ManagedPosition, str, float | None, float | None], None]] = []

    # ---- entries ---------------------------------------------------------------------------

    def entry_snapshot(
        self,
        *,
        order: Order,
        regime: Regime,
        exit_params: ExitParams,
        instrument: Instrument,
        atr: float | None,
        leverage: Any,
        regime_inputs: dict[str, Any],
        signal_reason: str,
        levels: TpSl | None = None,
    ) -> tuple[PositionSnapshot, TpSl]:
        """The snapshot of an entry fill (pure): built from the fill's avgPx and accumulated size;
        a later fill of the same order keeps the first fill's entry time. `levels` as in
        `build_snapshot`. Raises ValueError (ExitPriceError) when it cannot be built."""
        if order.avg_px is None or order.acc_fill_sz <= 0:
            raise ValueError(f"{order.inst_id} {order.cl_ord_id}: fill without avgPx/accFillSz")
        existing = self.book.get(order.inst_id, order.pos_side.value)
        entry_time = existing.snapshot.entry_time if existing and existing.snapshot else self._wall_clock()
        return build_snapshot(
            inst_id=order.inst_id,
            pos_side=order.pos_side,
            entry_regime=regime,
            entry_time=entry_time,
            entry_px=order.avg_px,
            size=order.acc_fill_sz,
            exit_params=exit_params,
            instrument=instrument,
            atr=atr,
            leverage=leverage,
            entry_cl_ord_id=order.cl_ord_id,
            entry_ord_id=order.ord_id,
            algo_ids=tuple(a.attach_algo_id for a in order.attached if a.attach_algo_id),
            regime_inputs=regime_inputs,
            signal_reason=signal_reason,
            levels=levels,
        )

    def track_entry_fill(self, order: Order, snapshot: PositionSnapshot) -> ManagedPosition:
        """Put a filled entry in the book at once, with its snapshot (durable or not yet: the
        caller writes it, engine/snapshot_keeper.py): a position the exchange holds is never
        missing from the book, whatever the journal does."""
        position = self.book.get(order.inst_id, order.pos_side.value)
        if position is None:
            position = ManagedPosition(order.inst_id, order.pos_side, order.acc_fill_sz, snapshot, snapshot.entry_time)
            self.book.add(position)
        else:
            position.snapshot = snapshot
            position.size = max(position.size, order.acc_fill_sz)
        position.avg_px = order.avg_px
        return position

    def adopt(self, snapshot: PositionSnapshot, exchange: Position) -> ManagedPosition:
        """A journal position that is still on the exchange (start-up / reconnect)."""
        position = ManagedPosition(
            snapshot.inst_id, snapshot.pos_side, abs(exchange.pos), snapshot, snapshot.entry_time,
            avg_px=exchange.avg_px, upl=exchange.upl, lever=exchange.lever,
        )
        self.book.add(position)
        return position

    def add_orphan(self, exchange: Position, note: str) -> ManagedPosition:
        position = ManagedPosition(
            exchange.inst_id, exchange.pos_side, abs(exchange.pos), None,
            exchange.u_time_ms / 1000.0 if exchange.u_time_ms else self._wall_clock(),
            avg_px=exchange.avg_px, upl=exchange.upl, lever=exchange.lever, orphan_note=note,
        )
        self.book.add(position)
        return position

    # ---- exchange updates ------------------------------------------------------------------

    def on_position(self, p: Position) -> ManagedPosition | None:
        """A positions push / REST row. Returns the managed position when it has just gone flat
        (the caller journals the close)."""
        position = self.book.get(p.inst_id, p.pos_side.value)
        if position is None:
            return None
        position.upl = p.upl
        position.liq_px = p.liq_px
        if p.mark_px is not None:
            position.mark_px = p.mark_px
        if p.lever is not None:
            position.lever = p.lever
        if p.avg_px is not None and p.pos != 0:
            position.avg_px = p.avg_px
        size = abs(p.pos)
        if size > 0:
            position.size = size
            return None
        return position

    def on_close_fill(self, order: Order) -> None:
        """A reduce-only / closing order fill on one of our positions: remember its price."""
        position = self.book.get(order.inst_id, order.pos_side.value)
        if position is None or order.avg_px is None:
            return
        position.last_close_fill_px = order.avg_px
        position.last_close_fill_cl_ord_id = order.cl_ord_id
        position.last_close_fill_ord_id = order.ord_id
        if order.is_liquidation:
            position.liquidated_by = order.category
        if position.closing and position.closing.cl_ord_id == order.cl_ord_id:
            position.closing.exit_px = order.avg_px
            position.closing.state = order.state

    def finish_close(self, position: ManagedPosition, *, reason: str | None = None, exit_px: float | None = None) -> str:
        """Remove a flat position from the book and journal its close. Returns the reason used."""
        self.book.remove(position.key)
        snap = position.snapshot
        px = exit_px if exit_px is not None else (
            position.closing.exit_px if position.closing and position.closing.exit_px is not None else position.last_close_fill_px
        )
        detail = position.closing.detail if position.closing is not None else ""
        if reason is None and position.liquidated_by:
            reason = CloseReason.LIQUIDATION
            detail = f"{position.liquidated_by} by the exchange at {px} (bankruptcy price)"
        if reason is None:
            closing = position.closing
            exchange_won = (
                closing is not None and closing.exit_px is None and position.last_close_fill_px is not None
                and position.last_close_fill_cl_ord_id != closing.cl_ord_id
            )
            if closing is not None and not exchange_won:
                reason = closing.reason
            elif snap is not None:
                reason = exchange_close_reason(snap, px)
                if exchange_won:
                    detail = f"the exchange's attached TP/SL closed it first (engine close {closing.cl_ord_id} came too late: {detail})"
            else:
                reason = CloseReason.GONE
        pnl = None
        if snap is not None:
            bound = None
            if px is not None:
                pnl = realised_pnl(snap, px, position.size, self._ct_val_of(snap.inst_id))
            else:
                bound = self.worst_case_pnl(position)
            text = close_text(reason, detail, bound)
            self.journal.close_position(snap.entry_cl_ord_id, reason=text, close_px=px, realised_pnl=pnl,
                                        realised_pnl_bound=bound)
        log.info(
            "position closed %s",
            kv(inst=position.inst_id, side=position.pos_side.value, reason=reason, exit_px=px if px is not None else "?",
               pnl=round(pnl, 6) if pnl is not None else "?", orphan=position.orphan),
        )
        for callback in self.on_closed:
            callback(position, reason, px, pnl)
        return reason

    def worst_case_pnl(self, position: ManagedPosition) -> float:
        """What a close of `position` with an unknown exit price is counted as (≤ 0)."""
        snap = position.snapshot
        if snap is None:
            raise ValueError(f"{position.inst_id} {position.pos_side.value}: an orphan has no snapshot to bound")
        px = worst_case_exit_px(snap, position.worst_seen_px)
        return min(0.0, realised_pnl(snap, px, position.size, self._ct_val_of(snap.inst_id)))


UNKNOWN_EXIT_NOTE = "exit price unknown"


def close_text(reason: str, detail: str, bound: float | None) -> str:
    """The journal's close reason; with the exit price unknown it says so, and what is counted."""
    text = f"{reason}: {detail}" if detail else reason
    if bound is not None:
        text += f" [{UNKNOWN_EXIT_NOTE}: realised P&L counted as its worst case {bound:.6g} until the closing fill is found]"
    return text


def exit_order_record(
    position: ManagedPosition, cl_ord_id: str, purpose: OrderPurpose, *, quote_source: str | None,
    quote_age_s: float | None, quote_budget_s: float | None, detail: str, quote_ts_ms: int | None = None,
) -> OrderRecord:
    """The journal row of a close-position request (market, reduce-only by nature)."""
    close_side = "sell" if position.pos_side is PosSide.LONG else "buy"
    return OrderRecord(
        cl_ord_id=cl_ord_id, inst_id=position.inst_id, side=close_side, ord_type="market", sz=f"{position.size:g}",
        purpose=purpose.value, state="sent", pos_side=position.pos_side.value, reduce_only=True,
        quote_source=quote_source, quote_age_s=quote_age_s, quote_budget_s=quote_budget_s, quote_ts_ms=quote_ts_ms,
        detail=detail, position_cl_ord_id=position.snapshot.entry_cl_ord_id if position.snapshot else "",
    )

