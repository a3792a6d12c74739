"""A recording replays as the market the engine saw (sim/recorded_market.py, REPLAY.md "Recordings"):
its warm-up candles answer GET /market/candles, its candle pushes go out between the same tickers
as live instead of the simulator's own, and the trades its tickers show are the simulator's trades."""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from okxscalp.backtest.data import DataFormatError, read_market_data
from okxscalp.backtest.journal_read import read_journal
from okxscalp.backtest.runner import backtest_config, replay_notes, replay_of, run_backtest
from okxscalp.cli import main
from okxscalp.config import default_config_path, load_config
from okxscalp.market.recorder import MarketRecorder, RecorderSettings, recording_files
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import Candle, Ticker
from okxscalp.sim.events import SimEvent
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.recorded_market import RecordedMarket, RecordingReader, TradeTape, attach_recording

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"
T0 = 1_796_022_839_706  # a market step of the recorded run (100 ms steps from here)
MINUTE = 60_000
BAR0 = T0 - T0 % MINUTE  # the open 1m bar at T0


def ticker(ts: int, last: float, bid: float, ask: float, inst: str = XRP) -> dict[str, Any]:
    return {"ts": ts, "instId": inst, "px": last, "bid": bid, "ask": ask, "bidSz": 10.0, "askSz": 10.0,
            "ch": "tickers", "recv": ts + 80.5}


def candle(ts: int, c: float, *, confirm: str, ch: str = "candle1m", vol: float = 5.0) -> dict[str, Any]:
    return {"ts": ts, "instId": XRP, "ch": ch, "bar": "1m", "o": 2.2, "h": max(2.2, c), "l": min(2.19, c),
            "c": c, "vol": vol, "confirm": confirm, "recv": 0.0}


def warmup(bars: int = 5) -> list[dict[str, Any]]:
    """A warm-up reply as the recorder writes it: closed bars, then the open one."""
    rows = [candle(BAR0 - (bars - i) * MINUTE, 2.2 + i * 0.001, confirm="1", ch="warmup") for i in range(bars)]
    return [*rows, candle(BAR0, 2.2, confirm="0", ch="warmup")]


def write_recording(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n"))
    return path


def read(records: list[dict[str, Any]]) -> RecordedMarket:
    reader = RecordingReader()
    for n, rec in enumerate(records, start=1):
        reader.add(Path("rec.jsonl.gz"), n, rec)
    recorded = reader.result()
    assert recorded is not None
    return recorded


# ---------------------------------------------------------------------------- the trade tape
def test_a_ticker_shows_a_trade_when_its_last_moved_or_nothing_else_did() -> None:
    recorded = read([
        ticker(T0, 2.1983, 2.1982, 2.1983),  # the first: a trade at its last
        ticker(T0 + 100, 2.1983, 2.1990, 2.1991),  # the book moved, last did not: no trade shown
        ticker(T0 + 200, 2.1990, 2.1990, 2.1991),  # last moved: a trade
        ticker(T0 + 200, 2.1991, 2.1990, 2.1991),  # same instant: our own fill, printed between steps
        ticker(T0 + 300, 2.1991, 2.1990, 2.1991),  # nothing moved, yet pushed: a trade at the same price
    ])
    assert recorded.trades[XRP] == [(T0, 2.1983), (T0 + 200, 2.1990), (T0 + 300, 2.1991)]


def test_recorded_trade_pushes_are_the_tape_when_the_recording_has_them() -> None:
    recorded = read([
        ticker(T0, 2.1983, 2.1982, 2.1983),
        {"ts": T0 + 50, "instId": XRP, "px": 2.1982, "sz": 3.0, "side": "sell", "ch": "trades", "recv": 0.0},
        ticker(T0 + 100, 2.1982, 2.1982, 2.1983),
    ])
    assert recorded.trades[XRP] == [(T0 + 50, 2.1982)]


def test_the_tape_gives_the_last_trade_since_the_previous_step() -> None:
    tape = TradeTape([(T0, 1.0), (T0 + 30, 2.0), (T0 + 100, 3.0), (T0 + 350, 4.0)])
    assert tape(T0 - 100) is None
    assert tape(T0) == 1.0
    assert tape(T0 + 100) == 3.0  # two in the step: the price it ended on
    assert tape(T0 + 200) is None
    assert tape(T0 + 300) is None
    assert tape(T0 + 400) == 4.0
    assert tape(T0 + 500) is None


# ---------------------------------------------------------------------------- candles
def test_a_candle_push_goes_out_at_the_step_of_the_last_ticker_recorded_before_it() -> None:
    recorded = read([
        *warmup(),
        candle(BAR0, 2.2, confirm="0"),  # before any ticker: at the replay's first step
        ticker(T0, 2.1983, 2.1982, 2.1983),
        ticker(T0 + 100, 2.1990, 2.1990, 2.1991, inst=DOGE),  # any instrument's ticker moves the clock
        candle(BAR0, 2.199, confirm="0"),
        ticker(T0 + 200, 2.1990, 2.1990, 2.1991),
    ])
    series = recorded.series[(XRP, "1m")]
    assert series.warmup is not None and len(series.warmup) == 6
    assert [(at, bar.c) for at, bar in series.pushes] == [(0, 2.2), (T0 + 100, 2.199)]
    assert recorded.has_warmup(XRP, "1m") and not recorded.has_warmup(DOGE, "1m")


def test_a_later_warm_up_is_a_restart_not_the_start() -> None:
    restart = [dict(r, c=2.5, h=2.5) for r in warmup(2)]
    recorded = read([*warmup(3), ticker(T0, 2.1983, 2.1982, 2.1983), candle(BAR0, 2.2, confirm="0"), *restart])
    series = recorded.series[(XRP, "1m")]
    assert series.warmup is not None and [b.c for b in series.warmup][-1] == 2.2 and len(series.warmup) == 4


def test_a_bad_candle_record_names_its_file_and_line(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "rec-20261130-000000.jsonl.gz",
                           [ticker(T0, 2.1983, 2.1982, 2.1983), dict(candle(BAR0, 2.2, confirm="0"), l=2.3)])
    with pytest.raises(DataFormatError, match=r"rec-20261130-000000.jsonl.gz:2: .*l <= o,c <= h"):
        read_market_data([path])


def _exchange(records: list[dict[str, Any]], tmp_path: Path) -> tuple[SimExchange, RecordedMarket]:
    data = read_market_data([write_recording(tmp_path / "rec-20261130-000000.jsonl.gz", records)])
    assert data.recorded is not None
    replay = replay_of(data)
    exchange = SimExchange(seed=3, inst_ids=[XRP], replay=replay, start_wall_s=T0 / 1000.0)
    attach_recording(exchange, data.recorded, replay.first_ts_ms)
    return exchange, data.recorded


def _candle_pushes(events: list[SimEvent]) -> list[list[str]]:
    return [e.data for e in events if e.channel == "candle1m"]  # type: ignore[misc]


def test_the_simulator_serves_the_recorded_warm_up_and_pushes_only_recorded_candles(tmp_path: Path) -> None:
    records = [
        *warmup(),
        ticker(T0, 2.1983, 2.1982, 2.1983),
        candle(BAR0, 2.1983, confirm="0", vol=7.0),
        ticker(T0 + 100, 2.1992, 2.1991, 2.1992),
        ticker(T0 + 200, 2.1992, 2.1991, 2.1992),
        candle(BAR0, 2.1992, confirm="0", vol=9.5),
        ticker(T0 + 300, 2.1980, 2.1980, 2.1981),
    ]
    exchange, _ = _exchange(records, tmp_path)
    # GET /market/candles at the start: the warm-up reply as recorded, newest first
    rows = exchange.candles_wire(XRP, "1m", limit=100)
    assert [r[0] for r in rows] == [str(BAR0 - k * MINUTE) for k in range(6)]
    assert [r[4] for r in rows] == ["2.2000", "2.2040", "2.2030", "2.2020", "2.2010", "2.2000"]
    assert [r[8] for r in rows] == ["0", "1", "1", "1", "1", "1"]
    assert exchange.candles_wire(XRP, "1m", limit=2, after=BAR0)[0][0] == str(BAR0 - MINUTE)

    exchange.advance_steps(1)  # T0 + 100: the first recorded push (recorded after the ticker at T0)
    first = _candle_pushes(exchange.drain_events())
    assert first == [[str(BAR0), "2.2000", "2.2000", "2.1900", "2.1983", "7.00", "700", "1538.81", "0"]]
    exchange.advance_steps(1)  # T0 + 200: the second one, recorded after the ticker at T0 + 200
    assert [p[4] for p in _candle_pushes(exchange.drain_events())] == ["2.1992"]
    exchange.advance_steps(20)  # two more seconds: the simulator pushes no 1m candle of its own
    assert _candle_pushes(exchange.drain_events()) == []
    assert exchange.candles_wire(XRP, "1m", limit=1)[0][4] == "2.1992"  # REST shows what was pushed
    assert exchange.candles_wire(XRP, "3m", limit=1)  # bars the recording lacks stay the simulator's


def test_the_simulator_prints_the_recorded_trades_as_its_own(tmp_path: Path) -> None:
    records = [
        *warmup(),
        ticker(T0, 2.1983, 2.1982, 2.1983),
        ticker(T0 + 100, 2.1991, 2.1991, 2.1992),  # a trade at the bid
        ticker(T0 + 300, 2.1985, 2.1984, 2.1985),  # a trade at the ask
        ticker(T0 + 500, 2.1985, 2.1990, 2.1991),  # the book moved alone
    ]
    exchange, _ = _exchange(records, tmp_path)
    exchange.set_channel_interest("trades", XRP, True)
    exchange.set_channel_interest("tickers", XRP, True)
    market = exchange.markets[XRP]
    lasts, trade_steps, ticker_steps = [], [], []
    for step in range(1, 6):  # to the recording's end (then the random process resumes)
        exchange.advance_steps(1)
        events = exchange.drain_events()
        lasts.append(market.last)
        if any(e.channel == "trades" for e in events):
            trade_steps.append(step)
        if any(e.channel == "tickers" for e in events):
            ticker_steps.append(step)
    assert trade_steps == [1, 3]  # T0 and T0+100 fall in step 1; nothing random in between
    assert ticker_steps == [1, 3, 5]  # a ticker exactly where the recording has one
    assert lasts == pytest.approx([2.1991, 2.1991, 2.1985, 2.1985, 2.1985])


def test_an_old_recording_without_warm_up_keeps_the_simulators_candles_and_says_so(tmp_path: Path) -> None:
    records = [ticker(T0, 2.1983, 2.1982, 2.1983), candle(BAR0, 2.1983, confirm="0"),
               ticker(T0 + 100, 2.1992, 2.1991, 2.1992)]
    exchange, recorded = _exchange(records, tmp_path)
    exchange.advance_steps(1)
    own = _candle_pushes(exchange.drain_events())
    assert own and not [r for r in own if (r[0], r[4], r[5]) == (str(BAR0), "2.1983", "5.00")]  # its own, not the recorded
    assert len(exchange.candles_wire(XRP, "1m", limit=100)) == 100  # made-up history
    [note] = replay_notes(recorded, [XRP], "1m")
    assert "no 1m warm-up candles for XRP-USDT-SWAP" in note and "makes up the history" in note
    assert replay_notes(read([*warmup(), *records]), [XRP], "1m") == []


def test_data_that_is_not_a_recording_has_no_recorded_market(tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    path.write_text('{"ts": 1796022839706, "instId": "XRP-USDT-SWAP", "px": "2.2"}\n')
    data = read_market_data([path])
    assert data.recorded is None
    assert replay_notes(data.recorded, [XRP], "1m") == []


def test_the_recorder_writes_the_warm_up_and_the_candles_a_replay_serves(tmp_path: Path) -> None:
    recorder = MarketRecorder(RecorderSettings(tmp_path / "rec"), wall_clock=lambda: T0 / 1000.0, mono_clock=lambda: 50.0)
    history = [Candle(XRP, "1m", BAR0 - MINUTE, 2.2, 2.21, 2.19, 2.2, 40.0, True),
               Candle(XRP, "1m", BAR0, 2.2, 2.2, 2.198, 2.1983, 3.5, False)]
    recorder.record_warmup(history)  # the engine's warm-up reply, before the feed starts
    tick = Ticker(XRP, 2.1983, 2.1982, 2.1983, 10.0, 10.0, T0, 50.0)
    recorder.record_push(WsPush("tickers", XRP, (tick,), 50.0))
    recorder.record_candle(Candle(XRP, "1m", BAR0, 2.2, 2.2, 2.198, 2.1985, 4.0, False))
    recorder.start()
    recorder.stop()
    files = recording_files(tmp_path / "rec")
    channels = [orjson.loads(line)["ch"] for line in gzip.decompress(files[0].read_bytes()).splitlines()]
    assert channels == ["warmup", "warmup", "tickers", "candle1m"]
    recorded = read_market_data(files).recorded
    assert recorded is not None
    series = recorded.series[(XRP, "1m")]
    assert series.warmup is not None
    assert [(b.ts_ms, b.c, b.vol, b.confirmed) for b in series.warmup] == [
        (BAR0 - MINUTE, 2.2, 40.0, True), (BAR0, 2.1983, 3.5, False)]
    assert [(at, b.c) for at, b in series.pushes] == [(T0, 2.1985)]
    assert recorded.trades[XRP] == [(T0, 2.1983)]


@pytest.mark.timeout(120)
def test_the_backtest_of_an_old_recording_says_its_warm_up_is_made_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A recording from before warm-ups were recorded: tickers (and a candle push) only, 30 s.
    records = [ticker(T0 + i * 100, 2.1983, 2.1982, 2.1983) for i in range(300)]
    records.insert(1, candle(BAR0, 2.1983, confirm="0"))
    path = write_recording(tmp_path / "rec-20261130-000000.jsonl.gz", records)
    code = main(["backtest", "--data", str(path), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "note: the recording holds no 1m warm-up candles for XRP-USDT-SWAP" in " ".join(printed.split())


def _swing(path: Path, minutes: float = 5.0) -> Path:
    """Ticks every 0.2 s swinging +-3 % around 2.2 every 2 minutes, with seeded noise (band edges,
    then TP or SL: test_live_parity's scenario)."""
    rng = random.Random(5)
    noise, lines = 0.0, []
    for i in range(int(minutes * 300)):
        noise = 0.9 * noise + rng.gauss(0, 0.0005)
        px = 2.2 * (1 + 0.03 * math.sin(2 * math.pi * i * 0.2 / 120.0) + noise)
        lines.append(orjson.dumps({"ts": T0 + i * 200, "instId": XRP, "px": f"{px:.4f}"}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.timeout(120)
def test_a_recorded_run_replays_into_the_same_fills_to_the_millisecond(tmp_path: Path) -> None:
    # The recorded run on the virtual clock (deterministic, seconds): the engine records what it takes
    # in, as `okxscalp --record` does live; its recording then replays into the same fills, price and
    # size. (Before: a made-up warm-up, candles and trades, and fills up to a second off.)
    scenario = read_market_data([_swing(tmp_path / "swing.jsonl")])
    config = backtest_config(load_config(default_config_path()), scenario.inst_ids)
    run_backtest(config, scenario, tmp_path / "recorded.sqlite", record=RecorderSettings(tmp_path / "rec"))
    recording = read_market_data(recording_files(tmp_path / "rec"))
    assert recording.recorded is not None and recording.recorded.has_warmup(XRP, config.scalping.regime.bar)
    replayed = run_backtest(config, recording, tmp_path / "replayed.sqlite")
    assert replayed.notes == ()

    def fills(journal: Path) -> list[tuple[object, ...]]:
        return [(f.ts_ms, f.side, f.fill_px, f.fill_sz) for f in read_journal(journal).fills]

    recorded_fills = fills(tmp_path / "recorded.sqlite")
    assert len(recorded_fills) >= 6  # entries and their TP/SL exits
    assert fills(replayed.journal_path) == recorded_fills
