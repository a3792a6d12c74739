"""Stops left behind by a closed position: cancelled and confirmed gone, or entries halted.

OKX cancels a position's attached TP/SL when the position is gone, and the simulator does the same.
The engine does not rely on it: a reduce-only stop left armed would act on the next position of the
same side. After every close, for that (instrument, side):
1. list the armed algo orders (`conditional` and `oco`) of that side;
2. none listed → done; otherwise cancel them (cancel-algos answers per item: an `sCode` other than
   0 means that one was not cancelled) and list again;
3. every failure (listing, request, a refused item) is an event and a retry after a bounded
   backoff, until the listing shows none or the engine stops.
While any stop of a closed position may still be armed, entries of that instrument are halted
(Halt.STOPS_LEFT, per symbol), the reason saying what is left and why.
"""

from __future__ import annotations

import asyncio
import logging

from okxscalp.engine.parts import EngineParts
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import AlgoOrder, PosSide

log = logging.getLogger(__name__)

LIVE_ALGO_STATES = ("live", "effective", "partially_effective", "")
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 5.0
CONFIRM_AFTER_S = 0.1  # a cancel is asynchronous on OKX: list again after a moment

Key = tuple[str, str]  # (instId, posSide)


def armed_for(algos: list[AlgoOrder], inst_id: str, pos_side: PosSide) -> list[AlgoOrder]:
    return [a for a in algos if a.inst_id == inst_id and a.pos_side is pos_side and a.state in LIVE_ALGO_STATES]


class StopCleanup:
    """See the module docstring. `start` after every close; one task per (instrument, side)."""

    def __init__(self, parts: EngineParts) -> None:
        self.parts = parts
        self.left: dict[Key, str] = {}  # what may still be armed, and why (the halt's reason)
        self._again: set[Key] = set()  # closed again while its cleanup ran: list once more
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self.confirmed = 0  # cleanups that ended with nothing left (tests, soak)

    def start(self, inst_id: str, pos_side: PosSide) -> asyncio.Task[None]:
        """Start (or extend) the cleanup of (inst_id, pos_side); its task ends once confirmed."""
        key = (inst_id, pos_side.value)
        running = self._tasks.get(key)
        if running is not None and not running.done():
            self._again.add(key)
            return running
        self._set(key, "not confirmed cancelled yet")
        task: asyncio.Task[None] = self.parts.spawn(self._run(inst_id, pos_side), f"stops {inst_id}/{pos_side.value}")
        self._tasks[key] = task
        return task

    async def _run(self, inst_id: str, pos_side: PosSide) -> None:
        key = (inst_id, pos_side.value)
        rest = self.parts.rest
        delay, cancelled, failures = RETRY_FIRST_S, 0, 0
        while True:
            try:
                armed = armed_for(await rest.algo_orders_pending(inst_id), inst_id, pos_side)
            except OkxError as exc:
                problem = f"stops not listed ({exc})"
            else:
                if not armed and key in self._again:
                    self._again.discard(key)
                    continue
                if not armed:
                    break
                try:
                    acks = await rest.cancel_algo_orders([(a.inst_id, a.algo_id) for a in armed])
                except OkxError as exc:
                    problem = f"{len(armed)} armed, cancel failed ({exc})"
                else:
                    refused = [f"{a.algo_id} sCode {a.s_code} {a.s_msg}".rstrip() for a in acks if not a.ok]
                    cancelled += len(acks) - len(refused)
                    answered = {a.algo_id for a in acks}
                    unanswered = [a.algo_id for a in armed if a.algo_id not in answered]
                    if not refused and not unanswered:
                        await asyncio.sleep(CONFIRM_AFTER_S)
                        continue  # confirmed only by the next listing
                    problem = f"{len(armed)} armed, not cancelled: " + ", ".join(
                        refused + [f"{i} not answered" for i in unanswered])
            failures += 1
            self._set(key, problem)
            log.warning("stops after close left %s", kv(inst=inst_id, side=pos_side.value, problem=problem,
                                                        attempt=failures, retry_in_s=delay))
            self._event(inst_id, f"{pos_side.value}: stop of a closed position may still be armed: {problem}; "
                                 f"retry in {delay:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        self._clear(key)
        self.confirmed += 1
        log.info("stops after close confirmed gone %s", kv(inst=inst_id, side=pos_side.value, cancelled=cancelled,
                                                           failures=failures))
        if failures:
            self._event(inst_id, f"{pos_side.value}: no stop of the closed position left (after {failures} failure(s))")

    def _set(self, key: Key, problem: str) -> None:
        self.left[key] = problem
        self._refresh(key[0])

    def _clear(self, key: Key) -> None:
        self.left.pop(key, None)
        self._again.discard(key)
        self._refresh(key[0])

    def _refresh(self, inst_id: str) -> None:
        mine = {side: why for (inst, side), why in self.left.items() if inst == inst_id}
        supervisor = self.parts.supervisor
        if not mine:
            supervisor.clear(Halt.STOPS_LEFT, inst_id, why="no stop of a closed position left")
            return
        text = "; ".join(f"{inst_id}/{side}: {why}" for side, why in sorted(mine.items()))
        supervisor.set(Halt.STOPS_LEFT, f"stops of a closed position may be armed: {text}", inst_id)

    def _event(self, inst_id: str, detail: str) -> None:
        self.parts.event(FallbackKind.SAFETY, inst_id, detail, "none", "stops")
