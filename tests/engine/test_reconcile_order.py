"""Reconciliation looks up the tracked entries the exchange no longer lists as pending in the order
they were tracked (issue 14: a backtest's journal must not depend on PYTHONHASHSEED). It iterated
`tracked.keys() - seen`, a set of clOrdIds: its order, and with it the order of the lookups and of
the journal rows they write, differed from process to process (the old code passes this test by
chance with a probability of 1/720). Against the simulator over loopback; nothing mocked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import sim_server

from okxscalp.config import default_config_path, load_config
from okxscalp.config.provider import ParameterProvider
from okxscalp.engine.journal import Journal
from okxscalp.engine.positions import PositionManager
from okxscalp.engine.reconcile import Reconciler
from okxscalp.okx.models import Order
from okxscalp.okx.rest import RestClient
from okxscalp.sim.exchange import DEFAULT_INST_IDS
from okxscalp.sim.server import SIM_CREDENTIALS

pytestmark = pytest.mark.timeout(60)


async def test_entries_gone_from_the_exchange_are_looked_up_in_the_order_they_were_tracked(tmp_path: Path) -> None:
    async with sim_server(seed=5) as server:
        exchange = server.exchange
        tracked: dict[str, str] = {}
        # Six entries (two on the first instrument), placed and cancelled on the exchange while the
        # engine did not hear of it: tracked, no longer pending. Tracked in an order no sort gives.
        for n, inst_id in enumerate([*reversed(DEFAULT_INST_IDS), DEFAULT_INST_IDS[0]]):
            market = exchange.markets[inst_id]
            px = Decimal(market.bid - 50) * Decimal(exchange.specs[inst_id].tick_sz)
            cl_ord_id = "oxe" + "tcaebd"[n]
            placed = exchange.place_order({"instId": inst_id, "tdMode": "cross", "side": "buy", "posSide": "long",
                                           "ordType": "limit", "px": str(px), "sz": "1", "clOrdId": cl_ord_id})
            assert placed["sCode"] == "0", placed
            exchange.cancel_order({"instId": inst_id, "clOrdId": cl_ord_id})
            tracked[cl_ord_id] = inst_id
        assert list(tracked) != sorted(tracked)
        looked_up: list[str] = []

        async def on_entry_order(order: Order) -> None:
            looked_up.append(order.cl_ord_id)

        settings = ParameterProvider(load_config(default_config_path())).account_settings()
        journal = Journal(str(tmp_path / "journal.sqlite"))
        rest = RestClient(server.rest_url, SIM_CREDENTIALS)
        try:
            instruments = {i.inst_id: i for i in await rest.instruments()}
            reconciler = Reconciler(rest, journal, PositionManager(journal, lambda inst_id: instruments[inst_id].ct_val),
                                    instruments, settings, tracked_entries=lambda: dict(tracked),
                                    on_entry_order=on_entry_order)
            report = await reconciler.run("test")
        finally:
            await rest.close()
            journal.close()
    assert looked_up == list(tracked)
    assert report.synced_orders == list(tracked)
