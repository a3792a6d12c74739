"""A backtest run: the real engine and the simulator on one virtual-time loop, over recorded data.

The simulator replays the data (its price process follows the recorded prices, sim/REPLAY.md;
book, trades and marks are built from them as live) at speed 1 with 0.1 s market steps, the
config's `exchange.sim` settings otherwise; the unchanged `Engine` trades it over a Unix socket
(okx/transport.py), with the same client and server code as against the live simulator. Both run
on one `VirtualTimeEventLoop` (clock.py, DESIGN.md): time jumps to the next timer when nothing is
runnable, so every freshness budget, timeout and cooldown runs in simulated time and a day of data
takes minutes of wall time, not a day.

A recording of a live run (`okxscalp --record`) is replayed as the market the engine saw: the
candles it warmed up from and took in, and the trades its tickers show (sim/recorded_market.py). A
recording made before warm-ups were recorded replays with the simulator's made-up history and
candles, and the run says so (`BacktestRun.notes`, logged and printed).

A recorded gap (an instrument without prices for longer than its data's usual spacing allows,
`gap_threshold_ms`) is replayed as what it was: the exchange pushes nothing for that instrument
until the recording resumes (the simulator's stall fault on every public channel of the instrument,
sim/faults.py), so the engine sees what it sees live when a feed falls silent: lagging channels,
entries closed, reads that find no fresh price refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from okxscalp.backtest.clock import VirtualTimeEventLoop, run_virtual
from okxscalp.backtest.data import Bar, MarketData, MarketRecord
from okxscalp.config.schema import AppConfig
from okxscalp.engine.orchestrator import Engine
from okxscalp.market.recorder import RecorderSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.models import inst_id_of
from okxscalp.sim.recorded_market import RecordedMarket, attach_recording
from okxscalp.sim.replay import RecordedGap, ReplayCandle, ReplayData, ReplayRecord, ReplayTick, replay_data
from okxscalp.sim.server import SimServer, market_dynamics
from okxscalp.sim.ws_channels import SIM_CANDLE_CHANNELS, SIM_PUBLIC_CHANNELS

log = logging.getLogger(__name__)

# The simulator's live market settings (DESIGN.md "Simulator"): 0.1 s steps at speed 1, so the
# ticker pacing and every freshness budget behave as live.
TICK_INTERVAL_S = 0.1
SPEED = 1.0
# How often (simulated seconds) the run reports its progress.
PROGRESS_EVERY_S = 60.0
# A gap: no recorded price for longer than this many times the instrument's median spacing, and
# never less than MIN_GAP_MS (recorded ticks a few seconds apart in a quiet market are not a gap;
# a candle's four prices are 15 s apart, so only a missing bar is one).
GAP_SPACINGS = 1.5
MIN_GAP_MS = 5_000

# What a recorded gap silences: every public channel keyed by the instrument.
MARKET_DATA_CHANNELS = tuple(sorted(SIM_PUBLIC_CHANNELS | SIM_CANDLE_CHANNELS))

Progress = Callable[[float, float], None]  # (simulated seconds done, simulated seconds in all)


class BacktestError(RuntimeError):
    """The backtest cannot run (no instrument of the config in the data, the engine failed)."""


@dataclass(frozen=True)
class BacktestRun:
    """What one run did: where its journal is, how long it simulated, and how fast."""

    journal_path: Path
    config: AppConfig  # the config the engine ran (symbols narrowed to those in the data)
    replay: ReplayData
    gaps: tuple[RecordedGap, ...]
    start_s: float  # epoch seconds: the data's first instant
    end_s: float  # the data's end (a bar's close)
    wall_s: float  # wall seconds the run took
    engine_ended: str
    notes: tuple[str, ...] = ()  # what the replay could not give as recorded (said before the report)

    @property
    def sim_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return self.sim_s / self.wall_s if self.wall_s > 0 else float("inf")


def replay_of(data: MarketData) -> ReplayData:
    """The simulator's price paths of the backtest's records (sim/replay.py builds them: one way)."""
    return replay_data((_replay_record(r) for r in data.records), source="the backtest's data")


def _replay_record(record: MarketRecord) -> ReplayRecord:
    if isinstance(record, Bar):
        return ReplayCandle(record.ts_ms, record.inst_id, record.bar, record.o, record.h, record.low, record.c, record.vol)
    return ReplayTick(record.ts_ms, record.inst_id, record.px, record.sz, record.side)


def data_end_ms(data: MarketData) -> int:
    """Where the data ends: the last tick, or the close of the last bar."""
    return max(r.end_ms if isinstance(r, Bar) else r.ts_ms for r in data.records)


def gap_threshold_ms(series: Sequence[tuple[int, float]]) -> int:
    """The longest stretch without a price that is still this instrument's normal pace."""
    spacings = [b - a for (a, _), (b, _) in itertools.pairwise(series) if b > a]
    if not spacings:
        return MIN_GAP_MS
    return max(MIN_GAP_MS, int(statistics.median(spacings) * GAP_SPACINGS))


def recorded_gaps(replay: ReplayData) -> list[RecordedGap]:
    """Every recorded gap, by start time (see the module docstring)."""
    limits = {inst: gap_threshold_ms(series) for inst, series in replay.points.items()}
    return [g for g in replay.gaps(min(limits.values())) if g.end_ms - g.start_ms > limits[g.inst_id]]


def backtest_config(config: AppConfig, data_inst_ids: Sequence[str]) -> AppConfig:
    """The config with its symbols narrowed to those the data has (others would trade the
    simulator's made-up market); an error when none is left."""
    present = set(data_inst_ids)
    symbols = tuple(s for s in config.symbols if inst_id_of(s) in present)
    if not symbols:
        raise BacktestError(f"none of the config's symbols ({', '.join(config.symbols)}) is in the data "
                            f"({', '.join(sorted(present))})")
    return dataclasses.replace(config, symbols=symbols)


def run_backtest(
    config: AppConfig,
    data: MarketData,
    journal_path: str | Path,
    *,
    seed: int | None = None,
    progress: Progress | None = None,
    record: RecorderSettings | None = None,
) -> BacktestRun:
    """Replay `data` through the engine with `config`; the journal is written at `journal_path`
    (which must not exist yet: a journal holds one run). Returns once the data ended and both
    the engine and the simulator stopped. `record`: the engine records the market data it takes
    in, as `okxscalp --record DIR` does live (market/recorder.py)."""
    journal = Path(journal_path)
    if journal.exists():
        raise BacktestError(f"{journal} exists: a backtest writes a new journal")
    if not data.records:
        raise BacktestError("the data holds no records (check --from/--to)")
    cfg = backtest_config(config, data.inst_ids)
    replay = replay_of(data)
    gaps = tuple(recorded_gaps(replay))
    start_s = replay.first_ts_ms / 1000.0
    end_s = data_end_ms(data) / 1000.0
    run_seed = cfg.exchange.sim.seed if seed is None else seed
    notes = tuple(replay_notes(data.recorded, sorted(replay.inst_ids), cfg.scalping.regime.bar))
    for note in notes:
        log.warning("backtest: %s", note)
    started = time.perf_counter()
    ended = run_virtual(lambda: _run(cfg, replay, data.recorded, gaps, journal, run_seed, end_s, progress, record),
                        start_s)
    return BacktestRun(journal, cfg, replay, gaps, start_s, end_s, time.perf_counter() - started, ended, notes)


def replay_notes(recorded: RecordedMarket | None, inst_ids: Sequence[str], bar: str) -> list[str]:
    """What a recording's replay makes up instead of serving it as recorded: the warm-up of an
    instrument whose recording holds none (made before warm-ups were recorded, or the engine's
    warm-up request failed), and so its candles too. Nothing for data that is not a recording."""
    if recorded is None:
        return []
    missing = [inst_id for inst_id in inst_ids if not recorded.has_warmup(inst_id, bar)]
    if not missing:
        return []
    return [f"the recording holds no {bar} warm-up candles for {', '.join(missing)}: the simulator makes up "
            f"the history before the start and the candles from its own trades, so bands, ATR and RSI "
            f"(and decisions) can differ a little from the recorded run's"]


async def _run(cfg: AppConfig, replay: ReplayData, recorded: RecordedMarket | None, gaps: Sequence[RecordedGap],
               journal: Path, seed: int, end_s: float, progress: Progress | None,
               record: RecorderSettings | None) -> str:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeEventLoop)
    clock = loop.clock
    sim = cfg.exchange.sim
    start_s = clock.wall_s()
    # The engine reaches the simulator over a Unix socket (okx/transport.py): nothing in flight
    # between two calls for the virtual clock to wait on, and cheaper local I/O.
    with tempfile.TemporaryDirectory(prefix="okxscalp-backtest-") as socket_dir:
        server = SimServer(
            host="127.0.0.1", port=0, seed=seed, speed=SPEED, inst_ids=sorted(replay.inst_ids),
            initial_equity=sim.initial_equity_usdt, replay=replay, tick_interval_s=TICK_INTERVAL_S,
            drive_interval_s=TICK_INTERVAL_S, dynamics=market_dynamics(sim), clock=clock,
            credentials=Credentials(sim.api_key, sim.api_secret, sim.passphrase),
            unix_socket=f"{socket_dir}/okx-sim.sock",
        )
        if recorded is not None:  # the recorded market the engine saw: candles, warm-up, trades
            attach_recording(server.exchange, recorded, replay.first_ts_ms)
        return await _run_against(server, cfg, gaps, journal, seed, start_s, end_s, progress, record)


async def _run_against(server: SimServer, cfg: AppConfig, gaps: Sequence[RecordedGap], journal: Path, seed: int,
                       start_s: float, end_s: float, progress: Progress | None, record: RecorderSettings | None) -> str:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeEventLoop)
    clock = loop.clock
    await server.start()
    try:
        for gap in gaps:  # from the last price before the gap, the instrument's market data fall silent
            loop.call_at(loop.time() + (gap.start_ms / 1000.0 - start_s), _silence, server, gap)
        engine = Engine.for_sim(cfg, server, journal_path=str(journal), clock=clock, seed=seed, record=record)
        task = asyncio.create_task(engine.run(), name="backtest-engine")
        end_mono = loop.time() + (end_s - start_s)
        while loop.time() < end_mono and not task.done():
            await asyncio.wait({task}, timeout=min(PROGRESS_EVERY_S, end_mono - loop.time()))
            if progress is not None:
                progress(min(clock.wall_s(), end_s) - start_s, end_s - start_s)
        if task.done():  # the engine stopped before the data ended: that is a failed run
            error = task.exception()
            raise BacktestError(f"the engine stopped at {clock.wall_s() - start_s:.1f} s of "
                                f"{end_s - start_s:.1f}: {engine.ended or error!r}") from error
        task.cancel()
        [result] = await asyncio.gather(task, return_exceptions=True)
        if isinstance(result, Exception):
            raise BacktestError(f"the engine failed while stopping: {result!r}") from result
        return engine.ended or "stopped"
    finally:
        await server.stop()


def _silence(server: SimServer, gap: RecordedGap) -> None:
    """No public market data for the gap's instrument until the recording resumes; its private
    pushes (orders, positions) go on, as they would on OKX while a market-data feed is silent."""
    for channel in MARKET_DATA_CHANNELS:
        server.faults.stall(gap.seconds, channel, gap.inst_id)
