"""The per-bar signal setup (signals._Setup) and the copy-free live RSI: pure speed-ups of the
per-ticker path that must never change a decision."""

from __future__ import annotations

import copy
import dataclasses
import random
from types import SimpleNamespace

import pytest

from okxscalp.config.schema import RegimeSettings
from okxscalp.engine import signals
from okxscalp.engine.indicators import Rsi
from okxscalp.engine.signals import SignalRules, detector_for, evaluate_signal
from okxscalp.okx.models import Candle
from okxscalp.sim.instruments import SHIPPED
from okxscalp.sim.price_process import PriceProcess

pytestmark = pytest.mark.timeout(60)


def test_rsi_peek_is_update_on_a_copy_to_the_bit() -> None:
    rng = random.Random(3)
    for period in (1, 2, 14):
        rsi, px = Rsi(period), 100.0
        for _ in range(80):
            for probe in (px, px * (1 + rng.uniform(-0.01, 0.01)), px * 1.02, px * 0.98):
                assert rsi.peek(probe) == copy.copy(rsi).update(probe)
            px *= 1 + rng.uniform(-0.005, 0.005)
            rsi.update(px)


def _signal_fields(sig: signals.Signal | None) -> tuple[object, ...] | None:
    return None if sig is None else (sig.inst_id, sig.side, sig.regime, sig.reason, sig.inputs)


def test_the_setup_filter_never_changes_a_decision() -> None:
    """Every quote through the filtered path and straight through the decision: the same signal
    (the simulator's regimes, quotes around each bar's thresholds)."""
    fast = RegimeSettings(adx_period=7, atr_period=7, bollinger_period=10, atr_percent_choppy=0.2)
    for rules in (SignalRules(), SignalRules(band_edge_fraction=0.6, pullback_atr=1.5)):
        signalled = checked = 0
        for inst_id in ("BTC-USDT-SWAP", "XRP-USDT-SWAP"):
            spec = SHIPPED[inst_id]
            pp = PriceProcess(random.Random(7), spec.start_px, spec.vol_per_min, 1.0)
            det = detector_for(inst_id, fast, rules)
            for minute, kind in enumerate(["ranging"] * 50 + ["trending"] * 40 + ["choppy"] * 40 + ["trending"] * 30):
                if minute % 10 == 0:
                    pp.force(kind, 600)
                o = h = lo = c = pp.price
                for s in range(60):
                    c = pp.step()
                    h, lo = max(h, c), min(lo, c)
                    for px in (c, c * 1.001, c * 0.999):
                        q = SimpleNamespace(bid=px * (1 - 1e-5), ask=px * (1 + 1e-5), ts_ms=minute * 60_000 + s * 1000,
                                            source="ws", age_s=0.1)
                        got = evaluate_signal(det.decision, det.indicators, q, rules)
                        want = signals.decide_signal(det.decision, det.indicators, q, rules)
                        assert _signal_fields(got) == _signal_fields(want)
                        checked += 1
                        signalled += got is not None
                det.on_candle(Candle(inst_id, "1m", minute * 60_000, o, h, lo, c, 1.0, True))
        assert signalled > 0 and checked > signalled


def test_the_setup_follows_the_bar_the_decision_and_the_rules() -> None:
    det = detector_for("XRP-USDT-SWAP", RegimeSettings(adx_period=3, atr_period=3, bollinger_period=4))
    rules = SignalRules()
    quote = SimpleNamespace(bid=2.0, ask=2.0002, ts_ms=0)
    px = 2.0
    for i in range(40):
        px *= 1.001 if i % 2 else 0.9995
        det.on_candle(Candle("XRP-USDT-SWAP", "1m", i * 60_000, px, px * 1.001, px * 0.999, px, 1.0, True))
    evaluate_signal(det.decision, det.indicators, quote, rules)
    first = det.indicators.signal_setup
    assert first.values is det.indicators.latest and first.decision is det.decision and first.active
    evaluate_signal(det.decision, det.indicators, quote, rules)
    assert det.indicators.signal_setup is first  # same bar, decision and rules: kept
    det.on_candle(Candle("XRP-USDT-SWAP", "1m", 40 * 60_000, px, px * 1.001, px * 0.999, px * 1.0005, 1.0, True))
    evaluate_signal(det.decision, det.indicators, quote, rules)
    second = det.indicators.signal_setup
    assert second is not first and second.values is det.indicators.latest
    other_rules = SignalRules(band_edge_fraction=0.4)
    evaluate_signal(det.decision, det.indicators, quote, other_rules)
    assert det.indicators.signal_setup.rules is other_rules
    assert det.decision is not None
    pending = dataclasses.replace(det.decision, candidate=None)
    assert evaluate_signal(pending, det.indicators, quote, other_rules) is None
    assert det.indicators.signal_setup.decision is pending and not det.indicators.signal_setup.active
