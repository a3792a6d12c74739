"""The engine's journal: SQLite in WAL mode, one writer thread, any number of readers.

What is in it: positions (with the entry snapshot JSON, open/closed, close reason/price, realised
PnL), every order (with the quote it was priced from: source, age, the purpose's budget), fills,
fallback events, and the parameter resolutions used at entry. No secret is ever written: the
journal has no column for one, and every text value is scrubbed of the strings passed as `redact`.

Writes never block the event loop for long: they are queued to one writer thread, which commits
them in batches (one transaction per batch; each write in its own savepoint, so a bad write fails
alone). Each write returns a `concurrent.futures.Future` that resolves once it is committed;
fire-and-forget callers may ignore it.

A write that fails is never silent. `write_failure` names the condition the moment a commit fails
(O(1): the engine reads it before every order, and `on_write_failure_change` is called on the writer
thread when it changes). A failure of the disk (full, read-only, I/O, busy: journal_faults.py) keeps
the batch and retries it with backoff; the condition clears once it commits. A write the database
refuses (a constraint, a bug) is lost: its future raises, and the condition stays until restart.
One journal has one writer process: `<journal>.lock` (instance_lock.py) refuses a second one. `await write_snapshot_durably(snapshot)` resolves only
after the snapshot's transaction is committed and synced: the engine awaits it right after a fill,
before anything else. `flush()` waits until everything queued so far is committed (for tests).

Durability: `journal_mode=WAL` with `synchronous=FULL`. In WAL mode, NORMAL already survives a
process crash (`kill -9`): a committed transaction is in the WAL file, which the OS keeps even if
the process dies. FULL additionally fsyncs the WAL on every commit, so a committed snapshot also
survives a power loss or kernel crash. That matters here: the exchange keeps the position whatever
happens to this machine, and a position whose snapshot was lost comes back as an orphan. The cost
(an fsync per batch) is paid on the writer thread, never on the event loop, and the write rate
(orders, fills, events) is low.

Readers use their own connection (WAL lets them read while the writer writes). They are quick
indexed queries meant for start-up reconciliation, audits and tests; from the event loop, call
them through `asyncio.to_thread` if they may return many rows.

Schema changes: `MIGRATIONS[i]` upgrades version i to i + 1; `schema_version` records what was
applied. A journal written by a newer build (higher version) is refused, never guessed at.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from okxscalp.clock import Clock, LiveClock
from okxscalp.engine.instance_lock import InstanceLockError, lock_journal
from okxscalp.engine.journal_faults import (
    JOURNAL_FAULT_FILE_ENV,
    armed_fault_file,
    failure_text,
    fault_active,
    injected_disk_full,
    is_environmental,
)
from okxscalp.engine.order_intents import IntentLogError, OrderIntentLog, intents_path, read_intents
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.models import Fill, PosSide, Side

log = logging.getLogger(__name__)

SCHEMA_V1 = """
-- One row per position the engine opened; the snapshot is the truth for how it is managed.
CREATE TABLE IF NOT EXISTS positions (
    id              INTEGER PRIMARY KEY,
    entry_cl_ord_id TEXT    NOT NULL UNIQUE,
    inst_id         TEXT    NOT NULL,
    pos_side        TEXT    NOT NULL,
    entry_regime    TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'closed')),
    opened_at       REAL    NOT NULL,
    closed_at       REAL,
    close_reason    TEXT,
    close_px        REAL,
    realised_pnl    REAL,
    snapshot_json   TEXT    NOT NULL,
    updated_at      REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS positions_by_state ON positions (state, inst_id);

-- Every order request, with the quote it was priced from (source, age, the purpose's budget).
CREATE TABLE IF NOT EXISTS orders (
    cl_ord_id          TEXT PRIMARY KEY,
    ord_id             TEXT    NOT NULL DEFAULT '',
    inst_id            TEXT    NOT NULL,
    side               TEXT    NOT NULL,
    pos_side           TEXT    NOT NULL DEFAULT '',
    ord_type           TEXT    NOT NULL,
    px                 TEXT,
    sz                 TEXT    NOT NULL,
    reduce_only        INTEGER NOT NULL DEFAULT 0,
    purpose            TEXT    NOT NULL,
    quote_source       TEXT,
    quote_age_s        REAL,
    quote_budget_s     REAL,
    state              TEXT    NOT NULL,
    acc_fill_sz        REAL    NOT NULL DEFAULT 0,
    avg_px             REAL,
    detail             TEXT    NOT NULL DEFAULT '',
    position_cl_ord_id TEXT    NOT NULL DEFAULT '',
    created_at         REAL    NOT NULL,
    updated_at         REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_inst ON orders (inst_id, created_at);

CREATE TABLE IF NOT EXISTS fills (
    inst_id     TEXT NOT NULL,
    trade_id    TEXT NOT NULL,
    ord_id      TEXT NOT NULL,
    cl_ord_id   TEXT NOT NULL,
    side        TEXT NOT NULL,
    pos_side    TEXT NOT NULL,
    fill_px     REAL NOT NULL,
    fill_sz     REAL NOT NULL,
    fee         REAL NOT NULL,
    exec_type   TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (inst_id, trade_id, ord_id)
);

CREATE TABLE IF NOT EXISTS fallback_events (
    id        INTEGER PRIMARY KEY,
    time      REAL NOT NULL,
    component TEXT NOT NULL,
    symbol    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    source    TEXT NOT NULL
);

-- The parameter resolutions an entry used: value, the key path it came from, the chain tried.
CREATE TABLE IF NOT EXISTS resolutions (
    id                 INTEGER PRIMARY KEY,
    position_cl_ord_id TEXT NOT NULL,
    name               TEXT NOT NULL,
    value_json         TEXT NOT NULL,
    source_path        TEXT NOT NULL,
    chain_json         TEXT NOT NULL,
    note               TEXT NOT NULL DEFAULT '',
    recorded_at        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS resolutions_by_position ON resolutions (position_cl_ord_id);
"""

# v2: a close whose exit price is not known yet keeps realised_pnl NULL and its worst case here
# (a negative number the daily loss counts until the closing fill is found; NULL once it is).
SCHEMA_V2 = """
ALTER TABLE positions ADD COLUMN realised_pnl_bound REAL;
"""

# v3: the exchange timestamp (ms) of the quote an order was priced from, so its true age at the
# exchange (the order's arrival there minus this) can be audited against the recorded age.
SCHEMA_V3 = """
ALTER TABLE orders ADD COLUMN quote_ts_ms INTEGER;
"""

# v4: funding settlements paid or received on open positions (engine/funding.py): one row per
# settlement the engine learnt of, tied to its position's entry clOrdId ('' for an orphan); `total`
# is the position's accumulated fundingFee after it, as the exchange reported it.
SCHEMA_V4 = """
CREATE TABLE IF NOT EXISTS funding (
    id                 INTEGER PRIMARY KEY,
    inst_id            TEXT    NOT NULL,
    pos_side           TEXT    NOT NULL,
    position_cl_ord_id TEXT    NOT NULL DEFAULT '',
    amount             REAL    NOT NULL,
    total              REAL    NOT NULL,
    ts_ms              INTEGER NOT NULL,
    recorded_at        REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS funding_by_time ON funding (recorded_at);
CREATE INDEX IF NOT EXISTS funding_by_position ON funding (position_cl_ord_id);
"""

# v5: how many occurrences a fallback event stands for. The bus folds a storm of identical events
# (component, symbol, kind) into one event carrying its `count` (market/bus.py); without the count
# a storm of 500 refused reads read back as one. Rows written before v5 stood for one each.
SCHEMA_V5 = """
ALTER TABLE fallback_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
"""

# MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5)
SCHEMA_VERSION = len(MIGRATIONS)

_BATCH_MAX = 500
RETRY_BACKOFF_MIN_S = 0.05  # a failed batch is retried after this, doubling up to the max
RETRY_BACKOFF_MAX_S = 2.0


class JournalError(Exception):
    """The journal cannot be opened or used (message says why)."""


class OrderPurpose(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"  # reduce-only close on TP/SL decided by the engine
    CLOSE = "close"  # operator close of one position
    FLATTEN = "flatten"
    PROTECT = "protect"  # protective SL/TP for an orphan or a re-protected position
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as journalled. `px`/`sz` are the exact strings sent. `quote_*` describe the quote
    the order was priced from (None for orders not priced from a quote, e.g. a market close)."""

    cl_ord_id: str
    inst_id: str
    side: str
    ord_type: str
    sz: str
    purpose: str
    state: str  # sent | live | partially_filled | filled | canceled | rejected | unknown ...
    pos_side: str = ""
    px: str | None = None
    reduce_only: bool = False
    quote_source: str | None = None
    quote_age_s: float | None = None
    quote_budget_s: float | None = None
    quote_ts_ms: int | None = None  # the quote's exchange timestamp
    ord_id: str = ""
    acc_fill_sz: float = 0.0
    avg_px: float | None = None
    detail: str = ""  # sCode/sMsg of a rejection, cancel source, ...
    position_cl_ord_id: str = ""  # the entry clOrdId of the position this order belongs to
    created_at: float = 0.0  # 0 -> now when written
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class JournalPosition:
    id: int
    entry_cl_ord_id: str
    inst_id: str
    pos_side: str
    entry_regime: str
    state: str  # open | closed
    opened_at: float
    closed_at: float | None
    close_reason: str | None
    close_px: float | None
    realised_pnl: float | None
    snapshot: PositionSnapshot | None  # None only when the stored JSON cannot be read ...
    snapshot_error: str | None  # ... and then this says why (shown to the operator, never guessed)
    # Closed with the exit price not known yet: realised_pnl is None and this is its worst case.
    realised_pnl_bound: float | None = None

    @property
    def pnl_unknown(self) -> bool:
        return self.state == "closed" and self.realised_pnl is None


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """One funding settlement on a position: `amount` USDT received (negative: paid)."""

    inst_id: str
    pos_side: str
    position_cl_ord_id: str  # the entry clOrdId of the position ('' for an orphan)
    amount: float
    total: float  # the position's accumulated funding after this settlement (exchange `fundingFee`)
    ts_ms: int  # exchange time of the push that reported it
    recorded_at: float = 0.0  # 0 -> now when written


@dataclass(frozen=True, slots=True)
class ResolutionRecord:
    position_cl_ord_id: str
    name: str
    value: Any
    source_path: str
    chain: Any  # the resolver's chain, as JSON (dataclasses/NamedTuples become dicts, enums values)
    recorded_at: float
    note: str = ""  # the resolver's note (e.g. "inherited by choppy")


def _jsonable(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: _jsonable(getattr(o, f.name)) for f in dataclasses.fields(o)}
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, tuple) and hasattr(o, "_asdict"):  # NamedTuple (config's ChainStep)
        return {k: _jsonable(v) for k, v in o._asdict().items()}
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, set | frozenset):  # in a defined order: a set's own follows PYTHONHASHSEED
        return sorted((_jsonable(v) for v in o), key=repr)
    if o is None or isinstance(o, bool | int | float | str):
        return o
    return str(o)


def _enum_value(x: Any) -> Any:
    return x.value if isinstance(x, Enum) else x


@dataclass(slots=True)
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any] | None  # None: fire-and-forget (a failure still sets write_failure)
    what: str
    ahead: bool = False  # a write-ahead row: its intent is in the intent log (order_intents.py)
    pnl: bool = False  # writes positions or funding rows: what realised_pnl_since sums


_STOP = object()


class Journal:
    """The SQLite journal. `Journal(path)` opens (creating or migrating) and starts the writer;
    `close()` (or the context manager) commits what is queued and stops it."""

    def __init__(
        self,
        path: str,
        *,
        redact: Iterable[str] = (),
        max_pending: int = 100_000,
        max_pending_while_failing: int = 1_000,
        on_write_failure_change: Callable[[str | None], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        # The engine's clock: every time stamp is read on the caller's side (never in the writer
        # thread), and awaiting the writer goes through it (a backtest: no simulated time passes).
        self._clock: Clock = clock if clock is not None else LiveClock()
        self._redact = tuple(s for s in redact if s)
        self.max_pending = max_pending
        # While writes fail nothing drains the queue: fallback events are shed much earlier then
        # (they are also in the log), so memory stays bounded; orders and snapshots never are.
        self.max_pending_while_failing = max_pending_while_failing
        # Called on the writer thread with the new `write_failure` (None: writes commit again).
        self.on_write_failure_change = on_write_failure_change
        self.write_errors = 0
        self.dropped_fallbacks = 0
        self.last_error: str | None = None
        self.held_writes = 0  # writes of a failed batch, kept and retried
        self.write_retries = 0
        self._retry_failure: str | None = None  # environmental: cleared once the retry commits
        self._lost_failure: str | None = None  # a write that was lost: stays until restart
        # Committed batches with a write realised_pnl_since reads (positions, funding): its answer
        # is kept until the next one (or another day), so an unchanged journal is not summed again.
        self._pnl_commits = 0
        self._pnl_answer: tuple[float, int, float] | None = None  # (since, _pnl_commits before the read, sum)
        self._closed = False
        self._stopping = threading.Event()
        self._fault_file = armed_fault_file()
        if self._fault_file is not None:
            log.warning("journal test fault switch armed %s", kv(env=JOURNAL_FAULT_FILE_ENV, file=self._fault_file))
        try:
            self._lock = lock_journal(path)
        except InstanceLockError as exc:
            raise JournalError(str(exc)) from None
        except OSError as exc:
            raise JournalError(f"journal {path}: cannot create its lock file: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise

    def _open(self) -> None:
        path = self.path
        self._migrate()
        self._recover_intents()
        try:
            self._intents = OrderIntentLog(intents_path(path))
        except OSError as exc:
            raise JournalError(f"journal {path}: cannot open its order intent log: {exc}") from exc
        # The writer's queue: a deque (append and popleft are atomic under the GIL) and an Event
        # that wakes the writer, set only when it is not set already (queue.Queue takes a lock and
        # notifies a Condition on every put).
        self._queue: deque[_Op | object] = deque()
        self._wake = threading.Event()
        self._writer = threading.Thread(target=self._run_writer, name=f"journal-writer:{path}", daemon=True)
        self._writer_ready = threading.Event()
        self._writer_failed: BaseException | None = None
        self._writer.start()
        self._writer_ready.wait()
        if self._writer_failed is not None:
            raise JournalError(f"journal {path}: writer could not open: {self._writer_failed}")
        self._read_lock = threading.Lock()
        self._reader = self._connect()
        self._reader.execute("PRAGMA query_only=1")

    @property
    def write_failure(self) -> str | None:
        """Why the journal cannot record right now, or None. O(1), for the check before every order:
        set on the writer thread the moment a commit fails (e.g. `journal write failed: database or
        disk is full (disk full?)`); an environmental failure clears once its retried batch commits,
        a lost write (a bad row, a writer bug) stays until restart."""
        return self._lost_failure or self._retry_failure

    # ---- connection and schema ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _migrate(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {self.path}: WAL mode refused (journal_mode={mode})")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL)"
            )
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            applied_at = self._clock.wall_s()
            if current > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise JournalError(
                    f"journal {self.path} has schema version {current}, this build knows up to {SCHEMA_VERSION}: "
                    "use a newer okxscalp or another journal_path"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version + 1, applied_at),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot prepare schema: {exc}") from exc
        finally:
            conn.close()

    def _recover_intents(self) -> None:
        """Orders whose intent was logged before their frame but whose row never committed (the
        process stopped in between): inserted as `sent`, so reconciliation settles them by clOrdId
        like any unsettled row; then the intent log is emptied. `recovered_intents` lists them."""
        path = intents_path(self.path)
        try:
            found = read_intents(path)
        except OSError as exc:
            raise JournalError(f"journal {self.path}: cannot read its order intent log {path}: {exc}") from exc
        self.recovered_intents: tuple[str, ...] = ()
        self.unreadable_intents = found.unreadable
        if not found.intents and not found.unreadable:
            return
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}") from exc
        recovered: list[str] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for intent in found.intents:
                cl_ord_id = intent["cl_ord_id"]
                if conn.execute("SELECT 1 FROM orders WHERE cl_ord_id = ?", (cl_ord_id,)).fetchone():
                    continue  # its row committed after all
                record = OrderRecord(
                    cl_ord_id=cl_ord_id, inst_id=str(intent["inst_id"]), side=str(intent["side"]),
                    ord_type=str(intent["ord_type"]), sz=str(intent["sz"]), purpose=str(intent["purpose"]),
                    state="sent", pos_side=str(intent["pos_side"] or ""), px=intent["px"],
                    quote_source=intent["quote_source"], quote_age_s=intent["quote_age_s"],
                    quote_budget_s=intent["quote_budget_s"], quote_ts_ms=intent["quote_ts_ms"],
                    detail="recovered from the pre-send intent log: the process stopped before this order's "
                           "journal row was committed; settled with the exchange by clOrdId at reconciliation",
                    position_cl_ord_id=str(intent["position_cl_ord_id"] or ""),
                    created_at=float(intent["created_at"]), updated_at=self._clock.wall_s(),
                )
                self._order_op(record)(conn)
                recovered.append(cl_ord_id)
            conn.execute("COMMIT")
        except (sqlite3.Error, KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"journal {self.path}: cannot recover its order intent log {path}: {exc}") from exc
        finally:
            conn.close()
        os.truncate(path, 0)  # every intent now has its row
        self.recovered_intents = tuple(recovered)
        if recovered or found.unreadable:
            log.warning("journal recovered order intents %s", kv(
                journal=self.path, recovered=len(recovered), unreadable_lines=found.unreadable))

    @property
    def journal_mode(self) -> str:
        with self._read_lock:
            return str(self._reader.execute("PRAGMA journal_mode").fetchone()[0])

    def schema_version(self) -> int:
        with self._read_lock:
            return int(self._reader.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # ---- the writer thread -------------------------------------------------------------------

    def _run_writer(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to the constructor, which raises JournalError
            self._writer_failed = exc
            self._writer_ready.set()
            return
        self._writer_ready.set()
        try:
            stop = False
            pending = self._queue
            while not stop:
                if not pending:
                    self._wake.wait()
                    self._wake.clear()  # cleared before the queue is read: a later write sets it again
                    if not pending:
                        continue
                batch = [pending.popleft() for _ in range(min(len(pending), _BATCH_MAX))]
                ops = [op for op in batch if isinstance(op, _Op)]
                stop = any(op is _STOP for op in batch)
                try:
                    conn, gave_up = self._commit_until_done(conn, ops)
                except Exception as exc:  # a bug here must not strand awaiting callers forever
                    log.exception("journal writer: batch failed unexpectedly")
                    self._lose(ops, f"journal writer error, {len(ops)} write(s) lost: {exc!r}", exc)
                    gave_up = False
                stop = stop or gave_up
        finally:
            conn.close()

    def _commit_until_done(self, conn: sqlite3.Connection, ops: list[_Op]) -> tuple[sqlite3.Connection, bool]:
        """Commit `ops`; while the failure is environmental (disk full, read-only …) keep them and
        retry with backoff until they commit, or until close() gives up on them (then they and
        everything still queued are lost, loudly, and the writer stops: returns True). Returns
        the connection to go on with (a new one after a broken one)."""
        # Mark every future running: a caller cancelled while waiting (e.g. the engine task) can no
        # longer cancel the write itself, which is still made; only its result goes unreported.
        if not ops:
            return conn, False
        waiting = {id(op) for op in ops if op.future is not None and op.future.set_running_or_notify_cancel()}
        backoff = RETRY_BACKOFF_MIN_S
        while True:
            last_chance = self._stopping.is_set()  # close() waits for one attempt, not for the disk
            try:
                results = self._attempt(conn, ops)
            except sqlite3.Error as exc:  # environmental (see _attempt): nothing in it is durable
                conn = self._after_failed_attempt(conn)
                self._note_retry_failure(failure_text(exc), len(ops))
                if last_chance:
                    self._lose(ops, f"journal closed with {len(ops)} write(s) not committed: {exc}", exc)
                    self._fail_queued(exc)
                    return conn, True
                self._stopping.wait(backoff)  # close() cuts the wait short for one last attempt
                backoff = min(backoff * 2, RETRY_BACKOFF_MAX_S)
                self.write_retries += 1
                continue
            self._note_committed()
            if any(op.pnl for op in ops):  # after COMMIT: a read that sees this count sees these rows
                self._pnl_commits += 1
            break
        intents = self._intents
        for op, result, error in results:
            if error is None and op.ahead:
                intents.committed += 1  # only this thread writes it
            if error is None:
                if id(op) in waiting:
                    op.future.set_result(result)  # type: ignore[union-attr]
                continue
            # A bad write (constraint, bug): retrying cannot help, the row is lost.
            self.write_errors += 1
            self.last_error = f"{op.what}: {error}"
            log.error("journal write failed: %s: %s", op.what, error)
            self._set_lost(f"journal refused a write, row lost: {op.what}: {error}")
            if id(op) in waiting:
                op.future.set_exception(JournalError(f"journal write failed: {op.what}: {error}"))  # type: ignore[union-attr]
        return conn, False

    def _attempt(
        self, conn: sqlite3.Connection, ops: list[_Op]
    ) -> list[tuple[_Op, Any, BaseException | None]]:
        """One transaction for the batch, each write in its own savepoint. Raises sqlite3.Error
        when the failure is environmental (the whole batch is rolled back and may be retried);
        a bad write is returned as that op's error and the others commit."""
        results: list[tuple[_Op, Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                result = op.fn(conn)
            except Exception as exc:
                if is_environmental(exc):
                    raise
                conn.execute("ROLLBACK TO op")
                results.append((op, None, exc))
            else:
                results.append((op, result, None))
            conn.execute("RELEASE op")
        if fault_active(self._fault_file):
            raise injected_disk_full()
        conn.execute("COMMIT")
        return results

    def _after_failed_attempt(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """Roll back what the failed attempt left; a connection that cannot is replaced."""
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # SQLite may have rolled back on its own already
                log.info("journal: rollback after a failed commit: %s", exc)
        if not conn.in_transaction:
            return conn
        try:
            fresh = self._connect()
        except sqlite3.Error as exc:  # the next attempt on the old one fails and lands here again
            log.warning("journal: cannot reopen the writer connection: %s", exc)
            return conn
        conn.close()
        return fresh

    def _note_retry_failure(self, text: str, held: int) -> None:
        self.held_writes = held
        if text == self._retry_failure:
            return
        first = self._retry_failure is None
        self._retry_failure = text
        self.last_error = text
        (log.error if first else log.warning)("%s %s", text, kv(held_writes=held, journal=self.path))
        self._notify_change()

    def _note_committed(self) -> None:
        self.held_writes = 0
        if self._retry_failure is None:
            return
        log.warning("journal writes commit again %s", kv(after=self._retry_failure, retries=self.write_retries))
        self._retry_failure = None
        self._notify_change()

    def _set_lost(self, text: str) -> None:
        if self._lost_failure is None:
            self._lost_failure = text
            self._notify_change()

    def _lose(self, ops: list[_Op], text: str, exc: BaseException) -> None:
        """Writes that will never commit: their callers get the error, the journal says so."""
        self.held_writes = 0
        self.write_errors += len(ops)
        self.last_error = text
        log.error("%s %s", text, kv(journal=self.path))
        for op in ops:
            future = op.future
            if future is not None and (future.running() or (not future.done() and future.set_running_or_notify_cancel())):
                future.set_exception(JournalError(f"journal write failed: {op.what}: {exc!r}"))
        self._set_lost(text)

    def _fail_queued(self, exc: BaseException) -> None:
        """At close, after the last attempt failed: what is still queued is lost too."""
        lost: list[_Op] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _Op) and (item.future is None or item.future.set_running_or_notify_cancel()):
                lost.append(item)
        if lost:
            self._lose(lost, f"journal closed with {len(lost)} queued write(s) not committed: {exc}", exc)

    def _notify_change(self) -> None:
        callback = self.on_write_failure_change
        if callback is None:
            return
        try:
            callback(self.write_failure)
        except Exception:  # the engine's callback must not stop the writer; the state is still readable
            log.exception("journal: write-failure callback failed")

    def _submit(
        self, what: str, fn: Callable[[sqlite3.Connection], Any], *, pnl: bool = False
    ) -> concurrent.futures.Future[Any]:
        if self._closed:
            raise JournalError(f"journal {self.path} is closed ({what})")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.append(_Op(fn, fut, what, pnl=pnl))
        self.wake_writer()
        return fut

    def wake_writer(self) -> None:
        """Have the writer commit what is queued."""
        if not self._wake.is_set():
            self._wake.set()

    @property
    def pending(self) -> int:
        """Writes queued and not yet committed (approximate)."""
        return len(self._queue)

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until everything queued before this call is committed."""
        self._submit("flush", lambda conn: None).result(timeout)

    async def aflush(self) -> None:
        await self._clock.wait_thread(self._submit("flush", lambda conn: None))

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections, release the lock.
        Idempotent. While writes are failing it makes one last attempt and then gives up on them
        (counted, logged, and their callers get the error): closing never hangs on a full disk."""
        if self._closed:
            return
        self._closed = True
        self._queue.append(_STOP)
        self.wake_writer()
        self._stopping.set()
        self._writer.join()
        try:
            self._intents.close(all_committed=self.write_failure is None)
        except OSError as exc:  # the next start reads whatever it holds
            log.error("journal: closing the order intent log failed %s", kv(journal=self.path, error=exc))
        with self._read_lock:
            self._reader.close()
        self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scrub(self, text: str | None) -> str | None:
        if text is None or not self._redact:
            return text
        for secret in self._redact:
            text = text.replace(secret, "***")
        return text

    # ---- writes ------------------------------------------------------------------------------

    def _snapshot_op(self, snapshot: PositionSnapshot) -> Callable[[sqlite3.Connection], int]:
        payload = self._scrub(snapshot.to_json())
        now = self._clock.wall_s()

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(
                """INSERT INTO positions (entry_cl_ord_id, inst_id, pos_side, entry_regime, state, opened_at,
                       snapshot_json, updated_at)
                   VALUES (?, ?, ?, ?, 'open', ?, ?, ?)
                   ON CONFLICT (entry_cl_ord_id) DO UPDATE SET snapshot_json = excluded.snapshot_json,
                       updated_at = excluded.updated_at""",
                (
                    snapshot.entry_cl_ord_id,
                    snapshot.inst_id,
                    snapshot.pos_side.value,
                    snapshot.entry_regime.value,
                    snapshot.entry_time,
                    payload,
                    now,
                ),
            )
            row = conn.execute(
                "SELECT id FROM positions WHERE entry_cl_ord_id = ?", (snapshot.entry_cl_ord_id,)
            ).fetchone()
            return int(row[0])

        return op

    async def write_snapshot_durably(self, snapshot: PositionSnapshot) -> int:
        """Insert (or replace, keyed by the entry clOrdId) a position snapshot; returns once it is
        committed and synced to disk. Returns the position's row id. Raises JournalError."""
        fut = self._submit(
            f"snapshot {snapshot.inst_id} {snapshot.entry_cl_ord_id}", self._snapshot_op(snapshot), pnl=True
        )
        return await self._clock.wait_thread(fut)

    def write_snapshot_blocking(self, snapshot: PositionSnapshot, timeout: float | None = 30.0) -> int:
        """The same for code outside the event loop (blocks the calling thread until committed)."""
        return self._submit(
            f"snapshot {snapshot.inst_id} {snapshot.entry_cl_ord_id}", self._snapshot_op(snapshot), pnl=True
        ).result(timeout)

    def close_position(
        self,
        entry_cl_ord_id: str,
        *,
        reason: str,
        close_px: float | None,
        realised_pnl: float | None,
        closed_at: float | None = None,
        realised_pnl_bound: float | None = None,
    ) -> concurrent.futures.Future[bool]:
        """Mark a position closed. The future's result is False when no open position had that
        entry clOrdId (already closed, or never journalled). With the exit price unknown,
        `realised_pnl` is None and `realised_pnl_bound` its worst case (see `settle_close_pnl`)."""
        now = self._clock.wall_s()
        when = closed_at if closed_at is not None else now
        reason_text = self._scrub(reason)

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                """UPDATE positions SET state = 'closed', closed_at = ?, close_reason = ?, close_px = ?,
                       realised_pnl = ?, realised_pnl_bound = ?, updated_at = ?
                   WHERE entry_cl_ord_id = ? AND state = 'open'""",
                (when, reason_text, close_px, realised_pnl, realised_pnl_bound, now, entry_cl_ord_id),
            )
            return cur.rowcount == 1

        return self._submit(f"close position {entry_cl_ord_id}", op, pnl=True)

    def settle_close_pnl(
        self, entry_cl_ord_id: str, *, reason: str, close_px: float | None, realised_pnl: float | None,
        realised_pnl_bound: float | None = None,
    ) -> concurrent.futures.Future[bool]:
        """A closed position's exit: found (px and P&L, the bound cleared), or still unknown with
        its worst case (`realised_pnl` None, `realised_pnl_bound` set). False if no closed row."""
        reason_text = self._scrub(reason)
        now = self._clock.wall_s()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                """UPDATE positions SET close_reason = ?, close_px = ?, realised_pnl = ?, realised_pnl_bound = ?,
                       updated_at = ?
                   WHERE entry_cl_ord_id = ? AND state = 'closed'""",
                (reason_text, close_px, realised_pnl, realised_pnl_bound, now, entry_cl_ord_id),
            )
            return cur.rowcount == 1

        return self._submit(f"settle close {entry_cl_ord_id}", op, pnl=True)

    def record_order(self, order: OrderRecord) -> concurrent.futures.Future[None]:
        """Insert an order, or replace everything but `created_at` if its clOrdId is known."""
        return self._submit(f"order {order.cl_ord_id}", self._order_op(order))

    def record_order_ahead(self, build: Callable[[], OrderRecord], intent: tuple[Any, ...]) -> None:
        """The write-ahead row of an order about to be sent, on the order's hot path. `intent` (the
        order's INTENT_FIELDS after `created_at`) is appended to the intent log: in the kernel when
        this returns, so a kill -9 after the frame leaves cannot lose the order (order_intents.py).
        The row itself is queued: built on the writer thread by `build` (which must read only
        values that do not change: the order as sent), committed once the caller wakes the writer
        (`wake_writer`) after writing the frame; no future (a failure sets `write_failure` like any
        other). Raises JournalError, with nothing queued, when the intent cannot be appended: the
        order must not be sent (and entries halt: `write_failure` stays until restart)."""
        cl_ord_id = intent[0]
        if self._closed:
            raise JournalError(f"journal {self.path} is closed (order {cl_ord_id})")
        now = self._clock.wall_s()
        try:
            self._intents.append((now, *intent))
        except IntentLogError as exc:
            text = f"order intent log write failed: {exc} (order {cl_ord_id} not sent)"
            self.write_errors += 1
            self.last_error = text
            log.error("%s %s", text, kv(journal=self.path))
            self._set_lost(text)
            raise JournalError(text) from exc

        def op(conn: sqlite3.Connection) -> None:
            self._order_op(build(), now)(conn)

        self._queue.append(_Op(op, None, "order " + cl_ord_id, ahead=True))

    def _order_op(self, order: OrderRecord, now: float | None = None) -> Callable[[sqlite3.Connection], None]:
        if now is None:
            now = self._clock.wall_s()
        row = (
            order.cl_ord_id,
            order.ord_id,
            order.inst_id,
            _enum_value(order.side),
            _enum_value(order.pos_side) or "",
            order.ord_type,
            order.px,
            order.sz,
            int(order.reduce_only),
            _enum_value(order.purpose),
            order.quote_source,
            order.quote_age_s,
            order.quote_budget_s,
            order.quote_ts_ms,
            order.state,
            order.acc_fill_sz,
            order.avg_px,
            self._scrub(order.detail) or "",
            order.position_cl_ord_id,
            order.created_at or now,
            order.updated_at or now,
        )

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT INTO orders (cl_ord_id, ord_id, inst_id, side, pos_side, ord_type, px, sz, reduce_only,
                       purpose, quote_source, quote_age_s, quote_budget_s, quote_ts_ms, state, acc_fill_sz, avg_px,
                       detail, position_cl_ord_id, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (cl_ord_id) DO UPDATE SET ord_id = excluded.ord_id, inst_id = excluded.inst_id,
                       side = excluded.side, pos_side = excluded.pos_side, ord_type = excluded.ord_type,
                       px = excluded.px, sz = excluded.sz, reduce_only = excluded.reduce_only,
                       purpose = excluded.purpose, quote_source = excluded.quote_source,
                       quote_age_s = excluded.quote_age_s, quote_budget_s = excluded.quote_budget_s,
                       quote_ts_ms = excluded.quote_ts_ms, state = excluded.state, acc_fill_sz = excluded.acc_fill_sz, avg_px = excluded.avg_px,
                       detail = excluded.detail, position_cl_ord_id = excluded.position_cl_ord_id,
                       updated_at = excluded.updated_at""",
                row,
            )

        return op

    def update_order(
        self,
        cl_ord_id: str,
        *,
        state: str,
        ord_id: str | None = None,
        acc_fill_sz: float | None = None,
        avg_px: float | None = None,
        detail: str | None = None,
        updated_at: float | None = None,
    ) -> concurrent.futures.Future[bool]:
        """Update the state (and whatever else is given) of a journalled order. The future's result
        is False when the clOrdId is not in the journal."""
        params = (
            state,
            ord_id,
            acc_fill_sz,
            avg_px,
            self._scrub(detail),
            updated_at if updated_at is not None else self._clock.wall_s(),
            cl_ord_id,
        )

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                """UPDATE orders SET state = ?, ord_id = COALESCE(?, ord_id), acc_fill_sz = COALESCE(?, acc_fill_sz),
                       avg_px = COALESCE(?, avg_px), detail = COALESCE(?, detail), updated_at = ?
                   WHERE cl_ord_id = ?""",
                params,
            )
            return cur.rowcount == 1

        return self._submit(f"order update {cl_ord_id}", op)

    def record_fill(self, fill: Fill) -> concurrent.futures.Future[bool]:
        """Insert a fill; a fill already journalled (same instId, tradeId, ordId) is ignored and the
        future's result is False."""
        row = (
            fill.inst_id,
            fill.trade_id,
            fill.ord_id,
            fill.cl_ord_id,
            _enum_value(fill.side),
            _enum_value(fill.pos_side),
            fill.fill_px,
            fill.fill_sz,
            fill.fee,
            fill.exec_type,
            fill.ts_ms,
            self._clock.wall_s(),
        )

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                """INSERT OR IGNORE INTO fills (inst_id, trade_id, ord_id, cl_ord_id, side, pos_side, fill_px,
                       fill_sz, fee, exec_type, ts_ms, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                row,
            )
            return cur.rowcount == 1

        return self._submit(f"fill {fill.inst_id} {fill.trade_id}", op)

    def record_funding(self, record: FundingRecord) -> concurrent.futures.Future[None]:
        row = (record.inst_id, record.pos_side, record.position_cl_ord_id, record.amount, record.total,
               record.ts_ms, record.recorded_at or self._clock.wall_s())

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT INTO funding (inst_id, pos_side, position_cl_ord_id, amount, total, ts_ms, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                row,
            )

        return self._submit(f"funding {record.inst_id} {record.pos_side}", op, pnl=True)

    def funding(self, position_cl_ord_id: str | None = None) -> list[FundingRecord]:
        """Funding settlements (of one position), oldest first."""
        sql = "SELECT * FROM funding" + (" WHERE position_cl_ord_id = ?" if position_cl_ord_id is not None else "")
        rows = self._query(sql + " ORDER BY id", (position_cl_ord_id,) if position_cl_ord_id is not None else ())
        return [
            FundingRecord(r["inst_id"], r["pos_side"], r["position_cl_ord_id"], r["amount"], r["total"], r["ts_ms"],
                          r["recorded_at"])
            for r in rows
        ]

    def record_fallback(self, event: FallbackEvent) -> concurrent.futures.Future[None] | None:
        """Queue a fallback event. Returns None (and counts `dropped_fallbacks`) when more than
        `max_pending` writes are queued (`max_pending_while_failing` while writes fail): events are
        shed first so orders and snapshots never are."""
        limit = self.max_pending if self._retry_failure is None else self.max_pending_while_failing
        if len(self._queue) >= limit:
            self.dropped_fallbacks += 1
            return None
        row = (
            event.time,
            event.component,
            event.symbol,
            _enum_value(event.kind),
            self._scrub(event.detail),
            event.source,
            event.count,  # occurrences this (folded) event stands for
        )

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT INTO fallback_events (time, component, symbol, kind, detail, source, count)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                row,
            )

        return self._submit("fallback event", op)

    def record_resolutions(
        self, position_cl_ord_id: str, resolutions: Iterable[Any], recorded_at: float | None = None
    ) -> concurrent.futures.Future[int]:
        """Journal the parameter resolutions an entry used. Each item needs `name`, `value`,
        `source_path` and `chain` (config's `Resolution`; `note` is kept when present); the chain
        is stored as JSON."""
        when = recorded_at if recorded_at is not None else self._clock.wall_s()
        rows = [
            (
                position_cl_ord_id,
                r.name,
                self._scrub(json.dumps(_jsonable(r.value))),
                r.source_path,
                self._scrub(json.dumps(_jsonable(r.chain))),
                self._scrub(str(getattr(r, "note", "") or "")),
                when,
            )
            for r in resolutions
        ]

        def op(conn: sqlite3.Connection) -> int:
            conn.executemany(
                """INSERT INTO resolutions (position_cl_ord_id, name, value_json, source_path, chain_json, note,
                       recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            return len(rows)

        return self._submit(f"resolutions {position_cl_ord_id}", op)

    # ---- reads -------------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._read_lock:
            if self._closed:
                raise JournalError(f"journal {self.path} is closed")
            cur = self._reader.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    @staticmethod
    def _position(row: sqlite3.Row) -> JournalPosition:
        snapshot: PositionSnapshot | None = None
        error: str | None = None
        try:
            snapshot = PositionSnapshot.from_json(row["snapshot_json"])
        except (ValueError, KeyError, TypeError) as exc:
            error = f"snapshot of {row['inst_id']} {row['pos_side']} ({row['entry_cl_ord_id']}) unreadable: {exc!r}"
        return JournalPosition(
            id=row["id"],
            entry_cl_ord_id=row["entry_cl_ord_id"],
            inst_id=row["inst_id"],
            pos_side=row["pos_side"],
            entry_regime=row["entry_regime"],
            state=row["state"],
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            close_reason=row["close_reason"],
            close_px=row["close_px"],
            realised_pnl=row["realised_pnl"],
            snapshot=snapshot,
            snapshot_error=error,
            realised_pnl_bound=row["realised_pnl_bound"],
        )

    def open_positions(self) -> list[JournalPosition]:
        """Every position the journal holds open, with its snapshot (for restart reconciliation)."""
        return [
            self._position(r) for r in self._query("SELECT * FROM positions WHERE state = 'open' ORDER BY id")
        ]

    def positions(self, state: str | None = None) -> list[JournalPosition]:
        """All positions (or those in `state`: open | closed), oldest first."""
        if state is None:
            rows = self._query("SELECT * FROM positions ORDER BY id")
        else:
            rows = self._query("SELECT * FROM positions WHERE state = ? ORDER BY id", (state,))
        return [self._position(r) for r in rows]

    def realised_pnl_since(self, epoch_s: float, ct_val_of: Callable[[str], float] | None = None) -> float:
        """Sum of realised PnL of positions closed at or after `epoch_s` (daily loss limit), plus the
        funding settled since then (paid or received, open positions included),
        conservatively: a close whose exit price is not known yet counts with its worst case
        (`realised_pnl_bound`), never as 0. A row from before that column (both NULL) is bounded
        here by the loss at its snapshot's SL, which needs `ct_val_of` (instId -> contract value);
        without it such a row raises JournalError (it cannot be counted, and 0 would be a guess).

        The engine asks every housekeeping round for the same day: the sum is kept and given again
        while no write to positions or funding has committed since it was read (the same rows, so
        the same figure, to the bit); a row valued at its SL is not kept (its contract value is the
        caller's)."""
        commits = self._pnl_commits  # before the read: a commit racing it makes the next call read again
        kept = self._pnl_answer
        if kept is not None and kept[0] == epoch_s and kept[1] == commits:
            if self._closed:
                raise JournalError(f"journal {self.path} is closed")
            return kept[2]
        rows = self._query(
            """SELECT COALESCE(SUM(COALESCE(realised_pnl, realised_pnl_bound)), 0.0) AS pnl FROM positions
               WHERE state = 'closed' AND closed_at >= ?""",
            (epoch_s,),
        )
        total = float(rows[0]["pnl"])
        unbounded = [
            self._position(r) for r in self._query(
                """SELECT * FROM positions WHERE state = 'closed' AND closed_at >= ? AND realised_pnl IS NULL
                   AND realised_pnl_bound IS NULL ORDER BY id""",
                (epoch_s,),
            )
        ]
        for position in unbounded:
            total += _loss_at_stop(position, ct_val_of)
        # Funding settled since then is realised too (paid: negative), on open positions as well.
        funding = self._query("SELECT COALESCE(SUM(amount), 0.0) AS pnl FROM funding WHERE recorded_at >= ?",
                              (epoch_s,))
        answer = total + float(funding[0]["pnl"])
        self._pnl_answer = None if unbounded else (epoch_s, commits, answer)
        return answer

    def unresolved_closes(self) -> list[JournalPosition]:
        """Closed positions whose exit price (so realised P&L) is not known yet, oldest first."""
        return [
            self._position(r) for r in self._query(
                "SELECT * FROM positions WHERE state = 'closed' AND realised_pnl IS NULL ORDER BY id"
            )
        ]

    @staticmethod
    def _order(row: sqlite3.Row) -> OrderRecord:
        return OrderRecord(
            cl_ord_id=row["cl_ord_id"],
            inst_id=row["inst_id"],
            side=row["side"],
            ord_type=row["ord_type"],
            sz=row["sz"],
            purpose=row["purpose"],
            state=row["state"],
            pos_side=row["pos_side"],
            px=row["px"],
            reduce_only=bool(row["reduce_only"]),
            quote_source=row["quote_source"],
            quote_age_s=row["quote_age_s"],
            quote_budget_s=row["quote_budget_s"],
            quote_ts_ms=row["quote_ts_ms"],
            ord_id=row["ord_id"],
            acc_fill_sz=row["acc_fill_sz"],
            avg_px=row["avg_px"],
            detail=row["detail"],
            position_cl_ord_id=row["position_cl_ord_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def order(self, cl_ord_id: str) -> OrderRecord | None:
        rows = self._query("SELECT * FROM orders WHERE cl_ord_id = ?", (cl_ord_id,))
        return self._order(rows[0]) if rows else None

    def orders(self, inst_id: str | None = None) -> list[OrderRecord]:
        """All orders (optionally of one instrument), in the order they were first written."""
        if inst_id is None:
            rows = self._query("SELECT * FROM orders ORDER BY created_at, rowid")
        else:
            rows = self._query(
                "SELECT * FROM orders WHERE inst_id = ? ORDER BY created_at, rowid", (inst_id,)
            )
        return [self._order(r) for r in rows]

    def fills(self, inst_id: str | None = None) -> list[Fill]:
        sql = "SELECT * FROM fills" + (" WHERE inst_id = ?" if inst_id else "") + " ORDER BY ts_ms, rowid"
        rows = self._query(sql, (inst_id,) if inst_id else ())
        return [
            Fill(
                inst_id=r["inst_id"],
                trade_id=r["trade_id"],
                ord_id=r["ord_id"],
                cl_ord_id=r["cl_ord_id"],
                side=Side(r["side"]),
                pos_side=PosSide(r["pos_side"]),
                fill_px=r["fill_px"],
                fill_sz=r["fill_sz"],
                fee=r["fee"],
                exec_type=r["exec_type"],
                ts_ms=r["ts_ms"],
            )
            for r in rows
        ]

    def fallback_events(self, limit: int | None = None) -> list[FallbackEvent]:
        """Fallback events, oldest first (the newest `limit` when given)."""
        if limit is None:
            rows = self._query("SELECT * FROM fallback_events ORDER BY id")
        else:
            rows = self._query(
                "SELECT * FROM (SELECT * FROM fallback_events ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
            )
        return [
            FallbackEvent(
                time=r["time"],
                component=r["component"],
                symbol=r["symbol"],
                kind=FallbackKind(r["kind"]),
                detail=r["detail"],
                source=r["source"],
                count=r["count"],
            )
            for r in rows
        ]

    def resolutions(self, position_cl_ord_id: str) -> list[ResolutionRecord]:
        rows = self._query(
            "SELECT * FROM resolutions WHERE position_cl_ord_id = ? ORDER BY id", (position_cl_ord_id,)
        )
        return [
            ResolutionRecord(
                position_cl_ord_id=r["position_cl_ord_id"],
                name=r["name"],
                value=json.loads(r["value_json"]),
                source_path=r["source_path"],
                chain=json.loads(r["chain_json"]),
                recorded_at=r["recorded_at"],
                note=r["note"],
            )
            for r in rows
        ]


def _loss_at_stop(position: JournalPosition, ct_val_of: Callable[[str], float] | None) -> float:
    """The P&L of a close with no exit price and no stored bound, at its snapshot's SL (≤ 0)."""
    snap = position.snapshot
    if snap is None or ct_val_of is None:
        why = position.snapshot_error or "no contract value given to value it"
        raise JournalError(
            f"closed position {position.inst_id} {position.pos_side} ({position.entry_cl_ord_id}) has no realised "
            f"P&L and no worst case: {why}"
        )
    direction = 1.0 if snap.is_long else -1.0
    return min(0.0, direction * (snap.sl_px - snap.entry_px) * snap.size * ct_val_of(snap.inst_id))


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3's executescript would COMMIT on its own,
    and a migration must apply in the same transaction as its schema_version row)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
