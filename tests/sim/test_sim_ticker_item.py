"""SymbolMarket.ticker_item keeps the last ticker's fields and sets only what it finds changed:
every ticker must read as one built from scratch out of the market's numbers, through trades,
book moves, new epochs, our resting orders at the touch, outside trades and closing minutes."""

from __future__ import annotations

import random

from okxscalp.sim.candles import HIGH, LOW, VOL, VOL_CCY
from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.market import SymbolMarket

INST = "BTC-USDT-SWAP"


def _from_scratch(m: SymbolMarket) -> dict:
    cur = m._minute.current
    assert cur is not None
    px, sz = f".{m.px_dec}f", f".{m.sz_dec}f"
    return {
        "instType": "SWAP",
        "instId": m.inst_id,
        "last": format(m.last, px),
        "lastSz": format(m.last_sz, sz),
        "askPx": format(m.ask * m.tick, px),
        "askSz": m.book.size_str(m.ask, m.epoch),
        "bidPx": format(m.bid * m.tick, px),
        "bidSz": m.book.size_str(m.bid, m.epoch),
        "open24h": format(m.open24h, px),
        "high24h": format(max(m.high24h, cur[HIGH]), px),
        "low24h": format(min(m.low24h, cur[LOW]), px),
        "volCcy24h": format(m.vol_ccy24h + cur[VOL_CCY], m._vol_ccy_spec),
        "vol24h": format(m.vol24h + cur[VOL], sz),
        "sodUtc0": format(m.sod_utc0, px),
        "sodUtc8": format(m.sod_utc8, px),
        "ts": str(m.ts),
    }


def test_every_ticker_reads_as_one_built_from_scratch() -> None:
    rng = random.Random(4)
    ex = SimExchange(seed=4, start_wall_s=0.0, start_sim_ms=1_732_492_740_000, history_minutes=90,
                     inst_ids=[INST])
    m = ex.markets[INST]
    shown: list[dict] = []
    first: dict = {}
    for step in range(1_500):  # 150 s: two minutes close, the day's stats refresh
        ex.advance_steps(1)
        if rng.random() < 0.05:  # our order at the touch (or gone): the shown sizes change
            level = rng.choice((m.bid, m.ask, m.bid - 3))
            m.set_own_orders({} if rng.random() < 0.3 else {level: (rng.choice((1.0, 2.5)), 1)})
        if rng.random() < 0.02:  # a fill of ours prints on the tape
            m.print_trade(m.ask * m.tick, 0.37, "buy", m.ts)
        if step % 3 == 0:
            item = m.ticker_item()
            assert item == _from_scratch(m)
            assert list(item) == list(_from_scratch(m))  # wire order
            shown.append(item)
            first = first or dict(item)
    assert len({id(item) for item in shown}) == len(shown)  # each ticker its own dict
    assert shown[0] == first and first["ts"] != shown[-1]["ts"]  # later tickers left the first alone
