"""Incident recording (`okxscalp --record DIR`): the public market data the engine ingests, written
off the hot path into gzip'd JSON-lines files the backtest replays (okxscalp/sim/REPLAY.md
"Recordings"; read by okxscalp/backtest/data.py `read_market_data`).

What is recorded: every public push the feed hands the engine after parsing at the edge (tickers,
books5 / bbo-tbt tops, mark-price, price-limit: the typed items of `WsPush`), every candle the
engine takes in (WebSocket or REST poll), and the candles it warmed up from at start (its GET
/market/candles reply, `ch` "warmup"). Each record carries the exchange `ts` and `recv`, the
local receive time (Unix ms). A ticker is a replay tick (`px` = its `last`, plus `bid`/`ask`);
the other channels are context records marked by `ch`: a backtest serves the warm-up and the
candles as recorded, and prints the trades the tickers show (sim/recorded_market.py); mark and
price limits are built from the replayed price.

Hot path: `record_push` / `record_candle` only append one small tuple (channel, items, receive
time) to a bounded deque. When it is full the message is dropped and counted (`dropped`); the
engine's `report()` turns new drops into a SAFETY event (and /metrics shows the counters), never
silently. Items are the parser's objects, which nothing mutates after parsing, so the writer thread
may read them later.

Writer: one daemon thread wakes every `flush_interval_s` (0.25 s), turns the queued tuples into JSON lines,
writes them through gzip with a sync flush (a crash loses at most the batch being written; the
reader keeps what was flushed), rotates files by compressed size or age (`rec-YYYYmmdd-HHMMSS
.jsonl.gz`, UTC; `-N` when a second holds two), and keeps the directory's recordings under
`max_total_bytes` by deleting the oldest (logged). A write failure (full disk, directory gone or
read-only) stops recording: batches are counted as lost (`lost`), an event says so, trading goes
on, and every `retry_s` the writer tries a new file; when one opens, an event says recording runs
again.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import CANDLE_CHANNEL_PREFIX
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import BookTop, Candle, MarkPrice, PriceLimit, Ticker, Trade
from okxscalp.sim.recorded_market import WARMUP_CHANNEL

log = logging.getLogger(__name__)

COMPONENT = "recorder"
FILE_PREFIX = "rec-"
FILE_SUFFIX = ".jsonl.gz"
_FILE_NAME = re.compile(r"^rec-(\d{8}-\d{6})(?:-(\d+))?\.jsonl\.gz$")
# (channel, items, receive time: monotonic seconds) — the whole hot-path cost is building this.
QueuedPush = tuple[str, tuple[Any, ...], float]
# (kind, symbol, detail, source, component): the engine's _emit
Emit = Callable[[FallbackKind, str, str, str, str], None]
REPORT_INTERVAL_S = 1.0
# The writer formats this many pushes (~0.1 ms of held GIL), then yields it: a tick arriving meanwhile
# waits at most one slice, not a whole batch (bench/recorder_cost.py measures what the feed sees).
YIELD_EVERY = 64


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    directory: Path
    queue_size: int = 200_000  # pushes held for the writer (~minutes of a busy feed)
    flush_interval_s: float = 0.25
    rotate_bytes: int = 64 * 1024 * 1024  # compressed bytes per file
    rotate_s: float = 3600.0
    max_total_bytes: int = 2 * 1024 * 1024 * 1024  # every rec-*.jsonl.gz in the directory
    retry_s: float = 5.0  # after a write failure: how often a new file is tried
    compress_level: int = 5

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.rotate_bytes < 1 or self.max_total_bytes < 1:
            raise ValueError("recorder queue_size, rotate_bytes and max_total_bytes must be >= 1")
        if self.flush_interval_s <= 0 or self.rotate_s <= 0 or self.retry_s <= 0:
            raise ValueError("recorder flush_interval_s, rotate_s and retry_s must be > 0")


@dataclass(frozen=True, slots=True)
class RecorderCounters:
    """What the recorder did, for the console, /metrics and tests (pushes are queued tuples;
    `records` are JSON lines, one per item)."""

    queued: int
    dropped: int  # pushes refused because the queue was full
    records: int  # lines written
    lost: int  # pushes taken from the queue but not written (recording stopped by a failure)
    write_failures: int
    files: int  # files opened by this recorder
    deleted_files: int  # oldest recordings deleted to keep the directory bound
    recording: bool  # False while stopped by a write failure
    error: str | None  # the last write failure while it holds


def recording_files(directory: Path) -> list[Path]:
    """The directory's recordings, oldest first (by the time in the name, then its `-N`)."""
    found: list[tuple[str, int, Path]] = []
    for path in directory.iterdir():
        match = _FILE_NAME.match(path.name)
        if match is not None:
            found.append((match.group(1), int(match.group(2) or 0), path))
    return [path for _, _, path in sorted(found)]


# ---------------------------------------------------------------------------- records
def _ms(value: float) -> float:
    return round(value, 3)


def records_of(channel: str, items: Iterable[Any], recv_ms: float) -> Iterable[dict[str, Any]]:
    """The JSON records of one push (REPLAY.md "Recordings")."""
    recv = _ms(recv_ms)
    for item in items:
        if isinstance(item, Ticker):
            yield {"ts": item.ts_ms, "instId": item.inst_id, "px": item.last, "bid": item.bid, "ask": item.ask,
                   "bidSz": item.bid_sz, "askSz": item.ask_sz, "ch": channel, "recv": recv}
        elif isinstance(item, BookTop):
            yield {"ts": item.ts_ms, "instId": item.inst_id, "ch": channel, "bid": item.bid, "ask": item.ask,
                   "bidSz": item.bid_sz, "askSz": item.ask_sz, "recv": recv}
        elif isinstance(item, MarkPrice):
            yield {"ts": item.ts_ms, "instId": item.inst_id, "ch": channel, "markPx": item.mark_px, "recv": recv}
        elif isinstance(item, PriceLimit):
            yield {"ts": item.ts_ms, "instId": item.inst_id, "ch": channel, "buyLmt": item.buy_limit,
                   "sellLmt": item.sell_limit, "enabled": item.enabled, "recv": recv}
        elif isinstance(item, Candle):  # a push (`candle1m`, ...) or a warm-up reply's (`warmup`)
            ch = WARMUP_CHANNEL if channel == WARMUP_CHANNEL else CANDLE_CHANNEL_PREFIX + item.bar
            yield {"ts": item.ts_ms, "instId": item.inst_id, "ch": ch, "bar": item.bar,
                   "o": item.open, "h": item.high, "l": item.low, "c": item.close, "vol": item.vol,
                   "confirm": "1" if item.confirmed else "0", "recv": recv}
        elif isinstance(item, Trade):
            yield {"ts": item.ts_ms, "instId": item.inst_id, "px": item.px, "sz": item.sz, "side": item.side.value,
                   "ch": channel, "recv": recv}
        else:
            raise TypeError(f"no record format for a {type(item).__name__} on {channel}")


# ---------------------------------------------------------------------------- the recorder
class MarketRecorder:
    def __init__(
        self,
        settings: RecorderSettings,
        *,
        wall_clock: Callable[[], float] = time.time,
        mono_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._wall = wall_clock
        self._mono = mono_clock
        self._queue: deque[QueuedPush] = deque()
        self._capacity = settings.queue_size
        self.dropped = 0  # hot path: pushes refused with the queue full
        # Writer-side state (written by the writer thread, read by report()/counters()).
        self._records = 0
        self._lost = 0
        self._write_failures = 0
        self._files = 0
        self._deleted_files = 0
        self._error: str | None = None
        self._retry_at = 0.0
        self._file: IO[bytes] | None = None
        self._gzip: gzip.GzipFile | None = None
        self._file_path: Path | None = None
        self._file_opened = 0.0
        self._offset_s = 0.0  # wall - monotonic, to stamp receive times in Unix ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one drain at a time (writer thread, or stop())
        # report(): what was last said, so each change is one event
        self._reported_dropped = 0
        self._reported_error: str | None = None
        self._lost_mark = 0  # `lost` when the current (or last) failure began

    # ---- hot path (the event loop, inside the feed's read loop) ------------------------------------

    def record_push(self, push: WsPush) -> None:
        """A public push as parsed at the edge: one tuple onto the queue, or a counted drop."""
        queue = self._queue
        if len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append((push.channel, push.items, push.recv_mono))

    def record_candle(self, candle: Candle) -> None:
        """A candle the engine takes in (WebSocket push or REST poll), stamped as it arrives here."""
        queue = self._queue
        if len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append((CANDLE_CHANNEL_PREFIX + candle.bar, (candle,), self._mono()))

    def record_warmup(self, candles: Sequence[Candle]) -> None:
        """The candles the engine warmed up from (one REST reply, at start: not the hot path), so a
        replay serves the same history (sim/recorded_market.py)."""
        queue = self._queue
        if len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append((WARMUP_CHANNEL, tuple(candles), self._mono()))

    def recording_candles(self, handler: Callable[[Candle], None]) -> Callable[[Candle], None]:
        """`handler` behind a recording of each candle (the feed's `on_candle`)."""
        record = self.record_candle

        def on_candle(candle: Candle) -> None:
            record(candle)
            handler(candle)

        return on_candle

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread. The directory is created if missing; a failure to create or
        write it is a write failure like any other (reported, retried), never a start-up error."""
        if self._thread is not None:
            return
        self._offset_s = self._wall() - self._mono()
        self._stop.clear()
        self._thread = threading.Thread(target=self._writer_loop, name="market-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, close the file (a complete gzip member) and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._thread = None
        self.drain()
        with self._write_lock:
            try:
                self._close_file()
            except OSError as exc:  # stopping: the file keeps what was flushed; said, not raised
                log.error("recording file %s not closed cleanly: %s", self._file_path, exc)

    @property
    def current_file(self) -> Path | None:
        return self._file_path

    def counters(self) -> RecorderCounters:
        return RecorderCounters(
            queued=len(self._queue), dropped=self.dropped, records=self._records, lost=self._lost,
            write_failures=self._write_failures, files=self._files, deleted_files=self._deleted_files,
            recording=self._error is None, error=self._error,
        )

    def report(self, emit: Emit) -> None:
        """New drops, a write failure and the recovery from it, each said once (call periodically
        on the event loop: the writer thread never touches the bus)."""
        dropped = self.dropped
        if dropped > self._reported_dropped:
            emit(FallbackKind.SAFETY, "", f"recording: {dropped - self._reported_dropped} market push(es) not recorded: "
                 f"the recorder's queue ({self._capacity}) was full (total {dropped}); trading goes on", "none", COMPONENT)
            self._reported_dropped = dropped
        error = self._error
        if error is not None and error != self._reported_error:
            emit(FallbackKind.SAFETY, "", f"recording stopped: cannot write {self.settings.directory} ({error}); "
                 f"trading goes on; a new file is tried every {self.settings.retry_s:g}s", "none", COMPONENT)
        elif error is None and self._reported_error is not None:
            emit(FallbackKind.SAFETY, "", f"recording again into {self._file_path}; "
                 f"{self._lost - self._lost_mark} market push(es) lost while it was stopped", "recorder", COMPONENT)
        self._reported_error = error

    async def report_periodically(self, emit: Emit, interval_s: float = REPORT_INTERVAL_S) -> None:
        """`report` once every `interval_s` (an engine task; runs until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            self.report(emit)

    # ---- writer thread -----------------------------------------------------------------------------

    def _writer_loop(self) -> None:
        while not self._stop.wait(self.settings.flush_interval_s):
            self.drain()

    def drain(self) -> int:
        """Write everything queued now (the writer thread's step; tests call it directly).
        Returns the number of records written."""
        with self._write_lock:
            return self._drain_locked()

    def _drain_locked(self) -> int:
        queue = self._queue
        batch = [queue.popleft() for _ in range(len(queue))]
        now = self._mono()
        if self._error is not None and now < self._retry_at:
            self._lost += len(batch)
            return 0
        written = 0
        try:
            if self._file is not None and self._rotation_due(now):
                self._close_file()
            if self._file is None:
                self._open_file(now)
                self._prune()
            if batch:
                written = self._write(batch)
        except Exception as exc:  # full disk, directory gone or read-only, a record we cannot format
            self._failed(exc, now, len(batch))
            return 0
        if self._error is not None:
            log.warning("recording again into %s", self._file_path)
            self._error = None
        self._records += written
        return written

    def _write(self, batch: list[QueuedPush]) -> int:
        assert self._gzip is not None
        offset_ms = self._offset_s * 1000.0
        lines = bytearray()
        count = 0
        dumps = orjson.dumps
        for n, (channel, items, recv_mono) in enumerate(batch, start=1):
            for record in records_of(channel, items, recv_mono * 1000.0 + offset_ms):
                lines += dumps(record)
                lines += b"\n"
                count += 1
            if n % YIELD_EVERY == 0:
                time.sleep(0)  # let the event loop's thread have the GIL between short slices
        self._gzip.write(lines)  # zlib releases the GIL while it compresses
        self._gzip.flush()  # a sync flush: everything so far is readable even if the process dies
        return count

    def _rotation_due(self, now: float) -> bool:
        assert self._file is not None
        return self._file.tell() >= self.settings.rotate_bytes or now - self._file_opened >= self.settings.rotate_s

    def _open_file(self, now: float) -> None:
        directory = self.settings.directory
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(self._wall(), UTC).strftime("%Y%m%d-%H%M%S")
        path = directory / f"{FILE_PREFIX}{stamp}{FILE_SUFFIX}"
        n = 0
        while path.exists():
            n += 1
            path = directory / f"{FILE_PREFIX}{stamp}-{n}{FILE_SUFFIX}"
        raw = path.open("xb")
        try:
            self._gzip = gzip.GzipFile(filename=path.name[: -len(".gz")], mode="wb", fileobj=raw,
                                       compresslevel=self.settings.compress_level, mtime=0)
        except BaseException:
            raw.close()
            raise
        self._file, self._file_path, self._file_opened = raw, path, now
        self._files += 1
        log.info("recording market data into %s", path)

    def _close_file(self) -> None:
        gz, raw = self._gzip, self._file
        self._gzip = self._file = None
        try:
            if gz is not None:
                gz.close()  # the gzip trailer: the file is complete
        finally:
            if raw is not None:
                raw.close()

    def _failed(self, exc: Exception, now: float, batch_size: int) -> None:
        error = f"{exc.__class__.__name__}: {exc}"
        if self._error is None:
            self._lost_mark = self._lost
        self._write_failures += 1
        self._lost += batch_size
        self._retry_at = now + self.settings.retry_s
        if error != self._error:
            log.error("recording stopped: %s (trading goes on; retrying every %gs)", error, self.settings.retry_s)
        self._error = error
        try:
            self._close_file()
        except OSError as close_exc:  # the file is lost with the failure that stopped recording
            log.warning("recording file %s not closed cleanly: %s", self._file_path, close_exc)

    def _prune(self) -> None:
        """Delete the oldest recordings until the directory's total is within the bound."""
        files = recording_files(self.settings.directory)
        sizes = {path: path.stat().st_size for path in files}
        total = sum(sizes.values())
        for path in files:
            if total <= self.settings.max_total_bytes:
                break
            if path == self._file_path and self._file is not None:
                continue  # never the file being written
            path.unlink()
            total -= sizes[path]
            self._deleted_files += 1
            log.info("recording %s deleted: the directory holds more than %d bytes", path, self.settings.max_total_bytes)
