"""Delivery-delay estimate for one connection: how much older a message is than its receive time says.

A price's age is measured from its local receive time (monotonic). That alone misses a message
that sat in a queue somewhere (exchange, network, our own socket buffer): it arrives "now" but
describes the market D ms ago. The exchange timestamp tells: for every message
    offset = recv_mono − exchange_ts
is the clock offset between the exchange and us plus that message's delay. The smallest offset
seen recently is our best estimate of the pure clock offset (the least-delayed message), so
    delay = offset − min(offset over the window)      (≥ 0)
and the registry counts that message as `delay` seconds older.

Why a *windowed* minimum (buckets; the oldest bucket falls out as time passes) and not an
all-time minimum:
- The simulator stamps market data in sim time, which runs `speed` times faster than wall time.
  At speed > 1 the offset falls steadily (sim time gains on our clock), so the newest messages
  carry the smallest offsets and the estimate simply follows them; no false delay appears.
- At speed < 1 (or a real clock that drifts by r s/s) the offset rises; an all-time minimum would
  turn that drift into an ever-growing false delay. With a window of W seconds the false delay is
  bounded by r·W (sim speed 0.5 with the default 30 s window: ≤ 15 s; real exchange clocks drift
  by ppm: nothing). Clock steps (NTP on the exchange side) are forgotten after W.
- The price of forgetting: a delay that persists longer than W becomes the new baseline and is no
  longer counted. The staleness watchdog and the receive-time age still bound such a feed.
Under the simulator at speed k a real delay of D wall seconds shows as k·D (exchange-time units):
it errs on the side of calling data older, never fresher.
"""

from __future__ import annotations

from collections import deque

_INF = float("inf")
DEFAULT_WINDOW_S = 30.0
DEFAULT_BUCKETS = 6


class DelayEstimator:
    __slots__ = ("_bucket_s", "_buckets", "_current_min", "_current_start", "_n_old", "_window_min")

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, buckets: int = DEFAULT_BUCKETS) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("delay window must be positive with at least one bucket")
        self._bucket_s = window_s / buckets
        self._n_old = buckets - 1  # closed buckets kept besides the current one
        self._buckets: deque[float] = deque()  # minima of closed buckets, oldest first
        self._current_start = -_INF
        self._current_min = _INF
        self._window_min = _INF

    @property
    def offset_s(self) -> float | None:
        """The current clock-offset estimate (recv_mono − exchange time), None before any sample."""
        return None if self._window_min == _INF else self._window_min

    def observe(self, recv_mono: float, exchange_ts_ms: int) -> float:
        """Record one message; returns its estimated delivery delay in seconds (≥ 0)."""
        offset = recv_mono - exchange_ts_ms * 0.001
        if recv_mono - self._current_start >= self._bucket_s:
            self._rotate(recv_mono)
        if offset < self._current_min:
            self._current_min = offset
            if offset < self._window_min:
                self._window_min = offset
        delay = offset - self._window_min
        return delay if delay > 0.0 else 0.0

    def _rotate(self, now: float) -> None:
        buckets = self._buckets
        elapsed = int((now - self._current_start) // self._bucket_s) if self._current_start != -_INF else 0
        if elapsed > self._n_old:
            buckets.clear()  # silent for longer than the window: nothing of the old window remains
        else:
            buckets.append(self._current_min)
            buckets.extend([_INF] * (elapsed - 1))  # buckets that passed without a message
            while len(buckets) > self._n_old:
                buckets.popleft()
        self._current_start = now
        self._current_min = _INF
        self._window_min = min(buckets) if buckets else _INF
