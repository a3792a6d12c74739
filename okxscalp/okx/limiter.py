"""Client-side REST budgets: one aiolimiter bucket per documented limit key, shared by every caller.

Each bucket lets the sustained rate reach `limit × margin` per window and allows a burst of half
the remaining headroom (at least 1), so that no window of the documented length ever sees more
than the documented limit, whichever way the exchange aligns its windows:
burst + rate × window ≤ limit.
"""

from __future__ import annotations

import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from okxscalp.okx.constants import ENDPOINTS, Endpoint, LimitKey


class _Bucket:
    __slots__ = ("limiter", "recent", "window_s")

    def __init__(self, endpoint: Endpoint, margin: float) -> None:
        # Leave room for a burst of at least one even at margin 1.0.
        rate = max(1, min(math.floor(endpoint.limit * margin), endpoint.limit - 1))
        burst = max(1, (endpoint.limit - rate) // 2)
        # aiolimiter: up to `burst` at once, refilled at rate/window per second.
        self.limiter = AsyncLimiter(burst, burst * endpoint.window_s / rate)
        self.window_s = endpoint.window_s
        self.recent: deque[float] = deque()  # acquisition times within the last window (for budget_use)

    def used_in_window(self, now: float) -> int:
        recent = self.recent
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        return len(recent)


class EndpointLimiters:
    """`await limiters.acquire(endpoint, inst_id=..., inst_type=...)` before each request."""

    def __init__(self, margin: float, clock=time.monotonic) -> None:
        if not 0.0 < margin <= 1.0:
            raise ValueError(f"limit margin must be in (0, 1], got {margin}")
        self._margin = margin
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    @staticmethod
    def bucket_key(endpoint: Endpoint, inst_id: str = "", inst_type: str = "") -> str:
        """What this request is counted per: the documented key (one bucket per instId for
        UID+instId and IP+instId endpoints, per instType for IP+instType)."""
        if endpoint.key in (LimitKey.UID_INST_ID, LimitKey.IP_INST_ID):
            return inst_id
        if endpoint.key is LimitKey.IP_INST_TYPE:
            return inst_type
        return ""

    async def acquire(self, endpoint: Endpoint, *, inst_id: str = "", inst_type: str = "") -> None:
        bucket = self._bucket(endpoint, inst_id, inst_type)
        await bucket.limiter.acquire()
        bucket.recent.append(self._clock())

    def has_capacity(self, endpoint: Endpoint, *, inst_id: str = "", inst_type: str = "") -> bool:
        """Whether a request to `endpoint` could go out now without waiting for its budget."""
        return self._bucket(endpoint, inst_id, inst_type).limiter.has_capacity()

    def _bucket(self, endpoint: Endpoint, inst_id: str, inst_type: str) -> _Bucket:
        key = (endpoint.method, endpoint.path, self.bucket_key(endpoint, inst_id, inst_type))
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(endpoint, self._margin)
        return bucket

    def budget_use(self) -> dict[str, float]:
        """Endpoint path → share (0..1) of the documented limit used in the last window, the
        busiest bucket for per-instrument endpoints. Every documented endpoint is listed."""
        now = self._clock()
        use = {e.path: 0.0 for e in ENDPOINTS}
        for (method, path, _key), bucket in self._buckets.items():
            endpoint = _ENDPOINT_BY_KEY[(method, path)]
            share = min(1.0, bucket.used_in_window(now) / endpoint.limit)
            use[path] = max(use[path], share)
        return use


_ENDPOINT_BY_KEY = {(e.method, e.path): e for e in ENDPOINTS}
