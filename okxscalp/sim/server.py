"""`SimServer`: the embedded OKX v5 simulator on one loopback port (REST + WebSocket).

A thin aiohttp shell over the sans-I/O `SimExchange`: a driver task advances the market on a short
timer and fans the drained events out to subscribers; every REST request advances the market to
now first and pushes whatever it produced right after. Faults, counters and the control endpoint
hang off the same object.

    async with SimServer(seed=7) as sim:
        sim.rest_url                  # http://127.0.0.1:PORT
        sim.ws_url + "/ws/v5/public"  # ws://127.0.0.1:PORT/ws/v5/public
        sim.faults.stall(3, inst_id="XRP-USDT-SWAP")

`run_in_thread()` runs one on its own event loop in a thread (for sync tests and benches).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aiohttp import web

from okxscalp.clock import Clock, LiveClock
from okxscalp.config.schema import SimSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import WS_IDLE_CLOSE_S, WS_NEW_CONNECTIONS_PER_S, WS_OPS_PER_CONNECTION_PER_HOUR
from okxscalp.sim.control import ControlApi
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.faults import FaultInjector
from okxscalp.sim.market import TABLE_MARKET, MarketDynamics
from okxscalp.sim.price_process import Swings
from okxscalp.sim.ratelimit import RestRateLimiter
from okxscalp.sim.rest_api import RestApi
from okxscalp.sim.ws_api import WS_PATHS, WsHub

if TYPE_CHECKING:
    from okxscalp.sim.exchange import SimExchange
    from okxscalp.sim.persist import AccountStore
    from okxscalp.sim.replay import ReplayData

log = logging.getLogger(__name__)

_DEFAULTS = SimSettings()
SIM_CREDENTIALS = Credentials(_DEFAULTS.api_key, _DEFAULTS.api_secret, _DEFAULTS.passphrase)
# How often (wall time) the market is advanced and pushed: about one market step per round, so a
# push is never older than a step in sim time when it leaves, within these bounds.
MIN_DRIVE_INTERVAL_S = 0.001
MAX_DRIVE_INTERVAL_S = 0.02
# Most market steps one advance may take. If the market cannot keep up with wall time x speed,
# sim time falls behind instead of one catch-up call blocking the event loop longer each round.
MAX_STEPS_PER_ADVANCE = 500


class SimServer:
    def __init__(
        self,
        exchange: SimExchange | None = None,
        *,
        host: str = _DEFAULTS.host,
        port: int = _DEFAULTS.port,
        seed: int = _DEFAULTS.seed,
        speed: float = _DEFAULTS.speed,
        credentials: Credentials = SIM_CREDENTIALS,
        inst_ids: Sequence[str] | None = None,
        initial_equity: float = _DEFAULTS.initial_equity_usdt,
        replay_path: str | None = None,
        replay: ReplayData | None = None,
        tick_interval_s: float = 0.1,
        ws_idle_s: float = WS_IDLE_CLOSE_S,
        ws_idle_counts_pushes: bool = True,
        drive_interval_s: float | None = None,
        ws_connections_per_s: int = WS_NEW_CONNECTIONS_PER_S,
        ws_ops_per_hour: int = WS_OPS_PER_CONNECTION_PER_HOUR,
        rate_limits: bool = True,
        account_file: str | None = None,
        fresh_account: bool = False,
        dynamics: MarketDynamics = TABLE_MARKET,
        clock: Clock | None = None,
        unix_socket: str | None = None,
    ) -> None:
        """`unix_socket`: listen on this Unix socket path instead of host:port (a backtest's
        simulator, okx/transport.py); the URLs then name `localhost` only for the Host header.

        `account_file`: keep the paper account in this file across restarts (persist.py); an
        existing one is loaded here (AccountFileError if it cannot be), `fresh_account` sets it
        aside first. Only for a server that builds its own exchange.

        `clock`: every time the simulator reads (the market's advance, the exchange's start wall,
        rate-limit windows, timed faults, auth windows, /public/time). None: the OS clocks, with
        the driver on a relative timer as always; given (a backtest's VirtualClock): the driver
        wakes on absolute step deadlines of that clock (backtest/DESIGN.md "Speed"). `replay`:
        recorded prices already in memory (sim/replay.py), instead of `replay_path`."""
        self.clock: Clock = clock if clock is not None else LiveClock()
        self._step_deadlines = clock is not None
        self.account_store: AccountStore | None = None
        self.account_restored = False
        if exchange is None:
            from okxscalp.sim.exchange import DEFAULT_INST_IDS, SimExchange

            exchange_kwargs: dict[str, Any] = dict(
                seed=seed,
                speed=speed,
                initial_equity=initial_equity,
                inst_ids=inst_ids or DEFAULT_INST_IDS,
                replay_path=replay_path,
                replay=replay,
                tick_interval_s=tick_interval_s,
                dynamics=dynamics,
            )
            if clock is not None:
                exchange_kwargs["start_wall_s"] = clock.wall_s()
            if account_file is None:
                exchange = SimExchange(**exchange_kwargs)
            else:
                from okxscalp.sim.persist import AccountStore, exchange_from_file

                exchange, self.account_restored = exchange_from_file(account_file, fresh=fresh_account,
                                                                     **exchange_kwargs)
                self.account_store = AccountStore(account_file, exchange)
        elif account_file is not None or replay is not None:
            raise ValueError("account_file and replay need a SimServer that builds its own exchange")
        self.exchange = exchange
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.credentials = credentials
        if drive_interval_s is None:
            step_wall_s = exchange.tick_interval_s / exchange.speed
            # On an injected clock the driver wakes on step deadlines: one wake-up per step, none idle.
            most = step_wall_s if clock is not None else MAX_DRIVE_INTERVAL_S
            drive_interval_s = min(most, max(MIN_DRIVE_INTERVAL_S, step_wall_s))
        self.drive_interval_s = drive_interval_s
        self.counters = SimCounters()
        self.faults = FaultInjector(clock=self.clock.mono_s)
        limiter = RestRateLimiter(enabled=rate_limits, clock=self.clock.mono_s)  # WS trade ops share the REST order budgets
        self.hub = WsHub(
            exchange=exchange,
            credentials=credentials,
            faults=self.faults,
            counters=self.counters,
            before_command=self.advance,
            after_command=self.push_pending,
            limiter=limiter,
            idle_s=ws_idle_s,
            idle_counts_pushes=ws_idle_counts_pushes,
            connections_per_s=ws_connections_per_s,
            ops_per_hour=ws_ops_per_hour,
            wall_clock=self.clock.wall_s,
            mono_clock=self.clock.mono_s,
        )
        self.rest = RestApi(
            exchange=exchange,
            credentials=credentials,
            faults=self.faults,
            counters=self.counters,
            limiter=limiter,
            before_request=self.advance,
            after_request=self.push_pending,
            wall_clock=self.clock.wall_s,
        )
        self._runner: web.AppRunner | None = None
        self._account_write: asyncio.Future[bool] | None = None
        self._driver: asyncio.Task | None = None
        self._lagging = False

    # ------------------------------------------------------------------ addresses
    @property
    def rest_url(self) -> str:
        return "http://localhost" if self.unix_socket is not None else f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws://localhost" if self.unix_socket is not None else f"ws://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("SimServer already started")
        app = web.Application()
        app.add_routes(self.rest.routes())
        app.add_routes(ControlApi(self.faults, self.counters, self.exchange).routes())
        app.add_routes([web.get(path, self.hub.handle) for path in WS_PATHS])
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site: web.BaseSite = (
            web.TCPSite(runner, self.host, self.port) if self.unix_socket is None else web.UnixSite(runner, self.unix_socket)
        )
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.unix_socket is None:
            self.port = runner.addresses[0][1]
        self.faults.bind(asyncio.get_running_loop(), self.hub, self._reject_next_order)
        # Produce public events only for channels someone subscribed to (none yet).
        self.exchange.set_channel_interest("tickers", next(iter(self.exchange.specs)), False)
        self._driver = asyncio.create_task(self._drive(), name="okx-sim-driver")
        log.info("okx-sim listening on %s", self.rest_url if self.unix_socket is None else f"unix:{self.unix_socket}")
        store = self.account_store
        if store is not None:
            from okxscalp.sim.persist import describe_account

            how = "restored from" if self.account_restored else "new, kept in"
            log.info("okx-sim paper account %s %s: %s", how, store.path, describe_account(self.exchange))
            store.save()  # the file exists from the start (a failure is logged and counted)

    async def stop(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.cancel()
            try:
                await driver
            except asyncio.CancelledError:
                pass
        runner, self._runner = self._runner, None
        if runner is not None:
            self.hub.close_all()
            await runner.cleanup()
        write, self._account_write = self._account_write, None
        if write is not None:
            await write  # never raises: write() logs and counts its failures
        if self.account_store is not None and driver is not None:
            self.account_store.save()  # the last word: what the exchange holds as it stops

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _reject_next_order(self, code: str, msg: str, count: int) -> None:
        self.exchange.reject_next_order(code, msg, count)

    # ------------------------------------------------------------------ the market clock
    def advance(self) -> None:
        exchange = self.exchange
        now = self.clock.wall_s()
        behind = exchange.sim_now_ms(now) - exchange.now_ms
        if behind > MAX_STEPS_PER_ADVANCE * exchange.tick_interval_s * 1000.0:
            if not self._lagging:
                log.warning("simulator market is %.1f s of sim time behind wall time x speed; catching up "
                            "%d steps per round", behind / 1000.0, MAX_STEPS_PER_ADVANCE)
            self._lagging = True
            exchange.advance_steps(MAX_STEPS_PER_ADVANCE)
        else:
            self._lagging = False
            exchange.advance(now)

    def push_pending(self) -> None:
        """Send everything the exchange produced since the last drain."""
        events = self.exchange.drain_events()
        if events:
            self.hub.publish(events)

    def _save_account_when_due(self) -> None:
        """Start writing the account file in a worker thread when it is due and none is running."""
        store = self.account_store
        if store is None or (self._account_write is not None and not self._account_write.done()):
            return
        job = store.due()
        if job is not None:
            self._account_write = asyncio.ensure_future(asyncio.to_thread(store.write, *job))

    def _drive_round(self) -> None:
        """One round of the driver: the market to now, its pushes out, regular snapshots, the
        account file when due."""
        try:
            self.advance()
            self.push_pending()
            self.hub.push_regular_snapshots()
            self._save_account_when_due()
        except Exception:  # a market bug must not silence every connection
            log.exception("simulator market step failed")

    async def _drive(self) -> None:
        if self._step_deadlines:
            await self._drive_on_deadlines()
            return
        while True:
            self._drive_round()
            await asyncio.sleep(self.drive_interval_s)

    async def _drive_on_deadlines(self) -> None:
        """On an injected clock: each round runs in its own timer callback at first + n x interval
        (one multiplication, no sum of sleeps, so float drift never lands a drive just before the
        step it is for), not in a task woken by the timer: one loop iteration per round, not two.
        This task only holds the chain for `stop()` (cancelling it cancels the next round)."""
        loop = asyncio.get_running_loop()
        first = loop.time()
        interval = self.drive_interval_s
        rounds = 0
        timer: asyncio.TimerHandle | None = None

        def drive() -> None:
            nonlocal rounds, timer
            self._drive_round()
            rounds += 1
            timer = loop.call_at(first + rounds * interval, drive)

        try:
            drive()
            await loop.create_future()  # until stop() cancels the driver
        finally:
            if timer is not None:
                timer.cancel()


def sim_server_options(settings: SimSettings) -> dict[str, Any]:
    """`SimServer` keyword arguments for a config's `exchange.sim` section: the one place a
    simulator setting reaches the server, for the console, headless runs and the harness alike."""
    return {
        "host": settings.host,
        "port": settings.port,
        "seed": settings.seed,
        "speed": settings.speed,
        "initial_equity": settings.initial_equity_usdt,
        "credentials": Credentials(settings.api_key, settings.api_secret, settings.passphrase),
        "dynamics": market_dynamics(settings),
    }


def market_dynamics(settings: SimSettings) -> MarketDynamics:
    """How lively the simulated markets are, from `exchange.sim.volatility` and `swing_*`."""
    return MarketDynamics(settings.volatility, Swings(settings.swing_size, settings.swing_half_life_s))


@contextmanager
def run_in_thread(**kwargs: Any) -> Iterator[SimServer]:
    """A started `SimServer` on its own event loop in a daemon thread; stopped on exit.

    Use its URLs from any thread; `server.faults` marshals immediate faults onto its loop.
    """
    server = SimServer(**kwargs)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="okx-sim", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
