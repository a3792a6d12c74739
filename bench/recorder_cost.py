"""What `--record DIR` costs the feed: ns per recorded push on the event loop's side, and how fast the
writer thread keeps up.

    python3 bench/recorder_cost.py [--quick]

Measured on the recorder the engine uses (okxscalp/market/recorder.py) with a real ticker push as
the feed hands it over (a parsed `WsPush` of one `Ticker`):
1. `push_ns`            — `record_push` alone, the writer idle (the queue emptied between rounds
                          outside the timed part): the hot-path cost itself.
2. `with_writer_*`      — each push timed on its own (p50/p99/p99.9/max, timer included) while the
                          writer thread drains, formats and gzips into a temporary directory with
                          the default settings, pushes paced like a busy feed (100 every 20 ms,
                          ~5,000/s): the tail is a push that waited for the GIL the writer held.
                          `no_writer_*`: the same loop with the writer not running (the timer's
                          and the pacing's own tail, to compare with).
3. `writer_records_per_s` — records the writer turns into gzip'd JSON lines per second of its own
                          time; `bytes_per_record` on disk.
4. `public_push_ns` / `public_push_recording_ns` — FeedCoordinator's ticker dispatch (registry
                          update + the on_tick hook) without and with the recorder as its
                          `on_public` hook: the added cost as the engine sees it.
Compare with the tick → order budget: bench/tick_to_order.py, WS p50 ~ 300,000 ns.
Last stdout line: `RESULT {json}` (bench/run_all.py convention).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from okxscalp.market.bus import EventBus
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.recorder import MarketRecorder, RecorderSettings, recording_files
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import Ticker

INST = "BTC-USDT-SWAP"


def pushes(count: int) -> list[WsPush]:
    now = time.monotonic()
    out = []
    for i in range(count):
        px = 95_000.0 + (i % 500) * 0.1
        ticker = Ticker(INST, px, px - 0.1, px + 0.1, 1.5, 2.5, 1_764_480_000_000 + i, now)
        out.append(WsPush("tickers", INST, (ticker,), now))
    return out


def time_record_push(recorder: MarketRecorder, batch: list[WsPush], rounds: int) -> float:
    """Median ns per record_push over `rounds` rounds of len(batch) pushes, the queue emptied between."""
    per_round = []
    for _ in range(rounds):
        recorder._queue.clear()
        record = recorder.record_push
        start = time.perf_counter_ns()
        for push in batch:
            record(push)
        per_round.append((time.perf_counter_ns() - start) / len(batch))
    recorder._queue.clear()
    return statistics.median(per_round)


def paced(directory: Path, batch: list[WsPush], seconds: float, writer: bool) -> dict[str, float]:
    """Each push timed on its own while the writer thread runs (default settings): bursts of
    len(batch) pushes every 20 ms, a feed's pace. The tail shows a push that waited for the GIL
    while the writer formatted a slice."""
    recorder = MarketRecorder(RecorderSettings(directory))
    if writer:
        recorder.start()
    record = recorder.record_push
    clock = time.perf_counter_ns
    samples = array("q")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for push in batch:
            start = clock()
            record(push)
            samples.append(clock() - start)
        if not writer:
            recorder._queue.clear()
        time.sleep(0.02)
    ordered = sorted(samples)
    name = "with_writer" if writer else "no_writer"
    figures = {
        f"{name}_pushes_per_s": round(len(samples) / seconds, 1),
        f"{name}_p50_ns": float(ordered[len(ordered) // 2]),
        f"{name}_p99_ns": float(ordered[int(len(ordered) * 0.99)]),
        f"{name}_p999_ns": float(ordered[int(len(ordered) * 0.999)]),
        f"{name}_max_ns": float(ordered[-1]),
    }
    if writer:
        recorder.stop()
        counters = recorder.counters()
        assert counters.dropped == 0 and counters.lost == 0, counters
        size = sum(p.stat().st_size for p in recording_files(directory))
        figures["bytes_per_record"] = round(size / max(1, counters.records), 1)
    return figures


def writer_rate(directory: Path, batch: list[WsPush], rounds: int) -> float:
    """Records per second of the writer's drain (format + gzip + write), timed on one thread."""
    recorder = MarketRecorder(RecorderSettings(directory))
    recorder._offset_s = time.time() - time.monotonic()
    spent = 0.0
    written = 0
    for _ in range(rounds):
        for push in batch:
            recorder.record_push(push)
        start = time.perf_counter()
        written += recorder.drain()
        spent += time.perf_counter() - start
    recorder._close_file()
    return written / spent


def public_push_cost(batch: list[WsPush], rounds: int, recorder: MarketRecorder | None) -> float:
    bus = EventBus()
    registry = DataRegistry(bus=bus)
    ticks = 0

    def on_tick(_inst: str) -> None:
        nonlocal ticks
        ticks += 1

    feed = FeedCoordinator(FeedUrls.from_base("ws://127.0.0.1:1"), registry, inst_ids=(INST,), on_tick=on_tick,
                           on_public=None if recorder is None else recorder.record_push)
    dispatch = feed._public_push
    per_round = []
    for _ in range(rounds):
        if recorder is not None:
            recorder._queue.clear()
        start = time.perf_counter_ns()
        for push in batch:
            dispatch(push)
        per_round.append((time.perf_counter_ns() - start) / len(batch))
    return statistics.median(per_round)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 5 if args.quick else 20
    batch = pushes(1000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        idle = MarketRecorder(RecorderSettings(root / "idle"))
        push_ns = time_record_push(idle, batch, rounds)
        seconds = 3.0 if args.quick else 15.0
        baseline = paced(root / "none", batch[:100], seconds, writer=False)
        live = paced(root / "live", batch[:100], seconds, writer=True)
        rate = writer_rate(root / "rate", batch, max(2, rounds // 4))
        plain_ns = public_push_cost(batch, rounds, None)
        recording_ns = public_push_cost(batch, rounds, MarketRecorder(RecorderSettings(root / "feed")))
    result = {
        "push_ns": round(push_ns, 1),
        **baseline,
        **live,
        "writer_records_per_s": round(rate, 1),
        "public_push_ns": round(plain_ns, 1),
        "public_push_recording_ns": round(recording_ns, 1),
        "added_ns": round(recording_ns - plain_ns, 1),
    }
    print(json.dumps(result, indent=1), file=sys.stderr)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
