"""One OKX WebSocket connection (public, business or private) that keeps itself alive.

`await conn.run()` connects, logs in (private), subscribes everything asked for, delivers parsed
pushes to `on_message`, and on any loss reconnects with jittered exponential backoff (the first
retry immediate, capped), re-logs in and resubscribes, until `await conn.stop()`.

UP means every wanted subscription was answered yes. A subscription the exchange refuses stays
wanted: the connection is REFUSED (health.refused names it), the subscription is sent again with
backoff, and after a few refusals the connection is replaced. It is never dropped silently.

Why a hand-written reconnect loop: the health model needs every transition (next retry time,
last error), the process-wide ConnectGate must sit in front of every dial, and the first retry
must be immediate.

The client is aiohttp's (the REST client's library too): its frame reader is C, where websockets'
was pure Python (8 % of a backtest's loop time). `WsLink` is the one place that knows aiohttp;
WsTradeChannel (okx/ws_trade.py) dials through it as well.

The receive path is kept lean for the ingest target: text frames as bytes (not decoded: orjson
reads bytes, and a frame that is not UTF-8 is counted as malformed like any other bad frame)
straight into orjson (parse.parse_ws_frame), two counter updates, one callback. Heartbeat, ack
deadlines and pong checks live in a separate task that sleeps until the next deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import aiohttp
import orjson
from aiohttp import ClientConnectionResetError, WSMsgType

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.okx.auth import Credentials, ws_login_args
from okxscalp.okx.constants import (
    WS_CODE_SERVICE_UPGRADE_NOTICE,
    WS_NEW_CONNECTIONS_PER_S,
    WS_OPS_PER_CONNECTION_PER_HOUR,
)
from okxscalp.okx.errors import MalformedMessage, WsOpsBudgetExceeded
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.okx.messages import ChannelArg, Pong, WsEvent, WsPush
from okxscalp.okx.parse import parse_ws_frame
from okxscalp.okx.transport import client_session

__all__ = [
    "ChannelArg", "ConnectGate", "WsClosed", "WsConnection", "WsEvent", "WsLink", "WsOpsBudgetExceeded", "WsPush",
]

log = logging.getLogger(__name__)

_OPS_WINDOW_S = 3600.0
_ARGS_PER_REQUEST = 50  # unsubscribes: keeps each request far below OKX's 64 KB
# Subscribes go one arg per request: OKX echoes the request `id` on the error event that refuses
# it (okx-v5-reference.md section 3, Subscribe), so each refusal names exactly one subscription.
# The cost is one op per arg out of the 480 per connection per hour (a new connection starts a
# new count).
_SUBSCRIBE_ARGS_PER_REQUEST = 1
_MALFORMED_LOG_FIRST = 10  # then one line per _MALFORMED_LOG_EVERY
_MALFORMED_LOG_EVERY = 100
_MAX_BACKOFF_EXPONENT = 32  # 2^32 · base is past any cap; beyond ~1023 a float overflows
_RESUBSCRIBES_BEFORE_RECONNECT = 3  # refused re-subscribes on one connection, then a fresh one
# Channels OKX limits to 30 connections per channel per sub-account. A new subscription of one
# gets the usual ack and THEN `channel-conn-count` (accepted) or `channel-conn-count-error` (the
# subscription is terminated), so for these the ack alone is not the answer
# (okx-v5-reference.md section 3, Limits; OKX docs "Connection count limit").
_CONN_COUNTED_CHANNELS = frozenset(
    {"orders", "account", "positions", "balance_and_position", "liquidation-warning", "account-greeks"}
)
_CONN_COUNT_EVENT = "channel-conn-count"
_CONN_COUNT_ERROR_EVENT = "channel-conn-count-error"
_MAX_MSG_SIZE = 1 << 20  # the largest frame taken (websockets' default max_size, used before)
_NO_SESSION_TIMEOUT = aiohttp.ClientTimeout(total=None)  # the dial has its own; a connection has none
_CLOSE_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=1.0)  # a closing handshake's bound (websockets' close_timeout)
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE
_ERROR = WSMsgType.ERROR
_LOST = "connection lost (no close frame)"


class WsClosed(Exception):
    """The connection has ended; the text says how (the server's close code and reason, or the
    loss). aiohttp reports an end as a message (CLOSE, CLOSING, CLOSED, ERROR) from `receive` and as
    ClientConnectionResetError from a write: WsLink turns both into this one exception."""


class WsLink:
    """One client WebSocket (aiohttp) and the ClientSession that dialed it. Each connection has its
    own session, closed with it (`close`), so no session or connector outlives its connection.

    Text frames only, as bytes: OKX's heartbeat is a text `ping`/`pong`; protocol pings are
    answered by aiohttp (autoping), as websockets did, and no protocol pings are sent."""

    __slots__ = ("_protocol", "_session", "_transport", "reason", "ws")

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self._session = session
        self.ws = ws
        # The one reach into aiohttp's internals: the writer's transport and protocol. `abort`
        # needs the transport (an immediate end, without a closing handshake that could wait on a
        # dead peer) and `send_now` the protocol's write flow control.
        writer = ws._writer
        self._transport = writer.transport
        self._protocol = writer.protocol
        self.reason: str | None = None  # how the connection ended, once known

    @classmethod
    async def dial(cls, url: str, open_timeout_s: float, unix_socket: str | None = None) -> WsLink:
        """Connect (TCP, TLS for wss://, the upgrade; or the Unix socket `unix_socket`, transport.py)
        within open_timeout_s. No proxy (the session does not read the environment), no compression."""
        session = client_session(unix_socket, _NO_SESSION_TIMEOUT)
        try:
            async with asyncio.timeout(open_timeout_s):
                ws = await session.ws_connect(
                    url, timeout=_CLOSE_TIMEOUT, autoping=True, heartbeat=None, compress=0,
                    max_msg_size=_MAX_MSG_SIZE, decode_text=False,
                )
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    @property
    def is_open(self) -> bool:
        return not self.ws.closed and not self._transport.is_closing()

    def data_of(self, msg: aiohttp.WSMessage) -> bytes:
        """A received message's payload (a text or binary frame's bytes); an end of the
        connection raises WsClosed. The read loops call it on what `ws.receive()` gave."""
        kind = msg.type
        if kind is _TEXT or kind is _BINARY:
            return msg.data  # type: ignore[no-any-return]
        raise WsClosed(self._ended(msg))

    async def recv(self) -> bytes:
        return self.data_of(await self.ws.receive())

    async def send(self, frame: bytes) -> None:
        """One text frame (UTF-8 bytes). WsClosed when the connection has ended."""
        try:
            await self.ws.send_frame(frame, _TEXT)
        except ClientConnectionResetError:
            raise WsClosed(self.reason or _LOST) from None

    @property
    def writing_paused(self) -> bool:
        """The transport's buffer is over its limit: a write now would wait for it to drain."""
        return self._protocol.writing_paused

    def send_now(self, frame: bytes) -> None:
        """One text frame, on the transport when this returns (no await: the tick path's order).
        WsClosed when the connection has ended. Check `writing_paused` first: aiohttp's write
        suspends only to wait for a drain, after the frame is written."""
        step = self.ws.send_frame(frame, _TEXT)
        try:
            step.send(None)
        except StopIteration:
            return
        except ClientConnectionResetError:
            raise WsClosed(self.reason or _LOST) from None
        step.close()  # in the drain wait: the frame is written; the wait is dropped (no one awaits it)

    def abort(self) -> None:
        """End the connection now; the reader wakes with WsClosed."""
        self._transport.abort()

    async def close(self) -> None:
        """Abort the connection (if still open) and close its session."""
        self._transport.abort()
        if not self.ws.closed:
            await self.ws.close()  # the transport is closing: releases the response, sends nothing
        await self._session.close()

    def _ended(self, msg: aiohttp.WSMessage) -> str:
        kind = msg.type
        if self.reason is None:
            if kind is _CLOSE:
                self.reason = f"closed by server: code {msg.data}{' ' + msg.extra if msg.extra else ''}"
            elif kind is _ERROR:
                self.reason = f"connection lost: {msg.data.__class__.__name__}: {msg.data}"
            else:  # CLOSED, CLOSING
                self.reason = _LOST
        return self.reason


def dial_failure(exc: Exception) -> str:
    """Why a dial failed, for health and the console."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"connect failed: HTTP {exc.status} ({exc.message})"
    return f"connect failed: {exc.__class__.__name__}: {exc}"


class ConnectGate:
    """Process-wide gate for new WebSocket connections: at most `per_second` dials in any second
    (OKX: "3 requests per second (based on IP)"; counted here over all paths together, the tightest
    reading, so the client stays within it however OKX keys it). Share one per process.

    Dials are spaced over a window slightly longer than a second (`margin_s`): the exchange counts
    arrivals, and the handshakes of two dials do not take exactly the same time."""

    def __init__(
        self,
        per_second: int = WS_NEW_CONNECTIONS_PER_S,
        clock: Callable[[], float] = time.monotonic,
        margin_s: float = 0.1,
    ) -> None:
        self._per_second = per_second
        self._clock = clock
        self._window_s = 1.0 + margin_s
        self._starts: deque[float] = deque()  # the last `per_second` reserved dial times

    def reserve(self) -> float:
        """Reserve the next dial slot; returns how long to wait before dialing."""
        now = self._clock()
        start = now
        if len(self._starts) >= self._per_second:
            start = max(now, self._starts[-self._per_second] + self._window_s)
        self._starts.append(start)
        while len(self._starts) > self._per_second:
            self._starts.popleft()
        return start - now

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class _OpsBudget:
    """subscribe + unsubscribe + login requests on one connection: ≤ 480 per hour (OKX)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = WS_OPS_PER_CONNECTION_PER_HOUR) -> None:
        self.limit = limit
        self._clock = clock
        self._times: deque[float] = deque()

    def reset(self) -> None:
        self._times.clear()

    def take(self, n: int, what: str, connection: str) -> None:
        now = self._clock()
        while self._times and self._times[0] <= now - _OPS_WINDOW_S:
            self._times.popleft()
        if len(self._times) + n > self.limit:
            raise WsOpsBudgetExceeded(
                f"{connection}: {what} refused locally: {len(self._times)} of {self.limit} "
                f"subscribe/unsubscribe/login requests used in the last hour on this connection"
            )
        self._times.extend([now] * n)


class _SessionEnded(Exception):
    """Raised inside a session to end it with a reason (login refused, deadline missed, ...)."""


class WsConnection:
    def __init__(
        self,
        name: str,
        url: str,
        settings: WebSocketSettings | None = None,
        *,
        credentials: Credentials | None = None,
        on_message: Callable[[WsPush], None],
        on_health: Callable[[ConnectionHealth], None] | None = None,
        connect_gate: ConnectGate | None = None,
        on_event: Callable[[WsEvent], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        unix_socket: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.unix_socket = unix_socket  # None: TCP to the URL's host (transport.py)
        self._settings = settings or WebSocketSettings()
        self._credentials = credentials
        self._on_message = on_message
        self._on_health = on_health
        self._on_event = on_event
        # A private gate only when none is given; production passes the one process-wide gate.
        self._gate = connect_gate or ConnectGate()
        # The engine's clock (okxscalp/clock.py): the OS clocks live, simulated time in a backtest.
        self._clock = clock
        self._wall_clock = wall_clock
        # Reconnect jitter: unseeded live; a backtest passes a seeded one.
        self._rng = rng if rng is not None else random.Random()
        self.health = ConnectionHealth(name, ConnectionState.CONNECTING, clock())

        self._desired: dict[ChannelArg, None] = {}  # insertion-ordered set of wanted subscriptions
        self._acked: set[ChannelArg] = set()
        self._pending: dict[ChannelArg, str] = {}  # sent, not yet acked: arg -> request id
        self._requests: dict[str, tuple[ChannelArg, ...]] = {}  # request id -> args (for error events)
        self._next_request_id = 0
        # Wanted but refused by the exchange, not acked since: arg -> named reason. Kept across
        # reconnects (the console shows it) until the arg is acked or no longer wanted.
        self._refused: dict[ChannelArg, str] = {}
        self._awaiting_count: set[ChannelArg] = set()  # acked, waiting for channel-conn-count
        self._counted: set[str] = set()  # connection-counted channels accepted on this connection
        self._resubscribe_at: float | None = None  # monotonic time of the next re-subscribe
        self._resubscribes = 0  # refused re-subscribe rounds on this connection
        self._refusal_rounds = 0  # refused rounds since the last UP (all connections): the backoff
        self._ops = _OpsBudget(self._clock)

        self._ws: WsLink | None = None
        self._connected_mono = 0.0
        self._last_sent_mono = 0.0
        self._logged_in = False
        self._ping_sent_mono: float | None = None
        self._ack_deadline: float | None = None
        self._end_reason: str | None = None  # set by whoever ends a session on purpose
        self._failures = 0  # consecutive sessions that ended without reaching UP
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None
        self._poke: asyncio.Event | None = None  # wakes the heartbeat when a deadline is set
        # Make-before-break after a 64008 notice (connections without login only):
        self._successor_task: asyncio.Task[None] | None = None
        self._handover: tuple[WsLink, set[ChannelArg], _OpsBudget] | None = None

    # --- public API -----------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """Connected, logged in where needed, and every subscription acknowledged."""
        return self.health.state is ConnectionState.UP

    @property
    def subscriptions(self) -> tuple[ChannelArg, ...]:
        """Every wanted subscription, refused ones included."""
        return tuple(self._desired)

    @property
    def acked(self) -> frozenset[ChannelArg]:
        """The subscriptions the exchange accepted on the current connection."""
        return frozenset(self._acked)

    @property
    def refused(self) -> dict[ChannelArg, str]:
        """Wanted subscriptions the exchange refused and has not accepted since: arg -> reason."""
        return dict(self._refused)

    async def run(self) -> None:
        """Connect and stay connected until stop(). Returns after stop(); never raises for
        connection problems (they are recorded in `health`)."""
        self._run_task = asyncio.current_task()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._poke = asyncio.Event()
        self.health.since_mono = self._clock()
        self._report()  # the first report: connecting
        try:
            while not self._stopping:
                handover, self._handover = self._handover, None
                if handover is None:
                    await self._gate.wait()
                    if self._stopping:
                        break
                reason = await self._session(handover)
                await self._cancel_successor()
                if self._stopping:
                    break
                if self._handover is not None:
                    # Planned move: the successor is up and subscribed; adopt it without a gap.
                    self.health.reconnects += 1
                    self.health.note_error(reason, self._clock())
                    log.info("ws %s: %s", self.name, reason)
                    self._report()
                    continue
                delay = self._next_delay()
                self.health.reconnects += 1
                self.health.note_error(reason, self._clock())
                self.health.next_retry_mono = self._clock() + delay
                log.warning(
                    "ws %s: %s; reconnect #%d in %.2fs", self.name, reason, self.health.reconnects, delay
                )
                self._set_state(ConnectionState.RECONNECTING)
                await self._sleep(delay)
                self.health.next_retry_mono = None
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stop() cancelled a dial or a backoff wait: that is a normal end.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self._ws = None
            await self._cancel_successor()
            if self._handover is not None:
                link, self._handover = self._handover[0], None
                await link.close()
            self._set_state(ConnectionState.STOPPED)
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        self._end_session("stopped")
        task = self._run_task
        if task is None:
            self._set_state(ConnectionState.STOPPED)  # never ran
            return
        if task is not asyncio.current_task() and self._stopped is not None:
            if self._ws is None and not task.done():
                task.cancel()  # dialing or waiting for a retry: nothing to close cleanly
            await self._stopped.wait()

    def request_reconnect(self, reason: str) -> None:
        """Drop the current connection (if any) and reconnect at once: for the operator, the
        staleness watchdog, or a 64008 service-upgrade notice."""
        log.info("ws %s: reconnect requested: %s", self.name, reason)
        self._failures = 0
        if self._ws is not None:
            self._end_session(f"reconnect requested: {reason}")
        elif self._wake is not None:
            self._wake.set()  # waiting for a retry: retry now

    async def subscribe(self, args: Iterable[ChannelArg]) -> None:
        """Add subscriptions; sent now if the connection is ready for them, else on (re)connect.
        Raises WsOpsBudgetExceeded (and adds nothing) when the hour's op budget is spent."""
        new = [a for a in dict.fromkeys(args) if a not in self._desired]
        if not new:
            return
        ws = self._ws
        if ws is not None and self._can_subscribe():
            self._take_ops(_SUBSCRIBE_ARGS_PER_REQUEST, len(new), "subscribe")
            for arg in new:
                self._desired[arg] = None
            try:
                await self._send_op(ws, "subscribe", new)
            except WsClosed:
                pass  # recorded in _desired: the reader sees the close, reconnects and sends it again
        else:
            for arg in new:
                self._desired[arg] = None

    async def unsubscribe(self, args: Iterable[ChannelArg]) -> None:
        gone = [a for a in dict.fromkeys(args) if a in self._desired]
        if not gone:
            return
        ws = self._ws
        live = [a for a in gone if a in self._acked or a in self._pending]
        if ws is not None and live:
            self._take_ops(_ARGS_PER_REQUEST, len(live), "unsubscribe")
        for arg in gone:
            del self._desired[arg]
            self._pending.pop(arg, None)
            self._awaiting_count.discard(arg)
            self._refused.pop(arg, None)  # no longer wanted: no longer an error either
        self._refresh_state()
        if ws is not None and live:
            try:
                await self._send_op(ws, "unsubscribe", live, track=False)
            except WsClosed:
                pass  # the next connection will not subscribe them

    # --- one connection ---------------------------------------------------------------------

    async def _dial(self) -> WsLink:
        return await WsLink.dial(self.url, self._settings.connect_timeout_s, self.unix_socket)

    async def _session(self, handover: tuple[WsLink, set[ChannelArg], _OpsBudget] | None = None) -> str:
        """Dial (or adopt a prepared successor), log in, subscribe, read until the connection
        ends; returns why it ended."""
        self._end_reason = None
        self._acked.clear()
        self._pending.clear()
        self._requests.clear()
        self._awaiting_count.clear()
        self._counted.clear()
        self._resubscribe_at = None
        self._resubscribes = 0
        self._logged_in = False
        self._ping_sent_mono = None
        dropped_meanwhile: list[ChannelArg] = []
        if handover is not None:
            ws, acked, self._ops = handover
            self._acked.update(a for a in acked if a in self._desired)
            dropped_meanwhile = [
                a for a in acked if a not in self._desired
            ]  # unsubscribed while it was prepared
        else:
            self._set_state(ConnectionState.CONNECTING)
            try:
                ws = await self._dial()
            except Exception as exc:  # OSError, TimeoutError, aiohttp's handshake and URL errors
                return dial_failure(exc)
            self._ops.reset()
        self._ws = ws
        self._connected_mono = self._last_sent_mono = self._clock()
        heartbeat = asyncio.create_task(self._heartbeat(ws), name=f"ws-{self.name}-heartbeat")
        try:
            if self._stopping:
                return "stopped"
            await self._open(ws)
            if dropped_meanwhile:
                self._take_ops(_ARGS_PER_REQUEST, len(dropped_meanwhile), "unsubscribe")
                await self._send_op(ws, "unsubscribe", dropped_meanwhile, track=False)
            await self._read(ws)
            return self._end_reason or "connection ended"
        except (WsClosed, _SessionEnded, WsOpsBudgetExceeded) as exc:
            return self._end_reason or str(exc)
        except OSError as exc:
            return self._end_reason or f"connection lost: {exc.__class__.__name__}: {exc}"
        finally:
            self._ws = None
            ws.abort()
            heartbeat.cancel()
            # gather, not a bare await: a cancellation of run() itself must not be swallowed here.
            await asyncio.gather(heartbeat, return_exceptions=True)
            await ws.close()

    async def _open(self, ws: WsLink) -> None:
        if self._credentials is not None:
            self._ops.take(1, "login", self.name)
            self._set_state(ConnectionState.LOGGING_IN)
            self._set_ack_deadline()
            login = {"op": "login", "args": [ws_login_args(self._credentials, self._wall_clock())]}
            await self._send(ws, orjson.dumps(login))
        else:
            await self._subscribe_all(ws)

    async def _subscribe_all(self, ws: WsLink) -> None:
        todo = [
            a for a in self._desired
            if a not in self._acked and a not in self._pending and a not in self._awaiting_count
        ]
        if todo:
            self._take_ops(_SUBSCRIBE_ARGS_PER_REQUEST, len(todo), "subscribe")
            await self._send_op(ws, "subscribe", todo)
        self._refresh_state()

    async def _send_op(
        self, ws: WsLink, op: str, args: list[ChannelArg], *, track: bool = True
    ) -> None:
        per_request = _SUBSCRIBE_ARGS_PER_REQUEST if op == "subscribe" else _ARGS_PER_REQUEST
        for start in range(0, len(args), per_request):
            chunk = tuple(args[start : start + per_request])
            self._next_request_id += 1
            request_id = str(self._next_request_id)
            if track:
                self._requests[request_id] = chunk
                for arg in chunk:
                    self._pending[arg] = request_id
                self._set_ack_deadline()
                self._refresh_state()  # not UP while an answer is outstanding
            message = {"id": request_id, "op": op, "args": [a.wire() for a in chunk]}
            await self._send(ws, orjson.dumps(message))

    async def _read(self, ws: WsLink) -> None:
        receive = ws.ws.receive
        data_of = ws.data_of
        health = self.health
        on_message = self._on_message
        monotonic = self._clock
        while True:
            msg = await receive()
            raw = data_of(msg)
            now = monotonic()
            health.last_message_mono = now
            health.messages += 1
            if raw == b"ping":  # a server-side heartbeat gets its answer
                await self._send(ws, b"pong")
                continue
            try:
                frame = parse_ws_frame(raw, now)
            except MalformedMessage as exc:
                self._malformed(exc)
                continue
            if frame.__class__ is WsPush:
                try:
                    on_message(frame)  # type: ignore[arg-type]
                except Exception as exc:
                    self._consumer_failed(frame, exc)  # type: ignore[arg-type]
            elif frame.__class__ is Pong:
                self._ping_sent_mono = None
                if self._poke is not None:
                    self._poke.set()  # the heartbeat re-arms from now
            else:
                await self._event(ws, frame)  # type: ignore[arg-type]

    async def _event(self, ws: WsLink, event: WsEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                # An observer only (nothing in the engine depends on it): counted and shown.
                self.health.handler_errors += 1
                log.exception("ws %s: on_event failed", self.name)
                self._report()
        kind = event.event
        if kind == "subscribe" and event.arg is not None:
            arg = event.arg if event.arg in self._pending else self._echoed_arg(event.arg, event.req_id)
            request_id = self._pending.pop(arg, None)
            if arg in self._desired:
                if self._needs_count(arg):
                    self._awaiting_count.add(arg)  # the answer is the count event that follows
                else:
                    self._accepted(arg)
            if request_id is not None:
                self._forget_request_if_done(request_id)
            self._refresh_state()
        elif kind == _CONN_COUNT_EVENT and event.arg is not None:
            channel = event.arg.channel
            self._counted.add(channel)
            for arg in [a for a in self._awaiting_count if a.channel == channel]:
                self._accepted(arg)
            self._refresh_state()
        elif kind == _CONN_COUNT_ERROR_EVENT:
            self._conn_count_refused(event)
        elif kind == "unsubscribe" and event.arg is not None:
            self._acked.discard(event.arg)
        elif kind == "login":
            if event.code not in ("", "0"):
                raise _SessionEnded(f"login refused: code {event.code} {event.msg}")
            self._logged_in = True
            self._ack_deadline = None
            log.info("ws %s: logged in", self.name)
            await self._subscribe_all(ws)
        elif kind == "error":
            self._error_event(event)
        elif kind == "notice":
            if event.code == WS_CODE_SERVICE_UPGRADE_NOTICE:
                # 60 s before a service upgrade: move to a fresh connection now, while it is calm.
                self._planned_move(f"service upgrade notice {event.code}")
            else:
                log.warning("ws %s: notice %s %s", self.name, event.code, event.msg)
        else:
            log.warning("ws %s: unexpected event %r (code %s %s)", self.name, kind, event.code, event.msg)

    def _error_event(self, event: WsEvent) -> None:
        """An error answers the request whose `id` it echoes (every request we send has one). One
        without an id is pinned on the only outstanding request; with several outstanding it
        cannot be pinned, so the session starts over rather than guess."""
        why = f"{event.code} {event.msg}".strip()
        if self._credentials is not None and not self._logged_in:
            raise _SessionEnded(f"login refused: code {why}")
        request_id = event.req_id
        if not request_id:
            if len(self._requests) > 1:
                raise _SessionEnded(
                    f"error {why} without a request id: cannot tell which of {len(self._requests)} "
                    "requests it answers"
                )
            request_id = next(iter(self._requests), "")
        args = self._requests.pop(request_id, ())
        # A subscribe request carries one arg (an unsubscribe is not tracked): the refused one.
        refused = [a for a in args if self._pending.get(a) == request_id]
        if not refused:
            self.health.note_error(f"error {why}" + (f" (request {request_id})" if request_id else ""), self._clock())
            log.error("ws %s: %s", self.name, self.health.last_error)
            self._report()
            return
        self._refuse(refused, why)

    def _conn_count_refused(self, event: WsEvent) -> None:
        channel = event.arg.channel if event.arg is not None else ""
        if not channel:
            raise _SessionEnded(f"{_CONN_COUNT_ERROR_EVENT} without a channel: cannot tell which subscription ended")
        self._counted.discard(channel)
        held = self._acked | self._awaiting_count
        hit = [a for a in self._desired if a.channel == channel and a in held]
        if not hit:
            self.health.note_error(f"{_CONN_COUNT_ERROR_EVENT} for {channel}, not held on this connection", self._clock())
            log.error("ws %s: %s", self.name, self.health.last_error)
            self._report()
            return
        self._refuse(hit, f"{_CONN_COUNT_ERROR_EVENT} (over OKX's limit of connections per channel per sub-account)")

    # --- refused subscriptions --------------------------------------------------------------

    def _needs_count(self, arg: ChannelArg) -> bool:
        return (
            self._credentials is not None
            and arg.channel in _CONN_COUNTED_CHANNELS
            and arg.channel not in self._counted
        )

    def _accepted(self, arg: ChannelArg) -> None:
        self._awaiting_count.discard(arg)
        self._acked.add(arg)
        if self._refused.pop(arg, None) is not None:
            log.info("ws %s: %s subscription accepted after its refusal", self.name, _label(arg))

    def _refuse(self, args: Iterable[ChannelArg], why: str) -> None:
        for arg in args:
            self._pending.pop(arg, None)
            self._awaiting_count.discard(arg)
            self._acked.discard(arg)
            if arg in self._desired:
                self._refused[arg] = f"{_label(arg)} subscription refused: {why}"
        self._schedule_resubscribe()
        self.health.note_error("; ".join(self._refused.values()), self._clock())
        log.error("ws %s: %s; re-subscribing with backoff", self.name, self.health.last_error)
        self._refresh_state(report=True)

    def _schedule_resubscribe(self) -> None:
        if self._resubscribe_at is not None or self._ws is None:
            return
        delay = backoff_delay(self._settings.backoff, self._refusal_rounds, self._rng)
        self._resubscribe_at = self.health.next_retry_mono = self._clock() + delay
        if self._poke is not None:
            self._poke.set()  # the heartbeat task sends it

    async def _resubscribe_refused(self, ws: WsLink) -> bool:
        """Send the refused subscriptions again; after _RESUBSCRIBES_BEFORE_RECONNECT rounds on one
        connection, replace the connection instead. Returns False when the session is ending."""
        self._resubscribe_at = self.health.next_retry_mono = None
        todo = [
            a for a in self._refused
            if a not in self._pending and a not in self._awaiting_count and a not in self._acked
        ]
        if not todo or self._ws is not ws:
            return True
        names = ", ".join(_label(a) for a in todo)
        if self._resubscribes >= _RESUBSCRIBES_BEFORE_RECONNECT:
            self._end_session(f"{names} still refused after {self._resubscribes} re-subscribes: reconnecting")
            return False
        self._resubscribes += 1
        self._refusal_rounds += 1
        log.warning(
            "ws %s: re-subscribing %s (attempt %d of %d on this connection)",
            self.name, names, self._resubscribes, _RESUBSCRIBES_BEFORE_RECONNECT,
        )
        try:
            self._take_ops(_SUBSCRIBE_ARGS_PER_REQUEST, len(todo), "re-subscribe")
            await self._send_op(ws, "subscribe", todo)
        except WsOpsBudgetExceeded as exc:
            self._end_session(str(exc))  # a new connection has a new budget
            return False
        except WsClosed:
            return False  # the reader sees it and reconnects
        self._report()
        return True

    # --- planned move (64008) -------------------------------------------------------------

    def _planned_move(self, reason: str) -> None:
        """Open the new connection before dropping the old one where that is clean: without a
        login the overlap only duplicates market data, which consumers keep by newest. A private
        connection reconnects at once instead (an overlap there could duplicate or, at the swap,
        lose an order update; its reconnect is followed by reconciliation anyway)."""
        if self._credentials is not None or self._ws is None:
            self.request_reconnect(reason)
            return
        if self._successor_task is None or self._successor_task.done():
            self._successor_task = asyncio.create_task(
                self._prepare_successor(reason), name=f"ws-{self.name}-successor"
            )

    async def _prepare_successor(self, reason: str) -> None:
        ws: WsLink | None = None
        try:
            await self._gate.wait()
            ws = await self._dial()
            ops = _OpsBudget(self._clock)
            wanted = list(self._desired)
            acked: set[ChannelArg] = set()
            if wanted:
                requests = _request_count(_ARGS_PER_REQUEST, len(wanted))
                ops.take(requests, f"subscribe {len(wanted)} channel(s)", self.name)
                for start in range(0, len(wanted), _ARGS_PER_REQUEST):
                    chunk = wanted[start : start + _ARGS_PER_REQUEST]
                    request = {"id": f"m{start}", "op": "subscribe", "args": [a.wire() for a in chunk]}
                    await ws.send(orjson.dumps(request))
            async with asyncio.timeout(self._settings.connect_timeout_s):
                while not acked.issuperset(wanted):
                    raw = await ws.recv()
                    now = self._clock()
                    self.health.last_message_mono = now
                    self.health.messages += 1
                    try:
                        frame = parse_ws_frame(raw, now)
                    except MalformedMessage as exc:
                        self._malformed(exc)
                        continue
                    if frame.__class__ is WsPush:
                        self._deliver(frame)  # type: ignore[arg-type]
                    elif frame.__class__ is WsEvent:
                        event: WsEvent = frame  # type: ignore[assignment]
                        if event.event == "subscribe" and event.arg is not None:
                            acked.add(event.arg)
                        elif event.event == "error":
                            raise _SessionEnded(f"successor subscribe refused: code {event.code} {event.msg}")
        except (Exception, asyncio.CancelledError) as exc:
            if ws is not None:
                await ws.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("ws %s: could not prepare a successor (%s); reconnecting at once", self.name, exc)
            self.request_reconnect(reason)
            return
        self._handover = (ws, acked, ops)
        self._end_session(f"{reason}: moved to a new connection")

    async def _cancel_successor(self) -> None:
        task, self._successor_task = self._successor_task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _deliver(self, push: WsPush) -> None:
        try:
            self._on_message(push)
        except Exception as exc:
            self._consumer_failed(push, exc)

    def _consumer_failed(self, push: WsPush, exc: Exception) -> None:
        """The consumer could not take a push: the data in it is lost to the engine. Counted in
        health and reported like a malformed frame (the feed coordinator re-syncs the private
        stream over REST when one of its pushes is lost)."""
        self.health.handler_errors += 1
        self.health.note_error(f"{push.channel} push handler failed: {exc.__class__.__name__}: {exc}", self._clock())
        log.error("ws %s: %s", self.name, self.health.last_error, exc_info=exc)
        self._report()

    async def _send(self, ws: WsLink, frame: bytes) -> None:
        self._last_sent_mono = self._clock()
        await ws.send(frame)

    def _echoed_arg(self, echo: ChannelArg, req_id: str) -> ChannelArg:
        """The pending arg an ack stands for when its echo is not verbatim (e.g. a field left
        out): the only pending arg of that request on that channel, else the echo itself."""
        candidates = [a for a, rid in self._pending.items() if rid == req_id and a.channel == echo.channel]
        return candidates[0] if len(candidates) == 1 else echo

    def _forget_request_if_done(self, request_id: str) -> None:
        args = self._requests.get(request_id)
        if args is not None and not any(self._pending.get(a) == request_id for a in args):
            del self._requests[request_id]

    async def _heartbeat(self, ws: WsLink) -> None:
        """Text `ping` after ping_after_s of silence; no answer within pong_timeout_s, or login /
        subscription acks missing past their deadline → end the session (and reconnect).

        Silence in either direction counts: OKX drops a connection that has pushed nothing for
        30 s, and a server may also drop a client that has sent nothing (the simulator's 30 s
        idle rule), so a busy feed still gets a ping every ping_after_s."""
        settings = self._settings
        while True:
            now = self._clock()
            last = max(self.health.last_message_mono or 0.0, self._connected_mono)
            wake_at = min(last, self._last_sent_mono) + settings.ping_after_s
            if self._ping_sent_mono is not None:
                if last >= self._ping_sent_mono:
                    self._ping_sent_mono = None  # any traffic proves the connection alive
                    continue
                deadline = self._ping_sent_mono + settings.pong_timeout_s
                if now >= deadline:
                    self._end_session(f"no pong within {settings.pong_timeout_s:g}s of ping")
                    return
                wake_at = deadline
            elif now >= wake_at:
                self._ping_sent_mono = now
                try:
                    await self._send(ws, b"ping")
                except WsClosed:
                    return
                continue
            resubscribe_at = self._resubscribe_at
            if resubscribe_at is not None:
                if now >= resubscribe_at:
                    if not await self._resubscribe_refused(ws):
                        return
                    continue
                wake_at = min(wake_at, resubscribe_at)
            if self._ack_deadline is not None:
                if self.health.state is ConnectionState.UP:
                    self._ack_deadline = None
                elif now >= self._ack_deadline:
                    self._end_session(self._ack_timeout_reason())
                    return
                else:
                    wake_at = min(wake_at, self._ack_deadline)
            poke = self._poke
            if poke is None:
                await asyncio.sleep(max(0.0, wake_at - now) + 0.001)
                continue
            poke.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set, and then the heartbeat outlives its session.
            try:
                async with asyncio.timeout(max(0.0, wake_at - now) + 0.001):
                    await poke.wait()
            except TimeoutError:
                pass

    # --- state ------------------------------------------------------------------------------

    def _set_ack_deadline(self) -> None:
        self._ack_deadline = self._clock() + self._settings.connect_timeout_s
        if self._poke is not None:
            self._poke.set()

    def _take_ops(self, per_request: int, n_args: int, what: str) -> None:
        """Charge the requests for `n_args` args to this connection's hourly op budget."""
        self._ops.take(_request_count(per_request, n_args), f"{what} {n_args} channel(s)", self.name)

    def _can_subscribe(self) -> bool:
        return self._credentials is None or self._logged_in

    def _ack_timeout_reason(self) -> str:
        within = f"within {self._settings.connect_timeout_s:g}s"
        if self.health.state is ConnectionState.LOGGING_IN:
            return f"login not acknowledged {within}"
        if self._awaiting_count and not self._pending:
            names = ", ".join(sorted(_label(a) for a in self._awaiting_count))
            return f"{names}: subscribe acked but no {_CONN_COUNT_EVENT} {within} (the exchange's answer)"
        return f"subscribe not acknowledged {within}"

    def _refresh_state(self, *, report: bool = False) -> None:
        """Derive UP / REFUSED / SUBSCRIBING from the subscriptions (once logged in where needed)
        and publish `refused`. UP needs every wanted subscription accepted."""
        refused = tuple(self._refused.values())
        changed = report or refused != self.health.refused
        self.health.refused = refused
        state: ConnectionState | None = None
        if self._ws is not None and self._can_subscribe():
            if not self._pending and not self._awaiting_count:
                self._ack_deadline = None
            if all(a in self._acked for a in self._desired):
                state = ConnectionState.UP
            elif self._refused:
                state = ConnectionState.REFUSED
            else:
                state = ConnectionState.SUBSCRIBING
        if state is not None and state is not self.health.state:
            if state is ConnectionState.UP:
                self._failures = 0
                self._refusal_rounds = 0
            self._set_state(state)
        elif changed:
            self._report()

    def _end_session(self, reason: str) -> None:
        ws = self._ws
        if ws is not None:
            if self._end_reason is None:
                self._end_reason = reason
            ws.abort()  # immediate: the reader wakes with WsClosed

    def _next_delay(self) -> float:
        """First retry immediate, then base·2^(n-1) capped at max_s, ± jitter."""
        attempt = self._failures
        self._failures += 1
        if attempt == 0:
            return 0.0
        return backoff_delay(self._settings.backoff, attempt - 1, self._rng)

    async def _sleep(self, delay: float) -> None:
        wake = self._wake
        if wake is None or self._stopping:
            return
        wake.clear()
        if delay <= 0:
            return
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass

    def _set_state(self, state: ConnectionState) -> None:
        if self.health.state is state:
            return
        self.health.state = state
        self.health.since_mono = self._clock()
        self._report()

    def _report(self) -> None:
        if self._on_health is not None:
            try:
                self._on_health(self.health.copy())
            except Exception:
                # Counted and logged; the feed coordinator also reads the live state, so a lost
                # report cannot keep the entry gate open.
                self.health.handler_errors += 1
                log.exception("ws %s: on_health failed", self.name)

    def _malformed(self, exc: MalformedMessage) -> None:
        self.health.malformed += 1
        count = self.health.malformed
        if count <= _MALFORMED_LOG_FIRST or count % _MALFORMED_LOG_EVERY == 0:
            log.warning("ws %s: dropped malformed frame #%d: %s", self.name, count, exc)
        self._report()


def backoff_delay(backoff: BackoffSettings, attempt: int, rng: random.Random) -> float:
    """base·2^attempt capped at max_s, ± jitter. The exponent is bounded: after a long outage
    2^attempt would no longer fit a float (OverflowError in the reconnect loop)."""
    exponent = min(max(attempt, 0), _MAX_BACKOFF_EXPONENT)
    delay = min(backoff.max_s, backoff.base_s * 2.0**exponent)
    return max(0.0, delay * (1.0 + backoff.jitter * (2.0 * rng.random() - 1.0)))


def _label(arg: ChannelArg) -> str:
    """How a subscription is named in health and logs: `orders`, `tickers:BTC-USDT-SWAP`."""
    return f"{arg.channel}:{arg.inst_id}" if arg.inst_id else arg.channel


def _request_count(per_request: int, n_args: int) -> int:
    return (n_args + per_request - 1) // per_request
