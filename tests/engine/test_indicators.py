"""Incremental indicators against from-scratch reference computations."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okxscalp.engine.indicators import Adx, Atr, Bollinger, Ema, IndicatorPeriods, IndicatorSet, Rsi
from okxscalp.okx.models import Candle

pytestmark = pytest.mark.timeout(60)

# ---- reference implementations: recompute the whole series from scratch, no shared code ------


def ref_ema(xs: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    for i in range(len(xs)):
        if i + 1 < n:
            out.append(None)
            continue
        value = sum(xs[:n]) / n
        for x in xs[n : i + 1]:
            value = value + 2 / (n + 1) * (x - value)
        out.append(value)
    return out


def ref_tr(bars: list[tuple[float, float, float]], i: int) -> float:
    h, lo, _ = bars[i]
    if i == 0:
        return h - lo
    pc = bars[i - 1][2]
    return max(h - lo, abs(h - pc), abs(lo - pc))


def ref_atr(bars: list[tuple[float, float, float]], n: int) -> list[float | None]:
    out: list[float | None] = []
    for i in range(len(bars)):
        if i + 1 < n:
            out.append(None)
            continue
        trs = [ref_tr(bars, j) for j in range(i + 1)]
        value = sum(trs[:n]) / n
        for tr in trs[n:]:
            value = (value * (n - 1) + tr) / n
        out.append(value)
    return out


def ref_adx(
    bars: list[tuple[float, float, float]], n: int
) -> list[tuple[float | None, float | None, float | None]]:
    """Per bar: (adx, +di, -di), recomputed from the start for every bar."""
    out = []
    for end in range(len(bars)):
        trs, pdms, mdms = [], [], []
        for j in range(1, end + 1):
            up = bars[j][0] - bars[j - 1][0]
            down = bars[j - 1][1] - bars[j][1]
            pdms.append(up if up > down and up > 0 else 0.0)
            mdms.append(down if down > up and down > 0 else 0.0)
            trs.append(ref_tr(bars, j))
        if len(trs) < n:
            out.append((None, None, None))
            continue

        def wilder_sums(xs: list[float]) -> list[float]:
            s = sum(xs[:n])
            sums = [s]
            for x in xs[n:]:
                s = s - s / n + x
                sums.append(s)
            return sums

        s_tr, s_p, s_m = wilder_sums(trs), wilder_sums(pdms), wilder_sums(mdms)
        dxs, dis = [], []
        for t, p, m in zip(s_tr, s_p, s_m, strict=True):
            pdi = 100 * p / t if t > 0 else 0.0
            mdi = 100 * m / t if t > 0 else 0.0
            dis.append((pdi, mdi))
            dxs.append(100 * abs(pdi - mdi) / (pdi + mdi) if pdi + mdi > 0 else 0.0)
        if len(dxs) < n:
            out.append((None, *dis[-1]))
            continue
        adx = sum(dxs[:n]) / n
        for dx in dxs[n:]:
            adx = (adx * (n - 1) + dx) / n
        out.append((adx, *dis[-1]))
    return out


def ref_bollinger(xs: list[float], n: int, k: float) -> list[tuple[float, float, float] | None]:
    out: list[tuple[float, float, float] | None] = []
    for i in range(len(xs)):
        if i + 1 < n:
            out.append(None)
            continue
        window = xs[i + 1 - n : i + 1]
        mean = sum(window) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in window) / n)
        out.append((mean, mean + k * std, mean - k * std))
    return out


def ref_rsi(xs: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    for i in range(len(xs)):
        changes = [xs[j] - xs[j - 1] for j in range(1, i + 1)]
        if len(changes) < n:
            out.append(None)
            continue
        gains = [max(c, 0.0) for c in changes]
        losses = [max(-c, 0.0) for c in changes]
        g, lo = sum(gains[:n]) / n, sum(losses[:n]) / n
        for gi, li in zip(gains[n:], losses[n:], strict=True):
            g, lo = (g * (n - 1) + gi) / n, (lo * (n - 1) + li) / n
        out.append(100.0 if lo == 0 and g > 0 else 50.0 if lo == 0 else 100 - 100 / (1 + g / lo))
    return out


# ---- series --------------------------------------------------------------------------------


def bars_from(closes: list[float], spreads: list[float]) -> list[tuple[float, float, float]]:
    """(high, low, close) with high >= close >= low."""
    out = []
    for i, c in enumerate(closes):
        s = spreads[i % len(spreads)]
        out.append((c + s, c - s * 0.7, c))
    return out


prices = st.lists(st.floats(min_value=0.05, max_value=70_000.0, allow_nan=False), min_size=1, max_size=70)
walks = st.builds(
    lambda start, steps: [start * math.exp(sum(steps[: i + 1])) for i in range(len(steps))],
    st.floats(min_value=0.1, max_value=60_000.0),
    st.lists(st.floats(min_value=-0.02, max_value=0.02), min_size=1, max_size=70),
)
periods = st.integers(min_value=1, max_value=20)


def close(a: float | None, b: float | None, scale: float = 1.0) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9 * max(scale, 1.0))


@settings(max_examples=60, deadline=None)
@given(xs=st.one_of(prices, walks), n=periods)
def test_ema_matches_reference(xs: list[float], n: int) -> None:
    ema = Ema(n)
    for got, want in zip([ema.update(x) for x in xs], ref_ema(xs, n), strict=True):
        assert close(got, want, max(xs))


@settings(max_examples=60, deadline=None)
@given(xs=st.one_of(prices, walks), n=periods, spreads=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=5))
def test_atr_matches_reference(xs: list[float], n: int, spreads: list[float]) -> None:
    bars = bars_from(xs, spreads)
    atr = Atr(n)
    for got, want in zip([atr.update(*b) for b in bars], ref_atr(bars, n), strict=True):
        assert close(got, want, max(xs))


@settings(max_examples=40, deadline=None)
@given(xs=walks, n=st.integers(1, 10), spreads=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=5))
def test_adx_matches_reference(xs: list[float], n: int, spreads: list[float]) -> None:
    bars = bars_from(xs, spreads)
    adx = Adx(n)
    got = [adx.update(*b) for b in bars]
    for g, (w_adx, w_pdi, w_mdi) in zip(got, ref_adx(bars, n), strict=True):
        if w_pdi is None:
            assert g is None
            continue
        assert g is not None
        assert close(g.adx, w_adx, 100) and close(g.plus_di, w_pdi, 100) and close(g.minus_di, w_mdi, 100)


@settings(max_examples=60, deadline=None)
@given(xs=st.one_of(prices, walks), n=periods, k=st.floats(0.5, 3.0))
def test_bollinger_matches_reference(xs: list[float], n: int, k: float) -> None:
    bb = Bollinger(n, k)
    for x, want in zip(xs, ref_bollinger(xs, n, k), strict=True):
        got = bb.update(x)
        if want is None:
            assert got is None
            continue
        assert got is not None
        # The std of a window is compared at the scale of its prices (float cancellation is
        # relative to price, not to the often tiny spread).
        scale = max(abs(v) for v in xs)
        for g, w in zip((got.mid, got.upper, got.lower), want, strict=True):
            assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(xs=st.one_of(prices, walks), n=periods)
def test_rsi_matches_reference(xs: list[float], n: int) -> None:
    rsi = Rsi(n)
    for got, want in zip([rsi.update(x) for x in xs], ref_rsi(xs, n), strict=True):
        if got is None or want is None:
            assert got is None and want is None
        else:
            assert math.isclose(got, want, abs_tol=1e-6)


@settings(max_examples=40, deadline=None)
@given(xs=walks, n=st.integers(1, 8), probe=st.floats(0.1, 60_000.0))
def test_peek_equals_update_and_changes_nothing(xs: list[float], n: int, probe: float) -> None:
    ema, atr, adx, bb, rsi = Ema(n), Atr(n), Adx(n), Bollinger(n, 2.0), Rsi(n)
    for x in xs:
        ema.update(x)
        atr.update(x * 1.001, x * 0.999, x)
        adx.update(x * 1.001, x * 0.999, x)
        bb.update(x)
        rsi.update(x)
    peeks = (
        ema.peek(probe),
        atr.peek(probe * 1.001, probe * 0.999, probe),
        adx.peek(probe * 1.001, probe * 0.999, probe),
        bb.peek(probe),
        rsi.peek(probe),
    )
    again = (
        ema.peek(probe),
        atr.peek(probe * 1.001, probe * 0.999, probe),
        adx.peek(probe * 1.001, probe * 0.999, probe),
        bb.peek(probe),
        rsi.peek(probe),
    )
    assert peeks == again  # peeking twice: no state moved
    updates = (
        ema.update(probe),
        atr.update(probe * 1.001, probe * 0.999, probe),
        adx.update(probe * 1.001, probe * 0.999, probe),
        bb.update(probe),
        rsi.update(probe),
    )
    for p, u in zip(peeks, updates, strict=True):
        if p is None or u is None:
            assert p is None and u is None
        elif isinstance(p, float):
            assert math.isclose(p, u, rel_tol=1e-9)
        else:  # Bands / AdxValue
            for a, b in zip(
                (getattr(p, f) for f in p.__slots__), (getattr(u, f) for f in u.__slots__), strict=True
            ):
                assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9 * probe)


# A fixed series (Wilder's classic 14-bar RSI example closes) with hand-known values.
WILDER_CLOSES = [
    44.34,
    44.09,
    44.15,
    43.61,
    44.33,
    44.83,
    45.10,
    45.42,
    45.84,
    46.08,
    45.89,
    46.03,
    45.61,
    46.28,
    46.28,
    46.00,
    46.03,
    46.41,
    46.22,
    45.64,
]


def test_rsi_fixed_series_known_value() -> None:
    rsi = Rsi(14)
    values = [rsi.update(c) for c in WILDER_CLOSES]
    assert values[13] is None
    assert values[14] == pytest.approx(70.46, abs=0.01)  # the textbook first RSI of this series
    assert values[15] == pytest.approx(66.25, abs=0.01)
    assert values[-1] == pytest.approx(ref_rsi(WILDER_CLOSES, 14)[-1])


def test_fixed_series_all_indicators_against_reference() -> None:
    rng = random.Random(42)
    closes, px = [], 2.5
    for _ in range(120):
        px *= math.exp(rng.gauss(0.0005, 0.003))
        closes.append(px)
    bars = bars_from(closes, [0.004, 0.007, 0.002])
    ema, atr, adx, bb, rsi = Ema(9), Atr(14), Adx(14), Bollinger(20, 2.0), Rsi(14)
    for h, lo, c in bars:
        ema.update(c)
        atr.update(h, lo, c)
        last_adx = adx.update(h, lo, c)
        bb.update(c)
        rsi.update(c)
    assert ema.value == pytest.approx(ref_ema(closes, 9)[-1], rel=1e-9)
    assert atr.value == pytest.approx(ref_atr(bars, 14)[-1], rel=1e-9)
    w_adx, w_pdi, w_mdi = ref_adx(bars, 14)[-1]
    assert last_adx is not None and last_adx.adx == pytest.approx(w_adx, rel=1e-9)
    assert (last_adx.plus_di, last_adx.minus_di) == (pytest.approx(w_pdi), pytest.approx(w_mdi))
    assert bb.value is not None and bb.value.mid == pytest.approx(
        ref_bollinger(closes, 20, 2.0)[-1][0], rel=1e-12
    )
    assert rsi.value == pytest.approx(ref_rsi(closes, 14)[-1], abs=1e-9)


def test_bollinger_stays_exact_at_high_prices_over_long_runs() -> None:
    """A million-scale price with a tiny spread would lose the variance to cancellation in naive
    sum/sumsq; the shifted, re-based sums must keep it."""
    rng = random.Random(1)
    xs = [65_000.0 + rng.uniform(-0.5, 0.5) for _ in range(5_000)]
    bb = Bollinger(20, 2.0)
    for x in xs:
        got = bb.update(x)
    want = ref_bollinger(xs[-20:], 20, 2.0)[-1]
    assert got is not None and want is not None
    assert got.upper - got.mid == pytest.approx(want[1] - want[0], rel=1e-6)


def candle(ts: int, c: float, *, confirmed: bool = True, spread: float = 0.01) -> Candle:
    return Candle("XRP-USDT-SWAP", "1m", ts, c, c + spread, c - spread, c, 1.0, confirmed)


def test_indicator_set_open_bar_is_not_double_counted() -> None:
    periods = IndicatorPeriods(ema_fast=3, ema_slow=5, atr=3, adx=3, bollinger=4, rsi=3)
    fed, direct = IndicatorSet(periods), IndicatorSet(periods)
    closes = [1.0, 1.02, 1.01, 1.05, 1.04, 1.07, 1.03, 1.08, 1.1, 1.09]
    for i, c in enumerate(closes):
        ts = i * 60_000
        # The live feed pushes the same bar several times while it is open, then confirmed (twice:
        # OKX repeats the confirmed bar), then the next bar's first push.
        assert fed.on_candle(candle(ts, c - 0.01, confirmed=False)) is None
        assert fed.on_candle(candle(ts, c, confirmed=False)) is None
        prov = fed.provisional()
        got = fed.on_candle(candle(ts, c))
        assert fed.on_candle(candle(ts, c)) is None  # repeated confirm ignored
        want = direct.on_candle(candle(ts, c))
        assert got == want
        assert prov is not None and not prov.confirmed
        assert prov.ema_fast == (want.ema_fast if want else None)
        assert prov.rsi == want.rsi and prov.adx == want.adx
        if want.bands is None:
            assert prov.bands is None
        else:  # the update may re-base the window sums: equal up to rounding
            assert prov.bands is not None and prov.bands.upper == pytest.approx(want.bands.upper, rel=1e-12)
    assert fed.on_candle(candle(0, 5.0)) is None  # an old confirmed bar (REST overlap) is ignored
    assert fed.bars == len(closes)
    assert fed.latest is not None and fed.latest.ready


def test_rsi_at_uses_the_live_price_without_advancing() -> None:
    s = IndicatorSet(IndicatorPeriods(ema_fast=2, ema_slow=3, atr=2, adx=2, bollinger=3, rsi=3))
    for i, c in enumerate([1.0, 1.1, 1.2, 1.3, 1.2, 1.25]):
        s.on_candle(candle(i * 60_000, c))
    before = s.rsi.value
    high, low = s.rsi_at(2.0), s.rsi_at(0.5)
    assert high is not None and low is not None and high > before > low
    assert s.rsi.value == before


def test_warmup_bars_is_when_every_indicator_is_ready() -> None:
    periods = IndicatorPeriods(ema_fast=5, ema_slow=13, atr=7, adx=7, bollinger=10, rsi=14)
    s = IndicatorSet(periods)
    for i in range(periods.warmup_bars):
        v = s.on_candle(candle(i * 60_000, 2.0 + 0.01 * math.sin(i)))
        assert v is not None and v.ready == (i + 1 == periods.warmup_bars)


def test_gaps_in_confirmed_bars_are_counted() -> None:
    s = IndicatorSet()
    for i in (0, 1, 2, 5, 6, 10):
        s.on_candle(candle(i * 60_000, 2.0 + 0.001 * i))
    assert (s.gaps, s.missing_bars, s.bars) == (2, 5, 6)


def test_rsi_clone_carries_every_field() -> None:
    """Rsi.__copy__ names its fields one by one (peek runs on every ticker): a field added to
    __slots__ and not to the clone would peek from a half-copied state."""
    rsi = Rsi(3)
    for x in (1.0, 1.2, 0.9, 1.1, 1.3):
        rsi.update(x)
    clone = rsi.__copy__()
    for name in Rsi.__slots__:
        assert getattr(clone, name) == getattr(rsi, name), name
