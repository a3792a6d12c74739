"""FeedCoordinator: the three OKX WebSocket connections, what they carry, and how they are watched.

- public:   tickers (quotes), books5, mark-price, price-limit per instrument → DataRegistry
- business: candle<bar> per instrument and bar → DataRegistry + the engine's `on_candle`
- private:  orders, positions, account (instType SWAP) → the engine's `on_private`

Watched by one periodic tick (`watchdog_interval_s`): the staleness watchdog per connection
(watchdog.py: silent or persistently late → LAGGING event, entries refused while public tickers
are late, persistent lag → forced reconnect), the exchange clock's state (exchange_clock.py: its
halt reason refuses entries; the coordinator runs its sync task if it was given one), the reconnect-storm
breaker per connection (breaker.py), REST candle polling while business is down
(candle_poll.py), and the entry gate (gate.py + breakers). The tick also flushes the bus's
coalesced events.

Everything runs on the event loop; pushes are handled synchronously inside the connection's read
loop, so the engine callbacks (`on_tick`, `on_candle`, `on_private`) must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from okxscalp.clock import wake_after
from okxscalp.config.schema import WebSocketSettings
from okxscalp.market.breaker import StormBreaker
from okxscalp.market.bus import EventBus
from okxscalp.market.candle_poll import CandlePoller, FetchCandles
from okxscalp.market.events import FallbackKind, HealthChanged
from okxscalp.market.exchange_clock import ExchangeClock
from okxscalp.market.gate import PrivateStreamGate
from okxscalp.market.registry import DataRegistry
from okxscalp.market.watchdog import TICKERS, SilenceWatchdog
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import (
    CANDLE_BARS,
    CANDLE_CHANNEL_PREFIX,
    WS_BUSINESS_PATH,
    WS_PRIVATE_PATH,
    WS_PUBLIC_PATH,
)
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.okx.messages import ChannelArg, WsPush
from okxscalp.okx.models import Candle
from okxscalp.okx.ws import ConnectGate, WsConnection

log = logging.getLogger(__name__)

PUBLIC = "public"
BUSINESS = "business"
PRIVATE = "private"
CONNECTIONS = (PUBLIC, BUSINESS, PRIVATE)
SWAP = "SWAP"

DEFAULT_PUBLIC_CHANNELS = ("tickers", "books5", "mark-price", "price-limit")
DEFAULT_PRIVATE_ARGS = (
    ChannelArg("orders", inst_type=SWAP),
    ChannelArg("positions", inst_type=SWAP),
    ChannelArg("account"),
)
BUSINESS_DOWN_GRACE_S = 1.0  # business not UP this long → poll candles over REST
RECONCILE_RETRY_BASE_S = 1.0
RECONCILE_RETRY_MAX_S = 30.0
RECONCILE_TIMEOUT_S = 60.0  # a hook that hangs counts as failed (and is retried): the gate never waits forever
COMPONENT_FEED = "feed"  # events of the coordinator itself (its watchdog tick)
_UP = ConnectionState.UP
_ENTRIES_OPEN: tuple[bool, tuple[str, ...]] = (True, ())
_NO_LATENESS: dict[str, float | None] = {}  # read only: the business connection's (no tickers)

ReconcileHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FeedUrls:
    public: str
    business: str
    private: str
    unix_socket: str | None = None  # where the three connect instead of TCP (okx/transport.py)

    @classmethod
    def from_base(cls, ws_base: str, unix_socket: str | None = None) -> FeedUrls:
        """`ws://127.0.0.1:PORT` or `wss://ws.okx.com:8443` → the three OKX v5 paths."""
        base = ws_base.rstrip("/")
        return cls(base + WS_PUBLIC_PATH, base + WS_BUSINESS_PATH, base + WS_PRIVATE_PATH, unix_socket)


def _component(connection: str) -> str:
    return f"ws.{connection}"


class FeedCoordinator:
    def __init__(
        self,
        urls: FeedUrls,
        registry: DataRegistry,
        *,
        inst_ids: Sequence[str],
        settings: WebSocketSettings | None = None,
        bars: Sequence[str] = ("1m",),
        credentials: Credentials | None = None,
        bus: EventBus | None = None,
        fetch_candles: FetchCandles | None = None,
        public_channels: Sequence[str] = DEFAULT_PUBLIC_CHANNELS,
        private_args: Sequence[ChannelArg] = DEFAULT_PRIVATE_ARGS,
        connect_gate: ConnectGate | None = None,
        on_tick: Callable[[str], None] | None = None,
        on_candle: Callable[[Candle], None] | None = None,
        on_private: Callable[[WsPush], None] | None = None,
        on_public: Callable[[WsPush], None] | None = None,
        watchdog_interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        exchange_clock: ExchangeClock | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        for bar in bars:
            if bar not in CANDLE_BARS:
                raise ValueError(f"unknown candle bar {bar!r} (known: {', '.join(CANDLE_BARS)})")
        self._settings = settings or WebSocketSettings()
        self.registry = registry
        self.bus = bus or registry.bus
        self._inst_ids = tuple(dict.fromkeys(inst_ids))
        self._bars = list(dict.fromkeys(bars))
        self._public_channels = tuple(public_channels)
        self._fetch_candles = fetch_candles
        self._on_tick = on_tick
        self._on_candle = on_candle
        self._on_private = on_private
        self._on_public = on_public
        self._interval = watchdog_interval_s
        # The engine's clock (okxscalp/clock.py), for this coordinator and its connections.
        self._clock = clock
        self._wall_clock = wall_clock
        self._exchange_clock = exchange_clock
        self._runs_clock = False  # this coordinator started the clock's sync loop (and stops it)
        self._late: dict[str, float] = {}  # public instId -> arrival age while its tickers are late
        self._tickers_silent = False  # every public tickers pair silent with the connection up
        gate = connect_gate or ConnectGate(clock=clock)

        self._conns: dict[str, WsConnection] = {
            PUBLIC: WsConnection(
                PUBLIC, urls.public, self._settings, on_message=self._public_push,
                on_health=self._health_reporter(PUBLIC), connect_gate=gate, clock=clock, wall_clock=wall_clock, rng=rng,
                unix_socket=urls.unix_socket,
            ),
            BUSINESS: WsConnection(
                BUSINESS, urls.business, self._settings, on_message=self._business_push,
                on_health=self._health_reporter(BUSINESS), connect_gate=gate, clock=clock, wall_clock=wall_clock, rng=rng,
                unix_socket=urls.unix_socket,
            ),
        }
        if credentials is not None:
            self._conns[PRIVATE] = WsConnection(
                PRIVATE, urls.private, self._settings, credentials=credentials,
                on_message=self._private_push, on_health=self._health_reporter(PRIVATE), connect_gate=gate,
                clock=clock, wall_clock=wall_clock, rng=rng, unix_socket=urls.unix_socket,
            )
        self._private_args = tuple(private_args)

        # channel -> instId -> monotonic receive time of the latest push (the watchdog reads it)
        self._seen: dict[str, dict[str, float]] = {}
        self._up_since: dict[str, float | None] = dict.fromkeys(self._conns)
        self._reported: dict[str, ConnectionHealth] = {}
        self._watchdogs = {name: SilenceWatchdog(name, self._settings) for name in (PUBLIC, BUSINESS)}
        self._breakers = {name: StormBreaker(name, self._settings.storm) for name in self._conns}
        self._gate = PrivateStreamGate(
            has_private=PRIVATE in self._conns, required=[a.channel for a in self._private_args]
        )
        self._reconcile_hooks: list[ReconcileHook] = []
        self._gate_state: tuple[bool, tuple[str, ...]] | None = None  # last reported (allowed, reasons)
        # entries_allowed's all-clear check reads these without a lookup (each is fixed for life)
        self._private = self._conns.get(PRIVATE)
        self._public_health = self._conns[PUBLIC].health
        self._business_health = self._conns[BUSINESS].health
        self._breaker_list = tuple(self._breakers.values())

        self._tasks: list[asyncio.Task[None]] = []
        self._tick_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
        self._business_down_since: float | None = None
        self.poller: CandlePoller | None = None
        self.forced_reconnects: dict[str, int] = dict.fromkeys(self._conns, 0)
        # Why the last watchdog tick failed (None: it ran): lag and silence go unchecked meanwhile,
        # so entries are refused until a tick runs again.
        self.tick_error: str | None = None
        self.tick_failures = 0
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe everything and start the connections and the watchdog tick."""
        if self._started:
            return
        self._started = True
        now = self._clock()
        public_args = [ChannelArg(ch, inst_id=i) for i in self._inst_ids for ch in self._public_channels]
        business_args = [ChannelArg(CANDLE_CHANNEL_PREFIX + b, inst_id=i) for i in self._inst_ids for b in self._bars]
        for arg in public_args:
            self._watchdogs[PUBLIC].watch(arg.channel, arg.inst_id, now)
        for arg in business_args:
            self._watchdogs[BUSINESS].watch(arg.channel, arg.inst_id, now)
        await self._conns[PUBLIC].subscribe(public_args)
        await self._conns[BUSINESS].subscribe(business_args)
        if PRIVATE in self._conns:
            await self._conns[PRIVATE].subscribe(self._private_args)
        self._business_down_since = now
        for name, conn in self._conns.items():
            self._tasks.append(asyncio.create_task(conn.run(), name=f"feed-{name}"))
        self._tick_task = asyncio.create_task(self._tick_loop(), name="feed-watchdog")
        if self._exchange_clock is not None:
            self._runs_clock = self._exchange_clock.ensure_running()

    async def stop(self) -> None:
        """Stop every connection and task this coordinator started."""
        tasks = (self._tick_task, self._poll_task, self._reconcile_task)
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tick_task = self._poll_task = self._reconcile_task = None
        if self._runs_clock and self._exchange_clock is not None:
            self._runs_clock = False
            await self._exchange_clock.stop()
        await asyncio.gather(*(conn.stop() for conn in self._conns.values()), return_exceptions=True)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._started = False

    async def __aenter__(self) -> FeedCoordinator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- engine / operator API ------------------------------------------------------------------

    @property
    def inst_ids(self) -> tuple[str, ...]:
        return self._inst_ids

    @property
    def connections(self) -> dict[str, WsConnection]:
        return dict(self._conns)

    def add_reconcile_hook(self, hook: ReconcileHook) -> None:
        """`async def hook() -> None`, run over REST after every private (re)connect; entries
        stay closed until every hook has returned (a raising hook is retried with backoff)."""
        self._reconcile_hooks.append(hook)

    async def add_candle_bar(self, bar: str) -> None:
        """Subscribe one more candle bar for every instrument (the engine asks for it)."""
        if bar not in CANDLE_BARS:
            raise ValueError(f"unknown candle bar {bar!r} (known: {', '.join(CANDLE_BARS)})")
        if bar in self._bars:
            return
        self._bars.append(bar)
        args = [ChannelArg(CANDLE_CHANNEL_PREFIX + bar, inst_id=i) for i in self._inst_ids]
        now = self._clock()
        for arg in args:
            self._watchdogs[BUSINESS].watch(arg.channel, arg.inst_id, now)
        await self._conns[BUSINESS].subscribe(args)

    def request_reconnect(self, connection: str | None = None, reason: str = "operator request") -> None:
        """Reconnect one connection (public | business | private) or, with None, all of them."""
        names = list(self._conns) if connection is None else [connection]
        for name in names:
            conn = self._conns.get(name)
            if conn is None:
                raise ValueError(f"unknown connection {name!r} (have: {', '.join(self._conns)})")
            self.bus.emit(_component(name), "", FallbackKind.FORCED_RECONNECT, f"reconnect: {reason}", "reconnect")
            conn.request_reconnect(reason)

    # The console's name for the same action.
    reconnect = request_reconnect

    def health(self) -> tuple[ConnectionHealth, ...]:
        """A copy of each connection's health (with lagging instIds and breaker state)."""
        return tuple(conn.health.copy() for conn in self._conns.values())

    def entries_allowed(self) -> tuple[bool, tuple[str, ...]]:
        """(allowed, reasons): closed while the private stream is not logged in and subscribed,
        until the reconciliation after its latest (re)connect has run, and while any connection's
        reconnect-storm breaker is open."""
        # Asked several times a second (the supervisor's FEED probe, the tick's gate) and before
        # every entry: the all-clear answer is read from the inputs themselves and builds nothing;
        # any closed input words every reason (test_feeds_entries_allowed holds the two to agree).
        private = self._private
        if private is None or not self._gate.ready or self.tick_error is not None or self._late or self._tickers_silent:
            return self._entry_refusals()
        health = private.health
        if health.state is not _UP or health.refused or self._public_health.refused or self._business_health.refused:
            return self._entry_refusals()
        for breaker in self._breaker_list:
            if breaker.is_open:
                return self._entry_refusals()
        clock = self._exchange_clock
        if clock is not None and clock.halt_reason() is not None:
            return self._entry_refusals()
        return _ENTRIES_OPEN

    def _entry_refusals(self) -> tuple[bool, tuple[str, ...]]:
        """entries_allowed's answer worded: every reason, in order."""
        conns = self._conns
        private = conns.get(PRIVATE)
        if private is not None:
            reasons = self._gate.reasons(private.health.state.value, private.health.refused)
        else:
            reasons = self._gate.reasons("")
        for name in (PUBLIC, BUSINESS):  # data the engine subscribed to and was refused
            refused = conns[name].health.refused
            if refused:
                reasons.extend(f"{name} stream: {reason}" for reason in refused)
        now: float | None = None
        for breaker in self._breakers.values():
            if breaker.is_open:
                if now is None:
                    now = self._clock()
                reasons.append(breaker.reason(now))
        self._add_lag_reasons(reasons)
        if self.tick_error is not None:
            reasons.append(f"feed watchdog failing ({self.tick_error}): lag and silence are not checked")
        return (not reasons, tuple(reasons))

    def _add_lag_reasons(self, reasons: list[str]) -> None:
        """Entry-refusal reasons of the market data itself: the exchange clock ages are measured
        with, and public tickers that arrive persistently late."""
        if self._exchange_clock is not None:
            clock_reason = self._exchange_clock.halt_reason()
            if clock_reason is not None:
                reasons.append(clock_reason)
        if self._late:
            worst = max(self._late.items(), key=lambda item: item[1])
            reasons.append(
                f"public feed late ({len(self._late)} symbol(s) arriving older than the "
                f"{self.registry.late_threshold_s:g}s ORDER budget; {worst[0]} {worst[1]:.3f}s)"
            )
        elif self._tickers_silent:
            # A delivery delay starts as silence: nothing arrives until the first late frame.
            reasons.append("public feed lagging (no symbol's tickers arriving with the connection up)")

    # --- pushes (called inside the connections' read loops) -------------------------------------

    def _public_push(self, push: WsPush) -> None:
        channel = push.channel
        seen = self._seen.get(channel)
        if seen is None:
            seen = self._seen[channel] = {}
        seen[push.inst_id] = push.recv_mono
        registry = self.registry
        if channel == "tickers":
            on_tick = self._on_tick
            for ticker in push.items:
                registry.on_ticker(ticker)
                if on_tick is not None:
                    on_tick(ticker.inst_id)
        elif channel == "books5" or channel == "bbo-tbt":
            for book in push.items:
                registry.on_book_top(book, push.recv_mono)
        elif channel == "mark-price":
            for mark in push.items:
                registry.on_mark_price(mark, push.recv_mono)
        elif channel == "price-limit":
            for limit in push.items:
                registry.on_price_limit(limit, push.recv_mono)
        if self._on_public is not None:
            self._on_public(push)

    def _business_push(self, push: WsPush) -> None:
        seen = self._seen.get(push.channel)
        if seen is None:
            seen = self._seen[push.channel] = {}
        seen[push.inst_id] = push.recv_mono
        if not push.channel.startswith(CANDLE_CHANNEL_PREFIX):
            return
        for candle in push.items:
            if self.registry.on_candle(candle) and self._on_candle is not None:
                self._on_candle(candle)

    def _private_push(self, push: WsPush) -> None:
        if self._on_private is not None:
            self._on_private(push)

    def _candle_from_poll(self, candle: Candle) -> None:
        if self._on_candle is not None:
            try:
                self._on_candle(candle)
            except Exception as exc:  # the candle is lost to the engine's indicators: said, like a WS push's
                log.exception("on_candle failed for a polled %s %s candle", candle.inst_id, candle.bar)
                self.bus.emit(
                    "candle_poll", candle.inst_id, FallbackKind.SAFETY,
                    f"polled {candle.bar} candle dropped: its handler failed: {exc.__class__.__name__}: {exc}", "none",
                )

    # --- health ---------------------------------------------------------------------------------

    def _health_reporter(self, name: str) -> Callable[[ConnectionHealth], None]:
        def report(health: ConnectionHealth) -> None:
            self._on_health(name, health)

        return report

    def _on_health(self, name: str, health: ConnectionHealth) -> None:
        now = self._clock()
        prev = self._reported.get(name)
        self._reported[name] = health
        breaker = self._breakers[name]
        conn = self._conns[name]
        for _ in range((health.reconnects - prev.reconnects) if prev is not None else health.reconnects):
            if breaker.record_reconnect(now):
                conn.health.breaker_open = health.breaker_open = True
                log.error("%s", breaker.reason(now))
                self.bus.emit(_component(name), "", FallbackKind.BREAKER, "tripped: " + breaker.reason(now), "none")
        was_up = prev is not None and prev.state is ConnectionState.UP
        is_up = health.state is ConnectionState.UP
        if is_up and not was_up:
            self._up_since[name] = now
            breaker.connection_up(now)
            if name == PRIVATE:
                self._private_up()
            elif name == BUSINESS:
                self._business_up()
        elif was_up and not is_up:
            self._up_since[name] = None
            breaker.connection_down()
            if name == PRIVATE:
                self._gate.private_down()
            elif name == BUSINESS:
                self._business_down_since = now
        self._report_refusals(name, prev, health)
        if name == PRIVATE and was_up and is_up:
            self._resync_if_pushes_lost(prev, health)
        elif name != PRIVATE and prev is not None and health.handler_errors > prev.handler_errors:
            # A market-data push our own handler could not take (an engine tick that raised): the
            # push is lost to the engine; counted in health, and said here.
            self.bus.emit(
                _component(name), "", FallbackKind.SAFETY,
                f"push dropped: its handler failed (total {health.handler_errors}): {health.last_error or 'see log'}",
                "none",
            )
        if prev is not None and health.malformed > prev.malformed:
            self.bus.emit(
                _component(name), "", FallbackKind.MALFORMED,
                f"dropped malformed frame (total {health.malformed}): {health.last_error or 'see log'}", "none",
            )
        self.bus.publish(HealthChanged(health))
        self._update_gate()

    def _report_refusals(self, name: str, prev: ConnectionHealth | None, health: ConnectionHealth) -> None:
        """One SUBSCRIPTION_REFUSED event per newly refused subscription, one when all are accepted."""
        before = prev.refused if prev is not None else ()
        for reason in health.refused:
            if reason not in before:
                self.bus.emit(
                    _component(name), "", FallbackKind.SUBSCRIPTION_REFUSED,
                    f"{reason}; entries closed; re-subscribing with backoff", "none",
                )
        if before and not health.refused:
            self.bus.emit(
                _component(name), "", FallbackKind.SUBSCRIPTION_REFUSED,
                f"refused subscription(s) accepted again: {'; '.join(before)}", "ws",
            )

    # --- private stream: reconciliation ------------------------------------------------------------

    def _resync_if_pushes_lost(self, prev: ConnectionHealth | None, health: ConnectionHealth) -> None:
        """A private push that could not be parsed or handled may have been a fill or a close: the
        gate closes and a new reconciliation re-syncs from REST before it reopens."""
        if prev is None:
            return
        lost = (health.malformed - prev.malformed) + (health.handler_errors - prev.handler_errors)
        if lost <= 0:
            return
        why = f"{lost} private push(es) lost ({health.last_error or 'see log'})"
        log.warning("%s: entries closed until a reconciliation re-synced", why)
        self.bus.emit(
            _component(PRIVATE), "", FallbackKind.ENTRY_GATE, f"{why}: entries closed until a reconciliation re-synced",
            "none",
        )
        self._private_up("a lost private push")

    def _private_up(self, why: str = "private reconnect") -> None:
        acked = {arg.channel for arg in self._conns[PRIVATE].acked}
        generation = self._gate.private_up(acked, why)
        if generation is None:
            log.error("private stream UP without an ack for %s: entries stay closed", ", ".join(self._gate.missing_acks))
            return
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
        self._reconcile_task = asyncio.get_running_loop().create_task(
            self._reconcile(generation), name=f"feed-reconcile-{generation}"
        )

    async def _reconcile(self, generation: int) -> None:
        attempt = 0
        while generation == self._gate.generation:
            try:
                for hook in list(self._reconcile_hooks):
                    await asyncio.wait_for(hook(), RECONCILE_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(RECONCILE_RETRY_MAX_S, RECONCILE_RETRY_BASE_S * 2**attempt)
                attempt += 1
                error = f"{exc.__class__.__name__}: {exc}"
                self._gate.reconcile_failed(generation, error)
                log.warning("reconciliation after private reconnect failed: %s; retry in %.1fs", error, delay)
                self.bus.emit(
                    _component(PRIVATE), "", FallbackKind.ENTRY_GATE,
                    f"reconciliation failed ({error}); entries stay closed; retry in {delay:.1f}s", "none",
                )
                self._update_gate()
                await asyncio.sleep(delay)
                continue
            if self._gate.reconciled(generation):
                log.info("reconciliation after private (re)connect #%d done", generation)
            self._update_gate()
            return

    def _update_gate(self) -> None:
        """Emit ENTRY_GATE when entries open or close, or the reasons change (not on every
        connection sub-state: connecting → logging in → subscribing is one "closed")."""
        allowed, reasons = self.entries_allowed()
        key = (True, ()) if allowed else (False, tuple(r.split(" (", 1)[0] for r in reasons))
        if key == self._gate_state:
            return
        first = self._gate_state is None
        self._gate_state = key
        if first and allowed:
            return
        detail = "entries open" if allowed else "entries closed: " + "; ".join(reasons)
        self.bus.emit(_component(PRIVATE), "", FallbackKind.ENTRY_GATE, detail, "none")

    # --- business feed: REST candle polling --------------------------------------------------------

    def _business_up(self) -> None:
        self._business_down_since = None
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
            self.bus.emit(
                _component(BUSINESS), "", FallbackKind.CANDLE_POLL,
                "business feed back: REST candle polling stopped", "ws",
            )

    def _maybe_start_polling(self, now: float) -> None:
        if self._poll_task is not None or self._fetch_candles is None:
            return
        down_since = self._business_down_since
        if down_since is None or now - down_since < BUSINESS_DOWN_GRACE_S:
            return
        if self.poller is None:
            self.poller = CandlePoller(
                self._fetch_candles, self.registry, self.bus, self._inst_ids, self._bars,
                self._exchange_now_ms, self._candle_from_poll,
            )
        log.warning("business feed down for %.1fs: polling candles over REST", now - down_since)
        self._poll_task = asyncio.get_running_loop().create_task(self.poller.run(), name="feed-candle-poll")

    def _exchange_now_ms(self) -> int:
        """Exchange time now, from the WS feed's clock-offset estimate (follows sim time); wall
        time when no market data has arrived yet."""
        now_ms = self.registry.exchange_now_ms()
        return int(self._wall_clock() * 1000) if now_ms is None else now_ms

    # --- the periodic tick -------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await wake_after(self._interval)
            try:
                self.tick()
            except Exception as exc:
                self._tick_failed(exc)
            else:
                self._tick_ran()

    def _tick_failed(self, exc: Exception) -> None:
        """A watchdog round that raised: lag, silence and the breaker's reset go unchecked, so
        entries are refused (entries_allowed) until a round runs again; an event when it starts."""
        self.tick_failures += 1
        error = f"{exc.__class__.__name__}: {exc}"
        if error != self.tick_error:
            log.exception("feed watchdog tick failed")
            if self.tick_error is None:
                self.bus.emit(
                    COMPONENT_FEED, "", FallbackKind.SAFETY,
                    f"feed watchdog tick failed ({error}): entries refused until it runs again", "none",
                )
        self.tick_error = error

    def _tick_ran(self) -> None:
        if self.tick_error is None:
            return
        log.warning("feed watchdog runs again after %d failed tick(s) (last: %s)", self.tick_failures, self.tick_error)
        self.bus.emit(
            COMPONENT_FEED, "", FallbackKind.SAFETY,
            f"feed watchdog runs again after {self.tick_failures} failed tick(s) (last: {self.tick_error})", "ws",
        )
        self.tick_error = None
        self.tick_failures = 0

    def tick(self) -> None:
        """One watchdog round (called by the loop; public for tests that drive time themselves)."""
        now = self._clock()
        if self._exchange_clock is not None:
            self._exchange_clock.report()  # staleness needs no sample to start
        for name, watchdog in self._watchdogs.items():
            self._watch(name, watchdog, now)
        for name, breaker in self._breakers.items():
            if breaker.is_open and breaker.poll(now):  # a closed breaker has nothing to reset
                self._conns[name].health.breaker_open = False
                log.info("reconnect storm breaker on %s reset after a stable period", name)
                self.bus.emit(
                    _component(name), "", FallbackKind.BREAKER,
                    f"reset: {name} stable for {self._settings.storm.stable_after_s:g}s", "ws",
                )
                self.bus.publish(HealthChanged(self._conns[name].health.copy()))
        if self._business_down_since is not None:  # business up: nothing to poll
            self._maybe_start_polling(now)
        self._update_gate()
        self.bus.flush()

    def _watch(self, name: str, watchdog: SilenceWatchdog, now: float) -> None:
        conn = self._conns[name]
        registry = self.registry
        up_since = self._up_since[name]
        if name == PUBLIC:
            late = self._take_lateness(watchdog)
            # the REST fallbacks are counted only if a pair lags
            result = watchdog.check(now, up_since, self._seen, self._public_fallbacks_in_row, late,
                                    registry.late_threshold_s)
        else:  # no tickers: no lateness to judge
            result = watchdog.check(now, up_since, self._seen, 0, _NO_LATENESS)
        if name == PUBLIC and up_since is not None:  # down: the verdict stands
            if not result.lagging_keys:
                self._tickers_silent = False  # nothing lags (the usual tick): no set to build
            else:
                tickers = {key for key in watchdog.watched if key[0] == TICKERS}
                self._tickers_silent = bool(tickers) and tickers <= result.lagging_keys
        for key, seconds in result.new_lagging:
            channel, inst_id = key
            if key in result.new_late:
                detail = (
                    f"{channel} arriving {seconds:.3f}s old (> {registry.late_threshold_s:g}s ORDER budget) "
                    "with the connection up: entries refused"
                )
            else:
                detail = f"{channel} silent {seconds:.1f}s with the connection up"
            self.bus.emit(_component(name), inst_id, FallbackKind.LAGGING, detail, "none")
        if result.lagging != conn.health.lagging:
            conn.health.lagging = result.lagging
            self.bus.publish(HealthChanged(conn.health.copy()))
        if result.force_reason is not None:
            watchdog.forced(now)
            self.forced_reconnects[name] += 1
            log.warning("ws %s: forcing a reconnect: %s", name, result.force_reason)
            self.bus.emit(_component(name), "", FallbackKind.FORCED_RECONNECT, result.force_reason, "reconnect")
            conn.request_reconnect(f"persistent lag: {result.force_reason}")

    def _public_fallbacks_in_row(self) -> int:
        """EXIT reads served over REST since each public symbol's last timely ticker, summed."""
        registry = self.registry
        return sum(registry.fallbacks_in_row(i) for i in self._inst_ids)

    def _take_lateness(self, watchdog: SilenceWatchdog) -> dict[str, float | None]:
        """Each public symbol's smallest ticker arrival age since the previous tick (None: no
        ticker since), taken from the registry, and the entries verdict on late tickers: set by a
        tick of only late tickers, cleared by a tick with a timely one, and kept while none arrives
        (a forced reconnect does not clear it: nothing timely has arrived since)."""
        registry = self.registry
        take = registry.take_min_lateness
        threshold = registry.late_threshold_s
        watched = watchdog.watched_keys
        verdict = self._late
        late: dict[str, float | None] = {}
        for inst_id in self._inst_ids:
            lateness = late[inst_id] = take(inst_id)
            if lateness is None or (TICKERS, inst_id) not in watched:
                continue
            if lateness > threshold:
                verdict[inst_id] = lateness
            elif verdict:  # none late (the usual case): nothing to clear
                verdict.pop(inst_id, None)
        return late

    def seen_age_s(self, channel: str, inst_id: str) -> float | None:
        """Seconds since the last push of (channel, instId), None if none yet."""
        last = self._seen.get(channel, {}).get(inst_id)
        return None if last is None else self._clock() - last

