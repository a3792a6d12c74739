"""The account: position mode, balance (equity, available margin) and today's realised P&L.

Entries size against the equity and the available margin, and the daily loss limit compares
today's realised P&L with the equity the day started with. Each of these is a fact from the
exchange or the journal; while one is unknown, entries are halted (supervisor.py), never sized
against a guess:
- `Halt.BALANCE` while the equity (or the available margin) is unknown or older than
  BALANCE_MAX_AGE_S (a balance read or an `account` push renews it);
- `Halt.DAILY_LOSS` while today is not started (its reason names the missing fact) and once the
  realised loss reaches the limit.

`refresh()` (start-up, then housekeeping every few seconds) reads today's realised P&L from the
journal, then the balance, and starts the day from both whenever both are first known — at
start-up or later, after a balance outage or a new UTC day alike. A failing balance read is an
ACCOUNT event the first time and again when it recovers; in between it is retried every refresh.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from okxscalp.engine.journal import Journal, JournalError
from okxscalp.engine.risk import DailyLossLimit, utc_day, utc_day_start
from okxscalp.engine.supervisor import EmitFn, EntrySupervisor, Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

LONG_SHORT_MODE = "long_short_mode"
MARGIN_USE = 0.9  # share of the available margin entries may size against (fees, mark moves)
# The oldest equity entries may size against. A healthy engine renews it every ~5 s (housekeeping
# reads the balance, the exchange pushes the account about as often), so 30 s is several missed
# renewals in a row: a short 429 burst does not halt, a real outage does. Risk per trade is a
# share of the equity and closed trades are counted by the daily loss limit on their own, so an
# equity up to 30 s old misstates a size only by 30 s of unrealised P&L of the open positions.
BALANCE_MAX_AGE_S = 30.0
# Today's closes are read after the journal has committed what was written before; a journal that
# cannot commit (disk full) leaves today's realised P&L unknown instead of holding up housekeeping.
JOURNAL_READ_TIMEOUT_S = 5.0


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


@dataclass(frozen=True, slots=True)
class RealisedRead:
    """Today's realised P&L as the journal had it, and how many realised P&L records (closes,
    corrections) the engine had made when the read began (one made since may or may not be in `pnl`)."""

    pnl: float
    since_s: float  # 00:00 UTC of the day it sums
    records_seen: int


class Account:
    """Balance and day P&L; see the module docstring. Read by the console: `equity`,
    `balance_wall` (when it was last renewed, epoch s) / `balance_age_s()`, `balance_error`."""

    def __init__(
        self,
        rest: RestClient,
        journal: Journal,
        supervisor: EntrySupervisor,
        daily_loss_limit_percent: float,
        *,
        emit: EmitFn | None = None,
        ct_val_of: Callable[[str], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest = rest
        self.journal = journal
        self.supervisor = supervisor
        self.daily_loss = DailyLossLimit(daily_loss_limit_percent)
        self._emit = emit
        self._ct_val_of = ct_val_of  # bounds a journal row closed with unknown P&L (journal.realised_pnl_since)
        self._clock = clock
        self.equity: float | None = None
        self.available: float | None = None
        self.balance_wall: float | None = None  # when the equity was last renewed (read or push; epoch s)
        self.balance_error = ""  # the last balance read's failure, '' once one succeeds
        self.balance_failing_since: float | None = None  # first failure of the current outage (epoch s)
        self.realised_error = ""  # why today's realised P&L could not be read, '' once it is
        self._realised_day: int | None = None  # the UTC day of the last successful journal read
        self._realised_records = 0  # record_realised calls (closes, corrections), ever
        self._records_at_equity = 0  # ... when the current equity was observed
        supervisor.add_probe(Halt.BALANCE, self._balance_reasons)
        supervisor.add_probe(Halt.DAILY_LOSS, self._daily_loss_reasons)

    # ---- reading -----------------------------------------------------------------------------

    def balance_age_s(self) -> float | None:
        return None if self.balance_wall is None else self._clock() - self.balance_wall

    def day_pnl(self) -> tuple[float | None, float | None]:
        """Today's realised P&L (closes with an unknown exit at their worst case) and the loss the
        day may reach before DAILY_LOSS halts entries (USDT), as the limit counts them; both None
        while today is not started (the halt's reason says what is missing)."""
        limit = self.daily_loss
        if not limit.started(self._clock()):
            return None, None
        return limit.realised_pnl, limit.loss_limit_amount

    def free_margin(self, reserved: float) -> float:
        """Available margin minus what live entry orders will take once filled."""
        if self.available is None:
            return 0.0  # unreachable for an entry: Halt.BALANCE holds while it is unknown
        return max(self.available * MARGIN_USE - reserved, 0.0)

    # ---- refresh -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Today's realised P&L from the journal, then the balance, then the day from both."""
        read = await self._read_realised_today()
        await self._read_balance()
        if read is not None:
            self._apply_day(read)

    async def refresh_balance(self) -> None:
        """The orchestrator's name for `refresh()` (start-up and housekeeping); remove with its call."""
        await self.refresh()

    def start_day(self) -> None:
        """Folded into `refresh()`; kept only while the orchestrator still calls it after refresh_balance."""

    def observe(self) -> None:
        """Folded into `refresh()`; kept only while the orchestrator still calls it after refresh_balance."""

    async def _read_realised_today(self) -> RealisedRead | None:
        now = self._clock()
        since = utc_day_start(now)
        records_seen = self._realised_records
        try:
            failure = self.journal.write_failure
            if failure:  # a close may be missing from it (JOURNAL halts entries for this too)
                raise JournalError(failure)
            # Everything written so far, today's closes included, is committed before the sum is read.
            await asyncio.wait_for(asyncio.shield(self.journal.aflush()), JOURNAL_READ_TIMEOUT_S)
            pnl = self.journal.realised_pnl_since(since, ct_val_of=self._ct_val_of)
        except (TimeoutError, JournalError, sqlite3.Error) as exc:
            text = f"journal not readable: {exc}" if not isinstance(exc, TimeoutError) else (
                f"journal did not commit within {JOURNAL_READ_TIMEOUT_S:g} s")
            if text != self.realised_error:
                log.warning("today's realised P&L not read %s", kv(error=text))
            self.realised_error = text
            return None
        if self.realised_error:
            log.info("today's realised P&L read again %s", kv(pnl=round(pnl, 6), after=self.realised_error))
        self.realised_error = ""
        self._realised_day = utc_day(now)
        return RealisedRead(pnl, since, records_seen)

    async def _read_balance(self) -> bool:
        try:
            balance = await self.rest.balance()
        except OkxError as exc:
            self._balance_failed(exc)
            return False
        self._observe_equity(balance.total_eq, balance.avail_eq)
        if self.balance_failing_since is not None:
            down_s = self._clock() - self.balance_failing_since
            self._event(f"balance read again after {down_s:.0f} s of failures (last: {self.balance_error})", "rest")
            log.warning("balance refresh recovered %s", kv(after_s=round(down_s, 1), last_error=self.balance_error))
        self.balance_failing_since = None
        self.balance_error = ""
        return True

    def _balance_failed(self, exc: OkxError) -> None:
        self.balance_error = str(exc)
        log.warning("balance refresh failed %s", kv(error=exc, equity_age_s=_rounded(self.balance_age_s())))
        if self.balance_failing_since is not None:
            return
        self.balance_failing_since = self._clock()
        age = self.balance_age_s()
        known = "no equity known yet" if age is None else f"equity {age:.0f} s old"
        self._event(
            f"balance refresh failed: {exc}; {known}; retried every refresh, entries halt while the equity is "
            f"unknown or over {BALANCE_MAX_AGE_S:.0f} s old", "none",
        )

    def on_account_push(self, total_eq: float, avail_eq: float | None) -> None:
        if avail_eq is None:
            # Half a balance: the equity is new, the available margin is not, so the pair's age
            # (what BALANCE and the day start go by) stays that of the last full one.
            self.equity = total_eq
            return
        self._observe_equity(total_eq, avail_eq)

    def _observe_equity(self, total_eq: float, avail_eq: float | None) -> None:
        self.equity, self.available = total_eq, avail_eq
        self.balance_wall = self._clock()
        self._records_at_equity = self._realised_records

    # ---- the day -----------------------------------------------------------------------------

    def _apply_day(self, read: RealisedRead) -> None:
        """Start today from the equity and today's realised P&L (when not started yet), or put the
        journal's figure back as today's realised P&L. Only when no realised P&L was recorded between
        the reads: otherwise the two figures may not describe the same moment (next refresh)."""
        now = self._clock()
        if self._realised_records != read.records_seen:
            log.info("daily loss: realised P&L was recorded while today's was read; read again next refresh")
            return
        limit = self.daily_loss
        if not limit.started(now):
            if self.equity is None or self.balance_wall is None or self._records_at_equity != self._realised_records:
                return
            if limit.start_day(now, equity=self.equity, equity_at_s=self.balance_wall,
                               realised_today=read.pnl, realised_since_s=read.since_s):
                log.info("daily loss limit applied %s", kv(
                    start_equity=f"{limit.start_equity:.4f}", realised_today=f"{read.pnl:.4f}",
                    equity=f"{self.equity:.4f}", limit=f"{limit.loss_limit_amount:.4f}",
                    unknown_closes=len(self.journal.unresolved_closes())))
            return
        correction = limit.resync_realised(now, realised_today=read.pnl, realised_since_s=read.since_s)
        if abs(correction) > 1e-9:
            log.info("today's realised P&L set from the journal %s", kv(pnl=round(read.pnl, 6), correction=round(correction, 6)))

    def record_realised(self, pnl: float) -> None:
        self._realised_records += 1
        self.daily_loss.record_realised(pnl, self._clock())

    # ---- halt reasons (supervisor probes) ----------------------------------------------------

    def _balance_reasons(self) -> tuple[str, ...]:
        balance_wall = self.balance_wall
        if self.equity is None or balance_wall is None:
            return (f"balance: equity not known ({self.balance_error or 'not read yet'})",)
        if self.available is None:
            return (f"balance: available margin not known ({self.balance_error or 'not read yet'})",)
        age = self._clock() - balance_wall
        if age > BALANCE_MAX_AGE_S:
            return (f"balance: equity {age:.0f} s old, over {BALANCE_MAX_AGE_S:.0f} s "
                    f"({self.balance_error or 'not renewed'})",)
        return ()

    def _daily_loss_reasons(self) -> tuple[str, ...]:
        now = self._clock()
        verdict = self.daily_loss.check(now)
        if verdict.allowed:
            return ()
        if self.daily_loss.started(now):
            return (verdict.reason,)
        return ("daily loss limit not applied yet: " + "; ".join(self._day_missing(now)),)

    def _day_missing(self, now: float) -> list[str]:
        """What today's start still needs, in words."""
        missing: list[str] = []
        balance = f"balance: {self.balance_error}" if self.balance_error else "next balance read"
        if self.equity is None or self.balance_wall is None:
            missing.append(f"day-start equity unknown ({balance})")
        elif utc_day(self.balance_wall) != utc_day(now):
            missing.append(f"no equity read since 00:00 UTC ({balance})")
        if self._realised_day != utc_day(now):
            missing.append(f"today's realised P&L not read from the journal ({self.realised_error or 'next refresh'})")
        if not missing:
            missing.append("equity and today's realised P&L not yet read without a close between them (next refresh)")
        return missing

    def _event(self, detail: str, source: str) -> None:
        if self._emit is None:
            log.warning("account event %s", kv(detail=detail))
            return
        self._emit(FallbackKind.ACCOUNT, "", detail, source, "account")


def _rounded(value: float | None) -> float | str:
    return "-" if value is None else round(value, 1)
