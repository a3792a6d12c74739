"""The price process: regime stretches that a 1m-candle detector can tell apart, and replay."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from collections.abc import Callable
from decimal import Decimal

import pytest

from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.price_process import PriceProcess
from okxscalp.sim.replay import ReplayFormatError, load_replay

pytestmark = pytest.mark.timeout(60)
START_MS = 1_732_435_200_000
BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


def quiet(**kw) -> SimExchange:
    kw.setdefault("inst_ids", [BTC])
    kw.setdefault("history_minutes", 0)
    ex = SimExchange(seed=kw.pop("seed", 7), start_wall_s=0.0, start_sim_ms=kw.pop("start_sim_ms", START_MS),
                     tick_interval_s=kw.pop("tick_interval_s", 0.5), **kw)
    ex.set_channel_interest("tickers", BTC, False)
    return ex


def stretch_stats(regime: str, seed: int) -> tuple[float, float, float]:
    """(efficiency ratio, stdev of 1m log returns, mean 1m high-low range) over 24 minutes."""
    ex = quiet(seed=seed)
    ex.force_regime(BTC, regime, 1800)
    ex.advance_sim_seconds(1500)
    assert ex.regime_of(BTC) == regime
    rows = ex.candles_wire(BTC, "1m", limit=24)[1:][::-1]  # closed bars, oldest first
    closes = [float(r[4]) for r in rows]
    rets = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    efficiency = abs(math.log(closes[-1] / closes[0])) / sum(abs(r) for r in rets)
    ranges = statistics.mean((float(r[2]) - float(r[3])) / float(r[4]) for r in rows)
    return efficiency, statistics.pstdev(rets), ranges


@pytest.mark.parametrize("seed", [1, 2])
def test_regime_stretches_measurably_differ(seed):
    trend = stretch_stats("trending", seed)
    chop = stretch_stats("choppy", seed)
    rang = stretch_stats("ranging", seed)
    # trending: goes somewhere; choppy and ranging: go nowhere
    assert trend[0] > 0.5 and chop[0] < 0.3 and rang[0] < 0.3
    # choppy: the widest candles and biggest swings; ranging: the quietest
    assert chop[1] > 2 * trend[1] and chop[1] > 3 * rang[1]
    assert chop[2] > trend[2] > rang[2]


def test_trend_direction_can_be_forced():
    for direction in (1, -1):
        ex = quiet()
        start = float(ex.ticker_wire(BTC)["last"])
        ex.force_regime(BTC, "trending", 1200, direction=direction)
        ex.advance_sim_seconds(900)
        assert (float(ex.ticker_wire(BTC)["last"]) - start) * direction > 0


def test_regimes_switch_on_their_own():
    ex = quiet(tick_interval_s=2.0)
    seen = []
    for _ in range(6 * 60):
        ex.advance_sim_seconds(20)
        if not seen or seen[-1] != ex.regime_of(BTC):
            seen.append(ex.regime_of(BTC))
    assert len(seen) >= 4 and set(seen) == {"trending", "choppy", "ranging"}


def test_force_regime_rejects_unknown_regime():
    ex = quiet()
    with pytest.raises(Exception) as err:
        ex.force_regime(BTC, "sideways", 60)
    assert getattr(err.value, "code", "") == "51000"


def test_speed_maps_wall_time_to_sim_time():
    ex = SimExchange(seed=1, speed=10.0, start_wall_s=100.0, start_sim_ms=START_MS, inst_ids=[BTC],
                     history_minutes=0)
    assert ex.sim_now_ms(103.0) == START_MS + 30_000
    ex.advance(103.0)
    assert ex.now_ms == START_MS + 30_000
    ex.advance(102.0)  # wall time going backwards changes nothing
    assert ex.now_ms == START_MS + 30_000


def test_replay_ticks_from_csv(tmp_path):
    path = tmp_path / "ticks.csv"
    lines = ["ts,instId,px"] + [f"{START_MS + i * 1000},{BTC},{90000 + i * 10}.0" for i in range(30)]
    path.write_text("\n".join(lines) + "\n")
    ex = SimExchange(seed=1, start_wall_s=0.0, inst_ids=[BTC, ETH], replay_path=str(path), history_minutes=0)
    assert ex.start_sim_ms == START_MS  # sim time starts at the recording
    ex.advance(10.05)
    ticker = ex.ticker_wire(BTC)
    mid = (Decimal(ticker["bidPx"]) + Decimal(ticker["askPx"])) / 2
    assert abs(mid - Decimal("90100")) <= Decimal("0.1")
    ex.advance(29.05)
    mid = (Decimal(ex.ticker_wire(BTC)["bidPx"]) + Decimal(ex.ticker_wire(BTC)["askPx"])) / 2
    assert abs(mid - Decimal("90290")) <= Decimal("0.1")
    ex.advance(90.0)  # the recording is over: the random process carries on from there
    assert abs(float(ex.ticker_wire(BTC)["last"]) - 90290) < 2000


def test_replay_candles_from_jsonl_shape_the_candles(tmp_path):
    path = tmp_path / "bars.jsonl"
    bars = [(3400, 3410, 3395, 3405), (3405, 3406, 3380, 3382), (3382, 3390, 3381, 3389)]
    path.write_text("# recorded 1m bars\n" + "\n".join(
        json.dumps({"ts": START_MS + i * 60_000, "instId": ETH, "bar": "1m", "o": o, "h": h, "l": lo, "c": c})
        for i, (o, h, lo, c) in enumerate(bars)) + "\n")
    ex = SimExchange(seed=1, start_wall_s=0.0, inst_ids=[BTC, ETH], replay_path=str(path), history_minutes=0,
                     tick_interval_s=0.5)
    ex.advance(170.0)
    rows = ex.candles_wire(ETH, "1m", limit=3)[::-1]
    for row, (_, h, lo, c) in zip(rows[:2], bars[:2], strict=True):
        assert abs(float(row[2]) - h) < 1.0 and abs(float(row[3]) - lo) < 1.0 and abs(float(row[4]) - c) < 1.0


def test_replay_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"ts": START_MS, "instId": BTC, "px": 1}) + "\n{not json}\n")
    with pytest.raises(ReplayFormatError, match=r"bad.jsonl:2"):
        load_replay(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("ts,instId,o,h,l,c\n1,BTC-USDT-SWAP,10,9,8,7\n")
    with pytest.raises(ReplayFormatError, match=r"wrong.csv:2"):
        load_replay(wrong)
    with pytest.raises(ReplayFormatError, match="not found"):
        load_replay(tmp_path / "missing.csv")


def test_a_long_host_sleep_jumps_the_clock_with_flat_candles():
    ex = quiet(tick_interval_s=1.0)
    ex.advance(30.0)
    ex.advance(3 * 3600.0)  # the host slept three hours
    assert ex.now_ms == START_MS + 3 * 3600 * 1000 and ex.skipped_steps > 0
    rows = ex.candles_wire(BTC, "1m", limit=200)
    stamps = [int(r[0]) for r in rows]
    assert all(a - b == 60_000 for a, b in itertools.pairwise(stamps))


def test_a_replayed_price_sets_the_log_price_once_per_change_as_every_step_would() -> None:
    """PriceProcess.step takes log(px) only when the replayed price changes: through held
    prices, a gap (jump_to) mid-replay, the random process after the end and a second follow,
    the state reads exactly as if every step had set it."""
    held = [100.0] * 5 + [100.5] * 3 + [100.0] * 4

    def replay_of(prices: list[float]) -> Callable[[float], float | None]:
        return lambda elapsed_s: prices[round(elapsed_s / 0.1) - 1] if elapsed_s < len(prices) * 0.1 + 1e-6 else None

    proc = PriceProcess(random.Random(3), 100.0, 0.001, 0.1)
    proc.follow(replay_of(held))
    for n in range(len(held)):
        if n == 6:
            proc.jump_to(98.0)  # a gap: the next replayed price (100.5 again) must set _x anew
        assert proc.step() == held[n]
        assert (proc._x, proc._swing) == (math.log(held[n]), 0.0)
    for _ in range(20):  # past the end: the random process runs from the last replayed price
        proc.step()
    proc._steps = 0
    proc.follow(replay_of([100.0, 100.0]))  # 100.0 was the last replayed price of the first replay
    assert proc.step() == 100.0 and proc._x == math.log(100.0) and proc._swing == 0.0
