"""Engine notices → toasts: each notice once, in order, never a replay of old ones, one toast at a time.

The engine keeps a bounded list of recent notices, each with a `seq` one above the last. The console
remembers the highest `seq` it has taken. On the first snapshot it only takes that mark: notices from
before the console was looking are history (the orders and trades views hold it), and a burst of them
would bury the panes. A gap in `seq` (notices that aged out of the engine's list between two samples)
is said, not passed over.

Toasts sit at the bottom right, over the events pane's Detail column and never left of it (the key
columns come first in every pane), so at 80 columns they are about 34 wide. Only the events pane is
below the positions at 80x24, so at most MAX_VISIBLE notice toasts are up at once, each three lines:
notices that come while the slot is taken wait, and show together in one toast when it frees (a
flatten's closes read as one toast, not a column of them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from textual.notifications import SeverityLevel

from okxscalp.engine.views import Notice
from okxscalp.tui.keyed_table import CELL_PADDING, Column

SEVERITIES: frozenset[str] = frozenset({"information", "warning", "error"})
# Severity for a notice whose own severity is not one the console knows: a kind that reports a
# failure is an error; anything else is at least worth a warning (never shown as calm information).
KIND_SEVERITY: Mapping[str, SeverityLevel] = {"rejected": "error", "breaker": "error"}
UNKNOWN_SEVERITY: SeverityLevel = "warning"
SEVERITY_RANK: Mapping[SeverityLevel, int] = {"information": 0, "warning": 1, "error": 2}
# Seconds on screen: fills and hits pass quickly; what needs action stays longer.
TIMEOUT_S: Mapping[SeverityLevel, float] = {"information": 6.0, "warning": 10.0, "error": 15.0}
MAX_VISIBLE = 1
# A toast's text is cut here (about three lines at 80 columns); the orders and trades views and the
# event stream have it in full.
MAX_TEXT = 60
MERGED_TITLES = 3  # a merged toast names this many notices, then says how many more
_INST_ID = re.compile(r"\b([A-Z0-9]+-[A-Z]+)-SWAP\b")  # BTC-USDT-SWAP → BTC-USDT: narrow toasts

Notify = Callable[..., None]  # App.notify(message, *, title=, severity=, timeout=, markup=)


@dataclass(frozen=True, slots=True)
class Toast:
    title: str
    message: str
    severity: SeverityLevel
    timeout: float


def severity_of(notice: Notice) -> SeverityLevel:
    if notice.severity in SEVERITIES:
        return cast(Literal["information", "warning", "error"], notice.severity)
    return KIND_SEVERITY.get(notice.kind, UNKNOWN_SEVERITY)


def short_text(text: str, limit: int = MAX_TEXT) -> str:
    text = _INST_ID.sub(r"\1", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def toast_of(notice: Notice) -> Toast:
    severity = severity_of(notice)
    return Toast(short_text(notice.title or notice.kind), short_text(notice.text), severity, TIMEOUT_S[severity])


def merged_toast(notices: list[Notice], missed: int) -> Toast:
    """Several notices in one toast: the first few titles, under the gravest severity among them.
    `missed`: notices that aged out of the engine's list before the console saw them."""
    severities = [severity_of(notice) for notice in notices] + (["warning"] if missed else [])
    severity = max(severities, key=SEVERITY_RANK.__getitem__)
    names = [short_text(notice.title or notice.kind, 30) for notice in notices[:MERGED_TITLES]]
    if len(notices) > MERGED_TITLES:
        names.append(f"+{len(notices) - MERGED_TITLES} more")
    if missed:
        names.append(f"{missed} not shown (came faster than the console sampled)")
    return Toast(f"{len(notices) + missed} notices", "; ".join(names), severity, TIMEOUT_S[severity])


def column_start(columns: Sequence[Column], key: str) -> int:
    """The screen column where the table column `key` starts (the columns before it are fixed)."""
    start = 0
    for column in columns:
        if column.key == key:
            return start
        start += column.width + 2 * CELL_PADDING
    raise ValueError(f"no column {key!r}")


def toast_css(left: int) -> str:
    """App CSS: toasts right of screen column `left` (the events' Detail), compact, at most 50 wide."""
    return f"""
    ToastRack {{
        padding-left: {left};
        scrollbar-size-vertical: 0;  /* its gutter would take two columns from every toast */
    }}
    Toast {{
        width: 1fr;
        max-width: 50;
        padding: 0 1;
        margin-top: 0;
    }}
    """


class NoticeFeed:
    """Which notices are new, and when to toast them: the one piece of state behind the toasts."""

    def __init__(self, *, max_visible: int = MAX_VISIBLE, clock: Callable[[], float] = time.monotonic) -> None:
        self.last_seq: int | None = None  # None until the first snapshot has been seen
        self.max_visible = max_visible
        self._clock = clock
        self._pending: list[Notice] = []
        self._missed = 0
        self._up_until: list[float] = []  # when each notice toast still up expires

    def _take(self, notices: Iterable[Notice]) -> None:
        ordered = sorted(notices, key=lambda notice: notice.seq)
        if self.last_seq is None:
            # An empty first list: every notice to come is new, whatever seq the engine starts at.
            self.last_seq = ordered[-1].seq if ordered else -1
            return
        fresh = [notice for notice in ordered if notice.seq > self.last_seq]
        if not fresh:
            return
        if self.last_seq >= 0:
            self._missed += max(0, fresh[0].seq - self.last_seq - 1)
        self._pending.extend(fresh)
        self.last_seq = fresh[-1].seq

    def new_toasts(self, notices: Iterable[Notice]) -> list[Toast]:
        """The toasts to show now for the notices not seen before (none for the first snapshot);
        call with every snapshot, so notices waiting for a free slot are shown when it frees."""
        self._take(notices)
        now = self._clock()
        self._up_until = [until for until in self._up_until if until > now]
        slots = self.max_visible - len(self._up_until)
        if slots <= 0 or not (self._pending or self._missed):
            return []
        pending, missed = self._pending, self._missed
        self._pending, self._missed = [], 0
        if len(pending) + bool(missed) <= slots:
            toasts = ([merged_toast([], missed)] if missed else []) + [toast_of(notice) for notice in pending]
        else:
            alone = pending[len(pending) - (slots - 1) :] if slots > 1 else []
            toasts = [merged_toast(pending[: len(pending) - len(alone)], missed)] + [toast_of(n) for n in alone]
        self._up_until.extend(now + toast.timeout for toast in toasts)
        return toasts

    def toast(self, notices: Iterable[Notice], notify: Notify) -> int:
        """Show what is due with `notify` (the app's); returns how many toasts were shown."""
        toasts = self.new_toasts(notices)
        for item in toasts:
            # Notice text is the exchange's and the engine's own words: never parsed as markup.
            notify(item.message, title=item.title, severity=item.severity, timeout=item.timeout, markup=False)
        return len(toasts)
