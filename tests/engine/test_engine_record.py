"""`okxscalp --record DIR`: the real engine against the simulator records what the feed delivers,
and the backtest's reader gives back exactly the tickers the simulator served (same ts, same book)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.backtest.data import Tick, read_market_data
from okxscalp.market.recorder import RecorderSettings, recording_files
from okxscalp.metrics.collector import EngineCollector
from okxscalp.okx.constants import WS_PUBLIC_PATH

SYMBOLS = ["XRP-USDT", "DOGE-USDT"]
INST_IDS = ["XRP-USDT-SWAP", "DOGE-USDT-SWAP"]


async def watch_tickers(ws_url: str, seen: set[tuple[int, str, float]], subscribed: asyncio.Event) -> None:
    """An independent subscriber: every ticker the simulator pushes, as (ts, instId, book mid): a
    recorded ticker replays as its book's mid (sim/REPLAY.md "Recordings")."""
    async with websockets.connect(ws_url + WS_PUBLIC_PATH, ping_interval=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": i} for i in INST_IDS]}))
        acks = 0
        while True:
            message = json.loads(await ws.recv())
            if message.get("event") == "subscribe":
                acks += 1
                if acks == len(INST_IDS):
                    subscribed.set()
            for row in message.get("data", ()):
                seen.add((int(row["ts"]), row["instId"], (float(row["bidPx"]) + float(row["askPx"])) / 2.0))


@pytest.mark.timeout(90)
async def test_a_recording_reads_back_as_the_tickers_the_simulator_served(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS)
    directory = tmp_path / "rec"
    served: set[tuple[int, str, float]] = set()
    async with sim_server(seed=11, speed=5) as server:
        subscribed = asyncio.Event()
        watcher = asyncio.create_task(watch_tickers(server.ws_url, served, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), 10)
            settings = RecorderSettings(directory, flush_interval_s=0.05)
            async with running_engine(config, server, auto_entries=False, record=settings) as engine:
                recorder = engine.recorder
                assert recorder is not None
                assert await wait_until(lambda: recorder.counters().records >= 300, 40)
            # the engine has stopped: the recorder wrote what the feed delivered and closed its file
            counters = recorder.counters()
            assert counters.dropped == 0 and counters.lost == 0 and counters.write_failures == 0
            assert counters.queued == 0 and counters.recording
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    files = recording_files(directory)
    assert files
    for path in files:
        gzip.decompress(path.read_bytes())  # complete files: the engine's shutdown closed them
    data = read_market_data(files)
    ticks = data.records
    assert ticks and all(isinstance(t, Tick) for t in ticks)
    assert {t.inst_id for t in ticks} == set(INST_IDS)
    recorded = {(t.ts_ms, t.inst_id, t.px) for t in ticks}
    assert len(recorded) == len(ticks)  # each push once
    assert recorded <= served  # every recorded price is one the simulator served, at its ts
    first, last = min(t.ts_ms for t in ticks), max(t.ts_ms for t in ticks)
    assert {s for s in served if first <= s[0] <= last} == recorded  # and none it served was left out

    channels = {orjson.loads(line)["ch"] for path in files for line in gzip.decompress(path.read_bytes()).splitlines()}
    assert {"tickers", "books5", "mark-price", "price-limit", "candle1m"} <= channels  # context kept, not replayed


async def test_recording_into_an_unwritable_directory_is_an_event_and_trading_goes_on(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=SYMBOLS[:1])
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the directory should be")
    settings = RecorderSettings(blocked / "rec", flush_interval_s=0.05, retry_s=0.2)
    async with sim_server(seed=5, speed=5) as server, \
            running_engine(config, server, auto_entries=False, record=settings) as engine:
        recorder = engine.recorder
        assert recorder is not None
        assert await wait_until(lambda: recorder.counters().write_failures >= 2, 20)
        assert await wait_until(lambda: any(e.detail.startswith("recording stopped") for e in _events(engine)), 10)
        assert await wait_until(lambda: not engine.halt_reasons(), 20)  # the recorder holds nothing up
        assert engine.ended is None
        metrics = {m.name: m for m in EngineCollector(engine).collect()}  # /metrics shows it too
        assert metrics["okxscalp_recorder_recording"].samples[0].value == 0.0
        assert metrics["okxscalp_recorder_write_failures"].samples[0].value >= 2


def _events(engine: Any) -> list[Any]:
    assert engine.bus is not None
    return list(engine.bus.recent())
