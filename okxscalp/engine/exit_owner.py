"""Who closes a position at its TP and at its SL: one owner per exit.

The engine's own close at a level the exchange's attached order also holds races it: on a replay of
real market data 4 of 5 engine exits were refused with 51023, the attached order having closed the
position first. So the exchange's armed orders own the levels they hold, and the engine closes on
its own only where the exchange side is missing:
- a leg (TP or SL) the exchange holds at the snapshot's level (within half a tick) is the
  exchange's: the engine never sends a close for it;
- a leg the exchange does not hold there, or that is not verified (not looked at yet, or the
  listing failed), is the engine's, decided from the snapshot and an EXIT-fresh quote (exits.py);
- the operator's closes and flatten are the engine's (not decided here).
At a different level there is no race (whichever level the price reaches first closes it).

Verification lists the instrument's armed algo orders (GET /trade/orders-algo-pending, `conditional`
and `oco`) of the position's side. It runs when a position is first looked at, every VERIFY_EVERY_S
while it is open, and at once (at most every RECHECK_MIN_S) when a quote crosses a level the
exchange owns: a leg that vanished is then taken over by the engine. Every change of owner is
logged; the engine taking a leg over is an event (a fallback the operator should see).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from okxscalp.engine.exits import ExitDecision, ExitKind, ExitQuote, exit_decision
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import ManagedPosition, PositionKey
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import AlgoOrder

log = logging.getLogger(__name__)

VERIFY_EVERY_S = 5.0
RECHECK_MIN_S = 1.0
LIVE_ALGO_STATES = ("live", "effective", "partially_effective", "")
EXCHANGE = "exchange"
ENGINE = "engine"

ReconcileFn = Callable[[str], Awaitable[Any]]


@dataclass(slots=True)
class ExchangeLegs:
    """What the last verification found on the exchange for one position."""

    tp: bool = False
    sl: bool = False
    verified: bool = False  # False: never verified, or the last listing failed
    note: str = "not verified yet"
    checked_mono: float = 0.0

    def owner(self, kind: ExitKind) -> str:
        held = self.tp if kind is ExitKind.TAKE_PROFIT else self.sl
        return EXCHANGE if self.verified and held else ENGINE

    def describe(self) -> str:
        return f"TP: {self.owner(ExitKind.TAKE_PROFIT)}, SL: {self.owner(ExitKind.STOP_LOSS)} ({self.note})"


def exchange_legs(snapshot: PositionSnapshot, algos: list[AlgoOrder], tick: float) -> ExchangeLegs:
    """Which of the snapshot's levels an armed algo of its position holds (pure)."""
    tolerance = tick / 2 + 1e-12
    legs = ExchangeLegs(verified=True)
    held: list[str] = []
    for algo in algos:
        if algo.inst_id != snapshot.inst_id or algo.pos_side is not snapshot.pos_side:
            continue
        if algo.state not in LIVE_ALGO_STATES:
            continue
        sl = algo.sl_trigger_px
        if algo.tp_trigger_px is not None and abs(algo.tp_trigger_px - snapshot.tp_px) <= tolerance:
            legs.tp = True
            held.append(f"TP {algo.tp_trigger_px:g} ({algo.ord_type} {algo.algo_id})")
        if sl is not None and abs(sl - snapshot.sl_px) <= tolerance:
            legs.sl = True
            held.append(f"SL {sl:g} ({algo.ord_type} {algo.algo_id})")
    legs.note = "exchange holds " + ", ".join(held) if held else "the exchange holds neither level"
    return legs


class ExitOwnership:
    """See the module docstring. `decide` wraps the pure `exit_decision`."""

    def __init__(self, parts: EngineParts, *, reconcile: ReconcileFn) -> None:
        self.parts = parts
        self._reconcile = reconcile
        self.legs: dict[PositionKey, ExchangeLegs] = {}
        self._checking: set[PositionKey] = set()
        self.deferred = 0  # exit decisions left to the exchange's orders (tests, soak)

    def decide(self, position: ManagedPosition, quote: ExitQuote) -> ExitDecision | None:
        """The engine's exit for this quote, or None (no level crossed, or the exchange owns it)."""
        snap = position.snapshot
        if snap is None:
            return None
        legs = self.legs.get(position.key)
        now = self.parts.clock.mono_s()
        if legs is None or now - legs.checked_mono >= VERIFY_EVERY_S:
            self._verify_soon(position, now)
        decision = exit_decision(snap, quote)
        if decision is None:
            return None
        if legs is not None and legs.owner(decision.kind) == EXCHANGE:
            self.deferred += 1
            if now - legs.checked_mono >= RECHECK_MIN_S:  # still there? if not, the engine takes it
                self._verify_soon(position, now)
            return None
        return decision

    def owner_of(self, position: ManagedPosition, kind: ExitKind) -> str:
        legs = self.legs.get(position.key)
        return legs.owner(kind) if legs is not None else ENGINE

    def forget(self, position: ManagedPosition) -> None:
        self.legs.pop(position.key, None)

    def _verify_soon(self, position: ManagedPosition, now: float) -> None:
        if position.key in self._checking:
            return
        self._checking.add(position.key)
        self.parts.spawn(self._verify(position, now), f"exit owner {position.inst_id}")

    async def _verify(self, position: ManagedPosition, started: float) -> None:
        snap = position.snapshot
        try:
            if snap is None:
                return
            try:
                algos = await self.parts.rest.algo_orders_pending(position.inst_id)
            except OkxError as exc:
                legs = ExchangeLegs(note=f"exchange TP/SL not verified: listing failed ({exc})")
            else:
                legs = exchange_legs(snap, algos, self.parts.instruments[position.inst_id].tick)
            legs.checked_mono = started
            before = self.legs.get(position.key)
            if before is not None and legs.verified and ((before.tp and not legs.tp) or (before.sl and not legs.sl)):
                if await self._fired(position):
                    before.checked_mono = started
                    return  # the exchange's order closed it: reconciliation settles it, no takeover
            if self.parts.manager.book.positions.get(position.key) is not position:
                return  # closed meanwhile
            self._changed(position, before, legs)
            self.legs[position.key] = legs
        finally:
            self._checking.discard(position.key)

    async def _fired(self, position: ManagedPosition) -> bool:
        """A leg the exchange held is gone: it fired (the position is flat on the exchange; its push
        is late or lost, so reconciliation settles it) or was cancelled (still open: False)."""
        try:
            live = [p for p in await self.parts.rest.positions(position.inst_id)
                    if p.pos_side is position.pos_side and p.pos != 0]
        except OkxError as exc:
            log.warning("exit owner: position not checked %s", kv(inst=position.inst_id, error=exc))
            return False  # not known to be flat: the engine takes the leg over
        if live:
            return False
        if self.parts.manager.book.positions.get(position.key) is position:
            try:
                await self._reconcile(f"exchange exit fired: {position.inst_id}/{position.pos_side.value} flat")
            except OkxError as exc:  # the periodic position check reconciles again
                log.warning("exit owner: reconciliation failed %s", kv(inst=position.inst_id, error=exc))
        return True

    def _changed(self, position: ManagedPosition, before: ExchangeLegs | None, after: ExchangeLegs) -> None:
        owners = (after.owner(ExitKind.TAKE_PROFIT), after.owner(ExitKind.STOP_LOSS))
        if before is not None and (before.owner(ExitKind.TAKE_PROFIT), before.owner(ExitKind.STOP_LOSS)) == owners:
            return
        log.info("exit owners %s", kv(inst=position.inst_id, side=position.pos_side.value, tp=owners[0],
                                      sl=owners[1], why=after.note))
        if ENGINE in owners:
            self.parts.event(FallbackKind.SAFETY, position.inst_id,
                             f"{position.pos_side.value} exits: {after.describe()}: the engine closes where the "
                             "exchange holds no order", "none", "exits")
