"""Fetch OKX history candles into the simulator's replay format (okxscalp/sim/REPLAY.md), resumably.

Source: GET /api/v5/market/history-candles (public, no account; docs order-book-trading-market-data-
get-candlesticks-history), through RestClient, so every request takes a token from the endpoint's
documented budget (20 per 2 s per IP, limiter.py keeps within it) and rate-limit or busy replies are
retried with backoff.

How a file is filled: for each symbol, windows of HISTORY_CANDLES_MAX_LIMIT bars from the start
(`--days` before the newest closed bar on the exchange's clock, GET /public/time) to now, oldest
first. A window is asked for with both bounds (`before` = start - 1, `after` = end, both exclusive)
and paged back with `after` until its start, so a server that answers fewer rows than asked (OKX's
maximum was 100 until 2025) loses nothing. Only confirmed bars (`confirm` "1") are written; the open
bar ends the symbol's run. Each window is appended in one write and flushed.

Resuming: the file is read first. A torn last line (a run killed mid-write) is cut off; each symbol
continues after its last bar in the file, so re-running never duplicates or skips a bar. Bars the
exchange does not have (a trading halt) cannot be fetched: they are counted and reported.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from okxscalp.okx.constants import CANDLE_BARS, HISTORY_CANDLES_MAX_LIMIT
from okxscalp.okx.models import Candle
from okxscalp.okx.rest import RestClient

DAY_MS = 86_400_000
HEADER = ("ts", "instId", "bar", "o", "h", "l", "c")
# Bars a download may ask for: those the replay format reads (REPLAY.md), all epoch-aligned.
DOWNLOAD_BARS = tuple(CANDLE_BARS)

Progress = Callable[[str, int, int], None]  # (instId, bars done, bars planned)


class DownloadError(Exception):
    """The download cannot go on; the message says why and what is in the file."""


def swap_inst_id(symbol: str) -> str:
    """`XRP-USDT` or `XRP-USDT-SWAP` (any case) -> `XRP-USDT-SWAP`."""
    parts = symbol.strip().upper().split("-")
    if len(parts) == 2 and all(parts):
        parts.append("SWAP")
    if len(parts) != 3 or parts[2] != "SWAP" or not all(p.isalnum() for p in parts):
        raise DownloadError(f"{symbol!r} is not a USDT perpetual swap (e.g. XRP-USDT or XRP-USDT-SWAP)")
    return "-".join(parts)


@dataclass
class SymbolResult:
    inst_id: str
    written: int = 0
    resumed_after_ms: int | None = None  # last bar already in the file
    absent: int = 0  # bars the exchange did not have inside the range
    open_bar_reached: bool = False  # stopped at a bar that is not confirmed yet


@dataclass
class DownloadResult:
    path: Path
    start_ms: int
    end_ms: int
    symbols: list[SymbolResult] = field(default_factory=list)
    torn_line_cut: bool = False


def scan_file(path: Path, bar: str) -> tuple[dict[str, int], bool]:
    """instId -> the last bar's ts already in `path`; cuts a torn last line (returns True then).
    Refuses a file that is not a replay candle CSV of this bar size."""
    if not path.exists() or path.stat().st_size == 0:
        return {}, False
    torn = _cut_torn_tail(path)
    last: dict[str, int] = {}
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return {}, torn
        if tuple(header) != HEADER:
            raise DownloadError(f"{path}: not a file this command wrote (header {','.join(header)!r}, "
                                f"expected {','.join(HEADER)!r}); choose another --out")
        for n, row in enumerate(reader, start=2):
            if len(row) != len(HEADER):
                raise DownloadError(f"{path}:{n}: {len(row)} fields, expected {len(HEADER)}")
            if row[2] != bar:
                raise DownloadError(f"{path}:{n}: holds {row[2]} bars, not {bar}; choose another --out")
            try:
                ts = int(row[0])
            except ValueError:
                raise DownloadError(f"{path}:{n}: ts {row[0]!r} is not a number") from None
            if ts <= last.get(row[1], -1):
                raise DownloadError(f"{path}:{n}: {row[1]} bar {ts} is not after the one before it")
            last[row[1]] = ts
    return last, torn


def _cut_torn_tail(path: Path) -> bool:
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return False
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        return True


async def fetch_window(client: RestClient, inst_id: str, bar: str, lo_ms: int, hi_ms: int) -> list[Candle]:
    """Every bar with lo <= ts < hi, oldest first, paging back with `after` inside the window."""
    bar_ms = CANDLE_BARS[bar] * 1000
    got: dict[int, Candle] = {}
    upper = hi_ms
    while True:
        page = await client.history_candles(inst_id, bar, HISTORY_CANDLES_MAX_LIMIT, after=upper, before=lo_ms - 1)
        if not page:
            break
        for candle in page:
            if not lo_ms <= candle.ts_ms < upper or candle.ts_ms % bar_ms:
                raise DownloadError(f"{inst_id}: the exchange answered a {bar} bar at {candle.ts_ms}, "
                                    f"not a bar start inside the requested range [{lo_ms}, {upper})")
            got[candle.ts_ms] = candle
        oldest = page[0].ts_ms  # parse_candles returns oldest first
        if oldest <= lo_ms:
            break
        upper = oldest
    return [got[ts] for ts in sorted(got)]


def _lines(candles: Iterable[Candle], inst_id: str, bar: str) -> str:
    return "".join(f"{c.ts_ms},{inst_id},{bar},{c.open!r},{c.high!r},{c.low!r},{c.close!r}\n" for c in candles)


async def download(
    client: RestClient,
    symbols: Sequence[str],
    bar: str,
    days: float,
    out: Path,
    *,
    progress: Progress | None = None,
) -> DownloadResult:
    """Fill `out` with `days` of confirmed `bar` candles per symbol (resuming what it holds)."""
    if bar not in DOWNLOAD_BARS:
        raise DownloadError(f"bar {bar!r} is not one of {', '.join(DOWNLOAD_BARS)}")
    if not days > 0:
        raise DownloadError(f"--days must be positive, got {days}")
    inst_ids = list(dict.fromkeys(swap_inst_id(s) for s in symbols))
    bar_ms = CANDLE_BARS[bar] * 1000
    last_in_file, torn = scan_file(out, bar)
    now_ms = await client.server_time()  # the exchange's clock decides which bars are closed
    end_ms = now_ms - now_ms % bar_ms  # bars opening before this have closed
    start_ms = end_ms - int(days * DAY_MS)
    start_ms -= start_ms % bar_ms
    result = DownloadResult(out, start_ms, end_ms, torn_line_cut=torn)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="") as fh:
        if fh.tell() == 0:
            fh.write(",".join(HEADER) + "\n")
            fh.flush()
        for inst_id in inst_ids:
            sym = SymbolResult(inst_id, resumed_after_ms=last_in_file.get(inst_id))
            result.symbols.append(sym)
            first = start_ms if sym.resumed_after_ms is None else sym.resumed_after_ms + bar_ms
            planned = max(0, (end_ms - first) // bar_ms)
            cursor = first
            while cursor < end_ms and not sym.open_bar_reached:
                hi = min(cursor + HISTORY_CANDLES_MAX_LIMIT * bar_ms, end_ms)
                window = await fetch_window(client, inst_id, bar, cursor, hi)
                confirmed = []
                for candle in window:
                    if not candle.confirmed:
                        sym.open_bar_reached = True  # nothing after it is written: a re-run resumes here
                        break
                    confirmed.append(candle)
                if sym.open_bar_reached:
                    hi = confirmed[-1].ts_ms + bar_ms if confirmed else cursor
                sym.absent += (hi - cursor) // bar_ms - len(confirmed)
                fh.write(_lines(confirmed, inst_id, bar))
                fh.flush()
                sym.written += len(confirmed)
                cursor = hi
                if progress is not None:
                    progress(inst_id, (cursor - first) // bar_ms, planned)
    return result
