"""Why entries are closed: the one place that says it.

Every reason the engine may refuse to open a position is a `Halt` kind below. Parts of the engine
*report* a condition (`set`/`clear`, per symbol or for all) or register a *probe* (a function read at
check time, for state owned elsewhere: the feed's gate, the daily loss limit, the exchange clock);
only this module *decides*. The console header and `Engine.halt_reasons()` read `reasons()`, the
entry path reads `entries_open(inst_id)` (probes are evaluated on every call, so a probe's condition
closes entries the moment it holds), and every change is an ENTRY_GATE event on the bus (so it lands
in the journal and the log with its reason and time): reported conditions at once, probes within
WATCH_S (`watch()` compares their reasons with the last ones).

A condition is cleared only by the part that set it, once the cause is gone; nothing times out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from enum import Enum

from okxscalp.clock import wake_after
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind

log = logging.getLogger(__name__)


class Halt(str, Enum):
    """Every kind of reason entries can be closed for (reported conditions and probes)."""

    STARTING = "starting"  # start-up not complete (reconcile, feed, warm-up)
    STOPPED = "stopped"  # the engine has stopped or failed
    OPERATOR_PAUSE = "operator_pause"  # `space` / SIGUSR1-style pause
    FLATTEN = "flatten"  # flatten all requested: halted until the operator resumes
    FLATTEN_INCOMPLETE = "flatten_incomplete"  # an order or position flatten could not yet remove
    # probe: the feed's gate — private stream not up with every channel acked, reconciliation after
    # a reconnect pending, reconnect-storm breaker, public feed late or silent, and the exchange
    # clock unmeasured, stale, jumped or skewed (market/feeds.py `entries_allowed`)
    FEED = "feed"
    DAILY_LOSS = "daily_loss"  # probe: realised loss today reached the limit, or day start unknown
    DAY_PNL_UNKNOWN = "day_pnl_unknown"  # today's realised P&L not fully known (a close without exit px)
    BALANCE = "balance"  # equity not known or too old to size against
    JOURNAL = "journal"  # a journal write failed: nothing may be sent that cannot be recorded
    UNSNAPSHOTTED = "unsnapshotted"  # a filled position whose snapshot is not written yet
    UNPROTECTED = "unprotected"  # a position whose exchange-side stop could not be verified
    PRIVATE_EVENTS = "private_events"  # a private push could not be handled: until a reconciliation re-synced
    STOPS_LEFT = "stops_left"  # a stop of a closed position could not be cancelled
    # a task of the engine's own (an entry send, a close, a settle, a stop cleanup) died on an
    # unexpected error: its work may be half done; the operator checks and resumes (`space`)
    INTERNAL = "internal"
    ORDERS_LEFT = "orders_left"  # an entry order of a previous run is working and could not be cancelled
    LEVERAGE = "leverage"  # per symbol: leverage unresolved, out of range or mismatched
    INSTRUMENT = "instrument"  # per symbol: instrument not live (suspended, pre-open …)
    # probe: WebSocket order entry configured with `order_entry.rest_fallback: false` and the trade
    # channel not ready (engine/order_route.py); cleared when the channel is logged in again
    TRADE_CHANNEL = "trade_channel"


WATCH_S = 0.25  # how often probe results are compared, to emit their changes as events
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def _shape(reason: str) -> str:
    """What a halt *is*, without its details: the text before its first parenthesis, figures
    masked. A countdown, a running P&L or the list of late symbols changing is not a new halt."""
    return _NUMBERS.sub("#", reason.split(" (", 1)[0])


def reason_shape(reason: str) -> str:
    """`_shape` for readers that group halts (metrics labels: bounded, one per kind of halt)."""
    return _shape(reason)


EmitFn = Callable[[FallbackKind, str, str, str, str], None]  # kind, symbol, detail, source, component
Probe = Callable[[], Iterable[str]]


class EntrySupervisor:
    """Holds the halt conditions; see the module docstring."""

    __slots__ = (
        "_conditions", "_emit", "_probe_raw", "_probe_seen", "_probes", "_symbol_conditions", "_wall_clock", "changes",
    )

    def __init__(self, emit: EmitFn | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        self._emit = emit
        self._wall_clock = wall_clock  # the engine's clock (the log's `at`: simulated in a backtest)
        self._conditions: dict[Halt, str] = {}
        self._symbol_conditions: dict[str, dict[Halt, str]] = {}
        self._probes: list[tuple[Halt, Probe]] = []
        self._probe_seen: dict[Halt, dict[str, str]] = {}  # kind -> shape -> reason as last seen
        self._probe_raw: dict[Halt, tuple[str, ...]] = {}  # kind -> the reasons _probe_seen was built from
        self.changes = 0  # condition sets/clears so far (tests, soak probes)

    def bind_emit(self, emit: EmitFn) -> None:
        self._emit = emit

    # ---- reporting ---------------------------------------------------------------------------

    def set(self, kind: Halt, reason: str, inst_id: str = "") -> None:
        """Close entries (for all, or for `inst_id`) for `reason` until `clear(kind, inst_id)`."""
        table = self._table(inst_id, create=True)
        was = table.get(kind)
        if was == reason:
            return
        table[kind] = reason
        self._changed(f"entries halted: {reason}", inst_id, kind)
        if was is not None:  # every halt line gets its clear line, as a probe's changed reason does
            self._changed(f"halt cleared (reason changed): {was}", inst_id, kind)

    def clear(self, kind: Halt, inst_id: str = "", why: str = "") -> None:
        table = self._table(inst_id, create=False)
        if table is None or kind not in table:
            return
        reason = table.pop(kind)
        self._changed(f"halt cleared ({why or 'cause gone'}): {reason}", inst_id, kind)

    def is_set(self, kind: Halt, inst_id: str = "") -> bool:
        table = self._table(inst_id, create=False)
        return table is not None and kind in table

    def reason_of(self, kind: Halt, inst_id: str = "") -> str | None:
        table = self._table(inst_id, create=False)
        return None if table is None else table.get(kind)

    def add_probe(self, kind: Halt, probe: Probe) -> None:
        """`probe()` returns the current reasons of a condition whose state lives elsewhere."""
        self._probes.append((kind, probe))

    def poll(self) -> None:
        """Emit an event for every probe reason that appeared or went since the last poll."""
        for kind, probe in self._probes:
            try:
                now = tuple(probe())
            except Exception as exc:
                now = (f"{kind.value}: cannot be checked ({exc!r})",)
            if now == self._probe_raw.get(kind):
                continue  # the same words: the same shapes as last time, nothing to compare or store
            self._probe_raw[kind] = now
            before = self._probe_seen.get(kind, {})
            current = {_shape(r): r for r in now}
            self._probe_seen[kind] = current  # the latest wording, for the clear event
            if current.keys() == before.keys():
                continue
            for shape, reason in current.items():
                if shape not in before:
                    self._changed(f"entries halted: {reason}", "", kind)
            for shape, reason in before.items():
                if shape not in current:
                    self._changed(f"halt cleared (cause gone): {reason}", "", kind)

    async def watch(self) -> None:
        while True:
            self.poll()
            await wake_after(WATCH_S)

    # ---- reading -----------------------------------------------------------------------------

    def reasons(self, inst_id: str | None = None) -> tuple[str, ...]:
        """Why entries are closed: for every symbol (`None`: global and every symbol's reasons) or
        for one symbol (global + that symbol's)."""
        out = list(self._conditions.values())
        for kind, probe in self._probes:
            try:
                out.extend(probe())
            except Exception as exc:  # a probe that cannot answer closes entries, visibly
                out.append(f"{kind.value}: cannot be checked ({exc!r})")
        if inst_id is None:
            for table in self._symbol_conditions.values():
                out.extend(table.values())
        else:
            table = self._symbol_conditions.get(inst_id)
            if table:
                out.extend(table.values())
        return tuple(out)

    def active(self) -> tuple[tuple[Halt, str, str], ...]:
        """What `reasons()` lists, each with its kind and symbol: (kind, instId or "", reason).
        Read-only, for the metrics endpoint (a gauge per kind)."""
        out = [(kind, "", reason) for kind, reason in self._conditions.items()]
        for kind, probe in self._probes:
            try:
                out.extend((kind, "", reason) for reason in probe())
            except Exception as exc:  # as in reasons(): a probe that cannot answer is a reason
                out.append((kind, "", f"{kind.value}: cannot be checked ({exc!r})"))
        for inst_id, table in self._symbol_conditions.items():
            out.extend((kind, inst_id, reason) for kind, reason in table.items())
        return tuple(out)

    @property
    def halted_for_all(self) -> bool:
        """A reported condition closes entries for every symbol (cheap: the tick path asks first)."""
        return bool(self._conditions)

    def entries_open(self, inst_id: str) -> bool:
        """`not reasons(inst_id)`, asked on every signal: stops at the first closed condition and
        collects no words (a probe that cannot answer closes entries, as in reasons())."""
        if self._conditions or self._symbol_conditions.get(inst_id):
            return False
        for _, probe in self._probes:
            try:
                if probe():
                    return False
            except Exception:  # reasons() and the watch's poll show why
                return False
        return True

    def kinds(self, inst_id: str = "") -> frozenset[Halt]:
        table = self._table(inst_id, create=False)
        return frozenset(table) if table else frozenset()

    # ---- internals ---------------------------------------------------------------------------

    def _table(self, inst_id: str, *, create: bool) -> dict[Halt, str] | None:
        if not inst_id:
            return self._conditions
        table = self._symbol_conditions.get(inst_id)
        if table is None and create:
            table = self._symbol_conditions[inst_id] = {}
        return table

    def _changed(self, detail: str, inst_id: str, kind: Halt) -> None:
        self.changes += 1
        if self._emit is not None:  # the event reaches the journal and the log through the bus
            # source = the halt kind, so a reader (journal, soak audits) can tell halts apart
            self._emit(FallbackKind.ENTRY_GATE, inst_id, detail, kind.value, "supervisor")
        else:
            log.info("entry gate %s", kv(halt=kind.value, symbol=inst_id or "-", detail=detail, at=round(self._wall_clock(), 3)))
