"""Instruments on the simulator side (the harness's own process): reconnect latency and the
moments a kill must land on. They wrap the running server's methods on this instance only."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.okx.constants import WS_PRIVATE_PATH
from okxscalp.sim.server import SimServer

ENTRY_PREFIX = "oxe"  # okxscalp.engine.executor.CL_ORD_PREFIX_ENTRY
FILL_STATES = ("filled", "partially_filled")


async def poll_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float) -> bool:
    """Conditions here live in another process (log file, journal) or the simulator: polled."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)
    return True


def _fresh(session: Any, path: str) -> bool:
    """Fresh data on a new connection: a data push (public/business), or logged in and
    subscribed again (private pushes only on account events)."""
    if path == WS_PRIVATE_PATH:
        return bool(session.logged_in and session.private_args)
    return session.last_push is not None and bool(session.public_keys)


async def measure_reconnect(server: SimServer, path: str, before: set[str], t0: float, timeout_s: float = 30.0) -> float | None:
    """Seconds from `t0` (just before the drop) to fresh data on a connection of `path` that did
    not exist before the drop; None if none within `timeout_s`."""
    while time.monotonic() - t0 < timeout_s:
        for session in server.hub.sessions.get(path, []):
            if not session.closed and session.conn_id not in before and _fresh(session, path):
                return time.monotonic() - t0
        await asyncio.sleep(0.005)
    return None


def session_ids(server: SimServer, path: str) -> set[str]:
    return {s.conn_id for s in server.hub.sessions.get(path, [])}


@dataclass(slots=True)
class KillTrigger:
    """Kills the engine when the armed moment happens on the simulator:
    - `order_in_flight`: an entry order was just accepted (its reply is not yet on the wire);
    - `during_flatten`: a close-position was just accepted;
    - `right_after_fill`: an entry fill was just pushed (the kill follows 0-30 ms later, inside
      the engine's fill → snapshot handling or just after it)."""

    server: SimServer
    kill: Callable[[], bool]
    rng: random.Random
    armed: str | None = None
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    detail: str = ""

    def install(self) -> None:
        exchange, hub = self.server.exchange, self.server.hub
        place, close, publish = exchange.place_order, exchange.close_position, hub.publish

        def place_order(params: dict) -> dict:
            item = place(params)
            if self.armed == "order_in_flight" and item.get("sCode") == "0" and str(item.get("clOrdId", "")).startswith(ENTRY_PREFIX):
                self._fire(f"entry {item.get('clOrdId')} accepted, reply not yet sent")
            return item

        def close_position(params: dict) -> dict:
            item = close(params)
            if self.armed == "during_flatten":
                self._fire(f"close-position {params.get('instId')} {params.get('posSide')} accepted")
            return item

        def publish_events(events: Any) -> None:
            events = list(events)
            publish(events)
            if self.armed != "right_after_fill":
                return
            for event in events:
                data = event.data
                if (event.channel == "orders" and isinstance(data, dict) and data.get("state") in FILL_STATES
                        and str(data.get("clOrdId", "")).startswith(ENTRY_PREFIX)):
                    self.armed = None
                    delay = self.rng.uniform(0.0, 0.03)
                    detail = f"fill of {data.get('clOrdId')} pushed; kill {delay * 1000:.0f} ms later"
                    asyncio.get_running_loop().call_later(delay, self._fire, detail, "right_after_fill")
                    return

        exchange.place_order = place_order  # type: ignore[method-assign]
        exchange.close_position = close_position  # type: ignore[method-assign]
        hub.publish = publish_events  # type: ignore[method-assign]

    def arm(self, phase: str) -> None:
        self.fired.clear()
        self.detail = ""
        self.armed = phase

    def disarm(self) -> None:
        self.armed = None

    def _fire(self, detail: str, phase: str | None = None) -> None:
        if phase is None and self.armed is None:
            return
        self.armed = None
        if self.kill():
            self.detail = detail
            self.fired.set()
