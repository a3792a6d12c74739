"""Every priced order records the exchange timestamp of its quote (journal `quote_ts_ms`), and
its true age at the exchange (the order's arrival, cTime, minus that timestamp, both exchange
time) stays within the budget it was checked against."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until

from okxscalp.config.schema import Purpose
from okxscalp.engine.signals import Signal
from okxscalp.okx.models import Regime, Side

XRP = "XRP-USDT-SWAP"


@pytest.mark.timeout(90)
async def test_an_entry_records_its_quote_timestamp_and_its_true_age_is_within_budget(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    async with sim_server(seed=9, speed=10) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and not engine.halt_reasons(), 20), engine.halt_reasons()
        assert engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test entry"))
        assert await wait_until(lambda: any(o.purpose == "entry" and o.ord_id for o in engine.journal.orders()), 10)
        engine.journal.flush()
        entry = next(o for o in engine.journal.orders() if o.purpose == "entry")
        assert entry.quote_ts_ms is not None and entry.quote_budget_s == engine.config.freshness.budget(Purpose.ORDER)
        placed = server.exchange.get_order(XRP, cl_ord_id=entry.cl_ord_id)
        true_age_s = (int(placed["cTime"]) - entry.quote_ts_ms) / 1000.0
        assert 0 <= true_age_s <= entry.quote_budget_s, (true_age_s, entry)
        assert entry.quote_age_s <= entry.quote_budget_s
