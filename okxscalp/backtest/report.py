"""The report an operator trusts: a journal's contents → a typed `BacktestReport` (pure).

It reads only what every run of the engine leaves in its journal (journal_read.py), so it works on
a live or demo journal today and on a backtest's journal alike. Rendering is report_render.py.

Trades are the journal's closed positions, valued exactly as the console values them
(engine/trade_history.py: `FeeTallies` assigns fills to positions, `record_of(...).view()` gives the
P&L after fees, `regime_stats` the per-group wins/losses/averages/win:loss): one implementation.
Funding: the journal's funding rows are summed per position and counted in its trade as the console
counts them (`record_of(..., funding)`); a journal without the funding table says "not recorded", never 0.
A close whose exit price is not known yet counts at its worst case (as the daily loss limit and
the console count it) and is counted in `pnl_unknown`; a trade whose fees are not all tallied
counts before fees and is counted in `fees_unknown`.

Figures:
- win rate = wins / (wins + losses) among trades with a known P&L; realised win:loss = average win
  / |average loss|. A group whose average loss is more than 1/LOW_WIN_LOSS times its average win,
  or whose win rate is below the break-even rate for its win:loss (1 / (1 + win:loss)), is flagged.
- max drawdown on realised equity: the running sum of closed trades' net P&L (at their close times)
  and funding not tied to a closed trade (at its settlement), from 0 at the window's start.
- exposure: the time at least one position (of the group) was open, over the window (first to
  last thing the journal recorded, or the window given); positions still open count to its end.
- exits by cause from the journal's close reasons (engine/positions.py CloseReason).
- TP and SL distances at entry in multiples of the ATR recorded in the snapshot (`atr_at_entry`,
  the ATR of the regime bar at entry); the median of a group beyond FAR_TP_ATR is flagged: a TP
  that far is rarely reached within a scalp's holding time.
- refusals: the journal keeps one row per delivered fallback event; market/bus.py folds a storm
  into one event with a `count`, which the journal keeps (schema 5; a row of an older journal
  stands for one), so refused reads are the sum of the counts. The bus folds refusals per purpose
  (a row of an older journal names the latest folded one). A stale window seen by the entry read
  watch (engine/entry_reads.py) is a refusal row at its start and one at its end carrying the
  window's further refused reads.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from okxscalp.backtest.journal_read import JournalContents
from okxscalp.engine.journal import JournalPosition, OrderPurpose
from okxscalp.engine.positions import CloseReason
from okxscalp.engine.trade_history import FeeTallies, FeeTally, record_of, regime_stats, short_reason
from okxscalp.engine.views import RegimeStats, TradeView
from okxscalp.market.events import FallbackEvent, FallbackKind

LOW_WIN_LOSS = 0.5  # average loss more than twice the average win
FAR_TP_ATR = 10.0  # a median TP more ATRs from entry than this is flagged
FALLBACKS_LISTED = 500  # the newest rows the report lists (all are counted)

CAUSES = ("tp", "sl", "time", "operator", "liquidation", "other")
_CAUSE_OF_REASON = {
    CloseReason.TAKE_PROFIT: "tp",
    CloseReason.TAKE_PROFIT_EXCHANGE: "tp",
    CloseReason.STOP_LOSS: "sl",
    CloseReason.STOP_LOSS_EXCHANGE: "sl",
    CloseReason.OPERATOR: "operator",
    CloseReason.FLATTEN: "operator",  # flatten-all is an operator command (engine/flatten.py)
    CloseReason.LIQUIDATION: "liquidation",
}
_PURPOSE_IN_DETAIL = re.compile(r"^(\w+) read")  # registry._refused: "<purpose> read: age ... > budget ..."


def exit_cause(reason: str) -> str:
    """tp | sl | time | operator | liquidation | other, from a journal close reason's first word.
    The engine has no time exit today; a reason named time* (a future one) counts as time."""
    name = short_reason(reason)
    if name in _CAUSE_OF_REASON:
        return _CAUSE_OF_REASON[name]
    return "time" if name.startswith("time") else "other"


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One closed position with what the report adds to the console's view of it."""

    view: TradeView  # realised_pnl after fees and funding (None: exit unknown, then pnl_bound)
    cause: str
    hold_s: float
    tp_atr: float | None  # |TP - entry| / ATR at entry; None without a recorded ATR
    sl_atr: float | None

    @property
    def net_pnl(self) -> float:
        """After fees and funding; a close whose exit is unknown at its worst case."""
        pnl = self.view.realised_pnl if self.view.realised_pnl is not None else self.view.pnl_bound
        return pnl if pnl is not None else 0.0


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Closed trades of one group (all, a symbol, an entry regime)."""

    name: str
    stats: RegimeStats  # count, wins, losses, win rate, avg win/loss, win:loss, total (net) P&L
    fees: float  # USDT paid on trades whose fees are known
    fees_unknown: int
    funding: float  # USDT received (negative: paid) on these trades
    pnl_unknown: int  # closes whose exit price is not known (counted at their worst case)
    exits: dict[str, int]  # cause -> trades (every cause of CAUSES present)
    median_hold_s: float | None
    exposure_s: float
    exposure: float | None  # exposure_s / window; None for an empty window
    median_tp_atr: float | None
    median_sl_atr: float | None
    without_atr: int  # entries (closed or still open) whose snapshot has no ATR at entry
    breakeven_win_rate: float | None  # 1 / (1 + win:loss)
    flags: tuple[str, ...]  # what is wrong, in words (empty: nothing flagged)

    @property
    def low_win_loss(self) -> bool:
        ratio = self.stats.win_loss_ratio
        return ratio is not None and ratio < LOW_WIN_LOSS

    @property
    def below_breakeven(self) -> bool:
        rate, needed = self.stats.win_rate, self.breakeven_win_rate
        return rate is not None and needed is not None and rate < needed

    @property
    def far_tp(self) -> bool:
        return self.median_tp_atr is not None and self.median_tp_atr > FAR_TP_ATR


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time: float
    equity: float  # realised, from 0
    what: str


@dataclass(frozen=True, slots=True)
class Refusals:
    """What the run refused, as the journal has it."""

    stale_refused: int  # refused reads: the sum of the stale_refused rows' counts
    stale_rows: int  # fallback rows of kind stale_refused (each stands for `count` refused reads)
    stale_by_purpose: dict[str, int]
    stale_by_symbol: dict[str, int]
    rejected_orders: int  # orders the exchange refused (state rejected)
    rejected_by_purpose: dict[str, int]
    entries_sent: int
    entry_quotes_over_budget: int  # entry orders priced from a quote older than its budget (must be 0)
    oldest_entry_quote_s: float | None
    missing: tuple[str, ...]  # what the journal does not record, said plainly


@dataclass(frozen=True, slots=True)
class Mark:
    """An entry or exit on the price chart."""

    inst_id: str
    time: float
    px: float
    kind: str  # entry | exit
    side: str  # long | short
    label: str  # regime for an entry, cause for an exit


@dataclass(frozen=True, slots=True)
class BacktestReport:
    source: str
    window: tuple[float, float]  # epoch seconds
    totals: GroupStats
    by_symbol: tuple[GroupStats, ...]
    by_regime: tuple[GroupStats, ...]
    trades: tuple[TradeRow, ...]  # oldest close first
    open_at_end: int
    max_drawdown: float  # USDT, ≥ 0
    max_drawdown_percent: float | None  # of peak equity (start equity + realised), when a start equity is given
    start_equity: float | None
    equity: tuple[EquityPoint, ...]
    funding_recorded: bool  # the journal has the funding table
    unattributed_funding: float  # funding not tied to a closed trade (open positions, orphans)
    fallback_counts: dict[str, int]  # kind -> rows
    fallbacks: tuple[FallbackEvent, ...]  # the newest FALLBACKS_LISTED, oldest first
    refusals: Refusals
    marks: tuple[Mark, ...]
    prices: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)  # inst -> (time s, px)
    unreadable: tuple[str, ...] = ()  # positions whose snapshot cannot be read (why)

    @property
    def flagged(self) -> tuple[GroupStats, ...]:
        return tuple(g for g in (self.totals, *self.by_symbol, *self.by_regime) if g.flags)


def build_report(
    contents: JournalContents,
    *,
    prices: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    window: tuple[float, float] | None = None,
    start_equity: float | None = None,
) -> BacktestReport:
    """The report of one journal. `prices`: instId -> [(ts_ms, px)] drawn under the marks (a replay
    file's series); `window`: the run's span in epoch seconds (default: what the journal spans)."""
    closed = [p for p in contents.positions if p.state == "closed"]
    funding_by_entry = _funding_by_entry(contents)
    tallies = _fee_tallies(contents)
    span = window if window is not None else _span(contents)
    rows = sorted((_trade_row(p, tallies.get(p.entry_cl_ord_id), funding_by_entry.get(p.entry_cl_ord_id, 0.0))
                   for p in closed), key=lambda r: r.view.closed_at)
    intervals = [(p.inst_id, p.entry_regime, p.opened_at, p.closed_at if p.closed_at is not None else span[1])
                 for p in contents.positions]
    at_entry = [(p.inst_id, p.entry_regime or "orphan", *_exits_in_atr(p)) for p in contents.positions]
    closed_ids = {p.entry_cl_ord_id for p in closed}
    unattributed = [f for f in contents.funding or () if f.position_cl_ord_id not in closed_ids]
    equity = _equity(span[0], rows, [(f.recorded_at, f.amount, f"funding {f.inst_id}") for f in unattributed])
    drawdown, drawdown_pct = _max_drawdown(equity, start_equity)
    fallbacks = contents.fallbacks
    return BacktestReport(
        source=contents.source,
        window=span,
        totals=_group("all", rows, [(a, b) for _, _, a, b in intervals], span, [(t, s) for _, _, t, s in at_entry]),
        by_symbol=tuple(
            _group(inst, [r for r in rows if r.view.inst_id == inst],
                   [(a, b) for i, _, a, b in intervals if i == inst], span,
                   [(t, s) for i, _, t, s in at_entry if i == inst])
            for inst in sorted({i for i, _, _, _ in intervals})
        ),
        by_regime=tuple(
            _group(reg, [r for r in rows if (r.view.entry_regime or "orphan") == reg],
                   [(a, b) for _, g, a, b in intervals if (g or "orphan") == reg], span,
                   [(t, s) for _, g, t, s in at_entry if g == reg])
            for reg in sorted({g or "orphan" for _, g, _, _ in intervals})
        ),
        trades=tuple(rows),
        open_at_end=sum(1 for p in contents.positions if p.state == "open"),
        max_drawdown=drawdown,
        max_drawdown_percent=drawdown_pct,
        start_equity=start_equity,
        equity=tuple(equity),
        funding_recorded=contents.funding is not None,
        unattributed_funding=sum(f.amount for f in unattributed),
        fallback_counts=dict(sorted(Counter(e.kind.value for e in fallbacks).items())),
        fallbacks=tuple(fallbacks[-FALLBACKS_LISTED:]),
        refusals=_refusals(contents),
        marks=tuple(_marks(contents.positions)),
        prices={inst: tuple((ts / 1000.0, px) for ts, px in series) for inst, series in (prices or {}).items()},
        unreadable=tuple(p.snapshot_error for p in contents.positions if p.snapshot_error),
    )


# ---- trades ------------------------------------------------------------------------------------

def _fee_tallies(contents: JournalContents) -> dict[str, FeeTally]:
    """Fills assigned to positions as the console assigns them (trade_history.FeeTallies)."""
    tallies = FeeTallies()
    by_entry: dict[str, FeeTally] = {}
    for fill in contents.fills:
        tally = tallies.add(fill)
        if tally is not None:
            by_entry[tally.entry_cl_ord_id] = tally
    return by_entry


def _funding_by_entry(contents: JournalContents) -> dict[str, float]:
    out: dict[str, float] = {}
    for f in contents.funding or ():
        out[f.position_cl_ord_id] = out.get(f.position_cl_ord_id, 0.0) + f.amount
    return out


def _trade_row(position: JournalPosition, fees: FeeTally | None, funding: float) -> TradeRow:
    view = record_of(position, fees, funding).view()
    tp_atr, sl_atr = _exits_in_atr(position)
    return TradeRow(
        view=view, cause=exit_cause(position.close_reason or ""),
        hold_s=max(0.0, view.closed_at - view.opened_at), tp_atr=tp_atr, sl_atr=sl_atr,
    )


def _exits_in_atr(position: JournalPosition) -> tuple[float | None, float | None]:
    """|TP − entry| and |SL − entry| in ATRs at entry (the snapshot's `atr_at_entry`), or None."""
    snap = position.snapshot
    if snap is None or snap.atr_at_entry is None or snap.atr_at_entry <= 0:
        return None, None
    return abs(snap.tp_px - snap.entry_px) / snap.atr_at_entry, abs(snap.sl_px - snap.entry_px) / snap.atr_at_entry


def _group(name: str, rows: Sequence[TradeRow], intervals: Sequence[tuple[float, float]],
           window: tuple[float, float], at_entry: Sequence[tuple[float | None, float | None]]) -> GroupStats:
    """`at_entry`: TP/SL in ATRs of every position the group entered, closed or still open — a TP
    so far that it never fills leaves its position open, and must count here most of all."""
    stats = _stats(name, [r.view for r in rows])
    tp = [t for t, _ in at_entry if t is not None]
    sl = [s for _, s in at_entry if s is not None]
    exposure_s = _union_length(intervals, window)
    length = window[1] - window[0]
    ratio = stats.win_loss_ratio
    group = GroupStats(
        name=name,
        stats=stats,
        fees=sum(r.view.fees for r in rows if r.view.fees is not None),
        fees_unknown=sum(1 for r in rows if r.view.fees is None),
        funding=sum(r.view.funding for r in rows),
        pnl_unknown=sum(1 for r in rows if r.view.realised_pnl is None),
        exits={c: sum(1 for r in rows if r.cause == c) for c in CAUSES},
        median_hold_s=statistics.median(r.hold_s for r in rows) if rows else None,
        exposure_s=exposure_s,
        exposure=exposure_s / length if length > 0 else None,
        median_tp_atr=statistics.median(tp) if tp else None,
        median_sl_atr=statistics.median(sl) if sl else None,
        without_atr=sum(1 for t, _ in at_entry if t is None),
        breakeven_win_rate=1.0 / (1.0 + ratio) if ratio is not None else None,
        flags=(),
    )
    return replace(group, flags=_flags(group))


def _stats(name: str, views: Iterable[TradeView]) -> RegimeStats:
    """The console's per-regime figures (trade_history.regime_stats) for any group of trades."""
    grouped = regime_stats(replace(v, entry_regime=name) for v in views)
    if grouped:
        return grouped[0]
    return RegimeStats(regime=name, count=0, wins=0, losses=0, win_rate=None, avg_win=None, avg_loss=None,
                       win_loss_ratio=None, total_pnl=0.0)


def _flags(g: GroupStats) -> tuple[str, ...]:
    flags = []
    ratio, rate, needed = g.stats.win_loss_ratio, g.stats.win_rate, g.breakeven_win_rate
    if g.low_win_loss and ratio is not None:
        flags.append(f"realised win:loss {ratio:.2f}: the average loss is {1 / ratio:.1f}× the average win")
    if g.below_breakeven and rate is not None and needed is not None:
        flags.append(f"win rate {rate:.0%} is below the {needed:.0%} this win:loss needs to break even")
    if g.far_tp and g.median_tp_atr is not None:
        flags.append(f"median TP {g.median_tp_atr:.1f} ATR from entry (> {FAR_TP_ATR:g}): it is rarely reached")
    return tuple(flags)


def _union_length(intervals: Iterable[tuple[float, float]], window: tuple[float, float]) -> float:
    """Seconds of `window` covered by at least one interval."""
    clipped = sorted((max(a, window[0]), min(b, window[1])) for a, b in intervals)
    total, end = 0.0, window[0]
    for a, b in clipped:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def _span(contents: JournalContents) -> tuple[float, float]:
    """From the first to the last thing the journal recorded (epoch seconds, the engine's clock)."""
    times: list[float] = []
    for p in contents.positions:
        times.append(p.opened_at)
        if p.closed_at is not None:
            times.append(p.closed_at)
    # not fills' ts_ms: that is the exchange's clock (ahead of ours in a simulator run at speed > 1)
    times += [o.created_at for o in contents.orders]
    times += [e.time for e in contents.fallbacks]
    times += [f.recorded_at for f in contents.funding or ()]
    return (min(times), max(times)) if times else (0.0, 0.0)


# ---- equity ------------------------------------------------------------------------------------

def _equity(start: float, rows: Sequence[TradeRow], extra: Sequence[tuple[float, float, str]]) -> list[EquityPoint]:
    steps = [(r.view.closed_at, r.net_pnl, f"{r.view.inst_id} {r.view.side} {r.cause}") for r in rows]
    points = [EquityPoint(start, 0.0, "start")]
    equity = 0.0
    for when, amount, what in sorted([*steps, *extra], key=lambda s: s[0]):
        equity += amount
        points.append(EquityPoint(when, equity, what))
    return points


def _max_drawdown(points: Sequence[EquityPoint], start_equity: float | None) -> tuple[float, float | None]:
    peak, worst, worst_pct = 0.0, 0.0, 0.0
    for p in points:
        peak = max(peak, p.equity)
        drop = peak - p.equity
        worst = max(worst, drop)
        if start_equity is not None and start_equity + peak > 0:
            worst_pct = max(worst_pct, drop / (start_equity + peak) * 100)
    return worst, (worst_pct if start_equity is not None else None)


# ---- refusals and marks ------------------------------------------------------------------------

def _refusals(contents: JournalContents) -> Refusals:
    stale = [e for e in contents.fallbacks if e.kind is FallbackKind.STALE_REFUSED]
    by_purpose: Counter[str] = Counter()
    for e in stale:
        match = _PURPOSE_IN_DETAIL.match(e.detail)
        by_purpose[match.group(1) if match else "unnamed"] += e.count
    by_symbol: Counter[str] = Counter()
    for e in stale:
        by_symbol[e.symbol] += e.count
    rejected = [o for o in contents.orders if o.state == "rejected"]
    entries = [o for o in contents.orders if o.purpose == OrderPurpose.ENTRY.value]
    aged = [o for o in entries if o.quote_age_s is not None]
    over = [o for o in aged if o.quote_budget_s is not None and o.quote_age_s is not None
            and o.quote_age_s > o.quote_budget_s]
    return Refusals(
        stale_refused=sum(e.count for e in stale),
        stale_rows=len(stale),
        stale_by_purpose=dict(sorted(by_purpose.items())),
        stale_by_symbol=dict(sorted(by_symbol.items())),
        rejected_orders=len(rejected),
        rejected_by_purpose=dict(sorted(Counter(o.purpose for o in rejected).items())),
        entries_sent=len(entries),
        entry_quotes_over_budget=len(over),
        oldest_entry_quote_s=max((o.quote_age_s for o in aged if o.quote_age_s is not None), default=None),
        missing=(
            "entries declined for other reasons (halts, risk limits, cooldowns): the journal records orders "
            "and fallback events, not each declined signal",
        ),
    )


def _marks(positions: Iterable[JournalPosition]) -> list[Mark]:
    marks: list[Mark] = []
    for p in positions:
        snap = p.snapshot
        if snap is not None:
            marks.append(Mark(p.inst_id, snap.entry_time, snap.entry_px, "entry", p.pos_side, p.entry_regime))
        if p.state == "closed" and p.close_px is not None and p.closed_at is not None:
            marks.append(Mark(p.inst_id, p.closed_at, p.close_px, "exit", p.pos_side,
                              exit_cause(p.close_reason or "")))
    return sorted(marks, key=lambda m: m.time)
