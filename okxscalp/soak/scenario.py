"""One soak run: the simulator in this process, the engine as a subprocess, the fault schedule
(exchange faults and the engine's own machinery, episodes.py), the kills and restarts, then the
audits. `run_soak(settings)` returns everything measured."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import signal
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from okxscalp.engine.journal_faults import JOURNAL_FAULT_FILE_ENV
from okxscalp.okx.constants import WS_BUSINESS_PATH, WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.sim.counters import SimCounters
from okxscalp.sim.server import SIM_CREDENTIALS, SimServer
from okxscalp.soak import audits
from okxscalp.soak.engine_log import gate_events, halt_sightings, status_lines
from okxscalp.soak.engine_process import RECONCILED_STARTUP, EngineProcess, write_config
from okxscalp.soak.episodes import MachineryRunner
from okxscalp.soak.halts import RunHalts, rebuild
from okxscalp.soak.machinery import Bite, MachineryFault, RunView, find_bites
from okxscalp.soak.probes import KillTrigger, measure_reconnect, poll_until, session_ids
from okxscalp.soak.schedule import FaultEvent, Schedule, build_schedule
from okxscalp.soak.taps import OrderLedger, PositionSampler, RestTap

log = logging.getLogger("okxscalp.soak")

PAUSE_AFTER_FILL_ENV = "OKXSCALP_TEST_PAUSE_AFTER_FILL_S"  # honoured by the engine (entries.py)
PAUSE_AFTER_FILL_S = f"{audits.TEST_PAUSE_AFTER_FILL_S:g}"
SNAPSHOT_PENDING = re.compile(r"fill received, snapshot pending inst=(\S+) clOrdId=(\S+)")
ALL_WS_PATHS = (WS_PUBLIC_PATH, WS_PRIVATE_PATH, WS_BUSINESS_PATH)
BALANCE_OUTAGE_LEAD_S = 3.0  # a balance outage starts this long before its kill (the old run meets it too)
JOURNAL_FAULT_FILE = "journal-disk-full"  # in the work dir; its presence fails the journal's commits
EVIDENCE_FILE = "soak-evidence.json"  # in the work dir: what the machinery audits judged


@dataclass(frozen=True, slots=True)
class SoakSettings:
    minutes: float = 12.0
    kills: int = 20
    drops: int = 100
    seed: int = 7
    speed: float = 60.0
    workdir: Path | None = None  # default: a fresh temp dir (kept, its path is reported)
    machinery: bool = True  # also the engine's own faults (journal, subscriptions, clock, ...)


@dataclass(slots=True)
class KillRecord:
    number: int
    phase: str
    landed: str = ""  # where it actually landed (e.g. "between fill and snapshot")
    detail: str = ""
    orphan_opened: str = ""  # a position opened behind the engine's back while it was down
    restart_positions: int = 0
    restart_unknown: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SoakResult:
    settings: SoakSettings
    schedule: Schedule
    workdir: Path
    wall_s: float = 0.0
    sim_hours: float = 0.0
    kills: list[KillRecord] = field(default_factory=list)
    reconnects: list[float | None] = field(default_factory=list)
    drops_done: int = 0
    drops_interrupted: int = 0
    faults_done: Counter[str] = field(default_factory=Counter)
    machinery: list[MachineryFault] = field(default_factory=list)
    bites: list[tuple[Bite, bool | None, str]] = field(default_factory=list)  # bite, verdict, what was seen
    audits: list[audits.Audit] = field(default_factory=list)
    figures: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.audits) and all(a.passed for a in self.audits)


class SoakRun:
    def __init__(self, settings: SoakSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed + 1)
        self.workdir = settings.workdir or Path(tempfile.mkdtemp(prefix="okxscalp-soak-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = SimServer(seed=settings.seed, speed=settings.speed)
        self.engine_inst_ids: tuple[str, ...] = tuple(self.server.exchange.specs)
        self.result: SoakResult | None = None
        self.engine: EngineProcess | None = None
        self.trigger: KillTrigger | None = None
        self.restarts: list[tuple[int, set[tuple[str, str]], set[tuple[str, str]]]] = []
        self.restart_pnl: list[audits.RestartPnl] = []
        self.unplanned_exits: list[str] = []
        self._measures: set[asyncio.Task] = set()
        self.tap = RestTap()
        self.ledger = OrderLedger()
        self.sampler = PositionSampler(self.server)
        self.machinery: MachineryRunner | None = None

    # ---- helpers -------------------------------------------------------------------------------

    def _our_positions(self) -> set[tuple[str, str]]:
        assert self.engine is not None
        return {(p["instId"], p["posSide"]) for p in self.server.exchange.positions_wire()}

    def _engine_ready(self) -> bool:
        run = self.engine.current if self.engine else None
        return run is not None and run.ready_at is not None and run.proc.returncode is None

    async def _start_engine(self, next_phase: str | None) -> bool:
        assert self.engine is not None
        env = {PAUSE_AFTER_FILL_ENV: PAUSE_AFTER_FILL_S} if next_phase == "fill_before_snapshot" else None
        run = await self.engine.start(env)
        ok = await self.engine.wait_ready(run)
        if not ok:
            self.unplanned_exits.append(f"run {run.number} did not start: {run.ended_by or 'timeout'}: "
                                        + run.log_text()[-300:].replace("\n", " | "))
        return ok

    async def _restart_audit(self, before: set[tuple[str, str]]) -> tuple[int, list[str]]:
        """After a restart: every position the exchange had is journal-open or reported ORPHAN."""
        assert self.engine is not None and self.engine.runs
        run = self.engine.runs[-1]
        await poll_until(lambda: RECONCILED_STARTUP in run.log_text(), 30, 0.1)
        still = before & self._our_positions()
        known = audits.journal_open_positions(self.engine.journal_path) | audits.orphan_keys(run.log_text())
        unknown = still - known
        self.restarts.append((run.number, still, unknown))
        return len(still), [f"{i}/{s}" for i, s in sorted(unknown)]

    # ---- faults --------------------------------------------------------------------------------

    async def _apply(self, event: FaultEvent) -> None:
        f, p = self.server.faults, event.params
        kind = event.kind
        if kind == "drop":
            await self._drop(p["path"])
        elif kind == "stall_symbol":
            f.stall(p["seconds"], inst_id=p["inst_id"])
        elif kind == "stall_channel":
            f.stall(p["seconds"], channel=p["channel"])
        elif kind == "delay":
            f.delay_messages(p["ms"], p["seconds"], p["path"])
        elif kind == "malformed":
            f.send_malformed(p["kind"], p["path"])
        elif kind == "storm":
            f.rate_limit_storm(p["path"], p["seconds"])
        elif kind == "busy":
            f.busy(p["seconds"], p["path"])
        elif kind == "reject":
            f.reject_next_order(p["code"], p["msg"], p["count"])
        elif kind == "skew":
            f.skew_time(p["ms"])
            asyncio.get_running_loop().call_later(p["seconds"], f.skew_time, 0)
        elif kind in ("sustained_delay", "clock_skew"):
            assert self.machinery is not None
            self.machinery.apply_timed(event)
        assert self.result is not None
        self.result.faults_done[kind] += 1

    async def _drop(self, path: str | None) -> None:
        """Drop once the engine is up (a drop while it is down would measure nothing)."""
        assert self.result is not None and self.engine is not None
        await poll_until(self._engine_ready, 60, 0.2)
        run = self.engine.current
        paths = ALL_WS_PATHS if path is None else (path,)
        before = {p: session_ids(self.server, p) for p in paths}
        t0 = time.monotonic()
        self.server.faults.drop_connections(path)
        self.result.drops_done += 1

        async def measure(p: str) -> None:
            latency = await measure_reconnect(self.server, p, before[p], t0)
            assert self.result is not None and self.engine is not None
            if self.engine.current is not run or run is None:
                self.result.drops_interrupted += 1  # killed meanwhile: not a reconnect to measure
            else:
                self.result.reconnects.append(latency)

        for p in paths:
            task = asyncio.create_task(measure(p))
            self._measures.add(task)
            task.add_done_callback(self._measures.discard)

    async def _run_faults(self, t_start: float) -> None:
        for event in self.result.schedule.faults:  # type: ignore[union-attr]
            delay = t_start + event.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._apply(event)
            except Exception as exc:  # a fault that cannot be applied is reported, the run goes on
                log.warning("fault not applied: %s (%s)", event.describe(), exc)

    # ---- kills ---------------------------------------------------------------------------------

    async def _kill(self, record: KillRecord, timeout_s: float) -> None:
        assert self.engine is not None and self.trigger is not None
        phase = record.phase
        run = self.engine.current
        if run is None:
            record.landed = "engine not running"
            return
        if phase == "fill_before_snapshot":
            seen = len(SNAPSHOT_PENDING.findall(run.log_text()))
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                matches = SNAPSHOT_PENDING.findall(run.log_text())
                if len(matches) > seen:
                    self.engine.kill_now()
                    inst, cl = matches[-1]
                    record.landed = "between fill and snapshot"
                    record.detail = f"{inst} {cl}: killed inside the engine's fill→snapshot window"
                    return
                await asyncio.sleep(0.02)
        elif phase in ("order_in_flight", "right_after_fill", "during_flatten"):
            if phase == "during_flatten":
                await poll_until(lambda: bool(self._our_positions()), timeout_s, 0.1)
                self.trigger.arm(phase)
                self.engine.send(signal.SIGUSR1)
            else:
                self.trigger.arm(phase)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.trigger.fired.wait(), timeout_s)
            self.trigger.disarm()
            if self.trigger.fired.is_set():
                record.detail = self.trigger.detail
                record.landed = {"order_in_flight": "entry accepted, reply not yet received",
                                 "during_flatten": "flatten: close accepted, others pending",
                                 "right_after_fill": "fill pushed"}[phase]
                if phase == "right_after_fill":
                    cl = record.detail.split()[2]
                    await self.engine.reap()
                    snap = audits.journal_position_for_entry(self.engine.journal_path, cl)
                    record.landed = "after the snapshot write" if snap else "between fill and snapshot"
                return
        self.engine.kill_now()
        record.landed = "random moment" if phase == "random" else f"random moment (no {phase} event in {timeout_s:.0f}s)"

    async def _run_kills(self, t_start: float) -> None:
        schedule = self.result.schedule  # type: ignore[union-attr]
        gap = (schedule.duration_s - 35) / max(len(schedule.kill_times_s), 1)
        for number, (at_s, phase) in enumerate(zip(schedule.kill_times_s, schedule.kill_phases, strict=True)):
            assert self.machinery is not None
            await self.machinery.run_gap(schedule.episodes_in_gap(number), last=number == len(schedule.kill_times_s) - 1)
            outage = schedule.balance_outage_at(number)
            lead = BALANCE_OUTAGE_LEAD_S if outage is not None else 0.0
            delay = t_start + at_s - lead - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if outage is not None:
                self.machinery.balance_outage(outage)
                await asyncio.sleep(lead)
            record = KillRecord(number + 1, phase)
            self.result.kills.append(record)  # type: ignore[union-attr]
            crashed = self.engine.exited_on_its_own()  # type: ignore[union-attr]
            if crashed is not None:
                self.unplanned_exits.append(f"run {crashed.number} {crashed.ended_by}")
            await self._kill(record, timeout_s=max(20.0, gap * 1.5))
            await self.engine.reap()  # type: ignore[union-attr]
            await asyncio.sleep(self.rng.uniform(0.3, 2.0))
            if number in schedule.orphan_kills:
                record.orphan_opened = self._open_orphan()
            before = self._our_positions()
            next_phase = schedule.kill_phases[number + 1] if number + 1 < len(schedule.kill_phases) else None
            journal = self.engine.journal_path  # type: ignore[union-attr]
            self.restart_pnl.append(audits.RestartPnl(len(self.engine.runs) + 1, time.time(),  # type: ignore[union-attr]
                                                      audits.journal_closed(journal), audits.journal_funding(journal)))
            if await self._start_engine(next_phase):
                record.restart_positions, record.restart_unknown = await self._restart_audit(before)

    def _open_orphan(self) -> str:
        taken = {i for i, _ in self._our_positions()}
        free = [i for i in self.engine_inst_ids if i not in taken]
        if not free:
            return ""
        inst = self.rng.choice(free)
        side = self.rng.choice(("long", "short"))
        self.server.exchange.open_position_directly(inst, side, 1.0)
        return f"{inst}/{side}"

    # ---- final checks --------------------------------------------------------------------------

    def _agreement(self) -> tuple[bool, str, int, int]:
        assert self.engine is not None
        run = self.engine.runs[-1]
        journal = self.engine.journal_path
        exch = self._our_positions()
        jopen = audits.journal_open_positions(journal)
        orphans = audits.orphan_keys(run.log_text())
        problems = [f"on exchange, unknown: {k[0]}/{k[1]}" for k in sorted(exch - jopen - orphans)]
        problems += [f"journal open, not on exchange: {k[0]}/{k[1]}" for k in sorted(jopen - exch)]
        pending = {o["clOrdId"]: o["state"] for o in self.server.exchange.orders_pending()
                   if o.get("clOrdId", "").startswith(audits.OUR_PREFIXES)}
        pending.update({a["algoClOrdId"]: a["state"] for a in self.server.exchange.algo_orders_pending()
                        if a.get("algoClOrdId", "").startswith(audits.OUR_PREFIXES)})
        jlive = {r["cl_ord_id"]: r["state"] for r in audits.journal_rows(
            journal, f"SELECT cl_ord_id, state FROM orders WHERE state IN ({','.join('?' * len(audits.LIVE_STATES))})",
            audits.LIVE_STATES)}
        problems += [f"live on exchange, journal says otherwise: {c}" for c in sorted(set(pending) - set(jlive))]
        problems += [f"journal {s}, exchange not live: {c}" for c, s in sorted(jlive.items()) if c not in pending]
        return not problems, "; ".join(problems[:6]), len(exch | jopen), len(set(pending) | set(jlive))

    async def _final_checks(self) -> None:
        assert self.engine is not None and self.result is not None
        if not self._engine_ready():
            await self._start_engine(None)
        await asyncio.sleep(10)  # fault-free: let the engine settle (closes, cancels, reconcile)
        agreed, detail, npos, nord = False, "", 0, 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            agreed, detail, npos, nord = self._agreement()
            if agreed:
                break
            await asyncio.sleep(0.5)
        crashed = self.engine.exited_on_its_own()
        if crashed is not None:
            self.unplanned_exits.append(f"run {crashed.number} {crashed.ended_by}")
        code = await self.engine.stop()
        if code not in (0, None):
            self.unplanned_exits.append(f"final run: clean stop exited {code}")
        self.result.audits.append(audits.audit_final_agreement(agreed, detail, npos, nord))

    # ---- the run -------------------------------------------------------------------------------

    async def run(self) -> SoakResult:
        s = self.settings
        await self.server.start()
        config = write_config(self.workdir)
        fault_file = self.workdir / JOURNAL_FAULT_FILE
        self.engine = EngineProcess(self.workdir, config, self.workdir / "journal.sqlite", self.server.rest_url,
                                    env={JOURNAL_FAULT_FILE_ENV: str(fault_file)})
        self.trigger = KillTrigger(self.server, self.engine.kill_now, self.rng)
        self.trigger.install()
        self.tap.install(self.server)
        self.ledger.install(self.server)
        self.machinery = MachineryRunner(self.server, self.engine, self.ledger, fault_file, self._engine_ready)
        schedule = build_schedule(duration_s=s.minutes * 60, drops=s.drops, kills=s.kills, seed=s.seed,
                                  inst_ids=self.engine_inst_ids, speed=s.speed, machinery=s.machinery)
        self.result = SoakResult(s, schedule, self.workdir)
        t_start = time.monotonic()
        sim_start_ms = self.server.exchange.now_ms
        sampler = asyncio.create_task(self.sampler.run(), name="soak-positions")
        try:
            await self._start_engine(schedule.kill_phases[0] if schedule.kill_phases else None)
            faults = asyncio.create_task(self._run_faults(t_start), name="soak-faults")
            await self._run_kills(t_start)
            await faults
            await asyncio.sleep(max(0.0, self.machinery.last_end - time.time()))  # outages run their course
            self.server.faults.clear()
            if self._measures:
                await asyncio.gather(*self._measures, return_exceptions=True)
            await self._final_checks()
        finally:
            sampler.cancel()
            if fault_file.exists():
                fault_file.unlink()
            if self.engine.current is not None:
                with contextlib.suppress(Exception):
                    await self.engine.stop(10)
            await self.engine.reap()
            self.result.sim_hours = (self.server.exchange.now_ms - sim_start_ms) / 3_600_000
            counters = self.server.counters
            self._audit(counters)
            self._write_evidence()
            await self.server.stop()
        self.result.wall_s = time.monotonic() - t_start
        return self.result

    def _write_evidence(self) -> None:
        """What the machinery audits judged, for a post-mortem: the faults, each bite and its
        verdict, every order arrival, and the simulator's positions whenever they changed."""
        assert self.result is not None
        changes, last = [], None
        for sample in self.sampler.samples:
            if (sample.positions, sample.with_stop) != last:
                last = (sample.positions, sample.with_stop)
                changes.append({"t": round(sample.wall, 3), "positions": sorted("/".join(k) for k in sample.positions),
                                "with_stop": sorted("/".join(k) for k in sample.with_stop)})
        doc = {
            "machinery": [asdict(f) for f in self.result.machinery],
            "bites": [{**asdict(b), "verdict": ok, "seen": seen} for b, ok, seen in self.result.bites],
            "arrivals": [asdict(a) for a in self.ledger.arrivals],
            "positions": changes,
        }
        (self.workdir / EVIDENCE_FILE).write_text(json.dumps(doc, indent=1))

    def _views(self) -> list[RunView]:
        assert self.engine is not None
        now = time.time()
        return [RunView(r.number, r.started_wall, r.ready_wall, r.ended_wall or now, r.log_text()) for r in self.engine.runs]

    def _machinery_audits(self, views: list[RunView]) -> list[audits.Audit]:
        assert self.result is not None and self.engine is not None and self.machinery is not None
        r, journal = self.result, self.engine.journal_path
        halts: dict[int, RunHalts] = {v.number: rebuild(v.number, v.started, v.ended, gate_events(v.log_text), status_lines(v.log_text),
                                                        halt_sightings(v.log_text)) for v in views}
        r.machinery = self.machinery.faults
        bites = [b for f in r.machinery for b in find_bites(f, views, self.tap.answers, self.tap.ws_errors)]
        r.bites = [(b, *audits.judge_bite(b, halts.get(b.run))) for b in bites]
        entries = self.ledger.entries()
        runs_by_number = {v.number: v for v in views}
        entries_by_run: Counter[int] = Counter()
        for a in entries:
            run = next((v for v in views if v.holds(a.wall)), None)
            if run is not None:
                entries_by_run[run.number] += 1
        machinery = [audits.audit_machinery_faults(r.machinery, bites, halts)] if self.settings.machinery else []
        return [
            audits.audit_true_quote_age(entries, journal, self.settings.speed),
            *machinery,
            audits.audit_no_order_while_halted(entries, journal, halts),
            audits.audit_positions_visible(self.sampler.samples, [(v, halts[v.number].status) for v in views]),
            audits.audit_daily_loss_restarts(self.restart_pnl, {n: v.log_text for n, v in runs_by_number.items()},
                                             journal, dict(entries_by_run)),
        ]

    def _audit(self, counters: SimCounters) -> None:
        assert self.result is not None and self.engine is not None
        r, journal = self.result, self.engine.journal_path
        views = self._views()
        texts = [v.log_text for v in views]
        tracebacks = sum(t.count("Traceback (most recent call last)") for t in texts)
        final = r.audits[:]
        r.audits = [
            audits.audit_no_crash(self.unplanned_exits, tracebacks),
            audits.audit_reconnects(r.reconnects, r.drops_interrupted),
            audits.audit_stale_orders(journal),
            audits.audit_no_client_429(dict(counters.http_429), dict(counters.connections_rejected), dict(counters.http_429_injected)),
            audits.audit_duplicates(dict(counters.orders_by_clordid)),
            audits.audit_orders_in_journal(journal, counters.orders_by_clordid.keys()),
            audits.audit_restart_positions(self.restarts),
            *final,
            audits.audit_secrets(texts, (SIM_CREDENTIALS.secret, SIM_CREDENTIALS.passphrase)),
            *self._machinery_audits(views),
        ]
        rows = audits.journal_rows(journal, "SELECT purpose, state, acc_fill_sz FROM orders")
        positions = audits.journal_rows(journal, "SELECT state FROM positions")
        r.figures.update(
            engine_runs=len(self.engine.runs),
            entry_orders=sum(1 for x in rows if x["purpose"] == "entry"),
            entries_filled=sum(1 for x in rows if x["purpose"] == "entry" and x["acc_fill_sz"] > 0),
            exit_orders=sum(1 for x in rows if x["purpose"] != "entry"),
            positions_journalled=len(positions),
            positions_closed=sum(1 for x in positions if x["state"] == "closed"),
            orphans_reported=sum(len(audits.orphan_keys(t)) for t in texts),
            log_lines=sum(t.count("\n") for t in texts),
            malformed_sent=sum(counters.malformed_sent.values()),
            storm_429_answered=sum(counters.http_429_injected.values()),
            busy_answered=sum(counters.busy_injected.values()),
            ws_connections=sum(counters.connections_total.values()),
            machinery_faults=len(r.machinery),
            machinery_bites=len(r.bites),
        )


async def run_soak(settings: SoakSettings) -> SoakResult:
    return await SoakRun(settings).run()
