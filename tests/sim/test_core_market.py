"""Market data of the sans-I/O simulator core: determinism, tick grid, candles, interest filter."""

from __future__ import annotations

from decimal import Decimal

import pytest

from okxscalp.sim.events import SimApiError
from okxscalp.sim.exchange import DEFAULT_INST_IDS, SimExchange
from okxscalp.sim.instruments import SHIPPED, spec_for

pytestmark = pytest.mark.timeout(60)
START_MS = 1_732_435_200_000  # 2024-11-24 08:00 UTC, a whole hour


def make(seed: int = 7, **kw) -> SimExchange:
    kw.setdefault("history_minutes", 120)
    return SimExchange(seed=seed, start_wall_s=0.0, start_sim_ms=START_MS, **kw)


def on_grid(value: str, step: str) -> bool:
    return Decimal(value) % Decimal(step) == 0


def test_same_seed_same_events_and_different_seed_differs():
    a, b, c = make(3), make(3), make(4)
    for ex in (a, b, c):
        ex.advance(30.0)
    ev_a, ev_b, ev_c = a.drain_events(), b.drain_events(), c.drain_events()
    assert ev_a and ev_a == ev_b
    assert ev_a != ev_c
    assert a.candles_wire("BTC-USDT-SWAP", "1m", limit=50) == b.candles_wire("BTC-USDT-SWAP", "1m", limit=50)


def test_interest_does_not_change_the_market():
    quiet, loud = make(5), make(5)
    quiet.set_channel_interest("tickers", "ETH-USDT-SWAP", True)
    quiet.advance(20.0)
    loud.advance(20.0)
    assert quiet.ticker_wire("SOL-USDT-SWAP") == loud.ticker_wire("SOL-USDT-SWAP")
    assert quiet.books_wire("SOL-USDT-SWAP", 20) == loud.books_wire("SOL-USDT-SWAP", 20)
    channels = {(e.channel, e.inst_id) for e in quiet.drain_events()}
    assert channels == {("tickers", "ETH-USDT-SWAP")}


def test_interest_off_again_silences_the_channel():
    ex = make()
    ex.set_channel_interest("trades", "BTC-USDT-SWAP", True)
    ex.advance(5.0)
    assert {e.channel for e in ex.drain_events()} == {"trades"}
    ex.set_channel_interest("trades", "BTC-USDT-SWAP", False)
    ex.advance(10.0)
    assert ex.drain_events() == []


def test_prices_and_sizes_sit_on_the_instrument_grid():
    ex = make()
    ex.advance(60.0)
    for event in ex.drain_events():
        spec = SHIPPED[event.inst_id]
        data = event.data
        if event.channel == "tickers":
            for key in ("last", "askPx", "bidPx", "open24h", "high24h", "low24h"):
                assert on_grid(data[key], spec.tick_sz), (key, data[key])
            for key in ("lastSz", "askSz", "bidSz"):
                assert on_grid(data[key], spec.lot_sz), (key, data[key])
            assert Decimal(data["bidPx"]) < Decimal(data["askPx"])
        elif event.channel in ("books5", "bbo-tbt"):
            for level in data["asks"] + data["bids"]:
                assert on_grid(level[0], spec.tick_sz) and on_grid(level[1], spec.lot_sz)
                assert Decimal(level[1]) > 0
        elif event.channel == "trades":
            assert on_grid(data["px"], spec.tick_sz) and on_grid(data["sz"], spec.lot_sz)
            assert data["side"] in ("buy", "sell")
        elif event.channel == "mark-price":
            assert on_grid(data["markPx"], spec.tick_sz)
        elif event.channel == "price-limit":
            assert on_grid(data["buyLmt"], spec.tick_sz) and on_grid(data["sellLmt"], spec.tick_sz)
        elif event.channel.startswith("candle"):
            assert all(on_grid(v, spec.tick_sz) for v in data[1:5])
            assert data[8] in ("0", "1")


def test_starting_prices_are_realistic():
    ex = make(history_minutes=0)
    expected = {"BTC": 95_000, "ETH": 3_400, "SOL": 180, "XRP": 2.2, "DOGE": 0.35}
    for inst_id in DEFAULT_INST_IDS:
        last = float(ex.ticker_wire(inst_id)["last"])
        assert last == pytest.approx(expected[inst_id.split("-")[0]], rel=0.01)


def test_books_have_five_levels_each_side_in_order():
    ex = make()
    ex.advance(3.0)
    book = ex.books_wire("BTC-USDT-SWAP", 5)
    asks = [Decimal(level[0]) for level in book["asks"]]
    bids = [Decimal(level[0]) for level in book["bids"]]
    assert len(asks) == len(bids) == 5
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]


def test_candles_newest_first_with_confirm_flags_and_paging():
    ex = make(history_minutes=300)
    ex.advance(150.0)
    rows = ex.candles_wire("BTC-USDT-SWAP", "1m", limit=300)
    assert len(rows) == 300
    stamps = [int(r[0]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(b - a == 60_000 for a, b in zip(stamps[1:], stamps, strict=False))
    assert rows[0][8] == "0" and all(r[8] == "1" for r in rows[1:])
    older = ex.candles_wire("BTC-USDT-SWAP", "1m", after=stamps[9], limit=5)
    assert [int(r[0]) for r in older] == stamps[10:15]
    newer = ex.candles_wire("BTC-USDT-SWAP", "1m", before=stamps[3], limit=100)
    assert [int(r[0]) for r in newer] == stamps[:3]
    five = ex.candles_wire("BTC-USDT-SWAP", "5m", limit=3)
    assert int(five[0][0]) % 300_000 == 0


def test_candle_pushes_at_most_once_per_second_plus_close():
    ex = make()
    ex.set_channel_interest("candle1m", "XRP-USDT-SWAP", True)
    ex.advance(125.0)
    rows = [e.data for e in ex.drain_events()]
    open_rows = [r for r in rows if r[8] == "0"]
    closed = [r for r in rows if r[8] == "1"]
    assert len(open_rows) <= 126
    # the last history bar closes on the first step, then the two live minutes
    assert [r[0] for r in closed] == [str(START_MS + k * 60_000) for k in (-1, 0, 1)]


def test_errors_for_unknown_instrument_and_bad_params():
    ex = make()
    with pytest.raises(SimApiError) as err:
        ex.ticker_wire("FOO-USDT-SWAP")
    assert err.value.code == "51001"
    with pytest.raises(SimApiError) as err:
        ex.candles_wire("BTC-USDT-SWAP", "7m")
    assert err.value.code == "51000"


def test_synthetic_instruments_are_plausible_and_stable():
    spec = spec_for("SYN07-USDT-SWAP")
    assert spec == spec_for("SYN07-USDT-SWAP")
    assert Decimal(spec.ct_val) > 0 and spec.max_lever >= 20
    ex = make(inst_ids=["BTC-USDT-SWAP", "SYN07-USDT-SWAP"], history_minutes=10)
    ex.advance(2.0)
    assert on_grid(ex.ticker_wire("SYN07-USDT-SWAP")["last"], spec.tick_sz)
    with pytest.raises(ValueError):
        spec_for("NOTASWAP")


def test_undrained_public_events_are_trimmed_but_private_ones_kept(monkeypatch):
    import okxscalp.sim.exchange as exchange_module

    monkeypatch.setattr(exchange_module, "MAX_PENDING_EVENTS", 400)
    ex = make(inst_ids=["BTC-USDT-SWAP"], history_minutes=0)
    ex.open_position_directly("BTC-USDT-SWAP", "long", 1.0)
    ex.advance(60.0)
    events = ex.drain_events()
    assert len(events) <= 400 and ex.dropped_events > 0
    assert [e.channel for e in events[:2]] == ["positions", "account"]


def test_api_errors_carry_okx_http_status():
    ex = make(history_minutes=0)
    with pytest.raises(SimApiError) as err:
        ex.books_wire("BTC-USDT-SWAP", 401)
    assert (err.value.code, err.value.http_status) == ("51000", 400)
    with pytest.raises(SimApiError) as err:
        ex.mark_price_wire("NOPE-USDT-SWAP")
    assert (err.value.code, err.value.http_status) == ("51001", 200)


@pytest.mark.parametrize(("bar", "minutes"), [("3m", 3), ("5m", 5), ("15m", 15), ("1H", 60)])
def test_higher_bars_aggregate_the_minutes(bar, minutes):
    ex = make(inst_ids=["ETH-USDT-SWAP"], history_minutes=180, tick_interval_s=0.5)
    ex.advance_sim_seconds(20 * 60 + 7.0)
    one = {int(r[0]): r for r in ex.candles_wire("ETH-USDT-SWAP", "1m", limit=300)}
    rows = ex.candles_wire("ETH-USDT-SWAP", bar, limit=3)
    assert rows[0][8] == "0" and rows[1][8] == "1"
    for row in rows:
        start = int(row[0])
        parts = [one[t] for t in range(start, start + minutes * 60_000, 60_000) if t in one]
        assert parts[0][1] == row[1] and parts[-1][4] == row[4]
        assert Decimal(row[2]) == max(Decimal(p[2]) for p in parts)
        assert Decimal(row[3]) == min(Decimal(p[3]) for p in parts)
        assert Decimal(row[5]) == sum(Decimal(p[5]) for p in parts)


def test_books_deltas_rebuild_the_full_book():
    ex = make(inst_ids=["SOL-USDT-SWAP"], history_minutes=0)
    ex.set_channel_interest("books", "SOL-USDT-SWAP", True)
    ex.advance(1.0)
    ex.drain_events()
    snapshot = ex.books_snapshot_wire("SOL-USDT-SWAP")
    assert snapshot["prevSeqId"] == -1 and snapshot["checksum"] == 0
    assert len(snapshot["asks"]) == len(snapshot["bids"]) == 400
    asks = {row[0]: row[1] for row in snapshot["asks"]}
    bids = {row[0]: row[1] for row in snapshot["bids"]}
    seq = snapshot["seqId"]
    ex.force_regime("SOL-USDT-SWAP", "choppy", 600)
    ex.advance(25.0)
    updates = [e.data for e in ex.drain_events() if e.channel == "books"]
    assert len(updates) > 20
    for update in updates:
        assert update["prevSeqId"] == seq
        seq = update["seqId"]
        for side, levels in (("asks", asks), ("bids", bids)):
            for px, sz, _, _ in update[side]:
                if sz == "0":
                    levels.pop(px)
                else:
                    levels[px] = sz
    full = ex.books_wire("SOL-USDT-SWAP", 400)
    assert asks == {row[0]: row[1] for row in full["asks"]}
    assert bids == {row[0]: row[1] for row in full["bids"]}
    assert full["seqId"] == seq
