"""Issue 10 #4: a balance outage — at start-up, across a restart, across 00:00 UTC — never resets
today's realised loss. Entries stay closed, with a reason naming what is missing, until the day's
start equity and today's realised P&L (from the journal) are both known; then the limit applies
with today's loss. Against the simulator's REST endpoint and its `busy` fault."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import make_config, running_engine, sim_server, wait_until
from test_journal import make_snapshot

from okxscalp.engine.account import BALANCE_MAX_AGE_S, Account
from okxscalp.engine.journal import Journal
from okxscalp.engine.risk import DAY_S, utc_day_start
from okxscalp.engine.signals import Signal
from okxscalp.engine.supervisor import EntrySupervisor
from okxscalp.market.events import FallbackKind
from okxscalp.okx.auth import Credentials
from okxscalp.okx.models import Regime, Side
from okxscalp.okx.rest import RestClient

XRP = "XRP-USDT-SWAP"
BALANCE_PATH = "/api/v5/account/balance"


def journal_close(journal: Journal, cl_ord_id: str, pnl: float, closed_at: float) -> None:
    """A position of today, closed with `pnl` realised at `closed_at`."""
    snapshot = dataclasses.replace(make_snapshot(cl_ord_id), entry_time=closed_at - 300.0)
    journal.write_snapshot_blocking(snapshot)
    assert journal.close_position(cl_ord_id, reason="stop_loss: test", close_px=2.156, realised_pnl=pnl,
                                  closed_at=closed_at).result(10)


async def clear_of_midnight(margin_s: float = 90.0) -> None:
    """These tests must not straddle 00:00 UTC on the wall clock (the day would roll under them)."""
    left = utc_day_start(time.time()) + DAY_S - time.time()
    if left < margin_s:
        await asyncio.sleep(left + 1.0)


@pytest.mark.timeout(90)
async def test_a_restart_during_a_balance_outage_keeps_todays_realised_loss(tmp_path: Path) -> None:
    """The journal holds -320 USDT realised today; the engine restarts while /account/balance is
    busy. Old code: start-up skipped the day (no equity), the next housekeeping started it at
    realised 0 — the limit was reset and entries reopened."""
    await clear_of_midnight()
    config = make_config(tmp_path, symbols=["XRP-USDT"])
    with Journal(config.journal_path) as journal:
        journal_close(journal, "okxsLOSS1", -320.0, time.time() - 30.0)
    async with sim_server(seed=5, speed=5) as server:
        server.faults.busy(5.0, BALANCE_PATH)  # outlasts the start-up read and its retries
        async with running_engine(config, server, auto_entries=False) as engine:
            account = engine.account
            assert account is not None
            assert BALANCE_PATH in account.balance_error  # the start-up read failed, and says so
            # During the outage: entries halted, the reason names what is missing.
            reasons = engine.halt_reasons()
            assert any(r.startswith("daily loss limit not applied yet") for r in reasons), reasons
            assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: balance outage"))

            # The outage ends; housekeeping reads the balance again and starts the day with -320.
            assert await wait_until(lambda: not account.balance_error and account.daily_loss.start_equity is not None, 30)
            limit = account.daily_loss
            assert limit.realised_pnl == pytest.approx(-320.0)
            assert limit.start_equity == pytest.approx(account.equity + 320.0)  # no trades: equity unchanged
            # 3 % of ~10,320 is ~309.6: -320 reaches it; entries stay halted, saying why.
            reasons = engine.halt_reasons()
            assert any(r.startswith("daily loss limit: realised -320.00 USDT since 00:00 UTC") for r in reasons), reasons
            assert not engine.submit_signal(Signal(XRP, Side.BUY, Regime.CHOPPY, "test: limit reached"))


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.timeout(60)
async def test_account_outage_is_named_evented_retried_and_survives_the_day_roll(tmp_path: Path) -> None:
    """The account against the simulator's REST, with a clock the test moves: what entries are
    halted for, when events are emitted, the equity's age bound and 00:00 UTC."""
    config = make_config(tmp_path, symbols=["XRP-USDT"], mutate=lambda doc: doc["rest"].update(max_retries=1))
    noon = utc_day_start(time.time()) + DAY_S / 2
    clock = FakeClock(noon)
    events: list[tuple[Any, ...]] = []
    sim = config.exchange.sim
    async with sim_server(seed=5, speed=5) as server:
        rest = RestClient(server.rest_url, Credentials(sim.api_key, sim.api_secret, sim.passphrase), config.rest)
        try:
            with Journal(config.journal_path) as journal:
                journal_close(journal, "okxsA", -250.0, noon - 3600.0)
                journal_close(journal, "okxsY", -900.0, noon - DAY_S)  # yesterday: not today's
                supervisor = EntrySupervisor()
                account = Account(rest, journal, supervisor, 3.0, emit=lambda *e: events.append(e), clock=clock)

                def reasons(prefix: str) -> list[str]:
                    return [r for r in supervisor.reasons() if r.startswith(prefix)]

                def account_events() -> list[str]:
                    return [e[2] for e in events if e[0] is FallbackKind.ACCOUNT]

                server.faults.busy(60.0, BALANCE_PATH)
                await account.refresh()
                assert reasons("balance: equity not known (") and BALANCE_PATH in reasons("balance:")[0]
                [daily] = reasons("daily loss limit")
                assert daily.startswith("daily loss limit not applied yet: day-start equity unknown (balance: ")
                assert "realised P&L" not in daily  # that one was read
                assert len(account_events()) == 1 and account_events()[0].startswith("balance refresh failed")
                await account.refresh()  # still failing: retried, not a new event
                assert len(account_events()) == 1

                server.faults.busy(0.0, BALANCE_PATH)
                await account.refresh()
                assert len(account_events()) == 2 and account_events()[1].startswith("balance read again")
                assert account.balance_error == "" and not reasons("balance")
                equity = account.equity
                assert equity is not None and account.daily_loss.start_equity == pytest.approx(equity + 250.0)
                assert account.daily_loss.realised_pnl == pytest.approx(-250.0)
                assert not reasons("daily loss limit")  # -250 of ~-307.5

                # An equity too old to size against halts; a fresh read clears it.
                clock.now += BALANCE_MAX_AGE_S + 1.0
                assert reasons("balance: equity 31 s old, over 30 s")
                await account.refresh()
                assert not reasons("balance")

                # A close today: the running sum and the journal agree; the limit is reached.
                journal_close(journal, "okxsB", -60.0, clock.now)
                account.record_realised(-60.0)
                [daily] = reasons("daily loss limit")
                assert daily.startswith("daily loss limit: realised -310.00 USDT")
                await account.refresh()  # the journal's figure is the same: nothing moves
                assert account.daily_loss.realised_pnl == pytest.approx(-310.0)

                # 00:00 UTC during a new outage: yesterday's equity does not start today.
                server.faults.busy(60.0, BALANCE_PATH)
                clock.now = utc_day_start(noon) + DAY_S + 1.0
                journal_close(journal, "okxsC", -40.0, clock.now)
                account.record_realised(-40.0)  # before today is started: the journal keeps it
                await account.refresh()
                [daily] = reasons("daily loss limit")
                assert daily.startswith("daily loss limit not applied yet: no equity read since 00:00 UTC (balance: ")
                assert len(account_events()) == 3
                server.faults.busy(0.0, BALANCE_PATH)
                await account.refresh()
                assert account.daily_loss.realised_pnl == pytest.approx(-40.0)
                assert account.daily_loss.start_equity == pytest.approx(equity + 40.0)
                assert not reasons("daily loss limit") and not reasons("balance")
        finally:
            await rest.close()
