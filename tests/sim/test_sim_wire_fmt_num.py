"""fmt_num skips round(value, 12) where a float's spacing makes it the identity (|value| >= 8192):
the strings must be the reference formula's for every magnitude, sign and rounding."""

from __future__ import annotations

import math
import random

from okxscalp.sim.wire import fmt_num


def _reference(value: float) -> str:
    value = round(value, 12)
    if value == 0:
        return "0"
    text = f"{value:.15g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def test_fmt_num_matches_the_reference_formula() -> None:
    rng = random.Random(11)
    values = [0.0, -0.0, 8192.0, -8192.0, math.nextafter(8192.0, 0.0), math.nextafter(-8192.0, 0.0), 1e15,
              9.99999999999999e14, 1e300, -1e300, math.inf, -math.inf, 0.1 + 0.2, 1e-13, 123456789.123456789]
    for _ in range(200_000):
        value = rng.choice((1.0, -1.0)) * 10.0 ** rng.uniform(-14.0, 20.0)
        if rng.random() < 0.3:
            value = round(value, rng.randrange(0, 9))  # wire values: fees, PnL, quote volumes to 4 places
        values.append(value)
    for value in values:
        assert fmt_num(value) == _reference(value), value
