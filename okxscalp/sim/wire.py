"""Number formatting for the wire: OKX sends every number as a string, `""` when empty."""

from __future__ import annotations

from decimal import Decimal


def decimals_of(step: str) -> int:
    """Digits after the point of a grid step: "0.01" -> 2, "1" -> 0."""
    exponent = Decimal(step).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def fmt_fixed(value: float, decimals: int) -> str:
    """A grid number (price on the tick grid, size on the lot grid) with the grid's decimals."""
    return f"{value:.{decimals}f}"


# From here up a float's spacing exceeds 1e-12 (2**13 * 2**-52 = 1.8e-12): round(value, 12), a
# decimal within 0.5e-12 of value read back to the nearest float, is value itself.
_ROUND_12_IS_IDENTITY = 8192.0


def fmt_num(value: float) -> str:
    """A free number (fee, PnL, balance): at most 12 decimals, no exponent, no trailing zeros."""
    if value >= _ROUND_12_IS_IDENTITY or value <= -_ROUND_12_IS_IDENTITY:
        text = f"{value:.15g}"  # balances, notionals, candle quote volumes: no round() to pay for
    else:
        if not value:
            return "0"  # an exact zero (no fee, no funding yet): nothing to round
        value = round(value, 12)
        if value == 0:
            return "0"
        # 15 significant digits drop binary noise such as 0.30000000000000004
        text = f"{value:.15g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def fmt_ms(ms: int) -> str:
    return str(int(ms))
