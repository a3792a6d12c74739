"""The console's orders: what the engine is working, and what it has just finished with.

Rows come from three places, none of them a journal query:
- every order the engine writes to the journal (journal_watch.py): entries with the quote each was
  priced from, exits, closes, flatten closes and protective stops, with every state change after;
- the attached TP/SL of each open position (one `oco` algo on the exchange holding both legs),
  shown as a TP row and an SL row at the levels the exchange holds, with what the last
  verification found (exit_owner.py: `live`, `not_listed` or `unverified`);
- a close: the attached TP/SL rows and the position's protective stops end with it (`filled` for
  the leg that closed it, else `canceled` / `gone`: OKX cancels a position's TP/SL when it is gone).

A finished order (filled, canceled, rejected, not placed, gone) stays listed FINISHED_KEPT_S
(at most FINISHED_MAX of them) so a rejection is seen with its reason. An entry fill and an order
the exchange refused are also notices (notices.py).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from okxscalp.engine.journal import OrderPurpose, OrderRecord
from okxscalp.engine.notices import ERROR, INFORMATION, NoticeBoard
from okxscalp.engine.views import OrderView
from okxscalp.okx.models import Fill

if TYPE_CHECKING:
    from okxscalp.engine.exit_owner import ExchangeLegs
    from okxscalp.engine.positions import ManagedPosition

log = logging.getLogger(__name__)

FINISHED_KEPT_S = 60.0
FINISHED_MAX = 40
# Final for the board: the exchange's final states, and the journal's own (a refusal, an order
# the exchange never had, a protective stop no longer listed).
FINAL_STATES = frozenset({"filled", "canceled", "mmp_canceled", "rejected", "not_placed", "gone"})
ROLE_OF_PURPOSE = {
    OrderPurpose.ENTRY.value: "entry",
    OrderPurpose.EXIT.value: "exit",
    OrderPurpose.CLOSE.value: "close",
    OrderPurpose.FLATTEN.value: "flatten",
    OrderPurpose.PROTECT.value: "stop",
}
TP_EXCHANGE = "take_profit_exchange"  # positions.CloseReason (not imported: positions imports views)
SL_EXCHANGE = "stop_loss_exchange"

LegsOf = Callable[["ManagedPosition"], "ExchangeLegs | None"]


@dataclass(slots=True)
class BoardOrder:
    key: str
    inst_id: str
    role: str
    side: str
    pos_side: str
    ord_type: str
    state: str
    px: float | None
    sz: float | None  # None: the whole position ("all", a protective stop)
    filled: float
    sent_wall: float
    quote_age_s: float | None
    quote_source: str | None
    detail: str
    position_cl_ord_id: str = ""
    avg_px: float | None = None
    ended_wall: float | None = None
    ord_id: str = ""  # the exchange's id once acknowledged (algoId for a protective stop)

    def view(self, now: float, size_of: Callable[[str, str], float | None]) -> OrderView:
        sz = self.sz if self.sz is not None else size_of(self.inst_id, self.pos_side)
        return OrderView(
            key=self.key, inst_id=self.inst_id, role=self.role, side=self.side, pos_side=self.pos_side,
            ord_type=self.ord_type, state=self.state, px=self.px, sz=sz if sz is not None else 0.0,
            filled=self.filled, age_s=max(0.0, now - self.sent_wall), quote_age_s=self.quote_age_s,
            quote_source=self.quote_source, detail=self.detail,
        )


def _text(value: object) -> str:
    """An OrderRecord's side/posSide: a plain string, or the enum written as one."""
    return str(getattr(value, "value", value))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class OrderBoard:
    """See the module docstring. A JournalWatcher (journal_watch.py)."""

    def __init__(self, notices: NoticeBoard, clock: Callable[[], float] = time.time) -> None:
        self.notices = notices
        self._clock = clock
        self.working: dict[str, BoardOrder] = {}
        self.finished: deque[BoardOrder] = deque(maxlen=FINISHED_MAX)

    # ---- journal writes ----------------------------------------------------------------------

    def order_recorded(self, order: OrderRecord) -> None:
        known = self.working.get(order.cl_ord_id)
        row = BoardOrder(
            key=order.cl_ord_id, inst_id=order.inst_id, role=ROLE_OF_PURPOSE.get(order.purpose, order.purpose),
            side=_text(order.side), pos_side=_text(order.pos_side) or "net", ord_type=order.ord_type,
            state=known.state if known is not None else "sent", px=_number(order.px), sz=_number(order.sz),
            filled=known.filled if known is not None else 0.0,
            sent_wall=known.sent_wall if known is not None else self._clock(),
            quote_age_s=order.quote_age_s, quote_source=order.quote_source, detail=order.detail,
            position_cl_ord_id=order.position_cl_ord_id, avg_px=known.avg_px if known is not None else None,
            ord_id=order.ord_id or (known.ord_id if known is not None else ""),
        )
        self.working[order.cl_ord_id] = row
        self._apply(row, order.state, order.acc_fill_sz, order.avg_px, None)

    def order_updated(self, cl_ord_id: str, state: str, acc_fill_sz: float | None, avg_px: float | None,
                      detail: str | None, ord_id: str | None = None) -> None:
        row = self.working.get(cl_ord_id)
        if row is None:
            return  # not sent by this run (a previous run's order settled at reconcile), or already finished
        if ord_id:
            row.ord_id = ord_id
        self._apply(row, state, acc_fill_sz, avg_px, detail)

    def fill_recorded(self, fill: Fill) -> None:
        """Fills reach the rows through their order's state (accFillSz, avgPx)."""

    def _apply(self, row: BoardOrder, state: str, acc_fill_sz: float | None, avg_px: float | None,
               detail: str | None) -> None:
        was_state, was_filled = row.state, row.filled
        row.state = state
        if detail is not None:
            row.detail = detail
        if avg_px is not None:
            row.avg_px = avg_px
        if acc_fill_sz is not None and acc_fill_sz > row.filled:
            row.filled = acc_fill_sz
            if row.role == "entry":
                self._fill_notice(row)
        if state == "rejected" and was_state != "rejected":
            self._rejected_notice(row)
        if state in FINAL_STATES:
            self._finish(row)
        elif was_filled != row.filled or was_state != state:
            log.debug("order %s %s", row.key, state)

    def _finish(self, row: BoardOrder) -> None:
        if self.working.get(row.key) is row:
            del self.working[row.key]
        row.ended_wall = self._clock()
        self.finished.append(row)

    # ---- notices -----------------------------------------------------------------------------

    def _fill_notice(self, row: BoardOrder) -> None:
        whole = row.sz is not None and row.filled >= row.sz - 1e-12
        px = f" @ {row.avg_px:g}" if row.avg_px is not None else ""
        size = f"{row.filled:g}/{row.sz:g}" if row.sz is not None else f"{row.filled:g}"
        self.notices.post("fill", INFORMATION, "Entry filled" if whole else "Entry partly filled",
                          f"{row.inst_id} {row.pos_side} {size}{px}")

    def _rejected_notice(self, row: BoardOrder) -> None:
        px = f" @ {row.px:g}" if row.px is not None else ""
        size = f" {row.sz:g}" if row.sz is not None else ""
        self.notices.post("rejected", ERROR, f"Order rejected: {row.role}",
                          f"{row.inst_id} {row.side}{size}{px}: {row.detail or 'no reason given'}")

    # ---- a closed position -------------------------------------------------------------------

    def position_closed(self, position: ManagedPosition, reason: str) -> None:
        """The position is gone: its attached TP/SL go with it (the leg that closed it filled), and
        so do its protective stops (the exchange never pushes an algo's end to the engine)."""
        now = self._clock()
        why = f"position closed ({reason})"
        stops = [r for r in self.working.values()
                 if r.role == "stop" and r.inst_id == position.inst_id and r.pos_side == position.pos_side.value]
        if position.protect_algo_id and position.protect_algo_id not in {r.ord_id for r in stops}:
            stops.append(listed_stop_row(position, now))
        for row in stops:
            row.state, row.detail = "gone", f"{why}: triggered or cancelled with it"
            self._finish(row)
        for leg in attached_rows(position, None, now):
            hit = (leg.role == "tp" and reason == TP_EXCHANGE) or (leg.role == "sl" and reason == SL_EXCHANGE)
            leg.state = "filled" if hit else "canceled"
            leg.filled = position.size if hit else 0.0
            leg.detail = why
            leg.ended_wall = now
            self.finished.append(leg)

    # ---- the view ----------------------------------------------------------------------------

    def views(self, positions: Iterable[ManagedPosition], legs_of: LegsOf,
              size_of: Callable[[str, str], float | None]) -> tuple[OrderView, ...]:
        """Working orders (newest first, the open positions' TP/SL among them), then the recently
        finished ones (newest first)."""
        now = self._clock()
        working = list(self.working.values())
        placed = {r.ord_id for r in working if r.role == "stop" and r.ord_id}
        for position in positions:
            working.extend(attached_rows(position, legs_of(position), now))
            if position.protect_algo_id and position.protect_algo_id not in placed:
                working.append(listed_stop_row(position, now))
        working.sort(key=lambda r: r.sent_wall, reverse=True)
        while self.finished and now - (self.finished[0].ended_wall or now) > FINISHED_KEPT_S:
            self.finished.popleft()
        done = sorted(self.finished, key=lambda r: r.ended_wall or now, reverse=True)
        return tuple(r.view(now, size_of) for r in working + done)


def listed_stop_row(position: ManagedPosition, now: float) -> BoardOrder:
    """A protective stop the engine found listed on the exchange (placed by an earlier run): its
    algoId is known, its trigger price only for a position with a snapshot (the snapshot's SL)."""
    snap = position.snapshot
    return BoardOrder(
        key=position.protect_algo_id, inst_id=position.inst_id, role="stop",
        side="sell" if position.pos_side.value == "long" else "buy", pos_side=position.pos_side.value,
        ord_type="conditional", state="live", px=snap.sl_px if snap is not None else None, sz=position.size,
        filled=0.0, sent_wall=position.opened_wall, quote_age_s=None, quote_source=None,
        detail=position.protection or position.orphan_note or "listed on the exchange", ord_id=position.protect_algo_id,
    )


def attached_rows(position: ManagedPosition, legs: ExchangeLegs | None, now: float) -> list[BoardOrder]:
    """The TP and SL rows of a position's attached TP/SL: the levels the exchange holds (as sent
    with the entry, or amended), else the snapshot's; `legs` is the last verification (None: not
    looked at yet). An orphan has none."""
    snap = position.snapshot
    if snap is None:
        return []
    on_exchange = position.levels_on_exchange
    tp = _number(on_exchange[0]) if on_exchange[0] else snap.tp_px
    sl = _number(on_exchange[1]) if on_exchange[1] else snap.sl_px
    close_side = "sell" if snap.is_long else "buy"
    rows = []
    for role, px, held in (("tp", tp, legs.tp if legs else False), ("sl", sl, legs.sl if legs else False)):
        if legs is None or not legs.verified:
            state, detail = "unverified", legs.note if legs is not None else "not verified yet"
        else:
            state = "live" if held else "not_listed"
            detail = legs.note
        rows.append(BoardOrder(
            key=f"{snap.entry_cl_ord_id}:{role}", inst_id=position.inst_id, role=role, side=close_side,
            pos_side=position.pos_side.value, ord_type="oco", state=state, px=px, sz=position.size, filled=0.0,
            sent_wall=snap.entry_time, quote_age_s=None, quote_source=None, detail=detail,
            position_cl_ord_id=snap.entry_cl_ord_id,
        ))
    return rows
