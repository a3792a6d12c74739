"""A replayed instrument starts at its first recorded price (REPLAY.md): its made-up history, open
1m bar, mark and price limits are built around the real price, not the table's default."""

from __future__ import annotations

import csv
from pathlib import Path

from real_data import REAL_XRP

from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.instruments import SHIPPED

XRP = "XRP-USDT-SWAP"
BTC = "BTC-USDT-SWAP"


def first_open(path: Path) -> float:
    with path.open(newline="") as fh:
        return float(next(csv.DictReader(fh))["o"])


def test_replayed_xrp_starts_at_its_first_recorded_price() -> None:
    first = first_open(REAL_XRP)
    assert abs(first / SHIPPED[XRP].start_px - 1) > 0.4  # the table's XRP is elsewhere: a jump would show
    ex = SimExchange(seed=3, start_wall_s=0.0, inst_ids=[XRP, BTC], replay_path=str(REAL_XRP))

    def check_around_first() -> None:
        open_bar = ex.candles_wire(XRP, "1m", limit=1)[0]
        assert abs(float(open_bar[1]) / first - 1) < 0.01, open_bar  # no first-bar jump
        assert float(open_bar[3]) > first * 0.98 and float(open_bar[2]) < first * 1.02, open_bar
        assert abs(float(ex.ticker_wire(XRP)["last"]) / first - 1) < 0.01
        limits = ex.price_limit_wire(XRP)
        assert float(limits["sellLmt"]) < first < float(limits["buyLmt"]), limits
        assert abs(float(ex.mark_price_wire(XRP)["markPx"]) / first - 1) < 0.01

    check_around_first()  # from the first moment
    assert ex.specs[XRP].start_px == first
    assert ex.specs[BTC].start_px == SHIPPED[BTC].start_px  # not in the recording: the table's
    ex.advance_sim_seconds(5.0)
    check_around_first()  # and after the first steps follow the recording
    history = ex.candles_wire(XRP, "1m", limit=300)
    closes = [float(row[4]) for row in history]
    assert min(closes) > first * 0.5 and max(closes) < first * 1.5  # history built around it


def test_a_replayed_instrument_starts_at_its_first_tick_even_over_a_saved_price(tmp_path: Path) -> None:
    recording = tmp_path / "ticks.csv"
    recording.write_text("ts,instId,px\n1700000000000,BTC-USDT-SWAP,61234.5\n1700000001000,BTC-USDT-SWAP,61240.0\n")
    ex = SimExchange(seed=1, start_wall_s=0.0, inst_ids=[BTC], replay_path=str(recording),
                     start_prices={BTC: 99_000.0}, history_minutes=30)
    assert abs(float(ex.candles_wire(BTC, "1m", limit=1)[0][4]) - 61234.5) < 1.0
    assert ex.specs[BTC].start_px == 61234.5
