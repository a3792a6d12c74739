"""Typed domain objects. Everything past `okxscalp.okx.parse` uses these, never raw OKX dicts.

Numbers are `float`. Why not Decimal: the ingest path must take 50k ticker messages/s on one
core and indicators run on every tick, where Decimal costs 3-10x. Exactness matters only where a
number goes back to the exchange: prices and sizes are then snapped to the instrument's tick/lot
grid by `Instrument.format_price` / `format_size`, exactly (Decimal wherever a float quotient could
round differently), so what we send is always an exact multiple of tickSz/lotSz as OKX requires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import Enum


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"


class PosSide(str, Enum):
    LONG = "long"
    SHORT = "short"
    NET = "net"


class Regime(str, Enum):
    TRENDING = "trending"
    CHOPPY = "choppy"
    RANGING = "ranging"


def symbol_of(inst_id: str) -> str:
    """`XRP-USDT-SWAP` -> `XRP-USDT` (config keys use the symbol, the wire uses instId)."""
    return inst_id[:-5] if inst_id.endswith("-SWAP") else inst_id


def inst_id_of(symbol: str) -> str:
    """`XRP-USDT` -> `XRP-USDT-SWAP`."""
    return symbol if symbol.endswith("-SWAP") else f"{symbol}-SWAP"


@dataclass(frozen=True, slots=True)
class Instrument:
    inst_id: str
    ct_val: float
    tick_sz: str  # kept as the exchange's string: the grid is defined by it exactly
    lot_sz: str
    min_sz: str
    max_leverage: float
    state: str = "live"
    settle_ccy: str = "USDT"
    ct_type: str = "linear"
    # GET /public/instruments `instIdCode`: the instrument key of WebSocket order operations
    # (docs order-book-trading-trade-ws-place-order; `instId` there is delisted). None if absent.
    inst_id_code: int | None = None

    @property
    def symbol(self) -> str:
        return symbol_of(self.inst_id)

    @property
    def tick(self) -> float:
        return float(self.tick_sz)

    @property
    def lot(self) -> float:
        return float(self.lot_sz)

    @property
    def min_size(self) -> float:
        return float(self.min_sz)

    def format_price(self, price: float, rounding: str = "nearest") -> str:
        """Snap to the tick grid: `nearest`, `down` (floor) or `up` (ceil); returned as a string."""
        return _snap(price, self.tick_sz, rounding)

    def format_size(self, contracts: float) -> str:
        """Round a contract count down to the lot grid (never size up by rounding)."""
        return _snap(contracts, self.lot_sz, "down")


# GET /public/instruments `state` (docs public-data-rest-api-get-instruments): only `live` takes
# ordinary orders. `suspend`; `rebase` (SWAP, no trading while rebasing); `post_only` (SWAP, only
# post-only orders: no market entry, no market close); `preopen` (listed, not trading yet); `test`
# (test pairs, never traded); `settling` (EVENTS).
INSTRUMENT_LIVE = "live"
MIN_LEVERAGE = 1.0  # OKX accepts 0.01 for swaps; below 1 is never what a scalper means


def instrument_tradeable(instrument: Instrument) -> str | None:
    """None when entries may be sent for `instrument`, else the reason they may not."""
    if instrument.state == INSTRUMENT_LIVE:
        return None
    return (
        f"{instrument.inst_id} is not tradeable: the exchange lists it as state={instrument.state or '(empty)'} "
        f"(GET /api/v5/public/instruments), entries need {INSTRUMENT_LIVE}"
    )


def leverage_range_problem(lever: float, instrument: Instrument) -> str | None:
    """None when `lever` is within [1, the instrument's maximum leverage], else why not. The maximum is
    the instrument's `lever` in GET /public/instruments (0 when the exchange gave none: nothing fits)."""
    if MIN_LEVERAGE <= lever <= instrument.max_leverage:
        return None
    if instrument.max_leverage < MIN_LEVERAGE:
        return (
            f"leverage {lever:g} cannot be checked: {instrument.inst_id} reports no maximum leverage "
            f"(GET /api/v5/public/instruments lever={instrument.max_leverage:g})"
        )
    return (
        f"leverage {lever:g} is outside {instrument.inst_id}'s range [{MIN_LEVERAGE:g}, "
        f"{instrument.max_leverage:g}] (maximum: GET /api/v5/public/instruments lever)"
    )


_ROUNDING = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING, "trunc": ROUND_DOWN}


@dataclass(frozen=True, slots=True)
class _Grid:
    """A grid step (tickSz / lotSz string), parsed once: a few per symbol."""

    step: Decimal
    step_f: float
    mantissa: int  # the step in units of its last decimal place: "0.0005" -> 5, "10" -> 10
    places: int  # decimals of the step's string: what every snapped value is written with


_GRIDS: dict[str, _Grid] = {}
# Where the float quotient value / step may stand in for the exact one, Decimal(repr(value)) /
# Decimal(step): the two differ by at most ~4e-16 of the quotient (repr, step and division each
# within half an ulp), i.e. < 4e-7 below 1e9 steps. A quotient further than 1e-6 from a grid point
# (and, for `nearest`, from a half point) floors, ceils and rounds the same in both; anything else
# (on or near the grid, a tie, huge or non-positive values) takes the Decimal path. Same strings
# either way (tests/okx/test_grid_snap.py); the float path is ~4x cheaper, and an entry snaps
# several prices on the tick → order path.
_FLOAT_QUOTIENT_MAX = 1e9
_CLEAR_OF_GRID = 1e-6
_FLOAT_ROUNDING = {"nearest": round, "down": math.floor, "up": math.ceil, "trunc": math.trunc}


def _grid(step: str) -> _Grid:
    grid = _GRIDS.get(step)
    if grid is None:
        step_d = Decimal(step)
        exponent = step_d.as_tuple().exponent
        assert isinstance(exponent, int), f"grid step {step!r} is not a finite number"
        places = max(0, -exponent)
        grid = _GRIDS[step] = _Grid(step_d, float(step_d), int(step_d.scaleb(places)), places)
    return grid


def _snap(value: float, step: str, rounding: str) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot snap non-finite value {value!r} to grid {step}")
    grid = _grid(step)
    quotient = value / grid.step_f
    if 0.0 < quotient < _FLOAT_QUOTIENT_MAX:
        frac = quotient - math.floor(quotient)
        if _CLEAR_OF_GRID < frac < 1.0 - _CLEAR_OF_GRID and abs(frac - 0.5) > _CLEAR_OF_GRID:
            return _grid_text(_FLOAT_ROUNDING[rounding](quotient) * grid.mantissa, grid.places)
    units = (Decimal(repr(value)) / grid.step).to_integral_value(rounding=_ROUNDING[rounding])
    snapped = (units * grid.step).quantize(grid.step)
    return format(snapped, "f")


def _grid_text(scaled: int, places: int) -> str:
    """A non-negative count of 10**-places written with `places` decimals, exactly."""
    if not places:
        return str(scaled)
    digits = str(scaled).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


@dataclass(slots=True)
class Ticker:
    inst_id: str
    last: float
    bid: float
    ask: float
    bid_sz: float
    ask_sz: float
    ts_ms: int  # exchange timestamp
    # Local receive time (time.monotonic()) of the frame or REST reply that carried it: the age
    # of a price is measured from here, never from the exchange clock (sim time may run faster).
    recv_mono: float = 0.0


@dataclass(slots=True)
class BookTop:
    inst_id: str
    bid: float
    bid_sz: float
    ask: float
    ask_sz: float
    ts_ms: int


@dataclass(slots=True)
class Trade:
    inst_id: str
    trade_id: str
    px: float
    sz: float
    side: Side
    ts_ms: int


@dataclass(slots=True)
class Candle:
    inst_id: str
    bar: str
    ts_ms: int  # open time
    open: float
    high: float
    low: float
    close: float
    vol: float
    confirmed: bool


@dataclass(slots=True)
class MarkPrice:
    inst_id: str
    mark_px: float
    ts_ms: int


@dataclass(slots=True)
class PriceLimit:
    inst_id: str
    buy_limit: float | None  # highest allowed buy price; None when limits are disabled
    sell_limit: float | None  # lowest allowed sell price
    ts_ms: int
    enabled: bool


@dataclass(slots=True)
class AttachedAlgo:
    attach_algo_id: str
    attach_algo_cl_ord_id: str
    tp_trigger_px: float | None
    sl_trigger_px: float | None
    tp_ord_px: float | None  # None = market (-1 on the wire)
    sl_ord_px: float | None


LIQUIDATION_CATEGORIES = frozenset({"full_liquidation", "partial_liquidation"})
LIQUIDATION_BY_FILL_SUB_TYPE = {
    **dict.fromkeys(("100", "101", "102", "103"), "partial_liquidation"),
    **dict.fromkeys(("104", "105", "106", "107"), "full_liquidation"),
}


@dataclass(slots=True)
class Order:
    inst_id: str
    ord_id: str
    cl_ord_id: str
    side: Side
    pos_side: PosSide
    ord_type: str
    px: float | None
    sz: float
    state: str
    acc_fill_sz: float
    avg_px: float | None
    fill_px: float | None  # this update's fill only
    fill_sz: float  # this update's fill only
    fee: float
    reduce_only: bool
    lever: float | None
    cancel_source: str
    c_time_ms: int
    u_time_ms: int
    tag: str = ""
    trade_id: str = ""
    attached: list[AttachedAlgo] = field(default_factory=list)
    # docs trade "Order channel" `category`: normal | twap | adl | full_liquidation |
    # partial_liquidation | delivery | ddh: the exchange's own orders say why they exist.
    category: str = "normal"

    @property
    def is_liquidation(self) -> bool:
        return self.category in LIQUIDATION_CATEGORIES

    @property
    def is_open(self) -> bool:
        return self.state in ("live", "partially_filled")


@dataclass(slots=True)
class Fill:
    inst_id: str
    trade_id: str
    ord_id: str
    cl_ord_id: str
    side: Side
    pos_side: PosSide
    fill_px: float
    fill_sz: float
    fee: float
    exec_type: str
    ts_ms: int
    # `subType` (docs Get transaction details: the bill subType): 100-103 partial liquidation,
    # 104-107 full liquidation; "" when not given.
    sub_type: str = ""

    @property
    def liquidation(self) -> str:
        """The liquidation category this fill belongs to ("" = an ordinary trade)."""
        return LIQUIDATION_BY_FILL_SUB_TYPE.get(self.sub_type, "")


@dataclass(slots=True)
class Position:
    inst_id: str
    pos_side: PosSide
    pos: float  # contracts; signed in net mode
    avg_px: float | None
    mark_px: float | None
    upl: float
    lever: float | None  # raw `lever` from the exchange, None when the field is empty
    mgn_mode: str
    u_time_ms: int
    pos_id: str = ""
    # `fundingFee`: the position's accumulated funding, negative when paid (docs get-positions,
    # websocket-positions-channel); None when the field is absent or empty (never read as 0: the
    # engine journals a change of this total as a funding charge).
    funding_fee: float | None = None
    liq_px: float | None = None  # `liqPx`, the exchange's estimated liquidation price ("" = None)


@dataclass(slots=True)
class Balance:
    total_eq: float
    avail_eq: float  # USDT available equity
    upl: float
    u_time_ms: int


@dataclass(frozen=True, slots=True)
class AccountConfig:
    uid: str
    pos_mode: str  # long_short_mode | net_mode
    acct_lv: str


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Per-order result of a place/cancel/amend request (sCode/sMsg)."""

    ord_id: str
    cl_ord_id: str
    s_code: str
    s_msg: str
    ts_ms: int = 0
    sub_code: str = ""
    # True when the reply was lost and the outcome was learned by querying the order by clOrdId.
    recovered: bool = False

    @property
    def ok(self) -> bool:
        return self.s_code == "0"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as the engine asks for it. `sz`/`px` are strings already snapped to the
    instrument grid (`Instrument.format_size` / `format_price`); `px` None for market orders.
    An empty `cl_ord_id` makes the client generate one (every order carries one: idempotency)."""

    inst_id: str
    side: Side
    pos_side: PosSide | None
    ord_type: str  # limit | post_only | market | ioc | fok | optimal_limit_ioc
    sz: str
    px: str | None = None
    cl_ord_id: str = ""
    reduce_only: bool = False
    # The margin mode (tdMode) of every order is the config's `scalping.margin_mode`: required, by
    # keyword, never a default here (a silent "cross" once bypassed the config).
    td_mode: str = field(kw_only=True)
    attach_tp_trigger_px: str | None = None  # attached TP/SL, market execution (ordPx -1)
    attach_sl_trigger_px: str | None = None
    tag: str = ""


@dataclass(slots=True)
class BookLevel:
    px: float
    sz: float
    orders: int


@dataclass(slots=True)
class OrderBook:
    """A depth snapshot or delta (`books` channel, REST /market/books)."""

    inst_id: str
    asks: tuple[BookLevel, ...]
    bids: tuple[BookLevel, ...]
    ts_ms: int
    seq_id: int | None = None
    prev_seq_id: int | None = None


@dataclass(slots=True)
class AlgoOrder:
    """A trigger/conditional order (`orders-algo` channel)."""

    inst_id: str
    algo_id: str
    algo_cl_ord_id: str
    ord_type: str
    state: str
    side: Side
    pos_side: PosSide
    sz: float
    trigger_px: float | None
    ord_px: float | None  # None = market (-1 on the wire)
    reduce_only: bool
    ord_id: str
    c_time_ms: int
    u_time_ms: int
    sl_trigger_px: float | None = None  # conditional (stop) orders carry tp/sl triggers instead
    tp_trigger_px: float | None = None
    close_fraction: str = ""  # "1" = close the whole position when triggered


@dataclass(frozen=True, slots=True)
class AlgoAck:
    algo_id: str
    algo_cl_ord_id: str
    s_code: str
    s_msg: str

    @property
    def ok(self) -> bool:
        return self.s_code == "0"


@dataclass(frozen=True, slots=True)
class LeverageInfo:
    """GET /account/leverage-info item and POST /account/set-leverage reply."""

    inst_id: str
    mgn_mode: str
    pos_side: str  # long | short | net | "" (cross in long/short mode answers without it)
    lever: float


@dataclass(frozen=True, slots=True)
class ClosePositionAck:
    inst_id: str
    pos_side: str
    cl_ord_id: str
    tag: str = ""
