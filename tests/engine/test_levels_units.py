"""Pure parts of issue 10 defects 2 and 12: levels given by the exchange as a snapshot's levels,
a snapshot moved to other levels, which listed algo is a position's stop / attached pair."""

from __future__ import annotations

import pytest
from test_exits import XRP, params, res

from okxscalp.engine.exits import ExitPriceError, build_snapshot, compute_tp_sl, levels_at
from okxscalp.engine.positions import ManagedPosition
from okxscalp.engine.protection import is_stop_for, stop_of
from okxscalp.engine.tpsl_sync import attached_algo, same_levels
from okxscalp.okx.models import AlgoOrder, PosSide, Regime, Side

pytestmark = pytest.mark.timeout(30)


def algo(algo_id: str, *, pos_side: PosSide = PosSide.LONG, tp: float | None = None, sl: float | None = None,
         state: str = "live", inst_id: str = "XRP-USDT-SWAP", ord_type: str = "oco", cl: str = "") -> AlgoOrder:
    return AlgoOrder(inst_id, algo_id, cl, ord_type, state, Side.SELL, pos_side, 0.0, None, None, True, "", 0, 0,
                     sl_trigger_px=sl, tp_trigger_px=tp)


def snapshot_at(entry_px: float, algo_ids: tuple[str, ...] = ()):
    snap, _ = build_snapshot(
        inst_id="XRP-USDT-SWAP", pos_side=PosSide.LONG, entry_regime=Regime.CHOPPY, entry_time=1.0,
        entry_px=entry_px, size=10.0, exit_params=params(), instrument=XRP, atr=None,
        leverage=res("leverage", 5, "scalping.leverage"), entry_cl_ord_id="oxe1", entry_ord_id="1", algo_ids=algo_ids,
    )
    return snap


def test_levels_at_measures_the_exchange_levels_from_the_fill() -> None:
    quote = compute_tp_sl(PosSide.LONG, 2.2000, params(), XRP)  # what the entry was sent with
    levels = levels_at(PosSide.LONG, 2.2010, quote.tp_px_str, quote.sl_px_str, params(), "on the exchange")
    assert (levels.tp_px, levels.sl_px) == (quote.tp_px, quote.sl_px)
    assert levels.tp_distance_percent == pytest.approx((quote.tp_px - 2.2010) / 2.2010 * 100)
    assert levels.sl_distance_percent == pytest.approx((2.2010 - quote.sl_px) / 2.2010 * 100)
    snap, tpsl = build_snapshot(
        inst_id="XRP-USDT-SWAP", pos_side=PosSide.LONG, entry_regime=Regime.CHOPPY, entry_time=1.0, entry_px=2.2010,
        size=1.0, exit_params=params(), instrument=XRP, atr=None, leverage=res("leverage", 5, "scalping.leverage"),
        entry_cl_ord_id="oxe1", entry_ord_id="1", levels=levels,
    )
    assert tpsl is levels and (snap.tp_px, snap.sl_px) == (quote.tp_px, quote.sl_px) and snap.entry_px == 2.2010
    with pytest.raises(ExitPriceError):  # a stop above the fill cannot be a long's
        levels_at(PosSide.LONG, 2.1000, quote.tp_px_str, quote.sl_px_str, params(), "past the fill")


def test_with_levels_keeps_the_entry_and_validates() -> None:
    snap = snapshot_at(2.2)
    moved = snap.with_levels(2.2700, 2.1600)
    assert (moved.tp_px, moved.sl_px, moved.entry_px) == (2.27, 2.16, 2.2)
    assert moved.tp_distance_percent == pytest.approx(0.07 / 2.2 * 100)
    with pytest.raises(ValueError):
        snap.with_levels(2.1, 2.16)


def test_is_stop_for_the_position_side_and_live_only() -> None:
    assert is_stop_for(algo("1", sl=2.1), "XRP-USDT-SWAP", PosSide.LONG)
    assert not is_stop_for(algo("1", sl=2.1), "XRP-USDT-SWAP", PosSide.SHORT)
    assert not is_stop_for(algo("1", tp=2.3), "XRP-USDT-SWAP", PosSide.LONG)  # a TP alone is no stop
    assert not is_stop_for(algo("1", sl=2.1, state="canceled"), "XRP-USDT-SWAP", PosSide.LONG)
    assert stop_of([algo("1", sl=2.1, pos_side=PosSide.SHORT), algo("2", sl=2.1)], "XRP-USDT-SWAP", PosSide.LONG).algo_id == "2"


def test_attached_pair_found_by_id_else_by_the_levels_it_was_attached_with() -> None:
    position = ManagedPosition("XRP-USDT-SWAP", PosSide.LONG, 10.0, snapshot_at(2.2, ("77",)), 1.0)
    position.levels_on_exchange = ("2.2660", "2.1560")
    other = algo("5", tp=2.2660, sl=2.1560, pos_side=PosSide.SHORT)
    by_levels = algo("6", tp=2.2660, sl=2.1560)
    assert attached_algo([other, by_levels], position, XRP) is by_levels  # OKX: a new algoId once filled
    by_id = algo("77", tp=2.3, sl=2.1)
    assert attached_algo([by_levels, by_id], position, XRP) is by_id
    assert attached_algo([algo("8", tp=2.2661, sl=2.1560)], position, XRP) is None
    assert same_levels(algo("9", tp=2.26600001, sl=2.156), ("2.2660", "2.1560"), XRP)
    assert not same_levels(algo("9", tp=2.2660, sl=None), ("2.2660", "2.1560"), XRP)
    assert not same_levels(algo("9", tp=2.2660, sl=2.156), ("", ""), XRP)
