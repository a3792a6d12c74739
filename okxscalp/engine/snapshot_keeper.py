"""A filled entry's snapshot, written to the journal however long that takes, and the position kept
visible and protected meanwhile.

An entry fill puts the position in the book at once with its snapshot (positions.py
`track_entry_fill`); `commit` then writes the snapshot durably. Normally that takes milliseconds
and the private-event loop waits for it (nothing that follows the fill is looked at before its
snapshot is committed). When it does not commit within SNAPSHOT_WAIT_S — the journal holds it
while the disk is full, or the write raised — the loop goes on (position pushes, closes, other
fills must not wait on the disk) and the writer here keeps at it until it commits:

- every failed round is an event (FallbackKind.POSITION) and a log line; a write that raised is
  submitted again after a backoff of RETRY_MIN_S doubling up to RETRY_MAX_S (a write the journal
  holds is the journal's own retry: it is awaited, not submitted twice);
- entries are halted (`Halt.UNSNAPSHOTTED`, naming every such position) until it commits;
- the position stays in the book, shown as unsnapshotted, and exits are still decided from the
  snapshot held in memory: its levels are the ones the exchange holds (tpsl_sync.py);
- its exchange-side protection is verified every round: the attached stop must be listed by the
  exchange, else a reduce-only protective stop is placed (protection.py). A listing or a placement
  that fails halts entries too (`Halt.UNPROTECTED`) until a later round verifies it.

A position that closed before its snapshot committed is settled by reconciliation once it has
(the close's journal row may have been refused in between).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from okxscalp.engine.parts import EngineParts
from okxscalp.engine.positions import ManagedPosition, PositionKey
from okxscalp.engine.protection import PROTECT_PREFIX, describe_stop, place_protective_stop, stop_of
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.engine.supervisor import Halt
from okxscalp.logging_setup import kv
from okxscalp.market.events import FallbackKind
from okxscalp.okx.errors import OkxError

log = logging.getLogger(__name__)

SNAPSHOT_WAIT_S = 1.0  # a durable write normally takes milliseconds (one fsync)
RETRY_MIN_S = 0.25
RETRY_MAX_S = 5.0
RELIST_S = 0.5  # an attached stop not listed yet may be armed just after the fill push: ask once more
COMPONENT = "snapshot"

ResyncFn = Callable[[str], Awaitable[Any]]


def _outcome_read(write: asyncio.Future[Any]) -> None:
    """A write's failure is reported by the writer loop; this only marks it read, so a write
    still pending when the engine stops (its journal closed under it) is no stray traceback."""
    if not write.cancelled():
        write.exception()


class SnapshotKeeper:
    def __init__(self, parts: EngineParts) -> None:
        self.parts = parts
        self._desired: dict[PositionKey, PositionSnapshot] = {}  # the snapshot each position should have
        self._durable: dict[PositionKey, asyncio.Event] = {}  # set once the desired one is committed
        self._writers: dict[PositionKey, asyncio.Task[Any]] = {}
        self._unsnapshotted: dict[PositionKey, str] = {}  # key -> cause, for the halt reason
        self._unprotected: dict[PositionKey, str] = {}
        # Reconciliation, for a position that closed before its snapshot committed (bound by the
        # private-event router, which owns the engine's reconcile function).
        self.resync: ResyncFn | None = None

    def writing(self, key: PositionKey) -> bool:
        return key in self._writers

    async def commit(self, position: ManagedPosition, snapshot: PositionSnapshot) -> bool:
        """Make `snapshot` the position's and write it durably. True once committed within
        SNAPSHOT_WAIT_S; False when it is still being written (see the module docstring)."""
        position.snapshot = snapshot
        key = position.key
        self._desired[key] = snapshot
        durable = self._durable.setdefault(key, asyncio.Event())
        durable.clear()
        if key not in self._writers:
            self._writers[key] = self.parts.spawn(self._write_until_durable(position), f"snapshot {key[0]}/{key[1]}")
        try:
            await asyncio.wait_for(durable.wait(), SNAPSHOT_WAIT_S)
        except TimeoutError:
            return False
        return True

    # ---- the writer --------------------------------------------------------------------------

    async def _write_until_durable(self, position: ManagedPosition) -> None:
        key = position.key
        journal = self.parts.journal
        failures = 0
        retry_s = RETRY_MIN_S
        started = self.parts.clock.mono_s()
        try:
            while True:
                snapshot = self._desired[key]
                write = asyncio.ensure_future(journal.write_snapshot_durably(snapshot))
                write.add_done_callback(_outcome_read)  # also when this task is cancelled at shutdown
                wait_s = SNAPSHOT_WAIT_S
                while True:
                    done, _ = await asyncio.wait({write}, timeout=wait_s)
                    if done:
                        break
                    failures += 1
                    held = journal.write_failure or "the journal has not committed it yet"
                    await self._failed(position, f"not committed after {self.parts.clock.mono_s() - started:.1f}s: {held}",
                                       held, failures, f"still waiting for it, next check in {wait_s * 2:g}s")
                    wait_s = min(wait_s * 2, RETRY_MAX_S)
                error = write.exception()
                if error is not None:
                    failures += 1
                    await self._failed(position, f"write failed: {error}", f"write failed: {error}", failures,
                                       f"writing it again in {retry_s:g}s")
                    await asyncio.sleep(retry_s)
                    retry_s = min(retry_s * 2, RETRY_MAX_S)
                    continue
                if self._desired[key] is not snapshot:
                    continue  # a later fill changed it meanwhile: write that one
                self._committed(position, snapshot, failures, self.parts.clock.mono_s() - started)
                break
        finally:
            if self._writers.get(key) is asyncio.current_task():
                del self._writers[key]
        await self._keep_verifying(position)  # a later commit() has a writer of its own

    async def _failed(self, position: ManagedPosition, detail: str, cause: str, failures: int, next_step: str) -> None:
        """One failed round: event, log line, halt (naming the position), protection verified."""
        parts = self.parts
        key = position.key
        what = f"{key[0]}/{key[1]}"
        position.unsnapshotted_why = cause
        self._unsnapshotted[key] = cause
        (log.error if failures == 1 else log.warning)(
            "position snapshot not written %s",
            kv(inst=key[0], side=key[1], failures=failures, detail=detail, next=next_step),
        )
        parts.event(FallbackKind.POSITION, key[0],
                    f"snapshot of {what} not written (failure {failures}): {detail}; {next_step}; entries halted",
                    "none", COMPONENT)
        self._sync_halt(Halt.UNSNAPSHOTTED, self._unsnapshotted, "unsnapshotted (snapshot not in the journal)")
        await self.verify_protection(position)

    def _committed(self, position: ManagedPosition, snapshot: PositionSnapshot, failures: int, took_s: float) -> None:
        parts = self.parts
        key = position.key
        position.unsnapshotted_why = ""
        self._durable[key].set()
        log.info(
            "position snapshot written %s",
            kv(inst=key[0], side=key[1], regime=snapshot.entry_regime.value, entry_px=snapshot.entry_px,
               size=snapshot.size, tp=snapshot.tp_px, sl=snapshot.sl_px,
               tp_src=snapshot.exit_params.tp_percent.source_path, sl_src=snapshot.exit_params.sl_percent.source_path,
               leverage=snapshot.leverage.value, leverage_src=snapshot.leverage.source_path,
               after_failures=failures),
        )
        if key not in self._unsnapshotted:
            return
        del self._unsnapshotted[key]
        parts.event(FallbackKind.POSITION, key[0],
                    f"snapshot of {key[0]}/{key[1]} written after {failures} failed round(s), {took_s:.1f}s",
                    "none", COMPONENT)
        self._sync_halt(Halt.UNSNAPSHOTTED, self._unsnapshotted, "unsnapshotted (snapshot not in the journal)")
        if parts.manager.book.positions.get(key) is not position and self.resync is not None:
            # Closed while unsnapshotted: its close may not have found a journal row to close.
            parts.spawn(self.resync(f"snapshot of {key[0]}/{key[1]} written after its position closed"),
                        f"resync {key[0]}")

    async def _keep_verifying(self, position: ManagedPosition) -> None:
        """After the snapshot committed: a protection that could not be verified is retried until it
        is (or the position is gone)."""
        delay = RETRY_MIN_S
        while position.key in self._unprotected:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            await self.verify_protection(position)

    # ---- protection --------------------------------------------------------------------------

    async def verify_protection(self, position: ManagedPosition) -> bool:
        """The exchange lists a stop for the position, or a protective one is placed now at the
        snapshot's SL. False (entries halted, `Halt.UNPROTECTED`) when neither could be done."""
        parts = self.parts
        key = position.key
        if parts.manager.book.positions.get(key) is not position or position.snapshot is None:
            self._set_protected(key, None)
            return True
        rest = parts.rest
        try:
            stop = stop_of(await rest.algo_orders_pending(position.inst_id), position.inst_id, position.pos_side)
            if stop is None:
                await asyncio.sleep(RELIST_S)
                stop = stop_of(await rest.algo_orders_pending(position.inst_id), position.inst_id, position.pos_side)
            if stop is not None:
                text = f"exchange stop verified: {describe_stop(stop)}"
            else:
                sl = parts.instruments[position.inst_id].format_price(position.snapshot.sl_px, "nearest")
                algo_id = await place_protective_stop(
                    rest, parts.journal, inst_id=position.inst_id, pos_side=position.pos_side, sl_px=sl,
                    td_mode=parts.account_settings.margin_mode, position_cl_ord_id=position.snapshot.entry_cl_ord_id,
                    algo_cl_ord_id=parts.cl_ord_ids.new(PROTECT_PREFIX),
                    why=f"no stop listed for {key[0]}/{key[1]} (snapshot not written): SL {sl} from the fill's snapshot",
                )
                position.protect_algo_id = algo_id
                text = f"protective stop placed: conditional {algo_id} SL {sl} (no stop was listed)"
                parts.event(FallbackKind.POSITION, key[0], f"{key[0]}/{key[1]}: {text}", "rest", COMPONENT)
        except OkxError as exc:
            text = f"exchange-side stop NOT verified: {exc}"
            position.protection = text
            parts.event(FallbackKind.POSITION, key[0], f"{key[0]}/{key[1]}: {text}; retrying", "none", COMPONENT)
            log.error("protection not verified %s", kv(inst=key[0], side=key[1], error=exc))
            self._set_protected(key, f"stop not verified: {exc}")
            return False
        position.protection = text
        log.info("protection %s", kv(inst=key[0], side=key[1], state=text))
        self._set_protected(key, None)
        return True

    def _set_protected(self, key: PositionKey, problem: str | None) -> None:
        if problem is None:
            if self._unprotected.pop(key, None) is None:
                return
        else:
            self._unprotected[key] = problem
        self._sync_halt(Halt.UNPROTECTED, self._unprotected, "unprotected")

    def _sync_halt(self, kind: Halt, causes: dict[PositionKey, str], what: str) -> None:
        """One halt of `kind` naming every position that has it; cleared when none is left."""
        supervisor = self.parts.supervisor
        if not causes:
            supervisor.clear(kind, why=f"no position {what} any more")
            return
        named = "; ".join(f"{inst}/{side}: {cause}" for (inst, side), cause in sorted(causes.items()))
        supervisor.set(kind, f"position {what}: {named}")
