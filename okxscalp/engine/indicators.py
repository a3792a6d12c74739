"""Incremental candle indicators: EMA, ATR, ADX (+DI/-DI), Bollinger bands, RSI.

Every indicator advances in O(1) per confirmed bar (Bollinger keeps a bounded ring of its window).
`update(...)` consumes a confirmed bar and returns the new value (None during warm-up);
`peek(...)` returns the value the indicator *would* have if the given bar were the next confirmed
one, without changing any state: that is how the still-open bar gives a provisional value without
being counted twice when it later closes.

Definitions (the reference implementations in the tests recompute these from scratch):
- EMA(n): seeded with the simple mean of the first n values, then ema += alpha * (x - ema),
  alpha = 2 / (n + 1).
- True range: max(high - low, |high - prev close|, |low - prev close|); the first bar's TR is
  high - low. ATR(n) (Wilder): mean of the first n TRs, then atr = (atr * (n - 1) + tr) / n.
- ADX(n) (Wilder): from the second bar, +DM = up if up > down and up > 0 else 0 (up = high - prev
  high, down = prev low - low), -DM mirrored. TR, +DM, -DM are Wilder-smoothed: the first value is
  the sum of the first n, then s = s - s / n + x. +DI = 100 * s(+DM) / s(TR), -DI likewise,
  DX = 100 * |+DI - -DI| / (+DI + -DI) (0 when both are 0). ADX = mean of the first n DX, then
  adx = (adx * (n - 1) + dx) / n. First ADX on bar 2n.
- Bollinger(n, k): mean and population standard deviation of the last n closes; upper/lower =
  mean +/- k * std; width = (upper - lower) / mean.
- RSI(n) (Wilder): from the second bar, gain = max(change, 0), loss = max(-change, 0); averages
  seeded with the mean of the first n, then Wilder-smoothed; RSI = 100 - 100 / (1 + gain / loss),
  100 when loss is 0 and gain > 0, 50 when both are 0 (a flat market is neither overbought nor
  oversold).
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from okxscalp.okx.constants import CANDLE_BARS
from okxscalp.okx.models import Candle


def _check_period(period: int) -> None:
    if period < 1:
        raise ValueError(f"indicator period must be >= 1, got {period}")


class Ema:
    """Exponential moving average of a scalar series."""

    __slots__ = ("_alpha", "_count", "_seed_sum", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._alpha = 2.0 / (period + 1)
        self._count = 0
        self._seed_sum = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self._count += 1
            self._seed_sum += x
            if self._count == self.period:
                self.value = self._seed_sum / self.period
            return self.value
        self.value += self._alpha * (x - self.value)
        return self.value

    def peek(self, x: float) -> float | None:
        return copy.copy(self).update(x)

    def __copy__(self) -> Ema:
        clone = Ema.__new__(Ema)
        clone.period, clone._alpha, clone._count = self.period, self._alpha, self._count
        clone._seed_sum, clone.value = self._seed_sum, self.value
        return clone


def true_range(high: float, low: float, prev_close: float | None) -> float:
    if prev_close is None:
        return high - low
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class Atr:
    """Average true range, Wilder smoothing."""

    __slots__ = ("_count", "_prev_close", "_seed_sum", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._seed_sum = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        tr = true_range(high, low, self._prev_close)
        self._prev_close = close
        if self.value is None:
            self._count += 1
            self._seed_sum += tr
            if self._count == self.period:
                self.value = self._seed_sum / self.period
            return self.value
        self.value = (self.value * (self.period - 1) + tr) / self.period
        return self.value

    def peek(self, high: float, low: float, close: float) -> float | None:
        return copy.copy(self).update(high, low, close)

    def __copy__(self) -> Atr:
        clone = Atr.__new__(Atr)
        clone.period, clone._prev_close, clone._count = self.period, self._prev_close, self._count
        clone._seed_sum, clone.value = self._seed_sum, self.value
        return clone


@dataclass(frozen=True, slots=True)
class AdxValue:
    adx: float | None  # None until 2n bars
    plus_di: float
    minus_di: float


class Adx:
    """Average directional index with +DI/-DI, Wilder smoothing."""

    __slots__ = (
        "_count",
        "_dx_count",
        "_dx_sum",
        "_prev",
        "_s_mdm",
        "_s_pdm",
        "_s_tr",
        "adx",
        "minus_di",
        "period",
        "plus_di",
    )

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._prev: tuple[float, float, float] | None = None  # high, low, close
        self._count = 0  # bars with a directional movement (all but the first)
        self._s_tr = self._s_pdm = self._s_mdm = 0.0
        self._dx_sum = 0.0
        self._dx_count = 0
        self.plus_di: float | None = None
        self.minus_di: float | None = None
        self.adx: float | None = None

    @property
    def ready(self) -> bool:
        return self.adx is not None

    def update(self, high: float, low: float, close: float) -> AdxValue | None:
        prev = self._prev
        self._prev = (high, low, close)
        if prev is None:
            return None
        prev_high, prev_low, prev_close = prev
        up, down = high - prev_high, prev_low - low
        pdm = up if up > down and up > 0 else 0.0
        mdm = down if down > up and down > 0 else 0.0
        tr = true_range(high, low, prev_close)
        n = self.period
        self._count += 1
        if self._count <= n:
            self._s_tr += tr
            self._s_pdm += pdm
            self._s_mdm += mdm
            if self._count < n:
                return None
        else:
            self._s_tr += tr - self._s_tr / n
            self._s_pdm += pdm - self._s_pdm / n
            self._s_mdm += mdm - self._s_mdm / n
        if self._s_tr > 0:
            self.plus_di = 100.0 * self._s_pdm / self._s_tr
            self.minus_di = 100.0 * self._s_mdm / self._s_tr
        else:
            self.plus_di = self.minus_di = 0.0
        di_sum = self.plus_di + self.minus_di
        dx = 100.0 * abs(self.plus_di - self.minus_di) / di_sum if di_sum > 0 else 0.0
        if self.adx is None:
            self._dx_sum += dx
            self._dx_count += 1
            if self._dx_count == n:
                self.adx = self._dx_sum / n
        else:
            self.adx = (self.adx * (n - 1) + dx) / n
        return AdxValue(self.adx, self.plus_di, self.minus_di)

    def peek(self, high: float, low: float, close: float) -> AdxValue | None:
        return copy.copy(self).update(high, low, close)

    def __copy__(self) -> Adx:
        clone = Adx.__new__(Adx)
        for name in Adx.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone


@dataclass(frozen=True, slots=True)
class Bands:
    mid: float
    upper: float
    lower: float
    std: float

    @property
    def width(self) -> float:
        """(upper - lower) / mid: a fraction of price (0.004 = 0.4 %)."""
        return (self.upper - self.lower) / self.mid if self.mid else 0.0


class Bollinger:
    """Bollinger bands over the last `period` closes (population std).

    The window sums are kept relative to a shift `_ref` (the shifted-data algorithm): summing
    squares of raw prices (60 000^2 x 20) would cancel catastrophically when the variance is tiny.
    The shift is re-based on the window mean every `period` updates (O(period) every `period`
    updates: O(1) amortised), which also stops rounding drift from accumulating.
    """

    __slots__ = ("_ref", "_ring", "_since_rebase", "_sum", "_sumsq", "k", "period")

    def __init__(self, period: int, k: float) -> None:
        _check_period(period)
        self.period = period
        self.k = k
        self._ring: deque[float] = deque(maxlen=period)
        self._ref: float | None = None
        self._sum = 0.0
        self._sumsq = 0.0
        self._since_rebase = 0

    @property
    def ready(self) -> bool:
        return len(self._ring) == self.period

    @property
    def value(self) -> Bands | None:
        if not self.ready:
            return None
        return self._bands(self._ref or 0.0, self._sum, self._sumsq)

    def _bands(self, ref: float, s: float, sq: float) -> Bands:
        n = self.period
        mean_d = s / n
        var = max(sq / n - mean_d * mean_d, 0.0)
        std = math.sqrt(var)
        mid = ref + mean_d
        return Bands(mid=mid, upper=mid + self.k * std, lower=mid - self.k * std, std=std)

    def update(self, close: float) -> Bands | None:
        if self._ref is None:
            self._ref = close
        d = close - self._ref
        if len(self._ring) == self.period:
            old = self._ring[0] - self._ref
            self._sum -= old
            self._sumsq -= old * old
        self._ring.append(close)
        self._sum += d
        self._sumsq += d * d
        self._since_rebase += 1
        if self._since_rebase >= self.period:
            self._rebase()
        return self.value

    def _rebase(self) -> None:
        self._since_rebase = 0
        self._ref = sum(self._ring) / len(self._ring)
        self._sum = sum(x - self._ref for x in self._ring)
        self._sumsq = sum((x - self._ref) ** 2 for x in self._ring)

    def peek(self, close: float) -> Bands | None:
        """O(1): the bands with `close` replacing the oldest value of a full window."""
        if len(self._ring) < self.period - 1:
            return None
        ref = self._ref if self._ref is not None else close
        s, sq = self._sum, self._sumsq
        if len(self._ring) == self.period:
            old = self._ring[0] - ref
            s -= old
            sq -= old * old
        d = close - ref
        return self._bands(ref, s + d, sq + d * d)


class Rsi:
    """Relative strength index, Wilder smoothing."""

    __slots__ = (
        "_avg_gain",
        "_avg_loss",
        "_count",
        "_prev_close",
        "_seed_gain",
        "_seed_loss",
        "period",
        "value",
    )

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._seed_gain = self._seed_loss = 0.0
        self._avg_gain: float | None = None
        self._avg_loss = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            return None
        change = close - prev
        gain, loss = max(change, 0.0), max(-change, 0.0)
        n = self.period
        if self._avg_gain is None:
            self._count += 1
            self._seed_gain += gain
            self._seed_loss += loss
            if self._count < n:
                return None
            self._avg_gain, self._avg_loss = self._seed_gain / n, self._seed_loss / n
        else:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        self.value = rsi_from_averages(self._avg_gain, self._avg_loss)
        return self.value

    def peek(self, close: float) -> float | None:
        """`update(close)` on a copy, without the copy (live RSI for signals, per ticker): the same
        arithmetic in the same order, so the same float."""
        prev = self._prev_close
        if prev is None:
            return None
        change = close - prev
        gain, loss = max(change, 0.0), max(-change, 0.0)
        n = self.period
        avg_gain = self._avg_gain
        if avg_gain is None:
            if self._count + 1 < n:
                return None
            return rsi_from_averages((self._seed_gain + gain) / n, (self._seed_loss + loss) / n)
        return rsi_from_averages((avg_gain * (n - 1) + gain) / n, (self._avg_loss * (n - 1) + loss) / n)

    def __copy__(self) -> Rsi:
        clone = Rsi.__new__(Rsi)
        clone.period, clone.value, clone._count, clone._prev_close = self.period, self.value, self._count, self._prev_close
        clone._avg_gain, clone._avg_loss = self._avg_gain, self._avg_loss
        clone._seed_gain, clone._seed_loss = self._seed_gain, self._seed_loss
        return clone


def rsi_from_averages(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@dataclass(frozen=True, slots=True)
class IndicatorPeriods:
    """Periods of one symbol's indicator set (from RegimeSettings and the signal settings)."""

    ema_fast: int = 9
    ema_slow: int = 21
    atr: int = 14
    adx: int = 14
    bollinger: int = 20
    bollinger_k: float = 2.0
    rsi: int = 14

    @property
    def warmup_bars(self) -> int:
        """Confirmed bars until every indicator has a value (ADX needs 2n, RSI n + 1)."""
        return max(self.ema_fast, self.ema_slow, self.atr, 2 * self.adx, self.bollinger, self.rsi + 1)


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """Every indicator of one symbol after one bar (confirmed, or provisional from `peek`).
    A field is None while that indicator is still warming up."""

    ts_ms: int  # open time of the bar these values include
    close: float
    ema_fast: float | None
    ema_slow: float | None
    atr: float | None
    adx: float | None
    plus_di: float | None
    minus_di: float | None
    bands: Bands | None
    rsi: float | None
    confirmed: bool
    bars: int  # confirmed bars consumed so far

    @property
    def ready(self) -> bool:
        return None not in (self.ema_fast, self.ema_slow, self.atr, self.adx, self.bands, self.rsi)

    @property
    def atr_pct(self) -> float | None:
        """ATR as a percent of the close (0.15 = 0.15 %)."""
        return None if self.atr is None or not self.close else 100.0 * self.atr / self.close

    @property
    def band_width_pct(self) -> float | None:
        """Bollinger width as a percent of the middle band."""
        return None if self.bands is None else 100.0 * self.bands.width


class IndicatorSet:
    """All indicators of one symbol and bar size, fed with candles in any mix of confirmed and open.

    - A confirmed candle newer than the last confirmed one advances every indicator once.
    - A repeated or older confirmed candle is ignored (feeds repeat the last confirmed bar; REST
      history may overlap the live stream).
    - An unconfirmed candle is only remembered: `provisional()` peeks with it.
    - A confirmed candle more than one bar after the previous one is still consumed, but counted in
      `gaps` / `missing_bars` (a feed outage the candle poll did not fill): indicators computed
      across a hole are visible as such, not silently smooth.
    """

    def __init__(self, periods: IndicatorPeriods | None = None) -> None:
        self.periods = p = periods or IndicatorPeriods()
        self.ema_fast = Ema(p.ema_fast)
        self.ema_slow = Ema(p.ema_slow)
        self.atr = Atr(p.atr)
        self.adx = Adx(p.adx)
        self.bollinger = Bollinger(p.bollinger, p.bollinger_k)
        self.rsi = Rsi(p.rsi)
        self.last_confirmed_ts: int | None = None
        self.bars = 0
        self.latest: IndicatorValues | None = None
        self.open_candle: Candle | None = None
        self.gaps = 0
        self.missing_bars = 0
        # signals.py's per-bar thresholds, kept here with the bar's values they were made from
        # (it checks them by identity and makes new ones when `latest` changes).
        self.signal_setup: Any = None

    def on_candle(self, candle: Candle) -> IndicatorValues | None:
        """Feed one candle; returns the new confirmed values when the candle advanced the set,
        else None (open bar remembered, or a duplicate/older confirmed bar ignored)."""
        if not candle.confirmed:
            if self.last_confirmed_ts is None or candle.ts_ms > self.last_confirmed_ts:
                self.open_candle = candle
            return None
        if self.last_confirmed_ts is not None and candle.ts_ms <= self.last_confirmed_ts:
            return None
        bar_s = CANDLE_BARS.get(candle.bar)
        if self.last_confirmed_ts is not None and bar_s:
            skipped = (candle.ts_ms - self.last_confirmed_ts) // (bar_s * 1000) - 1
            if skipped > 0:
                self.gaps += 1
                self.missing_bars += skipped
        self.last_confirmed_ts = candle.ts_ms
        if self.open_candle is not None and self.open_candle.ts_ms <= candle.ts_ms:
            self.open_candle = None
        h, lo, c = candle.high, candle.low, candle.close
        self.ema_fast.update(c)
        self.ema_slow.update(c)
        self.atr.update(h, lo, c)
        adx = self.adx.update(h, lo, c)
        bands = self.bollinger.update(c)
        self.rsi.update(c)
        self.bars += 1
        self.latest = IndicatorValues(
            ts_ms=candle.ts_ms,
            close=c,
            ema_fast=self.ema_fast.value,
            ema_slow=self.ema_slow.value,
            atr=self.atr.value,
            adx=adx.adx if adx else None,
            plus_di=adx.plus_di if adx else None,
            minus_di=adx.minus_di if adx else None,
            bands=bands,
            rsi=self.rsi.value,
            confirmed=True,
            bars=self.bars,
        )
        return self.latest

    def provisional(self, candle: Candle | None = None) -> IndicatorValues | None:
        """Values as if `candle` (default: the remembered open bar) closed now; nothing changes.
        None when there is no open bar newer than the last confirmed one."""
        candle = candle or self.open_candle
        if candle is None or (self.last_confirmed_ts is not None and candle.ts_ms <= self.last_confirmed_ts):
            return None
        h, lo, c = candle.high, candle.low, candle.close
        adx = self.adx.peek(h, lo, c)
        return IndicatorValues(
            ts_ms=candle.ts_ms,
            close=c,
            ema_fast=self.ema_fast.peek(c),
            ema_slow=self.ema_slow.peek(c),
            atr=self.atr.peek(h, lo, c),
            adx=adx.adx if adx else None,
            plus_di=adx.plus_di if adx else None,
            minus_di=adx.minus_di if adx else None,
            bands=self.bollinger.peek(c),
            rsi=self.rsi.peek(c),
            confirmed=False,
            bars=self.bars,
        )

    def rsi_at(self, price: float) -> float | None:
        """RSI if the current bar closed at `price` (live RSI for signals); None in warm-up."""
        return self.rsi.peek(price) if self.rsi.ready else None
