"""Funding of the simulated USDT perpetual swaps: the rate each period, and its settlement.

OKX facts modelled (cited):
- Rate (OKX help "Funding rate calculation rules of perpetual futures"; docs public-data
  rest-api-get-funding-rate, `formulaType` `withRate`, `premium`, `interestRate`):
  premium index P = (max(0, impact bid - index) - max(0, index - impact ask)) / index, sampled every
  minute and averaged over the period; funding rate =
  clamp(avg P + clamp(interest rate - avg P, -0.05 %, +0.05 %), minFundingRate, maxFundingRate).
  The interest rate is 0.03 % a day, i.e. 0.01 % per 8-hour period. The simulated book has one
  liquidity ladder, so its impact bid/ask are the best bid/ask (a simplification).
- Bounds: `minFundingRate`/`maxFundingRate` -0.375 % / +0.375 % (docs get-funding-rate response
  example for BTC-USDT-SWAP); the simulator applies them to every instrument.
- Settlement (OKX help "Introduction to perpetual swap funding fee"): every 8 hours at 00:00,
  08:00 and 16:00 UTC; funding fee = position value x funding rate, position value = contracts x
  ctVal x mark price; a positive rate means longs pay shorts, a negative one shorts pay longs. Only
  positions open at the settlement time pay or receive.
- What the account shows (docs websocket-balance-and-position-channel: eventType `funding_fee`;
  websocket-positions-channel / rest-api-get-positions: `fundingFee` "Accumulated funding fee",
  `realizedPnl` = pnl + fee + fundingFee (+ liqPenalty); get-bills-details: type 8, subType 173
  "Funding fee expense" / 174 "Funding fee income", `pnl` the payment, `px` the mark price).

Deterministic under the simulator's seed: the rate derives only from the market (itself seeded).
Times are simulator time (`SimExchange.now_ms`), so a sped-up sim settles sooner in wall time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from okxscalp.okx import constants as k
from okxscalp.sim.balance_position import BALANCE_AND_POSITION, balance_and_position_item, bp_position_item
from okxscalp.sim.events import SimEvent
from okxscalp.sim.wire import fmt_num

if TYPE_CHECKING:
    from okxscalp.sim.market import SymbolMarket
    from okxscalp.sim.matching import TradingDesk

FUNDING_INTERVAL_MS = 8 * 3_600_000  # 00:00 / 08:00 / 16:00 UTC
PREMIUM_SAMPLE_MS = 60_000  # the premium index is sampled once a minute
INTEREST_RATE = 0.0001  # 0.03 % a day over three periods
INTEREST_CLAMP = 0.0005  # clamp(interest - premium, -0.05 %, +0.05 %)
MAX_FUNDING_RATE = 0.00375
MIN_FUNDING_RATE = -0.00375
HISTORY_LIMIT_MAX = 400  # funding-rate-history: "limit: The maximum is 400. The default is 400."
HISTORY_KEPT_MS = 90 * 86_400_000  # the history endpoint serves the last 3 months
MAX_HISTORY_KEPT = HISTORY_KEPT_MS // FUNDING_INTERVAL_MS + 64  # + forced settlements


def next_funding_time_ms(now_ms: int) -> int:
    """The first 8-hourly settlement time (00/08/16 UTC) strictly after `now_ms`."""
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def premium_index(impact_bid: float, impact_ask: float, index: float) -> float:
    """OKX's premium index: how far the swap's impact prices are outside its index, over the index."""
    if index <= 0:
        raise ValueError(f"index price must be positive, got {index}")
    return (max(0.0, impact_bid - index) - max(0.0, index - impact_ask)) / index


def funding_rate(avg_premium: float, interest: float = INTEREST_RATE, floor: float = MIN_FUNDING_RATE,
                 cap: float = MAX_FUNDING_RATE) -> float:
    """clamp(avg premium + clamp(interest - avg premium, -0.05 %, 0.05 %), floor, cap)."""
    adjust = min(INTEREST_CLAMP, max(-INTEREST_CLAMP, interest - avg_premium))
    return min(cap, max(floor, avg_premium + adjust))


def funding_payment(contracts: float, ct_val: float, mark_px: float, rate: float, direction: int) -> float:
    """Cash the position receives (negative: pays): -direction x contracts x ctVal x mark x rate."""
    return -direction * abs(contracts) * ct_val * mark_px * rate


@dataclass(frozen=True, slots=True)
class SettledFunding:
    """One settlement of one instrument (a funding-rate-history item)."""

    inst_id: str
    funding_time_ms: int
    predicted_rate: float  # the rate the period showed just before settling
    realized_rate: float  # the rate actually applied

    def wire(self) -> dict:
        """GET /public/funding-rate-history item (documented fields)."""
        return {
            "formulaType": "withRate",
            "fundingRate": fmt_num(self.predicted_rate),
            "fundingTime": str(self.funding_time_ms),
            "instId": self.inst_id,
            "instType": "SWAP",
            "method": "current_period",
            "realizedRate": fmt_num(self.realized_rate),
        }


class InstrumentFunding:
    """One instrument's current period: premium samples, an optional forced rate, its history."""

    def __init__(self, inst_id: str, now_ms: int) -> None:
        self.inst_id = inst_id
        self.next_funding_ms = next_funding_time_ms(now_ms)
        self._premium_sum = 0.0
        self._premium_count = 0
        self.last_premium = 0.0
        self.forced_rate: float | None = None
        self.history: deque[SettledFunding] = deque(maxlen=MAX_HISTORY_KEPT)

    def sample(self, market: SymbolMarket) -> None:
        premium = premium_index(market.bid * market.tick, market.ask * market.tick, market.index)
        self.last_premium = premium
        self._premium_sum += premium
        self._premium_count += 1

    @property
    def rate(self) -> float:
        """The current period's rate (the forced one while a test set it)."""
        if self.forced_rate is not None:
            return self.forced_rate
        avg = self._premium_sum / self._premium_count if self._premium_count else self.last_premium
        return funding_rate(avg)

    def settle(self, funding_time_ms: int, *, scheduled: bool) -> SettledFunding:
        """Close the period at `funding_time_ms`; a scheduled one starts the next 8-hour period."""
        rate = self.rate
        settled = SettledFunding(self.inst_id, funding_time_ms, rate, rate)
        self.history.append(settled)
        if scheduled:
            self._premium_sum = 0.0
            self._premium_count = 0
            self.next_funding_ms = funding_time_ms + FUNDING_INTERVAL_MS
        return settled

    def wire(self, market: SymbolMarket, now_ms: int) -> dict:
        """GET /public/funding-rate item (documented fields)."""
        last = self.history[-1].realized_rate if self.history else self.rate
        return {
            "formulaType": "withRate",
            "fundingRate": fmt_num(self.rate),
            "fundingTime": str(self.next_funding_ms),
            "impactValue": "",
            "instId": self.inst_id,
            "instType": "SWAP",
            "interestRate": fmt_num(INTEREST_RATE),
            "maxFundingRate": fmt_num(MAX_FUNDING_RATE),
            "method": "current_period",
            "minFundingRate": fmt_num(MIN_FUNDING_RATE),
            "nextFundingRate": "",
            "nextFundingTime": str(self.next_funding_ms + FUNDING_INTERVAL_MS),
            "premium": fmt_num(self.last_premium),
            "settFundingRate": fmt_num(last),
            "settState": "settled",
            "ts": str(now_ms),
        }

    def history_wire(self, *, after: int | None, before: int | None, limit: int, now_ms: int) -> list[dict]:
        """Newest first; `after`: settlements older than it, `before`: newer (fundingTime ms)."""
        horizon = now_ms - HISTORY_KEPT_MS
        found = [s for s in self.history if s.funding_time_ms >= horizon
                 and (after is None or s.funding_time_ms < after)
                 and (before is None or s.funding_time_ms > before)]
        if before is not None and after is None:
            return [s.wire() for s in reversed(found[:limit])]
        return [s.wire() for s in reversed(found[-limit:])] if found else []


class FundingBook:
    """Every instrument's funding, stepped with the market by SimExchange."""

    def __init__(self, inst_ids: list[str], now_ms: int) -> None:
        self.by_inst = {inst_id: InstrumentFunding(inst_id, now_ms) for inst_id in inst_ids}
        self.next_due_ms = min(f.next_funding_ms for f in self.by_inst.values())
        self._next_sample_ms = now_ms
        # Whether the 8-hourly settlements charge open positions (OKX: always). A test that asserts
        # exact P&L over a stretch of sim time turns it off (the period still settles and is listed
        # in the history); `settle_now` charges either way.
        self.charges_positions = True

    def on_step(self, ts_ms: int, markets: dict[str, SymbolMarket], desk: TradingDesk) -> None:
        """Sample premiums each minute; settle every period that ended at or before `ts_ms`."""
        if ts_ms >= self._next_sample_ms:
            self._next_sample_ms = ts_ms + PREMIUM_SAMPLE_MS
            for inst_id, funding in self.by_inst.items():
                funding.sample(markets[inst_id])
        while ts_ms >= self.next_due_ms:
            due = self.next_due_ms
            for inst_id, funding in self.by_inst.items():
                if funding.next_funding_ms == due:
                    settled = funding.settle(due, scheduled=True)
                    if self.charges_positions:
                        settle_positions(desk, markets[inst_id], settled.realized_rate, ts_ms)
            self.next_due_ms = min(f.next_funding_ms for f in self.by_inst.values())

    def settle_now(self, inst_id: str, market: SymbolMarket, desk: TradingDesk, ts_ms: int) -> list[dict]:
        """A settlement outside the schedule (test control): positions pay/receive the current
        rate now; the 8-hourly schedule and the period's premium average are left as they were.
        Returns the funding bills written."""
        settled = self.by_inst[inst_id].settle(ts_ms, scheduled=False)
        return settle_positions(desk, market, settled.realized_rate, ts_ms)


def settle_positions(desk: TradingDesk, market: SymbolMarket, rate: float, ts_ms: int) -> list[dict]:
    """Every open position of `market`'s instrument pays or receives its funding at `rate`:
    cash, the position's accumulated `fundingFee`, a type-8 bill each; pushes positions, account
    and one balance_and_position (eventType funding_fee). Returns the bills' wire items."""
    inst_id = market.inst_id
    mark = market.mark
    bills: list[dict] = []
    pos_data: list[dict] = []
    for key, position in list(desk.positions.items()):
        if key[0] != inst_id or not position.size or not position.direction:
            continue
        payment = funding_payment(position.size, market.ct_val, mark, rate, position.direction)
        desk.cash += payment
        position.funding_fee += payment
        position.u_time = ts_ms
        desk._touched_positions[key] = position
        sub_type = k.BILL_SUB_FUNDING_INCOME if payment > 0 else k.BILL_SUB_FUNDING_EXPENSE
        bill = desk.bills.add(inst_id=inst_id, type_=k.BILL_TYPE_FUNDING_FEE, sub_type=sub_type, bal_chg=payment,
                              bal=desk.cash, pnl=payment, fee=0.0, sz=position.size, px=mark, ts_ms=ts_ms,
                              mgn_mode=position.mgn_mode)
        bills.append(bill.wire())
        pos_data.append(bp_position_item(position, market, ts_ms))
    if not pos_data:
        return bills
    desk._balance_dirty = True
    desk._emit(SimEvent(BALANCE_AND_POSITION, None,
                        balance_and_position_item(desk, k.EVENT_TYPE_FUNDING_FEE, pos_data, ts_ms)))
    desk._flush()
    return bills
