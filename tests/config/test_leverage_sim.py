"""The leverage chain on real wire data: the lever of an open position on the simulator is adopted
(and said to be), the account's leverage-info setting never is, and every lever is checked against
the instrument's maximum from GET /public/instruments."""

from __future__ import annotations

from typing import Any

import pytest

from okxscalp.config import EXCHANGE_LEVER_SOURCE, EXCHANGE_LEVERAGE_INFO_SOURCE, LeverageUnavailable
from okxscalp.config.loader import load_document
from okxscalp.config.provider import ParameterProvider, leverage_adoption
from okxscalp.okx.models import OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(60)

XRP, ETH = "XRP-USDT-SWAP", "ETH-USDT-SWAP"


def provider_without_leverage(doc: dict[str, Any]) -> ParameterProvider:
    del doc["scalping"]["leverage"], doc["symbol_profiles"]["BTC-USDT"]["leverage"]
    return ParameterProvider(load_document(doc, "test.yaml"))


async def open_long(rest: RestClient, inst_id: str, lever: str) -> None:
    await rest.set_leverage(inst_id, lever, "cross")
    (instrument,) = await rest.instruments(inst_id=inst_id)
    pos_side = PosSide.LONG if (await rest.account_config()).pos_mode == "long_short_mode" else None
    await rest.place_order(
        OrderRequest(inst_id, Side.BUY, pos_side, "market", instrument.min_sz, td_mode="cross")
    )


async def open_levers(rest: RestClient, inst_id: str) -> list[float | None]:
    return [p.lever for p in await rest.positions(inst_id) if p.pos != 0]


async def test_an_open_position_lever_is_adopted_and_reported(sim, sim_credentials, doc) -> None:
    provider = provider_without_leverage(doc)
    async with RestClient(sim.rest_url, sim_credentials) as rest:
        (xrp,) = await rest.instruments(inst_id=XRP)
        with pytest.raises(LeverageUnavailable, match="nothing reported"):  # no position yet
            provider.resolve_leverage(XRP, await open_levers(rest, XRP), instrument=xrp)
        await open_long(rest, XRP, "7")
        res = provider.resolve_leverage(XRP, await open_levers(rest, XRP), instrument=xrp)
    assert (res.value, res.source_path, res.from_exchange) == (7.0, EXCHANGE_LEVER_SOURCE, True)
    assert (leverage_adoption(res, XRP) or "").startswith(
        f"{XRP}: leverage 7 adopted from the open position's lever"
    )


async def test_the_account_setting_and_an_out_of_range_lever_are_refused(sim, sim_credentials, doc) -> None:
    """Defect 11: leverage-info reported 0.01 and it was used. Neither the account setting nor a
    position opened at 0.01 gives a leverage now: entries for the symbol stay closed."""
    provider = provider_without_leverage(doc)
    async with RestClient(sim.rest_url, sim_credentials) as rest:
        (eth,) = await rest.instruments(inst_id=ETH)
        await rest.set_leverage(ETH, "0.01", "cross")
        setting = (await rest.leverage_info(ETH, "cross"))[0].lever
        assert setting == 0.01
        with pytest.raises(LeverageUnavailable, match="not a leverage source"):
            provider.resolve_leverage(
                ETH, setting, instrument=eth, exchange_source=EXCHANGE_LEVERAGE_INFO_SOURCE
            )
        await open_long(rest, ETH, "0.01")
        levers = await open_levers(rest, ETH)
        assert levers == [0.01]
        with pytest.raises(LeverageUnavailable, match=r"outside ETH-USDT-SWAP's range \[1, 100\]"):
            provider.resolve_leverage(ETH, levers, instrument=eth)
