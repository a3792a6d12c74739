"""The simulator's WebSocket side: `/ws/v5/public`, `/ws/v5/private`, `/ws/v5/business`.

One `WsSession` per connection (login state, subscriptions, an outbound queue drained by its own
writer task so that a slow client never blocks the market). `WsHub` owns the sessions, the
subscription index and the fan-out: each push is serialized once with orjson and the same bytes
are queued to every subscriber of that channel + instId.

Protocol per okx-v5-reference.md section 3: one ack per subscribe arg echoing the client `id`,
error events with OKX codes, login with a seconds timestamp, text `ping` -> `pong`, close 4004
after `idle_s` of silence (no client message and, by default, no frame sent either: OKX drops a
connection when "no data has been pushed for 30 s"), 3 new connections/s per IP, 480 subscribe /
unsubscribe / login operations per connection per hour.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from okxscalp.okx.auth import Credentials, sign
from okxscalp.okx.constants import (
    CANDLE_BARS,
    CANDLE_CHANNEL_PREFIX,
    CODE_RATE_LIMIT,
    TRADE_AMEND_ORDER,
    TRADE_BATCH_ORDERS,
    TRADE_CANCEL_ORDER,
    TRADE_ORDER,
    WS_BUSINESS_PATH,
    WS_CLOSE_IDLE,
    WS_CODE_INVALID_ARGS,
    WS_CODE_INVALID_KEY,
    WS_CODE_INVALID_REQUEST,
    WS_CODE_INVALID_SIGN,
    WS_CODE_INVALID_TIMESTAMP,
    WS_CODE_LOGIN_FAILED,
    WS_CODE_PLEASE_LOGIN,
    WS_CODE_SERVICE_UPGRADE_NOTICE,
    WS_CODE_TIMESTAMP_EXPIRED,
    WS_CODE_TOO_FREQUENT,
    WS_CODE_WRONG_PASSPHRASE,
    WS_CODE_WRONG_URL_OR_CHANNEL,
    WS_LOGIN_PREHASH_PATH,
    WS_PRIVATE_PATH,
    WS_PUBLIC_PATH,
)
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.events import SimApiError
from okxscalp.sim.faults import FaultInjector, drop_count
from okxscalp.sim.ratelimit import KeyedWindows, RestRateLimiter, limit_key
from okxscalp.sim.rest_api import MAX_BATCH_ORDERS, clean, items_outcome

if TYPE_CHECKING:
    from okxscalp.sim.events import SimEvent
    from okxscalp.sim.exchange import SimExchange

log = logging.getLogger(__name__)

WS_PATHS = (WS_PUBLIC_PATH, WS_PRIVATE_PATH, WS_BUSINESS_PATH)
# Public channels the simulated market produces (everything else on /public is refused).
BOOKS_CHANNEL = "books"  # 400 levels: a snapshot on subscribe, then "update" deltas (reference section 4)
SIM_PUBLIC_CHANNELS = frozenset({"tickers", "books5", "bbo-tbt", "trades", "mark-price", "price-limit", BOOKS_CHANNEL})
SIM_CANDLE_CHANNELS = frozenset(CANDLE_CHANNEL_PREFIX + bar for bar in CANDLE_BARS)
ORDERS_CHANNEL = "orders"
POSITIONS_CHANNEL = "positions"
ACCOUNT_CHANNEL = "account"
ORDERS_ALGO_CHANNEL = "orders-algo"
# Login-only channels and the path each lives on (reference section 1: orders-algo is on /business).
PRIVATE_CHANNEL_PATHS = {
    ORDERS_CHANNEL: WS_PRIVATE_PATH,
    POSITIONS_CHANNEL: WS_PRIVATE_PATH,
    ACCOUNT_CHANNEL: WS_PRIVATE_PATH,
    ORDERS_ALGO_CHANNEL: WS_BUSINESS_PATH,
}
SIM_PRIVATE_CHANNELS = frozenset(PRIVATE_CHANNEL_PATHS)
# Channels limited to 30 connections per sub-account, announced with channel-conn-count (reference section 3).
CONN_COUNTED_CHANNELS = frozenset({ORDERS_CHANNEL, POSITIONS_CHANNEL, ACCOUNT_CHANNEL})
CHANNEL_CONN_LIMIT = 30
PAGED_CHANNELS = frozenset({POSITIONS_CHANNEL, ACCOUNT_CHANNEL})  # pushes carry eventType/curPage/lastPage
INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"})
SIM_INST_TYPES = frozenset({"SWAP", "ANY"})  # every simulated instrument is a SWAP
LOGIN_WINDOW_S = 30.0
CLOSE_BUFFER_FULL = 4005  # OKX close code "buffer full"
DEFAULT_REGULAR_PUSH_MS = 5000  # positions/account regular snapshots without extraParams
DEFAULT_MAX_PENDING = 50_000  # frames queued for one client before it is cut off (4005)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")

# WS trade operations on /private (reference section 3); they share the REST per-instrument limits.
WS_TRADE_OPS = {
    "order": TRADE_ORDER,
    "batch-orders": TRADE_BATCH_ORDERS,
    "cancel-order": TRADE_CANCEL_ORDER,
    "amend-order": TRADE_AMEND_ORDER,
}
MSG_INVALID_ARGS = "Invalid args"
MSG_PLEASE_LOGIN = "Please log in"
MSG_TOO_FREQUENT = "Requests too frequent."
MSG_LOGIN_FAILED = "Login failed."
MSG_NOTICE_UPGRADE = "The connection will soon be closed for a service upgrade. Please reconnect."
MSG_IDLE = b"No data received in 30s"
PONG = b"pong"

_conn_ids = itertools.count(0x5A17E000)
WRITE_BATCH = 256  # frames per transport write
WRITE_HIGH_WATER = 1 << 20  # bytes buffered in the transport before the writer waits for the reader


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented server-to-client text frame (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def wrong_url_msg(arg: dict[str, Any]) -> str:
    """60018 text, e.g. "Wrong URL or channel:candle1m,instId:BTC-USD-SWAP doesn't exist. ..."."""
    parts = [f"channel:{arg.get('channel', '')}"]
    parts += [f"{key}:{arg[key]}" for key in ("instId", "instType", "instFamily") if arg.get(key)]
    return (
        f"Wrong URL or {','.join(parts)} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


class WsSession:
    """One client connection: its state and its outbound queue."""

    def __init__(self, hub: WsHub, ws: web.WebSocketResponse, path: str, ip: str, transport: Any) -> None:
        self.hub = hub
        self.ws = ws
        self.path = path
        self.ip = ip
        self.transport = transport
        self.conn_id = f"{next(_conn_ids):08x}"
        self.logged_in = False
        self.public_keys: set[tuple[str, str]] = set()  # (channel, instId)
        self.private_args: dict[tuple, dict[str, Any]] = {}  # canonical key -> arg as subscribed
        self.last_push: bytes | None = None  # the last data push, template for malformed frames
        self.last_sent_at = 0.0  # loop time of the last frame written (idle rule)
        self._out: deque[tuple[float, bytes]] = deque()
        self._wake = asyncio.Event()
        self.closed = False

    # Called on the hot path for every frame.
    def enqueue(self, payload: bytes, now: float) -> None:
        out = self._out
        if len(out) >= self.hub.max_pending:
            self.hub.cut_off(self)
            return
        out.append((now, payload))
        if len(out) == 1:  # the writer sleeps only on an empty queue
            self._wake.set()

    def send_json(self, obj: dict[str, Any]) -> None:
        self.enqueue(orjson.dumps(obj), self.hub.faults.now())

    async def run_writer(self) -> None:
        """Drain the queue onto the socket in batches of whole frames, one transport write each.

        aiohttp's `send_frame` costs more per call than the market costs per tick; writing
        ready-made text frames straight to the transport (same loop, whole frames only, never
        after aiohttp started closing) keeps the shell from being the bottleneck.
        """
        out = self._out
        ws = self.ws
        faults = self.hub.faults
        path = self.path
        transport = self.transport
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not out:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if ws.closed or transport is None or transport.is_closing():
                    return
                if faults.delays and (delay := faults.delay_s(path)):
                    wait = out[0][0] + delay - faults.now()
                    if wait > 0:
                        # Short naps: a cleared or shortened delay takes effect at once.
                        await asyncio.sleep(min(wait, 0.05))
                        continue
                    transport.write(text_frame(out.popleft()[1]))
                    self.last_sent_at = loop.time()
                    continue
                batch = [text_frame(out.popleft()[1]) for _ in range(min(len(out), WRITE_BATCH))]
                transport.write(b"".join(batch))
                self.last_sent_at = loop.time()
                while transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    if transport.is_closing():
                        return
                    await asyncio.sleep(0.002)  # a slow reader: let the kernel drain
                if out:
                    await asyncio.sleep(0)  # let the market and other writers run between batches
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away under us (dropped, reset, closing): the reader notices too.
            log.debug("ws %s writer stopped: %s", self.conn_id, exc)

    def abort(self) -> None:
        """Abrupt close: no close frame, the TCP connection is reset."""
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


@dataclass(slots=True)
class RegularSnapshot:
    """A positions/account subscription that gets a snapshot every `interval_s`."""

    session: WsSession
    arg: dict[str, Any]
    push_arg: dict[str, Any]
    interval_s: float
    due: float


def regular_push_interval_s(arg: dict[str, Any]) -> float:
    """Seconds between regular snapshots for a positions/account arg (0: events only).

    extraParams is a JSON string, e.g. "{\\"updateInterval\\": \\"0\\"}"; OKX accepts 0 and
    2000/3000/4000 ms and pushes about every 5 s by default (reference section 5)."""
    if arg.get("channel") not in PAGED_CHANNELS:
        return 0.0
    extra = arg.get("extraParams")
    interval_ms = None
    if isinstance(extra, str) and extra:
        try:
            interval_ms = orjson.loads(extra).get("updateInterval")
        except (orjson.JSONDecodeError, AttributeError):
            interval_ms = None
    try:
        value = int(interval_ms) if interval_ms is not None else DEFAULT_REGULAR_PUSH_MS
    except (TypeError, ValueError):
        value = DEFAULT_REGULAR_PUSH_MS
    if value == 0:
        return 0.0
    return (value if value in (2000, 3000, 4000) else DEFAULT_REGULAR_PUSH_MS) / 1000.0


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
        self._before_command = before_command
        self._after_command = after_command
        self.limiter = limiter
        self._wall_clock = wall_clock
        self._new_connections = KeyedWindows(connections_per_s, 1.0)
        self._ops = KeyedWindows(ops_per_hour, 3600.0)
        self.sessions: dict[str, list[WsSession]] = {path: [] for path in WS_PATHS}
        self._public: dict[tuple[str, str], list[WsSession]] = {}
        self._private: dict[str, list[tuple[WsSession, dict[str, Any], bytes]]] = {
            channel: [] for channel in SIM_PRIVATE_CHANNELS
        }
        self._regular: list[RegularSnapshot] = []
        # (channel, instId) -> b'{"arg":{...},"data":[' : the part of a public push that never changes.
        self._push_prefixes: dict[tuple[str, str], bytes] = {}
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ connection lifecycle
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path  # aiohttp strips the query string (?brokerId=9999 and friends)
        ip = request.remote or ""
        if self.faults.refusing():
            self.counters.connections_rejected[path] += 1
            return web.Response(status=503, text="Service Unavailable")
        if not self._new_connections.allow(ip):
            self.counters.connections_rejected[path] += 1
            return web.Response(status=429, text="Too Many Requests")
        # No permessage-deflate: compressing every push costs more CPU than loopback bandwidth saves.
        ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        session = WsSession(self, ws, path, ip, request.transport)
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
            self._trade_op(session, client_id, op, args)
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

    # ------------------------------------------------------------------ trade operations
    def _trade_op(self, session: WsSession, client_id: str | None, op: str, args: Any) -> None:
        """`{"id","op":"order"|"batch-orders"|"cancel-order"|"amend-order","args":[...]}` on /private:
        the same exchange calls as REST, answered `{"id","op","code","msg","data","inTime","outTime"}`."""
        if session.path != WS_PRIVATE_PATH:
            self._error(session, client_id, WS_CODE_INVALID_REQUEST, f"Invalid request: op {op} is not served here")
            return
        if not session.logged_in:
            self._error(session, client_id, WS_CODE_PLEASE_LOGIN, MSG_PLEASE_LOGIN)
            return
        in_time = self._micros()
        reply: dict[str, Any] = {"id": client_id or "", "op": op}
        endpoint = WS_TRADE_OPS[op]
        well_formed = isinstance(args, list) and bool(args) and all(isinstance(a, dict) for a in args)
        if not well_formed or len(args) > (MAX_BATCH_ORDERS if op == "batch-orders" else 1):
            reply.update(code=WS_CODE_INVALID_ARGS, msg=MSG_INVALID_ARGS, data=[])
            session.send_json(reply)
            return
        items = [clean(a) for a in args]
        if not self._within_limit(session, endpoint, items):
            self.counters.http_429[endpoint.path] += 1
            reply.update(code=CODE_RATE_LIMIT, msg="Too Many Requests", data=[])
            session.send_json(reply)
            return
        if endpoint in (TRADE_ORDER, TRADE_BATCH_ORDERS):
            for item in items:
                if item.get("clOrdId"):
                    self.counters.orders_by_clordid[str(item["clOrdId"])] += 1
        call = {
            TRADE_ORDER: self.exchange.place_order,
            TRADE_BATCH_ORDERS: self.exchange.place_order,
            TRADE_CANCEL_ORDER: self.exchange.cancel_order,
            TRADE_AMEND_ORDER: self.exchange.amend_order,
        }[endpoint]
        self._before_command()
        try:
            data = [call(item) for item in items]
            code, msg = items_outcome(data)
        except SimApiError as exc:
            data, code, msg = [], exc.code, exc.msg
        reply.update(code=code, msg=msg, data=data, inTime=in_time, outTime=self._micros())
        session.send_json(reply)  # the op reply first, then the orders pushes it caused
        self._after_command()

    def _within_limit(self, session: WsSession, endpoint: Any, items: list[dict[str, Any]]) -> bool:
        bucket = TRADE_ORDER if endpoint is TRADE_BATCH_ORDERS and len(items) == 1 else endpoint
        per_inst: dict[str, int] = {}
        for item in items:
            inst = str(item.get("instId", ""))
            per_inst[inst] = per_inst.get(inst, 0) + 1
        uid = self.exchange.uid
        return all(
            self.limiter.allow(bucket, limit_key(bucket, ip=session.ip, uid=uid, inst_id=inst), cost)
            for inst, cost in per_inst.items()
        )

    def _micros(self) -> str:
        return str(int((self._wall_clock() + self.faults.skew_ms / 1000.0) * 1_000_000))

    # ------------------------------------------------------------------ login
    def _login(self, session: WsSession, client_id: str | None, args: list[Any]) -> None:
        problem = self._login_problem(args)
        if problem is not None:
            self._error(session, client_id, *problem)
            return
        session.logged_in = True
        reply: dict[str, Any] = {"id": client_id} if client_id is not None else {}
        reply.update(event="login", code="0", msg="", connId=session.conn_id)
        session.send_json(reply)

    def _login_problem(self, args: list[Any]) -> tuple[str, str] | None:
        """None if the login args are right, else (code, msg) — each failure its own code."""
        if len(args) != 1 or not isinstance(args[0], dict):
            return WS_CODE_LOGIN_FAILED, MSG_LOGIN_FAILED
        arg = args[0]
        api_key, passphrase, signature = arg.get("apiKey"), arg.get("passphrase"), arg.get("sign")
        raw_ts = arg.get("timestamp")
        if not all(isinstance(v, str) and v for v in (api_key, passphrase, signature)):
            return WS_CODE_LOGIN_FAILED, MSG_LOGIN_FAILED
        # Docs type it String; python-okx and hummingbot send a JSON number: accept both.
        if isinstance(raw_ts, bool) or not isinstance(raw_ts, str | int):
            return WS_CODE_INVALID_TIMESTAMP, "Invalid timestamp"
        ts_text = str(raw_ts)
        if not ts_text.isdigit():
            return WS_CODE_INVALID_TIMESTAMP, "Invalid timestamp"
        server_now_s = self._wall_clock() + self.faults.skew_ms / 1000.0
        if abs(server_now_s - int(ts_text)) > LOGIN_WINDOW_S:
            return WS_CODE_TIMESTAMP_EXPIRED, "Timestamp request expired"
        creds = self.credentials
        if not hmac.compare_digest(api_key, creds.api_key):
            return WS_CODE_INVALID_KEY, "Invalid apiKey"
        if not hmac.compare_digest(passphrase, creds.passphrase):
            return WS_CODE_WRONG_PASSPHRASE, "Wrong passphrase"
        expected = sign(creds.secret, ts_text, "GET", WS_LOGIN_PREHASH_PATH)
        if not hmac.compare_digest(signature, expected):
            return WS_CODE_INVALID_SIGN, "Invalid sign"
        return None

    # ------------------------------------------------------------------ subscribe / unsubscribe
    def _subscription(self, session: WsSession, client_id: str | None, op: str, arg: Any) -> None:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            self._error(session, client_id, WS_CODE_INVALID_ARGS, MSG_INVALID_ARGS)
            return
        kind, key = self._classify(session, arg)
        if kind == "error":
            self._error(session, client_id, *key)
            return
        ack: dict[str, Any] = {"id": client_id} if client_id is not None else {}
        ack.update(event=op, arg=arg, connId=session.conn_id)
        session.send_json(ack)
        if op == "subscribe":
            if kind == "public" and key[0] == BOOKS_CHANNEL:
                self._subscribe_books(session, key)
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
            if channel != ACCOUNT_CHANNEL and arg.get("instType") not in INST_TYPES:
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

    def _unsubscribe_public(self, session: WsSession, key: tuple[str, str]) -> None:
        if key not in session.public_keys:
            return
        session.public_keys.discard(key)
        subscribers = self._public.get(key, [])
        if session in subscribers:
            subscribers.remove(session)
        if not subscribers:
            self._public.pop(key, None)
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

    def _count_channel_connection(self, session: WsSession, channel: str) -> bool:
        """OKX tells each new subscriber how many connections carry the channel; past 30 the
        subscription is refused with channel-conn-count-error (after the ack)."""
        holders = {s for s, _arg, _json in self._private[channel]}
        if session in holders:
            return True
        count = len(holders) + 1
        if count > CHANNEL_CONN_LIMIT:
            session.send_json({"event": "channel-conn-count-error", "channel": channel,
                               "connCount": str(CHANNEL_CONN_LIMIT), "connId": session.conn_id})
            return False
        session.send_json({"event": "channel-conn-count", "channel": channel, "connCount": str(count),
                           "connId": session.conn_id})
        return True

    def _snapshot(self, session: WsSession, arg: dict[str, Any], push_arg: dict[str, Any]) -> None:
        if arg["channel"] == POSITIONS_CHANNEL:
            items = [
                p for p in self.exchange.positions_wire(arg.get("instId") or None)
                if _private_match(arg, p.get("instId")) and _nonzero(p.get("pos"))
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
        """Push drained exchange events to their subscribers (each message serialized once)."""
        public = self._public
        private = self._private
        faults = self.faults
        sent = self.counters.messages_sent
        now = faults.now()
        dumps = orjson.dumps
        check_stall = bool(faults.stalls)
        prefixes = self._push_prefixes
        for event in events:
            channel = event.channel
            inst_id = event.inst_id
            if channel in private:
                if private[channel] and not (check_stall and faults.is_stalled(channel, inst_id)):
                    self._publish_private(event)
                continue
            subscribers = public.get((channel, inst_id))  # type: ignore[arg-type]
            if not subscribers or (check_stall and faults.is_stalled(channel, inst_id)):
                continue
            prefix = prefixes.get((channel, inst_id))  # type: ignore[arg-type]
            if prefix is None:
                action = b',"action":"update"' if channel == BOOKS_CHANNEL else b""
                prefix = prefixes[(channel, inst_id)] = (  # type: ignore[index]
                    b'{"arg":' + dumps({"channel": channel, "instId": inst_id}) + action + b',"data":['
                )
            payload = prefix + dumps(event.data) + b"]}"
            for session in subscribers:
                session.last_push = payload
                session.enqueue(payload, now)
            sent[channel] += len(subscribers)

    def _publish_private(self, event: SimEvent) -> None:
        channel = event.channel
        data = orjson.dumps([event.data])
        paged = b',"eventType":"event_update","curPage":1,"lastPage":true' if channel in PAGED_CHANNELS else b""
        now = self.faults.now()
        for session, arg, arg_json in self._private[channel]:
            if channel != ACCOUNT_CHANNEL and not _private_match(arg, event.inst_id):
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
            session.enqueue(self._malformed_frame(kind, session), self.faults.now())
            self.counters.malformed_sent[kind] += 1
        return len(targets)

    def _malformed_frame(self, kind: str, session: WsSession) -> bytes:
        template = session.last_push or self._template_push()
        if kind == "not_json":
            return b"sim: this frame is not JSON {"
        if kind == "truncated":
            return template[: max(1, len(template) // 2)]
        message = orjson.loads(template)
        if kind == "wrong_types":
            # Numbers where OKX sends strings (e.g. "last": 123.4): a parser must refuse it.
            message["data"] = _numbers_for_strings(message.get("data", []))
        elif kind == "empty_data":
            message["data"] = []
        elif kind == "unknown_channel":
            message["arg"] = {**message.get("arg", {}), "channel": "sim-no-such-channel"}
        return orjson.dumps(message)

    def _template_push(self) -> bytes:
        inst_id = next(iter(self.exchange.specs))
        return orjson.dumps(
            {"arg": {"channel": "tickers", "instId": inst_id}, "data": [self.exchange.ticker_wire(inst_id)]}
        )


def _private_match(arg: dict[str, Any], inst_id: str | None) -> bool:
    """Whether a push for `inst_id` belongs to an orders/positions subscription `arg`."""
    if arg.get("instType", "ANY") not in SIM_INST_TYPES:
        return False
    wanted_id = arg.get("instId")
    if wanted_id and wanted_id != inst_id:
        return False
    family = arg.get("instFamily")
    return not (family and (inst_id is None or inst_id.rsplit("-", 1)[0] != family))


def _nonzero(value: Any) -> bool:
    try:
        return float(value) != 0.0
    except (TypeError, ValueError):
        return False


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
