"""The simulated account's bills: every change of the trading account's balance, one record each.

OKX: "The bill refers to all transaction records that result in changing the balance of an account.
Pagination is supported, and the response is sorted with most recent first" (docs
trading-account-rest-api-get-bills-details-last-7-days and ...-last-3-months). Type/subType codes
live in okx/constants.py (BILL_TYPE_*, BILL_SUB_*). Funding bills carry the payment in `pnl`
("Funding Fee expense (subType = 173): You may refer to "pnl" for the fee payment").

Bounded: the newest `max_bills` are kept, and nothing older than the 3-month archive window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from okxscalp.okx import constants as k
from okxscalp.sim.wire import fmt_num

BILLS_KEPT_MS = 7 * 86_400_000  # GET /account/bills: the last 7 days
BILLS_ARCHIVE_KEPT_MS = 90 * 86_400_000  # GET /account/bills-archive: the last 3 months
BILLS_LIMIT_MAX = 100  # "limit: The maximum is 100. The default is 100."
MAX_BILLS_KEPT = 20_000


def trade_sub_type(side: str, pos_side: str) -> str:
    """A trade bill's subType: buy/sell in net mode, open/close long/short in long/short mode."""
    if pos_side == "long":
        return k.BILL_SUB_OPEN_LONG if side == "buy" else k.BILL_SUB_CLOSE_LONG
    if pos_side == "short":
        return k.BILL_SUB_OPEN_SHORT if side == "sell" else k.BILL_SUB_CLOSE_SHORT
    return k.BILL_SUB_BUY if side == "buy" else k.BILL_SUB_SELL


@dataclass(frozen=True, slots=True)
class Bill:
    """One bill; numbers as floats, the wire form formats them."""

    bill_id: str
    ts_ms: int
    inst_id: str
    type_: str
    sub_type: str
    bal_chg: float  # change of the account-level balance (cashBal)
    bal: float  # account-level balance after the change
    pnl: float
    fee: float  # negative = charged
    sz: float  # contracts, always positive
    px: float  # trade price, liquidation price or mark price, per subType
    ord_id: str = ""
    cl_ord_id: str = ""
    trade_id: str = ""
    exec_type: str = ""  # T | M for trades, "" otherwise
    mgn_mode: str = ""
    tag: str = ""
    fill_mark_px: str = ""
    fill_idx_px: str = ""
    ccy: str = "USDT"

    def wire(self) -> dict:
        """GET /account/bills (and -archive) data item, documented fields."""
        is_trade = bool(self.ord_id)
        return {
            "bal": fmt_num(self.bal),
            "balChg": fmt_num(self.bal_chg),
            "billId": self.bill_id,
            "ccy": self.ccy,
            "clOrdId": self.cl_ord_id,
            "execType": self.exec_type,
            "fee": fmt_num(self.fee),
            "fillFwdPx": "",
            "fillIdxPx": self.fill_idx_px,
            "fillMarkPx": self.fill_mark_px,
            "fillMarkVol": "",
            "fillPxUsd": "",
            "fillPxVol": "",
            "fillTime": str(self.ts_ms) if is_trade else "",
            "from": "",
            "instId": self.inst_id,
            "instType": "SWAP",
            "interest": "0",
            "mgnMode": self.mgn_mode,
            "notes": "",
            "ordId": self.ord_id,
            "pnl": fmt_num(self.pnl),
            "posBal": "0",
            "posBalChg": "0",
            "px": fmt_num(self.px) if self.px else "",
            "subType": self.sub_type,
            "sz": fmt_num(abs(self.sz)),
            "tag": self.tag,
            "to": "",
            "tradeId": self.trade_id,
            "ts": str(self.ts_ms),
            "type": self.type_,
        }


@dataclass(frozen=True, slots=True)
class BillQuery:
    """The documented filters of GET /account/bills(-archive), already validated."""

    inst_type: str | None = None
    inst_id: str | None = None
    ccy: str | None = None
    mgn_mode: str | None = None
    ct_type: str | None = None
    type_: str | None = None
    sub_type: str | None = None
    after: int | None = None  # bill id: records earlier than this
    before: int | None = None  # bill id: records newer than this
    begin_ms: int | None = None
    end_ms: int | None = None
    limit: int = BILLS_LIMIT_MAX

    def matches(self, bill: Bill) -> bool:
        checks = (
            self.inst_type is None or self.inst_type == "SWAP",
            self.inst_id is None or self.inst_id == bill.inst_id,
            self.ccy is None or self.ccy == bill.ccy,
            self.mgn_mode is None or self.mgn_mode == bill.mgn_mode,
            self.ct_type is None or self.ct_type == "linear",
            self.type_ is None or self.type_ == bill.type_,
            self.sub_type is None or self.sub_type == bill.sub_type,
            self.after is None or int(bill.bill_id) < self.after,
            self.before is None or int(bill.bill_id) > self.before,
            self.begin_ms is None or bill.ts_ms >= self.begin_ms,
            self.end_ms is None or bill.ts_ms <= self.end_ms,
        )
        return all(checks)


class BillLedger:
    """Bills of one account, oldest first in memory, served newest first.

    `next_bill_id` hands out the account's bill ids (the desk's sequence, shared with fills'
    `billId`), so a trade bill and its fill carry the same id.
    """

    def __init__(self, next_bill_id: Callable[[], str], max_bills: int = MAX_BILLS_KEPT) -> None:
        self._next_bill_id = next_bill_id
        self._bills: deque[Bill] = deque(maxlen=max_bills)

    def __len__(self) -> int:
        return len(self._bills)

    def add(self, *, inst_id: str, type_: str, sub_type: str, bal_chg: float, bal: float, pnl: float,
            fee: float, sz: float, px: float, ts_ms: int, ord_id: str = "", cl_ord_id: str = "",
            trade_id: str = "", exec_type: str = "", mgn_mode: str = "", tag: str = "",
            fill_mark_px: str = "", fill_idx_px: str = "", bill_id: str | None = None) -> Bill:
        """Record one balance change; `bill_id` given when the caller already took one (a fill)."""
        bill = Bill(
            bill_id=bill_id if bill_id is not None else self._next_bill_id(), ts_ms=ts_ms, inst_id=inst_id,
            type_=type_, sub_type=sub_type, bal_chg=bal_chg, bal=bal, pnl=pnl, fee=fee, sz=abs(sz), px=px,
            ord_id=ord_id, cl_ord_id=cl_ord_id, trade_id=trade_id, exec_type=exec_type, mgn_mode=mgn_mode,
            tag=tag, fill_mark_px=fill_mark_px, fill_idx_px=fill_idx_px,
        )
        self._bills.append(bill)
        return bill

    def bills(self) -> list[Bill]:
        """All kept bills, oldest first (for tests and persistence)."""
        return list(self._bills)

    def query(self, query: BillQuery, *, now_ms: int, archive: bool) -> list[dict]:
        """Newest first: the last 7 days (`archive`: 3 months) matching `query`, at most `limit`.

        `before` alone pages toward newer records: OKX returns the ones just newer than the
        cursor, still newest first."""
        horizon = now_ms - (BILLS_ARCHIVE_KEPT_MS if archive else BILLS_KEPT_MS)
        found = [b for b in self._bills if b.ts_ms >= horizon and query.matches(b)]
        if query.before is not None and query.after is None:
            found = found[: query.limit]  # oldest of the newer ones
            return [b.wire() for b in reversed(found)]
        return [b.wire() for b in reversed(found[-query.limit:])] if found else []

    def load(self, bills: Iterable[Bill]) -> None:
        """Replace the bills with restored ones (account_state.py decodes and checks them)."""
        self._bills.clear()
        self._bills.extend(bills)
