"""Entry orders: price a post-only limit from an ORDER-fresh bid/ask, send it once, cancel it when
it has not filled in time.

Pricing (SPEC 3.5, audit failure 4): buy at bid × (1 − offset %), sell at ask × (1 + offset %),
snapped on the tick grid *away* from crossing (buy down, sell up) and clamped inside the exchange's
price-limit band. A market order only when the resolved `use_market_order` says so. No ORDER-fresh
quote → no order: `StaleData` propagates to the caller, which records the refusal.

Every order is journaled with the quote it was priced from (source, age) and the purpose budget
that age was checked against, and with the parameter resolutions it was built from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from okxscalp.clock import Clock
from okxscalp.engine.exits import ExitPriceError, TpSl, compute_tp_sl
from okxscalp.engine.regime import RegimeDecision
from okxscalp.engine.risk import SizeDecision, size_position
from okxscalp.engine.signals import Signal
from okxscalp.engine.snapshot import ExitParams
from okxscalp.logging_setup import kv
from okxscalp.okx.errors import OkxError, OrderRejected, RequestError
from okxscalp.okx.models import Instrument, OrderRequest, PosSide, PriceLimit, Side, leverage_range_problem

log = logging.getLogger(__name__)

ENTRY_TAG = "oxsentry"  # tag on every entry order (≤ 16 chars): tells our entries from anything else
EXIT_TAG = "oxsexit"
CL_ORD_PREFIX_ENTRY = "oxe"
CL_ORD_PREFIX_EXIT = "oxx"


class EntryPriceError(ValueError):
    """The entry cannot be priced (bad quote, band leaves no room): nothing is sent."""


def entry_limit_price(
    side: Side,
    bid: float,
    ask: float,
    offset_percent: float,
    instrument: Instrument,
    price_limit: PriceLimit | None,
) -> str:
    """The post-only limit price for an entry, as a tick-grid string.

    buy: bid × (1 − offset%), rounded down; sell: ask × (1 + offset%), rounded up; so a rounding
    step never moves the price toward the other side of the book. Then clamped into the band
    [sellLmt, buyLmt] (a buy may not exceed buyLmt, a sell may not go under sellLmt).
    """
    if not (bid > 0 and ask > 0) or bid > ask:
        raise EntryPriceError(f"{instrument.inst_id}: unusable quote bid={bid} ask={ask}")
    if offset_percent < 0:
        raise EntryPriceError(f"{instrument.inst_id}: negative offset {offset_percent}%")
    # Both candidates are grid strings already: the chosen one is returned as it is (snapping a
    # grid price again gives the same string; that was one of the ~8 snaps on tick → order).
    if side is Side.BUY:
        text = instrument.format_price(bid * (1.0 - offset_percent / 100.0), "down")
        if price_limit is not None and price_limit.enabled and price_limit.buy_limit is not None:
            band_text = instrument.format_price(price_limit.buy_limit, "down")
            if float(band_text) < float(text):
                text = band_text
    else:
        text = instrument.format_price(ask * (1.0 + offset_percent / 100.0), "up")
        if price_limit is not None and price_limit.enabled and price_limit.sell_limit is not None:
            band_text = instrument.format_price(price_limit.sell_limit, "up")
            if float(band_text) > float(text):
                text = band_text
    if float(text) <= 0:
        raise EntryPriceError(f"{instrument.inst_id}: entry price {text} is not positive")
    return text


def pos_side_for_entry(side: Side) -> PosSide:
    return PosSide.LONG if side is Side.BUY else PosSide.SHORT


def close_side_for(pos_side: PosSide) -> Side:
    return Side.SELL if pos_side is PosSide.LONG else Side.BUY


CL_ORD_SEQ_MODULUS = 100_000  # the counter's five digits


def prefixed_cl_ord_id(prefix: str, now_s: float, seq: int) -> str:
    """Readable and unique across restarts: prefix + ms clock + a counter (≤ 32 chars; OKX
    clOrdId: up to 32 alphanumerics, Trade › Place order). (The client's `new_cl_ord_id` is
    random; the engine's prefix tells its entries, exits and protective stops apart on the
    exchange after a restart.)"""
    return f"{prefix}{int(now_s * 1000)}{seq % CL_ORD_SEQ_MODULUS:05d}"


class ClOrdIds:
    """One engine's client order ids: its clock's wall time and its own counter, so two engines in
    one process (two backtest runs) number their orders alike, and a backtest's ids are its
    simulated time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seq = 0

    def new(self, prefix: str) -> str:
        self._seq = (self._seq + 1) % CL_ORD_SEQ_MODULUS
        return prefixed_cl_ord_id(prefix, self._clock.wall_s(), self._seq)


@dataclass(frozen=True, slots=True)
class QuoteUsed:
    """The quote an order was priced from, as journaled with the order."""

    source: str  # ws | rest
    age_s: float
    budget_s: float  # the purpose budget it was checked against
    purpose: str
    bid: float
    ask: float
    ts_ms: int | None = None  # the quote's exchange timestamp (the chaos audit's true age)


def rejection_text(exc: OkxError) -> str:
    """Why the exchange refused an order, as the operator reads it: "51008 Order failed. Insufficient
    USDT margin in account" (sCode and sMsg), "50011 Too Many Requests" (a request-level code), or
    the error's own text."""
    if isinstance(exc, OrderRejected):
        return f"{exc.s_code} {exc.s_msg}".strip()
    if isinstance(exc, RequestError):
        return f"{exc.code} {exc.msg}".strip()
    return str(exc)


class EntryRefused(Exception):
    """This entry will not be sent; `reason` says why (sizing, TP/SL, pricing)."""

    def __init__(self, inst_id: str, reason: str) -> None:
        self.inst_id = inst_id
        self.reason = reason
        super().__init__(f"{inst_id}: entry refused: {reason}")


@dataclass(slots=True)
class EntryPlan:
    """Everything an entry is made of, resolved before pricing. `resolutions` maps parameter name
    → the provider's Resolution (name, value, source_path, chain): journaled as is."""

    signal: Signal
    instrument: Instrument
    exit_params: ExitParams
    atr: float | None  # ATR at entry (atr mode distances)
    offset_percent: float
    use_market_order: bool
    timeout_s: float
    position_multiplier: float
    leverage: Any  # the leverage Resolution
    resolutions: dict[str, Any]
    regime_decision: RegimeDecision | None = None  # the detector's, at entry (immutable)

    @property
    def regime_inputs(self) -> dict[str, Any]:
        """The regime decision's inputs at entry (built when the snapshot is written, not on the
        tick → order path)."""
        return self.regime_decision.inputs() if self.regime_decision is not None else {}

    @property
    def inst_id(self) -> str:
        return self.signal.inst_id

    @property
    def side(self) -> Side:
        return self.signal.side

    @property
    def pos_side(self) -> PosSide:
        return pos_side_for_entry(self.signal.side)

    @property
    def regime(self) -> str:
        return self.signal.regime.value


@dataclass(slots=True)
class PricedEntry:
    plan: EntryPlan
    request: OrderRequest
    quote: QuoteUsed
    tpsl: TpSl  # from the intended entry price; the snapshot recomputes from the fill's avgPx
    size: SizeDecision


def price_entry(
    plan: EntryPlan,
    quote: QuoteUsed,
    price_limit: PriceLimit | None,
    *,
    equity: float,
    available_margin: float,
    risk_per_trade_percent: float,
    td_mode: str,
    cl_ord_id: str,
) -> PricedEntry:
    """The order for a plan, priced from an ORDER-fresh `quote` (pure, no I/O). Raises EntryRefused."""
    inst = plan.instrument
    try:
        if plan.use_market_order:
            ref_px = quote.ask if plan.side is Side.BUY else quote.bid
            px_text: str | None = None
            ord_type = "market"
        else:
            px_text = entry_limit_price(plan.side, quote.bid, quote.ask, plan.offset_percent, inst, price_limit)
            ref_px = float(px_text)
            ord_type = "post_only"
        tpsl = compute_tp_sl(plan.pos_side, ref_px, plan.exit_params, inst, plan.atr)
    except (EntryPriceError, ExitPriceError) as exc:
        raise EntryRefused(plan.inst_id, str(exc)) from None
    lever = float(plan.leverage.value)
    size = size_position(
        instrument=inst,
        equity=equity,
        risk_per_trade_percent=risk_per_trade_percent,
        position_multiplier=plan.position_multiplier,
        entry_px=ref_px,
        sl_px=tpsl.sl_px,
        leverage=lever,
        available_margin=available_margin,
    )
    if not size.ok or size.sz is None:
        raise EntryRefused(plan.inst_id, size.reason)
    request = OrderRequest(
        inst_id=plan.inst_id,
        side=plan.side,
        pos_side=plan.pos_side,
        ord_type=ord_type,
        sz=size.sz,
        px=px_text,
        cl_ord_id=cl_ord_id,
        td_mode=td_mode,
        attach_tp_trigger_px=tpsl.tp_px_str,
        attach_sl_trigger_px=tpsl.sl_px_str,
        tag=ENTRY_TAG,
    )
    return PricedEntry(plan, request, quote, tpsl, size)


@dataclass(slots=True)
class PendingEntry:
    """An entry order on the exchange that has not reached a final state yet."""

    priced: PricedEntry
    placed_mono: float
    ord_id: str = ""
    acc_fill_sz: float = 0.0
    avg_px: float | None = None
    state: str = "live"
    cancel_requested: bool = False
    snapshot_written: bool = False

    @property
    def cl_ord_id(self) -> str:
        return self.priced.request.cl_ord_id

    @property
    def inst_id(self) -> str:
        return self.priced.request.inst_id

    def expired(self, now_mono: float) -> bool:
        return now_mono - self.placed_mono >= self.priced.plan.timeout_s

    def describe(self) -> str:
        r = self.priced.request
        q = self.priced.quote
        return kv(
            inst=r.inst_id, clOrdId=r.cl_ord_id, side=r.side.value, type=r.ord_type, px=r.px or "market",
            sz=r.sz, tp=r.attach_tp_trigger_px, sl=r.attach_sl_trigger_px,
            regime=self.priced.plan.regime, quote_src=q.source, quote_age_s=round(q.age_s, 4),
            budget_s=q.budget_s,
        )


@dataclass(slots=True)
class LeverageState:
    resolution: Any | None = None  # the provider's leverage Resolution
    exchange_lever: float | None = None  # raw `lever` the exchange last reported
    reported_by: str = ""  # leverage-info | set-leverage | positions
    mismatch: str = ""  # non-empty: entries stopped for the symbol, with the full diagnostic


def leverage_mismatch(inst_id: str, state: LeverageState, instrument: Instrument | None = None) -> str:
    """'' when the resolved leverage lies in the instrument's range [1, max_leverage] and the
    exchange's actual leverage equals it, else the diagnostic. `instrument` is the latest one
    listed (OKX can lower a maximum while a resolution stands): pass it on every check."""
    res = state.resolution
    if res is None:
        return f"{inst_id}: leverage not resolved yet"
    if instrument is not None:
        problem = leverage_range_problem(float(res.value), instrument)
        if problem is not None:
            return (
                f"{inst_id}: resolved {problem}, from {res.source_path}. Entries stopped for {inst_id}: "
                f"set a leverage within the range (scalping.leverage or symbol_profiles.{instrument.symbol}.leverage)."
            )
    if state.exchange_lever is None:
        return f"{inst_id}: the exchange has not reported a leverage yet (resolved {res.value} from {res.source_path})"
    if abs(float(res.value) - state.exchange_lever) < 1e-9:
        return ""
    chain = "; ".join(
        f"{getattr(step, 'path', step)}={getattr(step, 'value', '?') if getattr(step, 'found', True) else 'missing'}"
        for step in getattr(res, "chain", ())
    )
    return (
        f"{inst_id}: leverage mismatch: resolved {res.value} from {res.source_path} (chain: {chain or '-'}), "
        f"but the exchange reports lever {state.exchange_lever:g} ({state.reported_by}). Entries stopped for "
        f"{inst_id}: check set-leverage permissions, or whether leverage was changed outside okxscalp."
    )
