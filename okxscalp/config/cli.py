"""`okxscalp config check [FILE]` and `okxscalp config explain SYMBOL [REGIME] [--chain]`.

Exit codes: 0 ok, 1 invalid config, 2 usage (unknown symbol, bad arguments). Without a file the
config is `default_config_path()`: ./config/default.yaml, else the repository's shipped one.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
REGIME_CHOICES = ("trending", "choppy", "ranging")
PIPE_WIDTH = 180


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="validate the config or explain where parameters come from")
    parser.set_defaults(handler=lambda args: _usage(parser))
    actions = parser.add_subparsers(title="config commands", dest="config_command", metavar="ACTION")

    check = actions.add_parser("check", help="validate a config file; prints every problem, or ok")
    check.add_argument("file", nargs="?", default=None, help="config file (default: config/default.yaml)")
    check.set_defaults(handler=run_check)

    explain = actions.add_parser("explain", help="every parameter of a symbol: value, source key path, chain")
    explain.add_argument("symbol", help="XRP-USDT or XRP-USDT-SWAP")
    explain.add_argument("regime", nargs="?", choices=REGIME_CHOICES, help="default: all three")
    explain.add_argument("--chain", action="store_true", help="also show every key path tried, in order")
    explain.add_argument(
        "--config", dest="config_file", default=None, help="config file (default: config/default.yaml)"
    )
    explain.set_defaults(handler=run_explain)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _config_path(args: argparse.Namespace, explicit: str | None) -> str:
    from okxscalp.config.paths import default_config_path

    # `okxscalp --config FILE config ...` works too.
    return explicit or getattr(args, "config", None) or str(default_config_path())


def run_check(args: argparse.Namespace) -> int:
    from okxscalp.config.loader import load_config
    from okxscalp.config.problems import ConfigError

    path = _config_path(args, args.file)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc)
        return EXIT_INVALID
    print(f"ok: {path} ({len(config.symbols)} symbols: {', '.join(config.symbols)})")
    return EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    from rich.console import Console

    from okxscalp.config.explain_render import explain_table
    from okxscalp.config.loader import load_config
    from okxscalp.config.problems import ConfigError
    from okxscalp.config.provider import ParameterProvider
    from okxscalp.config.sim_explain import (
        sim_market_rows,
        sim_market_table,
        strategy_threshold_rows,
        strategy_threshold_table,
    )
    from okxscalp.okx.models import inst_id_of, symbol_of

    path = _config_path(args, args.config_file)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc)
        return EXIT_INVALID
    symbol = symbol_of(args.symbol)
    known = set(config.symbols) | set(config.document.get("symbol_profiles", {}))
    if symbol not in known:
        print(
            f"okxscalp config explain: {symbol} is not configured in {path} (symbols: {', '.join(config.symbols)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    provider = ParameterProvider(config)
    console = Console()
    if not console.is_terminal:
        console.width = PIPE_WIDTH  # piped (grep, files): whole key paths, not folded at 80 columns
    active = "" if symbol in config.symbols else " (not in `symbols`: inactive)"
    for regime in [args.regime] if args.regime else list(REGIME_CHOICES):
        title = f"{symbol} · {regime}{active} · {path}"
        console.print(explain_table(title, provider.explain(symbol, regime), chain=args.chain))
    market = sim_market_rows(config, inst_id_of(symbol))
    if market:  # the simulator profile: the settings that shape the market these values trade in
        console.print(sim_market_table(f"{symbol} · simulator market (exchange.sim) · {path}", market))
    console.print(
        strategy_threshold_table(f"regime and signal thresholds (every symbol) · {path}", strategy_threshold_rows(config))
    )
    return EXIT_OK
