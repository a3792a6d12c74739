"""Instrument `state` and maximum leverage (GET /public/instruments): parsed, served by the
simulator, and the pure checks the engine refuses entries with."""

from __future__ import annotations

import dataclasses

import pytest

from okxscalp.okx import parse
from okxscalp.okx.models import Instrument, instrument_tradeable, leverage_range_problem
from okxscalp.okx.rest import RestClient
from okxscalp.sim.instruments import INSTRUMENT_STATES

pytestmark = pytest.mark.timeout(30)

XRP = Instrument("XRP-USDT-SWAP", ct_val=100.0, tick_sz="0.0001", lot_sz="0.01", min_sz="0.01", max_leverage=50, state="live")


def test_only_a_live_instrument_is_tradeable() -> None:
    assert instrument_tradeable(XRP) is None
    for state in ("suspend", "preopen", "test", "rebase", "post_only", "settling", ""):
        reason = instrument_tradeable(dataclasses.replace(XRP, state=state))
        assert reason is not None and "XRP-USDT-SWAP" in reason and "live" in reason
        assert f"state={state or '(empty)'}" in reason


def test_leverage_must_lie_between_one_and_the_instrument_maximum() -> None:
    assert leverage_range_problem(1, XRP) is None and leverage_range_problem(50, XRP) is None
    assert "outside XRP-USDT-SWAP's range [1, 50]" in (leverage_range_problem(51, XRP) or "")
    assert "outside" in (leverage_range_problem(0.01, XRP) or "")  # OKX would take it; never meant
    no_max = dataclasses.replace(XRP, max_leverage=0.0)  # instruments without a `lever`
    assert "reports no maximum leverage" in (leverage_range_problem(5, no_max) or "")


def test_state_and_max_leverage_are_parsed_from_the_wire() -> None:
    item = {
        "instId": "XRP-USDT-SWAP", "ctVal": "100", "tickSz": "0.0001", "lotSz": "0.01", "minSz": "0.01",
        "lever": "75", "state": "suspend", "settleCcy": "USDT", "ctType": "linear",
    }
    (inst,) = parse.parse_instruments([item])
    assert (inst.state, inst.max_leverage) == ("suspend", 75.0)
    (no_lever,) = parse.parse_instruments([{**item, "lever": ""}])
    assert no_lever.max_leverage == 0.0  # nothing fits: the range check fails closed
    with pytest.raises(Exception, match="state"):
        parse.parse_instruments([{k: v for k, v in item.items() if k != "state"}])


async def test_the_simulator_serves_every_instrument_state(sim, sim_credentials) -> None:
    inst_id = "XRP-USDT-SWAP"
    async with RestClient(sim.rest_url, sim_credentials) as rest:
        (live,) = await rest.instruments(inst_id=inst_id)
    assert live.state == "live" and instrument_tradeable(live) is None and live.max_leverage == 50
    for state in INSTRUMENT_STATES:
        sim.exchange.set_instrument_state(inst_id, state)
        async with RestClient(sim.rest_url, sim_credentials) as rest:  # a fresh instruments cache
            (inst,) = await rest.instruments(inst_id=inst_id)
        assert inst.state == state and (instrument_tradeable(inst) is None) == (state == "live")
    with pytest.raises(ValueError, match="unknown instrument state"):
        sim.exchange.set_instrument_state(inst_id, "halted")
