"""GET /api/v5/account/trade-fee for the simulator: the fee rates its fills are charged at.

OKX docs, trading-account-rest-api-get-fee-rates (https://www.okx.com/docs-v5/en/#trading-account-
rest-api-get-fee-rates): private, 5 requests / 2 s per User ID; `instType` required; `instId`
applies to SPOT/MARGIN only, `instFamily` to FUTURES/SWAP/OPTION, `groupId` excludes instId/
instFamily ("Only one of groupId and instId/instFamily can be passed in"). Sign convention
("Remarks"): "positive number, which means the rate of rebate; negative number, which means the
rate of commission". One item: `level`, `feeGroup` [{groupId, taker, maker, elpMaker}], and the
deprecated `taker`/`maker` (crypto-margined contracts), `takerU`/`makerU` (USDT-margined),
`takerUSDC`/`makerUSDC`, `category`, `ruleType`, `fiat`, `delivery`, `exercise`, `instType`, `ts`.
Field set as in the docs' response example (and nautilus' test_data/http_get_trade_fee_*.json).

The simulated account is a regular Lv1 user (as GET /account/config says): one fee tier for every
contract type, the rates fills are charged at (account.TAKER_FEE_RATE / MAKER_FEE_RATE).
"""

from __future__ import annotations

from typing import Any

from okxscalp.sim.account import MAKER_FEE_RATE, TAKER_FEE_RATE
from okxscalp.sim.wire import fmt_num

FEE_LEVEL = "Lv1"
# The simulator's instruments publish no `groupId`; all of them form one fee group.
FEE_GROUP_ID = "1"


def trade_fee_item(inst_type: str, now_ms: int, group_id: str | None = None) -> dict[str, Any]:
    """The data item for an instrument type that has fee rates (`group_id` filters feeGroup)."""
    taker = fmt_num(-TAKER_FEE_RATE)  # negative: charged
    maker = fmt_num(-MAKER_FEE_RATE)
    groups = [{"groupId": FEE_GROUP_ID, "taker": taker, "maker": maker, "elpMaker": ""}]
    return {
        "category": "1",
        "delivery": "",
        "exercise": "",
        "feeGroup": [g for g in groups if group_id is None or g["groupId"] == group_id],
        "fiat": [],
        "instType": inst_type,
        "level": FEE_LEVEL,
        "maker": maker,
        "makerU": maker,
        "makerUSDC": maker,
        "ruleType": "normal",
        "taker": taker,
        "takerU": taker,
        "takerUSDC": taker,
        "ts": str(now_ms),
    }
