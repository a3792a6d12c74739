"""Defects 11 and 15 of issue 10 at the engine: leverage comes from the config, else from the
symbol's open exchange position (an ADOPTED event, shown by explain), else entries halt for that
symbol; a non-live instrument halts entries for that symbol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.engine.signals import Signal
from okxscalp.engine.supervisor import Halt
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"
DOGE = "DOGE-USDT-SWAP"


def no_leverage_configured(doc: dict[str, Any]) -> None:
    doc["scalping"].pop("leverage", None)
    for profile in doc["symbol_profiles"].values():
        profile.pop("leverage", None)


@pytest.mark.timeout(90)
async def test_leverage_is_adopted_from_an_open_position_only_and_otherwise_halts(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT", "DOGE-USDT"], mutate=no_leverage_configured)
    async with sim_server(seed=5, speed=20) as server:
        server.exchange.set_leverage({"instId": XRP, "lever": "7", "mgnMode": "cross"})
        server.exchange.open_position_directly(XRP, "long", 10.0)
        async with running_engine(config, server, auto_entries=False) as engine:
            xrp = engine.leverage[XRP]
            assert xrp.resolution is not None and float(xrp.resolution.value) == 7.0
            assert xrp.resolution.from_exchange
            assert await wait_until(lambda: any(
                e.kind is FallbackKind.ADOPTED and e.symbol == XRP and "adopted" in e.detail
                for e in engine.snapshot().recent_events), 5)
            rows = {r.name: r for r in engine.explain("XRP-USDT", "choppy")}
            assert rows["leverage"].value == 7.0 and rows["leverage"].source_path.startswith("exchange")
            # DOGE: no config value, no position: no guess, entries halted for DOGE only.
            assert engine.leverage[DOGE].resolution is None
            assert engine.supervisor.is_set(Halt.LEVERAGE, DOGE)
            assert any("DOGE-USDT-SWAP: leverage unavailable" in r for r in engine.halt_reasons())
            assert not engine.submit_signal(Signal(DOGE, Side.BUY, Regime.CHOPPY, "test"))
            assert not engine.supervisor.is_set(Halt.LEVERAGE, XRP)


@pytest.mark.timeout(90)
async def test_a_suspended_instrument_halts_its_entries(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT", "DOGE-USDT"])
    async with sim_server(seed=5, speed=20) as server:
        server.exchange.set_instrument_state(XRP, "suspend")
        async with running_engine(config, server, auto_entries=False) as engine:
            assert engine.supervisor.is_set(Halt.INSTRUMENT, XRP)
            assert not engine.supervisor.is_set(Halt.INSTRUMENT, DOGE)
            assert any("suspend" in r for r in engine.supervisor.reasons(XRP))
            assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test"))


def isolated_margin(doc: dict[str, Any]) -> None:
    doc["scalping"]["margin_mode"] = "isolated"


@pytest.mark.timeout(90)
async def test_isolated_margin_sets_and_reads_back_the_leverage_of_each_side(tmp_path: Path) -> None:
    """OKX keeps an isolated leverage per posSide in long/short mode and set-leverage needs posSide
    there (51000 "Parameter posSide error" without it): the engine sets both sides, and a side set
    apart by hand afterwards reads as a mismatch."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=isolated_margin)
    async with sim_server(seed=5, speed=20) as server:
        async with running_engine(config, server, auto_entries=False) as engine:
            state = engine.leverage[XRP]
            assert state.resolution is not None and not state.mismatch
            wanted = float(state.resolution.value)
            levers = {i["posSide"]: float(i["lever"]) for i in server.exchange.leverage_info("isolated", XRP)}
            assert levers == {"long": wanted, "short": wanted}
            assert not engine.supervisor.is_set(Halt.LEVERAGE, XRP)
            server.exchange.set_leverage({"instId": XRP, "lever": f"{wanted + 1:g}", "mgnMode": "isolated", "posSide": "short"})
            await engine.leverage_keeper.refresh()
            assert engine.supervisor.is_set(Halt.LEVERAGE, XRP)
