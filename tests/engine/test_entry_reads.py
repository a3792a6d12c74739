"""The entry read watch (engine/entry_reads.py), pure: every second the SIGNAL and ORDER reads an
entry needs go through the registry; a silence is one refusal row per purpose at its start and one
at its end carrying the window's further refused reads; refusals fold by purpose on the bus."""

from __future__ import annotations

import asyncio

import pytest

from okxscalp.config.schema import FreshnessSettings, Purpose
from okxscalp.engine.entry_reads import COMPONENT, READ_EVERY_S, EntryReadWatch
from okxscalp.market.bus import EventBus
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.market.registry import DataRegistry, StaleData
from okxscalp.okx.models import Ticker

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"
T0_MS = 1_700_000_000_000


class SteppedClock:
    """The engine's Clock, stepped by hand (mono for ages, wall = mono + an epoch)."""

    def __init__(self) -> None:
        self.t = 500.0

    def mono_s(self) -> float:
        return self.t

    def wall_s(self) -> float:
        return 1_700_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def wait_thread(self, future):  # type: ignore[no-untyped-def]  # never used here
        raise AssertionError("not used")


def _setup(coalesce_s: float = 1.0) -> tuple[SteppedClock, DataRegistry, EntryReadWatch]:
    clock = SteppedClock()
    bus = EventBus(coalesce_s=coalesce_s, clock=clock.mono_s, wall_clock=clock.wall_s)
    registry = DataRegistry(FreshnessSettings(), bus, clock=clock.mono_s, inst_ids=(XRP, DOGE))
    return clock, registry, EntryReadWatch(registry, (XRP, DOGE), clock)


def _tick(registry: DataRegistry, clock: SteppedClock, inst_id: str = XRP) -> None:
    ts_ms = T0_MS + int((clock.t - 500.0) * 1000)
    registry.on_ticker(Ticker(inst_id, 0.5, 0.4999, 0.5001, 10.0, 12.0, ts_ms, clock.t))


def _refusals(registry: DataRegistry) -> list[FallbackEvent]:
    registry.bus.flush()
    return [e for e in registry.bus.recent() if e.kind is FallbackKind.STALE_REFUSED]


def _second(clock: SteppedClock, watch: EntryReadWatch, *, tick: bool = False) -> None:
    """One second of the watch; DOGE ticks throughout, XRP only when `tick`."""
    clock.t += READ_EVERY_S
    _tick(watch.registry, clock, DOGE)
    if tick:
        _tick(watch.registry, clock, XRP)
    watch.check()


def test_fresh_symbols_are_read_every_second_and_leave_no_event() -> None:
    clock, registry, watch = _setup()
    for _ in range(5):
        _second(clock, watch, tick=True)
    assert watch.reads == 5 * 2 * 2 and not _refusals(registry) and not watch.windows


def test_a_silence_is_a_refusal_at_its_start_and_one_at_its_end_per_purpose() -> None:
    clock, registry, watch = _setup()
    _second(clock, watch, tick=True)
    for _ in range(10):  # XRP silent for 10 s
        _second(clock, watch)
    during = _refusals(registry)
    # the window's first refused read of each purpose is the registry's own refusal, and only that
    assert [(e.component, e.symbol, e.detail.split(":")[0], e.count) for e in during] == [
        ("registry", XRP, "order read", 1), ("registry", XRP, "signal read", 1)]
    assert all("no ticker received for" in e.detail and "delivery delay" not in e.detail for e in during)
    _second(clock, watch, tick=True)
    after = _refusals(registry)[2:]
    assert [(e.component, e.symbol, e.source) for e in after] == [(COMPONENT, XRP, "ws"), (COMPONENT, XRP, "ws")]
    by_purpose = {e.detail.split(" ")[0]: e for e in after}
    # ages 1..10 s: ORDER (1 s budget) refused from 2 s on, 9 reads; SIGNAL (3 s) from 4 s on, 7 reads
    assert by_purpose["order"].count == 8 and "9 refused read(s) in the window" in by_purpose["order"].detail
    assert by_purpose["signal"].count == 6 and "7 refused read(s)" in by_purpose["signal"].detail
    assert "fresh again" in by_purpose["order"].detail and not watch.windows
    # nothing hidden: the counts add up to every refused read, on the rows and in the bus's counter
    assert sum(e.count for e in _refusals(registry)) == 16
    assert registry.bus.counts[FallbackKind.STALE_REFUSED.value] == 16
    assert not [e for e in _refusals(registry) if e.symbol == DOGE]


def test_a_one_read_window_ends_with_an_event_that_stands_for_no_further_read() -> None:
    clock, registry, watch = _setup()
    _second(clock, watch, tick=True)
    clock.t += 0.5
    _second(clock, watch)  # XRP 1.5 s old: ORDER refused once
    _second(clock, watch, tick=True)
    rows = _refusals(registry)
    assert [(e.component, e.count) for e in rows] == [("registry", 1), (COMPONENT, 0)]
    assert rows[1].detail.startswith("order read fresh again") and sum(e.count for e in rows) == 1


def test_windows_open_at_stop_are_closed_with_what_they_counted() -> None:
    clock, registry, watch = _setup()
    _second(clock, watch, tick=True)
    for _ in range(4):
        _second(clock, watch)

    async def run_and_stop() -> None:
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_and_stop())
    closed = [e for e in _refusals(registry) if e.component == COMPONENT]
    # ages 1..4 s: ORDER refused at 2, 3, 4 s (2 folded here), SIGNAL at 4 s (its first: none folded)
    assert {e.detail.split(" ")[0]: e.count for e in closed} == {"order": 2, "signal": 0}
    assert all("still refused when the watch stopped" in e.detail and e.source == "none" for e in closed)


def test_refusals_fold_by_purpose_so_a_row_names_the_purpose_of_every_read_in_it() -> None:
    clock, registry, _watch = _setup(coalesce_s=1.0)
    _tick(registry, clock)
    clock.t += 5.0
    for purpose in (Purpose.SIGNAL, Purpose.ORDER, Purpose.SIGNAL, Purpose.ORDER, Purpose.ORDER):
        with pytest.raises(StaleData):
            registry.read(XRP, purpose)
    clock.t += 1.0
    rows = _refusals(registry)
    assert {(e.detail.split(" ")[0], e.count) for e in rows} == {("signal", 1), ("order", 1), ("signal", 1), ("order", 2)}
    assert len(rows) == 4


def test_a_read_not_reported_is_refused_by_the_same_rule_without_an_event() -> None:
    clock, registry, _watch = _setup()
    _tick(registry, clock)
    clock.t += 1.5
    with pytest.raises(StaleData) as refused:
        registry.read(XRP, Purpose.ORDER, report=False)
    assert refused.value.age_s == pytest.approx(1.5) and not _refusals(registry)
    assert registry.read(XRP, Purpose.SIGNAL, report=False).age_s == pytest.approx(1.5)
