"""The entry's write-ahead row (`Journal.record_order_ahead`): queued in order on the hot path,
built on the writer thread, no future, a failure as loud as any other write's."""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from pathlib import Path

import pytest

from okxscalp.engine.journal import Journal, OrderRecord
from okxscalp.engine.journal_watch import WatchedJournal

pytestmark = pytest.mark.timeout(60)


def order(cl: str, state: str = "sent", created_at: float = 0.0) -> OrderRecord:
    return OrderRecord(cl_ord_id=cl, inst_id="XRP-USDT-SWAP", side="buy", ord_type="post_only", sz="10",
                       purpose="entry", state=state, pos_side="long", px="2.2", quote_source="ticker",
                       quote_age_s=0.01, quote_budget_s=0.5, detail="why", position_cl_ord_id=cl,
                       created_at=created_at)


class FixedClock:
    def __init__(self, wall: float) -> None:
        self.wall = wall

    def wall_s(self) -> float:
        return self.wall

    def mono_s(self) -> float:
        return 0.0

    async def wait_thread(self, fut):  # type: ignore[no-untyped-def]
        return await asyncio.wrap_future(fut)


def test_the_row_is_built_on_the_writer_thread_stamped_here_and_ordered_before_later_writes(tmp_path: Path) -> None:
    clock = FixedClock(1_000.0)
    built_on: list[str] = []

    def build() -> OrderRecord:
        built_on.append(threading.current_thread().name)
        return order("e1")

    with Journal(str(tmp_path / "j.db"), clock=clock) as journal:  # type: ignore[arg-type]
        journal.record_order_ahead("e1", build)
        clock.wall = 2_000.0
        journal.record_order(order("e1", state="live"))  # the reply's record, queued after it
        journal.flush()
        row = journal.order("e1")
    assert built_on and built_on[0].startswith("journal-writer")
    assert row is not None and row.state == "live"
    assert row.created_at == 1_000.0  # the write-ahead stamp (taken by the caller), kept on update
    assert row.updated_at == 2_000.0


def test_a_write_ahead_row_that_cannot_be_built_is_a_lost_write_not_a_silent_one(tmp_path: Path) -> None:
    def broken() -> OrderRecord:
        raise ValueError("no record")

    with Journal(str(tmp_path / "j.db")) as journal:
        journal.record_order_ahead("e2", broken)
        journal.record_order(order("e3"))
        journal.flush()
        assert journal.write_failure is not None and "order e2" in journal.write_failure
        assert journal.write_errors == 1
        assert journal.order("e2") is None and journal.order("e3") is not None


def test_watchers_hear_of_the_write_ahead_row_after_the_current_step(tmp_path: Path) -> None:
    heard: list[str] = []

    class Watcher:
        def order_recorded(self, record: OrderRecord) -> None:
            heard.append(record.cl_ord_id)

        def order_updated(self, *args: object) -> None: ...

        def fill_recorded(self, fill: object) -> None: ...

    async def scenario(journal: WatchedJournal) -> None:
        journal.watchers.append(Watcher())
        journal.record_order_ahead("e4", partial(order, "e4"))
        assert heard == []  # not on the hot path
        await asyncio.sleep(0)
        assert heard == ["e4"]
        await journal.aflush()

    with WatchedJournal(str(tmp_path / "j.db")) as journal:
        asyncio.run(scenario(journal))
        assert journal.order("e4") is not None

