"""Documented OKX limits, enforced: REST per-endpoint budgets, new WS connections per IP,
WS subscribe/unsubscribe/login operations per connection.

Every limit is a strict sliding window: a request is refused if the window ending now already
holds `limit` accepted requests. That is the tightest reading of "N requests per 2 s", so a client
that passes here passes on OKX whichever way OKX aligns its windows.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from okxscalp.okx.constants import Endpoint, LimitKey


class SlidingWindow:
    """`allow()` records and returns True while fewer than `limit` hits fall in the window."""

    __slots__ = ("_hits", "limit", "window_s")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: deque[float] = deque()

    def allow(self, now: float, cost: int = 1) -> bool:
        hits = self._hits
        horizon = now - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) + cost > self.limit:
            return False
        hits.extend([now] * cost)
        return True


def limit_key(endpoint: Endpoint, *, ip: str, uid: str, inst_type: str = "", inst_id: str = "") -> str:
    """What a request is counted per, following the endpoint's documented key."""
    key = endpoint.key
    if key is LimitKey.IP:
        return ip
    if key is LimitKey.IP_INST_TYPE:
        return f"{ip}|{inst_type}"
    if key is LimitKey.IP_INST_ID:
        return f"{ip}|{inst_id}"
    if key is LimitKey.UID:
        return uid
    return f"{uid}|{inst_id}"


class RestRateLimiter:
    """One sliding window per (endpoint, key). `enabled=False` lets benches measure raw speed."""

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._windows: dict[tuple[str, str, str], SlidingWindow] = {}

    def allow(self, endpoint: Endpoint, key: str, cost: int = 1) -> bool:
        if not self.enabled:
            return True
        slot = (endpoint.method, endpoint.path, key)
        window = self._windows.get(slot)
        if window is None:
            window = self._windows[slot] = SlidingWindow(endpoint.limit, endpoint.window_s)
        return window.allow(self._clock(), cost)


class KeyedWindows:
    """A sliding window per key (IP for new connections, connection id for WS operations)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, SlidingWindow] = {}

    def allow(self, key: str) -> bool:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(self.limit, self.window_s)
        return window.allow(self._clock())

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)
