"""The fault schedule of one soak run: seeded, so a failing run can be replayed exactly.

Exchange faults (drops, stalls, delays, malformed frames, 429 storms, 50013 spells, rejected
orders, small time skews) land at random moments. Faults of the engine's own machinery
(machinery.py) need the engine in a given state, so most of them are *episodes* run between two
kills (after the restart, before the next kill: no kill lands inside one); a balance outage spans
a kill and its restart; a sustained delivery delay and a large clock skew are timed like the rest.

Units: every duration and `ms` here is what the simulator's fault injector takes, wall time (its
clock is `time.monotonic()`), not simulated time. At speed k, a delay of `ms` wall milliseconds
is k x ms of the exchange's time; the sustained delay is sized in simulated seconds and converted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from okxscalp.market.delay import DEFAULT_WINDOW_S as DELAY_ESTIMATOR_WINDOW_S
from okxscalp.okx.constants import WS_BUSINESS_PATH, WS_CODE_TOO_FREQUENT, WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.sim.faults import MALFORMED_KINDS
from okxscalp.sim.ws_channels import CONN_COUNT_ERROR_EVENT
from okxscalp.soak.machinery import EPISODE_KINDS

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

# Engine machinery (issue 10). The sustained delay: SUSTAINED_DELAY_SIM_S of exchange time on every
# public frame, for longer than the delay estimator's window (engine monotonic time = wall).
SUSTAINED_DELAY_SIM_S = 3.0
SUSTAINED_DELAY_WALL_S = DELAY_ESTIMATOR_WINDOW_S + 15.0
CLOCK_SKEW_MS = 10_000  # far beyond freshness.clock_tolerance_s; /public/time and auth move with it
CLOCK_SKEW_WALL_S = 15.0
EPISODE_OUTAGE_S = 6.0  # each episode's outage: longer than the 2 s judged and the REST client's retries
BALANCE_OUTAGE_S = 20.0  # from just before the kill through the restarted engine's start-up
REFUSAL_CODES = (CONN_COUNT_ERROR_EVENT, WS_CODE_TOO_FREQUENT)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    at_s: float  # seconds after the start of the run
    # drop | stall_symbol | stall_channel | delay | malformed | storm | busy | reject | skew (exchange)
    # sustained_delay | clock_skew (engine machinery, timed)
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind} {args}".strip()


@dataclass(frozen=True, slots=True)
class Episode:
    """An engine-machinery fault run after the engine is up following kill `gap` - 1 (gap 0: the
    first start) and before kill `gap`."""

    gap: int
    kind: str  # machinery.EPISODE_KINDS
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind} " + " ".join(f"{k}={v}" for k, v in self.params.items())


@dataclass(frozen=True, slots=True)
class KillOutage:
    """A balance outage (50013 busy or 429 storm on /account/balance) from just before kill
    `kill` through the restart."""

    kill: int
    mode: str  # busy | storm
    seconds: float


@dataclass(frozen=True, slots=True)
class Schedule:
    duration_s: float
    faults: tuple[FaultEvent, ...]
    kill_times_s: tuple[float, ...]
    kill_phases: tuple[str, ...]
    orphan_kills: frozenset[int]  # kill numbers after which a position is opened behind the engine's back
    episodes: tuple[Episode, ...] = ()
    balance_outages: tuple[KillOutage, ...] = ()

    def count(self, kind: str) -> int:
        return sum(1 for f in self.faults if f.kind == kind) + sum(1 for e in self.episodes if e.kind == kind)

    def episodes_in_gap(self, gap: int) -> tuple[Episode, ...]:
        return tuple(e for e in self.episodes if e.gap == gap)

    def balance_outage_at(self, kill: int) -> KillOutage | None:
        return next((o for o in self.balance_outages if o.kill == kill), None)


def build_schedule(
    *, duration_s: float, drops: int, kills: int, seed: int, inst_ids: tuple[str, ...], warmup_s: float = 20.0,
    speed: float = 60.0, machinery: bool = True,
) -> Schedule:
    """Faults spread uniformly over [warmup_s, duration_s - 15 s] (the tail is quiet so the final
    audits see a settled system); kills evenly spaced with jitter. `machinery`: the engine's own
    faults too (one episode per gap between kills, the kinds in seeded rotation; a balance outage
    across one "random" kill in three; one sustained delay; one large clock skew)."""
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

    gap = span / max(kills, 1)
    kill_times = tuple(round(start + gap * (i + 0.3 + 0.4 * rng.random()), 2) for i in range(kills))
    phases = tuple(KILL_PHASES[i % len(KILL_PHASES)] for i in range(kills))
    orphan_kills = frozenset(i for i in range(kills) if i % 7 == 3)
    if not machinery:
        events.sort(key=lambda e: e.at_s)
        return Schedule(duration_s, tuple(events), kill_times, phases, orphan_kills)

    mrng = random.Random(seed * 7919 + 1)  # its own stream: the exchange faults above stay as they were
    delay_at = round(start + mrng.random() * max(span - SUSTAINED_DELAY_WALL_S, 1.0), 2)
    events.append(FaultEvent(delay_at, "sustained_delay", {
        "ms": round(SUSTAINED_DELAY_SIM_S * 1000 / speed, 1), "seconds": SUSTAINED_DELAY_WALL_S,
        "path": WS_PUBLIC_PATH, "sim_s": SUSTAINED_DELAY_SIM_S}))
    skew_at = round(start + mrng.random() * max(span - CLOCK_SKEW_WALL_S, 1.0), 2)
    skew_ms = mrng.choice((CLOCK_SKEW_MS, -CLOCK_SKEW_MS))
    # The large skew owns the exchange clock while it lasts: small skews overlapping it are dropped.
    events = [e for e in events if not (e.kind == "skew" and skew_at - e.params["seconds"] - 1 <= e.at_s <= skew_at + CLOCK_SKEW_WALL_S + 1)]
    events.append(FaultEvent(skew_at, "clock_skew", {"ms": skew_ms, "seconds": CLOCK_SKEW_WALL_S}))
    events.sort(key=lambda e: e.at_s)

    kinds = list(EPISODE_KINDS)
    mrng.shuffle(kinds)
    episodes = []
    for g in range(kills):
        kind = kinds[g % len(kinds)]
        params: dict[str, Any] = {"seconds": EPISODE_OUTAGE_S}
        if kind == "refuse_subscription":
            params["code"] = REFUSAL_CODES[(g // len(kinds)) % len(REFUSAL_CODES)]
        elif kind == "journal_fault":
            params["nudge_inst_id"] = mrng.choice(inst_ids)
        episodes.append(Episode(g, kind, params))
    randoms = [i for i, p in enumerate(phases) if p == "random" and i >= 1]
    chosen = sorted(mrng.sample(randoms, max(1, len(randoms) // 3))) if randoms else []
    outages = tuple(KillOutage(i, ("busy", "storm")[n % 2], BALANCE_OUTAGE_S) for n, i in enumerate(chosen))
    return Schedule(duration_s, tuple(events), kill_times, phases, orphan_kills, tuple(episodes), outages)
