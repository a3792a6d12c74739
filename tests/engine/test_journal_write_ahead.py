"""The entry's write-ahead row (`Journal.record_order_ahead`): its intent in the kernel before the
frame (engine/order_intents.py), the row queued in order on the hot path, built on the writer thread,
no future, a failure as loud as any other write's; intents whose rows never committed (a kill -9)
recovered at the next start."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import orjson
import pytest

from okxscalp.engine.entries import entry_intent, entry_record
from okxscalp.engine.executor import QuoteUsed
from okxscalp.engine.journal import Journal, JournalError, OrderRecord
from okxscalp.engine.journal_watch import WatchedJournal
from okxscalp.engine.order_intents import (
    CAPACITY,
    REWIND_AT,
    IntentLogError,
    OrderIntentLog,
    intents_path,
    read_intents,
)
from okxscalp.okx.models import OrderRequest, PosSide, Side

pytestmark = pytest.mark.timeout(60)
XRP_SWAP = "XRP-USDT-SWAP"


def intent(cl: str) -> tuple[object, ...]:
    """INTENT_FIELDS after created_at, as the entry lifecycle writes them."""
    return (cl, "XRP-USDT-SWAP", "buy", "long", "post_only", "2.2", "10", "entry", "ticker", 0.01, 0.5, 1_700_000_000_000, cl)


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
        journal.record_order_ahead(build, intent("e1"))
        journal.wake_writer()  # the caller's, after the frame
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
        journal.record_order_ahead(broken, intent("e2"))
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
        journal.record_order_ahead(partial(order, "e4"), intent("e4"))
        assert heard == []  # not on the hot path
        await asyncio.sleep(0)
        assert heard == ["e4"]
        await journal.aflush()

    with WatchedJournal(str(tmp_path / "j.db")) as journal:
        asyncio.run(scenario(journal))
        assert journal.order("e4") is not None



def test_the_intent_is_on_file_when_the_call_returns_and_the_log_is_removed_at_a_clean_close(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    with Journal(path, clock=FixedClock(1_000.0)) as journal:  # type: ignore[arg-type]
        journal.record_order_ahead(partial(order, "e5"), intent("e5"))
        on_file = read_intents(intents_path(path)).intents  # before the writer was even woken
        assert [i["cl_ord_id"] for i in on_file] == ["e5"] and on_file[0]["created_at"] == 1_000.0
        journal.wake_writer()
        journal.flush()
    assert not Path(intents_path(path)).exists()  # every intent had its row: removed at close


KILLED_CHILD = """
import os, signal, sys
from functools import partial
from okxscalp.engine.entries import entry_intent, entry_record
from okxscalp.engine.executor import QuoteUsed
from okxscalp.engine.journal import Journal, JournalError, OrderRecord
journal = Journal(sys.argv[1])
record = partial(OrderRecord, cl_ord_id="k1", inst_id="XRP-USDT-SWAP", side="buy", ord_type="post_only", sz="10",
                 purpose="entry", state="sent")
journal.record_order_ahead(record, ("k1", "XRP-USDT-SWAP", "buy", "long", "post_only", "2.2", "10", "entry",
                                    "ticker", 0.01, 0.5, 1_700_000_000_000, "k1"))
# The frame would be written here; the process dies before the writer is woken.
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_order_whose_row_never_committed_before_a_kill_9_is_recovered_at_the_next_start(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, path], capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    with Journal(path) as journal:
        row = journal.order("k1")
        assert journal.recovered_intents == ("k1",)
        assert row is not None and row.state == "sent" and row.purpose == "entry" and row.px == "2.2"
        assert row.quote_age_s == 0.01 and "recovered from the pre-send intent log" in row.detail
        assert read_intents(intents_path(path)).intents == ()  # emptied once their rows committed
    with Journal(path) as journal:  # recovered once, not again
        assert journal.recovered_intents == ()


def test_recovery_keeps_committed_rows_and_counts_unreadable_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    with Journal(path) as journal:
        journal.record_order(order("c1", state="live"))
        journal.flush()
    log = OrderIntentLog(intents_path(path))
    log.append((1.0, *intent("c1")))  # its row committed after all
    log.append((2.0, *intent("c2")))
    log.append((3.0, *intent("c3")))
    end = log._end
    log.close(all_committed=False)
    with open(intents_path(path), "r+b") as f:  # the last copy cut short by the kill
        f.seek(end - 20)
        f.write(bytes(20))
    with Journal(path) as journal:
        assert journal.recovered_intents == ("c2",)
        assert journal.unreadable_intents == 1
        kept = journal.order("c1")
        assert kept is not None and kept.state == "live"


def test_an_intent_that_cannot_be_written_refuses_the_order_and_halts(tmp_path: Path) -> None:
    with Journal(str(tmp_path / "j.db")) as journal:
        journal._intents._map.close()  # the mapping gone: every intent fails to be logged
        with pytest.raises(JournalError, match="order intent log write failed"):
            journal.record_order_ahead(partial(order, "f1"), intent("f1"))
        assert journal.pending == 0  # nothing queued: the order is not sent
        assert journal.write_failure is not None and "f1 not sent" in journal.write_failure


def test_the_log_is_rewound_once_every_intent_has_its_row_and_refuses_when_full_without_them(tmp_path: Path) -> None:
    log = OrderIntentLog(str(tmp_path / "x-intents"))
    n = 0
    while log._end <= REWIND_AT:  # past three quarters, every one committed as it goes
        log.append((float(n), *intent(f"r{n}")))
        log.committed += 1
        n += 1
    log.append((0.5, *intent("after")))  # rewound first: it is the only line now
    line = len(orjson.dumps((1.0, *intent("r0")))) + 1
    assert [i["cl_ord_id"] for i in read_intents(log.path).intents] == ["after"]
    for i in range(CAPACITY // line):  # none committed: never rewound
        try:
            log.append((float(i), *intent(f"u{i}")))
        except IntentLogError as exc:
            assert "full" in str(exc)
            break
    else:
        raise AssertionError("a full log of uncommitted intents accepted another")
    assert len(read_intents(log.path).intents) == log.appended - n  # "after" and the uncommitted ones
    log.close(all_committed=False)
    assert Path(log.path).exists()  # kept: the next start recovers them


def test_a_write_ahead_record_the_watchers_cannot_build_is_counted_and_halts_as_a_lost_write(tmp_path: Path) -> None:
    """The watchers' copy fails the same way the writer's does: counted there, and the journal's
    own lost write sets `write_failure` (entries halt: Halt.JOURNAL)."""
    def broken() -> OrderRecord:
        raise ValueError("no record")

    class Watcher:
        def order_recorded(self, record: OrderRecord) -> None: ...

        def order_updated(self, *args: object) -> None: ...

        def fill_recorded(self, fill: object) -> None: ...

    async def scenario(journal: WatchedJournal) -> None:
        journal.watchers.append(Watcher())
        journal.record_order_ahead(broken, intent("w1"))
        journal.wake_writer()
        await asyncio.sleep(0)
        await journal.aflush()

    with WatchedJournal(str(tmp_path / "j.db")) as journal:
        asyncio.run(scenario(journal))
        assert journal.watch_failures == 1
        assert journal.write_failure is not None and "order w1" in journal.write_failure


def test_an_entry_recovered_from_its_intent_is_the_row_its_write_ahead_would_have_been(tmp_path: Path) -> None:
    """entries.entry_intent and order_intents.INTENT_FIELDS describe one line: the recovered row
    carries every field of the entry's own write-ahead record but its reasons."""
    r = OrderRequest(XRP_SWAP, Side.SELL, PosSide.SHORT, "post_only", "52.38", "2.2025", cl_ord_id="oxe9",
                     td_mode="isolated", attach_tp_trigger_px="2.1884", attach_sl_trigger_px="2.213")
    used = QuoteUsed("ws", 0.1313, 1.0, "order", 2.2011, 2.2013, 1_796_024_220_835)
    path = str(tmp_path / "j.db")
    log = OrderIntentLog(intents_path(path))
    log.append((1_796_024_220.9, *entry_intent(r, used)))
    log.close(all_committed=False)
    with Journal(path, clock=FixedClock(1_796_024_230.0)) as journal:  # type: ignore[arg-type]
        row = journal.order("oxe9")
    expected = entry_record(r, used, "signal", "size", state="sent")
    assert row is not None
    for name in ("cl_ord_id", "inst_id", "side", "pos_side", "ord_type", "px", "sz", "purpose", "state",
                 "quote_source", "quote_age_s", "quote_budget_s", "quote_ts_ms", "position_cl_ord_id"):
        assert getattr(row, name) == getattr(expected, name), name
    assert row.created_at == 1_796_024_220.9
