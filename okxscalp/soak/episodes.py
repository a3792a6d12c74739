"""Applying the engine-machinery faults (machinery.py) to the running simulator and engine, and
recording each as a `MachineryFault`: when it started and ended (wall), what it needed to bite
(a position, a working entry order), and its outcome problems (a flatten that never completed, a
stop placed while the stop list could not be read, a journal or subscription that never came back).

Durations are the simulator fault injector's: wall seconds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okxscalp.okx.constants import ACCOUNT_BALANCE, WS_PRIVATE_PATH
from okxscalp.sim.server import SimServer
from okxscalp.soak.audits import journal_open_positions
from okxscalp.soak.engine_log import JOURNAL_RECOVERED, first_line
from okxscalp.soak.engine_process import EngineProcess
from okxscalp.soak.machinery import RULES, MachineryFault
from okxscalp.soak.probes import poll_until
from okxscalp.soak.schedule import Episode, FaultEvent, KillOutage
from okxscalp.soak.taps import ENTRY_PREFIX, PROTECT_PREFIX, OrderLedger

log = logging.getLogger("okxscalp.soak")

STATE_WAIT_S = 12.0  # how long an episode waits for what it needs (a position, a working order)
WORKING_ENTRY_WAIT_S = 25.0  # a working entry order is rarer (entries halt after each restart and fault)
OUTCOME_WAIT_S = 12.0  # after the outage: how long the engine has to finish what it could not
TRIGGER_OVERSHOOT = 0.002  # fills outage: the market is moved this far through the exit trigger
ORDERS_PUSH_STALL_S = 2.5  # ... while the instrument's `orders` pushes are dropped (the close's fill with them)
PRIVATE_ORDERS = "orders"


@dataclass(slots=True)
class MachineryRunner:
    server: SimServer
    engine: EngineProcess
    ledger: OrderLedger
    fault_file: Path
    engine_ready: Callable[[], bool]
    faults: list[MachineryFault] = field(default_factory=list)
    deferred: list[Episode] = field(default_factory=list)  # episodes that could not bite in their gap

    def _new(self, kind: str, params: dict[str, Any]) -> MachineryFault:
        number = 1 + sum(1 for f in self.faults if f.kind == kind)
        fault = MachineryFault(kind, number, time.time(), params=dict(params))
        self.faults.append(fault)
        return fault

    @property
    def last_end(self) -> float:
        """When the last applied fault ends (a clock skew's end is planned: set by a timer)."""
        return max((f.ended if f.ended is not None else f.marks.get("planned_end", 0.0) for f in self.faults), default=0.0)

    def _positions(self) -> list[dict[str, Any]]:
        return self.server.exchange.positions_wire()

    def _working_entries(self) -> list[dict[str, Any]]:
        return [o for o in self.server.exchange.orders_pending() if str(o.get("clOrdId", "")).startswith(ENTRY_PREFIX)]

    def _orders_subscribed(self) -> bool:
        return any(not s.closed and s.logged_in and any(a.get("channel") == PRIVATE_ORDERS for a in s.private_args.values())
                   for s in self.server.hub.sessions.get(WS_PRIVATE_PATH, []))

    # ---- timed ---------------------------------------------------------------------------------

    def apply_timed(self, event: FaultEvent) -> None:
        f, p = self.server.faults, event.params
        fault = self._new(event.kind, p)
        if event.kind == "sustained_delay":
            f.delay_messages(p["ms"], p["seconds"], p["path"])
            fault.ended = fault.started + p["seconds"]
        elif event.kind == "clock_skew":
            f.skew_time(p["ms"])
            fault.marks["planned_end"] = fault.started + p["seconds"]

            def back() -> None:
                f.skew_time(0)
                fault.marks["skew_off"] = time.time()
                fault.ended = fault.marks["skew_off"]

            asyncio.get_running_loop().call_later(p["seconds"], back)
        else:
            raise ValueError(f"not a timed machinery fault: {event.kind}")

    def balance_outage(self, outage: KillOutage) -> None:
        """Just before the kill: /account/balance fails through the restart."""
        fault = self._new("balance_outage", {"mode": outage.mode, "seconds": outage.seconds, "kill": outage.kill + 1})
        path = ACCOUNT_BALANCE.path
        if outage.mode == "storm":
            self.server.faults.rate_limit_storm(path, outage.seconds)
        else:
            self.server.faults.busy(outage.seconds, path)
        fault.ended = fault.started + outage.seconds

    # ---- episodes ------------------------------------------------------------------------------

    async def run_gap(self, episodes: tuple[Episode, ...], last: bool) -> None:
        """This gap's episodes, after any deferred from earlier gaps (an episode that could not
        bite now waits for the next gap, except in the last one)."""
        queue, self.deferred = [*self.deferred, *episodes], []
        for episode in queue:
            await self.run_episode(episode, last_chance=last)

    async def run_episode(self, episode: Episode, last_chance: bool = True) -> None:
        if not await poll_until(self.engine_ready, 60, 0.2):
            fault = self._new(episode.kind, episode.params)
            fault.notes.append("engine not running: not applied")
            return
        if episode.kind == "cancel_fail_flatten":
            await self._cancel_fail_flatten(episode, last_chance)
            return
        if episode.kind == "algo_list_fail_reconcile":
            await self._algo_list_fail_reconcile(episode, last_chance)
            return
        action = {
            "journal_fault": self._journal_fault,
            "refuse_subscription": self._refuse_subscription,
            "fills_outage_at_close": self._fills_outage_at_close,
        }[episode.kind]
        await action(episode.params)

    async def _journal_fault(self, p: dict[str, Any]) -> None:
        """The journal's commits fail like a full disk while the file exists (engine/journal_faults.py).
        A short stall of one symbol makes the engine write at once (its lagging event)."""
        fault = self._new("journal_fault", p)
        self.fault_file.write_text("soak: the journal's disk is full\n")
        self.server.faults.stall(3.0, inst_id=p["nudge_inst_id"])
        await asyncio.sleep(p["seconds"])
        self.fault_file.unlink()
        fault.ended = time.time()
        run = self.engine.current
        if run is None:
            return
        failed = first_line(run.log_text(), "journal write failed", fault.started)
        if failed is None:
            fault.notes.append("the engine logged no failed journal commit")
            return
        if not await poll_until(lambda: first_line(run.log_text(), JOURNAL_RECOVERED, fault.ended or 0.0) is not None,
                                OUTCOME_WAIT_S, 0.2):
            fault.problems.append(f"no '{JOURNAL_RECOVERED}' within {OUTCOME_WAIT_S:g}s after the disk was freed")

    async def _refuse_subscription(self, p: dict[str, Any]) -> None:
        """The private `orders` subscribe is refused for a while; a drop of the private connection
        makes the engine subscribe again, into the refusal."""
        fault = self._new("refuse_subscription", p)
        f = self.server.faults
        f.refuse_subscription(PRIVATE_ORDERS, code=p["code"], seconds=p["seconds"], path=WS_PRIVATE_PATH)
        f.drop_connections(WS_PRIVATE_PATH)
        fault.marks["drop"] = time.time()
        await asyncio.sleep(p["seconds"])
        fault.ended = time.time()
        if not await poll_until(self._orders_subscribed, OUTCOME_WAIT_S + 8, 0.2):
            fault.problems.append(f"no private connection subscribed to orders {OUTCOME_WAIT_S + 8:g}s after the refusals ended")

    def _exit_triggers(self) -> dict[tuple[str, str], tuple[float | None, float | None]]:
        """(instId, posSide) -> (take-profit trigger, stop-loss trigger) of the positions' live algos."""
        out: dict[tuple[str, str], tuple[float | None, float | None]] = {}
        for a in self.server.exchange.algo_orders_pending():
            tp, sl = a.get("tpTriggerPx") or None, a.get("slTriggerPx") or None
            if tp or sl:
                out[(a["instId"], a.get("posSide", ""))] = (float(tp) if tp else None, float(sl) if sl else None)
        return out

    async def _fills_outage_at_close(self, p: dict[str, Any]) -> None:
        """/trade/fills and /trade/fills-history answer 50013 while a position closes: the market is
        moved through its exchange-side TP (or SL) trigger, and the private `orders` push of that
        instrument is stalled meanwhile, so the engine learns of the close without its fill and
        must look the exit price up."""
        def closable() -> list[tuple[str, str]]:
            """The engine's own positions (journal-open: an orphan has no P&L to resolve) with a TP/SL."""
            triggers, own = self._exit_triggers(), journal_open_positions(self.engine.journal_path)
            return [k for k in ((q["instId"], q["posSide"]) for q in self._positions()) if k in triggers and k in own]

        if not await poll_until(lambda: bool(closable()), STATE_WAIT_S, 0.1):
            fault = self._new("fills_outage_at_close", p)
            fault.notes.append(f"no engine position with an exchange TP/SL within {STATE_WAIT_S:g}s")
            fault.ended = time.time()
            return
        key = closable()[0]
        tp, sl = self._exit_triggers()[key]
        fault = self._new("fills_outage_at_close", {**p, "position": f"{key[0]}/{key[1]}"})
        f = self.server.faults
        for path in RULES["fills_outage_at_close"].rest_paths:
            f.busy(p["seconds"], path)
        f.stall(ORDERS_PUSH_STALL_S, channel=PRIVATE_ORDERS, inst_id=key[0])
        up = 1 if key[1] == "long" else -1
        target = tp * (1 + up * TRIGGER_OVERSHOOT) if tp is not None else sl * (1 - up * TRIGGER_OVERSHOOT)  # type: ignore[operator]
        self.server.exchange.move_price(key[0], target)
        fault.marks["moved_price"] = time.time()

        def open_() -> bool:
            return any((q["instId"], q["posSide"]) == key for q in self._positions())

        await asyncio.sleep(max(0.0, fault.started + p["seconds"] - time.time()))
        fault.ended = time.time()
        if open_():
            fault.notes.append("the position did not close during the outage")

    async def _cancel_fail_flatten(self, episode: Episode, last_chance: bool) -> None:
        """Flatten (SIGUSR1) with an entry order working while cancels fail; resume (SIGUSR2) once
        the flatten has finished, or OUTCOME_WAIT_S after the outage. With no working entry order
        (entries halted meanwhile) the flatten would cancel nothing: deferred to the next gap."""
        p = episode.params
        working = await poll_until(lambda: bool(self._working_entries()), WORKING_ENTRY_WAIT_S, 0.05)
        if not working and not last_chance:
            self.deferred.append(episode)
            return
        fault = self._new("cancel_fail_flatten", p)
        if not working:
            fault.notes.append(f"no working entry order within {WORKING_ENTRY_WAIT_S:g}s (flatten sent anyway)")
        for path in RULES["cancel_fail_flatten"].rest_paths:
            self.server.faults.busy(p["seconds"], path)
        self.engine.send(signal.SIGUSR1)
        fault.marks["flatten"] = time.time()
        await asyncio.sleep(p["seconds"])
        fault.ended = time.time()
        flat = await poll_until(lambda: not self._working_entries() and not self._positions(), OUTCOME_WAIT_S, 0.1)
        if not flat:
            left = [o["clOrdId"] for o in self._working_entries()] + [f"{q['instId']}/{q['posSide']}" for q in self._positions()]
            fault.problems.append(f"flatten incomplete {OUTCOME_WAIT_S:g}s after cancels answered again: {', '.join(left)} left")
        self.engine.send(signal.SIGUSR2)
        fault.marks["resume"] = time.time()

    async def _algo_list_fail_reconcile(self, episode: Episode, last_chance: bool) -> None:
        """/trade/orders-algo-pending answers 50013 around a private reconnect (its reconciliation
        lists the stops): no stop may be placed on the strength of a list that could not be read,
        and entries stay halted while a held position's stop is unverified. With no position there
        is no stop to verify (engine/reconcile.py halts by position, Halt.UNPROTECTED; an entry
        brings its own attached stop): the fault cannot bite, so it waits for the next gap, and is
        not applied if none has a position."""
        p = episode.params
        have = await poll_until(lambda: bool(self._positions()), STATE_WAIT_S, 0.1)
        if not have and not last_chance:
            self.deferred.append(episode)
            return
        fault = self._new("algo_list_fail_reconcile", p)
        if not have:
            fault.notes.append(f"no position within {STATE_WAIT_S:g}s in any gap: not applied (nothing to protect)")
            return
        for path in RULES["algo_list_fail_reconcile"].rest_paths:
            self.server.faults.busy(p["seconds"], path)
        self.server.faults.drop_connections(WS_PRIVATE_PATH)
        fault.marks["drop"] = time.time()
        await asyncio.sleep(p["seconds"])
        fault.ended = time.time()
        placed = [a for a in self.ledger.arrivals if a.algo and a.cl_ord_id.startswith(PROTECT_PREFIX)
                  and fault.started <= a.wall <= fault.ended]
        if placed:
            fault.problems.append(f"{len(placed)} protective stop(s) placed while the stop list could not be read: "
                                  + ", ".join(f"{a.cl_ord_id} {a.inst_id}" for a in placed[:3]))
