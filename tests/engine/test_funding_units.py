"""Funding in the engine, piece by piece: the charge rule, the journal's funding table and the day's
realised P&L, the watch that turns `fundingFee` into charges (ours across a restart, an orphan's
baseline), and the trade history counting funding in a trade's P&L."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from okxscalp.engine.funding import FundingWatch, new_funding
from okxscalp.engine.journal import SCHEMA_VERSION, FundingRecord, Journal
from okxscalp.engine.notices import NoticeBoard
from okxscalp.engine.positions import ManagedPosition
from okxscalp.engine.trade_history import TradeRecord
from okxscalp.market.events import FallbackKind
from okxscalp.okx.models import Position, PosSide
from okxscalp.okx.parse import parse_positions

# One positions row as OKX documents it (docs websocket-positions-channel), the fields parse needs.
POSITION_ROW = {
    "instId": "XRP-USDT-SWAP", "posSide": "long", "pos": "10", "avgPx": "0.5", "markPx": "0.5", "upl": "0",
    "lever": "10", "mgnMode": "cross", "uTime": "1700000000000", "posId": "1", "fundingFee": "-0.4",
}

XRP = "XRP-USDT-SWAP"


def push(funding_fee: float | None, pos: float = 10.0) -> Position:
    return Position(XRP, PosSide.LONG, pos, 0.5, 0.5, 0.0, 10.0, "cross", 1_700_000_000_000, "1", funding_fee=funding_fee)


def ours(entry: str) -> ManagedPosition:
    snapshot: Any = SimpleNamespace(entry_cl_ord_id=entry)  # only its identity is read here
    return ManagedPosition(XRP, PosSide.LONG, 10.0, snapshot, time.time())


class Calls:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.realised: list[float] = []
        self.charges: list[FundingRecord] = []


def watch(journal: Journal, calls: Calls) -> FundingWatch:
    return FundingWatch(journal, NoticeBoard(), lambda *a: calls.events.append(a), calls.realised.append,
                        [calls.charges.append])


def test_new_funding_is_the_change_of_the_total() -> None:
    assert new_funding(0.0, -0.25) == pytest.approx(-0.25)
    assert new_funding(-0.25, -0.25) is None
    assert new_funding(-0.25, -0.1) == pytest.approx(0.15)


def test_journal_funding_rows_migrate_and_count_in_the_day(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(str(path)) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        since = time.time() - 1
        journal.record_funding(FundingRecord(XRP, "long", "E1", -0.3, -0.3, 1))
        journal.record_funding(FundingRecord(XRP, "long", "", 0.1, 0.1, 2))
        journal.flush()
        assert [(r.position_cl_ord_id, r.amount) for r in journal.funding()] == [("E1", -0.3), ("", 0.1)]
        assert [r.total for r in journal.funding("E1")] == [-0.3]
        assert journal.realised_pnl_since(since) == pytest.approx(-0.2)
        assert journal.realised_pnl_since(time.time() + 60) == 0.0
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "funding" in tables


def test_watch_journals_each_settlement_of_our_position_and_what_a_restart_missed(tmp_path: Path) -> None:
    with Journal(str(tmp_path / "j.db")) as journal:
        calls = Calls()
        first = watch(journal, calls)
        position = ours("E1")
        assert first.on_position(position, push(0.0)) is None  # a new position, nothing settled
        charge = first.on_position(position, push(-0.2))
        assert charge is not None and charge.amount == pytest.approx(-0.2) and position.funding == -0.2
        assert first.on_position(position, push(-0.2)) is None  # a regular snapshot repeats the total
        assert calls.realised == [pytest.approx(-0.2)] and len(calls.charges) == 1
        (event,) = calls.events
        assert event[0] is FallbackKind.FUNDING and event[1] == XRP and "paid" in event[2]
        journal.flush()

        # Restarted: the journal's -0.2 is known; the exchange now says -0.5 (one settlement while down).
        again_calls = Calls()
        again = watch(journal, again_calls)
        again.load(journal.funding())
        charge = again.on_position(ours("E1"), push(-0.5))
        assert charge is not None and charge.amount == pytest.approx(-0.3)
        journal.flush()
        assert sum(r.amount for r in journal.funding("E1")) == pytest.approx(-0.5)


def test_a_row_without_fundingfee_is_not_a_charge(tmp_path: Path) -> None:
    """A push that does not carry `fundingFee` says nothing about funding: read as 0 it would journal
    the whole known total back as income."""
    assert parse_positions([{**POSITION_ROW, "fundingFee": ""}])[0].funding_fee is None
    with Journal(str(tmp_path / "j.db")) as journal:
        calls = Calls()
        funding = watch(journal, calls)
        position = ours("E1")
        assert funding.on_position(position, push(-0.4)) is not None
        assert funding.on_position(position, push(None)) is None
        assert position.funding == -0.4 and calls.realised == [pytest.approx(-0.4)]


def test_an_orphans_first_total_is_its_baseline(tmp_path: Path) -> None:
    with Journal(str(tmp_path / "j.db")) as journal:
        calls = Calls()
        orphans = watch(journal, calls)
        orphan = ManagedPosition(XRP, PosSide.LONG, 10.0, None, time.time())
        assert orphans.on_position(orphan, push(-1.0)) is None  # paid before the engine saw it
        charge = orphans.on_position(orphan, push(-0.7))
        assert charge is not None and charge.amount == pytest.approx(0.3) and charge.position_cl_ord_id == ""
        assert calls.realised == [pytest.approx(0.3)]


def test_a_trade_counts_its_funding_next_to_its_fees() -> None:
    record = TradeRecord(entry_cl_ord_id="E1", inst_id=XRP, side="long", entry_regime="choppy", size=10.0,
                         entry_px=0.5, exit_px=0.51, opened_at=0.0, closed_at=1.0, reason="take_profit",
                         gross_pnl=1.0, pnl_bound=None, fees=None, funding=-0.25)
    view = record.view()
    assert view.funding == -0.25 and view.realised_pnl == pytest.approx(0.75)
