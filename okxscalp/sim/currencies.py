"""GET /api/v5/asset/currencies for the simulator: the currencies its instruments use.

OKX docs, funding-account-rest-api-get-currencies (https://www.okx.com/docs-v5/en/#funding-account-
rest-api-get-currencies): private, "6 requests per second", rule User ID, permission Read; optional
`ccy` ("Single currency or multiple currencies separated with comma"); one item per currency and
chain. Field types as documented: `canDep`, `canWd`, `canInternal`, `mainNet`, `needTag` are
Boolean, every other field a String. ccxt calls it in `load_markets` whenever keys are set.

The simulator's account neither deposits nor withdraws, so every currency says so: the `can*` flags
are false and the deposit/withdrawal amounts and fees are "0" (the estimated-open-time and quota
fields are "", as OKX answers when there is none).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SETTLE_CCY = "USDT"
# The chain OKX lists first for the shipped currencies; a synthetic base gets "<CCY>-<CCY>".
KNOWN_CHAINS: dict[str, tuple[str, str]] = {
    # ccy: (name, chain)
    "USDT": ("Tether", "USDT-TRC20"),
    "BTC": ("Bitcoin", "BTC-Bitcoin"),
    "ETH": ("Ethereum", "ETH-ERC20"),
    "SOL": ("Solana", "SOL-Solana"),
    "XRP": ("Ripple", "XRP-Ripple"),
    "DOGE": ("Dogecoin", "DOGE-Dogecoin"),
}
WD_DECIMALS = "8"  # wdTickSz: "the number of digits after the decimal point"


def currencies_used(base_ccys: Iterable[str]) -> list[str]:
    """USDT (the settlement currency) first, then each base currency once, in instrument order."""
    ordered = [SETTLE_CCY]
    for ccy in base_ccys:
        if ccy not in ordered:
            ordered.append(ccy)
    return ordered


def currency_wire(ccy: str) -> dict[str, Any]:
    name, chain = KNOWN_CHAINS.get(ccy, (ccy, f"{ccy}-{ccy}"))
    return {
        "ccy": ccy,
        "name": name,
        "logoLink": "",
        "chain": chain,
        "ctAddr": "",
        "canDep": False,
        "canWd": False,
        "canInternal": False,
        "depEstOpenTime": "",
        "wdEstOpenTime": "",
        "minDep": "0",
        "minWd": "0",
        "minInternal": "0",
        "maxWd": "0",
        "wdTickSz": WD_DECIMALS,
        "wdQuota": "0",
        "usedWdQuota": "0",
        "fee": "0",
        "minFee": "0",
        "maxFee": "0",
        "minFeeForCtAddr": "0",
        "maxFeeForCtAddr": "0",
        "burningFeeRate": "",
        "mainNet": True,
        "needTag": False,
        "minDepArrivalConfirm": "0",
        "minWdUnlockConfirm": "0",
        "depQuotaFixed": "",
        "usedDepQuotaFixed": "",
        "depQuoteDailyLayer2": "",
    }


def currencies_wire(base_ccys: Iterable[str], ccy_filter: str | None) -> list[dict[str, Any]]:
    """Every currency the instruments use, or those named in `ccy` (comma-separated) among them."""
    used = currencies_used(base_ccys)
    if ccy_filter is None:
        return [currency_wire(ccy) for ccy in used]
    wanted = {c.strip() for c in ccy_filter.split(",") if c.strip()}
    return [currency_wire(ccy) for ccy in used if ccy in wanted]
