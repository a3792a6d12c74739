"""The SQLite journal: round trips, WAL, concurrency, failure isolation, secrets, kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import pytest

from okxscalp.engine.instance_lock import InstanceLockError, lock_journal
from okxscalp.engine.journal import (
    SCHEMA_VERSION,
    FundingRecord,
    Journal,
    JournalError,
    OrderPurpose,
    OrderRecord,
)
from okxscalp.engine.journal_faults import JOURNAL_FAULT_FILE_ENV
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot, ResolvedParam
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.models import Fill, PosSide, Regime, Side

pytestmark = pytest.mark.timeout(60)


def rp(name: str, value: object, path: str) -> ResolvedParam:
    return ResolvedParam(name, value, path)


def make_snapshot(
    cl_ord_id: str = "okxsE1", inst_id: str = "XRP-USDT-SWAP", size: float = 11.36
) -> PositionSnapshot:
    base = "symbol_profiles.XRP-USDT.choppy"
    return PositionSnapshot(
        inst_id=inst_id,
        pos_side=PosSide.LONG,
        entry_regime=Regime.CHOPPY,
        entry_time=1_700_000_000.0,
        entry_px=2.2,
        size=size,
        tp_px=2.266,
        sl_px=2.156,
        exit_params=ExitParams(
            mode=rp("tp_sl_mode", "percent", "scalping.tp_sl_mode"),
            tp_percent=rp("tp_percent", 3.0, f"{base}.tp_percent"),
            sl_percent=rp("sl_percent", 2.0, f"{base}.sl_percent"),
            tp_atr_multiplier=rp("tp_atr_multiplier", 1.5, f"{base}.tp_atr_multiplier"),
            sl_atr_multiplier=rp("sl_atr_multiplier", 3.5, f"{base}.sl_atr_multiplier"),
            tp_min_percent=rp("tp_min_percent", 0.1, "scalping.exit_limits.tp_min_percent"),
            tp_max_percent=rp("tp_max_percent", 10.0, "scalping.exit_limits.tp_max_percent"),
            sl_min_percent=rp("sl_min_percent", 0.1, "scalping.exit_limits.sl_min_percent"),
            sl_max_percent=rp("sl_max_percent", 5.0, "scalping.exit_limits.sl_max_percent"),
        ),
        atr_at_entry=0.0123,
        tp_distance_percent=3.0,
        sl_distance_percent=2.0,
        leverage=rp("leverage", 10.0, "symbol_profiles.XRP-USDT.leverage"),
        entry_cl_ord_id=cl_ord_id,
        entry_ord_id="900",
        algo_ids=("algo-1",),
        regime_inputs={"adx": 18.2, "atr_pct": 0.31, "band_width_pct": 0.9, "candidate": "choppy"},
        signal_reason="choppy mean reversion long",
    )


def order(cl: str, **kw: object) -> OrderRecord:
    base = dict(
        cl_ord_id=cl,
        inst_id="XRP-USDT-SWAP",
        side="buy",
        ord_type="post_only",
        sz="11.36",
        purpose=OrderPurpose.ENTRY,
        state="sent",
        pos_side="long",
        px="2.1998",
        quote_source="ws",
        quote_age_s=0.21,
        quote_budget_s=1.0,
    )
    base.update(kw)
    return OrderRecord(**base)


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(str(tmp_path / "journal.db"))
    yield j
    j.close()


def test_wal_mode_and_schema_version(journal: Journal, tmp_path: Path) -> None:
    assert journal.journal_mode == "wal"
    assert journal.schema_version() == SCHEMA_VERSION
    journal.close()
    again = Journal(str(tmp_path / "journal.db"))  # reopening does not re-apply the migrations
    assert again.schema_version() == SCHEMA_VERSION
    again.close()
    conn = sqlite3.connect(tmp_path / "journal.db")
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION + 1}, 0)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match=f"schema version {SCHEMA_VERSION + 1}, this build knows up to {SCHEMA_VERSION}"):
        Journal(str(tmp_path / "journal.db"))


async def test_snapshot_round_trip_and_close(journal: Journal) -> None:
    snap = make_snapshot()
    pos_id = await journal.write_snapshot_durably(snap)
    [pos] = journal.open_positions()
    assert pos.id == pos_id and pos.snapshot == snap and pos.snapshot_error is None
    assert (pos.inst_id, pos.pos_side, pos.entry_regime, pos.state) == (
        "XRP-USDT-SWAP",
        "long",
        "choppy",
        "open",
    )
    # A partial fill grows the position: the same entry clOrdId updates the same row.
    assert await journal.write_snapshot_durably(snap.with_size(20.0)) == pos_id
    [pos] = journal.open_positions()
    assert pos.snapshot is not None and pos.snapshot.size == 20.0
    assert journal.close_position(
        "okxsE1",
        reason="TP hit: long bid 2.266 >= TP 2.266",
        close_px=2.266,
        realised_pnl=13.2,
        closed_at=1_700_000_600.0,
    ).result(10)
    assert not journal.close_position("okxsE1", reason="again", close_px=None, realised_pnl=None).result(10)
    assert journal.open_positions() == []
    [closed] = journal.positions("closed")
    assert (closed.close_reason, closed.close_px, closed.realised_pnl) == (
        "TP hit: long bid 2.266 >= TP 2.266",
        2.266,
        13.2,
    )
    assert closed.snapshot is not None and closed.snapshot.exit_params.tp_percent.source_path.endswith(
        "choppy.tp_percent"
    )
    assert journal.realised_pnl_since(1_700_000_000.0) == 13.2
    assert journal.realised_pnl_since(1_700_000_601.0) == 0.0


async def test_a_cancelled_waiter_does_not_cancel_the_snapshot_write(journal: Journal) -> None:
    gate = threading.Event()
    journal._submit("hold the writer", lambda conn: gate.wait(10))  # the writer is busy
    task = asyncio.create_task(journal.write_snapshot_durably(make_snapshot("okxsC1")))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    journal.flush()
    assert [p.entry_cl_ord_id for p in journal.open_positions()] == ["okxsC1"]
    assert journal.write_errors == 0


def test_orders_fills_events_resolutions(journal: Journal) -> None:
    journal.record_order(order("okxsE1"))
    journal.record_order(
        order(
            "okxsX1",
            side="sell",
            ord_type="market",
            px=None,
            purpose=OrderPurpose.EXIT,
            reduce_only=True,
            quote_source="rest",
            quote_age_s=1.4,
            quote_budget_s=2.0,
            position_cl_ord_id="okxsE1",
        )
    )
    journal.update_order("okxsE1", state="filled", ord_id="900", acc_fill_sz=11.36, avg_px=2.1998)
    missing = journal.update_order("nope", state="filled")
    fill = Fill(
        "XRP-USDT-SWAP",
        "t1",
        "900",
        "okxsE1",
        Side.BUY,
        PosSide.LONG,
        2.1998,
        11.36,
        -0.05,
        "M",
        1_700_000_000_000,
    )
    first, dup = journal.record_fill(fill), journal.record_fill(fill)
    for kind in (FallbackKind.STALE_REFUSED, FallbackKind.REST_FALLBACK):
        journal.record_fallback(
            FallbackEvent(1.0, "registry", "XRP-USDT-SWAP", kind, f"{kind.value} detail", "none")
        )

    class ChainStep(NamedTuple):
        path: str
        found: bool
        value: object

    chain = (ChainStep("symbol_profiles.XRP-USDT.choppy.tp_percent", True, 3.0),)
    journal.record_resolutions(
        "okxsE1",
        [SimpleNamespace(name="tp_percent", value=3.0, source_path=chain[0].path, chain=chain, note="")],
    )
    journal.flush()
    assert missing.result() is False and first.result() is True and dup.result() is False

    entry = journal.order("okxsE1")
    assert entry is not None
    assert (entry.state, entry.ord_id, entry.acc_fill_sz, entry.avg_px) == ("filled", "900", 11.36, 2.1998)
    assert (entry.quote_source, entry.quote_age_s, entry.quote_budget_s, entry.purpose) == (
        "ws",
        0.21,
        1.0,
        "entry",
    )
    assert [o.cl_ord_id for o in journal.orders()] == ["okxsE1", "okxsX1"]
    exit_order = journal.order("okxsX1")
    assert exit_order is not None and exit_order.reduce_only and exit_order.px is None
    assert exit_order.position_cl_ord_id == "okxsE1" and exit_order.quote_age_s == 1.4
    assert journal.order("nope") is None
    assert journal.fills() == [fill]
    events = journal.fallback_events()
    assert [e.kind for e in events] == [FallbackKind.STALE_REFUSED, FallbackKind.REST_FALLBACK]
    assert journal.fallback_events(limit=1)[0].kind is FallbackKind.REST_FALLBACK
    [r] = journal.resolutions("okxsE1")
    assert (r.name, r.value, r.source_path) == (
        "tp_percent",
        3.0,
        "symbol_profiles.XRP-USDT.choppy.tp_percent",
    )
    assert r.chain == [{"path": "symbol_profiles.XRP-USDT.choppy.tp_percent", "found": True, "value": 3.0}]


def test_a_failing_write_fails_alone(journal: Journal) -> None:
    good1 = journal.record_order(order("a"))
    bad = journal.record_order(order("b", inst_id=None))  # NOT NULL violation
    good2 = journal.record_order(order("c"))
    journal.flush()
    assert good1.result() is None and good2.result() is None
    with pytest.raises(JournalError, match="order b"):
        bad.result()
    assert journal.write_errors == 1 and "order b" in (journal.last_error or "")
    assert [o.cl_ord_id for o in journal.orders()] == ["a", "c"]
    # The row is lost for good: the journal says so until restart (entries must not trust it).
    assert journal.write_failure is not None and "row lost: order b" in journal.write_failure


def test_secrets_are_scrubbed(tmp_path: Path) -> None:
    secret, passphrase = "okxscalp-sim-secret", "okxscalp-sim-pass"
    path = tmp_path / "j.db"
    with Journal(str(path), redact=(secret, passphrase)) as j:
        j.record_order(order("a", detail=f"rejected; request was signed with {secret}"))
        j.record_fallback(
            FallbackEvent(1.0, "ws.private", "", FallbackKind.MALFORMED, f"login {passphrase}", "none")
        )
        j.close_position("x", reason=f"operator {secret}", close_px=None, realised_pnl=None)
        j.flush()
        rec = j.order("a")
        assert rec is not None and "***" in rec.detail and secret not in rec.detail
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in blob and passphrase.encode() not in blob


def test_concurrent_writes_while_reading(journal: Journal) -> None:
    total = 1500
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(total):
                journal.record_order(order(f"c{i:05d}"))
                if i % 100 == 0:
                    journal.record_fallback(
                        FallbackEvent(
                            float(i), "registry", "XRP-USDT-SWAP", FallbackKind.LAGGING, "lag", "none"
                        )
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    seen: list[int] = []
    while producer.is_alive() or journal.pending:
        seen.append(len(journal.orders()))  # reads never fail or block on the writer
    producer.join()
    journal.flush()
    assert not errors
    assert seen == sorted(seen)  # committed rows only ever grow
    assert len(journal.orders()) == total and len(journal.fallback_events()) == total // 100
    assert journal.write_errors == 0


def test_unreadable_snapshot_is_reported_not_guessed(journal: Journal, tmp_path: Path) -> None:
    journal.write_snapshot_blocking(make_snapshot())
    conn = sqlite3.connect(tmp_path / "journal.db")
    conn.execute("UPDATE positions SET snapshot_json = '{\"version\": 1}'")
    conn.commit()
    conn.close()
    [pos] = journal.open_positions()
    assert pos.snapshot is None and pos.snapshot_error is not None
    assert "XRP-USDT-SWAP long (okxsE1) unreadable" in pos.snapshot_error
    assert pos.entry_regime == "choppy"  # the columns are still there for the operator


def test_closed_journal_refuses_writes(tmp_path: Path) -> None:
    j = Journal(str(tmp_path / "j.db"))
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError, match="closed"):
        j.record_order(order("a"))


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests_dir!r})
    from test_journal import make_snapshot, order
    from okxscalp.engine.journal import Journal
    j = Journal({path!r})
    j.write_snapshot_blocking(make_snapshot("okxsK1"))
    j.write_snapshot_blocking(make_snapshot("okxsK2", inst_id="DOGE-USDT-SWAP"))
    j.record_order(order("okxsK1")).result()
    print("COMMITTED", flush=True)
    i = 0
    while True:  # keep the writer busy until the parent kills us mid-stream
        j.record_order(order(f"spam{{i}}"))
        i += 1
        if i % 200 == 0:
            time.sleep(0.001)
    """
)


def test_committed_snapshots_survive_kill_9(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.db")
    script = KILL_SCRIPT.format(tests_dir=os.path.dirname(__file__), path=path)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "COMMITTED", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert os.path.exists(path + "-wal")  # the process died without checkpointing
    j = Journal(path)
    try:
        positions = {p.entry_cl_ord_id: p for p in j.open_positions()}
        assert set(positions) == {"okxsK1", "okxsK2"}
        assert positions["okxsK1"].snapshot == make_snapshot("okxsK1")
        assert positions["okxsK2"].snapshot == make_snapshot("okxsK2", inst_id="DOGE-USDT-SWAP")
        assert j.order("okxsK1") is not None
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        j.record_order(order("after-restart")).result(10)  # and it is writable again
        assert j.order("after-restart") is not None
    finally:
        j.close()


# ---- write failures: detected at once, rows held and retried, never silent ----------------------


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def disk_full_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test fault switch: while this file exists the writer's commits fail as on a full disk."""
    switch = tmp_path / "journal-disk-full"
    monkeypatch.setenv(JOURNAL_FAULT_FILE_ENV, str(switch))
    return switch


def test_a_failed_commit_is_named_at_once_held_and_retried_until_it_lands(
    tmp_path: Path, disk_full_switch: Path
) -> None:
    changes: list[str | None] = []
    j = Journal(str(tmp_path / "journal.db"), on_write_failure_change=changes.append)
    try:
        assert j.write_failure is None
        disk_full_switch.touch()
        first = j.record_order(order("a"))
        assert wait_for(lambda: j.write_failure is not None)
        assert j.write_failure == "journal write failed: database or disk is full (disk full?)"
        assert changes == [j.write_failure]  # the engine's callback fired the moment it failed
        second = j.record_order(order("b"))  # queued behind the held batch
        assert wait_for(lambda: j.write_retries >= 2)  # retried with backoff, still failing
        assert not first.done() and not second.done() and j.held_writes >= 1
        assert j.orders() == []  # nothing pretends to be durable
        disk_full_switch.unlink()  # the disk has room again
        first.result(10)
        second.result(10)
        assert [o.cl_ord_id for o in j.orders()] == ["a", "b"]  # no row was dropped
        assert j.write_failure is None and j.held_writes == 0
        assert changes[-1] is None
    finally:
        j.close()


def test_close_while_the_disk_is_full_gives_up_loudly_instead_of_hanging(
    tmp_path: Path, disk_full_switch: Path
) -> None:
    j = Journal(str(tmp_path / "journal.db"))
    disk_full_switch.touch()
    held = j.record_order(order("a"))
    assert wait_for(lambda: j.write_failure is not None)
    j.close()  # one last attempt, then the writes are reported lost
    with pytest.raises(JournalError, match="order a"):
        held.result(0)
    assert "not committed" in (j.write_failure or "")
    assert j.write_errors >= 1


def test_fallback_events_are_shed_early_while_writes_fail(tmp_path: Path, disk_full_switch: Path) -> None:
    j = Journal(str(tmp_path / "journal.db"), max_pending_while_failing=5)
    try:
        disk_full_switch.touch()
        j.record_order(order("a"))
        assert wait_for(lambda: j.write_failure is not None)
        events = [FallbackEvent(float(i), "registry", "XRP-USDT-SWAP", FallbackKind.LAGGING, "lag", "none") for i in range(50)]
        for event in events:
            j.record_fallback(event)
        assert j.dropped_fallbacks >= 40  # memory stays bounded while nothing drains
        disk_full_switch.unlink()
        j.flush()
        assert j.order("a") is not None and j.write_failure is None
    finally:
        j.close()


# ---- one writer process per journal ---------------------------------------------------------------


def test_a_second_journal_on_the_same_file_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = Journal(str(path))
    try:
        with pytest.raises(JournalError) as refused:
            Journal(str(path))
        message = str(refused.value)
        assert f"journal {path}" in message and f"pid {os.getpid()}" in message
        assert f"host {socket.gethostname()}" in message and "since " in message
    finally:
        first.close()
    Journal(str(path)).close()  # released on close


def test_a_lock_taken_for_the_process_is_shared_with_its_journal_only(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with lock_journal(path, for_process=True):  # what the app takes before the console opens
        j = Journal(str(path))
        try:
            with pytest.raises(JournalError, match="in use by another okxscalp"):
                Journal(str(path))  # a second journal in the same process
        finally:
            j.close()
        Journal(str(path)).close()  # lent again once the first one closed
        with pytest.raises(InstanceLockError, match=f"pid {os.getpid()}"):
            lock_journal(path, for_process=True)


HOLD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from okxscalp.engine.journal import Journal
    j = Journal({path!r})
    print("HOLDING", flush=True)
    time.sleep(60)
    """
)


def test_another_process_holding_the_journal_is_named_and_its_death_frees_it(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.db")
    proc = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT.format(path=path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "HOLDING"
        with pytest.raises(JournalError, match=f"pid {proc.pid} on host "):
            Journal(path)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    Journal(path).close()  # the kernel dropped the dead holder's lock


def _summed(path: Path, since: float) -> float:
    """realised_pnl_since's sum, read straight from the file (rows valued at SL aside)."""
    conn = sqlite3.connect(path)
    try:
        closes = conn.execute("SELECT COALESCE(SUM(COALESCE(realised_pnl, realised_pnl_bound)), 0.0) FROM positions "
                              "WHERE state = 'closed' AND closed_at >= ?", (since,)).fetchone()[0]
        funding = conn.execute("SELECT COALESCE(SUM(amount), 0.0) FROM funding WHERE recorded_at >= ?",
                               (since,)).fetchone()[0]
    finally:
        conn.close()
    return float(closes) + float(funding)


async def test_the_day_sum_is_kept_until_a_position_or_funding_write_commits(tmp_path: Path) -> None:
    """Asked every housekeeping round, the sum is read again only after a write it sums (a close, a
    settle, funding, a snapshot) or for another day; the kept answer is the query's, to the bit,
    across a day boundary and after a restart."""
    path = tmp_path / "journal.db"
    day1, day2 = 1_700_006_400.0, 1_700_092_800.0  # two UTC midnights
    journal = Journal(str(path))
    reads: list[str] = []
    query = journal._query
    journal._query = lambda sql, params=(): reads.append(sql) or query(sql, params)  # type: ignore[method-assign]

    def asked(since: float) -> tuple[float, int]:
        before = len(reads)
        got = journal.realised_pnl_since(since)
        assert got == _summed(path, since)
        return got, len(reads) - before

    for cl in ("okxsA", "okxsB", "okxsC"):
        await journal.write_snapshot_durably(make_snapshot(cl))
    assert asked(day1) == (0.0, 3)
    assert asked(day1) == (0.0, 0)  # nothing written since: kept
    journal.close_position("okxsA", reason="TP", close_px=2.266, realised_pnl=0.1, closed_at=day1 + 10).result(10)
    assert asked(day1) == (pytest.approx(0.1), 3)
    assert asked(day1)[1] == 0
    journal.close_position("okxsB", reason="gone", close_px=None, realised_pnl=None, realised_pnl_bound=-0.7,
                           closed_at=day1 + 20).result(10)
    assert asked(day1) == (pytest.approx(-0.6), 3)
    journal.settle_close_pnl("okxsB", reason="SL", close_px=2.156, realised_pnl=-0.2).result(10)
    assert asked(day1) == (pytest.approx(-0.1), 3)
    journal.record_funding(FundingRecord("XRP-USDT-SWAP", "long", "okxsC", -0.05, -0.05, 1, day1 + 30)).result(10)
    assert asked(day1) == (pytest.approx(-0.15), 3)
    journal.record_order(order("okxsO1")).result(10)  # not summed: the kept answer stands
    assert asked(day1)[1] == 0
    journal.close_position("okxsC", reason="TP", close_px=2.266, realised_pnl=0.3, closed_at=day2 + 5).result(10)
    assert asked(day1) == (pytest.approx(0.15), 3)
    assert asked(day2) == (pytest.approx(0.3), 3)  # the next day: read for it
    assert asked(day2)[1] == 0
    assert asked(day1)[1] == 3  # another day again: read, never mixed up
    journal.close()
    with pytest.raises(JournalError, match="is closed"):
        journal.realised_pnl_since(day1)
    journal = Journal(str(path))  # a restart reads the journal again
    query = journal._query
    journal._query = lambda sql, params=(): reads.append(sql) or query(sql, params)  # type: ignore[method-assign]
    assert asked(day2) == (pytest.approx(0.3), 3)
    assert asked(day2)[1] == 0
    journal.close()
