"""The engine's state as Prometheus metric families, read at scrape time.

Nothing is counted on the trading path: every figure is read from the engine when /metrics is
scraped, on the engine's own loop (server.py), through `Engine.snapshot()` and the engine's public
accessors. Each part is read on its own: a part that fails is left out of that scrape, counted in
`okxscalp_metrics_scrape_errors_total{part}` and logged, and the other parts are still served.

Names follow the Prometheus conventions: `okxscalp_` prefix, base units (seconds), `_total` for
counters (CounterMetricFamily appends it), one-hot gauges for states. Money is in USDT
(`_usdt`), position sizes in contracts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from okxscalp.config.schema import Purpose
from okxscalp.engine.supervisor import Halt, reason_shape
from okxscalp.engine.views import EngineSnapshot
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.health import ConnectionState

if TYPE_CHECKING:
    from okxscalp.engine.orchestrator import Engine

log = logging.getLogger(__name__)

P = "okxscalp_"

# Parts read from the snapshot (left out together when the snapshot itself cannot be built) and
# parts read from the engine's accessors.
SNAPSHOT_PARTS = ("quotes", "connections", "fallbacks", "account", "positions", "orders", "clock", "trade_channel")
ENGINE_PARTS = ("engine", "halts", "rest", "bus", "recorder")
PARTS = ("snapshot", *ENGINE_PARTS, *SNAPSHOT_PARTS)


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


class EngineCollector(Collector):
    """A custom collector over one Engine; register it in a CollectorRegistry of its own."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock  # the clock of ConnectionHealth's *_mono fields
        self.errors: dict[str, int] = dict.fromkeys(PARTS, 0)  # scrape failures by part, ever

    def describe(self) -> Iterable[Metric]:
        return ()  # nothing to check at registration: the families depend on the engine's state

    def collect(self) -> Iterator[Metric]:
        snap: EngineSnapshot | None = None
        try:
            snap = self._engine.snapshot()
        except Exception as exc:  # served without the snapshot's parts, counted and logged
            self._failed("snapshot", exc)
        readers: list[tuple[str, Callable[[], list[Metric]]]] = [
            ("engine", self._engine_state),
            ("halts", self._halts),
            ("rest", self._rest),
            ("bus", self._bus),
            ("recorder", self._recorder),
        ]
        if snap is not None:
            s = snap
            readers += [
                ("quotes", lambda: self._quotes(s)),
                ("connections", lambda: self._connections(s)),
                ("fallbacks", lambda: self._fallbacks(s)),
                ("account", lambda: self._account(s)),
                ("positions", lambda: self._positions(s)),
                ("orders", lambda: self._orders(s)),
                ("clock", lambda: self._exchange_clock(s)),
                ("trade_channel", lambda: self._trade_channel(s)),
            ]
        for part, read in readers:
            try:
                families = read()  # whole parts only: a part that fails contributes nothing
            except Exception as exc:
                self._failed(part, exc)
                continue
            yield from families
        errors = CounterMetricFamily(
            P + "metrics_scrape_errors", "Parts of the engine's state a scrape could not read (see the log).",
            labels=["part"],
        )
        for part, n in self.errors.items():
            errors.add_metric([part], n)
        yield errors

    def _failed(self, part: str, exc: Exception) -> None:
        first = self.errors[part] == 0
        self.errors[part] += 1
        # The traceback once per part; then one line per failed scrape (visible, not a flood).
        log.error("metrics part unreadable %s", kv(part=part, error=repr(exc), failures=self.errors[part]),
                  exc_info=exc if first else None)

    # ---- parts read from the engine ----------------------------------------------------------

    def _engine_state(self) -> list[Metric]:
        engine = self._engine
        info = GaugeMetricFamily(P + "engine_info", "The engine's exchange mode (SIM, DEMO, LIVE).", labels=["mode"])
        info.add_metric([engine.endpoints.mode], 1.0)
        started = GaugeMetricFamily(P + "engine_started", "1 once start-up is complete.",
                                    value=_flag(engine.started.is_set()))
        running = GaugeMetricFamily(P + "engine_running", "1 while the engine's run has not ended (failed or stopped).",
                                    value=_flag(engine.ended is None))
        return [info, started, running]

    def _halts(self) -> list[Metric]:
        active = self._engine.supervisor.active()
        running = GaugeMetricFamily(P + "entries_running", "1 when no halt reason holds: entries may open.",
                                    value=_flag(not active))
        by_kind = GaugeMetricFamily(
            P + "halt", "1 while a halt of this kind holds (for all symbols or for one).", labels=["kind"]
        )
        kinds = {kind for kind, _, _ in active}
        for kind in Halt:
            by_kind.add_metric([kind.value], _flag(kind in kinds))
        reasons = GaugeMetricFamily(
            P + "halt_reason",
            "1 per halt reason in force; reason is its text with figures masked (#) and details cut.",
            labels=["kind", "symbol", "reason"],
        )
        seen: set[tuple[str, str, str]] = set()
        for kind, inst_id, reason in active:
            labels = (kind.value, inst_id, reason_shape(reason))
            if labels not in seen:  # two reasons of one shape are one series
                seen.add(labels)
                reasons.add_metric(list(labels), 1.0)
        changes = CounterMetricFamily(P + "halt_changes", "Halt conditions set or cleared.",
                                      value=self._engine.supervisor.changes)
        return [running, by_kind, reasons, changes]

    def _rest(self) -> list[Metric]:
        rest = self._engine.rest
        budget = GaugeMetricFamily(
            P + "rest_budget_use_ratio", "Share (0..1) of the endpoint's documented rate limit used in the last window.",
            labels=["endpoint"],
        )
        if rest is not None:
            for endpoint, use in sorted(rest.budget_use().items()):
                budget.add_metric([endpoint], use)
        return [budget]

    def _bus(self) -> list[Metric]:
        bus = self._engine.bus
        dropped = CounterMetricFamily(
            P + "bus_dropped_events", "Events a slow bus reader lost (its queue was full).", labels=["reader"]
        )
        if bus is not None:
            for sub in bus.subscriptions:
                dropped.add_metric([sub.name], sub.dropped)
        return [dropped]

    def _recorder(self) -> list[Metric]:
        """`--record DIR` (market/recorder.py): nothing when the engine does not record."""
        recorder = self._engine.recorder
        if recorder is None:
            return []
        c = recorder.counters()
        pushes = CounterMetricFamily(
            P + "recorder_pushes", "Market pushes the recorder did not write: queue full (dropped) or a write failure (lost).",
            labels=["outcome"],
        )
        pushes.add_metric(["dropped"], c.dropped)
        pushes.add_metric(["lost"], c.lost)
        return [
            pushes,
            CounterMetricFamily(P + "recorder_records", "Market records written to the recording.", value=c.records),
            CounterMetricFamily(P + "recorder_write_failures", "Recording writes that failed.", value=c.write_failures),
            GaugeMetricFamily(P + "recorder_recording", "1 while recording; 0 while stopped by a write failure.",
                              value=_flag(c.recording)),
            GaugeMetricFamily(P + "recorder_queued", "Market pushes waiting for the recorder's writer.", value=c.queued),
        ]

    # ---- parts read from the snapshot --------------------------------------------------------

    def _quotes(self, snap: EngineSnapshot) -> list[Metric]:
        freshness = self._engine.config.freshness
        age = GaugeMetricFamily(
            P + "quote_age_seconds",
            "Age of the symbol's newest quote in exchange seconds (one quote serves every purpose); absent with none.",
            labels=["symbol"],
        )
        budget = GaugeMetricFamily(P + "quote_budget_seconds", "Freshness budget of a purpose.", labels=["purpose"])
        for purpose in Purpose:
            budget.add_metric([purpose.value], freshness.budget(purpose))
        fresh = GaugeMetricFamily(
            P + "quote_fresh", "1 when the symbol's quote is within the purpose's budget (reads are served).",
            labels=["symbol", "purpose"],
        )
        for quote in snap.quotes:
            if quote.age_s is not None:
                age.add_metric([quote.inst_id], quote.age_s)
            for purpose in Purpose:
                fresh.add_metric([quote.inst_id, purpose.value], _flag(quote.satisfied.get(purpose, False)))
        return [age, budget, fresh]

    def _connections(self, snap: EngineSnapshot) -> list[Metric]:
        now = self._clock()
        state = GaugeMetricFamily(
            P + "connection_state", "1 for the connection's current state (one-hot over every state).",
            labels=["connection", "state"],
        )
        state_age = GaugeMetricFamily(P + "connection_state_age_seconds", "Since the connection entered its state.",
                                      labels=["connection"])
        last_message = GaugeMetricFamily(
            P + "connection_last_message_age_seconds", "Since the connection's last message; absent before the first.",
            labels=["connection"],
        )
        breaker = GaugeMetricFamily(P + "connection_breaker_open", "1 while the reconnect-storm breaker is open.",
                                    labels=["connection"])
        lagging = GaugeMetricFamily(P + "connection_lagging_symbols", "Subscribed symbols silent beyond the threshold.",
                                    labels=["connection"])
        refused = GaugeMetricFamily(P + "connection_refused_subscriptions", "Wanted subscriptions the exchange refused.",
                                    labels=["connection"])
        reconnects = CounterMetricFamily(P + "connection_reconnects", "Reconnects of the connection.", labels=["connection"])
        messages = CounterMetricFamily(P + "connection_messages", "Messages received.", labels=["connection"])
        malformed = CounterMetricFamily(P + "connection_malformed_messages", "Malformed messages dropped.",
                                        labels=["connection"])
        handler_errors = CounterMetricFamily(P + "connection_handler_errors", "Pushes a consumer failed to take.",
                                             labels=["connection"])
        for health in snap.connections:
            name = [health.name]
            for s in ConnectionState:
                state.add_metric([health.name, s.value], _flag(health.state is s))
            state_age.add_metric(name, max(now - health.since_mono, 0.0))
            if health.last_message_mono is not None:
                last_message.add_metric(name, max(now - health.last_message_mono, 0.0))
            breaker.add_metric(name, _flag(health.breaker_open))
            lagging.add_metric(name, len(health.lagging))
            refused.add_metric(name, len(health.refused))
            reconnects.add_metric(name, health.reconnects)
            messages.add_metric(name, health.messages)
            malformed.add_metric(name, health.malformed)
            handler_errors.add_metric(name, health.handler_errors)
        return [state, state_age, last_message, breaker, lagging, refused, reconnects, messages, malformed, handler_errors]

    def _fallbacks(self, snap: EngineSnapshot) -> list[Metric]:
        events = CounterMetricFamily(
            P + "fallback_events",
            "Fallback occurrences by kind (every occurrence, also those the bus folded into one event; "
            "kind=stale_refused counts refused reads).",
            labels=["kind"],
        )
        counts = dict.fromkeys((k.value for k in FallbackKind), 0)
        counts.update(snap.event_counts)
        for kind, n in sorted(counts.items()):
            events.add_metric([kind], n)
        return [events]

    def _account(self, snap: EngineSnapshot) -> list[Metric]:
        header = snap.header
        out: list[Metric] = []
        if header.equity is not None:
            out.append(GaugeMetricFamily(P + "equity_usdt", "Account equity (USDT); absent until read.",
                                         value=header.equity))
        if header.equity_age_s is not None:
            out.append(GaugeMetricFamily(P + "equity_age_seconds", "Since the equity was last renewed (read or push).",
                                         value=header.equity_age_s))
        out.append(GaugeMetricFamily(P + "balance_refresh_failing", "1 while the balance refresh fails.",
                                     value=_flag(bool(header.balance_error))))
        summary = snap.trades_summary
        if summary is not None:
            if summary.day_pnl is not None:
                out.append(GaugeMetricFamily(
                    P + "day_pnl_usdt", "Today's (UTC) realised P&L, worst case for unknown exits; absent while unknown.",
                    value=summary.day_pnl))
            if summary.daily_loss_limit is not None:
                out.append(GaugeMetricFamily(P + "daily_loss_limit_usdt", "What the day may lose before entries halt.",
                                             value=summary.daily_loss_limit))
            out.append(GaugeMetricFamily(P + "day_pnl_unknown_closes", "Closes whose exit price is not known yet.",
                                         value=summary.unknown_pnl))
        return out

    def _positions(self, snap: EngineSnapshot) -> list[Metric]:
        count = GaugeMetricFamily(P + "open_positions", "Positions the engine holds (orphans included).",
                                  value=len(snap.positions))
        orphans = GaugeMetricFamily(P + "orphan_positions", "Positions without a snapshot of their own (orphans).",
                                    value=sum(1 for p in snap.positions if p.orphan))
        labels = ["symbol", "side"]
        size = GaugeMetricFamily(P + "position_size_contracts", "Open position size (contracts).", labels=labels)
        upl = GaugeMetricFamily(P + "position_unrealised_pnl_usdt", "Unrealised P&L; absent while unknown.", labels=labels)
        age = GaugeMetricFamily(P + "position_age_seconds", "Since the position was opened.", labels=labels)
        for p in snap.positions:
            key = [p.inst_id, p.side]
            size.add_metric(key, p.size)
            age.add_metric(key, p.age_s)
            if p.upl is not None:
                upl.add_metric(key, p.upl)
        return [count, orphans, size, upl, age]

    def _orders(self, snap: EngineSnapshot) -> list[Metric]:
        orders = GaugeMetricFamily(
            P + "orders", "Orders the console lists (working, and recently finished), by role and state.",
            labels=["role", "state"],
        )
        counts: dict[tuple[str, str], int] = {}
        for order in snap.orders:
            counts[(order.role, order.state)] = counts.get((order.role, order.state), 0) + 1
        for (role, state), n in sorted(counts.items()):
            orders.add_metric([role, state], n)
        return [orders]

    def _trade_channel(self, snap: EngineSnapshot) -> list[Metric]:
        """How orders go out (engine/order_route.py): the WebSocket trade channel's state and
        figures, and the orders sent over REST while WS was configured."""
        view = snap.trade_channel
        if view is None:
            return []
        state = GaugeMetricFamily(P + "trade_channel_state", "Order route: 1 for the trade channel's current state.",
                                  labels=["transport", "state"])
        state.add_metric([view.transport, view.state], 1.0)
        ops = CounterMetricFamily(P + "trade_channel_ops", "Trade channel ops by outcome (sent, replied, no reply in time).",
                                  labels=["outcome"])
        for outcome, n in (("sent", view.sent), ("replied", view.replied), ("timeout", view.timeouts)):
            ops.add_metric([outcome], n)
        via_rest = CounterMetricFamily(P + "orders_via_rest", "Orders sent over REST while WebSocket order entry was configured.",
                                       value=view.via_rest)
        families: list[Metric] = [state, ops, via_rest]
        if view.last_rtt_ms is not None:
            families.append(GaugeMetricFamily(P + "trade_channel_rtt_seconds", "The trade channel's last op round trip.",
                                              value=view.last_rtt_ms / 1000.0))
        return families

    def _exchange_clock(self, snap: EngineSnapshot) -> list[Metric]:
        offset_ms = snap.header.clock_offset_ms
        if offset_ms is None:
            return []
        return [GaugeMetricFamily(P + "exchange_clock_offset_seconds", "Exchange time minus local time.",
                                  value=offset_ms / 1000.0)]
