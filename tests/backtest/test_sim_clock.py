"""The simulator on an injected clock (SimServer(clock=...)) and replays from records in memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from okxscalp.backtest.clock import VirtualTimeEventLoop, run_virtual
from okxscalp.sim.replay import RecordedGap, ReplayTick, load_replay, read_replay_records, replay_data
from okxscalp.sim.server import SimServer

START_WALL_S = 1_732_435_200.0
XRP = "XRP-USDT-SWAP"


def _ticks_file(tmp_path: Path) -> Path:
    lines = [orjson.dumps({"ts": int(START_WALL_S * 1000) + i * 500, "instId": XRP, "px": f"{2.0 + i * 0.001:.4f}"})
             for i in range(40)]
    lines.append(orjson.dumps({"ts": int(START_WALL_S * 1000) + 39 * 500 + 10_000, "instId": XRP, "px": "2.1"}))
    path = tmp_path / "xrp.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_records_in_memory_replay_as_the_file_does(tmp_path: Path) -> None:
    path = _ticks_file(tmp_path)
    from_file = load_replay(path)
    in_memory = replay_data(read_replay_records(path))
    assert in_memory.points == from_file.points and in_memory.first_ts_ms == from_file.first_ts_ms
    assert in_memory.last_ts_ms == int(START_WALL_S * 1000) + 39 * 500 + 10_000


def test_a_stretch_without_prices_is_a_recorded_gap(tmp_path: Path) -> None:
    data = load_replay(_ticks_file(tmp_path))
    start = int(START_WALL_S * 1000) + 39 * 500
    assert data.gaps(5_000) == [RecordedGap(XRP, start, start + 10_000)]
    assert data.gaps(10_000) == []
    assert data.gaps(5_000)[0].seconds == 10.0


def test_replay_and_a_path_are_one_or_the_other(tmp_path: Path) -> None:
    path = _ticks_file(tmp_path)
    with pytest.raises(ValueError):
        SimServer(replay_path=str(path), replay=load_replay(path), inst_ids=[XRP])


def _pushes(data_path: Path, seconds: float) -> tuple[list[tuple[int, str, int]], float]:
    """Tickers pushed by a replaying SimServer on the virtual loop: (ts, last, virtual wall ms at
    receipt), and the exchange's start wall."""

    async def main() -> tuple[list[tuple[int, str, int]], float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeEventLoop)
        server = SimServer(host="127.0.0.1", port=0, seed=3, inst_ids=[XRP], clock=loop.clock,
                           replay=replay_data([ReplayTick(ts, inst, px) for ts, inst, px in _points(data_path)]))
        got: list[tuple[int, str, int]] = []
        await server.start()
        try:
            async with connect(f"{server.ws_url}/ws/v5/public") as client:
                await client.send(orjson.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": XRP}]}).decode())
                end = loop.time() + seconds
                while loop.time() < end:
                    frame = orjson.loads(await client.recv())
                    got.extend((int(d["ts"]), d["last"], round(loop.wall_s() * 1000)) for d in frame.get("data", []))
        finally:
            await server.stop()
        return got, server.exchange.start_wall_s

    return run_virtual(main, START_WALL_S)


def _points(path: Path) -> list[tuple[int, str, float]]:
    return [(r.ts_ms, r.inst_id, r.px) for r in read_replay_records(path) if isinstance(r, ReplayTick)]


def test_the_simulator_reads_the_injected_clock_and_drives_on_step_deadlines(tmp_path: Path) -> None:
    pushes, start_wall = _pushes(_ticks_file(tmp_path), 15.0)
    assert start_wall == START_WALL_S  # the exchange starts at the clock's wall, not the OS's
    assert pushes and abs(float(pushes[0][1]) - 2.0) < 0.01  # around the recorded price (trades are synthetic)
    # Every push leaves at the step it reports: the driver wakes on each step's deadline, and a
    # float wall a few tenths of a microsecond short of it still counts as at the step
    # (exchange.WALL_TOLERANCE_MS; without it this fails: the push reports the step before).
    assert all(abs(received - ts) <= 1 for ts, _, received in pushes)
    assert {ts % 100 for ts, _, _ in pushes} == {0}
    assert _pushes(_ticks_file(tmp_path), 15.0)[0] == pushes  # deterministic
