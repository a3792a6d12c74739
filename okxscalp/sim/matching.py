"""Trading rules of the simulated account: validation, matching against the synthetic book,
fees, positions, margin, TP/SL algos. Acts at the exchange's current sim time.

Validation follows OKX (reference sections 6 and 7): per-order problems come back as the item's
`sCode`/`sMsg` (the server wraps them as code "1"), request-level problems raise SimApiError.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from okxscalp.okx import constants as k
from okxscalp.sim.account import (
    DEFAULT_LEVER,
    FILLS_KEPT_MS,
    MAKER_FEE_RATE,
    TAKER_FEE_RATE,
    AlgoLeg,
    AlgoOrder,
    Fill,
    Order,
    Position,
    fill_wire,
)
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.market import SymbolMarket
from okxscalp.sim.wire import fmt_fixed, fmt_num

LONG_SHORT = "long_short_mode"
NET = "net_mode"
ORDER_TYPES = frozenset({"market", "limit", "post_only", "ioc", "fok", "optimal_limit_ioc"})
_PRICED_TYPES = frozenset({"limit", "post_only", "ioc", "fok"})
_MAX_SWEEP_LEVELS = 5000
_MAX_FINAL_ORDERS = 20_000
_MAX_FILLS = 20_000
_ORD_ID_BASE = 2_900_000_000_000_000_000
_ALGO_ID_BASE = 3_370_000_000_000_000_000

MSG_PLACED = "Order placed"
MSG_MARGIN = "Order failed. Insufficient USDT margin in account"
MSG_NO_POSITION = "Order failed because you don't have any positions in this direction for this contract to reduce or close."
MSG_CANCEL_FAILED = "Order cancellation failed as the order has been filled, canceled or does not exist"
MSG_AMEND_FAILED = "Order modification failed as the order has been filled, canceled or does not exist"
MSG_POST_ONLY = "POST_ONLY would take liquidity"
MSG_IOC = "IOC order remainder canceled"
MSG_FOK = "FOK order not fully filled"
MSG_PX_LIMIT = "price beyond the price limit"
CODE_POSITION_NOT_EXIST = "51023"
CODE_REDUCE_ONLY_SAME_SIDE = "51170"
CODE_ALGO_CANCEL_FAILED = "51402"


class OrderProblem(Exception):
    """A per-order rejection: becomes the item's sCode/sMsg."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter reduceOnly error")


def _on_grid(text: str, step: str) -> bool:
    return Decimal(text) % Decimal(step) == 0


def _number(params: dict, key: str, *, required: bool = True) -> tuple[float, str] | None:
    raw = params.get(key)
    if raw in (None, ""):
        if required:
            raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
        return None
    text = str(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error") from None
    if not value.is_finite():
        raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {key} error")
    return float(value), text


class TradingDesk:
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
        self._rejections: deque[tuple[str, str]] = deque()
        # Per command/step: what to push once at the end.
        self._touched_positions: dict[tuple[str, str], Position] = {}
        self._balance_dirty = False

    # ------------------------------------------------------------------ ids and helpers
    def _next_ord_id(self) -> str:
        self._seq += 1
        return str(_ORD_ID_BASE + self._seq)

    def _next_algo_id(self) -> str:
        self._algo_seq += 1
        return str(_ALGO_ID_BASE + self._algo_seq)

    def _market(self, inst_id: object) -> SymbolMarket:
        market = self.markets.get(str(inst_id)) if inst_id else None
        if market is None:
            raise OrderProblem(k.CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
        return market

    def _lever_key(self, inst_id: str, mgn_mode: str, pos_side: str) -> tuple[str, str, str]:
        if mgn_mode == "isolated" and self.pos_mode == LONG_SHORT:
            return (inst_id, mgn_mode, pos_side)
        return (inst_id, mgn_mode, "")

    def lever_of(self, inst_id: str, mgn_mode: str, pos_side: str) -> float:
        market = self.markets[inst_id]
        default = min(DEFAULT_LEVER, float(market.spec.max_lever))
        return self.leverage.get(self._lever_key(inst_id, mgn_mode, pos_side), default)

    def _pos_key(self, inst_id: str, pos_side: str) -> tuple[str, str]:
        return (inst_id, pos_side if self.pos_mode == LONG_SHORT else "net")

    def closable(self, inst_id: str, side: str, pos_side: str) -> float:
        """Contracts an order on this side can close right now."""
        position = self.positions.get(self._pos_key(inst_id, pos_side))
        if position is None:
            return 0.0
        if self.pos_mode == LONG_SHORT:
            closing = (side == "sell" and pos_side == "long") or (side == "buy" and pos_side == "short")
            return position.pos if closing else 0.0
        if side == "buy":
            return -position.pos if position.pos < 0 else 0.0
        return position.pos if position.pos > 0 else 0.0

    def _is_closing(self, order: Order) -> bool:
        if self.pos_mode == LONG_SHORT:
            return (order.side == "sell") == (order.pos_side == "long")
        return order.reduce_only

    # ------------------------------------------------------------------ balance
    def upl_total(self) -> float:
        total = 0.0
        for (inst_id, _), position in self.positions.items():
            market = self.markets[inst_id]
            total += position.upl(market.mark, market.ct_val)
        return total

    def imr_total(self) -> float:
        total = 0.0
        for (inst_id, _), position in self.positions.items():
            market = self.markets[inst_id]
            lever = self.lever_of(inst_id, position.mgn_mode, position.pos_side)
            total += position.size * market.ct_val * market.mark / lever
        return total

    def ord_frozen(self) -> float:
        total = 0.0
        for inst_id, orders in self.open_orders.items():
            market = self.markets[inst_id]
            for order in orders:
                if not self._is_closing(order):
                    px = order.px or market.mid
                    total += order.remaining * market.ct_val * px / float(order.lever)
        return total

    def avail_eq(self) -> float:
        return self.cash + self.upl_total() - self.imr_total() - self.ord_frozen()

    def balance_wire(self) -> dict:
        now = str(self._now())
        upl = self.upl_total()
        imr = self.imr_total()
        frozen = self.ord_frozen()
        eq = self.cash + upl
        avail = max(0.0, eq - imr - frozen)
        iso_eq = sum(p.size * self.markets[i].ct_val * self.markets[i].mark
                     / self.lever_of(i, p.mgn_mode, p.pos_side) + p.upl(self.markets[i].mark, self.markets[i].ct_val)
                     for (i, _), p in self.positions.items() if p.mgn_mode == "isolated")
        mmr = sum(p.size * self.markets[i].ct_val * self.markets[i].mark * 0.004 for (i, _), p in self.positions.items())
        detail = {
            "accAvgPx": "", "availBal": fmt_num(max(0.0, self.cash - imr - frozen)), "availEq": fmt_num(avail),
            "borrowFroz": "", "cashBal": fmt_num(self.cash), "ccy": "USDT", "clSpotInUseAmt": "",
            "coinUsdPrice": "1", "colBorrAutoConversion": "0", "collateralEnabled": False,
            "collateralRestrict": False, "crossLiab": "", "disEq": fmt_num(eq), "eq": fmt_num(eq),
            "eqUsd": fmt_num(eq), "fixedBal": "0", "frozenBal": fmt_num(imr + frozen), "imr": fmt_num(imr),
            "interest": "", "isoEq": fmt_num(iso_eq), "isoLiab": "", "isoUpl": "0", "liab": "", "maxLoan": "",
            "maxSpotInUseAmt": "", "mgnRatio": fmt_num(eq / mmr) if mmr else "", "mmr": fmt_num(mmr),
            "notionalLever": fmt_num(imr and (imr * 10 / eq if eq else 0)), "openAvgPx": "",
            "ordFrozen": fmt_num(frozen), "rewardBal": "0", "smtSyncEq": "0", "spotBal": "",
            "spotCopyTradingEq": "0", "spotInUseAmt": "", "spotIsoBal": "0", "spotUpl": "", "spotUplRatio": "",
            "stgyEq": "0", "totalPnl": "", "totalPnlRatio": "", "twap": "0", "uTime": now, "upl": fmt_num(upl),
            "uplLiab": "",
        }
        return {
            "adjEq": "", "availEq": fmt_num(avail), "borrowFroz": "", "details": [detail], "imr": fmt_num(imr),
            "isoEq": fmt_num(iso_eq), "mgnRatio": fmt_num(eq / mmr) if mmr else "", "mmr": fmt_num(mmr),
            "notionalUsd": fmt_num(sum(p.size * self.markets[i].ct_val * self.markets[i].mark
                                       for (i, _), p in self.positions.items())),
            "notionalUsdForBorrow": "", "notionalUsdForFutures": "", "notionalUsdForOption": "",
            "notionalUsdForSwap": "", "ordFroz": fmt_num(frozen), "totalEq": fmt_num(eq), "uTime": now,
            "upl": fmt_num(upl),
        }

    # ------------------------------------------------------------------ wire views
    def order_wire(self, order: Order, fill: Fill | None = None) -> dict:
        market = self.markets[order.inst_id]
        return order.wire(market.px_dec, market.sz_dec, market.ct_val, fill)

    def position_wire(self, position: Position) -> dict:
        market = self.markets[position.inst_id]
        lever = self.lever_of(position.inst_id, position.mgn_mode, position.pos_side)
        return position.wire(lever=lever, mark=market.mark, last=market.last, ct_val=market.ct_val,
                             px_dec=market.px_dec, sz_dec=market.sz_dec, now_ms=self._now())

    def positions_wire(self, inst_id: str | None) -> list[dict]:
        return [self.position_wire(p) for (i, _), p in self.positions.items()
                if p.size and (not inst_id or i == inst_id)]

    def orders_pending(self, inst_id: str | None) -> list[dict]:
        out = []
        for i, orders in self.open_orders.items():
            if not inst_id or i == inst_id:
                out.extend(orders)
        out.sort(key=lambda o: int(o.ord_id), reverse=True)
        return [self.order_wire(o, o.last_fill) for o in out]

    def fills(self, inst_id: str | None, limit: int) -> list[dict]:
        oldest = self._now() - FILLS_KEPT_MS
        out = []
        for ts, i, item in reversed(self._fills):
            if ts < oldest or len(out) >= limit:
                break
            if not inst_id or i == inst_id:
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
        """Push positions touched by this command/step, then the account once if it changed."""
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

    # ------------------------------------------------------------------ settings
    def set_position_mode(self, pos_mode: str) -> dict:
        if pos_mode not in (LONG_SHORT, NET):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posMode error")
        if pos_mode != self.pos_mode and (any(p.size for p in self.positions.values()) or self._has_open_orders()):
            raise SimApiError(k.CODE_SETTINGS_BLOCKED, "Settings failed. Cancel any open orders, close positions, "
                              "and stop trading bots first.")
        self.pos_mode = pos_mode
        return {"posMode": pos_mode}

    def _has_open_orders(self) -> bool:
        return any(self.open_orders.values()) or any(self.algos.values())

    def set_leverage(self, params: dict) -> list[dict]:
        inst_id = params.get("instId")
        if not inst_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instId error")
        if inst_id not in self.markets:
            raise SimApiError(k.CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
        mgn_mode = params.get("mgnMode")
        if mgn_mode not in ("cross", "isolated"):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter mgnMode error")
        try:
            lever = float(str(params.get("lever")))
        except ValueError:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter lever error") from None
        if not math.isfinite(lever) or lever < 0.01:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter lever error")
        max_lever = self.markets[inst_id].spec.max_lever
        if lever > max_lever:
            raise SimApiError(k.CODE_LEVERAGE_TOO_HIGH, f"Leverage exceeds the maximum limit {max_lever}x")
        pos_side = str(params.get("posSide") or "")
        if mgn_mode == "isolated" and self.pos_mode == LONG_SHORT:
            if pos_side not in ("long", "short"):
                raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posSide error")
            sides = [pos_side]
        else:
            if pos_side not in ("", "net", "long", "short"):
                raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posSide error")
            sides = [""]
        for side in sides:
            self.leverage[self._lever_key(inst_id, mgn_mode, side)] = lever
        for position in self.positions.values():
            if position.inst_id == inst_id and position.mgn_mode == mgn_mode:
                self._touched_positions[(position.inst_id, position.pos_side)] = position
        self._balance_dirty = True
        self._flush()
        return [{"lever": fmt_num(lever), "mgnMode": mgn_mode, "instId": inst_id, "posSide": pos_side}]

    def leverage_info(self, mgn_mode: str, inst_id: str) -> list[dict]:
        if mgn_mode not in ("cross", "isolated"):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter mgnMode error")
        if not inst_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instId error")
        out = []
        for one in str(inst_id).split(","):
            if one not in self.markets:
                raise SimApiError(k.CODE_INST_NOT_FOUND, f"Instrument ID {one} doesn't exist.")
            sides = ("long", "short") if self.pos_mode == LONG_SHORT else ("net",)
            for side in sides:
                lever = self.lever_of(one, mgn_mode, side)
                out.append({"ccy": "", "instId": one, "mgnMode": mgn_mode, "posSide": side,
                            "lever": fmt_num(lever)})
        return out

    # ------------------------------------------------------------------ place
    def place_order(self, params: dict) -> dict:
        cl_ord_id = str(params.get("clOrdId") or "") if isinstance(params, dict) else ""
        tag = str(params.get("tag") or "") if isinstance(params, dict) else ""
        now = self._now()
        if not isinstance(params, dict):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON object")
        if self._rejections:
            code, msg = self._rejections.popleft()
            return self._item("", cl_ord_id, tag, now, code, msg)
        try:
            order, attach = self._validate(params, now)
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
        sz_num = _number(params, "sz")
        assert sz_num is not None
        sz, sz_text = sz_num
        if sz <= 0:
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter sz error")
        if sz < float(spec.min_sz) - 1e-12:
            raise OrderProblem(k.CODE_BELOW_MIN_SIZE, f"Order amount should be greater than the min available "
                               f"amount {spec.min_sz}")
        if not _on_grid(sz_text, spec.lot_sz):
            raise OrderProblem(k.CODE_LOT_SIZE, f"Order quantity must be a multiple of the lot size {spec.lot_sz}")
        px, px_str = 0.0, ""
        if ord_type in _PRICED_TYPES:
            px_num = _number(params, "px")
            assert px_num is not None
            px, px_str = px_num
            if px <= 0 or not _on_grid(px_str, spec.tick_sz):
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
        reduce_only = _flag(params.get("reduceOnly"))
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

    def _parse_attach(self, raw: object, inst_id: str, td_mode: str, now: int) -> list[AlgoOrder]:
        if raw in (None, "", []):
            return []
        if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter attachAlgoOrds error")
        out = []
        for spec in raw:
            tp, sl = self._legs(spec, inst_id)
            algo_cl = str(spec.get("attachAlgoClOrdId") or "")
            out.append(AlgoOrder(self._next_algo_id(), algo_cl, inst_id, tp, sl, now, td_mode=td_mode))
        return out

    def _legs(self, spec: dict, inst_id: str) -> tuple[AlgoLeg | None, AlgoLeg | None]:
        market = self.markets[inst_id]
        legs: list[AlgoLeg | None] = []
        for prefix in ("tp", "sl"):
            trig = _number(spec, prefix + "TriggerPx", required=False)
            if trig is None:
                legs.append(None)
                continue
            if trig[0] <= 0:
                raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {prefix}TriggerPx error")
            ord_px = str(spec.get(prefix + "OrdPx") or "-1")
            if ord_px != "-1":
                num = _number(spec, prefix + "OrdPx")
                assert num is not None
                if num[0] <= 0:
                    raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {prefix}OrdPx error")
            trig_type = str(spec.get(prefix + "TriggerPxType") or "last")
            if trig_type not in ("last", "mark", "index"):
                raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {prefix}TriggerPxType error")
            legs.append(AlgoLeg(trig[0], fmt_fixed(trig[0], market.px_dec), ord_px, trig_type))
        if legs[0] is None and legs[1] is None:
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter tpTriggerPx/slTriggerPx error")
        return legs[0], legs[1]

    def _accept(self, order: Order) -> None:
        order.ord_id = self._next_ord_id()
        self.orders[order.ord_id] = order
        self.open_orders.setdefault(order.inst_id, []).append(order)
        self.active_insts.add(order.inst_id)
        self._balance_dirty = True  # margin gets frozen

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
        pnl = self._apply_position(order, market, px, qty, fee, now, trade_id)
        self._bill_seq += 1
        fill = Fill(px, qty, now, trade_id, str(self._bill_seq), exec_type, fee, pnl, rate, market.mark_str)
        self.cash += fee + pnl
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
        self._arm_attached(order)
        return True

    def _apply_position(self, order: Order, market: SymbolMarket, px: float, qty: float, fee: float,
                        now: int, trade_id: str = "") -> float:
        """Update the position for a fill; returns the realised PnL of the closed part."""
        key = self._pos_key(order.inst_id, order.pos_side)
        position = self.positions.get(key)
        if position is None:
            self._pos_seq += 1
            position = Position(order.inst_id, key[1], order.td_mode, 0.0, 0.0, str(_ORD_ID_BASE // 10 + self._pos_seq),
                                now, now)
            self.positions[key] = position
        ct_val = market.ct_val
        pnl = 0.0
        if self.pos_mode == LONG_SHORT:
            if self._is_closing(order):
                closed = min(qty, position.pos)
                pnl = (px - position.avg_px) * closed * ct_val * (1 if key[1] == "long" else -1)
                position.pos = round(position.pos - closed, 10)
            else:
                new = position.pos + qty
                position.avg_px = (position.avg_px * position.pos + px * qty) / new
                position.pos = round(new, 10)
                position.mgn_mode = order.td_mode
        else:
            delta = qty if order.side == "buy" else -qty
            cur = position.pos
            if cur == 0 or (cur > 0) == (delta > 0):
                new = cur + delta
                position.avg_px = (position.avg_px * abs(cur) + px * qty) / abs(new)
                position.pos = round(new, 10)
                position.mgn_mode = order.td_mode
            else:
                closed = min(abs(delta), abs(cur))
                pnl = (px - position.avg_px) * closed * ct_val * (1 if cur > 0 else -1)
                new = round(cur + delta, 10)
                if new != 0 and (new > 0) != (cur > 0):
                    position.avg_px = px  # flipped: the rest opens at this price
                position.pos = new
        position.realized_pnl += pnl
        position.fee += fee
        position.trade_id = trade_id
        position.u_time = now
        self._touched_positions[key] = position
        if position.pos == 0:
            self._position_closed(position)
        return pnl

    def _position_closed(self, position: Position) -> None:
        """The position is flat: its TP/SL algos go (OKX cancels them with the position)."""
        algos = self.algos.get(position.inst_id)
        if algos:
            for algo in list(algos):
                if algo.pos_side == position.pos_side:
                    self._drop_algo(algo, "canceled")

    def _drop_algo(self, algo: AlgoOrder, state: str) -> None:
        algo.state = state
        algo.u_time = self._now()
        algos = self.algos.get(algo.inst_id)
        if algos and algo in algos:
            algos.remove(algo)
        self._refresh_active(algo.inst_id)
        self._push_algo(algo)

    def _arm_attached(self, order: Order) -> None:
        """Attached TP/SL become live with the entry's first fill, sized to its filled amount."""
        if not order.attach:
            return
        close_side = "sell" if order.side == "buy" else "buy"
        pos_side = self._pos_key(order.inst_id, order.pos_side)[1]
        for algo in order.attach:
            if algo.state != "live":
                continue  # already triggered or canceled
            algo.sz = order.acc_fill_sz
            algo.u_time = self._now()
            if not algo.active:
                algo.active = True
                algo.parent_ord_id = order.ord_id
                algo.pos_side = pos_side
                algo.close_side = close_side
                self.algos.setdefault(order.inst_id, []).append(algo)
                self.algo_by_id[algo.algo_id] = algo
            self._push_algo(algo)
        self.active_insts.add(order.inst_id)

    # ------------------------------------------------------------------ per-step work
    def on_step(self, market: SymbolMarket) -> None:
        """Resting orders the market traded through fill as maker; algos trigger on the last price."""
        orders = self.open_orders.get(market.inst_id)
        if orders:
            traded = market.last_ts == market.ts
            last = market.last
            for order in list(orders):
                if order.ord_type in ("market", "optimal_limit_ioc") or not order.is_open:
                    continue
                if order.side == "buy":
                    hit = market.ask_px <= order.px + 1e-12 or (traded and last <= order.px + 1e-12)
                else:
                    hit = market.bid_px >= order.px - 1e-12 or (traded and last >= order.px - 1e-12)
                if hit:
                    self._fill(order, market, order.px, order.remaining, "M")
        algos = self.algos.get(market.inst_id)
        if algos:
            last = market.last
            for algo in list(algos):
                self._check_algo(algo, market, last)
        if self._touched_positions or self._balance_dirty:
            self._flush()

    def _check_algo(self, algo: AlgoOrder, market: SymbolMarket, last: float) -> None:
        closing_long = algo.close_side == "sell"
        leg = None
        if algo.tp and (last >= algo.tp.trigger_px if closing_long else last <= algo.tp.trigger_px):
            leg = algo.tp
        elif algo.sl and (last <= algo.sl.trigger_px if closing_long else last >= algo.sl.trigger_px):
            leg = algo.sl
        if leg is None:
            return
        closable = self.closable(algo.inst_id, algo.close_side, algo.pos_side)
        if closable <= 0:
            self._drop_algo(algo, "canceled")
            return
        qty = min(algo.sz, closable) if algo.sz else closable
        now = self._now()
        ord_type = "market" if leg.ord_px_str == "-1" else "limit"
        px = 0.0 if ord_type == "market" else float(leg.ord_px_str)
        lever = self.lever_of(algo.inst_id, algo.td_mode, algo.pos_side)
        order = Order(
            ord_id="", cl_ord_id="", tag="", inst_id=algo.inst_id, side=algo.close_side, pos_side=algo.pos_side,
            ord_type=ord_type, td_mode=algo.td_mode, px=px,
            px_str=fmt_fixed(px, market.px_dec) if px else "", sz=qty, reduce_only=True,
            lever=fmt_num(lever), c_time=now, algo_id=algo.algo_id, algo_cl_ord_id=algo.algo_cl_ord_id,
        )
        if self.pos_mode == NET:
            order.pos_side = "net"
        self._accept(order)
        algo.triggered_ord_id = order.ord_id
        self._drop_algo(algo, "effective")
        self._execute_new(order)

    # ------------------------------------------------------------------ cancel / amend / close
    def cancel_order(self, params: dict) -> dict:
        now = self._now()
        ord_id = str(params.get("ordId") or "")
        cl_ord_id = str(params.get("clOrdId") or "")
        if not ord_id and not cl_ord_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter ordId or clOrdId error")
        inst_id = params.get("instId")
        if not inst_id or inst_id not in self.markets:
            return {"ordId": ord_id, "clOrdId": cl_ord_id, "ts": str(now), "sCode": k.CODE_INST_NOT_FOUND,
                    "sMsg": f"Instrument ID {inst_id} doesn't exist."}
        order = self.find_order(str(inst_id), ord_id, cl_ord_id)
        if order is None or not order.is_open:
            return {"ordId": ord_id, "clOrdId": cl_ord_id, "ts": str(now), "sCode": k.CODE_CANCEL_FAILED,
                    "sMsg": MSG_CANCEL_FAILED}
        self._finish(order, "canceled", k.CANCEL_SOURCE_USER, "Order canceled by user")
        self._push_order(order)
        self._flush()
        return {"ordId": order.ord_id, "clOrdId": order.cl_ord_id, "ts": str(now), "sCode": "0", "sMsg": ""}

    def amend_order(self, params: dict) -> dict:
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
            return item(k.CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
        market = self.markets[str(inst_id)]
        order = self.find_order(market.inst_id, ord_id, cl_ord_id)
        if order is None or not order.is_open:
            return item(k.CODE_AMEND_FAILED, MSG_AMEND_FAILED)
        try:
            new_sz = _number(params, "newSz", required=False)
            new_px = _number(params, "newPx", required=False)
            if new_sz is None and new_px is None:
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newSz or newPx error")
            if new_sz is not None:
                if not _on_grid(new_sz[1], market.spec.lot_sz):
                    raise OrderProblem(k.CODE_LOT_SIZE, "Order quantity must be a multiple of the lot size")
                if new_sz[0] <= order.acc_fill_sz + 1e-12:
                    raise OrderProblem(k.CODE_AMEND_FAILED, "New size must be greater than the filled size")
            if new_px is not None:
                if order.ord_type not in _PRICED_TYPES:
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newPx error")
                if new_px[0] <= 0 or not _on_grid(new_px[1], market.spec.tick_sz):
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newPx error")
                buy_lmt, sell_lmt = market.price_limits()
                if (order.side == "buy" and new_px[0] > buy_lmt) or (order.side == "sell" and new_px[0] < sell_lmt):
                    raise OrderProblem(k.CODE_PRICE_LIMIT, "Order price is not within the price limit")
        except OrderProblem as problem:
            if _flag(params.get("cxlOnFail")):
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
        self._push_order(order)
        order.amend_result = ""
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

    def close_position(self, params: dict) -> dict:
        inst_id = params.get("instId")
        if not inst_id:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instId error")
        if inst_id not in self.markets:
            raise SimApiError(k.CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
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
        if _flag(params.get("autoCxl")):
            for order in list(self.open_orders.get(str(inst_id), ())):
                if order.pos_side == pos_side and order.side == close_side and (
                        self.pos_mode == LONG_SHORT or order.reduce_only):
                    self._finish(order, "canceled", k.CANCEL_SOURCE_USER, "canceled by close-position")
                    self._push_order(order)
        market = self.markets[str(inst_id)]
        now = self._now()
        order = Order(
            ord_id="", cl_ord_id=cl_ord_id, tag=tag, inst_id=str(inst_id), side=close_side, pos_side=pos_side,
            ord_type="market", td_mode=mgn_mode, px=0.0, px_str="", sz=position.size, reduce_only=True,
            lever=fmt_num(self.lever_of(str(inst_id), mgn_mode, pos_side)), c_time=now,
        )
        self._accept(order)
        self._execute_new(order)
        self._flush()
        del market
        return {"instId": str(inst_id), "posSide": pos_side, "clOrdId": cl_ord_id, "tag": tag}

    # ------------------------------------------------------------------ stand-alone algos
    def place_algo_order(self, params: dict) -> dict:
        now = self._now()
        algo_cl = str(params.get("algoClOrdId") or "")
        tag = str(params.get("tag") or "")

        def item(algo_id: str, code: str, msg: str) -> dict:
            return {"algoId": algo_id, "clOrdId": "", "algoClOrdId": algo_cl, "tag": tag, "sCode": code,
                    "sMsg": msg}

        if self._rejections:
            code, msg = self._rejections.popleft()
            return item("", code, msg)
        try:
            market = self._market(params.get("instId"))
            if params.get("ordType") not in ("conditional", "oco"):
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter ordType error")
            side = params.get("side")
            if side not in ("buy", "sell"):
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter side error")
            td_mode = params.get("tdMode")
            if td_mode not in ("cross", "isolated"):
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter tdMode error")
            pos_side = str(params.get("posSide") or "")
            if self.pos_mode == LONG_SHORT:
                if pos_side not in ("long", "short") or (side == "sell") != (pos_side == "long"):
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter posSide error")
            else:
                if pos_side not in ("", "net"):
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter posSide error")
                pos_side = "net"
            close_fraction = str(params.get("closeFraction") or "")
            sz = 0.0
            if close_fraction:
                if close_fraction != "1":
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter closeFraction error")
            else:
                sz_num = _number(params, "sz")
                assert sz_num is not None
                sz = sz_num[0]
                if sz <= 0 or not _on_grid(sz_num[1], market.spec.lot_sz):
                    raise OrderProblem(k.CODE_LOT_SIZE, "Order quantity must be a multiple of the lot size")
            if self.closable(market.inst_id, side, pos_side) <= 0:
                raise OrderProblem(k.CODE_REDUCE_ONLY_NO_POSITION, MSG_NO_POSITION)
            tp, sl = self._legs(params, market.inst_id)
        except OrderProblem as problem:
            return item("", problem.code, problem.msg)
        algo = AlgoOrder(self._next_algo_id(), algo_cl, market.inst_id, tp, sl, now, pos_side=pos_side,
                         close_side=side, sz=sz, td_mode=td_mode, ord_type=str(params["ordType"]), active=True)
        self.algos.setdefault(market.inst_id, []).append(algo)
        self.algo_by_id[algo.algo_id] = algo
        self.active_insts.add(market.inst_id)
        self._push_algo(algo)
        return item(algo.algo_id, "0", "")

    def cancel_algos(self, items: list[dict]) -> list[dict]:
        out = []
        for one in items:
            algo_id = str(one.get("algoId") or "")
            algo = self.algo_by_id.get(algo_id)
            if algo is None or algo.state != "live" or algo.inst_id != one.get("instId"):
                out.append({"algoId": algo_id, "sCode": CODE_ALGO_CANCEL_FAILED,
                            "sMsg": "Order cancellation failed as the order has been filled, canceled or does not "
                                    "exist"})
                continue
            self._drop_algo(algo, "canceled")
            out.append({"algoId": algo_id, "sCode": "0", "sMsg": ""})
        return out

    def algo_item(self, algo: AlgoOrder) -> dict:
        market = self.markets[algo.inst_id]
        lever = fmt_num(self.lever_of(algo.inst_id, algo.td_mode, algo.pos_side))
        size = algo.sz or self.closable(algo.inst_id, algo.close_side, algo.pos_side)
        return algo.algo_wire(lever, market.sz_dec, fmt_num(size * market.ct_val * market.mark))

    def _push_algo(self, algo: AlgoOrder) -> None:
        self._emit(SimEvent("orders-algo", algo.inst_id, self.algo_item(algo)))

    def algo_orders_pending(self, inst_id: str | None) -> list[dict]:
        out = []
        for i, algos in self.algos.items():
            if inst_id and i != inst_id:
                continue
            out.extend(algos)
        out.sort(key=lambda algo: int(algo.algo_id), reverse=True)
        return [self.algo_item(algo) for algo in out]

    # ------------------------------------------------------------------ test hook
    def open_position_directly(self, inst_id: str, pos_side: str, contracts: float, avg_px: float | None,
                               mgn_mode: str = "cross") -> dict:
        market = self.markets.get(inst_id)
        if market is None:
            raise SimApiError(k.CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
        if contracts <= 0:
            raise SimApiError(k.CODE_PARAM_ERROR, "contracts must be positive")
        if self.pos_mode == LONG_SHORT and pos_side not in ("long", "short"):
            raise SimApiError(k.CODE_PARAM_ERROR, "pos_side must be long or short in long_short_mode")
        if self.pos_mode == NET and pos_side not in ("long", "short", "net"):
            raise SimApiError(k.CODE_PARAM_ERROR, "pos_side must be long, short or net")
        px = avg_px if avg_px is not None else market.mid
        px = round(px / market.tick) * market.tick
        side = "buy" if pos_side in ("long", "net") else "sell"
        order = Order(
            ord_id="", cl_ord_id="", tag="", inst_id=inst_id, side=side,
            pos_side=pos_side if self.pos_mode == LONG_SHORT else "net", ord_type="market", td_mode=mgn_mode,
            px=0.0, px_str="", sz=contracts, reduce_only=False,
            lever=fmt_num(self.lever_of(inst_id, mgn_mode, pos_side)), c_time=self._now(),
        )
        self._apply_position(order, market, px, contracts, 0.0, self._now())
        self._balance_dirty = True
        key = self._pos_key(inst_id, order.pos_side)
        position = self.positions[key]
        self._flush()
        return self.position_wire(position)
