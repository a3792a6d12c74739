"""The exit and close lifecycle: exit decisions from the snapshot, reduce-only closes, the finish
of a flat position (journal, day P&L, stops left behind), and flatten.

Exits are decided only from a position's snapshot and an EXIT-fresh quote (exits.py); the tick
path checks on every ticker, the sweep every EXIT_SWEEP_S with the EXIT read that may fall back to
REST, so a silent WebSocket does not leave a position unwatched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from okxscalp.config.schema import Purpose
from okxscalp.engine.entries import EntryLifecycle
from okxscalp.engine.executor import CL_ORD_PREFIX_EXIT, EXIT_TAG, prefixed_cl_ord_id
from okxscalp.engine.exits import exit_decision
from okxscalp.engine.journal import OrderPurpose
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import CloseReason, CloseRequest, ManagedPosition, exit_order_record
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.okx.constants import CODE_POSITION_NOT_FOUND
from okxscalp.okx.errors import OkxError, RequestError
from okxscalp.okx.models import inst_id_of

log = logging.getLogger(__name__)

EXIT_SWEEP_S = 0.25
CLOSE_RETRY_S = 1.0
CLOSE_FILL_WAIT_S = 0.5  # a flat position waits this long for its closing fill push before a REST lookup

ClosingFillLookup = Callable[[Any], Awaitable[float | None]]  # snapshot -> closing fill px
ReconcileFn = Callable[[str], Awaitable[Any]]  # trigger -> report


class CloseLifecycle:
    def __init__(
        self, parts: EngineParts, entries: EntryLifecycle, *, reconcile: ReconcileFn, closing_fill_px: ClosingFillLookup
    ) -> None:
        self.parts = parts
        self.entries = entries
        self._reconcile = reconcile
        self._closing_fill_px = closing_fill_px

    # ---- exit decisions ------------------------------------------------------------------------

    def on_tick(self, inst_id: str) -> None:
        """Exits first on every ticker (the entry path runs after)."""
        parts = self.parts
        for position in parts.manager.book.for_inst(inst_id):
            if position.snapshot is not None and position.closing is None:
                try:
                    quote = parts.registry.read(inst_id, Purpose.EXIT)
                except Exception:
                    continue  # the sweep reads EXIT with its bounded REST fallback
                self.check_exit(position, quote)

    def check_exit(self, position: ManagedPosition, quote: Any) -> None:
        snap = position.snapshot
        if snap is None or position.closing is not None:
            return
        decision = exit_decision(snap, quote)
        if decision is None:
            return
        self._start_close(position, decision.kind.value, decision.reason, OrderPurpose.EXIT,
                          quote=(quote.source, quote.age_s, quote.budget_s), decided_px=decision.observed_px)

    async def sweep(self) -> None:
        """Positions are also checked on a timer with the EXIT read that may fall back to REST
        (bounded by the registry): a silent WebSocket does not leave a position unwatched."""
        parts = self.parts
        while True:
            await asyncio.sleep(EXIT_SWEEP_S)
            for position in list(parts.manager.book.positions.values()):
                if position.snapshot is None or position.closing is not None:
                    continue
                try:
                    quote = await parts.registry.read_exit(position.inst_id)
                except Exception:
                    continue  # refusal recorded by the registry
                self.check_exit(position, quote)

    # ---- closes ----------------------------------------------------------------------------------

    def _start_close(
        self, position: ManagedPosition, reason: str, detail: str, purpose: OrderPurpose,
        *, quote: tuple[str, float, float] | None = None, decided_px: float | None = None,
    ) -> None:
        cl = prefixed_cl_ord_id(CL_ORD_PREFIX_EXIT)
        position.closing = CloseRequest(reason, detail, cl, time.monotonic(), decided_px)
        src, age, budget = quote if quote is not None else (None, None, None)
        recorded = self.parts.journal.record_order(exit_order_record(position, cl, purpose, quote_source=src,
                                                                     quote_age_s=age, quote_budget_s=budget, detail=detail))
        log.info("closing %s", kv(inst=position.inst_id, side=position.pos_side.value, reason=reason, detail=detail))
        self.parts.spawn(self._send_close(position, cl, recorded), f"close {position.inst_id}")

    async def _send_close(self, position: ManagedPosition, cl: str, recorded: concurrent.futures.Future[None]) -> None:
        parts = self.parts
        journal, manager = parts.journal, parts.manager
        # A close is not latency-critical: its journal row is committed before the exchange can see
        # it, so a kill -9 right after the exchange accepts it never leaves an order we don't know.
        await asyncio.wrap_future(recorded)
        try:
            await parts.rest.close_position(position.inst_id, parts.config.scalping.margin_mode, position.pos_side.value,
                                            cl_ord_id=cl, tag=EXIT_TAG)
        except OkxError as exc:
            journal.update_order(cl, state="rejected", detail=str(exc))
            gone = position.key not in manager.book.positions or position.last_close_fill_px is not None
            (log.info if gone else log.warning)(
                "close refused %s", kv(inst=position.inst_id, side=position.pos_side.value, error=exc,
                                       already_closed_on_exchange=gone))
            if isinstance(exc, RequestError) and exc.code == CODE_POSITION_NOT_FOUND:
                # The exchange has no such position: something closed it (its attached TP/SL, most
                # likely) and the push saying so is late or was lost. Never retry blindly: give the
                # push a moment, then let reconciliation settle it from REST.
                await asyncio.sleep(CLOSE_FILL_WAIT_S)
                if position.key in manager.book.positions:
                    await self._reconcile(f"close refused, no position {position.inst_id}/{position.pos_side.value}")
            else:
                await asyncio.sleep(CLOSE_RETRY_S)
            if position.closing is not None and position.closing.cl_ord_id == cl:
                position.closing = None  # decide again on the next fresh quote
            return
        journal.update_order(cl, state="live")

    async def close_position(self, inst_id: str, side: str, reason: str, detail: str) -> bool:
        position = self.parts.manager.book.get(inst_id_of(inst_id), side)
        if position is None or position.closing is not None:
            return False
        purpose = OrderPurpose.FLATTEN if reason == CloseReason.FLATTEN else OrderPurpose.CLOSE
        self._start_close(position, reason, detail, purpose)
        return True

    # ---- a position gone flat --------------------------------------------------------------------

    async def finish_flat(self, position: ManagedPosition) -> None:
        """A managed position went flat: give the closing fill a moment to arrive, journal the
        close, cancel any stop left for it (a stale reduce-only stop could hit a later position)."""
        manager = self.parts.manager
        if position.key not in manager.book.positions:
            return
        if position.last_close_fill_px is None:
            await asyncio.sleep(CLOSE_FILL_WAIT_S)
        if manager.book.positions.get(position.key) is not position:
            return
        if position.last_close_fill_px is None and position.snapshot is not None:
            position.last_close_fill_px = await self._closing_fill_px(position.snapshot)
        manager.finish_close(position)
        await self.cancel_stops(position)

    async def cancel_stops(self, position: ManagedPosition) -> None:
        rest = self.parts.rest
        try:
            algos = await rest.algo_orders_pending(position.inst_id)  # conditional and oco
        except OkxError as exc:
            log.warning("stops after close not listed %s", kv(inst=position.inst_id, error=exc))
            return
        ids = [(a.inst_id, a.algo_id) for a in algos if a.pos_side is position.pos_side]
        if ids:
            try:
                await rest.cancel_algo_orders(ids)
            except OkxError as exc:
                log.warning("stops after close not cancelled %s", kv(inst=position.inst_id, error=exc))
                return
            log.info("stops cancelled after close %s", kv(inst=position.inst_id, side=position.pos_side.value, count=len(ids)))

    def on_position_closed(self, position: ManagedPosition, reason: str, px: float | None, pnl: float | None) -> None:
        self.entries.cool_down(position.inst_id)
        if pnl is not None:
            self.parts.account.record_realised(pnl)

    # ---- flatten ---------------------------------------------------------------------------------

    async def flatten(self) -> None:
        """Cancel every open entry order, close every position reduce-only; entries stay halted."""
        parts = self.parts
        parts.supervisor.set(Halt.FLATTEN, "flatten: halted until resumed")
        await self.entries.cancel_all("flatten")
        try:
            # Everything still open on our instruments, tracked entries included: a cancel sent
            # before the order reached the exchange (51400) must not leave it working.
            for order in await parts.rest.orders_pending():
                if order.inst_id in parts.instruments:
                    try:
                        await parts.rest.cancel_order(order.inst_id, ord_id=order.ord_id)
                    except OkxError as exc:
                        log.warning("flatten: cancel failed %s", kv(inst=order.inst_id, ordId=order.ord_id, error=exc))
        except OkxError as exc:
            log.warning("flatten: listing open orders failed %s", kv(error=exc))
        for position in list(parts.manager.book.positions.values()):
            await self.close_position(position.inst_id, position.pos_side.value, CloseReason.FLATTEN, "flatten all")
        log.info("flatten requested %s", kv(positions=len(parts.manager.book.positions)))
