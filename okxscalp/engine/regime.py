"""Per-symbol market regime (trending / choppy / ranging) from confirmed candles, with hysteresis.

Classification of one bar (`classify`), thresholds from `RegimeSettings`:
1. ADX >= `adx_trending` AND Bollinger width >= `trend_min_band_atr_ratio` x ATR
   (both as % of price)                                            -> trending
2. else ATR % of price >= `atr_percent_choppy`                     -> choppy (big bars, no direction)
3. else                                                            -> ranging (quiet, mean-reverting)

Why the band/ATR ratio: ADX alone also runs high in a violent chop (measured on the simulator's
choppy stretches: ADX(14) median 32, above the classic 25). What separates a trend is that the
*closes* travel: the Bollinger width of closes is many ATRs wide in a trend (median ~19 on the
sim's trending stretches) and only 2-3 ATRs in chop or range, whatever the instrument's volatility.

Hysteresis: the classification of a bar is only a *candidate*. A candidate different from the
adopted regime must be the classification of `min_dwell_bars` consecutive bars before it is
adopted, so a series hovering around a threshold does not flicker. The first regime after warm-up
goes through the same dwell.

Warm-up: until every indicator the classification needs has a value, the regime is None
(unknown). There is no default guess: the engine does not trade a symbol whose regime is None.

Every decision keeps its inputs (ADX, ATR %, band width, candidate, bars held) for display and
for the position snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from okxscalp.config.schema import RegimeSettings, SignalSettings
from okxscalp.engine.indicators import IndicatorPeriods, IndicatorSet, IndicatorValues
from okxscalp.okx.constants import CANDLE_BARS
from okxscalp.okx.models import Candle, Regime


def bar_ms_of(bar: str) -> int | None:
    seconds = CANDLE_BARS.get(bar)
    return seconds * 1000 if seconds else None


def classify(adx: float, atr_pct: float, band_width_pct: float, settings: RegimeSettings) -> Regime:
    """The regime one bar's indicator values point to (before hysteresis)."""
    if (
        adx >= settings.adx_trending
        and atr_pct > 0
        and band_width_pct >= settings.trend_min_band_atr_ratio * atr_pct
    ):
        return Regime.TRENDING
    if atr_pct >= settings.atr_percent_choppy:
        return Regime.CHOPPY
    return Regime.RANGING


@dataclass(frozen=True, slots=True)
class RegimeDecision:
    """The detector's state after one confirmed bar, with everything it was computed from."""

    inst_id: str
    ts_ms: int  # open time of the bar that produced it
    regime: Regime | None  # adopted regime; None = unknown (warm-up)
    candidate: Regime | None  # this bar's classification; None in warm-up
    bars_held: int  # consecutive bars a candidate other than `regime` has held (0: none pending)
    regime_bars: int  # bars since `regime` was adopted
    dwell_required: int
    changed: bool  # True on the bar a new regime was adopted
    adx: float | None
    plus_di: float | None
    minus_di: float | None
    atr: float | None
    atr_pct: float | None
    band_width_pct: float | None
    close: float
    bars: int  # confirmed bars seen (warm-up progress)
    warmup_bars: int  # bars needed before the first classification
    trend_min_band_atr_ratio: float  # the threshold applied
    missing_bars: int = 0  # confirmed bars never received (feed holes) since the detector started
    bar_ms: int | None = None  # bar length (None for a bar name not in CANDLE_BARS)

    @property
    def band_atr_ratio(self) -> float | None:
        """Bollinger width in ATRs (the trend test's second input)."""
        if self.band_width_pct is None or not self.atr_pct:
            return None
        return self.band_width_pct / self.atr_pct

    def inputs(self) -> dict[str, Any]:
        """Plain JSON-able inputs, for the console and the position snapshot."""
        return {
            "ts_ms": self.ts_ms,
            "regime": self.regime.value if self.regime else None,
            "candidate": self.candidate.value if self.candidate else None,
            "bars_held": self.bars_held,
            "regime_bars": self.regime_bars,
            "dwell_required": self.dwell_required,
            "adx": self.adx,
            "plus_di": self.plus_di,
            "minus_di": self.minus_di,
            "atr": self.atr,
            "atr_pct": self.atr_pct,
            "band_width_pct": self.band_width_pct,
            "band_atr_ratio": self.band_atr_ratio,
            "trend_min_band_atr_ratio": self.trend_min_band_atr_ratio,
            "missing_bars": self.missing_bars,
            "close": self.close,
            "bars": self.bars,
        }


def periods_for(
    settings: RegimeSettings,
    *,
    ema_fast: int | None = None,
    ema_slow: int | None = None,
    rsi: int | None = None,
    signals: SignalSettings | None = None,
) -> IndicatorPeriods:
    """Indicator periods from the regime settings and the signal settings' EMA/RSI periods
    (`signals`, default `SignalSettings()`; the explicit keywords override it)."""
    sig = signals or SignalSettings()
    return IndicatorPeriods(
        ema_fast=ema_fast if ema_fast is not None else sig.ema_fast_period,
        ema_slow=ema_slow if ema_slow is not None else sig.ema_slow_period,
        atr=settings.atr_period,
        adx=settings.adx_period,
        bollinger=settings.bollinger_period,
        bollinger_k=settings.bollinger_k,
        rsi=rsi if rsi is not None else sig.rsi_period,
    )


class Hysteresis:
    """Adopts a new value only after it was proposed `min_dwell` times in a row."""

    __slots__ = ("held", "min_dwell", "pending", "since_change", "value")

    def __init__(self, min_dwell: int) -> None:
        if min_dwell < 1:
            raise ValueError(f"min_dwell_bars must be >= 1, got {min_dwell}")
        self.min_dwell = min_dwell
        self.value: Regime | None = None
        self.pending: Regime | None = None
        self.held = 0  # consecutive proposals of `pending`
        self.since_change = 0  # proposals since `value` was adopted

    def propose(self, candidate: Regime) -> bool:
        """Feed one bar's classification; True when it made `value` change."""
        self.since_change += 1
        if candidate == self.value:
            self.pending, self.held = None, 0
            return False
        self.held = self.held + 1 if candidate == self.pending else 1
        self.pending = candidate
        if self.held < self.min_dwell:
            return False
        self.value, self.pending, self.held, self.since_change = candidate, None, 0, 0
        return True


class RegimeDetector:
    """One symbol's regime. Feed every candle of `settings.bar` (confirmed or not) to `on_candle`.

    `indicators` is the symbol's `IndicatorSet`; pass one in to share it with the signal code
    (it must be fed only through this detector), or let the detector build its own.
    """

    def __init__(
        self, inst_id: str, settings: RegimeSettings | None = None, indicators: IndicatorSet | None = None
    ) -> None:
        self.inst_id = inst_id
        self.settings = settings or RegimeSettings()
        self._hysteresis = Hysteresis(self.settings.min_dwell_bars)
        self.indicators = indicators or IndicatorSet(periods_for(self.settings))
        self.decision: RegimeDecision | None = None

    @property
    def regime(self) -> Regime | None:
        """The adopted regime; None = unknown (warm-up): do not trade."""
        return self._hysteresis.value

    @property
    def warmup_bars(self) -> int:
        p = self.indicators.periods
        return max(2 * p.adx, p.atr, p.bollinger)

    def on_candle(self, candle: Candle) -> RegimeDecision | None:
        """Returns the new decision when a confirmed bar advanced the detector, else None."""
        values = self.indicators.on_candle(candle)
        if values is None:
            return None
        self.decision = self._decide(values)
        return self.decision

    def _decide(self, v: IndicatorValues) -> RegimeDecision:
        atr_pct, bw_pct = v.atr_pct, v.band_width_pct
        candidate: Regime | None = None
        changed = False
        if v.adx is not None and atr_pct is not None and bw_pct is not None:
            candidate = classify(v.adx, atr_pct, bw_pct, self.settings)
            changed = self._hysteresis.propose(candidate)
        return RegimeDecision(
            inst_id=self.inst_id,
            ts_ms=v.ts_ms,
            regime=self.regime,
            candidate=candidate,
            bars_held=self._hysteresis.held,
            regime_bars=self._hysteresis.since_change if self.regime is not None else 0,
            dwell_required=self.settings.min_dwell_bars,
            changed=changed,
            adx=v.adx,
            plus_di=v.plus_di,
            minus_di=v.minus_di,
            atr=v.atr,
            atr_pct=atr_pct,
            band_width_pct=bw_pct,
            close=v.close,
            bars=v.bars,
            warmup_bars=self.warmup_bars,
            trend_min_band_atr_ratio=self.settings.trend_min_band_atr_ratio,
            missing_bars=self.indicators.missing_bars,
            bar_ms=bar_ms_of(self.settings.bar),
        )
