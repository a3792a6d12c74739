"""GET /market/history-candles for one simulated instrument: days of bars behind the kept ones.

OKX (docs order-book-trading-market-data-get-candlesticks-history, "Get candlesticks history"):
"Retrieve history candlestick charts from recent years"; rows `[ts,o,h,l,c,vol,volCcy,volCcyQuote,
confirm]` as strings, newest first, like /market/candles; `after` returns records earlier than the
given ts, `before` records newer than it ("the latest data will be returned when using before
individually"), both exclusive; `limit` default 100, maximum 300 (the docs said 100 until 2025:
github.com/ccxt/ccxt/issues/26705, quoting the docs; a larger limit is served as the maximum, as OKX
answers 301 with 300 rows); rate limit 20 requests per 2 s per IP (okx/constants.py). 1s bars: OKX
keeps the last 3 months; here only the 1440 seconds the live series keeps.

Where the rows come from, newest first:
1. the bars kept for /market/candles (the open bar, confirm "0", then up to 1440 closed bars);
2. older bars, aggregated from 1m bars: the minutes the kept 1m series pushed out since the start
   (`MinuteArchive`, compact, at most ARCHIVE_MAX_DAYS) and, before the simulator's own history,
   DEEP_HISTORY_DAYS of deep history built on demand a day at a time: the same regime process run
   backwards from the next newer bar's open (market._history_1m), seeded by (seed, instId, day),
   so the same seed always serves the same bars and the path flows into the kept history without a
   jump. Nothing older than that exists (OKX answers such a page with no rows).
"""

from __future__ import annotations

import dataclasses
import random
from array import array
from bisect import bisect_left
from collections.abc import Iterator

from okxscalp.okx.constants import HISTORY_CANDLES_MAX_LIMIT
from okxscalp.sim.candles import CLOSE, HIGH, LOW, OPEN, TS, VOL, VOL_CCY, VOL_QUOTE, candle_row
from okxscalp.sim.market import SymbolMarket, _history_1m

DEEP_HISTORY_DAYS = 92
ARCHIVE_MAX_DAYS = 30
_DAY_MS = 86_400_000
_MINUTE_MS = 60_000
_FIELDS = 7  # o, h, l, c, vol, volCcy, volCcyQuote per minute


class MinuteArchive:
    """Closed 1m bars in time order, 7 floats each in one array (about 64 bytes a bar)."""

    __slots__ = ("dropped", "max_bars", "ts", "values")

    def __init__(self, max_bars: int) -> None:
        self.max_bars = max_bars
        self.ts = array("q")
        self.values = array("d")
        self.dropped = False  # the oldest bars were let go (bounded memory): nothing older is served

    def append(self, bar: list[float]) -> None:
        ts = int(bar[TS])
        if self.ts and ts <= self.ts[-1]:
            return  # not newer than the last one kept: the series never does this; keep order anyway
        self.ts.append(ts)
        self.values.extend(bar[OPEN:VOL_QUOTE + 1])
        if len(self.ts) > self.max_bars + 1440:  # drop a day at a time, not a bar per append
            cut = len(self.ts) - self.max_bars
            del self.ts[:cut]
            del self.values[: cut * _FIELDS]
            self.dropped = True

    def between(self, lo: int, hi: int) -> Iterator[list[float]]:
        """Bars with lo <= ts < hi, oldest first."""
        ts, values = self.ts, self.values
        i = bisect_left(ts, lo)
        end = bisect_left(ts, hi)
        for j in range(i, end):
            k = j * _FIELDS
            yield [float(ts[j]), *values[k:k + _FIELDS]]


class CandleHistory:
    """History rows for one instrument. Attach right after the market is built (before any
    minute leaves the kept series), from the exchange's seed."""

    def __init__(self, market: SymbolMarket, seed: int, deep_days: int = DEEP_HISTORY_DAYS,
                 archive_days: int = ARCHIVE_MAX_DAYS) -> None:
        self.market = market
        self.seed = seed
        self.deep_days = deep_days
        minutes = market.candles["1m"]
        first = minutes.closed[0] if minutes.closed else minutes.current
        if first is not None:
            self.anchor_ts, self.anchor_open = int(first[TS]), first[OPEN]
        else:  # no history and no step yet: the market opens at its start price this minute
            self.anchor_ts = market.ts - market.ts % _MINUTE_MS
            self.anchor_open = market.spec.start_px
        self.archive = MinuteArchive(archive_days * 1440)
        minutes.archive = self.archive.append
        self._deep: list[list[list[float]]] = []  # day k+1 before the anchor at index k, oldest bar first
        self._deep_ts: list[list[int]] = []  # their open times (for bisect)

    # ------------------------------------------------------------------ 1m sources
    @property
    def earliest_ms(self) -> int:
        """The oldest minute this instrument can serve."""
        if self.archive.dropped:
            return self.archive.ts[0]
        return self.anchor_ts - self.deep_days * _DAY_MS

    def _deep_day(self, k: int) -> list[list[float]]:
        """Day `k` (1 = the day just before the anchor), built on demand, newer days first."""
        spec = self.market.spec
        while len(self._deep) < k:
            n = len(self._deep) + 1
            end_ms = self.anchor_ts - (n - 1) * _DAY_MS
            end_open = self._deep[-1][0][OPEN] if self._deep else self.anchor_open
            rng = random.Random(f"okxscalp-history:{self.seed}:{spec.inst_id}:{n}")
            day = _history_1m(dataclasses.replace(spec, start_px=end_open), rng, end_ms, 1440, self.market.dynamics)
            self._deep.append(day)
            self._deep_ts.append([int(bar[TS]) for bar in day])
        return self._deep[k - 1]

    def _minutes(self, lo: int, hi: int) -> list[list[float]]:
        """1m bars with lo <= ts < hi, oldest first, from the deep days, the archive and the kept series."""
        lo = max(lo, self.earliest_ms)
        out: list[list[float]] = []
        if lo < self.anchor_ts and not self.archive.dropped:
            first_day = (self.anchor_ts - lo + _DAY_MS - 1) // _DAY_MS
            last_day = max(1, (self.anchor_ts - min(hi, self.anchor_ts) + _DAY_MS - 1) // _DAY_MS)
            for k in range(first_day, last_day - 1, -1):
                day = self._deep_day(k)
                stamps = self._deep_ts[k - 1]
                out.extend(day[bisect_left(stamps, lo):bisect_left(stamps, hi)])
        out.extend(self.archive.between(lo, hi))
        kept = self.market.candles["1m"].closed
        if kept and kept[0][TS] < hi:
            newest_archived = self.archive.ts[-1] if self.archive.ts else None
            out.extend(bar for bar in kept
                       if lo <= bar[TS] < hi and (newest_archived is None or bar[TS] > newest_archived))
        return out

    def _aggregate(self, start: int, bar_ms: int) -> list[float] | None:
        minutes = self._minutes(start, start + bar_ms)
        if not minutes:
            return None
        return [float(start), minutes[0][OPEN], max(m[HIGH] for m in minutes), min(m[LOW] for m in minutes),
                minutes[-1][CLOSE], sum(m[VOL] for m in minutes), sum(m[VOL_CCY] for m in minutes),
                sum(m[VOL_QUOTE] for m in minutes)]

    # ------------------------------------------------------------------ the endpoint
    def rows(self, bar: str, after: int | None, before: int | None, limit: int) -> list[list[str]]:
        """Rows newest first: older than `after`, newer than `before` (both exclusive), at most
        `limit` (capped at the documented maximum)."""
        limit = min(limit, HISTORY_CANDLES_MAX_LIMIT)
        market = self.market
        series = market.candles[bar]
        px_dec, sz_dec = market.px_dec, market.sz_dec
        out: list[list[str]] = []
        live = None
        minute_now = market.candles["1m"].current
        if bar not in ("1s", "1m") and minute_now is not None:
            live = series.live_row(minute_now)
        kept = series.rows_newest_first(live)
        # A closed kept bar that began before the simulator's history (its first minutes are deep
        # history) is rebuilt from the minutes below, so it is whole. (An open one stays: it only
        # happens without history, `history_minutes` < the bar.)
        if kept and kept[-1][1] and kept[-1][0][TS] < self.anchor_ts and bar != "1s":
            kept.pop()
        for row, confirmed in kept:
            ts = row[TS]
            if after is not None and ts >= after:
                continue
            if before is not None and ts <= before:
                return out
            out.append(candle_row(row, confirmed, px_dec, sz_dec))
            if len(out) >= limit:
                return out
        if bar == "1s":
            return out
        bar_ms = series.bar_ms
        top = int(kept[-1][0][TS]) if kept else (self.anchor_ts // bar_ms + 1) * bar_ms
        # Only whole bars are rebuilt: none reaching past the newest closed minute.
        minutes = market.candles["1m"].closed
        closed_until = int(minutes[-1][TS]) + 60_000 if minutes else self.anchor_ts
        top = min(top, closed_until - closed_until % bar_ms)
        if after is not None:
            top = min(top, after + bar_ms - 1 - (after - 1) % bar_ms)  # first bar start >= after
        start = top - bar_ms
        floor = self.earliest_ms - self.earliest_ms % bar_ms
        while start >= floor and len(out) < limit:
            if before is not None and start <= before:
                break
            row = self._aggregate(start, bar_ms)
            if row is not None:
                out.append(candle_row(row, True, px_dec, sz_dec))
            start -= bar_ms
        return out
