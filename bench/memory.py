"""Engine RSS over an hour of simulated time with 20 symbols (SPEC 3.7: < 150 MB and flat).

    python3 bench/memory.py            # 60 min of simulated time at speed x10 (~6 min wall)
    python3 bench/memory.py --quick    # 10 min of simulated time (~1 min wall)

The engine runs headless as its own process (`python -m okxscalp --headless --sim-url ...`, the
shipped config with 20 symbols: the five shipped instruments and 15 synthetic ones the simulator
generates, each with XRP-USDT's profile), trading on its own against the simulator in this
process. RSS is read from /proc/PID/status (VmRSS) every few seconds. Start = the first sample
after the engine has started and run 20 s (imports, warm-up candles and the first subscriptions
are in); end = the last sample; growth = end - start. Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from okxscalp.okx.models import symbol_of
from okxscalp.sim.instruments import DEFAULT_INST_IDS
from okxscalp.sim.server import SimServer
from okxscalp.soak.engine_process import EngineProcess, write_config

SAMPLE_S = 5.0
SETTLE_S = 20.0


def inst_ids(count: int) -> list[str]:
    extra = [f"SYN{i:02d}-USDT-SWAP" for i in range(1, max(0, count - len(DEFAULT_INST_IDS)) + 1)]
    return [*DEFAULT_INST_IDS, *extra][:count]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


async def measure(sim_minutes: float, symbols: int, speed: float, workdir: Path) -> dict[str, float]:
    ids = inst_ids(symbols)
    server = SimServer(seed=7, speed=speed, inst_ids=ids)
    await server.start()
    config = write_config(workdir, symbols=[symbol_of(i) for i in ids], exit_percent=0.6, max_positions=5)
    engine = EngineProcess(workdir, config, workdir / "journal.sqlite", server.rest_url)
    samples: list[tuple[float, float, float]] = []  # (wall s since start, sim minutes, RSS MB)
    try:
        run = await engine.start()
        if not await engine.wait_ready(run, timeout_s=120):
            raise RuntimeError("engine did not start:\n" + run.log_text()[-2000:])
        t0 = time.monotonic()
        sim0 = server.exchange.now_ms
        while True:
            await asyncio.sleep(SAMPLE_S)
            rss = rss_mb(run.proc.pid)
            if rss is None or run.proc.returncode is not None:
                raise RuntimeError("engine exited during the run:\n" + run.log_text()[-2000:])
            sim_min = (server.exchange.now_ms - sim0) / 60_000
            samples.append((time.monotonic() - t0, sim_min, rss))
            print(f"  wall {samples[-1][0]:6.0f} s  sim {sim_min:6.1f} min  RSS {rss:6.1f} MB", flush=True)
            if sim_min >= sim_minutes:
                break
        code = await engine.stop()
        if code not in (0, None):
            print(f"engine exit code on SIGINT: {code}")
    finally:
        if engine.current is not None:
            await engine.stop(10)
        await server.stop()
    settled = [s for s in samples if s[0] >= SETTLE_S] or samples
    start, end = settled[0][2], samples[-1][2]
    log_text = run.log_text()
    return {
        "rss_start_mb": round(start, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_mb": round(end - start, 1),
        "rss_peak_mb": round(max(s[2] for s in samples), 1),
        "sim_minutes": round(samples[-1][1], 1),
        "wall_s": round(samples[-1][0], 1),
        "symbols": float(len(ids)),
        "entries": float(log_text.count("entry sent")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 minutes of simulated time")
    parser.add_argument("--sim-minutes", type=float, default=60.0)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--speed", type=float, default=10.0, help="simulator speed factor")
    args = parser.parse_args()
    sim_minutes = 10.0 if args.quick else args.sim_minutes
    with tempfile.TemporaryDirectory(prefix="okxscalp-memory-") as tmp:
        result = asyncio.run(measure(sim_minutes, args.symbols, args.speed, Path(tmp)))
    print(
        f"{int(result['symbols'])} symbols, {result['sim_minutes']} min of simulated time in {result['wall_s']} s: "
        f"RSS {result['rss_start_mb']} MB → {result['rss_end_mb']} MB (growth {result['rss_growth_mb']} MB, "
        f"peak {result['rss_peak_mb']} MB; targets: < 150 MB, flat); {int(result['entries'])} entries sent"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
