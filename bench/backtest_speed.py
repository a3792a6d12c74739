"""Simulated seconds per wall second of `okxscalp backtest` (issue 14 acceptance: >= 480x, want 1,440x).

    python3 bench/backtest_speed.py [--hours H] [--profile]

24 h (`--hours`) of 1-minute candles of the 5 shipped symbols (BTC, ETH, SOL, XRP, DOGE), served by
the simulator's GET /market/history-candles (sim/history.py: the same seed, the same bars) and
written in the replay format `okxscalp download` writes, go through `okxscalp backtest` with the
shipped config: the real engine and the simulator (speed 1, 0.1 s steps, live ticker pacing) on
the virtual clock. `--profile`: the run under pyinstrument (cProfile when it is not installed),
top lines printed. Last line: `RESULT {json}` (bench/run_all.py convention).

Measured 2026-11-30 (2 cores, load ~1): 24 h = 86,340 simulated s in 311.8 wall s, 277 simulated s
per wall s (target 480 not met). Profile of a 0.5 h run (pyinstrument, its overhead included): the
simulator's market steps and pushes ~24 % (SymbolMarket.step 13 %), the engine's WebSocket read
path ~19 % (on_tick/consider 7 %, parse 5 %, websockets recv 3 %), the clock's in-flight meter
~14 % (InFlightMeter.in_flight: getsockopt TCP_INFO on every registered socket whenever the loop
is idle, i.e. after every 0.1 s step), REST round trips ~10 % (the exchange clock's 1 s
/public/time samples 5 %, balance and pending-algo polls), feed watchdog tick 3.5 %, the
simulator's WS writer 3 %, halt watch 2 %.

After the meter reads only written sockets (clock.py, 2026-11-30, load 1.3-1.6, back to back with
the code before): 24 h in 264.4 wall s = 327 simulated s per wall s (before: 334.8 s = 258); the
meter is ~2 % of the profile. Target 480 still not met; see bench/backtest_speed_notes.md.

Second pass (2026-11-30: the simulator's drive rounds and pushes without task wake-ups, idle polls
skipped, cheaper watchdog ticks and market steps): 24 h in 248.3 wall s = 348 simulated s per wall s
(before, back to back: 254.7 s = 339; 1 h interleaved pairs: -8 % CPU). Target 480 not met.

Third pass (2026-11-30: the engine's WebSocket clients on aiohttp, cheaper periodic checks, tick path,
simulator step and pushes, REST): 24 h in 189-201 wall s = 429-457 simulated s per wall s (the start
code back to back: 261 s = 330). Target 480 not met; bench/backtest_speed_notes.md says what is left.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from okxscalp.cli import main as okxscalp_main
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.instruments import DEFAULT_INST_IDS

# The data's end (a 00:00 UTC): the simulator's history is built backwards from here.
END_WALL_S = 1_732_435_200.0
MINUTE_MS = 60_000
PAGE = 300  # history-candles' documented maximum limit (okx/constants.py HISTORY_CANDLES_MAX_LIMIT)
TARGET_SPEED = 480.0
WANTED_SPEED = 1440.0


def write_candles(path: Path, hours: float, seed: int = 7) -> int:
    """`hours` of closed 1m bars per shipped symbol, from the simulator's history-candles pages
    (newest first, `after` paging), as a replay CSV. Returns the bars written."""
    exchange = SimExchange(seed=seed, inst_ids=DEFAULT_INST_IDS, start_wall_s=END_WALL_S, history_minutes=60)
    end_ms = int(END_WALL_S * 1000)
    start_ms = end_ms - int(hours * 3600 * 1000)
    rows: list[tuple[int, str, list[str]]] = []
    for inst_id in DEFAULT_INST_IDS:
        history = exchange.histories[inst_id]
        after: int | None = end_ms
        while True:
            page = history.rows("1m", after, None, PAGE)
            kept = [r for r in page if r[8] == "1" and start_ms <= int(r[0]) < end_ms]
            rows.extend((int(r[0]), inst_id, r) for r in kept)
            if not page or int(page[-1][0]) <= start_ms:
                break
            after = int(page[-1][0])
    rows.sort(key=lambda item: (item[0], item[1]))
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts", "instId", "bar", "o", "h", "l", "c", "vol"])
        for ts, inst_id, r in rows:
            writer.writerow([ts, inst_id, "1m", r[1], r[2], r[3], r[4], r[5]])
    return len(rows)


def run_backtest_cli(data: Path, out: Path) -> tuple[float, float, str]:
    """(simulated s, wall s of the whole command, its output)."""
    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):
        code = okxscalp_main(["backtest", "--data", str(data), "--out", str(out)])
    wall = time.perf_counter() - started
    text = captured.getvalue()
    if code != 0:
        raise SystemExit(f"okxscalp backtest exited {code}:\n{text}")
    found = re.search(r"([\d,]+) simulated s in ([\d,.]+) wall s", text)
    if found is None:
        raise SystemExit(f"no speed line in the output:\n{text}")
    return float(found.group(1).replace(",", "")), wall, text


def profiled(data: Path, out: Path, lines: int) -> tuple[float, float, str, str]:
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        sim_s, wall, text = profiler.runcall(run_backtest_cli, data, out)
        stats = io.StringIO()
        pstats.Stats(profiler, stream=stats).sort_stats("cumulative").print_stats(lines)
        return sim_s, wall, text, stats.getvalue()
    profiler = Profiler(interval=0.001)
    profiler.start()
    sim_s, wall, text = run_backtest_cli(data, out)
    profiler.stop()
    return sim_s, wall, text, profiler.output_text(unicode=False, color=False, show_all=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--quick", action="store_true", help="1 h of data instead of --hours")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-lines", type=int, default=60)
    args = parser.parse_args()
    if args.quick:
        args.hours = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sim-1m-5-symbols.csv"
        made = time.perf_counter()
        bars = write_candles(data, args.hours)
        print(f"data: {bars} 1m bars of {len(DEFAULT_INST_IDS)} symbols over {args.hours:g} h "
              f"({time.perf_counter() - made:.1f} s to make)", file=sys.stderr)
        if args.profile:
            sim_s, wall, text, profile = profiled(data, Path(tmp) / "out", args.profile_lines)
            print(profile)
        else:
            sim_s, wall, text = run_backtest_cli(data, Path(tmp) / "out")
        print(text.splitlines()[0] if text else "", file=sys.stderr)
    speed = sim_s / wall
    print(f"{sim_s:,.0f} simulated s in {wall:,.1f} wall s (the whole command: data, run, report) = "
          f"{speed:,.0f} simulated s per wall s (target {TARGET_SPEED:,.0f}, want {WANTED_SPEED:,.0f})")
    print("RESULT " + json.dumps({"symbols": len(DEFAULT_INST_IDS), "hours": args.hours, "bars": bars,
                                  "sim_s": sim_s, "wall_s": round(wall, 2), "sim_s_per_wall_s": round(speed, 1),
                                  "profiled": args.profile}))


if __name__ == "__main__":
    main()
