"""Reconciliation: journal + exchange positions + open orders, at start-up and after every
private reconnect (entries stay closed until it has run).

Rules (SPEC 3.5):
- exchange position with a journal snapshot → managed again with that snapshot (size from the
  exchange); its exchange-side stop is checked and re-placed from the snapshot's SL if missing;
- exchange position without a snapshot → an *orphan*: flagged for the console and handled by
  `scalping.orphan_policy`: `protect` places a reduce-only stop at `orphan_sl_percent` from the
  exchange's avgPx (unless one is already there), `flatten` closes it reduce-only. It never gets
  an assumed regime or TP;
- journal position no longer on the exchange → closed in the journal, with the reason and the
  closing fill's price when the exchange still lists it;
- our entry orders: tracked ones are synced from the exchange (fills missed while disconnected),
  untracked ones (left by a previous run) are cancelled; orders that are not ours are left alone.

Nothing is concluded from a query that failed. Positions or open orders not listed: `run` raises
(its caller retries: the feed's gate with backoff; see the report for start-up). Algo orders not
listed: no stop is placed (one may well exist) and the positions whose protection could not be
verified are held in `unverified` — `Halt.UNPROTECTED` names them, the report lists them as
problems — until a re-check (a reconciliation every RECHECK_BASE_S .. RECHECK_MAX_S, backing off)
lists the algo orders and finds the stop, or places it. A stop that could not be placed is held the
same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.clock import Clock, LiveClock
from okxscalp.config.provider import AccountSettings
from okxscalp.engine.closing_fills import closing_order_ids, find_closing_fill
from okxscalp.engine.executor import (
    CL_ORD_PREFIX_ENTRY,
    CL_ORD_PREFIX_EXIT,
    ENTRY_TAG,
    ClOrdIds,
    close_side_for,
)
from okxscalp.engine.journal import Journal, OrderPurpose, OrderRecord
from okxscalp.engine.parts import SpawnFn
from okxscalp.engine.positions import (
    CloseReason,
    CloseRequest,
    ManagedPosition,
    PositionManager,
    exchange_close_reason,
)
from okxscalp.engine.protection import PROTECT_PREFIX, describe_stop, place_protective_stop, stop_of
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.engine.supervisor import EntrySupervisor, Halt
from okxscalp.logging_setup import kv
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import AlgoOrder, Instrument, Order, Position, PosSide
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

ORPHAN_PROTECT = "protect"
ORPHAN_FLATTEN = "flatten"
UNSETTLED_STATES = frozenset({"sent", "live", "partially_filled", "unknown"})
SETTLEABLE_PURPOSES = frozenset({"entry", "exit", "close", "flatten"})  # regular orders (not algo stops)
RECENT_ENTRY_S = 2.0  # a snapshot this close to the positions query may simply be newer than it
MAX_SETTLE_PER_RUN = 50  # each is one GET /trade/order; the rest waits for the next reconciliation
RECHECK_BASE_S = 1.0  # unverified stops: first re-check after this, doubling ...
RECHECK_MAX_S = 30.0  # ... up to this (the feed's reconciliation retry has the same bounds)
ALGOS_NOT_LISTED = "the exchange's algo orders could not be listed"


@dataclass(slots=True)
class ReconcileReport:
    trigger: str
    adopted: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    flattened: list[str] = field(default_factory=list)
    closed_in_journal: list[str] = field(default_factory=list)
    cancelled_orders: list[str] = field(default_factory=list)
    synced_orders: list[str] = field(default_factory=list)
    settled_orders: list[str] = field(default_factory=list)  # journal rows brought to their final state
    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # positions whose exchange stop could not be verified

    def summary(self) -> str:
        return kv(
            trigger=self.trigger, adopted=len(self.adopted), orphans=",".join(self.orphans) or "-",
            protected=",".join(self.protected) or "-", flattened=",".join(self.flattened) or "-",
            closed_in_journal=",".join(self.closed_in_journal) or "-", cancelled=len(self.cancelled_orders),
            synced=len(self.synced_orders), settled=len(self.settled_orders), problems=len(self.problems),
            unverified=",".join(self.unverified) or "-",
        )


def _no_op(_key: str) -> None:
    return None


def _key_text(inst_id: str, pos_side: str) -> str:
    return f"{inst_id}/{pos_side}"


def orphan_stop_price(position: Position, percent: float, instrument: Instrument) -> str:
    """The orphan's protective stop: `percent` below (long) / above (short) the exchange avgPx,
    rounded toward the entry (never further than asked)."""
    if position.avg_px is None or position.avg_px <= 0:
        raise ValueError(f"{position.inst_id} {position.pos_side.value}: no avgPx to place a stop from")
    if position.pos_side is PosSide.LONG:
        return instrument.format_price(position.avg_px * (1 - percent / 100.0), "up")
    return instrument.format_price(position.avg_px * (1 + percent / 100.0), "down")


class Reconciler:
    def __init__(
        self,
        rest: RestClient,
        journal: Journal,
        manager: PositionManager,
        instruments: dict[str, Instrument],
        settings: AccountSettings,
        *,
        tracked_entries: Callable[[], dict[str, str]],  # live entry clOrdId -> instId
        on_entry_order: Callable[[Order], Awaitable[None]],
        supervisor: EntrySupervisor | None = None,
        spawn: SpawnFn | None = None,
        clock: Clock | None = None,
        cl_ord_ids: ClOrdIds | None = None,
    ) -> None:
        # The engine's clock and clOrdIds (a backtest: simulated time); live ones when not given.
        self.clock: Clock = clock if clock is not None else LiveClock()
        self.cl_ord_ids = cl_ord_ids if cl_ord_ids is not None else ClOrdIds(self.clock)
        self.rest = rest
        self.journal = journal
        self.manager = manager
        self.instruments = instruments
        self.settings = settings
        self._tracked_entries = tracked_entries
        self._on_entry_order = on_entry_order
        self.last_report: ReconcileReport | None = None
        self.runs = 0  # completed reconciliations (start-up, reconnects, unknown positions)
        # Told when a position is known gone and until its close is journaled (its P&L counted):
        # the close lifecycle halts entries meanwhile (engine/close_pnl.py). No-ops until wired.
        self.exit_lookup_started: Callable[[str], None] = _no_op
        self.exit_lookup_ended: Callable[[str], None] = _no_op
        self.unverified: dict[tuple[str, str], str] = {}  # position key -> why its stop is not verified
        # clOrdId -> why: entry orders of a previous run still working that could not be cancelled
        self.uncancelled: dict[str, str] = {}
        self._spawn = spawn
        self._recheck_task: Any = None
        # One reconciliation at a time: two overlapping runs could each see no stop and each place one.
        self._run_lock = asyncio.Lock()
        if supervisor is not None:
            supervisor.add_probe(Halt.UNPROTECTED, self.unprotected_reasons)
            supervisor.add_probe(Halt.ORDERS_LEFT, self.orders_left_reasons)

    def unprotected_reasons(self) -> tuple[str, ...]:
        if not self.unverified:  # the usual answer, asked before every entry: no words to write
            return ()
        return tuple(
            f"unprotected: {_key_text(*key)}: exchange stop not verified ({why}); re-checking"
            for key, why in sorted(self.unverified.items())
        )

    def orders_left_reasons(self) -> tuple[str, ...]:
        if not self.uncancelled:
            return ()
        return tuple(
            f"orders left: entry {why}; an earlier run's order may still fill; re-trying the cancel"
            for _, why in sorted(self.uncancelled.items())
        )

    async def run(self, trigger: str) -> ReconcileReport:
        async with self._run_lock:
            report = await self._run(trigger)
        self._schedule_recheck()
        return report

    async def _run(self, trigger: str) -> ReconcileReport:
        report = ReconcileReport(trigger)
        fetched_at = self.clock.wall_s()
        exchange_positions = [p for p in await self.rest.positions() if p.pos != 0 and p.inst_id in self.instruments]
        pending = await self.rest.orders_pending()
        listed_algos = await self._pending_stops(report)  # None: not listed, nothing concluded from it
        await self._sync_orders(pending, report)
        if listed_algos is not None:
            await self._settle_protective_stops(listed_algos, report)
        await self._settle_journal_orders({o.cl_ord_id for o in pending}, report)
        # Entry fills synced above may have created snapshots, and earlier writes may still be
        # queued: read the journal only once everything written so far is committed.
        await self.journal.aflush()
        journal_open = {}
        unreadable: dict[tuple[str, str], str] = {}
        for jp in self.journal.open_positions():
            if jp.snapshot is not None:
                journal_open[jp.snapshot.key] = jp.snapshot
            else:
                unreadable[(jp.inst_id, jp.pos_side)] = jp.snapshot_error or "unreadable snapshot"
        on_exchange = {(p.inst_id, p.pos_side.value): p for p in exchange_positions}
        for key, p in on_exchange.items():
            managed = self.manager.book.get(*key)
            snapshot = journal_open.get(key)
            if managed is not None and managed.snapshot is not None:
                self.manager.on_position(p)
                # Its stop is verified on every reconciliation (it may have been cancelled while
                # we were away); a fill this recent may not list its attached stop yet. A listing
                # that failed verified nothing, recent or not: the position is unverified.
                if (key in self.unverified or listed_algos is None
                        or managed.snapshot.entry_time < fetched_at - RECENT_ENTRY_S):
                    await self._ensure_snapshot_stop(managed, managed.snapshot, listed_algos, report)
                continue
            if snapshot is not None:
                position = self.manager.adopt(snapshot, p)
                report.adopted.append(_key_text(*key))
                await self._ensure_snapshot_stop(position, snapshot, listed_algos, report)
                continue
            if managed is not None:  # a known orphan: keep it, refresh its numbers, verify its stop
                self.manager.on_position(p)
                await self._protect_orphan(managed, p, listed_algos, report)
                continue
            note = unreadable.get(key, "no journal snapshot for this exchange position")
            await self._handle_orphan(p, note, listed_algos, report)
        for key in [k for k in self.unverified if k not in on_exchange]:
            self._mark_verified(key, "the position is no longer on the exchange")
        # Journal positions (and managed ones) that the exchange no longer has.
        for key, snapshot in journal_open.items():
            if key in on_exchange:
                continue
            if snapshot.entry_time >= fetched_at - RECENT_ENTRY_S:
                continue  # filled around the positions query: not known to be gone; next time

            managed = self.manager.book.get(*key)
            if managed is None:
                managed = ManagedPosition(snapshot.inst_id, snapshot.pos_side, snapshot.size, snapshot, snapshot.entry_time)
                self.manager.book.add(managed)
            # Known gone from here on: entries wait for its P&L (closes.py counts it at finish_close).
            self.exit_lookup_started(_key_text(*key))
            try:
                await self._finish_gone(managed, snapshot, trigger, report)
            finally:
                self.exit_lookup_ended(_key_text(*key))
        for key, managed in list(self.manager.book.positions.items()):
            if key not in on_exchange and managed.snapshot is None:
                self.manager.finish_close(managed, reason=CloseReason.GONE)
        self.last_report = report
        self.runs += 1
        log.info("reconciled %s", report.summary())
        for problem in report.problems:
            log.warning("reconcile problem %s", kv(trigger=trigger, problem=problem))
        return report

    async def _finish_gone(self, managed: ManagedPosition, snapshot: PositionSnapshot, trigger: str,
                           report: ReconcileReport) -> None:
        """A journal position the exchange no longer lists: its closing fill looked up, its close journaled."""
        key = managed.key
        try:
            px = managed.last_close_fill_px  # its fill push came: nothing to ask
            if px is None:
                ord_id, cl_ord_id = closing_order_ids(managed)
                px = await self.closing_fill_px(snapshot, ord_id=ord_id, cl_ord_id=cl_ord_id, size=managed.size)
            where = f"closing fill at {px}" if px is not None else "no closing fill found"
        except OkxError as exc:
            # Unknown, not zero: finish_close journals it with its worst case, and the close
            # lifecycle keeps looking (engine/close_pnl.py).
            px, where = None, f"closing fill query failed ({exc})"
            report.problems.append(f"closing fill of {_key_text(*key)}: {exc}")
        report.closed_in_journal.append(_key_text(*key))
        if managed.closing is not None or managed.liquidated_by:
            # the engine's own close, confirmed; or the exchange's liquidation (its push told us)
            self.manager.finish_close(managed, exit_px=px)
            return
        kind = exchange_close_reason(snapshot, px)
        self.manager.finish_close(
            managed, reason=f"{kind}: {CloseReason.GONE} at reconcile ({trigger}), {where}", exit_px=px
        )

    # ---- orders ----------------------------------------------------------------------------

    async def _sync_orders(self, pending: list[Order], report: ReconcileReport) -> None:
        tracked = self._tracked_entries()
        seen: set[str] = set()
        listed = {o.cl_ord_id for o in pending}
        for cl_ord_id in [c for c in self.uncancelled if c not in listed]:
            # No longer working (cancelled meanwhile, or filled: then its position is reconciled below).
            log.warning("earlier entry order no longer pending %s", kv(clOrdId=cl_ord_id, was=self.uncancelled.pop(cl_ord_id)))
        for order in pending:
            ours = order.tag == ENTRY_TAG or order.cl_ord_id.startswith(CL_ORD_PREFIX_ENTRY)
            if order.cl_ord_id in tracked:
                seen.add(order.cl_ord_id)
                await self._on_entry_order(order)
                report.synced_orders.append(order.cl_ord_id)
            elif ours:
                try:
                    await self.rest.cancel_order(order.inst_id, ord_id=order.ord_id)
                except OkxError as exc:
                    # Still working: entries halt (Halt.ORDERS_LEFT) and the re-check cancels again.
                    report.problems.append(f"cancel {order.cl_ord_id}: {exc}")
                    self.uncancelled[order.cl_ord_id] = f"{order.inst_id} {order.cl_ord_id} {order.state}: cancel failed ({exc})"
                    continue
                self.uncancelled.pop(order.cl_ord_id, None)
                self.journal.update_order(
                    order.cl_ord_id, state="canceled", detail=f"cancelled at reconcile ({report.trigger}): entry from a previous run"
                )
                report.cancelled_orders.append(order.cl_ord_id)
            elif not order.cl_ord_id.startswith(CL_ORD_PREFIX_EXIT):
                log.warning("foreign open order left alone %s", kv(inst=order.inst_id, ordId=order.ord_id, clOrdId=order.cl_ord_id))
        # Tracked entries the exchange no longer lists as pending reached a final state meanwhile;
        # asked in the order they were tracked (`keys() - seen` is a set: its order, and so the order
        # of the queries and journal rows, would follow PYTHONHASHSEED).
        for cl_ord_id in [c for c in tracked if c not in seen]:
            inst_id = tracked[cl_ord_id]
            try:
                order = await self.rest.get_order(inst_id, cl_ord_id=cl_ord_id)
            except OkxError as exc:
                report.problems.append(f"query {cl_ord_id}: {exc}")
                continue
            if order is not None:
                await self._on_entry_order(order)
                report.synced_orders.append(cl_ord_id)

    async def _settle_journal_orders(self, pending_ids: set[str], report: ReconcileReport) -> None:
        """Journal orders still marked in flight that neither the exchange lists as open nor this run
        tracks (a killed run left them): ask the exchange for their final state."""
        await self.journal.aflush()
        tracked = self._tracked_entries()
        rows = await asyncio.to_thread(self.journal.orders)
        stale = [
            o for o in rows
            if o.state in UNSETTLED_STATES and o.purpose in SETTLEABLE_PURPOSES
            and o.cl_ord_id not in pending_ids and o.cl_ord_id not in tracked
        ]
        for record in stale[-MAX_SETTLE_PER_RUN:]:
            try:
                order = await self.rest.get_order(record.inst_id, cl_ord_id=record.cl_ord_id)
            except OkxError as exc:
                report.problems.append(f"settle {record.cl_ord_id}: {exc}")
                continue
            if order is None:
                self.journal.update_order(record.cl_ord_id, state="not_placed",
                                          detail=f"settled at reconcile ({report.trigger}): the exchange has no such order")
            else:
                self.journal.update_order(record.cl_ord_id, state=order.state, ord_id=order.ord_id,
                                          acc_fill_sz=order.acc_fill_sz, avg_px=order.avg_px)
            report.settled_orders.append(record.cl_ord_id)

    # ---- protection ------------------------------------------------------------------------

    async def _pending_stops(self, report: ReconcileReport) -> list[AlgoOrder] | None:
        """Stops on the exchange: stand-alone (`conditional`) and attached TP+SL pairs (`oco`);
        None when the exchange could not be asked (then nothing may be concluded from absence)."""
        try:
            return await self.rest.algo_orders_pending()
        except OkxError as exc:
            report.problems.append(f"algo orders: {exc}")
            return None

    async def _settle_protective_stops(self, algos: list[AlgoOrder], report: ReconcileReport) -> None:
        """Our protective stops that the journal still shows as working but the exchange no longer
        lists (triggered, or cancelled with their position): mark them gone, so journal and exchange agree."""
        await self.journal.aflush()
        listed = {a.algo_cl_ord_id for a in algos} | {a.algo_id for a in algos}
        rows = await asyncio.to_thread(self.journal.orders)
        for record in rows:
            if record.purpose != OrderPurpose.PROTECT.value or record.state not in ("sent", "live"):
                continue
            if record.cl_ord_id in listed or (record.ord_id and record.ord_id in listed):
                continue
            self.journal.update_order(
                record.cl_ord_id, state="gone",
                detail=f"settled at reconcile ({report.trigger}): no longer pending on the exchange (triggered or cancelled)",
            )
            report.settled_orders.append(record.cl_ord_id)

    async def _ensure_snapshot_stop(
        self, position: ManagedPosition, snapshot: PositionSnapshot, algos: list[AlgoOrder] | None,
        report: ReconcileReport,
    ) -> None:
        if algos is None:
            self._mark_unverified(position.key, ALGOS_NOT_LISTED, report)
            return
        existing = stop_of(algos, position.inst_id, position.pos_side)
        if existing is not None:
            self._mark_verified(position.key, f"{describe_stop(existing)} listed")
            return
        instrument = self.instruments[position.inst_id]
        sl = instrument.format_price(snapshot.sl_px, "nearest")
        await self._place_stop(position, sl, f"re-protect from snapshot SL {snapshot.sl_px}", report)

    async def _place_stop(self, position: ManagedPosition, sl_px: str, why: str, report: ReconcileReport) -> bool:
        try:
            position.protect_algo_id = await place_protective_stop(
                self.rest, self.journal, inst_id=position.inst_id, pos_side=position.pos_side, sl_px=sl_px,
                td_mode=self.settings.margin_mode, why=why, algo_cl_ord_id=self.cl_ord_ids.new(PROTECT_PREFIX),
                position_cl_ord_id=position.snapshot.entry_cl_ord_id if position.snapshot else "",
            )
        except OkxError as exc:
            # Maybe placed after all (a lost reply): the re-check lists the algo orders before placing again.
            self._mark_unverified(position.key, f"stop placement failed: {exc}", report)
            return False
        report.protected.append(_key_text(*position.key))
        self._mark_verified(position.key, f"stop {position.protect_algo_id} placed at {sl_px}")
        return True

    async def _handle_orphan(self, p: Position, note: str, algos: list[AlgoOrder] | None, report: ReconcileReport) -> None:
        position = self.manager.add_orphan(p, note)
        report.orphans.append(_key_text(*position.key))
        log.warning(
            "ORPHAN position %s",
            kv(inst=p.inst_id, side=p.pos_side.value, size=abs(p.pos), avg_px=p.avg_px, note=note,
               policy=self.settings.orphan_policy),
        )
        await self._protect_orphan(position, p, algos, report)

    async def _protect_orphan(
        self, position: ManagedPosition, p: Position, algos: list[AlgoOrder] | None, report: ReconcileReport
    ) -> None:
        """The orphan policy: `flatten` closes it reduce-only, `protect` verifies or places its stop."""
        key = position.key
        if self.settings.orphan_policy == ORPHAN_FLATTEN:
            if position.closing is not None:
                return  # its close is on the way; the fill or the next reconciliation settles it
            note = position.orphan_note
            cl = self.cl_ord_ids.new(CL_ORD_PREFIX_EXIT)
            self.journal.record_order(
                OrderRecord(
                    cl_ord_id=cl, inst_id=p.inst_id, side=close_side_for(p.pos_side).value, ord_type="market",
                    sz=f"{abs(p.pos):g}", purpose=OrderPurpose.CLOSE.value, state="sent", pos_side=p.pos_side.value,
                    reduce_only=True, detail=f"orphan policy flatten: {note}",
                )
            )
            try:
                await self.rest.close_position(p.inst_id, self.settings.margin_mode, p.pos_side.value, cl_ord_id=cl)
            except OkxError as exc:
                self.journal.update_order(cl, state="rejected", detail=str(exc))
                self._mark_unverified(key, f"orphan flatten failed: {exc}", report)
                return
            position.closing = CloseRequest(CloseReason.ORPHAN_FLATTEN, note, cl, self.clock.mono_s())
            report.flattened.append(_key_text(*key))
            self._mark_verified(key, f"orphan close {cl} sent")
            return
        if algos is None:
            self._mark_unverified(key, ALGOS_NOT_LISTED, report)
            return
        existing = stop_of(algos, p.inst_id, p.pos_side)
        if existing is not None:
            position.protect_algo_id = existing.algo_id
            log.info("orphan already protected %s", kv(inst=p.inst_id, side=p.pos_side.value, algo=existing.algo_id))
            self._mark_verified(key, f"{describe_stop(existing)} listed")
            return
        try:
            sl = orphan_stop_price(p, self.settings.orphan_sl_percent, self.instruments[p.inst_id])
        except ValueError as exc:
            self._mark_unverified(key, str(exc), report)
            return
        await self._place_stop(position, sl, f"orphan policy protect: {self.settings.orphan_sl_percent}% from avgPx {p.avg_px}", report)

    # ---- unverified protection -------------------------------------------------------------

    def _mark_unverified(self, key: tuple[str, str], why: str, report: ReconcileReport) -> None:
        report.problems.append(f"stop of {_key_text(*key)} not verified: {why}")
        report.unverified.append(_key_text(*key))
        if self.unverified.get(key) != why:
            log.error("protective stop not verified %s", kv(position=_key_text(*key), why=why, trigger=report.trigger))
        self.unverified[key] = why

    def _mark_verified(self, key: tuple[str, str], how: str) -> None:
        was = self.unverified.pop(key, None)
        if was is not None:
            log.warning("protective stop verified %s", kv(position=_key_text(*key), how=how, was=was))

    def _open_items(self) -> str:
        """What a re-check is for: positions whose stop is not verified, entry orders left working."""
        items = [f"stop of {_key_text(*k)} not verified" for k in sorted(self.unverified)]
        items += [f"entry {c} not cancelled" for c in sorted(self.uncancelled)]
        return ", ".join(items)

    def _schedule_recheck(self) -> None:
        if not (self.unverified or self.uncancelled) or (self._recheck_task is not None and not self._recheck_task.done()):
            return
        if self._spawn is None:
            log.error("re-check waits for the next reconciliation %s", kv(open=self._open_items(),
                                                                          why="no re-check task wired"))
            return
        self._recheck_task = self._spawn(self._recheck(), "reconcile: re-check unverified stops, orders left")

    async def _recheck(self) -> None:
        """Reconcile again, backing off, until every position's stop is verified (or it is gone)
        and every earlier entry order left working is cancelled (or gone)."""
        attempt = 0
        while self.unverified or self.uncancelled:
            await asyncio.sleep(min(RECHECK_MAX_S, RECHECK_BASE_S * 2**attempt))
            attempt += 1
            items = self._open_items()
            if not items:
                return
            try:
                await self.run(f"re-check: {items}")
            except OkxError as exc:  # positions or open orders not listed: the halt stays, try again
                log.warning("re-check failed %s", kv(open=items, attempt=attempt, error=exc))

    async def closing_fill_px(
        self, snapshot: PositionSnapshot, *, ord_id: str = "", cl_ord_id: str = "", size: float | None = None
    ) -> float | None:
        """The average price of the fills that closed this position (attached SL/TP or ours),
        engine/closing_fills.py: None when the exchange lists none (yet); raises OkxError when it
        could not be asked (never read as "no fill")."""
        found = await find_closing_fill(
            self.rest, snapshot, size=size if size is not None else snapshot.size, ord_id=ord_id, cl_ord_id=cl_ord_id
        )
        if found is None:
            return None
        if found.liquidation:  # the exchange liquidated it (its orders push was missed): say so
            managed = self.manager.book.get(snapshot.inst_id, snapshot.pos_side.value)
            if managed is not None:
                managed.liquidated_by = found.liquidation
        log.info("closing fill found %s", kv(inst=snapshot.inst_id, side=snapshot.pos_side.value, px=found.px,
                                              size=found.size, orders=",".join(found.ord_ids), how=found.source))
        return found.px
