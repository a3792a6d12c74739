"""How an order goes out: the one place that decides between the private WebSocket's trade channel
and REST (issue 13).

- `order_entry.transport: ws` (config): orders go over the trade channel (okx/ws_trade.py, OKX v5
  "WebSocket trade" section: `op` `order`, `cancel-order`, `amend-order` on /ws/v5/private) while it
  is ready; otherwise over REST, and every such REST use is an ORDER_VIA_REST event (kind, how many
  since when: folded by the bus like every other kind). The channel logging in again ends the
  episode with an event that says how many went over REST (or, for a REST use while the channel
  stayed logged in, the next order over WS does).
- `order_entry.rest_fallback: false`: entries are not sent over REST; while the channel is down
  they halt (`Halt.TRADE_CHANNEL`, a probe on `entry_route_closed`). Cancels and closes still go
  out over REST, each with its event: a position is never left without a way out.
- `transport: rest`: every order over REST, no event (REST is what was asked for).

A send the channel refused before writing a byte (`TradeChannelDown`) goes over REST (or, for an
entry that may not, is refused): nothing was sent twice. Anything after a byte left (a lost reply)
is settled by clOrdId inside the client, exactly as REST POSTs are (never re-sent here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from okxscalp.config.schema import OrderEntrySettings
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError, TradeChannelDown
from okxscalp.okx.models import Instrument, OrderAck, OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

EmitFn = Callable[..., None]  # (kind, symbol, detail, source, component)
BeforeSend = Callable[[], None]
COMPONENT = "order_route"
TRADE_CONNECTION = "trade"  # the trade channel's name in the console (connections pane row, `r`)


# sCodes that say a close's size did not fit (reference: error codes): 51020 below the minimum
# size, 51121 not a multiple of lotSz. The position's next close goes over REST close-position,
# which needs no size (with its own clOrdId: one clOrdId is never sent twice).
CLOSE_SIZE_CODES = frozenset({"51020", "51121"})
# 51169: no position in this direction to reduce or close: gone (its TP/SL, most likely), like
# close-position's 51023.
CLOSE_NO_POSITION_CODES = frozenset({"51169"})


class OrderTransport(str, Enum):
    WS = "ws"
    REST = "rest"


class EntryRouteClosed(OkxError):
    """Refused locally, nothing sent: the trade channel is down and the config forbids entries over
    REST (`order_entry.rest_fallback: false`)."""


class TradeChannel(Protocol):
    """What the route needs of okx/ws_trade.py's WsTradeChannel."""

    on_logged_in: Callable[[], None] | None  # set by the route: called each time a session logs in

    @property
    def ready(self) -> bool: ...

    def health(self) -> Any: ...

    async def place_order(self, request: OrderRequest, *, before_send: BeforeSend | None = None) -> OrderAck: ...

    def send_order_now(
        self, request: OrderRequest, *, before_send: BeforeSend | None = None,
    ) -> Coroutine[Any, Any, OrderAck] | None: ...

    async def cancel_order(self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None) -> OrderAck: ...

    async def amend_order(
        self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None,
        new_sz: str | None = None, new_px: str | None = None, cxl_on_fail: bool = False,
    ) -> OrderAck: ...


@dataclass(frozen=True, slots=True)
class RouteState:
    """The route's figures for the console and metrics (engine/console_view.py)."""

    transport: str  # configured: ws | rest
    rest_fallback_allowed: bool
    via_ws: int  # orders (place, cancel, amend) sent over the trade channel
    via_rest: int  # the same over REST while WS was configured (each one a fallback)
    fallback_since_wall: float | None  # epoch s of the first REST use of the current episode; None: on WS
    fallback_in_episode: int  # REST uses since then


class OrderRoute:
    """See the module docstring. `channel` None: no trade channel (transport rest)."""

    def __init__(self, rest: RestClient, channel: TradeChannel | None, settings: OrderEntrySettings, emit: EmitFn,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock  # the engine's clock: a backtest's episodes are in simulated time
        self.rest = rest
        self.channel = channel
        self.transport = OrderTransport(settings.transport)
        self.rest_fallback_allowed = settings.rest_fallback
        self._emit = emit
        self.via_ws = 0
        self.via_rest = 0
        self._fallback_since_wall: float | None = None
        self._fallback_in_episode = 0
        if channel is not None:
            channel.on_logged_in = self._on_channel_logged_in

    # ---- state -------------------------------------------------------------------------------

    @property
    def wants_ws(self) -> bool:
        return self.transport is OrderTransport.WS

    def ws_ready(self) -> bool:
        channel = self.channel
        return channel is not None and channel.ready

    def entry_route_closed(self) -> tuple[str, ...]:
        """The halt probe: why entries cannot be sent at all (empty: they can)."""
        if not self.wants_ws or self.rest_fallback_allowed or self.ws_ready():
            return ()
        return (f"trade channel down ({self._down_why()}); REST fallback forbidden (order_entry.rest_fallback: false)",)

    def state(self) -> RouteState:
        return RouteState(self.transport.value, self.rest_fallback_allowed, self.via_ws, self.via_rest,
                          self._fallback_since_wall, self._fallback_in_episode)

    # ---- orders ------------------------------------------------------------------------------

    async def place_entry(self, request: OrderRequest, before_send: BeforeSend | None = None) -> OrderAck:
        """An entry: over WS when ready; over REST only when allowed (else EntryRouteClosed)."""
        if self._try_ws():
            try:
                ack = await self.channel.place_order(request, before_send=before_send)  # type: ignore[union-attr]
            except TradeChannelDown as exc:
                self._not_ready(exc)
            else:
                self._on_ws()
                return ack
        if self.wants_ws and not self.rest_fallback_allowed:
            raise EntryRouteClosed(f"entry {request.cl_ord_id} not sent: trade channel not ready ({self._down_why()}); "
                                   "REST fallback forbidden (order_entry.rest_fallback: false)")
        self._on_rest(request.inst_id, f"entry {request.cl_ord_id}")
        return await self.rest.place_order(request, before_send=before_send)

    def send_entry_now(self, request: OrderRequest, before_send: BeforeSend | None = None) -> Coroutine[Any, Any, OrderAck] | None:
        """The tick path's fast way out: over WS, the frame written before this returns (no task
        hop between the decision and the socket). None, nothing sent, when WS is not the way now or
        the channel cannot write without waiting: then `place_entry` (in a task) decides. The
        returned coroutine waits for the reply (run it in a task)."""
        if not self._try_ws():
            return None
        reply = self.channel.send_order_now(request, before_send=before_send)  # type: ignore[union-attr]
        if reply is not None:
            self._on_ws()
        return reply

    async def place_close(self, request: OrderRequest) -> OrderAck:
        """A close as an order (a market order on the reduce side): over WS only. REST closes are
        close-position (`closes.py` decides); raises TradeChannelDown when WS is not ready."""
        if not self._try_ws():
            raise TradeChannelDown(f"close {request.cl_ord_id}: trade channel not ready ({self._down_why()})")
        try:
            ack = await self.channel.place_order(request)  # type: ignore[union-attr]
        except TradeChannelDown as exc:
            self._not_ready(exc)
            raise
        self._on_ws()
        return ack

    def note_rest_close(self, inst_id: str, what: str, why: str = "") -> None:
        """A close that goes over REST close-position while WS was configured: its event."""
        self._on_rest(inst_id, what, why)

    async def cancel(self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None) -> OrderAck:
        """A cancel always goes out: over WS when ready, else over REST (an event when WS was asked
        for, even with the fallback forbidden: an order must never be left working for want of a
        channel)."""
        if self._try_ws():
            try:
                ack = await self.channel.cancel_order(inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id)  # type: ignore[union-attr]
            except TradeChannelDown as exc:
                self._not_ready(exc)
            else:
                self._on_ws()
                return ack
        self._on_rest(inst_id, f"cancel {ord_id or cl_ord_id}")
        return await self.rest.cancel_order(inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id)

    # ---- internals ---------------------------------------------------------------------------

    def _try_ws(self) -> bool:
        return self.wants_ws and self.ws_ready()

    def _down_why(self) -> str:
        channel = self.channel
        if channel is None:
            return "no trade channel"
        health = channel.health()
        state = getattr(health, "state", "")
        last_error = getattr(health, "last_error", "")
        return f"{getattr(state, 'value', state)}{': ' + str(last_error) if last_error else ''}"

    def _not_ready(self, exc: TradeChannelDown) -> None:
        log.info("trade channel refused a send %s", kv(error=exc))

    def _on_ws(self) -> None:
        self.via_ws += 1
        if self._fallback_since_wall is not None:  # REST was used while the channel stayed logged in
            self._end_fallback_episode("")

    def _on_channel_logged_in(self) -> None:
        if self.wants_ws and self._fallback_since_wall is not None:
            self._end_fallback_episode("trade channel logged in again: ")

    def _end_fallback_episode(self, why: str) -> None:
        since, count = self._fallback_since_wall, self._fallback_in_episode
        assert since is not None
        self._fallback_since_wall, self._fallback_in_episode = None, 0
        self._emit(FallbackKind.ORDER_VIA_REST, "",
                   f"{why}orders over the WebSocket trade channel again, after {count} over REST since "
                   f"{time.strftime('%H:%M:%S', time.localtime(since))}", "ws", COMPONENT)

    def _on_rest(self, inst_id: str, what: str, why: str = "") -> None:
        if not self.wants_ws:
            return
        self.via_rest += 1
        if self._fallback_since_wall is None:
            self._fallback_since_wall = self._wall_clock()
        self._fallback_in_episode += 1
        since = time.strftime("%H:%M:%S", time.localtime(self._fallback_since_wall))
        self._emit(FallbackKind.ORDER_VIA_REST, inst_id,
                   f"{what} over REST: {why or f'trade channel not ready ({self._down_why()})'}; "
                   f"{self._fallback_in_episode} over REST since {since}", "rest", COMPONENT)


def close_as_order(
    inst_id: str, pos_side: PosSide, size: float, instrument: Instrument | None, *,
    cl_ord_id: str, td_mode: str, tag: str,
) -> OrderRequest | str:
    """A close over WS: OKX has no WebSocket close-position, so a market order on the reduce side of
    the known size (long/short mode: `posSide` says which position; `reduceOnly` applies in net
    mode only: reference "Place order"). Returns why not when the size is not known exactly
    (then REST close-position, which takes no size, is the way)."""
    if instrument is None:
        return "instrument not known"
    if pos_side not in (PosSide.LONG, PosSide.SHORT):
        return f"posSide {pos_side.value}: long/short mode expected"
    if not size > 0:
        return f"position size {size!r} not known"
    sz = instrument.format_size(size)
    if float(sz) != size:
        return f"position size {size!r} off the lot grid ({instrument.lot_sz})"
    side = Side.SELL if pos_side is PosSide.LONG else Side.BUY
    return OrderRequest(inst_id, side, pos_side, "market", sz, cl_ord_id=cl_ord_id, td_mode=td_mode, tag=tag)
