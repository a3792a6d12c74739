"""Entry signals: synthetic setups per regime, reasons with numbers, and the simulator's regimes."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from types import SimpleNamespace

import pytest

from okxscalp.config.schema import RegimeSettings
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.signals import SignalRules, detector_for, evaluate_signal
from okxscalp.okx.models import Candle, PosSide, Regime, Side
from okxscalp.sim.instruments import SHIPPED
from okxscalp.sim.price_process import PriceProcess

pytestmark = pytest.mark.timeout(60)

SETTINGS = RegimeSettings(atr_percent_choppy=0.2)
INST = "XRP-USDT-SWAP"


def quote(px: float, ts_ms: int | None, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(bid=px * (1 - 1e-5), ask=px * (1 + 1e-5), ts_ms=ts_ms, **extra)


def after(det: RegimeDetector) -> int:
    """An exchange time half-way through the bar after `det`'s last confirmed one (1m bars)."""
    latest = det.indicators.latest
    return (latest.ts_ms if latest is not None else 0) + 90_000


def detector_fed(closes: list[float], settings: RegimeSettings = SETTINGS) -> RegimeDetector:
    det = detector_for(INST, settings)
    prev = closes[0]
    for i, c in enumerate(closes):
        wick = 0.0005 * c
        det.on_candle(
            Candle(INST, "1m", i * 60_000, prev, max(prev, c) + wick, min(prev, c) - wick, c, 1.0, True)
        )
        prev = c
    return det


def trend_then_pullback(sign: int) -> list[float]:
    """A steady trend (two bars with it, one small bar against), then three bars back toward the EMA."""
    closes, px = [], 2.0
    for i in range(70):
        px *= 1 + sign * (0.002 if i % 3 else -0.0008)
        closes.append(px)
    for _ in range(3):
        px *= 1 - sign * 0.0015
        closes.append(px)
    return closes


def range_then_dip() -> list[float]:
    closes = [2.2 * (1 + 0.0015 * math.sin(i * 0.9)) for i in range(70)]
    px = closes[-1]
    for _ in range(4):
        px *= 1 - 0.0008
        closes.append(px)
    return closes


def test_trend_pullback_long_with_reason_and_inputs() -> None:
    det = detector_fed(trend_then_pullback(+1))
    assert det.regime is Regime.TRENDING and det.decision is not None
    v = det.indicators.latest
    assert v is not None
    sig = evaluate_signal(det.decision, det.indicators, quote(v.ema_fast, after(det), source="ws", age_s=0.4))
    assert sig is not None
    assert (sig.side, sig.pos_side, sig.regime, sig.inst_id) == (
        Side.BUY,
        PosSide.LONG,
        Regime.TRENDING,
        INST,
    )
    assert sig.reason.startswith("trend pullback long")
    assert f"{v.ema_fast:.6g}" in sig.reason and "RSI" in sig.reason
    for key in (
        "mid",
        "rsi",
        "ema_fast",
        "ema_slow",
        "atr",
        "adx",
        "plus_di",
        "minus_di",
        "pullback_tolerance",
    ):
        assert isinstance(sig.inputs[key], float), key
    assert sig.inputs["quote_source"] == "ws" and sig.inputs["quote_age_s"] == 0.4
    assert SignalRules().trend_rsi_min <= sig.inputs["rsi"] <= SignalRules().trend_rsi_max


def test_trend_without_pullback_or_against_trend_gives_nothing() -> None:
    det = detector_fed(trend_then_pullback(+1))
    v = det.indicators.latest
    assert v is not None and v.atr is not None and v.ema_slow is not None
    far_above = v.ema_fast + 3 * v.atr  # not pulled back
    below_slow = v.ema_slow - v.atr  # trend broken
    for px in (far_above, below_slow):
        assert evaluate_signal(det.decision, det.indicators, quote(px, after(det))) is None


def test_trend_pullback_short() -> None:
    det = detector_fed(trend_then_pullback(-1))
    assert det.regime is Regime.TRENDING
    v = det.indicators.latest
    assert v is not None
    sig = evaluate_signal(det.decision, det.indicators, quote(v.ema_fast, after(det)))
    assert sig is not None and sig.side is Side.SELL and sig.pos_side is PosSide.SHORT
    assert sig.reason.startswith("trend pullback short")


def test_trend_rsi_extreme_blocks_the_entry() -> None:
    det = detector_fed(trend_then_pullback(+1))
    v = det.indicators.latest
    assert v is not None
    strict = SignalRules(trend_rsi_max=50.0)  # the pullback's RSI (~68) is now "extreme"
    assert evaluate_signal(det.decision, det.indicators, quote(v.ema_fast, after(det)), strict) is None


def test_band_edge_mean_reversion_long_and_short() -> None:
    det = detector_fed(range_then_dip())
    assert det.regime is Regime.RANGING
    v = det.indicators.latest
    assert v is not None and v.bands is not None
    sig = evaluate_signal(det.decision, det.indicators, quote(v.close, after(det)))
    assert sig is not None and sig.side is Side.BUY and sig.regime is Regime.RANGING
    assert sig.reason.startswith("ranging mean reversion long") and "lower band" in sig.reason
    assert sig.inputs["band_lower"] == v.bands.lower and sig.inputs["rsi"] <= 35.0
    assert evaluate_signal(det.decision, det.indicators, quote(v.bands.mid, after(det))) is None  # mid-band: nothing
    # The mirror image of the series gives the short at the upper band.
    mirrored = detector_fed([4.4 - c for c in range_then_dip()])
    mv = mirrored.indicators.latest
    assert mv is not None
    short = evaluate_signal(mirrored.decision, mirrored.indicators, quote(mv.close, after(mirrored)))
    assert short is not None and short.side is Side.SELL and "upper band" in short.reason


def test_no_signal_without_a_regime_or_while_a_change_is_pending() -> None:
    det = detector_for(INST, SETTINGS)
    assert evaluate_signal(None, det.indicators, quote(2.2, after(det))) is None
    closes = range_then_dip()
    partial = detector_fed(closes[:20])  # warm-up: regime unknown
    assert partial.regime is None and partial.decision is not None
    assert evaluate_signal(partial.decision, partial.indicators, quote(closes[19], after(partial))) is None
    full = detector_fed(closes)
    assert full.decision is not None
    v = full.indicators.latest
    assert v is not None
    pending = dataclasses.replace(full.decision, candidate=Regime.TRENDING, bars_held=1)
    assert evaluate_signal(full.decision, full.indicators, quote(v.close, after(full))) is not None
    assert evaluate_signal(pending, full.indicators, quote(v.close, after(full))) is None


def test_crossed_or_missing_quote_gives_nothing() -> None:
    det = detector_fed(range_then_dip())
    v = det.indicators.latest
    assert v is not None
    assert evaluate_signal(det.decision, det.indicators, SimpleNamespace(bid=None, ask=v.close)) is None
    assert (
        evaluate_signal(det.decision, det.indicators, SimpleNamespace(bid=v.close * 1.01, ask=v.close))
        is None
    )


def test_signals_trigger_on_the_simulators_regimes() -> None:
    """The simulator's price process (okxscalp.sim), forced through each regime several times;
    quotes every 5 s of sim time. Every setup fires, each in its own regime."""
    fast = RegimeSettings(adx_period=7, atr_period=7, bollinger_period=10, atr_percent_choppy=0.2)
    rules = SignalRules()
    fired: Counter[tuple[Regime, Side]] = Counter()
    for inst_id in ("BTC-USDT-SWAP", "XRP-USDT-SWAP"):
        spec = SHIPPED[inst_id]
        pp = PriceProcess(random.Random(5), spec.start_px, spec.vol_per_min, 1.0)
        det = detector_for(inst_id, fast, rules)
        minute = 0
        plan = [
            ("ranging", 60),
            ("trending", 40),
            ("choppy", 40),
            ("ranging", 40),
            ("trending", 40),
            ("choppy", 40),
        ]
        for kind, minutes in plan * 2:
            pp.force(kind, minutes * 60 + 1)
            for _ in range(minutes):
                o = h = lo = c = pp.price
                for s in range(60):
                    c = pp.step()
                    h, lo = max(h, c), min(lo, c)
                    if s % 5 == 0:
                        sig = evaluate_signal(det.decision, det.indicators, quote(c, minute * 60_000 + s * 1000), rules)
                        if sig is not None:
                            assert sig.regime is det.regime
                            fired[(sig.regime, sig.side)] += 1
                det.on_candle(Candle(inst_id, "1m", minute * 60_000, o, h, lo, c, 1.0, True))
                minute += 1
    for regime in (Regime.RANGING, Regime.CHOPPY):
        assert fired[(regime, Side.BUY)] > 0 and fired[(regime, Side.SELL)] > 0, fired
    assert fired[(Regime.TRENDING, Side.BUY)] + fired[(Regime.TRENDING, Side.SELL)] > 0, fired


def test_no_signal_when_the_candles_stopped() -> None:
    det = detector_fed(range_then_dip())
    v = det.indicators.latest
    assert v is not None and det.decision is not None and det.decision.bar_ms == 60_000
    bar_end = v.ts_ms + 60_000
    fresh = quote(v.close, bar_end + 30_000)  # half-way through the next bar
    assert evaluate_signal(det.decision, det.indicators, fresh) is not None
    late = quote(v.close, bar_end + 2 * 60_000 + 1)  # two confirms missed
    assert evaluate_signal(det.decision, det.indicators, late) is None


def test_no_signal_when_the_quote_time_or_the_bar_length_is_unknown() -> None:
    """Issue 10 review: an unknown time scale no longer passes the feed-hole check (it read as
    "0 bars behind", so a quote without an exchange time, or an unknown bar, let a signal through)."""
    det = detector_fed(range_then_dip())
    v = det.indicators.latest
    assert v is not None and det.decision is not None
    assert evaluate_signal(det.decision, det.indicators, quote(v.close, after(det))) is not None
    assert evaluate_signal(det.decision, det.indicators, quote(v.close, None)) is None
    unknown_bar = dataclasses.replace(det.decision, bar_ms=None)
    assert evaluate_signal(unknown_bar, det.indicators, quote(v.close, after(det))) is None
