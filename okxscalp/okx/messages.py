"""WebSocket protocol messages in typed form: what `parse.parse_ws_frame` returns.

`WsPush` carries domain objects (models.py); `WsEvent` is a login/subscribe ack, an error or a
notice, handled inside `WsConnection` (and offered to an optional observer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChannelArg:
    """One subscription, e.g. ChannelArg("tickers", inst_id="XRP-USDT-SWAP") or
    ChannelArg("orders", inst_type="SWAP"). Hashable: subscriptions are tracked by it."""

    channel: str
    inst_id: str = ""
    inst_type: str = ""

    def wire(self) -> dict[str, str]:
        arg = {"channel": self.channel}
        if self.inst_type:
            arg["instType"] = self.inst_type
        if self.inst_id:
            arg["instId"] = self.inst_id
        return arg


@dataclass(slots=True)
class WsPush:
    """One data push: `items` are domain objects (Ticker, BookTop, Candle, Order, Position, ...)."""

    channel: str
    inst_id: str  # from the push arg; "" for account-wide channels (orders/positions carry it per item)
    items: tuple[Any, ...]
    recv_mono: float  # time.monotonic() when the frame was received
    action: str = ""  # books: snapshot|update; positions/account: eventType snapshot|event_update


@dataclass(frozen=True, slots=True)
class WsEvent:
    """`{"event": ...}` frames: login, subscribe, unsubscribe, error, notice, channel-conn-count..."""

    event: str
    code: str = ""
    msg: str = ""
    arg: ChannelArg | None = None
    conn_id: str = ""
    req_id: str = ""  # the client `id` echoed back, if any


@dataclass(frozen=True, slots=True)
class Pong:
    """The text `pong` heartbeat reply."""

    recv_mono: float


WsFrame = WsPush | WsEvent | Pong
