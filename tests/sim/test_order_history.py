"""order_history.py and query_params.py as pure functions: the windows OKX documents for finished
orders (7 days; canceled-unfilled 2 hours; the 3-month archive without them), filters, id cursors."""

from __future__ import annotations

import pytest

from okxscalp.okx.constants import CODE_PARAM_ERROR
from okxscalp.sim.account import Order
from okxscalp.sim.events import SimApiError
from okxscalp.sim.order_history import (
    ARCHIVE_KEPT_MS,
    CANCELED_UNFILLED_KEPT_MS,
    HISTORY_KEPT_MS,
    OrderHistory,
    OrderHistoryQuery,
    history_query,
    paginate,
)
from okxscalp.sim.query_params import limit_param, selected_inst_ids, wants_swaps

FAMILIES = {"BTC-USDT-SWAP": "BTC-USDT", "ETH-USDT-SWAP": "ETH-USDT"}
NOW = 1_800_000_000_000


def finished(ord_id: int, state: str, filled: float, done_ms: int, inst_id: str = "BTC-USDT-SWAP",
             ord_type: str = "limit") -> Order:
    order = Order(ord_id=str(ord_id), cl_ord_id="", tag="", inst_id=inst_id, side="buy", pos_side="long",
                  ord_type=ord_type, td_mode="cross", px=1.0, px_str="1.0", sz=1.0, reduce_only=False,
                  lever="10", c_time=done_ms - 1000)
    order.state, order.acc_fill_sz, order.u_time = state, filled, done_ms
    return order


def ids(orders: list[Order]) -> list[str]:
    return [o.ord_id for o in orders]


def test_paginate_after_before_and_limit_over_newest_first() -> None:
    rows = [9, 8, 7, 6, 5]
    assert paginate(rows, int, after=None, before=None, limit=2) == [9, 8]
    assert paginate(rows, int, after=8, before=None, limit=2) == [7, 6]
    assert paginate(rows, int, after=None, before=6, limit=2) == [8, 7]  # the ones just newer
    assert paginate(rows, int, after=9, before=5, limit=10) == [8, 7, 6]


def test_windows_seven_days_two_hours_for_canceled_unfilled_and_the_archive() -> None:
    history = OrderHistory()
    history.record(finished(1, "filled", 1.0, NOW - HISTORY_KEPT_MS - 1))  # finished 7 days + 1 ms ago
    history.record(finished(2, "filled", 1.0, NOW - HISTORY_KEPT_MS + 1))
    history.record(finished(3, "canceled", 0.0, NOW - CANCELED_UNFILLED_KEPT_MS - 1))
    history.record(finished(4, "canceled", 0.0, NOW - 1))
    history.record(finished(5, "canceled", 0.5, NOW - CANCELED_UNFILLED_KEPT_MS - 1))  # partly filled: kept
    history.record(finished(6, "live", 0.0, NOW))  # not final: never recorded
    everything = OrderHistoryQuery()
    assert ids(history.select(everything, now_ms=NOW, archive=False)) == ["5", "4", "2"]
    assert ids(history.select(everything, now_ms=NOW, archive=True)) == ["5", "2", "1"]
    assert ids(history.select(everything, now_ms=NOW + ARCHIVE_KEPT_MS, archive=True)) == []


def test_store_is_bounded_and_sorted_by_creation() -> None:
    history = OrderHistory(max_kept=3)
    for ord_id in (5, 1, 4, 2):  # finished in another order than created
        history.record(finished(ord_id, "filled", 1.0, NOW))
    assert len(history) == 3
    assert ids(history.select(OrderHistoryQuery(), now_ms=NOW, archive=False)) == ["4", "2", "1"]


def test_query_from_params_filters_and_validates() -> None:
    query = history_query({"instType": "SWAP", "instFamily": "ETH-USDT", "ordType": "market,ioc",
                           "state": "filled", "after": "10", "limit": "500"}, FAMILIES)
    assert query == OrderHistoryQuery(inst_ids=frozenset({"ETH-USDT-SWAP"}), ord_types=frozenset({"market", "ioc"}),
                                      state="filled", after=10, limit=100)
    assert history_query({"instType": "FUTURES"}, FAMILIES) is None  # a documented type, no simulated orders
    history = OrderHistory()
    history.record(finished(1, "filled", 1.0, NOW))
    liquidation = finished(2, "filled", 1.0, NOW)
    liquidation.category = "full_liquidation"
    history.record(liquidation)
    by_category = history_query({"instType": "SWAP", "category": "full_liquidation"}, FAMILIES)
    assert by_category is not None and ids(history.select(by_category, now_ms=NOW, archive=False)) == ["2"]
    adl = history_query({"instType": "SWAP", "category": "adl"}, FAMILIES)
    assert adl is not None and history.select(adl, now_ms=NOW, archive=False) == []
    for bad in ({}, {"instType": "PERP"}, {"instType": "SWAP", "state": "live"},
                {"instType": "SWAP", "category": "normal"}, {"instType": "SWAP", "before": "-1"},
                {"instType": "SWAP", "begin": "soon"}, {"instType": "SWAP", "limit": "0"}):
        with pytest.raises(SimApiError) as refused:
            history_query(bad, FAMILIES)
        assert refused.value.code == CODE_PARAM_ERROR and refused.value.http_status == 400


def test_shared_params() -> None:
    assert wants_swaps({}, required=False) and not wants_swaps({"instType": "SPOT"}, required=True)
    assert selected_inst_ids({}, FAMILIES) is None
    assert selected_inst_ids({"uly": "BTC-USDT"}, FAMILIES) == frozenset({"BTC-USDT-SWAP"})
    assert selected_inst_ids({"instId": "BTC-USDT-SWAP", "instFamily": "ETH-USDT"}, FAMILIES) == frozenset()
    assert limit_param({}, 100) == 100 and limit_param({"limit": "7"}, 100) == 7
