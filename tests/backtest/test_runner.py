"""`okxscalp backtest`: the real engine and the simulator on the virtual clock over recorded data
(runner.py, backtest_cli.py). Nothing mocked: the engine trades the replaying simulator over a local (Unix) socket."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import stat
from pathlib import Path

import orjson
import pytest
from journal_rows import journal_rows_hash
from real_data import REAL_XRP

from okxscalp.backtest import runner as runner_module
from okxscalp.backtest.backtest_cli import run_names
from okxscalp.backtest.clock import VirtualTimeEventLoop
from okxscalp.backtest.data import read_market_data
from okxscalp.backtest.journal_read import read_journal
from okxscalp.backtest.report import build_report
from okxscalp.backtest.report_compare import comparison_rows
from okxscalp.backtest.report_render import render_text
from okxscalp.backtest.runner import (
    BacktestError,
    BacktestRun,
    backtest_config,
    gap_threshold_ms,
    recorded_gaps,
    replay_of,
    run_backtest,
)
from okxscalp.cli import main
from okxscalp.config import default_config_path, load_config
from okxscalp.market.events import FallbackKind
from okxscalp.sim.replay import RecordedGap

XRP = "XRP-USDT-SWAP"
T0_MS = 1_732_435_200_000
GAP = (T0_MS + 120_000, T0_MS + 130_000)  # no recorded price for 10 s


def _ticks(tmp_path: Path, minutes: float = 4.0) -> Path:
    """XRP ticks every 0.2 s (a seeded walk around 2.2) with GAP left out."""
    rng = random.Random(5)
    px = 2.2
    lines = []
    for i in range(int(minutes * 60 * 5)):
        ts = T0_MS + i * 200
        px *= 1 + rng.gauss(0, 0.0004)
        if not GAP[0] < ts < GAP[1]:
            lines.append(orjson.dumps({"ts": ts, "instId": XRP, "px": f"{px:.4f}"}))
    path = tmp_path / "xrp-ticks.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path




def _run(tmp_path: Path, name: str, data_path: Path) -> BacktestRun:
    config = load_config(default_config_path())
    return run_backtest(config, read_market_data([data_path]), tmp_path / f"{name}.sqlite")


# ---------------------------------------------------------------------------- pure parts
def test_gaps_are_measured_against_the_instruments_own_pace(tmp_path: Path) -> None:
    replay = replay_of(read_market_data([_ticks(tmp_path)]))
    assert gap_threshold_ms(replay.points[XRP]) == 5_000  # 0.2 s ticks: the 5 s floor
    assert recorded_gaps(replay) == [RecordedGap(XRP, *GAP)]
    # 5-minute candles replay as four prices 75 s apart: that pace is no gap, a missing bar is
    candles = read_market_data([REAL_XRP], end_ms=1_636_934_400_000 + 3600_000)
    assert recorded_gaps(replay_of(candles)) == []


def test_the_config_trades_only_the_symbols_in_the_data() -> None:
    config = load_config(default_config_path())
    assert backtest_config(config, [XRP]).symbols == ("XRP-USDT",)
    with pytest.raises(BacktestError, match="none of the config's symbols"):
        backtest_config(config, ["NOPE-USDT-SWAP"])


# ---------------------------------------------------------------------------- runs
@pytest.mark.timeout(120)
def test_two_runs_of_the_same_backtest_write_the_same_journal(tmp_path: Path) -> None:
    data_path = _ticks(tmp_path)
    first = _run(tmp_path, "first", data_path)
    second = _run(tmp_path, "second", data_path)
    assert first.sim_s == pytest.approx(4 * 60 - 0.2) and first.engine_ended == "stopped"
    assert journal_rows_hash(first.journal_path) == journal_rows_hash(second.journal_path)
    assert read_journal(first.journal_path).orders  # it traded: the hash covers decisions, not just start-up


def test_the_engine_reaches_its_simulator_over_a_unix_socket_so_the_clock_reads_no_tcp_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection of a backtest is a Unix socket (okx/transport.py): the virtual clock's
    in-flight meter, which reads TCP state, never has anything to read. A TCP connection anywhere
    in the run (a client dialling the URL's host, a TCP listener) would be metered and counted."""
    seen: dict[str, object] = {}

    class WatchedSimServer(runner_module.SimServer):
        async def start(self) -> None:
            await super().start()
            loop = asyncio.get_running_loop()
            seen.update(socket=self.unix_socket, is_socket=stat.S_ISSOCK(os.stat(self.unix_socket).st_mode), loop=loop)

    monkeypatch.setattr(runner_module, "SimServer", WatchedSimServer)
    run = _run(tmp_path, "unix", _ticks(tmp_path, minutes=2.0))
    assert run.engine_ended == "stopped" and read_journal(run.journal_path).orders
    assert seen["is_socket"] is True
    loop = seen["loop"]
    assert isinstance(loop, VirtualTimeEventLoop) and loop.meter_readings == 0
    assert not os.path.exists(os.path.dirname(str(seen["socket"])))  # removed with the run


@pytest.mark.timeout(120)
def test_a_recorded_gap_is_replayed_as_silence_refused_reads_and_no_entry(tmp_path: Path) -> None:
    run = _run(tmp_path, "gap", _ticks(tmp_path))
    assert run.gaps == (RecordedGap(XRP, *GAP),)
    contents = read_journal(run.journal_path)
    start_s, end_s = GAP[0] / 1000.0, GAP[1] / 1000.0
    in_gap = [e for e in contents.fallbacks if start_s <= e.time <= end_s]
    # The feed goes silent with its connection up, as live: the engine sees it lag and closes entries.
    assert any(e.kind is FallbackKind.LAGGING and e.symbol == XRP and "tickers silent" in e.detail for e in in_gap)
    assert any(e.kind is FallbackKind.ENTRY_GATE and e.detail.startswith("entries closed: public feed lagging")
               for e in in_gap)
    assert not any(e.kind is FallbackKind.LAGGING for e in contents.fallbacks if e.time < start_s)
    # The entry's reads, made every second whether or not a ticker comes (engine/entry_reads.py), are
    # refused in the gap: SIGNAL (deciding) and ORDER (pricing), each one row when its window opens ...
    refused = [e for e in in_gap if e.kind is FallbackKind.STALE_REFUSED and e.symbol == XRP]
    opened = {e.detail.split(" ")[0]: e for e in refused if e.component == "registry"}
    assert set(opened) == {"signal", "order"} and all("no ticker received" in e.detail for e in opened.values())
    assert opened["order"].time < opened["signal"].time  # the 1 s budget runs out before the 3 s one
    assert not any(e.kind is FallbackKind.STALE_REFUSED for e in contents.fallbacks if e.time < start_s)
    # ... and one when the prices come back, carrying the window's further refused reads
    closed = [e for e in contents.fallbacks if e.kind is FallbackKind.STALE_REFUSED and e.component == "entry-reads"]
    assert sorted(e.detail.split(" ")[0] for e in closed) == ["order", "signal"]
    assert all(end_s <= e.time <= end_s + 2.0 and "fresh again" in e.detail for e in closed)
    conn = sqlite3.connect(run.journal_path)
    entries = [t for (t,) in conn.execute("SELECT created_at FROM orders WHERE purpose = 'entry'")]
    conn.close()
    assert entries and not [t for t in entries if start_s <= t <= end_s]
    report = build_report(contents, window=(run.start_s, run.end_s))
    assert report.fallback_counts.get("lagging", 0) >= 1
    # In the report: about 9 refused ORDER reads (ages 1-10 s) and 7 SIGNAL (3-10 s), all of XRP.
    refusals = report.refusals
    assert refusals.stale_by_purpose == {"order": pytest.approx(9, abs=1), "signal": pytest.approx(7, abs=1)}
    assert refusals.stale_by_symbol == {XRP: refusals.stale_refused} and refusals.stale_rows == 4
    text = render_text(report)
    assert f"{refusals.stale_refused}  (4 journal rows)" in text and "order " in text and "signal " in text


def test_a_journal_already_there_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "taken.sqlite").write_bytes(b"")
    config = load_config(default_config_path())
    with pytest.raises(BacktestError, match="exists"):
        run_backtest(config, read_market_data([_ticks(tmp_path, 1.0)]), tmp_path / "taken.sqlite")


# ---------------------------------------------------------------------------- the command
@pytest.mark.timeout(180)
def test_compare_runs_two_configs_on_the_same_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_path = _ticks(tmp_path, 2.0)
    other = tmp_path / "wide.yaml"
    text = Path(default_config_path()).read_text()
    other.write_text(text)
    out = tmp_path / "out"
    code = main(["backtest", "--data", str(data_path), "--compare", str(default_config_path()), str(other),
                 "--out", str(out), "--html", str(tmp_path / "cmp.html")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Backtest comparison" in printed and "simulated s per wall s" in printed
    assert (out / "default.journal.sqlite").exists() and (out / "wide.journal.sqlite").exists()
    page = (tmp_path / "cmp.html").read_text()
    assert page.count('<div class="run">') == 2
    reports = [(n, build_report(read_journal(out / f"{n}.journal.sqlite"))) for n in ("default", "wide")]
    assert all(values[0] == values[1] for _, values in comparison_rows(reports))  # same config: same figures


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_command_backtests_hours_of_real_xrp_candles_and_writes_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    html = tmp_path / "report.html"
    code = main(["backtest", "--data", str(REAL_XRP), "--from", "2021-11-15T06:00", "--to", "2021-11-15T09:00",
                 "--out", str(out), "--seed", "3", "--html", str(html)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "10,800 simulated s" in printed and "simulated s per wall s" in printed
    assert "Per entry regime" in printed and "2021-11-15 06:00:00" in printed
    assert (out / "default.journal.sqlite").exists() and (out / "backtest.log").exists()
    page = html.read_text()
    assert "<svg" in page and "XRP-USDT-SWAP" in page


def test_runs_of_configs_with_the_same_file_name_get_their_own_journals() -> None:
    assert run_names(["a/config.yaml", "b/other.yaml"]) == ["config", "other"]
    assert run_names(["a/config.yaml", "b/config.yaml"]) == ["1-config", "2-config"]


def test_unreadable_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts": 1, "instId": "XRP-USDT-SWAP"}\n')
    assert main(["backtest", "--data", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
