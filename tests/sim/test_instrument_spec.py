"""The simulator's instrument spec is an okx.models.Instrument (its grid helpers, not copies), and
the instrument list it serves parses back to the very same Instrument fields."""

from __future__ import annotations

import dataclasses

import pytest

from okxscalp.okx.models import Instrument
from okxscalp.okx.parse import parse_instruments
from okxscalp.sim.instruments import SHIPPED, instrument_wire, spec_for

SPECS = [*SHIPPED.values(), *(spec_for(f"SYN{n:02d}-USDT-SWAP") for n in range(12))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.inst_id)
def test_the_served_list_parses_back_to_the_spec(spec: Instrument) -> None:
    assert isinstance(spec, Instrument)
    [parsed] = parse_instruments([instrument_wire(spec)])
    for field in dataclasses.fields(Instrument):
        assert getattr(parsed, field.name) == getattr(spec, field.name), field.name


def test_the_wire_keeps_okx_number_strings() -> None:
    btc, xrp = instrument_wire(SHIPPED["BTC-USDT-SWAP"]), instrument_wire(SHIPPED["XRP-USDT-SWAP"])
    assert (btc["ctVal"], btc["lever"], btc["tickSz"]) == ("0.01", "100", "0.1")
    assert (xrp["ctVal"], xrp["lever"], xrp["tickSz"]) == ("100", "50", "0.0001")


def test_the_spec_uses_the_models_grid() -> None:
    xrp = SHIPPED["XRP-USDT-SWAP"]
    assert xrp.format_price(1.23456) == "1.2346"
    assert xrp.format_size(3.149) == "3.14"
    assert (xrp.tick, xrp.lot, xrp.px_decimals, xrp.sz_decimals) == (0.0001, 0.01, 4, 2)
    moved = dataclasses.replace(xrp, start_px=1.1893, state="suspend")
    assert (moved.start_px, moved.state, moved.ct_val) == (1.1893, "suspend", 100.0)
