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
  began is unknown (`start_known` False);
- a halt whose clear line was folded away: the run's status lines (every few seconds, the
  supervisor's reasons as they stand) end it at the first one that no longer shows it, and when
  it ended before that is unknown (`end_known` False).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from okxscalp.engine.supervisor import reason_shape
from okxscalp.soak.engine_log import GateEvent, StatusLine, family, shape

__all__ = ["FOLD_DELAY_S", "STARTING", "HaltInterval", "RunHalts", "family", "rebuild", "shape"]

STARTING = "starting"
FOLD_DELAY_S = 1.5  # the bus's coalescing interval (1 s) plus the watchdog tick that flushes it


@dataclass(frozen=True, slots=True)
class HaltInterval:
    run: int
    symbol: str  # "" = every symbol
    reason: str
    start: float
    end: float
    cleared: bool  # False: still in force when the run ended
    start_known: bool = True  # False: its "halted" line was lost (folded); `start` is the run's start
    end_known: bool = True  # False: its clear line was lost; `end` is the first status line without it

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
    """The run's halt intervals from its ENTRY_GATE events; its status lines (the supervisor's
    reasons at that moment) end a halt whose clear line the bus folded away: at the first status
    line without it (`end_known` False: it ended somewhere before)."""
    out = RunHalts(run, started, ended, status=list(status or ()), sightings=list(sightings or ()))
    # (symbol, family) -> (start, first reason, its reasons in force by the supervisor's shape,
    # counted): one family can hold several at once (unprotected: one per position; a changed
    # reason is set before the old one is cleared); it ends when the last one clears.
    # Start-up's halt is open from the run's start whether or not its "halted" line made the log.
    open_: dict[tuple[str, str], tuple[float, str, Counter[str]]] = {("", STARTING): (started, STARTING, Counter())}
    closed_by_status: set[tuple[str, str]] = set()
    starting = True
    timeline: list[tuple[float, int, GateEvent | StatusLine]] = [(e.t, 0, e) for e in events]
    timeline += [(line.t, 1, line) for line in out.status]
    for t, _, item in sorted(timeline, key=lambda x: (x[0], x[1])):
        if not started <= t <= ended:
            continue
        if isinstance(item, StatusLine):
            shown = item.families()
            for key in [k for k in open_ if k[1] not in shown and open_[k][0] < t]:
                begun = open_.pop(key)
                out.intervals.append(HaltInterval(run, key[0], begun[1], begun[0], t, True, end_known=False))
                closed_by_status.add(key)
            continue
        event = item
        if event.count > 1:
            out.folded.append(event)
        halted = event.halted_reason
        if halted is not None:
            key = (event.symbol, family(halted))
            open_.setdefault(key, (event.t, halted, Counter()))[2][reason_shape(halted)] += 1
            closed_by_status.discard(key)
            continue
        cleared = event.cleared_reason
        if cleared is None:
            continue
        key = (event.symbol, family(cleared))
        held = open_.get(key)
        if held is not None:
            shapes, gone = held[2], reason_shape(cleared)
            shapes[gone] -= 1
            if shapes[gone] <= 0:
                del shapes[gone]
            if shapes:  # another reason of the family still holds
                continue
        begun = open_.pop(key, None)
        known = True
        if begun is None:
            if key in closed_by_status:  # the late (folded) clear of a halt a status line already ended
                closed_by_status.discard(key)
                continue
            out.unmatched_clears.append(event)
            # It began after the last status line that did not show it (or with the run).
            before = [line.t for line in out.status if line.t < event.t and key[1] not in line.families()]
            begun, known = (max(before, default=started), cleared, Counter()), starting
        out.intervals.append(HaltInterval(run, event.symbol, begun[1], begun[0], event.t, True, known))
        if not event.symbol and cleared == STARTING:
            starting = False
    for (symbol, _), (start, reason, _shapes) in open_.items():
        out.intervals.append(HaltInterval(run, symbol, reason, start, ended, False))
    out.intervals.sort(key=lambda i: i.start)
    return out
