"""Backtest data readers: replay files, saved OKX history-candles replies, OKX trades files."""

from __future__ import annotations

import json
import zipfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from real_data import REAL_XRP

from okxscalp.backtest.data import (
    FORMAT_OKX_CANDLES,
    FORMAT_OKX_TRADES,
    FORMAT_REPLAY,
    Bar,
    DataFormatError,
    Tick,
    parse_time,
    read_file,
    read_market_data,
)
from okxscalp.okx.constants import MARKET_HISTORY_CANDLES

XRP = "XRP-USDT-SWAP"
T0 = 1_700_006_400_000  # a whole hour


def reply(rows: list[list[str]], **extra: str) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": rows, **extra}


def row(ts: int, o: str, h: str, low: str, c: str, confirm: str = "1") -> list[str]:
    return [str(ts), o, h, low, c, "10", "100", "1000", confirm]


# ---------------------------------------------------------------------------- replay files
def test_the_real_xrp_file_parses_into_bars() -> None:
    data = read_market_data([REAL_XRP])
    bars = data.records
    assert len(bars) == 1152 and data.inst_ids == [XRP]
    assert all(isinstance(b, Bar) and b.bar == "5m" for b in bars)
    assert bars[0] == Bar(1636934400000, XRP, "5m", 1.1893, 1.1954, 1.1891, 1.1941)
    assert all(b.ts_ms - a.ts_ms == 300_000 for a, b in pairwise(bars))
    assert bars[-1].end_ms == parse_time("2021-11-19T00:00Z")
    day = read_market_data([REAL_XRP], start_ms=parse_time("2021-11-16"), end_ms=parse_time("2021-11-17"))
    assert len(day.records) == 288 and day.files[0].outside_range == 1152 - 288


def test_replay_jsonl_ticks_keep_size_and_side_and_candles_become_bars(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "# a recording\n"
        f'{{"ts": {T0 + 500}, "instId": "BTC-USDT-SWAP", "px": "95012.3", "sz": "2", "side": "buy"}}\n'
        f'{{"ts": {T0}, "instId": "ETH-USDT-SWAP", "bar": "1m", "o": 3400, "h": 3405.5, "l": 3398.2, "c": 3404.1}}\n'
        f'{{"ts": {T0 + 100}, "instId": "BTC-USDT-SWAP", "px": 95011}}\n'
    )
    records, stats = read_file(path)
    assert stats.format == FORMAT_REPLAY
    assert records == [
        Bar(T0, "ETH-USDT-SWAP", "1m", 3400.0, 3405.5, 3398.2, 3404.1),
        Tick(T0 + 100, "BTC-USDT-SWAP", 95011.0),
        Tick(T0 + 500, "BTC-USDT-SWAP", 95012.3, 2.0, "buy"),
    ]


def test_replay_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{{"ts": {T0}, "instId": "BTC-USDT-SWAP", "px": "1"}}\n\n'
                    f'{{"ts": {T0}, "instId": "BTC-USDT-SWAP", "px": "1", "side": "long"}}\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl:3: .*side must be buy or sell"):
        read_file(path)


# ---------------------------------------------------------------------------- OKX history-candles replies
def test_a_saved_reply_is_read_oldest_first_without_the_open_bar(tmp_path: Path) -> None:
    path = tmp_path / f"{XRP}-1m-page.json"
    path.write_text(json.dumps(reply([
        row(T0 + 120_000, "2.2", "2.3", "2.1", "2.25", confirm="0"),
        row(T0 + 60_000, "2.1", "2.2", "2.0", "2.2"),
        row(T0, "2.0", "2.1", "1.9", "2.1"),
    ]), indent=2))
    records, stats = read_file(path)
    assert stats.format == FORMAT_OKX_CANDLES and stats.unconfirmed == 1
    assert records == [Bar(T0, XRP, "1m", 2.0, 2.1, 1.9, 2.1, 10.0), Bar(T0 + 60_000, XRP, "1m", 2.1, 2.2, 2.0, 2.2, 10.0)]


def test_reply_pages_per_line_overlap_once_and_name_their_instrument(tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    newer = reply([row(T0 + 60_000, "2", "2", "2", "2"), row(T0, "1", "1", "1", "1")], instId=XRP, bar="1m")
    older = reply([row(T0, "1", "1", "1", "1"), row(T0 - 60_000, "1", "1", "1", "1")], instId=XRP, bar="1m")
    path.write_text(json.dumps(newer) + "\n" + json.dumps(older) + "\n")
    records, stats = read_file(path)
    assert [r.ts_ms for r in records] == [T0 - 60_000, T0, T0 + 60_000] and stats.repeated == 1
    older["data"][0][2:5] = ["1.5", "1", "1.5"]  # the same bar with another high and close
    path.write_text(json.dumps(newer) + "\n" + json.dumps(older) + "\n")
    with pytest.raises(DataFormatError, match=rf"pages.jsonl:2: bar {T0} differs from the one at line 1"):
        read_file(path)


def test_reply_errors_name_the_line_of_the_row(tmp_path: Path) -> None:
    path = tmp_path / f"{XRP}-5m.json"
    rows = [row(T0 + 300_000, "2", "2", "2", "2"), row(T0, "2", "1", "3", "2")]  # h < l
    path.write_text(json.dumps(reply(rows), indent=1))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if f'"{T0}"' in text) - 1
    with pytest.raises(DataFormatError, match=rf"-5m.json:{line}: candle needs l <= o,c <= h"):
        read_file(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("XRP-USDT-SWAP-1m.json", {"code": "51001", "msg": "Instrument ID doesn't exist", "data": []},
         "the saved reply is an error"),
        ("page-1m.json", {"code": "0", "msg": "", "data": [["1700006400000", "1", "1", "1", "1"]]},
         "does not name its instrument"),
        ("XRP-USDT-SWAP.json", {"code": "0", "msg": "", "data": [["1700006400000", "1", "1", "1", "1"]]},
         "does not name its bar size"),
        ("XRP-USDT-SWAP-1m.json", {"code": "0", "msg": "", "data": [["1700006400", "1", "1", "1", "1"]]},
         "not Unix milliseconds"),
        ("XRP-USDT-SWAP-5m.json", {"code": "0", "msg": "", "data": [["1700006460000", "1", "1", "1", "1"]]},
         "is not the start of a 5m bar"),
    ],
)
def test_replies_that_cannot_be_read_are_refused(tmp_path: Path, name: str, content: Any, message: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    with pytest.raises(DataFormatError, match=message):
        read_file(path)


async def test_a_reply_saved_from_the_simulator_reads_back_as_its_bars(sim_factory: Any, tmp_path: Path) -> None:
    sim = await sim_factory(inst_ids=[XRP])
    async with aiohttp.ClientSession() as http:
        params = {"instId": XRP, "bar": "5m", "limit": "50"}
        async with http.get(sim.rest_url + MARKET_HISTORY_CANDLES.path, params=params) as answer:
            body = await answer.read()
    path = tmp_path / "saved.json"
    path.write_bytes(body)
    data = read_market_data([path], inst_id=XRP, bar="5m")
    served = json.loads(body)["data"]
    confirmed = [r for r in served if r[8] == "1"]
    assert [b.ts_ms for b in data.records] == sorted(int(r[0]) for r in confirmed)
    assert data.files[0].unconfirmed == len(served) - len(confirmed)
    newest = data.records[-1]
    assert [newest.o, newest.h, newest.low, newest.c] == [float(x) for x in confirmed[0][1:5]]


# ---------------------------------------------------------------------------- OKX trades files
OLD_HEADER = "trade_id/交易id,side/交易方向,size/数量,price/价格,created_time/成交时间\n"


def test_an_old_trades_file_takes_its_instrument_from_its_name(tmp_path: Path) -> None:
    path = tmp_path / "XRP-USDT-SWAP-trades-2024-01-02.csv"
    path.write_text("\ufeff" + OLD_HEADER + f"11,buy,3,0.6123,{T0 + 5}\n10,sell,1.5,0.6120,{T0}\n", encoding="utf-8")
    records, stats = read_file(path)
    assert stats.format == FORMAT_OKX_TRADES
    assert records == [Tick(T0, XRP, 0.612, 1.5, "sell"), Tick(T0 + 5, XRP, 0.6123, 3.0, "buy")]


def test_a_new_trades_archive_names_its_instrument_per_row(tmp_path: Path) -> None:
    path = tmp_path / "BTC-USDT-SWAP-trades-2026-09-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BTC-USDT-SWAP-trades-2026-09-01.csv",
                         "instrument_name,trade_id,side,price,size,created_time,source\n"
                         f"BTC-USDT-SWAP,2885385355,sell,78542.2,14.07,{T0},0\n")
    records, _ = read_file(path)
    assert records == [Tick(T0, "BTC-USDT-SWAP", 78542.2, 14.07, "sell")]


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("XRP-USDT-SWAP-trades-2024-01-02.csv", OLD_HEADER + "1,buy,1,0.6,1700006400\n", r":2: time 1700006400 is not"),
        ("XRP-USDT-SWAP-trades-2024-01-02.csv", OLD_HEADER + f"1,buy,1,0.6,{T0}\n2,short,1,0.6,{T0}\n",
         r":3: side must be buy or sell"),
        ("XRP-USDT-SWAP-trades-2024-01-02.csv", "trade_id,side,price,created_time\n", r":1: .*missing size"),
        ("trades.csv", OLD_HEADER + f"1,buy,1,0.6,{T0}\n", "the instrument is neither a column nor in the file name"),
    ],
)
def test_trades_files_that_cannot_be_read_are_refused(tmp_path: Path, name: str, body: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_file(path)


# ---------------------------------------------------------------------------- one stream
def test_files_merge_into_one_stream_in_time_order(tmp_path: Path) -> None:
    candles = tmp_path / "candles.csv"
    candles.write_text(f"ts,instId,bar,o,h,l,c\n{T0},{XRP},1m,1,2,0.5,1.5\n{T0 + 60_000},{XRP},1m,1.5,2,1,1\n")
    trades = tmp_path / "BTC-USDT-SWAP-trades-2024-01-02.csv"
    trades.write_text(OLD_HEADER + f"1,buy,1,95000,{T0 + 30_000}\n2,sell,1,95001,{T0 + 90_000}\n", encoding="utf-8")
    data = read_market_data([candles, trades])
    assert [(type(r).__name__, r.ts_ms) for r in data.records] == [
        ("Bar", T0), ("Tick", T0 + 30_000), ("Bar", T0 + 60_000), ("Tick", T0 + 90_000)]
    window = read_market_data([candles, trades], start_ms=T0 + 30_000, end_ms=T0 + 90_000)
    assert [r.ts_ms for r in window.records] == [T0 + 30_000, T0 + 60_000]
    assert [f.outside_range for f in window.files] == [1, 1]
    with pytest.raises(ValueError, match="the range is empty"):
        read_market_data([candles], start_ms=T0, end_ms=T0)


def test_time_bounds_are_unix_ms_or_iso_in_utc() -> None:
    assert parse_time("2021-11-15") == 1636934400000
    assert parse_time("2021-11-15T00:05Z") == parse_time("2021-11-15 08:05:00+08:00") == 1636934700000
    assert parse_time("1636934400000") == 1636934400000
    for bad in ("yesterday", "1636934400"):
        with pytest.raises(ValueError):
            parse_time(bad)
