"""The report on a journal the real engine wrote against the simulator (loopback, nothing mocked):
an entry and an operator close come out as one trade with the exchange's fill prices and fees."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from okxscalp.backtest.journal_read import read_journal
from okxscalp.backtest.report import build_report
from okxscalp.backtest.report_render import render_html
from okxscalp.config.schema import Purpose
from okxscalp.engine.journal import JournalPosition
from okxscalp.engine.orchestrator import Engine
from okxscalp.okx.models import Side

ENGINE_TESTS = str(Path(__file__).resolve().parents[1] / "engine")
if ENGINE_TESTS not in sys.path:
    sys.path.insert(0, ENGINE_TESTS)
from engine_helpers import make_config, open_position, running_engine, sim_server, wait_until  # noqa: E402

XRP = "XRP-USDT-SWAP"


def _rest_orders(doc: dict[str, Any]) -> None:
    doc["order_executor"]["limit_order"]["timeout_s"] = 2.0
    doc["order_entry"] = {"transport": "rest", "rest_fallback": True}


def _settled(engine: Engine) -> JournalPosition | None:
    engine.journal.flush()
    rows = engine.journal.positions("closed")
    return rows[0] if rows and rows[0].realised_pnl is not None else None


@pytest.mark.timeout(90)
async def test_an_engine_run_reports_its_trade_with_the_exchanges_fees(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=_rest_orders)
    async with sim_server(seed=9, speed=10) as server, running_engine(config, server, auto_entries=False) as engine:
        assert await wait_until(lambda: engine.registry.freshness(XRP).satisfied[Purpose.ORDER]
                                and engine.feed.entries_allowed()[0], 20)
        position = await open_position(engine, XRP, Side.BUY)
        snap = position.snapshot
        engine.request_close(XRP, "long")
        assert await wait_until(lambda: _settled(engine) is not None, 30)
        wire_fills = server.exchange.fills(XRP, 100)
        gross = _gross(engine, snap.entry_cl_ord_id)
        report = build_report(read_journal(engine.journal.path))  # read-only, while the engine holds it
    row = _settled_row(report)
    paid = -sum(_order_fee(wire_fills, ord_id) for ord_id in {f["ordId"] for f in wire_fills})
    assert report.totals.stats.count == 1 and report.open_at_end == 0
    assert row.cause == "operator" and report.totals.exits["operator"] == 1
    assert row.view.entry_regime == "choppy" and [g.name for g in report.by_regime] == ["choppy"]
    assert row.view.fees == pytest.approx(paid) and paid > 0
    assert row.view.realised_pnl == pytest.approx(gross - paid)
    if snap.atr_at_entry:
        assert row.tp_atr == pytest.approx(abs(snap.tp_px - snap.entry_px) / snap.atr_at_entry)
    else:
        assert row.tp_atr is None and report.totals.without_atr == 1
    page = render_html(report)
    assert page.count('class="entry"') == 1 and page.count('class="exit"') == 1


def _settled_row(report: Any) -> Any:
    [row] = report.trades
    return row


def _order_fee(wire_fills: list[dict[str, Any]], ord_id: str) -> float:
    """An order's accumulated fee: the fills push carries each fill's own fee; OKX's fee is negative when paid."""
    return sum(float(f["fee"]) for f in wire_fills if f["ordId"] == ord_id)


def _gross(engine: Engine, entry_cl_ord_id: str) -> float:
    [row] = [p for p in engine.journal.positions("closed") if p.entry_cl_ord_id == entry_cl_ord_id]
    assert row.realised_pnl is not None
    return row.realised_pnl
