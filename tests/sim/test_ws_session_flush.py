"""A round of market pushes into an idle simulator session is written by its publisher in one
write (WsSession.push + flush), byte for byte what the writer task would have written; whenever
the writer has something in hand (a delay fault, frames already queued) the round is left to it."""

from __future__ import annotations

import asyncio
from typing import Any

from okxscalp.sim.faults import FaultInjector
from okxscalp.sim.ws_session import WsSession, text_frame


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class _Ws:
    closed = False


def _session(faults: FaultInjector) -> tuple[WsSession, _Transport]:
    transport = _Transport()
    ws: Any = _Ws()
    session = WsSession(ws, "/ws/v5/public", "127.0.0.1", transport, faults=faults, max_pending=100,
                        on_overflow=lambda _s: None)
    return session, transport


def test_a_round_into_an_idle_session_is_one_write_without_the_writer() -> None:
    async def main() -> None:
        session, transport = _session(FaultInjector())
        assert session.push(b'{"a":1}', 0.0) is True  # the queue was empty: a flush is owed
        assert session.push(b'{"b":2}', 0.0) is False
        assert not session._wake.is_set()  # the writer task is not woken for it
        session.flush()
        assert transport.writes == [text_frame(b'{"a":1}') + text_frame(b'{"b":2}')]
        assert 0.0 < session.last_sent_at <= asyncio.get_running_loop().time()  # the idle rule sees it
        session.flush()  # nothing left: no empty write
        assert len(transport.writes) == 1

    asyncio.run(main())


def test_a_flushed_round_frames_small_and_large_pushes_alike() -> None:
    """Header table sizes and the long encodings in one write, in queue order."""
    async def main() -> None:
        session, transport = _session(FaultInjector())
        payloads = [b"a" * 3, b"b" * 4095, b"c" * 4096, b"d" * 70_000, b"e" * 200]
        for payload in payloads:
            session.push(payload, 0.0)
        session.flush()
        assert transport.writes == [b"".join(text_frame(p) for p in payloads)]
        assert transport.writes[0].startswith(b"\x81\x03aaa\x81\x7e\x0f\xff")

    asyncio.run(main())


def test_a_round_behind_queued_frames_or_under_a_delay_is_left_to_the_writer() -> None:
    async def main() -> None:
        session, _ = _session(FaultInjector())
        session.enqueue(b'{"event":"x"}', 0.0)  # the writer's own frame, already woken for
        assert session.push(b'{"a":1}', 0.0) is False  # behind it: no flush owed, order kept
        faults = FaultInjector()
        faults.delay_messages(100, 5.0)
        delayed, delayed_transport = _session(faults)
        assert delayed.push(b'{"a":1}', 0.0) is True
        delayed.flush()
        assert delayed_transport.writes == [] and delayed._wake.is_set()  # the writer applies the delay

    asyncio.run(main())
