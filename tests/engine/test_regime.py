"""Regime detection: warm-up, hysteresis, classification of synthetic and simulator series."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator

import pytest

from okxscalp.config.schema import RegimeSettings
from okxscalp.engine.regime import Hysteresis, RegimeDecision, RegimeDetector, classify
from okxscalp.okx.models import Candle, Regime
from okxscalp.sim.instruments import SHIPPED
from okxscalp.sim.price_process import PriceProcess

pytestmark = pytest.mark.timeout(60)

SETTINGS = RegimeSettings(atr_percent_choppy=0.2)
FAST = RegimeSettings(adx_period=7, atr_period=7, bollinger_period=10, atr_percent_choppy=0.2)


def synthetic(kind: str, minutes: int, rng: random.Random, start: float, t0: int = 0) -> Iterator[Candle]:
    """1m candles from a 1 s log-price walk: trending = drift + small noise; choppy = big noise
    pulled hard back to a level; ranging = small noise pulled back slowly."""
    drift, noise, revert = {
        "trending": (4e-5, 4e-4, 0.0),
        "choppy": (0, 1.6e-3, 0.015),
        "ranging": (0, 1e-4, 0.006),
    }[kind]
    x = anchor = math.log(start)
    for m in range(minutes):
        o = h = lo = math.exp(x)
        for _ in range(60):
            x += drift + noise * rng.gauss(0, 1)
            x -= revert * (x - anchor)
            px = math.exp(x)
            h, lo = max(h, px), min(lo, px)
        yield Candle("XRP-USDT-SWAP", "1m", (t0 + m) * 60_000, o, h, lo, math.exp(x), 1.0, True)


def feed(det: RegimeDetector, candles: Iterator[Candle]) -> list[RegimeDecision]:
    out = []
    for c in candles:
        d = det.on_candle(c)
        assert d is not None
        out.append(d)
    return out


def test_unknown_during_warmup_never_a_default() -> None:
    det = RegimeDetector("XRP-USDT-SWAP", SETTINGS)
    decisions = feed(det, synthetic("trending", 60, random.Random(1), 2.2))
    warm = det.warmup_bars
    assert warm == 2 * SETTINGS.adx_period
    for d in decisions[: warm - 1]:
        assert d.regime is None and d.candidate is None
    # After warm-up a candidate exists, but the first regime still needs the dwell.
    first_known = next(i for i, d in enumerate(decisions) if d.regime is not None)
    assert first_known >= warm - 1 + SETTINGS.min_dwell_bars - 1
    assert decisions[first_known].changed
    assert decisions[-1].regime is Regime.TRENDING


def test_hysteresis_adopts_only_after_dwell() -> None:
    h = Hysteresis(3)
    assert [h.propose(Regime.RANGING) for _ in range(3)] == [False, False, True]
    assert h.value is Regime.RANGING
    assert [h.propose(Regime.TRENDING) for _ in range(2)] == [False, False]
    assert h.value is Regime.RANGING and h.held == 2
    assert h.propose(Regime.TRENDING) and h.value is Regime.TRENDING


def test_hysteresis_no_flicker_on_a_borderline_sequence() -> None:
    h = Hysteresis(3)
    for _ in range(3):
        h.propose(Regime.RANGING)
    rng = random.Random(5)
    # A candidate that never holds 3 bars in a row: at most 2 choppy, then a ranging bar.
    for _ in range(200):
        for _ in range(rng.choice((1, 2))):
            assert not h.propose(Regime.CHOPPY)
        assert not h.propose(Regime.RANGING)
    assert h.value is Regime.RANGING


def test_detector_no_flicker_on_a_borderline_series() -> None:
    """A quiet series whose ATR % hovers around the choppy threshold: the candidate flips often,
    the adopted regime may change only when a candidate held `min_dwell_bars` bars."""
    rng = random.Random(11)
    candles = list(synthetic("ranging", 400, rng, 2.2))
    probe = feed(RegimeDetector("XRP-USDT-SWAP", SETTINGS), iter(candles))
    atr_pcts = sorted(d.atr_pct for d in probe if d.atr_pct is not None and d.adx is not None)
    threshold = atr_pcts[len(atr_pcts) // 2]  # the median: right on the border
    settings = RegimeSettings(atr_percent_choppy=threshold, min_dwell_bars=3)
    decisions = feed(RegimeDetector("XRP-USDT-SWAP", settings), iter(candles))
    candidates = [d.candidate for d in decisions if d.candidate is not None]
    flips = sum(1 for a, b in itertools.pairwise(candidates) if a != b)
    changes = [i for i, d in enumerate(decisions) if d.changed]
    assert flips > 40  # it really is borderline
    assert len(changes) < flips / 3
    for i in changes:  # every adoption was preceded by min_dwell identical candidates
        assert len({decisions[j].candidate for j in range(i - 2, i + 1)}) == 1
        assert decisions[i].regime == decisions[i].candidate


@pytest.mark.parametrize("kind", ["trending", "choppy", "ranging"])
def test_classifies_synthetic_series(kind: str) -> None:
    det = RegimeDetector("XRP-USDT-SWAP", SETTINGS)
    decisions = feed(det, synthetic(kind, 90, random.Random(3), 2.2))
    settled = Counter(d.regime for d in decisions[45:])
    assert settled.most_common(1)[0][0] is Regime(kind), settled
    d = decisions[-1]
    assert d.inputs()["adx"] == d.adx and d.inputs()["regime"] == d.regime.value
    assert {"atr_pct", "band_width_pct", "candidate", "bars_held", "band_atr_ratio"} <= set(d.inputs())


def test_regime_changes_follow_the_market() -> None:
    rng = random.Random(8)
    det = RegimeDetector("XRP-USDT-SWAP", SETTINGS)
    seq = [("ranging", 60), ("trending", 60), ("choppy", 60), ("ranging", 60)]
    adopted: list[Regime] = []
    t0, px = 0, 2.2
    for kind, minutes in seq:
        decisions = feed(det, synthetic(kind, minutes, rng, px, t0))
        px, t0 = decisions[-1].close, t0 + minutes
        adopted.append(decisions[-1].regime)
    assert adopted == [Regime.RANGING, Regime.TRENDING, Regime.CHOPPY, Regime.RANGING]


@pytest.mark.parametrize("inst_id", ["BTC-USDT-SWAP", "XRP-USDT-SWAP", "DOGE-USDT-SWAP"])
def test_classifies_the_simulators_forced_regimes(inst_id: str) -> None:
    """The simulator's own price process (okxscalp.sim), forced into each regime for 40 minutes:
    the second half of every stretch is classified as that regime (allowing a few bars)."""
    spec = SHIPPED[inst_id]
    pp = PriceProcess(random.Random(5), spec.start_px, spec.vol_per_min, 1.0)
    det = RegimeDetector(inst_id, SETTINGS)
    minute = 0
    for kind, minutes in [
        ("ranging", 60),
        ("trending", 40),
        ("choppy", 40),
        ("ranging", 40),
        ("trending", 40),
    ]:
        pp.force(kind, minutes * 60 + 1)
        seen = Counter()
        for k in range(minutes):
            o = h = lo = pp.price
            for _ in range(60):
                c = pp.step()
                h, lo = max(h, c), min(lo, c)
            d = det.on_candle(Candle(inst_id, "1m", minute * 60_000, o, h, lo, c, 1.0, True))
            minute += 1
            if k >= minutes // 2:
                seen[d.regime] += 1
        assert seen[Regime(kind)] >= 0.7 * sum(seen.values()), (kind, seen)


def test_classify_thresholds() -> None:
    s = RegimeSettings(adx_trending=25, atr_percent_choppy=0.2)
    assert classify(30, 0.1, 1.0, s) is Regime.TRENDING  # width 10 ATRs
    assert classify(30, 0.3, 0.6, s) is Regime.CHOPPY  # high ADX but closes did not travel
    assert classify(20, 0.1, 5.0, s) is Regime.RANGING  # wide but no ADX
    assert classify(10, 0.25, 0.5, s) is Regime.CHOPPY
    assert classify(10, 0.05, 0.1, s) is Regime.RANGING


def test_open_bars_do_not_move_the_regime() -> None:
    det = RegimeDetector("XRP-USDT-SWAP", SETTINGS)
    candles = list(synthetic("choppy", 60, random.Random(2), 2.2))
    for c in candles:
        for wild in (c.close * 1.05, c.close * 0.95):  # open-bar pushes far from the final close
            assert (
                det.on_candle(Candle(c.inst_id, c.bar, c.ts_ms, c.open, wild, wild, wild, 1.0, False)) is None
            )
        det.on_candle(c)
    plain = RegimeDetector("XRP-USDT-SWAP", SETTINGS)
    feed(plain, iter(candles))
    assert det.decision == plain.decision
