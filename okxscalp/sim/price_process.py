"""A seeded per-symbol price process that switches between trending, choppy and ranging stretches.

Works in log price. Per regime (v = the instrument's typical 1-minute volatility):
- trending: persistent drift of +-1.0 v per minute with moderate noise (0.9 v per sqrt-minute);
- choppy:   no drift, high noise (2.5 v) pulled back hard to the stretch's level (half-life 45 s),
            so 1m candles whipsaw with wide ranges and go nowhere;
- ranging:  no drift, low noise (0.5 v) mean-reverting slowly (half-life 120 s) around a level.
A regime lasts 6-20 minutes of sim time, then a different one follows. `force` overrides it (tests).
A replay path, when set, dictates the price until it runs out; the random process then resumes
from the last replayed price.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

TRENDING = "trending"
CHOPPY = "choppy"
RANGING = "ranging"
REGIMES: tuple[str, ...] = (TRENDING, CHOPPY, RANGING)

_MIN_STRETCH_S = 360.0
_MAX_STRETCH_S = 1200.0
# regime -> (drift in v per minute, noise in v per sqrt-minute, mean-reversion half-life s or 0)
_SHAPE: dict[str, tuple[float, float, float]] = {
    TRENDING: (1.0, 0.9, 0.0),
    CHOPPY: (0.0, 2.5, 45.0),
    RANGING: (0.0, 0.5, 120.0),
}


class PriceProcess:
    """Call `step()` once per `dt_s` of sim time; it returns the new fair price (float)."""

    __slots__ = (
        "_anchor",
        "_drift_step",
        "_dt",
        "_noise_step",
        "_replay",
        "_revert_step",
        "_rng",
        "_steps",
        "_vol",
        "_x",
        "regime",
        "remaining_s",
    )

    def __init__(self, rng: random.Random, start_px: float, vol_per_min: float, dt_s: float) -> None:
        if start_px <= 0 or dt_s <= 0:
            raise ValueError("start price and step must be positive")
        self._rng = rng
        self._dt = dt_s
        self._vol = vol_per_min
        self._x = math.log(start_px)
        self._anchor = self._x
        self._replay: Callable[[float], float | None] | None = None
        self._steps = 0
        self.regime = REGIMES[rng.randrange(3)]
        self.remaining_s = 0.0
        self._drift_step = self._noise_step = self._revert_step = 0.0
        self._enter(self.regime, rng.uniform(_MIN_STRETCH_S, _MAX_STRETCH_S), None)

    @property
    def price(self) -> float:
        return math.exp(self._x)

    def follow(self, replay: Callable[[float], float | None]) -> None:
        """Take prices from `replay(elapsed_sim_s)` until it returns None."""
        self._replay = replay

    def force(self, regime: str, duration_s: float, direction: int | None = None) -> None:
        if regime not in _SHAPE:
            raise ValueError(f"unknown regime {regime!r}; expected one of {', '.join(REGIMES)}")
        if duration_s <= 0:
            raise ValueError("duration_s must be positive")
        self._enter(regime, duration_s, direction)

    def jump_to(self, px: float) -> None:
        """Move the fair price to `px` now (a gap); the current regime carries on from there."""
        if not px > 0 or not math.isfinite(px):
            raise ValueError("price must be positive and finite")
        self._x = math.log(px)
        self._anchor = self._x

    def _enter(self, regime: str, duration_s: float, direction: int | None) -> None:
        drift, noise, half_life = _SHAPE[regime]
        sign = direction if direction in (1, -1) else (1 if self._rng.random() < 0.5 else -1)
        per_min_steps = 60.0 / self._dt
        self.regime = regime
        self.remaining_s = duration_s
        self._drift_step = sign * drift * self._vol / per_min_steps
        self._noise_step = noise * self._vol / math.sqrt(per_min_steps)
        self._revert_step = (math.log(2) / half_life * self._dt) if half_life else 0.0
        self._anchor = self._x

    def step(self) -> float:
        self._steps += 1
        if self._replay is not None:
            px = self._replay(self._steps * self._dt)
            if px is not None:
                self._x = math.log(px)
                return px
            self._replay = None
            self._anchor = self._x
        x = self._x + self._drift_step + self._noise_step * self._rng.gauss(0.0, 1.0)
        if self._revert_step:
            x -= self._revert_step * (x - self._anchor)
        self._x = x
        self.remaining_s -= self._dt
        if self.remaining_s <= 0:
            others = [r for r in REGIMES if r != self.regime]
            self._enter(others[self._rng.randrange(2)], self._rng.uniform(_MIN_STRETCH_S, _MAX_STRETCH_S), None)
        return math.exp(x)
