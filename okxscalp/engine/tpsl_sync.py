"""One set of TP/SL levels per position: the same on the exchange and in the snapshot.

An entry carries its TP/SL to the exchange as attached orders, priced when the order is sent, from
the price it is expected to fill at (executor.price_entry). The snapshot's levels are computed from
the fill's avgPx (exits.py). Which one is right:

- a post-only limit entry fills as a maker at its limit price, the price its attached TP/SL were
  computed from: the two computations give the same levels and nothing is amended;
- a market entry fills away from the quote it was priced from. The levels are percents of the
  ENTRY price, and the size was computed so that a stop at that distance loses the configured
  risk: a stop left at the quote's level would lose the slippage on top (or less) and the TP would
  sit a different distance away. So the levels from avgPx are the right ones, and the exchange's
  attached orders are amended to them (POST /trade/amend-algos on the listed algo: once the entry
  has filled, its attached TP/SL are an algo order of their own).

Until the exchange confirms the amend (read back from GET /trade/orders-algo-pending), the snapshot
holds the levels the exchange holds — the positions are managed and shown with the levels that
would actually fire. The amend is retried AMEND_ATTEMPTS times with a doubling backoff, each failure
an event (FallbackKind.POSITION) and a log line; after the last one the snapshot keeps the exchange's
levels (still one set), which is said in an event and on the position's row. A kill between the
confirmed amend and the snapshot's rewrite leaves the journal with the exchange's previous levels.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import ManagedPosition, PositionKey
from okxscalp.engine.snapshot_keeper import SnapshotKeeper
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import AlgoOrder, Instrument

log = logging.getLogger(__name__)

AMEND_ATTEMPTS = 5
AMEND_RETRY_MIN_S = 0.2
AMEND_RETRY_MAX_S = 2.0
COMPONENT = "tpsl"

Levels = tuple[str, str]  # (TP trigger, SL trigger) as tick-grid strings


class LevelsNotAmended(Exception):
    """The exchange does not (yet) hold the wanted levels; the message says what it holds."""


def same_levels(algo: AlgoOrder, levels: Levels, instrument: Instrument) -> bool:
    """The algo's TP and SL triggers are `levels` (within half a tick: the wire may format them differently)."""
    if not levels[0] or not levels[1]:
        return False
    half_tick = instrument.tick / 2
    return (
        algo.tp_trigger_px is not None and algo.sl_trigger_px is not None
        and abs(algo.tp_trigger_px - float(levels[0])) < half_tick
        and abs(algo.sl_trigger_px - float(levels[1])) < half_tick
    )


def attached_algo(algos: list[AlgoOrder], position: ManagedPosition, instrument: Instrument) -> AlgoOrder | None:
    """The position's attached TP/SL among the listed algos: by the ids the entry reported, else
    the live TP+SL pair of its side at the levels it was attached with (OKX gives an attached pair
    a new algoId once the entry has filled completely)."""
    ours = [a for a in algos if a.inst_id == position.inst_id and a.pos_side is position.pos_side
            and a.state in ("live", "")]
    ids = set(position.snapshot.algo_ids) if position.snapshot is not None else set()
    by_id = next((a for a in ours if a.algo_id in ids or (a.algo_cl_ord_id and a.algo_cl_ord_id in ids)), None)
    if by_id is not None:
        return by_id
    return next((a for a in ours if same_levels(a, position.levels_on_exchange, instrument)), None)


class LevelsSync:
    """Brings a position's attached TP/SL on the exchange to its snapshot's levels (module docstring)."""

    def __init__(self, parts: EngineParts, keeper: SnapshotKeeper) -> None:
        self.parts = parts
        self.keeper = keeper
        self._wanted: dict[PositionKey, Levels] = {}
        self._tasks: dict[PositionKey, asyncio.Task[Any]] = {}

    def busy(self, key: PositionKey) -> bool:
        return key in self._tasks

    def want(self, position: ManagedPosition, levels: Levels) -> None:
        """The exchange should hold `levels` for this position: amend in the background."""
        key = position.key
        self._wanted[key] = levels
        position.levels_note = f"TP/SL on the exchange being amended to TP {levels[0]} SL {levels[1]}"
        if key not in self._tasks:
            self._tasks[key] = self.parts.spawn(self._run(position), f"tpsl {key[0]}/{key[1]}")

    async def _run(self, position: ManagedPosition) -> None:
        key = position.key
        failures = 0
        delay = AMEND_RETRY_MIN_S
        try:
            while True:
                wanted = self._wanted[key]
                if self.parts.manager.book.positions.get(key) is not position or position.closing is not None:
                    position.levels_note = ""
                    return  # closed or closing: nothing left to protect with these levels
                if position.levels_on_exchange == wanted:
                    position.levels_note = ""
                    return
                try:
                    await self._amend_once(position, wanted)
                except (OkxError, LevelsNotAmended) as exc:
                    failures += 1
                    held = position.levels_on_exchange
                    if failures >= AMEND_ATTEMPTS:
                        position.levels_note = (f"TP/SL stay at the exchange's TP {held[0]} SL {held[1]}: amend to "
                                                f"TP {wanted[0]} SL {wanted[1]} failed {failures} times ({exc})")
                        self._event(position, f"{position.levels_note}; the snapshot holds the exchange's levels")
                        log.error("tp/sl amend given up %s", kv(inst=key[0], side=key[1], held=held, wanted=wanted,
                                                               failures=failures, error=exc))
                        return
                    position.levels_note = (f"TP/SL amend to TP {wanted[0]} SL {wanted[1]} failed "
                                            f"({failures}/{AMEND_ATTEMPTS}): {exc}; retrying")
                    self._event(position, f"{position.levels_note} in {delay:g}s; the snapshot holds the "
                                          f"exchange's TP {held[0]} SL {held[1]} meanwhile")
                    log.warning("tp/sl amend failed %s", kv(inst=key[0], side=key[1], wanted=wanted, failures=failures,
                                                            error=exc, retry_s=delay))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, AMEND_RETRY_MAX_S)
                    continue
                before = position.levels_on_exchange
                position.levels_on_exchange = wanted
                position.levels_note = ""
                assert position.snapshot is not None
                self._event(position, f"TP/SL amended on the exchange from TP {before[0]} SL {before[1]} to the "
                                      f"snapshot's TP {wanted[0]} SL {wanted[1]} (from the fill's avgPx "
                                      f"{position.snapshot.entry_px})")
                log.info("tp/sl amended %s", kv(inst=key[0], side=key[1], before=before, now=wanted))
                await self.keeper.commit(position, position.snapshot.with_levels(float(wanted[0]), float(wanted[1])))
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    async def _amend_once(self, position: ManagedPosition, wanted: Levels) -> None:
        """Amend the listed attached TP/SL to `wanted` and read it back; raises when not confirmed."""
        rest = self.parts.rest
        instrument = self.parts.instruments[position.inst_id]
        algo = attached_algo(await rest.algo_orders_pending(position.inst_id), position, instrument)
        if algo is None:
            raise LevelsNotAmended("the attached TP/SL is not listed by the exchange")
        if not same_levels(algo, wanted, instrument):
            await rest.amend_algo_order(position.inst_id, algo.algo_id,
                                        new_tp_trigger_px=wanted[0], new_sl_trigger_px=wanted[1])
        listed = next((a for a in await rest.algo_orders_pending(position.inst_id) if a.algo_id == algo.algo_id), None)
        if listed is None:
            raise LevelsNotAmended(f"algo {algo.algo_id} is no longer listed after the amend")
        if not same_levels(listed, wanted, instrument):
            raise LevelsNotAmended(f"amend accepted, but the exchange lists TP {listed.tp_trigger_px} "
                                   f"SL {listed.sl_trigger_px}")

    def _event(self, position: ManagedPosition, detail: str) -> None:
        self.parts.event(FallbackKind.POSITION, position.inst_id, f"{position.inst_id}/{position.pos_side.value}: {detail}",
                         "rest", COMPONENT)
