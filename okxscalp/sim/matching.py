"""Order handling of the simulated account: acceptance, matching against the synthetic book (taker
sweeps, maker fills when the market trades through), cancel/amend/close, fills history.
Positions and balance live in `ledger.py`, TP/SL algos in `algos.py`; this class ties them together.

Validation follows OKX (reference sections 6 and 7): per-order problems come back as the item's
`sCode`/`sMsg` (the server wraps them as code "1"), request-level problems raise SimApiError.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from okxscalp.okx import constants as k
from okxscalp.sim.account import (
    FILLS_HISTORY_KEPT_MS,
    FILLS_KEPT_MS,
    MAKER_FEE_RATE,
    TAKER_FEE_RATE,
    AlgoOrder,
    Fill,
    Order,
    Position,
    fill_wire,
)
from okxscalp.sim.algos import AlgoMixin
from okxscalp.sim.balance_position import BALANCE_AND_POSITION, balance_and_position_item, bp_position_item
from okxscalp.sim.bills import BillLedger, trade_sub_type
from okxscalp.sim.closing_fit import (
    AMEND_SOURCE_REDUCE_ONLY,
    AMEND_SOURCE_USER_OVERRIDDEN,
    CANCEL_SOURCE_REDUCE_ONLY,
    MSG_REDUCE_ONLY_CANCELED,
    over_position,
)
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.ledger import LedgerMixin
from okxscalp.sim.market import SymbolMarket
from okxscalp.sim.order_history import OrderHistory
from okxscalp.sim.rules import (
    CODE_POSITION_NOT_EXIST,
    LONG_SHORT,
    MSG_AMEND_FAILED,
    MSG_CANCEL_FAILED,
    MSG_FOK,
    MSG_IOC,
    MSG_MARGIN,
    MSG_NO_POSITION,
    MSG_PLACED,
    MSG_POST_ONLY,
    MSG_PX_LIMIT,
    NET,
    ORD_ID_BASE,
    ORDER_TYPES,
    PRICED_TYPES,
    OrderProblem,
    normalized,
    on_grid,
    parse_flag,
    parse_number,
)
from okxscalp.sim.wire import fmt_fixed, fmt_num

_MAX_SWEEP_LEVELS = 5000
_MAX_FINAL_ORDERS = 20_000
_MAX_FILLS = 20_000
_RESTING_TYPES = frozenset({"limit", "post_only"})  # the order types that can rest in the book


class TradingDesk(LedgerMixin, AlgoMixin):
    """One account (uid): orders, positions, algos, balance; driven by SimExchange."""

    def __init__(self, markets: dict[str, SymbolMarket], initial_equity: float,
                 now_ms: Callable[[], int], emit: Callable[[SimEvent], None]) -> None:
        self.markets = markets
        self.cash = float(initial_equity)
        self.pos_mode = LONG_SHORT
        self._now = now_ms
        self._emit = emit
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[str, list[Order]] = {}  # inst_id -> live orders, oldest first
        self._final_order_ids: deque[str] = deque()
        self.order_history = OrderHistory()  # GET /trade/orders-history(-archive)
        self.positions: dict[tuple[str, str], Position] = {}
        self.algos: dict[str, list[AlgoOrder]] = {}  # inst_id -> active algos
        self.algo_by_id: dict[str, AlgoOrder] = {}
        self._fills: deque[tuple[int, str, dict]] = deque(maxlen=_MAX_FILLS)  # (ts, inst_id, wire)
        self.leverage: dict[tuple[str, str, str], float] = {}
        self.active_insts: set[str] = set()  # instruments with open orders or active algos
        self._seq = 0
        self._algo_seq = 0
        self._bill_seq = 0
        self._pos_seq = 0
        self.bills = BillLedger(self._next_bill_id)
        self._rejections: deque[tuple[str, str]] = deque()
        # Per command/step: what to push once at the end.
        self._touched_positions: dict[tuple[str, str], Position] = {}
        self._balance_dirty = False
        # Instruments whose orders changed: their book is redrawn at _flush, in this (insertion) order —
        # a set of strings would order the book pushes by PYTHONHASHSEED, differently in every process.
        self._book_dirty: dict[str, None] = {}

    # ------------------------------------------------------------------ ids and helpers

    def _next_bill_id(self) -> str:
        self._bill_seq += 1
        return str(self._bill_seq)

    def _next_ord_id(self) -> str:
        self._seq += 1
        return str(ORD_ID_BASE + self._seq)

    def _market(self, inst_id: object) -> SymbolMarket:
        market = self.markets.get(str(inst_id)) if inst_id else None
        if market is None:
            raise OrderProblem(k.CODE_INST_NOT_FOUND, "Instrument ID, Instrument ID code, or Spread ID doesn't exist.")
        return market

    # ------------------------------------------------------------------ balance

    def ord_frozen(self) -> float:
        total = 0.0
        for inst_id, orders in self.open_orders.items():
            market = self.markets[inst_id]
            for order in orders:
                if not self._is_closing(order):
                    px = order.px or market.mid
                    total += order.remaining * market.ct_val * px / float(order.lever)
        return total

    # ------------------------------------------------------------------ wire views

    def order_wire(self, order: Order, fill: Fill | None = None) -> dict:
        market = self.markets[order.inst_id]
        return order.wire(market.px_dec, market.sz_dec, market.ct_val, fill)

    def orders_pending(self, inst_id: str | None) -> list[dict]:
        out = []
        for i, orders in self.open_orders.items():
            if not inst_id or i == inst_id:
                out.extend(orders)
        out.sort(key=lambda o: int(o.ord_id), reverse=True)
        return [self.order_wire(o, o.last_fill) for o in out]

    def fills(
        self, inst_id: str | None, limit: int, *, ord_id: str | None = None, begin_ms: int | None = None,
        end_ms: int | None = None, history: bool = False,
    ) -> list[dict]:
        """Newest first: the last 3 days (`history`: 3 months), of one instrument and/or one order,
        with `begin_ms <= ts <= end_ms` when given."""
        oldest = self._now() - (FILLS_HISTORY_KEPT_MS if history else FILLS_KEPT_MS)
        if begin_ms is not None:
            oldest = max(oldest, begin_ms)
        out = []
        for ts, i, item in reversed(self._fills):
            if ts < oldest or len(out) >= limit:
                break
            if end_ms is not None and ts > end_ms:
                continue
            if (not inst_id or i == inst_id) and (not ord_id or item["ordId"] == ord_id):
                out.append(item)
        return out

    def find_order(self, inst_id: str, ord_id: str | None, cl_ord_id: str | None) -> Order | None:
        if ord_id:
            order = self.orders.get(ord_id)
            return order if order is not None and order.inst_id == inst_id else None
        if cl_ord_id:
            for order in self.open_orders.get(inst_id, ()):  # a pending one wins
                if order.cl_ord_id == cl_ord_id:
                    return order
            for order in reversed(self.orders.values()):
                if order.inst_id == inst_id and order.cl_ord_id == cl_ord_id:
                    return order
        return None

    # ------------------------------------------------------------------ hooks

    def reject_next(self, code: str, msg: str, count: int) -> None:
        for _ in range(max(0, count)):
            self._rejections.append((code, msg))

    def _flush(self) -> None:
        """Show changed resting orders in the book, push positions touched by this command/step,
        then the account once if it changed."""
        if self._book_dirty:
            self._show_resting()
        for position in self._touched_positions.values():
            self._emit(SimEvent("positions", position.inst_id, self.position_wire(position)))
            if not position.size:
                self.positions.pop((position.inst_id, position.pos_side), None)
        self._touched_positions.clear()
        if self._balance_dirty:
            self._balance_dirty = False
            self._emit(SimEvent("account", None, self.balance_wire()))

    def _push_order(self, order: Order, fill: Fill | None = None) -> None:
        self._emit(SimEvent("orders", order.inst_id, self.order_wire(order, fill)))
        self._book_dirty[order.inst_id] = None

    def show_resting_orders(self) -> None:
        """Redraw every instrument's resting orders in the book (after the account is restored)."""
        self._book_dirty.update(dict.fromkeys(self.markets))
        self._show_resting()

    def _show_resting(self) -> None:
        """The account's resting limit orders are in the public book at their price levels
        (SymbolMarket.set_own_orders): added when they rest, resized by fills and amends, gone
        when filled or canceled."""
        for inst_id in self._book_dirty:
            market = self.markets[inst_id]
            levels: dict[int, tuple[float, int]] = {}
            for order in self.open_orders.get(inst_id, ()):
                if order.ord_type in _RESTING_TYPES and order.is_open and order.remaining > 0:
                    ticks = round(order.px / market.tick)
                    size, count = levels.get(ticks, (0.0, 0))
                    levels[ticks] = (size + order.remaining, count + 1)
            market.set_own_orders(levels)
        self._book_dirty.clear()

    # ------------------------------------------------------------------ settings

    def _has_open_orders(self) -> bool:
        return any(self.open_orders.values()) or any(self.algos.values())

    # ------------------------------------------------------------------ place

    def place_order(self, params: dict) -> dict:
        if not isinstance(params, dict):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON object")
        cl_ord_id = params.get("clOrdId") if isinstance(params.get("clOrdId"), str) else ""
        tag = params.get("tag") if isinstance(params.get("tag"), str) else ""
        now = self._now()
        if self._rejections:
            code, msg = self._rejections.popleft()
            return self._item("", cl_ord_id, tag, now, code, msg)
        try:
            order, attach = self._validate(normalized(params), now)
        except OrderProblem as problem:
            return self._item("", cl_ord_id, tag, now, problem.code, problem.msg)
        order.attach = attach
        self._accept(order)
        self._execute_new(order)
        self._flush()
        return self._item(order.ord_id, order.cl_ord_id, order.tag, now, "0", MSG_PLACED)

    @staticmethod
    def _item(ord_id: str, cl_ord_id: str, tag: str, ts: int, code: str, msg: str) -> dict:
        return {"ordId": ord_id, "clOrdId": cl_ord_id, "tag": tag, "ts": str(ts), "sCode": code, "sMsg": msg,
                "subCode": ""}

    def _validate(self, params: dict, now: int) -> tuple[Order, list[AlgoOrder]]:
        market = self._market(params.get("instId"))
        spec = market.spec
        inst_id = market.inst_id
        side = params.get("side")
        if side not in ("buy", "sell"):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter side error")
        ord_type = params.get("ordType")
        if ord_type not in ORDER_TYPES:
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter ordType error")
        td_mode = params.get("tdMode")
        if td_mode not in ("cross", "isolated"):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter tdMode error")
        pos_side = str(params.get("posSide") or "")
        if self.pos_mode == LONG_SHORT:
            if pos_side not in ("long", "short"):
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter posSide error")
        elif pos_side not in ("", "net"):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter posSide error")
        else:
            pos_side = "net"
        cl_ord_id = str(params.get("clOrdId") or "")
        if cl_ord_id and (len(cl_ord_id) > 32 or not cl_ord_id.isalnum()):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter clOrdId error")
        tag = str(params.get("tag") or "")
        if len(tag) > 16:
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter tag error")
        sz_num = parse_number(params, "sz")
        assert sz_num is not None
        sz, sz_text = sz_num
        if sz <= 0:
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter sz error")
        if sz < float(spec.min_sz) - 1e-12:
            raise OrderProblem(k.CODE_BELOW_MIN_SIZE, f"Order amount should be greater than the min available "
                               f"amount {spec.min_sz}")
        if not on_grid(sz_text, spec.lot_sz):
            raise OrderProblem(k.CODE_LOT_SIZE, f"Order quantity must be a multiple of the lot size {spec.lot_sz}")
        px, px_str = 0.0, ""
        if ord_type in PRICED_TYPES:
            px_num = parse_number(params, "px")
            assert px_num is not None
            px, px_str = px_num
            if px <= 0 or not on_grid(px_str, spec.tick_sz):
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter px error")
            px_str = fmt_fixed(px, market.px_dec)
            buy_lmt, sell_lmt = market.price_limits()
            if side == "buy" and px > buy_lmt + 1e-12:
                raise OrderProblem(k.CODE_PRICE_LIMIT, f"Order price is not within the price limit (max buy price: "
                                   f"{market.buy_lmt})")
            if side == "sell" and px < sell_lmt - 1e-12:
                raise OrderProblem(k.CODE_PRICE_LIMIT, f"Order price is not within the price limit (min sell price: "
                                   f"{market.sell_lmt})")
        if cl_ord_id and any(o.cl_ord_id == cl_ord_id for orders in self.open_orders.values() for o in orders):
            raise OrderProblem(k.CODE_DUPLICATE_CLORDID, "Duplicated client order ID")
        reduce_only = parse_flag(params, "reduceOnly")
        lever = self.lever_of(inst_id, td_mode, pos_side)
        order = Order(
            ord_id="", cl_ord_id=cl_ord_id, tag=tag, inst_id=inst_id, side=side, pos_side=pos_side,
            ord_type=ord_type, td_mode=td_mode, px=px, px_str=px_str, sz=sz, reduce_only=reduce_only,
            lever=fmt_num(lever), c_time=now,
        )
        closable = self.closable(inst_id, side, pos_side)
        if self._is_closing(order):
            if closable <= 0:
                raise OrderProblem(k.CODE_REDUCE_ONLY_NO_POSITION, MSG_NO_POSITION)
            open_qty = 0.0
        else:
            open_qty = max(0.0, sz - closable)
        ref_px = px if px else (market.ask_px if side == "buy" else market.bid_px)
        if ord_type in ("limit", "ioc", "fok") and side == "buy":
            ref_px = max(ref_px, market.ask_px) if px >= market.ask_px else px
        needed = open_qty * market.ct_val * ref_px / lever + sz * market.ct_val * ref_px * TAKER_FEE_RATE
        if open_qty and needed > self.avail_eq():
            raise OrderProblem(k.CODE_INSUFFICIENT_MARGIN, MSG_MARGIN)
        attach = self._parse_attach(params.get("attachAlgoOrds"), inst_id, td_mode, now)
        return order, attach

    def _accept(self, order: Order) -> None:
        order.ord_id = self._next_ord_id()
        self.orders[order.ord_id] = order
        self.open_orders.setdefault(order.inst_id, []).append(order)
        self.active_insts.add(order.inst_id)
        self._balance_dirty = True  # margin gets frozen
        if self._is_closing(order):
            self._fit_closing(order.inst_id, order.pos_side, new=order)

    def _fit_closing(self, inst_id: str, pos_side: str, *, new: Order | None = None,
                     amended: Order | None = None) -> None:
        """Keep the pending closing orders of one position within it: OKX cuts (amendSource 4) or
        cancels (cancelSource 22) the less favorable ones instead of refusing an order
        (closing_fit.py cites the rule). `new` (being placed) and `amended` (the user's amend being
        applied) are pushed by their caller."""
        orders = [o for o in self.open_orders.get(inst_id, ()) if o.pos_side == pos_side and self._is_closing(o)]
        if not orders:
            return
        lot = self.markets[inst_id].lot
        for side in ("buy", "sell"):
            same = [o for o in orders if o.side == side]
            if not same:
                continue
            for order, allotted in over_position(same, self.closable(inst_id, side, pos_side), lot):
                if allotted <= 0:
                    self._finish(order, "canceled", CANCEL_SOURCE_REDUCE_ONLY, MSG_REDUCE_ONLY_CANCELED)
                else:
                    order.sz = round(order.acc_fill_sz + allotted, 10)
                    order.amend_source = (AMEND_SOURCE_USER_OVERRIDDEN if order is amended
                                          else AMEND_SOURCE_REDUCE_ONLY)
                    order.u_time = self._now()
                    self._balance_dirty = True
                if order is not new and order is not amended:
                    self._push_order(order)

    def _finish(self, order: Order, state: str, source: str = "", reason: str = "") -> None:
        """Move an order to a final state and out of the open lists."""
        order.state = state
        order.cancel_source = source
        order.cancel_source_reason = reason
        order.u_time = self._now()
        orders = self.open_orders.get(order.inst_id)
        if orders and order in orders:
            orders.remove(order)
        self._balance_dirty = True
        self._final_order_ids.append(order.ord_id)
        self.order_history.record(order)
        if len(self._final_order_ids) > _MAX_FINAL_ORDERS:
            self.orders.pop(self._final_order_ids.popleft(), None)
        self._refresh_active(order.inst_id)
        if state == "canceled" and order.acc_fill_sz == 0:
            order.attach.clear()

    def _refresh_active(self, inst_id: str) -> None:
        if self.open_orders.get(inst_id) or self.algos.get(inst_id):
            self.active_insts.add(inst_id)
        else:
            self.active_insts.discard(inst_id)

    # ------------------------------------------------------------------ execution

    def _execute_new(self, order: Order) -> None:
        if not order.is_open:  # canceled on acceptance: the position is covered by better closing orders
            self._push_order(order)
            return
        market = self.markets[order.inst_id]
        buy = order.side == "buy"
        crosses = order.ord_type in ("market", "optimal_limit_ioc") or (
            order.px >= market.ask_px - 1e-12 if buy else order.px <= market.bid_px + 1e-12)
        if order.ord_type == "post_only" and crosses:
            self._finish(order, "canceled", k.CANCEL_SOURCE_POST_ONLY, MSG_POST_ONLY)
            self._push_order(order)
            return
        if not crosses:
            self._push_order(order)  # resting: first push is `live`
            return
        if order.ord_type == "fok" and self._fillable(order, market) + 1e-12 < order.sz:
            self._finish(order, "canceled", "13", MSG_FOK)
            self._push_order(order)
            return
        self._take(order, market)
        if order.is_open and order.ord_type in ("market", "ioc", "fok", "optimal_limit_ioc"):
            source = "15" if order.ord_type == "market" else k.CANCEL_SOURCE_IOC_REMAINDER
            self._finish(order, "canceled", source, MSG_PX_LIMIT if source == "15" else MSG_IOC)
            self._push_order(order)

    def _sweep_bound(self, order: Order, market: SymbolMarket) -> float:
        buy_lmt, sell_lmt = market.price_limits()
        if order.side == "buy":
            return min(order.px, buy_lmt) if order.px else buy_lmt
        return max(order.px, sell_lmt) if order.px else sell_lmt

    def _levels(self, order: Order, market: SymbolMarket):
        """(price, size) of the opposite book from the best level up to the order's bound."""
        bound = self._sweep_bound(order, market)
        tick = market.tick
        if order.side == "buy":
            start, direction = market.ask, 1
        else:
            start, direction = market.bid, -1
        for i in range(_MAX_SWEEP_LEVELS):
            ticks = start + direction * i
            px = ticks * tick
            if ticks <= 0 or (px > bound + 1e-9 if direction > 0 else px < bound - 1e-9):
                return
            yield px, market.book.size(ticks, market.epoch)

    def _fillable(self, order: Order, market: SymbolMarket) -> float:
        total = 0.0
        for _, size in self._levels(order, market):
            total += size
            if total >= order.remaining:
                break
        return total

    def _take(self, order: Order, market: SymbolMarket) -> None:
        """Fill as taker level by level (one push per level, like one match per price)."""
        lot = market.lot
        for px, size in self._levels(order, market):
            want = order.remaining
            if want <= 1e-12:
                break
            qty = round(min(want, size) / lot) * lot
            if not self._fill(order, market, px, qty, "T"):
                break

    def _fill(self, order: Order, market: SymbolMarket, px: float, qty: float, exec_type: str) -> bool:
        """Apply one fill; False if the order could not fill (reduce-only with nothing to close)."""
        if self._is_closing(order):
            qty = min(qty, self.closable(order.inst_id, order.side, order.pos_side))
            if qty <= 1e-12:
                self._finish(order, "canceled", "0", "reduce-only order has no position left to close")
                self._push_order(order)
                return False
        now = self._now()
        rate = TAKER_FEE_RATE if exec_type == "T" else MAKER_FEE_RATE
        fee = -px * qty * market.ct_val * rate
        # Our taker fills print on the public tape (and move `last`); maker fills happen because
        # the tape already traded through us, so they only take a trade id.
        trade_id = market.print_trade(px, qty, order.side, now) if exec_type == "T" else market.next_trade_id()
        held = self.positions.get(self._pos_key(order.inst_id, order.pos_side))
        held_before = held.size if held is not None else 0.0
        pnl, position = self._apply_position(order, market, px, qty, fee, now, trade_id)
        fill = Fill(px, qty, now, trade_id, self._next_bill_id(), exec_type, fee, pnl, rate, market.mark_str,
                    market.index_str)
        self.cash += fee + pnl
        self.bills.add(
            inst_id=order.inst_id, type_=k.BILL_TYPE_TRADE, sub_type=trade_sub_type(order.side, order.pos_side),
            bal_chg=fee + pnl, bal=self.cash, pnl=pnl, fee=fee, sz=qty, px=px, ts_ms=now, ord_id=order.ord_id,
            cl_ord_id=order.cl_ord_id, trade_id=trade_id, exec_type=exec_type, mgn_mode=order.td_mode,
            tag=order.tag, fill_mark_px=market.mark_str, fill_idx_px=market.index_str, bill_id=fill.bill_id,
        )
        order.acc_fill_sz = round(order.acc_fill_sz + qty, 10)
        order.notional_sum += px * qty
        order.fee += fee
        order.pnl += pnl
        order.last_fill = fill
        order.u_time = now
        self._balance_dirty = True
        if order.acc_fill_sz >= order.sz - 1e-12:
            self._finish(order, "filled")
        else:
            order.state = "partially_filled"
        self._fills.append((now, order.inst_id, fill_wire(order, fill, market.px_dec, market.sz_dec)))
        self._push_order(order, fill)
        # docs websocket-balance-and-position-channel: a fill pushes the cash balance and the position
        # it changed (eventType filled) with the trade behind them.
        self._emit(SimEvent(BALANCE_AND_POSITION, None, balance_and_position_item(
            self, "filled", [bp_position_item(position, market, now)], now,
            trades=[{"instId": order.inst_id, "tradeId": trade_id}])))
        self._arm_attached(order)
        if position.pos == 0:
            self._position_closed(position)  # after the fill push: its TP/SL go with it
        if position.size < held_before - 1e-12:
            self._fit_closing(order.inst_id, position.pos_side)  # the position shrank under its closing orders
        return True

    # ------------------------------------------------------------------ per-step work

    def on_step(self, market: SymbolMarket) -> None:
        """Resting orders fill as maker: fully when the market goes through their price (the
        opposite best reaches it, or a trade prints beyond it), partly (the trade's size) when a
        trade prints exactly at it. Then algos trigger on their legs' trigger prices (last, mark, index)."""
        orders = self.open_orders.get(market.inst_id)
        if orders:
            traded = market.last_ts == market.ts
            last = market.last
            eps = market.tick * 1e-6
            for order in list(orders):
                if order.ord_type in ("market", "optimal_limit_ioc") or not order.is_open:
                    continue
                px = order.px
                if order.side == "buy":
                    through = market.ask_px <= px + eps or (traded and last < px - eps)
                else:
                    through = market.bid_px >= px - eps or (traded and last > px + eps)
                if through:
                    self._fill(order, market, px, order.remaining, "M")
                elif traded and abs(last - px) <= eps:
                    self._fill(order, market, px, min(order.remaining, market.last_sz), "M")
        algos = self.algos.get(market.inst_id)
        if algos:
            for algo in list(algos):
                self._check_algo(algo, market)
        if self._touched_positions or self._balance_dirty or self._book_dirty:
            self._flush()

    # ------------------------------------------------------------------ cancel / amend / close

    def cancel_order(self, params: dict) -> dict:
        params = self._request_params(params)
        now = self._now()
        ord_id = str(params.get("ordId") or "")
        cl_ord_id = str(params.get("clOrdId") or "")
        if not ord_id and not cl_ord_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter ordId or clOrdId error")
        inst_id = params.get("instId")
        if not inst_id or inst_id not in self.markets:
            return {"ordId": ord_id, "clOrdId": cl_ord_id, "ts": str(now), "sCode": k.CODE_INST_NOT_FOUND,
                    "sMsg": "Instrument ID, Instrument ID code, or Spread ID doesn't exist."}
        order = self.find_order(str(inst_id), ord_id, cl_ord_id)
        if order is None or not order.is_open:
            return {"ordId": ord_id, "clOrdId": cl_ord_id, "ts": str(now), "sCode": k.CODE_CANCEL_FAILED,
                    "sMsg": MSG_CANCEL_FAILED}
        self._finish(order, "canceled", k.CANCEL_SOURCE_USER, "Order canceled by user")
        self._push_order(order)
        self._flush()
        return {"ordId": order.ord_id, "clOrdId": order.cl_ord_id, "ts": str(now), "sCode": "0", "sMsg": ""}

    def amend_order(self, params: dict) -> dict:
        params = self._request_params(params)
        now = self._now()
        ord_id = str(params.get("ordId") or "")
        cl_ord_id = str(params.get("clOrdId") or "")
        req_id = str(params.get("reqId") or "")

        def item(code: str, msg: str, order: Order | None = None) -> dict:
            return {"ordId": order.ord_id if order else ord_id, "clOrdId": order.cl_ord_id if order else cl_ord_id,
                    "ts": str(now), "reqId": req_id, "sCode": code, "sMsg": msg, "subCode": ""}

        if not ord_id and not cl_ord_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter ordId or clOrdId error")
        inst_id = params.get("instId")
        if not inst_id or inst_id not in self.markets:
            return item(k.CODE_INST_NOT_FOUND, "Instrument ID, Instrument ID code, or Spread ID doesn't exist.")
        market = self.markets[str(inst_id)]
        try:
            cxl_on_fail = parse_flag(params, "cxlOnFail")
        except OrderProblem as problem:
            raise SimApiError(problem.code, problem.msg) from None
        order = self.find_order(market.inst_id, ord_id, cl_ord_id)
        if order is None or not order.is_open:
            return item(k.CODE_AMEND_FAILED, MSG_AMEND_FAILED)
        try:
            new_sz = parse_number(params, "newSz", required=False)
            new_px = parse_number(params, "newPx", required=False)
            if new_sz is None and new_px is None:
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newSz or newPx error")
            if new_sz is not None:
                if not on_grid(new_sz[1], market.spec.lot_sz):
                    raise OrderProblem(k.CODE_LOT_SIZE, "Order quantity must be a multiple of the lot size")
                if new_sz[0] <= order.acc_fill_sz + 1e-12:
                    raise OrderProblem(k.CODE_AMEND_FAILED, "New size must be greater than the filled size")
            if new_px is not None:
                if order.ord_type not in PRICED_TYPES:
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newPx error")
                if new_px[0] <= 0 or not on_grid(new_px[1], market.spec.tick_sz):
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newPx error")
                buy_lmt, sell_lmt = market.price_limits()
                if (order.side == "buy" and new_px[0] > buy_lmt) or (order.side == "sell" and new_px[0] < sell_lmt):
                    raise OrderProblem(k.CODE_PRICE_LIMIT, "Order price is not within the price limit")
        except OrderProblem as problem:
            if cxl_on_fail:
                self._finish(order, "canceled", "0", "amend failed, canceled on fail")
                order.amend_result = "1"
                self._push_order(order)
                self._flush()
            return item(problem.code, problem.msg, order)
        if new_sz is not None:
            order.sz = new_sz[0]
        if new_px is not None:
            order.px = new_px[0]
            order.px_str = fmt_fixed(new_px[0], market.px_dec)
        order.amend_result, order.req_id, order.u_time = "0", req_id, now
        self._balance_dirty = True
        if self._is_closing(order):
            self._fit_closing(order.inst_id, order.pos_side, amended=order)
        self._push_order(order)
        order.amend_result = ""
        if order.is_open:
            self._execute_amended(order, market)
        self._flush()
        return item("0", "", order)

    def _execute_amended(self, order: Order, market: SymbolMarket) -> None:
        buy = order.side == "buy"
        crosses = order.px >= market.ask_px - 1e-12 if buy else order.px <= market.bid_px + 1e-12
        if not crosses:
            return
        if order.ord_type == "post_only":
            self._finish(order, "canceled", k.CANCEL_SOURCE_POST_ONLY, MSG_POST_ONLY)
            self._push_order(order)
            return
        self._take(order, market)

    @staticmethod
    def _request_params(params: object) -> dict:
        """Normalized params; junk is a request-level 51000 (SimApiError)."""
        try:
            return normalized(params)
        except OrderProblem as problem:
            raise SimApiError(problem.code, problem.msg) from None

    def close_position(self, params: dict) -> dict:
        params = self._request_params(params)
        inst_id = params.get("instId")
        if not inst_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instId error")
        if inst_id not in self.markets:
            raise SimApiError(k.CODE_INST_NOT_FOUND, "Instrument ID, Instrument ID code, or Spread ID doesn't exist.")
        mgn_mode = params.get("mgnMode")
        if mgn_mode not in ("cross", "isolated"):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter mgnMode error")
        pos_side = str(params.get("posSide") or "")
        if self.pos_mode == LONG_SHORT and pos_side not in ("long", "short"):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posSide error")
        if self.pos_mode == NET:
            if pos_side not in ("", "net"):
                raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posSide error")
            pos_side = "net"
        cl_ord_id = str(params.get("clOrdId") or "")
        tag = str(params.get("tag") or "")
        position = self.positions.get((str(inst_id), pos_side))
        if position is None or not position.size:
            raise SimApiError(CODE_POSITION_NOT_EXIST, "Position does not exist")
        close_side = "sell" if position.direction > 0 else "buy"
        try:
            auto_cancel = parse_flag(params, "autoCxl")
        except OrderProblem as problem:
            raise SimApiError(problem.code, problem.msg) from None
        if auto_cancel:
            for order in list(self.open_orders.get(str(inst_id), ())):
                if order.pos_side == pos_side and order.side == close_side and (
                        self.pos_mode == LONG_SHORT or order.reduce_only):
                    self._finish(order, "canceled", k.CANCEL_SOURCE_USER, "canceled by close-position")
                    self._push_order(order)
        now = self._now()
        order = Order(
            ord_id="", cl_ord_id=cl_ord_id, tag=tag, inst_id=str(inst_id), side=close_side, pos_side=pos_side,
            ord_type="market", td_mode=mgn_mode, px=0.0, px_str="", sz=position.size, reduce_only=True,
            lever=fmt_num(self.lever_of(str(inst_id), mgn_mode, pos_side)), c_time=now,
        )
        self._accept(order)
        self._execute_new(order)
        self._flush()
        return {"instId": str(inst_id), "posSide": pos_side, "clOrdId": cl_ord_id, "tag": tag}
