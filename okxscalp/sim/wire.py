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


def fmt_num(value: float) -> str:
    """A free number (fee, PnL, balance): at most 12 decimals, no exponent, no trailing zeros."""
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
