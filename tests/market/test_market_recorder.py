"""The market recorder (okxscalp/market/recorder.py): bounded queue, rotation, directory bound, write
failures, and the files read back by the backtest's reader."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import pytest

from okxscalp.backtest.data import Tick, read_market_data
from okxscalp.market.events import FallbackKind
from okxscalp.market.recorder import MarketRecorder, RecorderSettings, recording_files
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import BookTop, Candle, MarkPrice, PriceLimit, Ticker
from okxscalp.sim.replay import read_replay_records

INST = "BTC-USDT-SWAP"
BASE_TS = 1_764_480_000_000


class FakeClock:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = BASE_TS / 1000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def ticker_push(i: int, recv_mono: float = 100.0) -> WsPush:
    px = 95_000.0 + i * 0.1
    ticker = Ticker(INST, px, px - 0.1, px + 0.1, 1.0, 2.0, BASE_TS + i * 100, recv_mono)
    return WsPush("tickers", INST, (ticker,), recv_mono)


def make_recorder(tmp_path: Path, clock: FakeClock | None = None, **settings: object) -> MarketRecorder:
    clock = clock or FakeClock()
    recorder = MarketRecorder(RecorderSettings(tmp_path / "rec", **settings),  # type: ignore[arg-type]
                              wall_clock=lambda: clock.wall, mono_clock=lambda: clock.mono)
    recorder._offset_s = clock.wall - clock.mono  # what start() measures (tests drive drain() themselves)
    return recorder


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[FallbackKind, str, str, str, str]] = []

    def __call__(self, kind: FallbackKind, symbol: str, detail: str, source: str, component: str) -> None:
        self.seen.append((kind, symbol, detail, source, component))


def test_records_read_back_as_ticks_with_context_skipped(tmp_path: Path) -> None:
    recorder = make_recorder(tmp_path)
    for i in range(5):
        recorder.record_push(ticker_push(i))
    recorder.record_push(WsPush("books5", INST, (BookTop(INST, 1.0, 2.0, 1.1, 3.0, BASE_TS),), 100.0))
    recorder.record_push(WsPush("mark-price", INST, (MarkPrice(INST, 95_000.5, BASE_TS),), 100.0))
    recorder.record_push(WsPush("price-limit", INST, (PriceLimit(INST, 96_000.0, 94_000.0, BASE_TS, True),), 100.0))
    recorder.record_candle(Candle(INST, "1m", BASE_TS, 1.0, 2.0, 0.5, 1.5, 10.0, False))
    assert recorder.drain() == 9
    recorder.stop()  # never started: a no-op
    assert recorder.current_file is not None
    recorder._close_file()
    [path] = recording_files(tmp_path / "rec")
    assert path.name == "rec-20251130-052000.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == 9 and '"ch":"candle1m"' in lines[-1] and '"recv":' in lines[0]

    data = read_market_data([path])
    assert data.records == [Tick(BASE_TS + i * 100, INST, 95_000.0 + i * 0.1) for i in range(5)]
    assert len(read_replay_records(path)) == 5


def test_queue_full_drops_are_counted_and_reported_once_per_change(tmp_path: Path) -> None:
    recorder = make_recorder(tmp_path, queue_size=3)
    events = Events()
    for i in range(5):
        recorder.record_push(ticker_push(i))
    assert recorder.counters().queued == 3 and recorder.dropped == 2
    recorder.report(events)
    recorder.report(events)  # nothing new: nothing said
    assert len(events.seen) == 1
    kind, _, detail, source, component = events.seen[0]
    assert (kind, source, component) == (FallbackKind.SAFETY, "none", "recorder")
    assert "2 market push(es) not recorded" in detail and "queue (3) was full" in detail
    assert recorder.drain() == 3  # the queue takes pushes again once drained
    recorder.record_push(ticker_push(9))
    assert recorder.dropped == 2


def test_rotation_by_size_and_by_age(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = make_recorder(tmp_path, clock, rotate_bytes=200, rotate_s=60.0)
    for i in range(20):
        recorder.record_push(ticker_push(i))
    recorder.drain()  # one file, well past 200 compressed bytes
    recorder.record_push(ticker_push(20))
    recorder.drain()  # same second: the next file is named -1
    names = [p.name for p in recording_files(tmp_path / "rec")]
    assert names == ["rec-20251130-052000.jsonl.gz", "rec-20251130-052000-1.jsonl.gz"]
    clock.advance(59.0)
    recorder.drain()
    assert len(recording_files(tmp_path / "rec")) == 2  # small and young: kept
    clock.advance(1.0)
    recorder.drain()  # 60 s old: rotated though small
    assert [p.name for p in recording_files(tmp_path / "rec")][-1] == "rec-20251130-052100.jsonl.gz"
    recorder._close_file()
    ticks = read_market_data(recording_files(tmp_path / "rec")).records
    assert [t.ts_ms for t in ticks] == [BASE_TS + i * 100 for i in range(21)]


def test_directory_bound_deletes_the_oldest_and_logs_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    directory = tmp_path / "rec"
    directory.mkdir()
    old = directory / "rec-20200101-000000.jsonl.gz"
    old.write_bytes(b"x" * 5000)  # an earlier run's recording
    other = directory / "notes.txt"
    other.write_bytes(b"y" * 50_000)  # not a recording: never counted, never deleted
    recorder = make_recorder(tmp_path, clock, rotate_bytes=1, max_total_bytes=1000)
    caplog.set_level(logging.INFO, logger="okxscalp.market.recorder")
    for round_ in range(6):
        for i in range(30):
            recorder.record_push(ticker_push(round_ * 30 + i))
        recorder.drain()
        clock.advance(1.0)
    recorder._close_file()
    files = recording_files(directory)
    assert old not in files and other.exists()
    # checked as each file opens: the others (all but the last, written after) fit the bound
    assert sum(p.stat().st_size for p in files[:-1]) <= 1000
    assert len(files) < 6 and recorder.counters().deleted_files == 1 + 6 - len(files)
    assert f"recording {old} deleted" in caplog.text and "more than 1000 bytes" in caplog.text
    # what is left is the newest data, still readable
    ticks = read_market_data(files).records
    assert ticks[-1].ts_ms == BASE_TS + 179 * 100


def test_write_failure_stops_recording_visibly_and_recovers(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = make_recorder(tmp_path, clock, retry_s=5.0)
    events = Events()
    directory = tmp_path / "rec"
    recorder.record_push(ticker_push(0))
    assert recorder.drain() == 1
    recorder._close_file()  # as at a rotation: the next drain opens a new file
    shutil.rmtree(directory)
    directory.write_bytes(b"")  # the directory is gone: a file stands in its way
    recorder.record_push(ticker_push(1))
    assert recorder.drain() == 0
    counters = recorder.counters()
    assert not counters.recording and counters.write_failures == 1 and counters.lost == 1
    assert counters.error is not None
    recorder.report(events)
    assert len(events.seen) == 1 and events.seen[0][2].startswith("recording stopped: cannot write")
    assert "trading goes on" in events.seen[0][2]

    recorder.record_push(ticker_push(2))
    clock.advance(1.0)
    assert recorder.drain() == 0  # before the retry time: not tried, counted lost
    assert recorder.counters().write_failures == 1 and recorder.counters().lost == 2

    directory.unlink()  # writable again
    recorder.record_push(ticker_push(3))
    clock.advance(5.0)
    assert recorder.drain() == 1
    assert recorder.counters().recording
    recorder.report(events)
    assert len(events.seen) == 2 and "recording again into" in events.seen[1][2]
    assert "2 market push(es) lost" in events.seen[1][2]
    recorder._close_file()
    assert [t.ts_ms for t in read_market_data(recording_files(directory)).records] == [BASE_TS + 300]


def test_a_recording_cut_short_keeps_what_was_flushed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recorder = make_recorder(tmp_path)
    for i in range(10):
        recorder.record_push(ticker_push(i))
    recorder.drain()
    path = recorder.current_file
    assert path is not None
    recorder._file.flush()  # type: ignore[union-attr]
    partial = tmp_path / "cut.jsonl.gz"
    partial.write_bytes(path.read_bytes())  # as a process that died before closing the file leaves it
    recorder._close_file()
    with caplog.at_level(logging.WARNING):
        ticks = read_market_data([partial]).records
    assert len(ticks) == 10 and "ends early" in caplog.text


def test_the_writer_thread_writes_and_stop_closes_the_file(tmp_path: Path) -> None:
    recorder = MarketRecorder(RecorderSettings(tmp_path / "rec", flush_interval_s=0.01))
    recorder.start()
    for i in range(100):
        recorder.record_push(ticker_push(i))
    recorder.stop()
    [path] = recording_files(tmp_path / "rec")
    gzip.decompress(path.read_bytes())  # complete: the trailer is there
    assert len(read_market_data([path]).records) == 100
    assert recorder.counters().records == 100
