"""A TTL cache with in-flight coalescing: concurrent callers of one key share one fetch.

A failed fetch is not cached: every waiter of that fetch gets its exception, the next call
fetches again. A caller that is cancelled does not cancel the shared fetch for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}  # key -> (expires_mono, value)
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}

    async def get(self, key: Hashable, ttl_s: float, fetch: Callable[[], Awaitable[Any]]) -> Any:
        entry = self._values.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, ttl_s, fetch))
            # Mark the outcome retrieved even if every waiter was cancelled meanwhile.
            task.add_done_callback(_consume_outcome)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: Hashable, ttl_s: float, fetch: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await fetch()
            self._values[key] = (self._clock() + ttl_s, value)
            return value
        finally:
            self._inflight.pop(key, None)

    def put(self, key: Hashable, ttl_s: float, value: Any) -> None:
        """Store a value fetched by other means (e.g. one item of a batch reply)."""
        self._values[key] = (self._clock() + ttl_s, value)

    def invalidate(self, key: Hashable | None = None) -> None:
        if key is None:
            self._values.clear()
        else:
            self._values.pop(key, None)

    async def aclose(self) -> None:
        """Cancel fetches still in flight (nobody may outlive the client)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass  # cancelled or failed: either way it is over
        self._inflight.clear()


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
