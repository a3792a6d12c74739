"""Funding against the simulator: an engine holds a position, a funding settlement happens, and the
journal, the bills endpoint, the balance, the console snapshot, today's P&L and the closed trade
all agree on the amount (issue 12). Real loopback sockets; the settlement is the simulator's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import okx.Account as Account
import pytest
from engine_helpers import make_config, open_position, running_engine, sim_server, wait_until

from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Side
from okxscalp.sim.server import SIM_CREDENTIALS, SimServer

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]

XRP = "XRP-USDT-SWAP"
RATE = 0.0005  # longs pay 0.05 % of the position's value


def wide_exits(doc: dict[str, Any]) -> None:
    """The position stays open until the test closes it."""
    for regime in ("trending", "choppy", "ranging"):
        doc["symbol_profiles"]["XRP-USDT"][regime].update(tp_percent=5.0, sl_percent=3.0)


def sdk_account(server: SimServer) -> Any:
    creds = SIM_CREDENTIALS
    return Account.AccountAPI(api_key=creds.api_key, api_secret_key=creds.secret, passphrase=creds.passphrase,
                              flag="1", domain=server.rest_url)


def midnight() -> float:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def cash_balance(account: Any) -> float:
    return float(account.get_account_balance()["data"][0]["details"][0]["cashBal"])


async def test_funding_on_an_open_position_agrees_everywhere(tmp_path: Path) -> None:
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=wide_exits)
    async with sim_server(seed=9, speed=10) as server, running_engine(config, server, auto_entries=False) as engine:
        position = await open_position(engine, XRP, Side.BUY)
        assert await wait_until(lambda: engine.account.day_pnl()[0] is not None, 30), engine.halt_reasons()
        account = sdk_account(server)
        cash_before = await asyncio.to_thread(cash_balance, account)
        day_before = engine.account.day_pnl()[0]
        assert day_before is not None

        server.exchange.set_funding_rate(XRP, RATE)
        bills = server.exchange.settle_funding_now(XRP)
        assert len(bills) == 1
        amount = float(bills[0]["pnl"])
        mark = float(bills[0]["px"])
        assert amount == pytest.approx(-position.size * engine.instruments[XRP].ct_val * mark * RATE, rel=1e-6)
        assert amount < 0  # a long pays a positive rate

        # The engine learns it from the positions push and journals it.
        assert await wait_until(lambda: engine.private_events.funding.charges == 1, 10)
        await engine.journal.aflush()
        rows = engine.journal.funding()
        assert len(rows) == 1
        assert rows[0].amount == pytest.approx(amount, rel=1e-9)
        assert rows[0].position_cl_ord_id == position.snapshot.entry_cl_ord_id

        # The bills endpoint (GET /account/bills through python-okx) and the balance say the same.
        reply = await asyncio.to_thread(account.get_account_bills, instType="SWAP", type="8")
        assert reply["code"] == "0"
        assert [(b["instId"], b["subType"]) for b in reply["data"]] == [(XRP, "173")]
        assert float(reply["data"][0]["pnl"]) == pytest.approx(amount, rel=1e-9)
        cash_after = await asyncio.to_thread(cash_balance, account)
        assert cash_after - cash_before == pytest.approx(amount, rel=1e-6)

        # The console snapshot: the position's funding, an event in the events pane, a notice.
        snapshot = engine.snapshot()
        (view,) = [p for p in snapshot.positions if p.inst_id == XRP]
        assert view.funding == pytest.approx(amount, rel=1e-9)
        funding_events = [e for e in snapshot.recent_events if e.kind is FallbackKind.FUNDING]
        assert funding_events and funding_events[-1].symbol == XRP and "paid" in funding_events[-1].detail
        assert snapshot.event_counts[FallbackKind.FUNDING.value] == 1
        assert any(n.kind == "funding" for n in snapshot.notices)

        # Today's P&L counts it, now and as the journal sums it.
        assert engine.account.day_pnl()[0] == pytest.approx(day_before + amount, rel=1e-9)
        assert engine.journal.realised_pnl_since(midnight()) == pytest.approx(day_before + amount, rel=1e-9)

        # Closed: the trade's P&L includes the funding, shown next to its fees.
        engine.request_close(XRP, "long")
        assert await wait_until(lambda: bool(engine.snapshot().trades), 30)
        assert await wait_until(lambda: engine.snapshot().trades[0].realised_pnl is not None, 30)
        trade = engine.snapshot().trades[0]
        assert trade.funding == pytest.approx(amount, rel=1e-9)
        row = engine.journal.positions("closed")[0]
        fees = trade.fees or 0.0
        assert trade.realised_pnl == pytest.approx(row.realised_pnl - fees + amount, rel=1e-9, abs=1e-12)
