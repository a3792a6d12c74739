"""The simulated account's records (orders, positions, attached algos, fills) and their wire forms.

Plain data: the rules that change these records live in `matching.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from okxscalp.sim.bills import trade_sub_type
from okxscalp.sim.liquidation import PositionMargin
from okxscalp.sim.wire import fmt_fixed, fmt_num

TAKER_FEE_RATE = 0.0005
MAKER_FEE_RATE = 0.0002
DEFAULT_LEVER = 10.0
FILLS_KEPT_MS = 3 * 86_400_000  # GET /trade/fills: the last 3 days
FILLS_HISTORY_KEPT_MS = 90 * 86_400_000  # GET /trade/fills-history: the last 3 months


@dataclass(slots=True)
class AlgoLeg:
    """A take-profit or stop-loss leg: trigger on the last price, then close at `ord_px` (-1 = market)."""

    trigger_px: float
    trigger_px_str: str
    ord_px_str: str  # "-1" for market, else a price string
    trigger_type: str = "last"


@dataclass(slots=True)
class AlgoOrder:
    """A TP/SL pair (one-cancels-other) that closes part or all of one position.

    Attached ones are declared on an entry order (`attachAlgoOrds`) and become active when it
    fills; their size follows the entry's filled size.
    """

    algo_id: str
    algo_cl_ord_id: str
    inst_id: str
    tp: AlgoLeg | None
    sl: AlgoLeg | None
    c_time: int
    parent_ord_id: str = ""
    pos_side: str = ""  # position record it protects: long | short | net
    close_side: str = ""  # buy | sell
    sz: float = 0.0  # contracts to close (0 = the whole position)
    state: str = "live"  # live -> effective (triggered) | canceled
    td_mode: str = "cross"
    ord_type: str = "conditional"
    active: bool = False  # attached algos wait for the entry fill
    triggered_ord_id: str = ""
    u_time: int = 0

    def attach_wire(self) -> dict:
        tp, sl = self.tp, self.sl
        return {
            "attachAlgoId": self.algo_id,
            "attachAlgoClOrdId": self.algo_cl_ord_id,
            "slTriggerPx": sl.trigger_px_str if sl else "",
            "slOrdPx": sl.ord_px_str if sl else "",
            "slTriggerPxType": sl.trigger_type if sl else "",
            "tpTriggerPx": tp.trigger_px_str if tp else "",
            "tpOrdPx": tp.ord_px_str if tp else "",
            "tpTriggerPxType": tp.trigger_type if tp else "",
        }

    def algo_wire(self, lever: str, sz_dec: int, notional_usd: str) -> dict:
        """GET /trade/orders-algo-pending item and `orders-algo` push item."""
        tp, sl = self.tp, self.sl
        return {
            "instType": "SWAP",
            "instId": self.inst_id,
            "algoId": self.algo_id,
            "algoClOrdId": self.algo_cl_ord_id,
            "clOrdId": "",
            "tag": "",
            "triggerPx": "",
            "triggerPxType": "",
            "ordPx": "",
            "notionalUsd": notional_usd,
            "ordType": self.ord_type,
            "side": self.close_side,
            "posSide": self.pos_side,
            "tdMode": self.td_mode,
            "sz": fmt_fixed(self.sz, sz_dec) if self.sz else "",
            "closeFraction": "" if self.sz else "1",
            "reduceOnly": "true",
            "state": self.state,
            "lever": lever,
            "tpTriggerPx": tp.trigger_px_str if tp else "",
            "tpOrdPx": tp.ord_px_str if tp else "",
            "tpTriggerPxType": tp.trigger_type if tp else "",
            "slTriggerPx": sl.trigger_px_str if sl else "",
            "slOrdPx": sl.ord_px_str if sl else "",
            "slTriggerPxType": sl.trigger_type if sl else "",
            "ordId": self.triggered_ord_id,
            "actualSz": "0",
            "actualPx": "",
            "actualSide": "",
            "triggerTime": "",
            "cTime": str(self.c_time),
            "uTime": str(self.u_time or self.c_time),
        }


@dataclass(slots=True)
class Fill:
    """What one fill changed (for the order push and the fills history)."""

    px: float
    sz: float
    ts: int
    trade_id: str
    bill_id: str
    exec_type: str  # T taker | M maker
    fee: float
    pnl: float
    fee_rate: float
    mark_px: str
    idx_px: str  # the index price at the fill (market.SymbolMarket.index)


@dataclass(slots=True)
class Order:
    ord_id: str
    cl_ord_id: str
    tag: str
    inst_id: str
    side: str
    pos_side: str
    ord_type: str
    td_mode: str
    px: float  # 0.0 for market orders
    px_str: str
    sz: float
    reduce_only: bool
    lever: str
    c_time: int
    state: str = "live"
    acc_fill_sz: float = 0.0
    notional_sum: float = 0.0  # sum(px * sz) of fills, for avgPx
    fee: float = 0.0
    pnl: float = 0.0
    u_time: int = 0
    cancel_source: str = ""
    cancel_source_reason: str = ""
    attach: list[AlgoOrder] = field(default_factory=list)
    algo_id: str = ""
    algo_cl_ord_id: str = ""
    last_fill: Fill | None = None
    amend_result: str = ""
    amend_source: str = ""  # "4": the size was cut to the position (matching.TradingDesk._fit_closing)
    req_id: str = ""
    category: str = "normal"  # full_liquidation for the exchange's liquidation order (liquidation.py)

    @property
    def remaining(self) -> float:
        return self.sz - self.acc_fill_sz

    @property
    def is_open(self) -> bool:
        return self.state in ("live", "partially_filled")

    @property
    def avg_px(self) -> float:
        return self.notional_sum / self.acc_fill_sz if self.acc_fill_sz else 0.0

    def wire(self, px_dec: int, sz_dec: int, ct_val: float, fill: Fill | None) -> dict:
        """Order object as in GET /trade/order and the `orders` push; `fill` = this update's fill."""
        has_fills = self.acc_fill_sz > 0
        avg_px = fmt_fixed(self.avg_px, px_dec) if has_fills else ""
        ref_px = fill.px if fill else (self.px or self.avg_px)
        return {
            "accFillSz": fmt_fixed(self.acc_fill_sz, sz_dec) if has_fills else "0",
            "algoClOrdId": self.algo_cl_ord_id,
            "algoId": self.algo_id,
            "amendResult": self.amend_result,
            "amendSource": self.amend_source,
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [a.attach_wire() for a in self.attach],
            "avgPx": avg_px,
            "cTime": str(self.c_time),
            "cancelSource": self.cancel_source,
            "cancelSourceReason": self.cancel_source_reason,
            "category": self.category,
            "ccy": "USDT",
            "clOrdId": self.cl_ord_id,
            "code": "0",
            "execType": fill.exec_type if fill else "",
            "fee": fmt_num(self.fee),
            "feeCcy": "USDT",
            "fillFee": fmt_num(fill.fee) if fill else "0",
            "fillFeeCcy": "USDT" if fill else "",
            "fillMarkPx": fill.mark_px if fill else "",
            "fillNotionalUsd": fmt_num(fill.px * fill.sz * ct_val) if fill else "",
            "fillPnl": fmt_num(fill.pnl) if fill else "0",
            "fillPx": fmt_fixed(fill.px, px_dec) if fill else "",
            "fillSz": fmt_fixed(fill.sz, sz_dec) if fill else "0",
            "fillTime": str(fill.ts) if fill else "0",
            "instId": self.inst_id,
            "instType": "SWAP",
            "isTpLimit": "false",
            "lever": self.lever,
            "linkedAlgoOrd": {"algoId": ""},
            "msg": "",
            "notionalUsd": fmt_num(self.sz * ct_val * ref_px),
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": fmt_num(self.pnl),
            "posSide": self.pos_side,
            "px": self.px_str,
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "true" if self.reduce_only else "false",
            "reqId": self.req_id,
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": self.state,
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": fmt_fixed(self.sz, sz_dec),
            "tag": self.tag,
            "tdMode": self.td_mode,
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": fill.trade_id if fill else "",
            "uTime": str(self.u_time or self.c_time),
        }


@dataclass(slots=True)
class Position:
    inst_id: str
    pos_side: str  # long | short | net
    mgn_mode: str
    pos: float  # contracts; signed in net mode, positive in long/short mode
    avg_px: float
    pos_id: str
    c_time: int
    u_time: int
    realized_pnl: float = 0.0
    fee: float = 0.0
    trade_id: str = ""
    funding_fee: float = 0.0  # accumulated funding (negative: paid), sim/funding.py
    margin: float = 0.0  # isolated: the margin set at open, grown by adds, shrunk pro rata by closes

    @property
    def direction(self) -> int:
        """+1 long exposure, -1 short exposure, 0 flat."""
        if self.pos_side == "long":
            return 1 if self.pos > 0 else 0
        if self.pos_side == "short":
            return -1 if self.pos > 0 else 0
        return (self.pos > 0) - (self.pos < 0)

    @property
    def size(self) -> float:
        return abs(self.pos)

    def upl(self, px: float, ct_val: float) -> float:
        return (px - self.avg_px) * self.size * ct_val * self.direction

    def wire(self, *, lever: float, mark: float, index: float, last: float, ct_val: float, px_dec: int,
             sz_dec: int, now_ms: int, risk: PositionMargin) -> dict:
        """GET /account/positions item and `positions` push item (docs trading-account "Get
        positions"): `margin` isolated only, `imr` cross only, `mmr` the maintenance requirement,
        `mgnRatio` the maintenance margin ratio, `liqPx` the estimated liquidation price."""
        size = self.size
        notional = size * ct_val * mark
        margin = self.margin if self.mgn_mode == "isolated" else notional / lever if lever else 0.0
        upl = self.upl(mark, ct_val)
        upl_last = self.upl(last, ct_val)
        liq_px = fmt_fixed(risk.liq_px, px_dec) if size and risk.liq_px is not None else ""
        pos_str = fmt_fixed(self.pos, sz_dec)
        return {
            "adl": "1" if size else "",
            "availPos": fmt_fixed(size, sz_dec),
            "avgPx": fmt_fixed(self.avg_px, px_dec) if size else "",
            "baseBal": "",
            "bePx": fmt_fixed(self.avg_px, px_dec) if size else "",
            "cTime": str(self.c_time),
            "ccy": "USDT",
            "fee": fmt_num(self.fee),
            "fundingFee": fmt_num(self.funding_fee),
            "idxPx": fmt_fixed(index, px_dec),
            "imr": fmt_num(risk.imr) if risk.imr is not None else "",
            "instId": self.inst_id,
            "instType": "SWAP",
            "interest": "",
            "last": fmt_fixed(last, px_dec),
            "lever": fmt_num(lever),
            "liqPenalty": "0",
            "liqPx": liq_px,
            "margin": fmt_num(risk.margin) if risk.margin is not None else "",
            "markPx": fmt_fixed(mark, px_dec),
            "mgnMode": self.mgn_mode,
            "mgnRatio": fmt_num(risk.mgn_ratio) if size and risk.mgn_ratio is not None else "",
            "mmr": fmt_num(risk.mmr),
            "notionalUsd": fmt_num(notional),
            "optVal": "",
            "pTime": str(now_ms),
            "pendingCloseOrdLiabVal": "",
            "pnl": fmt_num(self.realized_pnl),
            "pos": "0" if not size else pos_str,
            "posCcy": "",
            "posId": self.pos_id,
            "posSide": self.pos_side,
            "quoteBal": "",
            "quoteBorrowed": "",
            "quoteInterest": "",
            # docs get-positions: realizedPnl = pnl + fee + fundingFee + liqPenalty
            "realizedPnl": fmt_num(self.realized_pnl + self.fee + self.funding_fee),
            "spotInUseAmt": "",
            "spotInUseCcy": "",
            "tradeId": self.trade_id,
            "uTime": str(self.u_time),
            "upl": fmt_num(upl),
            "uplLastPx": fmt_num(upl_last),
            "uplRatio": fmt_num(upl / margin) if margin else "0",
            "uplRatioLastPx": fmt_num(upl_last / margin) if margin else "0",
            "usdPx": "",
        }


def fill_wire(order: Order, fill: Fill, px_dec: int, sz_dec: int) -> dict:
    """GET /trade/fills item."""
    return {
        "instType": "SWAP",
        "instId": order.inst_id,
        "tradeId": fill.trade_id,
        "ordId": order.ord_id,
        "clOrdId": order.cl_ord_id,
        "billId": fill.bill_id,
        # docs ...-get-transaction-details-last-3-months, subType: 1 buy / 2 sell (net mode), 3-6
        # open/close long/short (long/short mode): the same code as the fill's trade bill.
        "subType": trade_sub_type(order.side, order.pos_side),
        "tag": order.tag,
        "fillPx": fmt_fixed(fill.px, px_dec),
        "fillSz": fmt_fixed(fill.sz, sz_dec),
        "fillIdxPx": fill.idx_px,
        "fillPnl": fmt_num(fill.pnl),
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": fill.mark_px,
        "side": order.side,
        "posSide": order.pos_side,
        "execType": fill.exec_type,
        "feeCcy": "USDT",
        "fee": fmt_num(fill.fee),
        "feeRate": fmt_num(-fill.fee_rate),
        "ts": str(fill.ts),
        "fillTime": str(fill.ts),
    }
