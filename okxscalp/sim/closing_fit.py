"""Which pending closing orders a position still covers (pure).

OKX fits an account's closing orders to its position instead of refusing them: "When placing limit
orders, market orders, and advanced limit orders to close a position, there will be no verification
for the remaining amount ... If the total of all closing position amounts exceeds the amount of open
positions, orders will be sorted by price. The system will automatically cancel or modify the less
favorable orders (those filled later) so that the final total of all closing position amounts equals
the amount of the pending positions." (OKX announcement "OKX to upgrade the position-closing feature
for futures and perpetual contracts", 19 June 2023, okx.com/help/okx-to-upgrade-the-position-closing-
feature-for-futures-and-perpetual; hedge mode: every closing order there is reduce-only). The orders channel documents the outcome for reduce-only orders generally (docs
websocket-private-order-channel, `amendSource`): "4: Order quantity amended by system due to
reduce-only, including a new order placed by the user whose quantity is overriden by the system,
and an existing pending order amended by the system due to other pending orders"; an order left
with nothing is canceled, `cancelSource` "22": "Reduce-only orders only allow reducing your current
position. System has already canceled this order."
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

AMEND_SOURCE_USER_OVERRIDDEN = "2"  # the user's amend, its size then cut by reduce-only
AMEND_SOURCE_REDUCE_ONLY = "4"
CANCEL_SOURCE_REDUCE_ONLY = "22"
MSG_REDUCE_ONLY_CANCELED = ("Order canceled: Reduce-only orders only allow reducing your current position. "
                            "System has already canceled this order.")


class ClosingOrder(Protocol):
    ord_id: str
    side: str
    px: float  # 0.0: a market order
    sz: float
    acc_fill_sz: float


def fill_priority(order: ClosingOrder) -> tuple[int, float, int]:
    """Sort key: the order that would fill first comes first (market, then the better price: a
    lower sell, a higher buy; then the older)."""
    by_price = order.px if order.side == "sell" else -order.px
    return (0 if order.px == 0 else 1, by_price, int(order.ord_id or 0))


def over_position(orders: Iterable[ClosingOrder], covered: float, lot: float) -> Sequence[tuple[ClosingOrder, float]]:
    """(order, its new remaining size) for every order of one side the position no longer fully
    covers, `covered` being the contracts that side can close; 0.0 means cancel it."""
    out: list[tuple[ClosingOrder, float]] = []
    budget = max(0.0, covered)
    for order in sorted(orders, key=fill_priority):
        remaining = order.sz - order.acc_fill_sz
        if remaining <= budget + lot * 1e-6:
            budget -= remaining
            continue
        allotted = int(budget / lot + 1e-9) * lot
        budget = 0.0
        out.append((order, allotted))
    return out
