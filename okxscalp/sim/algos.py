"""TP/SL algo orders of the simulated account: attached ones (armed by their entry's fills) and
stand-alone conditional/oco ones; canceled with the position.

Each leg triggers on the price its `tpTriggerPxType`/`slTriggerPxType` names: `last` (the default),
`index` or `mark` (docs order-book-trading-trade-post-place-order, attachAlgoOrds, and
order-book-trading-algo-trading-post-place-algo-order: "Take-profit/Stop-loss trigger price type:
last, index, mark; the default is last"); another value is 51000 "Parameter ...TriggerPxType error".
"""

from __future__ import annotations

from okxscalp.okx import constants as k
from okxscalp.sim.account import (
    AlgoLeg,
    AlgoOrder,
    Order,
    Position,
)
from okxscalp.sim.desk_state import DeskState
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.market import SymbolMarket
from okxscalp.sim.rules import (
    ALGO_ID_BASE,
    CODE_ALGO_CANCEL_FAILED,
    LONG_SHORT,
    MSG_AMEND_FAILED,
    MSG_NO_POSITION,
    NET,
    OrderProblem,
    normalized,
    on_grid,
    parse_number,
)
from okxscalp.sim.wire import fmt_fixed, fmt_num


def trigger_price(market: SymbolMarket, trigger_type: str) -> float:
    """The price a TP/SL leg of this trigger type watches."""
    if trigger_type == "mark":
        return market.mark
    if trigger_type == "index":
        return market.index
    return market.last


class AlgoMixin(DeskState):
    """Part of TradingDesk: the algo book and its triggers (state declared in desk_state.py)."""

    def _next_algo_id(self) -> str:
        self._algo_seq += 1
        return str(ALGO_ID_BASE + self._algo_seq)

    def _parse_attach(self, raw: object, inst_id: str, td_mode: str, now: int) -> list[AlgoOrder]:
        if raw in (None, "", []):
            return []
        if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
            raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter attachAlgoOrds error")
        out = []
        for spec in raw:
            tp, sl = self._legs(spec, inst_id)
            algo_cl = str(spec.get("attachAlgoClOrdId") or "")
            ord_type = "oco" if tp and sl else "conditional"  # how OKX lists an attached pair
            out.append(AlgoOrder(self._next_algo_id(), algo_cl, inst_id, tp, sl, now, td_mode=td_mode,
                                 ord_type=ord_type))
        return out

    def _legs(self, spec: dict, inst_id: str) -> tuple[AlgoLeg | None, AlgoLeg | None]:
        market = self.markets[inst_id]
        legs: list[AlgoLeg | None] = []
        for prefix in ("tp", "sl"):
            trig = parse_number(spec, prefix + "TriggerPx", required=False)
            if trig is None:
                legs.append(None)
                continue
            if trig[0] <= 0:
                raise OrderProblem(k.CODE_PARAM_ERROR, f"Parameter {prefix}TriggerPx error")
            ord_px = str(spec.get(prefix + "OrdPx") or "-1")
            if ord_px != "-1":
                num = parse_number(spec, prefix + "OrdPx")
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
        self.algo_by_id.pop(algo.algo_id, None)  # only live algos are kept (bounded memory)
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

    def _check_algo(self, algo: AlgoOrder, market: SymbolMarket) -> None:
        closing_long = algo.close_side == "sell"
        leg = None
        tp, sl = algo.tp, algo.sl
        if tp:
            px = trigger_price(market, tp.trigger_type)
            if px >= tp.trigger_px if closing_long else px <= tp.trigger_px:
                leg = tp
        if leg is None and sl:
            px = trigger_price(market, sl.trigger_type)
            if px <= sl.trigger_px if closing_long else px >= sl.trigger_px:
                leg = sl
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

    def place_algo_order(self, params: dict) -> dict:
        now = self._now()
        if not isinstance(params, dict):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON object")
        algo_cl = params.get("algoClOrdId") if isinstance(params.get("algoClOrdId"), str) else ""
        tag = params.get("tag") if isinstance(params.get("tag"), str) else ""

        def item(algo_id: str, code: str, msg: str) -> dict:
            return {"algoId": algo_id, "clOrdId": "", "algoClOrdId": algo_cl, "tag": tag, "sCode": code,
                    "sMsg": msg}

        if self._rejections:
            code, msg = self._rejections.popleft()
            return item("", code, msg)
        try:
            params = normalized(params)
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
                sz_num = parse_number(params, "sz")
                assert sz_num is not None
                sz = sz_num[0]
                if sz <= 0 or not on_grid(sz_num[1], market.spec.lot_sz):
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

    def amend_algos(self, params: dict) -> dict:
        """POST /trade/amend-algos (docs order-book-trading-algo-trading-post-amend-algo-order): a
        live TP/SL algo (`conditional`/`oco`, an armed attached pair included), found by `algoId`
        (it wins) or `algoClOrdId`, gets new legs (`newTpTriggerPx`+`newTpOrdPx`,
        `newSlTriggerPx`+`newSlOrdPx`, `new*TriggerPxType`; a trigger or order price of 0 deletes
        that leg) and/or `newSz`. An algo that is not live (triggered, canceled, unknown, or an
        attached one whose entry has not filled: that one is amended through amend-order) answers
        sCode 51503, OKX's amend failure for an order filled, canceled or gone (the docs list no
        algo-specific code for it)."""
        now = self._now()
        if not isinstance(params, dict):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON object")
        algo_id = str(params.get("algoId") or "")
        algo_cl = str(params.get("algoClOrdId") or "")
        req_id = str(params.get("reqId") or "")

        def item(code: str, msg: str, algo: AlgoOrder | None = None) -> dict:
            return {"algoId": algo.algo_id if algo else algo_id, "algoClOrdId": algo.algo_cl_ord_id if algo else algo_cl,
                    "reqId": req_id, "sCode": code, "sMsg": msg}

        try:
            params = normalized(params)
            market = self._market(params.get("instId"))
            if not algo_id and not algo_cl:
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter algoId error")
            if algo_id:
                algo = self.algo_by_id.get(algo_id)
            else:
                algo = next((a for a in self.algos.get(market.inst_id, []) if a.algo_cl_ord_id == algo_cl), None)
            if algo is None or algo.state != "live" or not algo.active or algo.inst_id != market.inst_id:
                raise OrderProblem(k.CODE_AMEND_FAILED, MSG_AMEND_FAILED)
            legs = {"tp": algo.tp, "sl": algo.sl}
            changed = False
            for prefix, name in (("tp", "Tp"), ("sl", "Sl")):
                trigger = params.get(f"new{name}TriggerPx")
                ord_px = params.get(f"new{name}OrdPx")
                if trigger in (None, "") and ord_px in (None, ""):
                    continue
                changed = True
                if trigger == "0" or ord_px == "0":
                    legs[prefix] = None  # "either ... is 0, it means that the take-profit/stop-loss is deleted"
                    continue
                old = legs[prefix]
                spec = {
                    f"{prefix}TriggerPx": trigger if trigger not in (None, "") else (old.trigger_px_str if old else ""),
                    f"{prefix}OrdPx": ord_px if ord_px not in (None, "") else (old.ord_px_str if old else "-1"),
                    f"{prefix}TriggerPxType": params.get(f"new{name}TriggerPxType") or (old.trigger_type if old else "last"),
                }
                tp, sl = self._legs(spec, market.inst_id)
                legs[prefix] = tp if prefix == "tp" else sl
            if legs["tp"] is None and legs["sl"] is None:
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newTpTriggerPx/newSlTriggerPx error")
            new_sz = parse_number(params, "newSz", required=False)
            if new_sz is not None:
                if new_sz[0] <= 0 or not on_grid(new_sz[1], market.spec.lot_sz):
                    raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newSz error")
                changed = True
            if not changed:
                raise OrderProblem(k.CODE_PARAM_ERROR, "Parameter newSz error")
        except OrderProblem as problem:
            return item(problem.code, problem.msg)
        algo.tp, algo.sl = legs["tp"], legs["sl"]
        algo.ord_type = "oco" if algo.tp and algo.sl else "conditional"
        if new_sz is not None:
            algo.sz = new_sz[0]
        algo.u_time = now
        self._push_algo(algo)
        return item("0", "", algo)

    def cancel_algos(self, items: list[dict]) -> list[dict]:
        if not isinstance(items, list):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter error: the body must be a JSON array")
        out = []
        for one in items:
            if not isinstance(one, dict):
                raise SimApiError(k.CODE_PARAM_ERROR, "Parameter algoId error")
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

    def algo_orders_pending(self, inst_id: str | None, ord_type: str | None = None) -> list[dict]:
        types = set(str(ord_type).split(",")) if ord_type else None
        out = []
        for i, algos in self.algos.items():
            if inst_id and i != inst_id:
                continue
            out.extend(a for a in algos if types is None or a.ord_type in types)
        out.sort(key=lambda algo: int(algo.algo_id), reverse=True)
        return [self.algo_item(algo) for algo in out]
