"""`okxscalp backtest --data FILE… [--from … --to …] [--config FILE | --compare A.yaml B.yaml]
[--seed N] [--out DIR] [--html FILE]` (runner.py).

Runs the real engine against the simulator replaying the data on a virtual clock, writes the
journal in --out, prints simulated seconds per wall second and the report (report.py). With
--compare, the same data through two configs and the two reports side by side.
Exit codes: 0 done, 1 the run failed (the message says why), 2 data or config cannot be read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from okxscalp.backtest.report import BacktestReport
    from okxscalp.backtest.runner import BacktestRun
    from okxscalp.config.schema import AppConfig

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2
DEFAULT_OUT = "backtest-out"
WIDTH_WHEN_PIPED = 140


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="run the engine on recorded or downloaded market data on a virtual clock, then report",
        description=(
            "Replay market data (the simulator's replay files, OKX history-candles replies, OKX trades "
            "files; okxscalp/backtest/data.py) through the same engine as live, against the simulator "
            "at speed 1 with 0.1 s market steps, on a virtual clock: simulated time jumps ahead whenever "
            "nothing is running, so every freshness budget, timeout and cooldown runs as live. The "
            "journal goes to --out; the report (report.py) is printed, and written as HTML with --html."
        ),
    )
    parser.add_argument("--data", nargs="+", required=True, metavar="FILE", help="market data file(s)")
    parser.add_argument("--from", dest="start", default=None, metavar="TIME",
                        help="first instant (Unix ms or ISO date/time, UTC unless it says otherwise)")
    parser.add_argument("--to", dest="end", default=None, metavar="TIME", help="end (exclusive), as --from")
    configs = parser.add_mutually_exclusive_group()
    configs.add_argument("--config", default=None, help="config file (default: config/default.yaml)")
    configs.add_argument("--compare", nargs=2, metavar=("A.yaml", "B.yaml"), default=None,
                         help="run the same data through two configs; the reports side by side")
    parser.add_argument("--seed", type=int, default=None, help="simulator seed (default: the config's exchange.sim.seed)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"where the journal(s) and the run's log go (default ./{DEFAULT_OUT}); "
                             "a journal already there is not overwritten")
    parser.add_argument("--html", default=None, metavar="FILE", help="also write the report as one HTML file")
    parser.set_defaults(handler=run_backtest_command)


def run_backtest_command(args: argparse.Namespace) -> int:
    from okxscalp.backtest.data import DataFormatError, parse_time, read_market_data
    from okxscalp.config import default_config_path, load_config
    from okxscalp.config.loader import ConfigError

    config_paths = [str(p) for p in (args.compare or [args.config or default_config_path()])]
    try:
        configs = [load_config(path) for path in config_paths]
    except ConfigError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        start_ms = parse_time(args.start) if args.start else None
        end_ms = parse_time(args.end) if args.end else None
        data = read_market_data(args.data, start_ms=start_ms, end_ms=end_ms)
    except (DataFormatError, ValueError, OSError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    handler = _log_to(out / "backtest.log", getattr(args, "log_level", "INFO"))
    try:
        return _run_and_report(args, config_paths, configs, data, out)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def _run_and_report(args: argparse.Namespace, config_paths: list[str], configs: list[AppConfig], data: Any,
                    out: Path) -> int:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped or redirected: wide enough for every table, not the 80 default
        console = Console(width=WIDTH_WHEN_PIPED)
    runs: list[tuple[str, BacktestRun, BacktestReport]] = []
    for name, config in zip(run_names(config_paths), configs, strict=True):
        journal = out / f"{name}.journal.sqlite"
        result = _one_run(name, config, data, journal, args.seed, console)
        if isinstance(result, int):
            return result
        runs.append((name, *result))
    if len(runs) == 1:
        from okxscalp.backtest.report_render import print_report, render_html

        report = runs[0][2]
        print_report(report, console)
        page = render_html(report)
    else:
        from okxscalp.backtest.report_compare import print_comparison, render_comparison_html

        print_comparison([(name, report) for name, _, report in runs], console)
        page = render_comparison_html([(name, report) for name, _, report in runs])
    if args.html:
        Path(args.html).write_text(page, encoding="utf-8")
        console.print(f"backtest: HTML written to {args.html}")
    return EXIT_OK


def run_names(config_paths: list[str]) -> list[str]:
    """A name per run (its config file's stem), numbered when two stems are alike."""
    stems = [Path(path).stem for path in config_paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{n}-{stem}" for n, stem in enumerate(stems, start=1)]


def _one_run(name: str, config: AppConfig, data: Any, journal: Path, seed: int | None,
             console: Console) -> tuple[BacktestRun, BacktestReport] | int:
    from okxscalp.backtest.journal_read import read_journal
    from okxscalp.backtest.report import build_report
    from okxscalp.backtest.runner import BacktestError, run_backtest
    from okxscalp.engine.journal import JournalError

    try:
        with _ProgressBar(name, console) as bar:
            run = run_backtest(config, data, journal, seed=seed, progress=bar.update)
    except BacktestError as exc:
        print(f"backtest: {name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    console.print(f"backtest {name}: {run.sim_s:,.0f} simulated s in {run.wall_s:,.1f} wall s = "
                  f"{run.speed:,.0f} simulated s per wall s; {len(run.gaps)} recorded gap(s) replayed as "
                  f"silence; journal {run.journal_path}")
    for note in run.notes:  # what the replay made up instead of serving it as recorded
        console.print(f"backtest {name}: note: {note}")
    try:
        contents = read_journal(run.journal_path)
    except JournalError as exc:
        print(f"backtest: {name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report = build_report(contents, prices=run.replay.points, window=(run.start_s, run.end_s),
                          start_equity=run.config.exchange.sim.initial_equity_usdt)
    return run, report


def _log_to(path: Path, level: str) -> logging.Handler:
    """The engine's and the simulator's log go to a file in --out: the terminal keeps the bar."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


class _ProgressBar:
    """A rich progress bar of simulated time on a terminal; nothing otherwise."""

    def __init__(self, name: str, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn(f"backtest {name}"), BarColumn(), TextColumn("{task.percentage:>5.1f}% of simulated time"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not console.is_terminal,
        )
        self._task = self._progress.add_task(name, total=1.0)

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, done_s: float, total_s: float) -> None:
        self._progress.update(self._task, completed=done_s, total=total_s)
