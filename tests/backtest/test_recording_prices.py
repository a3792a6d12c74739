"""A recorded ticker replays as its book's mid, not its `last` (sim/REPLAY.md "Recordings"): a live
run's recording then gives the simulator back the book the engine saw."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from okxscalp.sim.replay import ReplayFormatError, read_replay_records

XRP = "XRP-USDT-SWAP"
TS = 1_796_017_058_674


def _recording(tmp_path: Path, *records: dict[str, object]) -> Path:
    path = tmp_path / "rec-20261130-053738.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n"))
    return path


def test_a_recorded_ticker_replays_as_the_mid_of_its_book(tmp_path: Path) -> None:
    # As recorded at a live run's start: `last` is the price before the book moved (no trade yet).
    path = _recording(
        tmp_path,
        {"ts": TS, "instId": XRP, "px": 2.2, "bid": 2.1982, "ask": 2.1983, "ch": "tickers", "recv": TS + 112.9},
        {"ts": TS + 100, "instId": XRP, "px": 2.1983, "sz": 4.0, "side": "buy", "ch": "trades", "recv": TS + 113.0},
        {"ts": TS + 200, "instId": XRP, "px": 2.1983, "ch": "tickers", "recv": TS + 214.0},  # no book: its last
    )
    ticks = read_replay_records(path)
    assert [t.px for t in ticks] == [(2.1982 + 2.1983) / 2.0, 2.1983, 2.1983]
    assert int(ticks[0].px / 0.0001) == 21982  # the simulator's best bid from it: the recorded bid


def test_a_recorded_book_with_the_ask_below_the_bid_is_refused(tmp_path: Path) -> None:
    path = _recording(tmp_path, {"ts": TS, "instId": XRP, "px": 2.2, "bid": 2.1983, "ask": 2.1982, "ch": "tickers"})
    with pytest.raises(ReplayFormatError, match=r":1: .*ask 2.1982 below bid 2.1983"):
        read_replay_records(path)
