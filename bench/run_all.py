"""Run every benchmark and write bench/README.md: each figure against its SPEC §3.7 target.

    python3 bench/run_all.py            # full runs (several minutes)
    python3 bench/run_all.py --quick    # each bench with --quick, for a fast look

Each bench script prints human-readable lines and, last, `RESULT {json}` with its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    key: str  # figure key in the RESULT json
    label: str
    op: str  # ">=" or "<"
    value: float

    def met(self, figure: float) -> bool:
        return figure >= self.value if self.op == ">=" else figure < self.value


# script -> what it measures, and the SPEC §3.7 targets its figures are held against.
BENCHES: dict[str, tuple[str, tuple[Target, ...]]] = {
    "sim_core_step.py": ("simulator market step cost, one core (no target: informs sim_throughput)", ()),
    "sim_throughput.py": (
        "simulator → one subscriber, tickers for 5 symbols",
        (Target("msgs_per_s", "msgs/s pushed", ">=", 20_000),),
    ),
    "ingest.py": (
        "WebSocket ticker ingest into the registry, one core",
        (
            Target("msgs_per_s", "ticker msgs/s into the registry", ">=", 50_000),
            Target("p99_ms", "p99 receive → registry updated (ms)", "<", 1.0),
        ),
    ),
    "reconnect.py": (
        "dropped connection → next fresh tick",
        (
            Target("median_s", "median (s)", "<", 1.0),
            Target("p99_s", "p99 (s)", "<", 3.0),
        ),
    ),
    "tick_to_order.py": (
        "signal-triggering tick → order on the socket, in-process; WS and REST in interleaved rounds",
        (
            Target("p50_ms", "WS p50 (ms) (issue 13)", "<", 0.4),
            Target("p99_ms", "WS p99 (ms) (issue 13)", "<", 1.0),
            Target("rest_p99_ms", "REST p99 (ms)", "<", 5.0),
        ),
    ),
    "backtest_speed.py": (
        "okxscalp backtest: 24 h of 5 symbols' 1m candles on the virtual clock (issue 14)",
        (Target("sim_s_per_wall_s", "simulated s per wall s", ">=", 480.0),),
    ),
    "virtual_clock.py": ("the virtual-time event loop alone (no target: informs backtest_speed)", ()),
    "recorder_cost.py": (
        "--record: cost on the feed path per recorded push",
        (Target("push_ns", "ns per recorded push", "<", 1000.0),),
    ),
    "ws_trade_rtt.py": ("WebSocket trade op frame → reply over loopback (no target: informs tick_to_order)", ()),
    "console_load.py": (
        "event-loop lag, 20 symbols × 100 msgs/s, console running",
        (Target("console_lag_p99_ms", "p99 lag with console (ms)", "<", 10.0),),
    ),
    "memory.py": (
        "RSS over an hour of simulated time, 20 symbols",
        (
            Target("rss_end_mb", "RSS at the end (MB)", "<", 150.0),
            Target("rss_growth_mb", "RSS growth over the run (MB)", "<", 15.0),
        ),
    ),
}


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def run_bench(script: str, quick: bool) -> tuple[dict[str, float] | None, str, float]:
    cmd = [sys.executable, str(BENCH_DIR / script)] + (["--quick"] if quick else [])
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.monotonic() - started
    figures = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            figures = json.loads(line[len("RESULT ") :])
            break
    log = proc.stdout[-3000:] + (f"\n[stderr]\n{proc.stderr[-2000:]}" if proc.returncode else "")
    return figures, log, elapsed


# Notes kept with a bench's figures (rendered below "All figures"): how a figure was reached and
# what bounds it. Edit the notes file, not bench/README.md.
NOTES: dict[str, str] = {
    "tick_to_order.py": (BENCH_DIR / "tick_to_order_notes.md").read_text()
    if (BENCH_DIR / "tick_to_order_notes.md").exists() else "",
    "backtest_speed.py": (BENCH_DIR / "backtest_speed_notes.md").read_text()
    if (BENCH_DIR / "backtest_speed_notes.md").exists() else "",
}


def render(results: dict[str, tuple[dict[str, float] | None, str, float]], quick: bool) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Written by `python3 bench/run_all.py` (do not edit by hand; notes go in the script's docstring",
        "or below the table in your commit message). Targets are SPEC §3.7.",
        "",
        f"- Run: {stamp}{' (--quick)' if quick else ''}",
        f"- Machine: {machine_description()}",
        "",
        "| bench | what | figure | measured | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for script, (what, targets) in BENCHES.items():
        if script not in results:
            continue
        figures, _log, _elapsed = results[script]
        for target in targets:
            if figures is None or target.key not in figures:
                lines.append(f"| `{script}` | {what} | {target.label} | no result | {target.op} {target.value:g} | ✗ |")
                continue
            value = figures[target.key]
            mark = "✓" if target.met(value) else "✗"
            lines.append(
                f"| `{script}` | {what} | {target.label} | {value:,.3f} | {target.op} {target.value:g} | {mark} |"
            )
    lines += ["", "## All figures", ""]
    for script, (figures, _log, elapsed) in results.items():
        lines.append(f"- `{script}` ({elapsed:.0f} s): `{json.dumps(figures)}`")
    for script, note in NOTES.items():
        if script in results and note.strip():
            lines += ["", f"## {script.removesuffix('.py')}", "", note.strip()]
    lines += ["", "## Run each alone", ""]
    lines += [f"- `python3 bench/{script}` (add `--quick` for a short run)" for script in BENCHES]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to each bench")
    parser.add_argument("--only", nargs="*", help="run only these scripts (names in bench/)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/README.md")
    args = parser.parse_args()
    results: dict[str, tuple[dict[str, float] | None, str, float]] = {}
    for script in BENCHES:
        if args.only and script not in args.only:
            continue
        if not (BENCH_DIR / script).exists():
            print(f"-- {script}: missing, skipped")
            continue
        print(f"-- {script} ...", flush=True)
        figures, log, elapsed = run_bench(script, args.quick)
        results[script] = (figures, log, elapsed)
        print(f"   {figures} ({elapsed:.0f} s)")
        if figures is None:
            print(log)
    report = render(results, args.quick)
    if args.no_write:
        print(report)
    else:
        (BENCH_DIR / "README.md").write_text(report)
        print(f"wrote {BENCH_DIR / 'README.md'}")
    failed = [s for s, (figures, _l, _e) in results.items() if figures is None]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
