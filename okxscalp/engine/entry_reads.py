"""The entry read watch: every READ_EVERY_S, per symbol, the two reads an entry needs — SIGNAL (to
decide) and ORDER (to price) — made through the registry whether or not a ticker came.

Why: the entry path reads a price only when a ticker arrives (entries.py `consider`) or when it
prices an order, so an instrument gone silent (a stall live, a recorded gap in a backtest) showed
as feed lag and a closed gate but never as what it means for trading: no price fresh enough to
decide or to price an entry. This watch asks the registry that question every second, with the
one freshness rule (`DataRegistry.read`), so the silence is on record as refused SIGNAL and ORDER
reads (journal, log, console, the backtest report's refusals), live and in a backtest alike.

Not noise: per symbol and purpose a *stale window* runs from the first refused read to the first
read that passes again.
- Its first refused read is an ordinary registry refusal: STALE_REFUSED from `registry.read`,
  folded by the bus like every other (per purpose: market/bus.py `fold`).
- Its further refused reads are counted, not emitted (`read(report=False)`: the same rule).
- The first read that passes closes it with one STALE_REFUSED event of source "ws" ("<purpose>
  read fresh again …", the codebase's convention for a kind's recovery) whose `count` is those
  further refused reads (0 if none): the sum of counts stays the number of refused reads
  (backtest/report.py), and the operator sees where the window began and where it ended.
  A window still open when the watch stops is closed the same way, saying so.
Not a halt: the entry path makes its own reads before it enters and the feed's gate closes entries
for a silent or late feed (market/feeds.py); the freshness pane shows each symbol's age and the
purposes it satisfies. The watch records the refusals; it does not decide a second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from okxscalp.clock import Clock, wake_after
from okxscalp.config.schema import Purpose
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.market.registry import DataRegistry, StaleData

READ_EVERY_S = 1.0
ENTRY_PURPOSES = (Purpose.SIGNAL, Purpose.ORDER)  # deciding an entry, pricing it
COMPONENT = "entry-reads"
SOURCE_FRESH = "ws"  # the window's close: the WS quote serves the purpose again


@dataclass(slots=True)
class StaleWindow:
    """Refused reads of one (symbol, purpose) since its first refusal."""

    opened_mono: float
    further: int = 0  # refused reads after the first (counted, emitted at the close)


class EntryReadWatch:
    def __init__(self, registry: DataRegistry, inst_ids: Iterable[str], clock: Clock) -> None:
        self.registry = registry
        self.inst_ids = tuple(inst_ids)
        self.clock = clock
        self.windows: dict[tuple[str, Purpose], StaleWindow] = {}
        self.reads = 0  # reads made (tests, diagnostics)

    async def run(self) -> None:
        try:
            while True:
                await wake_after(READ_EVERY_S)
                self.check()
        finally:  # cancelled at the engine's stop: what the open windows counted is not lost
            self.close_all("still refused when the watch stopped")

    def check(self) -> None:
        """One round: every symbol, every entry purpose."""
        for inst_id in self.inst_ids:
            for purpose in ENTRY_PURPOSES:
                self._read(inst_id, purpose)

    def close_all(self, why: str) -> None:
        for (inst_id, purpose), window in list(self.windows.items()):
            del self.windows[(inst_id, purpose)]
            self._publish_close(inst_id, purpose, window, why, "none")

    def _read(self, inst_id: str, purpose: Purpose) -> None:
        key = (inst_id, purpose)
        window = self.windows.get(key)
        self.reads += 1
        try:
            # the window's first refusal is the registry's own event; the others are counted here
            quote = self.registry.read(inst_id, purpose, report=window is None)
        except StaleData:
            if window is None:
                self.windows[key] = StaleWindow(self.clock.mono_s())
            else:
                window.further += 1
            return
        if window is not None:
            del self.windows[key]
            why = f"fresh again (age {quote.age_s:.3f}s <= budget {quote.budget_s:g}s)"
            self._publish_close(inst_id, purpose, window, why, SOURCE_FRESH)

    def _publish_close(self, inst_id: str, purpose: Purpose, window: StaleWindow, why: str, source: str) -> None:
        lasted = self.clock.mono_s() - window.opened_mono
        detail = (
            f"{purpose.value} read {why} after {lasted:.1f}s stale: "
            f"{1 + window.further} refused read(s) in the window, {window.further} folded here"
        )
        event = FallbackEvent(self.clock.wall_s(), COMPONENT, inst_id, FallbackKind.STALE_REFUSED, detail, source,
                              window.further)
        self.registry.bus.publish(event)
