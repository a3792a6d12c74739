"""Fault injection: what a test, the control endpoint or `okxscalp sim fault` can break.

Timed faults are plain state the server consults on its hot paths (cheap checks, deadlines on
the monotonic clock). Immediate faults (drop connections, malformed frame, upgrade notice,
rejected orders) act on the server right away; they are marshalled onto the server's event loop
when called from another thread (tests that run the server with `run_in_thread`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

MALFORMED_KINDS = ("truncated", "wrong_types", "unknown_channel", "empty_data", "not_json")


class ConnectionActions(Protocol):
    """What the WebSocket side of the server offers the injector."""

    def drop_connections(self, path: str | None, fraction: float) -> int: ...
    def send_malformed(self, kind: str, path: str | None) -> int: ...
    def notice_upgrade(self, path: str | None) -> int: ...


@dataclass(frozen=True, slots=True)
class Stall:
    until: float
    channel: str | None
    inst_id: str | None

    def covers(self, channel: str, inst_id: str | None) -> bool:
        return (self.channel is None or self.channel == channel) and (
            self.inst_id is None or self.inst_id == inst_id
        )


@dataclass(frozen=True, slots=True)
class Delay:
    until: float
    seconds: float
    path: str | None


@dataclass(slots=True)
class AfterAccept:
    """An order endpoint whose next replies are lost (`hold_s` None) or held back `hold_s`."""

    remaining: int
    hold_s: float | None


class FaultInjector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._connections: ConnectionActions | None = None
        self._reject_orders: Callable[[str, str, int], None] | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.stalls: list[Stall] = []
        self.refuse_until = 0.0
        self.delays: list[Delay] = []
        self.storms: dict[str, float] = {}  # endpoint path -> until
        self.busy_until: dict[str | None, float] = {}  # endpoint path (None = all) -> until
        self.skew_ms = 0
        self.after_accept: dict[str, AfterAccept] = {}

    def bind(
        self,
        loop: asyncio.AbstractEventLoop,
        connections: ConnectionActions,
        reject_orders: Callable[[str, str, int], None],
    ) -> None:
        """Called by the server once it runs: where immediate faults act."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._connections = connections
        self._reject_orders = reject_orders

    # ------------------------------------------------------------------ timed faults
    def stall(self, seconds: float, channel: str | None = None, inst_id: str | None = None) -> None:
        """Push nothing on `channel` (all channels if None) for `inst_id` (all if None) for
        `seconds`; connections stay open and answer pings (the audit's "WS lags" case)."""
        self.stalls.append(Stall(self._clock() + seconds, channel, inst_id))

    def refuse_connections(self, seconds: float) -> None:
        """New WebSocket upgrades are refused (HTTP 503) for `seconds`."""
        self.refuse_until = self._clock() + seconds

    def delay_messages(self, ms: float, seconds: float, path: str | None = None) -> None:
        """Every frame sent on `path` (all paths if None) leaves `ms` late, for `seconds`."""
        self.delays.append(Delay(self._clock() + seconds, ms / 1000.0, path))

    def rate_limit_storm(self, endpoint_path: str, seconds: float) -> None:
        """Every request to `endpoint_path` gets HTTP 429 / 50011 for `seconds`."""
        self.storms[endpoint_path] = self._clock() + seconds

    def busy(self, seconds: float, endpoint_path: str | None = None) -> None:
        """Requests (to `endpoint_path`, or all) get HTTP 429 / 50013 "Systems are busy"."""
        self.busy_until[endpoint_path] = self._clock() + seconds

    def skew_time(self, ms: int) -> None:
        """Server time (public/time, REST and WS auth checks) runs `ms` ahead (negative: behind)."""
        self.skew_ms = int(ms)

    def drop_response_after_accept(self, count: int = 1, endpoint_path: str = "/api/v5/trade/order") -> None:
        """The next `count` requests to `endpoint_path` are executed, then the connection is
        aborted without a reply (the client cannot know whether its order exists)."""
        self.after_accept[endpoint_path] = AfterAccept(count, None)

    def timeout_after_accept(
        self, seconds: float, count: int = 1, endpoint_path: str = "/api/v5/trade/order"
    ) -> None:
        """The next `count` requests to `endpoint_path` are executed and answered `seconds` late."""
        self.after_accept[endpoint_path] = AfterAccept(count, seconds)

    # ------------------------------------------------------------------ immediate faults
    def drop_connections(self, path: str | None = None, fraction: float = 1.0) -> int:
        """Abruptly close (no close frame) the open WebSocket connections on `path` (all if None);
        `fraction` < 1 drops that share of them, oldest first. Returns how many were dropped."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        return self._on_loop(lambda c: c.drop_connections(path, fraction))

    def send_malformed(self, kind: str, path: str | None = None) -> int:
        """Send one malformed frame of `kind` (see MALFORMED_KINDS) on every open connection of
        `path` (all if None). Returns how many frames were sent."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; kinds: {', '.join(MALFORMED_KINDS)}")
        return self._on_loop(lambda c: c.send_malformed(kind, path))

    def notice_upgrade(self, path: str | None = None) -> int:
        """Send the 64008 "service upgrade" notice on every open connection of `path`."""
        return self._on_loop(lambda c: c.notice_upgrade(path))

    def reject_next_order(self, code: str, msg: str | None = None, count: int = 1) -> None:
        """The next `count` orders placed fail with sCode `code`."""
        text = msg if msg is not None else f"Order rejected by fault injection ({code})"
        self._on_loop(lambda _c: self._require(self._reject_orders)(str(code), text, int(count)))

    def clear(self) -> None:
        """End every timed fault now (pending order rejections stay with the exchange)."""
        self._reset_state()

    # ------------------------------------------------------------------ queries (server hot paths)
    def now(self) -> float:
        return self._clock()

    def is_stalled(self, channel: str, inst_id: str | None) -> bool:
        stalls = self.stalls
        if not stalls:
            return False
        now = self._clock()
        live = [s for s in stalls if s.until > now]
        if len(live) != len(stalls):
            self.stalls = live
        return any(s.covers(channel, inst_id) for s in live)

    def refusing(self) -> bool:
        return self.refuse_until > self._clock()

    def delay_s(self, path: str) -> float:
        delays = self.delays
        if not delays:
            return 0.0
        now = self._clock()
        live = [d for d in delays if d.until > now]
        if len(live) != len(delays):
            self.delays = live
        return max((d.seconds for d in live if d.path is None or d.path == path), default=0.0)

    def storm_active(self, endpoint_path: str) -> bool:
        until = self.storms.get(endpoint_path)
        return until is not None and until > self._clock()

    def busy_active(self, endpoint_path: str) -> bool:
        if not self.busy_until:
            return False
        now = self._clock()
        return self.busy_until.get(endpoint_path, 0.0) > now or self.busy_until.get(None, 0.0) > now

    def take_after_accept(self, endpoint_path: str) -> AfterAccept | None:
        """Consume one pending after-accept fault for `endpoint_path`, if any."""
        pending = self.after_accept.get(endpoint_path)
        if pending is None:
            return None
        pending.remaining -= 1
        if pending.remaining <= 0:
            del self.after_accept[endpoint_path]
        return AfterAccept(1, pending.hold_s)

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise RuntimeError("the fault injector is not bound to a running simulator server")
        return value

    def _on_loop(self, action: Callable[[ConnectionActions], Any]) -> Any:
        connections = self._require(self._connections)
        loop = self._require(self._loop)
        if threading.get_ident() == self._loop_thread:
            return action(connections)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(action(connections))
            except Exception as exc:  # handed back to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=10)


def drop_count(open_connections: int, fraction: float) -> int:
    """How many of `open_connections` a drop with `fraction` closes (at least one if any share)."""
    if open_connections == 0 or fraction <= 0:
        return 0
    return min(open_connections, max(1, math.ceil(open_connections * fraction - 1e-9)))


def malformed_frame(kind: str, template: bytes) -> bytes:
    """A broken frame of `kind` made from `template` (a real push, usually the connection's last).

    truncated: its first half; wrong_types: every numeric string in `data` as a JSON number (OKX
    sends strings); unknown_channel: arg.channel unknown; empty_data: "data": []; not_json: text.
    """
    if kind == "not_json":
        return b"sim: this frame is not JSON {"
    if kind == "truncated":
        return template[: max(1, len(template) // 2)]
    message = orjson.loads(template)
    if kind == "wrong_types":
        message["data"] = _numbers_for_strings(message.get("data", []))
    elif kind == "empty_data":
        message["data"] = []
    elif kind == "unknown_channel":
        message["arg"] = {**message.get("arg", {}), "channel": "sim-no-such-channel"}
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; kinds: {', '.join(MALFORMED_KINDS)}")
    return orjson.dumps(message)


def _numbers_for_strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_numbers_for_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers_for_strings(v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value
