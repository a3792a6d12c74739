"""What a recording holds beyond prices, and how a replay serves it (REPLAY.md "Recordings").

A live run's recording (market/recorder.py) holds what the engine's indicators were built from: the
candles it warmed up from at start (its GET /market/candles reply, `ch` "warmup"), every candle
push it took in (`ch` "candle1m", ...) and the tickers it saw. Replaying only the prices, the
simulator would make up the history before the start and build candles from its own synthetic
trades, so bands, ATR and RSI would differ a little and decisions land a few steps off. Instead:

- Candles, for an instrument and bar whose warm-up the recording holds: GET /market/candles answers
  from the recorded bars (the warm-up reply, updated by the recorded pushes replayed so far), and the
  recorded pushes go out instead of the simulator's own. A push goes out at the market step of the
  last ticker recorded before it (the recording is in the order the engine took its data in), so it
  reaches the engine between the same two tickers as live; receive times are not used (the local
  clock and the exchange's may differ). Bars the recording does not hold stay the simulator's own.
- Trades (the trade tape): the recorded `trades` pushes when the recording has them, else the
  trades its tickers show: a ticker whose `last` moved, or one pushed while neither its book nor its
  `last` moved (a ticker is pushed on a trade), is a trade at `last` in its step. A second ticker at
  the same exchange instant is not (the simulator pushes those between steps, for our own orders and
  fills, which the replay's matching makes again). The sizes are the simulator's own draws (a ticker
  carries no trade size). The simulator's market prints these instead of random trades, so `last`
  (what TP/SL triggers watch by default, and what resting orders fill against) moves as recorded.

Old recordings (no warm-up) replay their candles as before: made up by the simulator (the backtest
says so, runner.py). Book and prices are replayed as for every replay file (replay.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from okxscalp.okx.constants import CANDLE_BARS, CANDLE_CHANNEL_PREFIX
from okxscalp.sim.candles import MAX_BARS, candle_row
from okxscalp.sim.events import SimEvent

if TYPE_CHECKING:
    from okxscalp.sim.exchange import SimExchange

WARMUP_CHANNEL = "warmup"  # a recording's record of a candle the engine warmed up from (REST, at start)
TICKERS_CHANNEL = "tickers"
TRADES_CHANNEL = "trades"


class RecordingFormatError(ValueError):
    """A recording's record cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class RecordedBar:
    ts_ms: int  # open time
    o: float
    h: float
    low: float
    c: float
    vol: float
    confirmed: bool

    def row(self, ct_val: float) -> list[float]:
        """The simulator's candle row layout (sim/candles.py): ts, o, h, l, c, vol, volCcy, volCcyQuote."""
        vol_ccy = self.vol * ct_val
        return [float(self.ts_ms), self.o, self.h, self.low, self.c, self.vol, vol_ccy, vol_ccy * self.c]


@dataclass
class RecordedSeries:
    """One instrument's bar size: the warm-up reply (oldest first) and the pushes, each with the
    exchange time (ms) of the market step it goes out at."""

    warmup: list[RecordedBar] | None = None
    pushes: list[tuple[int, RecordedBar]] = field(default_factory=list)


@dataclass
class RecordedMarket:
    """Everything a recording holds for the replay besides its prices."""

    series: dict[tuple[str, str], RecordedSeries] = field(default_factory=dict)  # (instId, bar)
    trades: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # instId -> [(ts, px)] by time

    def has_warmup(self, inst_id: str, bar: str) -> bool:
        series = self.series.get((inst_id, bar))
        return series is not None and series.warmup is not None


class RecordingReader:
    """Collects a recording's candles and trades from its records, in file order (replay.py hands
    every JSON record here; files in the order given, so rotated files continue each other)."""

    def __init__(self) -> None:
        self._market = RecordedMarket()
        self._seen_recording = False
        self._last_tick_ms = 0  # exchange time of the last ticker/trade read: where a candle push goes out
        self._prev_ticker: dict[str, tuple[int, float, float, float]] = {}  # instId -> (ts, bid, ask, last)
        self._ticker_trades: dict[str, list[tuple[int, float]]] = {}
        self._pushed_trades: dict[str, list[tuple[int, float]]] = {}

    def add(self, path: Path, line: int, rec: dict[str, Any]) -> None:
        channel = rec.get("ch")
        if channel is None:
            return  # a plain replay file's record
        self._seen_recording = True
        try:
            if channel == TICKERS_CHANNEL:
                self._ticker(rec)
            elif channel == TRADES_CHANNEL:
                ts = int(rec["ts"])
                self._pushed_trades.setdefault(str(rec["instId"]), []).append((ts, _positive(rec["px"], "px")))
                self._last_tick_ms = max(self._last_tick_ms, ts)
            elif channel == WARMUP_CHANNEL or str(channel).startswith(CANDLE_CHANNEL_PREFIX):
                self._candle(channel, rec)
        except (KeyError, ValueError, TypeError) as exc:
            raise RecordingFormatError(f"{path}:{line}: {exc!r} (see okxscalp/sim/REPLAY.md)") from exc

    def _ticker(self, rec: dict[str, Any]) -> None:
        inst_id, ts = str(rec["instId"]), int(rec["ts"])
        last = _positive(rec["px"], "px")
        bid = _positive(rec["bid"], "bid") if rec.get("bid") not in (None, "") else 0.0
        ask = _positive(rec["ask"], "ask") if rec.get("ask") not in (None, "") else 0.0
        prev = self._prev_ticker.get(inst_id)
        self._prev_ticker[inst_id] = (ts, bid, ask, last)
        self._last_tick_ms = max(self._last_tick_ms, ts)
        if prev is not None:
            prev_ts, prev_bid, prev_ask, prev_last = prev
            if ts == prev_ts:
                return  # pushed between steps: our own order or fill, which the replay makes again
            if last == prev_last and (bid, ask) != (prev_bid, prev_ask):
                return  # the book moved, no trade shown
        self._ticker_trades.setdefault(inst_id, []).append((ts, last))

    def _candle(self, channel: str, rec: dict[str, Any]) -> None:
        inst_id, bar = str(rec["instId"]), str(rec.get("bar") or channel[len(CANDLE_CHANNEL_PREFIX):])
        if bar not in CANDLE_BARS:
            raise ValueError(f"unknown bar {bar!r}")
        o, h, low, c = (_positive(rec[k], k) for k in ("o", "h", "l", "c"))
        if not low <= min(o, c) <= max(o, c) <= h:
            raise ValueError("candle needs l <= o,c <= h")
        vol = float(rec.get("vol") or 0.0)
        if not vol >= 0:
            raise ValueError("vol must be a number >= 0")
        confirm = str(rec.get("confirm", "1"))
        if confirm not in ("0", "1"):
            raise ValueError(f"confirm must be \"0\" or \"1\", got {confirm!r}")
        candle = RecordedBar(int(rec["ts"]), o, h, low, c, vol, confirm == "1")
        series = self._market.series.setdefault((inst_id, bar), RecordedSeries())
        if channel == WARMUP_CHANNEL:
            if series.warmup is None:
                series.warmup = []
            if not series.pushes:  # a later warm-up (the engine restarted) is not the replay's start
                series.warmup.append(candle)
        else:
            series.pushes.append((self._last_tick_ms, candle))

    def result(self) -> RecordedMarket | None:
        """The recording's candles and trades; None when no record came from a recording."""
        if not self._seen_recording:
            return None
        market = self._market
        for inst_id in self._ticker_trades.keys() | self._pushed_trades.keys():
            trades = self._pushed_trades.get(inst_id) or self._ticker_trades[inst_id]
            market.trades[inst_id] = sorted(trades, key=lambda t: t[0])
        for series in market.series.values():
            if series.warmup is not None:
                series.warmup.sort(key=lambda b: b.ts_ms)
            series.pushes.sort(key=lambda p: p[0])
        return market


def _positive(value: object, name: str) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not (number > 0 and number != float("inf")):
        raise ValueError(f"{name} must be a positive number")
    return number


# ---------------------------------------------------------------------------- serving a replay
class TradeTape:
    """`tape(step_ts_ms)`: the price of the last recorded trade since the previous call (the
    previous market step), or None when none was recorded in it. A SymbolMarket with a tape prints
    these instead of its random trades (sim/market.py)."""

    __slots__ = ("_i", "_px", "_ts")

    def __init__(self, trades: Sequence[tuple[int, float]]) -> None:
        self._ts = [ts for ts, _ in trades]
        self._px = [px for _, px in trades]
        self._i = 0

    def __call__(self, ts_ms: int) -> float | None:
        i, stamps = self._i, self._ts
        if i >= len(stamps) or stamps[i] > ts_ms:
            return None
        end = len(stamps)
        while i + 1 < end and stamps[i + 1] <= ts_ms:
            i += 1
        self._i = i + 1
        return self._px[i]


class _BarState:
    """One bar size's recorded bars as the exchange holds them now (oldest first, at most MAX_BARS)."""

    __slots__ = ("bars", "next_push", "pushes")

    def __init__(self, series: RecordedSeries) -> None:
        self.bars: list[RecordedBar] = list(series.warmup or ())
        self.pushes = series.pushes
        self.next_push = 0

    def apply(self, bar: RecordedBar) -> None:
        bars = self.bars
        if not bars or bar.ts_ms > bars[-1].ts_ms:
            bars.append(bar)
            if len(bars) > MAX_BARS:
                del bars[0]
            return
        for i in range(len(bars) - 1, -1, -1):
            if bars[i].ts_ms == bar.ts_ms:
                bars[i] = bar
                return
            if bars[i].ts_ms < bar.ts_ms:
                bars.insert(i + 1, bar)
                return
        bars.insert(0, bar)


class CandleReplay:
    """One market's recorded candles (the bars whose warm-up the recording holds): GET
    /market/candles answers from them, and their pushes go out at their steps instead of the
    simulator's own candles of those bars (SymbolMarket.recorded_candles, sim/market.py)."""

    def __init__(self, inst_id: str, series: dict[str, RecordedSeries], *, px_dec: int, sz_dec: int,
                 ct_val: float, start_ms: int) -> None:
        self.inst_id = inst_id
        self.bars = frozenset(series)
        self._states = {bar: _BarState(s) for bar, s in series.items()}
        self._px_dec, self._sz_dec, self._ct_val = px_dec, sz_dec, ct_val
        self._wanted_in: Sequence[str] | None = None
        self._wanted_out: tuple[str, ...] = ()
        for state in self._states.values():  # pushes before the replay starts are history by then
            while state.next_push < len(state.pushes) and state.pushes[state.next_push][0] < start_ms:
                state.apply(state.pushes[state.next_push][1])
                state.next_push += 1

    def push_due(self, ts_ms: int, wanted: Sequence[str], events: list[SimEvent]) -> tuple[str, ...]:
        """Send the recorded pushes due by this step (to subscribed bars, `wanted`: the market's
        `want_candles`); returns the wanted bars the simulator still pushes itself, in order."""
        for bar, state in self._states.items():
            pushes = state.pushes
            i = state.next_push
            while i < len(pushes) and pushes[i][0] <= ts_ms:
                candle = pushes[i][1]
                state.apply(candle)
                if bar in wanted:
                    events.append(SimEvent(CANDLE_CHANNEL_PREFIX + bar, self.inst_id, self._wire(candle)))
                i += 1
            state.next_push = i
        if wanted is not self._wanted_in:
            self._wanted_in, self._wanted_out = wanted, tuple(b for b in wanted if b not in self.bars)
        return self._wanted_out

    def rows(self, bar: str, after: int | None, before: int | None, limit: int) -> list[list[str]]:
        """GET /market/candles rows, newest first, as the simulator's own (market.candles_rows)."""
        out: list[list[str]] = []
        for candle in reversed(self._states[bar].bars):
            if after is not None and candle.ts_ms >= after:
                continue
            if before is not None and candle.ts_ms <= before:
                break
            out.append(self._wire(candle))
            if len(out) >= limit:
                break
        return out

    def _wire(self, candle: RecordedBar) -> list[str]:
        return candle_row(candle.row(self._ct_val), candle.confirmed, self._px_dec, self._sz_dec)


def attach_recording(exchange: SimExchange, recorded: RecordedMarket, start_ms: int) -> None:
    """Make `exchange`'s markets serve what `recorded` holds: its trade tape, and its candles for
    every bar whose warm-up it holds. Call before the first step; `start_ms` is where the replay
    starts (pushes before it are folded into the bars served)."""
    for inst_id, market in exchange.markets.items():
        trades = recorded.trades.get(inst_id)
        if trades:
            market.tape = TradeTape(trades)
        series = {bar: s for (inst, bar), s in recorded.series.items() if inst == inst_id and s.warmup is not None}
        if series:
            market.recorded_candles = CandleReplay(inst_id, series, px_dec=market.px_dec, sz_dec=market.sz_dec,
                                                   ct_val=market.ct_val, start_ms=start_ms)
