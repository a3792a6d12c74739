"""Closes whose exit price is not known yet: counted at their worst case, shown, and resolved.

A position can go flat without the engine learning its exit price: the closing fill's push was
lost (a private-stream gap), and the fills query failed or did not list it. Its realised P&L is
then not zero but unknown, so:
- the journal row keeps `realised_pnl` NULL with its worst case in `realised_pnl_bound` (the loss at
  the snapshot's SL, or at the worst quote seen while open when that is worse:
  positions.worst_case_exit_px), and the close reason says "exit price unknown";
- the day's realised P&L takes the worst case at once (`Account.record_realised(bound)`);
- entries are halted (Halt.DAY_PNL_UNKNOWN, naming each position) while a close of today is
  unresolved: the daily loss limit cannot be trusted with a guess in it;
- a background task per close looks the fills up again (engine/closing_fills.py: by ordId, the
  3-month history too) with backoff until they are found, then journals the real exit, adds the
  difference (real - worst case) to the day's P&L and lifts the halt once none is left.
After a restart the journal's unresolved closes are picked up again (`resume`): the journal's
day sum (`realised_pnl_since`) already counts their worst case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from okxscalp.engine.closing_fills import closing_order_ids
from okxscalp.engine.journal import JournalError, JournalPosition
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import (
    UNKNOWN_EXIT_NOTE,
    CloseReason,
    ManagedPosition,
    exchange_close_reason,
    realised_pnl,
)
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError

log = logging.getLogger(__name__)

RESOLVE_FIRST_S = 0.5  # the first retry; doubled after each miss up to RESOLVE_MAX_S
RESOLVE_MAX_S = 5.0
DAY_S = 86_400.0


class ClosingFillLookup(Protocol):
    def __call__(
        self, snapshot: PositionSnapshot, *, ord_id: str = "", cl_ord_id: str = "", size: float | None = None
    ) -> Awaitable[float | None]: ...


@dataclass(slots=True)
class UnresolvedClose:
    entry_cl_ord_id: str
    inst_id: str
    pos_side: str
    snapshot: PositionSnapshot
    size: float
    bound: float  # what the day's P&L counts for it until the exit is found (≤ 0)
    closed_at: float  # epoch s
    ord_id: str = ""  # the closing order, when known
    cl_ord_id: str = ""
    attempts: int = 0
    last_error: str = "not looked up yet"

    @property
    def label(self) -> str:
        return f"{self.inst_id}/{self.pos_side} ({self.entry_cl_ord_id})"


def utc_midnight(now_s: float) -> float:
    return now_s // DAY_S * DAY_S


def resolved_text(old: str, snapshot: PositionSnapshot, px: float) -> str:
    """The close reason once the exit is found: the unknown-note goes, and a reason that could
    only say "gone" says which exchange order closed it."""
    base = old.split(f" [{UNKNOWN_EXIT_NOTE}")[0]
    if base.startswith(CloseReason.GONE):
        base = exchange_close_reason(snapshot, px) + base[len(CloseReason.GONE):]
    return f"{base} [exit price found later: {px:g}]"


class ClosePnlResolver:
    """See the module docstring."""

    def __init__(self, parts: EngineParts, lookup: ClosingFillLookup) -> None:
        self.parts = parts
        self._lookup = lookup
        self.unresolved: dict[str, UnresolvedClose] = {}  # entry clOrdId -> close
        # entry clOrdId -> (closed at, why it cannot be looked up at all)
        self.stuck: dict[str, tuple[float, str]] = {}
        self.resolved = 0  # closes whose exit was found later (tests, soak)
        # "instId/side" -> since: positions known flat whose exit price is being looked up right now
        # (the seconds of a fills lookup and its retries must not be seconds of entries on an
        # unknown day P&L)
        self.looking_up: dict[str, float] = {}
        # Told once an exit is found and journaled: (entry clOrdId, exit px, realised P&L, close reason)
        self.exit_found: list[Callable[[str, float, float, str], None]] = []

    # ---- new unknowns ------------------------------------------------------------------------

    def on_unknown_close(self, position: ManagedPosition) -> None:
        """A position just closed without an exit price (journaled with its worst case)."""
        snap = position.snapshot
        if snap is None or snap.entry_cl_ord_id in self.unresolved:
            return
        bound = self.parts.manager.worst_case_pnl(position)
        ord_id, cl_ord_id = closing_order_ids(position)
        item = UnresolvedClose(snap.entry_cl_ord_id, position.inst_id, position.pos_side.value, snap, position.size,
                               bound, self.parts.clock.wall_s(), ord_id, cl_ord_id)
        self.parts.account.record_realised(bound)  # the worst case now, the difference once known
        self._track(item, f"exit price unknown: counted as its worst case {bound:.6g} USDT until found")

    def resume(self) -> None:
        """After a restart: the journal's closes without realised P&L are looked up again (their
        worst case is in the journal's day sum already)."""
        try:
            rows = self.parts.journal.unresolved_closes()
        except JournalError as exc:
            self.stuck["*"] = (self.parts.clock.wall_s(), f"unresolved closes not readable from the journal ({exc})")
            log.error("unresolved closes not readable %s", kv(error=exc))
            self.refresh_halt()
            return
        self.stuck.pop("*", None)
        for row in rows:
            if row.entry_cl_ord_id not in self.unresolved:
                self._resume_row(row)
        self.refresh_halt()

    def _resume_row(self, row: JournalPosition) -> None:
        snap = row.snapshot
        closed_at = row.closed_at if row.closed_at is not None else self.parts.clock.wall_s()
        if snap is None:  # nothing to look it up with: shown, halted, never guessed
            self.stuck[row.entry_cl_ord_id] = (closed_at, (
                f"{row.inst_id}/{row.pos_side} ({row.entry_cl_ord_id}) has an unreadable snapshot ({row.snapshot_error})"
            ))
            return
        instrument = self.parts.instruments.get(snap.inst_id)
        if instrument is None:  # no contract value to value it with
            self.stuck[row.entry_cl_ord_id] = (closed_at, (
                f"{snap.inst_id}/{snap.pos_side.value} ({snap.entry_cl_ord_id}) is not a configured instrument"
            ))
            return
        bound = row.realised_pnl_bound
        if bound is None:  # a row from before the worst case was journaled: bound it now
            bound = min(0.0, realised_pnl(snap, snap.sl_px, snap.size, instrument.ct_val))
            self.parts.journal.settle_close_pnl(row.entry_cl_ord_id, reason=row.close_reason or CloseReason.GONE,
                                                close_px=None, realised_pnl=None, realised_pnl_bound=bound)
        item = UnresolvedClose(snap.entry_cl_ord_id, snap.inst_id, snap.pos_side.value, snap, snap.size, bound, closed_at)
        self._track(item, f"exit price still unknown after a restart: counted as its worst case {bound:.6g} USDT")

    def _track(self, item: UnresolvedClose, why: str) -> None:
        self.unresolved[item.entry_cl_ord_id] = item
        self._event(item, why)
        self.refresh_halt()
        self.parts.spawn(self._resolve(item), f"close pnl {item.inst_id}")

    # ---- resolution --------------------------------------------------------------------------

    async def _resolve(self, item: UnresolvedClose) -> None:
        delay = RESOLVE_FIRST_S
        while True:
            px: float | None = None
            try:
                px = await self._lookup(item.snapshot, ord_id=item.ord_id, cl_ord_id=item.cl_ord_id, size=item.size)
                if px is None:
                    item.last_error = "no closing fill listed yet"
            except OkxError as exc:
                item.last_error = f"fills query failed: {exc}"
            if px is not None and await self._settle(item, px):
                return
            item.attempts += 1
            log.warning("close exit price still unknown %s", kv(position=item.label, attempts=item.attempts,
                                                                 why=item.last_error, retry_in_s=delay))
            self._event(item, f"exit price still unknown ({item.last_error}); retry in {delay:g}s")
            self.refresh_halt()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESOLVE_MAX_S)

    async def _settle(self, item: UnresolvedClose, px: float) -> bool:
        """Journal the exit (committed first), then correct the day's P&L. False: retry later."""
        parts = self.parts
        pnl = realised_pnl(item.snapshot, px, item.size, parts.instruments[item.inst_id].ct_val)
        try:
            rows = await asyncio.to_thread(parts.journal.unresolved_closes)
            old = next((r.close_reason for r in rows if r.entry_cl_ord_id == item.entry_cl_ord_id), None)
            text = resolved_text(old or CloseReason.GONE, item.snapshot, px)
            written = await parts.clock.wait_thread(
                parts.journal.settle_close_pnl(item.entry_cl_ord_id, reason=text, close_px=px, realised_pnl=pnl)
            )
        except JournalError as exc:
            item.last_error = f"exit {px:g} found, journal write failed: {exc}"
            return False
        if not written:
            log.warning("resolved close had no journal row %s", kv(position=item.label, px=px))
        # The worst case was counted on the day of the close; only that day's figure is corrected.
        if utc_midnight(item.closed_at) == utc_midnight(self.parts.clock.wall_s()):
            parts.account.record_realised(pnl - item.bound)
        del self.unresolved[item.entry_cl_ord_id]
        self.resolved += 1
        for found in self.exit_found:
            found(item.entry_cl_ord_id, px, pnl, text)
        log.info("close exit price found %s", kv(position=item.label, px=px, pnl=round(pnl, 6),
                                                 worst_case=round(item.bound, 6), attempts=item.attempts))
        self._event(item, f"exit price found: {px:g}, realised {pnl:.6g} USDT (counted {item.bound:.6g} until now)")
        self.refresh_halt()
        return True

    # ---- what is shown -----------------------------------------------------------------------

    def refresh_halt(self) -> None:
        """Halted while a close of today has no exit price; the reason names each one."""
        midnight = utc_midnight(self.parts.clock.wall_s())
        today = [i for i in self.unresolved.values() if i.closed_at >= midnight]
        stuck_today = [why for closed_at, why in self.stuck.values() if closed_at >= midnight]
        supervisor = self.parts.supervisor
        if not today and not stuck_today and not self.looking_up:
            supervisor.clear(Halt.DAY_PNL_UNKNOWN, why="every close of today has its exit price")
            return
        parts = [f"exit price not found yet for {i.label}, counted {i.bound:.6g} USDT" for i in today]
        parts += [f"no exit price and no way to look it up: {why}" for why in stuck_today]
        parts += [f"{key} flat, its exit price being looked up" for key in self.looking_up]
        supervisor.set(Halt.DAY_PNL_UNKNOWN, "day P&L unknown: " + "; ".join(parts))

    def lookup_started(self, key: str) -> None:
        self.looking_up[key] = self.parts.clock.wall_s()
        self.refresh_halt()

    def lookup_ended(self, key: str) -> None:
        if self.looking_up.pop(key, None) is not None:
            self.refresh_halt()

    def _event(self, item: UnresolvedClose, detail: str) -> None:
        self.parts.event(FallbackKind.SAFETY, item.inst_id, f"close {item.pos_side}: {detail}", "none", "close_pnl")
