"""Matching rules of the simulator core, driven through the public SimExchange API (no sockets)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)
START_MS = 1_732_435_200_000
BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


def make(**kw) -> SimExchange:
    kw.setdefault("history_minutes", 5)
    kw.setdefault("inst_ids", [BTC, ETH])
    ex = SimExchange(seed=11, start_wall_s=0.0, start_sim_ms=START_MS, **kw)
    ex.set_channel_interest("tickers", BTC, False)  # public events off: these tests read private ones
    ex.advance_sim_seconds(1.0)
    return ex


def order(inst_id=BTC, side="buy", pos_side="long", ord_type="market", sz="1", **extra) -> dict:
    params = {"instId": inst_id, "tdMode": "cross", "side": side, "ordType": ord_type, "sz": sz, **extra}
    if pos_side:
        params["posSide"] = pos_side
    return params


def private(events: list[SimEvent], channel: str) -> list[dict]:
    return [e.data for e in events if e.channel == channel]


def top(ex: SimExchange, inst_id=BTC) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    book = ex.books_wire(inst_id, 1)
    ask, bid = book["asks"][0], book["bids"][0]
    return Decimal(bid[0]), Decimal(bid[1]), Decimal(ask[0]), Decimal(ask[1])


def run_until(ex: SimExchange, condition, max_s: float = 3600.0, step_s: float = 1.0) -> list[SimEvent]:
    seen: list[SimEvent] = []
    waited = 0.0
    while waited < max_s:
        ex.advance_sim_seconds(step_s)
        seen.extend(ex.drain_events())
        if condition():
            return seen
        waited += step_s
    raise AssertionError("condition not reached in sim time")


def test_market_buy_fills_as_taker_with_fee_and_pushes_order_position_account():
    ex = make()
    _, _, ask, _ = top(ex)
    cash0 = Decimal(ex.balance_wire()["details"][0]["cashBal"])
    item = ex.place_order(order(sz="1", clOrdId="m1"))
    assert item["sCode"] == "0" and item["clOrdId"] == "m1" and item["ordId"]
    events = ex.drain_events()
    orders = private(events, "orders")
    assert orders[-1]["state"] == "filled" and orders[-1]["execType"] == "T"
    assert Decimal(orders[0]["fillPx"]) == ask
    fee = Decimal(orders[-1]["fee"])
    assert fee == pytest.approx(-ask * Decimal("0.01") * Decimal("0.0005"), rel=Decimal("1e-9"))
    positions = private(events, "positions")
    assert positions[-1]["pos"] == "1.00" and positions[-1]["posSide"] == "long"
    account = private(events, "account")
    assert Decimal(account[-1]["details"][0]["cashBal"]) == pytest.approx(cash0 + fee)
    assert ex.get_order(BTC, cl_ord_id="m1")["state"] == "filled"


def test_market_order_sweeps_depth_with_one_push_per_level_and_cumulative_avg():
    ex = make(initial_equity=10_000_000.0)
    _, _, ask, ask_sz = top(ex)
    size = ask_sz * 3
    ex.place_order(order(sz=str(size)))
    fills = [o for o in private(ex.drain_events(), "orders") if o["fillSz"] != "0"]
    assert len(fills) >= 2
    assert Decimal(fills[0]["fillSz"]) == ask_sz and Decimal(fills[0]["fillPx"]) == ask
    assert Decimal(fills[1]["fillPx"]) > ask
    assert sum(Decimal(f["fillSz"]) for f in fills) == size == Decimal(fills[-1]["accFillSz"])
    notional = sum(Decimal(f["fillSz"]) * Decimal(f["fillPx"]) for f in fills)
    assert Decimal(fills[-1]["avgPx"]) == pytest.approx(notional / size, abs=Decimal("0.1"))
    assert [f["state"] for f in fills] == ["partially_filled"] * (len(fills) - 1) + ["filled"]


def test_post_only_that_would_take_is_accepted_then_canceled_with_source_31():
    ex = make()
    _, _, ask, _ = top(ex)
    item = ex.place_order(order(ord_type="post_only", px=str(ask), clOrdId="po1"))
    assert item["sCode"] == "0"
    orders = private(ex.drain_events(), "orders")
    assert len(orders) == 1
    assert orders[0]["state"] == "canceled" and orders[0]["cancelSource"] == "31"
    assert orders[0]["accFillSz"] == "0"
    assert ex.orders_pending(BTC) == [] and ex.positions_wire() == []


def test_post_only_below_the_ask_rests_live():
    ex = make()
    bid, _, _, _ = top(ex)
    ex.place_order(order(ord_type="post_only", px=str(bid - 10), clOrdId="po2"))
    orders = private(ex.drain_events(), "orders")
    assert [o["state"] for o in orders] == ["live"]
    assert [o["clOrdId"] for o in ex.orders_pending()] == ["po2"]


def test_limit_at_the_ask_partially_fills_and_rests_the_remainder():
    ex = make(initial_equity=10_000_000.0)
    _, _, ask, ask_sz = top(ex)
    ex.place_order(order(ord_type="limit", px=str(ask), sz=str(ask_sz * 4), clOrdId="pl1"))
    orders = private(ex.drain_events(), "orders")
    assert orders[-1]["state"] == "partially_filled"
    assert Decimal(orders[-1]["fillSz"]) == ask_sz == Decimal(orders[-1]["accFillSz"])
    pending = ex.orders_pending(BTC)
    assert len(pending) == 1 and pending[0]["state"] == "partially_filled"


def test_ioc_remainder_is_canceled_with_source_14():
    ex = make(initial_equity=10_000_000.0)
    _, _, ask, ask_sz = top(ex)
    ex.place_order(order(ord_type="ioc", px=str(ask), sz=str(ask_sz * 4)))
    orders = private(ex.drain_events(), "orders")
    assert Decimal(orders[0]["fillSz"]) == ask_sz
    assert orders[-1]["state"] == "canceled" and orders[-1]["cancelSource"] == "14"
    assert Decimal(orders[-1]["accFillSz"]) == ask_sz
    assert ex.orders_pending() == []


def test_resting_order_fills_as_maker_when_the_market_trades_through():
    ex = make()
    bid, _, _, _ = top(ex)
    px = bid - 5
    ex.place_order(order(ord_type="limit", px=str(px), sz="2", clOrdId="rest1"))
    ex.force_regime(BTC, "trending", 3600, direction=-1)
    events = run_until(ex, lambda: not ex.orders_pending(BTC))
    filled = [o for o in private(events, "orders") if o["state"] == "filled"]
    assert len(filled) == 1
    assert filled[0]["execType"] == "M" and Decimal(filled[0]["fillPx"]) == px
    fee = Decimal(filled[0]["fee"])
    assert fee == pytest.approx(-px * 2 * Decimal("0.01") * Decimal("0.0002"), rel=Decimal("1e-9"))
    assert ex.fills(BTC, 10)[0]["execType"] == "M"


def test_attached_sl_triggers_on_last_price_and_closes_the_position():
    ex = make()
    bid, _, _, _ = top(ex)
    sl_px = bid - 30
    item = ex.place_order(order(sz="1", clOrdId="e1", attachAlgoOrds=[
        {"attachAlgoClOrdId": "sl1", "slTriggerPx": str(sl_px), "slOrdPx": "-1"},
        {"attachAlgoClOrdId": "tp1", "tpTriggerPx": str(bid + 100_000), "tpOrdPx": "-1"},
    ]))
    assert item["sCode"] == "0"
    ex.drain_events()
    algos = ex.algo_orders_pending(BTC)
    assert {a["algoClOrdId"] for a in algos} == {"sl1", "tp1"}
    assert ex.algo_orders_pending(BTC, "oco") == []
    assert len(ex.algo_orders_pending(BTC, "conditional,oco")) == 2
    ex.force_regime(BTC, "trending", 3600, direction=-1)
    events = run_until(ex, lambda: not ex.positions_wire(BTC))
    closing = [o for o in private(events, "orders") if o["algoClOrdId"] == "sl1"]
    assert closing and closing[-1]["state"] == "filled" and closing[-1]["reduceOnly"] == "true"
    assert closing[-1]["side"] == "sell" and closing[-1]["posSide"] == "long"
    assert Decimal(closing[-1]["fillPx"]) <= sl_px
    assert private(events, "positions")[-1]["pos"] == "0"
    assert ex.algo_orders_pending() == []  # the TP leg went with the position
    states = [(a["algoClOrdId"], a["state"]) for a in private(events, "orders-algo")]
    assert states == [("sl1", "effective"), ("tp1", "canceled")]
    effective = private(events, "orders-algo")[0]
    assert effective["ordId"] == closing[-1]["ordId"]


def test_closing_the_position_cancels_attached_algos_and_books_realised_pnl():
    ex = make()
    cash0 = float(ex.balance_wire()["details"][0]["cashBal"])
    bid, _, _, _ = top(ex)
    ex.place_order(order(sz="2", attachAlgoOrds=[{"slTriggerPx": str(bid - 500), "tpTriggerPx": str(bid + 500)}]))
    assert len(ex.algo_orders_pending()) == 1
    ex.advance_sim_seconds(30)
    result = ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long", "clOrdId": "c1"})
    assert result == {"instId": BTC, "posSide": "long", "clOrdId": "c1", "tag": ""}
    events = ex.drain_events()
    assert private(events, "positions")[-1]["pos"] == "0"
    assert ex.algo_orders_pending() == [] and ex.positions_wire() == []
    fills = ex.fills(BTC, 10)
    booked = sum(float(f["fee"]) + float(f["fillPnl"]) for f in fills)
    assert float(ex.balance_wire()["details"][0]["cashBal"]) == pytest.approx(cash0 + booked, abs=1e-6)
    with pytest.raises(SimApiError) as err:
        ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long"})
    assert err.value.code == "51023"


def test_attached_tp_sl_show_in_orders_pending_like_okx():
    ex = make()
    ex.place_order(order(ETH, ord_type="limit", px="3000.00", sz="0.1", clOrdId="ent", attachAlgoOrds=[
        {"attachAlgoClOrdId": "Oattachedsl", "slTriggerPx": "2900", "slOrdPx": "-1"},
        {"attachAlgoClOrdId": "Oattachedtp", "tpTriggerPx": "3600", "tpOrdPx": "-1"},
    ]))
    pending = ex.orders_pending(ETH)[0]
    attached = pending["attachAlgoOrds"]
    assert [a["attachAlgoClOrdId"] for a in attached] == ["Oattachedsl", "Oattachedtp"]
    assert attached[0]["slTriggerPx"] == "2900.00" and attached[0]["slOrdPx"] == "-1"
    assert attached[0]["tpTriggerPx"] == "" and attached[1]["tpTriggerPxType"] == "last"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (order(sz="0.015"), "51121"),
        (order(sz="0.005"), "51020"),
        (order(inst_id="FOO-USDT-SWAP"), "51001"),
        (order(pos_side=""), "51000"),
        (order(ord_type="limit"), "51000"),
        (order(sz="100000"), "51008"),
        (order(side="sell", pos_side="long"), "51169"),
        (order(ord_type="limit", px="1000000.0"), "51006"),
        (order(side="sell", pos_side="short", ord_type="limit", px="1.0"), "51006"),
    ],
)
def test_rejections_carry_okx_codes(params, code):
    ex = make()
    item = ex.place_order(params)
    assert item["sCode"] == code, item
    assert item["ordId"] == ""
    assert private(ex.drain_events(), "orders") == []


def test_reduce_only_in_net_mode():
    ex = make()
    ex.set_position_mode("net_mode")
    assert ex.place_order(order(side="sell", pos_side="", reduceOnly=True))["sCode"] == "51169"
    assert ex.place_order(order(side="buy", pos_side="", sz="1"))["sCode"] == "0"
    assert ex.place_order(order(side="buy", pos_side="", reduceOnly="true"))["sCode"] == "51169"
    assert ex.place_order(order(side="sell", pos_side="", sz="3", reduceOnly=True))["sCode"] == "0"
    assert ex.positions_wire() == []  # reduce-only closed 1, never opened a short


def test_net_mode_flip_keeps_a_signed_position():
    ex = make()
    ex.set_position_mode("net_mode")
    ex.place_order(order(side="buy", pos_side="", sz="1"))
    ex.place_order(order(side="sell", pos_side="", sz="3"))
    (position,) = ex.positions_wire()
    assert position["posSide"] == "net" and position["pos"] == "-2.00"


def test_duplicate_pending_clordid_is_rejected_until_final():
    ex = make()
    bid, _, _, _ = top(ex)
    params = order(ord_type="limit", px=str(bid - 50), clOrdId="dup1")
    assert ex.place_order(params)["sCode"] == "0"
    assert ex.place_order(params)["sCode"] == "51016"
    assert ex.cancel_order({"instId": BTC, "clOrdId": "dup1"})["sCode"] == "0"
    assert ex.cancel_order({"instId": BTC, "clOrdId": "dup1"})["sCode"] == "51400"
    assert ex.place_order(params)["sCode"] == "0"


def test_amend_changes_total_size_and_price_and_fails_on_final_orders():
    ex = make()
    bid, _, _, _ = top(ex)
    ord_id = ex.place_order(order(ord_type="limit", px=str(bid - 50), sz="1"))["ordId"]
    ex.drain_events()
    result = ex.amend_order({"instId": BTC, "ordId": ord_id, "newSz": "3", "newPx": str(bid - 60), "reqId": "r1"})
    assert result["sCode"] == "0" and result["reqId"] == "r1"
    (push,) = private(ex.drain_events(), "orders")
    assert push["sz"] == "3.00" and Decimal(push["px"]) == bid - 60 and push["amendResult"] == "0"
    ex.cancel_order({"instId": BTC, "ordId": ord_id})
    assert ex.amend_order({"instId": BTC, "ordId": ord_id, "newSz": "2"})["sCode"] == "51503"


def test_get_order_unknown_raises_51603():
    ex = make()
    with pytest.raises(SimApiError) as err:
        ex.get_order(BTC, ord_id="123")
    assert err.value.code == "51603"
    with pytest.raises(SimApiError) as err:
        ex.get_order(BTC, cl_ord_id="nope")
    assert err.value.code == "51603"


def test_position_mode_change_blocked_by_positions_and_orders():
    ex = make()
    ex.place_order(order(sz="1"))
    with pytest.raises(SimApiError) as err:
        ex.set_position_mode("net_mode")
    assert err.value.code == "59000"
    ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long"})
    bid, _, _, _ = top(ex)
    ord_id = ex.place_order(order(ord_type="limit", px=str(bid - 50)))["ordId"]
    with pytest.raises(SimApiError):
        ex.set_position_mode("net_mode")
    ex.cancel_order({"instId": BTC, "ordId": ord_id})
    assert ex.set_position_mode("net_mode") == {"posMode": "net_mode"}
    assert ex.config_wire()["posMode"] == "net_mode"


def test_leverage_set_info_and_max():
    ex = make()
    assert ex.set_leverage({"instId": ETH, "lever": "25", "mgnMode": "cross"})[0]["lever"] == "25"
    info = ex.leverage_info("cross", ETH)
    assert {i["posSide"] for i in info} == {"long", "short"} and {i["lever"] for i in info} == {"25"}
    with pytest.raises(SimApiError) as err:
        ex.set_leverage({"instId": ETH, "lever": "101", "mgnMode": "cross"})
    assert err.value.code == "59102"
    with pytest.raises(SimApiError) as err:
        ex.set_leverage({"instId": ETH, "lever": "5", "mgnMode": "isolated"})
    assert err.value.code == "51000"  # posSide required for isolated in long/short mode
    ex.place_order(order(ETH, sz="1"))
    assert ex.orders_pending() == [] and ex.positions_wire(ETH)[0]["lever"] == "25"


def test_higher_leverage_lets_a_bigger_order_through_the_margin_check():
    ex = make(initial_equity=1_000.0)
    # 10 contracts * 0.01 BTC * 95k = 9.5k notional: needs > 950 USDT at 10x, ~95 at 100x
    assert ex.place_order(order(sz="12"))["sCode"] == "51008"
    ex.set_leverage({"instId": BTC, "lever": "100", "mgnMode": "cross"})
    assert ex.place_order(order(sz="12"))["sCode"] == "0"


def test_reject_next_order_hook_counts_down():
    ex = make()
    ex.reject_next_order("50013", "Systems are busy", count=2)
    assert ex.place_order(order())["sCode"] == "50013"
    assert ex.place_order(order())["sMsg"] == "Systems are busy"
    assert ex.place_order(order())["sCode"] == "0"


def test_open_position_directly_is_visible_and_closable():
    ex = make()
    item = ex.open_position_directly(ETH, "short", 3.0)
    assert item["pos"] == "3.00" and item["posSide"] == "short"
    events = ex.drain_events()
    assert private(events, "positions")[0]["instId"] == ETH and private(events, "account")
    ex.close_position({"instId": ETH, "mgnMode": "cross", "posSide": "short"})
    assert ex.positions_wire() == []


def test_standalone_conditional_sl_protects_an_orphan_position():
    ex = make()
    bid, _, _, _ = top(ex)
    ex.open_position_directly(BTC, "long", 1.0)
    item = ex.place_algo_order({"instId": BTC, "tdMode": "cross", "side": "sell", "posSide": "long",
                                "ordType": "conditional", "closeFraction": "1", "slTriggerPx": str(bid - 40),
                                "slOrdPx": "-1", "algoClOrdId": "prot1"})
    assert item["sCode"] == "0" and item["algoId"]
    assert ex.algo_orders_pending(BTC)[0]["closeFraction"] == "1"
    ex.force_regime(BTC, "trending", 3600, direction=-1)
    run_until(ex, lambda: not ex.positions_wire(BTC))
    assert ex.algo_orders_pending() == []
    assert ex.cancel_algos([{"instId": BTC, "algoId": item["algoId"]}])[0]["sCode"] == "51402"


def test_fills_are_newest_first_and_limited():
    ex = make()
    for _ in range(4):
        ex.place_order(order(sz="1"))
        ex.advance_sim_seconds(1)
    fills = ex.fills(BTC, 3)
    assert len(fills) == 3
    assert [int(f["tradeId"]) for f in fills] == sorted((int(f["tradeId"]) for f in fills), reverse=True)


def test_same_calls_same_outputs():
    def session() -> list:
        ex = make()
        out = [ex.place_order(order(sz="2", attachAlgoOrds=[{"slTriggerPx": "90000", "tpTriggerPx": "99000"}]))]
        ex.advance_sim_seconds(120)
        out.append(ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long"}))
        out.extend(e.data for e in ex.drain_events())
        out.append(ex.balance_wire())
        return out

    assert session() == session()


def test_taker_fills_print_on_the_public_tape_with_the_fill_trade_id():
    ex = make()
    ex.set_channel_interest("trades", BTC, True)
    _, _, ask, _ = top(ex)
    ex.place_order(order(sz="0.5"))
    events = ex.drain_events()
    (fill,) = [o for o in private(events, "orders") if o["fillSz"] != "0"]
    prints = [e.data for e in events if e.channel == "trades"]
    assert [(p["tradeId"], p["side"], p["sz"], Decimal(p["px"])) for p in prints] == [
        (fill["tradeId"], "buy", "0.50", ask)]
    assert Decimal(ex.ticker_wire(BTC)["last"]) == ask and ex.ticker_wire(BTC)["lastSz"] == "0.50"


def test_fills_older_than_three_days_are_not_returned():
    ex = make(tick_interval_s=60.0)
    ex.place_order(order(sz="1"))
    ex.advance_sim_seconds(2 * 86_400)
    ex.place_order(order(side="sell", sz="1"))
    assert len(ex.fills(BTC, 100)) == 2
    ex.advance_sim_seconds(1.5 * 86_400)
    (recent,) = ex.fills(BTC, 100)
    assert recent["side"] == "sell"


def test_a_trade_printing_at_a_resting_price_fills_it_partly():
    xrp = "XRP-USDT-SWAP"  # a coarse tick: the bid often holds while trades print on it
    ex = make(inst_ids=[xrp], initial_equity=10_000_000.0)
    ex.set_channel_interest("trades", xrp, True)
    ex.force_regime(xrp, "ranging", 3600)
    bid, _, _, _ = top(ex, xrp)
    ex.place_order(order(xrp, ord_type="limit", px=str(bid), sz="5000", clOrdId="touch1"))
    ex.drain_events()
    events = run_until(ex, lambda: Decimal(ex.get_order(xrp, cl_ord_id="touch1")["accFillSz"]) > 0, step_s=0.1)
    first_fill = next(o for o in private(events, "orders") if o["fillSz"] != "0")
    assert first_fill["state"] == "partially_filled" and first_fill["execType"] == "M"
    prints = [e.data for e in events if e.channel == "trades" and Decimal(e.data["px"]) == bid]
    assert prints and first_fill["fillSz"] == prints[-1]["sz"]


def test_bad_boolean_parameters_are_51000_not_crashes():
    ex = make()
    assert ex.place_order(order(reduceOnly="maybe"))["sCode"] == "51000"
    ex.place_order(order(sz="1"))
    with pytest.raises(SimApiError) as err:
        ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long", "autoCxl": "yes"})
    assert (err.value.code, err.value.http_status) == ("51000", 400)


def test_move_price_gaps_the_market_and_triggers_a_stop():
    ex = make()
    bid, _, _, _ = top(ex)
    ex.place_order(order(sz="1", attachAlgoOrds=[{"slTriggerPx": str(bid - 1000), "slOrdPx": "-1"}]))
    ex.move_price(BTC, float(bid) * 0.95)  # beyond the old price-limit band
    ex.advance_sim_seconds(3)
    assert abs(float(ex.ticker_wire(BTC)["last"]) - float(bid) * 0.95) < 50
    assert abs(float(ex.price_limit_wire(BTC)["sellLmt"]) - float(bid) * 0.95 * 0.98) < 50
    assert ex.positions_wire(BTC) == []  # the stop fired on the gap
    with pytest.raises(SimApiError):
        ex.move_price(BTC, -1.0)


def test_hooks_from_another_thread_while_the_market_advances():
    import threading

    ex = make(initial_equity=10_000_000.0)
    stop = threading.Event()
    drained: list = []

    def loop() -> None:
        while not stop.is_set():
            ex.advance_steps(5)
            drained.extend(ex.drain_events())

    runner = threading.Thread(target=loop)
    runner.start()
    try:
        for _ in range(100):
            ex.place_order(order(sz="0.1"))
            ex.close_position({"instId": BTC, "mgnMode": "cross", "posSide": "long"})
    finally:
        stop.set()
        runner.join(timeout=10)
    drained.extend(ex.drain_events())
    assert len([o for o in private(drained, "orders") if o["state"] == "filled"]) == 200
    assert ex.positions_wire() == []


def test_fok_fills_whole_or_cancels_with_source_13():
    ex = make(initial_equity=10_000_000.0)
    _, _, ask, ask_sz = top(ex)
    ex.place_order(order(ord_type="fok", px=str(ask), sz=str(ask_sz), clOrdId="fok1"))
    ex.place_order(order(ord_type="fok", px=str(ask), sz=str(ask_sz + 1), clOrdId="fok2"))
    assert ex.get_order(BTC, cl_ord_id="fok1")["state"] == "filled"
    second = ex.get_order(BTC, cl_ord_id="fok2")
    assert (second["state"], second["cancelSource"], second["accFillSz"]) == ("canceled", "13", "0")


def test_optimal_limit_ioc_takes_like_market_and_never_rests():
    ex = make()
    item = ex.place_order(order(ord_type="optimal_limit_ioc", sz="2", clOrdId="oli1"))
    assert item["sCode"] == "0"
    assert ex.get_order(BTC, cl_ord_id="oli1")["state"] == "filled" and ex.orders_pending() == []


def test_balance_figures_add_up_with_a_position_and_a_resting_order():
    ex = make()
    ex.place_order(order(sz="5"))
    ex.place_order(order(ETH, ord_type="limit", px="3000.00", sz="2"))
    ex.advance_sim_seconds(20)
    bal = ex.balance_wire()
    usdt = bal["details"][0]
    eq, cash, upl = Decimal(bal["totalEq"]), Decimal(usdt["cashBal"]), Decimal(usdt["upl"])
    imr, frozen = Decimal(usdt["imr"]), Decimal(usdt["ordFrozen"])
    assert eq == pytest.approx(cash + upl, abs=Decimal("1e-6"))
    assert Decimal(usdt["availEq"]) == pytest.approx(eq - imr - frozen, abs=Decimal("1e-6"))
    (position,) = ex.positions_wire(BTC)
    assert upl == pytest.approx(Decimal(position["upl"]), abs=Decimal("1e-6"))
    assert frozen == pytest.approx(Decimal("2") * Decimal("0.1") * Decimal("3000") / 10, abs=Decimal("1e-6"))
