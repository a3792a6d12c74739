"""`okxscalp download` against the simulator: paging, confirmed bars only, resume, rate limit."""

from __future__ import annotations

import asyncio
import csv
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from okxscalp.backtest.data import read_market_data
from okxscalp.backtest.download import DownloadError, download, scan_file, swap_inst_id
from okxscalp.cli import main
from okxscalp.okx.constants import MARKET_HISTORY_CANDLES
from okxscalp.okx.rest import RestClient
from okxscalp.sim.replay import load_replay

pytestmark = pytest.mark.timeout(60)

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
MINUTE = 60_000


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["ts", "instId", "bar", "o", "h", "l", "c"]
        return list(reader)


def stamps(rows: list[list[str]], inst_id: str) -> list[int]:
    return [int(r[0]) for r in rows if r[1] == inst_id]


def assert_consecutive(ts: list[int]) -> None:
    assert ts and all(b - a == MINUTE for a, b in pairwise(ts))


def assert_reaches_the_end(ts: list[int], result: Any, index: int = 0) -> None:
    """Up to the last closed bar; one less when the run began right after a minute turned (the bar
    that just ended was still open on the exchange then, as on OKX)."""
    if result.symbols[index].open_bar_reached:
        assert ts[-1] == result.end_ms - 2 * MINUTE
    else:
        assert ts[-1] == result.end_ms - MINUTE


async def test_two_days_of_two_symbols_page_back_within_the_rate_limit(sim_factory: Any, tmp_path: Path) -> None:
    sim = await sim_factory(inst_ids=[BTC, ETH])
    out = tmp_path / "candles.csv"
    async with RestClient(sim.rest_url, None) as client:
        result = await download(client, ["btc-usdt", ETH], "1m", 3, out)
    rows = rows_of(out)
    for index, inst_id in enumerate((BTC, ETH)):
        ts = stamps(rows, inst_id)
        assert_consecutive(ts)
        assert ts[0] == result.start_ms
        assert_reaches_the_end(ts, result, index)
    assert all(s.absent == 0 for s in result.symbols)
    # The file is a replay file: the simulator replays it and the backtest reads it.
    assert load_replay(out).inst_ids == {BTC, ETH}
    assert len(read_market_data([out]).records) == len(rows)
    # The bars are the exchange's: the simulator serves the same ones to anybody who asks.
    first = rows[0]
    served = sim.exchange.history_candles_wire(BTC, "1m", int(first[0]) + MINUTE, int(first[0]) - 1, 1)[0]
    assert [float(x) for x in first[3:]] == [float(x) for x in served[1:5]]
    # More requests than one 2-second budget holds, and not one refused for the rate limit.
    path = MARKET_HISTORY_CANDLES.path
    assert sim.counters.requests[path] > MARKET_HISTORY_CANDLES.limit
    assert sim.counters.http_429[path] == 0


async def test_an_interrupted_download_resumes_without_duplicate_or_missing_bar(
    sim_factory: Any, tmp_path: Path
) -> None:
    sim = await sim_factory(inst_ids=[BTC])
    out = tmp_path / "candles.csv"
    async with RestClient(sim.rest_url, None) as client:
        enough = asyncio.Event()

        def note(inst_id: str, done: int, planned: int) -> None:
            if done >= 600:
                enough.set()

        task = asyncio.create_task(download(client, [BTC], "1m", 2, out, progress=note))
        await asyncio.wait_for(enough.wait(), 30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with out.open("a") as fh:
        fh.write("1699999999999,BTC-USD")  # a write torn by the kill
    partial = stamps(rows_of(out)[:-1], BTC)
    assert 600 <= len(partial) < 2 * 1440

    async with RestClient(sim.rest_url, None) as client:
        result = await download(client, [BTC], "1m", 2, out)
    assert result.torn_line_cut and result.symbols[0].resumed_after_ms == partial[-1]
    ts = stamps(rows_of(out), BTC)
    assert ts[: len(partial)] == partial
    assert_consecutive(ts)
    assert_reaches_the_end(ts, result)
    assert sim.counters.http_429[MARKET_HISTORY_CANDLES.path] == 0


async def test_the_open_bar_is_never_written(sim_factory: Any, tmp_path: Path) -> None:
    # The exchange's clock two minutes ahead: the newest window reaches the bar that is still open.
    sim = await sim_factory(inst_ids=[BTC])
    sim.faults.skew_time(120_000)
    out = tmp_path / "candles.csv"
    async with RestClient(sim.rest_url, None) as client:
        result = await download(client, [BTC], "1m", 0.1, out)
    assert result.symbols[0].open_bar_reached
    open_bar = int(sim.exchange.history_candles_wire(BTC, "1m", None, None, 1)[0][0])
    ts = stamps(rows_of(out), BTC)
    assert_consecutive(ts)
    assert ts[-1] < open_bar


def test_a_file_of_another_bar_or_format_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "five.csv"
    other.write_text("ts,instId,bar,o,h,l,c\n1700000000000,BTC-USDT-SWAP,5m,1,2,0.5,1.5\n")
    with pytest.raises(DownloadError, match=r"five.csv:2: holds 5m bars, not 1m"):
        scan_file(other, "1m")
    ticks = tmp_path / "ticks.csv"
    ticks.write_text("ts,instId,px\n1,BTC-USDT-SWAP,1\n")
    with pytest.raises(DownloadError, match="not a file this command wrote"):
        scan_file(ticks, "1m")


@pytest.mark.parametrize("symbol", ["BTC", "BTC-USD-250926", "BTC_USDT", ""])
def test_symbols_must_be_usdt_swaps(symbol: str) -> None:
    with pytest.raises(DownloadError):
        swap_inst_id(symbol)
    assert swap_inst_id("xrp-usdt") == swap_inst_id("XRP-USDT-SWAP") == "XRP-USDT-SWAP"


def test_cli_downloads_from_a_running_simulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from okxscalp.sim.server import run_in_thread

    out = tmp_path / "xrp.csv"
    with run_in_thread(inst_ids=["XRP-USDT-SWAP"]) as sim:
        code = main(["download", "XRP-USDT", "--days", "0.2", "--out", str(out), "--base-url", sim.rest_url])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    written = len(stamps(rows_of(out), "XRP-USDT-SWAP"))
    assert written in (287, 288) and f"XRP-USDT-SWAP: {written} 1m bars written" in printed.out
    assert main(["download", "XRP-USDT-PERP", "--out", str(out)]) == 2


def test_cli_names_a_missing_instrument_and_stops_clearly_on_a_rate_limit_storm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from okxscalp.sim.server import run_in_thread

    out = tmp_path / "doge.csv"
    with run_in_thread(inst_ids=[BTC]) as sim:
        assert main(["download", "DOGE-USDT", "--days", "0.1", "--out", str(out), "--base-url", sim.rest_url]) == 2
        assert "the exchange has no such instrument" in capsys.readouterr().err
        sim.faults.rate_limit_storm(MARKET_HISTORY_CANDLES.path, 60.0)
        out = tmp_path / "btc.csv"
        assert main(["download", "BTC-USDT", "--days", "0.1", "--out", str(out), "--base-url", sim.rest_url]) == 1
        err = capsys.readouterr().err
        assert "download stopped" in err and "run the same command again to continue" in err
        sim.faults.rate_limit_storm(MARKET_HISTORY_CANDLES.path, 0.0)
        assert main(["download", "BTC-USDT", "--days", "0.1", "--out", str(out), "--base-url", sim.rest_url]) == 0
    assert len(stamps(rows_of(out), BTC)) in (143, 144)
