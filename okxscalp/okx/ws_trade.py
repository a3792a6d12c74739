"""Order entry over OKX's private WebSocket ("WebSocket trade", okx-v5-reference.md section 3;
docs order-book-trading-trade-ws-place-order / -ws-cancel-order / -ws-amend-order): `op` order,
cancel-order and amend-order on /ws/v5/private after login, one request id per frame, the reply
`{"id","op","code","msg","data":[{... "sCode","sMsg"}],"inTime","outTime"}` matched by that id.

A dedicated logged-in /private connection, not the one carrying the orders/positions/account
subscriptions (okx/ws.py), because:
- head-of-line blocking: OKX answers on the connection the op came in on, in order with whatever
  else it writes there. A positions/account snapshot or a burst of order pushes queued ahead of a
  reply delays it; on a connection that carries only our own replies nothing waits in front.
- reconnect independence: the feed connection is replaced by its own rules (refused subscriptions,
  a 64008 notice, the staleness watchdog, the reconnect-storm breaker); each replacement would turn
  every order in flight into an ambiguous one. Here only this channel's own loss does.
- the per-connection limits do not bind it: the 480 subscribe/unsubscribe/login requests per hour
  count per connection (one login per session here), the 30-connections-per-channel limit counts
  subscriptions (this connection subscribes nothing), and order ops are limited per User ID +
  instId, not per connection ("Rate limit is shared with the Place order REST API endpoints").
  The cost is one more connection at start-up (OKX: 3 new connections per second per IP), paced
  through the process-wide ConnectGate like every other dial.
- idle rule: OKX drops a connection that has pushed nothing for 30 s; a text `ping` after
  `ping_after_s` of silence (< 30 s) keeps it, the `pong` is the data pushed.

Instrument key: OKX delisted `instId` on the WS order ops (changelog "Delist instId request
parameter in WS order operation channels": place/batch from 2026-03-26, amend/cancel from
2026-03-31; "any instId value provided will be ignored") in favour of the Integer `instIdCode` from
GET /public/instruments. The code of every SWAP instrument is loaded through the REST client at
start (cached); an instrument without a known code is refused here (TradeChannelDown, nothing sent)
so the caller sends it over REST, which still takes `instId`.

Semantics are RestClient's: the same typed errors (OrderRejected with sCode/sMsg, RateLimited,
RequestError, OrderNotPlaced, AmbiguousOrderOutcome), each frame sent once and never re-sent. Budgets
come from the REST client's own EndpointLimiters object (OKX: WS and REST order ops share one limit
per User ID + instId, 60 per 2 s for order/cancel/amend), so both paths draw from one budget.
A reply that does not come within `reply_timeout_s`, or a connection lost while a request is in
flight, makes a placement ambiguous: it is settled by clOrdId over REST (RestClient.resolve_order),
exactly as a REST POST with a lost reply; a cancel or amend raises NetworkError, as over REST (both
are safe to repeat: 51400 / 51503 say it is done). A reply that arrives after its request gave up is
counted and logged, never matched to another request (ids are unique for the channel's life).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from okxscalp.config.schema import BackoffSettings
from okxscalp.okx import parse
from okxscalp.okx.auth import Credentials, ws_login_args
from okxscalp.okx.constants import (
    AMBIGUOUS_ORDER_CODES,
    CODE_ALL_FAILED,
    CODE_OK,
    CODE_PARTIAL,
    TRADE_AMEND_ORDER,
    TRADE_CANCEL_ORDER,
    TRADE_ORDER,
    WS_CODE_SERVICE_UPGRADE_NOTICE,
    WS_PRIVATE_PATH,
    Endpoint,
)
from okxscalp.okx.errors import (
    MalformedMessage,
    NetworkError,
    OkxError,
    OrderRejected,
    RequestError,
    TradeChannelDown,
    error_for,
)
from okxscalp.okx.limiter import EndpointLimiters
from okxscalp.okx.models import OrderAck, OrderRequest
from okxscalp.okx.order_body import add_amendment, order_fields
from okxscalp.okx.rest import RestClient, new_cl_ord_id
from okxscalp.okx.ws import ConnectGate, WsClosed, WsLink, backoff_delay, dial_failure

__all__ = ["TradeChannelDown", "TradeChannelHealth", "WsTradeChannel", "WsTradeSettings"]

log = logging.getLogger(__name__)

STATE_CONNECTING = "connecting"
STATE_LOGGED_IN = "logged_in"
STATE_DOWN = "down"
SWAP = "SWAP"
_CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # OKX: case-sensitive alphanumerics, ≤ 32 (as REST)
_ABANDONED_KEPT = 1024  # ids of requests that gave up, remembered to recognise their late reply
_MALFORMED_LOG_FIRST = 10
_MALFORMED_LOG_EVERY = 100


@dataclass(frozen=True, slots=True)
class WsTradeSettings:
    reply_timeout_s: float = 2.0  # no reply by then: the outcome is unknown (settled by clOrdId)
    connect_timeout_s: float = 5.0  # dial and login each
    ping_after_s: float = 20.0  # text ping after this much silence (OKX idles out at 30 s)
    pong_timeout_s: float = 5.0
    backoff: BackoffSettings = field(default_factory=BackoffSettings)


@dataclass(frozen=True, slots=True)
class TradeChannelHealth:
    state: str  # connecting | logged_in | down
    since_mono: float  # monotonic time the state was entered
    last_error: str
    sent: int  # frames written (order ops)
    replied: int  # replies matched to their request
    timeouts: int  # requests that got no reply within reply_timeout_s
    last_rtt_ms: float | None  # frame written → reply read, the last matched reply
    late_replies: int = 0  # replies that came after their request gave up (logged)
    malformed: int = 0  # frames that are not a documented shape, or answer no request (logged)
    reconnects: int = 0
    in_flight: int = 0


class _NoReply(NetworkError):
    """The frame may have been written and no reply will be matched to it: the outcome is unknown."""


class _SessionEnded(Exception):
    """Ends a session with a reason (login refused, no pong, ...)."""


class _Pending:
    __slots__ = ("future", "op")

    def __init__(self, future: asyncio.Future[tuple[dict[str, Any], float]], op: str) -> None:
        self.future = future
        self.op = op


class WsTradeChannel:
    def __init__(
        self,
        ws_base_url: str,
        credentials: Credentials,
        rest: RestClient,
        *,
        limiter: EndpointLimiters | None = None,
        settings: WsTradeSettings | None = None,
        connect_gate: ConnectGate | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        unix_socket: str | None = None,
    ) -> None:
        self.url = ws_base_url.rstrip("/") + WS_PRIVATE_PATH
        self.unix_socket = unix_socket  # None: TCP to the URL's host (transport.py)
        self._credentials = credentials
        self._rest = rest
        # One budget for REST and WS order ops (OKX: the WS ops share the REST limits).
        self._limiters = limiter if limiter is not None else rest.limiters
        self._settings = settings or WsTradeSettings()
        self._gate = connect_gate or ConnectGate()
        # The engine's clock (okxscalp/clock.py): the OS clocks live, simulated time in a backtest.
        self._clock = clock
        self._wall_clock = wall_clock
        # Reconnect jitter: unseeded live; a backtest passes a seeded one.
        self._rng = rng if rng is not None else random.Random()
        self._codes: dict[str, int] = {}  # instId -> instIdCode

        self._ws: WsLink | None = None
        self._logged_in = False
        self._draining = False  # a 64008 notice: no new requests, reconnect once the in-flight ones end
        self._pending: dict[str, _Pending] = {}
        self._abandoned: OrderedDict[str, str] = OrderedDict()  # request id -> op, gave up waiting
        self._next_id = 0
        self._end_reason: str | None = None
        self._failures = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._codes_task: asyncio.Task[None] | None = None
        self._first_try: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._last_recv_mono = 0.0
        self._last_sent_mono = 0.0
        self._ping_sent_mono: float | None = None

        self._state = STATE_DOWN
        self._since_mono = self._clock()
        self._last_error = ""
        self._sent = 0
        self._replied = 0
        self._timeouts = 0
        self._late = 0
        self._malformed = 0
        self._reconnects = 0
        self._last_rtt_ms: float | None = None
        # Called (on the loop) each time a session logs in: the order route closes a REST fallback
        # episode then, not at the next order.
        self.on_logged_in: Callable[[], None] | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection (and load the instruments' instIdCodes over REST); returns once
        the first login has been tried, whatever its outcome. Reconnects with backoff by itself."""
        if self._task is not None:
            return
        self._stopping = False
        self._first_try = asyncio.Event()
        self._wake = asyncio.Event()
        self._codes_task = asyncio.create_task(self._load_codes(None), name="ws-trade-codes")
        self._task = asyncio.create_task(self._run(), name="ws-trade")
        await self._first_try.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        self._end_session("stopped")
        for task in (self._codes_task, self._task):
            if task is not None and not task.done() and task is not asyncio.current_task():
                if task is self._codes_task or self._ws is None:
                    task.cancel()  # dialing or waiting for a retry: nothing to close cleanly
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._codes_task = None
        self._fail_pending("trade channel stopped")
        self._set_state(STATE_DOWN)

    def request_reconnect(self, reason: str) -> None:
        """Drop the connection (in-flight requests become ambiguous) and reconnect at once."""
        log.info("ws trade: reconnect requested: %s", reason)
        self._failures = 0
        if self._ws is not None:
            self._end_session(f"reconnect requested: {reason}")
        elif self._wake is not None:
            self._wake.set()

    @property
    def ready(self) -> bool:
        """Connected, logged in and taking requests."""
        return self._logged_in and not self._draining and self._ws is not None

    def health(self) -> TradeChannelHealth:
        return TradeChannelHealth(
            self._state, self._since_mono, self._last_error, self._sent, self._replied, self._timeouts,
            self._last_rtt_ms, self._late, self._malformed, self._reconnects, len(self._pending),
        )

    def inst_id_code(self, inst_id: str) -> int | None:
        """The instIdCode the channel keys `inst_id`'s orders by, if known."""
        return self._codes.get(inst_id)

    # --- orders -----------------------------------------------------------------------------

    async def place_order(
        self, request: OrderRequest, *, before_send: Callable[[], None] | None = None
    ) -> OrderAck:
        """Send one order, once. Returns the ack (sCode 0), or raises like RestClient.place_order;
        TradeChannelDown when nothing was sent (not logged in, no instIdCode). `before_send` runs
        after any budget wait, right before the frame is written; if it raises, nothing is sent."""
        cl_ord_id = request.cl_ord_id or new_cl_ord_id()
        if not _CL_ORD_ID.fullmatch(cl_ord_id):
            raise ValueError(f"clOrdId must be 1-32 alphanumerics, got {cl_ord_id!r}")
        inst_id = request.inst_id
        code = self._codes.get(inst_id)
        if code is None:
            code = await self._code_for(inst_id)
        args = order_fields(request, cl_ord_id, "instIdCode", code)
        return await self._placed(self._call(TRADE_ORDER, "order", inst_id, args, before_send), inst_id, cl_ord_id)

    def send_order_now(
        self, request: OrderRequest, *, before_send: Callable[[], None] | None = None
    ) -> Coroutine[Any, Any, OrderAck] | None:
        """`place_order` with the frame written before this returns, in the caller's own step (the
        tick path: no task hop between the decision and the socket). None, with nothing sent, when
        that cannot be done without waiting: not logged in, the instIdCode not loaded, the order
        budget spent, or the socket's write buffer over its limit (then use `place_order`). Otherwise the returned coroutine waits for the reply
        with `place_order`'s semantics (run it in a task). `before_send` as in `place_order`."""
        cl_ord_id = request.cl_ord_id or new_cl_ord_id()
        if not _CL_ORD_ID.fullmatch(cl_ord_id):
            raise ValueError(f"clOrdId must be 1-32 alphanumerics, got {cl_ord_id!r}")
        inst_id = request.inst_id
        code = self._codes.get(inst_id)
        ws = self._ws
        if (code is None or ws is None or not self.ready or not ws.is_open or ws.writing_paused
                or not self._limiters.has_capacity(TRADE_ORDER, inst_id=inst_id)):
            return None
        _complete_now(self._limiters.acquire(TRADE_ORDER, inst_id=inst_id))  # capacity: no wait
        if before_send is not None:
            before_send()
        self._next_id += 1
        request_id = str(self._next_id)
        frame = orjson.dumps({"id": request_id, "op": "order", "args": [order_fields(request, cl_ord_id, "instIdCode", code)]})
        future: asyncio.Future[tuple[dict[str, Any], float]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(future, "order")
        sent_mono = self._last_sent_mono = self._clock()
        # The frame is on the transport when this returns (open and not paused, checked above).
        ws.send_now(frame)
        self._sent += 1
        reply = self._reply(request_id, future, sent_mono, "order", inst_id)
        return self._placed(reply, inst_id, cl_ord_id)

    async def _placed(self, reply_of: Coroutine[Any, Any, dict[str, Any]], inst_id: str, cl_ord_id: str) -> OrderAck:
        """An `order` op's outcome from its reply: the ack, the typed rejection, or the lookup by
        clOrdId after an ambiguous end."""
        try:
            reply = await reply_of
            ack = self._ack(reply, "order")
        except TradeChannelDown:
            raise
        except OkxError as exc:
            if not _is_ambiguous(exc):
                raise
            log.warning("ws order %s on %s: ambiguous (%s); looking it up by clOrdId", cl_ord_id, inst_id, exc)
            return await self._rest.resolve_order(inst_id, cl_ord_id, f"ws: {exc}")
        if ack.ok:
            return ack
        if ack.s_code in AMBIGUOUS_ORDER_CODES:
            return await self._rest.resolve_order(inst_id, cl_ord_id, f"ws: sCode {ack.s_code} {ack.s_msg}")
        raise OrderRejected(ack.s_code, ack.s_msg, cl_ord_id=cl_ord_id, inst_id=inst_id)

    async def cancel_order(
        self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None
    ) -> OrderAck:
        """Sent once; a lost reply raises NetworkError (cancelling again is safe: 51400)."""
        args = await self._order_ref(inst_id, ord_id, cl_ord_id)
        reply = await self._call(TRADE_CANCEL_ORDER, "cancel-order", inst_id, args, None)
        ack = self._ack(reply, "cancel-order")
        if not ack.ok:
            raise OrderRejected(ack.s_code, ack.s_msg, cl_ord_id=ack.cl_ord_id or cl_ord_id or "", inst_id=inst_id)
        return ack

    async def amend_order(
        self,
        inst_id: str,
        *,
        ord_id: str | None = None,
        cl_ord_id: str | None = None,
        new_sz: str | None = None,
        new_px: str | None = None,
        cxl_on_fail: bool = False,
    ) -> OrderAck:
        """Sent once; a lost reply raises NetworkError (read the order back to know where it stands)."""
        if new_sz is None and new_px is None:
            raise ValueError("amend needs new_sz or new_px")
        args = await self._order_ref(inst_id, ord_id, cl_ord_id)
        add_amendment(args, new_sz, new_px, cxl_on_fail)
        reply = await self._call(TRADE_AMEND_ORDER, "amend-order", inst_id, args, None)
        ack = self._ack(reply, "amend-order")
        if not ack.ok:
            raise OrderRejected(ack.s_code, ack.s_msg, cl_ord_id=ack.cl_ord_id or cl_ord_id or "", inst_id=inst_id)
        return ack

    # --- one request ------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint,
        op: str,
        inst_id: str,
        args: dict[str, Any],
        before_send: Callable[[], None] | None,
    ) -> dict[str, Any]:
        """Budget, write the frame once, wait for its reply. TradeChannelDown: nothing was written.
        _NoReply: written (or maybe written) and no reply will come."""
        if not self.ready:
            raise TradeChannelDown(f"trade channel {self._state}: {op} on {inst_id} not sent")
        await self._limiters.acquire(endpoint, inst_id=inst_id)
        ws = self._ws
        # Not open: the write would be refused (nothing sent), so say so before before_send.
        if ws is None or not self._logged_in or self._draining or not ws.is_open:
            raise TradeChannelDown(f"trade channel went {self._state} during the budget wait: {op} on {inst_id} not sent")
        if before_send is not None:
            before_send()
        self._next_id += 1
        request_id = str(self._next_id)
        frame = orjson.dumps({"id": request_id, "op": op, "args": [args]})
        future: asyncio.Future[tuple[dict[str, Any], float]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(future, op)
        sent_mono = self._last_sent_mono = self._clock()
        try:
            await ws.send(frame)
        except WsClosed as exc:
            self._pending.pop(request_id, None)
            raise _NoReply(f"ws {op}: connection closed while sending ({exc})") from None
        self._sent += 1
        return await self._reply(request_id, future, sent_mono, op, inst_id)

    async def _reply(
        self, request_id: str, future: asyncio.Future[tuple[dict[str, Any], float]], sent_mono: float, op: str,
        inst_id: str,
    ) -> dict[str, Any]:
        """The reply of a written frame, or _NoReply after reply_timeout_s."""
        try:
            async with asyncio.timeout(self._settings.reply_timeout_s):
                reply, recv_mono = await future
        except TimeoutError:
            if self._pending.pop(request_id, None) is not None:
                self._abandon(request_id, op)
            self._timeouts += 1
            self._note_error(f"{op} on {inst_id}: no reply within {self._settings.reply_timeout_s:g}s")
            raise _NoReply(f"ws {op}: no reply within {self._settings.reply_timeout_s:g}s") from None
        self._replied += 1
        self._last_rtt_ms = (recv_mono - sent_mono) * 1000.0
        return reply

    def _ack(self, reply: dict[str, Any], op: str) -> OrderAck:
        try:
            return _single_ack(reply, op)
        except MalformedMessage as exc:
            self._count_malformed(str(exc), orjson.dumps(reply))
            raise

    async def _order_ref(self, inst_id: str, ord_id: str | None, cl_ord_id: str | None) -> dict[str, Any]:
        if not ord_id and not cl_ord_id:
            raise ValueError("an order is referenced by ord_id or cl_ord_id")
        code = self._codes.get(inst_id)
        if code is None:
            code = await self._code_for(inst_id)
        ref: dict[str, Any] = {"instIdCode": code}
        if ord_id:
            ref["ordId"] = ord_id
        if cl_ord_id:
            ref["clOrdId"] = cl_ord_id
        return ref

    def _abandon(self, request_id: str, op: str) -> None:
        abandoned = self._abandoned
        abandoned[request_id] = op
        while len(abandoned) > _ABANDONED_KEPT:
            abandoned.popitem(last=False)

    # --- instIdCode ---------------------------------------------------------------------------

    async def _load_codes(self, inst_id: str | None) -> None:
        try:
            instruments = await self._rest.instruments(SWAP, inst_id)
        except OkxError as exc:
            self._note_error(f"instIdCode lookup{' of ' + inst_id if inst_id else ''} failed: {exc}")
            log.warning("ws trade: %s", self._last_error)
            return
        for instrument in instruments:
            if instrument.inst_id_code is not None:
                self._codes[instrument.inst_id] = instrument.inst_id_code

    async def _code_for(self, inst_id: str) -> int:
        await self._load_codes(inst_id)
        code = self._codes.get(inst_id)
        if code is None:
            raise TradeChannelDown(f"no instIdCode known for {inst_id}: not sent over the trade channel")
        return code

    # --- the connection -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._stopping:
                await self._gate.wait()
                if self._stopping:
                    break
                try:
                    reason = await self._session()
                except Exception as exc:  # a bug here must not end the channel for good: logged, retried
                    log.exception("ws trade: session failed")
                    reason = f"internal error: {exc.__class__.__name__}: {exc}"
                self._fail_pending(reason)
                self._mark_tried()
                if self._stopping:
                    break
                self._reconnects += 1
                self._note_error(reason)
                self._set_state(STATE_DOWN)
                delay = self._next_delay()
                log.warning("ws trade: %s; reconnect #%d in %.2fs", reason, self._reconnects, delay)
                await self._sleep(delay)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self._ws = None
            self._logged_in = False
            self._mark_tried()
            self._set_state(STATE_DOWN)

    async def _session(self) -> str:
        self._end_reason = None
        self._logged_in = False
        self._draining = False
        self._ping_sent_mono = None
        self._set_state(STATE_CONNECTING)
        try:
            ws = await WsLink.dial(self.url, self._settings.connect_timeout_s, self.unix_socket)
        except Exception as exc:  # OSError, TimeoutError, aiohttp's handshake errors: all end the try
            return dial_failure(exc)
        self._ws = ws
        self._last_recv_mono = self._last_sent_mono = self._clock()
        heartbeat = asyncio.create_task(self._heartbeat(ws), name="ws-trade-heartbeat")
        try:
            if self._stopping:
                return "stopped"
            login = {"op": "login", "args": [ws_login_args(self._credentials, self._wall_clock())]}
            self._last_sent_mono = self._clock()
            await ws.send(orjson.dumps(login))
            await self._read(ws)
            return self._end_reason or "connection ended"
        except (WsClosed, _SessionEnded) as exc:
            return self._end_reason or str(exc)
        except OSError as exc:
            return self._end_reason or f"connection lost: {exc.__class__.__name__}: {exc}"
        finally:
            self._ws = None
            self._logged_in = False
            ws.abort()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await ws.close()

    async def _read(self, ws: WsLink) -> None:
        receive = ws.ws.receive
        data_of = ws.data_of
        pending = self._pending
        monotonic = self._clock
        loads = orjson.loads
        while True:
            msg = await receive()
            raw = data_of(msg)
            now = self._last_recv_mono = monotonic()
            if raw == b"pong":
                self._ping_sent_mono = None
                continue
            if raw == b"ping":
                self._last_sent_mono = now
                await ws.send(b"pong")
                continue
            try:
                message = loads(raw)
            except orjson.JSONDecodeError:
                self._count_malformed("not JSON", raw)
                continue
            if message.__class__ is not dict:
                self._count_malformed("not an object", raw)
                continue
            request_id = message.get("id")
            if request_id.__class__ is str and request_id:
                waiting = pending.pop(request_id, None)
                if waiting is not None:
                    if not waiting.future.done():
                        waiting.future.set_result((message, now))
                    if self._draining and not pending:
                        self._end_session("service upgrade notice: moved to a new connection")
                    continue
                op = self._abandoned.pop(request_id, None)
                if op is not None:
                    self._late_reply(op, request_id, message)
                    continue
            self._event(message, raw)

    def _event(self, message: dict[str, Any], raw: bytes) -> None:
        event = message.get("event")
        code = str(message.get("code", ""))
        msg = str(message.get("msg", ""))
        if event == "login":
            if code not in ("", CODE_OK):
                raise _SessionEnded(f"login refused: code {code} {msg}")
            self._logged_in = True
            self._failures = 0
            self._set_state(STATE_LOGGED_IN)
            self._mark_tried()
            log.info("ws trade: logged in")
            if self.on_logged_in is not None:
                try:
                    self.on_logged_in()
                except Exception as exc:  # the listener's bug must not end a good session: logged, and
                    log.exception("ws trade: on_logged_in listener failed")  # on the console's trade row
                    self._note_error(f"on_logged_in listener failed: {exc!r}")
        elif event == "error":
            if not self._logged_in:
                raise _SessionEnded(f"login refused: code {code} {msg}")
            self._note_error(f"error event {code} {msg} (request {message.get('id') or '?'})")
            self._count_malformed("error event that answers no request in flight", raw)
        elif event == "notice" and code == WS_CODE_SERVICE_UPGRADE_NOTICE:
            # 60 s before a service upgrade: take no new requests here, reconnect once the
            # in-flight ones are answered (new orders go the caller's other way meanwhile).
            log.info("ws trade: service upgrade notice; reconnecting once %d in flight end", len(self._pending))
            self._draining = True
            if not self._pending:
                self._end_session("service upgrade notice: moved to a new connection")
        else:
            self._count_malformed("a frame that answers no request", raw)

    def _late_reply(self, op: str, request_id: str, message: dict[str, Any]) -> None:
        self._late += 1
        data = message.get("data")
        first = data[0] if data.__class__ is list and data and data[0].__class__ is dict else {}
        log.warning(
            "ws trade: late reply to %s request %s (it had given up): code %s sCode %s ordId %s clOrdId %s",
            op, request_id, message.get("code"), first.get("sCode"), first.get("ordId"), first.get("clOrdId"),
        )

    async def _heartbeat(self, ws: WsLink) -> None:
        """Login deadline; text ping after ping_after_s of silence either way, pong within
        pong_timeout_s or the session ends (and reconnects)."""
        settings = self._settings
        login_deadline = self._clock() + settings.connect_timeout_s
        while True:
            now = self._clock()
            if not self._logged_in:
                if now >= login_deadline:
                    self._end_session(f"login not acknowledged within {settings.connect_timeout_s:g}s")
                    return
                wake_at = login_deadline
            else:
                wake_at = float("inf")
            if self._ping_sent_mono is not None:
                deadline = self._ping_sent_mono + settings.pong_timeout_s
                if now >= deadline:
                    self._end_session(f"no pong within {settings.pong_timeout_s:g}s of ping")
                    return
                wake_at = min(wake_at, deadline)
            else:
                ping_at = min(self._last_recv_mono, self._last_sent_mono) + settings.ping_after_s
                if now >= ping_at:
                    self._ping_sent_mono = self._last_sent_mono = now
                    try:
                        await ws.send(b"ping")
                    except WsClosed:
                        return
                    continue
                wake_at = min(wake_at, ping_at)
            await asyncio.sleep(max(0.0, wake_at - now) + 0.001)

    # --- state --------------------------------------------------------------------------------

    def _fail_pending(self, reason: str) -> None:
        """Every request still waiting: its frame may have been executed; the outcome is unknown."""
        pending, self._pending = self._pending, {}
        for request_id, waiting in pending.items():
            if not waiting.future.done():
                waiting.future.set_exception(_NoReply(f"ws {waiting.op}: connection lost before the reply ({reason})"))
            log.warning("ws trade: %s request %s in flight when the connection ended: %s", waiting.op, request_id, reason)

    def _end_session(self, reason: str) -> None:
        ws = self._ws
        if ws is not None:
            if self._end_reason is None:
                self._end_reason = reason
            self._logged_in = False
            ws.abort()

    def _mark_tried(self) -> None:
        if self._first_try is not None:
            self._first_try.set()

    def _next_delay(self) -> float:
        """First retry immediate, then base·2^(n-1) capped, ± jitter (as the feed connections)."""
        attempt = self._failures
        self._failures += 1
        if attempt == 0:
            return 0.0
        return backoff_delay(self._settings.backoff, attempt - 1, self._rng)

    async def _sleep(self, delay: float) -> None:
        wake = self._wake
        if wake is None or self._stopping or delay <= 0:
            return
        wake.clear()
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._since_mono = self._clock()

    def _note_error(self, text: str) -> None:
        self._last_error = text

    def _count_malformed(self, reason: str, raw: bytes) -> None:
        self._malformed += 1
        count = self._malformed
        if count <= _MALFORMED_LOG_FIRST or count % _MALFORMED_LOG_EVERY == 0:
            log.warning("ws trade: dropped frame #%d (%s): %r", count, reason, raw[:200])


def _complete_now(step: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that finishes without suspending (a budget acquire with capacity)."""
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError("budget acquire suspended although the limiter had capacity")


def _single_ack(reply: dict[str, Any], op: str) -> OrderAck:
    """The per-order result of a reply, or the typed error of a request-level refusal (an error
    event or a code other than 0/1/2: 50011 RateLimited, 60013 invalid args, ...)."""
    code = reply.get("code")
    if code.__class__ is int:
        code = str(code)
    if code.__class__ is not str:
        raise MalformedMessage(f"ws {op}: reply without a code", orjson.dumps(reply).decode())
    msg = reply.get("msg")
    msg = msg if msg.__class__ is str else ""
    if reply.get("event") == "error" or code not in (CODE_OK, CODE_ALL_FAILED, CODE_PARTIAL):
        raise error_for(code, msg, path=f"ws {op}")
    acks = parse.parse_order_acks(reply.get("data"))
    if not acks:
        raise MalformedMessage(f"ws {op}: reply code {code} without data")
    return acks[0]


def _is_ambiguous(exc: OkxError) -> bool:
    """A placement that failed like this may or may not exist (RestClient's rule, plus no reply)."""
    if isinstance(exc, NetworkError | MalformedMessage):
        return True
    return isinstance(exc, RequestError) and (exc.code in AMBIGUOUS_ORDER_CODES or exc.http_status >= 500)
