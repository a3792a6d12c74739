"""The simulator's WebSocket side: `/ws/v5/public`, `/ws/v5/private`, `/ws/v5/business`.

One `WsSession` per connection (login state, subscriptions, an outbound queue drained by its own
writer task so that a slow client never blocks the market). `WsHub` owns the sessions, the
subscription index and the fan-out: each push is serialized once with orjson and the same bytes
are queued to every subscriber of that channel + instId.

Protocol per okx-v5-reference.md section 3: one ack per subscribe arg echoing the client `id`,
error events with OKX codes, login with a seconds timestamp, text `ping` -> `pong`, close 4004
after `idle_s` of silence (no client message and, by default, no frame sent either: OKX drops a
connection when "no data has been pushed for 30 s"), 480 subscribe / unsubscribe / login operations
per connection per hour, and new connections limited as `connection_limit_key` says.

Beside it: `ws_session` (a connection and its writer), `ws_channels` (which channel lives where,
arg matching), `ws_login` (login verification), `ws_trade` (order ops over WebSocket).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import (
    WS_BUSINESS_PATH,
    WS_CLOSE_IDLE,
    WS_CODE_INVALID_ARGS,
    WS_CODE_INVALID_REQUEST,
    WS_CODE_PLEASE_LOGIN,
    WS_CODE_SERVICE_UPGRADE_NOTICE,
    WS_CODE_TOO_FREQUENT,
    WS_CODE_WRONG_URL_OR_CHANNEL,
    WS_PRIVATE_PATH,
    WS_PUBLIC_PATH,
)
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.faults import FaultInjector, drop_count, malformed_frame
from okxscalp.sim.instruments import INSTRUMENTS_CHANNEL
from okxscalp.sim.ratelimit import KeyedWindows, RestRateLimiter
from okxscalp.sim.ws_channels import (
    ACCOUNT_CHANNEL,
    BALANCE_AND_POSITION_CHANNEL,
    BOOKS_CHANNEL,
    CONN_COUNT_ERROR_EVENT,
    CONN_COUNTED_CHANNELS,
    INDEX_TICKERS_CHANNEL,
    INST_TYPES,
    INSTRUMENTS_INST_TYPES,
    PAGED_CHANNELS,
    POSITIONS_CHANNEL,
    PRIVATE_CHANNEL_PATHS,
    SIM_CANDLE_CHANNELS,
    SIM_PRIVATE_CHANNELS,
    SIM_PUBLIC_CHANNELS,
    WS_PATHS,
    conn_count_event,
    nonzero,
    private_match,
    public_push_arg,
    regular_push_interval_s,
    wrong_url_msg,
)
from okxscalp.sim.ws_login import login_problem
from okxscalp.sim.ws_session import WsSession
from okxscalp.sim.ws_trade import MSG_INVALID_ARGS, WS_TRADE_OPS, WsTradeOps

if TYPE_CHECKING:
    from okxscalp.sim.events import SimEvent
    from okxscalp.sim.exchange import SimExchange

log = logging.getLogger(__name__)

CHANNEL_CONN_LIMIT = 30  # connections per private channel per sub-account (reference section 3)
CLOSE_BUFFER_FULL = 4005  # OKX close code "buffer full"
DEFAULT_MAX_PENDING = 50_000  # frames queued for one client before it is cut off (4005)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
MSG_PLEASE_LOGIN = "Please log in"
MSG_TOO_FREQUENT = "Requests too frequent."
MSG_NOTICE_UPGRADE = "The connection will soon be closed for a service upgrade. Please reconnect."
MSG_IDLE = b"No data received in 30s"
PONG = b"pong"


def connection_limit_key(ip: str, path: str) -> str:
    """What new WebSocket connections are counted per: the client's IP on one service URL.

    OKX docs, Overview > WebSocket > Connect: "Connection limit: 3 requests per second (based on
    IP)". That is all OKX documents: not a window alignment, not a reply on excess. "Based on IP"
    names the key the way the REST limits' "Rate limit rule: IP" does, and those limits count per
    endpoint; here the endpoints are the service URLs /ws/v5/public, /private and /business. So a
    client that opens public, private and two business connections at once (as clients do at
    start-up) is within the limit; a 4th connection to one URL within a second is not. The second
    is a sliding one (ratelimit.KeyedWindows: whatever passes it passes however OKX aligns its
    seconds) and the refusal is HTTP 429 on the upgrade request, the usual reply (OKX documents
    none). The client (okx.ws.ConnectGate) keeps to the tightest reading: 3 per second, all paths."""
    return f"{ip} {path}"


@dataclass(slots=True)
class RegularSnapshot:
    """A positions/account subscription that gets a snapshot every `interval_s`."""

    session: WsSession
    arg: dict[str, Any]
    push_arg: dict[str, Any]
    interval_s: float
    due: float


class WsHub:
    """Sessions, subscriptions, fan-out, and the WebSocket request handler."""

    def __init__(
        self,
        *,
        exchange: SimExchange,
        credentials: Credentials,
        faults: FaultInjector,
        counters: SimCounters,
        before_command: Callable[[], None],
        after_command: Callable[[], None],
        limiter: RestRateLimiter,
        wall_clock: Callable[[], float] = time.time,
        mono_clock: Callable[[], float] = time.monotonic,
        idle_s: float,
        idle_counts_pushes: bool = True,
        connections_per_s: int,
        ops_per_hour: int,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.exchange = exchange
        self.credentials = credentials
        self.faults = faults
        self.counters = counters
        self.idle_s = idle_s
        self.idle_counts_pushes = idle_counts_pushes
        self.max_pending = max_pending
        self._after_command = after_command
        self._wall_clock = wall_clock
        self.trade = WsTradeOps(
            exchange=exchange,
            limiter=limiter,
            counters=counters,
            before_command=before_command,
            after_command=after_command,
            server_now_s=self.server_now_s,
        )
        self._new_connections = KeyedWindows(connections_per_s, 1.0, mono_clock)
        self._ops = KeyedWindows(ops_per_hour, 3600.0, mono_clock)
        self.sessions: dict[str, list[WsSession]] = {path: [] for path in WS_PATHS}
        self._public: dict[tuple[str, str], list[WsSession]] = {}
        self._private: dict[str, list[tuple[WsSession, dict[str, Any], bytes]]] = {
            channel: [] for channel in SIM_PRIVATE_CHANNELS
        }
        self._regular: list[RegularSnapshot] = []
        # (channel, instId) -> (its subscribers: the list in `_public`, b'{"arg":{...},"data":['
        # the part of its push that never changes): publish's one lookup per event. Dropped with
        # the subscriber list it holds (_unsubscribe_public).
        self._routes: dict[tuple[str, str], tuple[list[WsSession], bytes]] = {}
        self._tasks: set[asyncio.Task] = set()

    def server_now_s(self) -> float:
        return self._wall_clock() + self.faults.skew_ms / 1000.0

    # ------------------------------------------------------------------ connection lifecycle
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path  # aiohttp strips the query string (?brokerId=9999 and friends)
        ip = request.remote or ""
        if self.faults.refusing():
            self.counters.connections_rejected[path] += 1
            return web.Response(status=503, text="Service Unavailable")
        if not self._new_connections.allow(connection_limit_key(ip, path)):
            self.counters.connections_rejected[path] += 1
            return web.Response(status=429, text="Too Many Requests")
        # No permessage-deflate: compressing every push costs more CPU than loopback bandwidth saves.
        ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        session = WsSession(
            ws, path, ip, request.transport, faults=self.faults, max_pending=self.max_pending, on_overflow=self.cut_off
        )
        self.sessions[path].append(session)
        self.counters.connections_total[path] += 1
        self.counters.connections_open[path] += 1
        writer = asyncio.create_task(session.run_writer(), name=f"sim-ws-writer-{session.conn_id}")
        try:
            await self._read_loop(session)
        finally:
            session.closed = True
            writer.cancel()
            self._forget(session)
            self.counters.connections_open[path] -= 1
            if not ws.closed and (session.transport is None or not session.transport.is_closing()):
                await ws.close()
        return ws

    async def _read_loop(self, session: WsSession) -> None:
        """Client frames until close. Activity is a client data frame (text `ping` included) or,
        with `idle_counts_pushes`, any frame we sent; protocol-level pings are answered but, as on
        OKX, are not activity."""
        ws = session.ws
        loop = asyncio.get_running_loop()
        last_client = loop.time()
        while True:
            last_activity = max(last_client, session.last_sent_at) if self.idle_counts_pushes else last_client
            remaining = last_activity + self.idle_s - loop.time()
            if remaining <= 0:
                if not session.closed:
                    await ws.close(code=WS_CLOSE_IDLE, message=MSG_IDLE)
                return
            try:
                msg = await ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if msg.type is WSMsgType.TEXT:
                last_client = loop.time()
                try:
                    self.on_text(session, msg.data)
                except Exception:  # a simulator bug must not kill the connection: log, answer, go on
                    log.exception("ws %s: failed on a client frame", session.conn_id)
                    self._error(session, None, WS_CODE_INVALID_REQUEST, f"Invalid request: {msg.data}")
            elif msg.type is WSMsgType.BINARY:
                last_client = loop.time()
                self._error(session, None, WS_CODE_INVALID_REQUEST, "Invalid request: binary frame")
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is not WSMsgType.PONG:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    def _forget(self, session: WsSession) -> None:
        sessions = self.sessions[session.path]
        if session in sessions:
            sessions.remove(session)
        for key in list(session.public_keys):
            self._unsubscribe_public(session, key)
        for channel, entries in self._private.items():
            self._private[channel] = [e for e in entries if e[0] is not session]
        self._regular = [e for e in self._regular if e.session is not session]
        self._ops.forget(session.conn_id)

    def cut_off(self, session: WsSession) -> None:
        """A client that cannot keep up: close with 4005 (OKX "buffer full") rather than grow."""
        if session.closed:
            return
        session.closed = True
        log.warning("ws %s on %s: outbound queue full, closing", session.conn_id, session.path)
        task = asyncio.get_running_loop().create_task(session.ws.close(code=CLOSE_BUFFER_FULL))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_all(self) -> None:
        for sessions in self.sessions.values():
            for session in list(sessions):
                session.abort()

    # ------------------------------------------------------------------ client frames
    def on_text(self, session: WsSession, text: str) -> None:
        if text == "ping":
            session.enqueue(PONG, self.faults.now())
            return
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(session, None, WS_CODE_INVALID_REQUEST, f"Invalid request: {text}")
            return
        if not isinstance(request, dict):
            self._error(session, None, WS_CODE_INVALID_REQUEST, f"Invalid request: {text}")
            return
        client_id = request.get("id")
        if client_id is not None and not (isinstance(client_id, str) and _CLIENT_ID.match(client_id)):
            self._error(session, None, WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            return
        op = request.get("op")
        args = request.get("args")
        if op in WS_TRADE_OPS:
            if session.path != WS_PRIVATE_PATH:
                self._error(session, client_id, WS_CODE_INVALID_REQUEST, f"Invalid request: op {op} is not served here")
            elif not session.logged_in:
                self._error(session, client_id, WS_CODE_PLEASE_LOGIN, MSG_PLEASE_LOGIN)
            else:
                self.trade.handle(session, client_id, op, args)
            return
        if op not in ("subscribe", "unsubscribe", "login") or not isinstance(args, list) or not args:
            self._error(session, client_id, WS_CODE_INVALID_REQUEST, f"Invalid request: {text}")
            return
        if not self._ops.allow(session.conn_id):
            self._error(session, client_id, WS_CODE_TOO_FREQUENT, MSG_TOO_FREQUENT)
            return
        if op == "login":
            self._login(session, client_id, args)
        else:
            for arg in args:
                self._subscription(session, client_id, op, arg)

    def _error(self, session: WsSession, client_id: str | None, code: str, msg: str) -> None:
        event: dict[str, Any] = {"id": client_id} if client_id is not None else {}
        event.update(event="error", code=code, msg=msg, connId=session.conn_id)
        self.counters.ws_errors[code] += 1
        session.send_json(event)

    # ------------------------------------------------------------------ login
    def _login(self, session: WsSession, client_id: str | None, args: list[Any]) -> None:
        problem = login_problem(args, self.credentials, self.server_now_s())
        if problem is not None:
            self._error(session, client_id, *problem)
            return
        session.logged_in = True
        reply: dict[str, Any] = {"id": client_id} if client_id is not None else {}
        reply.update(event="login", code="0", msg="", connId=session.conn_id)
        session.send_json(reply)

    # ------------------------------------------------------------------ subscribe / unsubscribe
    def _subscription(self, session: WsSession, client_id: str | None, op: str, arg: Any) -> None:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            self._error(session, client_id, WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            return
        kind, key = self._classify(session, arg)
        if kind == "error":
            self._error(session, client_id, *key)
            return
        refusal = self.faults.take_subscription_refusal(session.path, arg["channel"]) if op == "subscribe" else None
        if refusal is not None and refusal.code != CONN_COUNT_ERROR_EVENT:
            echoed = client_id if refusal.echo_id else None
            self._error(session, echoed, refusal.code, refusal.msg or wrong_url_msg(arg))
            return
        ack: dict[str, Any] = {"id": client_id} if client_id is not None else {}
        ack.update(event=op, arg=arg, connId=session.conn_id)
        session.send_json(ack)
        if refusal is not None:  # the ack, then the subscription is terminated (OKX docs)
            self._terminate(session, arg["channel"])
            self._conn_count_refused(session, arg["channel"])
            return
        if op == "subscribe":
            if kind == "public" and key[0] == BOOKS_CHANNEL:
                self._subscribe_books(session, key)
            elif kind == "public" and key[0] == INSTRUMENTS_CHANNEL:
                self._subscribe_instruments(session, key)
            elif kind == "public":
                self._subscribe_public(session, key)
            else:
                self._subscribe_private(session, key, arg)
        elif kind == "public":
            self._unsubscribe_public(session, key)
        else:
            self._unsubscribe_private(session, key)

    def _classify(self, session: WsSession, arg: dict[str, Any]) -> tuple[str, Any]:
        """("public", (channel, instId)) | ("private", canonical key) | ("error", (code, msg))."""
        channel = arg["channel"]
        path = session.path
        if path == WS_PUBLIC_PATH and channel == INSTRUMENTS_CHANNEL:
            inst_type = arg.get("instType")
            if not isinstance(inst_type, str) or not inst_type:
                return "error", (WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            if inst_type not in INSTRUMENTS_INST_TYPES:
                return "error", (WS_CODE_WRONG_URL_OR_CHANNEL, wrong_url_msg(arg))
            return "public", (channel, inst_type)
        if path == WS_PUBLIC_PATH and channel == INDEX_TICKERS_CHANNEL:  # keyed by index, not instrument
            index_id = arg.get("instId")
            if not isinstance(index_id, str) or not index_id:
                return "error", (WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            if index_id not in self.exchange.index_markets:
                return "error", (WS_CODE_WRONG_URL_OR_CHANNEL, wrong_url_msg(arg))
            return "public", (channel, index_id)
        if (path == WS_PUBLIC_PATH and channel in SIM_PUBLIC_CHANNELS) or (
            path == WS_BUSINESS_PATH and channel in SIM_CANDLE_CHANNELS
        ):
            inst_id = arg.get("instId")
            if not isinstance(inst_id, str) or not inst_id:
                return "error", (WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            if inst_id not in self.exchange.specs:
                return "error", (WS_CODE_WRONG_URL_OR_CHANNEL, wrong_url_msg(arg))
            return "public", (channel, inst_id)
        if PRIVATE_CHANNEL_PATHS.get(channel) == path:
            if not session.logged_in:
                return "error", (WS_CODE_PLEASE_LOGIN, MSG_PLEASE_LOGIN)
            if channel not in (ACCOUNT_CHANNEL, BALANCE_AND_POSITION_CHANNEL) and arg.get("instType") not in INST_TYPES:
                return "error", (WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            inst_id = arg.get("instId")
            if any(arg.get(k) is not None and not isinstance(arg[k], str) for k in ("instId", "instFamily", "extraParams")):
                return "error", (WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            if inst_id and inst_id not in self.exchange.specs:
                return "error", (WS_CODE_WRONG_URL_OR_CHANNEL, wrong_url_msg(arg))
            key = (channel, *sorted((k, str(v)) for k, v in arg.items() if k != "channel"))
            return "private", key
        return "error", (WS_CODE_WRONG_URL_OR_CHANNEL, wrong_url_msg(arg))

    def _subscribe_public(self, session: WsSession, key: tuple[str, str]) -> None:
        if key in session.public_keys:
            return
        session.public_keys.add(key)
        subscribers = self._public.setdefault(key, [])
        subscribers.append(session)
        if len(subscribers) == 1:
            self.exchange.set_channel_interest(key[0], key[1], True)

    def _subscribe_books(self, session: WsSession, key: tuple[str, str]) -> None:
        """Snapshot first, then only the deltas made after it: push what is pending to the
        existing subscribers, switch the channel on, snapshot, and join the fan-out, all before the
        market takes another step."""
        if key in session.public_keys:
            return
        self._after_command()
        self._subscribe_public(session, key)
        snapshot = self.exchange.books_snapshot_wire(key[1])
        payload = orjson.dumps(
            {"arg": {"channel": key[0], "instId": key[1]}, "action": "snapshot", "data": [snapshot]}
        )
        session.last_push = payload
        session.enqueue(payload, self.faults.now())
        self.counters.messages_sent[key[0]] += 1

    def _subscribe_instruments(self, session: WsSession, key: tuple[str, str]) -> None:
        """OKX docs (public-data-websocket-instruments-channel): "The full instrument list will be
        pushed for the first time after subscription. Subsequently, the instruments will be pushed
        if there's any change to the instrument's state". The simulator lists SWAPs only: another
        instType is acknowledged and has nothing to push."""
        if key in session.public_keys:
            return
        self._subscribe_public(session, key)
        listed = self.exchange.instruments_wire(key[1])
        if not listed:
            return
        payload = orjson.dumps({"arg": public_push_arg(*key), "data": listed})
        session.last_push = payload
        session.enqueue(payload, self.faults.now())
        self.counters.messages_sent[key[0]] += 1

    def _unsubscribe_public(self, session: WsSession, key: tuple[str, str]) -> None:
        if key not in session.public_keys:
            return
        session.public_keys.discard(key)
        subscribers = self._public.get(key, [])
        if session in subscribers:
            subscribers.remove(session)
        if not subscribers:
            self._public.pop(key, None)
            self._routes.pop(key, None)
            self.exchange.set_channel_interest(key[0], key[1], False)

    def _subscribe_private(self, session: WsSession, key: tuple, arg: dict[str, Any]) -> None:
        channel = arg["channel"]
        push_arg = {**arg, "uid": self.exchange.uid}
        if key not in session.private_args:
            if channel in CONN_COUNTED_CHANNELS and not self._count_channel_connection(session, channel):
                return
            session.private_args[key] = arg
            self._private[channel].append((session, arg, orjson.dumps(push_arg)[1:-1]))
            interval_s = regular_push_interval_s(arg)
            if interval_s > 0:
                self._regular.append(RegularSnapshot(session, arg, push_arg, interval_s, self.faults.now() + interval_s))
        # OKX sends positions and account snapshots right after the subscription.
        if channel in PAGED_CHANNELS:
            self._snapshot(session, arg, push_arg)
        elif channel == BALANCE_AND_POSITION_CHANNEL:
            self._send_private(session, push_arg, [self.exchange.balance_and_position_snapshot()], snapshot=True)

    def _count_channel_connection(self, session: WsSession, channel: str) -> bool:
        """OKX tells each new subscriber how many connections carry the channel; past 30 the
        subscription is refused with channel-conn-count-error (after the ack)."""
        holders = {s for s, _arg, _json in self._private[channel]}
        if session in holders:
            return True
        count = len(holders) + 1
        if count > CHANNEL_CONN_LIMIT:
            self._conn_count_refused(session, channel)
            return False
        session.send_json(conn_count_event(channel, count, session.conn_id))
        return True

    def _conn_count_refused(self, session: WsSession, channel: str) -> None:
        self.counters.ws_errors[CONN_COUNT_ERROR_EVENT] += 1
        session.send_json(conn_count_event(channel, CHANNEL_CONN_LIMIT, session.conn_id, refused=True))

    def terminate_subscriptions(self, channel: str, path: str | None) -> int:
        """OKX's exceptional case: existing holders of a counted channel lose it with a
        channel-conn-count-error (fault injection: refuse_subscription(terminate_existing=True))."""
        terminated = 0
        for session in self._targets(path):
            dropped = self._terminate(session, channel)
            if dropped:
                terminated += dropped
                self._conn_count_refused(session, channel)
        return terminated

    def _terminate(self, session: WsSession, channel: str) -> int:
        keys = [key for key, arg in session.private_args.items() if arg["channel"] == channel]
        for key in keys:
            self._unsubscribe_private(session, key)
        return len(keys)

    def _snapshot(self, session: WsSession, arg: dict[str, Any], push_arg: dict[str, Any]) -> None:
        if arg["channel"] == POSITIONS_CHANNEL:
            items = [
                p for p in self.exchange.positions_wire(arg.get("instId") or None)
                if private_match(arg, p.get("instId")) and nonzero(p.get("pos"))
            ]
        else:
            items = [self.exchange.balance_wire()]
        self._send_private(session, push_arg, items, snapshot=True)

    def push_regular_snapshots(self) -> None:
        """OKX re-sends positions / account snapshots every few seconds unless the subscription
        asked for events only (extraParams updateInterval "0")."""
        if not self._regular:
            return
        now = self.faults.now()
        for entry in self._regular:
            if entry.due <= now:
                entry.due = now + entry.interval_s
                if not self.faults.is_stalled(entry.arg["channel"], None):
                    self._snapshot(entry.session, entry.arg, entry.push_arg)

    def _unsubscribe_private(self, session: WsSession, key: tuple) -> None:
        arg = session.private_args.pop(key, None)
        if arg is None:
            return
        channel = arg["channel"]
        self._private[channel] = [e for e in self._private[channel] if not (e[0] is session and e[1] is arg)]
        self._regular = [e for e in self._regular if e.arg is not arg]

    def _send_private(self, session: WsSession, push_arg: dict[str, Any], items: list, *, snapshot: bool) -> None:
        message: dict[str, Any] = {"arg": push_arg}
        if push_arg["channel"] in PAGED_CHANNELS:
            message.update(eventType="snapshot" if snapshot else "event_update", curPage=1, lastPage=True)
        message["data"] = items
        payload = orjson.dumps(message)
        session.last_push = payload
        session.enqueue(payload, self.faults.now())
        self.counters.messages_sent[push_arg["channel"]] += 1

    # ------------------------------------------------------------------ fan-out
    def publish(self, events: Iterable[SimEvent]) -> None:
        """Push drained exchange events to their subscribers (each message serialized once); each
        session whose queue was empty gets its round in one write at the end (WsSession.flush)."""
        routes = self._routes
        private = self._private
        faults = self.faults
        now = faults.now()
        dumps = orjson.dumps
        check_stall = bool(faults.stalls)
        owed: list[WsSession] = []  # sessions whose queue this round started: flushed at the end
        # The channel of every push to a single subscriber, counted into messages_sent once per
        # round by the Counter's C loop: an item assignment on the Counter per push cost ~0.15 us more.
        pushed: list[str] = []
        sent = self.counters.messages_sent
        try:
            for event in events:
                channel = event.channel
                inst_id = event.inst_id
                if channel in private:
                    if private[channel] and not (check_stall and faults.is_stalled(channel, inst_id)):
                        self._publish_private(event)
                    continue
                key = (channel, inst_id)
                route = routes.get(key)  # type: ignore[arg-type]
                if route is None:
                    route = self._route(key)  # type: ignore[arg-type]
                    if route is None:
                        continue
                subscribers, prefix = route
                if check_stall and faults.is_stalled(channel, inst_id):
                    continue
                payload = prefix + dumps(event.data) + b"]}"
                for session in subscribers:
                    session.last_push = payload
                    if session.push(payload, now):
                        owed.append(session)
                if len(subscribers) == 1:
                    pushed.append(channel)
                else:  # several subscribers (or none left: a push cut the last one off)
                    sent[channel] += len(subscribers)
        finally:
            if pushed:
                sent.update(pushed)
        for session in owed:
            session.flush()

    def _route(self, key: tuple[str, str]) -> tuple[list[WsSession], bytes] | None:
        """The subscribers and push prefix of a public (channel, instId), kept while it has any."""
        subscribers = self._public.get(key)
        if not subscribers:
            return None
        channel, inst_id = key
        action = b',"action":"update"' if channel == BOOKS_CHANNEL else b""
        prefix = b'{"arg":' + orjson.dumps(public_push_arg(channel, inst_id)) + action + b',"data":['
        route = self._routes[key] = (subscribers, prefix)
        return route

    def _publish_private(self, event: SimEvent) -> None:
        channel = event.channel
        data = orjson.dumps([event.data])
        paged = b',"eventType":"event_update","curPage":1,"lastPage":true' if channel in PAGED_CHANNELS else b""
        now = self.faults.now()
        for session, arg, arg_json in self._private[channel]:
            if channel != ACCOUNT_CHANNEL and not private_match(arg, event.inst_id):
                continue
            payload = b'{"arg":{' + arg_json + b"}" + paged + b',"data":' + data + b"}"
            session.last_push = payload
            session.enqueue(payload, now)
            self.counters.messages_sent[channel] += 1

    # ------------------------------------------------------------------ immediate faults
    def _targets(self, path: str | None) -> list[WsSession]:
        paths = WS_PATHS if path is None else (path,)
        return [s for p in paths for s in self.sessions.get(p, []) if not s.closed]

    def drop_connections(self, path: str | None, fraction: float) -> int:
        targets = self._targets(path)
        chosen = targets[: drop_count(len(targets), fraction)]
        for session in chosen:
            session.abort()
            self.counters.connections_dropped[session.path] += 1
        return len(chosen)

    def notice_upgrade(self, path: str | None) -> int:
        targets = self._targets(path)
        for session in targets:
            session.send_json(
                {"event": "notice", "code": WS_CODE_SERVICE_UPGRADE_NOTICE, "msg": MSG_NOTICE_UPGRADE,
                 "connId": session.conn_id}
            )
        return len(targets)

    def send_malformed(self, kind: str, path: str | None) -> int:
        targets = self._targets(path)
        for session in targets:
            template = session.last_push or self._template_push()
            session.enqueue(malformed_frame(kind, template), self.faults.now())
            self.counters.malformed_sent[kind] += 1
        return len(targets)

    def _template_push(self) -> bytes:
        inst_id = next(iter(self.exchange.specs))
        return orjson.dumps(
            {"arg": {"channel": "tickers", "instId": inst_id}, "data": [self.exchange.ticker_wire(inst_id)]}
        )


