"""TP/SL prices at entry, and the exit decision for an open position.

TP/SL formula (`compute_tp_sl`), for entry price E (the fill's avgPx):

1. Distance, as a percent of PRICE:
   - percent mode: tp% = tp_percent, sl% = sl_percent.
   - atr mode:     tp% = ATR x tp_atr_multiplier / E x 100, sl% = ATR x sl_atr_multiplier / E x 100.
2. Clamp: tp% into [tp_min_percent, tp_max_percent], sl% into [sl_min_percent, sl_max_percent].
3. Prices: long  TP = E x (1 + tp%/100), SL = E x (1 - sl%/100);
           short TP = E x (1 - tp%/100), SL = E x (1 + sl%/100).
4. Tick snap (instrument tickSz):
   - TP is snapped AWAY from entry (long: up, short: down), so the target is never closer than the
     computed one: a TP is not made cheaper to reach by rounding. (It may exceed tp_max_percent by
     less than one tick.)
   - SL is snapped TOWARD entry (long: up, short: down), so the stop is never further than
     computed: rounding never adds risk beyond what the position was sized for.
   A stop that snaps onto the entry price (distance under one tick) is refused (`ExitPriceError`).

The percents are of price, not of margin: leverage does NOT scale them. The audit's
"after leverage adjustment" step is exactly what turned a 3.0 % choppy TP into 8.8 % while the
SL stayed 2.5 % (SPEC §1 row 2); there is no such step here, and leverage is not an input.

Every input is a resolved parameter (value + source path) kept in `ExitParams`, so the position
snapshot records where each number came from.

`exit_decision(snapshot, quote)` compares the quote with the SNAPSHOT's TP/SL only: long exits on
the bid (bid >= TP take profit, bid <= SL stop loss), short on the ask (ask <= TP, ask >= SL). It
has no regime argument: the market's current regime cannot influence an open position (SPEC §1
row 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

from okxscalp.engine.reason_text import ReasonText, text_of
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot, ResolvedParam
from okxscalp.okx.models import Instrument, PosSide, Regime, Side


class ExitPriceError(ValueError):
    """TP/SL cannot be computed from these inputs (message says why); no entry should be made."""


class TpSlMode(StrEnum):
    PERCENT = "percent"
    ATR = "atr"


@dataclass(frozen=True, slots=True)
class TpSl:
    tp_px: float
    sl_px: float
    tp_px_str: str  # on the tick grid, for the exchange (attached TP/SL trigger prices)
    sl_px_str: str
    tp_distance_percent: float  # after clamp and snap: |tp - entry| / entry * 100
    sl_distance_percent: float
    tp_raw_percent: float  # before clamp
    sl_raw_percent: float
    tp_clamped: bool
    sl_clamped: bool
    mode: TpSlMode
    atr: float | None
    why: ReasonText  # how they were computed, with the numbers and config paths (written when read)

    @property
    def explanation(self) -> str:
        return text_of(self.why)


def _num(p: Any, label: str) -> float:
    try:
        x = float(p.value)
    except (TypeError, ValueError) as exc:
        raise ExitPriceError(f"{label} = {p.value!r} (from {p.source_path}) is not a number") from exc
    if x != x or x in (float("inf"), float("-inf")):
        raise ExitPriceError(f"{label} = {x!r} (from {p.source_path}) is not finite")
    return x


def _clamp(x: float, lo: float, hi: float, what: str, params: ExitParams) -> tuple[float, bool]:
    if lo > hi:
        lo_p = getattr(params, f"{what}_min_percent")
        hi_p = getattr(params, f"{what}_max_percent")
        raise ExitPriceError(
            f"{what}_min_percent {lo} ({lo_p.source_path}) > {what}_max_percent {hi} ({hi_p.source_path})"
        )
    y = min(max(x, lo), hi)
    return y, y != x


def _snap(instrument: Instrument, price: float, rounding: str) -> str:
    """Directional snap that ignores float noise: 2.2 x 1.03 computes as 2.2660000000000005,
    which is the grid price 2.2660, not a reason to round up to 2.2661."""
    nearest = instrument.format_price(price, "nearest")
    if abs(float(nearest) - price) <= instrument.tick * 1e-6:
        return nearest
    return instrument.format_price(price, rounding)


def compute_tp_sl(
    pos_side: PosSide, entry_px: float, params: ExitParams, instrument: Instrument, atr: float | None = None
) -> TpSl:
    """TP/SL prices for a position entered at `entry_px` (see the module docstring)."""
    if pos_side not in (PosSide.LONG, PosSide.SHORT):
        raise ExitPriceError(f"pos_side must be long or short, got {pos_side!r}")
    if not entry_px > 0:
        raise ExitPriceError(f"entry price must be > 0, got {entry_px!r}")
    try:
        mode = TpSlMode(params.mode.value)
    except ValueError as exc:
        raise ExitPriceError(
            f"tp_sl_mode {params.mode.value!r} ({params.mode.source_path}) is not percent|atr"
        ) from exc
    if mode is TpSlMode.PERCENT:
        tp_raw = _num(params.tp_percent, "tp_percent")
        sl_raw = _num(params.sl_percent, "sl_percent")
    else:
        if atr is None or not atr > 0:
            raise ExitPriceError(f"atr mode needs an ATR > 0 at entry, got {atr!r}")
        tp_raw = 100.0 * atr * _num(params.tp_atr_multiplier, "tp_atr_multiplier") / entry_px
        sl_raw = 100.0 * atr * _num(params.sl_atr_multiplier, "sl_atr_multiplier") / entry_px
    if tp_raw <= 0 or sl_raw <= 0:
        raise ExitPriceError(f"TP/SL distances must be > 0 ({_distances_text(mode, params, atr, tp_raw, sl_raw)})")
    tp_pct, tp_clamped = _clamp(
        tp_raw,
        _num(params.tp_min_percent, "tp_min_percent"),
        _num(params.tp_max_percent, "tp_max_percent"),
        "tp",
        params,
    )
    sl_pct, sl_clamped = _clamp(
        sl_raw,
        _num(params.sl_min_percent, "sl_min_percent"),
        _num(params.sl_max_percent, "sl_max_percent"),
        "sl",
        params,
    )
    if pos_side is PosSide.LONG:
        tp_target, sl_target = entry_px * (1 + tp_pct / 100), entry_px * (1 - sl_pct / 100)
        rounding = "up"  # TP away from entry, SL toward entry
    else:
        tp_target, sl_target = entry_px * (1 - tp_pct / 100), entry_px * (1 + sl_pct / 100)
        rounding = "down"
    tp_str = _snap(instrument, tp_target, rounding)
    sl_str = _snap(instrument, sl_target, rounding)
    tp_px, sl_px = float(tp_str), float(sl_str)
    long = pos_side is PosSide.LONG
    if not (sl_px < entry_px if long else sl_px > entry_px):
        raise ExitPriceError(
            f"{instrument.inst_id}: SL distance {sl_pct:.4f}% of {entry_px} is under one tick ({instrument.tick_sz})"
        )
    if not (tp_px > entry_px if long else tp_px < entry_px) or tp_px <= 0:
        raise ExitPriceError(f"{instrument.inst_id}: TP {tp_str} is not beyond entry {entry_px}")
    tp_dist = abs(tp_px - entry_px) / entry_px * 100
    sl_dist = abs(sl_px - entry_px) / entry_px * 100
    return TpSl(
        tp_px=tp_px,
        sl_px=sl_px,
        tp_px_str=tp_str,
        sl_px_str=sl_str,
        tp_distance_percent=tp_dist,
        sl_distance_percent=sl_dist,
        tp_raw_percent=tp_raw,
        sl_raw_percent=sl_raw,
        tp_clamped=tp_clamped,
        sl_clamped=sl_clamped,
        mode=mode,
        atr=atr if mode is TpSlMode.ATR else None,
        why=partial(_tp_sl_text, pos_side, entry_px, params, mode, atr, (tp_raw, sl_raw), (tp_pct, sl_pct),
                    (tp_str, sl_str), (tp_dist, sl_dist)),
    )


def _distances_text(mode: TpSlMode, params: ExitParams, atr: float | None, tp_raw: float, sl_raw: float) -> str:
    if mode is TpSlMode.PERCENT:
        return (f"percent mode: tp {tp_raw}% ({params.tp_percent.source_path}), "
                f"sl {sl_raw}% ({params.sl_percent.source_path})")
    return (
        f"atr mode: ATR {atr:.6g} x tp {float(params.tp_atr_multiplier.value)} ({params.tp_atr_multiplier.source_path}) "
        f"= {tp_raw:.4f}%, x sl {float(params.sl_atr_multiplier.value)} ({params.sl_atr_multiplier.source_path}) "
        f"= {sl_raw:.4f}%"
    )


def _tp_sl_text(
    pos_side: PosSide, entry_px: float, params: ExitParams, mode: TpSlMode, atr: float | None,
    raw: tuple[float, float], clamped: tuple[float, float], prices: tuple[str, str], distances: tuple[float, float],
) -> str:
    """compute_tp_sl's explanation, from the (immutable) values it computed: (tp, sl) pairs."""
    clamps = [f"{what} clamped {before:.4f}% -> {after:.4f}%"
              for what, before, after in zip(("tp", "sl"), raw, clamped, strict=True) if after != before]
    return (
        f"{_distances_text(mode, params, atr, *raw)}; {'; '.join(clamps) + '; ' if clamps else ''}"
        f"{pos_side.value} entry {entry_px}: TP {prices[0]} ({distances[0]:.4f}%), SL {prices[1]} ({distances[1]:.4f}%); "
        "percents of price, no leverage scaling"
    )


def levels_at(
    pos_side: PosSide, entry_px: float, tp_px_str: str, sl_px_str: str, params: ExitParams, explanation: str
) -> TpSl:
    """Given TP/SL trigger prices (e.g. the ones on the exchange) as levels of a position entered at
    `entry_px`: the distances are measured from `entry_px`. Raises ExitPriceError when they are not
    on the right sides of the entry (a snapshot cannot hold them)."""
    tp_px, sl_px = float(tp_px_str), float(sl_px_str)
    long = pos_side is PosSide.LONG
    if not entry_px > 0 or not (sl_px < entry_px < tp_px if long else tp_px < entry_px < sl_px):
        raise ExitPriceError(
            f"{pos_side.value} entry {entry_px}: TP {tp_px_str} / SL {sl_px_str} are not on the right sides of it"
        )
    tp_dist = abs(tp_px - entry_px) / entry_px * 100
    sl_dist = abs(sl_px - entry_px) / entry_px * 100
    return TpSl(
        tp_px=tp_px, sl_px=sl_px, tp_px_str=tp_px_str, sl_px_str=sl_px_str,
        tp_distance_percent=tp_dist, sl_distance_percent=sl_dist, tp_raw_percent=tp_dist, sl_raw_percent=sl_dist,
        tp_clamped=False, sl_clamped=False, mode=TpSlMode(params.mode.value), atr=None, why=explanation,
    )


class ExitKind(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


class ExitQuote(Protocol):
    """What an exit decision needs from an EXIT-fresh registry quote."""

    @property
    def bid(self) -> float | None: ...

    @property
    def ask(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class ExitDecision:
    inst_id: str
    pos_side: PosSide
    kind: ExitKind
    close_side: Side  # order side of the reduce-only close
    trigger_px: float  # the snapshot's TP or SL
    observed_px: float  # the bid (long) or ask (short) that crossed it
    entry_regime: Regime  # the snapshot's, for the record
    reason: str


def exit_decision(snapshot: PositionSnapshot, quote: ExitQuote) -> ExitDecision | None:
    """TP or SL hit by this quote, judged from the snapshot's prices only; else None.
    A quote without a usable price on the side needed (bid for long, ask for short: absent, zero
    or NaN) decides nothing: an empty bid must never read as "price fell below the stop"."""
    if snapshot.is_long:
        px, px_name, close_side = quote.bid, "bid", Side.SELL
        if px is None or not px > 0:  # absent, zero or NaN: no price, no decision (never "below SL")
            return None
        if px >= snapshot.tp_px:
            kind, trigger, rel = ExitKind.TAKE_PROFIT, snapshot.tp_px, ">="
        elif px <= snapshot.sl_px:
            kind, trigger, rel = ExitKind.STOP_LOSS, snapshot.sl_px, "<="
        else:
            return None
    else:
        px, px_name, close_side = quote.ask, "ask", Side.BUY
        if px is None or not px > 0:
            return None
        if px <= snapshot.tp_px:
            kind, trigger, rel = ExitKind.TAKE_PROFIT, snapshot.tp_px, "<="
        elif px >= snapshot.sl_px:
            kind, trigger, rel = ExitKind.STOP_LOSS, snapshot.sl_px, ">="
        else:
            return None
    what = "TP" if kind is ExitKind.TAKE_PROFIT else "SL"
    param = (
        snapshot.exit_params.tp_percent if kind is ExitKind.TAKE_PROFIT else snapshot.exit_params.sl_percent
    )
    reason = (
        f"{what} hit: {snapshot.pos_side.value} {px_name} {px} {rel} {what} {trigger} "
        f"(entry {snapshot.entry_px} in {snapshot.entry_regime.value}, {snapshot.exit_params.mode.value} mode, "
        f"{param.name} from {param.source_path})"
    )
    return ExitDecision(
        inst_id=snapshot.inst_id,
        pos_side=snapshot.pos_side,
        kind=kind,
        close_side=close_side,
        trigger_px=trigger,
        observed_px=px,
        entry_regime=snapshot.entry_regime,
        reason=reason,
    )


def build_snapshot(
    *,
    inst_id: str,
    pos_side: PosSide,
    entry_regime: Regime,
    entry_time: float,
    entry_px: float,
    size: float,
    exit_params: ExitParams,
    instrument: Instrument,
    atr: float | None,
    leverage: Any,
    entry_cl_ord_id: str,
    entry_ord_id: str,
    algo_ids: tuple[str, ...] = (),
    regime_inputs: dict[str, Any] | None = None,
    signal_reason: str = "",
    levels: TpSl | None = None,
) -> tuple[PositionSnapshot, TpSl]:
    """Compute TP/SL from the fill's `entry_px` and assemble the snapshot. `leverage` is a
    `ResolvedParam` or a config `Resolution` (anything with `.value` and `.source_path`).
    `levels` (from `levels_at`) replaces the computed TP/SL: the levels the exchange holds while
    its attached orders are being amended to the computed ones (engine/tpsl_sync.py)."""
    tpsl = levels if levels is not None else compute_tp_sl(pos_side, entry_px, exit_params, instrument, atr)
    lev = leverage if isinstance(leverage, ResolvedParam) else ResolvedParam.of(leverage, "leverage")
    snap = PositionSnapshot(
        inst_id=inst_id,
        pos_side=pos_side,
        entry_regime=entry_regime,
        entry_time=entry_time,
        entry_px=entry_px,
        size=size,
        tp_px=tpsl.tp_px,
        sl_px=tpsl.sl_px,
        exit_params=exit_params,
        atr_at_entry=atr,
        tp_distance_percent=tpsl.tp_distance_percent,
        sl_distance_percent=tpsl.sl_distance_percent,
        leverage=lev,
        entry_cl_ord_id=entry_cl_ord_id,
        entry_ord_id=entry_ord_id,
        algo_ids=tuple(algo_ids),
        regime_inputs=dict(regime_inputs or {}),
        signal_reason=signal_reason,
    )
    return snap, tpsl
