"""Flatten all: every order of ours gone, every position closed, confirmed by the exchange.

Entries are halted first (Halt.FLATTEN, until the operator resumes). Then passes repeat, with a
bounded backoff, until a pass confirms everything gone or the engine stops:
1. cancel the tracked entry orders, and every order the exchange lists as pending on our
   instruments (a cancel sent before an order reached the exchange must not leave it working);
2. close every position the exchange lists on our instruments, reduce-only (a fill that lands
   during flatten is closed too; a position the book does not know yet is reconciled first);
3. list orders and positions again: what is still listed (and the tracked entries with no final
   state yet) is what is left.
While anything is left the header shows "flatten incomplete: <what is left and why>"
(Halt.FLATTEN_INCOMPLETE, its reason updated pass by pass); events say flatten started, each
failure, and complete. Stops of the closed positions are stop_cleanup.py's (their own halt).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from okxscalp.engine.entries import EntryLifecycle
from okxscalp.engine.notices import ERROR, INFORMATION
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import CloseReason
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import ORDER_STATES_FINAL
from okxscalp.okx.errors import OkxError

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.25
RETRY_MAX_S = 2.0
SETTLE_S = 0.2  # after cancels and closes, before listing again: both are asynchronous on OKX

CloseFn = Callable[[str, str, str, str], Awaitable[bool]]  # inst, side, reason, detail -> started
CloseErrorFn = Callable[[str, str], str]  # inst, side -> the last close failure ("" if none)
ReconcileFn = Callable[[str], Awaitable[Any]]


class Flatten:
    """See the module docstring. `run()` starts a flatten or joins the running one."""

    def __init__(
        self, parts: EngineParts, entries: EntryLifecycle, *, close: CloseFn, close_error: CloseErrorFn,
        reconcile: ReconcileFn,
    ) -> None:
        self.parts = parts
        self.entries = entries
        self._close = close
        self._close_error = close_error
        self._reconcile = reconcile
        self._task: asyncio.Task[None] | None = None
        self.completed = 0  # flattens confirmed complete (tests, soak)
        self.left: list[str] = []  # what the last pass found still there

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """Flatten until the exchange confirms nothing is left (or the engine stops)."""
        parts = self.parts
        parts.supervisor.set(Halt.FLATTEN, "flatten: halted until resumed")
        if not self.running:
            self._task = parts.spawn(self._until_done(), "flatten")
        task = self._task
        assert task is not None
        await asyncio.shield(task)

    async def _until_done(self) -> None:
        supervisor = self.parts.supervisor
        self._event("flatten started: cancelling every order, closing every position")
        supervisor.set(Halt.FLATTEN_INCOMPLETE, "flatten incomplete: started, nothing confirmed yet")
        delay, passes, told = RETRY_FIRST_S, 0, False
        while True:
            passes += 1
            failures = await self._act()
            left = await self._left()
            self.left = left
            if not left:
                break
            text = "; ".join(left)
            supervisor.set(Halt.FLATTEN_INCOMPLETE, f"flatten incomplete: {text}")
            if not told:  # once per flatten: the header's reason follows it pass by pass
                told = True
                self.parts.notices.post("flatten", ERROR, "Flatten incomplete", f"{text}; retrying")
            for failure in failures:
                self._event(f"flatten: {failure}")
            log.warning("flatten incomplete %s", kv(left=text, failures="; ".join(failures) or "-", pass_=passes,
                                                    retry_in_s=delay))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        supervisor.clear(Halt.FLATTEN_INCOMPLETE, why="flatten complete")
        self.completed += 1
        log.info("flatten complete %s", kv(passes=passes))
        self._event(f"flatten complete: no order and no position left (after {passes} pass(es))")
        self.parts.notices.post("flatten", INFORMATION, "Flatten complete",
                                f"no order and no position left (after {passes} pass(es))")

    async def _act(self) -> list[str]:
        """One pass of cancels and closes; returns what failed (for the events)."""
        parts = self.parts
        failures: list[str] = []
        await self.entries.cancel_all("flatten")
        try:
            pending = [o for o in await parts.rest.orders_pending() if o.inst_id in parts.instruments]
        except OkxError as exc:
            failures.append(f"open orders not listed ({exc})")
            pending = []
        for order in pending:
            try:
                await parts.rest.cancel_order(order.inst_id, ord_id=order.ord_id)
            except OkxError as exc:
                failures.append(f"cancel of {order.inst_id} order {order.ord_id} failed ({exc})")
        try:
            positions = [p for p in await parts.rest.positions() if p.pos != 0 and p.inst_id in parts.instruments]
        except OkxError as exc:
            failures.append(f"positions not listed ({exc})")
            positions = []
        unknown = []
        for p in positions:
            managed = parts.manager.book.get(p.inst_id, p.pos_side.value)
            if managed is None:
                unknown.append(f"{p.inst_id}/{p.pos_side.value}")
            elif managed.closing is None:
                await self._close(p.inst_id, p.pos_side.value, CloseReason.FLATTEN, "flatten all")
        if unknown:  # not in the book yet (a fill still being snapshotted, or not ours): reconcile
            try:
                await self._reconcile("flatten: position(s) not in the book: " + ",".join(unknown))
            except OkxError as exc:
                failures.append(f"reconcile for {','.join(unknown)} failed ({exc})")
        if pending or positions:
            await asyncio.sleep(SETTLE_S)
        return failures

    async def _left(self) -> list[str]:
        """What the exchange still lists (and entries with no final state yet), with why."""
        parts = self.parts
        left: list[str] = []
        listed: set[str] = set()
        try:
            for order in await parts.rest.orders_pending():
                if order.inst_id in parts.instruments:
                    listed.add(order.cl_ord_id)
                    left.append(f"order {order.inst_id} {order.ord_id} ({order.cl_ord_id or 'no clOrdId'}) still "
                                f"{order.state}")
        except OkxError as exc:
            left.append(f"open orders not confirmed gone (listing failed: {exc})")
        for cl_ord_id, inst_id in list(self.entries.tracked().items()):
            if cl_ord_id in listed:
                continue
            settled = await self._entry_final(inst_id, cl_ord_id)
            if settled:
                left.append(f"entry {inst_id} {cl_ord_id}: {settled}")
        try:
            for p in await parts.rest.positions():
                if p.pos != 0 and p.inst_id in parts.instruments:
                    key = f"{p.inst_id}/{p.pos_side.value}"
                    managed = parts.manager.book.get(p.inst_id, p.pos_side.value)
                    if managed is None:
                        why = "not in the book yet"
                    elif managed.closing is not None:
                        why = f"close {managed.closing.cl_ord_id} {managed.closing.state}"
                    else:
                        why = self._close_error(p.inst_id, p.pos_side.value) or "close not sent yet"
                    left.append(f"position {key} {abs(p.pos):g} open ({why})")
        except OkxError as exc:
            left.append(f"positions not confirmed closed (listing failed: {exc})")
        return left

    async def _entry_final(self, inst_id: str, cl_ord_id: str) -> str:
        """A tracked entry the exchange does not list as pending: '' once its final state is known
        (and handed to the entry lifecycle), else why it is still counted as left."""
        try:
            order = await self.parts.rest.get_order(inst_id, cl_ord_id=cl_ord_id)
        except OkxError as exc:
            return f"state not known (query failed: {exc})"
        if order is None:
            return "not on the exchange (yet): its placement is still being settled"
        if order.state in ORDER_STATES_FINAL:
            await self.entries.on_order(order)
            return ""
        return f"still {order.state}"

    def _event(self, detail: str) -> None:
        self.parts.event(FallbackKind.SAFETY, "", detail, "none", "flatten")
