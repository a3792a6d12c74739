"""TP/SL legs trigger on the price their tpTriggerPxType/slTriggerPxType names (issue 12): `last`
(default), `mark` or `index`, on attached TP/SL and on stand-alone conditional/oco algos; a bad
type is refused with 51000; the type is echoed on the wire."""

from __future__ import annotations

from decimal import Decimal

import pytest

from okxscalp.okx.constants import CODE_PARAM_ERROR
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
BTC = "BTC-USDT-SWAP"


def make() -> SimExchange:
    ex = SimExchange(seed=11, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=5, inst_ids=[BTC])
    ex.advance_sim_seconds(1.0)
    return ex


def below_mid(ex: SimExchange, fraction: float) -> str:
    """A price on BTC's tick grid `fraction` below the mid."""
    market = ex.markets[BTC]
    return str(Decimal(round(market.mid * (1 - fraction) / market.tick)) * Decimal(market.spec.tick_sz))


def long_with_stop(ex: SimExchange, sl: str, trigger_type: str | None) -> dict:
    leg = {"slTriggerPx": sl, "slOrdPx": "-1"}
    if trigger_type is not None:
        leg["slTriggerPxType"] = trigger_type
    return ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "posSide": "long", "ordType": "market",
                           "sz": "1", "attachAlgoOrds": [leg]})


def stop_fills(ex: SimExchange) -> list[dict]:
    return [e.data for e in ex.drain_events() if e.channel == "orders" and e.data.get("algoId")
            and e.data.get("fillSz") not in ("", "0")]


@pytest.mark.parametrize("trigger_type", ["mark", "index"])
def test_a_mark_or_index_stop_fires_on_an_index_drop_while_last_has_not_crossed(trigger_type: str) -> None:
    ex = make()
    sl = below_mid(ex, 0.005)
    assert long_with_stop(ex, sl, trigger_type)["sCode"] == "0"
    (algo,) = ex.algo_orders_pending(BTC)
    assert algo["slTriggerPxType"] == trigger_type
    ex.drain_events()
    ex.shift_index(BTC, -0.01)  # spot sells off elsewhere; this swap's book and last stay
    ex.advance_steps(1)
    market = ex.markets[BTC]
    assert market.mark < float(sl) and market.index < float(sl)
    (fill,) = stop_fills(ex)
    assert float(fill["fillPx"]) > float(sl)  # the stop sold into a book that never reached its trigger
    assert market.last > float(sl)
    assert ex.algo_orders_pending(BTC) == [] and ex.positions_wire(BTC) == []


@pytest.mark.parametrize("trigger_type", [None, "last"])
def test_a_last_stop_does_not_fire_on_an_index_drop(trigger_type: str | None) -> None:
    ex = make()
    sl = below_mid(ex, 0.005)
    assert long_with_stop(ex, sl, trigger_type)["sCode"] == "0"
    (algo,) = ex.algo_orders_pending(BTC)
    assert algo["slTriggerPxType"] == "last"
    ex.shift_index(BTC, -0.01)
    ex.advance_steps(1)
    assert ex.markets[BTC].mark < float(sl)
    assert len(ex.algo_orders_pending(BTC)) == 1 and ex.positions_wire(BTC)


def test_stand_alone_conditional_on_mark_fires_and_echoes_its_type() -> None:
    ex = make()
    ex.open_position_directly(BTC, "long", 2)
    sl = below_mid(ex, 0.005)
    item = ex.place_algo_order({"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long",
                                "ordType": "conditional", "sz": "2", "slTriggerPx": sl, "slOrdPx": "-1",
                                "slTriggerPxType": "mark"})
    assert item["sCode"] == "0"
    (listed,) = ex.algo_orders_pending(BTC)
    assert listed["slTriggerPxType"] == "mark" and listed["tpTriggerPxType"] == ""
    ex.drain_events()
    ex.shift_index(BTC, -0.01)
    ex.advance_steps(1)
    assert stop_fills(ex) and ex.positions_wire(BTC) == []


@pytest.mark.parametrize("bad", ["Mark", "bid", "1"])
def test_a_bad_trigger_price_type_is_refused_with_51000(bad: str) -> None:
    ex = make()
    item = long_with_stop(ex, below_mid(ex, 0.005), bad)
    assert item["sCode"] == CODE_PARAM_ERROR and "slTriggerPxType" in item["sMsg"]
    ex.open_position_directly(BTC, "long", 1)
    item = ex.place_algo_order({"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long",
                                "ordType": "conditional", "sz": "1", "tpTriggerPx": below_mid(ex, -0.01),
                                "tpOrdPx": "-1", "tpTriggerPxType": bad})
    assert item["sCode"] == CODE_PARAM_ERROR and "tpTriggerPxType" in item["sMsg"]
