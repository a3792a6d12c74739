"""SymbolMarket.step folds `last` into the open 1s and 1m bars only on a trade or when the 1s bar
rolls over: that skips nothing only while both open bars close at `last` after every step (every
change of `last` is folded in: the market's trades and our taker fills alike)."""

from __future__ import annotations

from okxscalp.sim.candles import CLOSE, HIGH, LOW
from okxscalp.sim.exchange import SimExchange

BTC = "BTC-USDT-SWAP"


def test_the_open_bars_close_at_last_after_every_step_and_fill() -> None:
    ex = SimExchange(seed=3, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=30, inst_ids=[BTC])
    market = ex.markets[BTC]
    quiet_steps = 0
    for step in range(3000):
        if step % 400 == 7:  # a taker fill: SymbolMarket.print_trade moves `last` outside a step
            ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy" if step % 800 == 7 else "sell",
                            "posSide": "long" if step % 800 == 7 else "short", "ordType": "market", "sz": "1"})
        trades_before = market.trade_seq
        ex.advance_steps(1)
        quiet_steps += market.trade_seq == trades_before
        for series in (market.candles["1s"], market.candles["1m"]):
            bar = series.current
            assert bar is not None and bar[CLOSE] == market.last and bar[LOW] <= market.last <= bar[HIGH]
    assert quiet_steps > 500  # the shortcut was taken


def test_a_bar_wanted_within_a_second_pushes_its_open_row_at_the_next_step() -> None:
    # The step skips the open-row round once every wanted bar pushed in the current second; a bar
    # wanted since then must not wait for the next second.
    ex = SimExchange(seed=3, start_wall_s=0.0, start_sim_ms=1_732_435_200_000, history_minutes=30, inst_ids=[BTC])
    ex.set_channel_interest("candle1m", BTC, True)
    ex.advance_steps(11)  # 1.1 s: the 1m row of this second is out
    ex.drain_events()
    ex.advance_steps(1)
    assert [e.channel for e in ex.drain_events() if e.channel.startswith("candle")] == []
    ex.set_channel_interest("candle5m", BTC, True)
    ex.advance_steps(1)  # still the same second
    assert [e.channel for e in ex.drain_events() if e.channel.startswith("candle")] == ["candle5m"]
    ex.advance_steps(1)
    assert [e.channel for e in ex.drain_events() if e.channel.startswith("candle")] == []
