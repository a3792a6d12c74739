"""Entry signals per regime, evaluated on a SIGNAL-fresh quote the caller passes in.

This module never reads the data registry: the caller reads `DataRegistry.read(inst_id,
Purpose.SIGNAL)` (which refuses stale prices) and hands the quote over, together with the
symbol's regime decision and indicator set. No regime (warm-up / unknown) -> no signal.

Setups (thresholds from `SignalSettings`, YAML `scalping.signals`):
- trending, *pullback continuation*: direction from the EMAs (fast above slow and +DI > -DI =
  up; mirrored = down). Long when the price has pulled back to the fast EMA (mid <= ema_fast +
  `pullback_atr` x ATR: at most that far above it, or below it) while staying above the slow EMA,
  and the live RSI is inside [`trend_rsi_min`, `trend_rsi_max`] (not extreme); short mirrored
  (RSI inside [100 - max, 100 - min]).
- ranging or choppy, *mean reversion at a band edge*: long when the mid is within
  `band_edge_fraction` x band width of the lower band (or below it) and the live RSI <=
  `reversion_rsi_low`; short mirrored at the upper band with RSI >= `reversion_rsi_high`.

No signal either when the quote's exchange time (`ts_ms`, when the quote has one) is more than
`MAX_BARS_BEHIND` bars past the end of the last confirmed bar: indicators from candles that stopped
arriving are as stale as an old price.

"Live RSI" is the RSI as if the current bar closed at the quote's mid (`IndicatorSet.rsi_at`): the
confirmed bars are never counted twice. Bands, EMAs and ATR are the confirmed bars' values.

No signal while a regime change is pending (the last bar's candidate differs from the adopted
regime): measured on the simulator, most band-edge signals in that state faded the first bars of
a new trend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from okxscalp.config.schema import RegimeSettings, SignalSettings
from okxscalp.engine.indicators import IndicatorSet, IndicatorValues
from okxscalp.engine.reason_text import ReasonText, text_of
from okxscalp.engine.regime import RegimeDecision, RegimeDetector, periods_for
from okxscalp.okx.models import PosSide, Regime, Side


class QuoteLike(Protocol):
    """What a signal needs from a registry quote (`okxscalp.market` Quote has these)."""

    @property
    def bid(self) -> float | None: ...

    @property
    def ask(self) -> float | None: ...

    @property
    def ts_ms(self) -> int | None: ...  # the quote's exchange timestamp


# The thresholds are the config's `scalping.signals` section; `SignalRules` is the same class under
# the name this module's callers already use (one definition, one set of defaults).
SignalRules = SignalSettings


@dataclass(frozen=True, slots=True)
class Signal:
    inst_id: str
    side: Side  # order side of the entry
    regime: Regime  # the regime the signal was generated in (becomes the entry regime)
    why: ReasonText  # human-readable, with the numbers (written when read: reason_text.py)
    inputs: dict[str, Any] = field(default_factory=dict)  # every number the decision used

    @property
    def reason(self) -> str:
        return text_of(self.why)

    @property
    def pos_side(self) -> PosSide:
        return PosSide.LONG if self.side is Side.BUY else PosSide.SHORT


# The last confirmed bar may be one bar old (its confirm arrives just after it closes) plus one
# missed confirm; beyond that the indicators are stale for a fresh quote.
MAX_BARS_BEHIND = 2


def _bars_behind(bar_open_ms: int, bar_ms: int | None, quote_ts_ms: int | None) -> float:
    """Whole bars between the end of the last confirmed bar and the quote's exchange time;
    infinite when either time scale is unknown (nothing proves the candles are current)."""
    if not bar_ms or not quote_ts_ms:
        return math.inf
    return max(0.0, (quote_ts_ms - (bar_open_ms + bar_ms)) / bar_ms)


def _mid(quote: QuoteLike) -> float | None:
    bid, ask = quote.bid, quote.ask
    if bid is None or ask is None or bid <= 0 or ask <= 0 or ask < bid:
        return None
    return (bid + ask) / 2.0


class _Setup:
    """What a symbol's signal needs from one bar, worked out once per bar instead of per ticker:
    the price a quote's mid must reach before the live RSI is worth computing, and the RSI band of
    each side before the inputs are. Only a necessary condition, with the decision's own float
    expressions and thresholds (`_trend_pullback`, `_band_reversion` decide, unchanged): a quote
    that fails it is no signal there either."""

    __slots__ = (
        "active", "buy_above", "buy_at_or_below", "buy_rsi", "decision", "rules", "sell_at_or_above", "sell_below",
        "sell_rsi", "values",
    )

    def __init__(self, decision: RegimeDecision | None, values: IndicatorValues | None, rules: SignalSettings) -> None:
        self.decision, self.values, self.rules = decision, values, rules
        self.active = False  # False: no signal whatever the quote (no regime, one pending, warm-up)
        # No setup: a mid never qualifies (inf/-inf bounds keep the per-ticker test one shape).
        self.buy_at_or_below, self.buy_above = -math.inf, math.inf
        self.sell_at_or_above, self.sell_below = math.inf, -math.inf
        self.buy_rsi = self.sell_rsi = (math.inf, -math.inf)  # the live RSI's band for each side
        if decision is None or decision.regime is None or decision.candidate is not decision.regime:
            return
        if values is None or not values.ready:
            return
        self.active = True
        v = values
        if decision.regime is Regime.TRENDING:
            fast, slow = v.ema_fast, v.ema_slow
            tolerance = rules.pullback_atr * v.atr  # type: ignore[operator]
            if fast > slow and v.plus_di > v.minus_di:  # type: ignore[operator]
                self.buy_at_or_below, self.buy_above = fast + tolerance, slow  # type: ignore[operator]
                self.buy_rsi = (rules.trend_rsi_min, rules.trend_rsi_max)
            elif fast < slow and v.minus_di > v.plus_di:  # type: ignore[operator]
                self.sell_at_or_above, self.sell_below = fast - tolerance, slow  # type: ignore[operator]
                self.sell_rsi = _short_rsi_band(rules)
            return
        assert v.bands is not None
        upper, lower = v.bands.upper, v.bands.lower
        edge = rules.band_edge_fraction * (upper - lower)
        self.buy_at_or_below, self.buy_above = lower + edge, -math.inf
        self.sell_at_or_above, self.sell_below = upper - edge, math.inf
        self.buy_rsi, self.sell_rsi = (-math.inf, rules.reversion_rsi_low), (rules.reversion_rsi_high, math.inf)


def evaluate_signal(
    decision: RegimeDecision | None,
    indicators: IndicatorSet,
    quote: QuoteLike,
    rules: SignalSettings | None = None,
) -> Signal | None:
    """The entry signal for one symbol now, or None. `decision` is the symbol's latest regime
    decision (None or regime None -> no signal); `quote` must already be SIGNAL-fresh.

    Called for every ticker; most are no signal on price and RSI alone: the bar's `_Setup` (kept
    on the indicator set until the bar, the decision or the rules change) turns those away
    (`may_signal`) before the inputs are built and the decision is made (`decide_signal`)."""
    rules = rules or SignalRules()
    if not may_signal(decision, indicators, quote.bid, quote.ask, rules):
        return None
    return decide_signal(decision, indicators, quote, rules)


def may_signal(
    decision: RegimeDecision | None, indicators: IndicatorSet, bid: float | None, ask: float | None,
    rules: SignalSettings,
) -> bool:
    """evaluate_signal's screen: False when a quote with this bid and ask is no signal now (the
    bar's setup turns its mid or live RSI away), True when `decide_signal` must decide. The entry
    path screens a ticker's prices with it before it builds a Quote: most tickers cannot signal."""
    v = indicators.latest
    setup = indicators.signal_setup
    if setup is None or setup.values is not v or setup.decision is not decision or setup.rules is not rules:
        setup = indicators.signal_setup = _Setup(decision, v, rules)
    if not setup.active:
        return False
    if bid is None or ask is None or bid <= 0 or ask <= 0 or ask < bid:
        return False
    mid = (bid + ask) / 2.0  # as _mid
    buy = setup.buy_above < mid <= setup.buy_at_or_below
    sell = setup.sell_below > mid >= setup.sell_at_or_above
    if not (buy or sell):
        return False
    rsi = indicators.rsi_at(mid)
    if rsi is None:
        return False
    lo, hi = setup.buy_rsi
    if not (buy and lo <= rsi <= hi):
        lo, hi = setup.sell_rsi
        if not (sell and lo <= rsi <= hi):
            return False
    return True


def decide_signal(
    decision: RegimeDecision | None, indicators: IndicatorSet, quote: QuoteLike, rules: SignalSettings,
) -> Signal | None:
    """The decision itself, for any SIGNAL-fresh quote: evaluate_signal without its screen, the same
    answer (test_signal_setup checks that the screen never turns away a quote this would take)."""
    if decision is None or decision.regime is None:
        return None
    if decision.candidate is not decision.regime:
        # The last bar already classifies differently (a change is pending its dwell): the setup
        # of the adopted regime is the wrong one to trade right now (e.g. fading a breakout).
        return None
    v = indicators.latest
    mid = _mid(quote)
    if v is None or not v.ready or mid is None:
        return None
    if _bars_behind(v.ts_ms, decision.bar_ms, quote.ts_ms) > MAX_BARS_BEHIND:
        return None  # the candles stopped (feed hole): indicators describe a market that is gone
    rsi = indicators.rsi_at(mid)
    if rsi is None:
        return None
    inputs: dict[str, Any] = {
        "mid": mid,
        "bid": quote.bid,
        "ask": quote.ask,
        "rsi": rsi,
        "ema_fast": v.ema_fast,
        "ema_slow": v.ema_slow,
        "atr": v.atr,
        "adx": v.adx,
        "plus_di": v.plus_di,
        "minus_di": v.minus_di,
        "band_upper": v.bands.upper if v.bands else None,
        "band_lower": v.bands.lower if v.bands else None,
        "band_mid": v.bands.mid if v.bands else None,
        "bar_ts_ms": v.ts_ms,
    }
    for extra in ("source", "age_s"):
        if hasattr(quote, extra):
            inputs[f"quote_{extra}"] = getattr(quote, extra)
    if decision.regime is Regime.TRENDING:
        return _trend_pullback(decision, inputs, rules)
    return _band_reversion(decision, inputs, rules)


def _trend_pullback(decision: RegimeDecision, x: dict[str, Any], rules: SignalSettings) -> Signal | None:
    mid, fast, slow, atr, rsi = x["mid"], x["ema_fast"], x["ema_slow"], x["atr"], x["rsi"]
    plus_di, minus_di = x["plus_di"], x["minus_di"]
    tolerance = rules.pullback_atr * atr
    x["pullback_tolerance"] = tolerance
    if fast > slow and plus_di > minus_di:
        if mid <= fast + tolerance and mid > slow and rules.trend_rsi_min <= rsi <= rules.trend_rsi_max:
            return Signal(decision.inst_id, Side.BUY, Regime.TRENDING, partial(_trend_long_text, rules, x), x)
    elif fast < slow and minus_di > plus_di:
        lo, hi = _short_rsi_band(rules)
        if mid >= fast - tolerance and mid < slow and lo <= rsi <= hi:
            return Signal(decision.inst_id, Side.SELL, Regime.TRENDING, partial(_trend_short_text, rules, x), x)
    return None


def _trend_long_text(rules: SignalSettings, x: dict[str, Any]) -> str:
    return (
        f"trend pullback long: uptrend (ema{rules.ema_fast_period} {x['ema_fast']:.6g} > "
        f"ema{rules.ema_slow_period} {x['ema_slow']:.6g}, +DI {x['plus_di']:.1f} > -DI {x['minus_di']:.1f}, "
        f"ADX {x['adx']:.1f}); mid {x['mid']:.6g} pulled back to within {rules.pullback_atr} ATR "
        f"({x['pullback_tolerance']:.6g}) above the fast EMA, still above the slow one; RSI {x['rsi']:.1f} in "
        f"[{rules.trend_rsi_min}, {rules.trend_rsi_max}]"
    )


def _short_rsi_band(rules: SignalSettings) -> tuple[float, float]:
    """A downtrend's RSI band: the uptrend's, mirrored."""
    return 100.0 - rules.trend_rsi_max, 100.0 - rules.trend_rsi_min


def _trend_short_text(rules: SignalSettings, x: dict[str, Any]) -> str:
    lo, hi = _short_rsi_band(rules)
    return (
        f"trend pullback short: downtrend (ema{rules.ema_fast_period} {x['ema_fast']:.6g} < "
        f"ema{rules.ema_slow_period} {x['ema_slow']:.6g}, -DI {x['minus_di']:.1f} > +DI {x['plus_di']:.1f}, "
        f"ADX {x['adx']:.1f}); mid {x['mid']:.6g} pulled back to within {rules.pullback_atr} ATR "
        f"({x['pullback_tolerance']:.6g}) below the fast EMA, still below the slow one; RSI {x['rsi']:.1f} in "
        f"[{lo}, {hi}]"
    )


def _band_reversion(decision: RegimeDecision, x: dict[str, Any], rules: SignalSettings) -> Signal | None:
    assert decision.regime is not None
    mid, rsi, upper, lower = x["mid"], x["rsi"], x["band_upper"], x["band_lower"]
    edge = rules.band_edge_fraction * (upper - lower)
    x["band_edge"] = edge
    regime = decision.regime
    if mid <= lower + edge and rsi <= rules.reversion_rsi_low:
        return Signal(decision.inst_id, Side.BUY, regime, partial(_reversion_text, rules, regime, Side.BUY, x), x)
    if mid >= upper - edge and rsi >= rules.reversion_rsi_high:
        return Signal(decision.inst_id, Side.SELL, regime, partial(_reversion_text, rules, regime, Side.SELL, x), x)
    return None


def _reversion_text(rules: SignalSettings, regime: Regime, side: Side, x: dict[str, Any]) -> str:
    upper, lower = x["band_upper"], x["band_lower"]
    if side is Side.BUY:
        where, band, rsi_rule = "long: mid {:.6g} at the lower band", lower, f"<= {rules.reversion_rsi_low}"
    else:
        where, band, rsi_rule = "short: mid {:.6g} at the upper band", upper, f">= {rules.reversion_rsi_high}"
    return (
        f"{regime.value} mean reversion {where.format(x['mid'])} {band:.6g} "
        f"(within {rules.band_edge_fraction} of width {upper - lower:.6g}); RSI {x['rsi']:.1f} {rsi_rule}"
    )


def detector_for(inst_id: str, regime: RegimeSettings, rules: SignalSettings | None = None) -> RegimeDetector:
    """A symbol's regime detector whose indicator set also carries the signal EMAs and RSI."""
    rules = rules or SignalRules()
    periods = periods_for(
        regime, ema_fast=rules.ema_fast_period, ema_slow=rules.ema_slow_period, rsi=rules.rsi_period
    )
    return RegimeDetector(inst_id, regime, IndicatorSet(periods))
