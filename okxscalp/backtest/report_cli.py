"""`okxscalp report JOURNAL [--html FILE] [--svg DIR] [--prices FILE] [--start-equity USDT]` (report.py).

Reads the journal read-only, so it works on the journal of an engine that is running, of a
finished live/demo run, or of a backtest. Exit codes: 0 done, 2 the journal or the price file
cannot be read (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_UNREADABLE = 0, 2
WIDTH_WHEN_PIPED = 140


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="the report of a journal: trades, P&L, per regime win:loss, exits, refusals, charts",
        description=(
            "Report on what a run left in its journal (live, demo or backtest): trades, win rate, P&L "
            "after fees and funding, max drawdown, exposure, per symbol and per entry regime (win:loss), "
            "exits by cause, TP/SL distance in ATRs at entry, fallback events and refusals. "
            "--html also writes a self-contained page with the equity curve and price charts."
        ),
    )
    parser.add_argument("journal", metavar="JOURNAL", help="the engine's journal (journal.path in the config)")
    parser.add_argument("--html", metavar="FILE", default=None, help="also write the report as one HTML file")
    parser.add_argument("--svg", metavar="DIR", default=None,
                        help="also write the report as pictures into DIR: report.svg (the terminal report), "
                             "equity.svg and price-<instId>.svg")
    parser.add_argument("--prices", metavar="FILE", default=None,
                        help="a replay/backtest price file (okxscalp/sim/REPLAY.md) drawn under the marks")
    parser.add_argument("--start-equity", metavar="USDT", type=float, default=None,
                        help="account equity at the start: max drawdown is also given in %% of peak equity")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from okxscalp.backtest.journal_read import read_journal
    from okxscalp.backtest.report import build_report
    from okxscalp.backtest.report_render import print_report, render_html, render_svgs
    from okxscalp.engine.journal import JournalError
    from okxscalp.sim.replay import ReplayFormatError, load_replay

    try:
        contents = read_journal(args.journal)
    except JournalError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    prices = None
    if args.prices:
        try:
            prices = load_replay(args.prices).points
        except (ReplayFormatError, OSError) as exc:
            print(f"report: price file {args.prices}: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    report = build_report(contents, prices=prices, start_equity=args.start_equity)
    console = Console()
    if not console.is_terminal:  # piped or redirected: wide enough for every table, not the 80 default
        console = Console(width=WIDTH_WHEN_PIPED)
    print_report(report, console)
    if args.html:
        out = Path(args.html)
        out.write_text(render_html(report), encoding="utf-8")
        print(f"report: HTML written to {out}")
    if args.svg:
        folder = Path(args.svg)
        folder.mkdir(parents=True, exist_ok=True)
        for name, svg in render_svgs(report).items():
            (folder / name).write_text(svg, encoding="utf-8")
        print(f"report: pictures written to {folder}")
    return EXIT_OK
