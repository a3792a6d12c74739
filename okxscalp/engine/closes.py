"""The exit and close lifecycle: exit decisions from the snapshot, reduce-only closes, the finish
of a flat position (journal, day P&L, stops left behind), and flatten.

Exits are decided only from a position's snapshot and an EXIT-fresh quote (exits.py); the tick
path checks on every ticker, the sweep every EXIT_SWEEP_S with the EXIT read that may fall back to
REST, so a silent WebSocket does not leave a position unwatched. Each TP/SL level has one owner
(exit_owner.py): the exchange's attached order where it holds the level, else the engine.

The parts of a close, each in its module:
- a close whose reply is lost is `unknown` (never `rejected`) and settled by clOrdId here;
- a close with no exit price is counted at its worst case until found (close_pnl.py);
- stops left behind by a closed position are cancelled and confirmed gone (stop_cleanup.py);
- flatten repeats until the exchange confirms nothing is left (flatten.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from okxscalp.clock import wake_after
from okxscalp.config.schema import Purpose
from okxscalp.engine.close_pnl import ClosePnlResolver, ClosingFillLookup
from okxscalp.engine.closing_fills import closing_order_ids
from okxscalp.engine.entries import EntryLifecycle
from okxscalp.engine.executor import CL_ORD_PREFIX_EXIT, EXIT_TAG
from okxscalp.engine.exit_owner import ExitOwnership
from okxscalp.engine.flatten import Flatten
from okxscalp.engine.journal import OrderPurpose
from okxscalp.engine.order_route import CLOSE_NO_POSITION_CODES, CLOSE_SIZE_CODES, close_as_order
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import (
    CloseReason,
    CloseRequest,
    ManagedPosition,
    PositionKey,
    exit_order_record,
)
from okxscalp.engine.stop_cleanup import StopCleanup
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import StaleData
from okxscalp.okx.constants import CODE_POSITION_NOT_FOUND, ORDER_STATES_FINAL
from okxscalp.okx.errors import (
    AmbiguousOrderOutcome,
    OkxError,
    OrderNotPlaced,
    OrderRejected,
    RequestError,
    TradeChannelDown,
)
from okxscalp.okx.models import PosSide, inst_id_of

log = logging.getLogger(__name__)

EXIT_SWEEP_S = 0.25
# Bound once: an Enum member read through its class costs a lookup per ticker otherwise.
_EXIT = Purpose.EXIT
_LONG = PosSide.LONG
CLOSE_RETRY_S = 1.0
CLOSE_ROW_WAIT_S = 0.5  # how often a close waiting for its journal row checks the journal's health
CLOSE_FILL_WAIT_S = 0.5  # a flat position waits this long for its closing fill push before a REST lookup
SETTLE_FIRST_S = 0.25  # an unknown close is looked up after this, doubling up to SETTLE_MAX_S
SETTLE_MAX_S = 5.0
FINISHED_KEPT = 256
NOT_FOUND_TIMES = 2  # "no such order" this many times in a row (with a backoff between) = not placed

ReconcileFn = Callable[[str], Awaitable[Any]]  # trigger -> report


class CloseLifecycle:
    def __init__(
        self, parts: EngineParts, entries: EntryLifecycle, *, reconcile: ReconcileFn, closing_fill_px: ClosingFillLookup
    ) -> None:
        self.parts = parts
        self.entries = entries
        self._reconcile = reconcile
        self._closing_fill_px = closing_fill_px
        self.owners = ExitOwnership(parts, reconcile=reconcile)
        self.pnl = ClosePnlResolver(parts, closing_fill_px)
        self.stops = StopCleanup(parts)
        self.flattener = Flatten(parts, entries, close=self.close_position, close_error=self.close_error,
                                 reconcile=reconcile)
        self.close_errors: dict[PositionKey, str] = {}  # the last refusal of a close, until one is accepted
        self._settling: set[str] = set()  # clOrdIds of closes being looked up
        # Positions whose close as a WS order was refused for its size: their next close is REST
        # close-position (order_route.CLOSE_SIZE_CODES), with the reason for its event.
        self._size_refused: dict[PositionKey, str] = {}
        # Entry clOrdIds of the latest closes: a close finished twice (the flat push and a
        # reconciliation racing) is counted once.
        self._finished: deque[str] = deque(maxlen=FINISHED_KEPT)

    # ---- exit decisions ------------------------------------------------------------------------

    def on_tick(self, inst_id: str) -> None:
        """Exits first on every ticker (the entry path runs after)."""
        parts = self.parts
        # the symbol's positions (a tuple: a close may change the book meanwhile); most tickers have none
        matching = parts.manager.book.by_inst.get(inst_id)
        if matching is None:
            return
        for position in matching:
            if position.snapshot is not None and position.closing is None:
                try:
                    quote = parts.registry.read(inst_id, _EXIT)
                except StaleData:
                    continue  # the sweep reads EXIT with its bounded REST fallback
                self.check_exit(position, quote)

    def check_exit(self, position: ManagedPosition, quote: Any) -> None:
        snap = position.snapshot
        if snap is None or position.closing is not None:
            return
        observe_worst(position, quote)
        decision = self.owners.decide(position, quote)
        if decision is None:
            return
        self._start_close(position, decision.kind.value, decision.reason, OrderPurpose.EXIT,
                          quote=(quote.source, quote.age_s, quote.budget_s, quote.exchange_ts_ms), decided_px=decision.observed_px)

    async def sweep(self) -> None:
        """Positions are also checked on a timer with the EXIT read that may fall back to REST
        (bounded by the registry): a silent WebSocket does not leave a position unwatched. It
        first picks up closes a previous run left without an exit price (close_pnl.py)."""
        parts = self.parts
        self.pnl.resume()
        while True:
            await wake_after(EXIT_SWEEP_S)
            positions = parts.manager.book.positions
            if not positions:
                continue
            for position in list(positions.values()):
                if position.snapshot is None or position.closing is not None:
                    continue
                try:
                    quote = await parts.registry.read_exit(position.inst_id)
                except StaleData:
                    continue  # refusal recorded by the registry (an event), asked again next sweep
                self.check_exit(position, quote)

    # ---- closes ----------------------------------------------------------------------------------

    def _start_close(
        self, position: ManagedPosition, reason: str, detail: str, purpose: OrderPurpose,
        *, quote: tuple[str, float, float, int] | None = None, decided_px: float | None = None,
    ) -> None:
        cl = self.parts.cl_ord_ids.new(CL_ORD_PREFIX_EXIT)
        position.closing = CloseRequest(reason, detail, cl, self.parts.clock.mono_s(), decided_px)
        src, age, budget, ts_ms = quote if quote is not None else (None, None, None, None)
        recorded = self.parts.journal.record_order(exit_order_record(
            position, cl, purpose, quote_source=src, quote_age_s=age, quote_budget_s=budget, quote_ts_ms=ts_ms,
            detail=detail))
        log.info("closing %s", kv(inst=position.inst_id, side=position.pos_side.value, reason=reason, detail=detail))
        self.parts.spawn(self._send_close(position, cl, recorded), f"close {position.inst_id}")

    async def _send_close(self, position: ManagedPosition, cl: str, recorded: concurrent.futures.Future[None]) -> None:
        parts = self.parts
        journal, manager = parts.journal, parts.manager
        # A close is not latency-critical: its journal row is committed before the exchange can see
        # it, so a kill -9 right after the exchange accepts it never leaves an order we don't know.
        # Except while the journal cannot commit (disk full): reducing exposure comes first; the
        # row is held by the journal and lands once it recovers, and the operator is told.
        # Through the clock: in a backtest the commit takes no simulated time (okxscalp/clock.py).
        committed = asyncio.ensure_future(parts.clock.wait_thread(recorded))
        while not committed.done():
            await asyncio.wait({committed}, timeout=CLOSE_ROW_WAIT_S)
            if not committed.done() and journal.write_failure is not None:
                parts.event(FallbackKind.SAFETY, position.inst_id,
                            f"close {position.pos_side.value} {cl} sent before its journal row committed "
                            f"({journal.write_failure}); the row is held and lands when the journal recovers",
                            "none", "closes")
                break
        if committed.done() and not committed.cancelled() and committed.exception() is not None:
            parts.event(FallbackKind.SAFETY, position.inst_id,
                        f"close {position.pos_side.value} {cl} sent without its journal row ({committed.exception()})",
                        "none", "closes")
        try:
            await self._send_close_order(position, cl)
        except AmbiguousOrderOutcome as exc:
            # It may have been executed: neither rejected nor retried. Looked up by clOrdId until
            # its state is known; no other close is decided for the position meanwhile.
            if position.closing is not None and position.closing.cl_ord_id == cl:
                position.closing.state = "unknown"
            journal.update_order(cl, state="unknown", detail=str(exc))
            log.warning("close outcome unknown %s", kv(inst=position.inst_id, side=position.pos_side.value, clOrdId=cl,
                                                       error=exc))
            parts.event(FallbackKind.SAFETY, position.inst_id,
                        f"close {position.pos_side.value} {cl}: outcome unknown ({exc}); looking it up", "none", "closes")
            await self._settle_close(position, cl)
            return
        except OkxError as exc:
            not_placed = isinstance(exc, OrderNotPlaced)
            journal.update_order(cl, state="not_placed" if not_placed else "rejected", detail=str(exc))
            self.close_errors[position.key] = f"close {'not placed' if not_placed else 'refused'}: {exc}"
            gone = position.key not in manager.book.positions or position.last_close_fill_px is not None
            (log.info if gone else log.warning)(
                "close refused %s", kv(inst=position.inst_id, side=position.pos_side.value, error=exc,
                                       already_closed_on_exchange=gone))
            if not gone:
                parts.event(FallbackKind.SAFETY, position.inst_id,
                            f"close {position.pos_side.value} {cl} refused ({exc}); decided again on the next fresh quote",
                            "none", "closes")
            no_position = (isinstance(exc, RequestError) and exc.code == CODE_POSITION_NOT_FOUND) or (
                isinstance(exc, OrderRejected) and exc.s_code in CLOSE_NO_POSITION_CODES)
            if no_position:
                # The exchange has no such position: something closed it (its attached TP/SL, most
                # likely) and the push saying so is late or was lost. Never retry blindly: give the
                # push a moment, then let reconciliation settle it from REST.
                await asyncio.sleep(CLOSE_FILL_WAIT_S)
                if position.key in manager.book.positions:
                    try:
                        await self._reconcile(f"close refused, no position {position.inst_id}/{position.pos_side.value}")
                    except OkxError as reconcile_exc:  # the periodic position check reconciles again
                        log.warning("reconciliation after a refused close failed %s",
                                    kv(inst=position.inst_id, error=reconcile_exc))
            else:
                await asyncio.sleep(CLOSE_RETRY_S)
            self._release(position, cl)
            return
        self.close_errors.pop(position.key, None)
        if position.closing is not None and position.closing.cl_ord_id == cl:
            position.closing.state = "live"
        journal.update_order(cl, state="live")

    async def _send_close_order(self, position: ManagedPosition, cl: str) -> None:
        """Over the WebSocket trade channel when configured and ready (a market order of the known
        size on the reduce side: order_route.close_as_order), else REST close-position; a size
        refusal over WS, or a size not known exactly, goes to close-position too. Each REST close
        while WS is configured is an ORDER_VIA_REST event (order_route.py). Same clOrdId either way:
        a close refused by sCode was never placed, so the id is free."""
        parts = self.parts
        route, mode = parts.orders, parts.account_settings.margin_mode
        what = f"close {position.pos_side.value} {cl}"
        why = self._size_refused.get(position.key, "")
        if route.wants_ws:
            request = close_as_order(position.inst_id, position.pos_side, position.size,
                                     parts.instruments.get(position.inst_id), cl_ord_id=cl, td_mode=mode, tag=EXIT_TAG)
            if isinstance(request, str):
                why = f"not as a WS order: {request}"
            elif not why and route.ws_ready():
                try:
                    await route.place_close(request)
                    return
                except TradeChannelDown as exc:
                    why = f"trade channel refused it ({exc})"
                except OrderRejected as exc:
                    if not isinstance(exc, OrderNotPlaced) and exc.s_code in CLOSE_SIZE_CODES:
                        # Refused, so not placed: decided again (CLOSE_RETRY_S), then over REST.
                        self._size_refused[position.key] = f"size {request.sz} refused over WS (sCode {exc.s_code})"
                    raise
            route.note_rest_close(position.inst_id, what, why)
        await parts.rest.close_position(position.inst_id, mode, position.pos_side.value, cl_ord_id=cl, tag=EXIT_TAG)

    def _release(self, position: ManagedPosition, cl: str) -> None:
        """The close `cl` did not happen: decide again on the next fresh quote."""
        if position.closing is not None and position.closing.cl_ord_id == cl:
            position.closing = None

    async def _settle_close(self, position: ManagedPosition, cl: str) -> None:
        """Ask the exchange for the close `cl` by clOrdId until its final state is known (bounded
        backoff, an event for every failed lookup); the journal row follows. Not found twice in a
        row → not placed: released (decided again)."""
        if cl in self._settling:
            return
        self._settling.add(cl)
        try:
            await self._settle_close_until_final(position, cl)
        finally:
            self._settling.discard(cl)

    async def _settle_close_until_final(self, position: ManagedPosition, cl: str) -> None:
        parts = self.parts
        delay, not_found = SETTLE_FIRST_S, 0
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SETTLE_MAX_S)
            try:
                order = await parts.rest.get_order(position.inst_id, cl_ord_id=cl)
            except OkxError as exc:
                parts.event(FallbackKind.SAFETY, position.inst_id,
                            f"close {position.pos_side.value} {cl}: still unknown, lookup failed ({exc})", "none", "closes")
                continue
            if order is None:
                not_found += 1
                if not_found < NOT_FOUND_TIMES:
                    continue
                parts.journal.update_order(cl, state="not_placed", detail="settled by lookup: the exchange has no such order")
                log.info("close was never placed %s", kv(inst=position.inst_id, side=position.pos_side.value, clOrdId=cl))
                self._release(position, cl)
                return
            not_found = 0
            parts.journal.update_order(cl, state=order.state, ord_id=order.ord_id, acc_fill_sz=order.acc_fill_sz,
                                       avg_px=order.avg_px, detail=f"settled by lookup: {order.state}")
            if order.acc_fill_sz > 0 and order.avg_px is not None:
                parts.manager.on_close_fill(order)
            if order.state in ORDER_STATES_FINAL:
                log.info("close settled %s", kv(inst=position.inst_id, side=position.pos_side.value, clOrdId=cl,
                                                state=order.state, avg_px=order.avg_px))
                if order.state != "filled" and order.acc_fill_sz <= 0:
                    self._release(position, cl)
                elif position.closing is not None and position.closing.cl_ord_id == cl:
                    position.closing.state = order.state
                return
            if position.closing is not None and position.closing.cl_ord_id == cl:
                position.closing.state = "live"

    async def close_position(self, inst_id: str, side: str, reason: str, detail: str) -> bool:
        position = self.parts.manager.book.get(inst_id_of(inst_id), side)
        if position is None or position.closing is not None:
            return False
        purpose = OrderPurpose.FLATTEN if reason == CloseReason.FLATTEN else OrderPurpose.CLOSE
        self._start_close(position, reason, detail, purpose)
        return True

    def close_error(self, inst_id: str, side: str) -> str:
        return self.close_errors.get((inst_id, side), "")

    # ---- a position gone flat --------------------------------------------------------------------

    async def finish_flat(self, position: ManagedPosition) -> None:
        """A managed position went flat: give the closing fill a moment to arrive, look it up if
        it did not, journal the close (with its worst case when the exit is still unknown). From
        the moment it is known flat until its P&L is counted, entries wait (Halt.DAY_PNL_UNKNOWN)."""
        manager = self.parts.manager
        if position.key not in manager.book.positions:
            return
        if position.last_close_fill_px is not None or position.snapshot is None:
            manager.finish_close(position)
            return
        key = f"{position.inst_id}/{position.pos_side.value}"
        self.pnl.lookup_started(key)
        try:
            await asyncio.sleep(CLOSE_FILL_WAIT_S)
            if manager.book.positions.get(position.key) is not position:
                return
            closing = position.closing
            if position.last_close_fill_px is None and (closing is None or closing.exit_px is None):
                await self._look_up_exit(position, closing)
            else:
                manager.finish_close(position)
        finally:
            self.pnl.lookup_ended(key)  # after finish_close: an unknown exit is tracked by then

    async def _look_up_exit(self, position: ManagedPosition, closing: CloseRequest | None) -> None:
        """The closing fill's price from REST (its push was missed), then the close is journaled
        (with its worst case when it is still not found)."""
        manager = self.parts.manager
        assert position.snapshot is not None
        ord_id, cl_ord_id = closing_order_ids(position)
        try:
            px = await self._closing_fill_px(position.snapshot, ord_id=ord_id, cl_ord_id=cl_ord_id, size=position.size)
        except OkxError as exc:
            px = None
            log.warning("closing fill not found %s", kv(inst=position.inst_id, side=position.pos_side.value, error=exc))
        if manager.book.positions.get(position.key) is not position:
            return
        if px is not None and closing is not None:
            closing.exit_px = px  # the push was missed: the engine's own close, confirmed flat
        elif px is not None:
            position.last_close_fill_px = px
        manager.finish_close(position)

    def on_position_closed(self, position: ManagedPosition, reason: str, px: float | None, pnl: float | None) -> None:
        self.entries.cool_down(position.inst_id)
        entry = position.snapshot.entry_cl_ord_id if position.snapshot is not None else ""
        if entry and entry in self._finished:
            log.info("close already counted %s", kv(inst=position.inst_id, side=position.pos_side.value, entry=entry))
            return
        if entry:
            self._finished.append(entry)
        self.owners.forget(position)
        self.close_errors.pop(position.key, None)
        self._size_refused.pop(position.key, None)
        if pnl is not None:
            self.parts.account.record_realised(pnl)
        elif position.snapshot is not None:
            self.pnl.on_unknown_close(position)
        if reason == CloseReason.LIQUIDATION:  # however it was learnt (push or fills): the operator is told
            pnl_text = f"{pnl:+.4f} USDT" if pnl is not None else "unknown yet"
            self.parts.event(FallbackKind.POSITION, position.inst_id,
                             f"closed by LIQUIDATION ({position.liquidated_by}) at {px}: realised P&L {pnl_text}",
                             "exchange")
        self.stops.start(position.inst_id, position.pos_side)
        closing = position.closing
        if closing is not None and closing.state not in ORDER_STATES_FINAL and closing.cl_ord_id not in self._settling:
            # Flat, but the close's final state never arrived (its push was missed): the journal
            # row would stay in flight. Ask for it.
            self.parts.spawn(self._settle_close(position, closing.cl_ord_id), f"settle close {position.inst_id}")

    async def cancel_stops(self, position: ManagedPosition) -> None:
        """Cancel the stops left for a closed position and wait until none is confirmed armed
        (stop_cleanup.py: retried with backoff; entries of the symbol halted meanwhile)."""
        await asyncio.shield(self.stops.start(position.inst_id, position.pos_side))

    # ---- flatten ---------------------------------------------------------------------------------

    async def flatten(self) -> None:
        """Cancel every order, close every position reduce-only, until the exchange confirms
        nothing is left (flatten.py); entries stay halted until the operator resumes."""
        await self.flattener.run()


def observe_worst(position: ManagedPosition, quote: Any) -> None:
    """Remember the worst EXIT quote seen while open (bounds a close with an unknown exit)."""
    long = position.pos_side is _LONG
    px = quote.bid if long else quote.ask
    if px is None or not px > 0:
        return
    worst = position.worst_seen_px
    if worst is None or (px < worst if long else px > worst):
        position.worst_seen_px = px
