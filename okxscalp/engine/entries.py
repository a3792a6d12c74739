"""The entry lifecycle: signal → plan → ORDER-fresh price → write-ahead journal row → sent →
(fills → durable snapshot) → final state, or cancelled when unfilled in time.

Tick → order is synchronous up to the send: the signal, the gates (supervisor.py), the plan (every
parameter through the provider) and the price from an ORDER-fresh quote. Everything after the send
(the reply, the journal's resolutions, timeouts, cancels, fills) happens in tasks and in the
private-event loop, which calls `on_order` for every push of a tracked entry.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from okxscalp.clock import wake_after
from okxscalp.config.schema import Purpose
from okxscalp.engine.executor import (
    CL_ORD_PREFIX_ENTRY,
    EntryPlan,
    EntryRefused,
    PendingEntry,
    QuoteUsed,
    price_entry,
    rejection_text,
)
from okxscalp.engine.exits import ExitPriceError, TpSl, levels_at
from okxscalp.engine.journal import JournalError, OrderPurpose, OrderRecord
from okxscalp.engine.order_route import EntryRouteClosed
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.reason_text import ReasonText, text_of
from okxscalp.engine.risk import check_position_limits
from okxscalp.engine.signals import Signal, decide_signal, may_signal
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot
from okxscalp.engine.snapshot_keeper import SnapshotKeeper
from okxscalp.engine.tpsl_sync import LevelsSync
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.market.registry import Quote, StaleData
from okxscalp.okx.constants import ORDER_STATES_FINAL
from okxscalp.okx.errors import AmbiguousOrderOutcome, OkxError
from okxscalp.okx.models import Order, OrderAck, OrderRequest, symbol_of

log = logging.getLogger(__name__)

ENTRY_COOLDOWN_S = 2.0  # per symbol, after an entry attempt ends (refused, cancelled, closed)
ENTRY_TIMEOUT_TICK_S = 0.2
_SIGNAL = Purpose.SIGNAL  # bound once: read on every ticker
EXIT_PARAM_NAMES = (
    "tp_percent", "sl_percent", "tp_atr_multiplier", "sl_atr_multiplier",
    "tp_min_percent", "tp_max_percent", "sl_min_percent", "sl_max_percent",
)
PAUSE_AFTER_FILL_ENV = "OKXSCALP_TEST_PAUSE_AFTER_FILL_S"


class QuoteAgedAtSend(Exception):
    """Raised by an entry's last check, right before its frame is written (after any wait for the
    rate budget): the quote it was priced from is now older than the ORDER budget. Nothing is sent.
    Not an OkxError: the clients pass it through untouched, never mistaking it for a lost reply."""

    def __init__(self, inst_id: str, age_s: float, budget_s: float) -> None:
        self.inst_id = inst_id
        self.age_s = age_s
        self.budget_s = budget_s
        super().__init__(f"quote aged {age_s:.3f}s > ORDER budget {budget_s:g}s while waiting to send")


def order_fresh_at_send(age_now_s: Callable[[Quote], float], quote: Quote) -> Callable[[], None]:
    """The `before_send` check of an entry: the quote's true age now against its ORDER budget."""
    budget = quote.budget_s

    def check() -> None:
        age = age_now_s(quote)
        if age > budget:
            raise QuoteAgedAtSend(quote.inst_id, age, budget)

    return check


def entry_record(
    r: OrderRequest, used: QuoteUsed, signal_reason: ReasonText, size_reason: ReasonText, *, state: str,
    ord_id: str = "", acc_fill_sz: float = 0.0, avg_px: float | None = None, detail: str = "",
) -> OrderRecord:
    """An entry's journal record, from immutable values only (the write-ahead row is built from
    them on the journal's writer thread, reasons written there too)."""
    return OrderRecord(
        cl_ord_id=r.cl_ord_id, inst_id=r.inst_id, side=r.side.value, ord_type=r.ord_type, sz=r.sz,
        purpose=OrderPurpose.ENTRY.value, state=state, pos_side=r.pos_side.value if r.pos_side else "",
        px=r.px, quote_source=used.source, quote_age_s=used.age_s, quote_budget_s=used.budget_s,
        quote_ts_ms=used.ts_ms, ord_id=ord_id, acc_fill_sz=acc_fill_sz, avg_px=avg_px,
        detail=detail or (f"{text_of(signal_reason)}; tp {r.attach_tp_trigger_px} sl {r.attach_sl_trigger_px}; "
                          f"{text_of(size_reason)}"),
        position_cl_ord_id=r.cl_ord_id,
    )


def entry_intent(r: OrderRequest, used: QuoteUsed) -> tuple[Any, ...]:
    """An entry's pre-send intent: order_intents.INTENT_FIELDS after `created_at`."""
    pos_side = r.pos_side.value if r.pos_side else ""
    return (r.cl_ord_id, r.inst_id, r.side.value, pos_side, r.ord_type, r.px, r.sz, OrderPurpose.ENTRY.value,
            used.source, used.age_s, used.budget_s, used.ts_ms, r.cl_ord_id)


async def _raised(exc: Exception) -> OrderAck:
    raise exc


def env_seconds(name: str) -> float:
    """A test hook's seconds from the environment (0 = off); never settable from a config."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        log.warning("ignored %s", kv(env=name, value=raw, why="not a number"))
        return 0.0
    return value if value > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PlanParams:
    """A (symbol, regime)'s entry parameters, resolved through the provider once per leverage
    resolution: the Resolutions (journaled with every order) and the numbers the plan uses."""

    leverage: Any  # the leverage Resolution these were resolved with
    resolutions: dict[str, Any]
    exit_params: ExitParams
    offset_percent: float
    use_market_order: bool
    timeout_s: float
    position_multiplier: float


@dataclass(slots=True)
class EntryContext:
    """What the snapshot needs from the plan once the entry fills."""

    plan: EntryPlan
    pending: PendingEntry


class EntryLifecycle:
    def __init__(self, parts: EngineParts, *, auto_entries: bool) -> None:
        self.parts = parts
        # False: the detectors' signals are not traded (observe-only; tests drive entries with
        # submit_signal). Exits, reconciliation and flatten work the same.
        self.auto_entries = auto_entries
        self.entries: dict[str, EntryContext] = {}  # clOrdId -> live entry
        self.cooldown_until: dict[str, float] = {}
        self._looking_up: set[str] = set()  # symbols whose in-flight entries are being looked up
        self._signal_rules = parts.config.scalping.signals
        # (instId, regime) -> its parameters: see _resolved
        self._resolved_cache: dict[tuple[str, Any], PlanParams] = {}
        # tick → order latency probe (bench): (trigger ticker recv_mono, clOrdId), called as the send starts
        self.on_entry_sent: Callable[[float, str], None] | None = None
        # Test hook for the kill -9 soak: seconds to wait between an entry fill and its snapshot
        # write (0 = off). Only the environment sets it; nothing in a config can.
        self._pause_after_fill_s = env_seconds(PAUSE_AFTER_FILL_ENV)
        self.keeper = SnapshotKeeper(parts)  # fills → durable snapshots, whatever the journal does
        self.levels = LevelsSync(parts, self.keeper)  # the exchange's TP/SL = the snapshot's

    # ---- queries -----------------------------------------------------------------------------

    def tracked(self) -> dict[str, str]:
        """Live entry clOrdId -> instId (reconciliation syncs these from the exchange)."""
        return {cl: c.plan.inst_id for cl, c in self.entries.items()}

    def has_entry_for(self, inst_id: str) -> bool:
        return any(c.plan.inst_id == inst_id for c in self.entries.values())

    def busy_inst_ids(self) -> set[str]:
        return self.parts.manager.book.inst_ids() | {c.plan.inst_id for c in self.entries.values()}

    def cool_down(self, inst_id: str) -> None:
        self.cooldown_until[inst_id] = self.parts.clock.mono_s() + ENTRY_COOLDOWN_S

    # ---- from a tick to an order -------------------------------------------------------------

    def consider(self, inst_id: str) -> None:
        """Called for every ticker: cheapest checks first; the gates once the price may signal."""
        parts = self.parts
        if not self.auto_entries or parts.supervisor.halted_for_all:
            return
        now = parts.clock.mono_s()
        if now < self.cooldown_until.get(inst_id, 0.0):
            return
        detector = parts.detectors.get(inst_id)
        if detector is None or detector.regime is None:
            return
        if parts.manager.book.has_long_or_short(inst_id):
            return
        for ctx in self.entries.values():
            if ctx.plan.inst_id == inst_id:
                return
        registry = parts.registry
        try:
            ticker = registry.fresh_ticker(inst_id, _SIGNAL)
        except StaleData:
            return  # the registry has already recorded the refusal
        # Most tickers cannot signal (the bar's setup turns their price away): no Quote is built for
        # them. One that may meets the gates before its decision is built (the decision does not touch
        # what they read: the same entries either way; most are refused there while a halt holds),
        # then is read as a Quote (the same rule again) and decided.
        decision, indicators, rules = detector.decision, detector.indicators, self._signal_rules
        if not may_signal(decision, indicators, ticker.bid, ticker.ask, rules):
            return
        if not parts.supervisor.entries_open(inst_id):
            return
        try:
            quote = registry.read(inst_id, _SIGNAL)
        except StaleData:
            return
        signal = decide_signal(decision, indicators, quote, rules)
        if signal is None:
            return
        if not check_position_limits(inst_id, self.busy_inst_ids(), parts.config.scalping.max_positions).allowed:
            return
        self.cooldown_until[inst_id] = now + ENTRY_COOLDOWN_S
        self._enter(signal, quote.recv_mono)  # the ticker that triggered it

    def submit_signal(self, signal: Signal) -> bool:
        """An entry from an explicit signal (tests, operator tools): every check and the same path
        as a signal from the detectors, except the signal evaluation itself. True if it went on
        to pricing (the order may still be refused there, e.g. no ORDER-fresh price)."""
        inst_id = signal.inst_id
        if not self.parts.supervisor.entries_open(inst_id):
            return False
        if not check_position_limits(inst_id, self.busy_inst_ids(), self.parts.config.scalping.max_positions).allowed:
            return False
        self.cool_down(inst_id)
        self._enter(signal, self.parts.clock.mono_s())
        return True

    def _plan(self, signal: Signal) -> EntryPlan:
        parts = self.parts
        state = parts.leverage.states[signal.inst_id]
        p = self._resolved(signal.inst_id, signal.regime, state.resolution)
        decision = parts.detectors[signal.inst_id].decision
        return EntryPlan(
            signal=signal,
            instrument=parts.instruments[signal.inst_id],
            exit_params=p.exit_params,
            atr=decision.atr if decision is not None else None,
            offset_percent=p.offset_percent,
            use_market_order=p.use_market_order,
            timeout_s=p.timeout_s,
            position_multiplier=p.position_multiplier,
            leverage=state.resolution,
            resolutions=p.resolutions,
            regime_decision=decision,
        )

    def _resolved(self, inst_id: str, regime: Any, leverage: Any) -> PlanParams:
        """The plan's parameters for (symbol, regime), resolved once and kept (tick → order stays
        lean): the config does not change while the engine runs; the leverage resolution does, and
        a new one resolves again. Shared by the plans that use it: read only."""
        key = (inst_id, regime)
        cached = self._resolved_cache.get(key)
        if cached is not None and cached.leverage is leverage:
            return cached
        provider, sym = self.parts.provider, symbol_of(inst_id)
        res = {name: provider.resolve(name, sym, regime) for name in EXIT_PARAM_NAMES}
        for name in ("tp_sl_mode", "limit_offset_percent", "use_market_order", "entry_timeout_s", "position_multiplier"):
            res[name] = provider.resolve(name, sym, regime)
        res["leverage"] = leverage
        params = PlanParams(
            leverage=leverage,
            resolutions=res,
            exit_params=ExitParams.from_resolutions(res["tp_sl_mode"], **{n: res[n] for n in EXIT_PARAM_NAMES}),
            offset_percent=float(res["limit_offset_percent"].value),
            use_market_order=res["use_market_order"].value is True,
            timeout_s=float(res["entry_timeout_s"].value),
            position_multiplier=float(res["position_multiplier"].value),
        )
        self._resolved_cache[key] = params
        return params

    def _enter(self, signal: Signal, trigger_mono: float) -> None:
        """Signal → priced order → sent. Synchronous up to the send (tick → order latency)."""
        parts = self.parts
        inst_id = signal.inst_id
        if not parts.leverage.check_before_entry(inst_id):
            return
        try:
            plan = self._plan(signal)
        except Exception as exc:  # a parameter that cannot be resolved: no order, and the operator sees why
            log.error("entry not planned %s", kv(inst=inst_id, error=exc))
            self.parts.event(FallbackKind.SAFETY, inst_id, f"entry not sent: not planned ({exc})", "none", "executor")
            return
        try:
            quote = parts.registry.read(inst_id, Purpose.ORDER)
        except StaleData as exc:  # the registry's read already emitted the refusal (one event per refused read)
            log.info("entry not sent %s", kv(inst=inst_id, why=f"no ORDER-fresh price ({exc})"))
            return
        equity = parts.account.equity
        if equity is None:  # Halt.BALANCE closes entries first; never size against an assumed 0
            parts.event(FallbackKind.ENTRY_GATE, inst_id, "entry not sent: equity unknown", "none", "executor")
            return
        used = QuoteUsed(quote.source, quote.age_s, quote.budget_s, Purpose.ORDER.value, quote.bid, quote.ask,
                         quote.exchange_ts_ms)
        try:
            priced = price_entry(
                plan, used, parts.registry.price_limit(inst_id),
                equity=equity, available_margin=parts.account.free_margin(self._reserved_margin()),
                risk_per_trade_percent=parts.config.scalping.risk_per_trade_percent,
                td_mode=parts.account_settings.margin_mode, cl_ord_id=parts.cl_ord_ids.new(CL_ORD_PREFIX_ENTRY),
            )
        except EntryRefused as exc:
            log.info("entry refused %s", kv(inst=inst_id, reason=exc.reason))
            return
        r = priced.request
        if self.on_entry_sent is not None:
            self.on_entry_sent(trigger_mono, r.cl_ord_id)
        # Write-ahead: the order's intent is in the kernel before any byte of it can leave (a kill
        # -9 after the exchange took the order cannot lose it: engine/order_intents.py); its journal
        # row is queued as the values it is made of, built and committed on the writer thread once
        # the frame is out (woken before it, the writer took the GIL from the send).
        try:
            parts.journal.record_order_ahead(
                partial(entry_record, r, priced.quote, plan.signal.why, priced.size.why, state="sent"),
                entry_intent(r, priced.quote))
        except JournalError as exc:  # the journal halts entries (write_failure); this one is not sent
            log.error("entry not sent %s", kv(inst=inst_id, clOrdId=r.cl_ord_id, why=exc))
            parts.event(FallbackKind.SAFETY, inst_id, f"entry {r.cl_ord_id} not sent: {exc}", "none", "executor")
            return
        pending = PendingEntry(priced, parts.clock.mono_s())
        self.entries[pending.cl_ord_id] = EntryContext(plan, pending)
        before_send = order_fresh_at_send(parts.registry.age_now_s, quote)
        # Over WS the frame is written right here when the channel can take it at once (no task
        # hop); otherwise the send task takes the route's way (WS after a budget wait, or REST).
        try:
            sent = parts.orders.send_entry_now(r, before_send)
        except QuoteAgedAtSend as exc:  # aged during pricing: refused in the send task, like any other
            sent = _raised(exc)
        finally:
            # The frame is out (or will go from the task): the row is committed once this step of the
            # loop is done. Woken at once, the writer took the GIL from the next ticker's decision
            # (the simulator, like OKX, pushes a step's tickers together); the intent is safe meanwhile.
            asyncio.get_running_loop().call_soon(parts.journal.wake_writer)
        parts.spawn(self._send(pending, plan, before_send, sent), f"entry {r.cl_ord_id}")

    def _reserved_margin(self) -> float:
        """What the live entry orders will take once filled: concurrent entries must not each
        size against the whole balance."""
        reserved = 0.0
        for ctx in self.entries.values():
            r, plan = ctx.pending.priced.request, ctx.plan
            px = float(r.px) if r.px else ctx.pending.priced.quote.ask
            remaining = float(r.sz) - ctx.pending.acc_fill_sz
            reserved += max(remaining, 0.0) * px * plan.instrument.ct_val / float(plan.leverage.value)
        return reserved

    def _record(self, pending: PendingEntry, plan: EntryPlan, *, state: str, detail: str = "") -> OrderRecord:
        priced = pending.priced
        return entry_record(priced.request, priced.quote, plan.signal.why, priced.size.why, state=state,
                            ord_id=pending.ord_id, acc_fill_sz=pending.acc_fill_sz, avg_px=pending.avg_px,
                            detail=detail)

    async def _send(
        self, pending: PendingEntry, plan: EntryPlan, before_send: Callable[[], None] | None = None,
        sent: Coroutine[Any, Any, OrderAck] | None = None,
    ) -> None:
        """Send the order (its write-ahead row, with its quote's age, was queued by `_enter` in the
        same step as the send or before it), then journal the reply and the resolutions. Serialising the
        resolutions costs about a millisecond, so it waits until the order is out. Order pushes that
        arrive meanwhile update `pending`; the record written after the reply carries that state.
        `before_send` re-checks the quote's age at the moment of sending (order_route.py decides
        WS or REST); a quote that aged past its budget meanwhile is a stale refusal, nothing sent.
        `sent`: the frame is already written (order_route.send_entry_now): its reply."""
        orders, journal = self.parts.orders, self.parts.journal
        request = pending.priced.request
        resolutions = [v for v in plan.resolutions.values() if v is not None]
        try:
            ack = await (sent if sent is not None else orders.place_entry(request, before_send))
        except (QuoteAgedAtSend, EntryRouteClosed) as exc:
            self.entries.pop(pending.cl_ord_id, None)
            journal.record_order(self._record(pending, plan, state="not_placed", detail=f"not sent: {exc}"))
            journal.record_resolutions(request.cl_ord_id, resolutions)
            log.info("entry not sent %s", kv(inst=request.inst_id, clOrdId=request.cl_ord_id, why=exc))
            kind = FallbackKind.STALE_REFUSED if isinstance(exc, QuoteAgedAtSend) else FallbackKind.ORDER_VIA_REST
            self.parts.event(kind, request.inst_id, f"entry {request.cl_ord_id} not sent: {exc}", "none", "executor")
            return
        except AmbiguousOrderOutcome as exc:
            # It may be on the exchange: stay tracked (by clOrdId) so a push, the timeout's
            # cancel or the next reconciliation settles it; never assume either way.
            pending.state = "unknown"
            journal.record_order(self._record(pending, plan, state="unknown", detail=str(exc)))
            journal.record_resolutions(request.cl_ord_id, resolutions)
            log.warning("entry outcome unknown %s", kv(inst=request.inst_id, clOrdId=request.cl_ord_id, error=exc))
            return
        except OkxError as exc:
            self.entries.pop(pending.cl_ord_id, None)
            detail = rejection_text(exc)
            journal.record_order(self._record(pending, plan, state="rejected", detail=detail))
            journal.record_resolutions(request.cl_ord_id, resolutions)
            log.warning("entry rejected %s", kv(inst=request.inst_id, clOrdId=request.cl_ord_id, detail=detail))
            self.parts.event(FallbackKind.ORDER_REJECTED, request.inst_id,
                             f"entry {request.side.value} {request.sz} @ {request.px or 'market'} ({request.cl_ord_id}) "
                             f"rejected: {detail}", "none", "executor")
            return
        if not pending.ord_id:
            pending.ord_id = ack.ord_id
        state = pending.state if pending.state != "live" or pending.acc_fill_sz else "live"
        journal.record_order(self._record(pending, plan, state=state))
        journal.record_resolutions(request.cl_ord_id, resolutions)
        log.info("entry sent %s", pending.describe())

    # ---- unfilled entries ----------------------------------------------------------------------

    async def watch_timeouts(self) -> None:
        while True:
            await wake_after(ENTRY_TIMEOUT_TICK_S)
            now = self.parts.clock.mono_s()
            for ctx in list(self.entries.values()):
                p = ctx.pending
                if (p.ord_id or p.state == "unknown") and not p.cancel_requested and p.expired(now):
                    p.cancel_requested = True
                    self.parts.spawn(self.cancel(p, "unfilled after timeout"), f"cancel {p.cl_ord_id}")

    async def cancel(self, pending: PendingEntry, why: str) -> bool:
        """Ask the exchange to cancel an entry. True once the request was accepted (its final
        state still arrives on the orders channel); False when it was refused."""
        try:
            await self.parts.orders.cancel(pending.inst_id, ord_id=pending.ord_id or None, cl_ord_id=None if pending.ord_id else pending.cl_ord_id)
            log.info("entry cancel requested %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, why=why, filled=pending.acc_fill_sz))
            return True
        except OkxError as exc:
            log.info("entry cancel refused %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, error=exc))
            # Refused: it may have filled or ended meanwhile (51400, 51401 …) and that push may be
            # lost (a stalled channel): never wait on the push alone, ask the exchange now.
            await self._settle_unknown(pending)
            return False

    async def _settle_unknown(self, pending: PendingEntry) -> None:
        """Look an entry up by clOrdId: its state from the exchange settles it (a fill is snapshotted,
        a final state ends tracking); a failed lookup is asked again at the next timeout tick."""
        try:
            order = await self.parts.rest.get_order(pending.inst_id, cl_ord_id=pending.cl_ord_id)
        except OkxError as exc:
            pending.cancel_requested = False  # try again at the next timeout tick
            log.warning("entry state not known %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, error=exc))
            return
        if order is not None:
            await self.on_order(order)
            if order.state not in ORDER_STATES_FINAL:
                pending.cancel_requested = False  # still working: cancelled again at the next tick
            return
        if pending.state != "unknown":  # acknowledged once, so it exists: a lagging lookup, ask again
            pending.cancel_requested = False
            return
        self.entries.pop(pending.cl_ord_id, None)
        self.parts.journal.update_order(pending.cl_ord_id, state="not_placed", detail="the exchange has no such order")
        log.info("entry was never placed %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id))

    async def look_up_entries_for(self, inst_id: str) -> None:
        """The exchange shows a position on `inst_id` that the book does not hold while an entry for
        it is in flight: that entry's fill push may be lost (or late). Ask the exchange (one lookup
        per symbol at a time) rather than wait, so the position is never invisible for long."""
        if inst_id in self._looking_up:
            return
        self._looking_up.add(inst_id)
        try:
            for ctx in [c for c in self.entries.values() if c.plan.inst_id == inst_id]:
                await self._settle_unknown(ctx.pending)
        finally:
            self._looking_up.discard(inst_id)

    async def cancel_all(self, why: str) -> None:
        for ctx in list(self.entries.values()):
            ctx.pending.cancel_requested = True
            await self.cancel(ctx.pending, why)

    # ---- fills -----------------------------------------------------------------------------------

    async def _snapshot_fill(self, ctx: EntryContext, order: Order) -> bool:
        """A fill of an entry: the position goes in the book at once and its snapshot is written
        durably (snapshot_keeper.py: bounded wait here, retried in the background with entries
        halted when the journal does not take it). The snapshot's levels are the ones the exchange
        holds; when the levels from the fill's avgPx differ (a market entry), the exchange's
        attached TP/SL are amended to them (tpsl_sync.py). True once the snapshot is durable."""
        parts = self.parts
        plan, request = ctx.plan, ctx.pending.priced.request
        manager = parts.manager
        known = manager.book.get(order.inst_id, order.pos_side.value)
        on_exchange = (
            known.levels_on_exchange if known is not None and known.levels_on_exchange[0]
            else (request.attach_tp_trigger_px or "", request.attach_sl_trigger_px or "")
        )

        def build(levels: TpSl | None = None) -> tuple[PositionSnapshot, TpSl]:
            return manager.entry_snapshot(
                order=order, regime=plan.signal.regime, exit_params=plan.exit_params, instrument=plan.instrument,
                atr=plan.atr, leverage=plan.leverage, regime_inputs=plan.regime_inputs,
                signal_reason=plan.signal.reason, levels=levels,
            )

        assert order.avg_px is not None
        try:
            snapshot, target = build()
        except ExitPriceError as exc:
            # No levels from avgPx: the exchange's are the position's (raises when they cannot be either).
            log.error("tp/sl from the fill refused %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id, error=exc))
            snapshot, target = build(self._exchange_levels(order, plan, on_exchange, f"from avgPx refused: {exc}"))
        wanted = (target.tp_px_str, target.sl_px_str)
        if wanted != on_exchange:
            try:
                snapshot, _ = build(self._exchange_levels(order, plan, on_exchange, "on the exchange until amended"))
            except ExitPriceError as exc:
                # The exchange's levels are past the fill (its stop fires at once): hold the computed
                # ones; the amend and the position's row say that they differ meanwhile.
                log.error("exchange tp/sl past the fill %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id, error=exc))
        position = manager.track_entry_fill(order, snapshot)
        position.levels_on_exchange = on_exchange
        if wanted != on_exchange:
            self.levels.want(position, wanted)
        if self._pause_after_fill_s > 0:  # test hook (soak): a window to kill -9 in, the position in the book
            log.info("fill received, snapshot pending %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id))
            await asyncio.sleep(self._pause_after_fill_s)
        return await self.keeper.commit(position, snapshot)

    @staticmethod
    def _exchange_levels(order: Order, plan: EntryPlan, on_exchange: tuple[str, str], why: str) -> TpSl:
        assert order.avg_px is not None
        if not on_exchange[0] or not on_exchange[1]:
            raise ExitPriceError(f"{order.inst_id}: no TP/SL known on the exchange ({why})")
        return levels_at(order.pos_side, order.avg_px, on_exchange[0], on_exchange[1], plan.exit_params,
                         f"TP {on_exchange[0]} / SL {on_exchange[1]} as attached to the entry ({why})")

    # ---- order pushes --------------------------------------------------------------------------

    async def on_order(self, order: Order) -> None:
        """A push (or REST row) of a tracked entry: fills → the position in the book and its
        snapshot written (durably, or being retried with entries halted), then the journal row;
        a final state ends tracking."""
        parts = self.parts
        ctx = self.entries.get(order.cl_ord_id)
        if ctx is None:
            return
        pending = ctx.pending
        pending.ord_id = pending.ord_id or order.ord_id
        pending.state = order.state
        if order.acc_fill_sz > pending.acc_fill_sz and order.avg_px:
            pending.acc_fill_sz = order.acc_fill_sz
            pending.avg_px = order.avg_px
            pending.snapshot_written = await self._snapshot_fill(ctx, order)
        parts.journal.update_order(order.cl_ord_id, state=order.state, ord_id=order.ord_id,
                                   acc_fill_sz=order.acc_fill_sz, avg_px=order.avg_px,
                                   detail=f"cancelSource {order.cancel_source}" if order.state == "canceled" else None)
        if order.state in ORDER_STATES_FINAL:
            self.entries.pop(order.cl_ord_id, None)
            self.cool_down(order.inst_id)
            if order.state != "filled":
                log.info("entry ended %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id, state=order.state,
                                              filled=order.acc_fill_sz, cancel_source=order.cancel_source or "-"))
