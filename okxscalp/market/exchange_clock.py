"""The exchange's clock, measured independently of the market-data stream (`GET /public/time`).

Why: a message's exchange timestamp proves how old it is only against a clock that does not come
from the same stream. The delay estimator (delay.py) learns its offset from the stream itself, so
a delivery delay that outlasts its window becomes the baseline and is no longer counted (issue 10,
defect 1). This clock is measured from REST round trips instead, and bounded.

Model. One sample is one round trip: local send/receive times (monotonic and wall) and the
server's `ts`. The server stamped `ts` somewhere between send and receive, so at the local
midpoint m the exchange's time was ts ± rate·rtt/2. The exchange clock is modelled as a line in
our *monotonic* clock (a step of our own wall clock, e.g. NTP, cannot move an age):

    exchange(t) = ts_ref + rate · (t − m_ref)

fitted from the current *segment* (consecutive samples that agree with each other): `rate` is the
slope between its oldest and newest sample, the reference the sample whose uncertainty is smallest
now. On OKX the rate is 1 (ppm drift). The simulator at speed k runs its clock k× wall time and
answers /public/time on that same clock (as OKX does: one clock for `ts` and /public/time), so
the measured rate is k and every age computed from this clock is in simulated seconds.

Conservative. `exchange_upper_s(t)` takes the side of every uncertainty that makes data older:
ts_ref + rate·rtt_ref/2 + (rate + rate error)·(t − m_ref). An age from it can exceed the truth by
the round trip's uncertainty (refusing a little early), never fall short of what the timestamp
proves.

Bounded: each of these is a named halt reason (`halt_reason()`), shown until its cause is gone:
- `measuring`: fewer than CONFIRM_SAMPLES agreeing samples (the third checks the fitted rate);
- `stale`: no usable sample for `max_age_s` (/public/time failing, or too slow: a sample whose
  uncertainty rate·rtt/2 exceeds the tolerance cannot resolve it and is not used);
- `jumped`: a sample off the model's course by more than the tolerance (plus both samples'
  uncertainty and the rate error): the exchange clock stepped (the simulator's `skew_time` fault
  does exactly that). A new segment starts at once; until it has CONFIRM_SAMPLES agreeing
  samples the published clock is whichever of the old and the new course says later (older data);
- `skewed`: while the exchange clock runs at wall rate (|rate − 1| ≤ WALL_RATE_TOLERANCE: OKX,
  or the simulator at speed 1), the local wall clock is a second reference: |exchange − local
  wall| beyond the tolerance halts entries while it lasts (signatures, the trading-day boundary
  and the journal use local wall time). A time-compressed simulator has no wall reference; a
  skew shows there as a jump.

`ClockModel` is pure (tests feed it samples); `ExchangeClock` drives it from an async fetch of the
server time (`RestClient.server_time`), once every `sync_interval_s`, and reports state changes on
the event bus (FallbackKind.CLOCK).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from okxscalp.clock import wake_after
from okxscalp.config.schema import FreshnessSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.events import FallbackKind

log = logging.getLogger(__name__)

COMPONENT = "clock"
CONFIRM_SAMPLES = 3  # agreeing samples before the clock is trusted (the third checks the rate)
SEGMENT_SAMPLES = 16  # samples a segment keeps: the rate is fitted over ~16 sync intervals
MIN_RATE_SPAN_S = 0.1  # local seconds between two samples before their slope is a rate
STALE_AFTER_INTERVALS = 3.0  # no usable sample for this many sync intervals: the clock is stale
START_SPACING_S = 0.25  # `start()`: the second sample this long after the first (a first rate)
WALL_RATE_TOLERANCE = 0.01  # |rate − 1| within this: the exchange clock is a wall clock

FetchServerMs = Callable[[], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One /public/time round trip as measured locally."""

    sent_mono: float
    recv_mono: float
    sent_wall: float
    recv_wall: float
    server_ms: int

    @property
    def mid_mono(self) -> float:
        return (self.sent_mono + self.recv_mono) * 0.5

    @property
    def mid_wall(self) -> float:
        return (self.sent_wall + self.recv_wall) * 0.5

    @property
    def half_rtt(self) -> float:
        return max(0.0, (self.recv_mono - self.sent_mono) * 0.5)


@dataclass(frozen=True, slots=True)
class _Point:
    mono: float  # local monotonic midpoint of the round trip
    wall: float  # local wall midpoint
    ex_s: float  # server time, exchange seconds
    half_rtt: float  # local seconds


class ClockModel:
    """The fitted exchange clock and its state (pure: no I/O, no clock of its own)."""

    __slots__ = (
        "_jump",
        "_last_error",
        "_last_mono",
        "_prev_course",
        "_rate_err",
        "_segment",
        "_skew",
        "max_age_s",
        "proj_ex_s",
        "proj_mono",
        "proj_rate_hi",
        "published",
        "rate",
        "rejected",
        "samples",
        "tolerance_s",
        "trusted",
    )

    def __init__(self, tolerance_s: float, max_age_s: float) -> None:
        if tolerance_s <= 0 or max_age_s <= 0:
            raise ValueError("clock tolerance and max age must be positive")
        self.tolerance_s = tolerance_s  # exchange seconds
        self.max_age_s = max_age_s  # local seconds
        self._segment: deque[_Point] = deque(maxlen=SEGMENT_SAMPLES)
        self.rate: float = 1.0  # exchange seconds per local second (valid once `published`)
        self._rate_err = 0.0  # absolute error of `rate`
        self._prev_course: tuple[float, float, float] | None = None  # (mono, ex_s, rate_hi) before a jump
        self._jump: str | None = None
        self._skew: str | None = None
        self._last_error = ""
        self._last_mono: float | None = None  # local time of the last accepted sample
        self.samples = 0  # accepted
        self.rejected = 0  # round trips too slow to use
        # The published course, read on the registry's hot path: upper exchange time at local t is
        # proj_ex_s + proj_rate_hi * (t - proj_mono). `published` False: no rate yet.
        self.published = False
        self.proj_mono = 0.0
        self.proj_ex_s = 0.0
        self.proj_rate_hi = 1.0
        # Published, confirmed, neither jumped nor skewed (staleness aside, which needs a `now`):
        # the registry judges *lateness* (→ lagging, forced reconnects) only against a trusted
        # clock; reads use the published course whenever there is one (older side).
        self.trusted = False

    # --- reads ----------------------------------------------------------------------------------

    def exchange_upper_s(self, mono: float) -> float | None:
        """The latest exchange time it can be at local `mono` (conservative), None before a rate."""
        if not self.published:
            return None
        return self.proj_ex_s + self.proj_rate_hi * (mono - self.proj_mono)

    def exchange_s(self, mono: float) -> float | None:
        """Best estimate of the exchange time at local `mono`, None before a rate."""
        ref = self._reference(mono)
        if ref is None or not self.published:
            return None
        return ref.ex_s + self.rate * (mono - ref.mono)

    def offset_s(self, mono: float, wall: float) -> float | None:
        """Exchange time minus local wall time at (mono, wall); None before a rate."""
        ex = self.exchange_s(mono)
        return None if ex is None else ex - wall

    def halt_reason(self, now_mono: float) -> str | None:
        """Why ages from this clock cannot be trusted now (entries must not open), or None."""
        if self._last_mono is None:
            return f"exchange clock not measured yet (/public/time{self._error_text() or ': no sample'})"
        silent = now_mono - self._last_mono
        if silent > self.max_age_s:
            return (f"exchange clock stale (no usable /public/time sample for {silent:.1f}s > {self.max_age_s:g}s"
                    f"{self._error_text()})")
        if self._skew is not None:
            return self._skew
        n = len(self._segment)
        if self._jump is not None:
            return f"{self._jump}; re-measuring {n}/{CONFIRM_SAMPLES})"
        if n < CONFIRM_SAMPLES or not self.published:
            return f"exchange clock measuring ({n}/{CONFIRM_SAMPLES} samples)"
        return None

    def _error_text(self) -> str:
        return f": {self._last_error}" if self._last_error else ""

    # --- writes ---------------------------------------------------------------------------------

    def failed(self, error: str) -> None:
        """A round trip that produced no sample (the error is shown with the halt reason)."""
        self._last_error = error

    def observe(self, trip: RoundTrip) -> str:
        """Take one round trip; returns what became of it: accepted | jumped | rejected."""
        rate = self.rate if self.published else 1.0
        uncertainty = rate * trip.half_rtt
        if uncertainty > self.tolerance_s:
            self.rejected += 1
            self._last_error = (
                f"round trip {trip.half_rtt * 2000:.0f}ms too slow to resolve ±{self.tolerance_s:g}s"
            )
            return "rejected"
        point = _Point(trip.mid_mono, trip.mid_wall, trip.server_ms * 0.001, trip.half_rtt)
        outcome = "accepted"
        # The segment's course (None: none yet); one reference for the residual and its allowance.
        ref = self._reference(point.mono) if self.published else None
        residual = None if ref is None else self._residual(point, ref)
        if ref is not None and residual is not None and abs(residual) > self._allowance(point, ref):
            outcome = "jumped"
            self._start_segment_after_jump(point, residual)
        else:
            self._segment.append(point)
        self._last_mono = point.mono
        self._last_error = ""
        self.samples += 1
        self._fit_rate()
        if len(self._segment) >= CONFIRM_SAMPLES and self.published:
            self._jump = None
            self._prev_course = None
        self._check_wall(point)
        self._publish(point.mono)
        self.trusted = (
            self.published and self._jump is None and self._skew is None and len(self._segment) >= CONFIRM_SAMPLES
        )
        return outcome

    # --- internals ------------------------------------------------------------------------------

    def _residual(self, point: _Point, ref: _Point) -> float:
        """How far `point` is off the course of the current segment (`ref`: its `_reference`)."""
        return point.ex_s - (ref.ex_s + self.rate * (point.mono - ref.mono))

    def _allowance(self, point: _Point, ref: _Point) -> float:
        noise = self.rate * (point.half_rtt + ref.half_rtt) + self._rate_err * abs(point.mono - ref.mono)
        return self.tolerance_s + noise

    def _start_segment_after_jump(self, point: _Point, residual: float) -> None:
        confirmed = len(self._segment) >= CONFIRM_SAMPLES and self._jump is None
        if self.published:
            # Until the new course is confirmed, publish whichever course says later.
            old = self._prev_course or (self.proj_mono, self.proj_ex_s, self.proj_rate_hi)
            self._prev_course = old
        self._segment.clear()
        self._segment.append(point)
        self._jump = (
            f"exchange clock jumped ({residual:+.3f}s off its measured course, tolerance {self.tolerance_s:g}s"
        )
        if not confirmed:
            # The rate came from samples that may straddle the jump: measure it again.
            self.published = False
            self._rate_err = 0.0

    def _fit_rate(self) -> None:
        seg = self._segment
        if len(seg) < 2:
            return
        last = seg[-1]
        if last.mono - seg[0].mono < MIN_RATE_SPAN_S:
            return
        # The pair whose slope is the most certain: (u_a + u_b) / span smallest. A slow first
        # round trip (connection set-up) must not set the rate for the whole segment.
        first, second = _best_pair(seg)
        span = second.mono - first.mono
        rate = (second.ex_s - first.ex_s) / span
        if rate <= 0.0:
            # Time ran backwards between these samples: a jump inside the first pair. Start over.
            self._segment.clear()
            self._segment.append(last)
            self.published = False
            self._rate_err = 0.0
            return
        err = rate * (first.half_rtt + second.half_rtt) / span
        if self.published and len(seg) < CONFIRM_SAMPLES and err > self._rate_err > 0.0:
            return  # a short new segment: the carried rate (confirmed before the jump) is better
        self.rate = rate
        self._rate_err = err
        self.published = True

    def _reference(self, now_mono: float) -> _Point | None:
        """The segment's sample whose extrapolation to `now_mono` is the most certain."""
        best: _Point | None = None
        best_u = 0.0
        rate, rate_err = self.rate, self._rate_err
        if rate_err == 0.0:
            # The distance term is 0 (times are finite): the same u without it (a virtual
            # clock's rate has no error, and this runs twice a sample).
            for p in self._segment:
                u = rate * p.half_rtt
                if best is None or u <= best_u:
                    best, best_u = p, u
            return best
        for p in self._segment:
            u = rate * p.half_rtt + rate_err * abs(now_mono - p.mono)
            if best is None or u <= best_u:
                best, best_u = p, u
        return best

    def _check_wall(self, point: _Point) -> None:
        if not self.published or abs(self.rate - 1.0) > WALL_RATE_TOLERANCE:
            self._skew = None  # a clock not at wall rate has no wall reference
            return
        offset = point.ex_s - point.wall
        if abs(offset) - point.half_rtt > self.tolerance_s:
            self._skew = (
                f"exchange clock skewed ({offset:+.3f}s from the local clock, tolerance {self.tolerance_s:g}s)"
            )
        else:
            self._skew = None

    def _publish(self, now_mono: float) -> None:
        if not self.published:
            return
        ref = self._reference(now_mono)
        assert ref is not None
        rate_hi = self.rate + self._rate_err
        ex = ref.ex_s + self.rate * ref.half_rtt + rate_hi * (now_mono - ref.mono)
        prev = self._prev_course
        if prev is not None:
            old = prev[1] + prev[2] * (now_mono - prev[0])
            if old > ex:
                ex = old
        self.proj_mono = now_mono
        self.proj_ex_s = ex
        self.proj_rate_hi = rate_hi


def _best_pair(points: deque[_Point]) -> tuple[_Point, _Point]:
    """The two points (in time order) whose slope has the smallest relative error.

    Every error is >= 0 (half round trips >= 0, spans >= MIN_RATE_SPAN_S), so an error of 0 ends
    the search (a virtual clock's round trips all take 0 s: the first pair wins), and a row whose
    error cannot drop below the best so far is skipped: no pair (a, b) of it beats
    half_a / (latest mono after a - mono_a), as IEEE rounding is monotone. The scan order and the
    strict `<` are the brute force's: the first pair in time order wins among equals."""
    seq = list(points)
    best = (seq[0], seq[-1])
    best_err = float("inf")
    latest: list[float] = []  # latest[i]: the largest mono after row i (built once row 0 is done)
    for i, a in enumerate(seq):
        mono_a, half_a = a.mono, a.half_rtt  # read once per row, not once per pair
        if i:  # row 0 is scanned whole: nothing to beat yet
            if not latest:
                latest = _latest_after(seq)
            reach = latest[i] - mono_a  # the longest span a pair of this row can have
            if not reach >= MIN_RATE_SPAN_S or half_a / reach >= best_err:
                continue  # no span long enough, or no pair of the row can beat the best
        for b in seq[i + 1 :]:
            span = b.mono - mono_a
            if span >= MIN_RATE_SPAN_S:
                err = (half_a + b.half_rtt) / span
                if err < best_err:
                    best, best_err = (a, b), err
                    if err == 0.0:
                        return best  # nothing is below 0
    return best


def _latest_after(seq: list[_Point]) -> list[float]:
    """For each index, the largest mono of the points after it (-inf after the last)."""
    latest = [0.0] * len(seq)
    running = -float("inf")
    for i in range(len(seq) - 1, -1, -1):
        latest[i] = running
        mono = seq[i].mono
        if mono > running:
            running = mono
    return latest


class ExchangeClock:
    """Drives a ClockModel from `/public/time` round trips; what the engine and the feed read.

    Wiring: `await clock.start()` (two samples, a first rate), then the sync loop as a task:
    `ensure_running()` / `await stop()` (the FeedCoordinator does both if it was handed the clock
    and nobody runs it yet); pass the clock to `DataRegistry(exchange_clock=...)` and
    `FeedCoordinator(exchange_clock=...)`. Entries are refused while `halt_reason()` is not None
    (the coordinator's `entries_allowed()` includes it).
    """

    def __init__(
        self,
        fetch_server_ms: FetchServerMs,
        *,
        sync_interval_s: float,
        tolerance_s: float,
        bus: EventBus | None = None,
        mono: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if sync_interval_s <= 0:
            raise ValueError("clock sync interval must be positive")
        self._fetch = fetch_server_ms
        self.sync_interval_s = sync_interval_s
        self.model = ClockModel(tolerance_s, STALE_AFTER_INTERVALS * sync_interval_s)
        self.bus = bus
        self._mono = mono
        self._wall = wall
        self._reported: str | None = None  # the halt reason's head last reported on the bus
        self._first_report = True
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, fetch_server_ms: FetchServerMs, freshness: FreshnessSettings, bus: EventBus | None = None,
        *, mono: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
    ) -> ExchangeClock:
        return cls(
            fetch_server_ms,
            sync_interval_s=freshness.clock_sync_interval_s,
            tolerance_s=freshness.clock_tolerance_s,
            bus=bus,
            mono=mono,
            wall=wall,
        )

    # --- reads ----------------------------------------------------------------------------------

    def halt_reason(self) -> str | None:
        return self.model.halt_reason(self._mono())

    @property
    def rate(self) -> float:
        """Exchange seconds per local second (1 on OKX; the simulator's speed factor)."""
        return self.model.rate

    @property
    def offset_ms(self) -> float | None:
        """Exchange time minus local wall time now, in ms (None before a rate is measured)."""
        offset = self.model.offset_s(self._mono(), self._wall())
        return None if offset is None else offset * 1000.0

    def exchange_now_ms(self) -> int | None:
        ex = self.model.exchange_s(self._mono())
        return None if ex is None else int(ex * 1000.0)

    # --- sampling -------------------------------------------------------------------------------

    async def sample(self) -> str:
        """One round trip into the model: accepted | jumped | rejected | failed. Never raises
        for an exchange failure: it is kept as the halt reason's detail and retried next sync."""
        sent_mono, sent_wall = self._mono(), self._wall()
        try:
            server_ms = await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to measure: visible via halt_reason, retried next sync
            self.model.failed(f"{exc.__class__.__name__}: {exc}")
            log.warning("exchange clock: /public/time failed: %s", exc)
            return "failed"
        trip = RoundTrip(sent_mono, self._mono(), sent_wall, self._wall(), server_ms)
        outcome = self.model.observe(trip)
        if outcome != "accepted":
            log.warning("exchange clock: sample %s (%s)", outcome, self.model.halt_reason(trip.recv_mono) or "")
        return outcome

    async def start(self) -> None:
        """Two samples START_SPACING_S apart: a first rate before anything reads the clock."""
        await self.sample()
        await asyncio.sleep(START_SPACING_S)
        await self.sample()
        self.report()

    async def run(self) -> None:
        """Sample every `sync_interval_s` until cancelled."""
        while True:
            try:
                await self.sample()
                self.report()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not end the loop silently: shown as the halt detail
                log.exception("exchange clock: sync failed")
                self.model.failed(f"internal error: {exc!r}")
            await wake_after(self.sync_interval_s)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def ensure_running(self) -> bool:
        """Start the sync loop as a task unless it runs; True if this call started it."""
        if self.running:
            return False
        self._task = asyncio.get_running_loop().create_task(self.run(), name="exchange-clock")
        return True

    async def stop(self) -> None:
        """Stop the sync loop started by `ensure_running`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def report(self) -> str | None:
        """Emit a CLOCK event when the halt reason starts, changes kind, or clears; returns it.
        Called after every sample and by the feed coordinator's tick (staleness needs no sample)."""
        reason = self.halt_reason()
        head = None if reason is None else reason.split(" (", 1)[0]
        if head == self._reported and not self._first_report:
            return reason
        first = self._first_report
        self._first_report = False
        self._reported = head
        if reason is None:
            if first:
                return None
            offset = self.offset_ms
            detail = f"exchange clock trusted: rate {self.rate:.4g}, offset {offset:+.0f}ms" if offset is not None else "exchange clock trusted"
            log.info("%s", detail)
            self._emit(detail, "rest")
        else:
            log.warning("%s", reason)
            self._emit(f"entries refused: {reason}", "none")
        return reason

    def _emit(self, detail: str, source: str) -> None:
        if self.bus is not None:
            self.bus.emit(COMPONENT, "", FallbackKind.CLOCK, detail, source)
