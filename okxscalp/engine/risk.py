"""Entry risk: position limits, sizing in contracts, and the daily loss limit. Pure, no I/O.

Sizing (`size_position`):
    risk amount  = equity x risk_per_trade_percent / 100 x position_multiplier     (USDT)
    risk/contract = |entry - SL| x ctVal                                           (USDT per contract)
    contracts    = risk amount / risk per contract
    margin cap   = available margin x leverage / (entry x ctVal)                   (contracts)
    size         = min(contracts, margin cap), rounded DOWN to lotSz; below minSz -> no trade.
Every answer carries its reason and the numbers it came from.

Daily loss limit (`DailyLossLimit`): realised PnL since 00:00 UTC against the equity at the start
of that UTC day; when the loss reaches `daily_loss_limit_percent` of it, entries halt until the next
UTC day. A day whose start equity or realised PnL is not known halts too. Exits are never halted by it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from okxscalp.engine.reason_text import ReasonText, text_of
from okxscalp.okx.models import Instrument


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """`sz` is the size to send (a string on the lot grid) or None = no trade, `reason` says why."""

    sz: str | None
    contracts: float  # float(sz), 0.0 when no trade
    why: ReasonText  # written when read (reason_text.py)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return text_of(self.why)

    @property
    def ok(self) -> bool:
        return self.sz is not None


def size_position(
    *,
    instrument: Instrument,
    equity: float,
    risk_per_trade_percent: float,
    position_multiplier: float,
    entry_px: float,
    sl_px: float,
    leverage: float,
    available_margin: float,
) -> SizeDecision:
    """Contracts to trade so that hitting the SL loses the risk amount (see the module docstring)."""
    inputs: dict[str, Any] = {
        "equity": equity,
        "risk_per_trade_percent": risk_per_trade_percent,
        "position_multiplier": position_multiplier,
        "entry_px": entry_px,
        "sl_px": sl_px,
        "ct_val": instrument.ct_val,
        "lot_sz": instrument.lot_sz,
        "min_sz": instrument.min_sz,
        "leverage": leverage,
        "available_margin": available_margin,
    }

    def no(reason: str) -> SizeDecision:
        return SizeDecision(None, 0.0, f"{instrument.inst_id}: no trade: {reason}", inputs)

    for name in ("equity", "entry_px", "sl_px", "leverage", "available_margin"):
        if not math.isfinite(inputs[name]):
            return no(f"{name} is not finite ({inputs[name]!r})")
    if equity <= 0:
        return no(f"equity {equity} <= 0")
    if risk_per_trade_percent <= 0 or position_multiplier <= 0:
        return no(f"risk {risk_per_trade_percent}% x multiplier {position_multiplier} is not positive")
    if entry_px <= 0 or leverage <= 0 or instrument.ct_val <= 0:
        return no(f"entry {entry_px}, leverage {leverage}, ctVal {instrument.ct_val} must all be > 0")
    sl_distance = abs(entry_px - sl_px)
    if sl_distance <= 0:
        return no(f"SL {sl_px} equals entry {entry_px}")
    risk_amount = equity * risk_per_trade_percent / 100.0 * position_multiplier
    risk_per_contract = sl_distance * instrument.ct_val
    by_risk = risk_amount / risk_per_contract
    by_margin = max(available_margin, 0.0) * leverage / (entry_px * instrument.ct_val)
    raw = min(by_risk, by_margin)
    capped = by_margin < by_risk
    inputs.update(
        risk_amount=risk_amount,
        sl_distance=sl_distance,
        risk_per_contract=risk_per_contract,
        contracts_by_risk=by_risk,
        contracts_by_margin=by_margin,
        margin_capped=capped,
    )
    sz = _floor_to_lot(raw, instrument)
    contracts = float(sz)
    inputs["contracts"] = contracts
    limit = "margin cap" if capped else "risk"
    if contracts < instrument.min_size or contracts <= 0:
        return no(
            f"{raw:.6g} contracts by {limit} (risk {risk_amount:.4g} USDT / {risk_per_contract:.6g} per contract; "
            f"margin allows {by_margin:.6g}) rounds to {sz}, below minSz {instrument.min_sz}"
        )
    return SizeDecision(sz, contracts, partial(_sized_text, sz, inputs), inputs)


def _sized_text(sz: str, x: dict[str, Any]) -> str:
    capped = (
        f", capped by margin {x['available_margin']:.2f} x {x['leverage']}x = {x['contracts_by_margin']:.6g}"
        if x["margin_capped"] else ""
    )
    return (
        f"{sz} contracts: risk {x['risk_amount']:.4g} USDT ({x['risk_per_trade_percent']}% of {x['equity']:.2f} x "
        f"{x['position_multiplier']}) / ({x['sl_distance']:.6g} SL distance x ctVal {x['ct_val']}) = "
        f"{x['contracts_by_risk']:.6g}{capped}, rounded down to lotSz {x['lot_sz']}"
    )


def _floor_to_lot(contracts: float, instrument: Instrument) -> str:
    """Round down to the lot grid, except that a value within a millionth of a lot below a grid
    point is that grid point: 55 / 4.4 computes as 12.4999999..., which is 12.50 lots of 0.01,
    not 12.49. The grid point is built in Decimal, never from a float product."""
    units = contracts / instrument.lot
    nearest = round(units)
    if nearest > units and nearest - units <= 1e-6:
        step = Decimal(instrument.lot_sz)
        return format((Decimal(nearest) * step).quantize(step), "f")
    return instrument.format_size(contracts)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    why: ReasonText  # written when read: an allowed verdict's words are rarely read

    @property
    def reason(self) -> str:
        return text_of(self.why)


def check_position_limits(inst_id: str, open_inst_ids: Collection[str], max_positions: int) -> Verdict:
    """One position per symbol (either side) and at most `max_positions` open. `open_inst_ids`
    holds the instIds with an open position or a live entry order (both count)."""
    if inst_id in open_inst_ids:
        return Verdict(False, f"{inst_id}: already has an open position or entry order (one per symbol)")
    if len(open_inst_ids) >= max_positions:
        return Verdict(
            False, f"{inst_id}: {len(open_inst_ids)} positions open, max_positions is {max_positions}"
        )
    return Verdict(True, partial(_positions_open_text, inst_id, len(open_inst_ids), max_positions))


def _positions_open_text(inst_id: str, open_count: int, max_positions: int) -> str:
    return f"{inst_id}: {open_count} of {max_positions} positions open"


DAY_S = 86_400


def utc_day(epoch_s: float) -> int:
    """Days since the epoch, UTC (the day boundary is 00:00 UTC)."""
    return int(epoch_s // DAY_S)


def utc_day_start(epoch_s: float) -> float:
    """00:00 UTC of the day `epoch_s` falls in (epoch seconds)."""
    return float(utc_day(epoch_s) * DAY_S)


class DailyLossLimit:
    """Halts entries when the realised loss since 00:00 UTC reaches `limit_percent` of the equity
    at the start of that day.

    A day is *started* from two facts of that day, never from a default: an equity read since
    00:00 UTC and the realised P&L since 00:00 UTC (from the journal, which outlives restarts):
    start equity = equity - realised today. Until then `check` refuses. Each new UTC day starts
    unknown again; closes recorded before the day is started are not kept here (the journal has
    them and the start reads them), closes after it are added as they happen, and `resync_realised`
    puts the journal's figure back as the record (the running sum only bridges between reads)."""

    def __init__(self, limit_percent: float) -> None:
        if limit_percent <= 0:
            raise ValueError(f"daily loss limit must be > 0 %, got {limit_percent}")
        self.limit_percent = limit_percent
        self.day: int | None = None  # the UTC day the figures below belong to
        self.start_equity: float | None = None
        self.realised_pnl: float | None = None  # None until the day is started
        # The last verdict with what it was worked out from (start equity, realised, limit %):
        # the supervisor asks on every poll and every signal, the figures change once per close.
        self._verdict: tuple[float, float, float, Verdict] | None = None
        # [start, end) of `day` in epoch seconds: a time inside is of the same day without working
        # its day out (asked on every poll and signal); empty until the first roll.
        self._day_from_s = 1.0
        self._day_until_s = 0.0

    def _roll(self, now_s: float) -> None:
        if self._day_from_s <= now_s < self._day_until_s:
            return  # utc_day(now_s) == self.day: day * DAY_S and (day + 1) * DAY_S are exact floats
        day = utc_day(now_s)
        if day != self.day:
            self.day, self.start_equity, self.realised_pnl = day, None, None
        self._day_from_s = float(day * DAY_S)
        self._day_until_s = float((day + 1) * DAY_S)

    def started(self, now_s: float) -> bool:
        self._roll(now_s)
        return self.start_equity is not None

    def start_day(
        self, now_s: float, *, equity: float, equity_at_s: float, realised_today: float, realised_since_s: float
    ) -> bool:
        """Start today (once per UTC day) from an equity read at `equity_at_s` and the realised P&L
        since `realised_since_s`; both must be of today (an equity read before 00:00 UTC, or a
        realised sum over another span, starts nothing). True once today is started.

        After a restart the start equity is reconstructed as equity - realised_today (approximate:
        today's funding and the unrealised P&L of positions still open are folded into it)."""
        self._roll(now_s)
        if self.start_equity is not None:
            return True
        if utc_day(equity_at_s) != self.day or realised_since_s != utc_day_start(now_s):
            return False
        self.start_equity = equity - realised_today
        self.realised_pnl = realised_today
        return True

    def resync_realised(self, now_s: float, *, realised_today: float, realised_since_s: float) -> float:
        """Today's realised P&L as the journal records it replaces the running sum; returns the
        correction applied (0.0 when the day is not started or the sum spans another day)."""
        self._roll(now_s)
        if self.realised_pnl is None or realised_since_s != utc_day_start(now_s):
            return 0.0
        correction = realised_today - self.realised_pnl
        self.realised_pnl = realised_today
        return correction

    def record_realised(self, pnl: float, now_s: float) -> None:
        self._roll(now_s)
        if self.realised_pnl is not None:
            self.realised_pnl += pnl

    @property
    def loss_limit_amount(self) -> float | None:
        return None if self.start_equity is None else self.start_equity * self.limit_percent / 100.0

    def check(self, now_s: float) -> Verdict:
        """Entries allowed today? A day not started halts (no guess)."""
        self._roll(now_s)
        start, realised, percent = self.start_equity, self.realised_pnl, self.limit_percent
        if start is None or realised is None:
            return _DAY_NOT_STARTED
        cached = self._verdict
        # `is`: the same float objects (a -0.0 would equal 0.0 and write "-0.00" in the reason)
        if cached is not None and cached[0] is start and cached[1] is realised and cached[2] is percent:
            return cached[3]
        limit = start * percent / 100.0
        if -realised >= limit:
            verdict = Verdict(
                False,
                f"daily loss limit: realised {realised:.2f} USDT since 00:00 UTC reaches "
                f"-{percent}% of day-start equity {start:.2f} (-{limit:.2f})",
            )
        else:
            verdict = Verdict(True, partial(_daily_loss_allowed_text, realised, limit, percent))
        self._verdict = (start, realised, percent, verdict)
        return verdict


_DAY_NOT_STARTED = Verdict(False, "daily loss limit: not applied yet: today's start equity and realised P&L are not known")


def _daily_loss_allowed_text(realised_pnl: float, limit: float, limit_percent: float) -> str:
    return f"daily loss {realised_pnl:.2f} of -{limit:.2f} USDT allowed ({limit_percent}%)"
