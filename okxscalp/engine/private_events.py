"""The private stream, in order: orders (entry fills → snapshots, closing fills), positions
(sizes, flat → close journaled, positions the engine did not open → reconciliation) and account
(equity) pushes. One task handles the queue so a fill's snapshot is written before anything that
follows it is looked at (for up to snapshot_keeper.SNAPSHOT_WAIT_S: a write the journal holds longer
goes on in the background, entries halted, so the stream is never stalled by the disk). A push whose
handling raises halts entries (`Halt.PRIVATE_EVENTS`) until a reconciliation has re-synced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from okxscalp.engine.closes import CloseLifecycle
from okxscalp.engine.entries import EntryLifecycle
from okxscalp.engine.executor import CL_ORD_PREFIX_EXIT, EXIT_TAG, close_side_for
from okxscalp.engine.funding import FundingWatch
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Fill, Order, Position

log = logging.getLogger(__name__)

ReconcileFn = Callable[[str], Awaitable[Any]]
RESYNC_RETRY_MIN_S = 0.5
RESYNC_RETRY_MAX_S = 10.0


class PrivateEventRouter:
    def __init__(self, parts: EngineParts, entries: EntryLifecycle, closes: CloseLifecycle, *, reconcile: ReconcileFn) -> None:
        self.parts = parts
        self.entries = entries
        self.closes = closes
        self._reconcile = reconcile
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.failures = 0  # pushes whose handling raised (tests, soak probes)
        self.funding: FundingWatch | None = None  # funding settlements from positions pushes (set at build)
        self._resync: asyncio.Task[Any] | None = None
        self._resync_again = False
        entries.keeper.resync = reconcile  # a position closed before its snapshot committed

    def push(self, push: Any) -> None:
        """Called by the feed for every private push (in the connection's read loop)."""
        self.queue.put_nowait(push)

    async def run(self) -> None:
        while True:
            push = await self.queue.get()
            try:
                await self.handle(push)
            except Exception as exc:  # never carried on silently: halted until re-synced
                self._handling_failed(getattr(push, "channel", "?"), exc)

    # ---- a push that could not be handled ---------------------------------------------------------

    def _handling_failed(self, channel: str, exc: Exception, what: str = "") -> None:
        """What the push said may be lost (a fill, a close, a size, a position the engine did not
        open): entries halt with the reason, and a reconciliation re-syncs from REST (retried with
        backoff until one completes); the halt clears only then."""
        self.failures += 1
        what = what or f"a private {channel} push could not be handled"
        reason = f"{what} ({exc!r}): halted until a reconciliation re-synced"
        log.error("private event handling failed %s", kv(channel=channel, error=repr(exc)), exc_info=exc)
        self.parts.event(FallbackKind.ENTRY_GATE, "", f"{reason} (failure {self.failures})", "none", "private")
        self.parts.supervisor.set(Halt.PRIVATE_EVENTS, reason)
        if self._resync is None or self._resync.done():
            self._resync = self.parts.spawn(self._resync_until_done(channel), "resync after a private push failed")
        else:
            self._resync_again = True  # it may have read the exchange before this failure

    async def _resync_until_done(self, channel: str) -> None:
        delay = RESYNC_RETRY_MIN_S
        while True:
            self._resync_again = False
            try:
                await self._reconcile(f"private {channel} push not handled")
            except Exception as exc:  # the halt stays; said, and tried again
                log.error("resync after a failed private push failed %s", kv(error=repr(exc), retry_s=delay))
                self.parts.event(FallbackKind.ENTRY_GATE, "", f"reconciliation after a failed private push failed "
                                                              f"({exc!r}); retrying in {delay:g}s", "none", "private")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESYNC_RETRY_MAX_S)
                continue
            if not self._resync_again:  # no push failed while it ran: it covers every failure so far
                break
        self.parts.supervisor.clear(Halt.PRIVATE_EVENTS, why="re-synced by a reconciliation")

    async def handle(self, push: Any) -> None:
        channel = push.channel
        for item in push.items:
            if channel == "orders" and isinstance(item, Order):
                await self._on_order(item)
            elif channel == "positions" and isinstance(item, Position):
                self._on_position(item)
            elif channel == "account" and hasattr(item, "total_eq"):
                self.parts.account.on_account_push(item.total_eq, getattr(item, "avail_eq", None))

    async def _on_order(self, order: Order) -> None:
        parts = self.parts
        journal, manager = parts.journal, parts.manager
        if order.fill_sz > 0 and order.fill_px is not None:
            journal.record_fill(
                Fill(order.inst_id, order.trade_id, order.ord_id, order.cl_ord_id, order.side, order.pos_side,
                     order.fill_px, order.fill_sz, order.fee, "", order.u_time_ms)
            )
        if order.cl_ord_id in self.entries.entries:
            await self.entries.on_order(order)
            return
        if order.is_liquidation and order.fill_sz > 0:  # the exchange's own order: never ours, said at once
            parts.event(FallbackKind.POSITION, order.inst_id,
                        f"LIQUIDATED by the exchange ({order.category}): {order.pos_side.value} {order.fill_sz:g} "
                        f"contracts at {order.fill_px}", "exchange", "private")
        if order.reduce_only or order.cl_ord_id.startswith(CL_ORD_PREFIX_EXIT) or order.tag == EXIT_TAG or (
            manager.book.get(order.inst_id, order.pos_side.value) is not None and order.side is close_side_for(order.pos_side)
        ):
            if order.acc_fill_sz > 0:
                manager.on_close_fill(order)
            if order.cl_ord_id:  # a no-op for orders the journal does not know (attached TP/SL closes)
                journal.update_order(order.cl_ord_id, state=order.state, ord_id=order.ord_id,
                                     acc_fill_sz=order.acc_fill_sz, avg_px=order.avg_px)

    def _on_position(self, p: Position) -> None:
        parts = self.parts
        parts.leverage.on_position(p)
        known = parts.manager.book.get(p.inst_id, p.pos_side.value)
        if known is None:
            if p.pos != 0 and p.inst_id in parts.instruments:
                if self.entries.has_entry_for(p.inst_id):
                    # Ours, most likely: its entry's fill push is late or lost. Ask, don't wait.
                    parts.spawn(self.entries.look_up_entries_for(p.inst_id), f"entry lookup {p.inst_id}")
                else:  # a position the engine did not open, appearing while it runs
                    parts.spawn(self._adopt_unknown(p), f"orphan {p.inst_id}")
            return
        if self.funding is not None:  # before a flat position leaves the book: its last settlement counts
            self.funding.on_position(known, p)
        flat = parts.manager.on_position(p)
        if flat is not None:
            parts.spawn(self.closes.finish_flat(flat), f"closed {p.inst_id}")

    async def _adopt_unknown(self, p: Position) -> None:
        key = f"{p.inst_id}/{p.pos_side.value}"
        if self.parts.manager.book.get(p.inst_id, p.pos_side.value) is None:
            try:
                await self._reconcile(f"unknown position {key}")
            except Exception as exc:  # a position the console would not show: halted until re-synced
                self._handling_failed("positions", exc, f"position {key} the engine did not open could not be adopted")
