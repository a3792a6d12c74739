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

from okxscalp.okx.constants import (
    WS_CODE_INVALID_ARGS,
    WS_CODE_PLEASE_LOGIN,
    WS_CODE_TOO_FREQUENT,
    WS_CODE_WRONG_URL_OR_CHANNEL,
)
from okxscalp.sim.ws_channels import CONN_COUNT_ERROR_EVENT, CONN_COUNTED_CHANNELS

MALFORMED_KINDS = ("truncated", "wrong_types", "unknown_channel", "empty_data", "not_json")
# What a refused subscribe gets when the fault names no msg (okx-v5-reference.md section 3,
# "Documented error codes"; texts from OKX's WebSocket error-code table). 60018's text names the
# refused arg, so the hub builds it per arg (ws_channels.wrong_url_msg).
SUBSCRIBE_ERROR_MSGS = {
    WS_CODE_PLEASE_LOGIN: "Please log in",
    WS_CODE_INVALID_ARGS: "Invalid args",
    WS_CODE_TOO_FREQUENT: "Requests too frequent.",
    WS_CODE_WRONG_URL_OR_CHANNEL: "",
    "60029": "Only users who are in the whitelist are allowed to subscribe to this channel.",
}


class ConnectionActions(Protocol):
    """What the WebSocket side of the server offers the injector."""

    def drop_connections(self, path: str | None, fraction: float) -> int: ...
    def send_malformed(self, kind: str, path: str | None) -> int: ...
    def notice_upgrade(self, path: str | None) -> int: ...
    def terminate_subscriptions(self, channel: str, path: str | None) -> int: ...


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
class SubscriptionRefusal:
    """Subscribes to `channel` (on `path`, every path if None) are refused until `until` or for
    `remaining` more subscribe args (None: no such bound). `code` is a 60xxx error code (answered
    with an error event, `msg` or the code's documented text) or CONN_COUNT_ERROR_EVENT (the ack,
    then channel-conn-count-error)."""

    channel: str
    code: str
    msg: str
    until: float | None
    remaining: int | None
    path: str | None
    echo_id: bool = True

    def live(self, now: float) -> bool:
        return (self.until is None or self.until > now) and (self.remaining is None or self.remaining > 0)


@dataclass(slots=True)
class AfterAccept:
    """An order endpoint whose next replies are lost (`hold_s` None) or held back `hold_s`."""

    remaining: int
    hold_s: float | None


# The WebSocket trade ops (docs order-book-trading-trade-ws-*), as named in a request's `op`.
WS_TRADE_OP_NAMES = ("order", "batch-orders", "cancel-order", "amend-order")


@dataclass(slots=True)
class TradeReplyFault:
    """WebSocket trade ops (`op`, every op if None) whose next `remaining` replies are lost
    (`hold_s` None) or sent `hold_s` late, after the op was executed."""

    remaining: int
    hold_s: float | None
    op: str | None


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
        self.trade_replies: list[TradeReplyFault] = []
        self.refusals: list[SubscriptionRefusal] = []

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

    def drop_ws_trade_replies(self, count: int = 1, op: str | None = None) -> None:
        """The next `count` WebSocket trade ops (`op`: order, batch-orders, cancel-order or
        amend-order; every op if None) are executed, and their reply is never sent. The connection
        stays open and the orders pushes they cause still go out: the client cannot tell from the
        reply whether its order exists (the WebSocket twin of drop_response_after_accept)."""
        self.trade_replies.append(TradeReplyFault(_positive_count(count), None, _trade_op(op)))

    def delay_ws_trade_replies(self, seconds: float, count: int = 1, op: str | None = None) -> None:
        """The next `count` WebSocket trade ops (`op`, or every op) are executed at once and
        answered `seconds` late (their orders pushes are not held back)."""
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.trade_replies.append(TradeReplyFault(_positive_count(count), float(seconds), _trade_op(op)))

    def refuse_subscription(
        self,
        channel: str,
        code: str = CONN_COUNT_ERROR_EVENT,
        msg: str | None = None,
        seconds: float | None = None,
        count: int | None = None,
        path: str | None = None,
        terminate_existing: bool = False,
        echo_id: bool = True,
    ) -> int:
        """Refuse subscribes to `channel` for `seconds` and/or the next `count` subscribe args.

        `code` "channel-conn-count-error" (the default): OKX's answer when more than 30 connections
        of a sub-account carry an orders/positions/account channel: the usual ack, then
        `{"event":"channel-conn-count-error","channel":...,"connCount":"30","connId":...}`, and no
        data (okx-v5-reference.md section 3, Limits; OKX docs "Connection count limit"). With
        `terminate_existing`, the connections that already hold the channel lose it the same way
        ("in exceptional circumstances the platform may unsubscribe existing connections").
        Any other `code` is a 60xxx error code: the subscribe is answered with
        `{"id":...,"event":"error","code":code,"msg":msg,"connId":...}` instead of an ack
        (section 3, Subscribe: the client `id` is echoed; `echo_id=False` leaves it out, as the
        older doc examples show). Returns how many existing subscriptions were terminated."""
        if seconds is None and count is None:
            raise ValueError("refuse_subscription needs seconds or count (clear() ends it early)")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if count is not None and int(count) <= 0:
            raise ValueError(f"count must be > 0, got {count}")
        code = str(code)
        if code == CONN_COUNT_ERROR_EVENT:
            if channel not in CONN_COUNTED_CHANNELS:
                raise ValueError(
                    f"{CONN_COUNT_ERROR_EVENT} applies to {', '.join(sorted(CONN_COUNTED_CHANNELS))}, not {channel!r}"
                )
            if msg is not None:
                raise ValueError(f"{CONN_COUNT_ERROR_EVENT} carries no msg")
            text = ""
        else:
            if not (len(code) == 5 and code.isdigit()):
                raise ValueError(f"code must be a 5-digit OKX error code or {CONN_COUNT_ERROR_EVENT!r}, got {code!r}")
            if msg is None and code not in SUBSCRIBE_ERROR_MSGS:
                raise ValueError(f"code {code} has no documented text here: give msg")
            if terminate_existing:
                raise ValueError("terminate_existing applies to channel-conn-count-error only")
            text = msg if msg is not None else SUBSCRIBE_ERROR_MSGS[code]
        until = None if seconds is None else self._clock() + seconds
        remaining = None if count is None else int(count)
        self.refusals.append(SubscriptionRefusal(channel, code, text, until, remaining, path, bool(echo_id)))
        if terminate_existing:
            return int(self._on_loop(lambda c: c.terminate_subscriptions(channel, path)))
        return 0

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

    def take_subscription_refusal(self, path: str, channel: str) -> SubscriptionRefusal | None:
        """The refusal that answers one subscribe arg for `channel` on `path` (consumes a count)."""
        if not self.refusals:
            return None
        now = self._clock()
        self.refusals = [r for r in self.refusals if r.live(now)]
        for refusal in self.refusals:
            if refusal.channel == channel and (refusal.path is None or refusal.path == path):
                if refusal.remaining is not None:
                    refusal.remaining -= 1
                return refusal
        return None

    def take_after_accept(self, endpoint_path: str) -> AfterAccept | None:
        """Consume one pending after-accept fault for `endpoint_path`, if any."""
        pending = self.after_accept.get(endpoint_path)
        if pending is None:
            return None
        pending.remaining -= 1
        if pending.remaining <= 0:
            del self.after_accept[endpoint_path]
        return AfterAccept(1, pending.hold_s)

    def take_ws_trade_reply_fault(self, op: str) -> TradeReplyFault | None:
        """Consume one pending reply fault that covers `op`, if any (the oldest first)."""
        faults = self.trade_replies
        if not faults:
            return None
        for fault in faults:
            if fault.op is None or fault.op == op:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return TradeReplyFault(1, fault.hold_s, op)
        return None

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


def _positive_count(count: int) -> int:
    if int(count) <= 0:
        raise ValueError(f"count must be > 0, got {count}")
    return int(count)


def _trade_op(op: str | None) -> str | None:
    if op is not None and op not in WS_TRADE_OP_NAMES:
        raise ValueError(f"unknown WebSocket trade op {op!r}; ops: {', '.join(WS_TRADE_OP_NAMES)}")
    return op


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
