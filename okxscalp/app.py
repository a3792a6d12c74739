"""`okxscalp [--headless]`: config → exchange (the embedded simulator by default) → engine →
console or log lines.

Profiles:
- `sim` (default): a SimServer on 127.0.0.1:0 started in-process (headless: on the engine's own
  loop; console: on its own thread), or an already running one given by `--sim-url`.
- `okx-demo`: demo hosts with `x-simulated-trading: 1`; keys from OKX_API_KEY / OKX_API_SECRET /
  OKX_API_PASSPHRASE, or the config's key file (refused when group/others can read it).
- `okx-live`: additionally needs `--live` and a typed confirmation.

Before anything starts (simulator, engine, console): the journal's directory and the state
directory must be writable (preflight.py), and this process takes the journal's lock and, for an
account another process could share (a real one, or a simulator given by `--sim-url`), the
account's lock (engine/instance_lock.py). A refusal is one line naming the cause (the holder of a
lock: pid, host, since, path) and what to do: exit 1 for a lock, 2 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from okxscalp.config.schema import AppConfig, ExchangeProfile
from okxscalp.logging_setup import kv, setup_logging
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import OKX_DEMO_WS_URL, OKX_LIVE_WS_URL, OKX_REST_URL
from okxscalp.okx.models import inst_id_of

if TYPE_CHECKING:
    from okxscalp.market.recorder import RecorderSettings
    from okxscalp.metrics.server import MetricsAddress

log = logging.getLogger("okxscalp.app")

LIVE_CONFIRMATION = "TRADE LIVE"


class StartupError(Exception):
    """The engine cannot start as asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """Where the engine trades (and where the console's REST flatten goes once it has stopped)."""

    rest_url: str
    ws_url: str
    credentials: Credentials
    mode: str  # SIM | DEMO | LIVE
    demo: bool


def sim_credentials(config: AppConfig) -> Credentials:
    sim = config.exchange.sim
    return Credentials(sim.api_key, sim.api_secret, sim.passphrase)


def load_credentials(config: AppConfig) -> Credentials:
    """Keys for okx-demo / okx-live (the config area's loader: environment, else a private key file)."""
    from okxscalp.config.credentials import CredentialsError, credentials_for

    try:
        return credentials_for(config)
    except CredentialsError as exc:
        raise StartupError(str(exc)) from None


def ws_url_for(rest_url: str) -> str:
    """The simulator serves WebSocket on the same host:port as REST."""
    if rest_url.startswith("https://"):
        return "wss://" + rest_url[len("https://"):].rstrip("/")
    if rest_url.startswith("http://"):
        return "ws://" + rest_url[len("http://"):].rstrip("/")
    raise StartupError(f"--sim-url must be http://HOST:PORT, got {rest_url!r}")


def _config_for(args: argparse.Namespace) -> AppConfig:
    from okxscalp.config import default_config_path, load_config

    path = args.config or str(default_config_path())
    config = load_config(path)
    if args.exchange:
        config = replace(config, exchange=replace(config.exchange, profile=ExchangeProfile(args.exchange)))
    sim = config.exchange.sim
    if args.seed is not None:
        sim = replace(sim, seed=args.seed)
    if args.speed is not None:
        if args.speed <= 0:
            raise StartupError(f"--speed must be positive, got {args.speed}")
        sim = replace(sim, speed=args.speed)
    config = replace(config, exchange=replace(config.exchange, sim=sim))
    if args.journal:
        config = replace(config, journal_path=args.journal)
    return config


def _confirm_live(args: argparse.Namespace) -> None:
    if not args.live:
        raise StartupError("--exchange okx-live trades real money: add --live to confirm you mean it")
    if not sys.stdin.isatty():
        raise StartupError("okx-live needs a typed confirmation on a terminal")
    answer = input(f"Live trading with real funds. Type {LIVE_CONFIRMATION!r} to continue: ")
    if answer.strip() != LIVE_CONFIRMATION:
        raise StartupError("live trading not confirmed")


def run_main(args: argparse.Namespace) -> int:
    """Entry point of `okxscalp` without a subcommand. Returns the process exit code."""
    from okxscalp.engine.instance_lock import InstanceLockError

    setup_logging(getattr(args, "log_level", "INFO"))
    try:
        config = _config_for(args)
        profile = config.exchange.profile
        if profile is ExchangeProfile.OKX_LIVE:
            _confirm_live(args)
        creds = sim_credentials(config)
        if profile is not ExchangeProfile.SIM:
            creds = load_credentials(config)
            setup_logging(args.log_level, secrets=(creds.api_key, creds.secret, creds.passphrase))
        if args.sim_url and profile is not ExchangeProfile.SIM:
            raise StartupError("--sim-url only applies to --exchange sim")
        if getattr(args, "fresh_account", False) and (args.sim_url or profile is not ExchangeProfile.SIM):
            raise StartupError("--fresh-account only applies to the embedded simulator (--exchange sim without --sim-url)")
        with instance_guard(config, creds, sim_url=args.sim_url, console=not args.headless):
            if args.headless:
                return asyncio.run(_run_headless(args, config))
            return _run_console(args, config)
    except StartupError as exc:
        print(f"okxscalp: cannot start: {exc}", file=sys.stderr)
        return 2
    except InstanceLockError as exc:
        print(f"okxscalp: cannot start: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from okxscalp.config import ConfigError
        from okxscalp.sim.persist import AccountFileError

        if isinstance(exc, AccountFileError):
            print(f"okxscalp: cannot start: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, ConfigError):
            print(f"okxscalp: invalid config, nothing started:\n{exc}", file=sys.stderr)
            return 1
        raise


def instance_guard(
    config: AppConfig, creds: Credentials, *, sim_url: str | None, console: bool
) -> contextlib.ExitStack:
    """Writability checks and this process's locks, held until the returned stack closes.
    Raises StartupError (with what to do) or InstanceLockError (naming the holder)."""
    from okxscalp.engine.instance_lock import lock_account, lock_journal
    from okxscalp.preflight import journal_location_problem, state_dir, state_dir_problem

    problem = journal_location_problem(config.journal_path)
    if problem is not None:
        raise StartupError(problem)
    profile = config.exchange.profile
    # The embedded simulator's account exists only inside this process: nobody can share it.
    account_endpoint = (config.exchange.rest_url or OKX_REST_URL) if profile is not ExchangeProfile.SIM else sim_url
    if console or account_endpoint:
        problem = state_dir_problem(state_dir())
        if problem is not None:
            raise StartupError(problem)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(lock_journal(config.journal_path, for_process=True))
        if account_endpoint:
            stack.enter_context(lock_account(state_dir(), profile.value, account_endpoint, creds.api_key))
    except OSError as exc:
        stack.close()
        raise StartupError(f"cannot create a lock file: {exc}") from None
    except BaseException:
        stack.close()
        raise
    return stack


def exchange_for_profile(config: AppConfig, sim_rest_url: str | None) -> Exchange:
    profile = config.exchange.profile
    if profile is ExchangeProfile.SIM:
        assert sim_rest_url is not None
        return Exchange(sim_rest_url, ws_url_for(sim_rest_url), sim_credentials(config), "SIM", False)
    creds = load_credentials(config)
    rest_url = config.exchange.rest_url or OKX_REST_URL
    if profile is ExchangeProfile.OKX_DEMO:
        return Exchange(rest_url, config.exchange.ws_url or OKX_DEMO_WS_URL, creds, "DEMO", True)
    return Exchange(rest_url, OKX_LIVE_WS_URL, creds, "LIVE", False)


def _engine_for(config: AppConfig, exchange: Exchange, metrics: MetricsAddress | None = None,
                record: RecorderSettings | None = None):
    from okxscalp.engine.orchestrator import Engine, ExchangeEndpoints

    return Engine(
        config,
        ExchangeEndpoints(exchange.rest_url, exchange.ws_url, exchange.credentials, mode=exchange.mode, demo=exchange.demo),
        metrics=metrics,
        record=record,
    )


def _engine_for_profile(config: AppConfig, sim_rest_url: str | None, metrics: MetricsAddress | None = None,
                        record: RecorderSettings | None = None):
    return _engine_for(config, exchange_for_profile(config, sim_rest_url), metrics, record)


def recorder_settings(args: argparse.Namespace) -> RecorderSettings | None:
    """`--record DIR` / `--record-max-mb` as RecorderSettings, or None when not asked for."""
    directory, max_mb = getattr(args, "record", None), getattr(args, "record_max_mb", None)
    if directory is None:
        if max_mb is not None:
            raise StartupError("--record-max-mb needs --record DIR")
        return None
    from pathlib import Path

    from okxscalp.market.recorder import RecorderSettings

    if max_mb is None:
        return RecorderSettings(Path(directory))
    return RecorderSettings(Path(directory), max_total_bytes=max_mb * 1024 * 1024)


def metrics_address(args: argparse.Namespace) -> MetricsAddress | None:
    """`--metrics-port` / `--metrics-host` as a MetricsAddress, or None when not asked for."""
    port, host = getattr(args, "metrics_port", None), getattr(args, "metrics_host", None)
    if port is None:
        if host is not None:
            raise StartupError("--metrics-host needs --metrics-port")
        return None
    from okxscalp.metrics.server import MetricsAddress

    return MetricsAddress(host, port) if host else MetricsAddress(port=port)


def rest_flatten_for(config: AppConfig, exchange: Exchange):
    """The console's flatten for when the engine is not running (engine/rest_flatten.py)."""
    from okxscalp.engine.rest_flatten import rest_flattener

    inst_ids = tuple(inst_id_of(s) for s in config.symbols)
    return rest_flattener(exchange.rest_url, exchange.credentials, config.rest, inst_ids, demo=exchange.demo)


def embedded_sim_account(args: argparse.Namespace, config: AppConfig) -> dict[str, object]:
    """SimServer arguments that keep the embedded simulator's paper account beside the journal
    (sim/persist.py); `--fresh-account` sets the saved one aside first."""
    from okxscalp.sim.persist import account_file_for

    return {"account_file": account_file_for(config.journal_path),
            "fresh_account": bool(getattr(args, "fresh_account", False))}


def recorded_sim_url(config: AppConfig, sim_url: str) -> contextlib.AbstractContextManager[object]:
    """Record the embedded simulator's URL in the state directory while it runs, so
    `okxscalp sim fault ...` finds it without --url (sim/discovery.py)."""
    from okxscalp.preflight import state_dir, state_dir_problem
    from okxscalp.sim.discovery import recorded_sim

    directory = state_dir()
    problem = state_dir_problem(directory)
    if problem is not None:
        log.error("simulator URL not recorded: %s", problem)
        return contextlib.nullcontext()
    return recorded_sim(directory, sim_url, config.journal_path)


async def _run_headless(args: argparse.Namespace, config: AppConfig) -> int:
    from okxscalp.engine.headless import run_headless

    async with contextlib.AsyncExitStack() as stack:
        sim_url = args.sim_url
        if config.exchange.profile is ExchangeProfile.SIM and not sim_url:
            from okxscalp.sim.server import SimServer, sim_server_options

            sim = config.exchange.sim
            server = SimServer(**sim_server_options(sim), **embedded_sim_account(args, config))
            await server.start()
            stack.push_async_callback(server.stop)
            sim_url = server.rest_url
            stack.enter_context(recorded_sim_url(config, sim_url))
            log.info("simulator started %s", kv(rest=server.rest_url, seed=sim.seed, speed=sim.speed))
        engine = _engine_for_profile(config, sim_url, metrics_address(args), recorder_settings(args))
        return await run_headless(engine)


def _run_console(args: argparse.Namespace, config: AppConfig) -> int:
    try:
        from okxscalp.tui.app import run_console
    except ImportError as exc:
        raise StartupError(f"the console is not available ({exc}); use --headless") from None
    with contextlib.ExitStack() as stack:
        sim_url = args.sim_url
        if config.exchange.profile is ExchangeProfile.SIM and not sim_url:
            from okxscalp.sim.server import run_in_thread, sim_server_options

            server = stack.enter_context(
                run_in_thread(**sim_server_options(config.exchange.sim), **embedded_sim_account(args, config))
            )
            sim_url = server.rest_url  # the embedded simulator's URL (the console can show it)
            stack.enter_context(recorded_sim_url(config, sim_url))
        exchange = exchange_for_profile(config, sim_url)
        engine = _engine_for(config, exchange, metrics_address(args), recorder_settings(args))
        return int(run_console(engine, rest_flatten=rest_flatten_for(config, exchange), sim_url=sim_url) or 0)
