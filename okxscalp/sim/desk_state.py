"""The state every part of TradingDesk (matching.py) works on, declared once: LedgerMixin
(ledger.py) and AlgoMixin (algos.py) inherit it; TradingDesk sets it up in its __init__ and
provides _flush, _accept, _execute_new, _market, _refresh_active, ord_frozen and the other
order-side helpers the mixins call."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from okxscalp.sim.account import AlgoOrder, Order, Position
from okxscalp.sim.bills import BillLedger
from okxscalp.sim.events import SimEvent
from okxscalp.sim.market import SymbolMarket


class DeskState:
    markets: dict[str, SymbolMarket]
    cash: float
    pos_mode: str
    positions: dict[tuple[str, str], Position]
    leverage: dict[tuple[str, str, str], float]
    open_orders: dict[str, list[Order]]
    algos: dict[str, list[AlgoOrder]]
    algo_by_id: dict[str, AlgoOrder]
    active_insts: set[str]
    bills: BillLedger
    orders: dict[str, Order]
    _fills: deque[tuple[int, str, dict]]
    _algo_seq: int
    _pos_seq: int
    _bill_seq: int
    _touched_positions: dict[tuple[str, str], Position]
    _balance_dirty: bool
    _now: Callable[[], int]
    _emit: Callable[[SimEvent], None]
