"""Candles per bar built from the simulated last price: a closed-bar deque plus the open bar."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from okxscalp.sim.wire import fmt_fixed, fmt_num

MAX_BARS = 1440  # OKX serves the last 1440 bars from /market/candles

# Row layout (floats): ts, open, high, low, close, vol (contracts), volCcy (base), volCcyQuote (USDT)
TS, OPEN, HIGH, LOW, CLOSE, VOL, VOL_CCY, VOL_QUOTE = range(8)


class CandleSeries:
    """One bar size for one instrument. `update` is called on every price step."""

    __slots__ = ("archive", "bar", "bar_ms", "closed", "current", "end_ms", "kept", "last_emit_s")

    def __init__(self, bar: str, bar_s: int) -> None:
        self.bar = bar
        self.bar_ms = bar_s * 1000
        self.closed: deque[list[float]] = deque(maxlen=MAX_BARS)
        self.kept = 0  # bars ever appended to `closed`: closed[0] is bar number kept - len(closed)
        self.current: list[float] | None = None
        self.end_ms = 0  # end of the open bar (exclusive)
        self.last_emit_s = -1  # sim second of the last open-bar push (<= 1 push/s per bar)
        # Where a bar pushed out of `closed` goes (sim/history.py keeps the 1m ones for
        # /market/history-candles); None: it is dropped.
        self.archive: Callable[[list[float]], None] | None = None

    def _keep(self, bar: list[float]) -> None:
        closed = self.closed
        if self.archive is not None and len(closed) == closed.maxlen:
            self.archive(closed[0])
        closed.append(bar)
        self.kept += 1

    def update(self, ts_ms: int, px: float, vol: float, vol_ccy: float) -> list[float] | None:
        """Fold one price (and traded volume) in; returns the bar that just closed, if any."""
        cur = self.current
        if cur is not None and ts_ms < self.end_ms:
            if px > cur[HIGH]:
                cur[HIGH] = px
            elif px < cur[LOW]:
                cur[LOW] = px
            cur[CLOSE] = px
            if vol:
                cur[VOL] += vol
                cur[VOL_CCY] += vol_ccy
                cur[VOL_QUOTE] += vol_ccy * px
            return None
        return self._roll(ts_ms, px, vol, vol_ccy)

    def _roll(self, ts_ms: int, px: float, vol: float, vol_ccy: float) -> list[float] | None:
        start = ts_ms - ts_ms % self.bar_ms
        closed = self.current
        if closed is not None:
            self._keep(closed)
            # A bar with no step in it (the clock jumped) is a flat bar at the previous close.
            # (only as many as the deque keeps)
            gap_ts = max(closed[TS] + self.bar_ms, start - MAX_BARS * self.bar_ms)
            while gap_ts < start:
                self._keep([gap_ts, closed[CLOSE], closed[CLOSE], closed[CLOSE], closed[CLOSE], 0.0, 0.0, 0.0])
                gap_ts += self.bar_ms
        self.current = [float(start), px, px, px, px, vol, vol_ccy, vol_ccy * px]
        self.end_ms = start + self.bar_ms
        return closed

    def absorb(self, bar_1m: list[float]) -> None:
        """Fold a whole 1m history bar in (used to seed history for every bar size)."""
        ts = int(bar_1m[TS])
        cur = self.current
        if cur is None or ts >= self.end_ms:
            self._roll(ts, bar_1m[OPEN], 0.0, 0.0)
            cur = self.current
            assert cur is not None
            cur[HIGH], cur[LOW] = bar_1m[HIGH], bar_1m[LOW]
        else:
            cur[HIGH] = max(cur[HIGH], bar_1m[HIGH])
            cur[LOW] = min(cur[LOW], bar_1m[LOW])
        cur[CLOSE] = bar_1m[CLOSE]
        cur[VOL] += bar_1m[VOL]
        cur[VOL_CCY] += bar_1m[VOL_CCY]
        cur[VOL_QUOTE] += bar_1m[VOL_QUOTE]

    # Bars above 1m are derived: `current` holds only the *closed* minutes of the open bar
    # (absorbed as each minute closes), and the open minute is merged in when someone looks.
    # That keeps the per-step work at two series (1s, 1m) whatever the number of bar sizes.
    def roll_to(self, ts_ms: int) -> list[float] | None:
        """Close the open bar if `ts_ms` is past it; returns the closed bar."""
        cur = self.current
        if cur is None or ts_ms < self.end_ms:
            return None
        self._keep(cur)
        start = ts_ms - ts_ms % self.bar_ms
        gap_ts = max(cur[TS] + self.bar_ms, start - MAX_BARS * self.bar_ms)
        while gap_ts < start:
            self._keep([gap_ts, cur[CLOSE], cur[CLOSE], cur[CLOSE], cur[CLOSE], 0.0, 0.0, 0.0])
            gap_ts += self.bar_ms
        self.current = None
        return cur

    def live_row(self, minute: list[float]) -> list[float]:
        """The open bar including the open minute `minute` (a derived series' view)."""
        start = float(minute[TS] - minute[TS] % self.bar_ms)
        cur = self.current
        if cur is None or cur[TS] != start:
            return [start, *minute[OPEN:]]
        return [start, cur[OPEN], max(cur[HIGH], minute[HIGH]), min(cur[LOW], minute[LOW]), minute[CLOSE],
                cur[VOL] + minute[VOL], cur[VOL_CCY] + minute[VOL_CCY], cur[VOL_QUOTE] + minute[VOL_QUOTE]]

    def rows_newest_first(self, live: list[float] | None = None) -> list[tuple[list[float], bool]]:
        """(row, confirmed) newest first; `live` replaces `current` for derived series."""
        rows: list[tuple[list[float], bool]] = []
        open_row = live if live is not None else self.current
        if open_row is not None:
            rows.append((open_row, False))
        rows.extend((bar, True) for bar in reversed(self.closed))
        return rows


class ClosedHighLow:
    """The highest high and lowest low of a series' closed bars, brought up to date from the bars
    closed since the last read: monotonic queues of (bar number, value), O(1) a bar instead of a
    scan of the whole window (exact: max and min do not depend on the order they are taken in)."""

    __slots__ = ("_highs", "_lows", "_seen", "series")

    def __init__(self, series: CandleSeries) -> None:
        self.series = series
        self._highs: deque[tuple[int, float]] = deque()  # values falling from the front
        self._lows: deque[tuple[int, float]] = deque()  # values rising from the front
        self._seen = 0  # bars up to this number are in the queues (or were dropped by them)

    def read(self) -> tuple[float, float]:
        """(highest high, lowest low) of `series.closed`, which must not be empty."""
        series = self.series
        closed = series.closed
        kept = series.kept
        first = kept - len(closed)  # the number of closed[0]
        highs, lows = self._highs, self._lows
        for number in range(max(self._seen, first), kept):
            bar = closed[number - first]
            high, low = bar[HIGH], bar[LOW]
            while highs and highs[-1][1] <= high:
                highs.pop()
            highs.append((number, high))
            while lows and lows[-1][1] >= low:
                lows.pop()
            lows.append((number, low))
        self._seen = kept
        while highs[0][0] < first:  # left the window
            highs.popleft()
        while lows[0][0] < first:
            lows.popleft()
        return highs[0][1], lows[0][1]


def candle_row(bar: list[float], confirmed: bool, px_dec: int, sz_dec: int) -> list[str]:
    """`[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`, all strings (reference section 4)."""
    px = f".{px_dec}f"  # format(x, px) == fmt_fixed(x, px_dec), one spec for the row's four prices
    return [
        str(int(bar[TS])),
        format(bar[OPEN], px),
        format(bar[HIGH], px),
        format(bar[LOW], px),
        format(bar[CLOSE], px),
        fmt_fixed(bar[VOL], sz_dec),
        fmt_num(bar[VOL_CCY]),
        fmt_num(round(bar[VOL_QUOTE], 4)),
        "1" if confirmed else "0",
    ]
