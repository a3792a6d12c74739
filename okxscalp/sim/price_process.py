"""A seeded per-symbol price process that switches between trending, choppy and ranging stretches.

Works in log price. Per regime (v = the instrument's typical 1-minute volatility):
- trending: persistent drift of +-1.0 v per minute with moderate noise (0.9 v per sqrt-minute);
- choppy:   no drift, high noise (2.5 v) pulled back hard to the stretch's level (half-life 45 s),
            so 1m candles whipsaw with wide ranges and go nowhere;
- ranging:  no drift, low noise (0.5 v) mean-reverting slowly (half-life 120 s) around a level.
A regime lasts 6-20 minutes of sim time, then a different one follows. `force` overrides it (tests).
A replay path, when set, dictates the price until it runs out; the random process then resumes
from the last replayed price.

`Swings` (off by default) add the short-lived moves of a busy session on top of the regime path: a
fast mean-reverting component (an Ornstein-Uhlenbeck process, exact at any step size) whose typical
size is `swing` v and which halves in `swing_half_life_s`. The regime's drift and level are
unchanged; the price overshoots and comes back within tens of seconds, the way order-flow bursts
trade through resting orders near the touch on a real book. With swings off the random draws are
exactly those of the plain process (same seed, same path).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Swings:
    """The fast component: typical size in units of the instrument's 1-minute volatility v (the
    component's stationary standard deviation), and its half-life. size 0 = off."""

    size: float = 0.0
    half_life_s: float = 20.0

    def __post_init__(self) -> None:
        if not (self.size >= 0 and math.isfinite(self.size)):
            raise ValueError(f"swing size must be >= 0, got {self.size!r}")
        if not (self.half_life_s > 0 and math.isfinite(self.half_life_s)):
            raise ValueError(f"swing half-life must be > 0 s, got {self.half_life_s!r}")


NO_SWINGS = Swings()


class PriceProcess:
    """Call `step()` once per `dt_s` of sim time; it returns the new fair price (float)."""

    __slots__ = (
        "_anchor",
        "_drift_step",
        "_dt",
        "_noise_step",
        "_replay",
        "_replayed",
        "_revert_step",
        "_rng",
        "_steps",
        "_swing",
        "_swing_keep",
        "_swing_kick",
        "_vol",
        "_x",
        "regime",
        "remaining_s",
    )

    def __init__(self, rng: random.Random, start_px: float, vol_per_min: float, dt_s: float,
                 swings: Swings = NO_SWINGS) -> None:
        if start_px <= 0 or dt_s <= 0:
            raise ValueError("start price and step must be positive")
        self._rng = rng
        self._dt = dt_s
        self._vol = vol_per_min
        self._x = math.log(start_px)
        self._anchor = self._x
        # Exact OU step: s' = s * keep + kick * N(0, 1) keeps the stationary std at size * v.
        self._swing = 0.0
        self._swing_keep = math.exp(-math.log(2) / swings.half_life_s * dt_s)
        self._swing_kick = swings.size * vol_per_min * math.sqrt(1.0 - self._swing_keep ** 2)
        self._replay: Callable[[float], float | None] | None = None
        self._replayed = math.nan  # the replayed price _x was last set from (nan: none since)
        self._steps = 0
        self.regime = REGIMES[rng.randrange(3)]
        self.remaining_s = 0.0
        self._drift_step = self._noise_step = self._revert_step = 0.0
        self._enter(self.regime, rng.uniform(_MIN_STRETCH_S, _MAX_STRETCH_S), None)

    @property
    def price(self) -> float:
        return math.exp(self._x + self._swing)

    def follow(self, replay: Callable[[float], float | None]) -> None:
        """Take prices from `replay(elapsed_sim_s)` until it returns None."""
        self._replay = replay
        self._replayed = math.nan

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
        self._swing = 0.0
        self._replayed = math.nan  # a replay's next price sets _x again, whatever it is

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
                if px != self._replayed:  # a recording holds its price for many steps: one log per change
                    self._replayed = px
                    self._x = math.log(px)
                    self._swing = 0.0
                return px
            self._replay = None
            self._anchor = self._x
        x = self._x + self._drift_step + self._noise_step * self._rng.gauss(0.0, 1.0)
        if self._revert_step:
            x -= self._revert_step * (x - self._anchor)
        self._x = x
        if self._swing_kick:
            self._swing = self._swing * self._swing_keep + self._swing_kick * self._rng.gauss(0.0, 1.0)
        self.remaining_s -= self._dt
        if self.remaining_s <= 0:
            others = [r for r in REGIMES if r != self.regime]
            self._enter(others[self._rng.randrange(2)], self._rng.uniform(_MIN_STRETCH_S, _MAX_STRETCH_S), None)
        return math.exp(x + self._swing)
