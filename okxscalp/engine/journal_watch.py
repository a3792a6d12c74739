"""The engine's journal, telling in-memory readers what it is asked to write.

Every order the engine sends (entries, exits, closes, flatten closes, protective stops) is written
to the journal with the quote it was priced from before it is sent, and every state change and
fill after; so the journal's write calls are the one place that sees all of them. The console's
order and trade views (order_board.py, trade_history.py) are kept current from these calls instead
of querying the journal four times a second.

A watcher runs on the caller's thread (the event loop) after the write is queued. One that raises
is a bug in a view, not in trading: it is logged as an error and counted, and the write stands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from okxscalp.engine.journal import Journal, OrderRecord
from okxscalp.logging_setup import kv
from okxscalp.okx.models import Fill

log = logging.getLogger(__name__)


class JournalWatcher(Protocol):
    def order_recorded(self, order: OrderRecord) -> None: ...

    def order_updated(self, cl_ord_id: str, state: str, acc_fill_sz: float | None, avg_px: float | None,
                      detail: str | None, ord_id: str | None) -> None: ...

    def fill_recorded(self, fill: Fill) -> None: ...


class WatchedJournal(Journal):
    """A Journal whose order and fill writes are also handed to `watchers`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchers: list[JournalWatcher] = []
        self.watch_failures = 0  # watcher calls that raised (logged as errors)

    def record_order(self, order: OrderRecord) -> concurrent.futures.Future[None]:
        future = super().record_order(order)
        scrubbed = order if not order.detail else replace(order, detail=self._scrub(order.detail) or "")
        for watcher in self.watchers:
            self._tell(watcher.order_recorded, scrubbed)
        return future

    def record_order_ahead(self, build: Callable[[], OrderRecord], intent: tuple[Any, ...]) -> None:
        """The write-ahead row: the watchers hear of it right after the current step of the loop
        (the order's send), not before it (building the record is what the hot path avoids)."""
        super().record_order_ahead(build, intent)
        if not self.watchers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called off the loop: nothing to wait for, told now
            self._tell_built(build)
            return
        loop.call_soon(self._tell_built, build)

    def _tell_built(self, build: Callable[[], OrderRecord]) -> None:
        try:
            order = build()
        except Exception as exc:  # the journal's writer reports the same failure as a lost write
            self.watch_failures += 1
            log.error("journal watcher: write-ahead record not built %s", kv(error=repr(exc)), exc_info=exc)
            return
        scrubbed = order if not order.detail else replace(order, detail=self._scrub(order.detail) or "")
        for watcher in self.watchers:
            self._tell(watcher.order_recorded, scrubbed)

    def update_order(
        self,
        cl_ord_id: str,
        *,
        state: str,
        ord_id: str | None = None,
        acc_fill_sz: float | None = None,
        avg_px: float | None = None,
        detail: str | None = None,
        updated_at: float | None = None,
    ) -> concurrent.futures.Future[bool]:
        future = super().update_order(cl_ord_id, state=state, ord_id=ord_id, acc_fill_sz=acc_fill_sz, avg_px=avg_px,
                                      detail=detail, updated_at=updated_at)
        for watcher in self.watchers:
            self._tell(watcher.order_updated, cl_ord_id, state, acc_fill_sz, avg_px, self._scrub(detail), ord_id)
        return future

    def record_fill(self, fill: Fill) -> concurrent.futures.Future[bool]:
        future = super().record_fill(fill)
        for watcher in self.watchers:
            self._tell(watcher.fill_recorded, fill)
        return future

    def _tell(self, call: Any, *args: Any) -> None:
        try:
            call(*args)
        except Exception as exc:  # a console view's bug must not undo a journaled order: logged, counted
            self.watch_failures += 1
            log.error("journal watcher failed %s", kv(watcher=getattr(call, "__qualname__", call), error=repr(exc)),
                      exc_info=exc)

