"""The Engine: one object that owns every task of a trading process, and the console's view of it.

Start-up, in order (entries stay closed until the end):
1. REST client, journal, parameter provider; instruments of the configured symbols.
2. Account position mode: long/short is required. The simulator is switched to it when it holds
   no position; anywhere else (or with positions) start-up stops and says why.
3. Leverage per symbol: resolved through the provider (config → exchange), set on the exchange
   when it differs, and read back. A mismatch stops entries for that symbol with the diagnostic.
4. Reconciliation: journal + exchange positions + open orders (reconcile.py).
5. Regime warm-up from REST candle history, then the feed (FeedCoordinator: three WebSocket
   connections, watchdog, entry gate). Every private reconnect re-runs reconciliation.

Tasks owned: the feed, the private-event loop (fills → snapshots, in order), the exit sweep, the
entry-timeout watch, housekeeping (balance, leverage read-back), the event-bus reader. `run()`
runs until cancelled; on cancellation it cancels its unfilled entry orders, stops every task and
closes the client and the journal. Positions stay on the exchange with their attached stop-loss.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from okxscalp.config import EXCHANGE_LEVERAGE_INFO_SOURCE, ParameterProvider
from okxscalp.config.schema import AppConfig, Purpose
from okxscalp.engine.executor import (
    CL_ORD_PREFIX_EXIT,
    EXIT_TAG,
    EntryPlan,
    EntryRefused,
    LeverageState,
    PendingEntry,
    QuoteUsed,
    close_side_for,
    leverage_mismatch,
    prefixed_cl_ord_id,
    price_entry,
)
from okxscalp.engine.exits import exit_decision
from okxscalp.engine.journal import Journal, OrderPurpose, OrderRecord
from okxscalp.engine.positions import (
    CloseReason,
    CloseRequest,
    ManagedPosition,
    PositionManager,
    exit_order_record,
)
from okxscalp.engine.reconcile import Reconciler
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.risk import DailyLossLimit, check_position_limits
from okxscalp.engine.signals import Signal, detector_for, evaluate_signal
from okxscalp.engine.snapshot import ExitParams
from okxscalp.engine.views import EngineSnapshot, HeaderView, QuoteView
from okxscalp.logging_setup import kv
from okxscalp.market.bus import EventBus
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import CODE_POSITION_NOT_FOUND, ORDER_STATES_FINAL
from okxscalp.okx.errors import AmbiguousOrderOutcome, OkxError, OrderRejected, RequestError
from okxscalp.okx.models import Candle, Fill, Instrument, Order, Position, inst_id_of, symbol_of
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)
fallback_log = logging.getLogger("okxscalp.fallback")

RECENT_EVENTS = 200
EXIT_SWEEP_S = 0.25
HOUSEKEEPING_S = 5.0
LEVERAGE_READBACK_S = 30.0
ENTRY_COOLDOWN_S = 2.0  # per symbol, after an entry attempt ends (refused, cancelled, closed)
CLOSE_RETRY_S = 1.0
CLOSE_FILL_WAIT_S = 0.5  # a flat position waits this long for its closing fill push before a REST lookup
WARMUP_CANDLES = 100
SHUTDOWN_CANCEL_TIMEOUT_S = 3.0
LONG_SHORT_MODE = "long_short_mode"
MARGIN_USE = 0.9  # share of the available margin entries may size against (fees, mark moves)

EXIT_PARAM_NAMES = (
    "tp_percent", "sl_percent", "tp_atr_multiplier", "sl_atr_multiplier",
    "tp_min_percent", "tp_max_percent", "sl_min_percent", "sl_max_percent",
)


PAUSE_AFTER_FILL_ENV = "OKXSCALP_TEST_PAUSE_AFTER_FILL_S"


def _env_seconds(name: str) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        log.warning("ignored %s", kv(env=name, value=raw, why="not a number"))
        return 0.0
    return value if value > 0 else 0.0


class EngineStartError(Exception):
    """The engine cannot start against this account; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ExchangeEndpoints:
    rest_url: str
    ws_url: str  # base: /ws/v5/public|private|business are appended
    credentials: Credentials
    mode: str = "SIM"  # SIM | DEMO | LIVE (console header)
    demo: bool = False


@dataclass(slots=True)
class EntryContext:
    """What the snapshot needs from the plan once the entry fills."""

    plan: EntryPlan
    pending: PendingEntry


class Engine:
    """See the module docstring. Implements `okxscalp.engine.views.EngineControl`."""

    def __init__(
        self,
        config: AppConfig,
        endpoints: ExchangeEndpoints,
        *,
        journal_path: str | None = None,
        session: aiohttp.ClientSession | None = None,
        auto_entries: bool = True,
    ) -> None:
        self.config = config
        # False: the detectors' signals are not traded (observe-only; tests drive entries with
        # submit_signal). Exits, reconciliation and flatten work the same.
        self.auto_entries = auto_entries
        self.endpoints = endpoints
        self.journal_path = journal_path or config.journal_path
        self.provider = ParameterProvider(config)
        self.inst_ids = tuple(inst_id_of(s) for s in config.symbols)
        self._session = session
        self.rest: RestClient | None = None
        self.journal: Journal | None = None
        self.manager: PositionManager | None = None
        self.reconciler: Reconciler | None = None
        self.feed: FeedCoordinator | None = None
        self.registry: DataRegistry | None = None
        self.bus: EventBus | None = None
        self.instruments: dict[str, Instrument] = {}
        self.detectors: dict[str, RegimeDetector] = {}
        self.leverage: dict[str, LeverageState] = {i: LeverageState() for i in self.inst_ids}
        self.entries: dict[str, EntryContext] = {}  # clOrdId -> live entry
        self.daily_loss = DailyLossLimit(config.scalping.daily_loss_limit_percent)
        self.equity: float | None = None
        self.available: float | None = None
        self.paused = False  # operator pause
        self.flatten_halt = False  # set by flatten, cleared by resume
        self.started = asyncio.Event()  # set once start-up is complete and entries may open
        self._ready = False
        self._cooldown_until: dict[str, float] = {}
        self._early_events: list[FallbackEvent] = []
        self._server_offset_ms: float | None = None  # exchange time minus local time (REST public/time)
        self._private_queue: asyncio.Queue[Any] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        # tick → order latency probe (bench): (trigger ticker recv_mono, clOrdId), called as the send starts
        self.on_entry_sent: Callable[[float, str], None] | None = None
        self._signal_rules = config.scalping.signals
        # Test hook for the kill -9 soak: seconds to wait between an entry fill and its snapshot
        # write (0 = off). Only the environment sets it; nothing in a config can.
        self._pause_after_fill_s = _env_seconds(PAUSE_AFTER_FILL_ENV)

    # ---- construction helpers ----------------------------------------------------------------

    @classmethod
    def for_sim(cls, config: AppConfig, server: Any, journal_path: str | None = None, **kw: Any) -> Engine:
        """An engine against a started SimServer (tests, screenshots, bench)."""
        sim = config.exchange.sim
        creds = Credentials(sim.api_key, sim.api_secret, sim.passphrase)
        return cls(config, ExchangeEndpoints(server.rest_url, server.ws_url, creds, mode="SIM"), journal_path=journal_path, **kw)

    # ---- EngineControl -----------------------------------------------------------------------

    def explain(self, symbol: str, regime: str) -> list[Any]:
        """Every parameter of `symbol` (config form or instId) in `regime`: value, source, chain.
        Leverage is explained with what the exchange last reported for it."""
        state = self.leverage.get(inst_id_of(symbol_of(symbol)))
        lever = state.exchange_lever if state is not None else None
        return list(self.provider.explain(symbol_of(symbol), regime, exchange_lever=lever))

    def pause_entries(self) -> None:
        self.paused = True
        self._emit(FallbackKind.ENTRY_GATE, "", "entries paused by the operator", "operator")

    def resume_entries(self) -> None:
        self.paused = False
        self.flatten_halt = False
        self._emit(FallbackKind.ENTRY_GATE, "", "entries resumed by the operator", "operator")

    def request_reconnect(self, connection: str | None) -> None:
        if self.feed is not None:
            self.feed.request_reconnect(connection)

    def request_flatten(self) -> None:
        self.flatten_halt = True
        self._emit(FallbackKind.ENTRY_GATE, "", "flatten all: entries halted until resumed", "operator")
        if self.rest is not None and self.manager is not None:  # before start-up there is nothing to close
            self._spawn(self.flatten(), "flatten")

    def request_close(self, inst_id: str, side: str) -> None:
        if self.manager is None:
            return
        self._spawn(self.close_position(inst_id, side, CloseReason.OPERATOR, "operator close"), f"close {inst_id}")

    def halt_reasons(self) -> tuple[str, ...]:
        reasons: list[str] = []
        if not self._ready:
            reasons.append("starting")
        if self.paused:
            reasons.append("paused by operator")
        if self.flatten_halt:
            reasons.append("flatten: halted until resumed")
        verdict = self.daily_loss.check(time.time())
        if not verdict.allowed:
            reasons.append(verdict.reason)
        if self.feed is not None:
            allowed, gate_reasons = self.feed.entries_allowed()
            if not allowed:
                reasons.extend(gate_reasons)
        reasons.extend(state.mismatch for state in self.leverage.values() if state.mismatch)
        return tuple(reasons)

    def snapshot(self) -> EngineSnapshot:
        now = time.time()
        halt = self.halt_reasons()
        budget = self.rest.budget_use() if self.rest is not None else {}
        header = HeaderView(
            mode=self.endpoints.mode,
            equity=self.equity,
            entries_running=not halt,
            halt_reasons=halt,
            rest_budget_use=max(budget.values(), default=0.0),
            clock_offset_ms=self._clock_offset_ms(),
        )
        quotes = tuple(self._quote_view(i) for i in self.inst_ids)
        connections = tuple(self.feed.health()) if self.feed is not None else ()
        positions = self.manager.book.views(now) if self.manager is not None else ()
        return EngineSnapshot(
            header=header,
            quotes=quotes,
            connections=connections,
            positions=positions,
            recent_events=self._recent_events(),
            event_counts=self._event_counts(),
        )

    def _clock_offset_ms(self) -> float | None:
        return self._server_offset_ms

    def _recent_events(self) -> tuple[FallbackEvent, ...]:
        events = tuple(self._early_events) + (tuple(self.bus.recent()) if self.bus is not None else ())
        return events[-RECENT_EVENTS:]

    def _event_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in self._early_events:
            counts[event.kind.value] = counts.get(event.kind.value, 0) + event.count
        if self.bus is not None:
            for kind, n in self.bus.counts.items():
                key = getattr(kind, "value", kind)
                counts[key] = counts.get(key, 0) + n
        return counts

    def _quote_view(self, inst_id: str) -> QuoteView:
        detector = self.detectors.get(inst_id)
        regime = detector.regime.value if detector is not None and detector.regime is not None else None
        inputs: dict[str, float] = {}
        if detector is not None and detector.decision is not None:
            d = detector.decision
            inputs = {k: v for k, v in (("adx", d.adx), ("atr_pct", d.atr_pct), ("band_width_pct", d.band_width_pct)) if v is not None}
        if self.registry is None:
            return QuoteView(inst_id, None, None, None, "none", None, {p: False for p in Purpose}, regime, inputs)
        f = self.registry.freshness(inst_id)
        return QuoteView(inst_id, f.last, f.bid, f.ask, f.source, f.age_s, dict(f.satisfied), regime, inputs)

    # ---- run ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (or until a task fails, which is raised)."""
        self._private_queue = asyncio.Queue()
        try:
            await self._start()
            await self._supervise()
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        cfg = self.config
        creds = self.endpoints.credentials
        self.rest = RestClient(self.endpoints.rest_url, creds, cfg.rest, demo=self.endpoints.demo, session=self._session)
        self.journal = Journal(self.journal_path, redact=(creds.secret, creds.passphrase, creds.api_key))
        before = time.time()
        server_ms = await self.rest.server_time()
        self._server_offset_ms = server_ms - (before + time.time()) * 500.0
        instruments = {i.inst_id: i for i in await self.rest.instruments()}
        missing = [i for i in self.inst_ids if i not in instruments]
        if missing:
            raise EngineStartError(f"configured symbols not listed by the exchange: {', '.join(missing)}")
        self.instruments = {i: instruments[i] for i in self.inst_ids}
        self.manager = PositionManager(self.journal, lambda inst: self.instruments[inst].ct_val)
        self.manager.on_closed.append(self._on_position_closed)
        await self._check_position_mode()
        await self._refresh_balance()
        midnight = time.time() // 86_400 * 86_400
        if self.equity is not None:
            self.daily_loss.observe_equity(self.equity, time.time(), realised_today=self.journal.realised_pnl_since(midnight))
        for inst_id in self.inst_ids:
            await self._prepare_leverage(inst_id)
        self.reconciler = Reconciler(
            self.rest, self.journal, self.manager, self.instruments, cfg.scalping,
            tracked_entries=lambda: {cl: c.plan.inst_id for cl, c in self.entries.items()}, on_entry_order=self._on_entry_order,
        )
        await self.reconciler.run("startup")
        await self._build_feed()
        await self._warm_up()
        await self.feed.start()
        self._tasks = [
            asyncio.create_task(self._private_loop(), name="private-events"),
            asyncio.create_task(self._exit_sweep(), name="exit-sweep"),
            asyncio.create_task(self._entry_timeouts(), name="entry-timeouts"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            asyncio.create_task(self._bus_reader(), name="bus-reader"),
        ]
        self._ready = True
        self.started.set()
        log.info("engine started %s", kv(mode=self.endpoints.mode, symbols=",".join(self.inst_ids), journal=self.journal_path))

    async def _supervise(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
        raise RuntimeError("engine tasks ended unexpectedly: " + ", ".join(t.get_name() for t in done))

    async def _shutdown(self) -> None:
        self._ready = False
        if self.rest is not None and self.entries:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._cancel_entries("shutdown"), SHUTDOWN_CANCEL_TIMEOUT_S)
        tasks = [t for t in self._tasks + list(self._side_tasks) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.feed is not None:
            with contextlib.suppress(Exception):
                await self.feed.stop()
        if self.rest is not None:
            await self.rest.close()
        if self.journal is not None:
            self.journal.close()
        log.info("engine stopped; positions on the exchange keep their attached stop-loss")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)
        return task

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed: %r", task.get_name(), task.exception(), exc_info=task.exception())

    # ---- start-up checks ---------------------------------------------------------------------

    async def _check_position_mode(self) -> None:
        assert self.rest is not None
        account = await self.rest.account_config()
        if account.pos_mode == LONG_SHORT_MODE:
            return
        positions = [p for p in await self.rest.positions() if p.pos != 0]
        if self.endpoints.mode == "SIM" and not positions:
            await self.rest.set_position_mode(LONG_SHORT_MODE)
            log.info("position mode set %s", kv(from_=account.pos_mode, to=LONG_SHORT_MODE))
            return
        why = (
            f"{len(positions)} open position(s) block changing it" if positions
            else "okxscalp does not change the position mode of a real account"
        )
        raise EngineStartError(
            f"the account is in {account.pos_mode}; okxscalp needs {LONG_SHORT_MODE} (separate long and short "
            f"positions, posSide long/short on every order). {why}. Switch it in OKX: Trade → Settings → "
            f"Position mode → Long/short mode, with no open positions or orders."
        )

    async def _prepare_leverage(self, inst_id: str) -> None:
        """Before the first order of a symbol: resolve, set on the exchange if it differs, read back."""
        assert self.rest is not None
        state = self.leverage[inst_id]
        mode = self.config.scalping.margin_mode
        try:
            infos = await self.rest.leverage_info(inst_id, mode)
            exchange_lever = infos[0].lever if infos else None
            state.resolution = self.provider.resolve_leverage(
                symbol_of(inst_id), exchange_lever, exchange_source=EXCHANGE_LEVERAGE_INFO_SOURCE
            )
            if exchange_lever is None or abs(exchange_lever - float(state.resolution.value)) > 1e-9:
                replies = await self.rest.set_leverage(inst_id, f"{float(state.resolution.value):g}", mode)
                infos = replies or await self.rest.leverage_info(inst_id, mode)
            state.exchange_lever = infos[0].lever if infos else None
            state.reported_by = "set-leverage/leverage-info"
            state.mismatch = leverage_mismatch(inst_id, state)
        except Exception as exc:  # LeverageUnavailable or an exchange refusal: no entries for it
            state.mismatch = f"{inst_id}: leverage unavailable: {exc}"
        if state.mismatch:
            log.error("leverage %s", kv(inst=inst_id, problem=state.mismatch))
            self._emit(FallbackKind.ENTRY_GATE, inst_id, state.mismatch, "none")
        else:
            log.info("leverage ok %s", kv(inst=inst_id, lever=state.exchange_lever, source=state.resolution.source_path))

    async def _refresh_balance(self) -> None:
        assert self.rest is not None
        try:
            balance = await self.rest.balance()
        except OkxError as exc:
            log.warning("balance refresh failed %s", kv(error=exc))
            return
        self.equity, self.available = balance.total_eq, balance.avail_eq

    async def _housekeeping(self) -> None:
        """Balance every few seconds; the exchange's actual leverage read back now and then (it is
        also taken from every positions push), so the pre-entry check compares with fresh facts."""
        assert self.rest is not None
        last_lever = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            await self._refresh_balance()
            if self.equity is not None:
                self.daily_loss.observe_equity(self.equity, time.time())
            await self._verify_positions()
            if time.monotonic() - last_lever >= LEVERAGE_READBACK_S:
                last_lever = time.monotonic()
                await self.refresh_leverage()

    async def _verify_positions(self) -> None:
        """The exchange is the truth for sizes: a position the book holds that the exchange no
        longer has (its close push lost in a stall or a reconnect) is settled by reconciliation."""
        assert self.rest is not None and self.manager is not None
        if not self.manager.book.positions or self.reconciler is None:
            return
        asked_at = time.time()
        try:
            live = {(p.inst_id, p.pos_side.value) for p in await self.rest.positions() if p.pos != 0}
        except OkxError as exc:
            log.warning("position check failed %s", kv(error=exc))
            return
        missing = [
            key for key, pos in self.manager.book.positions.items()
            if key not in live and (pos.snapshot is None or pos.snapshot.entry_time < asked_at - 2.0)
        ]
        if missing:
            await self.reconciler.run("position check: " + ",".join(f"{i}/{s}" for i, s in missing) + " gone")

    async def refresh_leverage(self) -> None:
        """Read every symbol's actual leverage back from the exchange (leverage-info) and compare it
        with the resolution; a mismatch stops entries for that symbol until they agree again."""
        assert self.rest is not None
        for inst_id, state in self.leverage.items():
            try:
                infos = await self.rest.leverage_info(inst_id, self.config.scalping.margin_mode)
            except OkxError as exc:
                log.warning("leverage read-back failed %s", kv(inst=inst_id, error=exc))
                continue
            if not infos or state.resolution is None:
                continue
            was = state.mismatch
            state.exchange_lever, state.reported_by = infos[0].lever, "leverage-info"
            state.mismatch = leverage_mismatch(inst_id, state)
            if state.mismatch and state.mismatch != was:
                log.error("leverage %s", kv(inst=inst_id, problem=state.mismatch))
                self._emit(FallbackKind.ENTRY_GATE, inst_id, state.mismatch, "none", "executor")

    # ---- feed --------------------------------------------------------------------------------

    async def _build_feed(self) -> None:
        assert self.rest is not None and self.journal is not None
        cfg = self.config
        self.bus = EventBus()
        self._bus_subscription = self.bus.subscribe("engine-journal")
        for event in self._early_events:
            self.journal.record_fallback(event)
        self.registry = DataRegistry(cfg.freshness, self.bus, self.rest.ticker, inst_ids=self.inst_ids)
        self.feed = FeedCoordinator(
            FeedUrls.from_base(self.endpoints.ws_url),
            self.registry,
            inst_ids=self.inst_ids,
            settings=cfg.websocket,
            bars=(cfg.scalping.regime.bar,),
            credentials=self.endpoints.credentials,
            bus=self.bus,
            fetch_candles=self.rest.candles,
            on_tick=self._on_tick,
            on_candle=self._on_candle,
            on_private=self._on_private,
        )
        self.feed.add_reconcile_hook(self._reconcile_after_reconnect)

    async def _warm_up(self) -> None:
        assert self.rest is not None
        regime_settings = self.config.scalping.regime
        for inst_id in self.inst_ids:
            detector = detector_for(inst_id, regime_settings, self._signal_rules)
            self.detectors[inst_id] = detector
            try:
                history = await self.rest.candles(inst_id, regime_settings.bar, WARMUP_CANDLES)
            except OkxError as exc:
                log.warning("warm-up candles failed %s", kv(inst=inst_id, error=exc))
                continue
            for candle in sorted(history, key=lambda c: c.ts_ms):
                detector.on_candle(candle)
            log.info("warm-up %s", kv(inst=inst_id, bars=len(history), regime=detector.regime.value if detector.regime else "unknown"))

    async def _reconcile_after_reconnect(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.run("private reconnect")

    def _on_candle(self, candle: Candle) -> None:
        detector = self.detectors.get(candle.inst_id)
        if detector is None or candle.bar != self.config.scalping.regime.bar:
            return
        decision = detector.on_candle(candle)
        if decision is not None and self.registry is not None:
            self.registry.set_regime(candle.inst_id, decision.regime, decision.inputs())
        if decision is not None and decision.changed:
            log.info("regime %s", kv(inst=candle.inst_id, regime=decision.regime.value if decision.regime else "?",
                                     adx=decision.adx, atr_pct=decision.atr_pct, bw_pct=decision.band_width_pct))

    def _on_private(self, push: Any) -> None:
        assert self._private_queue is not None
        self._private_queue.put_nowait(push)

    def _emit(self, kind: FallbackKind, symbol: str, detail: str, source: str, component: str = "engine") -> None:
        if self.bus is not None:
            self.bus.emit(component, symbol, kind, detail, source)
            return
        # Before the bus exists (start-up checks): keep it for the console and the journal directly.
        event = FallbackEvent(time.time(), component, symbol, kind, detail, source)
        self._early_events.append(event)
        if self.journal is not None:
            self.journal.record_fallback(event)

    async def _bus_reader(self) -> None:
        """Every delivered fallback event goes to the journal and to the log (the bus has already
        coalesced storms: one line stands for `count` occurrences)."""
        while True:
            event = await self._bus_subscription.get()
            if not isinstance(event, FallbackEvent):
                continue
            if self.journal is not None:
                self.journal.record_fallback(event)
            level = logging.INFO if event.kind in (FallbackKind.ENTRY_GATE, FallbackKind.CANDLE_POLL) else logging.WARNING
            fallback_log.log(level, "%s %s", event.kind.value, kv(
                component=event.component, symbol=event.symbol or "-", source=event.source, count=event.count,
                detail=event.detail))

    # ---- ticks: exits first, then entries ----------------------------------------------------

    def _on_tick(self, inst_id: str) -> None:
        if self.manager is None:
            return
        for position in self.manager.book.for_inst(inst_id):
            if position.snapshot is not None and position.closing is None:
                try:
                    quote = self.registry.read(inst_id, Purpose.EXIT)
                except Exception:
                    continue  # the sweep reads EXIT with its bounded REST fallback
                self._check_exit(position, quote)
        self._consider_entry(inst_id)

    def _entries_open(self, inst_id: str) -> bool:
        if not self._ready or self.paused or self.flatten_halt:
            return False
        if self.leverage[inst_id].mismatch:
            return False
        allowed, _ = self.feed.entries_allowed()
        return bool(allowed) and self.daily_loss.check(time.time()).allowed

    def _consider_entry(self, inst_id: str) -> None:
        """Called for every ticker: cheapest checks first, the gates only once a signal stands."""
        if not self.auto_entries or not self._ready or self.paused or self.flatten_halt:
            return
        now = time.monotonic()
        if now < self._cooldown_until.get(inst_id, 0.0):
            return
        detector = self.detectors.get(inst_id)
        if detector is None or detector.regime is None:
            return
        book = self.manager.book
        if book.get(inst_id, "long") is not None or book.get(inst_id, "short") is not None:
            return
        for ctx in self.entries.values():
            if ctx.plan.inst_id == inst_id:
                return
        try:
            quote = self.registry.read(inst_id, Purpose.SIGNAL)
        except Exception:
            return  # the registry has already recorded the refusal
        signal = evaluate_signal(detector.decision, detector.indicators, quote, self._signal_rules)
        if signal is None or not self._entries_open(inst_id):
            return
        busy = book.inst_ids() | {c.plan.inst_id for c in self.entries.values()}
        if not check_position_limits(inst_id, busy, self.config.scalping.max_positions).allowed:
            return
        self._cooldown_until[inst_id] = now + ENTRY_COOLDOWN_S
        self._enter(signal, quote.recv_mono)  # the ticker that triggered it

    def submit_signal(self, signal: Signal) -> bool:
        """An entry from an explicit signal (tests, operator tools): every check and the same path
        as a signal from the detectors, except the signal evaluation itself. True if it went on
        to pricing (the order may still be refused there, e.g. no ORDER-fresh price)."""
        inst_id = signal.inst_id
        if not self._entries_open(inst_id):
            return False
        busy = self.manager.book.inst_ids() | {c.plan.inst_id for c in self.entries.values()}
        if not check_position_limits(inst_id, busy, self.config.scalping.max_positions).allowed:
            return False
        self._cooldown_until[inst_id] = time.monotonic() + ENTRY_COOLDOWN_S
        self._enter(signal, time.monotonic())
        return True

    def _plan(self, signal: Signal) -> EntryPlan:
        sym = symbol_of(signal.inst_id)
        regime = signal.regime
        res = {name: self.provider.resolve(name, sym, regime) for name in EXIT_PARAM_NAMES}
        for name in ("tp_sl_mode", "limit_offset_percent", "use_market_order", "entry_timeout_s", "position_multiplier"):
            res[name] = self.provider.resolve(name, sym, regime)
        state = self.leverage[signal.inst_id]
        res["leverage"] = state.resolution
        exit_params = ExitParams.from_resolutions(res["tp_sl_mode"], **{n: res[n] for n in EXIT_PARAM_NAMES})
        detector = self.detectors[signal.inst_id]
        decision = detector.decision
        return EntryPlan(
            signal=signal,
            instrument=self.instruments[signal.inst_id],
            exit_params=exit_params,
            atr=decision.atr if decision is not None else None,
            offset_percent=float(res["limit_offset_percent"].value),
            use_market_order=res["use_market_order"].value is True,
            timeout_s=float(res["entry_timeout_s"].value),
            position_multiplier=float(res["position_multiplier"].value),
            leverage=state.resolution,
            resolutions=res,
            regime_inputs=decision.inputs() if decision is not None else {},
        )

    def _enter(self, signal: Signal, trigger_mono: float) -> None:
        """Signal → priced order → sent. Synchronous up to the send (tick → order latency)."""
        inst_id = signal.inst_id
        state = self.leverage[inst_id]
        state.mismatch = leverage_mismatch(inst_id, state)  # the exchange's actual lever vs the resolution
        if state.mismatch:
            self._emit(FallbackKind.ENTRY_GATE, inst_id, state.mismatch, "none", "executor")
            return
        try:
            plan = self._plan(signal)
        except Exception as exc:
            log.error("entry not planned %s", kv(inst=inst_id, error=exc))
            return
        try:
            quote = self.registry.read(inst_id, Purpose.ORDER)
        except Exception as exc:
            self._emit(FallbackKind.STALE_REFUSED, inst_id, f"entry not sent: no ORDER-fresh price ({exc})", "none", "executor")
            return
        used = QuoteUsed(quote.source, quote.age_s, quote.budget_s, Purpose.ORDER.value, quote.bid, quote.ask)
        try:
            priced = price_entry(
                plan, used, self.registry.price_limit(inst_id),
                equity=self.equity or 0.0, available_margin=self._free_margin(),
                risk_per_trade_percent=self.config.scalping.risk_per_trade_percent,
                td_mode=self.config.scalping.margin_mode,
            )
        except EntryRefused as exc:
            log.info("entry refused %s", kv(inst=inst_id, reason=exc.reason))
            return
        pending = PendingEntry(priced, time.monotonic())
        self.entries[pending.cl_ord_id] = EntryContext(plan, pending)
        r = priced.request
        if self.on_entry_sent is not None:
            self.on_entry_sent(trigger_mono, r.cl_ord_id)
        self._spawn(self._send_entry(pending, plan), f"entry {r.cl_ord_id}")

    def _free_margin(self) -> float:
        """Available margin minus what the live entry orders will take once filled: concurrent
        entries must not each size against the whole balance."""
        reserved = 0.0
        for ctx in self.entries.values():
            r, plan = ctx.pending.priced.request, ctx.plan
            px = float(r.px) if r.px else ctx.pending.priced.quote.ask
            remaining = float(r.sz) - ctx.pending.acc_fill_sz
            reserved += max(remaining, 0.0) * px * plan.instrument.ct_val / float(plan.leverage.value)
        return max((self.available or 0.0) * MARGIN_USE - reserved, 0.0)

    def _entry_record(self, pending: PendingEntry, plan: EntryPlan, *, state: str, detail: str = "") -> OrderRecord:
        r, used, priced = pending.priced.request, pending.priced.quote, pending.priced
        return OrderRecord(
            cl_ord_id=r.cl_ord_id, inst_id=r.inst_id, side=r.side.value, ord_type=r.ord_type, sz=r.sz,
            purpose=OrderPurpose.ENTRY.value, state=state, pos_side=r.pos_side.value if r.pos_side else "",
            px=r.px, quote_source=used.source, quote_age_s=used.age_s, quote_budget_s=used.budget_s,
            ord_id=pending.ord_id, acc_fill_sz=pending.acc_fill_sz, avg_px=pending.avg_px,
            detail=detail or f"{plan.signal.reason}; tp {r.attach_tp_trigger_px} sl {r.attach_sl_trigger_px}; {priced.size.reason}",
            position_cl_ord_id=r.cl_ord_id,
        )

    async def _send_entry(self, pending: PendingEntry, plan: EntryPlan) -> None:
        """Journal the order (write-ahead: an order the exchange may hold is always in the journal
        with its quote's age), send it, then journal the reply and the resolutions. Serialising the
        resolutions costs about a millisecond, so it waits until the order is out. Order pushes that
        arrive meanwhile update `pending`; the record written after the reply carries that state."""
        assert self.rest is not None and self.journal is not None
        request = pending.priced.request
        self.journal.record_order(self._entry_record(pending, plan, state="sent"))
        try:
            ack = await self.rest.place_order(request)
        except AmbiguousOrderOutcome as exc:
            # It may be on the exchange: stay tracked (by clOrdId) so a push, the timeout's
            # cancel or the next reconciliation settles it; never assume either way.
            pending.state = "unknown"
            self.journal.record_order(self._entry_record(pending, plan, state="unknown", detail=str(exc)))
            self.journal.record_resolutions(request.cl_ord_id, [v for v in plan.resolutions.values() if v is not None])
            log.warning("entry outcome unknown %s", kv(inst=request.inst_id, clOrdId=request.cl_ord_id, error=exc))
            return
        except OkxError as exc:
            self.entries.pop(pending.cl_ord_id, None)
            detail = f"sCode {exc.s_code} {exc.s_msg}" if isinstance(exc, OrderRejected) else str(exc)
            self.journal.record_order(self._entry_record(pending, plan, state="rejected", detail=detail))
            self.journal.record_resolutions(request.cl_ord_id, [v for v in plan.resolutions.values() if v is not None])
            log.warning("entry rejected %s", kv(inst=request.inst_id, clOrdId=request.cl_ord_id, detail=detail))
            return
        if not pending.ord_id:
            pending.ord_id = ack.ord_id
        state = pending.state if pending.state != "live" or pending.acc_fill_sz else "live"
        self.journal.record_order(self._entry_record(pending, plan, state=state))
        self.journal.record_resolutions(request.cl_ord_id, [v for v in plan.resolutions.values() if v is not None])
        log.info("entry sent %s", pending.describe())

    async def _entry_timeouts(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            for ctx in list(self.entries.values()):
                p = ctx.pending
                if (p.ord_id or p.state == "unknown") and not p.cancel_requested and p.expired(now):
                    p.cancel_requested = True
                    self._spawn(self._cancel_entry(p, "unfilled after timeout"), f"cancel {p.cl_ord_id}")

    async def _cancel_entry(self, pending: PendingEntry, why: str) -> None:
        assert self.rest is not None
        try:
            await self.rest.cancel_order(pending.inst_id, ord_id=pending.ord_id or None, cl_ord_id=None if pending.ord_id else pending.cl_ord_id)
            log.info("entry cancel requested %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, why=why, filled=pending.acc_fill_sz))
        except OkxError as exc:
            log.info("entry cancel refused %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, error=exc))
            # A final state will arrive on the orders channel (or the next reconcile will fetch it),
            # except for an order whose placement was never confirmed: ask the exchange.
            if pending.state == "unknown":
                await self._settle_unknown_entry(pending)

    async def _settle_unknown_entry(self, pending: PendingEntry) -> None:
        assert self.rest is not None and self.journal is not None
        try:
            order = await self.rest.get_order(pending.inst_id, cl_ord_id=pending.cl_ord_id)
        except OkxError as exc:
            pending.cancel_requested = False  # try again at the next timeout tick
            log.warning("entry still unknown %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id, error=exc))
            return
        if order is not None:
            await self._on_entry_order(order)
            return
        self.entries.pop(pending.cl_ord_id, None)
        self.journal.update_order(pending.cl_ord_id, state="not_placed", detail="the exchange has no such order")
        log.info("entry was never placed %s", kv(inst=pending.inst_id, clOrdId=pending.cl_ord_id))

    async def _cancel_entries(self, why: str) -> None:
        for ctx in list(self.entries.values()):
            ctx.pending.cancel_requested = True
            await self._cancel_entry(ctx.pending, why)

    # ---- private events (in order) -----------------------------------------------------------

    async def _private_loop(self) -> None:
        assert self._private_queue is not None
        while True:
            push = await self._private_queue.get()
            try:
                await self._handle_private(push)
            except Exception:
                log.exception("private event handling failed %s", kv(channel=getattr(push, "channel", "?")))

    async def _handle_private(self, push: Any) -> None:
        channel = push.channel
        for item in push.items:
            if channel == "orders" and isinstance(item, Order):
                await self._on_order(item)
            elif channel == "positions" and isinstance(item, Position):
                self._on_position_push(item)
            elif channel == "account" and hasattr(item, "total_eq"):
                self.equity = item.total_eq
                self.available = getattr(item, "avail_eq", self.available)

    async def _on_order(self, order: Order) -> None:
        assert self.journal is not None and self.manager is not None
        if order.fill_sz > 0 and order.fill_px is not None:
            self.journal.record_fill(
                Fill(order.inst_id, order.trade_id, order.ord_id, order.cl_ord_id, order.side, order.pos_side,
                     order.fill_px, order.fill_sz, order.fee, "", order.u_time_ms)
            )
        if order.cl_ord_id in self.entries:
            await self._on_entry_order(order)
            return
        if order.reduce_only or order.cl_ord_id.startswith(CL_ORD_PREFIX_EXIT) or order.tag == EXIT_TAG or (
            self.manager.book.get(order.inst_id, order.pos_side.value) is not None and order.side is close_side_for(order.pos_side)
        ):
            if order.acc_fill_sz > 0:
                self.manager.on_close_fill(order)
            if order.cl_ord_id:  # a no-op for orders the journal does not know (attached TP/SL closes)
                self.journal.update_order(order.cl_ord_id, state=order.state, ord_id=order.ord_id,
                                          acc_fill_sz=order.acc_fill_sz, avg_px=order.avg_px)

    async def _on_entry_order(self, order: Order) -> None:
        assert self.journal is not None and self.manager is not None
        ctx = self.entries.get(order.cl_ord_id)
        if ctx is None:
            return
        pending = ctx.pending
        pending.ord_id = pending.ord_id or order.ord_id
        pending.state = order.state
        if order.acc_fill_sz > pending.acc_fill_sz and order.avg_px:
            pending.acc_fill_sz = order.acc_fill_sz
            pending.avg_px = order.avg_px
            plan = ctx.plan
            if self._pause_after_fill_s > 0:  # test hook (soak): a window to kill -9 in
                log.info("fill received, snapshot pending %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id))
                await asyncio.sleep(self._pause_after_fill_s)
            # Durable snapshot first: nothing else happens for this position until it is committed.
            await self.manager.snapshot_entry_fill(
                order=order, regime=plan.signal.regime, exit_params=plan.exit_params, instrument=plan.instrument,
                atr=plan.atr, leverage=plan.leverage, regime_inputs=plan.regime_inputs, signal_reason=plan.signal.reason,
            )
            pending.snapshot_written = True
        self.journal.update_order(order.cl_ord_id, state=order.state, ord_id=order.ord_id,
                                  acc_fill_sz=order.acc_fill_sz, avg_px=order.avg_px,
                                  detail=f"cancelSource {order.cancel_source}" if order.state == "canceled" else None)
        if order.state in ORDER_STATES_FINAL:
            self.entries.pop(order.cl_ord_id, None)
            self._cooldown_until[order.inst_id] = time.monotonic() + ENTRY_COOLDOWN_S
            if order.state != "filled":
                log.info("entry ended %s", kv(inst=order.inst_id, clOrdId=order.cl_ord_id, state=order.state,
                                              filled=order.acc_fill_sz, cancel_source=order.cancel_source or "-"))

    def _on_position_push(self, p: Position) -> None:
        assert self.manager is not None
        state = self.leverage.get(p.inst_id)
        if state is not None and p.lever is not None and p.pos != 0:
            state.exchange_lever, state.reported_by = p.lever, "positions"
        known = self.manager.book.get(p.inst_id, p.pos_side.value)
        if known is None:
            if p.pos != 0 and p.inst_id in self.instruments and not any(
                c.plan.inst_id == p.inst_id for c in self.entries.values()
            ):
                # A position the engine did not open, appearing while it runs.
                self._spawn(self._adopt_unknown(p), f"orphan {p.inst_id}")
            return
        flat = self.manager.on_position(p)
        if flat is not None:
            self._spawn(self._finish_flat(flat), f"closed {p.inst_id}")

    async def _adopt_unknown(self, p: Position) -> None:
        if self.reconciler is not None and self.manager is not None and self.manager.book.get(p.inst_id, p.pos_side.value) is None:
            await self.reconciler.run(f"unknown position {p.inst_id}/{p.pos_side.value}")

    async def _finish_flat(self, position: ManagedPosition) -> None:
        """A managed position went flat: give the closing fill a moment to arrive, journal the
        close, cancel any stop left for it (a stale reduce-only stop could hit a later position)."""
        assert self.manager is not None and self.rest is not None
        if position.key not in self.manager.book.positions:
            return
        if position.last_close_fill_px is None:
            await asyncio.sleep(CLOSE_FILL_WAIT_S)
        if self.manager.book.positions.get(position.key) is not position:
            return
        if position.last_close_fill_px is None and position.snapshot is not None and self.reconciler is not None:
            position.last_close_fill_px = await self.reconciler.closing_fill_px(position.snapshot)
        self.manager.finish_close(position)
        await self._cancel_stops(position)

    async def _cancel_stops(self, position: ManagedPosition) -> None:
        assert self.rest is not None
        try:
            algos = await self.rest.algo_orders_pending(position.inst_id)  # conditional and oco
        except OkxError as exc:
            log.warning("stops after close not listed %s", kv(inst=position.inst_id, error=exc))
            return
        ids = [(a.inst_id, a.algo_id) for a in algos if a.pos_side is position.pos_side]
        if ids:
            with contextlib.suppress(OkxError):
                await self.rest.cancel_algo_orders(ids)
            log.info("stops cancelled after close %s", kv(inst=position.inst_id, side=position.pos_side.value, count=len(ids)))

    def _on_position_closed(self, position: ManagedPosition, reason: str, px: float | None, pnl: float | None) -> None:
        self._cooldown_until[position.inst_id] = time.monotonic() + ENTRY_COOLDOWN_S
        if pnl is not None:
            self.daily_loss.record_realised(pnl, time.time())

    # ---- exits -------------------------------------------------------------------------------

    def _check_exit(self, position: ManagedPosition, quote: Any) -> None:
        snap = position.snapshot
        if snap is None or position.closing is not None:
            return
        decision = exit_decision(snap, quote)
        if decision is None:
            return
        self._start_close(position, decision.kind.value, decision.reason, OrderPurpose.EXIT,
                          quote=(quote.source, quote.age_s, quote.budget_s), decided_px=decision.observed_px)

    def _start_close(
        self, position: ManagedPosition, reason: str, detail: str, purpose: OrderPurpose,
        *, quote: tuple[str, float, float] | None = None, decided_px: float | None = None,
    ) -> None:
        cl = prefixed_cl_ord_id(CL_ORD_PREFIX_EXIT)
        position.closing = CloseRequest(reason, detail, cl, time.monotonic(), decided_px)
        src, age, budget = quote if quote is not None else (None, None, None)
        recorded = self.journal.record_order(exit_order_record(position, cl, purpose, quote_source=src,
                                                               quote_age_s=age, quote_budget_s=budget, detail=detail))
        log.info("closing %s", kv(inst=position.inst_id, side=position.pos_side.value, reason=reason, detail=detail))
        self._spawn(self._send_close(position, cl, recorded), f"close {position.inst_id}")

    async def _send_close(
        self, position: ManagedPosition, cl: str, recorded: concurrent.futures.Future[None]
    ) -> None:
        assert self.rest is not None and self.journal is not None
        # A close is not latency-critical: its journal row is committed before the exchange can see
        # it, so a kill -9 right after the exchange accepts it never leaves an order we don't know.
        await asyncio.wrap_future(recorded)
        try:
            await self.rest.close_position(position.inst_id, self.config.scalping.margin_mode, position.pos_side.value,
                                           cl_ord_id=cl, tag=EXIT_TAG)
        except OkxError as exc:
            self.journal.update_order(cl, state="rejected", detail=str(exc))
            gone = position.key not in self.manager.book.positions or position.last_close_fill_px is not None
            (log.info if gone else log.warning)(
                "close refused %s", kv(inst=position.inst_id, side=position.pos_side.value, error=exc,
                                       already_closed_on_exchange=gone))
            if isinstance(exc, RequestError) and exc.code == CODE_POSITION_NOT_FOUND:
                # The exchange has no such position: something closed it (its attached TP/SL, most
                # likely) and the push saying so is late or was lost. Never retry blindly: give the
                # push a moment, then let reconciliation settle it from REST.
                await asyncio.sleep(CLOSE_FILL_WAIT_S)
                if position.key in self.manager.book.positions and self.reconciler is not None:
                    await self.reconciler.run(f"close refused, no position {position.inst_id}/{position.pos_side.value}")
            else:
                await asyncio.sleep(CLOSE_RETRY_S)
            if position.closing is not None and position.closing.cl_ord_id == cl:
                position.closing = None  # decide again on the next fresh quote
            return
        self.journal.update_order(cl, state="live")

    async def _exit_sweep(self) -> None:
        """Positions are also checked on a timer with the EXIT read that may fall back to REST
        (bounded by the registry): a silent WebSocket does not leave a position unwatched."""
        while True:
            await asyncio.sleep(EXIT_SWEEP_S)
            for position in list(self.manager.book.positions.values()):
                if position.snapshot is None or position.closing is not None:
                    continue
                try:
                    quote = await self.registry.read_exit(position.inst_id)
                except Exception:
                    continue  # refusal recorded by the registry
                self._check_exit(position, quote)

    async def close_position(self, inst_id: str, side: str, reason: str, detail: str) -> bool:
        position = self.manager.book.get(inst_id_of(inst_id), side) if self.manager else None
        if position is None or position.closing is not None:
            return False
        purpose = OrderPurpose.FLATTEN if reason == CloseReason.FLATTEN else OrderPurpose.CLOSE
        self._start_close(position, reason, detail, purpose)
        return True

    async def flatten(self) -> None:
        """Cancel every open entry order, close every position reduce-only; entries stay halted."""
        assert self.rest is not None and self.manager is not None
        self.flatten_halt = True
        await self._cancel_entries("flatten")
        try:
            # Everything still open on our instruments, tracked entries included: a cancel sent
            # before the order reached the exchange (51400) must not leave it working.
            for order in await self.rest.orders_pending():
                if order.inst_id in self.instruments:
                    with contextlib.suppress(OkxError):
                        await self.rest.cancel_order(order.inst_id, ord_id=order.ord_id)
        except OkxError as exc:
            log.warning("flatten: listing open orders failed %s", kv(error=exc))
        for position in list(self.manager.book.positions.values()):
            await self.close_position(position.inst_id, position.pos_side.value, CloseReason.FLATTEN, "flatten all")
        log.info("flatten requested %s", kv(positions=len(self.manager.book.positions)))
