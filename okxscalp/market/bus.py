"""The one event bus: fallback events and connection health, fanned out to independent readers.

Readers (console, log, counters, journal) each `subscribe(name)` and get their own bounded queue.
Publishing is a plain synchronous call that never blocks and never awaits: when a reader's queue
is full its *oldest* event is dropped and that reader's `dropped` counter goes up, so a slow or
stuck reader loses history but can never slow the engine or the other readers.

Bounded under storms: `emit()` coalesces identical events. The key is (component, symbol, kind,
fold), `fold` an optional finer distinction of the emitter's (the registry's refusals: the purpose,
so a folded row never mixes SIGNAL and ORDER reads).
The first occurrence is delivered at once; further occurrences of the same key within
`coalesce_s` are only counted. The next occurrence after the interval (or `flush()`, which the
feed coordinator calls on every watchdog tick, once the interval has passed) delivers one event
whose `count` is the number of occurrences it stands for and whose detail/source are the latest
ones. So a refusal storm of N reads in one second becomes at most two events per key, and the sum
of `count` over delivered events equals the number of occurrences (nothing is hidden, only folded).
`counts` (cumulative, by kind) is updated for every occurrence at once; `recent()` is a bounded
ring of delivered fallback events for the console.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from okxscalp.market.events import BusEvent, FallbackEvent, FallbackKind

DEFAULT_QUEUE_SIZE = 1024
DEFAULT_RECENT_SIZE = 256
DEFAULT_COALESCE_S = 1.0


class Subscription:
    """One reader's bounded queue (drop-oldest). Read with `get_nowait()`, `drain()` or `await get()`."""

    __slots__ = ("_queue", "_ready", "dropped", "maxsize", "name")

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"subscription {name!r}: queue size must be >= 1, got {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0  # events lost because this reader fell behind
        self._queue: deque[BusEvent] = deque()
        self._ready: asyncio.Event | None = None  # created by the first awaiting get()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, event: BusEvent) -> None:
        queue = self._queue
        if len(queue) >= self.maxsize:
            queue.popleft()
            self.dropped += 1
        queue.append(event)
        ready = self._ready
        if ready is not None:
            ready.set()

    def get_nowait(self) -> BusEvent | None:
        return self._queue.popleft() if self._queue else None

    def drain(self, max_items: int | None = None) -> list[BusEvent]:
        queue = self._queue
        n = len(queue) if max_items is None else min(max_items, len(queue))
        return [queue.popleft() for _ in range(n)]

    async def get(self) -> BusEvent:
        while not self._queue:
            if self._ready is None:
                self._ready = asyncio.Event()
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()


class _Window:
    __slots__ = ("detail", "source", "start", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.suppressed = 0
        self.detail = ""
        self.source = ""


class EventBus:
    def __init__(
        self,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        recent_size: int = DEFAULT_RECENT_SIZE,
        coalesce_s: float = DEFAULT_COALESCE_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue_size = queue_size
        self._coalesce_s = coalesce_s
        self._clock = clock
        self._wall = wall_clock
        self._subs: list[Subscription] = []
        self._recent: deque[FallbackEvent] = deque(maxlen=recent_size)
        self._counts: dict[str, int] = {kind.value: 0 for kind in FallbackKind}
        self._windows: dict[tuple[str, str, FallbackKind, str], _Window] = {}
        self.published = 0  # events delivered (after coalescing)

    # --- readers ------------------------------------------------------------------------------

    def subscribe(self, name: str, maxsize: int | None = None) -> Subscription:
        sub = Subscription(name, maxsize or self._queue_size)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subs)

    @property
    def counts(self) -> dict[str, int]:
        """Cumulative occurrences by FallbackKind value (every occurrence, coalesced or not)."""
        return dict(self._counts)

    def recent(self) -> tuple[FallbackEvent, ...]:
        """Delivered fallback events, oldest first, bounded."""
        return tuple(self._recent)

    # --- writers ------------------------------------------------------------------------------

    def publish(self, event: BusEvent) -> None:
        """Deliver one event to every reader as is (no coalescing). Never blocks."""
        if isinstance(event, FallbackEvent):
            self._counts[event.kind.value] = self._counts.get(event.kind.value, 0) + event.count
        self._deliver(event)

    def emit(
        self, component: str, symbol: str, kind: FallbackKind, detail: str, source: str, *, fold: str = ""
    ) -> None:
        """Record one fallback occurrence; delivered at once or folded into a counted event (with
        the occurrences of the same component, symbol, kind and `fold`)."""
        self._counts[kind.value] += 1
        now = self._clock()
        key = (component, symbol, kind, fold)
        window = self._windows.get(key)
        if window is not None and now - window.start < self._coalesce_s:
            window.suppressed += 1
            window.detail = detail
            window.source = source
            return
        count = 1 + (window.suppressed if window is not None else 0)
        self._windows[key] = _Window(now)
        self._deliver(FallbackEvent(self._wall(), component, symbol, kind, detail, source, count))

    def flush(self) -> int:
        """Deliver the folded occurrences of every key whose interval has passed; returns how
        many events that delivered. Call it periodically (the feed coordinator's watchdog does)."""
        if not self._windows:
            return 0
        now = self._clock()
        delivered = 0
        for key, window in list(self._windows.items()):
            if now - window.start < self._coalesce_s:
                continue
            del self._windows[key]
            if window.suppressed:
                component, symbol, kind, _fold = key
                self._deliver(
                    FallbackEvent(
                        self._wall(), component, symbol, kind, window.detail, window.source, window.suppressed
                    )
                )
                delivered += 1
        return delivered

    def _deliver(self, event: BusEvent) -> None:
        self.published += 1
        if isinstance(event, FallbackEvent):
            self._recent.append(event)
        for sub in self._subs:
            sub.put(event)
