"""The order of the simulator's pushes within one step or command is defined (issue 14: a backtest's
journal must not depend on PYTHONHASHSEED): never the iteration order of a set of strings, which
differs from process to process. Each test would pass by chance on the old (set-ordered) code with a
probability of 1/9! and 1/5! respectively."""

from __future__ import annotations

from decimal import Decimal

import pytest

from okxscalp.sim.exchange import DEFAULT_INST_IDS, SimExchange
from okxscalp.sim.market import SIM_BARS

pytestmark = pytest.mark.timeout(60)
START_MS = 1_732_435_200_000
XRP = "XRP-USDT-SWAP"


def make() -> SimExchange:
    ex = SimExchange(seed=5, start_wall_s=0.0, start_sim_ms=START_MS, history_minutes=5, inst_ids=DEFAULT_INST_IDS)
    ex.advance_sim_seconds(1.0)
    return ex


def test_one_steps_candle_pushes_follow_the_bar_order_not_a_sets() -> None:
    ex = make()
    for bar in reversed(SIM_BARS):  # declared in reverse: the pushes follow the bars, not the subscriptions
        ex.set_channel_interest("candle" + bar, XRP, True)
    ex.drain_events()
    steps_with_every_bar = 0
    for _ in range(30):
        ex.advance_steps(1)
        open_bars = [e.channel.removeprefix("candle") for e in ex.drain_events()
                     if e.channel.startswith("candle") and e.data[8] == "0"]
        assert open_bars == sorted(open_bars, key=SIM_BARS.index)
        steps_with_every_bar += len(open_bars) == len(SIM_BARS)
    assert steps_with_every_bar >= 2  # once a second every bar's open candle is pushed


def test_a_restored_accounts_book_pushes_follow_the_instrument_order() -> None:
    ex = make()
    for inst_id in DEFAULT_INST_IDS:  # a resting buy two ticks under the bid in every instrument
        market = ex.markets[inst_id]
        px = Decimal(market.bid - 2) * Decimal(ex.specs[inst_id].tick_sz)
        item = ex.place_order({"instId": inst_id, "tdMode": "cross", "side": "buy", "posSide": "long",
                               "ordType": "limit", "px": str(px), "sz": "1"})
        assert item["sCode"] == "0", item
    saved = ex.export_account()
    again = make()
    for inst_id in DEFAULT_INST_IDS:
        again.set_channel_interest("books5", inst_id, True)
    again.drain_events()
    again.restore_account(saved)
    shown = [e.inst_id for e in again.drain_events() if e.channel == "books5"]
    assert shown == list(again.markets) and len(shown) == len(DEFAULT_INST_IDS)
