"""The simulator's market dynamics (market.MarketDynamics, price_process.Swings): off is the plain
process draw for draw; swings have their documented size; the volatility factor scales every
instrument."""

from __future__ import annotations

import random
import statistics

import pytest

from okxscalp.sim.exchange import SimExchange
from okxscalp.sim.market import MarketDynamics
from okxscalp.sim.price_process import PriceProcess, Swings


def test_without_swings_the_path_is_the_plain_process_draw_for_draw() -> None:
    plain = PriceProcess(random.Random(3), 100.0, 0.001, 0.1)
    off = PriceProcess(random.Random(3), 100.0, 0.001, 0.1, Swings(0.0, 5.0))
    assert [plain.step() for _ in range(2000)] == [off.step() for _ in range(2000)]


def test_swings_have_the_documented_size() -> None:
    vol = 0.001
    proc = PriceProcess(random.Random(4), 100.0, vol, 1.0, Swings(2.0, 20.0))
    swings = []
    for _ in range(50_000):
        proc.step()
        swings.append(proc._swing)
    assert statistics.pstdev(swings) == pytest.approx(2.0 * vol, rel=0.1)


def test_the_volatility_factor_scales_every_instrument() -> None:
    calm = SimExchange(seed=5, history_minutes=0)
    busy = SimExchange(seed=5, history_minutes=0, dynamics=MarketDynamics(3.0))
    for inst_id, market in busy.markets.items():
        assert market.process._vol == pytest.approx(3.0 * calm.markets[inst_id].process._vol)


def test_bad_dynamics_are_refused() -> None:
    with pytest.raises(ValueError):
        MarketDynamics(0.0)
    with pytest.raises(ValueError):
        Swings(-1.0)
    with pytest.raises(ValueError):
        Swings(1.0, 0.0)
