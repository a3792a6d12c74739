"""The account: position mode, balance (equity, available margin) and today's realised P&L.

Entries size against the equity and the available margin, and the daily loss limit compares
today's realised P&L with the equity the day started with. Each of these is a fact from the
exchange or the journal; while one is unknown, entries are halted (supervisor.py), never sized
against a guess.
"""

from __future__ import annotations

import logging
import time

from okxscalp.engine.journal import Journal
from okxscalp.engine.risk import DailyLossLimit
from okxscalp.engine.supervisor import EntrySupervisor, Halt
from okxscalp.logging_setup import kv
from okxscalp.okx.errors import OkxError
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

LONG_SHORT_MODE = "long_short_mode"
MARGIN_USE = 0.9  # share of the available margin entries may size against (fees, mark moves)


class EngineStartError(Exception):
    """The engine cannot start against this account; the message says why and what to do."""


async def ensure_position_mode(rest: RestClient, exchange_mode: str) -> None:
    """long/short mode is required. The simulator is switched to it when it holds no position;
    anywhere else (or with positions) start-up stops and says why."""
    account = await rest.account_config()
    if account.pos_mode == LONG_SHORT_MODE:
        return
    positions = [p for p in await rest.positions() if p.pos != 0]
    if exchange_mode == "SIM" and not positions:
        await rest.set_position_mode(LONG_SHORT_MODE)
        log.info("position mode set %s", kv(from_=account.pos_mode, to=LONG_SHORT_MODE))
        return
    why = (
        f"{len(positions)} open position(s) block changing it" if positions
        else "okxscalp does not change the position mode of a real account"
    )
    raise EngineStartError(
        f"the account is in {account.pos_mode}; okxscalp needs {LONG_SHORT_MODE} (separate long and short "
        f"positions, posSide long/short on every order). {why}. Switch it in OKX: Trade → Settings → "
        f"Position mode → Long/short mode, with no open positions or orders."
    )


class Account:
    """Balance and day P&L. `refresh_balance` is called at start-up and by housekeeping."""

    def __init__(self, rest: RestClient, journal: Journal, supervisor: EntrySupervisor, daily_loss_limit_percent: float) -> None:
        self.rest = rest
        self.journal = journal
        self.supervisor = supervisor
        self.daily_loss = DailyLossLimit(daily_loss_limit_percent)
        self.equity: float | None = None
        self.available: float | None = None
        self.balance_wall: float | None = None  # when the last balance was read (epoch s)
        self.balance_error = ""  # the last refresh's failure, '' once one succeeds
        supervisor.add_probe(Halt.DAILY_LOSS, self._daily_loss_reasons)

    def _daily_loss_reasons(self) -> tuple[str, ...]:
        verdict = self.daily_loss.check(time.time())
        return () if verdict.allowed else (verdict.reason,)

    async def refresh_balance(self) -> bool:
        try:
            balance = await self.rest.balance()
        except OkxError as exc:
            self.balance_error = str(exc)
            log.warning("balance refresh failed %s", kv(error=exc))
            return False
        self.equity, self.available = balance.total_eq, balance.avail_eq
        self.balance_wall = time.time()
        self.balance_error = ""
        return True

    def on_account_push(self, total_eq: float, avail_eq: float | None) -> None:
        self.equity = total_eq
        if avail_eq is not None:
            self.available = avail_eq
        self.balance_wall = time.time()

    def start_day(self) -> None:
        """At start-up: the day's start equity from the current equity and today's realised P&L
        from the journal."""
        if self.equity is None:
            return
        midnight = time.time() // 86_400 * 86_400
        self.daily_loss.observe_equity(self.equity, time.time(), realised_today=self.journal.realised_pnl_since(midnight))

    def observe(self) -> None:
        """Housekeeping: the first equity of a new UTC day becomes its start equity."""
        if self.equity is not None:
            self.daily_loss.observe_equity(self.equity, time.time())

    def record_realised(self, pnl: float) -> None:
        self.daily_loss.record_realised(pnl, time.time())

    def free_margin(self, reserved: float) -> float:
        """Available margin minus what live entry orders will take once filled."""
        return max((self.available or 0.0) * MARGIN_USE - reserved, 0.0)
