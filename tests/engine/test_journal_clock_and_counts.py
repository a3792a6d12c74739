"""The journal on an injected clock (stamps from it, waits through it) and the fold count of
fallback events (schema 5)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from pathlib import Path
from typing import TypeVar

from okxscalp.engine.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    OrderPurpose,
    OrderRecord,
    _statements,
)
from okxscalp.market.events import FallbackEvent, FallbackKind

T = TypeVar("T")


class StoppedClock:
    """A clock that reads one fixed instant and counts the thread waits made through it."""

    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.thread_waits = 0

    def wall_s(self) -> float:
        return self.wall

    def mono_s(self) -> float:
        return 5.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_thread(self, future: concurrent.futures.Future[T]) -> T:
        self.thread_waits += 1
        return await asyncio.wrap_future(future)


def test_a_folded_event_keeps_its_count(tmp_path: Path) -> None:
    with Journal(str(tmp_path / "j.sqlite")) as journal:
        journal.record_fallback(FallbackEvent(1.0, "registry", "XRP-USDT-SWAP", FallbackKind.STALE_REFUSED,
                                              "order read: age 12s > budget 1s", "none", count=500))
        journal.record_fallback(FallbackEvent(2.0, "registry", "XRP-USDT-SWAP", FallbackKind.STALE_REFUSED,
                                              "signal read: age 12s > budget 5s", "none"))
        journal.flush()
        assert [e.count for e in journal.fallback_events()] == [500, 1]


def test_a_schema_4_journal_migrates_and_its_rows_stand_for_one(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # a journal as the build before v5 left it
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL)")
        for version in range(4):
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version + 1,))
        conn.execute("INSERT INTO fallback_events (time, component, symbol, kind, detail, source) "
                     "VALUES (1.0, 'registry', 'XRP-USDT-SWAP', 'stale_refused', 'order read', 'none')")
    conn.close()
    with Journal(str(path), clock=StoppedClock(1_700_000_000.0)) as journal:
        assert journal.schema_version() == SCHEMA_VERSION == 5
        assert [e.count for e in journal.fallback_events()] == [1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT applied_at FROM schema_version WHERE version = 5").fetchone()[0] == 1_700_000_000.0
    conn.close()


def test_stamps_come_from_the_clock_and_waits_go_through_it(tmp_path: Path) -> None:
    clock = StoppedClock(1_700_000_123.0)

    async def run() -> None:
        with Journal(str(tmp_path / "j.sqlite"), clock=clock) as journal:
            journal.record_order(OrderRecord(cl_ord_id="e1", inst_id="XRP-USDT-SWAP", side="buy", ord_type="post_only",
                                             sz="1", purpose=OrderPurpose.ENTRY, state="sent", pos_side="long"))
            journal.update_order("e1", state="live")
            await journal.aflush()
            assert clock.thread_waits == 1
            order = journal.orders()[0]
            assert (order.created_at, order.updated_at) == (1_700_000_123.0, 1_700_000_123.0)

    asyncio.run(run())
