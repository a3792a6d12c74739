"""The fault schedule of one soak run: seeded, so a failing run can be replayed exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from okxscalp.okx.constants import WS_BUSINESS_PATH, WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.sim.faults import MALFORMED_KINDS

# Kill moments, cycled through the run's kills (SPEC 3.7: kill -9 mid-position, restart).
KILL_PHASES = ("fill_before_snapshot", "random", "order_in_flight", "during_flatten", "right_after_fill", "random")
DROP_TARGETS = (None, WS_PUBLIC_PATH, WS_PRIVATE_PATH, WS_BUSINESS_PATH)
# REST paths the engine uses while it runs: where 429 storms and 50013 spells land.
STORM_PATHS = (
    "/api/v5/trade/order",
    "/api/v5/account/balance",
    "/api/v5/market/ticker",
    "/api/v5/account/positions",
    "/api/v5/trade/orders-pending",
    "/api/v5/market/candles",
)
# Real OKX sCodes for refused orders.
REJECT_CODES = (("51008", "Order failed. Insufficient USDT margin in account"), ("51121", "Order quantity must be a multiple of the lot size"))


@dataclass(frozen=True, slots=True)
class FaultEvent:
    at_s: float  # seconds after the start of the run
    kind: str  # drop | stall_symbol | stall_channel | delay | malformed | storm | busy | reject | skew
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind} {args}".strip()


@dataclass(frozen=True, slots=True)
class Schedule:
    duration_s: float
    faults: tuple[FaultEvent, ...]
    kill_times_s: tuple[float, ...]
    kill_phases: tuple[str, ...]
    orphan_kills: frozenset[int]  # kill numbers after which a position is opened behind the engine's back

    def count(self, kind: str) -> int:
        return sum(1 for f in self.faults if f.kind == kind)


def build_schedule(
    *, duration_s: float, drops: int, kills: int, seed: int, inst_ids: tuple[str, ...], warmup_s: float = 20.0
) -> Schedule:
    """Faults spread uniformly over [warmup_s, duration_s - 15 s] (the tail is quiet so the final
    audits see a settled system); kills evenly spaced with jitter."""
    rng = random.Random(seed)
    start, end = warmup_s, max(warmup_s + 10.0, duration_s - 15.0)
    span = end - start

    def at() -> float:
        return round(start + rng.random() * span, 2)

    events: list[FaultEvent] = []
    events += [FaultEvent(at(), "drop", {"path": rng.choice(DROP_TARGETS)}) for _ in range(drops)]
    per_min = span / 60.0
    for _ in range(max(2, int(per_min * 1.5))):
        events.append(FaultEvent(at(), "stall_symbol", {"inst_id": rng.choice(inst_ids), "seconds": round(rng.uniform(2, 8), 1)}))
    for _ in range(max(1, int(per_min * 0.5))):
        channel = rng.choice(("tickers", "candle1m", "books5", "orders"))
        events.append(FaultEvent(at(), "stall_channel", {"channel": channel, "seconds": round(rng.uniform(2, 6), 1)}))
    for _ in range(max(1, int(per_min * 0.6))):
        events.append(FaultEvent(at(), "delay", {"ms": rng.choice((150, 400, 800, 1500)), "seconds": round(rng.uniform(2, 6), 1),
                                                 "path": rng.choice(DROP_TARGETS)}))
    for _ in range(max(2, int(per_min * 1.0))):
        events.append(FaultEvent(at(), "malformed", {"kind": rng.choice(MALFORMED_KINDS), "path": rng.choice(DROP_TARGETS)}))
    for _ in range(max(1, int(per_min * 0.5))):
        events.append(FaultEvent(at(), "storm", {"path": rng.choice(STORM_PATHS), "seconds": round(rng.uniform(2, 6), 1)}))
    for _ in range(max(1, int(per_min * 0.4))):
        events.append(FaultEvent(at(), "busy", {"path": rng.choice((None, *STORM_PATHS)), "seconds": round(rng.uniform(1, 4), 1)}))
    for _ in range(max(1, int(per_min * 0.5))):
        code, msg = rng.choice(REJECT_CODES)
        events.append(FaultEvent(at(), "reject", {"code": code, "msg": msg, "count": rng.randint(1, 2)}))
    for _ in range(max(1, int(per_min * 0.25))):
        events.append(FaultEvent(at(), "skew", {"ms": rng.choice((-2500, -800, 600, 2000)), "seconds": round(rng.uniform(10, 30), 1)}))
    events.sort(key=lambda e: e.at_s)

    gap = span / max(kills, 1)
    kill_times = tuple(round(start + gap * (i + 0.3 + 0.4 * rng.random()), 2) for i in range(kills))
    phases = tuple(KILL_PHASES[i % len(KILL_PHASES)] for i in range(kills))
    orphan_kills = frozenset(i for i in range(kills) if i % 7 == 3)
    return Schedule(duration_s, tuple(events), kill_times, phases, orphan_kills)
