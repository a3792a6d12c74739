"""EventBus: independent bounded readers (drop-oldest, counted), coalescing, counts, recent ring."""

from __future__ import annotations

import asyncio

import pytest

from okxscalp.market.bus import EventBus
from okxscalp.market.events import FallbackEvent, FallbackKind, HealthChanged
from okxscalp.okx.health import ConnectionHealth


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _event(symbol: str = "XRP-USDT-SWAP", kind: FallbackKind = FallbackKind.STALE_REFUSED) -> FallbackEvent:
    return FallbackEvent(1.0, "registry", symbol, kind, "detail", "none")


def test_every_subscriber_gets_every_event_independently() -> None:
    bus = EventBus()
    console, journal = bus.subscribe("console"), bus.subscribe("journal")
    bus.publish(_event())
    bus.publish(HealthChanged(ConnectionHealth("public")))
    assert len(console) == 2 and len(journal) == 2
    assert isinstance(console.get_nowait(), FallbackEvent)
    assert len(journal) == 2  # reading one queue leaves the other alone


def test_slow_subscriber_drops_oldest_and_counts_without_affecting_others() -> None:
    bus = EventBus()
    slow = bus.subscribe("slow", maxsize=3)
    fast = bus.subscribe("fast", maxsize=100)
    for i in range(10):
        bus.publish(_event(symbol=f"S{i}"))
        fast.drain()
    assert slow.dropped == 7 and fast.dropped == 0
    assert [e.symbol for e in slow.drain()] == ["S7", "S8", "S9"]  # the newest survive


def test_publish_never_blocks_even_with_a_reader_that_never_reads() -> None:
    bus = EventBus(queue_size=8)
    stuck = bus.subscribe("stuck")
    for _ in range(10_000):
        bus.publish(_event())
    assert len(stuck) == 8 and stuck.dropped == 10_000 - 8
    assert bus.counts[FallbackKind.STALE_REFUSED.value] == 10_000


def test_recent_ring_is_bounded_and_counts_are_by_kind() -> None:
    bus = EventBus(recent_size=5, coalesce_s=0.0)
    for _ in range(7):
        bus.emit("registry", "A", FallbackKind.STALE_REFUSED, "x", "none")
    bus.emit("registry", "A", FallbackKind.REST_FALLBACK, "y", "rest")
    assert len(bus.recent()) == 5 and bus.recent()[-1].kind is FallbackKind.REST_FALLBACK
    assert bus.counts[FallbackKind.STALE_REFUSED.value] == 7
    assert bus.counts[FallbackKind.REST_FALLBACK.value] == 1
    assert set(bus.counts) == {k.value for k in FallbackKind}


def test_identical_events_are_coalesced_and_their_count_is_kept() -> None:
    clock = FakeClock()
    bus = EventBus(coalesce_s=1.0, clock=clock)
    reader = bus.subscribe("log")
    for _ in range(500):  # a refusal storm within one interval
        bus.emit("registry", "A", FallbackKind.STALE_REFUSED, "order read: age 1.2s", "none")
        clock.t += 0.001
    bus.emit("registry", "B", FallbackKind.STALE_REFUSED, "other symbol", "none")  # another key
    first = reader.drain()
    assert [(e.symbol, e.count) for e in first] == [("A", 1), ("B", 1)]
    assert bus.flush() == 0  # the interval has not passed yet
    clock.t += 1.0
    assert bus.flush() == 1
    (summary,) = reader.drain()
    assert (summary.symbol, summary.count, summary.detail) == ("A", 499, "order read: age 1.2s")
    assert sum(e.count for e in (*first, summary) if e.symbol == "A") == 500
    assert bus.counts[FallbackKind.STALE_REFUSED.value] == 501


def test_an_occurrence_after_the_interval_carries_the_folded_ones() -> None:
    clock = FakeClock()
    bus = EventBus(coalesce_s=1.0, clock=clock)
    reader = bus.subscribe("log")
    bus.emit("registry", "A", FallbackKind.REST_FALLBACK, "1", "rest")
    bus.emit("registry", "A", FallbackKind.REST_FALLBACK, "2", "rest")
    bus.emit("registry", "A", FallbackKind.REST_FALLBACK, "3", "rest")
    clock.t += 1.5
    bus.emit("registry", "A", FallbackKind.REST_FALLBACK, "4", "rest")
    assert [(e.detail, e.count) for e in reader.drain()] == [("1", 1), ("4", 3)]


async def test_awaiting_reader_wakes_on_publish() -> None:
    bus = EventBus()
    reader = bus.subscribe("console")
    waiter = asyncio.create_task(reader.get())
    await asyncio.sleep(0)
    bus.publish(_event(symbol="Z"))
    event = await asyncio.wait_for(waiter, 1.0)
    assert isinstance(event, FallbackEvent) and event.symbol == "Z"


def test_unsubscribed_reader_gets_nothing_more_and_bad_size_is_refused() -> None:
    bus = EventBus()
    reader = bus.subscribe("gone")
    bus.unsubscribe(reader)
    bus.publish(_event())
    assert len(reader) == 0
    with pytest.raises(ValueError, match="queue size"):
        bus.subscribe("bad", maxsize=-1)
