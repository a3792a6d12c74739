"""Housekeeping: the slow checks that keep the engine's facts fresh.

Every HOUSEKEEPING_S: the account (balance, today's P&L) and the positions check (a position the
book holds that the exchange no longer lists is settled by reconciliation). Every
LEVERAGE_READBACK_S: the instruments (state, max leverage) and the exchange's actual leverage.
Each failure is logged and asked again on the next pass; what it leaves unknown halts entries
through the supervisor (balance age, leverage, instrument), never silently.
"""

from __future__ import annotations

import logging

from okxscalp.clock import wake_after
from okxscalp.engine.leverage import LeverageKeeper
from okxscalp.engine.parts import EngineParts
from okxscalp.engine.protection import stop_of
from okxscalp.engine.reconcile import Reconciler
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import instrument_tradeable

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 5.0
LEVERAGE_READBACK_S = 30.0
POSITION_CHECK_GRACE_S = 2.0  # a snapshot this close to the positions query may be newer than it


class Housekeeper:
    def __init__(self, parts: EngineParts, reconciler: Reconciler, leverage: LeverageKeeper, inst_ids: tuple[str, ...]) -> None:
        self.parts = parts
        self.reconciler = reconciler
        self.leverage = leverage
        self.inst_ids = inst_ids

    async def run(self) -> None:
        last_lever = self.parts.clock.mono_s()
        while True:
            await wake_after(HOUSEKEEPING_S)
            await self.parts.account.refresh()
            await self.verify_positions()
            await self.verify_orphan_stops()
            if self.parts.clock.mono_s() - last_lever >= LEVERAGE_READBACK_S:
                last_lever = self.parts.clock.mono_s()
                await self.refresh_instruments()
                await self.leverage.refresh()

    def check_instruments(self) -> None:
        """Entries only on a `live` instrument (suspended, pre-open … halt that symbol)."""
        supervisor = self.parts.supervisor
        for inst_id, instrument in self.parts.instruments.items():
            problem = instrument_tradeable(instrument)
            if problem:
                supervisor.set(Halt.INSTRUMENT, problem, inst_id)
            else:
                supervisor.clear(Halt.INSTRUMENT, inst_id, "instrument live")

    async def refresh_instruments(self) -> None:
        """State and limits (max leverage) as the exchange lists them now (cached by the client)."""
        parts = self.parts
        try:
            listed = {i.inst_id: i for i in await parts.rest.instruments()}
        except OkxError as exc:
            log.warning("instruments refresh failed %s", kv(error=exc, retry_s=LEVERAGE_READBACK_S))
            return
        for inst_id in self.inst_ids:
            if inst_id in listed:
                parts.instruments[inst_id] = listed[inst_id]
        self.check_instruments()
        for inst_id in self.inst_ids:
            if inst_id not in listed:
                parts.supervisor.set(Halt.INSTRUMENT, f"{inst_id}: no longer listed by the exchange", inst_id)

    async def verify_orphan_stops(self) -> None:
        """An orphan has no engine-side exits: its exchange stop is all that protects it. A stop
        that fired partly, or was cancelled outside the engine, is found here within a pass and
        the reconciliation re-protects it (the orphan policy)."""
        orphans = [p for p in self.parts.manager.book.positions.values() if p.snapshot is None and p.closing is None]
        if not orphans:
            return
        try:
            algos = await self.parts.rest.algo_orders_pending()
        except OkxError as exc:
            log.warning("orphan stops not listed %s", kv(error=exc, retry_s=HOUSEKEEPING_S))
            return
        bare = [p for p in orphans if stop_of(algos, p.inst_id, p.pos_side) is None]
        if not bare:
            return
        trigger = "orphan stop missing: " + ",".join(f"{p.inst_id}/{p.pos_side.value}" for p in bare)
        self.parts.event(FallbackKind.SAFETY, bare[0].inst_id, f"{trigger}; re-protecting", "none", "housekeeping")
        try:
            await self.reconciler.run(trigger)
        except OkxError as exc:  # the next pass asks again
            log.warning("orphan re-protect reconcile failed %s", kv(error=exc, retry_s=HOUSEKEEPING_S))

    async def verify_positions(self) -> None:
        """The exchange is the truth for sizes: a position the book holds that the exchange no
        longer has (its close push lost in a stall or a reconnect) is settled by reconciliation."""
        manager = self.parts.manager
        if not manager.book.positions:
            return
        asked_at = self.parts.clock.wall_s()
        try:
            live = {(p.inst_id, p.pos_side.value) for p in await self.parts.rest.positions() if p.pos != 0}
        except OkxError as exc:
            log.warning("position check failed %s", kv(error=exc, retry_s=HOUSEKEEPING_S))
            return
        missing = [
            key for key, pos in manager.book.positions.items()
            if key not in live and (pos.snapshot is None or pos.snapshot.entry_time < asked_at - POSITION_CHECK_GRACE_S)
        ]
        if missing:
            trigger = "position check: " + ",".join(f"{i}/{s}" for i, s in missing) + " gone"
            try:
                await self.reconciler.run(trigger)
            except OkxError as exc:  # the next pass asks again; the book keeps them meanwhile
                log.warning("position check reconcile failed %s", kv(error=exc, retry_s=HOUSEKEEPING_S))
