"""One WebSocket client connection of the simulator: its state and its outbound queue.

Pushes are queued as ready-made JSON bytes and written by the session's own writer task, so a
slow client never blocks the market. The writer puts whole text frames straight onto the
transport in batches: aiohttp's `send_frame` costs more per call than the market costs per tick.
A round of market pushes into an idle session is written by its publisher at once (`push` then
`flush`: the same bytes in the same single write, without waking the writer task per round).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from okxscalp.sim.faults import FaultInjector

log = logging.getLogger(__name__)

WRITE_BATCH = 256  # frames per transport write
WRITE_HIGH_WATER = 1 << 20  # bytes buffered in the transport before the writer waits for the reader
_conn_ids = itertools.count(0x5A17E000)


# The headers of the frame sizes nearly every push has, built once: a frame's header is then a
# lookup, not a bytes() or int.to_bytes per frame.
_SMALL_FRAME = 4096
_HEADERS: tuple[bytes, ...] = tuple(bytes((0x81, size)) for size in range(126)) + tuple(
    b"\x81\x7e" + size.to_bytes(2, "big") for size in range(126, _SMALL_FRAME)
)


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented server-to-client text frame (RFC 6455 section 5.2)."""
    return _text_header(len(payload)) + payload


def _text_header(size: int) -> bytes:
    """The header of a text frame of `size` payload bytes."""
    if size < _SMALL_FRAME:
        return _HEADERS[size]
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big")
    return b"\x81\x7f" + size.to_bytes(8, "big")


class WsSession:
    """Login state, subscriptions and the outbound queue of one connection."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        path: str,
        ip: str,
        transport: Any,
        *,
        faults: FaultInjector,
        max_pending: int,
        on_overflow: Callable[[WsSession], None],
    ) -> None:
        self.ws = ws
        self.path = path
        self.ip = ip
        self.transport = transport
        self.faults = faults
        self.max_pending = max_pending
        self._on_overflow = on_overflow
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
        if len(out) >= self.max_pending:
            self._on_overflow(self)
            return
        out.append((now, payload))
        if len(out) == 1:  # the writer sleeps only on an empty queue
            self._wake.set()

    def push(self, payload: bytes, now: float) -> bool:
        """Queue a push without waking the writer; True when the queue was empty before it, so
        the caller owes this session a `flush()` once its round of pushes is queued (WsHub.publish:
        one write per round straight from the market's drive, not a writer task woken per round)."""
        out = self._out
        if len(out) >= self.max_pending:
            self._on_overflow(self)
            return False
        out.append((now, payload))
        return len(out) == 1

    def flush(self) -> None:
        """Write what `push` queued now, as the writer would (whole frames, one write), when the
        writer has nothing of its own in hand: no delay fault, nothing buffered past the high
        water, the connection open, one batch. Otherwise the writer is woken to do it."""
        out = self._out
        if not out:
            return
        transport = self.transport
        if (
            self.faults.delays
            or len(out) > WRITE_BATCH
            or self.ws.closed
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() > WRITE_HIGH_WATER
        ):
            self._wake.set()
            return
        # Headers and payloads joined in one pass: each payload is copied once, into the write.
        parts: list[bytes] = []
        append = parts.append
        for _, payload in out:
            append(_text_header(len(payload)))
            append(payload)
        out.clear()
        transport.write(b"".join(parts))
        self.last_sent_at = asyncio.get_running_loop().time()

    def send_json(self, obj: dict[str, Any]) -> None:
        self.enqueue(orjson.dumps(obj), self.faults.now())

    async def run_writer(self) -> None:
        """Drain the queue onto the socket, whole frames only, never after aiohttp began closing."""
        out = self._out
        ws = self.ws
        faults = self.faults
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
