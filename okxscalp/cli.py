"""Command line: `okxscalp [--exchange ...] [--headless]` runs the engine (console by default);
subcommands `sim`, `config`, `screenshots`, `download`, `report`, `backtest` are registered by the package that owns them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers)`; it adds its subcommand with `set_defaults(handler=...)`.
# Registration must stay cheap: handlers import their heavy modules lazily.
SUBCOMMAND_MODULES = (
    "okxscalp.sim.cli",
    "okxscalp.config.cli",
    "okxscalp.tui.cli",
    "okxscalp.backtest.download_cli",
    "okxscalp.backtest.report_cli",
    "okxscalp.backtest.backtest_cli",
)


def tcp_port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535 (0: any free port), got {port}")
    return port


def positive_mb(text: str) -> int:
    megabytes = int(text)
    if megabytes < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (MB), got {megabytes}")
    return megabytes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okxscalp",
        description=(
            "OKX USDT-perpetual scalping engine with an operator console. With no subcommand it "
            "starts the console and the engine against the embedded OKX simulator."
        ),
    )
    parser.add_argument(
        "--exchange",
        choices=["sim", "okx-demo", "okx-live"],
        default=None,
        help="exchange profile (default: the config's, `sim` in the shipped config)",
    )
    parser.add_argument("--config", default=None, help="config file (default: config/default.yaml)")
    parser.add_argument("--headless", action="store_true", help="run the engine without the console")
    parser.add_argument("--live", action="store_true", help="required together with --exchange okx-live")
    parser.add_argument("--speed", type=float, default=None, help="simulator speed factor (sim only)")
    parser.add_argument("--seed", type=int, default=None, help="simulator seed (sim only)")
    parser.add_argument(
        "--sim-url",
        default=None,
        help="use an already running simulator at this REST URL (e.g. http://127.0.0.1:PORT) "
        "instead of starting one in-process (sim profile only)",
    )
    parser.add_argument("--journal", default=None, help="journal SQLite path (default: from config)")
    parser.add_argument(
        "--fresh-account",
        action="store_true",
        help="sim: start a new paper account with the configured equity (the saved one, "
        "JOURNAL.sim-account.json, is kept as a .bak file)",
    )
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    parser.add_argument(
        "--metrics-port",
        type=tcp_port,
        default=None,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; the URL is logged)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="address the metrics endpoint binds (default 127.0.0.1; 0.0.0.0 exposes equity and positions)",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        default=None,
        help="record the public market data the engine receives into DIR (rec-*.jsonl.gz: gzip'd, rotated, "
        "oldest deleted beyond --record-max-mb); `okxscalp backtest --data DIR/rec-*.jsonl.gz` replays it",
    )
    parser.add_argument(
        "--record-max-mb",
        type=positive_mb,
        default=None,
        help="total size the recordings in --record DIR may take (default 2048 MB)",
    )
    subparsers = parser.add_subparsers(title="subcommands", dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from okxscalp.app import run_main

        handler = run_main
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
