"""Reading the headless engine's log lines (`okxscalp.logging_setup`: an ISO UTC timestamp with
milliseconds, level, logger, message, then `key=value` pairs, values with spaces quoted).

The times are the engine's wall clock (`time.time()`), the clock the harness stamps its faults
and the simulator's taps with (one machine), so they compare directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z (\w+) (\S+) (.*)$")
KV = re.compile(r'(\w+)=("([^"]*)"|\S*)')
HALTED_PREFIX = "entries halted: "
CLEARED = re.compile(r"^halt cleared \((.*?)\): (.*)$")
GATE_MESSAGE = "entry_gate "
SUPERVISOR = "supervisor"
STATUS_MESSAGE = "status "
STATUS_LOGGER = "okxscalp.headless"
FALLBACK_LOGGER = "okxscalp.fallback"
# The line of the daily-loss state the engine applied (engine/account.py; audits.audit_daily_loss_restarts).
DAILY_LOSS_MESSAGE = "daily loss limit applied "
JOURNAL_FAILED = "journal write failed"
JOURNAL_RECOVERED = "journal writes commit again"


_NUMBERS = re.compile(r"[-+]?\d+(?:\.\d+)?")
_DETAIL = re.compile(r"[(:;]")


def shape(reason: str) -> str:
    """A halt reason with its figures masked."""
    return _NUMBERS.sub("#", reason)


def family(reason: str) -> str:
    """What a halt reason is about, without its details: "public feed late", "flatten incomplete"."""
    return shape(_DETAIL.split(reason, maxsplit=1)[0]).strip()


@dataclass(frozen=True, slots=True)
class LogLine:
    t: float  # epoch seconds (wall)
    level: str
    logger: str
    message: str  # everything after the logger name


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def lines(text: str) -> Iterator[LogLine]:
    """Every well-formed log line (tracebacks and other continuation lines are skipped)."""
    for raw in text.splitlines():
        m = LINE.match(raw)
        if m:
            yield LogLine(parse_time(m.group(1)), m.group(2), m.group(3), m.group(4))


def parse_kv(text: str) -> dict[str, str]:
    return {m.group(1): m.group(3) if m.group(3) is not None else m.group(2) for m in KV.finditer(text)}


@dataclass(frozen=True, slots=True)
class GateEvent:
    """One ENTRY_GATE event of the supervisor (the one place that says why entries are closed)."""

    t: float
    symbol: str  # "" = every symbol
    detail: str
    count: int  # > 1: the bus folded that many changes into this one line (the others are lost)
    source: str

    @property
    def halted_reason(self) -> str | None:
        return self.detail[len(HALTED_PREFIX):] if self.detail.startswith(HALTED_PREFIX) else None

    @property
    def cleared_reason(self) -> str | None:
        m = CLEARED.match(self.detail)
        return m.group(2) if m else None


def gate_events(text: str, component: str = SUPERVISOR) -> list[GateEvent]:
    out = []
    for line in lines(text):
        if line.logger != FALLBACK_LOGGER or not line.message.startswith(GATE_MESSAGE):
            continue
        kv = parse_kv(line.message[len(GATE_MESSAGE):])
        if kv.get("component") != component:
            continue
        symbol = kv.get("symbol", "-")
        out.append(GateEvent(line.t, "" if symbol == "-" else symbol, kv.get("detail", ""),
                             int(kv.get("count", "1") or 1), kv.get("source", "")))
    return out


@dataclass(frozen=True, slots=True)
class StatusLine:
    """The headless engine's periodic view (engine/headless.py `status_line`)."""

    t: float
    entries: str
    halted_by: str
    positions: frozenset[tuple[str, str]]  # (instId, side) as the engine shows them

    def reasons(self) -> tuple[str, ...]:
        return tuple(r for r in self.halted_by.split("|") if r and r != "-")

    def families(self) -> set[str]:
        return {family(r) for r in self.reasons()}


def status_lines(text: str) -> list[StatusLine]:
    out = []
    for line in lines(text):
        if line.logger != STATUS_LOGGER or not line.message.startswith(STATUS_MESSAGE):
            continue
        kv = parse_kv(line.message[len(STATUS_MESSAGE):])
        shown = kv.get("positions", "-")
        keys = frozenset() if shown in ("-", "") else frozenset(
            tuple(item.split("/")[:2]) for item in shown.split(";") if item.count("/") >= 1
        )
        out.append(StatusLine(line.t, kv.get("entries", ""), kv.get("halted_by", ""), keys))  # type: ignore[arg-type]
    return out


def first_line(text: str, fragment: str, since: float = 0.0, until: float = float("inf")) -> LogLine | None:
    for line in lines(text):
        if since <= line.t <= until and fragment in line.message:
            return line
    return None


def daily_loss_lines(text: str) -> list[tuple[float, dict[str, str]]]:
    return [(line.t, parse_kv(line.message[len(DAILY_LOSS_MESSAGE):])) for line in lines(text)
            if line.message.startswith(DAILY_LOSS_MESSAGE)]


FEED_GATE = "ws.private"  # the feed's entry gate (market/gate.py): "entries closed: <reason>; <reason>"
GATE_CLOSED = "entries closed: "


def halt_sightings(text: str) -> list[tuple[float, tuple[str, ...]]]:
    """Moments the engine said which reasons held entries closed, besides the supervisor's own
    ENTRY_GATE lines: its status lines (`halted_by`, the supervisor's reasons at that moment) and
    the feed gate's lines ("entries closed: …", reasons the supervisor's FEED probe reports)."""
    out = [(s.t, s.reasons()) for s in status_lines(text)]
    out += [(e.t, tuple(e.detail[len(GATE_CLOSED):].split("; "))) for e in gate_events(text, FEED_GATE)
            if e.detail.startswith(GATE_CLOSED)]
    return sorted(out)  # a status line with no reason says entries were open then
