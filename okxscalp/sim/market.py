"""One instrument's simulated market: price process -> book top, trades, last, mark, limits, candles.

`SymbolMarket.step(ts_ms, events)` advances one `dt` and appends the public pushes that have
subscribers (see the `want_*` flags, set by `SimExchange.set_channel_interest`). Wire dicts are
built only for wanted channels so a step with no listeners costs a few microseconds.

`MarketDynamics` shapes every instrument's price path alike (config `exchange.sim.volatility` and
`exchange.sim.swing*`, see `sim_server_options`): a factor on the instrument table's typical
1-minute volatility, and the busy session's short-lived swings (price_process.Swings). The default
is the table's own market with no swings.

Index and mark (issue 12). OKX's index is the spot price its swaps are marked against (OKX Learn,
"Mark price and index price of margined contracts": a weighted average of spot prices on three or
more venues; USDT-margined swaps use the USDT index, e.g. BTC-USDT). Here the swap trades at a small
premium `basis` over it: a slowly mean-reverting (Ornstein-Uhlenbeck) process with its own stream,
drawn from the seed without touching the market's draws, so the index is deterministic and every
existing path is unchanged. OKX's mark for a perpetual swap is "spot index price + moving average
(basis)", basis = (best bid + best ask) / 2 - index (OKX perpetual swap guide, "What is mark price?");
the moving average is an exponential one over MARK_BASIS_AVG_S.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import log as _log
from operator import itemgetter

from okxscalp.okx.constants import CANDLE_BARS
from okxscalp.sim.book import BookView
from okxscalp.sim.candles import (
    HIGH,
    LOW,
    MAX_BARS,
    OPEN,
    TS,
    VOL,
    VOL_CCY,
    CandleSeries,
    ClosedHighLow,
    candle_row,
)
from okxscalp.sim.events import SimEvent
from okxscalp.sim.instruments import InstrumentSpec
from okxscalp.sim.price_process import NO_SWINGS, PriceProcess, Swings
from okxscalp.sim.recorded_market import CandleReplay, TradeTape
from okxscalp.sim.tiers import tiers_for
from okxscalp.sim.wire import decimals_of, fmt_fixed, fmt_num

SIM_BARS: tuple[str, ...] = ("1s", "1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H")
PRICE_LIMIT_BAND = 0.02  # buyLmt / sellLmt = mark +- 2%
TRADES_PER_S = 6.0
BOOK_EPOCH_MS = 1000  # level sizes refresh once a second
MARK_MIN_PUSH_MS = 200
MARK_MAX_SILENCE_MS = 10_000
LIMIT_PUSH_MS = 200
MARK_SMOOTHING_S = 1.0  # the spot index follows the swap's mid within about a second
INDEX_BASIS_STD = 0.0003  # the swap's typical premium over its index: 3 bp (stationary std)
INDEX_BASIS_HALF_LIFE_S = 600.0
MARK_BASIS_AVG_S = 60.0  # the mark's moving average of the basis
# docs websocket-public-index-tickers-channel: pushed every 100 ms on a change, else once a minute.
INDEX_MIN_PUSH_MS = 100
INDEX_MAX_SILENCE_MS = 60_000
BOOKS_DEPTH = 400  # levels per side on the `books` channel
_DAY_MS = 86_400_000
_UTC8_MS = 8 * 3_600_000
_HISTORY_SUBSTEPS = 6  # history is generated at 10 s resolution
_NO_CLOSED_BARS: tuple[tuple[str, list[float]], ...] = ()
_VOL_OF, _VOL_CCY_OF = itemgetter(VOL), itemgetter(VOL_CCY)


@dataclass(frozen=True, slots=True)
class MarketDynamics:
    """How lively every simulated market is. `volatility` multiplies each instrument's typical
    1-minute volatility (`InstrumentSpec.vol_per_min`) in every regime, so the regimes keep their
    shape; `swings` adds the fast overshoot-and-return component."""

    volatility: float = 1.0
    swings: Swings = NO_SWINGS

    def __post_init__(self) -> None:
        if not (self.volatility > 0 and math.isfinite(self.volatility)):
            raise ValueError(f"volatility factor must be > 0, got {self.volatility!r}")

    def vol_per_min(self, spec: InstrumentSpec) -> float:
        return spec.vol_per_min * self.volatility


TABLE_MARKET = MarketDynamics()


class SymbolMarket:
    def __init__(self, spec: InstrumentSpec, rng: random.Random, dt_s: float, start_ms: int,
                 history_minutes: int, dynamics: MarketDynamics = TABLE_MARKET) -> None:
        self.spec = spec
        self.inst_id = spec.inst_id
        self.tick = spec.tick
        self.lot = spec.lot
        self.ct_val = spec.ct_val
        self.px_dec = spec.px_decimals
        self.sz_dec = spec.sz_decimals
        self.book = BookView(spec.depth_unit, self.lot, self.tick, self.px_dec, self.sz_dec)
        # Format specs of this instrument's grids: format(x, spec) == f"{x:.{decimals}f}", minus
        # building the spec on every call.
        self._px_spec = f".{self.px_dec}f"
        self._sz_spec = f".{self.sz_dec}f"
        self._trade_sz_strs: dict[int, str] = {}  # lots -> format(lots * lot, sz_spec): trade sizes met
        self._depth_unit = spec.depth_unit
        self.tiers = tiers_for(spec.family, spec.max_lever)  # position tiers (maintenance margin rates)
        self._rng = rng
        self._dt_ms = dt_s * 1000.0
        self._p_trade = min(1.0, TRADES_PER_S * dt_s)
        self._mark_alpha = 1.0 - math.exp(-dt_s / MARK_SMOOTHING_S)
        self._basis_avg_alpha = 1.0 - math.exp(-dt_s / MARK_BASIS_AVG_S)
        # The basis has its own stream, seeded from a peek at the market's next draw (not a draw).
        peek = random.Random()
        peek.setstate(rng.getstate())
        self._basis_rng = random.Random(f"index-basis:{peek.random()!r}")
        # The basis moves once a second (the book's epoch): exact OU steps of 1 s, cheap per step.
        self._basis_keep = math.exp(-math.log(2) / INDEX_BASIS_HALF_LIFE_S * BOOK_EPOCH_MS / 1000.0)
        self._basis_kick = INDEX_BASIS_STD * math.sqrt(1.0 - self._basis_keep ** 2)
        self.basis = self._basis_rng.gauss(0.0, INDEX_BASIS_STD)
        self._basis_epoch = start_ms // BOOK_EPOCH_MS
        self.candles: dict[str, CandleSeries] = {b: CandleSeries(b, CANDLE_BARS[b]) for b in SIM_BARS}
        self.dynamics = dynamics
        history = _history_1m(spec, random.Random(rng.random()), start_ms, history_minutes, dynamics)
        start_px = spec.start_px
        self.process = PriceProcess(random.Random(rng.random()), start_px, dynamics.vol_per_min(spec), dt_s,
                                    dynamics.swings)
        self._sec = self.candles["1s"]
        self._minute = self.candles["1m"]
        self._derived = [series for bar, series in self.candles.items() if bar not in ("1s", "1m")]
        self._day_high_low = ClosedHighLow(self._minute)  # the 24 h high and low of the closed minutes
        for bar in history:
            self._minute.absorb(bar)
        for bar in history[:-1]:  # the last history minute is still open: it is absorbed on close
            for series in self._derived:
                series.absorb(bar)
        # Book, last, mark and limits at the start.
        self.bid = max(1, int(start_px / self.tick))
        self.ask = self.bid + 1
        self.epoch = start_ms // BOOK_EPOCH_MS
        self.last = self.bid * self.tick
        self.last_sz = 0.0
        # Wire strings kept next to the numbers they show (tickers are the busiest push).
        self._last_str = f"{self.last:.{self.px_dec}f}"
        self._last_sz_str = f"{0.0:.{self.sz_dec}f}"
        self._bid_str = f"{self.bid * self.tick:.{self.px_dec}f}"
        self._ask_str = f"{self.ask * self.tick:.{self.px_dec}f}"
        self._vol_ccy_dec = decimals_of(str(Decimal(spec.lot_sz) * Decimal(fmt_num(spec.ct_val))))
        self.last_ts = start_ms
        self.index_id = spec.family  # OKX index-tickers instId, e.g. BTC-USDT ("same as uly")
        self._fair_mid = self.last
        self.index = self._fair_mid / (1.0 + self.basis)
        self._index_ticks = round(self.index / self.tick)
        self.index_str = fmt_fixed(self._index_ticks * self.tick, self.px_dec)
        self._basis_avg = self.mid - self.index
        self.mark = self.index + self._basis_avg
        self._mark_ticks = round(self.mark / self.tick)
        self.mark_str = fmt_fixed(self.mark, self.px_dec)
        self.buy_lmt = self.sell_lmt = ""
        self._limits_ticks: int | None = None  # the mark tick buy_lmt/sell_lmt were computed from
        self._update_limits(round(self.mark / self.tick))
        self.trade_seq = 0
        self.seq_id = 1
        self.ts = start_ms
        self._last_mark_push = -MARK_MAX_SILENCE_MS
        self._last_index_push = -INDEX_MAX_SILENCE_MS
        self._index_dirty = True
        self._last_limit_calc = start_ms
        self._last_limit_push = -LIMIT_PUSH_MS
        self._limits_dirty = True
        self._mark_dirty = True
        # 24h statistics from the 1m series; refreshed when a 1m bar closes.
        self.open24h = self.high24h = self.low24h = self.last
        self.vol24h = self.vol_ccy24h = 0.0
        self.sod_utc0 = self.sod_utc8 = self.last
        self._day_stats_dirty = True
        # What the last ticker showed, with its strings (ticker_item formats only what changed).
        self._vol_ccy_spec = f".{self._vol_ccy_dec}f"
        self._shown_high = self._shown_low = self._shown_vol = self._shown_vol_ccy = math.nan
        self._shown_high_str = self._shown_low_str = ""
        self._shown_sz_bid = self._shown_sz_epoch = -1  # the (bid, epoch) of the bid/ask sizes shown
        # The last ticker's fields in wire order: ticker_item sets what changes and copies it.
        self._ticker: dict[str, str] = dict.fromkeys(
            ("instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h",
             "low24h", "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts"), "")
        self._ticker["instType"], self._ticker["instId"] = "SWAP", self.inst_id
        # Which public channels have listeners (SimExchange keeps these up to date).
        self.want_tickers = self.want_books5 = self.want_bbo = self.want_trades = True
        self.want_mark = self.want_limit = True
        self.want_index = False  # index-tickers: only on request (SimExchange.set_channel_interest)
        self.want_books = False  # 400-level deltas: only on request (see books_snapshot_item)
        self._books_sent: tuple[int, int] = (self.bid, self.epoch)  # (best bid, epoch) the last books push showed
        self._own_changed: set[int] = set()  # levels our resting orders changed since the last books push
        # In SIM_BARS order, not a frozenset: a set of strings iterates in a per-process order
        # (PYTHONHASHSEED), which would reorder one step's candle pushes between runs.
        self.want_candles: tuple[str, ...] = SIM_BARS
        # The second and the `wanted` tuple of the last open-row round: each of those bars has
        # pushed its open row in that second (CandleSeries.last_emit_s), so it can be skipped.
        self._open_rows_s = -1
        self._open_rows_for: tuple[str, ...] = ()
        self.sink: list[SimEvent] = []  # where out-of-step pushes go; SimExchange points it at its queue
        # A replayed recording's trades and candles instead of made-up ones (sim/recorded_market.py).
        self.tape: TradeTape | None = None
        self.recorded_candles: CandleReplay | None = None

    # ------------------------------------------------------------------ stepping
    def step(self, ts_ms: int, events: list[SimEvent]) -> None:
        px = self.process.step()
        tick = self.tick
        old_bid, old_last = self.bid, self.last
        bid = int(px / tick)
        if bid < 1:
            bid = 1
        if bid != old_bid:
            self.bid, self.ask = bid, bid + 1
            px_spec = self._px_spec
            self._bid_str = format(bid * tick, px_spec)
            self._ask_str = format((bid + 1) * tick, px_spec)
        epoch = ts_ms // BOOK_EPOCH_MS
        book_changed = bid != old_bid or epoch != self.epoch
        self.epoch = epoch
        self.ts = ts_ms
        rng = self._rng
        vol = 0.0
        tape = self.tape
        taped = None if tape is None else tape(ts_ms)  # a replayed recording's trade in this step
        if taped is not None or (tape is None and rng.random() < self._p_trade):
            if taped is None:
                # Taker side follows the move; on a flat step it is a coin toss.
                up = bid > old_bid or (bid == old_bid and rng.random() < 0.5)
                side_buy = up if rng.random() < 0.8 else not up
                trade_ticks = bid + 1 if side_buy else bid  # the ask is always bid + 1
            else:
                trade_ticks = max(1, round(taped / tick))
                side_buy = trade_ticks > bid
            # rng.expovariate(1.0) inlined: the same draw and arithmetic, -log(1 - U) / 1.0
            # (tests/sim/test_sim_market_draws.py holds it to the library's).
            lot = self.lot
            lots = int(self._depth_unit * -_log(1.0 - rng.random()) * 0.05 / lot)
            if lots < 1:
                lots = 1
            vol = lots * lot
            self.last = trade_ticks * tick
            self.last_sz = vol
            if taped is None or trade_ticks == bid or trade_ticks == bid + 1:
                self._last_str = self._ask_str if side_buy else self._bid_str
            else:
                self._last_str = format(self.last, self._px_spec)
            # A trade's size is a whole number of lots: its string from the table of sizes met.
            sz_str = self._trade_sz_strs.get(lots)
            if sz_str is None:
                sz_str = format(vol, self._sz_spec)
                if len(self._trade_sz_strs) < 4096:
                    self._trade_sz_strs[lots] = sz_str
            self._last_sz_str = sz_str
            self.last_ts = ts_ms
            self.trade_seq += 1
            # The trade's count, 1 + rng.randrange(3) inlined (the same draws: randrange(3) is
            # getrandbits(2) until below 3). Drawn even when unheard: interest must not move the market.
            count = rng.getrandbits(2)
            while count >= 3:
                count = rng.getrandbits(2)
            count += 1
            if self.want_trades:
                events.append(SimEvent("trades", self.inst_id, {
                    "instId": self.inst_id,
                    "tradeId": str(self.trade_seq),
                    "px": self._last_str,
                    "sz": self._last_sz_str,
                    "side": "buy" if side_buy else "sell",
                    "ts": str(ts_ms),
                    "count": str(count),
                    "source": "0",
                    "seqId": self.trade_seq,
                }))
        if book_changed:
            self.seq_id += 1
            if self.want_books:
                events.append(SimEvent("books", self.inst_id, self._books_update_item()))
            if self.want_books5:
                events.append(SimEvent("books5", self.inst_id, self.books5_item()))
            if self.want_bbo:
                events.append(SimEvent("bbo-tbt", self.inst_id, self._bbo_item()))
        if self.want_tickers and (bid != old_bid or self.last != old_last or vol):
            events.append(SimEvent("tickers", self.inst_id, self.ticker_item()))
        self._step_mark(ts_ms, events)
        self._step_candles(ts_ms, vol, events)

    def _step_mark(self, ts_ms: int, events: list[SimEvent]) -> None:
        # Every step of every instrument: the same arithmetic in the same order, on locals.
        tick = self.tick
        mid = (self.bid + 0.5) * tick
        fair_mid = self._fair_mid
        fair_mid += self._mark_alpha * (mid - fair_mid)
        self._fair_mid = fair_mid
        epoch = self.epoch
        if epoch != self._basis_epoch:
            self._basis_epoch = epoch
            self.basis = self.basis * self._basis_keep + self._basis_kick * self._basis_rng.gauss(0.0, 1.0)
        self.index = index = fair_mid / (1.0 + self.basis)
        basis_avg = self._basis_avg
        basis_avg += self._basis_avg_alpha * (mid - index - basis_avg)
        self._basis_avg = basis_avg
        self.mark = mark = index + basis_avg
        index_ticks = round(index / tick)
        if index_ticks != self._index_ticks:
            self._index_ticks = index_ticks
            self.index_str = format(index_ticks * tick, self._px_spec)
            self._index_dirty = True
        since_index = ts_ms - self._last_index_push
        if since_index >= INDEX_MIN_PUSH_MS and (self._index_dirty or since_index >= INDEX_MAX_SILENCE_MS):
            self._index_dirty = False
            self._last_index_push = ts_ms
            if self.want_index:
                events.append(SimEvent("index-tickers", self.index_id, self.index_ticker_item()))
        mark_ticks = round(mark / tick)
        if mark_ticks != self._mark_ticks:
            self._mark_ticks = mark_ticks
            self.mark_str = format(mark_ticks * tick, self._px_spec)
            self._mark_dirty = True
        since = ts_ms - self._last_mark_push
        if since >= MARK_MIN_PUSH_MS and (self._mark_dirty or since >= MARK_MAX_SILENCE_MS):
            self._mark_dirty = False
            self._last_mark_push = ts_ms
            if self.want_mark:
                events.append(SimEvent("mark-price", self.inst_id, self.mark_item()))
        if ts_ms - self._last_limit_calc >= LIMIT_PUSH_MS:
            self._last_limit_calc = ts_ms
            # The band is a function of the mark's tick (this step's `mark_ticks`): redone when it moved.
            if mark_ticks != self._limits_ticks and self._update_limits(mark_ticks):
                self._limits_dirty = True
            if self._limits_dirty:
                self._limits_dirty = False
                self._last_limit_push = ts_ms
                if self.want_limit:
                    events.append(SimEvent("price-limit", self.inst_id, self.price_limit_item()))

    def _update_limits(self, mark_ticks: int) -> bool:
        """buyLmt/sellLmt around the mark's tick `mark_ticks` (round(mark / tick)); True when they changed."""
        if mark_ticks == self._limits_ticks:
            return False  # the band is a function of the mark's tick: unchanged strings
        self._limits_ticks = mark_ticks
        band = mark_ticks * PRICE_LIMIT_BAND
        buy = format(math.floor(mark_ticks + band) * self.tick, self._px_spec)
        sell = format(max(1, math.ceil(mark_ticks - band)) * self.tick, self._px_spec)
        changed = buy != self.buy_lmt or sell != self.sell_lmt
        self.buy_lmt, self.sell_lmt = buy, sell
        return changed

    def _step_candles(self, ts_ms: int, vol: float, events: list[SimEvent]) -> None:
        # Without a trade `last` is the price the open 1s and 1m bars were last folded at (every
        # change of `last` is folded in): folding it again changes nothing unless the 1s bar,
        # the shorter one, rolls over.
        if vol or ts_ms >= self._sec.end_ms:
            closed_bars = self._feed_candles(ts_ms, self.last, vol)
        else:
            closed_bars = _NO_CLOSED_BARS
        wanted = self.want_candles
        recorded = self.recorded_candles
        if recorded is not None:  # a replay pushes its recorded bars instead of these
            wanted = recorded.push_due(ts_ms, wanted, events)
        if not wanted:
            return
        px_dec, sz_dec = self.px_dec, self.sz_dec
        for bar, closed in closed_bars:
            if bar in wanted:
                events.append(SimEvent("candle" + bar, self.inst_id, candle_row(closed, True, px_dec, sz_dec)))
        sec = ts_ms // 1000
        if sec == self._open_rows_s and wanted is self._open_rows_for:
            return  # every wanted bar's open row went out this second already
        for bar in wanted:
            series = self.candles[bar]
            if sec != series.last_emit_s:
                series.last_emit_s = sec
                events.append(SimEvent("candle" + bar, self.inst_id,
                                       candle_row(self.open_bar(series), False, px_dec, sz_dec)))
        self._open_rows_s, self._open_rows_for = sec, wanted

    def _feed_candles(self, ts_ms: int, px: float, vol: float) -> Sequence[tuple[str, list[float]]]:
        """Fold a price in; returns the (bar, row) of every bar that closed."""
        vol_ccy = vol * self.ct_val
        self._sec.update(ts_ms, px, vol, vol_ccy)
        closed_minute = self._minute.update(ts_ms, px, vol, vol_ccy)
        if closed_minute is None:
            return _NO_CLOSED_BARS
        closed_bars = [("1m", closed_minute)]
        for series in self._derived:
            series.absorb(closed_minute)
            closed = series.roll_to(ts_ms)
            if closed is not None:
                closed_bars.append((series.bar, closed))
        self._on_minute_closed()
        return closed_bars

    def open_bar(self, series: CandleSeries) -> list[float]:
        minute = self._minute.current
        assert minute is not None
        if series is self._minute or series is self._sec:
            return series.current or minute
        return series.live_row(minute)

    def _on_minute_closed(self) -> None:
        cur = self._minute.current
        assert cur is not None
        start = int(cur[TS])
        if start % _DAY_MS == 0:
            self.sod_utc0 = cur[OPEN]
        if (start + _UTC8_MS) % _DAY_MS == 0:
            self.sod_utc8 = cur[OPEN]
        self._day_stats_dirty = True  # recomputed when a ticker is next built

    def _refresh_day_stats(self) -> None:
        self._day_stats_dirty = False
        bars = self.candles["1m"].closed
        if bars:
            self.open24h = bars[0][OPEN]
            self.high24h, self.low24h = self._day_high_low.read()
            self.vol24h = sum(map(_VOL_OF, bars))  # the same additions in the same order as a loop
            self.vol_ccy24h = sum(map(_VOL_CCY_OF, bars))
        d = self.px_dec
        self._day_strs = day = tuple(f"{v:.{d}f}" for v in (self.open24h, self.high24h, self.low24h,
                                                             self.sod_utc0, self.sod_utc8))
        ticker = self._ticker
        ticker["open24h"], ticker["sodUtc0"], ticker["sodUtc8"] = day[0], day[3], day[4]

    def gap_to(self, px: float) -> None:
        """The fair price gaps to `px`; mark and price limits move with it at once (a gap is an
        index move too), so orders near the new price are inside the band."""
        self.process.jump_to(px)
        self._fair_mid = px
        self.index = px / (1.0 + self.basis)
        self.mark = self.index + self._basis_avg
        self._index_ticks = self._mark_ticks = -1  # re-format and push on the next step
        self._update_limits(round(self.mark / self.tick))
        self._limits_dirty = True

    def announce_index(self) -> None:
        """Push the index at the next step whatever its change (a new subscriber's first push)."""
        self._index_dirty = True
        self._last_index_push = -INDEX_MAX_SILENCE_MS

    def shift_index(self, fraction: float) -> None:
        """The spot index moves by `fraction` (e.g. -0.01) while the swap's book stays: spot sold
        off on the other venues. The mark follows the index at once (its basis average is slow)
        and returns to the swap's price as the average catches up; `last` does not move."""
        if not (math.isfinite(fraction) and fraction > -1.0):
            raise ValueError(f"index shift must be a finite fraction > -1, got {fraction!r}")
        self.basis = (1.0 + self.basis) / (1.0 + fraction) - 1.0
        self.index = self._fair_mid / (1.0 + self.basis)
        self.mark = self.index + self._basis_avg
        self._index_ticks = self._mark_ticks = -1  # re-format and push on the next step

    def next_trade_id(self) -> str:
        self.trade_seq += 1
        return str(self.trade_seq)

    def print_trade(self, px: float, sz: float, side: str, ts_ms: int) -> str:
        """A trade from outside the process (our account's taker fill): on the tape, in `last`,
        in the candles. The pushes go to `self.sink` (set by SimExchange). Returns the trade id."""
        trade_id = self.next_trade_id()
        self.last, self.last_sz, self.last_ts = px, sz, ts_ms
        self._last_str = f"{px:.{self.px_dec}f}"
        self._last_sz_str = f"{sz:.{self.sz_dec}f}"
        self._feed_candles(ts_ms, px, sz)
        if self.want_trades:
            self.sink.append(SimEvent("trades", self.inst_id, {
                "instId": self.inst_id, "tradeId": trade_id, "px": f"{px:.{self.px_dec}f}",
                "sz": f"{sz:.{self.sz_dec}f}", "side": side, "ts": str(ts_ms), "count": "1", "source": "0",
                "seqId": self.trade_seq,
            }))
        if self.want_tickers:
            self.sink.append(SimEvent("tickers", self.inst_id, self.ticker_item()))
        return trade_id

    # ------------------------------------------------------------------ wire items
    def ticker_item(self) -> dict:
        if self._day_stats_dirty:
            self._refresh_day_stats()
        item = self._ticker  # the last ticker's fields: what changed is set, then it is copied
        day = self._day_strs
        high_str, low_str = day[1], day[2]
        vol, vol_ccy = self.vol24h, self.vol_ccy24h
        cur = self._minute.current
        if cur is not None:
            # The open minute's high or low beyond the closed day's: formatted once per new value.
            if cur[HIGH] > self.high24h:
                high = cur[HIGH]
                if high != self._shown_high:
                    self._shown_high, self._shown_high_str = high, format(high, self._px_spec)
                high_str = self._shown_high_str
            if cur[LOW] < self.low24h:
                low = cur[LOW]
                if low != self._shown_low:
                    self._shown_low, self._shown_low_str = low, format(low, self._px_spec)
                low_str = self._shown_low_str
            vol += cur[VOL]
            vol_ccy += cur[VOL_CCY]
        if vol != self._shown_vol:  # a ticker without a trade since the last one shows the same volume
            self._shown_vol = vol
            item["vol24h"] = format(vol, self._sz_spec)
            item["volCcy24h"] = format(vol_ccy, self._vol_ccy_spec)
        elif vol_ccy != self._shown_vol_ccy:
            item["volCcy24h"] = format(vol_ccy, self._vol_ccy_spec)
        self._shown_vol_ccy = vol_ccy
        bid, e = self.bid, self.epoch
        if bid != self._shown_sz_bid or e != self._shown_sz_epoch:  # set_own_orders resets it too
            # The best prices change with the bid only (step), so they are set here too.
            self._shown_sz_bid, self._shown_sz_epoch = bid, e
            book = self.book
            item["askPx"], item["askSz"] = self._ask_str, book.size_str(bid + 1, e)
            item["bidPx"], item["bidSz"] = self._bid_str, book.size_str(bid, e)
        item["last"] = self._last_str
        item["lastSz"] = self._last_sz_str
        item["high24h"] = high_str
        item["low24h"] = low_str
        item["ts"] = str(self.ts)
        return item.copy()

    def books_item(self, depth: int) -> dict:
        return {
            "asks": self.book.wire_levels(self.ask, 1, depth, self.epoch),
            "bids": self.book.wire_levels(self.bid, -1, depth, self.epoch),
            "ts": str(self.ts),
            "seqId": self.seq_id,
        }

    def books_snapshot_item(self) -> dict:
        """The `books` channel's first push (action `snapshot`): 400 levels, prevSeqId -1.
        Later `books` events are deltas against the latest snapshot or update."""
        item = self.books_item(BOOKS_DEPTH)
        item["checksum"] = 0
        item["prevSeqId"] = -1
        self._books_sent = (self.bid, self.epoch)
        return item

    def _books_update_item(self) -> dict:
        """Delta from the last `books` push: levels that left the 400-level window get size "0",
        new or resized levels their size. Sizes change with the epoch, so then every level is sent."""
        old_bid, old_epoch = self._books_sent
        bid, epoch = self.bid, self.epoch
        self._books_sent = (bid, epoch)
        own_changed, self._own_changed = self._own_changed, set()
        book, depth = self.book, BOOKS_DEPTH
        old_asks = range(old_bid + 1, old_bid + 1 + depth)
        new_asks = range(bid + 1, bid + 1 + depth)
        old_bids = range(max(1, old_bid - depth + 1), old_bid + 1)
        new_bids = range(max(1, bid - depth + 1), bid + 1)
        if epoch != old_epoch:
            asks = book.wire_levels(bid + 1, 1, depth, epoch)
            bids = book.wire_levels(bid, -1, depth, epoch)
        else:
            asks = [book.wire_levels(t, 1, 1, epoch)[0] for t in new_asks if t not in old_asks or t in own_changed]
            bids = [book.wire_levels(t, 1, 1, epoch)[0] for t in reversed(new_bids)
                    if t not in old_bids or t in own_changed]
        gone_asks = [t for t in old_asks if t not in new_asks]
        gone_bids = [t for t in old_bids if t not in new_bids]
        tick, d = self.tick, self.px_dec
        asks = sorted(asks + [[f"{t * tick:.{d}f}", "0", "0", "0"] for t in gone_asks], key=lambda r: float(r[0]))
        bids = sorted(bids + [[f"{t * tick:.{d}f}", "0", "0", "0"] for t in gone_bids], key=lambda r: -float(r[0]))
        return {"asks": asks, "bids": bids, "ts": str(self.ts), "checksum": 0, "prevSeqId": self.seq_id - 1,
                "seqId": self.seq_id}

    def set_own_orders(self, levels: dict[int, tuple[float, int]]) -> None:
        """The account's resting orders by price level (ticks -> (contracts, orders)), shown in the
        book on top of the synthetic depth (SymbolMarket's book is everyone's; ours are in it).
        A change is a book update: the book channels showing a changed level are pushed at once."""
        book = self.book
        old = book.own
        if levels == old:
            return
        changed = {t for t in old.keys() | levels.keys() if old.get(t) != levels.get(t)}
        book.own = dict(levels)
        self._shown_sz_epoch = -1  # the ticker's bid/ask sizes include ours: re-read them
        self.seq_id += 1
        events = self.sink
        bid, ask = self.bid, self.ask
        if self.want_books:
            self._own_changed |= changed
            events.append(SimEvent("books", self.inst_id, self._books_update_item()))
        if self.want_books5 and any(bid - 5 < t <= bid or ask <= t < ask + 5 for t in changed):
            events.append(SimEvent("books5", self.inst_id, self.books5_item()))
        if bid in changed or ask in changed:
            if self.want_bbo:
                events.append(SimEvent("bbo-tbt", self.inst_id, self._bbo_item()))
            if self.want_tickers:
                events.append(SimEvent("tickers", self.inst_id, self.ticker_item()))

    def books5_item(self) -> dict:
        item = self.books_item(5)
        item["instId"] = self.inst_id
        return item

    def _bbo_item(self) -> dict:
        return self.books_item(1)

    def mark_item(self) -> dict:
        return {"instType": "SWAP", "instId": self.inst_id, "markPx": self.mark_str, "ts": str(self.ts)}

    def index_ticker_item(self) -> dict:
        """GET /market/index-tickers item and `index-tickers` push (docs market-data-get-index-tickers:
        instId, idxPx, high24h, low24h, open24h, sodUtc0, sodUtc8, ts). The index's 24 h figures are
        the swap's, taken back by the current basis (the simulator keeps no separate spot history)."""
        if self._day_stats_dirty:
            self._refresh_day_stats()
        cur = self._minute.current
        high, low = self.high24h, self.low24h
        if cur is not None:
            high = max(high, cur[HIGH])
            low = min(low, cur[LOW])
        scale = 1.0 / (1.0 + self.basis)
        d = self.px_dec
        return {
            "instId": self.index_id,
            "idxPx": self.index_str,
            "high24h": f"{high * scale:.{d}f}",
            "low24h": f"{low * scale:.{d}f}",
            "open24h": f"{self.open24h * scale:.{d}f}",
            "sodUtc0": f"{self.sod_utc0 * scale:.{d}f}",
            "sodUtc8": f"{self.sod_utc8 * scale:.{d}f}",
            "ts": str(self.ts),
        }

    def price_limit_item(self) -> dict:
        return {"instType": "SWAP", "instId": self.inst_id, "buyLmt": self.buy_lmt,
                "sellLmt": self.sell_lmt, "ts": str(self.ts), "enabled": True}

    def candles_rows(self, bar: str, after: int | None, before: int | None, limit: int) -> list[list[str]]:
        recorded = self.recorded_candles
        if recorded is not None and bar in recorded.bars:  # a replay's recorded bars
            return recorded.rows(bar, after, before, limit)
        series = self.candles[bar]
        out: list[list[str]] = []
        live = series.live_row(self._minute.current) if series in self._derived and self._minute.current else None
        for row, confirmed in series.rows_newest_first(live):
            ts = row[TS]
            if after is not None and ts >= after:
                continue
            if before is not None and ts <= before:
                break
            out.append(candle_row(row, confirmed, self.px_dec, self.sz_dec))
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ matching helpers
    @property
    def bid_px(self) -> float:
        return self.bid * self.tick

    @property
    def ask_px(self) -> float:
        return self.ask * self.tick

    @property
    def mid(self) -> float:
        return (self.bid + 0.5) * self.tick

    def price_limits(self) -> tuple[float, float]:
        return float(self.buy_lmt), float(self.sell_lmt)


def _history_1m(spec: InstrumentSpec, rng: random.Random, start_ms: int, minutes: int,
                dynamics: MarketDynamics = TABLE_MARKET) -> list[list[float]]:
    """`minutes` closed 1m bars ending just before `start_ms`, whose last close is the start price.

    The regime process runs forward from the start price at 10 s resolution and the path is then
    read backwards, so the history flows into the live market without a jump.
    """
    minutes = min(minutes, MAX_BARS)
    if minutes <= 0:
        return []
    proc = PriceProcess(rng, spec.start_px, dynamics.vol_per_min(spec), 60.0 / _HISTORY_SUBSTEPS, dynamics.swings)
    path = [spec.start_px] + [proc.step() for _ in range(minutes * _HISTORY_SUBSTEPS)]
    path.reverse()
    tick, lot, ct_val = spec.tick, spec.lot, spec.ct_val
    first_ts = start_ms - start_ms % 60_000 - minutes * 60_000
    bars: list[list[float]] = []
    for m in range(minutes):
        seg = path[m * _HISTORY_SUBSTEPS:(m + 1) * _HISTORY_SUBSTEPS + 1]
        snapped = [max(1, round(p / tick)) * tick for p in seg]
        lots = int(spec.depth_unit * rng.uniform(5.0, 30.0) / lot)
        vol = max(1, lots) * lot
        close = snapped[-1]
        bars.append([float(first_ts + m * 60_000), snapped[0], max(snapped), min(snapped), close,
                     vol, vol * ct_val, vol * ct_val * close])
    return bars
