"""TP/SL formulas, clamps and tick snapping; exit decisions from the snapshot only; snapshot JSON."""

from __future__ import annotations

import inspect
import json
import random
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okxscalp.config.schema import RegimeSettings
from okxscalp.engine.exits import (
    ExitKind,
    ExitPriceError,
    TpSlMode,
    build_snapshot,
    compute_tp_sl,
    exit_decision,
)
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot, ResolvedParam
from okxscalp.okx.models import Candle, Instrument, PosSide, Regime, Side

pytestmark = pytest.mark.timeout(60)

XRP = Instrument(
    "XRP-USDT-SWAP", ct_val=100.0, tick_sz="0.0001", lot_sz="0.01", min_sz="0.01", max_leverage=50
)
BTC = Instrument("BTC-USDT-SWAP", ct_val=0.01, tick_sz="0.1", lot_sz="0.01", min_sz="0.01", max_leverage=100)


def res(name: str, value: object, path: str) -> SimpleNamespace:
    """Shaped like config's Resolution (name, value, source_path, chain)."""
    return SimpleNamespace(name=name, value=value, source_path=path, chain=())


def params(regime: str = "choppy", mode: str = "percent", **over: float) -> ExitParams:
    base = f"symbol_profiles.XRP-USDT.{regime}"
    values = {"tp_percent": 3.0, "sl_percent": 2.0, "tp_atr_multiplier": 1.5, "sl_atr_multiplier": 3.5}
    if regime == "trending":
        values = {"tp_percent": 5.0, "sl_percent": 1.5, "tp_atr_multiplier": 3.0, "sl_atr_multiplier": 2.5}
    limits = {"tp_min_percent": 0.1, "tp_max_percent": 10.0, "sl_min_percent": 0.1, "sl_max_percent": 5.0}
    values |= limits
    values |= over
    resolutions = {
        k: res(
            k,
            v,
            f"{base}.{k}" if k in ("tp_percent", "sl_percent") or "atr" in k else f"scalping.exit_limits.{k}",
        )
        for k, v in values.items()
    }
    return ExitParams.from_resolutions(res("tp_sl_mode", mode, "scalping.tp_sl_mode"), **resolutions)


def test_percent_mode_long_and_short() -> None:
    long = compute_tp_sl(PosSide.LONG, 2.2, params(), XRP)
    assert (long.tp_px_str, long.sl_px_str) == ("2.2660", "2.1560")
    assert long.tp_distance_percent == pytest.approx(3.0) and long.sl_distance_percent == pytest.approx(2.0)
    short = compute_tp_sl(PosSide.SHORT, 2.2, params(), XRP)
    assert (short.tp_px_str, short.sl_px_str) == ("2.1340", "2.2440")
    assert long.mode is TpSlMode.PERCENT and long.atr is None
    assert "symbol_profiles.XRP-USDT.choppy.tp_percent" in long.explanation


def test_leverage_does_not_scale_the_percents() -> None:
    """The audit's XRP choppy case: tp 3.0 % / sl 2.0 % of price. After the audit's "leverage
    adjustment" TP became 8.8 %; here leverage is not even an input of the formula, and the
    snapshot built at 3x and at 20x has the same prices."""
    assert "leverage" not in inspect.signature(compute_tp_sl).parameters
    snaps = []
    for lever in (3, 20):
        snap, tpsl = build_snapshot(
            inst_id="XRP-USDT-SWAP",
            pos_side=PosSide.LONG,
            entry_regime=Regime.CHOPPY,
            entry_time=1.0,
            entry_px=2.2,
            size=10.0,
            exit_params=params(),
            instrument=XRP,
            atr=0.01,
            leverage=res("leverage", lever, "symbol_profiles.XRP-USDT.leverage"),
            entry_cl_ord_id=f"e{lever}",
            entry_ord_id="1",
        )
        assert tpsl.tp_distance_percent == pytest.approx(3.0)
        assert tpsl.tp_distance_percent / tpsl.sl_distance_percent == pytest.approx(1.5)
        snaps.append(snap)
    assert (snaps[0].tp_px, snaps[0].sl_px) == (snaps[1].tp_px, snaps[1].sl_px)
    assert snaps[1].leverage == ResolvedParam("leverage", 20, "symbol_profiles.XRP-USDT.leverage")


def test_tick_snapping_tp_away_sl_toward_entry() -> None:
    entry = 2.2345
    long = compute_tp_sl(PosSide.LONG, entry, params(), XRP)
    # TP 2.301535 -> up to 2.3016 (away); SL 2.18981 -> up to 2.1899 (toward entry)
    assert (long.tp_px_str, long.sl_px_str) == ("2.3016", "2.1899")
    short = compute_tp_sl(PosSide.SHORT, entry, params(), XRP)
    # TP 2.167465 -> down to 2.1674 (away); SL 2.27919 -> down to 2.2791 (toward entry)
    assert (short.tp_px_str, short.sl_px_str) == ("2.1674", "2.2791")
    for t in (long, short):
        assert t.tp_distance_percent >= 3.0 and t.sl_distance_percent <= 2.0


def test_atr_mode_and_clamps() -> None:
    # ATR 0.01 on 2.2: tp 1.5 ATR = 0.6818 %, sl 3.5 ATR = 1.5909 %
    t = compute_tp_sl(PosSide.LONG, 2.2, params(mode="atr"), XRP, atr=0.01)
    assert t.mode is TpSlMode.ATR and t.atr == 0.01
    assert t.tp_raw_percent == pytest.approx(100 * 0.015 / 2.2)
    assert (t.tp_px_str, t.sl_px_str) == ("2.2150", "2.1650")
    assert not t.tp_clamped and not t.sl_clamped
    clamped = compute_tp_sl(
        PosSide.LONG, 2.2, params(mode="atr", tp_min_percent=1.0, sl_max_percent=1.0), XRP, atr=0.01
    )
    assert clamped.tp_clamped and clamped.sl_clamped
    assert (clamped.tp_px_str, clamped.sl_px_str) == ("2.2220", "2.1780")
    assert "tp clamped" in clamped.explanation and "sl clamped" in clamped.explanation
    big = compute_tp_sl(PosSide.SHORT, 2.2, params(tp_percent=25.0, tp_max_percent=4.0), XRP)
    assert big.tp_clamped and big.tp_px_str == "2.1120"


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"mode": "atr"}, "needs an ATR"),
        ({"mode": "bogus"}, "is not percent|atr"),
        ({"tp_min_percent": 5.0, "tp_max_percent": 4.0}, "tp_min_percent 5.0"),
        ({"sl_percent": 0.001, "sl_min_percent": 0.0}, "under one tick"),
        ({"tp_percent": "lots"}, "is not a number"),
    ],
)
def test_refusals_say_why(kw: dict, fragment: str) -> None:
    mode = kw.pop("mode", "percent")
    with pytest.raises(ExitPriceError, match=fragment.replace("|", r"\|")):
        compute_tp_sl(PosSide.LONG, 2.2, params(mode=mode, **kw), XRP)


@settings(max_examples=300, deadline=None)
@given(
    entry=st.floats(0.001, 200_000),
    tp=st.floats(0.2, 10),
    sl=st.floats(0.2, 5),
    side=st.sampled_from([PosSide.LONG, PosSide.SHORT]),
    inst=st.sampled_from([XRP, BTC]),
)
def test_snapping_invariants(entry: float, tp: float, sl: float, side: PosSide, inst: Instrument) -> None:
    try:
        t = compute_tp_sl(side, entry, params(tp_percent=tp, sl_percent=sl), inst)
    except ExitPriceError as exc:
        assert "under one tick" in str(exc) or "not beyond entry" in str(exc)
        assert entry * sl / 100 < inst.tick * 1.0001 or entry * (1 - tp / 100) < inst.tick
        return
    for s in (t.tp_px_str, t.sl_px_str):
        assert Decimal(s) % Decimal(inst.tick_sz) == 0
    if side is PosSide.LONG:
        assert t.sl_px < entry < t.tp_px
    else:
        assert t.tp_px < entry < t.sl_px
    noise = inst.tick * 1e-6 + entry * 1e-12  # float noise the snap deliberately ignores
    assert abs(t.tp_px - entry) >= entry * tp / 100 - noise  # TP never closer than computed
    assert abs(t.sl_px - entry) <= entry * sl / 100 + noise  # SL never further than computed
    assert abs(t.tp_px - entry) < entry * tp / 100 + inst.tick * 1.000001


def snapshot(
    side: PosSide = PosSide.LONG, regime: Regime = Regime.CHOPPY, entry: float = 2.2
) -> PositionSnapshot:
    snap, _ = build_snapshot(
        inst_id="XRP-USDT-SWAP",
        pos_side=side,
        entry_regime=regime,
        entry_time=1_700_000_000.0,
        entry_px=entry,
        size=11.36,
        exit_params=params(regime.value),
        instrument=XRP,
        atr=0.0123,
        leverage=res("leverage", 10, "scalping.leverage"),
        entry_cl_ord_id="okxsE1",
        entry_ord_id="900",
        algo_ids=("algo1",),
        regime_inputs={"adx": 18.2, "atr_pct": 0.31, "band_width_pct": 0.9},
        signal_reason="choppy mean reversion long",
    )
    return snap


def q(bid: float | None, ask: float | None) -> SimpleNamespace:
    return SimpleNamespace(bid=bid, ask=ask)


def test_exit_decision_long_uses_bid() -> None:
    s = snapshot()  # TP 2.2660, SL 2.1560
    assert exit_decision(s, q(2.2, 2.2001)) is None
    assert exit_decision(s, q(2.2659, 2.27)) is None  # the ask crossing TP does not count for a long
    tp = exit_decision(s, q(2.2660, 2.2661))
    assert tp is not None and tp.kind is ExitKind.TAKE_PROFIT and tp.close_side is Side.SELL
    assert tp.trigger_px == 2.266 and tp.observed_px == 2.266 and tp.entry_regime is Regime.CHOPPY
    assert (
        "TP hit: long bid 2.266 >= TP 2.266" in tp.reason and "symbol_profiles.XRP-USDT.choppy" in tp.reason
    )
    sl = exit_decision(s, q(2.1560, 2.1561))
    assert sl is not None and sl.kind is ExitKind.STOP_LOSS and "bid 2.156 <= SL 2.156" in sl.reason
    assert exit_decision(s, q(None, 2.3)) is None
    assert exit_decision(s, q(0.0, 2.3)) is None  # an empty bid is not "below the stop"
    assert exit_decision(s, q(float("nan"), 2.3)) is None


def test_exit_decision_short_uses_ask() -> None:
    s = snapshot(PosSide.SHORT)  # TP 2.1340, SL 2.2440
    assert exit_decision(s, q(2.13, 2.1341)) is None  # the bid crossing TP does not count for a short
    tp = exit_decision(s, q(2.1339, 2.1340))
    assert tp is not None and tp.kind is ExitKind.TAKE_PROFIT and tp.close_side is Side.BUY
    sl = exit_decision(s, q(2.2439, 2.2440))
    assert sl is not None and sl.kind is ExitKind.STOP_LOSS and "ask 2.244 >= SL 2.244" in sl.reason
    assert exit_decision(s, q(2.1, 0.0)) is None and exit_decision(s, q(2.1, None)) is None


def test_exit_decision_ignores_the_current_market_regime() -> None:
    """SPEC §1 row 5: a position opened in choppy (TP 3 %) is managed with choppy's TP even when
    the market turns trending (whose TP would be 5 %). exit_decision takes no regime at all, and
    the regime detector moving from choppy to trending changes none of its answers."""
    assert set(inspect.signature(exit_decision).parameters) == {"snapshot", "quote"}
    s = snapshot(regime=Regime.CHOPPY)
    quotes = [q(b, b + 0.0001) for b in (2.15, 2.156, 2.2, 2.25, 2.266, 2.29, 2.31, 2.4)]
    det = RegimeDetector("XRP-USDT-SWAP", RegimeSettings(atr_percent_choppy=0.2))
    rng, px, minute = random.Random(4), 2.2, 0
    before = after = None
    for kind in ("choppy", "trending"):
        for _ in range(60):
            o = px
            px *= 1.004 if kind == "trending" else 1 + rng.uniform(-0.006, 0.006)
            det.on_candle(
                Candle(
                    "XRP-USDT-SWAP",
                    "1m",
                    minute * 60_000,
                    o,
                    max(o, px) * 1.003,
                    min(o, px) * 0.997,
                    px,
                    1.0,
                    True,
                )
            )
            minute += 1
        decisions = [exit_decision(s, quote) for quote in quotes]
        if kind == "choppy":
            assert det.regime is Regime.CHOPPY
            before = decisions
        else:
            assert det.regime is Regime.TRENDING
            after = decisions
    assert before == after
    # At +4 % (between choppy's 3 % and trending's 5 % TP) the choppy snapshot takes profit.
    at_four = exit_decision(s, q(2.288, 2.2881))
    assert (
        at_four is not None and at_four.kind is ExitKind.TAKE_PROFIT and at_four.entry_regime is Regime.CHOPPY
    )


def test_snapshot_json_round_trip_keeps_sources() -> None:
    s = snapshot()
    text = s.to_json()
    data = json.loads(text)
    assert data["exit_params"]["tp_percent"] == {
        "name": "tp_percent",
        "value": 3.0,
        "source_path": "symbol_profiles.XRP-USDT.choppy.tp_percent",
    }
    assert data["leverage"]["source_path"] == "scalping.leverage" and data["entry_regime"] == "choppy"
    back = PositionSnapshot.from_json(text)
    assert back == s
    assert back.with_size(5.0).size == 5.0 and back.with_algo_ids(("a", "b")).algo_ids == ("a", "b")
    with pytest.raises(ValueError, match="unsupported snapshot version"):
        PositionSnapshot.from_json(json.dumps({**data, "version": 99}))


def test_snapshot_refuses_prices_on_the_wrong_side() -> None:
    s = snapshot()
    data = s.to_dict() | {"tp_px": 2.1}
    with pytest.raises(ValueError, match="not on the right sides"):
        PositionSnapshot.from_dict(data)
    with pytest.raises(ValueError, match="long or short"):
        PositionSnapshot.from_dict(s.to_dict() | {"pos_side": "net"})
