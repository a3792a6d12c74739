"""Positions, cash and leverage of the simulated account: margin figures, position updates from
fills (long/short and net mode), account settings, and the balance/position wire items."""

from __future__ import annotations

import math

from okxscalp.okx import constants as k
from okxscalp.sim.account import (
    DEFAULT_LEVER,
    TAKER_FEE_RATE,
    Fill,
    Order,
    Position,
    fill_wire,
)
from okxscalp.sim.desk_state import DeskState
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.liquidation import (
    EVENT_TYPE_LIQUIDATION,
    FULL_LIQUIDATION,
    PositionMargin,
    bankruptcy_px,
    cross_bankruptcy_pnls,
    cross_liq_px,
    isolated_liq_px,
    margin_ratio,
)
from okxscalp.sim.market import SymbolMarket
from okxscalp.sim.rules import (
    LONG_SHORT,
    NET,
    ORD_ID_BASE,
)
from okxscalp.sim.tiers import tier_of
from okxscalp.sim.wire import fmt_fixed, fmt_num


class LedgerMixin(DeskState):
    """Part of TradingDesk: everything about positions, balance and leverage (state declared in
    desk_state.py)."""

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

    # ---- margin (tiers.py for the rates, liquidation.py for the rule) -----------------------------

    def maint_rate(self, position: Position) -> float:
        """The maintenance margin rate of the position's tier (by its size in contracts)."""
        return tier_of(self.markets[position.inst_id].tiers, position.size).mmr

    def upl_total(self) -> float:
        total = 0.0
        for (inst_id, _), position in self.positions.items():
            market = self.markets[inst_id]
            total += position.upl(market.mark, market.ct_val)
        return total

    def _cross_imr(self, position: Position) -> float:
        market = self.markets[position.inst_id]
        lever = self.lever_of(position.inst_id, position.mgn_mode, position.pos_side)
        return position.size * market.ct_val * market.mark / lever

    def imr_total(self) -> float:
        """Cross positions' initial margin at the mark plus isolated positions' own margin."""
        return sum(p.margin if p.mgn_mode == "isolated" else self._cross_imr(p) for p in self.positions.values())

    def _iso_margin_total(self) -> float:
        return sum(p.margin for p in self.positions.values() if p.mgn_mode == "isolated")

    def _maint(self, position: Position, with_fee: bool) -> float:
        """Maintenance requirement at the mark (USDT); `with_fee` adds the liquidation fee (taker)."""
        market = self.markets[position.inst_id]
        rate = self.maint_rate(position) + (TAKER_FEE_RATE if with_fee else 0.0)
        return position.size * market.ct_val * market.mark * rate

    def cross_equity(self) -> float:
        """What carries the cross positions: balance less isolated margin, plus cross P&L."""
        cross_upl = sum(p.upl(self.markets[p.inst_id].mark, self.markets[p.inst_id].ct_val)
                        for p in self.positions.values() if p.mgn_mode == "cross")
        return self.cash - self._iso_margin_total() + cross_upl

    def cross_maint(self) -> float:
        return sum(self._maint(p, True) for p in self.positions.values() if p.mgn_mode == "cross" and p.size)

    def position_margin(self, position: Position) -> PositionMargin:
        market = self.markets[position.inst_id]
        qty = position.size * market.ct_val
        rate = self.maint_rate(position) + TAKER_FEE_RATE
        mmr = self._maint(position, False)
        direction = position.direction
        if position.mgn_mode == "isolated":
            upl = position.upl(market.mark, market.ct_val)
            ratio = margin_ratio(position.margin + upl, self._maint(position, True))
            liq = isolated_liq_px(direction, position.avg_px, position.margin, qty, rate) if direction else None
            return PositionMargin(mmr, ratio, liq, None, position.margin)
        equity, maint = self.cross_equity(), self.cross_maint()
        liq = cross_liq_px(direction, market.mark, qty, equity, maint, rate) if direction else None
        return PositionMargin(mmr, margin_ratio(equity, maint), liq, self._cross_imr(position), None)

    def avail_eq(self) -> float:
        cross_upl = sum(p.upl(self.markets[p.inst_id].mark, self.markets[p.inst_id].ct_val)
                        for p in self.positions.values() if p.mgn_mode == "cross")
        return self.cash + cross_upl - self.imr_total() - self.ord_frozen()

    def balance_wire(self) -> dict:
        now = str(self._now())
        upl = self.upl_total()
        imr = self.imr_total()
        frozen = self.ord_frozen()
        eq = self.cash + upl
        avail = max(0.0, self.avail_eq())
        iso_upl = sum(p.upl(self.markets[p.inst_id].mark, self.markets[p.inst_id].ct_val)
                      for p in self.positions.values() if p.mgn_mode == "isolated")
        iso_eq = self._iso_margin_total() + iso_upl
        notional = sum(p.size * self.markets[i].ct_val * self.markets[i].mark for (i, _), p in self.positions.items())
        mmr = sum(self._maint(p, False) for p in self.positions.values())
        ratio = margin_ratio(self.cross_equity(), self.cross_maint())
        mgn_ratio = fmt_num(ratio) if ratio is not None else ""
        detail = {
            "accAvgPx": "", "availBal": fmt_num(max(0.0, self.cash - imr - frozen)), "availEq": fmt_num(avail),
            "borrowFroz": "", "cashBal": fmt_num(self.cash), "ccy": "USDT", "clSpotInUseAmt": "",
            "coinUsdPrice": "1", "colBorrAutoConversion": "0", "collateralEnabled": False,
            "collateralRestrict": False, "crossLiab": "", "disEq": fmt_num(eq), "eq": fmt_num(eq),
            "eqUsd": fmt_num(eq), "fixedBal": "0", "frozenBal": fmt_num(imr + frozen), "imr": fmt_num(imr),
            "interest": "", "isoEq": fmt_num(iso_eq), "isoLiab": "", "isoUpl": fmt_num(iso_upl), "liab": "",
            "maxLoan": "", "maxSpotInUseAmt": "", "mgnRatio": mgn_ratio, "mmr": fmt_num(mmr),
            "notionalLever": fmt_num(notional / eq if eq > 0 else 0.0), "openAvgPx": "",
            "ordFrozen": fmt_num(frozen), "rewardBal": "0", "smtSyncEq": "0", "spotBal": "",
            "spotCopyTradingEq": "0", "spotInUseAmt": "", "spotIsoBal": "0", "spotUpl": "", "spotUplRatio": "",
            "stgyEq": "0", "totalPnl": "", "totalPnlRatio": "", "twap": "0", "uTime": now, "upl": fmt_num(upl),
            "uplLiab": "",
        }
        return {
            "adjEq": "", "availEq": fmt_num(avail), "borrowFroz": "", "details": [detail], "imr": fmt_num(imr),
            "isoEq": fmt_num(iso_eq), "mgnRatio": mgn_ratio, "mmr": fmt_num(mmr),
            "notionalUsd": fmt_num(notional),
            "notionalUsdForBorrow": "", "notionalUsdForFutures": "", "notionalUsdForOption": "",
            "notionalUsdForSwap": "", "ordFroz": fmt_num(frozen), "totalEq": fmt_num(eq), "uTime": now,
            "upl": fmt_num(upl),
        }

    def position_wire(self, position: Position) -> dict:
        market = self.markets[position.inst_id]
        lever = self.lever_of(position.inst_id, position.mgn_mode, position.pos_side)
        return position.wire(lever=lever, mark=market.mark, index=market.index, last=market.last, ct_val=market.ct_val,
                             px_dec=market.px_dec, sz_dec=market.sz_dec, now_ms=self._now(),
                             risk=self.position_margin(position))

    def positions_wire(self, inst_id: str | None) -> list[dict]:
        return [self.position_wire(p) for (i, _), p in self.positions.items()
                if p.size and (not inst_id or i == inst_id)]

    def set_position_mode(self, pos_mode: str) -> dict:
        if pos_mode not in (LONG_SHORT, NET):
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter posMode error")
        if pos_mode != self.pos_mode and (any(p.size for p in self.positions.values()) or self._has_open_orders()):
            raise SimApiError(k.CODE_SETTINGS_BLOCKED, "Settings failed. Cancel any open orders, close positions, "
                              "and stop trading bots first.")
        self.pos_mode = pos_mode
        return {"posMode": pos_mode}

    def set_leverage(self, params: dict) -> list[dict]:
        params = self._request_params(params)
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

    def _apply_position(self, order: Order, market: SymbolMarket, px: float, qty: float, fee: float,
                        now: int, trade_id: str = "") -> tuple[float, Position]:
        """Update the position for a fill; returns the realised PnL of the closed part and the position."""
        key = self._pos_key(order.inst_id, order.pos_side)
        position = self.positions.get(key)
        if position is None:
            self._pos_seq += 1
            position = Position(order.inst_id, key[1], order.td_mode, 0.0, 0.0, str(ORD_ID_BASE // 10 + self._pos_seq),
                                now, now)
            self.positions[key] = position
        ct_val = market.ct_val
        pnl = 0.0
        if self.pos_mode == LONG_SHORT:
            if self._is_closing(order):
                closed = min(qty, position.pos)
                pnl = (px - position.avg_px) * closed * ct_val * (1 if key[1] == "long" else -1)
                self._release_margin(position, closed)
                position.pos = round(position.pos - closed, 10)
            else:
                new = position.pos + qty
                position.avg_px = (position.avg_px * position.pos + px * qty) / new
                position.pos = round(new, 10)
                position.mgn_mode = order.td_mode
                self._add_margin(position, px * qty * ct_val)
        else:
            delta = qty if order.side == "buy" else -qty
            cur = position.pos
            if cur == 0 or (cur > 0) == (delta > 0):
                new = cur + delta
                position.avg_px = (position.avg_px * abs(cur) + px * qty) / abs(new)
                position.pos = round(new, 10)
                position.mgn_mode = order.td_mode
                self._add_margin(position, px * qty * ct_val)
            else:
                closed = min(abs(delta), abs(cur))
                pnl = (px - position.avg_px) * closed * ct_val * (1 if cur > 0 else -1)
                self._release_margin(position, closed)
                new = round(cur + delta, 10)
                if new != 0 and (new > 0) != (cur > 0):
                    position.avg_px = px  # flipped: the rest opens at this price
                    position.mgn_mode = order.td_mode
                    self._add_margin(position, px * abs(new) * ct_val)
                position.pos = new
        position.realized_pnl += pnl
        position.fee += fee
        position.trade_id = trade_id
        position.u_time = now
        self._touched_positions[key] = position
        return pnl, position

    def _add_margin(self, position: Position, notional: float) -> None:
        """Isolated: an open or add puts notional / leverage into the position's own margin."""
        if position.mgn_mode == "isolated":
            position.margin += notional / self.lever_of(position.inst_id, "isolated", position.pos_side)

    @staticmethod
    def _release_margin(position: Position, closed: float) -> None:
        """Isolated: a partial close frees its share of the margin (all of it when flat)."""
        size = position.size
        if position.mgn_mode == "isolated" and size > 0:
            position.margin = max(0.0, position.margin * (1.0 - min(closed, size) / size))

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

    # ---- liquidation (liquidation.py: the rule) ---------------------------------------------------

    def liquidate_due(self) -> None:
        """Every market step: an isolated position whose margin ratio is at or below 100% is
        liquidated in full at its bankruptcy price; when the account's cross margin ratio is,
        every cross position is, together taking the cross equity to zero."""
        if not self.positions:
            return
        for position in list(self.positions.values()):
            if position.mgn_mode != "isolated" or not position.size:
                continue
            market = self.markets[position.inst_id]
            ratio = margin_ratio(position.margin + position.upl(market.mark, market.ct_val),
                                 self._maint(position, True))
            if ratio is not None and ratio <= 1.0:
                qty = position.size * market.ct_val
                self._liquidate(position, bankruptcy_px(position.direction, position.avg_px, position.margin, qty))
        iso_margins, cross_upls, cross_maints = self._margin_terms()
        if cross_maints:
            ratio = margin_ratio(self.cash - sum(iso_margins) + sum(cross_upls), sum(cross_maints))
            if ratio is not None and ratio <= 1.0:
                self._liquidate_cross([p for p in self.positions.values() if p.mgn_mode == "cross" and p.size])
        if self._touched_positions or self._balance_dirty:
            self._flush()

    def _margin_terms(self) -> tuple[list[float], list[float], list[float]]:
        """The terms of cross_equity() and cross_maint() in one pass, for sum() to add in the same
        order (bit-identical, whichever summation this Python's sum() uses): isolated margins,
        cross positions' upl, held cross positions' maintenance with the fee. Each is Position.upl's
        and _maint's arithmetic inline, the same operations in the same order (every step of every
        held position; tests/sim/test_liquidation.py holds them to those methods)."""
        markets = self.markets
        iso_margins: list[float] = []
        cross_upls: list[float] = []
        cross_maints: list[float] = []
        for position in self.positions.values():
            mgn_mode = position.mgn_mode
            if mgn_mode == "cross":
                market = markets[position.inst_id]
                mark, ct_val = market.mark, market.ct_val
                pos = position.pos
                size = abs(pos)  # Position.size
                cross_upls.append((mark - position.avg_px) * size * ct_val * position.direction)
                if pos:
                    cross_maints.append(size * ct_val * mark * (tier_of(market.tiers, size).mmr + TAKER_FEE_RATE))
            elif mgn_mode == "isolated":
                iso_margins.append(position.margin)
        return iso_margins, cross_upls, cross_maints

    def _liquidate_cross(self, cross: list[Position]) -> None:
        markets = [self.markets[p.inst_id] for p in cross]
        upls = [p.upl(m.mark, m.ct_val) for p, m in zip(cross, markets, strict=True)]
        maints = [self._maint(p, True) for p in cross]
        pnls = cross_bankruptcy_pnls(upls, maints, self.cross_equity())
        for position, market, pnl in zip(cross, markets, pnls, strict=True):
            qty = position.size * market.ct_val
            self._liquidate(position, max(position.avg_px + pnl / (qty * position.direction), 0.0))

    def _liquidate(self, position: Position, px: float) -> None:
        """The exchange's full-liquidation order takes the whole position at `px` (no fee: at the
        bankruptcy price nothing is left to charge it from): the `orders` push with category
        full_liquidation, a liquidation bill (type 5), the position push (pos 0) and a
        balance_and_position push with eventType liquidation."""
        market = self.markets[position.inst_id]
        now = self._now()
        size = position.size
        close_side = "sell" if position.direction > 0 else "buy"
        px = round(px / market.tick) * market.tick
        for order in list(self.open_orders.get(position.inst_id, ())):
            if order.pos_side == position.pos_side and self._is_closing(order):  # nothing left to close
                self._finish(order, "canceled", "0", "the position was liquidated")
                self._push_order(order)
        order = Order(
            ord_id=self._next_ord_id(), cl_ord_id="", tag="", inst_id=position.inst_id, side=close_side,
            pos_side=position.pos_side, ord_type="market", td_mode=position.mgn_mode, px=0.0, px_str="", sz=size,
            reduce_only=True, lever=fmt_num(self.lever_of(position.inst_id, position.mgn_mode, position.pos_side)),
            c_time=now, category=FULL_LIQUIDATION,
        )
        trade_id = market.next_trade_id()
        pnl, _ = self._apply_position(order, market, px, size, 0.0, now, trade_id)
        position.margin = 0.0
        fill = Fill(px, size, now, trade_id, self._next_bill_id(), "T", 0.0, pnl, 0.0, market.mark_str,
                    market.index_str)
        self.cash += pnl
        sub_type = self._liquidation_sub_type(position.pos_side, close_side)
        self.bills.add(
            inst_id=position.inst_id, type_=k.BILL_TYPE_LIQUIDATION, sub_type=sub_type, bal_chg=pnl, bal=self.cash,
            pnl=pnl, fee=0.0, sz=size, px=px, ts_ms=now, ord_id=order.ord_id, trade_id=trade_id, exec_type="T",
            mgn_mode=position.mgn_mode, fill_mark_px=market.mark_str, fill_idx_px=market.index_str, bill_id=fill.bill_id,
        )
        self.orders[order.ord_id] = order
        order.acc_fill_sz, order.notional_sum, order.pnl, order.last_fill, order.u_time = size, px * size, pnl, fill, now
        self._finish(order, "filled")
        item = fill_wire(order, fill, market.px_dec, market.sz_dec)
        item["subType"] = sub_type
        self._fills.append((now, order.inst_id, item))
        self._push_order(order, fill)
        self._position_closed(position)
        self._emit(SimEvent("balance_and_position", None, {
            "pTime": str(now), "eventType": EVENT_TYPE_LIQUIDATION,
            "balData": [{"ccy": "USDT", "cashBal": fmt_num(self.cash), "uTime": str(now)}],
            "posData": [{
                "posId": position.pos_id, "tradeId": trade_id, "instId": position.inst_id, "instType": "SWAP",
                "mgnMode": position.mgn_mode, "posSide": position.pos_side, "pos": "0", "ccy": "USDT", "posCcy": "",
                "avgPx": fmt_fixed(position.avg_px, market.px_dec), "uTime": str(now),
            }],
            "trades": [{"instId": position.inst_id, "tradeId": trade_id}],
        }))
        self._balance_dirty = True

    @staticmethod
    def _liquidation_sub_type(pos_side: str, close_side: str) -> str:
        """Bill subType (docs Get bills details): 104/105 liquidation long/short (long/short mode),
        106/107 liquidation buy/sell (net mode)."""
        if pos_side == "long":
            return k.BILL_SUB_LIQ_LONG
        if pos_side == "short":
            return k.BILL_SUB_LIQ_SHORT
        return k.BILL_SUB_LIQ_BUY if close_side == "buy" else k.BILL_SUB_LIQ_SELL
