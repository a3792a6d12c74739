"""Finished orders of the simulated account, for GET /trade/orders-history and -archive.

OKX docs, order-book-trading-trade-get-order-history-last-7-days: "Get completed orders which are
placed in the last 7 days, including those placed 7 days ago but completed in the last 7 days",
sorted by creation time, newest first; "The incomplete orders that have been canceled are only
reserved for 2 hours". ...-last-3-months (orders-history-archive): the same over 3 months, but it
"does not contain the order data of the `Canceled orders without any fills` type". Filters on both:
instType (required), instFamily, instId, ordType, state, category, after/before (ordId), begin/end
(cTime), limit (max 100, default 100).

The store is bounded (the newest `max_kept` finished orders) and holds the desk's own `Order`
records: a finished order no longer changes, so its wire form is built when asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from okxscalp.okx.constants import ORDER_STATES_FINAL
from okxscalp.sim.account import Order
from okxscalp.sim.query_params import id_param, limit_param, param_error, selected_inst_ids, wants_swaps

DAY_MS = 86_400_000
HISTORY_KEPT_MS = 7 * DAY_MS  # orders-history: completed in the last 7 days
ARCHIVE_KEPT_MS = 90 * DAY_MS  # orders-history-archive: the last 3 months
CANCELED_UNFILLED_KEPT_MS = 2 * 3_600_000  # orders-history: "only reserved for 2 hours"
HISTORY_LIMIT_MAX = 100  # "The maximum is 100; The default is 100"
MAX_ORDERS_KEPT = 20_000
# `category` values a request may filter on (docs, request parameters); `normal`, what most orders
# are, is not one of them.
HISTORY_CATEGORIES = frozenset({"twap", "adl", "full_liquidation", "partial_liquidation", "delivery", "ddh"})
# The documented response parameters of both endpoints that apply to SWAP (the order object minus
# what only the `orders` push and GET /trade/order carry: fillFee, fillPnl, amendResult, reqId, ...).
HISTORY_FIELDS = (
    "instType", "instId", "tgtCcy", "ccy", "ordId", "clOrdId", "tag", "px", "pxUsd", "pxVol", "pxType", "sz",
    "ordType", "side", "posSide", "tdMode", "accFillSz", "fillPx", "tradeId", "fillSz", "fillTime", "avgPx",
    "state", "lever", "attachAlgoClOrdId", "tpTriggerPx", "tpTriggerPxType", "tpOrdPx", "slTriggerPx",
    "slTriggerPxType", "slOrdPx", "attachAlgoOrds", "linkedAlgoOrd", "stpId", "stpMode", "feeCcy", "fee",
    "rebateCcy", "rebate", "source", "pnl", "category", "reduceOnly", "cancelSource", "cancelSourceReason",
    "algoClOrdId", "algoId", "isTpLimit", "uTime", "cTime", "quickMgnType",
)

_Item = TypeVar("_Item")


def history_item(order_wire: dict[str, Any]) -> dict[str, Any]:
    """An orders-history data item from the full order object (GET /trade/order's)."""
    return {name: order_wire[name] for name in HISTORY_FIELDS}


def paginate(newest_first: Sequence[_Item], id_of: Callable[[_Item], int], *, after: int | None,
             before: int | None, limit: int) -> list[_Item]:
    """OKX's id cursors over records sorted newest first: `after` keeps records older than that id,
    `before` newer ones. `before` alone pages toward newer records: the `limit` just newer than the
    cursor, still newest first (what a forward crawl needs to miss nothing)."""
    found = [r for r in newest_first
             if (after is None or id_of(r) < after) and (before is None or id_of(r) > before)]
    if before is not None and after is None:
        return found[-limit:]
    return found[:limit]


@dataclass(frozen=True, slots=True)
class OrderHistoryQuery:
    """The documented filters, already validated. `inst_ids` None = every instrument (instId and
    instFamily resolve to a set of instrument ids, possibly empty)."""

    inst_ids: frozenset[str] | None = None
    ord_types: frozenset[str] | None = None
    state: str | None = None
    category: str | None = None
    after: int | None = None  # ordId: records older than this
    before: int | None = None  # ordId: records newer than this
    begin_ms: int | None = None  # cTime bounds, inclusive
    end_ms: int | None = None
    limit: int = HISTORY_LIMIT_MAX

    def matches(self, order: Order) -> bool:
        return (
            (self.inst_ids is None or order.inst_id in self.inst_ids)
            and (self.ord_types is None or order.ord_type in self.ord_types)
            and (self.state is None or order.state == self.state)
            and (self.category is None or order.category == self.category)
            and (self.begin_ms is None or order.c_time >= self.begin_ms)
            and (self.end_ms is None or order.c_time <= self.end_ms)
        )


def history_query(params: Mapping[str, Any], families: Mapping[str, str]) -> OrderHistoryQuery | None:
    """The request's filters; None when its instType has no simulated orders (answer [])."""
    if not wants_swaps(params, required=True):
        return None
    state = params.get("state")
    if state is not None and state not in ORDER_STATES_FINAL:
        raise param_error("state")
    category = params.get("category")
    if category is not None and category not in HISTORY_CATEGORIES:
        raise param_error("category")
    ord_type = params.get("ordType")
    return OrderHistoryQuery(
        inst_ids=selected_inst_ids(params, families),
        ord_types=None if ord_type is None else frozenset(str(ord_type).split(",")),
        state=state, category=category, after=id_param(params, "after"), before=id_param(params, "before"),
        begin_ms=id_param(params, "begin"), end_ms=id_param(params, "end"),
        limit=limit_param(params, HISTORY_LIMIT_MAX),
    )


class OrderHistory:
    """The account's finished orders (filled, canceled), newest `max_kept` of them."""

    def __init__(self, max_kept: int = MAX_ORDERS_KEPT) -> None:
        self._orders: deque[Order] = deque(maxlen=max_kept)

    def __len__(self) -> int:
        return len(self._orders)

    def record(self, order: Order) -> None:
        """An order just reached a final state (TradingDesk._finish)."""
        if order.state in ORDER_STATES_FINAL:
            self._orders.append(order)

    def replace(self, orders: Iterable[Order]) -> None:
        """Take over restored orders (the desk's final orders, in the order they finished)."""
        self._orders.clear()
        for order in orders:
            self.record(order)

    def select(self, query: OrderHistoryQuery, *, now_ms: int, archive: bool) -> list[Order]:
        """Newest first (by creation, i.e. ordId): the orders the 7-day (`archive`: 3-month)
        endpoint lists for `query`, at most `query.limit`."""
        horizon = now_ms - (ARCHIVE_KEPT_MS if archive else HISTORY_KEPT_MS)
        unfilled_horizon = now_ms - CANCELED_UNFILLED_KEPT_MS
        kept = []
        for order in self._orders:
            if order.u_time < horizon or not query.matches(order):
                continue
            if order.acc_fill_sz == 0 and order.state != "filled":
                if archive or order.u_time < unfilled_horizon:
                    continue
            kept.append(order)
        kept.sort(key=lambda o: int(o.ord_id), reverse=True)
        return paginate(kept, lambda o: int(o.ord_id), after=query.after, before=query.before, limit=query.limit)
