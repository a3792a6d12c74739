"""The private `balance_and_position` channel's data items (docs websocket-balance-and-position-
channel): the cash balance and the positions an event changed, with the event's type (`snapshot`
on subscribe, `filled` for a fill, `funding_fee` for a funding settlement, ...) and the trades
behind it. No instType in the arg; only the changed positions are listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from okxscalp.sim.wire import fmt_fixed, fmt_num

if TYPE_CHECKING:
    from okxscalp.sim.account import Position
    from okxscalp.sim.market import SymbolMarket
    from okxscalp.sim.matching import TradingDesk

BALANCE_AND_POSITION = "balance_and_position"


def bp_position_item(position: Position, market: SymbolMarket, ts_ms: int) -> dict:
    """A `posData` item of balance_and_position (docs websocket-balance-and-position-channel)."""
    return {
        "avgPx": fmt_fixed(position.avg_px, market.px_dec) if position.size else "", "ccy": "USDT",
        "instId": position.inst_id, "instType": "SWAP", "mgnMode": position.mgn_mode,
        "pos": fmt_fixed(position.pos, market.sz_dec) if position.size else "0",
        "posCcy": "", "posId": position.pos_id, "posSide": position.pos_side, "tradeId": position.trade_id,
        "uTime": str(ts_ms),
    }


def balance_and_position_item(desk: TradingDesk, event_type: str, pos_data: list[dict], ts_ms: int,
                              trades: list[dict] | None = None) -> dict:
    """One balance_and_position data item: the USDT cash balance and the positions that changed
    (a snapshot lists every non-zero position); `trades` the fills behind it ({instId, tradeId})."""
    return {
        "pTime": str(ts_ms), "eventType": event_type,
        "balData": [{"ccy": "USDT", "cashBal": fmt_num(desk.cash), "uTime": str(ts_ms)}],
        "posData": pos_data, "trades": trades or [],
    }


def balance_and_position_snapshot(desk: TradingDesk, ts_ms: int) -> dict:
    """What a new balance_and_position subscriber gets first (eventType `snapshot`)."""
    pos_data = [bp_position_item(p, desk.markets[p.inst_id], ts_ms) for p in desk.positions.values() if p.size]
    return balance_and_position_item(desk, "snapshot", pos_data, ts_ms)
