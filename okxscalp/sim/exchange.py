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
  what was declared. Private channels (orders, positions, account) are always produced.
- `positions` events are OKX `event_update` items; the subscribe-time snapshot comes from
  `positions_wire()` / `balance_wire()`.

Tick rate: the market steps every `tick_interval_s` of sim time (default 0.1 s) for every
instrument; sim time runs `speed` times faster than wall time. Per step and instrument a wanted
channel gets at most: one ticker, one books5, one bbo-tbt, one trade (about 6 trades/s), mark-price
and price-limit at most every 200 ms, one candle<bar> row per sim second per bar (+ the closed bar).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from okxscalp.okx.constants import (
    CODE_INST_NOT_FOUND,
    CODE_PARAM_ERROR,
)
from okxscalp.sim.events import SimApiError, SimEvent
from okxscalp.sim.instruments import DEFAULT_INST_IDS, InstrumentSpec, instrument_wire, spec_for
from okxscalp.sim.market import SIM_BARS, SymbolMarket
from okxscalp.sim.replay import load_replay

__all__ = ["DEFAULT_INST_IDS", "SimApiError", "SimEvent", "SimExchange"]

DEFAULT_UID = "44712090361049088"
MAX_CANDLE_LIMIT = 300
MAX_BOOK_DEPTH = 400
_PUBLIC_MARKET_CHANNELS = ("tickers", "books5", "bbo-tbt", "trades", "mark-price", "price-limit")


class SimExchange:
    def __init__(
        self,
        *,
        seed: int = 7,
        speed: float = 1.0,
        initial_equity: float = 10_000.0,
        inst_ids: Sequence[str] = DEFAULT_INST_IDS,
        replay_path: str | None = None,
        start_wall_s: float | None = None,
        uid: str = DEFAULT_UID,
        tick_interval_s: float = 0.1,
        start_sim_ms: int | None = None,
        history_minutes: int = 1440,
    ) -> None:
        """Build the market and the account.

        `start_wall_s` (default: now) is the wall time at which sim time equals `start_sim_ms`
        (default: `start_wall_s` in ms, or the first replay timestamp when replaying). Pass both
        for fully reproducible timestamps. `history_minutes` of 1m candles (max 1440) exist before
        the start, ending at the instrument's start price.
        """
        if speed <= 0:
            raise ValueError("speed must be positive")
        if tick_interval_s <= 0:
            raise ValueError("tick_interval_s must be positive")
        if not inst_ids:
            raise ValueError("at least one instrument is needed")
        self.seed = seed
        self.speed = float(speed)
        self.uid = uid
        self.tick_interval_s = float(tick_interval_s)
        self._dt_ms = self.tick_interval_s * 1000.0
        self.start_wall_s = time.time() if start_wall_s is None else float(start_wall_s)
        replay = load_replay(replay_path) if replay_path else None
        if start_sim_ms is None:
            start_sim_ms = replay.first_ts_ms if replay is not None else int(self.start_wall_s * 1000)
        self.start_sim_ms = int(start_sim_ms)
        self.specs: dict[str, InstrumentSpec] = {}
        self.markets: dict[str, SymbolMarket] = {}
        master = random.Random(seed)
        for inst_id in dict.fromkeys(inst_ids):
            spec = spec_for(inst_id)
            self.specs[inst_id] = spec
            market = SymbolMarket(spec, random.Random(master.random()), self.tick_interval_s,
                                  self.start_sim_ms, history_minutes)
            if replay is not None and inst_id in replay.inst_ids:
                market.process.follow(replay.follower(inst_id))
            self.markets[inst_id] = market
        self._market_list = list(self.markets.values())
        self._steps_done = 0
        self._events: list[SimEvent] = []
        self._interest: set[tuple[str, str]] | None = None
        self.initial_equity = float(initial_equity)

    # ------------------------------------------------------------------ clock
    def sim_now_ms(self, wall_s: float) -> int:
        """Sim time (ms) at a wall time: start + (wall - start_wall) * speed."""
        return self.start_sim_ms + int((wall_s - self.start_wall_s) * self.speed * 1000.0)

    @property
    def now_ms(self) -> int:
        """Sim time of the last step taken (what commands and REST answers are stamped with)."""
        return self.start_sim_ms + int(self._steps_done * self._dt_ms)

    def advance(self, wall_s: float) -> None:
        """Run every instrument forward to `wall_s`, one `tick_interval_s` step at a time.

        Resting orders fill and attached TP/SL trigger inside the steps. Going backwards in wall
        time is a no-op.
        """
        target = int((self.sim_now_ms(wall_s) - self.start_sim_ms) / self._dt_ms)
        self.advance_steps(target - self._steps_done)

    def advance_steps(self, count: int) -> None:
        """Take `count` market steps (tests and benches drive the clock this way)."""
        events = self._events
        markets = self._market_list
        for _ in range(max(0, count)):
            self._steps_done += 1
            ts_ms = self.start_sim_ms + int(self._steps_done * self._dt_ms)
            for market in markets:
                market.step(ts_ms, events)
                self._after_step(market, ts_ms)

    def advance_sim_seconds(self, seconds: float) -> None:
        self.advance_steps(round(seconds * 1000.0 / self._dt_ms))

    def _after_step(self, market: SymbolMarket, ts_ms: int) -> None:
        """Hook for the trading side (resting fills, TP/SL triggers); see `matching.py`."""

    def drain_events(self) -> list[SimEvent]:
        """Everything to push since the last drain, oldest first (public and private)."""
        events = self._events
        self._events = []
        return events

    # ------------------------------------------------------------------ interest filter
    def set_channel_interest(self, channel: str, inst_id: str, on: bool) -> None:
        """Declare whether anyone listens to a public `channel` (`tickers`, `books5`, `bbo-tbt`,
        `trades`, `mark-price`, `price-limit`, `candle<bar>`) for `inst_id`.

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
        market = self.markets.get(inst_id)
        if market is not None:
            self._apply_interest(market)

    def _apply_interest(self, market: SymbolMarket) -> None:
        wanted = self._interest
        assert wanted is not None
        inst_id = market.inst_id
        market.want_tickers = ("tickers", inst_id) in wanted
        market.want_books5 = ("books5", inst_id) in wanted
        market.want_bbo = ("bbo-tbt", inst_id) in wanted
        market.want_trades = ("trades", inst_id) in wanted
        market.want_mark = ("mark-price", inst_id) in wanted
        market.want_limit = ("price-limit", inst_id) in wanted
        market.want_candles = frozenset(b for b in SIM_BARS if ("candle" + b, inst_id) in wanted)

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

    def ticker_wire(self, inst_id: str) -> dict:
        """GET /market/ticker item."""
        return self._market(inst_id).ticker_item()

    def tickers_wire(self, inst_type: str) -> list[dict]:
        """GET /market/tickers items."""
        self._check_inst_type(inst_type)
        if inst_type != "SWAP":
            return []
        return [m.ticker_item() for m in self._market_list]

    def books_wire(self, inst_id: str, depth: int = 1) -> dict:
        """GET /market/books item: `depth` levels per side (1..400)."""
        market = self._market(inst_id)
        if depth < 1 or depth > MAX_BOOK_DEPTH:
            raise SimApiError(CODE_PARAM_ERROR, "Parameter sz error")
        return market.books_item(depth)

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

    def mark_price_wire(self, inst_id: str) -> dict:
        """GET /public/mark-price item."""
        return self._market(inst_id).mark_item()

    def price_limit_wire(self, inst_id: str) -> dict:
        """GET /public/price-limit item."""
        return self._market(inst_id).price_limit_item()

    # ------------------------------------------------------------------ test hooks (market)
    def force_regime(self, inst_id: str, regime: str, duration_s: float, direction: int | None = None) -> None:
        """Push `inst_id`'s price process into `trending`/`choppy`/`ranging` for `duration_s` of sim
        time (then it switches on its own again). `direction` +1/-1 picks the trend's sign."""
        market = self._market(inst_id)
        try:
            market.process.force(str(getattr(regime, "value", regime)), duration_s, direction)
        except ValueError as exc:
            raise SimApiError(CODE_PARAM_ERROR, str(exc)) from exc

    def regime_of(self, inst_id: str) -> str:
        """The regime the price process of `inst_id` is in right now (for tests and the console)."""
        return self._market(inst_id).process.regime
