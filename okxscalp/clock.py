"""The clock the engine reads time through: live (the OS clocks) or a backtest's simulated time.

One code path for live and backtest (okxscalp/backtest/DESIGN.md): every time read and every
wait for another thread's work goes through one injected `Clock`; every wait in time goes through
asyncio (whose loop is a VirtualTimeEventLoop in a backtest, see okxscalp/backtest/clock.py).
`LiveClock` is what live and demo runs use; nothing patches `time` process-wide.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the engine reads time through. `mono_s` shares its base with the running loop's
    `time()`, so deadlines computed from it compare with asyncio's own."""

    def wall_s(self) -> float:
        """Seconds since the epoch (journal timestamps, exchange-clock offsets, ages of wall stamps)."""
        ...

    def mono_s(self) -> float:
        """Monotonic seconds (freshness ages, cooldowns, watchdogs, deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        ...

    async def wait_thread(self, future: concurrent.futures.Future[T]) -> T:
        """Await work running in another thread (the journal writer). On a virtual clock the
        work takes no simulated time and resolves at a deterministic point (see
        VirtualTimeEventLoop.await_thread)."""
        ...


class LiveClock:
    """The OS clocks: what live and demo runs use. The reads are the OS functions themselves
    (`LiveClock().mono_s is time.monotonic`): live pays no extra call on the hot path."""

    wall_s = staticmethod(time.time)
    mono_s = staticmethod(time.monotonic)  # asyncio's default loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_thread(self, future: concurrent.futures.Future[T]) -> T:
        return await asyncio.wrap_future(future)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # cancelled: its task is stopping
        waiter.set_result(None)


def wake_after(delay_s: float) -> asyncio.Future[None]:
    """A future done `delay_s` from now on the running loop's clock: exactly the timer
    `asyncio.sleep(delay_s)` sets (the same instant, on a virtual loop too), without sleep's
    coroutine and its timer cancel per wait. For the periodic checks' hot waits
    (`await wake_after(interval)`, several a simulated second in a backtest). A task cancelled
    while waiting leaves the timer to fire into the cancelled future: a no-op."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    loop.call_at(loop.time() + delay_s, _wake, waiter)
    return waiter
