"""Event-loop lag with and without the console, under 20 symbols × ~100 msgs/s (SPEC 3.7).

The simulator runs in a child process (it stands for the exchange; in one process its thread would
compete for the GIL and blur what is measured), so the loop measured is the one the engine and the
console share. A probe task sleeps `PROBE_INTERVAL_S` again and again; how late it
wakes is the loop's lag. Run 1: engine alone. Run 2: engine + the console (headless Textual, the
same refresh path as on a terminal). Run 3: the same, switching main → orders view → trades view
→ main once a second. Target: p99 < 10 ms with the console.

    python3 bench/console_load.py [--quick] [--seconds 20] [--symbols 20] [--tick-interval 0.017]

Last stdout line: `RESULT {json}` (bench/run_all.py convention).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from okxscalp.config.schema import AppConfig
from okxscalp.okx.models import symbol_of
from okxscalp.sim.instruments import DEFAULT_INST_IDS
from okxscalp.tui.sim_harness import DEFAULT_CONFIG, engine_for_sim, wait_for

PROBE_INTERVAL_S = 0.005
WARM_UP_DEADLINE_S = 30.0
TARGET_P99_MS = 10.0


def bench_inst_ids(count: int) -> list[str]:
    """The five shipped instruments, then synthetic ones (the simulator generates their specs)."""
    extra = [f"SYN{i:02d}-USDT-SWAP" for i in range(1, max(0, count - len(DEFAULT_INST_IDS)) + 1)]
    return [*DEFAULT_INST_IDS, *extra][:count]


def bench_config(inst_ids: list[str], workdir: Path) -> AppConfig:
    """The shipped config with every bench symbol active; synthetic symbols copy XRP-USDT's profile."""
    from okxscalp.config import load_config

    document: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    symbols = [symbol_of(inst_id) for inst_id in inst_ids]
    profiles = document.setdefault("symbol_profiles", {})
    template = profiles.get("XRP-USDT") or next(iter(profiles.values()))
    for symbol in symbols:
        profiles.setdefault(symbol, template)
    document["symbols"] = symbols
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_config(str(path))
    return replace(config, journal_path=str(workdir / "journal.sqlite"))


async def probe_lag(duration_s: float) -> list[float]:
    """Lateness of each wake-up of a short sleep, in ms, over `duration_s`."""
    lags: list[float] = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        started = time.perf_counter()
        await asyncio.sleep(PROBE_INTERVAL_S)
        lags.append((time.perf_counter() - started - PROBE_INTERVAL_S) * 1000.0)
    return lags


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def messages_received(engine: Any) -> int:
    """WebSocket messages the engine's connections have taken in (all three connections)."""
    return sum(health.messages for health in engine.snapshot().connections)


def serve_sim(inst_ids: list[str], tick_interval_s: float, seed: int, urls: Any, stop: Any) -> None:
    """Child process: a SimServer with `inst_ids` until `stop` is set; its URLs go to `urls`."""
    from okxscalp.config.schema import SimSettings
    from okxscalp.okx.auth import Credentials
    from okxscalp.sim.exchange import SimExchange
    from okxscalp.sim.server import SimServer

    async def serve() -> None:
        settings = SimSettings()
        exchange = SimExchange(seed=seed, inst_ids=inst_ids, tick_interval_s=tick_interval_s, history_minutes=240)
        server = SimServer(exchange, credentials=Credentials(settings.api_key, settings.api_secret, settings.passphrase))
        await server.start()
        urls.put((server.rest_url, server.ws_url))
        try:
            await asyncio.to_thread(stop.wait)
        finally:
            await server.stop()

    asyncio.run(serve())


@contextlib.contextmanager
def sim_process(inst_ids: list[str], tick_interval_s: float, seed: int) -> Iterator[SimpleNamespace]:
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    process = context.Process(target=serve_sim, args=(inst_ids, tick_interval_s, seed, urls, stop), daemon=True)
    process.start()
    try:
        rest_url, ws_url = urls.get(timeout=60)
        yield SimpleNamespace(rest_url=rest_url, ws_url=ws_url)
    finally:
        stop.set()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


# The console run with the views cycles main → orders → trades → main, one step a second, so every
# pane and view renders from live samples while the loop is probed.
VIEW_CYCLE = ("orders", "trades", "trades")


async def cycle_views(app: Any, shown: set[str]) -> None:
    step = 0
    while True:
        await asyncio.sleep(1.0)
        shown.add(type(app.screen).__name__)
        # Inside the app's own context, as a key press would run it.
        app.call_later(app.run_action, VIEW_CYCLE[step % len(VIEW_CYCLE)])
        step += 1


async def one_run(config: AppConfig, server: Any, seconds: float, *, console: bool, views: bool = False) -> dict[str, float]:
    from okxscalp.config.schema import Purpose

    engine = engine_for_sim(config, server)
    app = None
    cycler: asyncio.Task[None] | None = None
    screens_shown: set[str] = set()
    if console:
        from okxscalp.tui.app import ConsoleApp

        app = ConsoleApp(engine)
        runner = asyncio.create_task(app.run_async(headless=True, size=(120, 40)))
    else:
        runner = asyncio.create_task(engine.run())
    try:
        def fresh() -> bool:
            quotes = engine.snapshot().quotes
            return len(quotes) >= len(config.symbols) and all(q.satisfied.get(Purpose.SIGNAL) for q in quotes)

        warmed = await wait_for(fresh, WARM_UP_DEADLINE_S)
        # As run_console does after start-up (both runs, so the difference is the console's).
        gc.collect()
        gc.freeze()
        if app is not None and views:
            cycler = asyncio.create_task(cycle_views(app, screens_shown))
        received_before, started = messages_received(engine), time.perf_counter()
        lags = await probe_lag(seconds)
        elapsed = time.perf_counter() - started
        rate = (messages_received(engine) - received_before) / elapsed
    finally:
        gc.unfreeze()
        if cycler is not None:
            cycler.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # the bench's own task, cancelled above
                await cycler
        if app is not None:
            await app.stop_engine()
            app.exit(0)
            await runner
        else:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    return {
        "p50_ms": round(statistics.median(lags), 3),
        "p99_ms": round(percentile(lags, 0.99), 3),
        "max_ms": round(max(lags), 3),
        "msgs_per_s": round(rate, 1),
        "msgs_per_s_per_symbol": round(rate / len(config.symbols), 1),
        "warmed_up": float(warmed),
        "screens_shown": float(len(screens_shown)),  # 3 when the views cycled (main, orders, trades)
    }


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    inst_ids = bench_inst_ids(args.symbols)
    with tempfile.TemporaryDirectory(prefix="okxscalp-bench-") as tmp:
        config = bench_config(inst_ids, Path(tmp))
        results: dict[str, dict[str, float]] = {}
        for label, console, views in (
            ("engine_only", False, False),
            ("console", True, False),
            ("console_views", True, True),
        ):
            with sim_process(inst_ids, args.tick_interval, config.exchange.sim.seed) as server:
                results[label] = await one_run(
                    replace(config, journal_path=str(Path(tmp) / f"{label}.sqlite")),
                    server,
                    args.seconds,
                    console=console,
                    views=views,
                )
                print(f"{label:13s} {json.dumps(results[label])}")
    with_console, alone, views = results["console"], results["engine_only"], results["console_views"]
    verdict = "meets" if with_console["p99_ms"] < TARGET_P99_MS else "MISSES"
    print(
        f"loop lag with console p50 {with_console['p50_ms']} ms p99 {with_console['p99_ms']} ms "
        f"({verdict} the < {TARGET_P99_MS} ms target); cycling the orders and trades views p99 {views['p99_ms']} ms; "
        f"without the console: p50 {alone['p50_ms']} ms p99 {alone['p99_ms']} ms; "
        f"{len(inst_ids)} symbols at {with_console['msgs_per_s_per_symbol']} msgs/s each"
    )
    return {
        "symbols": float(len(inst_ids)),
        "msgs_per_s_per_symbol": with_console["msgs_per_s_per_symbol"],
        "console_lag_p50_ms": with_console["p50_ms"],
        "console_lag_p99_ms": with_console["p99_ms"],
        "console_lag_max_ms": with_console["max_ms"],
        "console_views_lag_p50_ms": views["p50_ms"],
        "console_views_lag_p99_ms": views["p99_ms"],
        "console_views_lag_max_ms": views["max_ms"],
        "engine_only_lag_p50_ms": alone["p50_ms"],
        "engine_only_lag_p99_ms": alone["p99_ms"],
        "engine_only_lag_max_ms": alone["max_ms"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per run (about 20 s in all)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per run (default 20)")
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument(
        "--tick-interval",
        type=float,
        default=0.017,
        help="simulator market step in seconds; 0.017 gives ~100 msgs/s per symbol on the engine's channels",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 3.0
    figures = asyncio.run(main_async(args))
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
