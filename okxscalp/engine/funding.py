"""Funding on open positions, as the engine learns it from the exchange.

OKX settles funding on every open USDT-perpetual position every 8 hours (00:00, 08:00, 16:00 UTC):
the position pays (or receives) its value at the mark price times the funding rate, longs paying
a positive rate (OKX help, perpetual swap funding fee; docs get-bills-details type 8, subType
173 expense / 174 income). The `positions` push the engine already receives carries `fundingFee`,
the position's accumulated funding (docs websocket-positions-channel), parsed at the edge into
`Position.funding_fee`. A settlement shows as a change of that total: the difference from what
the journal already holds for the position is one funding charge. It is journaled (table
`funding`), counted in today's realised P&L (the daily loss limit), shown as a `funding` event
and a notice, and added to the trade's P&L next to its fees (trade_history.py).

A position of ours is matched to its journal rows by its entry clOrdId, so a settlement made while
the engine was down is journaled at the next push after the restart (the exchange total minus the
journal's). An orphan (opened outside the engine) has no journal identity: its first push sets the
baseline, and only settlements seen after it are journaled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from okxscalp.engine.journal import FundingRecord, Journal
from okxscalp.engine.notices import INFORMATION, WARNING, NoticeBoard
from okxscalp.engine.positions import ManagedPosition
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Position

log = logging.getLogger(__name__)

FUNDING_EPS = 1e-9  # USDT: below this, the total did not change


def position_funding_key(position: ManagedPosition) -> str:
    """The journal identity of a position's funding: its entry clOrdId, or the orphan's key."""
    if position.snapshot is not None:
        return position.snapshot.entry_cl_ord_id
    return f"orphan:{position.inst_id}/{position.pos_side.value}"


def new_funding(known_total: float, reported_total: float) -> float | None:
    """The funding settled since `known_total`, or None when the exchange's total did not change."""
    amount = reported_total - known_total
    return amount if abs(amount) > FUNDING_EPS else None


@dataclass(slots=True)
class FundingWatch:
    """Turns the `fundingFee` of positions pushes into journaled funding charges (module doc)."""

    journal: Journal
    notices: NoticeBoard
    event: Callable[[FallbackKind, str, str, str, str], None]  # EngineParts.event
    record_realised: Callable[[float], None]  # Account.record_realised: today's P&L
    on_charge: list[Callable[[FundingRecord], None]] = field(default_factory=list)  # trade history
    known: dict[str, float] = field(default_factory=dict)  # position key -> accumulated funding journaled
    charges: int = 0  # funding charges journaled this run

    def load(self, records: list[FundingRecord]) -> None:
        """The journal's funding rows (start-up): what each of our positions has been charged."""
        for record in records:
            if record.position_cl_ord_id:
                self.known[record.position_cl_ord_id] = self.known.get(record.position_cl_ord_id, 0.0) + record.amount

    def on_position(self, position: ManagedPosition, p: Position) -> FundingRecord | None:
        """A positions push (or REST row) for a managed position: journal what it newly paid or got."""
        key = position_funding_key(position)
        if p.funding_fee is None:  # not in this row: nothing learnt (reading it as 0 would be a charge)
            return None
        position.funding = p.funding_fee
        if position.snapshot is None and key not in self.known:
            self.known[key] = p.funding_fee  # an orphan's first sight: the baseline, not a charge
            return None
        amount = new_funding(self.known.get(key, 0.0), p.funding_fee)
        if amount is None:
            return None
        record = FundingRecord(
            inst_id=p.inst_id, pos_side=p.pos_side.value,
            position_cl_ord_id=position.snapshot.entry_cl_ord_id if position.snapshot is not None else "",
            amount=amount, total=p.funding_fee, ts_ms=p.u_time_ms,
        )
        # Journaled first: if the write cannot even be queued (it raises), the total stays unknown
        # and the resync after the failed push sees the same charge again.
        self.journal.record_funding(record)
        self.known[key] = p.funding_fee
        self.charges += 1
        self.record_realised(amount)
        what = "received" if amount > 0 else "paid"
        detail = (f"funding {what}: {amount:+.6f} USDT on {p.pos_side.value} {abs(p.pos):g} "
                  f"(position total {p.funding_fee:+.6f})")
        log.info("funding settled %s", kv(inst_id=p.inst_id, side=p.pos_side.value, amount=round(amount, 8),
                                          total=round(p.funding_fee, 8)))
        self.event(FallbackKind.FUNDING, p.inst_id, detail, "exchange", "funding")
        self.notices.post("funding", INFORMATION if amount > 0 else WARNING, "Funding", f"{p.inst_id} {detail}")
        for listener in self.on_charge:
            listener(record)
        return record
