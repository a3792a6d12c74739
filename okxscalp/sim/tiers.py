"""OKX position tiers for the simulated USDT perpetuals: maintenance and initial margin rates by
position size, and the GET /api/v5/public/position-tiers answer.

OKX docs, public-data "Get position tiers" (GET /api/v5/public/position-tiers; rate limit 10
requests per 2 seconds, rule IP): params `instType` (required), `tdMode` (required: cross |
isolated), `instFamily` or `uly` (one required for SWAP), `instId`, `tier`; each item carries
`uly`, `instFamily`, `instId`, `tier`, `minSz`, `maxSz` (contracts for SWAP), `mmr` (maintenance
margin requirement rate), `imr` (initial margin requirement rate), `maxLever`, `optMgnFactor`,
`quoteMaxLoan`, `baseMaxLoan`; an unknown family is a 51000 "Parameter instFamily error".

The numbers: tier 1 of BTC-USDT (0-1000 contracts, mmr 0.004, imr 0.01, 100x) and ETH-USDT
(0-5000 contracts, mmr 0.004, imr 0.01, 100x) are OKX's as recorded live in published client
fixtures. The live tables for SOL, XRP and DOGE and every tier above 1 could not be found: those
rows keep OKX's documented structure (contracts, rising mmr/imr, falling maxLever) with numbers
estimated from the tier-1 rows and the instruments' maximum leverage. NOT live numbers.
OKX publishes one table per tdMode; for USDT swaps the rates are the same in both modes, which
the simulator assumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from okxscalp.okx import constants as k
from okxscalp.sim.events import SimApiError
from okxscalp.sim.wire import fmt_num


@dataclass(frozen=True, slots=True)
class PositionTier:
    tier: int
    min_sz: float  # contracts (exclusive bound; tier 1 starts at 0)
    max_sz: float  # contracts (inclusive)
    mmr: float  # maintenance margin rate
    imr: float  # initial margin rate
    max_lever: int


def _ladder(sizes: tuple[float, ...], mmrs: tuple[float, ...], levers: tuple[int, ...]) -> tuple[PositionTier, ...]:
    tiers = []
    low = 0.0
    for number, (high, mmr, lever) in enumerate(zip(sizes, mmrs, levers, strict=True), start=1):
        tiers.append(PositionTier(number, low, high, mmr, round(1.0 / lever, 10), lever))
        low = high
    return tuple(tiers)


# Tier 1 of BTC and ETH recorded live (see the module docstring); the rest estimated.
TIERS_BY_FAMILY: dict[str, tuple[PositionTier, ...]] = {
    "BTC-USDT": _ladder((1000, 2000, 5000, 10000, 20000),
                        (0.004, 0.005, 0.008, 0.02, 0.04), (100, 75, 50, 20, 10)),
    "ETH-USDT": _ladder((5000, 10000, 25000, 50000, 100000),
                        (0.004, 0.005, 0.008, 0.02, 0.04), (100, 75, 50, 20, 10)),
    "SOL-USDT": _ladder((10000, 25000, 50000, 100000, 200000),
                        (0.008, 0.01, 0.015, 0.02, 0.04), (50, 40, 30, 20, 10)),
    "XRP-USDT": _ladder((20000, 50000, 100000, 200000, 400000),
                        (0.008, 0.01, 0.015, 0.02, 0.04), (50, 40, 30, 20, 10)),
    "DOGE-USDT": _ladder((20000, 50000, 100000, 200000, 400000),
                         (0.008, 0.01, 0.015, 0.02, 0.04), (50, 40, 30, 20, 10)),
}


def _synthetic(max_lever: int) -> tuple[PositionTier, ...]:
    """Generated instruments (SYN07-USDT-SWAP...): the 50x ladder, or the 100x one, capped at the spec."""
    if max_lever >= 100:
        return TIERS_BY_FAMILY["BTC-USDT"]
    levers = tuple(min(max_lever, lever) for lever in (50, 40, 30, 20, 10))
    return _ladder((10000, 25000, 50000, 100000, 200000), (0.008, 0.01, 0.015, 0.02, 0.04), levers)


def tiers_for(family: str, max_lever: int) -> tuple[PositionTier, ...]:
    return TIERS_BY_FAMILY.get(family) or _synthetic(max_lever)


def tier_of(tiers: tuple[PositionTier, ...], contracts: float) -> PositionTier:
    """The tier a position of `contracts` falls in (past the last tier: the last one)."""
    for tier in tiers:
        if contracts <= tier.max_sz + 1e-9:
            return tier
    return tiers[-1]


def tier_wire(family: str, tier: PositionTier) -> dict:
    return {
        "baseMaxLoan": "", "imr": fmt_num(tier.imr), "instFamily": family, "instId": "",
        "maxLever": str(tier.max_lever), "maxSz": fmt_num(tier.max_sz), "minSz": fmt_num(tier.min_sz),
        "mmr": fmt_num(tier.mmr), "optMgnFactor": "0", "quoteMaxLoan": "", "tier": str(tier.tier), "uly": family,
    }


def position_tiers_wire(params: dict, lever_by_family: dict[str, int]) -> list[dict]:
    """GET /public/position-tiers items for the families served (`lever_by_family`: family -> the
    instrument's max leverage)."""
    if params.get("instType") != "SWAP":
        raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instType error")
    if params.get("tdMode") not in ("cross", "isolated"):
        raise SimApiError(k.CODE_PARAM_ERROR, "Parameter tdMode error")
    wanted = str(params.get("instFamily") or params.get("uly") or "")
    if not wanted:
        raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instFamily error")
    tier_filter = str(params.get("tier") or "")
    out = []
    for family in wanted.split(","):
        if family not in lever_by_family:
            raise SimApiError(k.CODE_PARAM_ERROR, "Parameter instFamily error")
        for tier in tiers_for(family, lever_by_family[family]):
            if not tier_filter or tier_filter == str(tier.tier):
                out.append(tier_wire(family, tier))
    return out
