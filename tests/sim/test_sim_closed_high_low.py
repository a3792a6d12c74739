"""ClosedHighLow (the ticker's 24 h high and low) keeps monotonic queues instead of scanning the
1440 closed minutes: it must always equal the scan, across a full window, gaps and rare reads."""

from __future__ import annotations

import random

from okxscalp.sim.candles import HIGH, LOW, MAX_BARS, CandleSeries, ClosedHighLow


def test_high_low_equal_a_scan_of_the_closed_bars() -> None:
    rng = random.Random(4)
    series = CandleSeries("1m", 60)
    extremes = ClosedHighLow(series)
    ts, px = 0, 100.0
    reads = 0
    for _ in range(6000):
        ts += 60_000 if rng.random() < 0.97 else 60_000 * rng.randrange(2, 3 * MAX_BARS)  # gaps: flat bars
        for _ in range(rng.randrange(1, 4)):
            px = max(1.0, px + rng.choice((-1.0, 0.0, 1.0)) * rng.random())
            series.update(ts + rng.randrange(60_000), px, 1.0, 1.0)
        if series.closed and rng.random() < 0.3:
            assert extremes.read() == (max(b[HIGH] for b in series.closed), min(b[LOW] for b in series.closed))
            reads += 1
    assert reads > 1000 and len(series.closed) == MAX_BARS
