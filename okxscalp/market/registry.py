"""The data registry: the latest market data per symbol, read only through a freshness check.

Every read names its purpose (ORDER 1 s, EXIT 2 s, SIGNAL 3 s, GENERAL 5 s by default; budgets
from `FreshnessSettings`) and gets a `Quote` whose age is within that budget, or a `StaleData`
refusal naming symbol, purpose, age and budget. Nothing stale is ever returned "with a warning".

- Ages are in the exchange's time (simulated seconds when the simulator runs at a speed factor):
      age = max(rate · (now − receive time) + estimated delivery delay,   # the stream's view
                exchange now (upper) − the message's exchange ts)         # what the ts proves
  `rate` and "exchange now" come from the ExchangeClock (exchange_clock.py), measured from
  /public/time round trips, independent of the stream; the delivery delay is the windowed
  estimate of delay.py. Why the max: each is a lower bound of the true age up to its own error.
  The first is exact about the time since receipt but only sees delays relative to the least
  delayed message of its window, so a delay that outlasts the window vanishes from it (issue 10).
  The second sees a delay of any duration but carries the clock's uncertainty (taken on the older
  side) and needs a measured clock. The larger of two lower bounds is still one, and the better.
  Without an ExchangeClock (unit tests, benches) only the first applies, at rate 1.
- A ticker is *late* when it arrives older than the ORDER budget (no order could be priced from
  it), by the estimator or, while the clock is trusted (not jumped or skewed), by its timestamp.
  The feed coordinator turns persistent lateness into LAGGING (entries refused, forced
  reconnect); a late ticker does not reset the REST-fallback counter, only a timely one does.
- Quotes come from the `tickers` channel only. A candle close is never a current price, and a REST
  ticker is never stored as the symbol's quote: only `read_exit` may use one, on the spot, as an
  explicit fallback event. ORDER and SIGNAL never fall back.
- Every refusal and every fallback is emitted on the EventBus (coalesced there, see bus.py).

`on_ticker` is the hot path (≥ 50k msgs/s): one dict lookup, one delay estimate, a few float
operations against the clock's published course and attribute stores on a preallocated
per-symbol slot; no allocation besides the parsed Ticker.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.config.schema import FreshnessSettings, Purpose
from okxscalp.market.bus import EventBus
from okxscalp.market.delay import DelayEstimator
from okxscalp.market.events import FallbackKind
from okxscalp.market.exchange_clock import ExchangeClock
from okxscalp.okx.models import BookTop, Candle, MarkPrice, PriceLimit, Regime, Ticker

log = logging.getLogger(__name__)

COMPONENT = "registry"
SOURCE_WS = "ws"
SOURCE_REST = "rest"
DEFAULT_CANDLE_HISTORY = 500  # closed candles kept per symbol and bar

_INF = float("inf")
_DELAY_SHOWN_S = 0.0005  # an arrival age that rounds to 0.000 s is not named beside a silence

RestQuote = Callable[[str], Awaitable[Ticker]]


class StaleData(Exception):
    """No price fresh enough for this purpose. `age_s` is None when nothing was ever received."""

    def __init__(self, inst_id: str, purpose: Purpose, age_s: float | None, budget_s: float, detail: str = "") -> None:
        self.inst_id = inst_id
        self.purpose = purpose
        self.age_s = age_s
        self.budget_s = budget_s
        self.detail = detail
        age = "no data received" if age_s is None else f"age {age_s:.3f}s"
        tail = f" ({detail})" if detail else ""
        super().__init__(f"{inst_id}: {purpose.value} read refused: {age} > budget {budget_s:g}s{tail}")


@dataclass(frozen=True, slots=True)
class Quote:
    """A price fit for `purpose`: age_s ≤ budget_s at the moment of the read."""

    inst_id: str
    last: float
    bid: float
    ask: float
    source: str  # ws | rest
    age_s: float
    budget_s: float
    purpose: Purpose
    ts_ms: int  # exchange timestamp
    recv_mono: float  # local receive time (time.monotonic())

    @property
    def exchange_ts_ms(self) -> int:
        """The quote's exchange timestamp (ms): what its true age is measured from."""
        return self.ts_ms

    @property
    def value(self) -> float:
        return self.last

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5


# A read builds its Quote through the slots' own setters (0.4 µs) instead of the frozen dataclass
# __init__, which goes through object.__setattr__ per field (0.9 µs): every ticker's SIGNAL read
# and every open position's EXIT read makes one. The result is the same frozen Quote.
_new_object = object.__new__
(_set_inst_id, _set_last, _set_bid, _set_ask, _set_source, _set_age_s, _set_budget_s, _set_purpose, _set_ts_ms,
 _set_recv_mono) = (Quote.__dict__[name].__set__ for name in Quote.__slots__)


def _quote(
    inst_id: str, last: float, bid: float, ask: float, source: str, age_s: float, budget_s: float, purpose: Purpose,
    ts_ms: int, recv_mono: float,
) -> Quote:
    """`Quote(...)`, the same fields in the same order (test_market_registry checks it field by field)."""
    quote = _new_object(Quote)
    _set_inst_id(quote, inst_id)
    _set_last(quote, last)
    _set_bid(quote, bid)
    _set_ask(quote, ask)
    _set_source(quote, source)
    _set_age_s(quote, age_s)
    _set_budget_s(quote, budget_s)
    _set_purpose(quote, purpose)
    _set_ts_ms(quote, ts_ms)
    _set_recv_mono(quote, recv_mono)
    return quote


@dataclass(frozen=True, slots=True)
class RegimeSlot:
    """The current market regime of a symbol as the engine decided it, with its inputs."""

    regime: Regime | None
    inputs: dict[str, Any]
    set_mono: float


@dataclass(frozen=True, slots=True)
class Freshness:
    """What the console shows per symbol: the latest WS quote (even if stale), its age, and which
    purposes it satisfies right now. Display only: trading reads go through `read`."""

    inst_id: str
    last: float | None
    bid: float | None
    ask: float | None
    source: str  # ws | none
    age_s: float | None
    satisfied: dict[Purpose, bool]
    regime: Regime | None
    regime_inputs: dict[str, Any] = field(default_factory=dict)


class CandleSeries:
    """One symbol's candles of one bar: closed candles (bounded, oldest first) and the open one."""

    __slots__ = ("bar", "closed", "open")

    def __init__(self, bar: str, maxlen: int) -> None:
        self.bar = bar
        self.closed: deque[Candle] = deque(maxlen=maxlen)
        self.open: Candle | None = None

    @property
    def last_closed(self) -> Candle | None:
        return self.closed[-1] if self.closed else None

    def add(self, candle: Candle) -> bool:
        """Store a candle; returns True if it was new information (not a repeat or older bar)."""
        closed = self.closed
        last = closed[-1] if closed else None
        if candle.confirmed:
            if last is not None and candle.ts_ms <= last.ts_ms:
                if candle.ts_ms == last.ts_ms and candle != last:
                    closed[-1] = candle  # a corrected close of the same bar
                    return True
                return False
            closed.append(candle)
            if self.open is not None and self.open.ts_ms <= candle.ts_ms:
                self.open = None
            return True
        if last is not None and candle.ts_ms <= last.ts_ms:
            return False  # an update of a bar already closed
        if self.open is not None and candle.ts_ms < self.open.ts_ms:
            return False
        self.open = candle
        return True


class _Slot:
    """Per-symbol mutable state; preallocated so the ticker path only stores attributes."""

    __slots__ = (
        "book",
        "book_recv",
        "candles",
        "delay",
        "fallbacks_in_row",
        "late",
        "limit",
        "limit_recv",
        "mark",
        "mark_recv",
        "min_late",
        "regime",
        "ticker",
    )

    def __init__(self) -> None:
        self.ticker: Ticker | None = None
        self.delay = 0.0  # estimated delivery delay of `ticker` (delay.py), exchange seconds
        self.late = 0.0  # age of `ticker` when it arrived (conservative), exchange seconds
        self.min_late = _INF  # smallest arrival age since the watchdog last looked
        self.fallbacks_in_row = 0  # EXIT reads served by REST since the last timely WS ticker
        self.book: BookTop | None = None
        self.book_recv = 0.0
        self.mark: MarkPrice | None = None
        self.mark_recv = 0.0
        self.limit: PriceLimit | None = None
        self.limit_recv = 0.0
        self.candles: dict[str, CandleSeries] = {}
        self.regime: RegimeSlot | None = None


class DataRegistry:
    def __init__(
        self,
        freshness: FreshnessSettings | None = None,
        bus: EventBus | None = None,
        rest_quote: RestQuote | None = None,
        *,
        inst_ids: Iterable[str] = (),
        candle_history: int = DEFAULT_CANDLE_HISTORY,
        clock: Callable[[], float] = time.monotonic,
        delay_estimator: DelayEstimator | None = None,
        exchange_clock: ExchangeClock | None = None,
    ) -> None:
        self._freshness = freshness or FreshnessSettings()
        self.bus = bus or EventBus()
        self._rest_quote = rest_quote
        self._candle_history = candle_history
        self._clock = clock
        self._delay = delay_estimator or DelayEstimator()
        self.exchange_clock = exchange_clock
        # The clock's model, read attribute by attribute on the hot path (see _age).
        self._xclock = exchange_clock.model if exchange_clock is not None else None
        self._budgets = {p: self._freshness.budget(p) for p in Purpose}
        self._late_s = self._budgets[Purpose.ORDER]
        self._slots: dict[str, _Slot] = {}
        self.malformed = 0  # items refused by the registry itself (wrong symbol, impossible values)
        for inst_id in inst_ids:
            self._slot(inst_id)

    # --- configuration ----------------------------------------------------------------------

    def set_rest_quote(self, rest_quote: RestQuote | None) -> None:
        self._rest_quote = rest_quote

    def budget(self, purpose: Purpose) -> float:
        return self._budgets[purpose]

    @property
    def inst_ids(self) -> tuple[str, ...]:
        return tuple(self._slots)

    @property
    def late_threshold_s(self) -> float:
        """A ticker older than this on arrival is late (the ORDER budget)."""
        return self._late_s

    def exchange_now_ms(self) -> int | None:
        """The exchange's clock now: the ExchangeClock's when it has a rate, else the WS feed's
        offset estimate (follows the simulator's sim time at any speed); None before either."""
        now = self._clock()
        model = self._xclock
        if model is not None:
            ex = model.exchange_s(now)
            if ex is not None:
                return int(ex * 1000)
        offset = self._delay.offset_at(now)
        return None if offset is None else int((now - offset) * 1000)

    def _slot(self, inst_id: str) -> _Slot:
        slot = self._slots.get(inst_id)
        if slot is None:
            slot = self._slots[inst_id] = _Slot()
        return slot

    # --- writers (the feed coordinator calls these) -----------------------------------------

    def on_ticker(self, ticker: Ticker) -> None:
        """A WebSocket ticker (hot path)."""
        slot = self._slots.get(ticker.inst_id)
        if slot is None:
            slot = self._slot(ticker.inst_id)
        prev = slot.ticker
        if prev is not None and ticker.ts_ms < prev.ts_ms:
            return  # out of order: never replace newer data with older
        recv = ticker.recv_mono
        slot.delay = late = self._delay.observe(recv, ticker.ts_ms)
        model = self._xclock
        if model is not None and model.trusted:  # an untrusted clock must not force reconnects
            proven = model.proj_ex_s + model.proj_rate_hi * (recv - model.proj_mono) - ticker.ts_ms * 0.001
            if proven > late:
                late = proven
        slot.late = late
        if late < slot.min_late:
            slot.min_late = late
        slot.ticker = ticker
        if late <= self._late_s:
            slot.fallbacks_in_row = 0  # only a timely ticker ends a run of REST fallbacks

    def on_book_top(self, book: BookTop, recv_mono: float) -> None:
        slot = self._slot(book.inst_id)
        if slot.book is None or book.ts_ms >= slot.book.ts_ms:
            slot.book = book
            slot.book_recv = recv_mono

    def on_mark_price(self, mark: MarkPrice, recv_mono: float) -> None:
        slot = self._slot(mark.inst_id)
        if slot.mark is None or mark.ts_ms >= slot.mark.ts_ms:
            slot.mark = mark
            slot.mark_recv = recv_mono

    def on_price_limit(self, limit: PriceLimit, recv_mono: float) -> None:
        slot = self._slot(limit.inst_id)
        if slot.limit is None or limit.ts_ms >= slot.limit.ts_ms:
            slot.limit = limit
            slot.limit_recv = recv_mono

    def on_candle(self, candle: Candle) -> bool:
        """Store a candle (WS or REST poll); returns True if it was new information."""
        slot = self._slot(candle.inst_id)
        series = slot.candles.get(candle.bar)
        if series is None:
            series = slot.candles[candle.bar] = CandleSeries(candle.bar, self._candle_history)
        return series.add(candle)

    def set_regime(self, inst_id: str, regime: Regime | None, inputs: dict[str, Any] | None = None) -> None:
        """The engine writes the current regime of a symbol with the inputs it was decided from."""
        self._slot(inst_id).regime = RegimeSlot(regime, dict(inputs or {}), self._clock())

    # --- reads -------------------------------------------------------------------------------

    def read(self, inst_id: str, purpose: Purpose, *, report: bool = True) -> Quote:
        """A WS quote within the purpose's budget, or StaleData (also emitted as an event).
        `report=False`: the same rule, and the caller accounts for the refusal itself (the entry
        read watch folds a stale window's repeated reads into one event: engine/entry_reads.py)."""
        ticker, age = self._fresh(inst_id, purpose, report)
        return _quote(
            inst_id, ticker.last, ticker.bid, ticker.ask, SOURCE_WS, age, self._budgets[purpose], purpose,
            ticker.ts_ms, ticker.recv_mono,
        )

    def fresh_ticker(self, inst_id: str, purpose: Purpose) -> Ticker:
        """`read`'s rule and refusal (reported as `read` reports it) without building its Quote: the
        latest WS ticker, when it is fit for `purpose` now. For a caller that screens most prices
        away before deciding anything (the entry path: most tickers cannot signal); what a decision
        uses and records is the Quote of a `read`."""
        return self._fresh(inst_id, purpose, True)[0]

    def _fresh(self, inst_id: str, purpose: Purpose, report: bool) -> tuple[Ticker, float]:
        """The one freshness rule of WS reads: the latest ticker and its true age (`_age`) when
        that age is within the purpose's budget, else StaleData (emitted when `report`)."""
        budget = self._budgets[purpose]
        slot = self._slots.get(inst_id)
        if slot is not None and (ticker := slot.ticker) is not None:
            age = self._age(ticker.recv_mono, ticker.ts_ms, slot.delay, self._clock())
            if age <= budget:
                return ticker, age
            stale = self._stale(inst_id, purpose, budget, age, slot.late)
        else:
            stale = StaleData(inst_id, purpose, None, budget)
        if report:
            self._refused(stale)
        raise stale

    async def read_exit(self, inst_id: str) -> Quote:
        """EXIT read: the WS quote if fresh, else a REST ticker (cached, coalesced, rate limited by
        the client) within the EXIT budget — an explicit REST_FALLBACK event — else StaleData."""
        try:
            return self.read(inst_id, Purpose.EXIT, report=False)
        except StaleData as stale:
            ws_stale = stale
        budget = self._budgets[Purpose.EXIT]
        if self._rest_quote is None:
            self._refused(ws_stale)
            raise ws_stale
        try:
            ticker = await self._rest_quote(inst_id)
        except Exception as exc:  # any REST failure ends in a refusal, never in a stale price
            refused = StaleData(
                inst_id, Purpose.EXIT, ws_stale.age_s, budget,
                f"REST fallback failed: {exc.__class__.__name__}: {exc}",
            )
            self._refused(refused)
            raise refused from exc
        age = self._age(ticker.recv_mono, ticker.ts_ms, 0.0, self._clock())
        if ticker.inst_id != inst_id or age > budget:
            refused = StaleData(
                inst_id, Purpose.EXIT, ws_stale.age_s, budget,
                f"REST ticker unusable: {ticker.inst_id} age {age:.3f}s",
            )
            self._refused(refused)
            raise refused
        slot = self._slot(inst_id)
        slot.fallbacks_in_row += 1
        ws_age = "none" if ws_stale.age_s is None else f"{ws_stale.age_s:.3f}s"
        self.bus.emit(
            COMPONENT, inst_id, FallbackKind.REST_FALLBACK,
            f"exit read: ws age {ws_age} > {budget:g}s; REST ticker age {age:.3f}s", SOURCE_REST,
        )
        return Quote(
            inst_id, ticker.last, ticker.bid, ticker.ask, SOURCE_REST, age, budget, Purpose.EXIT,
            ticker.ts_ms, ticker.recv_mono,
        )

    def is_fresh(self, inst_id: str, purpose: Purpose) -> bool:
        """Whether a `read` for this purpose would succeed now (no event: display and tests)."""
        age = self.age_s(inst_id)
        return age is not None and age <= self._budgets[purpose]

    def last_ticker(self, inst_id: str) -> Ticker | None:
        """The latest WS ticker as received, fresh or not (display and diagnostics only)."""
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.ticker

    def age_s(self, inst_id: str) -> float | None:
        """Age of the symbol's WS quote (exchange seconds, see the module docstring), None if none
        was received."""
        slot = self._slots.get(inst_id)
        if slot is None or slot.ticker is None:
            return None
        ticker = slot.ticker
        return self._age(ticker.recv_mono, ticker.ts_ms, slot.delay, self._clock())

    def lateness_s(self, inst_id: str) -> float | None:
        """How old the symbol's latest WS ticker was when it arrived (exchange seconds)."""
        slot = self._slots.get(inst_id)
        return None if slot is None or slot.ticker is None else slot.late

    def take_min_lateness(self, inst_id: str) -> float | None:
        """The smallest arrival age of the symbol's tickers since the previous call (None: no
        ticker since); the watchdog calls it once per tick. One timely ticker in a tick is enough
        to show the feed is not persistently late."""
        slot = self._slots.get(inst_id)
        if slot is None or slot.min_late == _INF:
            return None
        late = slot.min_late
        slot.min_late = _INF
        return late

    def fallbacks_in_row(self, inst_id: str) -> int:
        """EXIT reads served over REST since this symbol's last timely (not late) WS ticker."""
        slot = self._slots.get(inst_id)
        return 0 if slot is None else slot.fallbacks_in_row

    def mark_price(self, inst_id: str) -> MarkPrice | None:
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.mark

    def mark_age_s(self, inst_id: str) -> float | None:
        slot = self._slots.get(inst_id)
        if slot is None or slot.mark is None:
            return None
        return self._age(slot.mark_recv, slot.mark.ts_ms, 0.0, self._clock())

    def price_limit(self, inst_id: str) -> PriceLimit | None:
        """The latest price-limit band. OKX pushes it only when it changes, so its age says
        nothing about validity; it is valid until replaced."""
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.limit

    def book_top(self, inst_id: str) -> BookTop | None:
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.book

    def candles(self, inst_id: str, bar: str) -> CandleSeries | None:
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.candles.get(bar)

    def last_closed_candle(self, inst_id: str, bar: str) -> Candle | None:
        series = self.candles(inst_id, bar)
        return None if series is None else series.last_closed

    def regime(self, inst_id: str) -> RegimeSlot | None:
        slot = self._slots.get(inst_id)
        return None if slot is None else slot.regime

    def freshness(self, inst_id: str) -> Freshness:
        slot = self._slots.get(inst_id)
        ticker = slot.ticker if slot is not None else None
        regime = slot.regime if slot is not None else None
        age = self.age_s(inst_id)
        satisfied = {p: age is not None and age <= b for p, b in self._budgets.items()}
        return Freshness(
            inst_id,
            ticker.last if ticker else None,
            ticker.bid if ticker else None,
            ticker.ask if ticker else None,
            SOURCE_WS if ticker else "none",
            age,
            satisfied,
            regime.regime if regime else None,
            dict(regime.inputs) if regime else {},
        )

    def freshness_all(self) -> tuple[Freshness, ...]:
        return tuple(self.freshness(inst_id) for inst_id in self._slots)

    # --- internals ---------------------------------------------------------------------------

    def age_now_s(self, quote: Quote) -> float:
        """The true age now of a quote read earlier, measured as a read measures it (exchange
        seconds): the ORDER budget is checked again at the moment an order is sent."""
        slot = self._slots.get(quote.inst_id)
        delay = slot.delay if slot is not None else 0.0
        return self._age(quote.recv_mono, quote.ts_ms, delay, self._clock())

    @staticmethod
    def _stale(inst_id: str, purpose: Purpose, budget: float, age: float, late: float) -> StaleData:
        """The refusal of a read whose WS ticker is `age` old, over `budget`; `late` is how old it
        arrived."""
        # The cause the operator reads: none coming (a stall, a gap) when the age beyond the
        # ticker's arrival age alone exceeds the budget, else a ticker that came late.
        silent = age - late
        if silent > budget:
            why = f"no ticker received for {silent:.3f}s" + (
                f" (the last arrived {late:.3f}s old)" if late >= _DELAY_SHOWN_S else "")
        else:
            why = f"arrived {late:.3f}s old: delivery delay"
        return StaleData(inst_id, purpose, age, budget, why)

    def _age(self, recv_mono: float, ts_ms: int, delay: float, now: float) -> float:
        """max(rate·(now − receive) + estimated delay, exchange now (upper) − ts): see the module
        docstring. Exchange seconds."""
        model = self._xclock
        if model is None or not model.published:
            return now - recv_mono + delay
        age = (now - recv_mono) * model.rate + delay
        proven = model.proj_ex_s + model.proj_rate_hi * (now - model.proj_mono) - ts_ms * 0.001
        return proven if proven > age else age

    def _refused(self, stale: StaleData) -> None:
        age = "none" if stale.age_s is None else f"{stale.age_s:.3f}s"
        detail = f"{stale.purpose.value} read: age {age} > budget {stale.budget_s:g}s"
        if stale.detail:
            detail += f"; {stale.detail}"
        # folded per purpose: a row of a storm names the purpose of every read it stands for
        self.bus.emit(COMPONENT, stale.inst_id, FallbackKind.STALE_REFUSED, detail, "none", fold=stale.purpose.value)
