"""The Engine: one object that owns every task of a trading process, and the console's view of it.

It wires the parts and runs them; the rules live in the parts:
- `supervisor.py` — the only place that says why entries are closed (every halt reason);
- `entries.py` — the entry lifecycle (tick → order, timeouts, fills → snapshot);
- `closes.py` — exits, closes, a flat position's finish, flatten;
- `private_events.py` — the private stream in order (orders, positions, account);
- `account.py` — position mode, balance, today's P&L; `leverage.py` — leverage per symbol;
- `reconcile.py` — journal + exchange at start-up and after every private reconnect;
- `housekeeping.py` — balance, positions check, instruments and leverage read-back on timers;
- `regime_tracker.py` — each symbol's current regime; `console_view.py` — the console's view.

Start-up, in order (entries stay closed until the end):
1. REST client, journal, parameter provider; instruments of the configured symbols.
2. Account position mode: long/short is required (account.py).
3. Balance and today's P&L; leverage per symbol (resolved, set, read back).
4. Reconciliation: journal + exchange positions + open orders (reconcile.py).
5. Regime warm-up from REST candle history, then the feed (FeedCoordinator: three WebSocket
   connections, watchdog, entry gate). Every private reconnect re-runs reconciliation.

`run()` runs until cancelled; on cancellation it cancels its unfilled entry orders, stops every
task and closes the client and the journal. Positions stay on the exchange with their attached
stop-loss.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from okxscalp.clock import Clock, LiveClock
from okxscalp.config import ParameterProvider
from okxscalp.config.chains import Resolution
from okxscalp.config.schema import AppConfig
from okxscalp.engine.account import Account, EngineStartError, ensure_position_mode
from okxscalp.engine.closes import CloseLifecycle
from okxscalp.engine.console_view import build_snapshot
from okxscalp.engine.entries import EntryContext, EntryLifecycle
from okxscalp.engine.entry_reads import EntryReadWatch
from okxscalp.engine.executor import ClOrdIds, LeverageState
from okxscalp.engine.funding import FundingWatch
from okxscalp.engine.housekeeping import Housekeeper
from okxscalp.engine.journal_watch import WatchedJournal
from okxscalp.engine.leverage import LeverageKeeper
from okxscalp.engine.notices import NoticeBoard
from okxscalp.engine.order_board import OrderBoard
from okxscalp.engine.order_route import TRADE_CONNECTION, OrderRoute, OrderTransport
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import CloseReason, PositionManager
from okxscalp.engine.private_events import PrivateEventRouter
from okxscalp.engine.reconcile import Reconciler
from okxscalp.engine.regime import RegimeDetector
from okxscalp.engine.regime_tracker import RegimeTracker
from okxscalp.engine.signals import Signal
from okxscalp.engine.supervisor import EntrySupervisor, Halt
from okxscalp.engine.trade_history import TradeHistory
from okxscalp.engine.views import EngineSnapshot
from okxscalp.logging_setup import kv
from okxscalp.market.bus import EventBus
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.market.exchange_clock import ExchangeClock
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.recorder import MarketRecorder, RecorderSettings
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.auth import Credentials
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import Instrument, inst_id_of, symbol_of
from okxscalp.okx.rest import RestClient
from okxscalp.okx.transport import client_session
from okxscalp.okx.ws import ConnectGate
from okxscalp.okx.ws_trade import WsTradeChannel, WsTradeSettings

if TYPE_CHECKING:
    from okxscalp.metrics.server import MetricsAddress, MetricsServer

__all__ = ["Engine", "EngineNotRunning", "EngineStartError", "ExchangeEndpoints"]

log = logging.getLogger(__name__)
fallback_log = logging.getLogger("okxscalp.fallback")

SHUTDOWN_CANCEL_TIMEOUT_S = 3.0
STARTUP_RECONCILE_RETRY_S = 1.0
STARTUP_RECONCILE_RETRY_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class ExchangeEndpoints:
    rest_url: str
    ws_url: str  # base: /ws/v5/public|private|business are appended
    credentials: Credentials
    mode: str = "SIM"  # SIM | DEMO | LIVE (console header)
    demo: bool = False
    # A backtest's simulator: every REST and WebSocket connection goes to this Unix socket instead
    # of TCP to the URLs' host (okx/transport.py). None: TCP.
    unix_socket: str | None = None


class EngineNotRunning(RuntimeError):
    """An operator action on an engine whose run() has ended (failed or stopped)."""


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
        metrics: MetricsAddress | None = None,
        record: RecorderSettings | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        # Every time read, wait for the journal thread and clOrdId of this engine goes through this
        # one clock: the OS clocks live, a VirtualTimeEventLoop's simulated time in a backtest.
        self.clock: Clock = clock if clock is not None else LiveClock()
        # Seeds the clients' backoff jitter (a backtest: the same run, the same delays); None is
        # live: each client draws from its own unseeded generator.
        self.seed = seed
        self.cl_ord_ids = ClOrdIds(self.clock)
        self.config = config
        self.auto_entries = auto_entries
        self.endpoints = endpoints
        self.journal_path = journal_path or config.journal_path
        self.provider = ParameterProvider(config)
        self.inst_ids = tuple(inst_id_of(s) for s in config.symbols)
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None  # made here (a Unix socket's), closed at shutdown
        self.rest: RestClient | None = None
        self.journal: WatchedJournal | None = None
        self.manager: PositionManager | None = None
        self.reconciler: Reconciler | None = None
        self.feed: FeedCoordinator | None = None
        self.registry: DataRegistry | None = None
        self.bus: EventBus | None = None
        self.account: Account | None = None
        self.entry_flow: EntryLifecycle | None = None
        self.close_flow: CloseLifecycle | None = None
        self.private_events: PrivateEventRouter | None = None
        self.housekeeper: Housekeeper | None = None
        self.entry_reads: EntryReadWatch | None = None  # SIGNAL/ORDER reads every second per symbol
        self.trade_channel: WsTradeChannel | None = None  # the WebSocket trade channel (order_entry.transport ws)
        self.order_route: OrderRoute | None = None
        self._connect_gate = ConnectGate(clock=self.clock.mono_s)  # one per process: every WebSocket dial (feed, trade channel) passes it
        # The console's orders, trades and notices: kept in memory from what the engine writes and
        # does (journal_watch.py), never queried from the journal per snapshot.
        self.notices = NoticeBoard(clock=self.clock.wall_s)
        self.orders = OrderBoard(self.notices, clock=self.clock.wall_s)
        self.trade_history: TradeHistory | None = None
        self.instruments: dict[str, Instrument] = {}
        self.detectors: dict[str, RegimeDetector] = {}
        self.regimes = RegimeTracker(config.scalping.regime, config.scalping.signals, self.detectors)
        self.started = asyncio.Event()  # set once start-up is complete and entries may open
        self.early_events: list[FallbackEvent] = []
        self.exchange_clock: ExchangeClock | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        # tick → order latency probe (bench): (trigger ticker recv_mono, clOrdId), called as the send starts
        self.on_entry_sent: Callable[[float, str], None] | None = None
        self.ended: str | None = None  # why run() ended (failed or stopped); actions refuse after it
        # Prometheus /metrics on this engine's loop while run() runs (okxscalp/metrics); None: not served.
        self.metrics_address = metrics
        self.metrics_server: MetricsServer | None = None
        # `--record DIR`: the public market data the feed delivers, written off the hot path (market/recorder.py).
        self.recorder = MarketRecorder(record) if record is not None else None
        self.supervisor = EntrySupervisor(self._emit, wall_clock=self.clock.wall_s)
        self.supervisor.set(Halt.STARTING, "starting")
        # Account-wide settings, resolved once with their key paths (config explain shows them).
        self.account_settings = self.provider.account_settings()
        self.leverage_keeper = LeverageKeeper(self.inst_ids, self.provider, self.supervisor, self.account_settings.margin_mode)

    # ---- construction helpers ----------------------------------------------------------------

    @classmethod
    def for_sim(cls, config: AppConfig, server: Any, journal_path: str | None = None, **kw: Any) -> Engine:
        """An engine against a started SimServer (tests, screenshots, bench)."""
        sim = config.exchange.sim
        creds = Credentials(sim.api_key, sim.api_secret, sim.passphrase)
        endpoints = ExchangeEndpoints(server.rest_url, server.ws_url, creds, mode="SIM", unix_socket=server.unix_socket)
        return cls(config, endpoints, journal_path=journal_path, **kw)

    # ---- state the tests and tools read ------------------------------------------------------

    @property
    def entries(self) -> dict[str, EntryContext]:
        return self.entry_flow.entries if self.entry_flow is not None else {}

    @property
    def leverage(self) -> dict[str, LeverageState]:
        return self.leverage_keeper.states

    @property
    def equity(self) -> float | None:
        return self.account.equity if self.account is not None else None

    async def refresh_leverage(self) -> None:
        await self.leverage_keeper.refresh()

    def submit_signal(self, signal: Signal) -> bool:
        if self.entry_flow is None:
            return False
        return self.entry_flow.submit_signal(signal)

    async def close_position(self, inst_id: str, side: str, reason: str, detail: str) -> bool:
        if self.close_flow is None:
            return False
        return await self.close_flow.close_position(inst_id, side, reason, detail)

    async def flatten(self) -> None:
        self.supervisor.set(Halt.FLATTEN, "flatten: halted until resumed")
        if self.close_flow is not None:
            await self.close_flow.flatten()

    # ---- EngineControl -----------------------------------------------------------------------

    def explain(self, symbol: str, regime: str) -> list[Any]:
        """Every parameter of `symbol` (config form or instId) in `regime`: value, source, chain.
        Leverage is explained with what the exchange last reported for it."""
        inst_id = inst_id_of(symbol_of(symbol))
        state = self.leverage.get(inst_id)
        resolution = None
        if state is not None:
            resolution = state.resolution or Resolution("leverage", None, "", (), note=state.mismatch or "not resolved yet")
        return list(self.provider.explain(symbol_of(symbol), regime, instrument=self.instruments.get(inst_id), leverage=resolution))

    def pause_entries(self) -> None:
        self._require_running()
        self.supervisor.set(Halt.OPERATOR_PAUSE, "paused by operator")

    def resume_entries(self) -> None:
        self._require_running()
        self.supervisor.clear(Halt.OPERATOR_PAUSE, why="resumed by the operator")
        self.supervisor.clear(Halt.FLATTEN, why="resumed by the operator")
        self.supervisor.clear(Halt.INTERNAL, why="resumed by the operator")
        self._emit(FallbackKind.ENTRY_GATE, "", "entries resumed by the operator", "operator")

    def request_reconnect(self, connection: str | None) -> None:
        """Reconnect one connection by its console name (the feed's public | business | private, or
        `trade`: the WebSocket trade channel), or with None all of them."""
        self._require_running()
        if connection in (None, TRADE_CONNECTION) and self.trade_channel is not None:
            self._emit(FallbackKind.FORCED_RECONNECT, "", "reconnect: operator request", "reconnect", "ws." + TRADE_CONNECTION)
            self.trade_channel.request_reconnect("operator request")
        if connection == TRADE_CONNECTION:
            if self.trade_channel is None:
                raise ValueError("no trade channel to reconnect (order_entry.transport: rest)")
            return
        if self.feed is not None:
            self.feed.request_reconnect(connection)

    def request_flatten(self) -> None:
        self._require_running()
        self.supervisor.set(Halt.FLATTEN, "flatten: halted until resumed")
        if self.close_flow is not None:  # before start-up there is nothing to close
            self._spawn(self.close_flow.flatten(), "flatten")

    def request_close(self, inst_id: str, side: str) -> None:
        self._require_running()
        if self.close_flow is None:
            return
        self._spawn(self.close_flow.close_position(inst_id, side, CloseReason.OPERATOR, "operator close"), f"close {inst_id}")

    def _require_running(self) -> None:
        if self.ended is not None:
            raise EngineNotRunning(f"engine not running ({self.ended}): restart okxscalp; positions stay on the exchange with their stop-loss")

    def halt_reasons(self) -> tuple[str, ...]:
        return self.supervisor.reasons()

    def snapshot(self) -> EngineSnapshot:
        return build_snapshot(self)

    # ---- run ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (or until a task fails, which is raised)."""
        try:
            if self.metrics_address is not None:  # first: start-up (and its halts) is observable too
                from okxscalp.metrics.server import MetricsServer

                self.metrics_server = MetricsServer(self, self.metrics_address)
                await self.metrics_server.start()
            await self._start()
            await self._supervise()
        except asyncio.CancelledError:
            self.ended = "stopped"
            raise
        except BaseException as exc:
            self.ended = f"failed: {exc!r}"
            raise
        finally:
            self.ended = self.ended or "stopped"
            try:
                await self._shutdown()
            finally:
                if self.metrics_server is not None:
                    await self.metrics_server.stop()

    async def _start(self) -> None:
        cfg = self.config
        creds = self.endpoints.credentials
        clock = self.clock
        if self._session is None and self.endpoints.unix_socket is not None:
            self._session = self._own_session = client_session(self.endpoints.unix_socket)
        self.rest = RestClient(self.endpoints.rest_url, creds, cfg.rest, demo=self.endpoints.demo, session=self._session,
                               wall_clock=clock.wall_s, mono_clock=clock.mono_s, rng=self._rng("rest"))
        loop = asyncio.get_running_loop()
        self.journal = WatchedJournal(
            self.journal_path, redact=(creds.secret, creds.passphrase, creds.api_key),
            # Called on the writer thread: the halt is already in force (the probe reads
            # `write_failure` before every order); this makes its event immediate.
            on_write_failure_change=lambda _failure: loop.call_soon_threadsafe(self.supervisor.poll),
            clock=clock,
        )
        journal = self.journal
        if journal.recovered_intents or journal.unreadable_intents:  # a kill -9 between an entry's frame and its row
            self._emit(FallbackKind.SAFETY, "", (
                f"journal: {len(journal.recovered_intents)} entry order(s) recovered from the pre-send intent log "
                f"({', '.join(journal.recovered_intents[:5]) or '-'}; {journal.unreadable_intents} unreadable line(s)): "
                "journaled as sent, settled with the exchange by clOrdId at reconciliation"), "journal", "journal")
        self.supervisor.add_probe(Halt.JOURNAL, lambda: (journal.write_failure,) if journal.write_failure else ())
        # Ages are in the exchange's time, from a clock measured on /public/time round trips
        # (market/exchange_clock.py); a failure to measure it is a halt reason, never a guess.
        self.exchange_clock = ExchangeClock.from_settings(self.rest.server_time, cfg.freshness,
                                                          mono=clock.mono_s, wall=clock.wall_s)
        await self.exchange_clock.start()
        instruments = {i.inst_id: i for i in await self.rest.instruments()}
        missing = [i for i in self.inst_ids if i not in instruments]
        if missing:
            raise EngineStartError(f"configured symbols not listed by the exchange: {', '.join(missing)}")
        self.instruments.update((i, instruments[i]) for i in self.inst_ids)
        self._build_parts()
        assert self.trade_history is not None
        await self.trade_history.load(journal)  # before reconciliation, which may close positions
        assert self.private_events is not None and self.private_events.funding is not None
        # What the journal holds of each position's funding: a settlement made while the engine was
        # down is the difference from the exchange's total at the next positions push.
        self.private_events.funding.load(await asyncio.to_thread(journal.funding))
        # Probe halts are events, journaled and logged as they happen, from now on (start-up
        # included), not only once trading starts.
        self._tasks.append(asyncio.create_task(self.supervisor.watch(), name="halt-watch"))
        self._tasks.append(asyncio.create_task(self._bus_reader(), name="bus-reader"))
        self.housekeeper.check_instruments()
        await ensure_position_mode(self.rest, self.endpoints.mode)
        assert self.account is not None
        await self.account.refresh()
        self.leverage_keeper.bind(self.rest, self.instruments, self._emit)
        for inst_id in self.inst_ids:
            await self.leverage_keeper.prepare(inst_id)
        await self._reconcile_at_startup()
        self._build_feed()
        await self.regimes.warm_up(self.rest, self.inst_ids,
                                   on_history=None if self.recorder is None else self.recorder.record_warmup)
        if self.trade_channel is not None:
            await self.trade_channel.start()
        if self.recorder is not None:
            self.recorder.start()
            self._tasks.append(asyncio.create_task(self.recorder.report_periodically(self._emit), name="recorder-report"))
        await self.feed.start()
        assert self.entry_flow is not None and self.close_flow is not None and self.private_events is not None
        self._tasks += [
            asyncio.create_task(self.private_events.run(), name="private-events"),
            asyncio.create_task(self.close_flow.sweep(), name="exit-sweep"),
            asyncio.create_task(self.entry_flow.watch_timeouts(), name="entry-timeouts"),
            asyncio.create_task(self.housekeeper.run(), name="housekeeping"),
        ]
        if self.auto_entries:  # the engine decides entries itself: a silent symbol is on record as refused reads
            assert self.registry is not None
            self.entry_reads = EntryReadWatch(self.registry, self.inst_ids, self.clock)
            self._tasks.append(asyncio.create_task(self.entry_reads.run(), name="entry-reads"))
        self.supervisor.clear(Halt.STARTING, why="start-up complete")
        self.started.set()
        if self.supervisor.is_set(Halt.FLATTEN):  # requested while starting: carried out now
            self._spawn(self.close_flow.flatten(), "flatten")
        log.info("engine started %s", kv(mode=self.endpoints.mode, symbols=",".join(self.inst_ids), journal=self.journal_path))

    async def _reconcile_at_startup(self) -> None:
        """Start-up reconciliation, retried with backoff while the STARTING reason says why: a
        passing exchange error (429, 50013, a dropped reply) must not end the process."""
        assert self.reconciler is not None
        delay = STARTUP_RECONCILE_RETRY_S
        while True:
            try:
                await self.reconciler.run("startup")
                break
            except (OkxError, aiohttp.ClientError, TimeoutError) as exc:
                why = f"starting: reconciliation failed ({exc}), retrying in {delay:g}s"
                log.warning("startup reconcile failed %s", kv(error=exc, retry_s=delay))
                self.supervisor.set(Halt.STARTING, why)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STARTUP_RECONCILE_RETRY_MAX_S)
        self.supervisor.set(Halt.STARTING, "starting")

    def _build_parts(self) -> None:
        """Market data (bus, registry), account, positions and the lifecycles that share them."""
        assert self.rest is not None and self.journal is not None
        cfg = self.config
        clock = self.clock
        self.bus = EventBus(clock=clock.mono_s, wall_clock=clock.wall_s)
        assert self.exchange_clock is not None
        self.exchange_clock.bus = self.bus
        self._bus_subscription = self.bus.subscribe("engine-journal")
        for event in self.early_events:
            self.journal.record_fallback(event)
        self.registry = DataRegistry(cfg.freshness, self.bus, self.rest.ticker, inst_ids=self.inst_ids,
                                     exchange_clock=self.exchange_clock, clock=clock.mono_s)
        self.regimes.registry = self.registry
        self.manager = PositionManager(self.journal, lambda inst: self.instruments[inst].ct_val, wall_clock=clock.wall_s)
        self.account = Account(
            self.rest, self.journal, self.supervisor, cfg.scalping.daily_loss_limit_percent,
            emit=self._emit, ct_val_of=lambda inst_id: self.instruments[inst_id].ct_val, clock=clock.wall_s,
        )
        self.order_route = self._build_order_route()
        parts = EngineParts(
            config=cfg, provider=self.provider, rest=self.rest, orders=self.order_route, journal=self.journal, manager=self.manager,
            registry=self.registry, instruments=self.instruments, detectors=self.detectors, supervisor=self.supervisor,
            account=self.account, leverage=self.leverage_keeper, spawn=self._spawn, emit=self._emit,
            account_settings=self.account_settings, notices=self.notices, clock=clock, cl_ord_ids=self.cl_ord_ids,
        )
        self.entry_flow = EntryLifecycle(parts, auto_entries=self.auto_entries)
        self.entry_flow.on_entry_sent = self.on_entry_sent
        self.reconciler = Reconciler(
            self.rest, self.journal, self.manager, self.instruments, self.account_settings,
            tracked_entries=self.entry_flow.tracked, on_entry_order=self.entry_flow.on_order,
            supervisor=self.supervisor, spawn=self._spawn, clock=clock, cl_ord_ids=self.cl_ord_ids,
        )
        reconciler = self.reconciler
        self.close_flow = CloseLifecycle(parts, self.entry_flow, reconcile=reconciler.run, closing_fill_px=reconciler.closing_fill_px)
        self.manager.on_closed.append(self.close_flow.on_position_closed)
        self.trade_history = TradeHistory(self.notices, self.manager.worst_case_pnl, clock=clock.wall_s)
        self.journal.watchers += [self.orders, self.trade_history]
        self.manager.on_closed.append(self.trade_history.on_closed)
        self.manager.on_closed.append(lambda position, reason, _px, _pnl: self.orders.position_closed(position, reason))
        self.close_flow.pnl.exit_found.append(self.trade_history.on_exit_found)
        reconciler.exit_lookup_started = self.close_flow.pnl.lookup_started
        reconciler.exit_lookup_ended = self.close_flow.pnl.lookup_ended
        self.private_events = PrivateEventRouter(parts, self.entry_flow, self.close_flow, reconcile=reconciler.run)
        self.private_events.funding = FundingWatch(self.journal, self.notices, parts.event, parts.account.record_realised,
                                                   [self.trade_history.funding_recorded])
        self.housekeeper = Housekeeper(parts, reconciler, self.leverage_keeper, self.inst_ids)

    async def _supervise(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
        raise RuntimeError("engine tasks ended unexpectedly: " + ", ".join(t.get_name() for t in done))

    async def _shutdown(self) -> None:
        self.supervisor.set(Halt.STOPPED, "engine stopped")
        if self.entry_flow is not None and self.entry_flow.entries:
            try:
                await asyncio.wait_for(self.entry_flow.cancel_all("shutdown"), SHUTDOWN_CANCEL_TIMEOUT_S)
            except (TimeoutError, OkxError, aiohttp.ClientError) as exc:
                log.warning("shutdown: entry orders not all cancelled %s", kv(error=repr(exc), left=len(self.entries)))
        tasks = [t for t in self._tasks + list(self._side_tasks) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.trade_channel is not None:  # after the entries' cancels, which may use it
            try:
                await self.trade_channel.stop()
            except Exception as exc:  # shutting down: say so and go on closing the rest
                log.warning("shutdown: trade channel did not stop cleanly %s", kv(error=repr(exc)))
        if self.feed is not None:
            try:
                await self.feed.stop()
            except Exception as exc:  # shutting down: say so and go on closing the rest
                log.warning("shutdown: feed did not stop cleanly %s", kv(error=repr(exc)))
        if self.recorder is not None:  # after the feed: all it delivered is written, the file closed
            await asyncio.to_thread(self.recorder.stop)
        if self.rest is not None:
            await self.rest.close()
        if self._own_session is not None:
            await self._own_session.close()
            self._session = self._own_session = None
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
            exc = task.exception()
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
            why = f"engine task '{task.get_name()}' failed ({exc!r}): check its position/orders, then resume"
            self._emit(FallbackKind.SAFETY, "", why, "none")
            if self.ended is None:
                self.supervisor.set(Halt.INTERNAL, why)

    # ---- orders ------------------------------------------------------------------------------

    def _build_order_route(self) -> OrderRoute:
        """The trade channel (same credentials and REST budgets as the REST client) when the config
        asks for WebSocket order entry, and the route every order takes (order_route.py)."""
        assert self.rest is not None
        settings = self.config.order_entry
        if settings.transport == OrderTransport.WS.value:
            ws = self.config.websocket
            self.trade_channel = WsTradeChannel(
                self.endpoints.ws_url, self.endpoints.credentials, self.rest, connect_gate=self._connect_gate,
                unix_socket=self.endpoints.unix_socket,
                settings=WsTradeSettings(connect_timeout_s=ws.connect_timeout_s, pong_timeout_s=ws.pong_timeout_s,
                                         backoff=ws.backoff),
                rng=self._rng("ws-trade"), clock=self.clock.mono_s, wall_clock=self.clock.wall_s,
            )
        route = OrderRoute(self.rest, self.trade_channel, settings, self._emit, wall_clock=self.clock.wall_s)
        self.supervisor.add_probe(Halt.TRADE_CHANNEL, route.entry_route_closed)
        return route

    # ---- feed --------------------------------------------------------------------------------

    def _build_feed(self) -> None:
        assert self.rest is not None and self.registry is not None and self.private_events is not None
        cfg = self.config
        self.feed = FeedCoordinator(
            FeedUrls.from_base(self.endpoints.ws_url, self.endpoints.unix_socket),
            self.registry,
            inst_ids=self.inst_ids,
            settings=cfg.websocket,
            bars=(cfg.scalping.regime.bar,),
            credentials=self.endpoints.credentials,
            bus=self.bus,
            fetch_candles=self.rest.candles,
            on_tick=self._on_tick,
            on_candle=self.regimes.on_candle if self.recorder is None else self.recorder.recording_candles(self.regimes.on_candle),
            on_public=None if self.recorder is None else self.recorder.record_push,
            on_private=self.private_events.push,
            exchange_clock=self.exchange_clock,
            connect_gate=self._connect_gate,
            clock=self.clock.mono_s,
            wall_clock=self.clock.wall_s,
            rng=self._rng("feed"),
        )
        feed = self.feed
        self.supervisor.add_probe(Halt.FEED, lambda: feed.entries_allowed()[1])
        self.feed.add_reconcile_hook(self._reconcile_after_reconnect)

    async def _reconcile_after_reconnect(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.run("private reconnect")

    def _on_tick(self, inst_id: str) -> None:
        """Exits first, then entries."""
        if self.close_flow is None or self.entry_flow is None:
            return
        self.close_flow.on_tick(inst_id)
        self.entry_flow.consider(inst_id)

    # ---- events ------------------------------------------------------------------------------

    def _rng(self, client: str) -> random.Random | None:
        """A client's jitter generator: seeded from the engine's seed and the client's name (a str
        seed hashes the same in every process), or None live (the client draws an unseeded one)."""
        return None if self.seed is None else random.Random(f"{self.seed}:{client}")

    def _emit(self, kind: FallbackKind, symbol: str, detail: str, source: str, component: str = "engine") -> None:
        if self.bus is not None:
            if kind is FallbackKind.ENTRY_GATE:
                # Each halt and clear is its own event: folding them (the bus's storm guard) would
                # hide which halt held when (they are few: one per change of a condition).
                self.bus.publish(FallbackEvent(self.clock.wall_s(), component, symbol, kind, detail, source))
            else:
                self.bus.emit(component, symbol, kind, detail, source)
            return
        # Before the bus exists (start-up checks): keep it for the console, the journal and the log.
        event = FallbackEvent(self.clock.wall_s(), component, symbol, kind, detail, source)
        self.early_events.append(event)
        if self.journal is not None:
            self.journal.record_fallback(event)
        self._log_event(event)

    async def _bus_reader(self) -> None:
        """Every delivered fallback event goes to the journal and to the log (the bus has already
        coalesced storms: one line stands for `count` occurrences)."""
        while True:
            event = await self._bus_subscription.get()
            if not isinstance(event, FallbackEvent):
                continue
            if self.journal is not None:
                self.journal.record_fallback(event)
            self._log_event(event)
            self.notices.on_event(event)

    @staticmethod
    def _log_event(event: FallbackEvent) -> None:
        level = logging.INFO if event.kind in (FallbackKind.ENTRY_GATE, FallbackKind.CANDLE_POLL) else logging.WARNING
        fallback_log.log(level, "%s %s", event.kind.value, kv(
            component=event.component, symbol=event.symbol or "-", source=event.source, count=event.count,
            detail=event.detail))
