"""`okxscalp --record DIR`: the real engine against the simulator records the candles it warmed up
from (its GET /market/candles reply at start) and the candles it took in, as the simulator served
them, so a replay can serve them again (sim/recorded_market.py). Nothing mocked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from okxscalp.backtest.data import read_market_data
from okxscalp.engine.regime_tracker import WARMUP_CANDLES
from okxscalp.market.recorder import RecorderSettings, recording_files
from okxscalp.okx.constants import CANDLE_BARS

ENGINE_TESTS = str(Path(__file__).resolve().parents[1] / "engine")
if ENGINE_TESTS not in sys.path:
    sys.path.insert(0, ENGINE_TESTS)
from engine_helpers import make_config, running_engine, sim_server, wait_until  # noqa: E402

SYMBOLS = ["XRP-USDT", "DOGE-USDT"]
INST_IDS = ["XRP-USDT-SWAP", "DOGE-USDT-SWAP"]


@pytest.mark.timeout(90)
async def test_the_engines_recording_holds_its_warm_up_and_candles_as_served(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS)
    bar = config.scalping.regime.bar
    directory = tmp_path / "rec"
    async with sim_server(seed=11, speed=5) as server:
        settings = RecorderSettings(directory, flush_interval_s=0.05)
        async with running_engine(config, server, auto_entries=False, record=settings) as engine:
            recorder = engine.recorder
            assert recorder is not None
            # a bar closes every 12 s at speed 5: wait for the next one to close and be pushed
            bar_ms = CANDLE_BARS[bar] * 1000
            closes = server.exchange.now_ms - server.exchange.now_ms % bar_ms + bar_ms
            assert await wait_until(lambda: server.exchange.now_ms >= closes + 2_000, 40)
        served = {inst: {int(r[0]): r for r in server.exchange.candles_wire(inst, bar, limit=300)} for inst in INST_IDS}

    recorded = read_market_data(recording_files(directory)).recorded
    assert recorded is not None
    for inst in INST_IDS:
        series = recorded.series[(inst, bar)]
        assert series.warmup is not None and len(series.warmup) == WARMUP_CANDLES
        *closed, open_bar = series.warmup
        assert all(b.confirmed for b in closed) and not open_bar.confirmed
        for b in closed:  # a closed bar never changes: the simulator still serves it as recorded
            row = served[inst][b.ts_ms]
            assert (float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5])) == (
                b.o, b.h, b.low, b.c, b.vol)
        confirmed_pushes = [b for _, b in series.pushes if b.confirmed]
        assert confirmed_pushes, f"no confirmed {bar} candle of {inst} recorded"
        for b in confirmed_pushes:
            row = served[inst][b.ts_ms]
            assert row[8] == "1" and (float(row[4]), float(row[5])) == (b.c, b.vol)
