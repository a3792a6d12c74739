"""`SimExchange`: the sans-I/O OKX v5 exchange the simulator server wraps.

Plain synchronous code: no sockets, no asyncio, no wall clock of its own (the caller passes wall
time to `advance`). Everything returned is already OKX wire form (dicts of strings).

How the I/O shell (sim-server) drives it
- Call `advance(time.time())` before answering each request and on a short timer (e.g. every
  10-50 ms); then `drain_events()` and push each `SimEvent` to the connections subscribed to
  `(event.channel, event.inst_id)` (private events: to the logged-in private connections).
- Commands (`place_order`, ...) act at the sim time of the last `advance`.
- Public events are built only for wanted channels: call `set_channel_interest(channel, inst_id,
  True)` on the first subscriber and `(..., False)` when the last one leaves. Until the first call
  every public channel counts as wanted (handy for tests that use the core alone); after it, only
  what was declared. Private channels (orders, positions, account, orders-algo) are always
  produced. `orders-algo` items (algo objects like OKX's orders-algo push) come on every algo
  state change: live (placed, or an attached TP/SL armed/resized by its entry's fill), effective
  (triggered; `ordId` = the closing order), canceled.
- `positions` events are OKX `event_update` items; the subscribe-time snapshot comes from
  `positions_wire()` / `balance_wire()`.
- Our account's taker fills print on the public tape (trades, last, candles) with the fill's
  tradeId; resting orders fill as maker, fully when the market goes through their price, partly
  (the trade's size) when a trade prints exactly at it. Own orders are not shown in the book. Isolated margin is computed like cross (notional / lever); there is
  no liquidation.
- Funding (funding.py): each instrument's rate follows OKX's formula on the simulated premium; open
  positions settle every 8 hours of sim time (00/08/16 UTC), writing type-8 bills and pushing
  positions, account and balance_and_position (eventType funding_fee). `set_funding_rate` and
  `settle_funding_now` drive it in tests (also via POST /sim/control/market).

Every public method takes one re-entrant lock (uncontended: ~0.1 us), so hooks may be called from
another thread than the one advancing the market.

Tick rate: the market steps every `tick_interval_s` of sim time (default 0.1 s) for every
instrument; sim time runs `speed` times faster than wall time. Per step and instrument a wanted
channel gets at most: one ticker, one books5, one bbo-tbt, one trade (about 6 trades/s), mark-price
and price-limit at most every 200 ms, one candle<bar> row per sim second per bar (+ the closed bar).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from okxscalp.okx.constants import (
    CODE_INST_NOT_FOUND,
    CODE_ORDER_NOT_FOUND,
    CODE_PARAM_ERROR,
)
from okxscalp.sim.account_state import AccountStateError, export_desk, restore_desk
from okxscalp.sim.balance_position import BALANCE_AND_POSITION, balance_and_position_snapshot
from okxscalp.sim.bills import BILLS_LIMIT_MAX, BillQuery
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.funding import HISTORY_LIMIT_MAX, MAX_FUNDING_RATE, MIN_FUNDING_RATE, FundingBook
from okxscalp.sim.history import CandleHistory
from okxscalp.sim.instruments import (
    DEFAULT_INST_IDS,
    INSTRUMENT_STATES,
    INSTRUMENTS_CHANNEL,
    InstrumentSpec,
    instrument_wire,
    spec_for,
)
from okxscalp.sim.market import SIM_BARS, TABLE_MARKET, MarketDynamics, SymbolMarket
from okxscalp.sim.matching import TradingDesk
from okxscalp.sim.order_history import OrderHistoryQuery, history_item, paginate
from okxscalp.sim.replay import ReplayData, load_replay
from okxscalp.sim.trade_fee import trade_fee_item

__all__ = ["DEFAULT_INST_IDS", "SimApiError", "SimEvent", "SimExchange"]

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Run under the exchange's lock: a test thread may call hooks while the server's loop
    thread advances the market (run_in_thread)."""

    @functools.wraps(method)
    def wrapper(self: SimExchange, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]

DEFAULT_UID = "44712090361049088"
MAX_CANDLE_LIMIT = 300
MAX_BOOK_DEPTH = 400
# Undrained events beyond this are trimmed (oldest public ones first; private ones are kept), so
# an exchange nobody drains cannot eat the memory. Counted in `dropped_events`.
MAX_PENDING_EVENTS = 200_000
# `advance` replays at most this much wall time (x speed) in one call; beyond it the clock jumps.
MAX_CATCH_UP_WALL_S = 600.0
# A wall time this close below a step's instant counts as at it: a float wall near 1.7e9 s has
# 0.24 us resolution, so a driver waking exactly on a step deadline (injected clock, SimServer)
# may read a few tenths of a microsecond short of it and would otherwise miss the step.
WALL_TOLERANCE_MS = 0.001
_ALL_FILLS = 1 << 31  # a `limit` above any number of kept fills: scan them all, then filter and page
_PRIVATE_CHANNELS = frozenset({"orders", "positions", "account", "orders-algo", BALANCE_AND_POSITION})


class SimExchange:
    def __init__(
        self,
        *,
        seed: int = 7,
        speed: float = 1.0,
        initial_equity: float = 10_000.0,
        inst_ids: Sequence[str] = DEFAULT_INST_IDS,
        replay_path: str | None = None,
        replay: ReplayData | None = None,
        start_wall_s: float | None = None,
        uid: str = DEFAULT_UID,
        tick_interval_s: float = 0.1,
        start_sim_ms: int | None = None,
        history_minutes: int = 1440,
        start_prices: Mapping[str, float] | None = None,
        dynamics: MarketDynamics = TABLE_MARKET,
    ) -> None:
        """Build the market and the account.

        `start_wall_s` (default: now) is the wall time at which sim time equals `start_sim_ms`
        (default: `start_wall_s` in ms, or the first replay timestamp when replaying). Pass both
        for fully reproducible timestamps. `history_minutes` of 1m candles (max 1440) exist before
        the start, ending at the instrument's start price: its shipped one, or `start_prices[inst_id]`
        (a restored account's market resumes where it was saved, see persist.py), or a replayed
        instrument's first recorded price (no jump at the first step); `replay` is such a recording
        already in memory (the backtest's records, sim/replay.py replay_data). `dynamics`: how
        lively every market is (config exchange.sim.volatility / swing_*; market.MarketDynamics).
        """
        if speed <= 0:
            raise ValueError("speed must be positive")
        if tick_interval_s <= 0:
            raise ValueError("tick_interval_s must be positive")
        if not inst_ids:
            raise ValueError("at least one instrument is needed")
        self._lock = threading.RLock()
        self.seed = seed
        self.speed = float(speed)
        self.uid = uid
        self.tick_interval_s = float(tick_interval_s)
        self._dt_ms = self.tick_interval_s * 1000.0
        self.start_wall_s = time.time() if start_wall_s is None else float(start_wall_s)
        if replay_path and replay is not None:
            raise ValueError("give replay_path or replay (records in memory), not both")
        if replay_path:
            replay = load_replay(replay_path)
        if start_sim_ms is None:
            start_sim_ms = replay.first_ts_ms if replay is not None else int(self.start_wall_s * 1000)
        self.start_sim_ms = int(start_sim_ms)
        self.specs: dict[str, InstrumentSpec] = {}
        self.markets: dict[str, SymbolMarket] = {}
        self.histories: dict[str, CandleHistory] = {}  # /market/history-candles (sim/history.py)
        master = random.Random(seed)
        for inst_id in dict.fromkeys(inst_ids):
            spec = spec_for(inst_id)
            if start_prices and inst_id in start_prices:
                spec = dataclasses.replace(spec, start_px=float(start_prices[inst_id]))
            if replay is not None and inst_id in replay.inst_ids:  # starts where the recording does
                spec = dataclasses.replace(spec, start_px=replay.first_price(inst_id))
            self.specs[inst_id] = spec
            market = SymbolMarket(spec, random.Random(master.random()), self.tick_interval_s,
                                  self.start_sim_ms, history_minutes, dynamics)
            if replay is not None and inst_id in replay.inst_ids:
                market.process.follow(replay.follower(inst_id))
            self.markets[inst_id] = market
            self.histories[inst_id] = CandleHistory(market, seed)
        self._market_list = list(self.markets.values())
        # Index id (e.g. BTC-USDT) -> its swap's market: the index-tickers channel is keyed by index.
        self.index_markets: dict[str, SymbolMarket] = {m.index_id: m for m in self._market_list}
        self._steps_done = 0
        self._events: list[SimEvent] = []
        self.dropped_events = 0
        self.skipped_steps = 0
        self._max_catch_up_steps = max(1, int(MAX_CATCH_UP_WALL_S * self.speed * 1000.0 / self._dt_ms))
        self._set_queue(self._events)
        self._interest: set[tuple[str, str]] | None = None
        self.initial_equity = float(initial_equity)
        # Bumped on every account change (each private push, and a position-mode change): what
        # the account file's saver (persist.py) compares to know whether there is news to write.
        self.account_revision = 0
        self._command_at_ms: int | None = None  # see command_ms
        self.desk = TradingDesk(self.markets, self.initial_equity, lambda: self.command_ms, self._emit)
        # Funding periods on sim time: 8-hourly settlements at 00/08/16 UTC (funding.py).
        self.funding = FundingBook(list(self.markets), self.start_sim_ms)

    # ------------------------------------------------------------------ clock
    def sim_now_ms(self, wall_s: float) -> int:
        """Sim time (ms) at a wall time: start + (wall - start_wall) * speed."""
        return self.start_sim_ms + int((wall_s - self.start_wall_s) * self.speed * 1000.0 + WALL_TOLERANCE_MS)

    @property
    def now_ms(self) -> int:
        """Sim time of the last step taken (what commands and REST answers are stamped with)."""
        return self.start_sim_ms + int(self._steps_done * self._dt_ms)

    @property
    def command_ms(self) -> int:
        """The time a command (place, cancel, amend, close...) is processed at: the sim time of the
        wall time the market was last brought to by `advance`, never before the last step. OKX
        stamps an order's `ts` when "the order request processing is finished" (docs
        order-book-trading-trade-post-place-order, response `ts`), so an order's ts/cTime/uTime and
        its taker fills come after the request's inTime, not snapped back to the market step.
        Inside the steps (resting fills, TP/SL triggers) it is the step's time."""
        at = self._command_at_ms
        return self.now_ms if at is None else max(self.now_ms, at)

    @_locked
    def advance(self, wall_s: float) -> None:
        """Run every instrument forward to `wall_s`, one `tick_interval_s` step at a time.

        Resting orders fill and attached TP/SL trigger inside the steps. Going backwards in wall
        time is a no-op. When more than MAX_CATCH_UP_WALL_S of wall time is due at once (host
        asleep), the clock jumps and only the last MAX_CATCH_UP_WALL_S x speed of sim time is
        stepped (`skipped_steps` counts). Tests wanting every step use `advance_sim_seconds`.
        """
        target = int((self.sim_now_ms(wall_s) - self.start_sim_ms) / self._dt_ms)
        behind = target - self._steps_done
        if behind > self._max_catch_up_steps:
            # The host slept or stalled: jump the clock instead of replaying hours of steps (the
            # market resumes where it was; candles in the gap are flat).
            skipped = behind - self._max_catch_up_steps
            self._steps_done += skipped
            self.skipped_steps += skipped
            behind = self._max_catch_up_steps
        self._take_steps(behind)  # under this call's lock: not taken again per round
        # Rounded up: a request's processing ends after it arrived, within the millisecond.
        self._command_at_ms = self.start_sim_ms + math.ceil(
            (wall_s - self.start_wall_s) * self.speed * 1000.0 - WALL_TOLERANCE_MS)

    @_locked
    def advance_steps(self, count: int) -> None:
        """Take `count` market steps (tests and benches drive the clock this way)."""
        self._take_steps(count)

    def _take_steps(self, count: int) -> None:
        """advance_steps' work; the caller holds the lock."""
        self._command_at_ms = None  # commands are stamped with the step's time until `advance` says more
        markets = self._market_list
        desk, funding, markets_by_id = self.desk, self.funding, self.markets
        for _ in range(max(0, count)):
            self._steps_done += 1
            ts_ms = self.start_sim_ms + int(self._steps_done * self._dt_ms)
            active = desk.active_insts
            for market in markets:
                market.step(ts_ms, self._events)
                if active and market.inst_id in active:
                    desk.on_step(market)
            funding.on_step(ts_ms, markets_by_id, desk)
            desk.liquidate_due()  # on the step's mark prices (sim/liquidation.py)
        if len(self._events) > MAX_PENDING_EVENTS:
            self._trim_events()

    def _trim_events(self) -> None:
        events = self._events
        excess = len(events) - MAX_PENDING_EVENTS // 2
        kept: list[SimEvent] = []
        for event in events:
            if excess > 0 and event.channel not in _PRIVATE_CHANNELS:
                excess -= 1
                continue
            kept.append(event)
        self.dropped_events += len(events) - len(kept)
        self._set_queue(kept)

    @_locked
    def advance_sim_seconds(self, seconds: float) -> None:
        self.advance_steps(round(seconds * 1000.0 / self._dt_ms))

    def _emit(self, event: SimEvent) -> None:
        """The account's pushes (orders, positions, account, orders-algo): every one is a change."""
        self.account_revision += 1
        self._events.append(event)

    @_locked
    def drain_events(self) -> list[SimEvent]:
        """Everything to push since the last drain, oldest first (public and private)."""
        events = self._events
        if not events:
            return []
        drained = events.copy()
        events.clear()  # the same list stays the queue: the markets' sinks need no re-pointing
        return drained

    def _set_queue(self, queue: list[SimEvent]) -> None:
        self._events = queue
        for market in self._market_list:
            market.sink = queue

    # ------------------------------------------------------------------ interest filter
    @_locked
    def set_channel_interest(self, channel: str, inst_id: str, on: bool) -> None:
        """Declare whether anyone listens to a public `channel` (`tickers`, `books5`, `bbo-tbt`,
        `books`, `trades`, `mark-price`, `price-limit`, `candle<bar>`) for `inst_id`.
        `books` (400-level deltas) is never produced before it is declared.

        The first call switches filtering on: from then on only declared channels produce events.
        Unknown instruments are ignored (the server answers subscribe errors itself).
        """
        if self._interest is None:
            self._interest = set()
            for market in self._market_list:
                self._apply_interest(market)
        key = (channel, inst_id)
        if on:
            self._interest.add(key)
        else:
            self._interest.discard(key)
        market = self.markets.get(inst_id) or self.index_markets.get(inst_id)
        if market is not None:
            self._apply_interest(market)

    def _apply_interest(self, market: SymbolMarket) -> None:
        wanted = self._interest
        assert wanted is not None
        inst_id = market.inst_id
        market.want_tickers = ("tickers", inst_id) in wanted
        market.want_books5 = ("books5", inst_id) in wanted
        market.want_books = ("books", inst_id) in wanted
        market.want_bbo = ("bbo-tbt", inst_id) in wanted
        market.want_trades = ("trades", inst_id) in wanted
        market.want_mark = ("mark-price", inst_id) in wanted
        market.want_limit = ("price-limit", inst_id) in wanted
        want_index = ("index-tickers", market.index_id) in wanted
        if want_index and not market.want_index:
            market.announce_index()  # a new subscriber gets the index at the next step
        market.want_index = want_index
        market.want_candles = tuple(b for b in SIM_BARS if ("candle" + b, inst_id) in wanted)  # ordered

    # ------------------------------------------------------------------ market data (REST)
    def _market(self, inst_id: str | None) -> SymbolMarket:
        if not inst_id:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter instId error")
        market = self.markets.get(inst_id)
        if market is None:
            raise SimApiError(CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
        return market

    @staticmethod
    def _check_inst_type(inst_type: str | None) -> None:
        if inst_type != "SWAP":
            if inst_type in ("SPOT", "MARGIN", "FUTURES", "OPTION"):
                return
            raise SimApiError(CODE_PARAM_ERROR, "Parameter instType error")

    @_locked
    def instruments_wire(self, inst_type: str, inst_id: str | None = None) -> list[dict]:
        """GET /public/instruments. Only SWAP instruments exist here; other types answer []."""
        self._check_inst_type(inst_type)
        if inst_type != "SWAP":
            return []
        if inst_id:
            spec = self.specs.get(inst_id)
            if spec is None:
                raise SimApiError(CODE_INST_NOT_FOUND, f"Instrument ID {inst_id} doesn't exist.")
            return [instrument_wire(spec)]
        return [instrument_wire(s) for s in self.specs.values()]

    @_locked
    def set_instrument_state(self, inst_id: str, state: str) -> None:
        """From now on GET /public/instruments reports `state` for `inst_id` (suspend, preopen, test,
        rebase, post_only, live again): how a test drives an instrument that stops trading."""
        spec = self.specs.get(inst_id)
        if spec is None:
            raise ValueError(f"no simulated instrument {inst_id!r}")
        if state not in INSTRUMENT_STATES:
            raise ValueError(f"unknown instrument state {state!r}; OKX's: {', '.join(INSTRUMENT_STATES)}")
        if state == spec.state:
            return
        changed = self.specs[inst_id] = dataclasses.replace(spec, state=state)
        # The `instruments` channel pushes an instrument whose state changed (keyed by instType).
        self._events.append(SimEvent(INSTRUMENTS_CHANNEL, "SWAP", instrument_wire(changed)))

    @_locked
    def ticker_wire(self, inst_id: str) -> dict:
        """GET /market/ticker item."""
        return self._market(inst_id).ticker_item()

    @_locked
    def tickers_wire(self, inst_type: str) -> list[dict]:
        """GET /market/tickers items."""
        self._check_inst_type(inst_type)
        if inst_type != "SWAP":
            return []
        return [m.ticker_item() for m in self._market_list]

    @_locked
    def books_wire(self, inst_id: str, depth: int = 1) -> dict:
        """GET /market/books item: `depth` levels per side (1..400)."""
        market = self._market(inst_id)
        if depth < 1 or depth > MAX_BOOK_DEPTH:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter sz error")
        return market.books_item(depth)

    @_locked
    def books_snapshot_wire(self, inst_id: str) -> dict:
        """The `books` channel's snapshot item (push it with `"action":"snapshot"` when a client
        subscribes). After it, `books` events (only while `set_channel_interest("books", ...)` is on)
        are `"action":"update"` deltas: levels with size "0" leave, prevSeqId = the previous seqId,
        checksum 0 (deprecated by OKX)."""
        return self._market(inst_id).books_snapshot_item()

    @_locked
    def candles_wire(self, inst_id: str, bar: str = "1m", after: int | None = None,
                     before: int | None = None, limit: int = 100) -> list[list[str]]:
        """GET /market/candles rows, newest first; `after`/`before` are open-time bounds (ms,
        exclusive): rows older than `after`, newer than `before`. `limit` is capped at 300."""
        market = self._market(inst_id)
        if bar not in market.candles:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter bar error")
        if limit < 1:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter limit error")
        return market.candles_rows(bar, after, before, min(limit, MAX_CANDLE_LIMIT))

    @_locked
    def history_candles_wire(self, inst_id: str | None, bar: str = "1m", after: int | None = None,
                             before: int | None = None, limit: int = 100) -> list[list[str]]:
        """GET /market/history-candles rows, newest first: the kept bars, then days of older ones
        (sim/history.py); `after`/`before` as for candles_wire; `limit` is capped at 300."""
        market = self._market(inst_id)
        if bar not in market.candles:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter bar error")
        if limit < 1:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter limit error")
        return self.histories[market.inst_id].rows(bar, after, before, limit)

    @_locked
    def mark_price_wire(self, inst_id: str) -> dict:
        """GET /public/mark-price item."""
        return self._market(inst_id).mark_item()

    @_locked
    def index_tickers_wire(self, quote_ccy: str | None, index_id: str | None) -> list[dict]:
        """GET /market/index-tickers (docs public-data-rest-api-get-index-tickers): quoteCcy or
        instId (an index, e.g. BTC-USDT) is required (neither: 51000 here; the code OKX gives is not
        documented). Every simulated index is quoted in USDT; an unknown index answers []."""
        if not quote_ccy and not index_id:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter quoteCcy error")
        return [m.index_ticker_item() for m in self._market_list
                if (not index_id or m.index_id == index_id) and (not quote_ccy or quote_ccy == "USDT")]

    @_locked
    def shift_index(self, inst_id: str, fraction: float) -> None:
        """Test hook: the spot index of `inst_id` moves by `fraction` (e.g. -0.01) while the swap's
        book and `last` stay; the mark follows the index (market.SymbolMarket.shift_index)."""
        try:
            self._market(inst_id).shift_index(float(fraction))
        except (TypeError, ValueError) as exc:
            raise SimApiError(CODE_PARAM_ERROR, f"shift_index: {exc}") from exc

    @_locked
    def price_limit_wire(self, inst_id: str) -> dict:
        """GET /public/price-limit item."""
        return self._market(inst_id).price_limit_item()

    # ------------------------------------------------------------------ funding and bills
    @_locked
    def funding_rate_wire(self, inst_id: str | None) -> list[dict]:
        """GET /public/funding-rate: the current period of `inst_id`, or of every swap for `ANY`
        (docs public-data rest-api-get-funding-rate)."""
        if inst_id == "ANY":
            return [f.wire(self.markets[i], self.now_ms) for i, f in self.funding.by_inst.items()]
        market = self._market(inst_id)
        return [self.funding.by_inst[market.inst_id].wire(market, self.now_ms)]

    @_locked
    def funding_rate_history_wire(self, inst_id: str | None, after: int | None = None, before: int | None = None,
                                  limit: int = HISTORY_LIMIT_MAX) -> list[dict]:
        """GET /public/funding-rate-history: settled periods, newest first; `after`/`before` are
        fundingTime bounds (ms), `limit` 1..400 (default 400)."""
        market = self._market(inst_id)
        if limit < 1 or limit > HISTORY_LIMIT_MAX:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter limit error")
        return self.funding.by_inst[market.inst_id].history_wire(after=after, before=before, limit=limit,
                                                                 now_ms=self.now_ms)

    @_locked
    def bills_wire(self, query: BillQuery, *, archive: bool = False) -> list[dict]:
        """GET /account/bills (last 7 days) or, `archive`, /account/bills-archive (3 months)."""
        if query.limit < 1 or query.limit > BILLS_LIMIT_MAX:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter limit error")
        return self.desk.bills.query(query, now_ms=self.now_ms, archive=archive)

    @_locked
    def balance_and_position_snapshot(self) -> dict:
        """The balance_and_position channel's first push to a new subscriber."""
        return balance_and_position_snapshot(self.desk, self.now_ms)

    @_locked
    def set_funding_rate(self, inst_id: str, rate: float | None) -> None:
        """Test control: `inst_id`'s current period shows and settles at `rate` (within OKX's
        min/max funding rate) until set back with None (the modelled rate again)."""
        market = self._market(inst_id)
        if rate is not None and not MIN_FUNDING_RATE <= float(rate) <= MAX_FUNDING_RATE:
            raise SimApiError(CODE_PARAM_ERROR, f"funding rate {rate} outside [{MIN_FUNDING_RATE}, {MAX_FUNDING_RATE}]")
        self.funding.by_inst[market.inst_id].forced_rate = None if rate is None else float(rate)

    @_locked
    def set_scheduled_funding(self, on: bool) -> None:
        """Test control: whether the 8-hourly settlements charge open positions (on by default, as
        OKX). Tests asserting exact P&L over sim hours at a high speed factor turn it off, so a
        settlement that happens to fall inside them cannot move the figures; settle_funding_now
        still charges."""
        self.funding.charges_positions = bool(on)

    @_locked
    def settle_funding_now(self, inst_id: str | None = None) -> list[dict]:
        """Test control: settle funding now (sim time) for `inst_id` (default: every instrument)
        at the current rate, as the 8-hourly settlement would; the schedule is unchanged. Returns
        the funding bills written (one per open position)."""
        inst_ids = [self._market(inst_id).inst_id] if inst_id else list(self.markets)
        bills: list[dict] = []
        for one in inst_ids:
            bills.extend(self.funding.settle_now(one, self.markets[one], self.desk, self.now_ms))
        return bills

    # ------------------------------------------------------------------ test hooks (market)
    @_locked
    def force_regime(self, inst_id: str, regime: str, duration_s: float, direction: int | None = None) -> None:
        """Push `inst_id`'s price process into `trending`/`choppy`/`ranging` for `duration_s` of sim
        time (then it switches on its own again). `direction` +1/-1 picks the trend's sign."""
        market = self._market(inst_id)
        try:
            market.process.force(str(getattr(regime, "value", regime)), duration_s, direction)
        except ValueError as exc:
            raise SimApiError(CODE_PARAM_ERROR, str(exc)) from exc

    @_locked
    def move_price(self, inst_id: str, px: float) -> None:
        """Test hook: the market of `inst_id` gaps to `px` from the next step on (book and trades
        there at once, `last` with the next trade; mark price and price limits move with it).
        Handy to trigger a TP/SL without waiting for a trend."""
        market = self._market(inst_id)
        try:
            market.gap_to(float(px))
        except (TypeError, ValueError) as exc:
            raise SimApiError(CODE_PARAM_ERROR, f"move_price: {exc}") from exc

    @_locked
    def regime_of(self, inst_id: str) -> str:
        """The regime the price process of `inst_id` is in right now (for tests and the console)."""
        return self._market(inst_id).process.regime

    # ------------------------------------------------------------------ account (REST)
    @_locked
    def balance_wire(self) -> dict:
        """GET /account/balance item (also the `account` push item): one USDT detail."""
        return self.desk.balance_wire()

    @_locked
    def positions_wire(self, inst_id: str | None = None) -> list[dict]:
        """GET /account/positions items: non-zero positions only (optionally of one instrument)."""
        return self.desk.positions_wire(inst_id)

    @_locked
    def config_wire(self) -> dict:
        """GET /account/config item (futures account level, the current posMode)."""
        return {
            "acctLv": "2", "acctStpMode": "cancel_maker", "autoLoan": False, "ctIsoMode": "automatic",
            "enableSpotBorrow": False, "greeksType": "PA", "feeType": "0", "ip": "", "type": "0", "kycLv": "3",
            "label": "okxscalp-sim", "level": "Lv1", "levelTmp": "", "liquidationGear": "-1",
            "mainUid": self.uid, "mgnIsoMode": "automatic", "opAuth": "1", "perm": "read_only,trade",
            "posMode": self.desk.pos_mode, "roleType": "0", "spotBorrowAutoRepay": False, "spotOffsetType": "",
            "spotRoleType": "0", "spotTraderInsts": [], "stgyType": "0", "traderInsts": [], "uid": self.uid,
            "settleCcy": "USDT", "settleCcyList": ["USD", "USDC", "USDG"],
        }

    @_locked
    def set_position_mode(self, pos_mode: str) -> dict:
        """POST /account/set-position-mode. A fresh exchange is in `long_short_mode`. SimApiError
        59000 while positions or open orders/algos exist, 51000 for an unknown mode."""
        result = self.desk.set_position_mode(pos_mode)
        self.account_revision += 1
        return result

    @_locked
    def set_leverage(self, params: dict) -> list[dict]:
        """POST /account/set-leverage (lever, mgnMode, instId, posSide). Cross leverage is per
        instrument; isolated in long/short mode per posSide (required). 59102 above the
        instrument's max, 51000 bad params, 51001 unknown instrument. Default leverage is 10x."""
        return self.desk.set_leverage(params)

    @_locked
    def leverage_info(self, mgn_mode: str, inst_id: str) -> list[dict]:
        """GET /account/leverage-info: one item per posSide (long+short, or net)."""
        return self.desk.leverage_info(mgn_mode, inst_id)

    # ------------------------------------------------------------------ trading (REST)
    @_locked
    def place_order(self, params: dict) -> dict:
        """POST /trade/order. Returns ONE data item {ordId, clOrdId, tag, ts, sCode, sMsg, subCode}.

        sCode "0" = accepted (the outcome arrives as `orders` events: post_only that would take is
        accepted and then canceled with cancelSource "31"; ioc remainder canceled with "14").
        Otherwise sCode is the OKX rejection (51000 params, 51001 instrument, 51006 price limit,
        51008 margin, 51016 duplicate pending clOrdId, 51020 min size, 51121 lot size, 51169
        nothing to reduce, or whatever `reject_next_order` queued): wrap as code "1".
        """
        return self.desk.place_order(params)

    @_locked
    def cancel_order(self, params: dict) -> dict:
        """POST /trade/cancel-order item {ordId, clOrdId, ts, sCode, sMsg}; sCode 51400 if the order
        is final or unknown. SimApiError 51000 when neither ordId nor clOrdId is given."""
        return self.desk.cancel_order(params)

    @_locked
    def amend_order(self, params: dict) -> dict:
        """POST /trade/amend-order item {ordId, clOrdId, ts, reqId, sCode, sMsg, subCode}; `newSz`
        is the new total size; sCode 51503 when the order is final/unknown or newSz <= filled."""
        return self.desk.amend_order(params)

    @_locked
    def close_position(self, params: dict) -> dict:
        """POST /trade/close-position item {instId, posSide, clOrdId, tag}: a reduce-only market
        order for the whole position (autoCxl cancels pending closing orders first). SimApiError
        51023 when there is no such position, 51000 for a bad posSide/mgnMode."""
        return self.desk.close_position(params)

    @_locked
    def get_order(self, inst_id: str, ord_id: str | None = None, cl_ord_id: str | None = None) -> dict:
        """GET /trade/order: the full order object (a pending clOrdId wins over older ones).
        SimApiError 51603 if unknown, 51001 unknown instrument, 51000 if no id given."""
        market = self._market(inst_id)
        if not ord_id and not cl_ord_id:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter ordId or clOrdId error")
        order = self.desk.find_order(market.inst_id, ord_id, cl_ord_id)
        if order is None:
            raise SimApiError(CODE_ORDER_NOT_FOUND, "Order does not exist")
        return self.desk.order_wire(order, order.last_fill)

    @_locked
    def orders_pending(self, inst_id: str | None = None) -> list[dict]:
        """GET /trade/orders-pending: live/partially_filled orders, newest first, each with its
        not-yet-armed `attachAlgoOrds`."""
        return self.desk.orders_pending(inst_id)

    @_locked
    def fills(
        self, inst_id: str | None = None, limit: int = 100, *, ord_id: str | None = None,
        begin_ms: int | None = None, end_ms: int | None = None, history: bool = False,
        inst_ids: frozenset[str] | None = None, sub_type: str | None = None,
        after: int | None = None, before: int | None = None,
    ) -> list[dict]:
        """GET /trade/fills: the last 3 days of sim time (`history`: GET /trade/fills-history, the
        last 3 months), newest first, at most `limit` (<= 100); filters `ordId`, `begin`/`end` (ts ms),
        `inst_ids` (what instId/instFamily select), `subType`, and the billId cursors `after`
        (older than) / `before` (newer than; the ones just newer, still newest first)."""
        limit = max(1, min(int(limit), 100))
        if inst_ids is None and sub_type is None and after is None and before is None:
            return self.desk.fills(inst_id, limit, ord_id=ord_id, begin_ms=begin_ms, end_ms=end_ms, history=history)
        every = self.desk.fills(inst_id, _ALL_FILLS, ord_id=ord_id, begin_ms=begin_ms, end_ms=end_ms, history=history)
        wanted = [f for f in every if (inst_ids is None or f["instId"] in inst_ids)
                  and (sub_type is None or f["subType"] == sub_type)]
        return paginate(wanted, lambda f: int(f["billId"]), after=after, before=before, limit=limit)

    @_locked
    def cancel_orders(self, items: list[dict]) -> list[dict]:
        """POST /trade/cancel-batch-orders: `cancel_order` for each item, one data item each."""
        return [self._batch_item(self.desk.cancel_order, item, ("ordId", "clOrdId")) for item in items]

    @_locked
    def amend_orders(self, items: list[dict]) -> list[dict]:
        """POST /trade/amend-batch-orders: `amend_order` for each item, one data item each."""
        return [self._batch_item(self.desk.amend_order, item, ("ordId", "clOrdId", "reqId")) for item in items]

    def _batch_item(self, command: Callable[[dict], dict], item: dict, echoed: tuple[str, ...]) -> dict:
        """One order of a batch. What a lone request refuses as a whole (no ordId/clOrdId, junk)
        fails only its own item here, with that code as its sCode, so the others still run.
        UNCONFIRMED: the docs show only successful batch items; OKX's place batch reports
        per-order parameter errors the same way (sCode per item)."""
        try:
            return command(item)
        except SimApiError as exc:
            failed = {name: str(item.get(name) or "") for name in echoed}
            failed.update(ts=str(self.now_ms), sCode=exc.code, sMsg=exc.msg)
            if "reqId" in echoed:
                failed["subCode"] = ""
            return failed

    @_locked
    def orders_history(self, query: OrderHistoryQuery, *, archive: bool) -> list[dict]:
        """GET /trade/orders-history (`archive`: -archive): finished orders, newest first (order_history.py)."""
        orders = self.desk.order_history.select(query, now_ms=self.now_ms, archive=archive)
        return [history_item(self.desk.order_wire(o, o.last_fill)) for o in orders]

    @property
    def families(self) -> dict[str, str]:
        """Instrument id -> instrument family (BTC-USDT-SWAP -> BTC-USDT)."""
        return {inst_id: spec.family for inst_id, spec in self.specs.items()}

    @_locked
    def trade_fee(self, inst_type: str, group_id: str | None) -> list[dict]:
        """GET /account/trade-fee item for `inst_type` (trade_fee.py): the rates fills are charged at."""
        return [trade_fee_item(inst_type, self.now_ms, group_id)]

    @_locked
    def place_algo_order(self, params: dict) -> dict:
        """POST /trade/order-algo (ordType `conditional` or `oco`): a stand-alone reduce-only TP/SL
        closing `sz` or (closeFraction "1") the whole position; triggers on the last price and
        closes at market (ordPx -1) or a limit. Item {algoId, clOrdId, algoClOrdId, tag, sCode, sMsg};
        sCode 51169 without a position to protect. Canceled when the position closes."""
        return self.desk.place_algo_order(params)

    @_locked
    def amend_algos(self, params: dict) -> dict:
        """POST /trade/amend-algos item {algoId, algoClOrdId, reqId, sCode, sMsg}: new TP/SL legs
        and/or size of a live algo; sCode 51503 when it is not live (see TradingDesk.amend_algos)."""
        return self.desk.amend_algos(params)

    @_locked
    def cancel_algos(self, items: list[dict]) -> list[dict]:
        """POST /trade/cancel-algos: items {instId, algoId} -> {algoId, sCode, sMsg} (51402 if not live)."""
        return self.desk.cancel_algos(items)

    @_locked
    def algo_orders_pending(self, inst_id: str | None = None, ord_type: str | None = None) -> list[dict]:
        """GET /trade/orders-algo-pending: live algos, armed attached TP/SL included (ordType `oco`
        for a TP+SL pair, else `conditional`), newest first; `ord_type` filters (comma list)."""
        return self.desk.algo_orders_pending(inst_id, ord_type)

    # ------------------------------------------------------------------ test hooks (account)
    @_locked
    def reject_next_order(self, code: str, msg: str, count: int = 1) -> None:
        """The next `count` place_order / place_algo_order calls fail with sCode `code` / sMsg `msg`."""
        self.desk.reject_next(code, msg, count)

    @_locked
    def open_position_directly(self, inst_id: str, pos_side: str, contracts: float, avg_px: float | None = None,
                               mgn_mode: str = "cross") -> dict:
        """A position "created behind the engine's back": no order, no fee; `avg_px` defaults to
        the current mid. Pushes `positions` and `account`; returns the position item."""
        return self.desk.open_position_directly(inst_id, pos_side, contracts, avg_px, mgn_mode)

    # ------------------------------------------------------------------ account state (persist.py)
    @_locked
    def export_account(self) -> dict:
        """The account (see account_state.py) and each market's last price and trade id sequence,
        JSON-ready. Raises AccountStateError if a figure cannot be written (not finite)."""
        markets = {inst_id: {"last": m.last, "trade_seq": m.trade_seq} for inst_id, m in self.markets.items()}
        return {"sim_now_ms": self.now_ms, "markets": markets, "account": export_desk(self.desk)}

    @_locked
    def restore_account(self, state: Mapping[str, Any]) -> None:
        """Take over a saved account (from `export_account`). Trade ids continue after the saved
        ones (a fill's tradeId never repeats). AccountStateError (nothing changed) if it is not one."""
        markets = state.get("markets")
        if not isinstance(markets, dict):
            raise AccountStateError("markets: expected an object")
        trade_seqs: dict[str, int] = {}
        for inst_id, saved in markets.items():
            seq = saved.get("trade_seq") if isinstance(saved, dict) else None
            if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
                raise AccountStateError(f"markets.{inst_id}.trade_seq: expected a count, got {seq!r}")
            if inst_id in self.markets:
                trade_seqs[inst_id] = seq
        restore_desk(self.desk, state.get("account"))
        for inst_id, seq in trade_seqs.items():
            market = self.markets[inst_id]
            market.trade_seq = max(market.trade_seq, seq)
        self.desk.show_resting_orders()  # the restored resting orders are in the book again
        self.account_revision += 1
