"""When were entries halted, and why: intervals rebuilt from the supervisor's ENTRY_GATE events of
one engine run (engine/supervisor.py: "entries halted: <reason>" / "halt cleared (<why>): <reason>").

Every run starts halted (Halt.STARTING, "starting") until its start-up completes; an interval still
open when the run ends (killed, stopped) ends with it. A reason is matched to its clear by its
*family*: its words before the first "(", ":" or ";", figures masked. A probe's reason changes its
details while it holds ("public feed late (5 symbol(s) …; XRP-USDT-SWAP 3.1s)", then "…; DOGE…"),
which the supervisor reports as one reason cleared and another set; "flatten incomplete: order …"
and "flatten incomplete: position …" are one halt too. What cannot be rebuilt is kept and
reported, never guessed:
- events the bus folded (market/bus.py coalesces events of one (component, symbol, kind) within
  its interval: a line with count > 1 stands for changes whose own lines are lost, and a folded
  event is delivered up to FOLD_DELAY_S late even with count 1);
- a clear that matches no open halt: during start-up it was set before the log could say so (its
  interval starts with the run); after start-up its "halted" line was folded away, so when it
  began is unknown (`start_known` False).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from okxscalp.soak.engine_log import GateEvent, StatusLine

STARTING = "starting"
FOLD_DELAY_S = 1.5  # the bus's coalescing interval (1 s) plus the watchdog tick that flushes it
_NUMBERS = re.compile(r"[-+]?\d+(?:\.\d+)?")
_DETAIL = re.compile(r"[(:;]")


def shape(reason: str) -> str:
    return _NUMBERS.sub("#", reason)


def family(reason: str) -> str:
    """What a halt is about, without its details: "public feed late", "flatten incomplete"."""
    return shape(_DETAIL.split(reason, maxsplit=1)[0]).strip()


@dataclass(frozen=True, slots=True)
class HaltInterval:
    run: int
    symbol: str  # "" = every symbol
    reason: str
    start: float
    end: float
    cleared: bool  # False: still in force when the run ended
    start_known: bool = True  # False: its "halted" line was lost (folded); `start` is the run's start

    def applies_to(self, inst_id: str) -> bool:
        return not self.symbol or self.symbol == inst_id

    def covers(self, t: float) -> bool:
        return self.start <= t <= self.end


@dataclass(slots=True)
class RunHalts:
    run: int
    started: float
    ended: float
    intervals: list[HaltInterval] = field(default_factory=list)
    folded: list[GateEvent] = field(default_factory=list)
    unmatched_clears: list[GateEvent] = field(default_factory=list)
    # The run's status lines: the supervisor's reasons as they stood, every few seconds, never folded
    # (evidence of a halt whose ENTRY_GATE line the bus folded away).
    status: list[StatusLine] = field(default_factory=list)
    # Every moment the engine said which reasons held (status lines and the feed gate's lines).
    sightings: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    def in_force(self, inst_id: str | None, t: float) -> list[HaltInterval]:
        """Halts covering `t` for `inst_id` (None: any symbol's)."""
        return [i for i in self.intervals if i.covers(t) and (inst_id is None or i.applies_to(inst_id))]

    def startup_done(self) -> float | None:
        """When this run's start-up halt cleared (None: it never did)."""
        for i in self.intervals:
            if i.reason == STARTING and not i.symbol:
                return i.end if i.cleared else None
        return None


def rebuild(run: int, started: float, ended: float, events: list[GateEvent], status: list[StatusLine] | None = None,
            sightings: list[tuple[float, tuple[str, ...]]] | None = None) -> RunHalts:
    out = RunHalts(run, started, ended, status=list(status or ()), sightings=list(sightings or ()))
    open_: dict[tuple[str, str], tuple[float, str]] = {("", STARTING): (started, STARTING)}
    starting = True
    for event in sorted(events, key=lambda e: e.t):
        if not started <= event.t <= ended:
            continue
        if event.count > 1:
            out.folded.append(event)
        halted = event.halted_reason
        if halted is not None:
            open_.setdefault((event.symbol, family(halted)), (event.t, halted))
            continue
        cleared = event.cleared_reason
        if cleared is None:
            continue
        begun = open_.pop((event.symbol, family(cleared)), None)
        known = True
        if begun is None:
            out.unmatched_clears.append(event)
            begun, known = (started, cleared), starting
        out.intervals.append(HaltInterval(run, event.symbol, begun[1], begun[0], event.t, True, known))
        if not event.symbol and cleared == STARTING:
            starting = False
    for (symbol, _), (start, reason) in open_.items():
        out.intervals.append(HaltInterval(run, symbol, reason, start, ended, False))
    out.intervals.sort(key=lambda i: i.start)
    return out
