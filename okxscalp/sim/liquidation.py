"""The liquidation rule of the simulated account (pure): margin ratio, estimated liquidation price and
bankruptcy price of a USDT-margined perpetual position, isolated and cross.

OKX help centre, "Maintenance margin ratio" / "Forced partial or full liquidation":
- isolated, USDT-margined: margin ratio = (margin balance + unrealised P&L) /
  (face value x |contracts| x mark price x (tiered maintenance margin rate + fee rate));
- cross (single-currency margin): (balance + P&L - isolated margin - ...) / (maintenance margin +
  liquidation fees), liquidation fees being the taker fee on the positions;
- when the margin ratio falls to 100% or below the position is liquidated; for tiers 1-2 it is a
  forced FULL liquidation: the position goes to the liquidation engine at the bankruptcy price
  (the price where the margin is used up); a better fill goes to the insurance fund, a worse one
  is covered by it. Partial liquidation (tier 3 and above) is not modelled: such a position is
  liquidated in full too.
The liquidation shows up as an `orders` push with `category` `full_liquidation` (docs trade
"Order channel": category normal | twap | adl | full_liquidation | partial_liquidation |
delivery | ddh), a bill of type 5 (liquidation) and a `balance_and_position` push with eventType
`liquidation` (docs websocket balance-and-position channel).
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_LIQUIDATION = "full_liquidation"
EVENT_TYPE_LIQUIDATION = "liquidation"


@dataclass(frozen=True, slots=True)
class PositionMargin:
    """What the `positions` item says about one position's margin (None = not applicable)."""

    mmr: float  # maintenance margin requirement, USDT
    mgn_ratio: float | None
    liq_px: float | None  # estimated liquidation price (mark); None when it cannot be reached
    imr: float | None  # cross only
    margin: float | None  # isolated only


def margin_ratio(equity: float, maint: float) -> float | None:
    """equity / (maintenance margin + liquidation fees); None without a requirement."""
    return equity / maint if maint > 0 else None


def isolated_liq_px(direction: int, avg_px: float, margin: float, qty: float, rate: float) -> float | None:
    """Mark price where (margin + upl) = qty x mark x rate (`qty` in the base currency, `rate` =
    maintenance margin rate + fee rate)."""
    if qty <= 0:
        return None
    if direction > 0:
        px = (avg_px - margin / qty) / (1.0 - rate)
    else:
        px = (avg_px + margin / qty) / (1.0 + rate)
    return px if px > 0 else None


def bankruptcy_px(direction: int, avg_px: float, margin: float, qty: float) -> float:
    """Price where the position's margin is used up: margin + (px - avg) x qty x direction = 0."""
    px = avg_px - direction * margin / qty
    return max(px, 0.0)


def cross_liq_px(direction: int, mark: float, qty: float, equity: float, maint: float, rate: float) -> float | None:
    """Mark price of this position (the others held) where the account's cross equity meets its
    maintenance requirement: equity + dir x qty x (p - mark) = maint + qty x rate x (p - mark)."""
    if qty <= 0:
        return None
    px = mark + (maint - equity) / (qty * (direction - rate))
    return px if px > 0 else None


def cross_bankruptcy_pnls(upls: list[float], maints: list[float], equity: float) -> list[float]:
    """Realised P&L of each cross position closed at its bankruptcy price: together they take the
    cross equity to zero, shared in proportion to each position's maintenance requirement."""
    total = sum(maints)
    if total <= 0:
        share = [1.0 / len(upls)] * len(upls) if upls else []
    else:
        share = [m / total for m in maints]
    return [upl - equity * w for upl, w in zip(upls, share, strict=True)]
