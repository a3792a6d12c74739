"""What the simulator saw, time-stamped in the harness's process (wall clock, `time.time()`, the
same clock the engine's log lines and journal rows carry: both processes run on one machine).

- `RestTap`: every REST request by path, and which of them an injected fault answered (429 storm,
  50013 busy); every WebSocket error event the simulator sent (refused subscriptions).
- `OrderLedger`: every order and algo order that reached the simulator: when (wall), at which
  simulator time (ms, what OKX stamps `cTime` with), for which instrument.
- `PositionSampler`: the simulator's positions (and which of them carry a stop on the exchange),
  sampled every `interval_s`.

They wrap the running server's counters and methods on this instance only (like probes.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.sim.server import SimServer

PositionKey = tuple[str, str]  # (instId, posSide)


class StampedCounter(Counter):
    """A Counter that appends (wall time, tag, key) to `stamps` whenever a count goes up."""

    def __init__(self, stamps: list[tuple[float, str, Hashable]], tag: str, initial: Counter | None = None) -> None:
        super().__init__()
        self._stamps = stamps
        self._tag = tag
        if initial:
            dict.update(self, initial)  # copied as is: earlier counts are not new events

    def __setitem__(self, key: Hashable, value: int) -> None:
        if value > self.get(key, 0):
            self._stamps.append((time.time(), self._tag, key))
        super().__setitem__(key, value)


REQUEST, BUSY, STORM, WS_ERROR = "request", "busy", "storm", "ws_error"


@dataclass(slots=True)
class RestTap:
    """Time-stamped REST requests, injected answers and WS error events (in arrival order)."""

    stamps: list[tuple[float, str, Hashable]] = field(default_factory=list)

    def install(self, server: SimServer) -> None:
        c = server.counters
        c.requests = StampedCounter(self.stamps, REQUEST, c.requests)
        c.busy_injected = StampedCounter(self.stamps, BUSY, c.busy_injected)
        c.http_429_injected = StampedCounter(self.stamps, STORM, c.http_429_injected)
        c.ws_errors = StampedCounter(self.stamps, WS_ERROR, c.ws_errors)

    def answers(self, paths: tuple[str, ...]) -> list[tuple[float, str, bool]]:
        """(time, path, injected) for every request to one of `paths`. The server counts a request,
        then (synchronously, same call) the fault that answers it: an injected mark right after a
        request of the same path belongs to that request."""
        out: list[tuple[float, str, bool]] = []
        for t, tag, key in self.stamps:
            if key not in paths:
                continue
            if tag == REQUEST:
                out.append((t, str(key), False))
            elif tag in (BUSY, STORM) and out and out[-1][1] == key and not out[-1][2]:
                out[-1] = (out[-1][0], str(key), True)
        return out

    def ws_errors(self, since: float) -> list[tuple[float, str]]:
        return [(t, str(key)) for t, tag, key in self.stamps if tag == WS_ERROR and t >= since]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One order request as the simulator received it."""

    cl_ord_id: str
    inst_id: str
    wall: float  # harness wall time of arrival
    sim_ms: int  # simulator time at arrival: the order's cTime when accepted
    accepted: bool
    algo: bool = False


@dataclass(slots=True)
class OrderLedger:
    arrivals: list[Arrival] = field(default_factory=list)

    def install(self, server: SimServer) -> None:
        exchange = server.exchange
        place, place_algo = exchange.place_order, exchange.place_algo_order

        def place_order(params: dict) -> dict:
            sim_ms = exchange.now_ms  # the server advanced the market before handling the request
            item = place(params)
            self.arrivals.append(Arrival(str(params.get("clOrdId", "")), str(params.get("instId", "")), time.time(),
                                         sim_ms, item.get("sCode") == "0"))
            return item

        def place_algo_order(params: dict) -> dict:
            sim_ms = exchange.now_ms
            item = place_algo(params)
            self.arrivals.append(Arrival(str(params.get("algoClOrdId", "")), str(params.get("instId", "")),
                                         time.time(), sim_ms, item.get("sCode") == "0", algo=True))
            return item

        exchange.place_order = place_order  # type: ignore[method-assign]
        exchange.place_algo_order = place_algo_order  # type: ignore[method-assign]

    def entries(self) -> list[Arrival]:
        return [a for a in self.arrivals if not a.algo and a.cl_ord_id.startswith(ENTRY_PREFIX)]


ENTRY_PREFIX = "oxe"  # okxscalp.engine.executor.CL_ORD_PREFIX_ENTRY
PROTECT_PREFIX = "oxp"


@dataclass(frozen=True, slots=True)
class PositionSample:
    wall: float
    positions: frozenset[PositionKey]
    with_stop: frozenset[PositionKey]  # positions with a stop-loss live on the exchange


def has_stop(algo: dict[str, Any]) -> bool:
    return bool(algo.get("slTriggerPx"))


def attached_stops(pending_orders: list[dict[str, Any]]) -> set[PositionKey]:
    """Positions whose entry order still carries a not-yet-armed attached stop (partly filled)."""
    return {(o["instId"], o.get("posSide", "")) for o in pending_orders
            if any(a.get("slTriggerPx") for a in o.get("attachAlgoOrds", []))}


@dataclass(slots=True)
class PositionSampler:
    server: SimServer
    interval_s: float = 0.25
    samples: list[PositionSample] = field(default_factory=list)

    def sample(self) -> PositionSample:
        exchange = self.server.exchange
        positions = frozenset((p["instId"], p["posSide"]) for p in exchange.positions_wire())
        stops = {(a["instId"], a.get("posSide", "")) for a in exchange.algo_orders_pending() if has_stop(a)}
        stops |= attached_stops(exchange.orders_pending())
        snap = PositionSample(time.time(), positions, frozenset(stops & positions))
        self.samples.append(snap)
        return snap

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval_s)
