"""`okxscalp download SYMBOL… --bar 1m --days N [--out FILE] [--base-url URL]` (download.py).

Exit codes: 0 done, 1 the download stopped (the file keeps what was fetched; run again to resume),
2 usage (bad symbol, bar, days, or a file that is not this command's).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okxscalp.backtest.download import DownloadResult

EXIT_OK, EXIT_STOPPED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    from okxscalp.okx.constants import CANDLE_BARS, OKX_REST_URL

    parser = subparsers.add_parser(
        "download",
        help="fetch OKX history candles (public REST, no account) into a replay/backtest file",
        description=(
            "Fetch confirmed history candles of USDT perpetual swaps from OKX's public REST API "
            "(GET /api/v5/market/history-candles, within its documented rate limit) into the "
            "simulator's replay format (ts,instId,bar,o,h,l,c; okxscalp/sim/REPLAY.md). Re-running "
            "with the same --out continues after the last bar of each symbol in the file."
        ),
    )
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. XRP-USDT or XRP-USDT-SWAP")
    parser.add_argument("--bar", default="1m", choices=list(CANDLE_BARS), help="bar size (default 1m)")
    parser.add_argument("--days", type=float, default=1.0, help="days back from the newest closed bar (default 1)")
    parser.add_argument("--out", default=None, help="CSV file (default: okx-<bar>-<SYMBOLS>.csv here)")
    parser.add_argument("--base-url", default=OKX_REST_URL, help=f"REST base URL (default {OKX_REST_URL})")
    parser.set_defaults(handler=run_download)


def default_out(inst_ids: list[str], bar: str) -> Path:
    return Path(f"okx-{bar}-{'_'.join(inst_ids)}.csv")


def run_download(args: argparse.Namespace) -> int:
    from okxscalp.backtest.download import DownloadError, swap_inst_id

    try:
        inst_ids = list(dict.fromkeys(swap_inst_id(s) for s in args.symbols))
    except DownloadError as exc:
        print(f"download: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out) if args.out else default_out(inst_ids, args.bar)
    return asyncio.run(_download(inst_ids, args.bar, args.days, out, args.base_url))


async def _download(inst_ids: list[str], bar: str, days: float, out: Path, base_url: str) -> int:
    from okxscalp.backtest.download import DownloadError, download
    from okxscalp.okx.constants import CODE_INST_NOT_FOUND
    from okxscalp.okx.errors import OkxError, RequestError
    from okxscalp.okx.rest import RestClient

    bars = _ProgressBars()
    try:
        async with RestClient(base_url, None) as client:
            with bars:
                result = await download(client, inst_ids, bar, days, out, progress=bars.update)
    except DownloadError as exc:
        print(f"download: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RequestError as exc:
        if exc.code != CODE_INST_NOT_FOUND:
            return _stopped(exc, out)
        print(f"download: the exchange has no such instrument ({exc.msg or exc.code}); "
              f"{out} keeps what was fetched before it", file=sys.stderr)
        return EXIT_USAGE
    except OkxError as exc:
        return _stopped(exc, out)
    _summary(result, bar, out)
    return EXIT_OK


def _stopped(exc: Exception, out: Path) -> int:
    print(f"download stopped: {exc}. {out} keeps every bar fetched so far; run the same command "
          "again to continue.", file=sys.stderr)
    return EXIT_STOPPED


def _summary(result: DownloadResult, bar: str, out: Path) -> None:
    span = f"{_utc(result.start_ms)} .. {_utc(result.end_ms)} UTC"
    if result.torn_line_cut:
        print(f"{out}: cut off a torn last line left by an interrupted run", file=sys.stderr)
    for sym in result.symbols:
        resumed = f" (after {_utc(sym.resumed_after_ms)} already in the file)" if sym.resumed_after_ms else ""
        notes = []
        if sym.absent:
            notes.append(f"{sym.absent} bars absent on the exchange")
        if sym.open_bar_reached:
            notes.append("stopped at the open bar")
        print(f"{sym.inst_id}: {sym.written} {bar} bars written{resumed}"
              + (f"; {'; '.join(notes)}" if notes else ""))
    print(f"{out}: {span}")


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


class _ProgressBars:
    """A rich progress bar per symbol on a terminal; nothing otherwise (the summary still prints)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, disable=not console.is_terminal,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, inst_id: str, done: int, planned: int) -> None:
        task = self._tasks.get(inst_id)
        if task is None:
            task = self._tasks[inst_id] = self._progress.add_task(inst_id, total=planned)
        self._progress.update(task, completed=done, total=planned)
