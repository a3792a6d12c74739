"""Delivery-delay estimate for one connection: how much older a message is than its receive time says.

A price's age is measured from its local receive time (monotonic). That alone misses a message
that sat in a queue somewhere (exchange, network, our own socket buffer): it arrives "now" but
describes the market D ms ago. The exchange timestamp tells: for every message
    offset = recv_mono − exchange_ts
is the clock offset between the exchange and us plus that message's delay. The smallest offset
seen recently is our best estimate of the pure clock offset (the least-delayed message), so
    delay = offset − min(offset over the window)      (≥ 0)
and the registry counts that message as `delay` seconds older.

Why a *windowed* minimum (buckets; the oldest bucket falls out as time passes), and drift:
- Real exchange clocks drift by ppm against ours: the offset is constant, a plain windowed
  minimum is exact. Clock steps (NTP on either side) are forgotten after the window W.
- The simulator stamps market data in *sim time*, which runs `speed` (k) times faster than wall
  time, so the offset drifts linearly at r = 1 − k seconds per second (−9 s/s at speed 10). A plain
  minimum then follows the newest messages (no false delay at k > 1, but it also hides real
  delays), and at k < 1 an all-time minimum would turn drift into an ever-growing false delay.
  So the estimator measures the drift: on each bucket rotation it takes the slopes between the
  minima of consecutive closed buckets; if they all agree (same sign, within ×1.5 of each other)
  and are steeper than MIN_DRIFT (0.05 s/s: no real clock drifts that fast), the offsets are
  compared drift-corrected (offset − r·recv). Otherwise r = 0. A delay episode (a step, not a
  steady trend) gives disagreeing slopes and is not mistaken for drift.
- The price of forgetting: a delay that persists longer than W becomes the new baseline and is no
  longer counted. So this estimate is never the only bound: the registry takes the larger of it
  and the age the exchange timestamp proves against the ExchangeClock (exchange_clock.py, measured
  from /public/time round trips, independent of this stream), and a feed whose tickers arrive
  late persistently is LAGGING (watchdog.py): entries refused, forced reconnect.
Under the simulator at speed k a delivery delay of D wall seconds shows as k·D (exchange-time
units): it errs on the side of calling data older, never fresher.
"""

from __future__ import annotations

import itertools
from collections import deque

_INF = float("inf")
DEFAULT_WINDOW_S = 30.0
DEFAULT_BUCKETS = 6
MIN_DRIFT = 0.05  # s/s: steeper, consistent offset trends are a clock running at another speed
MAX_SLOPE_SPREAD = 1.5


class DelayEstimator:
    __slots__ = (
        "_bucket_s",
        "_buckets",
        "_closed_floor",
        "_current_start",
        "_drift",
        "_n_old",
        "_raw_min",
        "_raw_min_t",
        "_res_min",
    )

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, buckets: int = DEFAULT_BUCKETS) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("delay window must be positive with at least one bucket")
        self._bucket_s = window_s / buckets
        self._n_old = buckets - 1  # closed buckets kept besides the current one
        self._buckets: deque[tuple[float, float]] = deque()  # (time, raw min offset), oldest first
        self._current_start = -_INF
        self._drift = 0.0  # r: offset change per second of our clock
        self._closed_floor = _INF  # min over closed buckets of (offset − r·t)
        self._raw_min = _INF  # current bucket: smallest raw offset and when
        self._raw_min_t = 0.0
        self._res_min = _INF  # current bucket: smallest drift-corrected offset

    def offset_at(self, now_mono: float) -> float | None:
        """Clock-offset estimate (recv_mono − exchange time) at `now_mono`, None before any sample."""
        floor = min(self._closed_floor, self._res_min)
        if floor == _INF:
            return None
        return floor + self._drift * now_mono

    @property
    def drift(self) -> float:
        """Measured offset drift (s/s); 0 unless a steady trend steeper than MIN_DRIFT was seen."""
        return self._drift

    def observe(self, recv_mono: float, exchange_ts_ms: int) -> float:
        """Record one message; returns its estimated delivery delay in seconds (≥ 0)."""
        offset = recv_mono - exchange_ts_ms * 0.001
        if recv_mono - self._current_start >= self._bucket_s:
            self._rotate(recv_mono)
        if offset < self._raw_min:
            self._raw_min = offset
            self._raw_min_t = recv_mono
        residual = offset - self._drift * recv_mono if self._drift else offset
        if residual < self._res_min:
            self._res_min = residual
        floor = self._closed_floor if self._closed_floor < self._res_min else self._res_min
        delay = residual - floor
        return delay if delay > 0.0 else 0.0

    def _rotate(self, now: float) -> None:
        buckets = self._buckets
        elapsed = int((now - self._current_start) // self._bucket_s) if self._current_start != -_INF else 0
        if elapsed > self._n_old:
            buckets.clear()  # silent for longer than the window: nothing of the old window remains
        elif self._raw_min != _INF:
            buckets.append((self._raw_min_t, self._raw_min))
            while len(buckets) > self._n_old:
                buckets.popleft()
        self._current_start = now
        self._raw_min = _INF
        self._res_min = _INF
        self._drift = _steady_slope(buckets)
        drift = self._drift
        self._closed_floor = min((m - drift * t for t, m in buckets), default=_INF)


def _steady_slope(buckets: deque[tuple[float, float]]) -> float:
    """The common slope of consecutive bucket minima if they form a steady trend, else 0."""
    if len(buckets) < 3:
        return 0.0
    points = list(buckets)
    slopes = []
    for (t1, m1), (t2, m2) in itertools.pairwise(points):
        if t2 - t1 <= 0:
            return 0.0
        slopes.append((m2 - m1) / (t2 - t1))
    low, high = min(slopes), max(slopes)
    if low * high <= 0:
        return 0.0  # mixed signs: no trend
    if min(abs(low), abs(high)) < MIN_DRIFT or max(abs(low), abs(high)) > MAX_SLOPE_SPREAD * min(abs(low), abs(high)):
        return 0.0
    slopes.sort()
    return slopes[len(slopes) // 2]
