"""Faults of the engine's own machinery (issue 10): what each one is, when it *bites* (the first
moment it touched the engine), and which named halt reason answers it.

A fault is injected for a while (`MachineryFault.started` .. `ended`, harness wall time); it bites
when the engine first meets it: the first injected error answered on one of its REST paths, the
first refused subscription, the first failed journal commit the engine logs, the first
/public/time round trip after the exchange clock stepped, or (a delivery delay) the moment it
started with the engine running. Per engine run, the first bite is judged
(audits.audit_machinery_faults): within JUDGE_WINDOW_S of it (wall seconds: the engine's events,
its log and the harness share the machine's clock, and what the operator sees runs on wall time)
entries must be halted with a reason matching the fault's pattern, staying halted until the
cause is gone (`sustained`), or the engine must have recovered (a request on the same path
answered normally again). A bite while the run is still starting is judged from the moment its
start-up completes.

Pure data and functions; episodes.py applies the faults to a running simulator and engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from okxscalp.okx.constants import (
    ACCOUNT_BALANCE,
    PUBLIC_TIME,
    TRADE_CANCEL_ALGOS,
    TRADE_CANCEL_ORDER,
    TRADE_FILLS,
    TRADE_FILLS_HISTORY,
    TRADE_ORDERS_ALGO_PENDING,
)
from okxscalp.soak.engine_log import DAILY_LOSS_MESSAGE, JOURNAL_FAILED, JOURNAL_RECOVERED, first_line

JUDGE_WINDOW_S = 2.0


@dataclass(frozen=True, slots=True)
class FaultRule:
    halt_pattern: str  # regex (case-insensitive) a halt reason must match
    rest_paths: tuple[str, ...] = ()  # REST outages: bites are injected answers on these paths
    sustained: bool = True  # the halt must last until the fault ends (False: a step, e.g. a clock jump)


RULES: dict[str, FaultRule] = {
    "sustained_delay": FaultRule(r"lag|late|delay|stale|feed"),
    "clock_skew": FaultRule(r"clock", (PUBLIC_TIME.path,), sustained=False),
    "journal_fault": FaultRule(r"journal"),
    "refuse_subscription": FaultRule(r"private|subscri|orders|channel|refus"),
    "balance_outage": FaultRule(r"balance|equity|daily loss|day.start|account", (ACCOUNT_BALANCE.path,)),
    "fills_outage_at_close": FaultRule(r"p&l|pnl|exit price|fill|unknown", (TRADE_FILLS.path, TRADE_FILLS_HISTORY.path)),
    # A flatten may legitimately complete while cancels still fail (the entry filled and was closed).
    "cancel_fail_flatten": FaultRule(r"flatten incomplete", (TRADE_CANCEL_ORDER.path, TRADE_CANCEL_ALGOS.path),
                                     sustained=False),
    "algo_list_fail_reconcile": FaultRule(r"reconcil|algo|stop|protect|unverified", (TRADE_ORDERS_ALGO_PENDING.path,)),
}
EPISODE_KINDS = ("journal_fault", "refuse_subscription", "fills_outage_at_close", "cancel_fail_flatten",
                 "algo_list_fail_reconcile")


@dataclass(slots=True)
class MachineryFault:
    """One injected engine-machinery fault, as it was applied."""

    kind: str
    number: int  # the n-th of its kind in this run
    started: float  # wall
    ended: float | None = None  # wall; None: not applied (see notes)
    params: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # e.g. skew_off, flatten, resume, drop
    problems: list[str] = field(default_factory=list)  # outcome failures (the audit fails on them)
    notes: list[str] = field(default_factory=list)  # e.g. why it could not bite

    @property
    def label(self) -> str:
        return f"{self.kind} #{self.number}"

    @property
    def rule(self) -> FaultRule:
        return RULES[self.kind]


@dataclass(frozen=True, slots=True)
class RunView:
    """One engine run as the harness saw it (wall times) and its log."""

    number: int
    started: float
    ready: float | None
    ended: float
    log_text: str

    def holds(self, t: float) -> bool:
        return self.started <= t <= self.ended


@dataclass(frozen=True, slots=True)
class Bite:
    fault: str  # MachineryFault.label
    kind: str
    at: float
    what: str
    run: int
    until: float  # when the cause was gone (the fault's end) or the bite itself for a step
    # the same path answered normally again; for a balance outage also the moment the engine had
    # what the halt protects (equity and today's realised P&L: "daily loss limit applied"), which
    # the account push over the private stream can bring while REST still fails
    recovered_at: float | None = None


Answers = Callable[[tuple[str, ...]], list[tuple[float, str, bool]]]
WsErrors = Callable[[float], list[tuple[float, str]]]


def find_bites(fault: MachineryFault, runs: list[RunView], answers: Answers, ws_errors: WsErrors) -> list[Bite]:
    """The first bite of `fault` in every engine run it reached (a clock skew: each of its steps)."""
    if fault.ended is None:
        return []
    end = fault.ended
    rule = fault.rule
    bites: list[Bite] = []

    def run_at(t: float) -> RunView | None:
        return next((r for r in runs if r.holds(t)), None)

    def add(run: RunView | None, at: float, what: str, until: float, recovered: float | None = None) -> None:
        if run is not None and all(b.run != run.number for b in bites):
            bites.append(Bite(fault.label, fault.kind, at, what, run.number, until, recovered))

    if fault.kind == "clock_skew":
        steps = [fault.started] + ([fault.marks["skew_off"]] if "skew_off" in fault.marks else [])
        times = [t for t, _, _ in answers(rule.rest_paths)]
        for step in steps:
            t = next((t for t in times if t >= step), None)
            run = run_at(t) if t is not None else None
            if t is not None and run is not None:
                bites.append(Bite(fault.label, fault.kind, t, f"first /public/time after the clock stepped ({step:.3f})",
                                  run.number, t))
    elif rule.rest_paths:
        served: list[tuple[int, float]] = []
        for t, path, injected in answers(rule.rest_paths):
            run = run_at(t)
            if run is None or (fault.kind == "balance_outage" and run.started < fault.started):
                continue  # a balance outage is judged in the run started into it (a running engine's
                # last balance stays usable for a bounded time: Halt.BALANCE names it once too old)
            if injected and fault.started <= t <= end + 0.5:
                add(run, t, f"first injected error on {path}", end)
            elif not injected:
                served.append((run.number, t))
        def recovered(b: Bite) -> float | None:
            times = [t for n, t in served if n == b.run and t > b.at]
            if fault.kind == "balance_outage":
                run = next((r for r in runs if r.number == b.run), None)
                applied = first_line(run.log_text, DAILY_LOSS_MESSAGE, b.at) if run is not None else None
                if applied is not None:
                    times.append(applied.t)
            return min(times, default=None)

        bites = [Bite(b.fault, b.kind, b.at, b.what, b.run, b.until, recovered(b)) for b in bites]
    elif fault.kind == "refuse_subscription":
        for t, code in ws_errors(fault.started):
            if t <= end + 0.5:
                add(run_at(t), t, f"subscription refused ({code})", end)
    elif fault.kind == "journal_fault":
        for run in runs:
            line = first_line(run.log_text, JOURNAL_FAILED, fault.started, end + 1.0)
            if line is not None:
                back = first_line(run.log_text, JOURNAL_RECOVERED, line.t)
                add(run, line.t, "first failed journal commit (engine log)", end, back.t if back else None)
    elif fault.kind == "sustained_delay":
        for run in runs:
            if run.ready is None:
                continue
            at = max(run.ready, fault.started)
            if at <= end and run.holds(at):
                add(run, at, "delivery delay in force with the engine running", end)
    return sorted(bites, key=lambda b: b.at)
